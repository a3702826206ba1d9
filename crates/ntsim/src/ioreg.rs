//! I/O-manager registrations: Plug and Play notification, file-system
//! registration changes and driver reinitialization (kernel-semantics.md
//! §13-§15). Shutdown notification ([`crate::shutdown`], §12) and interrupt
//! connection ([`crate::interrupt`], §18) are in their own files; their
//! public items are re-exported here.
//!
//! * `IoRegisterPlugPlayNotification` (wdm/nf-wdm-ioregisterplugplaynotification):
//!   PASSIVE_LEVEL; references the driver (it cannot unload while
//!   registered: 0xCE at unload); with
//!   `PNPNOTIFY_DEVICE_INTERFACE_INCLUDE_EXISTING_INTERFACES` the callback
//!   runs at once for every existing interface of the class, before the
//!   call returns. `TargetDeviceChange` takes the target's file object
//!   (`EventCategoryData`; NULL, or one without a device:
//!   `STATUS_INVALID_PARAMETER`) and is told of that device's removal:
//!   [`target_device_query_remove`] sends `GUID_TARGET_DEVICE_QUERY_REMOVE`,
//!   which a callback vetoes by failing it
//!   (kernel/handling-a-guid-target-device-query-remove-event), then
//!   `..._REMOVE_CANCELLED` or `..._REMOVE_COMPLETE`; hardware-profile
//!   changes are vetoable the same way ([`hardware_profile_query_change`]).
//!   `IoUnregisterPlugPlayNotificationEx`
//!   waits for running callbacks; the legacy `IoUnregisterPlugPlayNotification`
//!   does not ("not synchronized", wdm/nf-wdm-iounregisterplugplaynotification).
//! * `IoRegisterFsRegistrationChange` (ntifs/nf-ntifs-ioregisterfsregistrationchange):
//!   `< DISPATCH_LEVEL`; replays every registered file system before it
//!   returns; the same driver and routine registered twice in a row, with
//!   no other registration in between, gives `STATUS_DEVICE_ALREADY_ATTACHED`.
//!   Unregistering is SILENT about waiting (the model waits) and about
//!   unknown routines (nothing happens).
//! * `IoRegisterDriverReinitialization` / `IoRegisterBootDriverReinitialization`
//!   (ntddk/nf-ntddk-ioregisterdriverreinitialization): PASSIVE_LEVEL
//!   (IrqlIoPassive5 for the first); routines run after DriverEntry returns
//!   success (never after a failure), normal ones first; for a driver
//!   loaded after boot the boot variant's "after all devices are
//!   enumerated" has already passed, so its routines run right after the
//!   normal ones (the model's reading); DriverEntry may call the routine once
//!   (a second call: NSIM); `Count` counts the calls of each routine.
#![allow(non_snake_case)]

use std::sync::Mutex;

use wdk_sys::{
    _IO_NOTIFICATION_EVENT_CATEGORY::{
        EventCategoryDeviceInterfaceChange, EventCategoryHardwareProfileChange,
        EventCategoryTargetDeviceChange,
    },
    DEVICE_INTERFACE_CHANGE_NOTIFICATION, FILE_OBJECT, GUID, HWPROFILE_CHANGE_NOTIFICATION,
    IO_NOTIFICATION_EVENT_CATEGORY, NTSTATUS, PDEVICE_OBJECT, PDRIVER_FS_NOTIFICATION,
    PDRIVER_NOTIFICATION_CALLBACK_ROUTINE, PDRIVER_OBJECT, PDRIVER_REINITIALIZE,
    PNPNOTIFY_DEVICE_INTERFACE_INCLUDE_EXISTING_INTERFACES, PVOID, STATUS_DEVICE_ALREADY_ATTACHED,
    STATUS_INVALID_PARAMETER, STATUS_SUCCESS, TARGET_DEVICE_REMOVAL_NOTIFICATION, ULONG,
};

use crate::guid::{guid, guid_eq};
use crate::irql::{IrqlScope, PASSIVE_LEVEL};
use crate::notify::Registry;
use crate::opaque::OpaqueHandles;
use crate::unicode::OwnedUnicode;
use crate::verifier::{self, ModelRule};
use crate::{ddi, sync::lock};

