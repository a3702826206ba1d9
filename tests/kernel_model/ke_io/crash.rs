//! The crash-dump flight recorder, the bug-check summary, and the model's bug check running the
//! callbacks with the other processors frozen.

#[allow(clippy::wildcard_imports)]
use super::*;

// --- 4: the flight recorder and the bug-check summary ----------------------------------

fn flood_index(record: &EventRecord) -> Option<u64> {
    record.payload::<FloodPayload>().map(|p| {
        assert_eq!(p.checksum, flood_checksum(p.index, p.total));
        p.index
    })
}

/// `kcbctl`'s channel to a driver, for commands that need none.
/// Decodes `blob` with kcbctl's decode-dump, both as a library call and as
/// the `decode-dump --json FILE` command on a file; returns the records.
fn decode_with_kcbctl(blob: &[u8], tag: &str) -> Vec<EventRecord> {
    let dump = kcbctl::dump::decode_dump(blob).expect("kcbctl decodes the blob");
    assert!(dump.has_header);
    assert_eq!(dump.invalid_count(), 0);
    let records: Vec<EventRecord> = dump.records().copied().collect();
    let path = std::env::temp_dir().join(format!("kcb-flight-{}-{tag}.bin", std::process::id()));
    std::fs::write(&path, blob).expect("temp file");
    let command = kcbctl::Command::DecodeDump {
        path: path.to_string_lossy().into_owned(),
        json: true,
        options: kcbctl::EventsOptions::default(),
    };
    let (result, text, _) = run_kcbctl(&command, &mut NoDriver);
    result.expect("decode-dump");
    let _ = std::fs::remove_file(&path);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), records.len(), "{text}");
    for (line, record) in lines.iter().zip(&records) {
        assert!(
            line.starts_with(&format!("{{\"seq\":{},", record.header.sequence)),
            "{line}"
        );
    }
    records
}

/// Checks one secondary-dump answer against `maximum` and returns its records.
fn check_blob(dump: &ntsim::trigger::SecondaryDump, maximum: u32, tag: &str) -> Vec<EventRecord> {
    assert_eq!(dump.maximum_allowed, maximum);
    assert!(
        dump.data.len() <= maximum as usize,
        "{} > MaximumAllowed {maximum}",
        dump.data.len()
    );
    assert!(dump.size_query_length <= maximum && dump.out_buffer_length <= maximum);
    assert_eq!(dump.out_buffer_length as usize, dump.data.len());
    assert!(dump.own_buffer, "the blob is the driver's resident buffer");
    assert_eq!(guid_bytes(&dump.guid), FLIGHT_GUID);
    assert_eq!(guid_text(&dump.guid), "{5c1e9b2a-7f43-4d8e-9a61-0c3b5e2f8d17}");
    let records = decode_with_kcbctl(&dump.data, tag);
    // Wire format v2: the header, then each record at its real size.
    let body: usize = records.iter().map(EventRecord::wire_len).sum();
    assert_eq!(dump.data.len(), FLIGHT_HEADER_SIZE + body);
    records
}

/// The sequence of the newest `BugCheck` event in `records`.
fn bugcheck_event_sequence(records: &[EventRecord]) -> Option<u64> {
    records
        .iter()
        .rev()
        .find(|r| r.source() == Some(SourceId::BugCheck))
        .map(|r| r.header.sequence)
}

