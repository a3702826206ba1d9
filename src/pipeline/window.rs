//! The push window: how a record gets into its processor's ring.
//!
//! [`in_window`] runs the stamp-claim-copy-publish sequence at
//! `DISPATCH_LEVEL` or above on one processor (raising when called below
//! it), and only inside it can [`push_in_window`] name a ring: the
//! processor-local claim of the per-processor rings
//! ([`crate::pipeline::rings`]) relies on that. A record no ring can take is
//! counted in [`UNRINGED`], never lost silently.

use core::{ptr, sync::atomic::Ordering};

use wdk_sys::{
    KIRQL,
    ntddk::{KeGetCurrentIrql, KeGetCurrentProcessorNumberEx},
};

use crate::{
    kernel::irql,
    pipeline::rings::{UNRINGED, get},
};

/// `DISPATCH_LEVEL`.
#[allow(clippy::cast_possible_truncation, reason = "2")]
const DISPATCH_LEVEL: KIRQL = wdk_sys::DISPATCH_LEVEL as KIRQL;

/// Pushes `record` (whose header [`crate::pipeline::events`] has stamped) into the
/// current processor's ring and counts it for `source`. The caller holds
/// the window (`DISPATCH_LEVEL` or above).
fn push_raised(source: usize, processor: u32, bytes: &[u8]) -> bool {
    #[cfg(not(target_os = "windows"))]
    {
        unsafe extern "C" {
            /// The kernel model's probe of the push window (host builds).
            fn ntsim_event_push(ring: u32);
        }
        // SAFETY: a plain call into the kernel model.
        unsafe { ntsim_event_push(processor) };
    }
    let Some(ring) = get().and_then(|set| set.per_processor().get(processor as usize)) else {
        count_unringed(source);
        return false;
    };
    kcb_ring::record_bytes(&ring.ring, &ring.counters, source, bytes)
}

/// Counts an event no ring could take (seen and dropped) in [`UNRINGED`].
fn count_unringed(source: usize) {
    if let Some(counter) = UNRINGED.get(source) {
        counter.seen.fetch_add(1, Ordering::Relaxed);
        counter.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// Proof of being inside [`in_window`].
///
/// It stands for this processor, at `DISPATCH_LEVEL` or above, for as long
/// as the borrow lives. Only [`in_window`] makes one, so a push can only
/// name the processor it runs on (the processor-local claim of
/// `rings::processor_ring` relies on that).
pub struct Window {
    processor: u32,
    caller_irql: KIRQL,
}

impl Window {
    /// The index of the processor the window runs on.
    ///
    /// # IRQL
    /// `DISPATCH_LEVEL` or above (inside the window).
    #[must_use]
    pub const fn processor(&self) -> u32 {
        self.processor
    }

    /// The IRQL the caller of [`in_window`] ran at (before any raise).
    ///
    /// # IRQL
    /// `DISPATCH_LEVEL` or above (inside the window).
    #[must_use]
    pub const fn caller_irql(&self) -> KIRQL {
        self.caller_irql
    }
}

/// Runs `f` at `DISPATCH_LEVEL` or above on one processor: raises if the
/// current IRQL is below and restores it after. `f` gets the [`Window`]
/// (processor index and the IRQL the caller ran at).
///
/// # IRQL
/// Any.
#[inline]
pub fn in_window<R>(f: impl FnOnce(&Window) -> R) -> R {
    // SAFETY: callable at any IRQL.
    let irql = unsafe { KeGetCurrentIrql() };
    let raised = irql < DISPATCH_LEVEL;
    if raised {
        // SAFETY: raising from below DISPATCH_LEVEL to it; lowered below.
        unsafe { irql::raise(DISPATCH_LEVEL) };
    }
    // SAFETY: callable at any IRQL; NULL asks for the index only. At
    // DISPATCH_LEVEL or above the thread cannot move to another processor.
    let processor = unsafe { KeGetCurrentProcessorNumberEx(ptr::null_mut()) };
    let result = f(&Window {
        processor,
        caller_irql: irql,
    });
    if raised {
        // SAFETY: back to the IRQL this function was called at.
        unsafe { irql::lower(irql) };
    }
    result
}

/// Pushes `bytes` as one record of `source` into the ring of the window's
/// processor.
///
/// # IRQL
/// DISPATCH_LEVEL or above (inside the window).
#[inline]
#[allow(clippy::must_use_candidate, reason = "a dropped event is already counted")]
pub fn push_in_window(window: &Window, source: usize, bytes: &[u8]) -> bool {
    push_raised(source, window.processor, bytes)
}
