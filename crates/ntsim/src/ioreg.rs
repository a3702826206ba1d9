//! I/O-manager registrations: shutdown notification, Plug and Play
//! notification, file-system registration changes, driver reinitialization
//! and interrupt connection (kernel-semantics.md §12-§15, §18).
//!
//! * `IoRegisterShutdownNotification` / `IoRegisterLastChanceShutdownNotification`
//!   (wdm/nf-wdm-ioregistershutdownnotification,
//!   wdm/nf-wdm-ioregisterlastchanceshutdownnotification): PASSIVE_LEVEL
//!   (rule IrqlIoPassive5 for the first); one `IRP_MJ_SHUTDOWN` per
//!   registration at shutdown, normal ones before last-chance ones.
//!   `IoUnregisterShutdownNotification` (PASSIVE_LEVEL, IrqlIoPassive5)
//!   cancels every registration of the device; for a device never
//!   registered (SILENT) it does nothing. Deleting the device drops its
//!   registrations (`DO_SHUTDOWN_REGISTERED`).
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
//! * `IoConnectInterruptEx` (iointex/nf-iointex-wdmlibioconnectinterruptex,
//!   wdm/ns-wdm-_io_connect_interrupt_parameters): PASSIVE_LEVEL. Interrupts
//!   exist only on model devices made with [`interrupt_device`]. An unknown
//!   `Version` gives `STATUS_INVALID_PARAMETER_1`; a NULL PDO, interrupt-
//!   object pointer or routine `STATUS_INVALID_PARAMETER`; an empty
//!   `ProcessorEnableMask` `STATUS_INVALID_PARAMETER_10`; a device without
//!   interrupts or a vector not assigned to it `STATUS_NOT_FOUND`.
//!   `CONNECT_FULLY_SPECIFIED(_GROUP)` connects the line of that vector (its
//!   `Irql` must be the line's and `SynchronizeIrql >= Irql`, the model's
//!   reading); `CONNECT_LINE_BASED` all the device's lines with one ISR;
//!   `CONNECT_MESSAGE_BASED` falls back to the line-based
//!   `FallBackServiceRoutine` (the model's devices have no MSI) and returns
//!   `Version = CONNECT_LINE_BASED`. The ISR runs at the DIRQL (or
//!   `SynchronizeIrql` if higher) and may run before the call returns (a
//!   line that is already asserted). `IoDisconnectInterruptEx` needs the
//!   returned version and object; a connection left at unload is 0xCE.

#![allow(non_snake_case)]

use std::sync::Mutex;

use wdk_sys::{
    _IO_NOTIFICATION_EVENT_CATEGORY::{
        EventCategoryDeviceInterfaceChange, EventCategoryHardwareProfileChange,
        EventCategoryTargetDeviceChange,
    },
    CONNECT_FULLY_SPECIFIED, CONNECT_FULLY_SPECIFIED_GROUP, CONNECT_LINE_BASED,
    DEVICE_INTERFACE_CHANGE_NOTIFICATION, DO_SHUTDOWN_REGISTERED, FILE_OBJECT, GUID,
    HWPROFILE_CHANGE_NOTIFICATION, IO_CONNECT_INTERRUPT_PARAMETERS, IO_NOTIFICATION_EVENT_CATEGORY,
    IRP_MJ_SHUTDOWN, KIRQL, NTSTATUS, PDEVICE_OBJECT, PDRIVER_FS_NOTIFICATION,
    PDRIVER_NOTIFICATION_CALLBACK_ROUTINE, PDRIVER_OBJECT, PDRIVER_REINITIALIZE,
    PIO_CONNECT_INTERRUPT_PARAMETERS, PIO_DISCONNECT_INTERRUPT_PARAMETERS, PKINTERRUPT, PKSERVICE_ROUTINE,
    PNPNOTIFY_DEVICE_INTERFACE_INCLUDE_EXISTING_INTERFACES, PVOID, STATUS_DEVICE_ALREADY_ATTACHED,
    STATUS_INVALID_PARAMETER, STATUS_INVALID_PARAMETER_1, STATUS_INVALID_PARAMETER_10, STATUS_NOT_FOUND,
    STATUS_SUCCESS, TARGET_DEVICE_REMOVAL_NOTIFICATION, ULONG,
};