#[test]
fn flight_recorder_respects_maximum_allowed_and_holds_the_newest_events() {
    let mut kernel = loaded_with(&[("EnableFlood", 1)]);
    let drain = hold_drain();
    flood(&mut kernel, 10);
    let mut summary_bugchecks = None;

    let maxima = [
        0,
        8,
        FLIGHT_HEADER_SIZE as u32,
        100,
        RECORD_SIZE as u32,
        flight_size(1) as u32,
        flight_size(3) as u32,
        flight_size(3) as u32 + 300,
        1 << 20,
    ];
    for &maximum in &maxima {
        // SAFETY: the test holds the drain and reads no events meanwhile.
        let held = unsafe { held_records() } + 1; // + the bug check callback's own event
        let report = trigger::bug_check_with(
            0xE2,
            BugCheckOptions {
                in_buffer_length: 4096,
                maximum_allowed: maximum,
                copy_callback_buffers: true,
            },
        );
        // The summary callback ran first, once per bug check.
        let summary = active_summary_half(&report.callback_buffers[0].data);
        let count = u64::from_le_bytes(summary[32..40].try_into().unwrap());
        if let Some(previous) = summary_bugchecks {
            assert_eq!(count, previous + 1);
        }
        summary_bugchecks = Some(count);
        if (maximum as usize) < FLIGHT_HEADER_SIZE {
            assert!(
                report.secondary.is_empty(),
                "MaximumAllowed {maximum}: not even the header fits"
            );
            continue;
        }
        assert_eq!(report.secondary.len(), 1);
        let records = check_blob(&report.secondary[0], maximum, &format!("max{maximum}"));
        let expected = records_within(maximum as usize)
            .min(kcallbacks::pipeline::crash::FLIGHT_RECORDS)
            .min(held);
        assert_eq!(records.len(), expected, "MaximumAllowed {maximum}");
        if records.is_empty() {
            continue;
        }
        // The newest events, oldest first, with no gap: the newest is the
        // event the bug check callback recorded just before.
        assert!(
            records
                .windows(2)
                .all(|w| w[1].header.sequence == w[0].header.sequence + 1)
        );
        let newest = records.last().unwrap();
        assert_eq!(newest.source(), Some(SourceId::BugCheck));
        // Every bug check so far added a BugCheck event, and (from the
        // second on) the previous one's BugCheckReason event.
        let floods: Vec<u64> = records.iter().filter_map(flood_index).collect();
        if maximum == flight_size(3) as u32 {
            assert_eq!(records.len(), 3);
            assert_eq!(records[1].source(), Some(SourceId::BugCheckReason));
            assert_eq!(records[0].source(), Some(SourceId::BugCheck));
        }
        if maximum == 1 << 20 {
            // Larger than the blob: capped at FLIGHT_RECORDS, flood included, in order.
            assert_eq!(floods, (0..10).collect::<Vec<_>>());
        }
    }

    // The drain moves events on every tick: the blob must still hold the
    // newest ones, now from the client queue.
    drop(drain);
    flood(&mut kernel, 5);
    assert!(poll_until(DRAIN_TIMEOUT, rings_empty));
    std::thread::sleep(Duration::from_millis(300));
    let maximum = flight_size(3) as u32;
    let report = trigger::bug_check_with(
        0xE2,
        BugCheckOptions {
            in_buffer_length: 64,
            maximum_allowed: maximum,
            copy_callback_buffers: true,
        },
    );
    let records = check_blob(&report.secondary[0], maximum, "drained");
    let floods: Vec<u64> = records.iter().filter_map(flood_index).collect();
    assert_eq!(
        floods,
        [3, 4],
        "the flood's newest records, moved to the client queue by the drain"
    );
    assert_eq!(records[2].source(), Some(SourceId::BugCheck));

    // The events in the blob are the very events READ_EVENTS delivers.
    let blob_records = records;
    let last = blob_records.last().unwrap().header.sequence;
    let delivered = read_until(&mut kernel, "blob events", |all| {
        all.iter().any(|r| r.header.sequence == last)
    });
    for record in &blob_records {
        let same = delivered
            .iter()
            .find(|r| r.header.sequence == record.header.sequence)
            .expect("delivered");
        assert_eq!(
            bytes_of(same),
            bytes_of(record),
            "record {}",
            record.header.sequence
        );
    }
    unload_clean(&mut kernel);
}

