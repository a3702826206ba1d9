//! Ring push cost with 512-byte `EventRecord`s.
//!
//! `cargo bench -p kcb-ring --bench ring` runs three criterion benchmarks
//! (one iteration = one event):
//! - `push/single`: one producer pushes batches of `BATCH` records into an
//!   empty ring (the ring is drained between batches, outside the timing);
//! - `push/two_threads`: two threads push concurrently, `BATCH / 2` each,
//!   time = wall time of the batch / `BATCH`;
//! - `baseline/copy`: a plain copy of the same record into a preallocated
//!   array of `BATCH` records (same memory footprint as the ring batch).
//!
//! It then measures the median ns/event over `SUMMARY_SAMPLES` batches of
//! single-producer push and of the baseline, and prints
//! `ring.push(v1 512 B slots): <ns> ns/event, baseline <ns> ns/event, ratio <x>`.
//!
//! The per-processor [`ByteRing`] (pipeline v2) is measured the same way:
//! - `ring.push: X ns/event (64 B record), baseline Y ns/event, ratio Z`
//!   and the same for a 512 B record (baseline: a plain copy of the same
//!   bytes into a preallocated buffer), for a ring made with
//!   `ByteRing::new_processor_local`, as the driver makes each processor's
//!   ring on Windows (unlocked `cmpxchg` claim on x86-64);
//! - `ring.push(shared claim): ...` the same for a ring made with
//!   `ByteRing::new` (locked `cmpxchg`: any number of concurrent producers;
//!   the kernel model's host build and the client queue use it);
//! - `ring.record: ...` (and `ring.record(shared claim)`) for a 64 B record
//!   through `record_bytes`, the push plus its per-source `seen` and
//!   `recorded` bumps: the driver's whole per-event ring path;
//! - `ring.scaling: 1 producer X Mevents/s, 2 producers Y Mevents/s, ratio Z`:
//!   each producer pushes 64 B records into its own ring, as each processor
//!   does in the kernel (threads are not pinned: std has no affinity call;
//!   the scheduler spreads two busy threads over two cores). Throughput =
//!   events / time spent in pushes (each ring is drained between batches,
//!   outside the timing).

#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    reason = "benchmark arithmetic on small counts"
)]

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use kcb_proto::{EventRecord, FloodPayload, SourceId};
use kcb_ring::{ByteRing, ProcessorLocal, Producers, Ring, SourceCounters, Word, record_bytes};

const BATCH: usize = 256;
const SUMMARY_SAMPLES: usize = 201;

static RING: Ring<EventRecord, 1024> = Ring::new();
static RING_MT: Ring<EventRecord, 1024> = Ring::new();

fn template() -> EventRecord {
    let mut rec = EventRecord::with_payload(
        0,
        &FloodPayload {
            index: 1,
            total: 2,
            checksum: 3,
        },
    );
    rec.header.sequence = 42;
    assert_eq!(rec.source(), Some(SourceId::Flood));
    rec
}

fn drain(ring: &Ring<EventRecord, 1024>) {
    let mut c = ring.consumer().expect("single consumer");
    while let Some(r) = c.pop() {
        black_box(&r);
    }
}

/// Times `n` single-producer pushes (n <= BATCH), then drains untimed.
fn push_batch(rec: &EventRecord, n: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        RING.push(black_box(rec)).expect("ring has room");
    }
    let elapsed = start.elapsed();
    drain(&RING);
    elapsed
}

/// Times `n` plain copies of the record into `dst`.
fn copy_batch(rec: &EventRecord, dst: &mut [EventRecord], n: usize) -> Duration {
    let start = Instant::now();
    for slot in &mut dst[..n] {
        *slot = *black_box(rec);
    }
    black_box(&mut *dst);
    start.elapsed()
}

fn run_batches(iters: u64, mut batch: impl FnMut(usize) -> Duration) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = usize::try_from(left).unwrap_or(BATCH).min(BATCH);
        total += batch(n);
        left -= n as u64;
    }
    total
}

