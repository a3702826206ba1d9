//! Spin locks: `KeAcquireSpinLockRaiseToDpc` / `KeReleaseSpinLock`, and
//! the model's own hold on a callback object's lock (`BodyLock`).
//!
//! `KeAcquireSpinLockRaiseToDpc` (wdm/nf-wdm-keacquirespinlockraisetodpc):
//! `<= DISPATCH_LEVEL`, raises to DISPATCH_LEVEL and returns the previous
//! IRQL. `KeReleaseSpinLock` (wdm/nf-wdm-kereleasespinlock): at
//! DISPATCH_LEVEL, restores the IRQL it is given. Acquiring a lock the
//! thread holds (a deadlock on a real system) or releasing one it does not
//! hold is an NSIM violation.

#![allow(non_snake_case)]

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wdk_sys::{KIRQL, PKSPIN_LOCK};

use crate::irql::DISPATCH_LEVEL;
use crate::verifier::{self, ModelRule};
use crate::{ddi, irql};

/// How long a spin lock may be waited for before the model gives up (the
/// test would hang otherwise).
const SPIN_WATCHDOG: Duration = Duration::from_secs(30);

thread_local! {
    /// Spin locks the current thread holds (through the DDIs).
    static HELD: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Spins until `lock` is ours. Returns `false` if the watchdog expired.
fn spin_acquire(lock: &AtomicU64) -> bool {
    let started = Instant::now();
    loop {
        if lock
            .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return true;
        }
        if started.elapsed() > SPIN_WATCHDOG {
            verifier::model_rule(
                ModelRule::WatchdogExpired,
                std::ptr::from_ref(lock) as u64,
                format!("spin lock {lock:p} held for more than {SPIN_WATCHDOG:?}"),
            );
            return false;
        }
        std::hint::spin_loop();
        std::thread::yield_now();
    }
}

/// The model holding an object's spin lock (inside `ExRegisterCallback`,
/// `ExUnregisterCallback`, `ExNotifyCallback`).
pub(crate) struct BodyLock<'a> {
    lock: &'a AtomicU64,
    held: bool,
}

impl<'a> BodyLock<'a> {
    pub(crate) fn acquire(lock: &'a AtomicU64) -> Self {
        let held = spin_acquire(lock);
        Self { lock, held }
    }
}

impl Drop for BodyLock<'_> {
    fn drop(&mut self) {
        if self.held {
            self.lock.store(0, Ordering::Release);
        }
    }
}

/// `KeAcquireSpinLockRaiseToDpc` (wdm/nf-wdm-keacquirespinlockraisetodpc):
/// `<= DISPATCH_LEVEL`; raises to DISPATCH_LEVEL, spins until the lock is
/// free and takes it; returns the previous IRQL.
///
/// # Safety
/// `spin_lock` points to a KSPIN_LOCK (8-byte aligned) that every other
/// user also accesses through the spin-lock routines.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeAcquireSpinLockRaiseToDpc(spin_lock: PKSPIN_LOCK) -> KIRQL {
    let entry = ddi::enter(&ddi::KE_ACQUIRE_SPIN_LOCK_RAISE_TO_DPC);
    let previous = entry.irql;
    let address = spin_lock as usize;
    if spin_lock.is_null() || !address.is_multiple_of(8) {
        verifier::model_rule(
            ModelRule::InvalidParameter,
            address as u64,
            format!("KeAcquireSpinLockRaiseToDpc({spin_lock:p}): not an aligned KSPIN_LOCK"),
        );
        return previous;
    }
    if HELD.with(|held| held.borrow().contains(&address)) {
        verifier::model_rule(
            ModelRule::InvalidParameter,
            address as u64,
            format!("KeAcquireSpinLockRaiseToDpc({spin_lock:p}): this thread already holds it (deadlock)"),
        );
        return previous;
    }
    irql::set(previous.max(DISPATCH_LEVEL));
    // SAFETY: aligned and non-null (checked); every user of the lock goes
    // through atomic accesses (the caller's contract and the model's own
    // CallbackObjectBody::lock).
    let lock = unsafe { AtomicU64::from_ptr(spin_lock) };
    if spin_acquire(lock) {
        HELD.with(|held| held.borrow_mut().push(address));
    }
    previous
}

/// `KeReleaseSpinLock` (wdm/nf-wdm-kereleasespinlock): at DISPATCH_LEVEL;
/// releases the lock and restores `new_irql` (what the acquire returned).
///
/// # Safety
/// `spin_lock` was acquired by this thread with `KeAcquireSpinLockRaiseToDpc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeReleaseSpinLock(spin_lock: PKSPIN_LOCK, new_irql: KIRQL) {
    let entry = ddi::enter(&ddi::KE_RELEASE_SPIN_LOCK);
    if entry.irql != DISPATCH_LEVEL {
        verifier::wrong_irql("KeReleaseSpinLock", entry.irql, "DISPATCH_LEVEL");
    }
    let address = spin_lock as usize;
    let held = HELD.with(|held| {
        let mut held = held.borrow_mut();
        let position = held.iter().rposition(|&a| a == address);
        position.map(|i| held.remove(i)).is_some()
    });
    if !held {
        verifier::model_rule(
            ModelRule::DoubleRelease,
            address as u64,
            format!("KeReleaseSpinLock({spin_lock:p}): this thread does not hold it"),
        );
        return;
    }
    // SAFETY: the lock was acquired through KeAcquireSpinLockRaiseToDpc,
    // which checked it is a non-null aligned KSPIN_LOCK.
    let lock = unsafe { AtomicU64::from_ptr(spin_lock) };
    lock.store(0, Ordering::Release);
    if new_irql > entry.irql {
        verifier::model_rule(
            ModelRule::InvalidParameter,
            u64::from(new_irql),
            format!(
                "KeReleaseSpinLock: NewIrql {new_irql} is above the current IRQL {}",
                entry.irql
            ),
        );
    } else {
        irql::set(new_irql);
    }
}
