//! What survives a crash.
//!
//! The bug-check summary (double-buffered counters
//! and newest events, refreshed by the drain and at bug check) and the
//! flight recorder (the newest records as wire records, handed to the
//! system as secondary dump data).
//!
//! The buffers and their filling live here, in the pipeline, because the
//! drain refreshes the summary; the two bug-check registrations
//! ([`crate::registrations::ke`]) only hand these buffers to the kernel.
//! Everything here runs without a lock or an allocation: at HIGH_LEVEL once
//! the other processors are frozen.

use core::{
    ffi::c_void,
    ptr,
    sync::atomic::{AtomicU64, Ordering},
};

use kcb_proto::{
    EventRecord, RECORD_SIZE,
    flight::{FLIGHT_GUID, FLIGHT_HEADER_SIZE, FlightHeader, flight_header, records_within},
};
use wdk_sys::{GUID, KBUGCHECK_SECONDARY_DUMP_DATA};

use crate::{
    VERSION,
    kernel::cell::KernelCell,
    pipeline::{held, rings},
};

/// Newest events in each half of the bug-check summary.
pub const SUMMARY_EVENTS: usize = (4096 - 128) / RECORD_SIZE;

/// One complete summary: counters and the newest events.
#[repr(C, align(8))]
pub struct SummaryHalf {
    /// Refreshes so far (the half with the larger one is the newer).
    generation: u64,
    total_seen: u64,
    total_recorded: u64,
    total_dropped: u64,
    bugcheck_count: u64,
    event_count: u64,
    reserved: [u8; 16],
    events: [EventRecord; SUMMARY_EVENTS],
}

/// The bug-check summary: `KCBSUM02`, version, the complete half's index,
/// then two halves.
///
/// The bug-check callback writes it, and the drain refreshes it so a dump
/// written before the callback runs still holds a recent one. Double-buffered (issue #12 item 9): a writer fills the half that
/// is *not* active and then flips `active` with one store, so a dump taken
/// at any instant holds one consistent snapshot, the active half.
#[repr(C, align(8))]
pub struct Summary {
    magic: [u8; 8],
    version: [u8; 16],
    /// 0 or 1: the half that is complete.
    active: AtomicU64,
    reserved: [u8; 32],
    halves: [SummaryHalf; 2],
}

/// Size of the bug-check summary buffer.
pub const SUMMARY_SIZE: usize = size_of::<Summary>();
const _: () = assert!(SUMMARY_SIZE <= 8192);
#[allow(clippy::cast_possible_truncation, reason = "asserted <= 8192")]
/// [`SUMMARY_SIZE`] as the `ULONG` `KeRegisterBugCheckCallback` takes.
pub const SUMMARY_LEN: u32 = SUMMARY_SIZE as u32;

const EMPTY_HALF: SummaryHalf = SummaryHalf {
    generation: 0,
    total_seen: 0,
    total_recorded: 0,
    total_dropped: 0,
    bugcheck_count: 0,
    event_count: 0,
    reserved: [0; 16],
    events: [EventRecord::ZERO; SUMMARY_EVENTS],
};

/// Zero-initialised (no room in the image file); the first refresh, at
/// registration, writes the magic. Protocol: written only by
/// [`refresh_summary`], whose callers never overlap (see there); read by
/// the kernel's dump writer and by [`summary_event_count`].
static SUMMARY: KernelCell<Summary> = KernelCell::new(Summary {
    magic: [0; 8],
    version: [0; 16],
    active: AtomicU64::new(0),
    reserved: [0; 32],
    halves: [EMPTY_HALF, EMPTY_HALF],
});

/// Fills the inactive half of the summary from the counters and the
/// events, then makes it the active one (no lock, no allocation: safe at
/// HIGH_LEVEL once other processors are frozen).
///
/// # Safety
/// No other writer of the summary runs concurrently (the drain thread and
/// the bug-check callback never overlap: at bug check the other processors
/// are frozen for good, and a drain frozen in mid-write only ever wrote the
/// inactive half; the drain is the only writer otherwise).
///
/// # IRQL
/// Any, up to HIGH_LEVEL (no lock, no allocation).
pub unsafe fn refresh_summary(at_bugcheck: bool, drained: &[EventRecord]) {
    let summary = SUMMARY.get();
    // SAFETY: exclusive writer (caller's contract); `active` is atomic.
    let current = usize::from(unsafe { (*summary).active.load(Ordering::Acquire) } & 1 == 1);
    let next = current ^ 1;
    // SAFETY: exclusive writer; the inactive half is not what a dump shows.
    let (previous, half) = unsafe {
        let halves = &mut (*summary).halves;
        let (a, b) = halves.split_at_mut(1);
        if next == 1 {
            (&a[0], &mut b[0])
        } else {
            (&b[0], &mut a[0])
        }
    };
    // SAFETY: exclusive writer.
    let header = unsafe { &mut *summary };
    header.magic = *b"KCBSUM02";
    let version = VERSION.as_bytes();
    let n = version.len().min(header.version.len());
    header.version[..n].copy_from_slice(&version[..n]);
    half.generation = previous.generation.wrapping_add(1);
    let totals = rings::totals();
    half.total_seen = totals.seen;
    half.total_recorded = totals.recorded;
    half.total_dropped = totals.dropped;
    half.bugcheck_count = previous.bugcheck_count + u64::from(at_bugcheck);
    half.events = previous.events;
    half.event_count = previous.event_count;
    if at_bugcheck {
        // SAFETY: at bug check the consumers of every ring are frozen for
        // good (other processors stopped) or interrupted on this one.
        let copied = unsafe { held::newest_held(&mut half.events) };
        if copied > 0 {
            half.event_count = copied as u64;
        }
        // Else keep the history the drain left: it is the newest there is.
    } else {
        // The drain's newest records join the history (oldest first).
        let keep = drained.len().min(SUMMARY_EVENTS);
        if keep > 0 {
            half.events.copy_within(keep.., 0);
            half.events[SUMMARY_EVENTS - keep..].copy_from_slice(&drained[drained.len() - keep..]);
            #[allow(clippy::cast_possible_truncation, reason = "at most SUMMARY_EVENTS")]
            let held = half.event_count as usize;
            half.event_count = (held + keep).min(SUMMARY_EVENTS) as u64;
        }
    }
    // Publish: the half is complete before it becomes the active one.
    header.active.store(next as u64, Ordering::Release);
}

