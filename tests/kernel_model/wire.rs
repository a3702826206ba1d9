//! Wire format v2 through the real driver (issue #11): `READ_EVENTS`
//! replies carry whole records at their real size; a record that does not
//! fit the caller's buffer stays queued (the reply names its size), none
//! is split or lost.

use std::collections::BTreeSet;

use kcallbacks::pipeline::rings;
use kcb_proto::{
    EventRecord, FloodPayload, FloodRequest, FloodResponse, IOCTL_KCB_FLOOD, IOCTL_KCB_GET_STATS,
    IOCTL_KCB_READ_EVENTS, READ_EVENTS_HEADER_SIZE, RECORD_SIZE, ReadEventsRequest, ReadEventsResponse,
    SourceId, StatsResponse, bytes_of, decode_read_events, decode_response, read_pod,
};
use ntsim::kernel::service_key;
use ntsim::{Kernel, poll_until, trigger};
use wdk_sys::{STATUS_BUFFER_TOO_SMALL, STATUS_SUCCESS};

#[allow(clippy::wildcard_imports)]
use crate::common::*;

fn loaded_with_flood() -> Kernel {
    let mut kernel = boot();
    let key = format!("{}\\Parameters", service_key("kcallbacks"));
    ntsim::registry::set_dword(&key, "EnableFlood", 1);
    assert_eq!(kernel.load_driver(), STATUS_SUCCESS);
    kernel
}

fn rings_empty() -> bool {
    rings::get().is_none_or(|set| set.per_processor().iter().all(|r| r.ring.is_empty()))
}

/// One `READ_EVENTS` into an `output_len`-byte buffer: the reply header,
/// its records (every one whole and valid) and the reply's length.
fn read(kernel: &mut Kernel, output_len: usize) -> (ReadEventsResponse, Vec<EventRecord>, usize) {
    let (status, out) = kernel.device_io_control(
        IOCTL_KCB_READ_EVENTS,
        bytes_of(&ReadEventsRequest::new(0)),
        output_len,
    );
    assert_eq!(status, STATUS_SUCCESS);
    assert!(out.len() <= output_len);
    let batch = decode_read_events(&out).expect("a valid v2 reply");
    let records: Vec<EventRecord> = batch
        .records()
        .map(|r| r.expect("a whole, valid record"))
        .collect();
    let body: usize = records.iter().map(EventRecord::wire_len).sum();
    assert_eq!(
        out.len(),
        READ_EVENTS_HEADER_SIZE + body,
        "records at their real size"
    );
    if batch.header.next_size != 0 {
        // The next record was left queued because it did not fit.
        assert!(out.len() + batch.header.next_size as usize > output_len);
        assert!(batch.header.pending > 0);
    }
    (batch.header, records, out.len())
}

/// Reads until the drain has moved everything and the client queue is empty.
fn read_all(kernel: &mut Kernel, output_len: usize) -> Vec<EventRecord> {
    let mut all = Vec::new();
    loop {
        assert!(poll_until(DRAIN_TIMEOUT, rings_empty));
        let (header, records, _) = read(kernel, output_len);
        let done = records.is_empty() && header.pending == 0;
        all.extend(records);
        if done && rings_empty() {
            return all;
        }
    }
}

fn stats(kernel: &mut Kernel) -> StatsResponse {
    let (status, out) = kernel.device_io_control(
        IOCTL_KCB_GET_STATS,
        bytes_of(&kcb_proto::GetStatsRequest::new()),
        size_of::<StatsResponse>(),
    );
    assert_eq!(status, STATUS_SUCCESS);
    decode_response::<StatsResponse>(&out).expect("stats")
}