/// Two producers push `BATCH` records per round (half each) concurrently;
/// returns the wall time of each of `rounds` timed rounds (after a few
/// untimed warm-up rounds that get the helper thread running).
fn two_thread_rounds(rec: &EventRecord, rounds: u64) -> Vec<Duration> {
    const WARMUP: u64 = 4;
    let round_go = AtomicU64::new(0);
    let round_done = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let half = BATCH / 2;
    let mut times = Vec::with_capacity(usize::try_from(rounds).unwrap_or(0));
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut seen = 0;
            loop {
                let go = loop {
                    let go = round_go.load(Ordering::Acquire);
                    if go != seen || stop.load(Ordering::Acquire) {
                        break go;
                    }
                    std::hint::spin_loop();
                };
                if go == seen {
                    return;
                }
                seen = go;
                for _ in 0..half {
                    let _ = RING_MT.push(black_box(rec));
                }
                round_done.store(go, Ordering::Release);
            }
        });
        for round in 1..=rounds + WARMUP {
            let start = Instant::now();
            round_go.store(round, Ordering::Release);
            for _ in 0..half {
                let _ = RING_MT.push(black_box(rec));
            }
            while round_done.load(Ordering::Acquire) != round {
                std::hint::spin_loop();
            }
            let elapsed = start.elapsed();
            if round > WARMUP {
                times.push(elapsed);
            }
            drain(&RING_MT);
        }
        stop.store(true, Ordering::Release);
    });
    times
}

/// Criterion adapter: `iters` events, scaled from whole rounds.
fn two_threads(rec: &EventRecord, iters: u64) -> Duration {
    let rounds = iters.div_ceil(BATCH as u64).max(1);
    let total: Duration = two_thread_rounds(rec, rounds).into_iter().sum();
    total.mul_f64(iters as f64 / (rounds * BATCH as u64) as f64)
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn ns_per_event(batch: Duration) -> f64 {
    batch.as_secs_f64() * 1e9 / BATCH as f64
}

fn median_ns_per_event(mut batch: impl FnMut() -> Duration) -> f64 {
    median((0..SUMMARY_SAMPLES).map(|_| ns_per_event(batch())).collect())
}

fn main() {
    let rec = template();
    let mut dst = vec![EventRecord::ZERO; BATCH];

    let mut c = Criterion::default().configure_from_args();
    {
        let mut g = c.benchmark_group("push");
        g.throughput(Throughput::Elements(1));
        g.bench_function("single", |b| {
            b.iter_custom(|iters| run_batches(iters, |n| push_batch(&rec, n)));
        });
        g.bench_function("two_threads", |b| {
            b.iter_custom(|iters| two_threads(&rec, iters));
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("baseline");
        g.throughput(Throughput::Elements(1));
        g.bench_function("copy", |b| {
            b.iter_custom(|iters| run_batches(iters, |n| copy_batch(&rec, &mut dst, n)));
        });
        g.finish();
    }
    c.final_summary();
    drop(c);

    // Warm up, then take the median of each measurement over its own batches.
    for _ in 0..50 {
        push_batch(&rec, BATCH);
        copy_batch(&rec, &mut dst, BATCH);
    }
    let push = median_ns_per_event(|| push_batch(&rec, BATCH));
    let baseline = median_ns_per_event(|| copy_batch(&rec, &mut dst, BATCH));
    let push_mt = median(
        two_thread_rounds(&rec, SUMMARY_SAMPLES as u64)
            .into_iter()
            .map(ns_per_event)
            .collect(),
    );
    println!(
        "ring.push(v1 512 B slots): {push:.2} ns/event, baseline {baseline:.2} ns/event, ratio {:.2}",
        push / baseline
    );
    println!(
        "ring.push_two_threads(v1 shared ring): {push_mt:.2} ns/event (wall time / events, 2 producers)"
    );

    byte_ring_summary();
}

/// Words of one per-producer ring: room for `BATCH` records of 512 bytes.
const RING_WORDS: usize = 32 * 1024;
/// Words of each scaling producer's ring: room for `BATCH` 64 B records.
const SCALING_RING_WORDS: usize = 4 * 1024;

/// A processor-local ring, as the driver makes each processor's.
fn byte_ring(storage: &[Word]) -> ByteRing<'_, ProcessorLocal> {
    // SAFETY: each ring of this benchmark is pushed by one thread only.
    unsafe { ByteRing::new_processor_local(storage) }
}

/// Times `BATCH` pushes of `record` into `ring`, then drains it untimed.
fn byte_push_batch<P: Producers>(ring: &ByteRing<'_, P>, record: &[u8]) -> Duration {
    timed_batch(ring, || {
        ring.push(black_box(record)).expect("ring has room");
    })
}

/// Times `BATCH` events of `record` through [`record_bytes`] (the push with
/// its per-source counters, as the driver records each event), then drains
/// the ring untimed.
fn byte_record_batch<P: Producers>(
    ring: &ByteRing<'_, P>,
    counters: &SourceCounters<4>,
    record: &[u8],
) -> Duration {
    timed_batch(ring, || {
        assert!(
            record_bytes(ring, counters, 1, black_box(record)),
            "ring has room"
        );
    })
}

/// Times `BATCH` calls of `event` (each stores one record in `ring`), then
/// drains the ring untimed.
fn timed_batch<P: Producers>(ring: &ByteRing<'_, P>, mut event: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..BATCH {
        event();
    }
    let elapsed = start.elapsed();
    let mut consumer = ring.consumer().expect("single consumer");
    let mut out = [0_u8; 512];
    while let Some(r) = consumer.pop(&mut out) {
        black_box((&r, &out));
    }
    elapsed
}

/// Times `BATCH` plain copies of `record` into `dst` (BATCH slots of 512).
fn byte_copy_batch(dst: &mut [u8], record: &[u8]) -> Duration {
    let start = Instant::now();
    for slot in dst.chunks_exact_mut(512).take(BATCH) {
        slot[..record.len()].copy_from_slice(black_box(record));
    }
    black_box(&mut *dst);
    start.elapsed()
}

/// Mevents/s of `producers` threads, each pushing 64 B records into its own
/// ring for `rounds` batches: events / (longest time any producer spent in
/// pushes).
fn scaling(producers: usize, rounds: usize) -> f64 {
    let record = [0x5A_u8; 64];
    #[allow(
        clippy::needless_collect,
        reason = "all producers must start before any is joined"
    )]
    let times: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..producers)
            .map(|_| {
                s.spawn(move || {
                    // One batch of 64 B records (9 words each) fits: 32 KiB,
                    // a per-core cache's worth, as a kernel ring's hot part.
                    let storage: Vec<Word> = (0..SCALING_RING_WORDS).map(|_| Word::new(0)).collect();
                    let ring = byte_ring(&storage);
                    (0..rounds)
                        .map(|_| byte_push_batch(&ring, &record))
                        .sum::<Duration>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("producer")).collect()
    });
    let longest = times.into_iter().max().unwrap_or(Duration::from_nanos(1));
    (producers * rounds * BATCH) as f64 / longest.as_secs_f64() / 1e6
}

