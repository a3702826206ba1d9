//! I/O-manager notifications: Plug and Play (device interfaces, hardware
//! profile), file-system registration and driver reinitialization
//! (shutdown notifications are [`crate::registrations::shutdown`]).

use core::{ffi::c_void, ptr};

use kcb_proto::{
    BootDriverReinitPayload, DriverReinitPayload, EventRecord, FsRegistrationPayload, PlugPlayPayload, kind,
    report_detail,
};
use kcb_proto::{SourceId, params::Settings};
use wdk_sys::{
    _IO_NOTIFICATION_EVENT_CATEGORY::{
        EventCategoryDeviceInterfaceChange, EventCategoryHardwareProfileChange,
    },
    BOOLEAN, DEVICE_INTERFACE_CHANGE_NOTIFICATION, DRIVER_OBJECT, GUID, HWPROFILE_CHANGE_NOTIFICATION,
    NTSTATUS, PDEVICE_OBJECT, PNPNOTIFY_DEVICE_INTERFACE_INCLUDE_EXISTING_INTERFACES, STATUS_SUCCESS,
    ntddk::{
        IoRegisterBootDriverReinitialization, IoRegisterDriverReinitialization,
        IoRegisterFsRegistrationChange, IoRegisterPlugPlayNotification, IoUnregisterFsRegistrationChange,
        IoUnregisterPlugPlayNotification,
    },
};

use crate::{
    dynamic_fn,
    kernel::{dynamic::DynamicRoutine, object::DriverObject, unicode::units_of},
    pipeline::events,
    registrations::{
        catalog::Slot,
        guard::{Failure, RegistrationOps, check, source_enabled},
        report::Api,
    },
};

static UNREGISTER_PNP_EX: DynamicRoutine = DynamicRoutine::new("IoUnregisterPlugPlayNotificationEx");

/// The prototype of `IoUnregisterPlugPlayNotificationEx`, resolved at run time (checked against
/// windows-sys by `tests/windows_sys_conformance.rs`).
pub type UnregisterPnpExFn = unsafe extern "C" fn(*mut c_void) -> NTSTATUS;

/// Resolves the I/O routines newer systems have.
///
/// # IRQL
/// PASSIVE_LEVEL.
pub fn resolve() {
    UNREGISTER_PNP_EX.resolve();
}

// -------------------------------------------------------------------- PnP

/// Context values that tell callbacks which registration called them
/// (their addresses are the tags; nothing reads them).
static HARDWARE_PROFILE_TAG: u8 = 0;
static BOOT_REINIT_TAG: u8 = 0;

const fn tag(marker: &'static u8) -> *mut c_void {
    ptr::from_ref(marker).cast_mut().cast()
}

/// `GUID_DEVINTERFACE_VOLUME` {53F5630D-B6BF-11D0-94F2-00A0C91EFB8B}: volume
/// arrivals and removals (USB sticks, mounted images).
static VOLUME_INTERFACE: GUID = GUID {
    Data1: 0x53F5_630D,
    Data2: 0xB6BF,
    Data3: 0x11D0,
    Data4: [0x94, 0xF2, 0x00, 0xA0, 0xC9, 0x1E, 0xFB, 0x8B],
};

/// Which Plug and Play category.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PnpCategory {
    /// Device-interface arrival/removal of [`VOLUME_INTERFACE`], existing
    /// interfaces included.
    DeviceInterface,
    /// Hardware-profile changes.
    HardwareProfile,
}

/// `IoRegisterPlugPlayNotification`; `IoUnregisterPlugPlayNotificationEx`
/// (or the legacy routine where Ex is missing) on drop.
pub struct PlugPlayNotification;

/// A notification entry.
pub struct PnpEntry(*mut c_void);

impl RegistrationOps for PlugPlayNotification {
    type Args = (DriverObject, PnpCategory);
    type Token = PnpEntry;
    const SOURCE: Option<SourceId> = Some(SourceId::PlugPlay);
    const API: Api = Api::PnpDeviceInterface;

    /// Each variant reports under its own name.
    fn slot(args: &(DriverObject, PnpCategory)) -> Slot {
        Slot::Api(match args.1 {
            PnpCategory::DeviceInterface => Api::PnpDeviceInterface,
            PnpCategory::HardwareProfile => Api::PnpHardwareProfile,
        })
    }