pub use crate::interrupt::{
    InterruptConnection, InterruptLine, IoConnectInterruptEx, IoDisconnectInterruptEx, interrupt,
    interrupt_connections, interrupt_device,
};
pub use crate::shutdown::{
    IoRegisterLastChanceShutdownNotification, IoRegisterShutdownNotification,
    IoUnregisterShutdownNotification, shutdown_registrations,
};

/// `GUID_HWPROFILE_QUERY_CHANGE` (wdmguid.h).
pub const GUID_HWPROFILE_QUERY_CHANGE: GUID = pnp_guid(0xCB3A_4001);
/// `GUID_HWPROFILE_CHANGE_CANCELLED`.
pub const GUID_HWPROFILE_CHANGE_CANCELLED: GUID = pnp_guid(0xCB3A_4002);
/// `GUID_HWPROFILE_CHANGE_COMPLETE`.
pub const GUID_HWPROFILE_CHANGE_COMPLETE: GUID = pnp_guid(0xCB3A_4003);
/// `GUID_DEVICE_INTERFACE_ARRIVAL`.
pub const GUID_DEVICE_INTERFACE_ARRIVAL: GUID = pnp_guid(0xCB3A_4004);
/// `GUID_DEVICE_INTERFACE_REMOVAL`.
pub const GUID_DEVICE_INTERFACE_REMOVAL: GUID = pnp_guid(0xCB3A_4005);
/// `GUID_TARGET_DEVICE_QUERY_REMOVE`.
pub const GUID_TARGET_DEVICE_QUERY_REMOVE: GUID = pnp_guid(0xCB3A_4006);
/// `GUID_TARGET_DEVICE_REMOVE_CANCELLED`.
pub const GUID_TARGET_DEVICE_REMOVE_CANCELLED: GUID = pnp_guid(0xCB3A_4007);
/// `GUID_TARGET_DEVICE_REMOVE_COMPLETE`.
pub const GUID_TARGET_DEVICE_REMOVE_COMPLETE: GUID = pnp_guid(0xCB3A_4008);

/// The PnP event GUIDs share their last three parts
/// (`{xxxxxxxx-46F0-11D0-B08F-00609713053F}`).
const fn pnp_guid(data1: u32) -> GUID {
    guid(((data1 as u128) << 96) | 0x46F0_11D0_B08F_0060_9713_053F)
}

pub(crate) static PNP: Registry = Registry::new("Plug and Play notification");
pub(crate) static FS_CHANGE: Registry = Registry::new("file-system registration change");

#[derive(Clone, Copy, Debug)]
struct PnpRegistration {
    entry: usize,
    slot: u64,
    category: IO_NOTIFICATION_EVENT_CATEGORY,
    class: Option<GUID>,
    routine: usize,
    context: usize,
    /// TargetDeviceChange: the file object registered and its device.
    target: Option<(usize, usize)>,
}

#[derive(Clone, Copy, Debug)]
struct FsRegistration {
    slot: u64,
    driver: usize,
    routine: usize,
}

#[derive(Clone, Copy, Debug)]
struct Reinit {
    driver: usize,
    routine: usize,
    context: usize,
    boot: bool,
    count: u32,
}

#[derive(Default)]
struct State {
    pnp: Vec<PnpRegistration>,
    entries: OpaqueHandles,
    interfaces: Vec<(GUID, String)>,
    fs: Vec<FsRegistration>,
    file_systems: Vec<usize>,
    last_fs_registration: Option<(usize, usize)>,
    reinit: Vec<Reinit>,
    reinit_calls_in_entry: u32,
}

// SAFETY: plain addresses and GUIDs; the boxed entries are only identities.
unsafe impl Send for State {}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut guard = lock(&STATE);
    f(guard.get_or_insert_with(State::default))
}

// --- Plug and Play -----------------------------------------------------------------

/// Adds a device interface instance of class `class` with symbolic link
/// `link` (without notifying; see [`device_interface_arrival`]).
pub fn add_device_interface(class: GUID, link: &str) {
    with_state(|s| s.interfaces.push((class, link.to_owned())));
}

