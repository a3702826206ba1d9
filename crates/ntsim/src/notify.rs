//! A registry of callback routines with in-flight tracking: the machinery
//! behind every notify-routine family.
//!
//! A removal that the documentation says *waits for running callbacks*
//! (e.g. ntddk/nf-ntddk-psremoveloadimagenotifyroutine) marks the slot
//! removed (no new calls start), waits until the calls in flight have
//! returned, then checks that none is left (a removal must never return
//! while its callback runs). Called from inside that very callback it would
//! deadlock on Windows; the model records [`ModelRule::RemovalFromOwnCallback`]
//! and returns without waiting. A removal documented without the wait marks
//! the slot removed and returns at once; calls still in flight are caught by
//! the unload check (their code would run after the driver is gone: 0xCE).

use std::cell::RefCell;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::context::{ContextScope, Phase};
use crate::verifier::{self, ModelRule};
use crate::{irql, sync};

/// One registration.
#[derive(Clone, Debug)]
pub struct Slot {
    pub id: u64,
    pub routine: usize,
    /// Which variant registered it (family-specific).
    pub variant: u32,
    /// Family-specific data (flags, notify type).
    pub data: u64,
    /// The other driver that registered it ([`crate::context::other_image`]);
    /// `None`: the driver under test.
    pub owner: Option<usize>,
    active: u32,
    removed: bool,
}

#[derive(Default)]
struct Slots {
    next_id: u64,
    slots: Vec<Slot>,
}

/// A family of registrations (e.g. load-image notify routines).
pub struct Registry {
    pub name: &'static str,
    slots: Mutex<Slots>,
    done: Condvar,
}

thread_local! {
    /// (registry address, slot id) of the callbacks this thread is inside.
    static INSIDE: RefCell<Vec<(usize, u64)>> = const { RefCell::new(Vec::new()) };
}

/// How long a waiting removal waits before the model reports it (the test
/// would otherwise hang).
const REMOVAL_WATCHDOG: Duration = Duration::from_secs(30);

impl Registry {
    pub(crate) const fn new(name: &'static str) -> Self {
        Self {
            name,
            slots: Mutex::new(Slots {
                next_id: 0,
                slots: Vec::new(),
            }),
            done: Condvar::new(),
        }
    }

    fn key(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Adds a registration; returns its id.
    pub(crate) fn add(&self, routine: usize, variant: u32, data: u64) -> u64 {
        let mut slots = sync::lock(&self.slots);
        slots.next_id += 1;
        let id = slots.next_id;
        slots.slots.push(Slot {
            id,
            routine,
            variant,
            data,
            owner: crate::context::other_image(),
            active: 0,
            removed: false,
        });
        id
    }

    /// Live (not removed) registrations, in registration order.
    pub(crate) fn live(&self) -> Vec<Slot> {
        sync::lock(&self.slots)
            .slots
            .iter()
            .filter(|s| !s.removed)
            .cloned()
            .collect()
    }

    /// Routines with calls in flight (including removed registrations).
    pub(crate) fn in_flight(&self) -> Vec<usize> {
        sync::lock(&self.slots)
            .slots
            .iter()
            .filter(|s| s.active > 0)
            .map(|s| s.routine)
            .collect()
    }

    /// What the driver under test left: its live registrations and its
    /// routines with calls in flight (registrations another driver made
    /// are that driver's, [`Slot::owner`]).
    pub(crate) fn leftovers(&self) -> (Vec<Slot>, Vec<usize>) {
        let own: Vec<Slot> = sync::lock(&self.slots)
            .slots
            .iter()
            .filter(|s| s.owner.is_none())
            .cloned()
            .collect();
        let running = own.iter().filter(|s| s.active > 0).map(|s| s.routine).collect();
        let live = own.into_iter().filter(|s| !s.removed).collect();
        (live, running)
    }

    /// Calls `f` for slot `id` unless it was removed meanwhile, tracking the
    /// call as in flight, at the current IRQL and with the phase set to
    /// [`Phase::Callback`]. Records [`ModelRule::CallbackChangedIrql`] (and
    /// restores the IRQL) if the callback returns at another IRQL.
    pub(crate) fn invoke<R>(&self, id: u64, f: impl FnOnce() -> R) -> Option<R> {
        {
            let mut slots = sync::lock(&self.slots);
            let slot = slots.slots.iter_mut().find(|s| s.id == id && !s.removed)?;
            slot.active += 1;
        }
        INSIDE.with(|inside| inside.borrow_mut().push((self.key(), id)));
        let before = irql::current();
        let result = {
            let _phase = ContextScope::phase(Phase::Callback);
            f()
        };
        let after = irql::current();
        if after != before {
            verifier::model_rule(
                ModelRule::CallbackChangedIrql,
                u64::from(after),
                format!(
                    "a {} callback returned at IRQL {after}; it was called at {before}",
                    self.name
                ),
            );
            irql::set(before);
        }
        INSIDE.with(|inside| {
            let mut inside = inside.borrow_mut();
            if let Some(pos) = inside.iter().rposition(|&e| e == (self.key(), id)) {
                inside.remove(pos);
            }
        });
        let mut slots = sync::lock(&self.slots);
        if let Some(slot) = slots.slots.iter_mut().find(|s| s.id == id) {
            slot.active -= 1;
        }
        slots.slots.retain(|s| !(s.removed && s.active == 0));
        drop(slots);
        self.done.notify_all();
        Some(result)
    }

    /// The routine of the first live registration matching `matches` if the
    /// current thread is inside a call of it.
    pub(crate) fn inside_own(&self, matches: impl Fn(&Slot) -> bool) -> Option<usize> {
        let (id, routine) = sync::lock(&self.slots)
            .slots
            .iter()
            .find(|s| !s.removed && matches(s))
            .map(|s| (s.id, s.routine))?;
        INSIDE
            .with(|inside| inside.borrow().contains(&(self.key(), id)))
            .then_some(routine)
    }

    /// Removes the first live registration matching `matches`. Returns
    /// `false` if there is none. With `wait`, returns only when no call of
    /// it is in flight.
    pub(crate) fn remove(&self, ddi: &str, wait: bool, matches: impl Fn(&Slot) -> bool) -> bool {
        let mut slots = sync::lock(&self.slots);
        let Some(slot) = slots.slots.iter_mut().find(|s| !s.removed && matches(s)) else {
            return false;
        };
        slot.removed = true;
        let id = slot.id;
        let routine = slot.routine;
        if wait {
            let own = INSIDE.with(|inside| inside.borrow().contains(&(self.key(), id)));
            if own {
                drop(slots);
                verifier::model_rule(
                    ModelRule::RemovalFromOwnCallback,
                    routine as u64,
                    format!(
                        "{ddi} called from inside the {} callback it removes: it waits for that callback (deadlock)",
                        self.name
                    ),
                );
                return true;
            }
            let started = Instant::now();
            while slots.slots.iter().any(|s| s.id == id && s.active > 0) {
                if started.elapsed() > REMOVAL_WATCHDOG {
                    break;
                }
                slots = sync::wait_timeout(&self.done, slots, Duration::from_millis(10));
            }
            if slots.slots.iter().any(|s| s.id == id && s.active > 0) {
                drop(slots);
                verifier::model_rule(
                    ModelRule::RemovalReturnedWhileRunning,
                    routine as u64,
                    format!("{ddi} returned while a {} callback was still running", self.name),
                );
                return true;
            }
        }
        slots.slots.retain(|s| !(s.removed && s.active == 0));
        true
    }

    pub(crate) fn reset(&self) {
        let mut slots = sync::lock(&self.slots);
        slots.slots.clear();
    }
}
