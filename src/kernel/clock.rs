//! Event timestamps at any IRQL.
//!
//! `KeQuerySystemTimePrecise` (Windows 8+, any IRQL) is resolved at
//! DriverEntry; where it is missing, an exported `KeQuerySystemTime` is used
//! (x64 Windows has it only as a header macro, Wine exports it); failing both,
//! timestamps are 0 ("unknown") rather than a guess.

use wdk_sys::LARGE_INTEGER;

use crate::{dynamic_fn, kernel::dynamic::DynamicRoutine};

/// The prototype of `KeQuerySystemTimePrecise` and `KeQuerySystemTime`, resolved at run time (checked against
/// windows-sys by `tests/windows_sys_conformance.rs`).
pub type QueryTime = unsafe extern "C" fn(*mut LARGE_INTEGER);

static PRECISE: DynamicRoutine = DynamicRoutine::new("KeQuerySystemTimePrecise");
static PLAIN: DynamicRoutine = DynamicRoutine::new("KeQuerySystemTime");

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
    if PRECISE.resolve() {
        PLAIN.clear();
        ClockSource::Precise
    } else if PLAIN.resolve() {
        ClockSource::Plain
    } else {
        ClockSource::None
    }
}

/// System time in 100-ns units since 1601-01-01 UTC, or 0 if no clock
/// routine exists.
///
/// # IRQL
/// Any.
#[must_use]
pub fn now() -> u64 {
    let Some(query) = dynamic_fn!(PRECISE => QueryTime).or_else(|| dynamic_fn!(PLAIN => QueryTime)) else {
        return 0;
    };
    let mut time = LARGE_INTEGER::default();
    // SAFETY: `time` is a writable LARGE_INTEGER; the routine may be called at any IRQL.
    unsafe { query(&raw mut time) };
    // SAFETY: every bit pattern of the union is a valid i64.
    u64::try_from(unsafe { time.QuadPart }).unwrap_or(0)
}