    /// PASSIVE_LEVEL. With INCLUDE_EXISTING_INTERFACES the callback runs for
    /// every existing interface, possibly before this returns. Success
    /// without an entry (Wine) is reported as unavailable.
    fn register((driver, category): (DriverObject, PnpCategory)) -> Result<PnpEntry, Failure> {
        let (category_code, flags, data, context) = match category {
            PnpCategory::DeviceInterface => (
                EventCategoryDeviceInterfaceChange,
                PNPNOTIFY_DEVICE_INTERFACE_INCLUDE_EXISTING_INTERFACES,
                ptr::from_ref(&VOLUME_INTERFACE).cast_mut().cast::<c_void>(),
                ptr::null_mut::<c_void>(),
            ),
            PnpCategory::HardwareProfile => (
                EventCategoryHardwareProfileChange,
                0,
                ptr::null_mut(),
                tag(&HARDWARE_PROFILE_TAG),
            ),
        };
        let mut entry: *mut c_void = ptr::null_mut();
        // SAFETY: the driver object from DriverEntry; 'static routine and
        // GUID; the context is a tag, not a pointer.
        let status = unsafe {
            IoRegisterPlugPlayNotification(
                category_code,
                flags,
                data,
                driver.as_ptr(),
                Some(on_pnp),
                context,
                &raw mut entry,
            )
        };
        check(status)?;
        if entry.is_null() {
            return Err(Failure::unavailable(
                status,
                report_detail::SUCCESS_WITHOUT_OBJECT,
            ));
        }
        Ok(PnpEntry(entry))
    }

    unsafe fn unregister(token: PnpEntry) {
        if let Some(unregister_ex) = dynamic_fn!(UNREGISTER_PNP_EX => UnregisterPnpExFn) {
            // SAFETY: our entry; the Ex routine waits until no callback runs
            // (wdm/nf-wdm-iounregisterplugplaynotificationex).
            let _ = unsafe { unregister_ex(token.0) };
        } else {
            // SAFETY: our entry, unregistered once (legacy: not synchronized).
            let _ = unsafe { IoUnregisterPlugPlayNotification(token.0) };
        }
    }
}

/// `DRIVER_NOTIFICATION_CALLBACK_ROUTINE`: PASSIVE_LEVEL. Records the event
/// GUID, the interface class and symbolic link; never vetoes.
unsafe extern "C" fn on_pnp(notification: *mut c_void, context: *mut c_void) -> NTSTATUS {
    let _cost = crate::pipeline::cost::Span::start(kcb_proto::SourceId::PlugPlay);
    if notification.is_null() {
        return STATUS_SUCCESS;
    }
    let hardware_profile = !context.is_null();
    let record = EventRecord::build(kind::NONE, |payload: &mut PlugPlayPayload| {
        if hardware_profile {
            // SAFETY: for this category the structure is a HWPROFILE_CHANGE_NOTIFICATION.
            let info = unsafe { &*notification.cast::<HWPROFILE_CHANGE_NOTIFICATION>() };
            payload.event = guid_bytes(&info.Event);
            payload.category = EventCategoryHardwareProfileChange.cast_unsigned();
        } else {
            // SAFETY: for this category the structure is a DEVICE_INTERFACE_CHANGE_NOTIFICATION.
            let info = unsafe { &*notification.cast::<DEVICE_INTERFACE_CHANGE_NOTIFICATION>() };
            payload.event = guid_bytes(&info.Event);
            payload.class = guid_bytes(&info.InterfaceClassGuid);
            payload.category = EventCategoryDeviceInterfaceChange.cast_unsigned();
            // SAFETY: the symbolic link name, valid during the callback.
            payload
                .symbolic_link
                .set_from_utf16(unsafe { units_of(info.SymbolicLinkName) });
        }
    });
    events::record(record);
    STATUS_SUCCESS
}

/// The 16 bytes of a GUID as Windows stores it (the wire format's layout).
///
/// # IRQL
/// Any.
#[must_use]
pub const fn guid_bytes(guid: &GUID) -> [u8; 16] {
    kcb_proto::guid_bytes(guid.Data1, guid.Data2, guid.Data3, guid.Data4)
}

// ------------------------------------------------- file-system registration

/// `IoRegisterFsRegistrationChange` / `IoUnregisterFsRegistrationChange`.
pub struct FsRegistrationChange;

impl RegistrationOps for FsRegistrationChange {
    type Args = DriverObject;
    type Token = DriverObject;
    const SOURCE: Option<SourceId> = Some(SourceId::FsRegistration);
    const API: Api = Api::FsRegistrationChange;

    /// `< DISPATCH_LEVEL`. Existing file systems are replayed at once.
    fn register(driver: DriverObject) -> Result<DriverObject, Failure> {
        // SAFETY: the driver object from DriverEntry; 'static routine.
        check(unsafe { IoRegisterFsRegistrationChange(driver.as_ptr(), Some(on_fs_change)) })?;
        Ok(driver)
    }

