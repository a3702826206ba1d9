//! The clap command line (`--version`, help per command, short forms,
//! errors), the `events` filters and `--output`, the service state in
//! `status`.

use std::sync::atomic::AtomicBool;

use kcb_proto::{Ioctl, SourceId};
use serde_json::Value;

use super::{
    FakeDriver, args, config_reply, events_reply, image_load, process_create, report_reply, run_cmd,
    run_with, stats_reply,
};
use crate::filter::EventFilter;
use crate::service::ServiceState;
use crate::{Command, Console, Error, EventsOptions, parse_args};

fn events_command(json: bool, follow: bool, filter: EventFilter) -> Command {
    Command::Events {
        json,
        follow,
        options: EventsOptions { filter, output: None },
    }
}

#[test]
fn short_forms_and_filters_parse() {
    assert_eq!(
        parse_args(&args("status -j")).unwrap(),
        Command::Status { json: true }
    );
    assert_eq!(
        parse_args(&args("events -j -f")).unwrap(),
        events_command(true, true, EventFilter::default())
    );
    assert_eq!(
        parse_args(&args("events -jf")).unwrap(),
        events_command(true, true, EventFilter::default())
    );
    let parsed = parse_args(&args(
        "events --json --source LoadImage --source registry --pid 0x10 --tid 8 --image NTDLL \
         --since 2024-05-01T12:00:00Z --count 3 --output out.jsonl",
    ))
    .unwrap();
    assert_eq!(
        parsed,
        Command::Events {
            json: true,
            follow: false,
            options: EventsOptions {
                filter: EventFilter {
                    sources: vec![SourceId::LoadImage, SourceId::Registry],
                    pid: Some(16),
                    tid: Some(8),
                    image: Some("ntdll".into()),
                    since: Some(133_590_384_000_000_000),
                    count: Some(3),
                },
                output: Some("out.jsonl".into()),
            },
        }
    );
    // A duration is "now minus": somewhere before now.
    let Command::Events { options, .. } = parse_args(&args("events --since 5m")).unwrap() else {
        panic!("not events");
    };
    let since = options.filter.since.unwrap();
    let now = crate::filter::now_ticks();
    assert!(since < now && since + 3_100_000_000 > now, "{since} {now}");
}

/// The error of a bad command line (exit code 2, usage text).
fn usage_error(line: &str) -> String {
    match parse_args(&args(line)) {
        Err(error @ Error::Usage(_)) => {
            assert_eq!(error.exit_code(), 2, "{line}");
            let text = error.to_string();
            assert!(text.contains("usage: kcbctl"), "{line}: {text}");
            text
        }
        other => panic!("{line}: {other:?}"),
    }
}

#[test]
fn errors_name_the_bad_argument() {
    let text = usage_error("events --source Nope");
    assert!(text.contains("Nope") && text.contains("--source"), "{text}");
    for source in SourceId::ALL {
        assert!(text.contains(source.name()), "{text}");
    }
    assert!(usage_error("events --pid x").contains("--pid"));
    assert!(usage_error("events --count 0").contains("--count"));
    assert!(usage_error("events --since yesterday").contains("yesterday"));
    assert!(usage_error("events --colour").contains("--colour"));
    assert!(usage_error("status --jsonx").contains("--jsonx"));
    assert!(usage_error("flood 0").contains("out of range"));
    assert!(usage_error("notify 1 0x1g").contains("0x1g"));
    assert!(usage_error("frobnicate").contains("frobnicate"));
    assert!(usage_error("events --image").contains("--image"));
}

#[test]
fn version_and_help_per_command_need_no_driver() {
    let version = parse_args(&args("--version")).unwrap();
    let Command::Show(text) = &version else {
        panic!("{version:?}");
    };
    assert_eq!(text.trim(), format!("kcbctl {}", env!("CARGO_PKG_VERSION")));
    assert!(!version.needs_driver());
    let (result, out, _) = run_cmd(&version, &mut FakeDriver::new());
    result.unwrap();
    assert_eq!(out.trim(), text.trim());

    let Command::Show(help) = parse_args(&args("events --help")).unwrap() else {
        panic!("no help");
    };
    for option in [
        "--source", "--pid", "--tid", "--image", "--since", "--count", "--output", "-f", "-j",
    ] {
        assert!(help.contains(option), "{option}: {help}");
    }
    let Command::Show(help) = parse_args(&args("decode-dump -h")).unwrap() else {
        panic!("no help");
    };
    assert!(help.contains("<FILE>"), "{help}");
}

#[test]
fn events_prints_only_what_the_filter_keeps() {
    let mut other_pid = image_load(2, r"C:\b.sys");
    other_pid.header.pid = 99;
    let records = [
        image_load(1, r"C:\Windows\NTDLL.dll"),
        other_pid,
        process_create(3, r"C:\ntdll-lookalike.exe", "x"),
        image_load(4, r"C:\c.sys"),
    ];
    let mut driver = FakeDriver::new()
        .reply(Ioctl::ReadEvents, Ok(events_reply(&records, 0, 0)))
        .reply(Ioctl::ReadEvents, Ok(events_reply(&[], 0, 0)));
    let filter = EventFilter {
        sources: vec![SourceId::LoadImage],
        pid: Some(4),
        ..EventFilter::default()
    };
    let (result, out, err) = run_cmd(&events_command(true, false, filter), &mut driver);
    result.unwrap();
    assert!(err.is_empty(), "{err}");
    let seqs: Vec<u64> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 4]);

    let mut driver = FakeDriver::new()
        .reply(Ioctl::ReadEvents, Ok(events_reply(&records, 0, 0)))
        .reply(Ioctl::ReadEvents, Ok(events_reply(&[], 0, 0)));
    let filter = EventFilter {
        image: Some("ntdll".into()),
        ..EventFilter::default()
    };
    let (result, out, _) = run_cmd(&events_command(false, false, filter), &mut driver);
    result.unwrap();
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.lines().all(|l| l.to_lowercase().contains("ntdll")), "{out}");
}

