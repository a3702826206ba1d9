//! The machine frozen by a bug check: who froze it and which simulated
//! threads are parked.
//!
//! `KeBugCheckEx` stops the other processors before it runs the bug check
//! callbacks (they may use no lock, kernel/writing-a-bug-check-callback-routine).
//! In the model every other thread stops at its next DDI call
//! ([`freeze_point`], from the gate in [`crate::ddi`]) or wait (in
//! [`crate::ke`]). A leaf below the gate: stopping the system threads and
//! waiting for them is `thread::freeze_other_processors`.

use std::collections::HashSet;
use std::sync::{Condvar, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use crate::{context, sync};

/// Who froze the machine, and which simulated threads are parked.
#[derive(Default)]
struct Freeze {
    owner: Option<ThreadId>,
    parked: HashSet<u64>,
}

static FREEZE: Mutex<Option<Freeze>> = Mutex::new(None);
static THAWED: Condvar = Condvar::new();

fn with_freeze<R>(f: impl FnOnce(&mut Freeze) -> R) -> R {
    f(sync::lock(&FREEZE).get_or_insert_with(Freeze::default))
}

/// Whether the machine is frozen by another host thread; if it is, records
/// the current thread as parked (and unparked once it is not).
pub fn park_while_frozen() -> bool {
    let me = std::thread::current().id();
    let tid = context::current_tid();
    with_freeze(|f| {
        let frozen = f.owner.is_some_and(|o| o != me);
        if frozen {
            f.parked.insert(tid);
        } else {
            f.parked.remove(&tid);
        }
        frozen
    })
}

/// Called on entry to every modeled DDI: while another thread holds the
/// machine frozen, the caller (another "processor") stops here until the
/// freeze ends.
pub fn freeze_point() {
    if !park_while_frozen() {
        return;
    }
    let mut guard = sync::lock(&FREEZE);
    while guard
        .as_ref()
        .is_some_and(|f| f.owner.is_some_and(|o| o != std::thread::current().id()))
    {
        guard = sync::wait_timeout(&THAWED, guard, Duration::from_millis(10));
    }
    if let Some(f) = guard.as_mut() {
        f.parked.remove(&context::current_tid());
    }
}

/// Makes the current host thread the one that holds the machine frozen.
/// Returns `false` if it already held it (a nested freeze).
pub fn claim() -> bool {
    let me = std::thread::current().id();
    with_freeze(|f| {
        if f.owner == Some(me) {
            return false;
        }
        f.owner = Some(me);
        true
    })
}

/// Whether every simulated thread in `tids` is parked.
pub fn all_parked(tids: &[u64]) -> bool {
    with_freeze(|f| tids.iter().all(|t| f.parked.contains(t)))
}

/// Ends the freeze and wakes the threads parked at a [`freeze_point`]
/// (threads parked in a wait are woken by their dispatcher).
pub fn release() {
    with_freeze(|f| f.owner = None);
    THAWED.notify_all();
}

pub fn reset() {
    *sync::lock(&FREEZE) = Some(Freeze::default());
}