    unsafe fn unregister(driver: DriverObject) {
        // SAFETY: registered by `register` with the same routine.
        unsafe { IoUnregisterFsRegistrationChange(driver.as_ptr(), Some(on_fs_change)) };
    }
}

/// `DRIVER_FS_NOTIFICATION`: PASSIVE_LEVEL. Records the file system's device
/// object type and whether it is registering or going away.
unsafe extern "C" fn on_fs_change(device: PDEVICE_OBJECT, active: BOOLEAN) {
    let _cost = crate::pipeline::cost::Span::start(kcb_proto::SourceId::FsRegistration);
    let device_type = if device.is_null() {
        0
    } else {
        // SAFETY: the file system's control device object, valid during the callback.
        unsafe { (*device).DeviceType }
    };
    events::record(EventRecord::build(
        kind::NONE,
        |payload: &mut FsRegistrationPayload| {
            payload.device_object = device as u64;
            payload.device_type = device_type;
            payload.active = u32::from(active);
        },
    ));
}

// ----------------------------------------------------- reinitialization

/// `IoRegisterDriverReinitialization`: called back after every driver's
/// DriverEntry. Cannot be undone: dropping the guard only reports it.
pub struct DriverReinitialization;

impl RegistrationOps for DriverReinitialization {
    type Args = DriverObject;
    type Token = ();
    const SOURCE: Option<SourceId> = Some(SourceId::DriverReinit);
    const API: Api = Api::DriverReinitialization;

    /// PASSIVE_LEVEL; returns nothing. Call only when DriverEntry will
    /// succeed, once (ntddk/nf-ntddk-ioregisterdriverreinitialization).
    fn register(driver: DriverObject) -> Result<(), Failure> {
        // SAFETY: the driver object from DriverEntry; 'static routine.
        unsafe { IoRegisterDriverReinitialization(driver.as_ptr(), Some(on_reinit), ptr::null_mut()) };
        Ok(())
    }

    unsafe fn unregister((): ()) {}
}

/// `IoRegisterBootDriverReinitialization`: called back after every boot
/// device started; boot-start drivers only. Cannot be undone either.
pub struct BootDriverReinitialization;

/// What the boot variant needs: the driver object, and whether the service
/// starts at boot (`Start` = 0).
#[derive(Clone, Copy)]
pub struct BootReinitArgs {
    /// `DriverObject` from DriverEntry.
    pub driver: DriverObject,
    /// Whether the driver was started at boot.
    pub boot_start: bool,
}

impl RegistrationOps for BootDriverReinitialization {
    type Args = BootReinitArgs;
    type Token = ();
    const SOURCE: Option<SourceId> = Some(SourceId::BootDriverReinit);
    const API: Api = Api::BootDriverReinitialization;

    /// Only a boot-start driver may ask (reported "not started at boot"
    /// otherwise, whatever the switch says).
    fn enabled(settings: &Settings, args: &BootReinitArgs) -> Result<(), u32> {
        if !args.boot_start {
            return Err(report_detail::NOT_BOOT_START);
        }
        source_enabled::<Self>(settings)
    }

    /// PASSIVE_LEVEL; returns nothing. Call only when DriverEntry will
    /// succeed, once.
    fn register(args: BootReinitArgs) -> Result<(), Failure> {
        // SAFETY: the driver object from DriverEntry; 'static routine; the
        // context tags the boot variant.
        unsafe {
            IoRegisterBootDriverReinitialization(
                args.driver.as_ptr(),
                Some(on_reinit),
                tag(&BOOT_REINIT_TAG),
            );
        }
        Ok(())
    }

    unsafe fn unregister((): ()) {}
}

/// `DRIVER_REINITIALIZE`: PASSIVE_LEVEL, system thread. Records the call and
/// its count (which includes this call).
unsafe extern "C" fn on_reinit(_driver: *mut DRIVER_OBJECT, context: *mut c_void, count: u32) {
    let _cost = crate::pipeline::cost::Span::start(if context.is_null() {
        kcb_proto::SourceId::DriverReinit
    } else {
        kcb_proto::SourceId::BootDriverReinit
    });
    let record = if context.is_null() {
        EventRecord::build(kind::NONE, |p: &mut DriverReinitPayload| p.count = count)
    } else {
        EventRecord::build(kind::NONE, |p: &mut BootDriverReinitPayload| p.count = count)
    };
    events::record(record);
}