fn call_interface(registration: &PnpRegistration, event: GUID, class: GUID, link: &str) -> bool {
    let mut name = OwnedUnicode::new(link);
    let mut notification = DEVICE_INTERFACE_CHANGE_NOTIFICATION {
        Version: 1,
        Size: u16::try_from(std::mem::size_of::<DEVICE_INTERFACE_CHANGE_NOTIFICATION>()).unwrap_or(0),
        Event: event,
        InterfaceClassGuid: class,
        SymbolicLinkName: name.as_ptr(),
    };
    // SAFETY: the registry stores PDRIVER_NOTIFICATION_CALLBACK_ROUTINE addresses.
    let routine =
        unsafe { std::mem::transmute::<usize, PDRIVER_NOTIFICATION_CALLBACK_ROUTINE>(registration.routine) };
    let Some(routine) = routine else { return false };
    let _irql = IrqlScope::enter(PASSIVE_LEVEL);
    PNP.invoke(registration.slot, || {
        // SAFETY: a registered callback with a notification structure valid for the call.
        unsafe { routine((&raw mut notification).cast(), registration.context as PVOID) }
    })
    .is_some()
}

/// `IoRegisterPlugPlayNotification` (wdm/nf-wdm-ioregisterplugplaynotification).
///
/// # Safety
/// The routine stays callable until unregistered; `event_category_data`
/// is a `GUID*` for interface changes; `notification_entry` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IoRegisterPlugPlayNotification(
    event_category: IO_NOTIFICATION_EVENT_CATEGORY,
    event_category_flags: ULONG,
    event_category_data: PVOID,
    _driver_object: PDRIVER_OBJECT,
    callback_routine: PDRIVER_NOTIFICATION_CALLBACK_ROUTINE,
    context: PVOID,
    notification_entry: *mut PVOID,
) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::IO_REGISTER_PLUG_PLAY_NOTIFICATION));
    let Some(routine) = callback_routine else {
        return STATUS_INVALID_PARAMETER;
    };
    if notification_entry.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    let class = if event_category == EventCategoryDeviceInterfaceChange {
        if event_category_data.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: a GUID per the caller.
        Some(unsafe { event_category_data.cast::<GUID>().read_unaligned() })
    } else if event_category == EventCategoryHardwareProfileChange
        || event_category == EventCategoryTargetDeviceChange
    {
        None
    } else {
        return STATUS_INVALID_PARAMETER;
    };
    let target = if event_category == EventCategoryTargetDeviceChange {
        // EventCategoryData is the file object of the target device
        // (wdm/nf-wdm-ioregisterplugplaynotification); no reference is taken.
        let file_object = event_category_data.cast::<FILE_OBJECT>();
        if file_object.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: a file object per the caller.
        let device = unsafe { (*file_object).DeviceObject };
        if device.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        Some((file_object as usize, device as usize))
    } else {
        None
    };
    let slot = PNP.add(routine as usize, event_category.cast_unsigned(), 0);
    let registration = with_state(|s| {
        let entry = s.entries.issue(0x506E_5000);
        let registration = PnpRegistration {
            entry,
            slot,
            category: event_category,
            class,
            routine: routine as usize,
            context: context as usize,
            target,
        };
        s.pnp.push(registration);
        registration
    });
    if event_category_flags & PNPNOTIFY_DEVICE_INTERFACE_INCLUDE_EXISTING_INTERFACES != 0
        && let Some(class) = class
    {
        let existing: Vec<String> = with_state(|s| {
            s.interfaces
                .iter()
                .filter(|(c, _)| guid_eq(c, &class))
                .map(|(_, l)| l.clone())
                .collect()
        });
        for link in existing {
            call_interface(&registration, GUID_DEVICE_INTERFACE_ARRIVAL, class, &link);
        }
    }
    // SAFETY: writable per the caller.
    unsafe { notification_entry.write(registration.entry as PVOID) };
    STATUS_SUCCESS
}

fn unregister_pnp(ddi_name: &str, entry: PVOID, wait: bool) -> NTSTATUS {
    let found = with_state(|s| {
        let position = s.pnp.iter().position(|r| r.entry == entry as usize)?;
        Some(s.pnp.remove(position).slot)
    });
    let Some(slot) = found else {
        verifier::model_rule(
            ModelRule::UnknownObject,
            entry as u64,
            format!("{ddi_name}({entry:p}): not a registered entry"),
        );
        return STATUS_INVALID_PARAMETER;
    };
    PNP.remove(ddi_name, wait, |s| s.id == slot);
    STATUS_SUCCESS
}

