//! kcbctl's flight-recorder blob decoder (`kcbctl decode-dump`) on
//! arbitrary files, checked against kcb-proto's `decode_flight`.
//!
//! Properties: never panics; slots lie inside the file; the valid records
//! re-encode to a blob that decodes to the same records; whenever kcbctl
//! accepts a blob with a header, `decode_flight` accepts it and yields the
//! same records (kcbctl only adds the zero-tail check and headerless blobs);
//! printing (text and JSON) never panics.

#![no_main]

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use kcb_proto::flight::{FLIGHT_VERSION, decode_flight};
use kcb_proto::{EventRecord, HEADER_SIZE, RECORD_SIZE, RECORD_VERSION, SOURCE_COUNT, read_pod};
use kcbctl::Console;
use kcbctl::dump::{DumpError, decode_dump, encode_dump};
use libfuzzer_sys::fuzz_target;

/// Checks one blob; returns whether kcbctl decoded it.
fn check(data: &[u8]) -> bool {
    let decoded = decode_dump(data);
    if let Ok(dump) = &decoded {
        for slot in &dump.slots {
            assert!(slot.offset + HEADER_SIZE <= data.len());
        }
        let records: Vec<EventRecord> = dump.records().copied().collect();
        let again = decode_dump(&encode_dump(&records)).expect("re-encoded blob decodes");
        assert!(again.has_header);
        assert_eq!(again.records().copied().collect::<Vec<_>>(), records);
        if dump.has_header {
            let theirs: Vec<_> = decode_flight(data)
                .expect("decode_flight accepts what kcbctl accepts")
                .collect();
            let ours: Vec<_> = dump.slots.iter().map(|s| (s.offset, s.record)).collect();
            assert_eq!(ours, theirs);
        }
    }
    if let Ok(theirs) = decode_flight(data) {
        let theirs: Vec<_> = theirs.collect();
        match &decoded {
            Ok(dump) => assert_eq!(dump.slots.len(), theirs.len()),
            Err(e) => assert!(matches!(e, DumpError::TrailingData { .. }), "{e}"),
        }
    }
    let stop = AtomicBool::new(false);
    for json in [false, true] {
        let mut console = Console {
            out: &mut std::io::sink(),
            err: &mut std::io::sink(),
            stop: &stop,
            poll_interval: Duration::ZERO,
        };
        let _ = kcbctl::decode_dump_bytes(data, json, &mut console);
    }
    decoded.is_ok()
}

fuzz_target!(|data: &[u8]| {
    check(data);
    // Structured: a well-formed v2 blob of the input's records, each padded
    // to a whole record with a current version and a source picked by the
    // input, so the per-record paths are reached from short inputs.
    let records: Vec<EventRecord> = data
        .chunks(RECORD_SIZE)
        .take(4)
        .map(|chunk| {
            let mut record = [0u8; RECORD_SIZE];
            record[..chunk.len()].copy_from_slice(chunk);
            record[0..2].copy_from_slice(&RECORD_VERSION.to_le_bytes());
            let source = u16::from(chunk[0]) % (SOURCE_COUNT as u16 + 1);
            record[2..4].copy_from_slice(&source.to_le_bytes());
            read_pod(&record).unwrap()
        })
        .collect();
    let blob = encode_dump(&records);
    assert_eq!(
        u32::from_le_bytes([blob[8], blob[9], blob[10], blob[11]]),
        FLIGHT_VERSION
    );
    assert!(check(&blob), "a well-formed blob must decode");
});
