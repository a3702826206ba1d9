//! DriverEntry and DriverUnload: the driver's state is one struct of
//! registrations whose field order is the unregistration order.

use kcb_proto::{RegistrationState, params::Settings};
use wdk_sys::{DRIVER_OBJECT, NTSTATUS, PCUNICODE_STRING, STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS};

use crate::{
    VERSION,
    config::{registry, settings},
    control::{
        device::{self, ControlDevice, SymbolicLink},
        dispatch,
    },
    etw::EtwProvider,
    kernel::{cell::KernelCell, clock, object::DriverObject},
    kprintln,
    pipeline::{cost::CostTables, drain, rings},
    registrations::{
        catalog,
        drain_thread::DrainThread,
        guard::Registration,
        hal,
        report::REPORT,
        shutdown::{LastChanceShutdownNotification, ShutdownDevice, ShutdownNotification},
        table::{Context, Registrations},
    },
};

/// Everything the driver registered.
///
/// Dropping it unregisters in field order: the table's rows first (notify
/// routines, so no new events; the bug-check records last among them),
/// then the shutdown notifications (before their device goes), the drain
/// (prints what is left), the symbolic link and the device, and the cost
/// tables.
#[allow(dead_code, reason = "the fields are held for their Drop, which unregisters")]
pub struct DriverState {
    table: Registrations,
    shutdown: Option<Registration<ShutdownNotification>>,
    last_chance_shutdown: Option<Registration<LastChanceShutdownNotification>>,
    drain: Option<Registration<DrainThread>>,
    /// After the drain, its only writer.
    etw: Option<Registration<EtwProvider>>,
    link: Registration<SymbolicLink>,
    device: Registration<ControlDevice>,
    /// Last: freed when no routine can run and no request can read it.
    cost: Option<CostTables>,
}

impl DriverState {
    /// Whether the HAL PMI handler is installed, which makes the image
    /// impossible to unload safely (see [`crate::registrations::hal`]).
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub const fn profile_handler_installed(&self) -> bool {
        self.table.profile_interrupt.is_some()
    }

    /// Registers everything, reporting each attempt: the control device,
    /// its link, the drain and the shutdown notifications, then every row
    /// of the registration table.
    ///
    /// # Errors
    /// The status of a registration the driver cannot run without (the
    /// control device and its link); whatever was registered before is
    /// unregistered again.
    ///
    /// # IRQL
    /// PASSIVE_LEVEL.
    pub fn register(driver: DriverObject, settings: &Settings, boot_start: bool) -> Result<Self, NTSTATUS> {
        // Before the first registration: some routines run during it.
        let cost = CostTables::allocate();
        let device = Registration::<ControlDevice>::new(driver).map_err(|f| f.status)?;
        let link = Registration::<SymbolicLink>::new(()).map_err(|f| f.status)?;
        let etw = Registration::<EtwProvider>::if_enabled(settings, ());
        let drain = Registration::<DrainThread>::new(()).ok();
        // SAFETY: the live control device; both notifications are fields
        // of this state, dropped before the device.
        let target = unsafe { ShutdownDevice::new(device.token().as_ptr()) };
        let shutdown = Registration::<ShutdownNotification>::if_enabled(settings, target);
        let last_chance_shutdown =
            Registration::<LastChanceShutdownNotification>::if_enabled(settings, target);
        // From here on DriverEntry succeeds, as reinitialization requires.
        let table = Registrations::register(&Context::resolve(settings, driver, boot_start));
        // SAFETY: the device is live and still initialising; nothing else
        // touches its flags.
        unsafe { device::finish_initializing(device.token().as_ptr()) };
        Ok(Self {
            table,
            shutdown,
            last_chance_shutdown,
            drain,
            etw,
            link,
            device,
            cost,
        })
    }
}

/// Where the state lives between DriverEntry and DriverUnload. Protocol:
/// only DriverEntry (which stores it) and DriverUnload (which takes it)
/// touch it, and the I/O manager never runs them concurrently.
static STATE: KernelCell<Option<DriverState>> = KernelCell::new(None);

/// `DriverEntry`: registers the chosen set and reports each attempt.
///
/// # Safety
/// Called by the I/O manager (or the kernel model) with a valid driver object
/// at PASSIVE_LEVEL, once per load.
///
/// # IRQL
/// PASSIVE_LEVEL (the I/O manager calls it so).
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
    unsafe { dispatch::install_dispatch(driver) };
    // SAFETY: as above.
    unsafe { (*driver).DriverUnload = Some(driver_unload) };
    // SAFETY: the I/O manager's driver object, valid for the driver's life.
    let driver_object = unsafe { DriverObject::new(driver) };
    // SAFETY: the I/O manager's registry path for this service.
    let loaded = unsafe { registry::load(registry_path) };
    // A previous load retracted its value, so this publishes; were one
    // still published, it is what every consumer reads, so use it too.
    let active = settings::publish(loaded).unwrap_or_else(|_| settings::get());
    // SAFETY: as above.
    let boot_start = unsafe { registry::service_start_type(registry_path) } == Some(0);
    if rings::allocate(active.ring_kib).is_err() {
        kprintln!("DriverEntry failed: no non-paged pool for the event rings; nothing registered");
        // SAFETY: nothing that reads the settings was registered.
        unsafe { settings::retract() };
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    match DriverState::register(driver_object, active, boot_start) {
        Ok(state) => {
            if state.profile_handler_installed() {
                // No DriverUnload: the I/O manager refuses to unload the
                // driver (`sc stop` fails) for as long as it is loaded, so
                // the PMI handler can never run in an unloaded image.
                // SAFETY: DriverEntry owns the driver object until it returns.
                unsafe { (*driver).DriverUnload = None };
                kprintln!("{}", hal::UNLOAD_REFUSED_LINE);
            }
            // SAFETY: no other accessor runs during DriverEntry.
            unsafe { *STATE.get() = Some(state) };
            let count = |state| REPORT.count(state) + catalog::count(state);
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
            // SAFETY: every registration was undone; no producer or consumer
            // of the rings remains.
            unsafe { rings::free() };
            // SAFETY: as above: no reader of the settings remains.
            unsafe { settings::retract() };
            status
        }
    }
}

/// `DriverUnload`: drops the state, which unregisters everything in order.
///
/// # Safety
/// Called by the I/O manager (or the kernel model) at PASSIVE_LEVEL after a
/// successful DriverEntry, when no handle to the device is open.
///
/// # IRQL
/// PASSIVE_LEVEL (the I/O manager calls it so).
pub unsafe extern "C" fn driver_unload(_driver: *mut DRIVER_OBJECT) {
    // SAFETY: no other accessor runs during DriverUnload.
    let state = unsafe { (*STATE.get()).take() };
    drop(state);
    // Anything pushed after the drain stopped stays counted, never lost.
    drain::drain_once();
    // SAFETY: everything is unregistered and the drain has exited: no
    // producer or consumer of the rings remains.
    unsafe { rings::free() };
    // SAFETY: as above: no registration or request reads the settings.
    unsafe { settings::retract() };
    kprintln!(
        "unloaded: {} removed",
        REPORT.count(RegistrationState::Removed) + catalog::count(RegistrationState::Removed)
    );
}
