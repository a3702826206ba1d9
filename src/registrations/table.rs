//! THE registration table: every catalog API the driver registers at
//! DriverEntry, one row each, in the order they are registered and (the
//! same order) unregistered.
//!
//! A row names a field and its guard type, and says how the guard's
//! arguments come from the load's [`Context`]. Everything else about the
//! row is the guard's ([`RegistrationOps`]): its event source `SourceId`
//! (whose `Parameters` value is `Enable<SourceId::name>` and whose default
//! is `kcb_proto::params::DEFAULT_ENABLED`), the `Api` it reports under,
//! and any precondition. So adding a catalog API is one row here plus its
//! guard file; nothing in `driver.rs` changes.
//!
//! Order: the notify routines first (no new events once they are gone),
//! reinitialization after everything that could fail, and the bug-check
//! records last (they stay useful until the end). A row may add `then`
//! work that runs right after it when its source is enabled (the
//! `\Callback` map after the callback objects).
//!
//! Not rows: what the driver cannot run without or that must outlive every
//! row (the control device and its link, the drain thread, the shutdown
//! notifications registered on that device): `driver.rs` makes those
//! before the table and drops them after it.

use kcb_proto::{SourceId, params::Settings};

use crate::{
    kernel::object::DriverObject,
    registrations::{
        callback_map,
        callback_objects::OwnCallbackObject,
        cm::{self, RegistryArgs, RegistryCallback},
        guard::{Registration, RegistrationOps},
        hal::{HalErrataCallbacks, ProfileInterruptHandler},
        io::{
            self, BootDriverReinitialization, BootReinitArgs, DriverReinitialization, FsRegistrationChange,
            PlugPlayNotification, PnpCategory,
        },
        ke::{self, BoundCallback, BugCheckCallback, FlightRecorder, NmiCallback, ProcessorChange},
        ob::HandleCallbacks,
        po::{self, PowerSetting},
        ps::{self, LoadImageNotify, ProcessNotify, ThreadNotify, Variant},
        whea::{self, PageOfflineNotification},
    },
};

/// What the rows' arguments are made from: one load's settings, driver
/// object and start type, and the routine variants this system exports.
pub struct Context<'a> {
    /// The published settings.
    pub settings: &'a Settings,
    /// The driver object from DriverEntry.
    pub driver: DriverObject,
    /// Whether the service started at boot (`Start` = 0).
    pub boot_start: bool,
    process: Variant,
    thread: Variant,
    image: Variant,
    registry: cm::Variant,
}

impl<'a> Context<'a> {
    /// Resolves the routines newer systems have (each family's `resolve`)
    /// and gathers what the rows need.
    ///
    /// # IRQL
    /// PASSIVE_LEVEL.
    #[must_use]
    pub fn resolve(settings: &'a Settings, driver: DriverObject, boot_start: bool) -> Self {
        let (process, thread, image) = ps::resolve();
        let registry = cm::resolve();
        ke::resolve();
        io::resolve();
        po::resolve();
        whea::resolve();
        Self {
            settings,
            driver,
            boot_start,
            process,
            thread,
            image,
            registry,
        }
    }

    const fn on(&self, source: SourceId) -> bool {
        self.settings.is_enabled(source)
    }
}

