//! `ExNotifyCallback` against an `ExUnregisterCallback` that has begun
//! (issue #12, item 10): the kernel skips a registration whose
//! unregistration is waiting (registration block +0x2C, busy count at
//! +0x28; WRK/ReactOS `ExNotifyCallback`), and one that left the list is
//! not called by a notification already under way.

#![allow(
    clippy::significant_drop_tightening,
    reason = "a test holds its Kernel (the model's global lock) for its whole body"
)]

mod common;

use std::ffi::c_void;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use ntsim::irql::PASSIVE_LEVEL;
use ntsim::{Kernel, poll_until, trigger};
use wdk_sys::PCALLBACK_OBJECT;
use wdk_sys::ntddk::{ExUnregisterCallback, ObfDereferenceObject};

const OBJECT: &str = "\\Callback\\NtsimUnregisterRace";

static FIRST_CALLS: AtomicUsize = AtomicUsize::new(0);
static SECOND_CALLS: AtomicUsize = AtomicUsize::new(0);
/// The registration the first callback unregisters (when set).
static VICTIM: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
/// Where the second callback blocks (when set): (entered, release).
static GATE: Mutex<Option<(Arc<Barrier>, Arc<Barrier>)>> = Mutex::new(None);

unsafe extern "C" fn first(_context: *mut c_void, _a1: *mut c_void, _a2: *mut c_void) {
    FIRST_CALLS.fetch_add(1, Ordering::SeqCst);
    let victim = VICTIM.swap(std::ptr::null_mut(), Ordering::SeqCst);
    if !victim.is_null() {
        // SAFETY: a live registration handle from ExRegisterCallback.
        unsafe { ExUnregisterCallback(victim) };
    }
}

unsafe extern "C" fn second(_context: *mut c_void, _a1: *mut c_void, _a2: *mut c_void) {
    SECOND_CALLS.fetch_add(1, Ordering::SeqCst);
    let gate = GATE.lock().unwrap().take();
    if let Some((entered, release)) = gate {
        entered.wait();
        release.wait();
    }
}

/// A booted model, the counters reset, and the test's callback object with
/// `first` then `second` registered on it: (kernel, object, their handles).
fn boot_with_two_callbacks() -> (Kernel, PCALLBACK_OBJECT, [usize; 2]) {
    let kernel = Kernel::boot();
    reset_counters();
    let object = common::open_callback_object(OBJECT, true, true);
    let handles = [register(object, first), register(object, second)];
    (kernel, object, handles)
}

fn register(object: PCALLBACK_OBJECT, routine: common::Routine) -> usize {
    common::register_callback(object, routine) as usize
}

fn reset_counters() {
    FIRST_CALLS.store(0, Ordering::SeqCst);
    SECOND_CALLS.store(0, Ordering::SeqCst);
    VICTIM.store(std::ptr::null_mut(), Ordering::SeqCst);
    *GATE.lock().unwrap() = None;
}

/// The first callback of a notification unregisters the second one (which
/// is not running): the second is not called by that same notification.
/// Before the fix the model called the registrations it had collected when
/// the notification started, so the second ran after its removal.
#[test]
fn a_callback_unregistered_during_a_notification_is_not_called_after() {
    let (kernel, object, [_, victim]) = boot_with_two_callbacks();
    VICTIM.store(victim as *mut c_void, Ordering::SeqCst);
    let ran = trigger::notify_callback_object(OBJECT, 1, 2, PASSIVE_LEVEL);
    assert_eq!(FIRST_CALLS.load(Ordering::SeqCst), 1);
    assert_eq!(
        SECOND_CALLS.load(Ordering::SeqCst),
        0,
        "the second callback ran after its ExUnregisterCallback had returned"
    );
    assert_eq!(ran, 1);
    let info = ntsim::excallback::object(OBJECT).unwrap();
    assert_eq!(info.callbacks, vec![first as *const () as usize]);
    // Clean up: the first registration and the creator's reference.
    // SAFETY: the first registration is live.
    unsafe { ExUnregisterCallback(info.registrations[0] as *mut c_void) };
    // SAFETY: the reference ExCreateCallback took.
    let _ = unsafe { ObfDereferenceObject(object.cast()) };
    kernel.assert_no_bugchecks();
}

/// The second callback is running (notification on thread 1) when thread 2
/// unregisters it: the unregistration waits with the block's +0x2C byte
/// set, a notification on thread 3 meanwhile calls the first callback only
/// (the kernel skips a registration whose unregistration is waiting), and
/// the unregistration returns once the running call has finished.
#[test]
fn a_registration_whose_unregistration_waits_is_skipped() {
    let (kernel, object, [first_handle, second_handle]) = boot_with_two_callbacks();
    let entered = Arc::new(Barrier::new(2));
    let release = Arc::new(Barrier::new(2));
    *GATE.lock().unwrap() = Some((entered.clone(), release.clone()));
    let notifier = std::thread::spawn(|| trigger::notify_callback_object(OBJECT, 1, 2, PASSIVE_LEVEL));
    entered.wait();
    assert_eq!(SECOND_CALLS.load(Ordering::SeqCst), 1);
    // SAFETY: the block is the model's 0x30-byte registration; +0x28 is the
    // busy count, read only.
    let busy = unsafe { ((second_handle + 0x28) as *const u32).read_volatile() };
    assert_eq!(busy, 1, "the running call is counted at +0x28");
    let unregistering = std::thread::spawn(move || {
        // SAFETY: a live registration handle.
        unsafe { ExUnregisterCallback(second_handle as *mut c_void) };
    });
    let waiting = poll_until(Duration::from_secs(5), || {
        // SAFETY: the block stays allocated while its call is in flight;
        // +0x2C is the "unregister waiting" byte, read only.
        unsafe { ((second_handle + 0x2C) as *const u8).read_volatile() == 1 }
    });
    assert!(
        waiting,
        "ExUnregisterCallback did not mark the registration as waiting"
    );
    assert!(
        !unregistering.is_finished(),
        "ExUnregisterCallback returned while its callback runs"
    );
    let before = FIRST_CALLS.load(Ordering::SeqCst);
    let ran = trigger::notify_callback_object(OBJECT, 3, 4, PASSIVE_LEVEL);
    assert_eq!(ran, 1, "only the first callback may run");
    assert_eq!(FIRST_CALLS.load(Ordering::SeqCst), before + 1);
    assert_eq!(
        SECOND_CALLS.load(Ordering::SeqCst),
        1,
        "the second callback was entered after its ExUnregisterCallback began"
    );
    release.wait();
    assert_eq!(notifier.join().unwrap(), 2);
    unregistering.join().unwrap();
    let info = ntsim::excallback::object(OBJECT).unwrap();
    assert_eq!(info.registrations, vec![first_handle]);
    // SAFETY: the first registration is live.
    unsafe { ExUnregisterCallback(first_handle as *mut c_void) };
    // SAFETY: the reference ExCreateCallback took.
    let _ = unsafe { ObfDereferenceObject(object.cast()) };
    kernel.assert_no_bugchecks();
}
