//! Interrupt request levels: one current IRQL per (simulated) processor,
//! modeled as one per host thread.
//!
//! On x64 `KeGetCurrentIrql`, `KfRaiseIrql`, `KeLowerIrql` and
//! `KeRaiseIrqlToDpcLevel` are inline routines (they read and write CR8);
//! the stand-in `wdk-sys` declares them as external symbols in host builds
//! and this module defines them.
//!
//! Rules (wdm/nf-wdm-keraiseirql, wdm/nf-wdm-kelowerirql):
//! raising to a level below the current one, lowering to a level above it,
//! or passing a level above `HIGH_LEVEL` is a Driver Verifier violation
//! (bug check 0xC4 with P1 0x30 for a raise, 0x31 for a lower,
//! debugger/bug-check-0xc4--driver-verifier-detected-violation). The model
//! records it and leaves the IRQL unchanged.

#![allow(non_snake_case)]

use std::cell::Cell;

use wdk_sys::KIRQL;

use crate::verifier::{self, codes};

pub use crate::levels::{
    APC_LEVEL, CLOCK_LEVEL, CMCI_LEVEL, DISPATCH_LEVEL, HIGH_LEVEL, IPI_LEVEL, MAX_DIRQL, PASSIVE_LEVEL,
    PROFILE_LEVEL, name,
};

thread_local! {
    static IRQL: Cell<KIRQL> = const { Cell::new(PASSIVE_LEVEL) };
}

/// The current thread's IRQL.
#[must_use]
pub fn current() -> KIRQL {
    IRQL.with(Cell::get)
}

pub(crate) fn set(level: KIRQL) {
    IRQL.with(|irql| irql.set(level));
}

/// Restores the previous IRQL when dropped.
pub(crate) struct IrqlScope {
    previous: KIRQL,
}

impl IrqlScope {
    /// Sets the current thread's IRQL to `level` (up or down) until dropped.
    /// Model-internal: used where the kernel itself decides the IRQL (a
    /// callback's documented IRQL, a new system thread).
    pub(crate) fn enter(level: KIRQL) -> Self {
        let previous = current();
        set(level);
        Self { previous }
    }
}

impl Drop for IrqlScope {
    fn drop(&mut self) {
        set(self.previous);
    }
}

/// Runs `f` with the current thread at `level`, then restores the previous
/// IRQL (also if `f` panics). A test API: it simulates code that raised the
/// IRQL (for example a spin lock holder) to call a DDI from there.
pub fn with_irql<R>(level: KIRQL, f: impl FnOnce() -> R) -> R {
    assert!(level <= HIGH_LEVEL, "IRQL {level} is above HIGH_LEVEL");
    let _scope = IrqlScope::enter(level);
    f()
}

/// `KeGetCurrentIrql` (wdm/nf-wdm-kegetcurrentirql): any IRQL.
///
/// # Safety
/// None beyond the C ABI; it reads thread-local state.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeGetCurrentIrql() -> KIRQL {
    current()
}

/// `KfRaiseIrql` (the function behind `KeRaiseIrql`, wdm/nf-wdm-keraiseirql):
/// raises to `new_irql` and returns the previous IRQL. A level below the
/// current one, or above `HIGH_LEVEL`, is recorded as 0xC4/0x30 (P2 current,
/// P3 requested) and changes nothing.
///
/// # Safety
/// None beyond the C ABI.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KfRaiseIrql(new_irql: KIRQL) -> KIRQL {
    let old = current();
    if new_irql < old || new_irql > HIGH_LEVEL {
        verifier::bugcheck(
            codes::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [0x30, u64::from(old), u64::from(new_irql), 0],
            format!(
                "KeRaiseIrql to {} ({new_irql}) from {} ({old}): the new IRQL must not be lower than the current one",
                name(new_irql),
                name(old)
            ),
        );
        return old;
    }
    set(new_irql);
    old
}

/// `KeLowerIrql` (wdm/nf-wdm-kelowerirql): restores an IRQL returned by a
/// raise. A level above the current one, or above `HIGH_LEVEL`, is recorded
/// as 0xC4/0x31 (P2 current, P3 requested, P4 0 "new IRQL is bad") and
/// changes nothing.
///
/// # Safety
/// None beyond the C ABI.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeLowerIrql(new_irql: KIRQL) {
    let old = current();
    if new_irql > old || new_irql > HIGH_LEVEL {
        verifier::bugcheck(
            codes::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [0x31, u64::from(old), u64::from(new_irql), 0],
            format!(
                "KeLowerIrql to {} ({new_irql}) from {} ({old}): the new IRQL must not be higher than the current one",
                name(new_irql),
                name(old)
            ),
        );
        return;
    }
    set(new_irql);
}

/// `KeRaiseIrqlToDpcLevel` (wdm/nf-wdm-keraiseirqltodpclevel): raises to
/// `DISPATCH_LEVEL`, returns the previous IRQL. DDI rule IrqlKeDispatchLte
/// (devtest/wdm-irqlkedispatchlte): callable at `<= DISPATCH_LEVEL` only.
///
/// # Safety
/// None beyond the C ABI.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeRaiseIrqlToDpcLevel() -> KIRQL {
    let old = current();
    if old > DISPATCH_LEVEL {
        verifier::rule_violation(
            &verifier::rules::IRQL_KE_DISPATCH_LTE,
            "KeRaiseIrqlToDpcLevel",
            old,
        );
        return old;
    }
    set(DISPATCH_LEVEL);
    old
}
