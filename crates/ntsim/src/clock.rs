//! The system clock: host time plus an offset that tests (and the
//! `SetSystemTime` trigger) can change.
//!
//! Times are in 100-ns units since 1601-01-01 UTC (wdm/nf-wdm-kequerysystemtimeprecise).

#![allow(non_snake_case)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use wdk_sys::LARGE_INTEGER;

use crate::ddi;

/// 100-ns intervals between 1601-01-01 and 1970-01-01.
pub const UNIX_EPOCH_AS_FILETIME: i64 = 116_444_736_000_000_000;

static OFFSET: AtomicI64 = AtomicI64::new(0);

fn host_now() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let ticks = i64::try_from(since.as_nanos() / 100).unwrap_or(i64::MAX);
    UNIX_EPOCH_AS_FILETIME.saturating_add(ticks)
}

/// The current system time.
#[must_use]
pub fn system_time() -> i64 {
    host_now().saturating_add(OFFSET.load(Ordering::SeqCst))
}

/// Sets the system time (without notifying anybody; see
/// [`crate::trigger::set_system_time`] for the callback).
pub fn set_system_time(time: i64) {
    OFFSET.store(time - host_now(), Ordering::SeqCst);
}

pub(crate) fn reset() {
    OFFSET.store(0, Ordering::SeqCst);
}

/// `KeQuerySystemTimePrecise` (wdm/nf-wdm-kequerysystemtimeprecise,
/// Windows 8): any IRQL.
///
/// # Safety
/// `current_time` is a writable `LARGE_INTEGER`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeQuerySystemTimePrecise(current_time: *mut LARGE_INTEGER) {
    ddi::enter(&ddi::KE_QUERY_SYSTEM_TIME_PRECISE);
    if current_time.is_null() {
        return;
    }
    // SAFETY: writable per the caller.
    unsafe {
        current_time.write(LARGE_INTEGER {
            QuadPart: system_time(),
        });
    };
}

/// `KeQuerySystemTime`: on x64 Windows a header macro, not an export
/// (wdm/nf-wdm-kequerysystemtime); Wine exports it. It is therefore not a
/// linker symbol here, only an entry that [`crate::exports`] can make
/// `MmGetSystemRoutineAddress` return (hidden by default, as on Windows x64).
///
/// # Safety
/// `current_time` is a writable `LARGE_INTEGER`.
pub unsafe extern "C" fn ke_query_system_time(current_time: *mut LARGE_INTEGER) {
    if current_time.is_null() {
        return;
    }
    // SAFETY: writable per the caller.
    unsafe {
        current_time.write(LARGE_INTEGER {
            QuadPart: system_time(),
        });
    };
}
