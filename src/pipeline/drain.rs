//! The drain pass: empties the per-processor rings at PASSIVE_LEVEL,
//! prints each event with `DbgPrintEx` (rate-limited) and moves it on to the
//! user-mode client's queue.
//!
//! Formatting and printing happen here, never in a notify routine. The
//! system thread that runs [`drain_once`] every [`TICK_MS`] ms is a
//! registration ([`crate::registrations::drain_thread`]); this file is the
//! pass itself, which DriverUnload also runs once more.

use core::{
    fmt::Write,
    sync::atomic::{AtomicU64, Ordering},
};

use kcb_proto::{EventRecord, RECORD_SIZE, write_text};

use crate::{
    kernel::log::{self, LineBuffer},
    pipeline::{
        crash,
        rings::{self, RingSet},
    },
};

/// Wake-up period of the drain thread.
pub const TICK_MS: i64 = 100;

/// Debug lines printed per tick at most; the rest is counted and reported
/// as "N lines suppressed" (DbgPrint is slow and DbgView drops floods).
pub const LINES_PER_TICK: u32 = 32;

/// Lines not printed because of the rate limit, in total.
pub static SUPPRESSED_LINES: AtomicU64 = AtomicU64::new(0);

/// Records the drain moves per tick at most (bounded work; the rest waits
/// for the next tick, which starts at once when this one hit the bound).
pub const RECORDS_PER_TICK: usize = 4096;

/// Byte offset of the header's timestamp in a record.
const TIMESTAMP_OFFSET: usize = core::mem::offset_of!(kcb_proto::EventHeader, timestamp);

/// The head record of processor ring `index`, if published: (timestamp, index).
fn head_timestamp(set: &RingSet, index: usize) -> Option<u64> {
    let consumer = set.per_processor()[index].ring.consumer()?;
    let head = consumer.peek()?;
    let mut stamp = [0_u8; 8];
    (consumer.read(&head, TIMESTAMP_OFFSET, &mut stamp) == 8).then(|| u64::from_le_bytes(stamp))
}

/// Moves up to [`RECORDS_PER_TICK`] records from the per-processor rings
/// to the client queue; returns whether the bound stopped it.
///
/// Oldest timestamp first across processors (within one processor, ring
/// order), printing at most [`LINES_PER_TICK`] of them.
///
/// Each record is copied into the client queue *before* it leaves its
/// processor ring, so a crash dump taken at any point finds it in one of
/// them (briefly in both: the dump readers drop the duplicate).
///
/// # IRQL
/// PASSIVE_LEVEL (prints).
pub fn drain_once() -> bool {
    let Some(set) = rings::get() else {
        return false;
    };
    let mut printed = 0;
    let mut suppressed = 0_u64;
    // The newest records of this pass, for the bug-check summary.
    let mut recent = [EventRecord::ZERO; crash::SUMMARY_EVENTS];
    let mut taken = 0_usize;
    let processors = set.per_processor().len();
    while taken < RECORDS_PER_TICK {
        let oldest = (0..processors)
            .filter_map(|index| head_timestamp(set, index).map(|stamp| (stamp, index)))
            .min();
        let Some((_, index)) = oldest else {
            break;
        };
        let Some(record) = move_one(set, index) else {
            break;
        };
        crate::etw::write(&record);
        recent[taken % recent.len()] = record;
        taken += 1;
        if printed < LINES_PER_TICK {
            let mut line = LineBuffer::new();
            let _ = line.write_str("kcallbacks: event ");
            let _ = write_text(&record, &mut line);
            log::emit(&mut line);
            printed += 1;
        } else {
            suppressed += 1;
        }
    }
    if suppressed > 0 {
        SUPPRESSED_LINES.fetch_add(suppressed, Ordering::Relaxed);
        crate::kprintln!("{suppressed} lines suppressed");
    }
    // Keep the bug-check summary recent: Windows runs the bug-check
    // callback after the dump is written.
    let n = taken.min(recent.len());
    recent.rotate_left(taken % crash::SUMMARY_EVENTS);
    // SAFETY: the drain (thread, or DriverUnload after it stopped) is the only
    // writer outside a bug check, and never runs during one.
    unsafe { crash::refresh_summary(false, &recent[recent.len() - n..]) };
    taken == RECORDS_PER_TICK
}

/// Copies the head record of ring `index` into the client queue (its
/// sequence written into the header), then consumes it; a full client
/// queue turns it from recorded into dropped.
fn move_one(set: &RingSet, index: usize) -> Option<EventRecord> {
    let ring = &set.per_processor()[index];
    let mut consumer = ring.ring.consumer()?;
    let head = consumer.peek()?;
    let mut bytes = [0_u8; RECORD_SIZE];
    let len = consumer.read(&head, 0, &mut bytes);
    let mut record = EventRecord::from_prefix(&bytes[..len]);
    record.header.sequence = head.sequence;
    let used = record.used_len();
    if set.client().push(&record.as_bytes()[..used]).is_err() {
        // The client has not read for a while: the record was recorded but
        // cannot be delivered; count it as dropped so nothing is lost
        // silently.
        #[allow(clippy::cast_possible_truncation, reason = "processor indexes are u32")]
        rings::reclassify_as_dropped(index as u32, usize::from(record.header.source));
    }
    consumer.consume(&head);
    Some(record)
}
