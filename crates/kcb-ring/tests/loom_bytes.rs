//! Loom model checks of [`ByteRing`], the per-processor variable-size ring.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/h-loom \
//!   cargo --config wdk-linux/config.toml test -p kcb-ring --test loom_bytes --release
//! ```
//!
//! The kernel's case is one processor whose pushes are interrupted by
//! nested pushes (an interrupt or NMI between claim and publish, or between
//! the load of the state and the compare-exchange). Loom has no interrupts;
//! a nested push is one whose steps all fall between two steps of the
//! interrupted push, which is one of the interleavings of two concurrent
//! producers. So the models run two producers (the general case, a
//! superset of nesting) plus the consumer, and one model runs an explicitly
//! nested push (inside `push_with`) against a concurrent consumer.

#![cfg(loom)]
#![allow(clippy::needless_collect)]

use loom::sync::Arc;
use loom::thread;

use kcb_ring::{ByteRing, ByteRingError, Word};

mod loom_model;

/// The models of this file bound preemptions at 3 by default (three
/// threads, variable-size records: a larger state space).
fn model(f: impl Fn() + Sync + Send + 'static) {
    loom_model::model(3, f);
}

/// A ring over leaked storage (loom threads need `'static`).
fn ring(words: usize) -> Arc<ByteRing<'static>> {
    let storage: &'static [Word] = Box::leak((0..words).map(|_| Word::new(0)).collect());
    Arc::new(ByteRing::new(storage))
}

/// 16-byte record whose halves must agree (a torn copy is detected).
fn bytes(id: u64) -> [u8; 16] {
    let mut b = [0; 16];
    b[..8].copy_from_slice(&id.to_le_bytes());
    b[8..].copy_from_slice(&(!id).to_le_bytes());
    b
}

fn push(ring: &ByteRing<'_>, id: u64) -> Option<u32> {
    match ring.push(&bytes(id)) {
        Ok(sequence) => Some(sequence),
        Err(ByteRingError::Full) => None,
        Err(e) => panic!("unexpected {e}"),
    }
}

/// Pops what is published now: (sequence, id).
fn pop_some(ring: &ByteRing<'_>, out: &mut Vec<(u64, u64)>) {
    let Some(mut consumer) = ring.consumer() else {
        return;
    };
    let mut buf = [0u8; 16];
    while let Some(result) = consumer.pop(&mut buf) {
        let info = result.expect("16-byte records");
        assert_eq!(info.len, 16);
        let id = u64::from_le_bytes(buf[..8].try_into().unwrap());
        let check = u64::from_le_bytes(buf[8..].try_into().unwrap());
        assert_eq!(check, !id, "torn record");
        out.push((info.sequence, id));
    }
}

fn check_sequences(popped: &[(u64, u64)]) {
    for pair in popped.windows(2) {
        assert!(pair[0].0 < pair[1].0, "sequence out of order: {popped:?}");
    }
}

/// Two producers, one record each, and a consumer racing them on a ring
/// that holds only two records (3 words each, 8 words).
#[test]
fn two_producers_and_a_consumer() {
    model(|| {
        let ring = ring(8);
        let producers: Vec<_> = (0..2u64)
            .map(|p| {
                let ring = Arc::clone(&ring);
                thread::spawn(move || push(&ring, p).map(|s| (u64::from(s), p)))
            })
            .collect();
        let mut popped = Vec::new();
        pop_some(&ring, &mut popped);
        let pushed: Vec<_> = producers.into_iter().filter_map(|h| h.join().unwrap()).collect();
        pop_some(&ring, &mut popped);
        check_sequences(&popped);
        let mut a = pushed.clone();
        let mut b = popped.clone();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(
            a, b,
            "every stored record delivered once, with its claim's sequence"
        );
        assert_eq!(pushed.len(), 2, "two 3-word records fit in 8 words");
    });
}

/// A nested push inside the claim-publish window of another, with the
/// consumer running concurrently: the consumer never sees the inner record
/// before the outer one, never reads a torn record, and sequences follow
/// ring order.
#[test]
fn nested_push_with_concurrent_consumer() {
    model(|| {
        let ring = ring(8);
        let producer = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || {
                ring.push_with(16, |writer| {
                    assert_eq!(push(&ring, 2), Some(2));
                    writer.write(0, &bytes(1));
                })
                .unwrap()
            })
        };
        let mut popped = Vec::new();
        pop_some(&ring, &mut popped);
        assert_eq!(producer.join().unwrap(), 1);
        pop_some(&ring, &mut popped);
        assert_eq!(popped, [(1, 1), (2, 2)]);
    });
}

/// A producer wrapping around while the consumer frees space: records stay
/// whole and in order; a full ring is a drop with a sequence gap.
#[test]
fn wraparound_with_concurrent_consumer() {
    model(|| {
        let ring = ring(4); // one 3-word record at a time
        let producer = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || {
                (1..=2u64)
                    .filter_map(|id| push(&ring, id).map(|s| (u64::from(s), id)))
                    .collect::<Vec<_>>()
            })
        };
        let mut popped = Vec::new();
        pop_some(&ring, &mut popped);
        let pushed = producer.join().unwrap();
        pop_some(&ring, &mut popped);
        assert_eq!(pushed, popped);
        for (sequence, id) in &popped {
            assert_eq!(sequence, id, "sequence = rank among the events seen");
        }
    });
}
