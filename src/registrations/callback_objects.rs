//! The driver's callback objects: its own `\Callback\KCallbacks` and
//! observers on the system's named objects (the live map of `\Callback` is
//! [`crate::registrations::callback_map`]).
//!
//! The catalog lists the documented system objects (`SetSystemTime`,
//! `PowerState`, `ProcessorAdd`) and every name from the callback-object
//! internals notes (ExpInitializeCallbacks' table and the boot-time debugger
//! trace). Each is opened, never created; an object missing on this system,
//! or one that allows a single callback that is taken, is reported as
//! unavailable.

use core::{
    ffi::c_void,
    sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, AtomicU64, Ordering},
};

use kcb_proto::{RegistrationState, report_detail};
use wdk_sys::_CALLBACK_OBJECT;

use crate::{
    kernel::unicode::{Utf16Display, WideName},
    kprintln,
    registrations::{
        ex::{CallbackObject, CallbackRegistration, Owned, System},
        guard::Failure,
        report::{Api, REPORT, print_outcome},
    },
};

/// One catalog entry: a named callback object and the observer's outcome.
pub struct CatalogEntry {
    /// `\Callback\...`.
    pub name: WideName,
    /// Raw [`RegistrationState`] of the observer (0: not attempted).
    pub(crate) state: AtomicU32,
    /// The observer's NTSTATUS.
    pub(crate) status: AtomicI32,
    detail: AtomicU32,
    /// Notifications observed.
    pub(crate) fired: AtomicU64,
    /// Created allowing a single callback (marked `[x]` in the internals
    /// notes' table), so a second registration is refused by design.
    single_callback: bool,
}

impl CatalogEntry {
    const fn new(name: &str) -> Self {
        Self {
            name: WideName::new(name),
            state: AtomicU32::new(0),
            status: AtomicI32::new(0),
            detail: AtomicU32::new(0),
            fired: AtomicU64::new(0),
            single_callback: false,
        }
    }

    const fn single_callback(name: &str) -> Self {
        Self {
            single_callback: true,
            ..Self::new(name)
        }
    }

    fn set(&self, state: RegistrationState, status: i32, detail: u32) {
        self.store(state as u32, status, detail);
        print_outcome(Utf16Display(self.name.units()), state, status, detail);
    }

    /// Records an outcome without printing it (raw state 0: not attempted).
    fn store(&self, state: u32, status: i32, detail: u32) {
        self.status.store(status, Ordering::Relaxed);
        self.detail.store(detail, Ordering::Relaxed);
        self.state.store(state, Ordering::Release);
    }

    /// The observer's state, if one was recorded.
    pub(crate) fn state(&self) -> Option<RegistrationState> {
        RegistrationState::from_u32(self.state.load(Ordering::Acquire))
    }
}

/// Index of the driver's own object in [`CATALOG`].
pub const OWN_INDEX: usize = 0;

/// The driver's own object and the system objects it observes.
pub static CATALOG: [CatalogEntry; 27] = [
    CatalogEntry::new("\\Callback\\KCallbacks"),
    // Documented system-defined objects (kernel/using-a-system-defined-callback-object).
    CatalogEntry::new("\\Callback\\SetSystemTime"),
    CatalogEntry::new("\\Callback\\PowerState"),
    CatalogEntry::new("\\Callback\\ProcessorAdd"),
    // Created by ExpInitializeCallbacks and others (internals notes, table).
    CatalogEntry::new("\\Callback\\EnlightenmentState"),
    CatalogEntry::new("\\Callback\\SetSystemState"),
    CatalogEntry::new("\\Callback\\Phase1InitComplete"),
    CatalogEntry::new("\\Callback\\SeImageVerificationDriverInfo"),
    CatalogEntry::new("\\Callback\\SeImageVerificationBlockInfo"),
    CatalogEntry::new("\\Callback\\SoftRestart"),
    CatalogEntry::new("\\Callback\\BootDriver"),
    CatalogEntry::new("\\Callback\\LicensingData"),
    CatalogEntry::new("\\Callback\\IoSessionNotifications"),
    CatalogEntry::new("\\Callback\\IoExternalDmaUnblock"),
    CatalogEntry::single_callback("\\Callback\\PowerPort"),
    CatalogEntry::new("\\Callback\\PowerMonitorPort"),
    CatalogEntry::new("\\Callback\\SleepstudyControlPort"),
    // Seen in the boot-time ExCreateCallback trace (internals notes).
    CatalogEntry::new("\\Callback\\542875F90F9B47F497B64BA219CACF69"),
    CatalogEntry::new("\\Callback\\AcpiSimulator"),
    CatalogEntry::new("\\Callback\\VMCIDetachCB"),
    CatalogEntry::new("\\Callback\\WdProcessNotificationCallback"),
    CatalogEntry::new("\\Callback\\WdNriNotificationCallback"),
    CatalogEntry::new("\\Callback\\NdisBindUnbind"),
    CatalogEntry::new("\\Callback\\TcpConnectionCallbackTemp"),
    CatalogEntry::new("\\Callback\\TcpTimerStarvationCallbackTemp"),
    CatalogEntry::new("\\Callback\\AfdTdxCallback"),
    CatalogEntry::new("\\Callback\\DamExemptCheckCallback"),
];

