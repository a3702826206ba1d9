//! Kernel dispatcher objects (events), waits, processor numbers.
//!
//! Event state lives in a side table keyed by the `KEVENT`'s address (the
//! driver owns the memory); the `DISPATCHER_HEADER` fields `Type` and
//! `SignalState` are kept up to date in that memory too. One lock and one
//! condition variable serve every dispatcher object (events and, in
//! [`crate::thread`], thread termination).
//!
//! A simulated bug check freezes the other "processors" first, as
//! `KeBugCheckEx` does before it runs the bug check callbacks (they may use
//! no lock, kernel/writing-a-bug-check-callback-routine): until it ends,
//! every other thread stops at its next DDI call, and waits are not
//! satisfied ([`crate::kecb::bug_check_with`]).
//!
//! Waits that would block forever are cut by a watchdog (default 30 s,
//! [`set_watchdog`]) that records an NSIM bug check instead of hanging the
//! test run.

#![allow(non_snake_case)]

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use wdk_sys::{
    _EVENT_TYPE::{NotificationEvent, SynchronizationEvent},
    BOOLEAN, DISPATCHER_HEADER, EVENT_TYPE, KPRIORITY, KPROCESSOR_MODE, KWAIT_REASON, LARGE_INTEGER,
    LIST_ENTRY, LONG, NTSTATUS, PLARGE_INTEGER, PPROCESSOR_NUMBER, PRKEVENT, PVOID, STATUS_SUCCESS,
    STATUS_TIMEOUT, ULONG,
};

use crate::irql::{APC_LEVEL, DISPATCH_LEVEL};
use crate::verifier::{self, ModelRule, codes, rules};
use crate::{clock, context, ddi, freeze, irql, sync};

/// State of one event.
#[derive(Clone, Copy, Debug)]
struct EventState {
    synchronization: bool,
    signaled: bool,
}

/// Everything waitable.
#[derive(Default)]
pub(crate) struct Dispatcher {
    events: HashMap<usize, EventState>,
    /// Terminated-ness of system threads, by thread id (see [`crate::thread`]).
    pub(crate) threads: HashMap<u64, bool>,
}

static DISPATCHER: Mutex<Option<Dispatcher>> = Mutex::new(None);
static WAKE: Condvar = Condvar::new();
static WATCHDOG_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(30_000);

/// Sets how long a wait may block before the model gives up on it (records
/// [`ModelRule::WatchdogExpired`] and returns `STATUS_TIMEOUT`).
pub fn set_watchdog(limit: Duration) {
    WATCHDOG_MS.store(
        u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
        std::sync::atomic::Ordering::SeqCst,
    );
}

fn watchdog() -> Duration {
    Duration::from_millis(WATCHDOG_MS.load(std::sync::atomic::Ordering::SeqCst))
}

pub(crate) struct DispatcherGuard(MutexGuard<'static, Option<Dispatcher>>);

impl std::ops::Deref for DispatcherGuard {
    type Target = Dispatcher;
    fn deref(&self) -> &Dispatcher {
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("initialised by lock_dispatcher"))
    }
}

impl std::ops::DerefMut for DispatcherGuard {
    fn deref_mut(&mut self) -> &mut Dispatcher {
        self.0.get_or_insert_with(Dispatcher::default)
    }
}

pub(crate) fn lock_dispatcher() -> DispatcherGuard {
    let mut guard = sync::lock(&DISPATCHER);
    guard.get_or_insert_with(Dispatcher::default);
    DispatcherGuard(guard)
}

/// Wakes every waiter (call after changing dispatcher state).
pub(crate) fn wake_all() {
    WAKE.notify_all();
}

/// When a wait ends.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Deadline {
    /// `Timeout == NULL`.
    Never,
    /// A relative timeout (host clock).
    At(Instant),
    /// An absolute system time (tracks changes of the system time).
    SystemTime(i64),
}

/// Decodes a wait's `Timeout` argument (wdm/nf-wdm-kewaitforsingleobject:
/// negative = relative, positive = absolute, 0 = poll, NULL = forever).
///
/// # Safety
/// `timeout` is null or readable.
pub(crate) unsafe fn deadline(timeout: *const LARGE_INTEGER) -> Deadline {
    if timeout.is_null() {
        return Deadline::Never;
    }
    // SAFETY: readable per the caller.
    let timeout = unsafe { &*timeout };
    // SAFETY: every bit pattern of the union is a valid i64.
    let value = unsafe { timeout.QuadPart };
    match value {
        v if v < 0 => {
            Deadline::At(Instant::now() + Duration::from_nanos(v.unsigned_abs().saturating_mul(100)))
        }
        0 => Deadline::At(Instant::now()),
        v => Deadline::SystemTime(v),
    }
}

