//! Cross-module tests: records, formatting, IOCTL encode/decode.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    reason = "test data generation"
)]

use std::string::String;
use std::vec;
use std::vec::Vec;

use crate::*;

fn text(rec: &EventRecord) -> String {
    let mut s = String::new();
    write_text(rec, &mut s).unwrap();
    s
}

fn json(rec: &EventRecord) -> String {
    let mut s = String::new();
    write_json(rec, &mut s).unwrap();
    s
}

fn image_record() -> EventRecord {
    let mut rec = EventRecord::build(kind::NONE, |p: &mut ImageLoadPayload| {
        p.image_base = 0xFFFF_F800_1234_0000;
        p.image_size = 0x7000;
        p.flags = IMAGE_FLAG_SYSTEM_MODE;
        p.name.set_from_str("C:\\drv2.sys");
    });
    rec.header.sequence = 42;
    rec.header.cpu = 1;
    rec.header.timestamp = 133_000_000_000_000_000;
    rec
}

#[test]
fn record_layout() {
    assert_eq!(core::mem::size_of::<EventRecord>(), 512);
    assert_eq!(core::mem::align_of::<EventRecord>(), 8);
    assert_eq!(core::mem::size_of::<EventHeader>(), 48);
    assert_eq!(PAYLOAD_SIZE, 464);
    let rec = EventRecord::new(SourceId::Nmi, 0);
    let bytes = rec.as_bytes();
    assert_eq!(bytes.len(), 512);
    assert_eq!(&bytes[0..2], &RECORD_VERSION.to_le_bytes());
    assert_eq!(&bytes[2..4], &8u16.to_le_bytes());
}

#[test]
fn record_round_trip_every_source() {
    for source in SourceId::ALL {
        let mut rec = EventRecord::new(source, 3);
        rec.header.sequence = u64::from(source.as_u16()) * 7;
        rec.header.pid = 1234;
        let back = EventRecord::from_bytes(rec.as_bytes()).unwrap();
        assert_eq!(back, rec);
        assert_eq!(back.source(), Some(source));
        // formatting never fails and names the source
        assert!(text(&rec).contains(source.name()));
        assert!(json(&rec).contains(&std::format!("\"source\":\"{}\"", source.name())));
    }
}

#[test]
fn typed_payload_access() {
    let rec = image_record();
    assert!(rec.payload::<ProcessPayload>().is_none());
    let p = rec.payload::<ImageLoadPayload>().unwrap();
    assert_eq!(p.image_size, 0x7000);
    assert!(p.name.eq_str("C:\\drv2.sys"));
    assert!(!rec.is_truncated());

    let mut rec2 = EventRecord::with_payload(
        kind::CREATE,
        &ProcessPayload {
            parent_pid: 4,
            creating_pid: 5,
            creating_tid: 6,
            flags: PROCESS_FLAG_FILE_OPEN_NAME_AVAILABLE,
            exit_status: 0,
            image_name: WStr::from_str_truncating("\\??\\C:\\Windows\\notepad.exe"),
            command_line: WStr::from_str_truncating(&"x".repeat(500)),
        },
    );
    assert_eq!(rec2.source(), Some(SourceId::ProcessCreate));
    assert!(rec2.is_truncated(), "truncated command line sets the header flag");
    let p = rec2.payload_mut::<ProcessPayload>().unwrap();
    p.command_line.set_from_str("notepad");
    rec2.update_truncated_flag();
    assert!(!rec2.is_truncated());
    assert!(rec2.payload_mut::<ThreadPayload>().is_none());
}