use crate::irql::{IrqlScope, PASSIVE_LEVEL};
use crate::notify::Registry;
use crate::unicode::OwnedUnicode;
use crate::verifier::{self, ModelRule};
use crate::{ddi, sync::lock};

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

const fn pnp_guid(data1: u32) -> GUID {
    GUID {
        Data1: data1,
        Data2: 0x46F0,
        Data3: 0x11D0,
        Data4: [0xB0, 0x8F, 0x00, 0x60, 0x97, 0x13, 0x05, 0x3F],
    }
}

const fn guid_eq(a: &GUID, b: &GUID) -> bool {
    a.Data1 == b.Data1
        && a.Data2 == b.Data2
        && a.Data3 == b.Data3
        && u64::from_le_bytes(a.Data4) == u64::from_le_bytes(b.Data4)
}

pub(crate) static PNP: Registry = Registry::new("Plug and Play notification");
pub(crate) static FS_CHANGE: Registry = Registry::new("file-system registration change");

#[derive(Clone, Copy, Debug)]
struct ShutdownRegistration {
    device: usize,
    last_chance: bool,
}

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
    shutdown: Vec<ShutdownRegistration>,
    pnp: Vec<PnpRegistration>,
    #[allow(
        clippy::vec_box,
        reason = "each box is a stable, unique address handed out as an opaque handle"
    )]
    entries: Vec<Box<u64>>,
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

// --- Shutdown ------------------------------------------------------------------

fn register_shutdown(device: PDEVICE_OBJECT, last_chance: bool) -> NTSTATUS {
    if device.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    with_state(|s| {
        s.shutdown.push(ShutdownRegistration {
            device: device as usize,
            last_chance,
        });
    });
    // SAFETY: a live device object per the caller.
    unsafe { (*device).Flags |= DO_SHUTDOWN_REGISTERED };
    STATUS_SUCCESS
}

/// `IoRegisterShutdownNotification` (wdm/nf-wdm-ioregistershutdownnotification).
///
/// # Safety
/// `device_object` is a live device object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IoRegisterShutdownNotification(device_object: PDEVICE_OBJECT) -> NTSTATUS {
    let entry = ddi::enter(&ddi::IO_REGISTER_SHUTDOWN_NOTIFICATION);
    if let Some(status) = entry.fault {
        return status;
    }
    register_shutdown(device_object, false)
}

/// `IoRegisterLastChanceShutdownNotification` (wdm/nf-wdm-ioregisterlastchanceshutdownnotification).
///
/// # Safety
/// `device_object` is a live device object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IoRegisterLastChanceShutdownNotification(device_object: PDEVICE_OBJECT) -> NTSTATUS {
    let entry = ddi::enter(&ddi::IO_REGISTER_LAST_CHANCE_SHUTDOWN_NOTIFICATION);
    if let Some(status) = entry.fault {
        return status;
    }
    register_shutdown(device_object, true)
}

/// `IoUnregisterShutdownNotification` (wdm/nf-wdm-iounregistershutdownnotification).
///
/// # Safety
/// `device_object` is a device object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IoUnregisterShutdownNotification(device_object: PDEVICE_OBJECT) {
    ddi::enter(&ddi::IO_UNREGISTER_SHUTDOWN_NOTIFICATION);
    device_deleted(device_object as usize);
    if !device_object.is_null() {
        // SAFETY: a device object per the caller.
        unsafe { (*device_object).Flags &= !DO_SHUTDOWN_REGISTERED };
    }
}

pub(crate) fn device_deleted(device: usize) {
    with_state(|s| s.shutdown.retain(|r| r.device != device));
}

/// The devices registered for shutdown: (device address, last chance).
#[must_use]
pub fn shutdown_registrations() -> Vec<(usize, bool)> {
    with_state(|s| s.shutdown.iter().map(|r| (r.device, r.last_chance)).collect())
}