/// Declares [`Registrations`]: one `Option<Registration<guard>>` field per
/// row, registered in row order by [`Registrations::register`] (struct
/// fields are initialised in the order written) and dropped in row order.
macro_rules! registration_table {
    ($(
        $(#[$doc:meta])*
        $field:ident: $guard:ty = $args:expr $(, then $then:expr)?;
    )*) => {
        /// Every row's guard (`None`: disabled, failed or unavailable, as
        /// the report says). Dropping it unregisters in row order.
        #[allow(dead_code, reason = "the fields are held for their Drop, which unregisters")]
        pub struct Registrations {
            $( $(#[$doc])* pub $field: Option<Registration<$guard>>, )*
        }

        impl Registrations {
            /// Registers every row, in order, each if enabled, reporting
            /// each attempt.
            ///
            /// # IRQL
            /// PASSIVE_LEVEL.
            #[must_use]
            pub fn register(cx: &Context<'_>) -> Self {
                Self {
                    $( $field: {
                        let args: <$guard as RegistrationOps>::Args = ($args)(cx);
                        let registration = Registration::<$guard>::if_enabled(cx.settings, args);
                        $( ($then)(cx); )?
                        registration
                    }, )*
                }
            }
        }
    };
}

registration_table! {
    /// Process creation and exit.
    process: ProcessNotify = |cx: &Context<'_>| cx.process;
    /// Thread creation and exit.
    thread: ThreadNotify = |cx: &Context<'_>| cx.thread;
    /// Image loads.
    load_image: LoadImageNotify = |cx: &Context<'_>| cx.image;
    /// Process, thread and desktop handle operations.
    handles: HandleCallbacks = |_: &Context<'_>| ();
    /// Registry operations.
    registry: RegistryCallback = |cx: &Context<'_>| RegistryArgs {
        variant: cx.registry,
        driver: cx.driver.as_ptr().cast(),
    };
    /// `\Callback\KCallbacks` and the observers (own and system objects).
    callback_objects: OwnCallbackObject = |_: &Context<'_>| (),
        then |cx: &Context<'_>| if cx.on(SourceId::CallbackObject) { callback_map::print_map() };
    /// NMIs.
    nmi: NmiCallback = |_: &Context<'_>| ();
    /// BOUND exceptions.
    bound: BoundCallback = |_: &Context<'_>| ();
    /// Processors added.
    processor: ProcessorChange = |_: &Context<'_>| ();
    /// Volume interface arrivals and removals.
    pnp_interfaces: PlugPlayNotification = |cx: &Context<'_>| (cx.driver, PnpCategory::DeviceInterface);
    /// Hardware-profile changes.
    pnp_profile: PlugPlayNotification = |cx: &Context<'_>| (cx.driver, PnpCategory::HardwareProfile);
    /// File systems registering and going away.
    file_systems: FsRegistrationChange = |cx: &Context<'_>| cx.driver;
    /// `GUID_MONITOR_POWER_ON`.
    power_monitor: PowerSetting = |_: &Context<'_>| &po::SETTINGS[0];
    /// `GUID_LIDSWITCH_STATE_CHANGE`.
    power_lid: PowerSetting = |_: &Context<'_>| &po::SETTINGS[1];
    /// `GUID_ACDC_POWER_SOURCE`.
    power_acdc: PowerSetting = |_: &Context<'_>| &po::SETTINGS[2];
    /// `GUID_CONSOLE_DISPLAY_STATE`.
    power_display: PowerSetting = |_: &Context<'_>| &po::SETTINGS[3];
    /// In-use pages taken offline.
    page_offline: PageOfflineNotification = |_: &Context<'_>| ();
    /// The HAL PMI handler (makes the image unloadable; off by default).
    profile_interrupt: ProfileInterruptHandler = |_: &Context<'_>| ();
    /// `HalRegisterErrataCallbacks`: reported, never called.
    hal_errata: HalErrataCallbacks = |_: &Context<'_>| ();
    /// Driver reinitialization (after every fallible registration).
    reinit: DriverReinitialization = |cx: &Context<'_>| cx.driver;
    /// Boot-driver reinitialization (boot-start only).
    boot_reinit: BootDriverReinitialization = |cx: &Context<'_>| BootReinitArgs {
        driver: cx.driver,
        boot_start: cx.boot_start,
    };
    /// The bug-check summary.
    bugcheck: BugCheckCallback = |_: &Context<'_>| ();
    /// The crash-dump flight recorder.
    flight_recorder: FlightRecorder = |_: &Context<'_>| ();
}
