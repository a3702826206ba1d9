//! The event pipeline's producer side.
//!
//! Every notify routine fills one [`EventRecord`] and hands it to
//! [`record`], which stamps the header and pushes it into the lock-free
//! [`RING`], counting it per source.
//!
//! # IRQL
//! [`record`] runs at any IRQL up to HIGH_LEVEL: it touches only the ring,
//! atomics and routines callable at any IRQL (`KeGetCurrentIrql`,
//! `KeGetCurrentProcessorNumberEx`, `PsGetCurrentProcessId/ThreadId`, the
//! clock), never allocates, never locks and never prints.

use core::sync::atomic::Ordering;

use kcb_proto::{EventRecord, SOURCE_COUNT};
use kcb_ring::{Ring, SourceCounters};
use wdk_sys::ntddk::{
    KeGetCurrentIrql, KeGetCurrentProcessorNumberEx, PsGetCurrentProcessId, PsGetCurrentThreadId,
};

use crate::clock;

/// Records the ring holds (512 bytes each: 512 KiB of static, nonpaged
/// memory in the driver image).
pub const RING_CAPACITY: usize = 1024;

/// Records the notify routines produced and the drain has not yet taken.
pub static RING: Ring<EventRecord, RING_CAPACITY> = Ring::new();

/// Records the drain has moved on for the user-mode client (`READ_EVENTS`).
pub static CLIENT_QUEUE: Ring<EventRecord, RING_CAPACITY> = Ring::new();

/// Per-source seen / recorded / dropped counters.
pub static COUNTERS: SourceCounters<SOURCE_COUNT> = SourceCounters::new();

/// Stamps `record`'s header (sequence, time, CPU, IRQL, current process and
/// thread) and pushes it; a full ring counts a drop for its source.
///
/// Returns whether the record was stored.
///
/// # IRQL
/// Any, up to HIGH_LEVEL.
#[allow(clippy::must_use_candidate, reason = "a dropped event is already counted")]
pub fn record(record: EventRecord) -> bool {
    stamp_and_push(record, None)
}

/// As [`record`], but the header's process id is `process_id` (the process
/// the event is about, e.g. the one an image maps into; 0 for the system)
/// rather than the current one.
///
/// # IRQL
/// Any, up to HIGH_LEVEL.
#[allow(clippy::must_use_candidate, reason = "a dropped event is already counted")]
pub fn record_for_process(record: EventRecord, process_id: u64) -> bool {
    stamp_and_push(record, Some(process_id))
}

fn stamp_and_push(mut record: EventRecord, process_id: Option<u64>) -> bool {
    let header = &mut record.header;
    header.sequence = COUNTERS.next_sequence();
    header.timestamp = clock::now();
    // SAFETY: callable at any IRQL; NULL asks for the number only.
    header.cpu = unsafe { KeGetCurrentProcessorNumberEx(core::ptr::null_mut()) };
    // SAFETY: callable at any IRQL.
    header.irql = unsafe { KeGetCurrentIrql() };
    header.pid = process_id.unwrap_or_else(|| {
        // SAFETY: callable at any IRQL; reads the current thread's process id.
        (unsafe { PsGetCurrentProcessId() }) as u64
    });
    // SAFETY: as above.
    header.tid = unsafe { PsGetCurrentThreadId() } as u64;
    let source = usize::from(record.header.source);
    kcb_ring::record(&RING, &COUNTERS, source, &record)
}

/// Moves one event of `source` from "recorded" to "dropped": it reached the
/// ring but could not be delivered (the client queue was full).
///
/// # IRQL
/// Any.
pub fn reclassify_as_dropped(source: u16) {
    if let Some(counter) = COUNTERS.get(usize::from(source)) {
        counter.recorded.fetch_sub(1, Ordering::Relaxed);
        counter.dropped.fetch_add(1, Ordering::Relaxed);
    }
}
