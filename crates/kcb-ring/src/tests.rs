//! Unit tests: full / empty / wraparound / snapshots / the NMI interleaving.

use super::*;
use std::vec::Vec;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rec {
    id: u64,
    check: u64,
}

const fn rec(id: u64) -> Rec {
    Rec { id, check: !id }
}

#[test]
fn empty_ring() {
    let ring: Ring<Rec, 4> = Ring::new();
    assert_eq!(ring.capacity(), 4);
    assert_eq!(ring.len(), 0);
    assert!(ring.is_empty());
    assert_eq!(ring.pop(), None);
    let mut out = [rec(0); 4];
    assert_eq!(ring.snapshot_newest(&mut out), 0);
}

#[test]
fn fill_until_full_then_drain() {
    let ring: Ring<Rec, 4> = Ring::new();
    for i in 0..4 {
        assert_eq!(ring.push(&rec(i)), Ok(()));
        assert_eq!(ring.len(), usize::try_from(i).unwrap() + 1);
    }
    assert_eq!(ring.push(&rec(99)), Err(PushError::Full));
    assert_eq!(ring.len(), 4);
    for i in 0..4 {
        assert_eq!(ring.pop(), Some(rec(i)));
    }
    assert_eq!(ring.pop(), None);
    assert!(ring.is_empty());
}

#[test]
fn wraparound_many_laps() {
    let ring: Ring<Rec, 2> = Ring::new();
    let mut next_pop = 0;
    for i in 0..1000u64 {
        ring.push(&rec(i)).unwrap();
        if i % 2 == 1 {
            assert_eq!(ring.push(&rec(u64::MAX)), Err(PushError::Full));
            for _ in 0..2 {
                assert_eq!(ring.pop(), Some(rec(next_pop)));
                next_pop += 1;
            }
        }
    }
    assert_eq!(next_pop, 1000);
    assert_eq!(ring.pop(), None);
}

#[test]
fn interleaved_push_pop_keeps_fifo() {
    let ring: Ring<Rec, 8> = Ring::new();
    let mut pushed = 0u64;
    let mut popped = 0u64;
    for round in 0..200u64 {
        for _ in 0..(round % 7) {
            if ring.push(&rec(pushed)).is_ok() {
                pushed += 1;
            }
        }
        for _ in 0..(round % 5) {
            if let Some(r) = ring.pop() {
                assert_eq!(r, rec(popped));
                popped += 1;
            }
        }
    }
    while let Some(r) = ring.pop() {
        assert_eq!(r, rec(popped));
        popped += 1;
    }
    assert_eq!(pushed, popped);
}

#[test]
fn single_consumer_enforced() {
    let ring: Ring<Rec, 4> = Ring::new();
    ring.push(&rec(1)).unwrap();
    let mut c = ring.consumer().unwrap();
    assert!(ring.consumer().is_none());
    assert_eq!(ring.pop(), None, "second consumer gets None");
    let mut out = [rec(0); 2];
    assert_eq!(
        ring.snapshot_newest(&mut out),
        0,
        "snapshot needs the consumer role"
    );
    assert_eq!(c.snapshot_newest(&mut out), 1);
    assert_eq!(c.pop(), Some(rec(1)));
    drop(c);
    ring.push(&rec(2)).unwrap();
    assert_eq!(ring.pop(), Some(rec(2)));
    ring.push(&rec(3)).unwrap();
    ring.push(&rec(4)).unwrap();
    assert_eq!(ring.consumer().unwrap().collect::<Vec<_>>(), [rec(3), rec(4)]);
}

#[test]
fn snapshot_newest_copies_latest_without_consuming() {
    let ring: Ring<Rec, 8> = Ring::new();
    for i in 0..6 {
        ring.push(&rec(i)).unwrap();
    }
    let _ = ring.pop();
    let mut out = [rec(0); 3];
    assert_eq!(ring.snapshot_newest(&mut out), 3);
    assert_eq!(out, [rec(3), rec(4), rec(5)]);
    let mut big = [rec(0); 16];
    assert_eq!(ring.snapshot_newest(&mut big), 5);
    assert_eq!(big[..5], [rec(1), rec(2), rec(3), rec(4), rec(5)]);
    assert_eq!(ring.len(), 5, "snapshot does not consume");
    assert_eq!(ring.snapshot_newest(&mut []), 0);
    // wrapped ring
    for _ in 0..5 {
        let _ = ring.pop();
    }
    for i in 10..18 {
        ring.push(&rec(i)).unwrap();
    }
    assert_eq!(ring.snapshot_newest(&mut out), 3);
    assert_eq!(out, [rec(15), rec(16), rec(17)]);
    // SAFETY: no consumer is active on any thread.
    let n = unsafe { ring.snapshot_newest_unsynchronized(&mut big) };
    assert_eq!(n, 8);
    assert_eq!(big[0], rec(10));
    assert_eq!(big[7], rec(17));
}