fn byte_ring_summary() {
    let storage: Vec<Word> = (0..RING_WORDS).map(|_| Word::new(0)).collect();
    let local = byte_ring(&storage);
    let shared_storage: Vec<Word> = (0..RING_WORDS).map(|_| Word::new(0)).collect();
    let shared = ByteRing::new(&shared_storage);
    let mut dst = vec![0_u8; 512 * BATCH];
    push_lines("ring.push", &local, &mut dst);
    push_lines("ring.push(shared claim)", &shared, &mut dst);
    let counters = SourceCounters::<4>::new();
    record_line("ring.record", &local, &counters, &mut dst);
    record_line("ring.record(shared claim)", &shared, &counters, &mut dst);
    let rounds = 2000;
    let _ = scaling(1, 100);
    let one = median((0..5).map(|_| scaling(1, rounds)).collect());
    let two = median((0..5).map(|_| scaling(2, rounds)).collect());
    println!(
        "ring.scaling: 1 producer {one:.1} Mevents/s, 2 producers {two:.1} Mevents/s, ratio {:.2}",
        two / one
    );
}

/// Prints `<label>: X ns/event (N B record), baseline Y ns/event, ratio Z`
/// for 64 B and 512 B records pushed into `ring`.
fn push_lines<P: Producers>(label: &str, ring: &ByteRing<'_, P>, dst: &mut [u8]) {
    for size in [64_usize, 512] {
        let record = vec![0x5A_u8; size];
        for _ in 0..50 {
            byte_push_batch(ring, &record);
            byte_copy_batch(dst, &record);
        }
        let push = median_ns_per_event(|| byte_push_batch(ring, &record));
        let baseline = median_ns_per_event(|| byte_copy_batch(dst, &record));
        println!(
            "{label}: {push:.2} ns/event ({size} B record), baseline {baseline:.2} ns/event, ratio {:.2}",
            push / baseline
        );
    }
}

/// Prints the same line for 64 B records through [`record_bytes`] (push and
/// per-source counters).
fn record_line<P: Producers>(
    label: &str,
    ring: &ByteRing<'_, P>,
    counters: &SourceCounters<4>,
    dst: &mut [u8],
) {
    let record = [0x5A_u8; 64];
    let push = median_ns_per_event(|| byte_record_batch(ring, counters, &record));
    let baseline = median_ns_per_event(|| byte_copy_batch(dst, &record));
    println!(
        "{label}: {push:.2} ns/event (64 B record, push + per-source counters), baseline {baseline:.2} ns/event, ratio {:.2}",
        push / baseline
    );
}