#[test]
fn text_format() {
    let line = text(&image_record());
    assert_eq!(
        line,
        "#42 t=2022-06-18T04:26:40.0000000Z cpu=1 irql=0 LoadImage pid=0 tid=0 \
         base=0xfffff80012340000 size=0x7000 properties=0x0 system_mode=1 extended_info=0 \
         signature_level=0 signature_type=0 name=C:\\drv2.sys"
    );
    let mut rec = EventRecord::build(kind::EXIT, |p: &mut ProcessPayload| {
        p.exit_status = -1_073_741_510; // 0xC000013A
        p.image_name.set_from_str("a b\"c\n");
        p.command_line = WStr::from_str_truncating(&"y".repeat(200));
    });
    rec.header.pid = 77;
    let line = text(&rec);
    assert!(line.contains("ProcessCreate.exit pid=77"), "{line}");
    assert!(line.contains("exit_status=0xC000013A"), "{line}");
    assert!(line.contains("image=\"a b\\\"c\\x0a\""), "{line}");
    assert!(line.ends_with("y..."), "{line}");
    assert!(!line.contains('\n'));
}

#[test]
fn json_format_and_escaping() {
    let j = json(&image_record());
    assert_eq!(
        j,
        "{\"seq\":42,\"timestamp\":133000000000000000,\"time\":\"2022-06-18T04:26:40.0000000Z\",\
         \"cpu\":1,\"irql\":0,\"source\":\"LoadImage\",\"source_id\":1,\"kind\":0,\"version\":2,\
         \"flags\":0,\"pid\":0,\"tid\":0,\"base\":18446735277921927168,\"size\":28672,\
         \"properties\":0,\"system_mode\":true,\"extended_info\":false,\"signature_level\":0,\
         \"signature_type\":0,\"name\":\"C:\\\\drv2.sys\"}"
    );
    let rec = EventRecord::build(kind::POST, |p: &mut RegistryPayload| {
        p.key_path
            .set_from_str("q\"b\\s\u{1}\t\r\n\u{8}\u{c}\u{2028}é\u{1F600}");
        p.value_name = WStr::from_str_truncating(&"v".repeat(61));
        p.status = -1_073_741_772; // 0xC0000034
    });
    let j = json(&rec);
    assert!(j.contains(r#""key":"q\"b\\s\u0001\t\r\n\b\f\u2028é😀""#), "{j}");
    assert!(j.contains("\"value_truncated\":true"), "{j}");
    assert!(j.contains("\"kind\":2,\"kind_name\":\"post\""), "{j}");
    assert!(j.contains("\"status\":-1073741772"), "{j}");
    // unpaired surrogate becomes U+FFFD, still valid JSON text
    let rec = EventRecord::build(0, |p: &mut DriverPayload| {
        p.message = WStr::from_utf16(&[0xD800, u16::from(b'x')]);
    });
    assert!(json(&rec).contains("\"message\":\"\u{FFFD}x\""));
}

#[test]
fn json_guids_and_enums() {
    let rec = EventRecord::build(0, |p: &mut PlugPlayPayload| {
        p.event = guid_bytes(
            0xCB3A_4004,
            0x46F0,
            0x11D0,
            [0xB0, 0x8F, 0x00, 0x60, 0x97, 0x13, 0x05, 0x3F],
        );
        p.symbolic_link.set_from_str("\\??\\USB#VID");
    });
    let j = json(&rec);
    assert!(
        j.contains("\"event\":\"CB3A4004-46F0-11D0-B08F-00609713053F\""),
        "{j}"
    );
    let rec = EventRecord::build(kind::PRE, |p: &mut ObjectHandlePayload| {
        p.operation = OB_OPERATION_HANDLE_DUPLICATE;
        p.object_type = 9;
        p.desired_access = 0x001F_FFFF;
    });
    let j = json(&rec);
    assert!(
        j.contains("\"operation\":2,\"operation_name\":\"duplicate\",\"object_type\":9,"),
        "{j}"
    );
    let t = text(&rec);
    assert!(
        t.contains("ObjectHandle.pre") && t.contains("operation=duplicate object_type=9"),
        "{t}"
    );
    assert!(t.contains("desired=0x1fffff"), "{t}");
    let rec = EventRecord::build(0, |p: &mut PowerSettingPayload| {
        p.value_length = 4;
        p.value = [1, 0, 0, 0xAB, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9];
    });
    assert!(json(&rec).contains("\"value_length\":4,\"value\":\"010000ab\""));
    let rec = EventRecord::build(0, |p: &mut PowerSettingPayload| p.value_length = u32::MAX);
    assert!(json(&rec).contains("\"value\":\"00000000000000000000000000000000\""));
}

#[test]
fn file_time() {
    assert_eq!(std::format!("{}", FileTime(0)), "1601-01-01T00:00:00.0000000Z");
    // 1970-01-01
    assert_eq!(
        std::format!("{}", FileTime(116_444_736_000_000_000)),
        "1970-01-01T00:00:00.0000000Z"
    );
    // 2000-02-29T23:59:59.9999999
    assert_eq!(
        std::format!("{}", FileTime(125_963_423_999_999_999)),
        "2000-02-29T23:59:59.9999999Z"
    );
    let _ = std::format!("{}", FileTime(u64::MAX));
}

#[test]
fn from_bytes_rejects_bad_input() {
    let good = image_record();
    let bytes = good.as_bytes();
    assert_eq!(
        EventRecord::from_bytes(&bytes[..511]),
        Err(DecodeError::TooShort {
            needed: 512,
            actual: 511
        })
    );
    assert_eq!(
        EventRecord::from_bytes(&[]),
        Err(DecodeError::TooShort {
            needed: 512,
            actual: 0
        })
    );
    let mut long = bytes.to_vec();
    long.push(0);
    assert_eq!(
        EventRecord::from_bytes(&long),
        Err(DecodeError::WrongSize {
            expected: 512,
            actual: 513
        })
    );

    let mut bad = good;
    bad.header.version = 3;
    assert_eq!(
        EventRecord::from_bytes(bad.as_bytes()),
        Err(DecodeError::UnsupportedVersion(3))
    );
    bad.header.version = 1;
    assert_eq!(
        EventRecord::from_bytes(bad.as_bytes()),
        Err(DecodeError::RetiredFormat {
            found: 1,
            expected: 2
        })
    );
    let mut bad = good;
    bad.header.source = 999;
    assert_eq!(
        EventRecord::from_bytes(bad.as_bytes()),
        Err(DecodeError::UnknownSource(999))
    );
    // string length beyond its buffer (name is WStr<218> at payload offset 24)
    let mut raw = bytes.to_vec();
    raw[48 + 24..48 + 26].copy_from_slice(&219u16.to_le_bytes());
    assert_eq!(EventRecord::from_bytes(&raw), Err(DecodeError::BadString));
    raw[48 + 24..48 + 26].copy_from_slice(&218u16.to_le_bytes());
    assert!(EventRecord::from_bytes(&raw).is_ok());
    raw[48 + 26] = 2; // truncated flag must be 0/1
    assert_eq!(EventRecord::from_bytes(&raw), Err(DecodeError::BadString));

    // unaligned input decodes fine
    let mut shifted = vec![0u8; 513];
    shifted[1..].copy_from_slice(bytes);
    assert_eq!(EventRecord::from_bytes(&shifted[1..]), Ok(good));
}

/// A tiny deterministic generator for garbage.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

#[test]
fn garbage_never_panics() {
    let mut rng = Lcg(1);
    let rounds = if cfg!(miri) { 20 } else { 2000 };
    let mut buf = vec![0u8; 4096];
    for round in 0..rounds {
        for b in &mut buf {
            *b = rng.next() as u8;
        }
        // make some records plausible so the string checks are exercised
        let mut rec = buf[..512].to_vec();
        rec[0..2].copy_from_slice(&1u16.to_le_bytes());
        rec[2..4].copy_from_slice(&((round % 25) as u16).to_le_bytes());
        if let Ok(r) = EventRecord::from_bytes(&rec) {
            let _ = text(&r);
            let _ = json(&r);
        }
        // formatting unvalidated garbage must not panic either
        let raw: EventRecord = read_pod(&rec).unwrap();
        let _ = text(&raw);
        let _ = json(&raw);
        let len = (rng.next() as usize) % buf.len();
        let slice = &buf[..len];
        let _ = EventRecord::from_bytes(slice);
        let _ = decode_report(slice).map(|r| r.entries.iter().count());
        if let Ok(b) = decode_read_events(slice) {
            let _ = b.records().count();
        }
        let _ = decode_callback_objects(slice).map(|r| r.entries.iter().count());
        let _ = decode_response::<StatsResponse>(slice);
        let _ = decode_response::<ConfigResponse>(slice);
        let _ = decode_request::<ReadEventsRequest>(slice);
        let _ = decode_request::<FloodRequest>(slice);
    }
}

#[test]
fn ctl_codes() {
    assert_eq!(
        ctl_code(0x22, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS),
        0x0022_2000
    );
    assert_eq!(IOCTL_KCB_GET_REPORT, 0x8CB0_6000);
    assert_eq!(IOCTL_KCB_READ_EVENTS, 0x8CB0_6004);
    assert_eq!(IOCTL_KCB_NOTIFY, 0x8CB0_A010);
    assert_eq!(IOCTL_KCB_FLOOD, 0x8CB0_A018);
    for io in Ioctl::ALL {
        assert_eq!(Ioctl::from_code(io.code()), Ok(io));
        assert_eq!(io.code() & 3, METHOD_BUFFERED);
        assert_eq!(io.code() >> 16, FILE_DEVICE_KCALLBACKS);
    }
    assert_eq!(IOCTL_KCB_LIST_REGISTRATIONS, 0x8CB0_601C);
    assert_eq!(IOCTL_KCB_QUERY_COST, 0x8CB0_6020);
    assert_eq!(Ioctl::from_code(0x8CB0_6024), Err(RequestError::UnknownCode));
}

#[test]
fn request_errors_map_to_ntstatus() {
    assert_eq!(RequestError::TooSmall.ntstatus() as u32, 0xC000_0023);
    assert_eq!(RequestError::WrongVersion.ntstatus() as u32, 0xC000_0059);
    assert_eq!(RequestError::WrongSize.ntstatus() as u32, 0xC000_0004);
    assert_eq!(RequestError::InvalidParameter.ntstatus() as u32, 0xC000_000D);
    assert_eq!(RequestError::UnknownCode.ntstatus() as u32, 0xC000_0010);
}

#[test]
fn decode_requests() {
    let req = ReadEventsRequest::new(10);
    assert_eq!(decode_request::<ReadEventsRequest>(bytes_of(&req)), Ok(req));
    let req = FloodRequest::new(1000);
    assert_eq!(decode_request::<FloodRequest>(bytes_of(&req)), Ok(req));
    let req = NotifyRequest::new(1, 2);
    assert_eq!(decode_request::<NotifyRequest>(bytes_of(&req)), Ok(req));
    let req = GetReportRequest::new();
    assert_eq!(decode_request::<GetReportRequest>(bytes_of(&req)), Ok(req));
    assert_eq!(
        decode_request::<GetStatsRequest>(bytes_of(&GetStatsRequest::new())).map(|_| ()),
        Ok(())
    );
    assert_eq!(
        decode_request::<GetConfigRequest>(bytes_of(&GetConfigRequest::default())).map(|_| ()),
        Ok(())
    );
    assert_eq!(
        decode_request::<ListCallbackObjectsRequest>(bytes_of(&ListCallbackObjectsRequest::new()))
            .map(|_| ()),
        Ok(())
    );

    // too small for a header
    assert_eq!(
        decode_request::<ReadEventsRequest>(&[]),
        Err(RequestError::TooSmall)
    );
    assert_eq!(
        decode_request::<ReadEventsRequest>(&[1, 0, 0, 0, 16, 0, 0]),
        Err(RequestError::TooSmall)
    );
    // wrong version
    let mut r = ReadEventsRequest::new(1);
    r.header.version = 2;
    assert_eq!(
        decode_request::<ReadEventsRequest>(bytes_of(&r)),
        Err(RequestError::WrongVersion)
    );
    // header says another size
    let mut r = ReadEventsRequest::new(1);
    r.header.size = 24;
    assert_eq!(
        decode_request::<ReadEventsRequest>(bytes_of(&r)),
        Err(RequestError::WrongSize)
    );
    // input length differs from the struct (short and long)
    let r = ReadEventsRequest::new(1);
    assert_eq!(
        decode_request::<ReadEventsRequest>(&bytes_of(&r)[..12]),
        Err(RequestError::WrongSize)
    );
    let mut long = bytes_of(&r).to_vec();
    long.extend_from_slice(&[0; 8]);
    assert_eq!(
        decode_request::<ReadEventsRequest>(&long),
        Err(RequestError::WrongSize)
    );
    // a request of another type (right header, wrong size for T)
    assert_eq!(
        decode_request::<NotifyRequest>(bytes_of(&r)),
        Err(RequestError::WrongSize)
    );
    // invalid parameters
    let mut r = ReadEventsRequest::new(1);
    r.flags = 1;
    assert_eq!(
        decode_request::<ReadEventsRequest>(bytes_of(&r)),
        Err(RequestError::InvalidParameter)
    );
    assert_eq!(
        decode_request::<FloodRequest>(bytes_of(&FloodRequest::new(0))),
        Err(RequestError::InvalidParameter)
    );
    assert_eq!(
        decode_request::<FloodRequest>(bytes_of(&FloodRequest::new(MAX_FLOOD_COUNT + 1))),
        Err(RequestError::InvalidParameter)
    );
    let mut f = FloodRequest::new(5);
    f.reserved = 1;
    assert_eq!(
        decode_request::<FloodRequest>(bytes_of(&f)),
        Err(RequestError::InvalidParameter)
    );
    // unaligned input
    let mut shifted = [0u8; 17];
    shifted[1..].copy_from_slice(bytes_of(&FloodRequest::new(3)));
    assert_eq!(
        decode_request::<FloodRequest>(&shifted[1..]).map(|f| f.count),
        Ok(3)
    );
}

fn entries(n: usize) -> Vec<ReportEntry> {
    (0..n)
        .map(|i| {
            let state = match i % 3 {
                0 => RegistrationState::Registered,
                1 => RegistrationState::Failed,
                _ => RegistrationState::DisabledByConfig,
            };
            ReportEntry::new(&std::format!("PsSetApi{i}"), state, -(i as i32), i as u32)
        })
        .collect()
}

#[test]
fn report_round_trip_and_partial() {
    let e = entries(10);
    let mut out = vec![0u8; REPORT_BUFFER_SIZE];
    let n = write_report(&mut out, "1.2.3", &e).unwrap();
    assert_eq!(n, 40 + 10 * 60);
    let r = decode_report(&out[..n]).unwrap();
    assert_eq!(r.header.entry_count, 10);
    assert_eq!(r.header.returned, 10);
    assert_eq!(
        (r.header.registered, r.header.failed, r.header.disabled),
        (4, 3, 3)
    );
    assert_eq!(r.header.driver_version_str(), "1.2.3");
    assert_eq!(r.entries.len(), 10);
    assert_eq!(r.entries.get(3).unwrap().name_str(), "PsSetApi3");
    assert_eq!(r.entries.get(4).unwrap().state(), Some(RegistrationState::Failed));
    assert!(r.entries.get(10).is_none());
    assert_eq!(r.entries.iter().collect::<Vec<_>>(), e);

    // room for the header and 3.5 entries: 3 whole entries
    let mut small = vec![0u8; 40 + 3 * 60 + 30];
    let n = write_report(&mut small, "1.2.3", &e).unwrap();
    assert_eq!(n, 40 + 3 * 60);
    let r = decode_report(&small).unwrap();
    assert_eq!((r.header.entry_count, r.header.returned), (10, 3));
    // header only
    let mut tiny = [0u8; 40];
    assert_eq!(write_report(&mut tiny, "v", &e), Ok(40));
    assert_eq!(decode_report(&tiny).unwrap().entries.len(), 0);
    // not even the header
    assert_eq!(write_report(&mut [0u8; 39], "v", &e), Err(RequestError::TooSmall));
    // more than the maximum: only MAX sent, count says total
    let many = entries(70);
    let n = write_report(&mut out, "v", &many).unwrap();
    let r = decode_report(&out[..n]).unwrap();
    assert_eq!((r.header.entry_count, r.header.returned), (70, 64));

    // client-side rejections
    assert!(matches!(
        decode_report(&out[..39]),
        Err(DecodeError::TooShort { .. })
    ));
    assert!(matches!(
        decode_report(&out[..n - 1]),
        Err(DecodeError::TooShort { .. })
    ));
    let mut bad = out.clone();
    bad[0] = 9;
    assert_eq!(
        decode_report(&bad).unwrap_err(),
        DecodeError::UnsupportedVersion(9)
    );
    let mut bad = out.clone();
    bad[20..24].copy_from_slice(&1u32.to_le_bytes()); // returned > entry_count
    assert_eq!(
        decode_report(&bad).unwrap_err(),
        DecodeError::InvalidField("returned")
    );
    let mut bad = out.clone();
    bad[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
    bad[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        decode_report(&bad).unwrap_err(),
        DecodeError::InvalidField("returned")
    );
}

#[test]
fn ascii_fields() {
    let f: [u8; 4] = ascii_field("abcdef");
    assert_eq!(&f, b"abcd");
    assert_eq!(ascii_str(&f), "abcd");
    let f: [u8; 6] = ascii_field("é!");
    assert_eq!(ascii_str(&f), "??!");
    assert_eq!(ascii_str(&[0xFF, 0]), "?");
    assert_eq!(ascii_str(&[]), "");
}

#[test]
fn read_events_round_trip() {
    let mut out = vec![0u8; read_events_buffer_size(3) + 100];
    let mut w = ReadEventsWriter::new(&mut out, 3).unwrap();
    let mut sent = Vec::new();
    for i in 0..3 {
        let mut rec = image_record();
        rec.header.sequence = i;
        assert!(w.fits(rec.wire_len()));
        assert!(w.push(&rec));
        sent.push(rec);
    }
    // max_records reached
    assert!(!w.push(&image_record()));
    let n = w.finish(5, 7, 96);
    let body: usize = sent.iter().map(EventRecord::wire_len).sum();
    assert_eq!(n, READ_EVENTS_HEADER_SIZE + body);
    assert!(body < 3 * RECORD_SIZE, "records travel at their real size");
    let batch = decode_read_events(&out[..n]).unwrap();
    assert_eq!(
        batch.header,
        ReadEventsResponse {
            magic: READ_EVENTS_MAGIC,
            version: 2,
            returned: 3,
            length: body as u32,
            pending: 5,
            dropped_total: 7,
            next_size: 96,
            reserved: 0,
        }
    );
    assert_eq!(batch.len(), 3);
    let got: Vec<_> = batch.records().map(Result::unwrap).collect();
    assert_eq!(got, sent);

    // an empty reply
    let mut out2 = vec![0u8; read_events_buffer_size(3)];
    let w = ReadEventsWriter::new(&mut out2, 2).unwrap();
    assert_eq!(w.finish(0, 0, 0), READ_EVENTS_HEADER_SIZE);
    assert!(
        decode_read_events(&out2[..READ_EVENTS_HEADER_SIZE])
            .unwrap()
            .is_empty()
    );
    // buffer smaller than the header
    assert!(matches!(
        ReadEventsWriter::new(&mut [0u8; READ_EVENTS_HEADER_SIZE - 1], 0),
        Err(RequestError::TooSmall)
    ));
    // header claims more bytes than present
    assert!(matches!(
        decode_read_events(&out[..n - 1]),
        Err(DecodeError::TooShort { .. })
    ));
    // a corrupt record inside a well-formed batch is reported, not a panic
    let second = READ_EVENTS_HEADER_SIZE + sent[0].wire_len();
    let mut bad = out[..n].to_vec();
    bad[second + 2] = 0xEE;
    bad[second + 3] = 0xEE;
    let results: Vec<_> = decode_read_events(&bad).unwrap().records().collect();
    assert!(results[0].is_ok());
    assert_eq!(results[1], Err(DecodeError::UnknownSource(0xEEEE)));
    assert!(results[2].is_ok());
}

#[test]
fn stats_and_config() {
    let mut stats = StatsResponse::new();
    stats.ring_capacity = 4096;
    stats.sources[SourceId::Flood.index()] = SourceStats {
        seen: 10,
        recorded: 8,
        dropped: 2,
    };
    let mut out = [0u8; 1024];
    let n = write_response(&mut out, &stats).unwrap();
    assert_eq!(n, core::mem::size_of::<StatsResponse>());
    assert_eq!(decode_response::<StatsResponse>(&out[..n]), Ok(stats));
    assert!(matches!(
        decode_response::<StatsResponse>(&out[..n - 1]),
        Err(DecodeError::TooShort { .. })
    ));
    assert_eq!(
        write_response(&mut out[..n - 1], &stats),
        Err(RequestError::TooSmall)
    );
    let mut bad = stats;
    bad.source_count = 3;
    assert_eq!(
        decode_response::<StatsResponse>(bytes_of(&bad)),
        Err(DecodeError::InvalidField("source_count"))
    );
    let mut bad = stats;
    bad.version = 0;
    assert_eq!(
        decode_response::<StatsResponse>(bytes_of(&bad)),
        Err(DecodeError::UnsupportedVersion(0))
    );

    let mut cfg = ConfigResponse::new();
    cfg.enabled_mask = SourceId::LoadImage.bit() | SourceId::Nmi.bit();
    cfg.origins[SourceId::Nmi.index()] = ConfigOrigin::Registry as u8;
    cfg.origins[SourceId::Flood.index()] = 77;
    let c = decode_response::<ConfigResponse>(bytes_of(&cfg)).unwrap();
    assert!(c.is_enabled(SourceId::Nmi) && !c.is_enabled(SourceId::Flood));
    assert_eq!(c.origin(SourceId::Nmi), Some(ConfigOrigin::Registry));
    assert_eq!(c.origin(SourceId::LoadImage), Some(ConfigOrigin::Default));
    assert_eq!(c.origin(SourceId::Flood), None);

    let fr = FloodResponse {
        requested: 3,
        recorded: 2,
        dropped: 1,
        reserved: 0,
    };
    assert_eq!(decode_response::<FloodResponse>(bytes_of(&fr)), Ok(fr));
}

#[test]
fn callback_objects() {
    let list: Vec<_> = (0..5u32)
        .map(|i| CallbackObjectEntry {
            index: i,
            state: RegistrationState::Registered as u32,
            status: 0,
            reserved: 0,
            fired: u64::from(i) * 3,
            name: WStr::from_str_truncating("\\Callback\\SetSystemTime"),
            reserved2: [0; 2],
        })
        .collect();
    let mut out = vec![0u8; 16 + 2 * 160 + 1];
    let n = write_callback_objects(&mut out, &list).unwrap();
    assert_eq!(n, 16 + 2 * 160);
    let l = decode_callback_objects(&out[..n]).unwrap();
    assert_eq!((l.header.count, l.header.returned), (5, 2));
    let e = l.entries.get(1).unwrap();
    assert_eq!(e.fired, 3);
    assert!(e.name.eq_str("\\Callback\\SetSystemTime"));
    assert_eq!(e.state(), Some(RegistrationState::Registered));
    assert!(matches!(
        decode_callback_objects(&out[..n - 1]),
        Err(DecodeError::TooShort { .. })
    ));
    assert_eq!(
        write_callback_objects(&mut out[..15], &list),
        Err(RequestError::TooSmall)
    );
}

#[test]
fn flood_checksum_differs() {
    assert_ne!(flood_checksum(1, 10), flood_checksum(2, 10));
    assert_ne!(flood_checksum(1, 10), flood_checksum(1, 11));
}

#[path = "tests_wire.rs"]
mod wire;

#[path = "tests_list.rs"]
mod list;
