//! The gate every modeled DDI passes on entry: record the call, check the
//! IRQL, consult fault injection; and the call log. The table it enforces
//! (documented IRQL, DDI compliance rule, how a failure is reported) is in
//! [`crate::ddi_table`], re-exported here.

use std::sync::Mutex;

use wdk_sys::{KIRQL, NTSTATUS};

use crate::context::{self, Phase};
use crate::irql::{self, PASSIVE_LEVEL};
use crate::sync::lock;
use crate::verifier::{self, codes};
use crate::{faults, freeze};

pub use crate::ddi_table::*;

/// One recorded DDI call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The DDI.
    pub ddi: &'static str,
    /// The IRQL it was called at.
    pub irql: KIRQL,
    /// The simulated thread id of the caller.
    pub tid: u64,
    /// What the caller was doing.
    pub phase: Phase,
    /// The status injected by [`crate::faults`], if one was.
    pub injected: Option<NTSTATUS>,
    /// Whether the DDI can fail (see [`failable`]).
    pub failable: bool,
}

static CALLS: Mutex<Vec<Call>> = Mutex::new(Vec::new());

/// Every DDI call recorded since boot, in order.
#[must_use]
pub fn calls() -> Vec<Call> {
    lock(&CALLS).clone()
}

/// How many calls of the DDI named `ddi` were recorded since boot.
#[must_use]
pub fn call_count(ddi: &str) -> usize {
    lock(&CALLS).iter().filter(|c| c.ddi == ddi).count()
}

/// The DDI calls made in `phase`.
#[must_use]
pub fn calls_in(phase: Phase) -> Vec<Call> {
    lock(&CALLS)
        .iter()
        .filter(|c| c.phase == phase)
        .cloned()
        .collect()
}

pub(crate) fn reset() {
    lock(&CALLS).clear();
}

/// The status a failable DDI returns when it was called at an IRQL its
/// documentation forbids (the model's choice; the real system would have
/// stopped with the recorded bug check).
pub const REFUSED_AT_WRONG_IRQL: NTSTATUS = wdk_sys::STATUS_INVALID_LEVEL;

/// What the gate decided.
pub(crate) struct Entry {
    /// The caller's IRQL.
    pub irql: KIRQL,
    /// An injected failure.
    pub fault: Option<NTSTATUS>,
    /// Whether the IRQL check failed (and a bug check was recorded).
    pub irql_violation: bool,
}

/// Records the call, checks the documented IRQL and consults fault injection.
pub(crate) fn enter(ddi: &'static Ddi) -> Entry {
    enter_with(ddi, ddi.failure != Failure::Never)
}

/// As [`enter`], for a call whose outcome the model has already decided
/// (e.g. `ExRegisterCallback` on a single-callback object that has its
/// callback: NULL whatever happens): an injected failure could not be told
/// apart, so the call is recorded as not failable and faults are not
/// consulted.
pub(crate) fn enter_decided(ddi: &'static Ddi) -> Entry {
    enter_with(ddi, false)
}

fn enter_with(ddi: &'static Ddi, failable: bool) -> Entry {
    // Another thread's bug check froze the machine: this "processor" stops.
    freeze::freeze_point();
    let current = irql::current();
    let mut irql_violation = false;
    if let Some(rule) = ddi.rule {
        if current > rule.max_irql {
            irql_violation = verifier::rule_violation(rule, ddi.name, current);
        }
    } else if current > ddi.irql.max() {
        irql_violation = verifier::wrong_irql(ddi.name, current, ddi.irql.text());
    }
    // A failable DDI called at a forbidden IRQL is refused (after the bug
    // check is recorded) with REFUSED_AT_WRONG_IRQL, so a bad registration
    // does not also leave state behind.
    let fault = match ddi.failure {
        Failure::Never => None,
        _ if irql_violation => Some(REFUSED_AT_WRONG_IRQL),
        _ if !failable => None,
        _ => faults::consult(ddi.name),
    };
    lock(&CALLS).push(Call {
        ddi: ddi.name,
        irql: current,
        tid: context::current_tid(),
        phase: context::phase(),
        injected: fault,
        failable,
    });
    Entry {
        irql: current,
        fault,
        irql_violation,
    }
}

/// Evaluates a gate [`Entry`] (from [`enter`] or [`zw_passive`]): if a
/// fault was injected, returns its status from the enclosing DDI; otherwise
/// yields the entry.
macro_rules! unless_faulted {
    ($entry:expr) => {{
        let entry: $crate::ddi::Entry = $entry;
        if let Some(status) = entry.fault {
            return status;
        }
        entry
    }};
}
pub(crate) use unless_faulted;

/// 0xC4/0xE6: a Zw routine not called at PASSIVE_LEVEL (P2: the caller's
/// address is unknown to the model: 0; P3: the current IRQL).
pub(crate) fn zw_passive(ddi: &'static Ddi) -> Entry {
    let mut entry = enter(ddi);
    if entry.irql != PASSIVE_LEVEL {
        entry.irql_violation = verifier::bugcheck(
            codes::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [0xE6, 0, u64::from(entry.irql), 0],
            format!(
                "{} called at {} ({}); Zw routines require PASSIVE_LEVEL",
                ddi.name,
                irql::name(entry.irql),
                entry.irql
            ),
        );
    }
    entry
}