/// Shuts the system down as far as drivers see it: one `IRP_MJ_SHUTDOWN`
/// per normal registration, then one per last-chance registration, each at
/// PASSIVE_LEVEL from a System thread. Returns the statuses, in order.
#[must_use = "the statuses the shutdown IRPs completed with"]
pub fn shutdown() -> Vec<NTSTATUS> {
    let registrations = with_state(|s| s.shutdown.clone());
    let ordered = registrations
        .iter()
        .filter(|r| !r.last_chance)
        .chain(registrations.iter().filter(|r| r.last_chance));
    ordered
        .map(|r| crate::io::send_system_irp(r.device as PDEVICE_OBJECT, IRP_MJ_SHUTDOWN))
        .collect()
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
    let entry = ddi::enter(&ddi::IO_REGISTER_PLUG_PLAY_NOTIFICATION);
    if let Some(status) = entry.fault {
        return status;
    }
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
    } else if event_category == EventCategoryHardwareProfileChange {
        None
    } else if event_category == EventCategoryTargetDeviceChange {
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
        let mut block = Box::new(0x506E_5000_u64);
        let entry = std::ptr::from_mut::<u64>(&mut block) as usize;
        s.entries.push(block);
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

fn notify_interface(event: GUID, class: GUID, link: &str) -> usize {
    let registrations: Vec<PnpRegistration> = with_state(|s| {
        s.pnp
            .iter()
            .filter(|r| r.class.is_some_and(|c| guid_eq(&c, &class)))
            .copied()
            .collect()
    });
    registrations
        .iter()
        .filter(|r| call_interface(r, event, class, link))
        .count()
}

/// A hardware-profile change event (`GUID_HWPROFILE_*`). Returns how many callbacks ran.
#[must_use = "the number of callbacks that ran"]
pub fn hardware_profile_change(event: GUID) -> usize {
    let registrations: Vec<PnpRegistration> = with_state(|s| {
        s.pnp
            .iter()
            .filter(|r| r.category == EventCategoryHardwareProfileChange)
            .copied()
            .collect()
    });
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
    let registrations: Vec<PnpRegistration> = with_state(|s| {
        s.pnp
            .iter()
            .filter(|r| r.target.is_some_and(|(_, d)| d == device as usize))
            .copied()
            .collect()
    });
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
    let registrations: Vec<PnpRegistration> = with_state(|s| {
        s.pnp
            .iter()
            .filter(|r| r.category == EventCategoryHardwareProfileChange)
            .copied()
            .collect()
    });
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
    let entry = ddi::enter(&ddi::IO_REGISTER_FS_REGISTRATION_CHANGE);
    if let Some(status) = entry.fault {
        return status;
    }
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

// --- Interrupts ------------------------------------------------------------------------

pub(crate) static INTERRUPTS: Registry = Registry::new("interrupt service routine");

/// A line-based interrupt the PnP manager assigned to a model device
/// (the translated `CmResourceTypeInterrupt` resource, as `IoConnectInterruptEx`
/// finds it for the device's PDO).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterruptLine {
    /// The (global system interrupt) vector.
    pub vector: u32,
    /// Its DIRQL (3..=12 on x64).
    pub irql: KIRQL,
    /// `Latched` (edge) rather than `LevelSensitive`.
    pub latched: bool,
    /// The device is already interrupting: the model calls the ISR as soon
    /// as it is connected, before `IoConnectInterruptEx` returns (which the
    /// documentation allows, iointex/nf-iointex-wdmlibioconnectinterruptex).
    pub asserted: bool,
}

impl InterruptLine {
    /// A level-sensitive line at `irql`, not interrupting yet.
    #[must_use]
    pub const fn new(vector: u32, irql: KIRQL) -> Self {
        Self {
            vector,
            irql,
            latched: false,
            asserted: false,
        }
    }
}

#[derive(Clone, Debug)]
struct InterruptDevice {
    pdo: usize,
    lines: Vec<InterruptLine>,
}

/// One connection made by `IoConnectInterruptEx`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterruptConnection {
    /// The interrupt object (`PKINTERRUPT`) the routine wrote back.
    pub object: usize,
    /// The version it connected (`Parameters->Version` on return).
    pub version: u32,
    /// The PDO.
    pub pdo: usize,
    /// The vectors it serves.
    pub vectors: Vec<u32>,
    /// The IRQL the ISR runs at.
    pub irql: KIRQL,
    /// The `InterruptService` routine.
    pub routine: usize,
    /// Its `ServiceContext`.
    pub context: usize,
    slot: u64,
}

#[derive(Default)]
struct Interrupts {
    devices: Vec<InterruptDevice>,
    connections: Vec<InterruptConnection>,
    #[allow(
        clippy::vec_box,
        reason = "each box is a stable, unique address handed out as an opaque PKINTERRUPT"
    )]
    objects: Vec<Box<u64>>,
    #[allow(
        clippy::vec_box,
        reason = "the model's bus driver objects must stay at their addresses"
    )]
    drivers: Vec<Box<crate::io::DriverImage>>,
}

