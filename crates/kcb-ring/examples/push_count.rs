//! Pushes N `EventRecord`s into a static ring: `push_count N`.
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

use std::hint::black_box;

use kcb_proto::{EventRecord, SourceId};
use kcb_ring::Ring;

const CAPACITY: usize = 131_072;

static RING: Ring<EventRecord, CAPACITY> = Ring::new();
static RECORD: EventRecord = EventRecord::new(SourceId::Flood, 0);

#[inline(never)]
fn drain() {
    if let Some(mut consumer) = RING.consumer() {
        while let Some(r) = consumer.pop() {
            black_box(&r);
        }
    }
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let mut dropped = 0u64;
    for _ in 0..n {
        if RING.push(black_box(&RECORD)).is_err() {
            drain();
            if RING.push(black_box(&RECORD)).is_err() {
                dropped += 1;
            }
        }
    }
    black_box(dropped);
}
