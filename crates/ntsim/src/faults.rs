//! Fault injection: make a modeled DDI fail on its n-th call, or always.
//!
//! Every failable DDI consults this module by its C name before doing
//! anything else (after the IRQL check). Routines that return an
//! `NTSTATUS` return the injected status; routines that return a pointer
//! (`ExAllocatePool2`, `MmGetSystemRoutineAddress`, `ExRegisterCallback`)
//! return NULL and the status is only recorded. [`crate::ddi_table::failable`]
//! lists the names.

use std::sync::Mutex;
use std::thread::ThreadId;

use wdk_sys::NTSTATUS;

use crate::sync::lock;

#[derive(Debug)]
struct Armed {
    name: String,
    /// Calls still to let through before failing; `None` = fail every call.
    countdown: Option<u32>,
    status: NTSTATUS,
    thread: Option<ThreadId>,
}

/// A fault that fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fired {
    /// The DDI.
    pub ddi: String,
    /// The status injected (for pointer-returning DDIs: the status recorded,
    /// the DDI returned NULL).
    pub status: NTSTATUS,
}

static ARMED: Mutex<Vec<Armed>> = Mutex::new(Vec::new());
static FIRED: Mutex<Vec<Fired>> = Mutex::new(Vec::new());

fn check_name(name: &str) {
    assert!(
        crate::ddi_table::failable().contains(&name),
        "{name} is not a failable DDI the model knows; failable: {:?}",
        crate::ddi_table::failable()
    );
}

fn arm(name: &str, countdown: Option<u32>, status: NTSTATUS, thread: Option<ThreadId>) {
    check_name(name);
    lock(&ARMED).push(Armed {
        name: name.to_owned(),
        countdown,
        status,
        thread,
    });
}

/// Makes the `n`-th call (1-based, counted from now, on any thread) of DDI
/// `name` fail with `status` (NULL for pointer-returning DDIs). Fires once.
///
/// # Panics
/// If `name` is not a failable DDI or `n` is 0.
pub fn fail_nth(name: &str, n: u32, status: NTSTATUS) {
    assert!(n >= 1, "fail_nth counts from 1");
    arm(name, Some(n - 1), status, None);
}

/// As [`fail_nth`], counting only calls made on the current host thread.
///
/// # Panics
/// If `name` is not a failable DDI or `n` is 0.
pub fn fail_nth_on_this_thread(name: &str, n: u32, status: NTSTATUS) {
    assert!(n >= 1, "fail_nth counts from 1");
    arm(name, Some(n - 1), status, Some(std::thread::current().id()));
}

/// Makes every call of DDI `name` fail with `status` until [`clear`].
///
/// # Panics
/// If `name` is not a failable DDI.
pub fn fail_always(name: &str, status: NTSTATUS) {
    arm(name, None, status, None);
}

/// Disarms every fault (the history of [`fired`] faults is kept).
pub fn clear() {
    lock(&ARMED).clear();
}

/// The faults that fired so far, in order.
#[must_use]
pub fn fired() -> Vec<Fired> {
    lock(&FIRED).clone()
}

/// Whether the current call of `name` must fail, and with which status.
pub(crate) fn consult(name: &str) -> Option<NTSTATUS> {
    let thread = std::thread::current().id();
    let mut armed = lock(&ARMED);
    let mut hit = None;
    for (index, fault) in armed.iter_mut().enumerate() {
        if fault.name != name || fault.thread.is_some_and(|t| t != thread) {
            continue;
        }
        match &mut fault.countdown {
            None => {
                hit = Some((index, fault.status, false));
                break;
            }
            Some(0) => {
                hit = Some((index, fault.status, true));
                break;
            }
            Some(n) => *n -= 1,
        }
    }
    let (index, status, once) = hit?;
    if once {
        armed.remove(index);
    }
    drop(armed);
    lock(&FIRED).push(Fired {
        ddi: name.to_owned(),
        status,
    });
    Some(status)
}

pub(crate) fn reset() {
    lock(&ARMED).clear();
    lock(&FIRED).clear();
}
