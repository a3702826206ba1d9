//! Event timestamps at any IRQL.
//!
//! `KeQuerySystemTimePrecise` (Windows 8+, any IRQL) is resolved at
//! DriverEntry; where it is missing, an exported `KeQuerySystemTime` is used
//! (x64 Windows has it only as a header macro, Wine exports it); failing both,
//! timestamps are 0 ("unknown") rather than a guess.

use core::{
    ffi::c_void,
    sync::atomic::{AtomicPtr, Ordering},
};

use wdk_sys::LARGE_INTEGER;

use crate::{kernel::system_routine, unicode::StaticUnicode};

type QueryTime = unsafe extern "C" fn(*mut LARGE_INTEGER);

static PRECISE: StaticUnicode<24> = StaticUnicode::new(*b"KeQuerySystemTimePrecise");
static PLAIN: StaticUnicode<17> = StaticUnicode::new(*b"KeQuerySystemTime");

static QUERY_TIME: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

/// Which clock [`now`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockSource {
    /// `KeQuerySystemTimePrecise`.
    Precise,
    /// An exported `KeQuerySystemTime`.
    Plain,
    /// Neither: timestamps are 0.
    None,
}

/// Resolves the clock routine.
///
/// # IRQL
/// PASSIVE_LEVEL (DriverEntry).
pub fn init() -> ClockSource {
    let precise = system_routine(&PRECISE);
    let (routine, source) = if precise.is_null() {
        let plain = system_routine(&PLAIN);
        (plain, if plain.is_null() { ClockSource::None } else { ClockSource::Plain })
    } else {
        (precise, ClockSource::Precise)
    };
    QUERY_TIME.store(routine, Ordering::Release);
    source
}

/// System time in 100-ns units since 1601-01-01 UTC, or 0 if no clock
/// routine exists.
///
/// # IRQL
/// Any.
#[must_use]
pub fn now() -> u64 {
    let routine = QUERY_TIME.load(Ordering::Acquire);
    if routine.is_null() {
        return 0;
    }
    // SAFETY: the pointer was returned by MmGetSystemRoutineAddress for a
    // routine with exactly this signature.
    let query: QueryTime = unsafe { core::mem::transmute::<*mut c_void, QueryTime>(routine) };
    let mut time = LARGE_INTEGER::default();
    // SAFETY: `time` is a writable LARGE_INTEGER; the routine may be called at any IRQL.
    unsafe { query(&raw mut time) };
    // SAFETY: every bit pattern of the union is a valid i64.
    u64::try_from(unsafe { time.QuadPart }).unwrap_or(0)
}
