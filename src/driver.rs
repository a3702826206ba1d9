//! DriverEntry and DriverUnload: the driver's state is one struct of
//! registrations whose field order is the unregistration order.

use core::cell::UnsafeCell;

use kcb_proto::{RegistrationState, SourceId, params::Settings};
use wdk_sys::{DRIVER_OBJECT, NTSTATUS, PCUNICODE_STRING, STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS};

use crate::{
    callbacks::{self, CallbackObjects},
    clock,
    cm::{self, RegistryArgs, RegistryCallback},
    config,
    cost::CostTables,
    device::{self, ControlDevice, DriverObject, SymbolicLink},
    drain::{self, DrainThread},
    etw::EtwProvider,
    guard::{Registration, RegistrationOps},
    hal::{self, ProfileInterruptHandler},
    io::{
        self, FsRegistrationChange, PlugPlayNotification, PnpCategory, ReinitKind, Reinitialization,
        ShutdownArgs, ShutdownNotifications,
    },
    ke::{self, BoundCallback, BugCheckCallback, FlightRecorder, NmiCallback, ProcessorChange},
    kprintln,
    ob::HandleCallbacks,
    po::{self, PowerSetting},
    ps::{self, LoadImageNotify, ProcessNotify, ThreadNotify},
    report::{Api, REPORT},
    rings,
    whea::{self, PageOfflineNotification},
};

/// The driver's version, as printed at load and returned by `GET_REPORT`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything the driver registered.
///
/// Dropping it unregisters in field order: the notify routines first (no new events), the bug-check records last
/// among them (they stay useful until the end), then shutdown notification
/// (before its device goes), the drain (prints what is left), and finally
/// the symbolic link and the device, and the cost tables.
#[allow(dead_code, reason = "the fields are held for their Drop, which unregisters")]
pub struct DriverState {
    process: Option<Registration<ProcessNotify>>,
    thread: Option<Registration<ThreadNotify>>,
    load_image: Option<Registration<LoadImageNotify>>,
    handles: Option<Registration<HandleCallbacks>>,
    registry: Option<Registration<RegistryCallback>>,
    callback_objects: Option<CallbackObjects>,
    nmi: Option<Registration<NmiCallback>>,
    bound: Option<Registration<BoundCallback>>,
    processor: Option<Registration<ProcessorChange>>,
    pnp_interfaces: Option<Registration<PlugPlayNotification>>,
    pnp_profile: Option<Registration<PlugPlayNotification>>,
    file_systems: Option<Registration<FsRegistrationChange>>,
    power: [Option<Registration<PowerSetting>>; 4],
    page_offline: Option<Registration<PageOfflineNotification>>,
    profile_interrupt: Option<Registration<ProfileInterruptHandler>>,
    reinit: Option<Registration<Reinitialization>>,
    boot_reinit: Option<Registration<Reinitialization>>,
    bugcheck: Option<Registration<BugCheckCallback>>,
    flight_recorder: Option<Registration<FlightRecorder>>,
    shutdown: Option<ShutdownNotifications>,
    drain: Option<Registration<DrainThread>>,
    /// After the drain, its only writer.
    etw: Option<Registration<EtwProvider>>,
    link: Registration<SymbolicLink>,
    device: Registration<ControlDevice>,
    /// Last: freed when no routine can run and no request can read it.
    cost: Option<CostTables>,
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

impl DriverState {
    /// Whether the HAL PMI handler is installed, which makes the image
    /// impossible to unload safely (see [`crate::hal`]).
    #[must_use]
    pub const fn profile_handler_installed(&self) -> bool {
        self.profile_interrupt.is_some()
    }