/// Blocks until `ready` returns true (it may consume state, e.g. reset a
/// synchronization event) or the deadline passes. Returns `STATUS_SUCCESS`
/// or `STATUS_TIMEOUT`.
pub(crate) fn wait_until(
    what: &str,
    deadline: Deadline,
    mut ready: impl FnMut(&mut Dispatcher) -> bool,
) -> NTSTATUS {
    let started = Instant::now();
    let mut guard = sync::lock(&DISPATCHER);
    loop {
        // While another thread holds the machine frozen (a bug check), a
        // waiting thread stays parked: its wait cannot be satisfied.
        if freeze::park_while_frozen() {
            guard = sync::wait_timeout(&WAKE, guard, Duration::from_millis(1));
            continue;
        }
        if ready(guard.get_or_insert_with(Dispatcher::default)) {
            return STATUS_SUCCESS;
        }
        let now = Instant::now();
        let remaining = match deadline {
            Deadline::Never => None,
            Deadline::At(at) => Some(at.saturating_duration_since(now)),
            Deadline::SystemTime(t) => {
                let ticks = t.saturating_sub(clock::system_time());
                Some(Duration::from_nanos(
                    u64::try_from(ticks).unwrap_or(0).saturating_mul(100),
                ))
            }
        };
        if remaining == Some(Duration::ZERO) {
            return STATUS_TIMEOUT;
        }
        let watchdog_left = watchdog().saturating_sub(now - started);
        if watchdog_left.is_zero() {
            drop(guard);
            verifier::model_rule(
                ModelRule::WatchdogExpired,
                0,
                format!(
                    "wait for {what} blocked longer than the model's watchdog ({:?})",
                    watchdog()
                ),
            );
            return STATUS_TIMEOUT;
        }
        // Poll at least every 10 ms so absolute deadlines see clock changes.
        let slice = remaining
            .unwrap_or(watchdog_left)
            .min(watchdog_left)
            .min(Duration::from_millis(10));
        guard = sync::wait_timeout(&WAKE, guard, slice);
    }
}

/// Size of `DISPATCHER_HEADER` on x64 (wdm.h): the leading union (4 bytes),
/// `SignalState`, `WaitListHead`.
const DISPATCHER_HEADER_SIZE: usize = 24;
const _: () = assert!(size_of::<DISPATCHER_HEADER>() == DISPATCHER_HEADER_SIZE);

/// Writes `DISPATCHER_HEADER.Type` and clears the three bytes after it
/// (`Signalling`/`Abandoned`..., `Size`, `Reserved1`), as `KeInitializeEvent`
/// does.
///
/// `Type` is the first byte of the header, inside anonymous unions that the
/// WDK's and mingw-w64's `wdm.h` nest in a different order, so bindgen names
/// them differently (`__bindgen_anon_N`); the byte is reached by its offset,
/// which both define the same.
const fn set_dispatcher_type(header: &mut DISPATCHER_HEADER, kind: u8) {
    let first_word = core::ptr::from_mut(header).cast::<[u8; 4]>();
    // SAFETY: the header is 24 bytes (asserted above) and writable; a byte
    // array needs no alignment.
    unsafe { first_word.write([kind, 0, 0, 0]) };
}

/// Reads `DISPATCHER_HEADER.Type` (the first byte; see [`set_dispatcher_type`]).
#[must_use]
pub const fn dispatcher_type(header: &DISPATCHER_HEADER) -> u8 {
    // SAFETY: the header is at least one byte and readable; every bit
    // pattern is a valid u8.
    unsafe { core::ptr::from_ref(header).cast::<u8>().read() }
}

fn write_header(event: PRKEVENT, synchronization: Option<bool>, signaled: bool) {
    if event.is_null() {
        return;
    }
    // SAFETY: callers pass the driver's KEVENT, which is writable storage
    // (wdm/nf-wdm-keinitializeevent: the caller provides the storage).
    let header = unsafe { &mut (*event).Header };
    if let Some(synchronization) = synchronization {
        // EventNotificationObject = 0, EventSynchronizationObject = 1 (wdm.h KOBJECTS).
        set_dispatcher_type(header, u8::from(synchronization));
        // InitializeListHead(&WaitListHead).
        let head: *mut LIST_ENTRY = &raw mut header.WaitListHead;
        header.WaitListHead = LIST_ENTRY {
            Flink: head,
            Blink: head,
        };
    }
    header.SignalState = LONG::from(signaled);
}

fn event_state(event: PRKEVENT, ddi: &str) -> Option<EventState> {
    let state = lock_dispatcher().events.get(&(event as usize)).copied();
    if state.is_none() {
        verifier::model_rule(
            ModelRule::UnknownObject,
            event as u64,
            format!("{ddi}: {event:p} is not an event initialised with KeInitializeEvent"),
        );
    }
    state
}