/// `IoUnregisterPlugPlayNotification` (wdm/nf-wdm-iounregisterplugplaynotification):
/// not synchronized with running callbacks.
///
/// # Safety
/// `notification_entry` came from `IoRegisterPlugPlayNotification`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IoUnregisterPlugPlayNotification(notification_entry: PVOID) -> NTSTATUS {
    ddi::enter(&ddi::IO_UNREGISTER_PLUG_PLAY_NOTIFICATION);
    unregister_pnp("IoUnregisterPlugPlayNotification", notification_entry, false)
}

/// `IoUnregisterPlugPlayNotificationEx` (wdm/nf-wdm-iounregisterplugplaynotificationex):
/// no callback runs after it returns.
///
/// # Safety
/// `notification_entry` came from `IoRegisterPlugPlayNotification`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IoUnregisterPlugPlayNotificationEx(notification_entry: PVOID) -> NTSTATUS {
    ddi::enter(&ddi::IO_UNREGISTER_PLUG_PLAY_NOTIFICATION_EX);
    unregister_pnp("IoUnregisterPlugPlayNotificationEx", notification_entry, true)
}

/// A device interface of `class` arrives (added to the model and notified
/// to the registrations for that class). Returns how many callbacks ran.
#[must_use = "the number of callbacks that ran"]
pub fn device_interface_arrival(class: GUID, link: &str) -> usize {
    add_device_interface(class, link);
    notify_interface(GUID_DEVICE_INTERFACE_ARRIVAL, class, link)
}

/// A device interface of `class` is removed. Returns how many callbacks ran.
#[must_use = "the number of callbacks that ran"]
pub fn device_interface_removal(class: GUID, link: &str) -> usize {
    with_state(|s| {
        s.interfaces.retain(|(c, l)| !(guid_eq(c, &class) && l == link));
    });
    notify_interface(GUID_DEVICE_INTERFACE_REMOVAL, class, link)
}

/// The PnP registrations that `keep` selects, in registration order.
fn pnp_where(keep: impl Fn(&PnpRegistration) -> bool) -> Vec<PnpRegistration> {
    with_state(|s| s.pnp.iter().filter(|r| keep(r)).copied().collect())
}

fn notify_interface(event: GUID, class: GUID, link: &str) -> usize {
    let registrations = pnp_where(|r| r.class.is_some_and(|c| guid_eq(&c, &class)));
    registrations
        .iter()
        .filter(|r| call_interface(r, event, class, link))
        .count()
}

/// A hardware-profile change event (`GUID_HWPROFILE_*`). Returns how many callbacks ran.
#[must_use = "the number of callbacks that ran"]
pub fn hardware_profile_change(event: GUID) -> usize {
    let registrations = pnp_where(|r| r.category == EventCategoryHardwareProfileChange);
    let mut ran = 0;
    for registration in registrations {
        let mut notification = HWPROFILE_CHANGE_NOTIFICATION {
            Version: 1,
            Size: u16::try_from(std::mem::size_of::<HWPROFILE_CHANGE_NOTIFICATION>()).unwrap_or(0),
            Event: event,
        };
        // SAFETY: stored as a PDRIVER_NOTIFICATION_CALLBACK_ROUTINE.
        let routine = unsafe {
            std::mem::transmute::<usize, PDRIVER_NOTIFICATION_CALLBACK_ROUTINE>(registration.routine)
        };
        let Some(routine) = routine else { continue };
        let _irql = IrqlScope::enter(PASSIVE_LEVEL);
        let called = PNP.invoke(registration.slot, || {
            // SAFETY: a registered callback with a valid notification.
            unsafe { routine((&raw mut notification).cast(), registration.context as PVOID) }
        });
        ran += usize::from(called.is_some());
    }
    ran
}

/// Calls one registration's routine with `notification`; `None` if it was
/// unregistered meanwhile.
fn call_pnp(registration: &PnpRegistration, notification: PVOID) -> Option<NTSTATUS> {
    // SAFETY: stored as a PDRIVER_NOTIFICATION_CALLBACK_ROUTINE.
    let routine =
        unsafe { std::mem::transmute::<usize, PDRIVER_NOTIFICATION_CALLBACK_ROUTINE>(registration.routine) }?;
    let _irql = IrqlScope::enter(PASSIVE_LEVEL);
    PNP.invoke(registration.slot, || {
        // SAFETY: a registered callback with a notification valid for the call.
        unsafe { routine(notification, registration.context as PVOID) }
    })
}