// SAFETY: plain addresses; the boxes are only identities and model-owned objects.
unsafe impl Send for Interrupts {}

static INTERRUPT_STATE: Mutex<Option<Interrupts>> = Mutex::new(None);

fn with_interrupts<R>(f: impl FnOnce(&mut Interrupts) -> R) -> R {
    f(lock(&INTERRUPT_STATE).get_or_insert_with(Interrupts::default))
}

/// Creates a physical device object `\Device\<name>` (owned by a model bus
/// driver) to which the PnP manager assigned `lines`, as a test's stand-in
/// for a device whose driver connects its interrupts.
///
/// # Panics
/// If the device cannot be created (e.g. the name exists).
#[must_use]
pub fn interrupt_device(name: &str, lines: &[InterruptLine]) -> PDEVICE_OBJECT {
    let mut image = Box::new(crate::io::DriverImage::new("ntsim-bus", None));
    // SAFETY: a driver object the model keeps for the rest of the boot.
    let device = unsafe {
        crate::io::create_device(
            image.object(),
            0,
            Some(&format!("\\Device\\{name}")),
            wdk_sys::FILE_DEVICE_BUS_EXTENDER,
            0,
            false,
        )
    }
    .unwrap_or_else(|status| panic!("creating \\Device\\{name}: {status:#X}"));
    // SAFETY: the device was just created.
    unsafe { (*device).Flags &= !wdk_sys::DO_DEVICE_INITIALIZING };
    with_interrupts(|i| {
        i.drivers.push(image);
        i.devices.push(InterruptDevice {
            pdo: device as usize,
            lines: lines.to_vec(),
        });
    });
    device
}

/// The connections in place.
#[must_use]
pub fn interrupt_connections() -> Vec<InterruptConnection> {
    with_interrupts(|i| i.connections.clone())
}

fn call_isr(connection: &InterruptConnection) -> Option<bool> {
    // SAFETY: stored as a PKSERVICE_ROUTINE.
    let routine = unsafe { std::mem::transmute::<usize, PKSERVICE_ROUTINE>(connection.routine) }?;
    let _irql = IrqlScope::enter(connection.irql);
    INTERRUPTS
        .invoke(connection.slot, || {
            // SAFETY: the connected ISR with its interrupt object and context.
            unsafe { routine(connection.object as PKINTERRUPT, connection.context as PVOID) }
        })
        .map(|r| r != 0)
}

/// Device `pdo` raises interrupt `vector`.
///
/// The ISRs connected to it run at their IRQL (on the calling thread, in
/// the interrupted thread's context), until one returns TRUE. Returns
/// whether one claimed it, or `None` if no ISR is connected to that vector.
///
/// # Panics
/// If called above PASSIVE_LEVEL (the model raises the IRQL itself).
#[must_use = "whether an ISR claimed the interrupt"]
pub fn interrupt(pdo: PDEVICE_OBJECT, vector: u32) -> Option<bool> {
    assert_eq!(
        crate::irql::current(),
        PASSIVE_LEVEL,
        "trigger::interrupt must be called at PASSIVE_LEVEL"
    );
    let connected: Vec<InterruptConnection> = with_interrupts(|i| {
        i.connections
            .iter()
            .filter(|c| c.pdo == pdo as usize && c.vectors.contains(&vector))
            .cloned()
            .collect()
    });
    if connected.is_empty() {
        return None;
    }
    Some(connected.iter().any(|c| call_isr(c) == Some(true)))
}

/// What a connect request resolved to before anything is connected.
struct Plan {
    pdo: usize,
    storage: *mut PKINTERRUPT,
    routine: usize,
    context: usize,
    lines: Vec<InterruptLine>,
    irql: KIRQL,
    version: u32,
}

