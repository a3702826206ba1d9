//! The newest events the driver still holds, for the crash-dump paths (the
//! bug-check summary and the flight recorder).
//!
//! Records live in the per-processor rings until the drain has copied them
//! into the client queue, and in the client queue until `READ_EVENTS` takes
//! them. The drain copies first and consumes after, so a bug check at any
//! point finds every record in at least one of them; the one record that
//! may be in both (copied, not yet consumed) is the client queue's newest
//! and is taken once.

use kcb_proto::{EventRecord, RECORD_SIZE};

use crate::pipeline::rings::{self, RingSet};

/// Most records [`newest_held`] returns.
pub const MAX_HELD: usize = 128;

/// Calls `visit` for every record held: the client queue's (oldest first),
/// then each processor ring's, skipping the client queue's newest record
/// in its processor ring.
///
/// # Safety
/// No consumer of any ring runs concurrently (bug check: other processors
/// frozen, or interrupted on this one).
unsafe fn visit_held(set: &RingSet, mut visit: impl FnMut(&EventRecord)) {
    let mut bytes = [0_u8; RECORD_SIZE];
    let mut newest_client: Option<(u32, u64)> = None;
    // SAFETY: the caller's contract.
    unsafe {
        set.client().visit_unsynchronized(|view| {
            bytes.fill(0);
            let n = view.read(0, &mut bytes);
            let record = EventRecord::from_prefix(&bytes[..n]);
            newest_client = Some((record.header.cpu, record.header.sequence));
            visit(&record);
        });
    }
    for (index, ring) in set.per_processor().iter().enumerate() {
        // SAFETY: the caller's contract.
        unsafe {
            ring.ring.visit_unsynchronized(|view| {
                let info = view.info();
                #[allow(clippy::cast_possible_truncation, reason = "processor indexes are u32")]
                if newest_client == Some((index as u32, info.sequence)) {
                    return;
                }
                bytes.fill(0);
                let n = view.read(0, &mut bytes);
                let mut record = EventRecord::from_prefix(&bytes[..n]);
                record.header.sequence = info.sequence;
                visit(&record);
            });
        }
    }
}

/// Copies the newest (by timestamp) records the driver holds into `out`,
/// oldest first; returns how many (at most `out.len()` and [`MAX_HELD`]).
/// No allocation, no lock: usable at HIGH_LEVEL.
///
/// # Safety
/// No consumer of any ring runs concurrently (bug check: other processors
/// frozen for good, or interrupted on this one).
///
/// # IRQL
/// Any, up to HIGH_LEVEL.
pub unsafe fn newest_held(out: &mut [EventRecord]) -> usize {
    let Some(set) = rings::get() else {
        return 0;
    };
    let want = out.len().min(MAX_HELD);
    if want == 0 {
        return 0;
    }
    // Pass 1: the `want` largest timestamps.
    let mut top = [0_u64; MAX_HELD];
    let mut held = 0_usize;
    // SAFETY: the caller's contract.
    unsafe {
        visit_held(set, |record| {
            let stamp = record.header.timestamp;
            if held < want {
                top[held] = stamp;
                held += 1;
            } else if let Some((at, smallest)) = top[..want].iter().enumerate().min_by_key(|(_, s)| **s)
                && stamp > *smallest
            {
                top[at] = stamp;
            }
        });
    }
    let threshold = if held < want {
        0
    } else {
        top[..want].iter().copied().min().unwrap_or(0)
    };
    // Pass 2: copy those records: every one newer than the threshold, and
    // as many at the threshold as the top list holds (the first ones).
    let mut ties = top[..held].iter().filter(|s| **s == threshold).count();
    let mut copied = 0_usize;
    // SAFETY: the caller's contract.
    unsafe {
        visit_held(set, |record| {
            let stamp = record.header.timestamp;
            let take = stamp > threshold || (stamp == threshold && ties > 0);
            if take && copied < want {
                if stamp == threshold {
                    ties -= 1;
                }
                out[copied] = *record;
                copied += 1;
            }
        });
    }
    // Oldest first (insertion sort: at most MAX_HELD records).
    let key = |r: &EventRecord| (r.header.timestamp, r.header.cpu, r.header.sequence);
    for i in 1..copied {
        let mut j = i;
        while j > 0 && key(&out[j - 1]) > key(&out[j]) {
            out.swap(j - 1, j);
            j -= 1;
        }
    }
    copied
}