#[test]
fn count_stops_reading_even_with_follow() {
    let batch = [image_load(1, "a"), image_load(2, "b"), image_load(3, "c")];
    let stop = AtomicBool::new(false);
    // More batches are queued than are needed: reading stops at the count.
    let mut driver = FakeDriver::new()
        .reply(Ioctl::ReadEvents, Ok(events_reply(&batch[..1], 0, 0)))
        .reply(Ioctl::ReadEvents, Ok(events_reply(&batch[1..], 0, 0)))
        .reply(Ioctl::ReadEvents, Ok(events_reply(&batch, 0, 0)));
    let filter = EventFilter {
        count: Some(2),
        ..EventFilter::default()
    };
    let (result, out, _) = run_with(&events_command(false, true, filter), &mut driver, &stop);
    result.unwrap();
    assert_eq!(out.lines().count(), 2, "{out}");
    assert_eq!(driver.count(Ioctl::ReadEvents), 2);
}

#[test]
fn output_appends_to_the_file() {
    let dir = std::env::temp_dir().join(format!("kcbctl-output-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("events.jsonl");
    std::fs::write(&path, "earlier line\n").unwrap();
    let command = Command::Events {
        json: true,
        follow: false,
        options: EventsOptions {
            filter: EventFilter::default(),
            output: Some(path.to_string_lossy().into_owned()),
        },
    };
    let mut driver = FakeDriver::new()
        .reply(Ioctl::ReadEvents, Ok(events_reply(&[image_load(7, "x")], 0, 0)))
        .reply(Ioctl::ReadEvents, Ok(events_reply(&[], 0, 0)));
    let (result, out, _) = run_cmd(&command, &mut driver);
    result.unwrap();
    assert!(out.is_empty(), "{out}");
    let written = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines.len(), 2, "{written}");
    assert_eq!(lines[0], "earlier line");
    assert_eq!(serde_json::from_str::<Value>(lines[1]).unwrap()["seq"], 7);

    // A file that cannot be opened: a clear error naming it, nothing read.
    let bad = dir.join("no-such-dir").join("x.jsonl");
    let command = Command::Events {
        json: true,
        follow: false,
        options: EventsOptions {
            filter: EventFilter::default(),
            output: Some(bad.to_string_lossy().into_owned()),
        },
    };
    let mut driver = FakeDriver::new();
    let (result, _, _) = run_cmd(&command, &mut driver);
    let error = result.unwrap_err();
    assert!(matches!(error, Error::File { .. }), "{error:?}");
    assert!(error.to_string().contains("no-such-dir"), "{error}");
    assert_eq!(driver.count(Ioctl::ReadEvents), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn status_driver() -> FakeDriver<'static> {
    FakeDriver::new()
        .reply(Ioctl::GetReport, Ok(report_reply()))
        .reply(Ioctl::GetStats, Ok(stats_reply()))
        .reply(Ioctl::GetConfig, Ok(config_reply()))
        .fail(Ioctl::QueryCost, crate::ERROR_INVALID_FUNCTION)
}

/// Runs `status` with a given service state; returns (result, stdout, stderr).
fn status_with(
    json: bool,
    service: &ServiceState,
    driver: &mut FakeDriver<'_>,
) -> (Result<(), Error>, String, String) {
    let stop = AtomicBool::new(false);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let result = {
        let mut console = Console {
            out: &mut out,
            err: &mut err,
            stop: &stop,
            poll_interval: std::time::Duration::ZERO,
        };
        crate::status(driver, json, service, &mut console)
    };
    (
        result,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn status_shows_the_service_state() {
    let (_, out, _) = status_with(false, &ServiceState::Running, &mut status_driver());
    assert!(
        out.starts_with("Service\n  kcallbacks: RUNNING\n\nRegistrations\n"),
        "{out}"
    );

    let (_, out, _) = status_with(true, &ServiceState::Running, &mut status_driver());
    let json: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(json["service"]["name"], "kcallbacks");
    assert_eq!(json["service"]["state"], "RUNNING");
    assert!(json["registrations"].is_object());

    let unavailable = ServiceState::Unavailable("why".into());
    let (_, out, _) = status_with(true, &unavailable, &mut status_driver());
    let json: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(json["service"]["state"], "unavailable");
    assert_eq!(json["service"]["error"], "why");

    // Driver absent: stdout stays empty, the service state goes to stderr.
    for json in [false, true] {
        let mut absent = FakeDriver::new().reply(Ioctl::GetReport, Err(Error::NotLoaded));
        let (result, out, err) = status_with(json, &ServiceState::Stopped, &mut absent);
        assert!(matches!(result, Err(Error::NotLoaded)));
        assert!(out.is_empty(), "{out}");
        assert_eq!(err, "kcbctl: service kcallbacks: STOPPED\n");
        let mut absent = FakeDriver::new().reply(Ioctl::GetReport, Err(Error::NotLoaded));
        let (_, _, err) = status_with(json, &ServiceState::NotInstalled, &mut absent);
        assert_eq!(err, "kcbctl: service kcallbacks: not installed\n");
    }
}
