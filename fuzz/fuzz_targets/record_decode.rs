//! The client-side decoders on arbitrary bytes: `EventRecord::from_bytes`
//! and `EventRecord::decode_wire` (wire format v2) with `write_text` /
//! `write_json`, `stream::decode_records`, and the IOCTL reply decoders.
//!
//! Properties: never panics; both formats write exactly one line; the JSON
//! of a validated record parses; every accessor of a decoded reply works.

#![no_main]

use kcb_proto::{
    ConfigResponse, EventRecord, FloodResponse, HEADER_SIZE, RECORD_SIZE, RECORD_VERSION,
    ReadEventsWriter, SOURCE_COUNT, SourceId, StatsResponse, decode_callback_objects,
    decode_read_events, decode_report, decode_response, read_events_buffer_size, read_pod,
    stream::decode_records, write_json, write_text,
};
use libfuzzer_sys::fuzz_target;

fn format(record: &EventRecord, validated: bool) {
    let mut text = String::new();
    write_text(record, &mut text).unwrap();
    assert!(
        !text.contains(['\n', '\r']),
        "text is not one line: {text:?}"
    );

    let mut json = String::new();
    write_json(record, &mut json).unwrap();
    assert!(
        !json.contains(['\n', '\r']),
        "JSON is not one line: {json:?}"
    );
    if validated {
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&json) {
            panic!("invalid JSON ({e}): {json}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // Exactly as the client decodes one record (any length).
    if let Ok(record) = EventRecord::from_bytes(data) {
        format(&record, true);
    }
    // The formatters promise not to panic on unvalidated records either.
    let mut padded = [0u8; RECORD_SIZE];
    let n = data.len().min(RECORD_SIZE);
    padded[..n].copy_from_slice(&data[..n]);
    if let Some(raw) = read_pod::<EventRecord>(&padded) {
        format(&raw, false);
    }
    // Structured: the same bytes with a current version and a source picked
    // by the input (one in 24 unknown), so short inputs reach every payload
    // layout through the validating decoder.
    padded[0..2].copy_from_slice(&RECORD_VERSION.to_le_bytes());
    let source = u16::from(data.first().copied().unwrap_or(0)) % (SOURCE_COUNT as u16 + 1);
    padded[2..4].copy_from_slice(&source.to_le_bytes());
    if let Ok(record) = EventRecord::from_bytes(&padded) {
        format(&record, true);
        // The same record inside a READ_EVENTS reply (wire format v2).
        let mut reply = vec![0u8; read_events_buffer_size(2)];
        let mut writer = ReadEventsWriter::new(&mut reply, 0).unwrap();
        assert!(writer.push(&record) && writer.push(&record));
        let len = writer.finish(0, 0, 0);
        let batch = decode_read_events(&reply[..len]).expect("well-formed reply");
        let back: Vec<_> = batch.records().map(Result::unwrap).collect();
        // `size` is a wire-only field: decoding clears it.
        let mut expected = record;
        expected.header.size = 0;
        assert_eq!(back, [expected, expected]);
        // Every cut of it is refused, never mis-read.
        let cut = usize::from(data.get(1).copied().unwrap_or(0)) % len;
        assert!(decode_read_events(&reply[..cut]).is_err());
    }
    // One wire record, and a stream of them, straight from the input.
    if let Ok((record, size)) = EventRecord::decode_wire(data) {
        assert!(size >= HEADER_SIZE && size <= data.len() && size % 8 == 0);
        assert!(record.wire_len() <= size);
        format(&record, true);
    }
    let count = usize::from(data.first().copied().unwrap_or(0) % 8);
    if let Ok(records) = decode_records(data, count, 0) {
        assert_eq!(records.len(), count);
        for (offset, record) in records {
            assert!(offset + HEADER_SIZE <= data.len());
            if let Ok(record) = record {
                format(&record, true);
            }
        }
    }

    if let Ok(batch) = decode_read_events(data) {
        assert_eq!(batch.len(), batch.header.returned as usize);
        assert!(batch.header.length as usize <= data.len());
        for record in batch.records().flatten() {
            format(&record, true);
        }
    }
    if let Ok(report) = decode_report(data) {
        let _ = report.header.driver_version_str();
        assert!(report.entries.len() <= report.header.entry_count as usize);
        for entry in report.entries.iter() {
            let _ = (entry.name_str(), entry.state());
        }
        let _ = report.entries.get(usize::MAX);
    }
    if let Ok(list) = decode_callback_objects(data) {
        assert!(list.entries.len() <= list.header.count as usize);
        for entry in list.entries.iter() {
            let _ = entry.state();
            let _: String = entry.name.chars().collect();
        }
    }
    if let Ok(stats) = decode_response::<StatsResponse>(data) {
        assert_eq!(stats.sources.len(), SourceId::ALL.len());
    }
    if let Ok(config) = decode_response::<ConfigResponse>(data) {
        for source in SourceId::ALL {
            let _ = (config.is_enabled(source), config.origin(source));
        }
    }
    let _ = decode_response::<FloodResponse>(data);
});
