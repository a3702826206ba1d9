//! The driver's self-measurement through its REAL `DriverEntry`, notify
//! routines and `IOCTL_KCB_QUERY_COST`, against the kernel model: every
//! call of a notify routine is counted once, on the processor it ran on,
//! with a nonzero duration; the tables come from pool and go back at
//! unload; without them the driver runs on and says it is not measuring.

use kcb_proto::{
    CostResponse, IOCTL_KCB_QUERY_COST, QueryCostRequest, RequestHeader, SOURCE_COUNT, SourceId, bytes_of,
    cost::{COST_FLAG_MEASURING, COST_FLAG_TSC},
    decode_response,
};
use ntsim::irql::PASSIVE_LEVEL;
use ntsim::trigger;
use ntsim::{Kernel, poll_until};
use wdk_sys::{
    STATUS_BUFFER_TOO_SMALL, STATUS_INFO_LENGTH_MISMATCH, STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS,
};

#[allow(clippy::wildcard_imports)]
use crate::common::*;

fn query_cost(kernel: &mut Kernel) -> CostResponse {
    let (status, out) = kernel.device_io_control(
        IOCTL_KCB_QUERY_COST,
        bytes_of(&QueryCostRequest::new()),
        size_of::<CostResponse>(),
    );
    assert_eq!(status, STATUS_SUCCESS, "QUERY_COST");
    decode_response::<CostResponse>(&out).expect("a valid QUERY_COST reply")
}

/// Calls of each source between two replies.
fn calls_between(before: &CostResponse, after: &CostResponse) -> [u64; SOURCE_COUNT] {
    core::array::from_fn(|i| after.sources[i].calls() - before.sources[i].calls())
}

#[test]
fn every_call_is_counted_once_with_its_duration() {
    let mut kernel = loaded();
    assert!(
        driver_lines(&kernel).iter().any(|l| l.starts_with(&format!(
            "kcallbacks: cost: measuring notify routines on up to {} processors",
            ntsim::context::PROCESSOR_COUNT
        ))),
        "{:#?}",
        driver_lines(&kernel)
    );
    let before = query_cost(&mut kernel);
    assert_eq!(before.header.flags, COST_FLAG_MEASURING | COST_FLAG_TSC);
    assert_eq!(before.header.processor_count, ntsim::context::PROCESSOR_COUNT);
    assert!(
        before.header.overhead_ticks > 0,
        "the measurement was timed at load"
    );
    // KE_PROCESSOR_CHANGE_ADD_EXISTING called the routine during
    // registration, after the tables were allocated.
    assert!(before.sources[SourceId::ProcessorChange.index()].calls() >= 1);

    let mut fired = [0u64; SOURCE_COUNT];
    for i in 0..5u64 {
        let name = format!("\\Windows\\System32\\cost{i}.dll");
        fired[SourceId::LoadImage.index()] +=
            trigger::load_image(&name, 0x4400, 0x1000_0000, 0x1000, false) as u64;
    }
    for i in 0..3u64 {
        fired[SourceId::ThreadCreate.index()] +=
            trigger::thread_notify(0x4400, 0x4404 + 4 * i, true, (0x4400, 0x4404), PASSIVE_LEVEL) as u64;
    }
    for _ in 0..2 {
        assert!(!trigger::nmi(), "the driver's NMI routine does not claim the NMI");
        fired[SourceId::Nmi.index()] += 1;
    }
    let _ = trigger::bound_exception(0x4400);
    fired[SourceId::BoundException.index()] += 1;
    fired[SourceId::CallbackObject.index()] +=
        trigger::notify_callback_object("\\Callback\\KCallbacks", 1, 2, PASSIVE_LEVEL) as u64;
    assert_eq!(
        fired[SourceId::LoadImage.index()],
        5,
        "one routine per image load"
    );
    assert_eq!(fired[SourceId::ThreadCreate.index()], 3);
    assert_eq!(fired[SourceId::CallbackObject.index()], 1);

    let after = query_cost(&mut kernel);
    let calls = calls_between(&before, &after);
    for source in [
        SourceId::LoadImage,
        SourceId::ThreadCreate,
        SourceId::Nmi,
        SourceId::BoundException,
        SourceId::CallbackObject,
    ] {
        let i = source.index();
        assert_eq!(calls[i], fired[i], "{source}: calls counted = routines called");
        let histogram = &after.sources[i];
        assert!(histogram.max > 0, "{source}: a routine takes some cycles");
        assert!(histogram.total >= histogram.max, "{source}");
        let p50 = histogram.percentile(50).expect("calls");
        let p99 = histogram.percentile(99).expect("calls");
        assert!(
            0 < p50 && p50 <= p99 && p99 <= histogram.max,
            "{source}: {p50} {p99}"
        );
    }
    for source in [SourceId::Flood, SourceId::Interrupt, SourceId::Driver] {
        assert_eq!(
            after.sources[source.index()].calls(),
            0,
            "{source} has no notify routine"
        );
    }
    unload_clean(&mut kernel);
}

