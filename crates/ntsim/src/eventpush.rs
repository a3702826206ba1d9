//! A model-only probe of the driver's event pushes.
//!
//! The driver's per-processor rings are correct only if nothing preempts a
//! push between its claim and its publish, so the driver raises to
//! `DISPATCH_LEVEL` for that window (issue #11). The window is the driver's
//! own code, invisible to a kernel; in host builds the driver calls
//! [`ntsim_event_push`] inside it (`cfg(not(target_os = "windows"))`), and
//! the model checks the IRQL there: a push below `DISPATCH_LEVEL` is
//! recorded as [`ModelRule::PushBelowDispatch`]. It also checks that the
//! ring chosen is the current processor's.

use std::sync::Mutex;

use crate::context;
use crate::irql::{self, DISPATCH_LEVEL};
use crate::sync::lock;
use crate::verifier::{self, ModelRule};

/// Pushes seen, by the IRQL they ran at (index = IRQL, 0..=15).
static PUSHES: Mutex<[u64; 16]> = Mutex::new([0; 16]);

/// Pushes the driver made since the model booted, by IRQL.
#[must_use]
pub fn pushes_by_irql() -> [u64; 16] {
    *lock(&PUSHES)
}

pub(crate) fn reset() {
    *lock(&PUSHES) = [0; 16];
}

/// Called by the driver (host builds only) inside a push's claim-publish
/// window, with the index of the ring it writes.
///
/// # Safety
/// None beyond the C ABI.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ntsim_event_push(ring: u32) {
    let level = irql::current();
    lock(&PUSHES)[usize::from(level.min(15))] += 1;
    if level < DISPATCH_LEVEL {
        verifier::model_rule(
            ModelRule::PushBelowDispatch,
            u64::from(level),
            format!(
                "event push at {} ({level}): the claim-copy-publish window must run at DISPATCH_LEVEL or above, or a preempted push stalls its ring",
                irql::name(level)
            ),
        );
    }
    let processor = context::current_processor();
    if ring != processor {
        verifier::model_rule(
            ModelRule::PushBelowDispatch,
            u64::from(level),
            format!("event push into ring {ring} on processor {processor}: not the current processor's ring"),
        );
    }
}

/// Test helper: the probe as the driver calls it, at the current IRQL.
pub fn probe_push(ring: u32) {
    // SAFETY: plain call.
    unsafe { ntsim_event_push(ring) };
}
