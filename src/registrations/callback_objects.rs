//! The driver's callback objects as registrations.
//!
//! Its own
//! `\Callback\KCallbacks` ([`OwnCallbackObject`]), the observer on it
//! ([`OwnObserver`]) and one observer per system object of the catalog
//! ([`SystemObserver`]). The live map of `\Callback` is
//! [`crate::registrations::callback_map`].
//!
//! The catalog ([`crate::registrations::catalog`]) lists the documented
//! system objects (`SetSystemTime`, `PowerState`, `ProcessorAdd`) and every
//! name from the callback-object internals notes. Each is opened, never
//! created; an object missing on this system, or one that allows a single
//! callback that is taken, is reported as unavailable.
//!
//! The observers depend on the own object: they are made in its
//! [`RegistrationOps::registered`] hook (after its line) and held in its
//! token, which drops them first (system observers, then the own observer),
//! then releases the object.

use core::{
    ffi::c_void,
    sync::atomic::{AtomicPtr, Ordering},
};

use kcb_proto::{RegistrationState, SourceId, report_detail};
use wdk_sys::{_CALLBACK_OBJECT, PCALLBACK_OBJECT};

use crate::{
    kprintln,
    registrations::{
        catalog::{CATALOG, CatalogEntry, OWN_INDEX, Slot, count_fired},
        ex::{self, CallbackObject, CallbackRegistration, Owned, System},
        guard::{Failure, Registration, RegistrationOps},
        report::Api,
    },
};

/// The driver's own object, while it exists (for `IOCTL_KCB_NOTIFY`).
static OWN_OBJECT: AtomicPtr<_CALLBACK_OBJECT> = AtomicPtr::new(core::ptr::null_mut());

/// `ExCreateCallback(\Callback\KCallbacks)`, with every observer.
pub struct OwnCallbackObject;

/// The own object and what observes through it; fields drop in order.
pub struct OwnObject {
    observers: [Option<Registration<SystemObserver>>; CATALOG.len()],
    observer: Option<Registration<OwnObserver>>,
    object: CallbackObject<Owned>,
}

impl RegistrationOps for OwnCallbackObject {
    type Args = ();
    type Token = OwnObject;
    const SOURCE: Option<SourceId> = Some(SourceId::CallbackObject);
    const API: Api = Api::OwnCallbackObject;

    /// Creates (or opens) the object, multiple callbacks allowed, permanent.
    /// PASSIVE_LEVEL.
    fn register((): ()) -> Result<OwnObject, Failure> {
        // Nothing attempted yet (a previous load's outcomes are stale).
        crate::registrations::catalog::clear();
        let name = CATALOG[OWN_INDEX].name.as_unicode_string();
        match CallbackObject::<Owned>::create_or_open(&name, true, true) {
            Ok(object) => Ok(OwnObject {
                observers: [const { None }; CATALOG.len()],
                observer: None,
                object,
            }),
            Err(failure) => {
                CATALOG[OWN_INDEX].store(failure.state as u32, failure.status, failure.detail);
                kprintln!("callback objects unavailable on this system: system objects not observed");
                Err(failure)
            }
        }
    }

    /// Attaches the own observer, publishes the object for
    /// `IOCTL_KCB_NOTIFY`, then observes every system object that exists.
    fn registered(token: &mut OwnObject) {
        token.observer = Registration::new(OwnObjectPtr(token.object.as_ptr())).ok();
        OWN_OBJECT.store(token.object.as_ptr(), Ordering::Release);
        for (index, slot) in token.observers.iter_mut().enumerate().skip(OWN_INDEX + 1) {
            *slot = Registration::new(index).ok();
        }
    }

    unsafe fn unregister(token: OwnObject) {
        let OwnObject {
            observers,
            observer,
            object,
        } = token;
        drop(observers);
        OWN_OBJECT.store(core::ptr::null_mut(), Ordering::Release);
        drop(observer);
        drop(object);
    }
}

/// The own object, as the observer on it registers (valid while the
/// [`OwnObject`] holding that observer lives: it drops the observer first).
pub struct OwnObjectPtr(PCALLBACK_OBJECT);

/// `ExRegisterCallback(\Callback\KCallbacks)`: the driver's observer on
/// its own object.
pub struct OwnObserver;

impl RegistrationOps for OwnObserver {
    type Args = OwnObjectPtr;
    type Token = CallbackRegistration;
    const SOURCE: Option<SourceId> = Some(SourceId::CallbackObject);
    const API: Api = Api::OwnCallbackObserver;

    /// Printed by the API; the catalog's own entry mirrors it for the map.
    fn slot(_args: &OwnObjectPtr) -> Slot {
        Slot::Mirrored(Api::OwnCallbackObserver, OWN_INDEX)
    }

    /// `<= APC_LEVEL`.
    fn register(object: OwnObjectPtr) -> Result<CallbackRegistration, Failure> {
        // SAFETY: the own object, referenced by the OwnObject that holds
        // this registration and drops it before the object (OwnObjectPtr).
        unsafe { ex::register_raw(object.0, observe, &CATALOG[OWN_INDEX]) }
    }

    unsafe fn unregister(token: CallbackRegistration) {
        drop(token);
    }
}

/// `ExRegisterCallback` on one system object of the catalog (by index).
pub struct SystemObserver;

/// A system object and the observer on it; fields drop in order.
pub struct Observed {
    registration: CallbackRegistration,
    object: CallbackObject<System>,
}

impl RegistrationOps for SystemObserver {
    type Args = usize;
    type Token = Observed;
    const SOURCE: Option<SourceId> = Some(SourceId::CallbackObject);
    const API: Api = Api::OwnCallbackObserver;

    /// Printed by the object's name.
    fn slot(index: &usize) -> Slot {
        Slot::Catalog(*index)
    }

    /// Opens the object and registers the observer. `<= APC_LEVEL`.
    fn register(index: usize) -> Result<Observed, Failure> {
        let entry = &CATALOG[index];
        let name = entry.name.as_unicode_string();
        let object = CallbackObject::<System>::open(&name)?;
        match object.register(observe, entry) {
            Ok(registration) => Ok(Observed { registration, object }),
            // Created allowing a single callback, which the system's own
            // user holds: refusing a second one is how it works, not a fault.
            Err(failure) if entry.single_callback => Err(Failure {
                state: RegistrationState::NotAvailable,
                status: failure.status,
                detail: report_detail::SINGLE_CALLBACK_TAKEN,
            }),
            Err(failure) => Err(failure),
        }
    }

    unsafe fn unregister(token: Observed) {
        let Observed { registration, object } = token;
        drop(registration);
        drop(object);
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
    ex::record_notification(index, entry.name.units(), argument1 as u64, argument2 as u64);
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
    Some(ex::notify_raw(object, argument1, argument2))
}