fn set_signaled(event: PRKEVENT, signaled: bool) -> Option<bool> {
    let previous = {
        let mut dispatcher = lock_dispatcher();
        let state = dispatcher.events.get_mut(&(event as usize))?;
        let previous = state.signaled;
        state.signaled = signaled;
        previous
    };
    write_header(event, None, signaled);
    if signaled {
        wake_all();
    }
    Some(previous)
}

/// `KeInitializeEvent` (wdm/nf-wdm-keinitializeevent): any level.
///
/// # Safety
/// `event` points to writable `KEVENT` storage that outlives its use.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeInitializeEvent(event: PRKEVENT, event_type: EVENT_TYPE, state: BOOLEAN) {
    ddi::enter(&ddi::KE_INITIALIZE_EVENT);
    if event.is_null() {
        verifier::model_rule(
            ModelRule::InvalidParameter,
            0,
            "KeInitializeEvent: Event is NULL".to_owned(),
        );
        return;
    }
    let synchronization = if event_type == SynchronizationEvent {
        true
    } else {
        if event_type != NotificationEvent {
            verifier::model_rule(
                ModelRule::InvalidParameter,
                u64::from(event_type.cast_unsigned()),
                format!(
                    "KeInitializeEvent: Type {event_type} is neither NotificationEvent nor SynchronizationEvent"
                ),
            );
        }
        false
    };
    let signaled = state != 0;
    lock_dispatcher().events.insert(
        event as usize,
        EventState {
            synchronization,
            signaled,
        },
    );
    write_header(event, Some(synchronization), signaled);
    wake_all();
}

/// `KeSetEvent` (wdm/nf-wdm-kesetevent): sets the event, returns its
/// previous state. Above `DISPATCH_LEVEL`: 0xC4/0x80 (P2 IRQL, P3 event);
/// with `Wait = TRUE` above `APC_LEVEL`: rule IrqlKeSetEvent (0x20016).
///
/// # Safety
/// `event` was initialised with `KeInitializeEvent`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeSetEvent(event: PRKEVENT, _increment: KPRIORITY, wait: BOOLEAN) -> LONG {
    let entry = ddi::enter(&ddi::KE_SET_EVENT);
    if entry.irql > DISPATCH_LEVEL {
        verifier::bugcheck(
            codes::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [0x80, u64::from(entry.irql), event as u64, 0],
            format!("KeSetEvent called at {} ({})", irql::name(entry.irql), entry.irql),
        );
    } else if wait != 0 && entry.irql > APC_LEVEL {
        verifier::rule_violation(&rules::IRQL_KE_SET_EVENT, "KeSetEvent(Wait = TRUE)", entry.irql);
    }
    if event_state(event, "KeSetEvent").is_none() {
        return 0;
    }
    set_signaled(event, true).map_or(0, LONG::from)
}

/// `KeResetEvent` (wdm/nf-wdm-keresetevent): clears the event, returns its
/// previous state.
///
/// # Safety
/// `event` was initialised with `KeInitializeEvent`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeResetEvent(event: PRKEVENT) -> LONG {
    ddi::enter(&ddi::KE_RESET_EVENT);
    if event_state(event, "KeResetEvent").is_none() {
        return 0;
    }
    set_signaled(event, false).map_or(0, LONG::from)
}

/// `KeClearEvent` (wdm/nf-wdm-keclearevent).
///
/// # Safety
/// `event` was initialised with `KeInitializeEvent`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeClearEvent(event: PRKEVENT) {
    ddi::enter(&ddi::KE_CLEAR_EVENT);
    if event_state(event, "KeClearEvent").is_some() {
        set_signaled(event, false);
    }
}

/// `KeReadStateEvent` (wdm/nf-wdm-kereadstateevent).
///
/// # Safety
/// `event` was initialised with `KeInitializeEvent`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeReadStateEvent(event: PRKEVENT) -> LONG {
    ddi::enter(&ddi::KE_READ_STATE_EVENT);
    event_state(event, "KeReadStateEvent").map_or(0, |s| LONG::from(s.signaled))
}

