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

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

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

/// `IoRegisterShutdownNotification` on the control device.
pub struct ShutdownNotification;

/// `IoRegisterLastChanceShutdownNotification` on the control device.
pub struct LastChanceShutdownNotification;

/// The control device a shutdown notification is registered for.
pub struct ShutdownDevice(PDEVICE_OBJECT);

/// Registers one kind; `flag` records that it is in place.
fn register(
    device: PDEVICE_OBJECT,
    flag: &AtomicBool,
    routine: impl FnOnce(PDEVICE_OBJECT) -> NTSTATUS,
) -> Result<ShutdownDevice, Failure> {
    SHUTDOWN_CALLS.store(0, Ordering::Release);
    check(routine(device))?;
    flag.store(true, Ordering::Release);
    Ok(ShutdownDevice(device))
}

/// Stops counting one kind; the last one cancels both registrations.
///
/// # Safety
/// `token` came from [`register`] with `flag`, once.
unsafe fn unregister(token: &ShutdownDevice, flag: &AtomicBool, other: &AtomicBool) {
    flag.store(false, Ordering::Release);
    if !other.load(Ordering::Acquire) {
        // SAFETY: the device was registered and is still alive (the
        // caller's contract); one call cancels every registration of it.
        unsafe { IoUnregisterShutdownNotification(token.0) };
    }
}

impl RegistrationOps for ShutdownNotification {
    type Args = PDEVICE_OBJECT;
    type Token = ShutdownDevice;
    const SOURCE: Option<SourceId> = Some(SourceId::Shutdown);
    const API: Api = Api::ShutdownNotification;

    /// PASSIVE_LEVEL (rule IrqlIoPassive5).
    fn register(device: PDEVICE_OBJECT) -> Result<ShutdownDevice, Failure> {
        register(device, &NORMAL_REGISTERED, |device| {
            // SAFETY: the live control device; unregistered before it is
            // deleted (the driver state drops this guard first).
            unsafe { IoRegisterShutdownNotification(device) }
        })
    }

    unsafe fn unregister(token: ShutdownDevice) {
        // SAFETY: forwarded contract.
        unsafe { unregister(&token, &NORMAL_REGISTERED, &LAST_CHANCE_REGISTERED) };
    }
}

impl RegistrationOps for LastChanceShutdownNotification {
    type Args = PDEVICE_OBJECT;
    type Token = ShutdownDevice;
    const SOURCE: Option<SourceId> = Some(SourceId::LastChanceShutdown);
    const API: Api = Api::LastChanceShutdownNotification;

    /// PASSIVE_LEVEL (rule IrqlIoPassive5).
    fn register(device: PDEVICE_OBJECT) -> Result<ShutdownDevice, Failure> {
        register(device, &LAST_CHANCE_REGISTERED, |device| {
            // SAFETY: as for the normal notification.
            unsafe { IoRegisterLastChanceShutdownNotification(device) }
        })
    }

    unsafe fn unregister(token: ShutdownDevice) {
        // SAFETY: forwarded contract.
        unsafe { unregister(&token, &LAST_CHANCE_REGISTERED, &NORMAL_REGISTERED) };
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
