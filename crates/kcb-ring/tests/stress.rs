//! Multi-threaded host stress tests: several producers push records with
//! unique ids while one consumer pops concurrently. Every id must be popped
//! exactly once or reported dropped, never torn, and each producer's records
//! must come out in the order it pushed them.

#![cfg(not(loom))]
#![allow(clippy::cast_possible_truncation, reason = "test sizes fit in usize")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use kcb_proto::{EventRecord, FloodPayload, flood_checksum};
use kcb_ring::{PushError, Ring, SourceCounters, record};

#[cfg(not(miri))]
const PER_PRODUCER: u64 = 200_000;
#[cfg(miri)]
const PER_PRODUCER: u64 = 300;

const PRODUCERS: u64 = 3;

/// 64-byte record: id, five words derived from it, and a checksum.
#[derive(Clone, Copy, Debug)]
struct Rec {
    id: u64,
    words: [u64; 6],
    sum: u64,
}

fn make(id: u64) -> Rec {
    let mut words = [0u64; 6];
    let mut x = id;
    for w in &mut words {
        x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29) ^ id;
        *w = x;
    }
    let sum = words.iter().fold(id, |a, w| a.rotate_left(7) ^ w);
    Rec { id, words, sum }
}

fn intact(r: &Rec) -> bool {
    let expect = make(r.id);
    r.words == expect.words && r.sum == expect.sum
}

const fn id_of(producer: u64, seq: u64) -> u64 {
    (producer << 32) | seq
}

fn run<const N: usize>(ring: &Arc<Ring<Rec, N>>) {
    let finished = Arc::new(AtomicUsize::new(0));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let ring = Arc::clone(ring);
            let finished = Arc::clone(&finished);
            thread::spawn(move || {
                let mut dropped = vec![false; usize::try_from(PER_PRODUCER).unwrap()];
                let (mut full, mut contended) = (0u64, 0u64);
                for seq in 0..PER_PRODUCER {
                    match ring.push(&make(id_of(p, seq))) {
                        Ok(()) => {}
                        Err(e) => {
                            dropped[usize::try_from(seq).unwrap()] = true;
                            match e {
                                PushError::Full => full += 1,
                                PushError::Contended => contended += 1,
                            }
                        }
                    }
                    if seq.trailing_zeros() >= 10 {
                        thread::yield_now();
                    }
                }
                finished.fetch_add(1, Ordering::Release);
                (dropped, full, contended)
            })
        })
        .collect();

    let consumer = {
        let ring = Arc::clone(ring);
        let finished = Arc::clone(&finished);
        thread::spawn(move || {
            let mut popped = vec![vec![0u8; usize::try_from(PER_PRODUCER).unwrap()]; PRODUCERS as usize];
            let mut last_seq = vec![None::<u64>; PRODUCERS as usize];
            let mut snapshot = [make(0); 8];
            let mut rounds = 0u64;
            loop {
                let done = finished.load(Ordering::Acquire) == PRODUCERS as usize;
                let mut c = ring.consumer().expect("only consumer");
                let mut got_any = false;
                while let Some(r) = c.pop() {
                    got_any = true;
                    assert!(intact(&r), "torn record {r:?}");
                    let (p, seq) = (r.id >> 32, r.id & 0xFFFF_FFFF);
                    let slot = &mut popped[usize::try_from(p).unwrap()][usize::try_from(seq).unwrap()];
                    *slot += 1;
                    assert_eq!(*slot, 1, "duplicate id {:#x}", r.id);
                    let last = &mut last_seq[usize::try_from(p).unwrap()];
                    assert!(last.is_none_or(|l| l < seq), "producer {p} out of order");
                    *last = Some(seq);
                }
                rounds += 1;
                if rounds.trailing_zeros() >= 4 {
                    // concurrent non-consuming snapshot: never torn, per-producer ordered
                    let n = c.snapshot_newest(&mut snapshot);
                    for r in &snapshot[..n] {
                        assert!(intact(r), "torn snapshot record {r:?}");
                    }
                }
                drop(c);
                if done && !got_any {
                    break popped;
                }
                thread::yield_now();
            }
        })
    };

    let mut total_dropped = 0;
    // The consumer returns once every producer has finished and the ring is drained.
    let popped = consumer.join().unwrap();
    for (p, handle) in producers.into_iter().enumerate() {
        let (dropped, full, contended) = handle.join().unwrap();
        let mut drops = 0;
        for seq in 0..usize::try_from(PER_PRODUCER).unwrap() {
            let count = u64::from(popped[p][seq]) + u64::from(dropped[seq]);
            assert_eq!(
                count, 1,
                "producer {p} seq {seq}: popped {} dropped {}",
                popped[p][seq], dropped[seq]
            );
            drops += u64::from(dropped[seq]);
        }
        assert_eq!(drops, full + contended);
        total_dropped += drops;
    }
    assert!(ring.is_empty());
    std::println!(
        "ring N={N}: {} pushes, {total_dropped} dropped",
        PRODUCERS * PER_PRODUCER
    );
}

#[test]
fn stress_roomy_ring() {
    run(&Arc::new(Ring::<Rec, 1024>::new()));
}

#[test]
fn stress_tiny_ring_many_drops() {
    run(&Arc::new(Ring::<Rec, 4>::new()));
}

/// 512-byte `EventRecord`s through `record()` with counters; checks the
/// counters against what the consumer saw.
#[test]
fn stress_event_records_with_counters() {
    const SOURCES: usize = 4;
    let ring = Arc::new(Ring::<EventRecord, 256>::new());
    let counters = Arc::new(SourceCounters::<SOURCES>::new());
    let per = PER_PRODUCER / 4;
    let handles: Vec<_> = (0..2u64)
        .map(|p| {
            let ring = Arc::clone(&ring);
            let counters = Arc::clone(&counters);
            thread::spawn(move || {
                for i in 0..per {
                    let index = (p << 32) | i;
                    let mut rec = EventRecord::with_payload(
                        0,
                        &FloodPayload {
                            index,
                            total: per,
                            checksum: flood_checksum(index, per),
                        },
                    );
                    rec.header.sequence = counters.next_sequence();
                    let _ = record(&ring, &counters, usize::try_from(p).unwrap(), &rec);
                }
            })
        })
        .collect();
    let mut popped = 0u64;
    let mut check = |r: EventRecord| {
        let bytes = r.as_bytes();
        let r = EventRecord::from_bytes(bytes).expect("valid record");
        let f = r.payload::<FloodPayload>().expect("flood payload");
        assert_eq!(f.checksum, flood_checksum(f.index, per), "torn record");
        popped += 1;
    };
    while handles.iter().any(|h| !h.is_finished()) {
        while let Some(r) = ring.pop() {
            check(r);
        }
        thread::yield_now();
    }
    for h in handles {
        h.join().unwrap();
    }
    while let Some(r) = ring.pop() {
        check(r);
    }
    let totals = counters.totals();
    assert_eq!(totals.seen, 2 * per);
    assert_eq!(totals.recorded + totals.dropped, totals.seen);
    assert_eq!(totals.recorded, popped);
    assert_eq!(counters.next_sequence(), 2 * per + 1);
}