/// A producer claims a slot and is "interrupted" (by an NMI) before it
/// publishes; the NMI handler pushes. Exercises the real claim/publish code.
#[test]
fn nmi_interrupting_a_producer() {
    let ring: Ring<Rec, 4> = Ring::new();
    ring.push(&rec(0)).unwrap();
    // Interrupted producer: claimed position 1, not yet published.
    let (slot, lap) = ring.claim().unwrap();
    // The NMI producer claims a different slot and completes.
    ring.push(&rec(2)).unwrap();
    ring.push(&rec(3)).unwrap();
    // The ring is now full (4 claimed), so a further NMI push drops.
    assert_eq!(ring.push(&rec(4)), Err(PushError::Full));
    assert_eq!(ring.len(), 4);
    // The consumer gets the record before the gap, then waits at the gap.
    let mut c = ring.consumer().unwrap();
    assert_eq!(c.pop(), Some(rec(0)));
    assert_eq!(c.pop(), None, "head-of-line wait at the unpublished slot");
    assert_eq!(c.pop(), None);
    // Snapshot skips the unpublished slot and never reads it.
    let mut out = [rec(0); 4];
    assert_eq!(c.snapshot_newest(&mut out), 2);
    assert_eq!(out[..2], [rec(2), rec(3)]);
    // With a slot freed, the wrapped-around NMI push lands after the gap
    // (position 4, slot 0), not in the interrupted producer's slot.
    ring.push(&rec(5)).unwrap();
    assert_eq!(ring.push(&rec(6)), Err(PushError::Full));
    // The interrupted producer resumes and publishes.
    Ring::<Rec, 4>::publish(slot, lap, &rec(1));
    assert_eq!(c.pop(), Some(rec(1)));
    assert_eq!(c.pop(), Some(rec(2)));
    assert_eq!(c.pop(), Some(rec(3)));
    assert_eq!(c.pop(), Some(rec(5)));
    assert_eq!(c.pop(), None);
}

/// The interrupted producer had read `tail` but not yet CAS'd when the NMI
/// pushed: its CAS fails and it retries on the next position.
#[test]
fn stale_tail_retries() {
    let ring: Ring<Rec, 4> = Ring::new();
    // Position 0 claimed and published by someone else after we "read" tail
    // = 0: our claim path must move on to position 1 rather than fail.
    ring.push(&rec(0)).unwrap();
    let (slot, lap) = ring.claim().unwrap();
    Ring::<Rec, 4>::publish(slot, lap, &rec(1));
    assert_eq!(ring.pop(), Some(rec(0)));
    assert_eq!(ring.pop(), Some(rec(1)));
}

#[test]
fn counters_and_record() {
    let ring: Ring<Rec, 2> = Ring::new();
    let counters: SourceCounters<3> = SourceCounters::new();
    assert_eq!(counters.next_sequence(), 1);
    assert_eq!(counters.next_sequence(), 2);
    assert!(record(&ring, &counters, 1, &rec(1)));
    assert!(record(&ring, &counters, 1, &rec(2)));
    assert!(!record(&ring, &counters, 1, &rec(3)));
    assert!(!record(&ring, &counters, 2, &rec(4)));
    assert!(!record(&ring, &counters, 3, &rec(5)), "out of range index");
    let snap = counters.snapshot();
    assert_eq!(snap[0], CounterSnapshot::default());
    assert_eq!(
        snap[1],
        CounterSnapshot {
            seen: 3,
            recorded: 2,
            dropped: 1
        }
    );
    assert_eq!(
        snap[2],
        CounterSnapshot {
            seen: 1,
            recorded: 0,
            dropped: 1
        }
    );
    assert_eq!(
        counters.totals(),
        CounterSnapshot {
            seen: 4,
            recorded: 2,
            dropped: 2
        }
    );
    assert_eq!(counters.get(1).unwrap().snapshot().seen, 3);
    assert!(counters.get(3).is_none());
}

static STATIC_RING: Ring<Rec, 16> = Ring::new();
static STATIC_COUNTERS: SourceCounters<4> = SourceCounters::new();

#[test]
fn usable_as_static() {
    assert!(record(&STATIC_RING, &STATIC_COUNTERS, 0, &rec(7)));
    assert_eq!(STATIC_RING.pop(), Some(rec(7)));
    assert!(std::format!("{STATIC_RING:?}").contains("capacity: 16"));
}

#[test]
fn event_records() {
    use kcb_proto::{EventRecord, FloodPayload, SourceId, flood_checksum};
    let ring: Ring<EventRecord, 4> = Ring::new();
    for i in 0..4 {
        let rec = EventRecord::with_payload(
            0,
            &FloodPayload {
                index: i,
                total: 4,
                checksum: flood_checksum(i, 4),
            },
        );
        ring.push(&rec).unwrap();
    }
    for i in 0..4 {
        let r = ring.pop().unwrap();
        assert_eq!(r.source(), Some(SourceId::Flood));
        let p = r.payload::<FloodPayload>().unwrap();
        assert_eq!((p.index, p.checksum), (i, flood_checksum(i, 4)));
    }
}
