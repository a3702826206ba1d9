//! Host tests: the commands against a fake driver whose replies are built
//! with kcb-proto's driver-side writers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kcb_proto::{
    CallbackObjectEntry, ConfigOrigin, ConfigResponse, EventRecord, FloodRequest, FloodResponse,
    GetConfigRequest, GetReportRequest, GetStatsRequest, ImageLoadPayload, Ioctl, ListCallbackObjectsRequest,
    ListRegistrationsRequest, NotifyRequest, ProcessPayload, RECORD_SIZE, ReadEventsRequest,
    ReadEventsWriter, RegistrationState, ReportEntry, Request, SourceId, StatsResponse, WStr, bytes_of,
    decode_request, kind, write_callback_objects, write_json, write_report, write_response, write_text,
};
use serde_json::Value;

use crate::dump::{DumpError, decode_dump, encode_dump};
use crate::{Command, Console, Driver, Error, parse_args, run};
use kcb_proto::flight::{FLIGHT_HEADER_SIZE, decode_flight};

// ---------------------------------------------------------------------------
// Fake driver
// ---------------------------------------------------------------------------

type Reply = Result<Vec<u8>, Error>;

/// Answers each IOCTL from its own queue of canned replies (the last reply
/// of a queue repeats), after checking the request the way the driver does.
#[derive(Default)]
struct FakeDriver<'a> {
    replies: Vec<(Ioctl, VecDeque<Reply>)>,
    calls: Vec<(Ioctl, Vec<u8>, usize)>,
    /// Set after this many calls (to end `--follow`).
    stop_after: Option<(usize, &'a AtomicBool)>,
}

fn clone_reply(reply: &Reply) -> Reply {
    match reply {
        Ok(bytes) => Ok(bytes.clone()),
        Err(Error::Request { ioctl, code }) => Err(Error::Request {
            ioctl: *ioctl,
            code: *code,
        }),
        Err(Error::NotLoaded) => Err(Error::NotLoaded),
        Err(Error::AccessDenied) => Err(Error::AccessDenied),
        Err(other) => panic!("cannot repeat {other:?}"),
    }
}

fn check_request<T: Request>(input: &[u8]) {
    if let Err(e) = decode_request::<T>(input) {
        panic!("the driver would refuse this {}: {e}", T::IOCTL.name());
    }
}

impl FakeDriver<'_> {
    fn new() -> Self {
        Self::default()
    }

    fn reply(mut self, ioctl: Ioctl, reply: Reply) -> Self {
        match self.replies.iter_mut().find(|(i, _)| *i == ioctl) {
            Some((_, queue)) => queue.push_back(reply),
            None => self.replies.push((ioctl, VecDeque::from([reply]))),
        }
        self
    }

    fn fail(self, ioctl: Ioctl, code: u32) -> Self {
        self.reply(ioctl, Err(Error::Request { ioctl, code }))
    }

    fn count(&self, ioctl: Ioctl) -> usize {
        self.calls.iter().filter(|(i, _, _)| *i == ioctl).count()
    }
}

impl Driver for FakeDriver<'_> {
    fn control(&mut self, ioctl: Ioctl, input: &[u8], output_len: usize) -> Result<Vec<u8>, Error> {
        self.calls.push((ioctl, input.to_vec(), output_len));
        if let Some((n, stop)) = self.stop_after
            && self.calls.len() >= n
        {
            stop.store(true, Ordering::Relaxed);
        }
        match ioctl {
            Ioctl::GetReport => check_request::<GetReportRequest>(input),
            Ioctl::ReadEvents => check_request::<ReadEventsRequest>(input),
            Ioctl::GetStats => check_request::<GetStatsRequest>(input),
            Ioctl::GetConfig => check_request::<GetConfigRequest>(input),
            Ioctl::Notify => check_request::<NotifyRequest>(input),
            Ioctl::ListCallbackObjects => check_request::<ListCallbackObjectsRequest>(input),
            Ioctl::Flood => check_request::<FloodRequest>(input),
            Ioctl::ListRegistrations => check_request::<ListRegistrationsRequest>(input),
            Ioctl::QueryCost => check_request::<kcb_proto::QueryCostRequest>(input),
        }
        let Some((_, queue)) = self.replies.iter_mut().find(|(i, _)| *i == ioctl) else {
            panic!("no canned reply for {}", ioctl.name());
        };
        let reply = if queue.len() > 1 {
            queue.pop_front().unwrap()
        } else {
            clone_reply(queue.front().unwrap())
        };
        if let Ok(bytes) = &reply {
            assert!(
                bytes.len() <= output_len,
                "{}: reply of {} bytes for a {output_len}-byte buffer",
                ioctl.name(),
                bytes.len()
            );
        }
        reply
    }
}