    /// Registers everything, reporting each attempt.
    ///
    /// # Errors
    /// The status of a registration the driver cannot run without (the
    /// control device and its link); whatever was registered before is
    /// unregistered again.
    ///
    /// # IRQL
    /// PASSIVE_LEVEL.
    #[allow(clippy::too_many_lines, reason = "one line per registration, in order")]
    pub fn register(driver: DriverObject, settings: &Settings, boot_start: bool) -> Result<Self, NTSTATUS> {
        let on = |source: SourceId| settings.is_enabled(source);
        // Before the first registration: some routines run during it.
        let cost = CostTables::allocate();
        let device = Registration::<ControlDevice>::new(driver).map_err(|f| f.status)?;
        let link = Registration::<SymbolicLink>::new(()).map_err(|f| f.status)?;
        let etw = optional::<EtwProvider>(settings.etw, Api::EtwProvider, ());
        let drain = Registration::<DrainThread>::new(()).ok();
        let shutdown = ShutdownNotifications::register(ShutdownArgs {
            device: device.token().as_ptr(),
            normal: on(SourceId::Shutdown),
            last_chance: on(SourceId::LastChanceShutdown),
        });

        let (process_variant, thread_variant, image_variant) = ps::resolve();
        let registry_variant = cm::resolve();
        ke::resolve();
        io::resolve();
        po::resolve();
        whea::resolve();

        let process = optional::<ProcessNotify>(
            on(SourceId::ProcessCreate),
            ProcessNotify::api(process_variant),
            process_variant,
        );
        let thread = optional::<ThreadNotify>(
            on(SourceId::ThreadCreate),
            ThreadNotify::api(thread_variant),
            thread_variant,
        );
        let load_image = optional::<LoadImageNotify>(
            on(SourceId::LoadImage),
            LoadImageNotify::api(image_variant),
            image_variant,
        );
        let handles = optional::<HandleCallbacks>(on(SourceId::ObjectHandle), Api::ObRegisterCallbacks, ());
        let registry = optional::<RegistryCallback>(
            on(SourceId::Registry),
            cm::api(registry_variant),
            RegistryArgs {
                variant: registry_variant,
                driver: driver.as_ptr().cast(),
            },
        );
        let callback_objects = if on(SourceId::CallbackObject) {
            let objects = CallbackObjects::register();
            callbacks::print_map();
            Some(objects)
        } else {
            REPORT.set(Api::OwnCallbackObject, RegistrationState::DisabledByConfig, 0);
            None
        };
        let nmi = optional::<NmiCallback>(on(SourceId::Nmi), Api::NmiCallback, ());
        let bound = optional::<BoundCallback>(on(SourceId::BoundException), Api::BoundCallback, ());
        let processor =
            optional::<ProcessorChange>(on(SourceId::ProcessorChange), Api::ProcessorChangeCallback, ());
        let pnp_interfaces = optional::<PlugPlayNotification>(
            on(SourceId::PlugPlay),
            Api::PnpDeviceInterface,
            (driver, PnpCategory::DeviceInterface),
        );
        let pnp_profile = optional::<PlugPlayNotification>(
            on(SourceId::PlugPlay),
            Api::PnpHardwareProfile,
            (driver, PnpCategory::HardwareProfile),
        );
        let file_systems =
            optional::<FsRegistrationChange>(on(SourceId::FsRegistration), Api::FsRegistrationChange, driver);
        let power = po::SETTINGS
            .each_ref()
            .map(|(api, guid)| optional::<PowerSetting>(on(SourceId::PowerSetting), *api, guid));
        let page_offline =
            optional::<PageOfflineNotification>(on(SourceId::PageOffline), Api::PageOfflineNotification, ());
        let profile_interrupt =
            optional::<ProfileInterruptHandler>(on(SourceId::ProfileInterrupt), Api::HalProfileInterrupt, ());
        hal::report_errata_callbacks();
        let bugcheck = optional::<BugCheckCallback>(on(SourceId::BugCheck), Api::BugCheckCallback, ());
        let flight_recorder =
            optional::<FlightRecorder>(on(SourceId::BugCheckReason), Api::BugCheckReasonCallback, ());
        // Reinitialization can be requested only when DriverEntry will
        // succeed, which is certain from here on.
        let reinit = optional::<Reinitialization>(
            on(SourceId::DriverReinit),
            Api::DriverReinitialization,
            (driver, ReinitKind::Driver),
        );
        let boot_reinit = if boot_start {
            optional::<Reinitialization>(
                on(SourceId::BootDriverReinit),
                Api::BootDriverReinitialization,
                (driver, ReinitKind::BootDriver),
            )
        } else {
            REPORT.set_detailed(
                Api::BootDriverReinitialization,
                RegistrationState::DisabledByConfig,
                0,
                kcb_proto::report_detail::NOT_BOOT_START,
            );
            None
        };

        // SAFETY: the device is live and still initialising; nothing else
        // touches its flags.
        unsafe { device::finish_initializing(device.token().as_ptr()) };
        Ok(Self {
            process,
            thread,
            load_image,
            handles,
            registry,
            callback_objects,
            nmi,
            bound,
            processor,
            pnp_interfaces,
            pnp_profile,
            file_systems,
            power,
            page_offline,
            profile_interrupt,
            reinit,
            boot_reinit,
            bugcheck,
            flight_recorder,
            shutdown,
            drain,
            etw,
            link,
            device,
            cost,
        })
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
    // SAFETY: as above.
    let boot_start = unsafe { config::service_start_type(registry_path) } == Some(0);
    if rings::allocate(settings.ring_kib).is_err() {
        kprintln!("DriverEntry failed: no non-paged pool for the event rings; nothing registered");
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    match DriverState::register(driver_object, &settings, boot_start) {
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
            // SAFETY: every registration was undone; no producer or consumer
            // of the rings remains.
            unsafe { rings::free() };
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
    // SAFETY: everything is unregistered and the drain has exited: no
    // producer or consumer of the rings remains.
    unsafe { rings::free() };
    kprintln!(
        "unloaded: {} removed",
        REPORT.count(RegistrationState::Removed) + CallbackObjects::removed_count()
    );
}
