//! Loom model checks of the ring protocol.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/h-loom \
//!   cargo --config wdk-linux/config.toml test -p kcb-ring --test loom --release
//! ```
//!
//! Each model bounds preemptions (default 5, override with the
//! `LOOM_MAX_PREEMPTIONS` environment variable).

#![cfg(loom)]
// The spawned producers must start before the consumer runs: collecting the
// join handles eagerly is intended.
#![allow(clippy::needless_collect)]

use loom::sync::Arc;
use loom::thread;

use kcb_ring::{PushError, Ring};

mod loom_model;

/// A record whose halves must agree: a torn copy would be detected (and
/// loom reports any unsynchronized access to a slot anyway).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rec {
    id: u64,
    check: u64,
}

const fn rec(id: u64) -> Rec {
    Rec { id, check: !id }
}

/// The models of this file bound preemptions at 5 by default.
fn model(f: impl Fn() + Sync + Send + 'static) {
    loom_model::model(5, f);
}

/// Spawns a producer pushing `ids` in order; it returns those that went in.
fn spawn_producer<const N: usize>(ring: &Arc<Ring<Rec, N>>, ids: Vec<u64>) -> thread::JoinHandle<Vec<u64>> {
    let ring = Arc::clone(ring);
    thread::spawn(move || produce(&ring, &ids))
}

/// Spawns one producer per entry of `ids`.
fn spawn_producers<const N: usize>(
    ring: &Arc<Ring<Rec, N>>,
    ids: Vec<Vec<u64>>,
) -> Vec<thread::JoinHandle<Vec<u64>>> {
    ids.into_iter().map(|ids| spawn_producer(ring, ids)).collect()
}

/// Pushes `ids` in order, returning those that went in.
fn produce<const N: usize>(ring: &Ring<Rec, N>, ids: &[u64]) -> Vec<u64> {
    let mut ok = Vec::new();
    for &id in ids {
        match ring.push(&rec(id)) {
            Ok(()) => ok.push(id),
            Err(PushError::Full) => {}
            Err(PushError::Contended) => panic!("contention bound reached with 2 producers"),
        }
    }
    ok
}

/// Checks the popped records against the pushed ids: nothing lost,
/// duplicated or torn, per-producer FIFO order.
fn verify(pushed: &[Vec<u64>], popped: &[Rec]) {
    for r in popped {
        assert_eq!(r.check, !r.id, "torn record {r:?}");
    }
    let mut all: Vec<u64> = popped.iter().map(|r| r.id).collect();
    for (p, ids) in pushed.iter().enumerate() {
        let mine: Vec<u64> = all.iter().copied().filter(|id| id / 10 == p as u64).collect();
        assert_eq!(&mine, ids, "producer {p}: popped {mine:?}, pushed {ids:?}");
    }
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "duplicate record");
}

/// Two producers and a concurrent consumer on a 2-slot ring.
#[test]
fn two_producers_one_consumer() {
    model(|| {
        let ring = Arc::new(Ring::<Rec, 2>::new());
        let producers = spawn_producers(&ring, vec![vec![0, 1], vec![10, 11]]);
        let mut popped = Vec::new();
        for _ in 0..2 {
            if let Some(r) = ring.pop() {
                popped.push(r);
            }
        }
        let pushed: Vec<Vec<u64>> = producers.into_iter().map(|h| h.join().unwrap()).collect();
        while let Some(r) = ring.pop() {
            popped.push(r);
        }
        verify(&pushed, &popped);
        // Without consumption during pushes at most 2 fit; with it all 4 may.
        let total: usize = pushed.iter().map(Vec::len).sum();
        assert!(total >= 2, "a 2-slot ring must accept at least 2 of 4 pushes");
        assert_eq!(total, popped.len());
    });
}

/// Without a consumer, exactly `N` of the pushes succeed and the rest report
/// `Full` (drops are reported, never lost silently).
#[test]
fn full_ring_reports_drops() {
    model(|| {
        let ring = Arc::new(Ring::<Rec, 2>::new());
        let other = spawn_producer(&ring, vec![10, 11]);
        let mine = produce(&ring, &[0, 1]);
        let theirs = other.join().unwrap();
        assert_eq!(mine.len() + theirs.len(), 2);
        let mut popped = Vec::new();
        while let Some(r) = ring.pop() {
            popped.push(r);
        }
        verify(&[mine, theirs], &popped);
        assert_eq!(popped.len(), 2);
    });
}

/// A consumer racing a producer on a 2-slot ring across a wrap-around:
/// the consumer never reads an unpublished slot.
#[test]
fn wraparound_with_concurrent_consumer() {
    model(|| {
        let ring = Arc::new(Ring::<Rec, 2>::new());
        let producer = spawn_producer(&ring, vec![0, 1, 2]);
        let mut popped = Vec::new();
        for _ in 0..3 {
            if let Some(r) = ring.pop() {
                popped.push(r);
            }
        }
        let pushed = producer.join().unwrap();
        while let Some(r) = ring.pop() {
            popped.push(r);
        }
        verify(&[pushed], &popped);
    });
}

/// A snapshot (holding the consumer role) racing two producers: it only ever
/// copies published records.
#[test]
fn snapshot_races_producers() {
    model(|| {
        let ring = Arc::new(Ring::<Rec, 2>::new());
        let producers = spawn_producers(&ring, vec![vec![0], vec![10]]);
        let mut out = [rec(0); 2];
        let n = ring.snapshot_newest(&mut out);
        for r in &out[..n] {
            assert_eq!(r.check, !r.id);
        }
        for h in producers {
            h.join().unwrap();
        }
        assert_eq!(ring.snapshot_newest(&mut out), 2);
    });
}

/// Two threads trying to consume at once: the flag admits one at a time and
/// each record is delivered once.
#[test]
fn consumer_role_is_exclusive() {
    model(|| {
        let ring = Arc::new(Ring::<Rec, 2>::new());
        ring.push(&rec(0)).unwrap();
        ring.push(&rec(1)).unwrap();
        let other = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || ring.pop())
        };
        let mine = ring.pop();
        let theirs = other.join().unwrap();
        let mut popped: Vec<Rec> = mine.into_iter().chain(theirs).collect();
        while let Some(r) = ring.pop() {
            popped.push(r);
        }
        popped.sort_by_key(|r| r.id);
        assert_eq!(popped, [rec(0), rec(1)], "mine {mine:?} theirs {theirs:?}");
    });
}