#[test]
fn calls_on_several_processors_merge_exactly() {
    let mut kernel = loaded();
    let before = query_cost(&mut kernel);
    // Each host thread is one simulated processor (round-robin).
    let threads = ntsim::context::PROCESSOR_COUNT as usize * 2;
    let per_thread = 40;
    #[allow(
        clippy::needless_collect,
        reason = "every thread is spawned before any is joined"
    )]
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                let cpu = ntsim::context::current_processor();
                let mut fired = 0;
                for i in 0..per_thread {
                    let name = format!("\\Windows\\System32\\cpu{t}-{i}.dll");
                    fired += trigger::load_image(&name, 0x4800 + t as u64 * 4, 0x2000_0000, 0x1000, false);
                }
                (cpu, fired)
            })
        })
        .collect();
    let results: Vec<(u32, usize)> = handles.into_iter().map(|h| h.join().expect("thread")).collect();
    let cpus: std::collections::BTreeSet<u32> = results.iter().map(|(cpu, _)| *cpu).collect();
    assert!(cpus.len() > 1, "the calls ran on several processors: {cpus:?}");
    let fired: usize = results.iter().map(|(_, n)| n).sum();
    assert_eq!(fired, threads * per_thread);
    let after = query_cost(&mut kernel);
    assert_eq!(
        calls_between(&before, &after)[SourceId::LoadImage.index()],
        fired as u64,
        "every call counted once, whichever processor's table it went to"
    );
    unload_clean(&mut kernel);
}

#[test]
fn the_counter_frequency_is_calibrated_against_the_performance_counter() {
    let mut kernel = loaded();
    // At least the 10 ms of counter time the calibration waits for.
    std::thread::sleep(std::time::Duration::from_millis(30));
    let response = query_cost(&mut kernel);
    let hz = response.header.counter_hz;
    // A plausibility range for any x64 TSC, not a performance figure.
    assert!(
        (10_000_000..100_000_000_000).contains(&hz),
        "calibrated TSC frequency {hz} Hz"
    );
    unload_clean(&mut kernel);
}

#[test]
fn without_its_tables_the_driver_runs_on_and_says_it_is_not_measuring() {
    let mut kernel = boot();
    // The tables are DriverEntry's second pool allocation (after the event rings).
    ntsim::faults::fail_nth_on_this_thread("ExAllocatePool2", 2, STATUS_INSUFFICIENT_RESOURCES);
    load(&mut kernel);
    assert_eq!(ntsim::faults::fired().len(), 1);
    let lines = driver_lines(&kernel);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("kcallbacks: cost: cannot allocate ")
                && l.ends_with("; notify routines not measured")),
        "{lines:#?}"
    );
    let name = "\\Windows\\System32\\unmeasured.dll";
    assert_eq!(trigger::load_image(name, 0x4C00, 0x3000_0000, 0x1000, false), 1);
    let _ = wait_for_image_event(&mut kernel, name);
    let response = query_cost(&mut kernel);
    assert_eq!(response.header.flags & COST_FLAG_MEASURING, 0);
    assert_eq!(response.header.processor_count, 0);
    assert_eq!(response.header.counter_hz, 0);
    assert!(response.sources.iter().all(|h| h.calls() == 0 && h.max == 0));
    unload_clean(&mut kernel);
}