/// The active half of the summary (what a dump shows).
///
/// # Safety
/// No writer runs concurrently.
unsafe fn active_half() -> &'static SummaryHalf {
    // SAFETY: the caller's contract (no writer runs); a static.
    let summary = unsafe { &*SUMMARY.get() };
    &summary.halves[usize::from(summary.active.load(Ordering::Acquire) & 1 == 1)]
}

/// The summary buffer, as `KeRegisterBugCheckCallback` takes it.
///
/// # IRQL
/// Any.
#[must_use]
pub fn summary_buffer() -> *mut c_void {
    SUMMARY.get().cast()
}

/// How many events the active half of the summary holds.
///
/// # Safety
/// No writer runs concurrently.
///
/// # IRQL
/// Any.
#[must_use]
pub unsafe fn summary_event_count() -> u64 {
    // SAFETY: the caller's contract.
    unsafe { active_half() }.event_count
}

// -------------------------------------------------------- flight recorder

/// Records in the flight recorder at most.
pub const FLIGHT_RECORDS: usize = 120;

/// The flight recorder's blob: header + newest records, resident. The
/// records are gathered as 512-byte images, then re-encoded in place as
/// wire records (format v2, [`kcb_proto::stream`]).
#[repr(C, align(8))]
struct FlightBlob {
    header: FlightHeader,
    records: [EventRecord; FLIGHT_RECORDS],
}

/// Zero-initialised (so it takes no room in the image file: it lands in
/// the zero-fill part of `.data`); the header is written with each data
/// request, before the system reads the blob. Protocol: written only by
/// [`answer_secondary_dump`] at bug check (one processor, the others
/// frozen); read by the system's dump writer after that returns.
static FLIGHT: KernelCell<FlightBlob> = KernelCell::new(FlightBlob {
    // SAFETY: all-zero bytes are a valid `FlightHeader` (plain integers).
    header: unsafe { core::mem::zeroed() },
    records: [EventRecord::ZERO; FLIGHT_RECORDS],
});

/// Answers a `KbCallbackSecondaryDumpData` request.
///
/// (kernel/writing-a-bug-check-callback-routine.) Size query (`OutBuffer ==
/// NULL`): points `OutBuffer` at the resident blob and sets its length, at
/// most `MaximumAllowed`. Data request: fills the blob with the newest
/// records that fit in `MaximumAllowed`. Returns whether data was written.
///
/// # Safety
/// At bug check: no other writer of the blob and no ring consumer runs.
///
/// # IRQL
/// HIGH_LEVEL.
pub unsafe fn answer_secondary_dump(dump: &mut KBUGCHECK_SECONDARY_DUMP_DATA) -> bool {
    if (dump.MaximumAllowed as usize) < FLIGHT_HEADER_SIZE {
        // Not even the header fits: provide nothing (OutBuffer stays as the
        // system set it, length 0).
        dump.OutBufferLength = 0;
        return false;
    }
    let count = records_within(dump.MaximumAllowed as usize).min(FLIGHT_RECORDS);
    let bytes = kcb_proto::flight::flight_size(count);
    let blob = FLIGHT.get();
    if dump.OutBuffer.is_null() {
        // Size query.
        dump.OutBuffer = blob.cast();
        dump.OutBufferLength = u32::try_from(bytes).unwrap_or(0);
        dump.Guid = flight_guid();
        return false;
    }
    // Data request: fill our blob (the OutBuffer we gave) with the newest records.
    // SAFETY: the caller's contract: the only writer of the blob.
    let blob = unsafe { &mut *blob };
    // SAFETY: the caller's contract: no ring consumer runs.
    let copied = unsafe { held::newest_held(&mut blob.records[..count]) };
    // Wire format v2: the records at their real size, back to back, in
    // place (no second buffer at HIGH_LEVEL).
    let length = kcb_proto::stream::compact_in_place(&mut blob.records[..copied]);
    blob.header = flight_header(
        u32::try_from(copied).unwrap_or(0),
        u32::try_from(length).unwrap_or(0),
    );
    dump.OutBuffer = ptr::from_mut(blob).cast();
    dump.OutBufferLength = u32::try_from(FLIGHT_HEADER_SIZE + length).unwrap_or(0);
    dump.Guid = flight_guid();
    true
}

const fn flight_guid() -> GUID {
    let b = FLIGHT_GUID;
    GUID {
        Data1: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        Data2: u16::from_le_bytes([b[4], b[5]]),
        Data3: u16::from_le_bytes([b[6], b[7]]),
        Data4: [b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]],
    }
}
