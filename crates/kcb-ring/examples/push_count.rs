//! Pushes N 64-byte records into a [`ByteRing`]: `push_count N`.
//!
//! Written for instruction counting: nothing depends on N except the trip
//! count of the push loop, and the ring is large enough that no pop happens
//! for N <= 131072, so
//! `callgrind(N = 101000) - callgrind(N = 1000)` = the cost of 100000
//! iterations of the loop (one push each, plus the loop's own 2-3
//! instructions):
//!
//! ```text
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/push_count 1000
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/push_count 101000
//! ```
//!
//! Above the capacity, the ring is drained whenever a push finds it full.
//! The ring is processor-local, as the driver's per-processor rings are.
//! (In the driver a push below `DISPATCH_LEVEL` also raises and lowers the
//! IRQL: two CR8 writes on x64, not counted here.)

use std::hint::black_box;

use kcb_ring::{ByteRing, ProcessorLocal, Word};

/// Words for 131072 records of 64 bytes (+ one header word each), rounded
/// up to a power of two.
const WORDS: usize = 2 << 20;
const RECORD: [u8; 64] = [0x5A; 64];

#[inline(never)]
fn drain(ring: &ByteRing<'_, ProcessorLocal>) {
    if let Some(mut consumer) = ring.consumer() {
        let mut out = [0_u8; 64];
        while let Some(r) = consumer.pop(&mut out) {
            black_box((&r, &out));
        }
    }
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let storage: Vec<Word> = (0..WORDS).map(|_| Word::new(0)).collect();
    // The driver's per-processor ring (processor-local claim); one thread
    // pushes here, which is that discipline.
    // SAFETY: only this thread pushes into the ring.
    let ring = unsafe { ByteRing::new_processor_local(&storage) };
    let mut dropped = 0u64;
    for _ in 0..n {
        if ring.push(black_box(&RECORD)).is_err() {
            drain(&ring);
            if ring.push(black_box(&RECORD)).is_err() {
                dropped += 1;
            }
        }
    }
    black_box(dropped);
}
