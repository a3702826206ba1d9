//! The event pipeline v2 through the real driver (issue #11, issue #12
//! item 9).
//!
//! Pushes run at `DISPATCH_LEVEL`, rings come from pool sized by
//! `RingKiBPerProcessor` and are freed at unload, pool shortage at
//! `DriverEntry` degrades then fails cleanly, and a crash dump finds a
//! record the drain is moving.

#![allow(clippy::significant_drop_tightening, reason = "test locks are short-lived")]

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use kcallbacks::{kernel::pool::RING_TAG, pipeline::rings};
use kcb_proto::flight::flight_size;
use kcb_proto::{FloodPayload, FloodRequest, FloodResponse, IOCTL_KCB_FLOOD, SourceId, bytes_of, read_pod};
use ntsim::irql::DISPATCH_LEVEL;
use ntsim::trigger::{self, BugCheckOptions};
use ntsim::{Kernel, eventpush, faults, poll_until};
use wdk_sys::{STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS};

#[allow(clippy::wildcard_imports)]
use crate::common::*;

fn flood(kernel: &mut Kernel, count: u32) -> FloodResponse {
    let (status, out) = kernel.device_io_control(
        IOCTL_KCB_FLOOD,
        bytes_of(&FloodRequest::new(count)),
        size_of::<FloodResponse>(),
    );
    assert_eq!(status, STATUS_SUCCESS);
    read_pod(&out).expect("a flood response")
}

fn ring_blocks() -> Vec<usize> {
    ntsim::pool::outstanding()
        .into_iter()
        .filter(|a| a.tag == RING_TAG)
        .map(|a| a.size)
        .collect()
}

#[test]
fn pushes_from_passive_level_callbacks_run_at_dispatch_level() {
    let mut kernel = boot_with(&[("EnableFlood", 1)]);
    load(&mut kernel);
    // IOCTL_KCB_FLOOD pushes from the dispatch routine, at PASSIVE_LEVEL.
    let response = flood(&mut kernel, 10);
    assert_eq!((response.recorded, response.dropped), (10, 0));
    let pushes = eventpush::pushes_by_irql();
    assert!(pushes[usize::from(DISPATCH_LEVEL)] >= 10, "{pushes:?}");
    assert_eq!(
        pushes[..usize::from(DISPATCH_LEVEL)].iter().sum::<u64>(),
        0,
        "{pushes:?}"
    );
    kernel.unload_driver();
    // No PushBelowDispatch (or any other) violation, nothing left.
    assert_nothing_left(&kernel);
}

#[test]
fn rings_are_sized_by_the_parameter_and_freed_at_unload() {
    let mut kernel = boot_with(&[("RingKiBPerProcessor", 16)]);
    load(&mut kernel);
    assert_line(
        &kernel,
        "kcallbacks: config: RingKiBPerProcessor = 16 KiB per processor",
    );
    let processors = ntsim::context::PROCESSOR_COUNT as usize;
    let rings_line = format!("kcallbacks: rings: {processors} processors x 16 KiB");
    assert_printed(&kernel, &rings_line, |l| l.starts_with(&rings_line));
    let set = rings::get().expect("allocated");
    assert_eq!(set.per_processor().len(), processors);
    assert_eq!(set.ring_bytes(), 16 * 1024);
    let blocks = ring_blocks();
    assert_eq!(blocks.len(), 1);
    assert!(blocks[0] >= 16 * 1024 * (processors + 1));
    kernel.unload_driver();
    assert!(ring_blocks().is_empty(), "rings freed at unload");
    assert!(rings::get().is_none());
    assert_nothing_left(&kernel);
}

#[test]
fn an_invalid_ring_size_is_reported_and_the_default_used() {
    let mut kernel = boot_with(&[("RingKiBPerProcessor", 48)]);
    load(&mut kernel);
    assert_line(
        &kernel,
        "kcallbacks: config: invalid value RingKiBPerProcessor: value 48 is not a power of two from 4 to 1024; default used",
    );
    assert_eq!(rings::get().expect("allocated").ring_bytes(), 64 * 1024);
    unload_clean(&mut kernel);
}

#[test]
fn pool_shortage_at_driver_entry_halves_the_rings_then_fails_cleanly() {
    // One failure: the driver loads with rings half the size.
    let mut kernel = boot_with(&[]);
    faults::fail_nth("ExAllocatePool2", 1, STATUS_INSUFFICIENT_RESOURCES);
    load(&mut kernel);
    assert_printed(&kernel, "rings: cannot allocate ... x 64 KiB", |l| {
        l.contains("rings: cannot allocate") && l.contains("x 64 KiB")
    });
    assert_printed(&kernel, "processors x 32 KiB", |l| {
        l.contains("processors x 32 KiB")
    });
    assert_eq!(rings::get().expect("allocated").ring_bytes(), 32 * 1024);
    unload_clean(&mut kernel);
    drop(kernel);

    // No pool at all: DriverEntry fails with a clear line, registers
    // nothing and leaves nothing.
    let mut kernel = boot_with(&[]);
    faults::fail_always("ExAllocatePool2", STATUS_INSUFFICIENT_RESOURCES);
    assert_eq!(kernel.load_driver(), STATUS_INSUFFICIENT_RESOURCES);
    let failed = "DriverEntry failed: no non-paged pool for the event rings";
    assert_printed(&kernel, failed, |l| l.contains(failed));
    // Down to the smallest ring first.
    assert_printed(&kernel, "x 4 KiB", |l| l.contains("x 4 KiB"));
    assert!(ntsim::pool::outstanding().is_empty());
    assert!(rings::get().is_none());
    kernel.assert_no_bugchecks();
}

