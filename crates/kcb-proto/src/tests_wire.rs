//! Wire format v2: records at their real size, framed streams, refusal of
//! the retired format v1.

use std::format;
use std::vec;
use std::vec::Vec;

use super::image_record;
use crate::stream::{StreamWriter, compact_in_place, decode_records};
use crate::*;

/// A record of every source whose payload's last byte is set, so its wire
/// size is the header plus the source's payload layout (rounded up to 8).
fn full_record(source: SourceId, kind: u16) -> EventRecord {
    let mut record = EventRecord::new(source, kind);
    record.header.sequence = u64::from(source.as_u16()) + 1;
    record.header.timestamp = 0x01DA_0000_0000_0000;
    record.header.pid = 4;
    let last = payload_size(source) - 1;
    record.payload[last] = 1;
    record
}

/// Frames `records` as one stream body.
fn body_of(records: &[EventRecord]) -> Vec<u8> {
    let mut body = vec![0_u8; records.len() * RECORD_SIZE];
    let mut writer = StreamWriter::new(&mut body);
    for record in records {
        assert!(writer.push(record));
    }
    let len = writer.len();
    body.truncate(len);
    body
}

#[test]
fn every_source_round_trips_at_its_real_size() {
    let records: Vec<_> = SourceId::ALL
        .iter()
        .map(|&source| full_record(source, 1))
        .chain([EventRecord::new(SourceId::Nmi, 0), image_record()])
        .collect();
    let mut sizes = Vec::new();
    for record in &records {
        let source = record.source().unwrap();
        let len = record.wire_len();
        assert!(len.is_multiple_of(8) && (HEADER_SIZE..=RECORD_SIZE).contains(&len));
        if record.payload.iter().any(|b| *b != 0) && record.header.kind == 1 {
            assert_eq!(
                len,
                HEADER_SIZE + payload_size(source).next_multiple_of(8),
                "{source:?}"
            );
        }
        let mut out = [0_u8; RECORD_SIZE + 8];
        assert_eq!(record.encode_wire(&mut out), Some(len));
        assert_eq!(&out[SIZE_OFFSET..SIZE_OFFSET + 2], &(len as u16).to_le_bytes());
        assert_eq!(EventRecord::decode_wire(&out), Ok((*record, len)), "{source:?}");
        // Too short an output: nothing written.
        let mut short = vec![0_u8; len - 8];
        assert_eq!(record.encode_wire(&mut short), None);
        assert!(short.iter().all(|b| *b == 0));
        sizes.push(len);
    }
    sizes.sort_unstable();
    sizes.dedup();
    assert!(sizes.len() >= 5, "record sizes differ by source: {sizes:?}");
    assert_eq!(sizes[0], HEADER_SIZE);

    let body = body_of(&records);
    assert_eq!(
        body.len(),
        records.iter().map(EventRecord::wire_len).sum::<usize>()
    );
    let decoded: Vec<_> = decode_records(&body, records.len(), 100)
        .unwrap()
        .map(|(offset, record)| (offset, record.unwrap()))
        .collect();
    let mut offset = 100;
    for ((at, got), sent) in decoded.iter().zip(&records) {
        assert_eq!(*at, offset);
        assert_eq!(got, sent);
        offset += sent.wire_len();
    }
    assert_eq!(decoded.len(), records.len());
}

#[test]
fn truncated_and_lying_lengths_are_refused() {
    let records = [
        image_record(),
        EventRecord::new(SourceId::Nmi, 1),
        full_record(SourceId::ThreadCreate, 1),
    ];
    let body = body_of(&records);
    let first = records[0].wire_len();
    // Every cut is refused.
    // Miri runs these tests too (`cargo xtask miri`): fewer rounds there.
    let step = if cfg!(miri) { 37 } else { 1 };
    for cut in (0..body.len()).step_by(step) {
        assert!(decode_records(&body[..cut], 3, 0).is_err(), "cut at {cut}");
    }
    // Fewer records announced than present: bytes left over.
    assert_eq!(
        decode_records(&body, 2, 0).err(),
        Some(DecodeError::WrongSize {
            expected: first + HEADER_SIZE,
            actual: body.len()
        })
    );
    // More announced than present.
    assert!(matches!(
        decode_records(&body, 4, 0),
        Err(DecodeError::TooShort { .. })
    ));
    let lie = |size: u16| {
        let mut bad = body.clone();
        bad[first + SIZE_OFFSET..first + SIZE_OFFSET + 2].copy_from_slice(&size.to_le_bytes());
        decode_records(&bad, 3, 0).err()
    };
    for size in [0, 8, 40, 52, 513, 520, u16::MAX] {
        assert_eq!(
            lie(size),
            Some(DecodeError::BadRecordSize {
                offset: first,
                size: usize::from(size)
            }),
            "size {size}"
        );
    }
    // A size that stays within the input but lies: the framing of the
    // records after it no longer matches.
    assert!(lie(u16::try_from(HEADER_SIZE + 8).unwrap()).is_some());
    // Garbage never panics.
    let mut seed = 0x1234_5678_u64;
    for _ in 0..if cfg!(miri) { 20 } else { 2000 } {
        let mut bad = body.clone();
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let at = (seed >> 33) as usize % bad.len();
        bad[at] ^= (seed >> 17) as u8 | 1;
        if let Ok(records) = decode_records(&bad, 3, 0) {
            let _ = records.count();
        }
        let _ = decode_read_events(&bad);
    }
}