#[test]
fn tables_come_from_the_fallback_allocator_where_pool2_is_not_exported() {
    let mut kernel = loaded_without(&["ExAllocatePool2"]);
    let before = query_cost(&mut kernel);
    assert_ne!(before.header.flags & COST_FLAG_MEASURING, 0);
    assert_eq!(
        trigger::load_image(
            "\\Windows\\System32\\fallback.dll",
            0x4D00,
            0x3000_0000,
            0x1000,
            false
        ),
        1
    );
    let after = query_cost(&mut kernel);
    assert_eq!(calls_between(&before, &after)[SourceId::LoadImage.index()], 1);
    kernel.unload_driver();
    // ExFreePoolWithTag with the allocation's tag, nothing leaked.
    assert_nothing_left(&kernel);
}

#[test]
fn bad_query_cost_inputs_get_the_documented_status() {
    let mut kernel = loaded();
    let good = bytes_of(&QueryCostRequest::new()).to_vec();
    let (status, out) = kernel.device_io_control(IOCTL_KCB_QUERY_COST, &good, size_of::<CostResponse>() - 1);
    assert_eq!(status, STATUS_BUFFER_TOO_SMALL);
    assert!(out.is_empty());
    let mut long = good.clone();
    long.extend_from_slice(&[0; 4]);
    let (status, _) = kernel.device_io_control(IOCTL_KCB_QUERY_COST, &long, size_of::<CostResponse>());
    assert_eq!(status, STATUS_INFO_LENGTH_MISMATCH);
    let wrong_size = RequestHeader { version: 1, size: 12 };
    let (status, _) = kernel.device_io_control(
        IOCTL_KCB_QUERY_COST,
        bytes_of(&wrong_size),
        size_of::<CostResponse>(),
    );
    assert_eq!(status, STATUS_INFO_LENGTH_MISMATCH);
    unload_clean(&mut kernel);
}

fn seen_counters(kernel: &mut Kernel) -> [u64; SOURCE_COUNT] {
    let (status, out) = kernel.device_io_control(
        kcb_proto::IOCTL_KCB_GET_STATS,
        bytes_of(&kcb_proto::GetStatsRequest::new()),
        size_of::<kcb_proto::StatsResponse>(),
    );
    assert_eq!(status, STATUS_SUCCESS);
    let reply = decode_response::<kcb_proto::StatsResponse>(&out).expect("stats");
    core::array::from_fn(|i| reply.sources[i].seen)
}

#[test]
fn every_callback_entry_point_is_measured() {
    let mut kernel = loaded();
    let cost_before = query_cost(&mut kernel);
    let seen_before = seen_counters(&mut kernel);
    fire_every_family(0x5000);
    let cost_after = query_cost(&mut kernel);
    let seen_after = seen_counters(&mut kernel);
    let calls = calls_between(&cost_before, &cost_after);
    let mut wrong = Vec::new();
    for source in SourceId::ALL {
        let i = source.index();
        let seen = seen_after[i] - seen_before[i];
        // The flight recorder is called twice per bug check (size query,
        // then data request) and records an event for the second only.
        let expected = if source == SourceId::BugCheckReason && seen != 0 {
            seen + 1
        } else {
            seen
        };
        if calls[i] != expected {
            wrong.push(format!(
                "{source}: {} calls measured, {seen} events seen",
                calls[i]
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    for source in FIRED_SOURCES {
        assert!(calls[source.index()] >= 1, "{source} was not measured");
    }
    // Called by the system around DriverEntry, not by a trigger here.
    let around_load = poll_until(DRAIN_TIMEOUT, || {
        let cost = query_cost(&mut kernel);
        [SourceId::FsRegistration, SourceId::DriverReinit]
            .iter()
            .all(|s| cost.sources[s.index()].calls() >= 1)
    });
    assert!(around_load, "FsRegistration and DriverReinit measured");
    unload_clean(&mut kernel);
}