static DUMPED: AtomicBool = AtomicBool::new(false);
static BLOB: Mutex<Option<Vec<u8>>> = Mutex::new(None);

/// Runs in the drain thread when it prints the flood event: a bug check
/// right there, between the drain's steps.
fn bug_check_while_the_drain_prints(line: &str) {
    if !line.contains("Flood") || DUMPED.swap(true, Ordering::SeqCst) {
        return;
    }
    let report = trigger::bug_check_with(
        0xE2,
        BugCheckOptions {
            in_buffer_length: 64,
            maximum_allowed: u32::try_from(flight_size(16)).unwrap(),
            copy_callback_buffers: true,
        },
    );
    *BLOB.lock().unwrap() = report.secondary.first().map(|d| d.data.clone());
}

#[test]
fn a_record_the_drain_is_moving_is_in_the_crash_dump() {
    // Issue #12 item 9: before the fix the drain popped a record, printed
    // it, and only then queued it for the client; a bug check in between
    // found it in neither queue.
    let mut kernel = boot_with(&[("EnableFlood", 1)]);
    load(&mut kernel);
    ntsim::dbgprint::set_hook(Some(bug_check_while_the_drain_prints));
    let response = flood(&mut kernel, 1);
    assert_eq!(response.recorded, 1);
    assert!(
        poll_until(DRAIN_TIMEOUT, || BLOB.lock().unwrap().is_some()),
        "the drain printed the event"
    );
    ntsim::dbgprint::set_hook(None);
    let blob = BLOB.lock().unwrap().take().unwrap();
    let dump = kcbctl::dump::decode_dump(&blob).expect("a flight-recorder blob");
    let floods: Vec<&FloodPayload> = dump
        .records()
        .filter(|r| r.source() == Some(SourceId::Flood))
        .filter_map(|r| r.payload::<FloodPayload>())
        .collect();
    assert_eq!(
        floods.len(),
        1,
        "the record in flight is in the dump exactly once"
    );
    assert_eq!(floods[0].index, 0);
    // The frozen drain resumes after the bug check; the event is delivered.
    let events = read_events(&mut kernel, 64);
    assert!(events.iter().any(|r| r.source() == Some(SourceId::Flood)));
    kernel.unload_driver();
    let _ = ntsim::verifier::take();
}

/// Holds every processor ring's consumer role (the drain cannot move
/// anything meanwhile).
fn hold_drain() -> Vec<kcb_ring::ByteConsumer<'static, 'static>> {
    let set = rings::get().expect("rings allocated");
    let mut held = Vec::new();
    for ring in set.per_processor() {
        let mut consumer = None;
        assert!(poll_until(DRAIN_TIMEOUT, || {
            consumer = ring.ring.consumer();
            consumer.is_some()
        }));
        held.push(consumer.unwrap_or_else(|| unreachable!()));
    }
    held
}

#[test]
fn the_drain_merges_processors_in_timestamp_order_and_keeps_per_processor_sequences() {
    const THREADS: usize = 3;
    const PER_THREAD: usize = 20;
    let mut kernel = boot_with(&[]);
    load(&mut kernel);
    let held = hold_drain();
    // Each host thread is its own simulated processor: three rings fill
    // at once while the drain is held.
    std::thread::scope(|s| {
        for t in 0..THREADS {
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    let name = format!("\\SystemRoot\\merge{t}_{i}.sys");
                    let _ = ntsim::trigger::load_image(&name, 0, 0x10_0000, 0x1000, true);
                }
            });
        }
    });
    drop(held);
    let mut ours = Vec::new();
    assert!(
        poll_until(DRAIN_TIMEOUT, || {
            ours.extend(
                read_events(&mut kernel, 64)
                    .into_iter()
                    .filter(|r| image_name(r).is_some_and(|n| n.contains("\\merge"))),
            );
            ours.len() == THREADS * PER_THREAD
        }),
        "got {} of {}",
        ours.len(),
        THREADS * PER_THREAD
    );
    // Everything was in the rings when the drain ran: one merge, so the
    // delivery order is timestamp order across processors.
    assert!(
        ours.windows(2)
            .all(|w| w[0].header.timestamp <= w[1].header.timestamp),
        "not in timestamp order"
    );
    // Per processor, sequences strictly increase (ring order = claim order).
    let mut cpus: Vec<u32> = ours.iter().map(|r| r.header.cpu).collect();
    cpus.sort_unstable();
    cpus.dedup();
    assert!(
        cpus.len() >= 2,
        "the producers ran on several processors: {cpus:?}"
    );
    for cpu in cpus {
        let sequences: Vec<u64> = ours
            .iter()
            .filter(|r| r.header.cpu == cpu)
            .map(|r| r.header.sequence)
            .collect();
        assert!(
            sequences.windows(2).all(|w| w[0] < w[1]),
            "cpu {cpu}: {sequences:?}"
        );
    }
    unload_clean(&mut kernel);
}