/// Validates a request (see [`IoConnectInterruptEx`]).
///
/// # Safety
/// `parameters` is a valid `IO_CONNECT_INTERRUPT_PARAMETERS`.
unsafe fn plan_connection(parameters: &IO_CONNECT_INTERRUPT_PARAMETERS) -> Result<Plan, NTSTATUS> {
    let version = parameters.Version;
    if !(CONNECT_FULLY_SPECIFIED..=CONNECT_FULLY_SPECIFIED_GROUP).contains(&version) {
        return Err(STATUS_INVALID_PARAMETER_1);
    }
    // Every version starts with PhysicalDeviceObject.
    // SAFETY: reading the first field, common to all members of the union.
    let pdo = unsafe { parameters.__bindgen_anon_1.LineBased.PhysicalDeviceObject };
    if pdo.is_null() {
        return Err(STATUS_INVALID_PARAMETER);
    }
    let lines = with_interrupts(|i| {
        i.devices
            .iter()
            .find(|d| d.pdo == pdo as usize)
            .map(|d| d.lines.clone())
    })
    .unwrap_or_default();
    let max_irql = |lines: &[InterruptLine]| lines.iter().map(|l| l.irql).max().unwrap_or(0);
    match version {
        CONNECT_FULLY_SPECIFIED | CONNECT_FULLY_SPECIFIED_GROUP => {
            // SAFETY: the member this version names.
            let p = unsafe { &parameters.__bindgen_anon_1.FullySpecified };
            if p.InterruptObject.is_null() || p.ServiceRoutine.is_none() {
                return Err(STATUS_INVALID_PARAMETER);
            }
            if p.ProcessorEnableMask == 0 {
                return Err(STATUS_INVALID_PARAMETER_10);
            }
            let Some(line) = lines.iter().find(|l| l.vector == p.Vector).copied() else {
                return Err(STATUS_NOT_FOUND);
            };
            if p.Irql != line.irql || p.SynchronizeIrql < line.irql {
                return Err(STATUS_INVALID_PARAMETER);
            }
            Ok(Plan {
                pdo: pdo as usize,
                storage: p.InterruptObject,
                routine: p.ServiceRoutine.map_or(0, |r| r as usize),
                context: p.ServiceContext as usize,
                lines: vec![line],
                irql: p.SynchronizeIrql,
                version,
            })
        }
        CONNECT_LINE_BASED => {
            // SAFETY: the member this version names.
            let p = unsafe { &parameters.__bindgen_anon_1.LineBased };
            if p.InterruptObject.is_null() || p.ServiceRoutine.is_none() {
                return Err(STATUS_INVALID_PARAMETER);
            }
            if lines.is_empty() {
                return Err(STATUS_NOT_FOUND);
            }
            Ok(Plan {
                pdo: pdo as usize,
                storage: p.InterruptObject,
                routine: p.ServiceRoutine.map_or(0, |r| r as usize),
                context: p.ServiceContext as usize,
                irql: max_irql(&lines).max(p.SynchronizeIrql),
                lines,
                version,
            })
        }
        _ => {
            // CONNECT_MESSAGE_BASED: the model's devices have no message-
            // signaled interrupts, so only the fallback can connect.
            // SAFETY: the member this version names.
            let p = unsafe { &parameters.__bindgen_anon_1.MessageBased };
            // SAFETY: every member of this union is a pointer.
            let storage = unsafe { p.ConnectionContext.InterruptObject };
            if storage.is_null() || p.MessageServiceRoutine.is_none() {
                return Err(STATUS_INVALID_PARAMETER);
            }
            if lines.is_empty() || p.FallBackServiceRoutine.is_none() {
                return Err(STATUS_NOT_FOUND);
            }
            Ok(Plan {
                pdo: pdo as usize,
                storage,
                routine: p.FallBackServiceRoutine.map_or(0, |r| r as usize),
                context: p.ServiceContext as usize,
                irql: max_irql(&lines).max(p.SynchronizeIrql),
                lines,
                version: CONNECT_LINE_BASED,
            })
        }
    }
}

