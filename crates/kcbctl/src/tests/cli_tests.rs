//! `kcbctl`'s command line: every command parses, bad ones are refused, `help`.

use super::*;

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
                options: EventsOptions::default(),
            },
        ),
        (
            "decode-dump --json x.bin",
            Command::DecodeDump {
                path: "x.bin".into(),
                json: true,
                options: EventsOptions::default(),
            },
        ),
        (
            "decode-dump x.bin --json",
            Command::DecodeDump {
                path: "x.bin".into(),
                json: true,
                options: EventsOptions::default(),
            },
        ),
        (
            "decode-dump -- --json",
            Command::DecodeDump {
                path: "--json".into(),
                json: false,
                options: EventsOptions::default(),
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