/// A vetoable PnP event.
///
/// `query` goes to each registration in order until one fails it (the veto: C:kernel/guidelines-for-writing-pnp-notification-callback-routines,
/// "return success for events they do not veto"); then `cancelled` to
/// every registration that was sent the query (the one that vetoed too,
/// as a cancel-remove reaches every driver of the stack whose query
/// failed; SILENT for notifications, the model's choice), or, without a
/// veto, `complete` to all. Returns the veto status or `STATUS_SUCCESS`.
fn vetoable(
    registrations: &[PnpRegistration],
    [query, cancelled, complete]: [GUID; 3],
    mut notify: impl FnMut(&PnpRegistration, GUID) -> Option<NTSTATUS>,
) -> NTSTATUS {
    let mut queried = Vec::new();
    let mut veto = STATUS_SUCCESS;
    for registration in registrations {
        let Some(status) = notify(registration, query) else {
            continue;
        };
        queried.push(*registration);
        if status < 0 {
            veto = status;
            break;
        }
    }
    let (event, settled) = if veto < 0 {
        (cancelled, queried)
    } else {
        (complete, registrations.to_vec())
    };
    for registration in &settled {
        let _ = notify(registration, event);
    }
    veto
}

/// The target device `device` is about to be removed (not a surprise removal).
///
/// `GUID_TARGET_DEVICE_QUERY_REMOVE` goes to every
/// `EventCategoryTargetDeviceChange` registration for it, in registration
/// order, with a `TARGET_DEVICE_REMOVAL_NOTIFICATION` naming the file
/// object it registered. A callback that fails the query vetoes the
/// removal (C:kernel/handling-a-guid-target-device-query-remove-event):
/// `GUID_TARGET_DEVICE_REMOVE_CANCELLED` follows; otherwise
/// `GUID_TARGET_DEVICE_REMOVE_COMPLETE` (the cancel goes to every registration
/// that was sent the query, the vetoing one included: SILENT, the model's
/// choice). Returns the
/// veto status, or `STATUS_SUCCESS` if the device was removed.
#[must_use = "whether the removal was vetoed"]
pub fn target_device_query_remove(device: PDEVICE_OBJECT) -> NTSTATUS {
    let registrations = pnp_where(|r| r.target.is_some_and(|(_, d)| d == device as usize));
    let events = [
        GUID_TARGET_DEVICE_QUERY_REMOVE,
        GUID_TARGET_DEVICE_REMOVE_CANCELLED,
        GUID_TARGET_DEVICE_REMOVE_COMPLETE,
    ];
    vetoable(&registrations, events, |registration, event| {
        let mut notification = TARGET_DEVICE_REMOVAL_NOTIFICATION {
            Version: 1,
            Size: u16::try_from(std::mem::size_of::<TARGET_DEVICE_REMOVAL_NOTIFICATION>()).unwrap_or(0),
            Event: event,
            FileObject: registration
                .target
                .map_or(std::ptr::null_mut(), |(f, _)| f as *mut FILE_OBJECT),
        };
        call_pnp(registration, (&raw mut notification).cast())
    })
}

/// A hardware-profile change as the PnP manager runs it.
///
/// `GUID_HWPROFILE_QUERY_CHANGE` goes to every HardwareProfileChange
/// registration (a failure vetoes the change), then
/// `GUID_HWPROFILE_CHANGE_CANCELLED` or `GUID_HWPROFILE_CHANGE_COMPLETE`
/// (the cancel to every registration that was sent the query). Returns the
/// veto status or `STATUS_SUCCESS`.
#[must_use = "whether the change was vetoed"]
pub fn hardware_profile_query_change() -> NTSTATUS {
    let registrations = pnp_where(|r| r.category == EventCategoryHardwareProfileChange);
    let events = [
        GUID_HWPROFILE_QUERY_CHANGE,
        GUID_HWPROFILE_CHANGE_CANCELLED,
        GUID_HWPROFILE_CHANGE_COMPLETE,
    ];
    vetoable(&registrations, events, |registration, event| {
        let mut notification = HWPROFILE_CHANGE_NOTIFICATION {
            Version: 1,
            Size: u16::try_from(std::mem::size_of::<HWPROFILE_CHANGE_NOTIFICATION>()).unwrap_or(0),
            Event: event,
        };
        call_pnp(registration, (&raw mut notification).cast())
    })
}

