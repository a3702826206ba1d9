//! DriverEntry and DriverUnload: the driver's state is one struct of
//! registrations whose field order is the unregistration order.

use core::cell::UnsafeCell;

use kcb_proto::{RegistrationState, SourceId, params::Settings};
use wdk_sys::{DRIVER_OBJECT, NTSTATUS, PCUNICODE_STRING, STATUS_SUCCESS};

use crate::{
    clock, config,
    device::{self, ControlDevice, DriverObject, SymbolicLink},
    drain::{self, DrainThread},
    guard::Registration,
    kprintln,
    ps::LoadImageNotify,
    report::REPORT,
};

/// The driver's version, as printed at load and returned by `GET_REPORT`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything the driver registered. Dropping it unregisters in field order:
/// notify routines first (no new events), then the drain (prints what is
/// left), then the symbolic link and the device.
#[allow(dead_code, reason = "the fields are held for their Drop, which unregisters")]
pub struct DriverState {
    load_image: Option<Registration<LoadImageNotify>>,
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
        let device = Registration::<ControlDevice>::new(driver)?;
        let link = Registration::<SymbolicLink>::new(())?;
        let drain = Registration::<DrainThread>::new(()).ok();
        let load_image =
            Registration::<LoadImageNotify>::optional(settings.is_enabled(SourceId::LoadImage), ());
        // SAFETY: the device is live and still initialising; nothing else
        // touches its flags.
        unsafe { device::finish_initializing(device.token().as_ptr()) };
        Ok(Self { load_image, drain, link, device })
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
            kprintln!(
                "loaded: {} registered, {} failed, {} disabled, {} unavailable",
                REPORT.count(RegistrationState::Registered),
                REPORT.count(RegistrationState::Failed),
                REPORT.count(RegistrationState::DisabledByConfig),
                REPORT.count(RegistrationState::NotAvailable),
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
    kprintln!("unloaded: {} removed", REPORT.count(RegistrationState::Removed));
}
