//! `kcbctl events`: text, JSON lines, invalid records, `--follow`, retired replies.

use super::*;

#[test]
fn events_prints_text_until_the_ring_is_empty() {
    let records = tricky_records();
    let mut driver = FakeDriver::new()
        .reply(Ioctl::ReadEvents, Ok(events_reply(&records[..2], 3, 0)))
        .reply(Ioctl::ReadEvents, Ok(events_reply(&records[2..], 0, 0)))
        .reply(Ioctl::ReadEvents, Ok(events_reply(&[], 0, 0)));
    let command = Command::Events {
        json: false,
        follow: false,
        options: crate::EventsOptions::default(),
    };
    let (result, out, err) = run_cmd(&command, &mut driver);
    result.unwrap();
    assert!(err.is_empty(), "{err}");
    assert_eq!(driver.count(Ioctl::ReadEvents), 3);
    let expected: Vec<String> = records
        .iter()
        .map(|r| {
            let mut s = String::new();
            write_text(r, &mut s).unwrap();
            s
        })
        .collect();
    assert_eq!(lines(&out), expected);
    assert!(out.contains(r#"name="C:\Windows\System32\drivers\a b.sys""#));
    // The request asks for EVENTS_PER_READ records into a buffer that fits them.
    let (_, input, output_len) = &driver.calls[0];
    let request: ReadEventsRequest = decode_request(input).unwrap();
    assert_eq!(request.max_records, crate::EVENTS_PER_READ);
    assert_eq!(
        *output_len,
        kcb_proto::read_events_buffer_size(crate::EVENTS_PER_READ as usize)
    );
}

#[test]
fn events_json_is_valid_json_lines_and_nothing_else() {
    let records = tricky_records();
    let mut driver = FakeDriver::new()
        .reply(Ioctl::ReadEvents, Ok(events_reply(&records, 0, 7)))
        .reply(Ioctl::ReadEvents, Ok(events_reply(&[], 0, 9)));
    let command = Command::Events {
        json: true,
        follow: false,
        options: crate::EventsOptions::default(),
    };
    let (result, out, err) = run_cmd(&command, &mut driver);
    result.unwrap();
    // Every stdout line is one JSON object; the diagnostics went to stderr.
    let parsed: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(parsed.len(), records.len());
    assert!(parsed.iter().all(Value::is_object));
    assert_eq!(parsed[0]["source"], "LoadImage");
    assert_eq!(parsed[0]["seq"], 1);
    assert_eq!(parsed[0]["name"], r"C:\Windows\System32\drivers\a b.sys");
    assert_eq!(parsed[0]["base"], 0xFFFF_F800_0000_0000_u64);
    assert_eq!(parsed[1]["source"], "ProcessCreate");
    assert_eq!(parsed[1]["kind_name"], "create");
    assert_eq!(parsed[1]["image"], "\"quoted\"\\back\\slash");
    assert_eq!(parsed[1]["cmdline"], "tab\there\nnewline\u{1}\u{7f}\u{2028}é😀");
    assert_eq!(parsed[1]["exit_status"], -1);
    assert_eq!(parsed[2]["name"], "a\u{FFFD}b");
    assert_eq!(parsed[3]["name_truncated"], true);
    assert_eq!(parsed[3]["name"].as_str().unwrap().len(), 218);
    assert_eq!(parsed[4]["source"], "Flood");
    // Same bytes as kcb-proto's writer.
    let mut expected = String::new();
    write_json(&records[0], &mut expected).unwrap();
    assert_eq!(out.lines().next().unwrap(), expected);
    assert_eq!(
        lines(&err),
        [
            "kcbctl: the driver has dropped 7 events so far (ring full or contention)",
            "kcbctl: the driver has dropped 9 events so far (ring full or contention)",
        ]
    );
}

#[test]
fn events_skips_invalid_records_and_reports_them() {
    let good = image_load(1, "a.sys");
    let mut reply = events_reply(&[good, good, good], 0, 0);
    // Second record: unknown source; third: string length beyond its buffer.
    let second = kcb_proto::READ_EVENTS_HEADER_SIZE + good.wire_len();
    reply[second + 2..second + 4].copy_from_slice(&999u16.to_le_bytes());
    let third = second + good.wire_len();
    let name_len = third + 48 + 24; // ImageLoadPayload::name.len
    reply[name_len..name_len + 2].copy_from_slice(&5000u16.to_le_bytes());
    let mut driver = FakeDriver::new()
        .reply(Ioctl::ReadEvents, Ok(reply))
        .reply(Ioctl::ReadEvents, Ok(events_reply(&[], 0, 0)));
    let (result, out, err) = run_cmd(
        &Command::Events {
            json: true,
            follow: false,
            options: crate::EventsOptions::default(),
        },
        &mut driver,
    );
    assert_eq!(out.lines().count(), 1);
    serde_json::from_str::<Value>(out.trim_end()).unwrap();
    assert!(err.contains("unknown source id 999"), "{err}");
    assert!(err.contains("string length beyond its buffer"), "{err}");
    assert!(matches!(
        result,
        Err(Error::InvalidRecords { invalid: 2, total: 3 })
    ));
}

#[test]
fn events_rejects_a_short_batch() {
    let mut reply = events_reply(&[image_load(1, "a")], 0, 0);
    reply.truncate(100);
    let mut driver = FakeDriver::new().reply(Ioctl::ReadEvents, Ok(reply));
    let (result, _, _) = run_cmd(
        &Command::Events {
            json: false,
            follow: false,
            options: crate::EventsOptions::default(),
        },
        &mut driver,
    );
    assert!(matches!(
        result,
        Err(Error::BadReply {
            ioctl: Ioctl::ReadEvents,
            ..
        })
    ));
}

#[test]
fn events_follow_polls_until_stopped() {
    let stop = AtomicBool::new(false);
    let mut driver = FakeDriver::new()
        .reply(Ioctl::ReadEvents, Ok(events_reply(&[image_load(1, "a")], 0, 0)))
        .reply(Ioctl::ReadEvents, Ok(events_reply(&[], 0, 0)))
        .reply(Ioctl::ReadEvents, Ok(events_reply(&[], 0, 0)))
        .reply(Ioctl::ReadEvents, Ok(events_reply(&[image_load(2, "b")], 0, 0)))
        .reply(Ioctl::ReadEvents, Ok(events_reply(&[], 0, 0)));
    driver.stop_after = Some((6, &stop));
    let (result, out, _) = run_with(
        &Command::Events {
            json: false,
            follow: true,
            options: crate::EventsOptions::default(),
        },
        &mut driver,
        &stop,
    );
    result.unwrap();
    // Empty replies did not end --follow; the stop request did.
    assert_eq!(driver.count(Ioctl::ReadEvents), 6);
    assert_eq!(out.lines().count(), 2);
}

#[test]
fn events_refuses_a_version_1_reply_with_a_clear_message_and_non_zero_exit() {
    // A v1 reply: 16-byte header (returned, pending, dropped), 512-byte records.
    let mut reply = Vec::new();
    reply.extend_from_slice(&1u32.to_le_bytes());
    reply.extend_from_slice(&0u32.to_le_bytes());
    reply.extend_from_slice(&0u64.to_le_bytes());
    let mut record = image_load(1, "a");
    record.header.version = 1;
    reply.extend_from_slice(record.as_bytes());
    let mut driver = FakeDriver::new().reply(Ioctl::ReadEvents, Ok(reply));
    let (result, out, _) = run_cmd(
        &Command::Events {
            json: false,
            follow: false,
            options: crate::EventsOptions::default(),
        },
        &mut driver,
    );
    assert!(out.is_empty());
    let error = result.unwrap_err();
    assert_ne!(error.exit_code(), 0);
    assert_eq!(
        error.to_string(),
        "unexpected reply to IOCTL_KCB_READ_EVENTS: format v1 (fixed 512-byte records) is no \
         longer read (this build reads v2, variable-size records); use the kcbctl of the same \
         driver version"
    );
}
