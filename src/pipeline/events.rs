//! The event pipeline's producer side.
//!
//! Every notify routine fills one [`EventRecord`] and hands it to
//! [`record`], which stamps the header and pushes the record's used bytes
//! (header + payload up to its last non-zero byte) into the current
//! processor's ring ([`crate::pipeline::rings`]), counting it per processor and source.
//!
//! The record's `sequence` is not stamped here: the ring assigns it in the
//! same atomic step as the claim (its rank among the events that processor
//! saw; a gap is a drop), and the drain writes it into the header. So an
//! interrupted push can never appear after a later one of the same
//! processor with a smaller sequence.
//!
//! # IRQL
//! [`record`] runs at any IRQL up to HIGH_LEVEL: below DISPATCH_LEVEL it
//! raises to DISPATCH_LEVEL for the stamp-claim-copy-publish window
//! ([`in_window`]); it touches only the ring, atomics and routines
//! callable at any IRQL (`KeGetCurrentIrql`, `KeGetCurrentProcessorNumberEx`,
//! `PsGetCurrentProcessId/ThreadId`, the clock), never allocates, never
//! locks and never prints.

use kcb_proto::EventRecord;
use wdk_sys::ntddk::{PsGetCurrentProcessId, PsGetCurrentThreadId};

use crate::{
    kernel::clock,
    pipeline::window::{in_window, push_in_window},
};

/// Stamps `record`'s header (time, processor, IRQL, current process and
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
    let source = usize::from(record.header.source);
    let header = &mut record.header;
    header.pid = process_id.unwrap_or_else(|| {
        // SAFETY: callable at any IRQL; reads the current thread's process id.
        (unsafe { PsGetCurrentProcessId() }) as u64
    });
    // SAFETY: as above.
    header.tid = unsafe { PsGetCurrentThreadId() } as u64;
    in_window(|window| {
        let header = &mut record.header;
        header.cpu = window.processor();
        header.irql = window.caller_irql();
        header.sequence = 0;
        header.timestamp = clock::now();
        let used = record.used_len();
        push_in_window(window, source, &record.as_bytes()[..used])
    })
}
