//! DriverEntry and DriverUnload: the driver's state is one struct of
//! registrations whose field order is the unregistration order.

use core::cell::UnsafeCell;

use kcb_proto::{RegistrationState, SourceId, params::Settings};
use wdk_sys::{DRIVER_OBJECT, NTSTATUS, PCUNICODE_STRING, STATUS_SUCCESS};

use crate::{
    callbacks::{self, CallbackObjects},
    clock,
    cm::{self, RegistryArgs, RegistryCallback},
    config,
    device::{self, ControlDevice, DriverObject, SymbolicLink},
    drain::{self, DrainThread},
    guard::{Registration, RegistrationOps},
    kprintln,
    ob::HandleCallbacks,
    ps::{self, LoadImageNotify, ProcessNotify, ThreadNotify},
    report::{Api, REPORT},
};

/// The driver's version, as printed at load and returned by `GET_REPORT`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything the driver registered. Dropping it unregisters in field order:
/// notify routines first (no new events), then the drain (prints what is
/// left), then the symbolic link and the device.
#[allow(dead_code, reason = "the fields are held for their Drop, which unregisters")]
pub struct DriverState {
    process: Option<Registration<ProcessNotify>>,
    thread: Option<Registration<ThreadNotify>>,
    load_image: Option<Registration<LoadImageNotify>>,
    handles: Option<Registration<HandleCallbacks>>,
    registry: Option<Registration<RegistryCallback>>,
    callback_objects: Option<CallbackObjects>,
    drain: Option<Registration<DrainThread>>,
    link: Registration<SymbolicLink>,
    device: Registration<ControlDevice>,
}

impl DriverState {
    /// Registers everything, reporting each attempt.
    ///
    /// # Errors
    /// The status of a registration the driver cannot run without (the
    /// control device and its link); whatever was registered before is
    /// unregistered again.
    ///
    /// # IRQL
    /// PASSIVE_LEVEL.
    pub fn register(driver: DriverObject, settings: &Settings) -> Result<Self, NTSTATUS> {
        let device = Registration::<ControlDevice>::new(driver).map_err(|f| f.status)?;
        let link = Registration::<SymbolicLink>::new(()).map_err(|f| f.status)?;
        let drain = Registration::<DrainThread>::new(()).ok();
        let (process_variant, thread_variant, image_variant) = ps::resolve();
        let process = optional::<ProcessNotify>(
            settings.is_enabled(SourceId::ProcessCreate),
            ProcessNotify::api(process_variant),
            process_variant,
        );
        let thread = optional::<ThreadNotify>(
            settings.is_enabled(SourceId::ThreadCreate),
            ThreadNotify::api(thread_variant),
            thread_variant,
        );
        let load_image = optional::<LoadImageNotify>(
            settings.is_enabled(SourceId::LoadImage),
            LoadImageNotify::api(image_variant),
            image_variant,
        );
        let handles = optional::<HandleCallbacks>(
            settings.is_enabled(SourceId::ObjectHandle),
            Api::ObRegisterCallbacks,
            (),
        );
        let registry_variant = cm::resolve();
        let registry = optional::<RegistryCallback>(
            settings.is_enabled(SourceId::Registry),
            cm::api(registry_variant),
            RegistryArgs { variant: registry_variant, driver: driver.as_ptr().cast() },
        );
        let callback_objects = if settings.is_enabled(SourceId::CallbackObject) {
            let objects = CallbackObjects::register();
            callbacks::print_map();
            Some(objects)
        } else {
            REPORT.set(Api::OwnCallbackObject, RegistrationState::DisabledByConfig, 0);
            None
        };
        // SAFETY: the device is live and still initialising; nothing else
        // touches its flags.
        unsafe { device::finish_initializing(device.token().as_ptr()) };
        Ok(Self { process, thread, load_image, handles, registry, callback_objects, drain, link, device })
    }
}

/// Registers `R` as `api` if `enabled`, else reports it disabled.
fn optional<R: RegistrationOps>(enabled: bool, api: Api, args: R::Args) -> Option<Registration<R>> {
    if enabled {
        Registration::new_as(api, args).ok()
    } else {
        REPORT.set(api, RegistrationState::DisabledByConfig, 0);
        None
    }
}

/// Where the state lives between DriverEntry and DriverUnload.
struct StateSlot(UnsafeCell<Option<DriverState>>);

// SAFETY: the I/O manager never runs DriverEntry and DriverUnload
// concurrently, and they are the only accessors.
unsafe impl Sync for StateSlot {}

static STATE: StateSlot = StateSlot(UnsafeCell::new(None));

/// `DriverEntry`: registers the chosen set and reports each attempt.
///
/// # Safety
/// Called by the I/O manager (or the kernel model) with a valid driver object
/// at PASSIVE_LEVEL, once per load.
#[cfg_attr(target_os = "windows", unsafe(export_name = "DriverEntry"))]
pub unsafe extern "C" fn driver_entry(
    driver: *mut DRIVER_OBJECT,
    registry_path: PCUNICODE_STRING,
) -> NTSTATUS {
    REPORT.clear();
    kprintln!("DriverEntry version={VERSION}");
    let clock = clock::init();
    kprintln!("clock: {clock:?}");
    // SAFETY: DriverEntry owns the driver object until it returns.
    unsafe { device::install_dispatch(driver) };
    // SAFETY: as above.
    unsafe { (*driver).DriverUnload = Some(driver_unload) };
    // SAFETY: the I/O manager's driver object, valid for the driver's life.
    let driver_object = unsafe { DriverObject::new(driver) };
    // SAFETY: the I/O manager's registry path for this service.
    let settings = unsafe { config::load(registry_path) };
    match DriverState::register(driver_object, &settings) {
        Ok(state) => {
            // SAFETY: no other accessor runs during DriverEntry.
            unsafe { *STATE.0.get() = Some(state) };
            let count = |state| REPORT.count(state) + CallbackObjects::count(state);
            kprintln!(
                "loaded: {} registered, {} failed, {} disabled, {} unavailable",
                count(RegistrationState::Registered),
                count(RegistrationState::Failed),
                count(RegistrationState::DisabledByConfig),
                count(RegistrationState::NotAvailable),
            );
            STATUS_SUCCESS
        }
        Err(status) => {
            kprintln!(
                "DriverEntry failed: status={:#010X}; {} removed",
                status.cast_unsigned(),
                REPORT.count(RegistrationState::Removed)
            );
            status
        }
    }
}

/// `DriverUnload`: drops the state, which unregisters everything in order.
///
/// # Safety
/// Called by the I/O manager (or the kernel model) at PASSIVE_LEVEL after a
/// successful DriverEntry, when no handle to the device is open.
pub unsafe extern "C" fn driver_unload(_driver: *mut DRIVER_OBJECT) {
    // SAFETY: no other accessor runs during DriverUnload.
    let state = unsafe { (*STATE.0.get()).take() };
    drop(state);
    // Anything pushed after the drain stopped stays counted, never lost.
    drain::drain_once();
    kprintln!(
        "unloaded: {} removed",
        REPORT.count(RegistrationState::Removed) + CallbackObjects::removed_count()
    );
}