// --- File-system registration ----------------------------------------------------------

/// The file-system registration change routines registered: (driver
/// object, routine), in registration order.
#[must_use]
pub fn fs_change_registrations() -> Vec<(usize, usize)> {
    with_state(|s| s.fs.iter().map(|r| (r.driver, r.routine)).collect())
}

/// Registers a file system (its control device object): every registered
/// routine is called with `FsActive = TRUE`. Returns how many ran.
#[must_use = "the number of routines that ran"]
pub fn file_system_registered(device: PDEVICE_OBJECT) -> usize {
    with_state(|s| s.file_systems.push(device as usize));
    notify_fs(device, true)
}

/// Unregisters a file system (`FsActive = FALSE`). Returns how many ran.
#[must_use = "the number of routines that ran"]
pub fn file_system_unregistered(device: PDEVICE_OBJECT) -> usize {
    with_state(|s| s.file_systems.retain(|d| *d != device as usize));
    notify_fs(device, false)
}

fn call_fs(registration: &FsRegistration, device: PDEVICE_OBJECT, active: bool) -> bool {
    // SAFETY: stored as a PDRIVER_FS_NOTIFICATION.
    let routine = unsafe { std::mem::transmute::<usize, PDRIVER_FS_NOTIFICATION>(registration.routine) };
    let Some(routine) = routine else { return false };
    let _irql = IrqlScope::enter(PASSIVE_LEVEL);
    FS_CHANGE
        .invoke(registration.slot, || {
            // SAFETY: a registered routine with a live file-system device object.
            unsafe { routine(device, u8::from(active)) };
        })
        .is_some()
}

fn notify_fs(device: PDEVICE_OBJECT, active: bool) -> usize {
    let registrations = with_state(|s| s.fs.clone());
    registrations
        .iter()
        .filter(|r| call_fs(r, device, active))
        .count()
}

/// `IoRegisterFsRegistrationChange` (ntifs/nf-ntifs-ioregisterfsregistrationchange).
///
/// # Safety
/// The routine stays callable until unregistered.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IoRegisterFsRegistrationChange(
    driver_object: PDRIVER_OBJECT,
    driver_notification_routine: PDRIVER_FS_NOTIFICATION,
) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::IO_REGISTER_FS_REGISTRATION_CHANGE));
    let Some(routine) = driver_notification_routine else {
        return STATUS_INVALID_PARAMETER;
    };
    let key = (driver_object as usize, routine as usize);
    let duplicate = with_state(|s| {
        s.last_fs_registration == Some(key) && s.fs.iter().any(|r| (r.driver, r.routine) == key)
    });
    if duplicate {
        return STATUS_DEVICE_ALREADY_ATTACHED;
    }
    let slot = FS_CHANGE.add(routine as usize, 0, 0);
    let registration = FsRegistration {
        slot,
        driver: key.0,
        routine: key.1,
    };
    let existing = with_state(|s| {
        s.fs.push(registration);
        s.last_fs_registration = Some(key);
        s.file_systems.clone()
    });
    for device in existing {
        call_fs(&registration, device as PDEVICE_OBJECT, true);
    }
    STATUS_SUCCESS
}

/// `IoUnregisterFsRegistrationChange` (ntifs/nf-ntifs-iounregisterfsregistrationchange).
///
/// # Safety
/// None beyond the C ABI.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IoUnregisterFsRegistrationChange(
    driver_object: PDRIVER_OBJECT,
    driver_notification_routine: PDRIVER_FS_NOTIFICATION,
) {
    ddi::enter(&ddi::IO_UNREGISTER_FS_REGISTRATION_CHANGE);
    let key = (
        driver_object as usize,
        driver_notification_routine.map_or(0, |r| r as usize),
    );
    let slot = with_state(|s| {
        let position = s.fs.iter().position(|r| (r.driver, r.routine) == key)?;
        if s.last_fs_registration == Some(key) {
            s.last_fs_registration = None;
        }
        Some(s.fs.remove(position).slot)
    });
    if let Some(slot) = slot {
        FS_CHANGE.remove("IoUnregisterFsRegistrationChange", true, |s| s.id == slot);
    }
}

// --- Reinitialization ------------------------------------------------------------------

