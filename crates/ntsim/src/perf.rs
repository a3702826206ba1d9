//! The processor facts a driver sizes and times itself with:
//! `KeQueryPerformanceCounter` (the processor counts are in [`crate::ke`]).
//!
//! The performance counter is the host's monotonic clock in 100-ns ticks
//! (frequency 10 MHz, what current Windows versions report); it never goes
//! back.

#![allow(non_snake_case)]

use std::sync::OnceLock;
use std::time::Instant;

use wdk_sys::{LARGE_INTEGER, PLARGE_INTEGER};

use crate::ddi;

/// Ticks per second of the modeled performance counter.
pub const PERFORMANCE_FREQUENCY: i64 = 10_000_000;

/// The counter's origin (the first query), so values start small.
static ORIGIN: OnceLock<Instant> = OnceLock::new();

/// The counter value now, in ticks of [`PERFORMANCE_FREQUENCY`].
#[must_use]
pub fn performance_counter() -> i64 {
    let elapsed = ORIGIN.get_or_init(Instant::now).elapsed();
    // 1 s = 10^7 ticks of 100 ns; u64 seconds would need 29,000 years to overflow.
    i64::try_from(elapsed.as_nanos() / 100).unwrap_or(i64::MAX)
}

/// `KeQueryPerformanceCounter` (wdm/nf-wdm-kequeryperformancecounter): any
/// IRQL. Returns the counter; writes the frequency (ticks per second) to
/// `performance_frequency` unless it is NULL.
///
/// # Safety
/// `performance_frequency` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeQueryPerformanceCounter(performance_frequency: PLARGE_INTEGER) -> LARGE_INTEGER {
    ddi::enter(&ddi::KE_QUERY_PERFORMANCE_COUNTER);
    if !performance_frequency.is_null() {
        // SAFETY: writable per the caller.
        unsafe {
            performance_frequency.write(LARGE_INTEGER {
                QuadPart: PERFORMANCE_FREQUENCY,
            });
        };
    }
    LARGE_INTEGER {
        QuadPart: performance_counter(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_is_monotonic_with_a_frequency() {
        let mut frequency = LARGE_INTEGER { QuadPart: 0 };
        // SAFETY: a writable LARGE_INTEGER.
        let first = unsafe { KeQueryPerformanceCounter(&raw mut frequency) };
        // SAFETY: plain integer union.
        let first = unsafe { first.QuadPart };
        std::thread::sleep(std::time::Duration::from_millis(2));
        // SAFETY: NULL frequency is allowed.
        let second = unsafe { KeQueryPerformanceCounter(core::ptr::null_mut()) };
        // SAFETY: plain integer union.
        let second = unsafe { second.QuadPart };
        // SAFETY: plain integer union.
        assert_eq!(unsafe { frequency.QuadPart }, PERFORMANCE_FREQUENCY);
        assert!(
            second - first >= 20_000,
            "2 ms is 20,000 ticks: {first} -> {second}"
        );
    }

    #[test]
    fn processor_counts_by_group() {
        use crate::ke::{ALL_PROCESSOR_GROUPS, KeQueryMaximumProcessorCountEx};
        // SAFETY: any IRQL, plain integer arguments.
        let count = |group| unsafe { KeQueryMaximumProcessorCountEx(group) };
        assert_eq!(count(ALL_PROCESSOR_GROUPS), crate::context::PROCESSOR_COUNT);
        assert_eq!(count(0), crate::context::PROCESSOR_COUNT);
        assert_eq!(count(1), 0);
    }
}