/// A format-v1 `READ_EVENTS` reply: 16-byte header, fixed 512-byte records.
fn v1_reply(count: u32) -> Vec<u8> {
    let mut reply = Vec::new();
    reply.extend_from_slice(&count.to_le_bytes());
    reply.extend_from_slice(&0_u32.to_le_bytes());
    reply.extend_from_slice(&0_u64.to_le_bytes());
    for _ in 0..count {
        let mut record = image_record();
        record.header.version = 1;
        reply.extend_from_slice(record.as_bytes());
    }
    reply
}

#[test]
fn version_1_input_is_refused_with_the_versions_named() {
    let retired = DecodeError::RetiredFormat {
        found: 1,
        expected: 2,
    };
    for count in [0, 1, 3] {
        assert_eq!(
            decode_read_events(&v1_reply(count)).err(),
            Some(retired),
            "{count} records"
        );
    }
    let message = format!("{retired}");
    assert!(
        message.contains("format v1 (fixed 512-byte records) is no longer read"),
        "{message}"
    );
    assert!(message.contains("reads v2"), "{message}");
    assert!(message.contains("kcbctl of the same driver version"), "{message}");
    // A v1 record inside a v2 stream.
    let mut record = image_record();
    record.header.version = 1;
    let mut out = [0_u8; RECORD_SIZE];
    let len = record.encode_wire(&mut out).unwrap();
    assert_eq!(decode_records(&out[..len], 1, 0).err(), Some(retired));
    // A v2 header with version 1 or 3.
    let mut reply = vec![0_u8; read_events_buffer_size(1)];
    let writer = ReadEventsWriter::new(&mut reply, 0).unwrap();
    let n = writer.finish(0, 0, 0);
    reply.truncate(n);
    assert!(decode_read_events(&reply).is_ok());
    reply[8] = 1;
    assert_eq!(decode_read_events(&reply).err(), Some(retired));
    reply[8] = 3;
    assert_eq!(
        decode_read_events(&reply).err(),
        Some(DecodeError::UnsupportedVersion(3))
    );
    // Neither v1 nor v2.
    assert_eq!(
        decode_read_events(&[7_u8; 64]).err(),
        Some(DecodeError::InvalidField("magic"))
    );
}

#[test]
fn writer_never_splits_a_record() {
    let big = image_record();
    let small = EventRecord::new(SourceId::Nmi, 1);
    let room = READ_EVENTS_HEADER_SIZE + small.wire_len() + big.wire_len() - 8;
    let mut out = vec![0_u8; room];
    let mut writer = ReadEventsWriter::new(&mut out, 0).unwrap();
    assert!(writer.push(&small));
    assert!(!writer.fits(big.wire_len()));
    assert!(!writer.push(&big));
    assert!(writer.push(&small));
    assert_eq!(writer.written(), 2);
    let n = writer.finish(1, 0, u32::try_from(big.wire_len()).unwrap());
    let batch = decode_read_events(&out[..n]).unwrap();
    assert_eq!(batch.header.next_size as usize, big.wire_len());
    assert_eq!(
        batch.records().map(Result::unwrap).collect::<Vec<_>>(),
        vec![small, small]
    );
}

#[test]
fn compact_in_place_matches_the_writer() {
    let records: Vec<_> = SourceId::ALL.iter().map(|&s| full_record(s, 2)).collect();
    let expected = body_of(&records);
    let mut storage = records;
    let len = compact_in_place(&mut storage);
    assert_eq!(len, expected.len());
    assert_eq!(&slice_bytes_mut(&mut storage)[..len], &expected[..]);
    assert_eq!(compact_in_place(&mut []), 0);
}