fn register_reinit(driver_object: PDRIVER_OBJECT, routine: PDRIVER_REINITIALIZE, context: PVOID, boot: bool) {
    let Some(routine) = routine else { return };
    if crate::context::phase() == crate::context::Phase::DriverEntry {
        let calls = with_state(|s| {
            s.reinit_calls_in_entry += 1;
            s.reinit_calls_in_entry
        });
        if calls > 1 && !boot {
            verifier::model_rule(
                ModelRule::InvalidParameter,
                u64::from(calls),
                "IoRegisterDriverReinitialization called more than once in DriverEntry".to_owned(),
            );
        }
    }
    with_state(|s| {
        let count = s
            .reinit
            .iter()
            .find(|r| r.routine == routine as usize)
            .map_or(0, |r| r.count);
        s.reinit.push(Reinit {
            driver: driver_object as usize,
            routine: routine as usize,
            context: context as usize,
            boot,
            count,
        });
    });
}

/// `IoRegisterDriverReinitialization` (ntddk/nf-ntddk-ioregisterdriverreinitialization).
///
/// # Safety
/// The routine stays callable until it ran.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IoRegisterDriverReinitialization(
    driver_object: PDRIVER_OBJECT,
    driver_reinitialization_routine: PDRIVER_REINITIALIZE,
    context: PVOID,
) {
    ddi::enter(&ddi::IO_REGISTER_DRIVER_REINITIALIZATION);
    register_reinit(driver_object, driver_reinitialization_routine, context, false);
}

/// `IoRegisterBootDriverReinitialization` (ntddk/nf-ntddk-ioregisterbootdriverreinitialization).
///
/// # Safety
/// The routine stays callable until it ran.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IoRegisterBootDriverReinitialization(
    driver_object: PDRIVER_OBJECT,
    driver_reinitialization_routine: PDRIVER_REINITIALIZE,
    context: PVOID,
) {
    ddi::enter(&ddi::IO_REGISTER_BOOT_DRIVER_REINITIALIZATION);
    register_reinit(driver_object, driver_reinitialization_routine, context, true);
}

/// Runs the pending reinitialization routines of `driver` (normal ones, then
/// boot ones) at PASSIVE_LEVEL in a System thread, until none is pending
/// (a routine may register again). Called by the harness after a successful
/// DriverEntry. Returns how many ran.
pub(crate) fn run_reinitialization(driver: PDRIVER_OBJECT) -> usize {
    let mut ran = 0;
    for _ in 0..64 {
        let pending = with_state(|s| {
            s.reinit_calls_in_entry = 0;
            let (mine, rest): (Vec<Reinit>, Vec<Reinit>) =
                s.reinit.drain(..).partition(|r| r.driver == driver as usize);
            s.reinit = rest;
            mine
        });
        if pending.is_empty() {
            break;
        }
        let ordered = pending
            .iter()
            .filter(|r| !r.boot)
            .chain(pending.iter().filter(|r| r.boot));
        for reinit in ordered {
            // SAFETY: stored as a PDRIVER_REINITIALIZE.
            let routine = unsafe { std::mem::transmute::<usize, PDRIVER_REINITIALIZE>(reinit.routine) };
            let Some(routine) = routine else { continue };
            let count = reinit.count + 1;
            with_state(|s| {
                for later in s.reinit.iter_mut().filter(|r| r.routine == reinit.routine) {
                    later.count = count;
                }
            });
            let _irql = IrqlScope::enter(PASSIVE_LEVEL);
            let _context = crate::context::ContextScope::enter(
                crate::context::SYSTEM_PID,
                None,
                crate::context::Phase::Callback,
            );
            // SAFETY: the driver's reinitialization routine with its context.
            unsafe { routine(driver, reinit.context as PVOID, count) };
            with_state(|s| {
                for later in s.reinit.iter_mut().filter(|r| r.routine == reinit.routine) {
                    later.count = count;
                }
            });
            ran += 1;
        }
    }
    ran
}

/// Drops the pending reinitialization routines of `driver` (DriverEntry failed).
pub(crate) fn discard_reinitialization(driver: PDRIVER_OBJECT) {
    with_state(|s| {
        s.reinit.retain(|r| r.driver != driver as usize);
        s.reinit_calls_in_entry = 0;
    });
}

pub(crate) fn reset() {
    PNP.reset();
    FS_CHANGE.reset();
    crate::shutdown::reset();
    crate::interrupt::reset();
    let old = lock(&STATE).take();
    std::mem::forget(old);
}
