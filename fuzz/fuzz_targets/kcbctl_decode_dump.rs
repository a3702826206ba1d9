//! kcbctl's flight-recorder blob decoder (`kcbctl decode-dump`) on
//! arbitrary files.
//!
//! Properties: never panics; slots lie inside the file; the valid records
//! re-encode to a blob that decodes to the same records; printing (text and
//! JSON) never panics.

#![no_main]

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use kcb_proto::{EventRecord, RECORD_SIZE, RECORD_VERSION, SOURCE_COUNT};
use kcbctl::Console;
use kcbctl::dump::{DUMP_MAGIC, DUMP_VERSION, decode_dump, encode_dump};
use libfuzzer_sys::fuzz_target;

/// Checks one blob; returns whether it decoded.
fn check(data: &[u8]) -> bool {
    let decoded = decode_dump(data);
    if let Ok(dump) = &decoded {
        for slot in &dump.slots {
            assert!(slot.offset + RECORD_SIZE <= data.len());
        }
        let records: Vec<EventRecord> = dump.records().copied().collect();
        let again = decode_dump(&encode_dump(&records)).expect("re-encoded blob decodes");
        assert!(again.has_header);
        assert_eq!(again.records().copied().collect::<Vec<_>>(), records);
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
    // Structured: a well-formed header announcing the input's records, each
    // padded to a whole record with a current version and a source picked by
    // the input, so the per-record paths are reached from short inputs.
    let mut blob = Vec::new();
    blob.extend_from_slice(&DUMP_MAGIC);
    blob.extend_from_slice(&DUMP_VERSION.to_le_bytes());
    let chunks: Vec<&[u8]> = data.chunks(RECORD_SIZE).take(4).collect();
    blob.extend_from_slice(&(chunks.len() as u32).to_le_bytes());
    for chunk in &chunks {
        let mut record = [0u8; RECORD_SIZE];
        record[..chunk.len()].copy_from_slice(chunk);
        record[0..2].copy_from_slice(&RECORD_VERSION.to_le_bytes());
        let source = u16::from(chunk[0]) % (SOURCE_COUNT as u16 + 1);
        record[2..4].copy_from_slice(&source.to_le_bytes());
        blob.extend_from_slice(&record);
    }
    assert!(check(&blob), "a well-formed blob must decode");
});