/// `IoConnectInterruptEx` (iointex/nf-iointex-wdmlibioconnectinterruptex):
/// see the module docs.
///
/// # Safety
/// `parameters` is a valid `IO_CONNECT_INTERRUPT_PARAMETERS`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IoConnectInterruptEx(parameters: PIO_CONNECT_INTERRUPT_PARAMETERS) -> NTSTATUS {
    let entry = ddi::enter(&ddi::IO_CONNECT_INTERRUPT_EX);
    if let Some(status) = entry.fault {
        return status;
    }
    if parameters.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: valid per the caller.
    let request = unsafe { &*parameters };
    // SAFETY: as above.
    let plan = match unsafe { plan_connection(request) } {
        Ok(plan) => plan,
        Err(status) => return status,
    };
    let slot = INTERRUPTS.add(plan.routine, plan.version, plan.pdo as u64);
    let connection = with_interrupts(|i| {
        let mut block = Box::new(u64::from_le_bytes(*b"KINTRPT\0"));
        let object = std::ptr::from_mut::<u64>(&mut block) as usize;
        i.objects.push(block);
        let connection = InterruptConnection {
            object,
            version: plan.version,
            pdo: plan.pdo,
            vectors: plan.lines.iter().map(|l| l.vector).collect(),
            irql: plan.irql,
            routine: plan.routine,
            context: plan.context,
            slot,
        };
        i.connections.push(connection.clone());
        connection
    });
    // The ISR may run before the routine returns: a device already
    // interrupting gets its ISR called now, before the interrupt object is
    // written back (the latest the documentation allows).
    if plan.lines.iter().any(|l| l.asserted) {
        let _ = call_isr(&connection);
    }
    // SAFETY: writable per the caller (checked non-NULL in the plan).
    unsafe { plan.storage.write(connection.object as PKINTERRUPT) };
    // SAFETY: valid per the caller; the version actually connected.
    unsafe { (*parameters).Version = plan.version };
    STATUS_SUCCESS
}

/// `IoDisconnectInterruptEx` (iointex/nf-iointex-wdmlibiodisconnectinterruptex).
///
/// PASSIVE_LEVEL, returns nothing. `Version` must be the one
/// `IoConnectInterruptEx` returned and `ConnectionContext` the object it
/// wrote back; anything else (or a second disconnect) is NSIM
/// (`UnknownObject`, or `InvalidParameter` for a wrong version). Waits for
/// a running ISR (SILENT; the model's choice).
///
/// # Safety
/// `parameters` is a valid `IO_DISCONNECT_INTERRUPT_PARAMETERS`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IoDisconnectInterruptEx(parameters: PIO_DISCONNECT_INTERRUPT_PARAMETERS) {
    ddi::enter(&ddi::IO_DISCONNECT_INTERRUPT_EX);
    if parameters.is_null() {
        verifier::model_rule(
            ModelRule::InvalidParameter,
            0,
            "IoDisconnectInterruptEx(NULL)".to_owned(),
        );
        return;
    }
    // SAFETY: valid per the caller.
    let request = unsafe { &*parameters };
    let version = request.Version;
    // SAFETY: every member of the union is a pointer.
    let object = unsafe { request.ConnectionContext.Generic };
    let found = with_interrupts(|i| {
        let position = i.connections.iter().position(|c| c.object == object as usize)?;
        let connection = &i.connections[position];
        if connection.version != version {
            return Some(Err(connection.version));
        }
        Some(Ok(i.connections.remove(position)))
    });
    match found {
        None => {
            verifier::model_rule(
                ModelRule::UnknownObject,
                object as u64,
                format!("IoDisconnectInterruptEx({object:p}): not a connected interrupt object"),
            );
        }
        Some(Err(connected)) => {
            verifier::model_rule(
                ModelRule::InvalidParameter,
                u64::from(version),
                format!(
                    "IoDisconnectInterruptEx: Version {version}, but IoConnectInterruptEx returned {connected}"
                ),
            );
        }
        Some(Ok(connection)) => {
            INTERRUPTS.remove("IoDisconnectInterruptEx", true, |s| s.id == connection.slot);
        }
    }
}

/// The unload check for interrupts (called with the I/O manager's own
/// leftover checks, [`crate::io`]): a connection still in place when a
/// driver unloads is 0xCE (P1 the ISR), as is an ISR still running.
pub(crate) fn interrupt_unload_checks() {
    let pending = crate::verifier::codes::DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS;
    for connection in interrupt_connections() {
        verifier::bugcheck(
            pending,
            [connection.routine as u64, 0, 0, 0],
            format!(
                "unload with an interrupt service routine ({:#x}, interrupt object {:#x}) still connected (IoDisconnectInterruptEx missing)",
                connection.routine, connection.object
            ),
        );
    }
    for routine in INTERRUPTS.in_flight() {
        verifier::bugcheck(
            pending,
            [routine as u64, 0, 0, 0],
            format!("unload while an interrupt service routine ({routine:#x}) is still running"),
        );
    }
}

pub(crate) fn reset() {
    PNP.reset();
    FS_CHANGE.reset();
    INTERRUPTS.reset();
    let interrupts = lock(&INTERRUPT_STATE).take();
    std::mem::forget(interrupts);
    let old = lock(&STATE).take();
    std::mem::forget(old);
}
