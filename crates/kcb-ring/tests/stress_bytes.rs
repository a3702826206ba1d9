//! Multi-threaded stress of [`ByteRing`]: producers push variable-size
//! records with unique ids (three producers on one ring: stronger than the
//! kernel's one-processor nesting), one consumer pops concurrently. Every
//! record comes out whole, exactly once, in its producer's order, with
//! strictly increasing sequences; every push that failed left a gap.

#![cfg(not(loom))]
#![allow(clippy::cast_possible_truncation, reason = "test sizes")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use kcb_ring::{ByteRing, ByteRingError, Word};

#[cfg(not(miri))]
const PER_PRODUCER: u64 = 100_000;
#[cfg(miri)]
const PER_PRODUCER: u64 = 200;
const PRODUCERS: u64 = 3;

fn record(id: u64) -> Vec<u8> {
    let len = 8 + (id % 61) as usize * 7;
    let mut bytes = id.to_le_bytes().to_vec();
    bytes.extend((8..len).map(|i| (id as u8).wrapping_mul(17).wrapping_add(i as u8)));
    bytes
}

#[test]
fn producers_and_consumer_lose_and_tear_nothing() {
    let storage: Vec<Word> = (0..512).map(|_| Word::new(0)).collect();
    let ring = ByteRing::new(&storage);
    let finished = AtomicUsize::new(0);
    let (delivered, failed) = thread::scope(|s| {
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let ring = &ring;
                let finished = &finished;
                s.spawn(move || {
                    let mut failed = 0u64;
                    for n in 0..PER_PRODUCER {
                        let id = (p << 32) | n;
                        match ring.push(&record(id)) {
                            Ok(_) => {}
                            Err(ByteRingError::Full | ByteRingError::Contended) => failed += 1,
                            Err(ByteRingError::TooLarge) => panic!("records fit"),
                        }
                    }
                    finished.fetch_add(1, Ordering::Release);
                    failed
                })
            })
            .collect();
        let mut delivered = Vec::new();
        let mut buf = vec![0u8; 1024];
        let mut consumer = ring.consumer().unwrap();
        loop {
            let done = finished.load(Ordering::Acquire) == PRODUCERS as usize;
            while let Some(result) = consumer.pop(&mut buf) {
                let info = result.unwrap();
                let id = u64::from_le_bytes(buf[..8].try_into().unwrap());
                assert_eq!(&buf[..info.len], record(id).as_slice(), "torn record {id:#x}");
                delivered.push((info.sequence, id));
            }
            if done {
                break;
            }
            thread::yield_now();
        }
        let failed: u64 = producers.into_iter().map(|h| h.join().unwrap()).sum();
        (delivered, failed)
    });
    // Exactly once, and every event accounted for.
    assert_eq!(delivered.len() as u64 + failed, PRODUCERS * PER_PRODUCER);
    // Sequences strictly increase; their gaps are exactly the failed pushes.
    for pair in delivered.windows(2) {
        assert!(pair[0].0 < pair[1].0);
    }
    let last = delivered.last().map_or(0, |d| d.0);
    let trailing = PRODUCERS * PER_PRODUCER - last;
    let gaps: u64 = delivered.windows(2).map(|w| w[1].0 - w[0].0 - 1).sum::<u64>()
        + delivered.first().map_or(0, |d| d.0 - 1)
        + trailing;
    assert_eq!(gaps, failed);
    // Per producer FIFO.
    for p in 0..PRODUCERS {
        let mine: Vec<u64> = delivered.iter().map(|d| d.1).filter(|id| id >> 32 == p).collect();
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "producer {p} out of order");
    }
    assert!(ring.is_empty());
}