/// Counts one observed notification of catalog entry `index`.
///
/// # IRQL
/// Any.
pub fn count_fired(index: u32) {
    if let Some(entry) = CATALOG.get(index as usize) {
        entry.fired.fetch_add(1, Ordering::Relaxed);
    }
}

/// The driver's own object, while it exists (for `IOCTL_KCB_NOTIFY`).
static OWN_OBJECT: AtomicPtr<_CALLBACK_OBJECT> = AtomicPtr::new(core::ptr::null_mut());

/// An observer on one system object. Dropping it unregisters, then releases
/// the object, then reports the removal.
struct Observer {
    registration: Option<CallbackRegistration>,
    object: Option<CallbackObject<System>>,
    index: usize,
}

impl Drop for Observer {
    fn drop(&mut self) {
        drop(self.registration.take());
        drop(self.object.take());
        CATALOG[self.index].set(RegistrationState::Removed, 0, report_detail::NONE);
    }
}

/// The driver's callback objects; dropping unregisters every observer, then
/// the own object's observer, then releases the own object.
pub struct CallbackObjects {
    observers: [Option<Observer>; CATALOG.len()],
    own_observer: Option<CallbackRegistration>,
    own: Option<CallbackObject<Owned>>,
}

impl CallbackObjects {
    /// Creates `\Callback\KCallbacks`, registers the driver's observer on it
    /// and on every system object that exists, reporting each attempt.
    ///
    /// # IRQL
    /// PASSIVE_LEVEL.
    #[must_use]
    pub fn register() -> Self {
        // Nothing attempted yet (a previous load's outcomes are stale).
        for entry in &CATALOG {
            entry.store(0, 0, report_detail::NONE);
        }
        let own_name = CATALOG[OWN_INDEX].name.as_unicode_string();
        let own = match CallbackObject::<Owned>::create_or_open(&own_name, true, true) {
            Ok(object) => {
                REPORT.set(Api::OwnCallbackObject, RegistrationState::Registered, 0);
                Some(object)
            }
            Err(failure) => {
                report_failure(Api::OwnCallbackObject, failure);
                CATALOG[OWN_INDEX].store(failure.state as u32, failure.status, failure.detail);
                None
            }
        };
        // The own object's catalog entry mirrors its observer (printed
        // through the report, so stored silently) for the map.
        let own_entry = &CATALOG[OWN_INDEX];
        let own_observer = own
            .as_ref()
            .and_then(|object| match object.register(observe, own_entry) {
                Ok(registration) => {
                    REPORT.set(Api::OwnCallbackObserver, RegistrationState::Registered, 0);
                    own_entry.store(RegistrationState::Registered as u32, 0, report_detail::NONE);
                    Some(registration)
                }
                Err(failure) => {
                    report_failure(Api::OwnCallbackObserver, failure);
                    own_entry.store(failure.state as u32, failure.status, failure.detail);
                    None
                }
            });
        if let Some(object) = &own {
            OWN_OBJECT.store(object.as_ptr(), Ordering::Release);
        }
        let mut observers = [const { None }; CATALOG.len()];
        if own.is_some() {
            for (index, slot) in observers.iter_mut().enumerate().skip(OWN_INDEX + 1) {
                *slot = observe_system_object(index);
            }
        } else {
            kprintln!("callback objects unavailable on this system: system objects not observed");
        }
        Self {
            observers,
            own_observer,
            own,
        }
    }

