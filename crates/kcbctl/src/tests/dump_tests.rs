//! `kcbctl decode-dump` and the flight-recorder blob decoder.

use super::*;

fn decode_cmd(bytes: &[u8], json: bool) -> (Result<(), Error>, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let stop = AtomicBool::new(false);
    let result = {
        let mut console = Console {
            out: &mut out,
            err: &mut err,
            stop: &stop,
            poll_interval: Duration::ZERO,
        };
        crate::decode_dump_bytes(bytes, json, &mut console)
    };
    (
        result,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn dump_round_trip() {
    let records = tricky_records();
    let blob = encode_dump(&records);
    assert_eq!(&blob[..8], b"KCBFLT01");
    let body: usize = records.iter().map(EventRecord::wire_len).sum();
    assert_eq!(blob.len(), FLIGHT_HEADER_SIZE + body);
    assert!(body < records.len() * RECORD_SIZE);
    let dump = decode_dump(&blob).unwrap();
    assert!(dump.has_header);
    assert_eq!(dump.records().copied().collect::<Vec<_>>(), records);
    // kcb-proto's decoder reads the same bytes.
    let theirs: Vec<EventRecord> = decode_flight(&blob).unwrap().map(|(_, r)| r.unwrap()).collect();
    assert_eq!(theirs, records);

    let (result, out, err) = decode_cmd(&blob, true);
    result.unwrap();
    assert_eq!(out.lines().count(), records.len());
    for line in out.lines() {
        serde_json::from_str::<Value>(line).unwrap();
    }
    assert_eq!(err, "kcbctl: 5 records\n");

    // Zero padding after the records (the unused secondary-data buffer).
    let mut padded = blob.clone();
    padded.resize(blob.len() + 4096, 0);
    assert_eq!(decode_dump(&padded).unwrap().slots.len(), records.len());

    // Text, through `run` and a real file.
    let path = std::env::temp_dir().join(format!("kcbctl-test-{}.bin", std::process::id()));
    std::fs::write(&path, &blob).unwrap();
    let command = Command::DecodeDump {
        path: path.to_string_lossy().into_owned(),
        json: false,
        options: EventsOptions::default(),
    };
    let (result, out, _) = run_cmd(&command, &mut FakeDriver::new());
    std::fs::remove_file(&path).unwrap();
    result.unwrap();
    assert!(out.lines().next().unwrap().starts_with("#1 t="));
    assert_eq!(out.lines().count(), records.len());
}

#[test]
fn dump_without_header_reads_wire_records_then_zeros() {
    let records = [
        image_load(1, "a"),
        EventRecord::new(SourceId::Flood, 0),
        image_load(2, "b"),
    ];
    let blob = encode_dump(&records);
    let mut raw = blob[FLIGHT_HEADER_SIZE..].to_vec();
    raw.resize(raw.len() + RECORD_SIZE, 0);
    let dump = decode_dump(&raw).unwrap();
    assert!(!dump.has_header);
    assert_eq!(dump.records().copied().collect::<Vec<_>>(), records);
    assert_eq!(dump.slots[1].offset, records[0].wire_len());
    let (result, out, err) = decode_cmd(&raw, false);
    result.unwrap();
    assert_eq!(out.lines().count(), 3);
    assert_eq!(err, "kcbctl: 3 records (blob without header)\n");
    // A headerless file of version-1 (fixed 512-byte) records is refused by name.
    let mut v1 = Vec::new();
    for record in &records {
        let mut old = *record;
        old.header.version = 1;
        v1.extend_from_slice(old.as_bytes());
    }
    assert_eq!(decode_dump(&v1), Err(DumpError::Retired));
}

#[test]
fn dump_rejects_malformed_blobs() {
    let blob = encode_dump(&[image_load(1, "a"), image_load(2, "b")]);
    let body = blob.len() - FLIGHT_HEADER_SIZE;
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = blob.clone();
        f(&mut b);
        decode_dump(&b)
    };
    assert_eq!(decode_dump(&[]), Err(DumpError::Empty));
    assert_eq!(
        decode_dump(b"KCBFLT01\x02\x00"),
        Err(DumpError::TruncatedHeader { actual: 10 })
    );
    assert_eq!(
        decode_dump(b"KCBFLT01\x02\x00\x00\x00\x01\x00"),
        Err(DumpError::TruncatedHeader { actual: 14 })
    );
    assert_eq!(with(&|b| b[8] = 3), Err(DumpError::UnsupportedVersion(3)));
    assert_eq!(with(&|b| b[8] = 1), Err(DumpError::Retired));
    assert!(matches!(
        with(&|b| b[12..16].copy_from_slice(&3u32.to_le_bytes())),
        Err(DumpError::Framing(kcb_proto::DecodeError::TooShort { .. }))
    ));
    assert!(matches!(
        with(&|b| b[12..16].copy_from_slice(&1u32.to_le_bytes())),
        Err(DumpError::Framing(kcb_proto::DecodeError::WrongSize { .. }))
    ));
    assert!(matches!(
        with(&|b| b[12..16].copy_from_slice(&u32::MAX.to_le_bytes())),
        Err(DumpError::Framing(_))
    ));
    assert_eq!(
        with(&|b| b.truncate(b.len() - 1)),
        Err(DumpError::TruncatedRecords {
            length: u32::try_from(body).unwrap(),
            present: body - 1
        })
    );
    // A lying size field in the second record.
    let second = FLIGHT_HEADER_SIZE + image_load(1, "a").wire_len();
    assert_eq!(
        with(&|b| b[second + 14..second + 16].copy_from_slice(&1000u16.to_le_bytes())),
        Err(DumpError::Framing(kcb_proto::DecodeError::BadRecordSize {
            offset: second,
            size: 1000
        }))
    );
    assert_eq!(
        with(&|b| b.extend_from_slice(&[0, 0, 7])),
        Err(DumpError::TrailingData {
            offset: blob.len() + 2
        })
    );
    assert!(matches!(
        decode_dump(&[1u8; 100]),
        Err(DumpError::NotRecords { actual: 100, .. })
    ));
    // The command reports the blob error and prints nothing.
    let (result, out, _) = decode_cmd(b"garbage", true);
    assert!(out.is_empty());
    let e = result.unwrap_err();
    assert!(
        e.to_string()
            .starts_with("not a valid flight-recorder blob: no `KCBFLT01` header"),
        "{e}"
    );
}

#[test]
fn dump_refuses_a_version_1_blob_with_a_clear_message() {
    // The v1 layout: 16-byte header (magic, version 1, count), 512-byte records.
    let mut v1 = Vec::new();
    v1.extend_from_slice(b"KCBFLT01");
    v1.extend_from_slice(&1u32.to_le_bytes());
    v1.extend_from_slice(&1u32.to_le_bytes());
    let mut record = image_load(1, "a");
    record.header.version = 1;
    v1.extend_from_slice(record.as_bytes());
    let (result, out, _) = decode_cmd(&v1, false);
    assert!(out.is_empty());
    let message = result.unwrap_err().to_string();
    assert_eq!(
        message,
        "not a valid flight-recorder blob: blob format v1 (fixed 512-byte records) is no longer \
         read (this build reads v2, variable-size records); use the kcbctl of the same driver \
         version"
    );
}

#[test]
fn dump_reports_torn_records_and_prints_the_rest() {
    let mut blob = encode_dump(&[image_load(1, "a"), image_load(2, "b"), image_load(3, "c")]);
    // Record 1: version 7.
    let second = FLIGHT_HEADER_SIZE + image_load(1, "a").wire_len();
    blob[second] = 7;
    let (result, out, err) = decode_cmd(&blob, false);
    assert_eq!(out.lines().count(), 2);
    assert!(
        err.contains(&format!(
            "record 1 (offset {second}): unsupported version 7; skipped"
        )),
        "{err}"
    );
    assert!(err.ends_with("kcbctl: 2 records, 1 invalid\n"), "{err}");
    let (_, _, err) = decode_cmd(&encode_dump(&[image_load(1, "a")]), false);
    assert_eq!(err, "kcbctl: 1 record\n");
    assert!(matches!(
        result,
        Err(Error::InvalidRecords { invalid: 1, total: 3 })
    ));
}

#[test]
fn dump_decoder_survives_garbage() {
    // Deterministic pseudo-random blobs, with and without a valid header.
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..400 {
        let len = usize::try_from(next() % 3000).unwrap();
        let mut bytes: Vec<u8> = (0..len).map(|_| next().to_le_bytes()[0]).collect();
        if round % 2 == 0 && len >= 16 {
            bytes[..8].copy_from_slice(b"KCBFLT01");
            bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
            let count = u32::try_from(next() % 8).unwrap();
            bytes[12..16].copy_from_slice(&count.to_le_bytes());
            if len >= 24 {
                let length = u32::try_from(next() % 3000).unwrap();
                bytes[16..20].copy_from_slice(&length.to_le_bytes());
            }
        }
        if round % 5 == 0 {
            bytes.truncate(bytes.len() / RECORD_SIZE * RECORD_SIZE);
        }
        // Never panics; whatever decodes also prints.
        let _ = decode_dump(&bytes);
        let (_, out, _) = decode_cmd(&bytes, true);
        for line in out.lines() {
            serde_json::from_str::<Value>(line).unwrap();
        }
    }
}
