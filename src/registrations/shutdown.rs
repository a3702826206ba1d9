//! Shutdown notifications on the control device.
//!
//! `IoRegisterShutdownNotification` and
//! `IoRegisterLastChanceShutdownNotification`, each its own registration
//! guard, and the `IRP_MJ_SHUTDOWN` dispatch routine that records them.
//!
//! One call, `IoUnregisterShutdownNotification`, cancels both
//! (wdm/nf-wdm-iounregistershutdownnotification), so the guard dropped last
//! makes it; the one dropped first only stops counting itself. Both must be
//! dropped before the device is deleted (the driver state's field order).

use core::{
    marker::PhantomData,
    sync::atomic::{AtomicBool, AtomicU32, Ordering},
};

use kcb_proto::SourceId;
use kcb_proto::{EventRecord, LastChanceShutdownPayload, ShutdownPayload, kind};
use wdk_sys::{
    IRP, IRP_MJ_SHUTDOWN, NTSTATUS, PDEVICE_OBJECT, STATUS_SUCCESS,
    ntddk::{
        IoRegisterLastChanceShutdownNotification, IoRegisterShutdownNotification,
        IoUnregisterShutdownNotification,
    },
};

use crate::{
    kernel::irp,
    kprintln,
    pipeline::{events, rings},
    registrations::{
        guard::{Failure, RegistrationOps, check},
        report::Api,
    },
};

/// Whether the normal notification is registered for the control device.
static NORMAL_REGISTERED: AtomicBool = AtomicBool::new(false);
/// Whether the last-chance notification is registered.
static LAST_CHANCE_REGISTERED: AtomicBool = AtomicBool::new(false);
/// IRP_MJ_SHUTDOWN requests received since registration.
static SHUTDOWN_CALLS: AtomicU32 = AtomicU32::new(0);

/// What tells the two notifications apart.
pub trait ShutdownKind {
    /// Its event source.
    const SOURCE: SourceId;
    /// Its report slot.
    const API: Api;
    /// Whether it is registered.
    const FLAG: &'static AtomicBool;
    /// Whether the other kind is registered.
    const OTHER: &'static AtomicBool;

    /// Its `IoRegister*ShutdownNotification` on `device`.
    ///
    /// # Safety
    /// `device` is the live control device, unregistered before it is
    /// deleted.
    unsafe fn register(device: PDEVICE_OBJECT) -> NTSTATUS;
}

/// The normal notification: before the file systems are flushed.
pub struct Normal;

impl ShutdownKind for Normal {
    const SOURCE: SourceId = SourceId::Shutdown;
    const API: Api = Api::ShutdownNotification;
    const FLAG: &'static AtomicBool = &NORMAL_REGISTERED;
    const OTHER: &'static AtomicBool = &LAST_CHANCE_REGISTERED;

    unsafe fn register(device: PDEVICE_OBJECT) -> NTSTATUS {
        // SAFETY: the caller's contract.
        unsafe { IoRegisterShutdownNotification(device) }
    }
}

/// The last-chance notification: after the file systems are flushed.
pub struct LastChance;

impl ShutdownKind for LastChance {
    const SOURCE: SourceId = SourceId::LastChanceShutdown;
    const API: Api = Api::LastChanceShutdownNotification;
    const FLAG: &'static AtomicBool = &LAST_CHANCE_REGISTERED;
    const OTHER: &'static AtomicBool = &NORMAL_REGISTERED;

    unsafe fn register(device: PDEVICE_OBJECT) -> NTSTATUS {
        // SAFETY: the caller's contract.
        unsafe { IoRegisterLastChanceShutdownNotification(device) }
    }
}

/// One shutdown notification on the control device.
pub struct Shutdown<K>(PhantomData<K>);

/// `IoRegisterShutdownNotification` on the control device.
pub type ShutdownNotification = Shutdown<Normal>;
/// `IoRegisterLastChanceShutdownNotification` on the control device.
pub type LastChanceShutdownNotification = Shutdown<LastChance>;

/// The control device a shutdown notification is registered for.
#[derive(Clone, Copy)]
pub struct ShutdownDevice(PDEVICE_OBJECT);

impl ShutdownDevice {
    /// Names the control device.
    ///
    /// # Safety
    /// `device` is the live control device and outlives every shutdown
    /// registration made with this value (the driver state drops them
    /// before the device).
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub const unsafe fn new(device: PDEVICE_OBJECT) -> Self {
        Self(device)
    }
}

impl<K: ShutdownKind> RegistrationOps for Shutdown<K> {
    type Args = ShutdownDevice;
    type Token = ShutdownDevice;
    const SOURCE: Option<SourceId> = Some(K::SOURCE);
    const API: Api = K::API;

    /// PASSIVE_LEVEL (rule IrqlIoPassive5).
    fn register(device: ShutdownDevice) -> Result<ShutdownDevice, Failure> {
        SHUTDOWN_CALLS.store(0, Ordering::Release);
        // SAFETY: the live control device, which outlives this registration
        // (ShutdownDevice::new's contract).
        check(unsafe { K::register(device.0) })?;
        K::FLAG.store(true, Ordering::Release);
        Ok(device)
    }

    /// Stops counting this kind; the last of the two cancels both.
    unsafe fn unregister(token: ShutdownDevice) {
        K::FLAG.store(false, Ordering::Release);
        if !K::OTHER.load(Ordering::Acquire) {
            // SAFETY: the device was registered and is still alive (the
            // guard's contract); one call cancels every registration of it.
            unsafe { IoUnregisterShutdownNotification(token.0) };
        }
    }
}

/// IRP_MJ_SHUTDOWN dispatch.
///
/// Sent at <= APC_LEVEL, once before the file systems are flushed and (if
/// registered) once after. Records the event and writes the
/// counters to the debug output; no file I/O, nothing pageable.
///
/// # Safety
/// Called by the I/O manager with a live IRP.
///
/// # IRQL
/// `<= APC_LEVEL` (IRP_MJ_SHUTDOWN is sent so).
pub unsafe extern "C" fn dispatch_shutdown(_device: PDEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    let call = SHUTDOWN_CALLS.fetch_add(1, Ordering::Relaxed);
    // Normal notifications come before last-chance ones: with both
    // registered the second call is the last-chance one; with only the
    // last-chance registration every call is.
    let last_chance = LAST_CHANCE_REGISTERED.load(Ordering::Acquire)
        && (call > 0 || !NORMAL_REGISTERED.load(Ordering::Acquire));
    let _cost = crate::pipeline::cost::Span::start(if last_chance {
        kcb_proto::SourceId::LastChanceShutdown
    } else {
        kcb_proto::SourceId::Shutdown
    });
    if last_chance {
        events::record(EventRecord::build(
            kind::NONE,
            |p: &mut LastChanceShutdownPayload| {
                p.major_function = IRP_MJ_SHUTDOWN;
            },
        ));
    } else {
        events::record(EventRecord::build(kind::NONE, |p: &mut ShutdownPayload| {
            p.major_function = IRP_MJ_SHUTDOWN;
        }));
    }
    let totals = rings::totals();
    kprintln!(
        "shutdown{}: {} events seen, {} recorded, {} dropped",
        if last_chance { " (last chance)" } else { "" },
        totals.seen,
        totals.recorded,
        totals.dropped
    );
    // SAFETY: the live IRP handed to this dispatch routine, not completed yet.
    unsafe { irp::complete(irp, STATUS_SUCCESS, 0) }
}