#[test]
fn bug_check_summary_buffer_holds_counters_and_the_newest_events() {
    let mut kernel = loaded_with(&[("EnableFlood", 1)]);
    let drain = hold_drain();
    flood(&mut kernel, 20);
    let report = trigger::bug_check_with(
        0xE2,
        BugCheckOptions {
            copy_callback_buffers: true,
            ..Default::default()
        },
    );
    let buffer = &report.callback_buffers[0];
    assert_eq!(buffer.component.as_deref(), Some("kcallbacks"));
    let summary = &buffer.data;
    assert_eq!(buffer.length as usize, summary.len());
    let summary_events = (4096 - 128) / RECORD_SIZE;
    let half_size = 64 + summary_events * RECORD_SIZE;
    assert_eq!(summary.len(), 64 + 2 * half_size, "header + two halves");
    assert_eq!(&summary[..8], b"KCBSUM02");
    let version = kcallbacks::VERSION.as_bytes();
    assert_eq!(&summary[8..8 + version.len()], version);
    let half = active_summary_half(summary);
    let word = |offset: usize| u64::from_le_bytes(half[offset..offset + 8].try_into().unwrap());
    let (seen, recorded, dropped, count) = (word(8), word(16), word(24), word(40));
    // The BugCheck and BugCheckReason events are recorded after the summary was filled.
    let totals = rings::totals();
    assert_eq!(
        (seen + 2, recorded + 2, dropped),
        (totals.seen, totals.recorded, totals.dropped)
    );
    assert_eq!(count, summary_events as u64, "enough events for every slot");
    let records: Vec<EventRecord> = half[64..]
        .chunks_exact(RECORD_SIZE)
        .take(count as usize)
        .map(|c| EventRecord::from_bytes(c).expect("valid record"))
        .collect();
    let floods: Vec<u64> = records.iter().filter_map(flood_index).collect();
    assert_eq!(
        floods,
        (13..20).collect::<Vec<_>>(),
        "the newest events, oldest first"
    );
    drop(drain);
    let events = read_until(&mut kernel, "bug check event", count_of(SourceId::BugCheck, 1));
    let event = of(&events, SourceId::BugCheck)[0];
    let payload = event.payload::<BugCheckPayload>().unwrap();
    assert_eq!(payload.buffer, buffer.address as u64);
    assert_eq!(payload.buffer_length, summary.len() as u64);
    assert_eq!(payload.records_saved, count);
    assert_eq!(event.header.sequence, records.last().unwrap().header.sequence + 1);
    assert_eq!(bugcheck_event_sequence(&events), Some(event.header.sequence));
    unload_clean(&mut kernel);
}

// --- The model's bug check runs the callbacks alone -------------------------------------

static FROZEN_RING: std::sync::Mutex<Option<(usize, usize, usize, usize)>> = std::sync::Mutex::new(None);
// SAFETY: all-zero is KeInitializeCallbackRecord's result (State = BufferEmpty).
static WATCH_RECORD: Cell<KBUGCHECK_CALLBACK_RECORD> =
    Cell(std::cell::UnsafeCell::new(unsafe { std::mem::zeroed() }));

/// A bug check callback that watches, for longer than the drain's tick,
/// whether anything else in the driver moves.
unsafe extern "C" fn watch_frozen(_: *mut c_void, _: u32) {
    let used = || rings::get().map_or(0, rings::RingSet::used_bytes);
    let (ring, prints) = (used(), ntsim::dbgprint::debug_calls().len());
    std::thread::sleep(Duration::from_millis(350));
    *FROZEN_RING.lock().unwrap() = Some((ring, used(), prints, ntsim::dbgprint::debug_calls().len()));
}

#[test]
fn bug_check_callbacks_run_with_the_other_processors_frozen() {
    let kernel = loaded_with(&[]);
    let record = register_bug_check_callback(&WATCH_RECORD, watch_frozen);
    let _ = trigger::bug_check(0xE2);
    let (ring_before, ring_after, prints_before, prints_after) =
        FROZEN_RING.lock().unwrap().take().expect("ran");
    assert!(
        ring_before >= 1,
        "the driver's callback (registered first) recorded its event"
    );
    assert_eq!(
        ring_after, ring_before,
        "the drain did not run during the bug check"
    );
    assert_eq!(
        prints_after, prints_before,
        "nothing printed during the bug check"
    );
    // Afterwards the drain runs again.
    assert!(poll_until(DRAIN_TIMEOUT, rings_empty));
    // SAFETY: the record registered above.
    assert_eq!(unsafe { ntsim::kecb::KeDeregisterBugCheckCallback(record) }, 1);
    drop(kernel);
}