/// Runs `command`; returns (result, stdout, stderr).
fn run_with(
    command: &Command,
    driver: &mut dyn Driver,
    stop: &AtomicBool,
) -> (Result<(), Error>, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let result = {
        let mut console = Console {
            out: &mut out,
            err: &mut err,
            stop,
            poll_interval: Duration::ZERO,
        };
        run(command, driver, &mut console)
    };
    (
        result,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn run_cmd(command: &Command, driver: &mut dyn Driver) -> (Result<(), Error>, String, String) {
    run_with(command, driver, &AtomicBool::new(false))
}

fn args(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}

// ---------------------------------------------------------------------------
// Canned replies
// ---------------------------------------------------------------------------

fn report_reply() -> Vec<u8> {
    let entries = [
        ReportEntry::new(
            "PsSetLoadImageNotifyRoutineEx",
            RegistrationState::Registered,
            0,
            0,
        ),
        ReportEntry::new(
            "CmRegisterCallbackEx",
            RegistrationState::Failed,
            0xC000_0022_u32.cast_signed(),
            0,
        ),
        ReportEntry::new(
            "ObRegisterCallbacks",
            RegistrationState::DisabledByConfig,
            0,
            320_000,
        ),
        ReportEntry::new(
            r"ExRegisterCallback(\Callback\ProcessorAdd)",
            RegistrationState::Failed,
            0xC000_0022_u32.cast_signed(),
            kcb_proto::report_detail::SINGLE_CALLBACK_TAKEN,
        ),
    ];
    let mut out = vec![0u8; kcb_proto::REPORT_BUFFER_SIZE];
    let n = write_report(&mut out, "0.1.0", &entries).unwrap();
    out.truncate(n);
    out
}

fn image_load(seq: u64, name: &str) -> EventRecord {
    let mut rec = EventRecord::build::<ImageLoadPayload>(kind::NONE, |p| {
        p.image_base = 0xFFFF_F800_0000_0000;
        p.image_size = 0x1000;
        p.name.set_from_str(name);
    });
    rec.header.sequence = seq;
    rec.header.timestamp = 133_594_560_000_000_000;
    rec.header.pid = 4;
    rec.header.tid = 8;
    rec
}

fn process_create(seq: u64, image: &str, cmdline: &str) -> EventRecord {
    let mut rec = EventRecord::build::<ProcessPayload>(kind::CREATE, |p| {
        p.parent_pid = 1;
        p.exit_status = -1;
        p.image_name.set_from_str(image);
        p.command_line.set_from_str(cmdline);
    });
    rec.header.sequence = seq;
    rec
}

/// Records whose strings exercise every escaping path.
fn tricky_records() -> Vec<EventRecord> {
    let mut surrogate = image_load(3, "");
    surrogate.payload_mut::<ImageLoadPayload>().unwrap().name =
        WStr::from_utf16(&[u16::from(b'a'), 0xD800, u16::from(b'b')]);
    surrogate.update_truncated_flag();
    vec![
        image_load(1, r"C:\Windows\System32\drivers\a b.sys"),
        process_create(
            2,
            "\"quoted\"\\back\\slash",
            "tab\there\nnewline\u{1}\u{7f}\u{2028}é😀",
        ),
        surrogate,
        image_load(4, &"x".repeat(300)), // truncated
        EventRecord::new(SourceId::Flood, 0),
    ]
}

fn events_reply(records: &[EventRecord], pending: u32, dropped: u64) -> Vec<u8> {
    let mut out = vec![0u8; kcb_proto::read_events_buffer_size(records.len())];
    let mut writer = ReadEventsWriter::new(&mut out, 0).unwrap();
    for r in records {
        assert!(writer.push(r));
    }
    let n = writer.finish(pending, dropped, 0);
    out.truncate(n);
    out
}

fn stats_reply() -> Vec<u8> {
    let mut stats = StatsResponse::new();
    stats.ring_capacity = 4096;
    stats.ring_occupancy = 1024;
    stats.sources[SourceId::LoadImage.index()].seen = 12;
    stats.sources[SourceId::LoadImage.index()].recorded = 10;
    stats.sources[SourceId::LoadImage.index()].dropped = 2;
    stats.sources[SourceId::Driver.index()].seen = 1;
    stats.sources[SourceId::Driver.index()].recorded = 1;
    stats.total_seen = 13;
    stats.total_dropped = 2;
    bytes_of(&stats).to_vec()
}

fn config_reply() -> Vec<u8> {
    let mut config = ConfigResponse::new();
    config.enabled_mask = SourceId::LoadImage.bit() | SourceId::ProcessCreate.bit();
    config.ring_capacity = 4096;
    config.origins[SourceId::ProcessCreate.index()] = ConfigOrigin::Registry as u8;
    config.origins[SourceId::Flood.index()] = ConfigOrigin::InvalidRegistryValue as u8;
    bytes_of(&config).to_vec()
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

#[test]
fn parses_every_command() {
    let cases = [
        ("report", Command::Report),
        ("status", Command::Status { json: false }),
        ("status --json", Command::Status { json: true }),
        (
            "events",
            Command::Events {
                json: false,
                follow: false,
                options: crate::EventsOptions::default(),
            },
        ),
        (
            "events --json --follow",
            Command::Events {
                json: true,
                follow: true,
                options: crate::EventsOptions::default(),
            },
        ),
        (
            "events --follow",
            Command::Events {
                json: false,
                follow: true,
                options: crate::EventsOptions::default(),
            },
        ),
        (
            "notify 1 0xFFFFFFFFFFFFFFFF",
            Command::Notify {
                argument1: 1,
                argument2: u64::MAX,
            },
        ),
        (
            "notify 0X10 18446744073709551615",
            Command::Notify {
                argument1: 16,
                argument2: u64::MAX,
            },
        ),
        ("flood 1000", Command::Flood { count: 1000 }),
        ("flood 0xF4240", Command::Flood { count: 1_000_000 }),
        ("callbacks", Command::Callbacks { registrations: false }),
        (
            "callbacks --registrations",
            Command::Callbacks { registrations: true },
        ),
        (
            "decode-dump x.bin",
            Command::DecodeDump {
                path: "x.bin".into(),
                json: false,
            },
        ),
        (
            "decode-dump --json x.bin",
            Command::DecodeDump {
                path: "x.bin".into(),
                json: true,
            },
        ),
        (
            "decode-dump x.bin --json",
            Command::DecodeDump {
                path: "x.bin".into(),
                json: true,
            },
        ),
        (
            "decode-dump -- --json",
            Command::DecodeDump {
                path: "--json".into(),
                json: false,
            },
        ),
        ("--help", Command::Help),
    ];
    for (line, expected) in cases {
        assert_eq!(parse_args(&args(line)).unwrap(), expected, "{line}");
    }
    assert!(!Command::Help.needs_driver());
    assert!(Command::Status { json: false }.needs_driver());
}

#[test]
fn rejects_bad_command_lines() {
    for line in [
        "",
        "nope",
        "report extra",
        "status --jsonx",
        "status --json --json",
        "status now",
        "events --jsonx",
        "events --json --json",
        "events now",
        "notify 1",
        "notify 1 2 3",
        "notify -1 2",
        "notify +1 2",
        "notify 0x 2",
        "notify 0x1g 2",
        "notify 18446744073709551616 0",
        "flood",
        "flood 0",
        "flood 1000001",
        "flood 4294967296",
        "flood ten",
        "callbacks --all",
        "decode-dump",
        "decode-dump a b",
    ] {
        match parse_args(&args(line)) {
            Err(e @ Error::Usage(_)) => {
                assert_eq!(e.exit_code(), 2);
                assert!(e.to_string().contains("usage: kcbctl"), "{line}: {e}");
            }
            other => panic!("{line}: {other:?}"),
        }
    }
}

#[test]
fn help_prints_usage_without_the_driver() {
    let (result, out, _) = run_cmd(&Command::Help, &mut FakeDriver::new());
    result.unwrap();
    assert!(out.contains("decode-dump"));
}

// ---------------------------------------------------------------------------
// report / status
// ---------------------------------------------------------------------------

#[test]
fn report_lists_every_entry() {
    let mut driver = FakeDriver::new().reply(Ioctl::GetReport, Ok(report_reply()));
    let (result, out, err) = run_cmd(&Command::Report, &mut driver);
    result.unwrap();
    assert!(err.is_empty());
    let l = lines(&out);
    assert_eq!(l[0], "kcallbacks 0.1.0");
    assert!(
        l[1].contains("PsSetLoadImageNotifyRoutineEx") && l[1].contains(" registered "),
        "{}",
        l[1]
    );
    assert!(
        l[2].contains("CmRegisterCallbackEx")
            && l[2].contains("failed")
            && l[2].contains("status=0xC0000022")
    );
    assert!(
        l[3].contains("disabled") && l[3].contains("detail=0x4e200"),
        "{}",
        l[3]
    );
    assert!(
        l[4].ends_with("status=0xC0000022 (object allows a single callback and has one)"),
        "{}",
        l[4]
    );
    assert_eq!(l[5], "1 registered, 2 failed, 1 disabled (4 entries)");
    assert_eq!(driver.calls[0].2, kcb_proto::REPORT_BUFFER_SIZE);
}

#[test]
fn report_rejects_bad_replies() {
    let mut wrong_version = report_reply();
    wrong_version[0] = 9;
    let mut too_many = report_reply();
    too_many[24..28].copy_from_slice(&5u32.to_le_bytes()); // returned > entry_count
    for (reply, what) in [
        (vec![], "too short"),
        (vec![1, 0, 0], "too short"),
        (wrong_version, "unsupported version 9"),
        (too_many, "returned"),
        (report_reply()[..60].to_vec(), "too short"),
    ] {
        let mut driver = FakeDriver::new().reply(Ioctl::GetReport, Ok(reply));
        let (result, _, _) = run_cmd(&Command::Report, &mut driver);
        match result {
            Err(
                e @ Error::BadReply {
                    ioctl: Ioctl::GetReport,
                    ..
                },
            ) => {
                assert!(e.to_string().contains(what), "{e}");
            }
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn status_shows_report_counters_and_configuration() {
    let mut driver = FakeDriver::new()
        .reply(Ioctl::GetReport, Ok(report_reply()))
        .reply(Ioctl::GetStats, Ok(stats_reply()))
        .reply(
            Ioctl::QueryCost,
            Ok(bytes_of(&kcb_proto::CostResponse::new()).to_vec()),
        )
        .reply(Ioctl::GetConfig, Ok(config_reply()));
    let (result, out, err) = run_cmd(&Command::Status { json: false }, &mut driver);
    result.unwrap();
    assert!(err.is_empty());
    assert!(out.contains("driver version 0.1.0, protocol 1"));
    assert!(out.contains("PsSetLoadImageNotifyRoutineEx"));
    let row = |name: &str, section: &str| -> Vec<String> {
        let start = out.find(section).unwrap();
        out[start..]
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .map(|l| l.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()
    };
    // Active source, enabled source without activity, active disabled source.
    assert_eq!(
        row("LoadImage", "Counters"),
        ["LoadImage", "yes", "12", "10", "2"]
    );
    assert_eq!(
        row("ProcessCreate", "Counters"),
        ["ProcessCreate", "yes", "0", "0", "0"]
    );
    assert_eq!(row("Driver", "Counters"), ["Driver", "no", "1", "1", "0"]);
    // Idle and disabled: not in the counters table.
    let counters = &out[out.find("Counters").unwrap()..out.find("Configuration").unwrap()];
    assert!(!counters.contains("ThreadCreate"), "{counters}");
    assert_eq!(row("total", "Counters"), ["total", "13", "11", "2"]);
    assert!(out.contains("rings: 1024 of 4096 bytes in use (25%)"));
    assert!(out.contains("enabled sources: LoadImage, ProcessCreate"));
    assert_eq!(
        row("ProcessCreate", "Configuration"),
        ["ProcessCreate", "yes", "registry"]
    );
    assert_eq!(
        row("Flood", "Configuration"),
        ["Flood", "no", "invalid-registry-value"]
    );
    assert_eq!(row("LoadImage", "Configuration"), ["LoadImage", "yes", "default"]);
    assert!(out.contains("(20 other sources disabled by default)"), "{out}");
}

#[test]
fn status_keeps_going_when_a_section_is_missing() {
    let mut driver = FakeDriver::new()
        .reply(Ioctl::GetReport, Ok(report_reply()))
        .fail(Ioctl::GetStats, crate::ERROR_INVALID_FUNCTION)
        .reply(
            Ioctl::QueryCost,
            Ok(bytes_of(&kcb_proto::CostResponse::new()).to_vec()),
        )
        .reply(
            Ioctl::GetConfig,
            Ok(bytes_of(&ConfigResponse::new())[..10].to_vec()),
        );
    let (result, out, _) = run_cmd(&Command::Status { json: false }, &mut driver);
    assert!(out.contains("PsSetLoadImageNotifyRoutineEx"));
    assert!(
        out.contains("unavailable: IOCTL_KCB_GET_STATS failed: incorrect function"),
        "{out}"
    );
    assert!(
        out.contains("unavailable: unexpected reply to IOCTL_KCB_GET_CONFIG"),
        "{out}"
    );
    match result {
        Err(e @ Error::Incomplete(_)) => {
            assert_eq!(e.to_string(), "could not get: counters, configuration");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn status_stops_at_once_when_the_driver_is_not_loaded() {
    let mut driver = FakeDriver::new()
        .reply(Ioctl::GetReport, Err(Error::NotLoaded))
        .reply(Ioctl::GetConfig, Err(Error::NotLoaded))
        .reply(Ioctl::GetStats, Err(Error::NotLoaded));
    let (result, out, _) = run_cmd(&Command::Status { json: false }, &mut driver);
    assert!(matches!(result, Err(Error::NotLoaded)));
    assert!(out.is_empty());
    assert_eq!(driver.calls.len(), 1);
}

// ---------------------------------------------------------------------------
// events
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// notify / flood / callbacks
// ---------------------------------------------------------------------------

#[test]
fn notify_sends_both_arguments() {
    let mut driver = FakeDriver::new().reply(Ioctl::Notify, Ok(vec![]));
    let (result, out, _) = run_cmd(&parse_args(&args("notify 0x1234 42")).unwrap(), &mut driver);
    result.unwrap();
    let request: NotifyRequest = decode_request(&driver.calls[0].1).unwrap();
    assert_eq!((request.argument1, request.argument2), (0x1234, 42));
    assert!(out.contains("argument1=0x1234, argument2=0x2a"), "{out}");
    assert!(out.contains("success, no data returned"));

    let mut driver = FakeDriver::new().reply(Ioctl::Notify, Ok(vec![1, 0xAB]));
    let (result, out, _) = run_cmd(
        &Command::Notify {
            argument1: 0,
            argument2: 0,
        },
        &mut driver,
    );
    result.unwrap();
    assert!(out.contains("2 bytes returned: 01ab"), "{out}");
}

#[test]
fn flood_prints_the_drivers_answer() {
    let response = FloodResponse {
        requested: 5000,
        recorded: 4096,
        dropped: 904,
        reserved: 0,
    };
    let mut reply = vec![0u8; 16];
    write_response(&mut reply, &response).unwrap();
    let mut driver = FakeDriver::new().reply(Ioctl::Flood, Ok(reply));
    let (result, out, err) = run_cmd(&Command::Flood { count: 5000 }, &mut driver);
    result.unwrap();
    assert_eq!(out, "flood: requested 5000, recorded 4096, dropped 904\n");
    assert!(err.is_empty());
    let request: FloodRequest = decode_request(&driver.calls[0].1).unwrap();
    assert_eq!(request.count, 5000);
}

#[test]
fn flood_refused_explains_the_switch() {
    let mut driver = FakeDriver::new().fail(Ioctl::Flood, crate::ERROR_INVALID_FUNCTION);
    let (result, out, _) = run_cmd(&Command::Flood { count: 1 }, &mut driver);
    assert!(out.is_empty());
    let e = result.unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("IOCTL_KCB_FLOOD failed: incorrect function"),
        "{text}"
    );
    assert!(
        text.contains("EnableFlood=1") && text.contains(crate::PARAMETERS_KEY),
        "{text}"
    );
    assert_eq!(e.exit_code(), 1);
}

#[test]
fn callbacks_prints_the_object_table() {
    let mut first = CallbackObjectEntry {
        index: 0,
        state: RegistrationState::Registered as u32,
        status: 0,
        reserved: 0,
        fired: 3,
        name: WStr::from_str_truncating(r"\Callback\SetSystemTime"),
        reserved2: [0; 2],
    };
    let mut second = first;
    second.index = 1;
    second.state = RegistrationState::Failed as u32;
    second.status = 0xC000_0034_u32.cast_signed();
    second.fired = 0;
    second.name = WStr::from_str_truncating("\\Callback\\Evil\u{1b}[2J");
    first.name.len = 500; // unvalidated length: clamped, never a panic
    let unobserved = CallbackObjectEntry {
        index: u32::MAX,
        state: 0,
        name: WStr::from_str_truncating(r"\Callback\PowerState"),
        ..second
    };
    let mut reply = vec![0u8; 16 + 3 * 160];
    let n = write_callback_objects(&mut reply, &[first, second, unobserved]).unwrap();
    reply.truncate(n);
    let mut driver = FakeDriver::new()
        .reply(Ioctl::ListCallbackObjects, Ok(reply))
        .fail(Ioctl::ListRegistrations, crate::ERROR_NOT_SUPPORTED);
    let (result, out, err) = run_cmd(&Command::Callbacks { registrations: true }, &mut driver);
    result.unwrap();
    let l = lines(&out);
    assert!(l[0].contains("object") && l[0].contains("observer"));
    assert!(
        l[1].contains(r"\Callback\SetSystemTime") && l[1].contains("attached") && l[1].ends_with(" 3"),
        "{}",
        l[1]
    );
    assert!(
        l[2].contains(r"\Callback\Evil\x1b[2J") && l[2].contains("failed") && l[2].contains("0xC0000034"),
        "{}",
        l[2]
    );
    assert_eq!(
        l[3].split_whitespace().collect::<Vec<_>>(),
        ["-", r"\Callback\PowerState", "-", "not-observed", "-", "0"]
    );
    assert!(!out.contains('\u{1b}'));
    assert!(err.contains("object table only"));
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

#[test]
fn errors_read_well() {
    let not_loaded = Error::NotLoaded.to_string();
    assert!(not_loaded.contains("not loaded") && not_loaded.contains(r"\\.\KCallbacks"));
    assert!(not_loaded.contains("sc start kcallbacks"));
    let denied = Error::AccessDenied.to_string();
    assert!(denied.contains("SYSTEM and Administrators") && denied.contains("elevated"));
    let text = |ioctl, code| Error::Request { ioctl, code }.to_string();
    assert_eq!(
        text(Ioctl::GetStats, 122),
        "IOCTL_KCB_GET_STATS failed: the data area passed to a system call is too small \
         (Win32 error 122); the reply did not fit in kcbctl's buffer: the driver is newer than \
         this kcbctl"
    );
    assert!(text(Ioctl::GetConfig, 1).contains("does not know this request"));
    assert!(text(Ioctl::GetConfig, 1306).contains(
        "revision mismatch (Win32 error 1306); kcbctl and the driver speak different protocol versions"
    ));
    assert!(text(Ioctl::ReadEvents, 24).contains("different kcb-proto versions"));
    assert!(text(Ioctl::Notify, 87).contains("the parameter is incorrect"));
    assert!(
        text(Ioctl::Notify, 50).contains(r"no callback object of its own (creating \Callback\KCallbacks")
    );
    // What the driver answers when the switch is off (STATUS_NOT_SUPPORTED).
    assert!(text(Ioctl::Flood, 50).contains("EnableFlood=1"));
    assert_eq!(
        text(Ioctl::Notify, 0xDEAD),
        "IOCTL_KCB_NOTIFY failed: Win32 error 57005 (0x0000DEAD)"
    );
    assert!(Error::Open { code: 32 }.to_string().contains("sharing violation"));
    let bad = Error::BadReply {
        ioctl: Ioctl::GetStats,
        error: kcb_proto::DecodeError::UnsupportedVersion(2),
    };
    assert!(bad.to_string().contains("use the kcbctl built with this driver"));
    for code in [1, 2, 5, 24, 87, 122, 234, 1306] {
        assert!(crate::win32_message(code).is_some(), "{code}");
    }
}

#[test]
fn broken_pipe_is_recognised() {
    let e = Error::Io(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
    assert!(e.is_broken_pipe());
    assert!(!Error::NotLoaded.is_broken_pipe());
}

#[test]
fn the_host_device_reports_not_loaded() {
    let mut device = crate::device::LazyDevice::new();
    let (result, out, _) = run_cmd(&Command::Report, &mut device);
    assert!(matches!(result, Err(Error::NotLoaded)));
    assert!(out.is_empty());
}

// ---------------------------------------------------------------------------
// decode-dump
// ---------------------------------------------------------------------------

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

#[test]
fn callbacks_registrations_prints_object_multiple_and_module_offset() {
    use kcb_proto::{
        PROTOCOL_VERSION, RegistrationEntry, RegistrationListHeader, layout_check, registration_status,
        write_pod,
    };
    let entry = |index: u32,
                 object: &str,
                 status: u32,
                 detail: u32,
                 multiple: u32,
                 routine: u64,
                 module: &str,
                 offset: u64| {
        RegistrationEntry {
            object_index: index,
            status,
            detail,
            allow_multiple: multiple,
            routine,
            offset,
            module: kcb_proto::ascii_field(module),
            object: WStr::from_str_truncating(object),
            reserved: [0; 2],
        }
    };
    let entries = [
        entry(
            0,
            r"\Callback\KCallbacks",
            registration_status::IN_MODULE,
            0,
            1,
            0xFFFF_F800_1234_1A30,
            "kcallbacks.sys",
            0x1A30,
        ),
        entry(
            0,
            r"\Callback\KCallbacks",
            registration_status::NO_MODULE,
            0,
            1,
            0xFFFF_F800_5555_0000,
            "",
            0,
        ),
        entry(
            1,
            r"\Callback\PowerPort",
            registration_status::IN_MODULE,
            0,
            0,
            0xFFFF_F800_0A3C_5A10,
            "ntoskrnl.exe",
            0x3C_5A10,
        ),
        entry(
            2,
            r"\Callback\Odd",
            registration_status::LAYOUT_NOT_RECOGNISED,
            layout_check::LINK_MISMATCH,
            u32::MAX,
            0,
            "",
            0,
        ),
    ];
    let header_size = size_of::<RegistrationListHeader>();
    let entry_size = size_of::<RegistrationEntry>();
    let mut reply = vec![0u8; header_size + entries.len() * entry_size];
    let header = RegistrationListHeader {
        version: PROTOCOL_VERSION,
        count: 4,
        returned: 4,
        objects: 3,
    };
    write_pod(&header, &mut reply).unwrap();
    for (i, e) in entries.iter().enumerate() {
        write_pod(e, &mut reply[header_size + i * entry_size..]).unwrap();
    }
    let mut objects = vec![0u8; 16];
    let n = write_callback_objects(&mut objects, &[]).unwrap();
    objects.truncate(n);
    let mut driver = FakeDriver::new()
        .reply(Ioctl::ListCallbackObjects, Ok(objects))
        .reply(Ioctl::ListRegistrations, Ok(reply));
    let (result, out, err) = run_cmd(&Command::Callbacks { registrations: true }, &mut driver);
    result.unwrap();
    assert!(err.is_empty(), "{err}");
    let words: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    assert!(
        words.contains(&vec![r"\Callback\KCallbacks", "yes", "kcallbacks.sys!0x1a30"]),
        "{out}"
    );
    assert!(
        words.contains(&vec!["0xfffff80055550000", "(in", "no", "loaded", "module)"]),
        "{out}"
    );
    assert!(
        words.contains(&vec![
            r"\Callback\PowerPort",
            "no",
            "[x]",
            "ntoskrnl.exe!0x3c5a10"
        ]),
        "{out}"
    );
    assert!(
        words.contains(&vec![
            r"\Callback\Odd",
            "?",
            "layout",
            "not",
            "recognised",
            "(list",
            "link",
            "mismatch)"
        ]),
        "{out}"
    );
    assert!(out.contains("3 objects walked"), "{out}");
}

mod cost_tests;

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

mod events_options_tests;
mod events_schema_tests;