/// `KeWaitForSingleObject` (wdm/nf-wdm-kewaitforsingleobject) on an event.
///
/// IRQL: `<= DISPATCH_LEVEL`, and `<= APC_LEVEL` unless `*Timeout == 0`;
/// violations: 0xC4/0x120 (above DISPATCH_LEVEL), 0x121 (DISPATCH_LEVEL,
/// NULL timeout), 0x122 (DISPATCH_LEVEL, non-zero timeout); P2 is the IRQL
/// itself (the documented P2 is its address), P3 the object, P4 the timeout
/// pointer. After a violation the wait becomes a poll. A satisfied wait on a
/// synchronization event resets it.
///
/// # Safety
/// `object` was initialised with `KeInitializeEvent`; `timeout` is null or readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeWaitForSingleObject(
    object: PVOID,
    _wait_reason: KWAIT_REASON,
    _wait_mode: KPROCESSOR_MODE,
    _alertable: BOOLEAN,
    timeout: PLARGE_INTEGER,
) -> NTSTATUS {
    let entry = ddi::enter(&ddi::KE_WAIT_FOR_SINGLE_OBJECT);
    // SAFETY: timeout is null or readable per the caller.
    let mut deadline = unsafe { deadline(timeout) };
    let poll = matches!(deadline, Deadline::At(at) if at <= Instant::now()) && !timeout.is_null();
    let p1 = if entry.irql > DISPATCH_LEVEL {
        Some(0x120)
    } else if entry.irql == DISPATCH_LEVEL && timeout.is_null() {
        Some(0x121)
    } else if entry.irql == DISPATCH_LEVEL && !poll {
        Some(0x122)
    } else {
        None
    };
    if let Some(p1) = p1 {
        verifier::bugcheck(
            codes::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [p1, u64::from(entry.irql), object as u64, timeout as u64],
            format!(
                "KeWaitForSingleObject at {} ({}) with this timeout",
                irql::name(entry.irql),
                entry.irql
            ),
        );
        deadline = Deadline::At(Instant::now());
    }
    let event = object.cast::<wdk_sys::KEVENT>();
    if event_state(event, "KeWaitForSingleObject").is_none() {
        return STATUS_SUCCESS;
    }
    let key = object as usize;
    let mut consumed = false;
    let status = wait_until("an event", deadline, |dispatcher| {
        let Some(state) = dispatcher.events.get_mut(&key) else {
            return true;
        };
        if state.signaled {
            if state.synchronization {
                state.signaled = false;
                consumed = true;
            }
            return true;
        }
        false
    });
    if consumed {
        write_header(event, None, false);
    }
    status
}

/// `KeDelayExecutionThread` (wdm/nf-wdm-kedelayexecutionthread): `<= APC_LEVEL`.
///
/// # Safety
/// `interval` is readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeDelayExecutionThread(
    _mode: KPROCESSOR_MODE,
    _alertable: BOOLEAN,
    interval: PLARGE_INTEGER,
) -> NTSTATUS {
    ddi::enter(&ddi::KE_DELAY_EXECUTION_THREAD);
    // SAFETY: readable per the caller.
    let deadline = unsafe { deadline(interval) };
    if matches!(deadline, Deadline::Never) {
        verifier::model_rule(
            ModelRule::InvalidParameter,
            0,
            "KeDelayExecutionThread: Interval is NULL".to_owned(),
        );
        return STATUS_SUCCESS;
    }
    let _ = wait_until("a delay", deadline, |_| false);
    STATUS_SUCCESS
}

/// `KeGetCurrentProcessorNumberEx` (wdm/nf-wdm-kegetcurrentprocessornumberex):
/// any IRQL. Group 0; the number is stable per host thread.
///
/// # Safety
/// `proc_number` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeGetCurrentProcessorNumberEx(proc_number: PPROCESSOR_NUMBER) -> ULONG {
    ddi::enter(&ddi::KE_GET_CURRENT_PROCESSOR_NUMBER_EX);
    let number = context::current_processor();
    if !proc_number.is_null() {
        // SAFETY: writable per the caller.
        unsafe {
            proc_number.write(wdk_sys::PROCESSOR_NUMBER {
                Group: 0,
                Number: u8::try_from(number).unwrap_or(0),
                Reserved: 0,
            });
        };
    }
    number
}

/// `ALL_PROCESSOR_GROUPS` (wdm.h).
pub const ALL_PROCESSOR_GROUPS: u16 = 0xFFFF;

/// `KeQueryMaximumProcessorCountEx` (wdm/nf-wdm-kequerymaximumprocessorcountex):
/// any IRQL.
///
/// The maximum number of logical processors in `group_number`, or in all
/// groups for `ALL_PROCESSOR_GROUPS`; the model has one group of
/// [`context::PROCESSOR_COUNT`] processors (no hot-add beyond them).
///
/// # Safety
/// None beyond the C ABI.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeQueryMaximumProcessorCountEx(group_number: u16) -> ULONG {
    ddi::enter(&ddi::KE_QUERY_MAXIMUM_PROCESSOR_COUNT_EX);
    match group_number {
        ALL_PROCESSOR_GROUPS | 0 => context::PROCESSOR_COUNT,
        _ => 0,
    }
}

pub(crate) fn reset() {
    freeze::reset();
    *sync::lock(&DISPATCHER) = Some(Dispatcher::default());
    set_watchdog(Duration::from_secs(30));
}