    /// Removes every registration (also done by drop).
    pub fn unregister(&mut self) {
        for observer in &mut self.observers {
            drop(observer.take());
        }
        OWN_OBJECT.store(core::ptr::null_mut(), Ordering::Release);
        if self.own_observer.take().is_some() {
            REPORT.set(Api::OwnCallbackObserver, RegistrationState::Removed, 0);
            CATALOG[OWN_INDEX].store(RegistrationState::Removed as u32, 0, report_detail::NONE);
        }
        if self.own.take().is_some() {
            REPORT.set(Api::OwnCallbackObject, RegistrationState::Removed, 0);
        }
    }

    /// Observers and objects removed so far, for the unload summary.
    #[must_use]
    pub fn removed_count() -> u32 {
        // The own object's entry is counted through the report.
        let n = CATALOG
            .iter()
            .skip(OWN_INDEX + 1)
            .filter(|e| e.state() == Some(RegistrationState::Removed))
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Observers in `state`, for the load summary.
    #[must_use]
    pub fn count(state: RegistrationState) -> u32 {
        let n = CATALOG
            .iter()
            .skip(OWN_INDEX + 1)
            .filter(|e| e.state() == Some(state))
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

impl Drop for CallbackObjects {
    fn drop(&mut self) {
        self.unregister();
    }
}

fn report_failure(api: Api, failure: Failure) {
    REPORT.set_detailed(api, failure.state, failure.status, failure.detail);
}

/// Opens system object `index` and registers the observer on it.
fn observe_system_object(index: usize) -> Option<Observer> {
    let entry = &CATALOG[index];
    let name = entry.name.as_unicode_string();
    let object = match CallbackObject::<System>::open(&name) {
        Ok(object) => object,
        Err(failure) => {
            entry.set(failure.state, failure.status, failure.detail);
            return None;
        }
    };
    match object.register(observe, entry) {
        Ok(registration) => {
            entry.set(RegistrationState::Registered, 0, report_detail::NONE);
            Some(Observer {
                registration: Some(registration),
                object: Some(object),
                index,
            })
        }
        Err(failure) if entry.single_callback => {
            // Created allowing a single callback, which the system's own
            // user holds: refusing a second one is how it works, not a fault.
            entry.set(
                RegistrationState::NotAvailable,
                failure.status,
                report_detail::SINGLE_CALLBACK_TAKEN,
            );
            None
        }
        Err(failure) => {
            entry.set(failure.state, failure.status, failure.detail);
            None
        }
    }
}

/// The observer routine on every object: records the notification with the
/// object's name and both arguments. Runs at the notifier's IRQL (<=
/// DISPATCH_LEVEL): bounded work, no allocation, no lock.
unsafe extern "C" fn observe(context: *mut c_void, argument1: *mut c_void, argument2: *mut c_void) {
    let _cost = crate::pipeline::cost::Span::start(kcb_proto::SourceId::CallbackObject);
    if context.is_null() {
        return;
    }
    // SAFETY: the context is the 'static CatalogEntry registered with this routine.
    let entry = unsafe { &*context.cast::<CatalogEntry>() };
    let index = CATALOG
        .iter()
        .position(|e| core::ptr::eq(e, entry))
        .unwrap_or(usize::MAX);
    let index = u32::try_from(index).unwrap_or(u32::MAX);
    count_fired(index);
    crate::registrations::ex::record_notification(
        index,
        entry.name.units(),
        argument1 as u64,
        argument2 as u64,
    );
}

/// `IOCTL_KCB_NOTIFY`: `ExNotifyCallback` on `\Callback\KCallbacks`.
///
/// # Errors
/// `None` when the object does not exist (callback objects unavailable).
///
/// # IRQL
/// PASSIVE_LEVEL (IOCTL dispatch).
#[must_use]
pub fn notify_own(argument1: u64, argument2: u64) -> Option<Result<(), i32>> {
    let object = OWN_OBJECT.load(Ordering::Acquire);
    if object.is_null() {
        return None;
    }
    Some(crate::registrations::ex::notify_raw(object, argument1, argument2))
}