#[test]
fn small_buffers_get_whole_records_at_their_size_and_lose_none() {
    let mut kernel = loaded_with_flood();
    // Empty the queue of the load's own events.
    let mut all = read_all(&mut kernel, kcb_proto::read_events_buffer_size(64));

    // A buffer shorter than the reply header: STATUS_BUFFER_TOO_SMALL.
    let (status, out) = kernel.device_io_control(
        IOCTL_KCB_READ_EVENTS,
        bytes_of(&ReadEventsRequest::new(0)),
        READ_EVENTS_HEADER_SIZE - 1,
    );
    assert_eq!((status, out.len()), (STATUS_BUFFER_TOO_SMALL, 0));

    // A big record at the head of the queue, and a buffer too small for it.
    let long = format!("\\SystemRoot\\System32\\drivers\\{}.sys", "x".repeat(180));
    assert_eq!(trigger::load_image(&long, 0, 0x1_0000, 0x1000, true), 1);
    assert!(poll_until(DRAIN_TIMEOUT, rings_empty));
    let (header, records, len) = read(&mut kernel, READ_EVENTS_HEADER_SIZE + 64);
    assert!(records.is_empty());
    assert_eq!(len, READ_EVENTS_HEADER_SIZE);
    assert_eq!(header.pending, 1);
    let needed = header.next_size as usize;
    assert!(
        needed > 64 && needed <= RECORD_SIZE && needed.is_multiple_of(8),
        "{needed}"
    );
    // Exactly the size it named is enough; the record was not lost.
    let (header, records, len) = read(&mut kernel, READ_EVENTS_HEADER_SIZE + needed);
    assert_eq!(
        (records.len(), len, header.pending, header.next_size),
        (1, READ_EVENTS_HEADER_SIZE + needed, 0, 0)
    );
    assert_eq!(image_name(&records[0]).as_deref(), Some(long.as_str()));
    all.extend(records);

    // Many records of different sizes, read through a buffer that holds
    // one or two of them.
    let (status, out) = kernel.device_io_control(
        IOCTL_KCB_FLOOD,
        bytes_of(&FloodRequest::new(200)),
        size_of::<FloodResponse>(),
    );
    assert_eq!(status, STATUS_SUCCESS);
    let flood: FloodResponse = read_pod(&out).expect("flood response");
    for i in 0..60 {
        let name = format!("\\??\\C:\\{}.dll", "n".repeat(i * 3));
        let _ = trigger::load_image(&name, 1234, 0x2_0000 + i as u64 * 0x1000, 0x1000, false);
    }
    let (mut small_reads, mut left_queued) = (0, 0);
    loop {
        assert!(poll_until(DRAIN_TIMEOUT, rings_empty));
        let (header, records, _) = read(&mut kernel, READ_EVENTS_HEADER_SIZE + RECORD_SIZE + 8);
        small_reads += 1;
        left_queued += usize::from(header.next_size != 0);
        let done = records.is_empty() && header.pending == 0;
        all.extend(records);
        if done && rings_empty() {
            break;
        }
    }
    // 260 records in 520-byte buffers: many reads, and records left queued
    // for the next read rather than split.
    assert!(
        small_reads > 20 && left_queued > 10,
        "{small_reads} reads, {left_queued} stopped at a record"
    );

    let sizes: BTreeSet<usize> = all.iter().map(EventRecord::wire_len).collect();
    assert!(sizes.len() > 10, "record sizes vary: {sizes:?}");
    // Nothing lost, nothing twice: per source, seen = recorded + dropped and
    // every recorded event was read.
    let counters_now = stats(&mut kernel);
    for source in [SourceId::Flood, SourceId::LoadImage] {
        let counters = counters_now.sources[source.index()];
        assert_eq!(counters.seen, counters.recorded + counters.dropped, "{source:?}");
        let read = all.iter().filter(|r| r.source() == Some(source)).count() as u64;
        assert_eq!(
            read, counters.recorded,
            "{source:?}: every recorded event is read"
        );
    }
    let floods: BTreeSet<u64> = all
        .iter()
        .filter_map(|r| r.payload::<FloodPayload>().map(|p| p.index))
        .collect();
    assert_eq!(
        floods.len() as u64,
        u64::from(flood.recorded),
        "no flood record twice or lost"
    );
    let keys: BTreeSet<(u32, u64)> = all.iter().map(|r| (r.header.cpu, r.header.sequence)).collect();
    assert_eq!(keys.len(), all.len(), "no record read twice");
    kernel.unload_driver();
    assert_nothing_left(&kernel);
}
