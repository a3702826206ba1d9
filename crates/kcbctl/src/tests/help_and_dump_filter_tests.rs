//! `kcbctl help <command>` (the command's `--help`) and the `events`
//! filters and `--output` on `decode-dump`.

use kcb_proto::SourceId;

use super::{FakeDriver, args, image_load, process_create, run_cmd};
use crate::dump::encode_dump;
use crate::{Command, Error, parse_args};

const COMMANDS: [&str; 7] = [
    "report",
    "status",
    "events",
    "notify",
    "flood",
    "callbacks",
    "decode-dump",
];

#[test]
fn help_with_a_command_is_that_commands_help() {
    for name in COMMANDS {
        let via_help = parse_args(&args(&format!("help {name}"))).unwrap();
        let via_flag = parse_args(&args(&format!("{name} --help"))).unwrap();
        assert_eq!(via_help, via_flag, "{name}");
        let Command::Show(text) = &via_help else {
            panic!("{name}: {via_help:?}");
        };
        assert!(text.contains(&format!("kcbctl {name}")), "{name}: {text}");
        assert!(!via_help.needs_driver());
        let (result, out, _) = run_cmd(&via_help, &mut FakeDriver::new());
        result.unwrap();
        assert_eq!(out, *text, "{name}");
    }
    assert_eq!(parse_args(&args("help help")).unwrap(), Command::Help);
    assert_eq!(parse_args(&args("help")).unwrap(), Command::Help);
}

#[test]
fn help_refuses_an_unknown_command_or_more_than_one() {
    for (line, named) in [
        ("help frobnicate", "frobnicate"),
        ("help events status", "events status"),
    ] {
        match parse_args(&args(line)) {
            Err(error @ Error::Usage(_)) => {
                assert_eq!(error.exit_code(), 2, "{line}");
                let text = error.to_string();
                assert!(text.contains(named), "{line}: {text}");
            }
            other => panic!("{line}: {other:?}"),
        }
    }
}

#[test]
fn decode_dump_takes_the_events_filters() {
    let filters = "--source LoadImage --source processcreate --pid 4 --tid 0x8 --image NTDLL \
                   --since 2024-05-01T12:00:00Z --count 2 --output out.jsonl";
    let Command::Events { options, .. } = parse_args(&args(&format!("events {filters}"))).unwrap() else {
        panic!("not events");
    };
    assert_eq!(
        options.filter.sources,
        [SourceId::LoadImage, SourceId::ProcessCreate]
    );
    assert_eq!(options.filter.image.as_deref(), Some("ntdll"));
    let parsed = parse_args(&args(&format!("decode-dump -j {filters} blob.bin"))).unwrap();
    assert_eq!(
        parsed,
        Command::DecodeDump {
            path: "blob.bin".into(),
            json: true,
            options,
        },
        "the same filters as events"
    );
    assert!(!parsed.needs_driver());
    let Command::Show(help) = parse_args(&args("help decode-dump")).unwrap() else {
        panic!("no help");
    };
    for option in [
        "--source", "--pid", "--tid", "--image", "--since", "--count", "--output", "-j",
    ] {
        assert!(help.contains(option), "{option}: {help}");
    }
}

/// A blob file of two image loads (pid 4) and one process creation
/// (pid 4 too), written under `tag`; returns its path.
fn blob_file(tag: &str) -> std::path::PathBuf {
    let mut other_pid = image_load(3, r"\SystemRoot\System32\kernel32.dll");
    other_pid.header.pid = 1234;
    let records = [
        image_load(1, r"\SystemRoot\System32\ntdll.dll"),
        process_create(2, r"C:\Windows\notepad.exe", "notepad.exe x.txt"),
        other_pid,
    ];
    let path = std::env::temp_dir().join(format!("kcbctl-dump-{tag}-{}.bin", std::process::id()));
    std::fs::write(&path, encode_dump(&records)).unwrap();
    path
}

fn decode_dump(path: &std::path::Path, line: &str) -> (Result<(), Error>, String, String) {
    let full = format!("decode-dump {line} {}", path.display());
    let command = parse_args(&args(&full)).unwrap();
    run_cmd(&command, &mut FakeDriver::new())
}

fn sequences(out: &str) -> Vec<u64> {
    out.lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

#[test]
fn decode_dump_prints_only_what_the_filters_keep() {
    let path = blob_file("filters");
    let (result, out, err) = decode_dump(&path, "-j");
    result.unwrap();
    assert_eq!(sequences(&out), [1, 2, 3]);
    assert_eq!(err, "kcbctl: 3 records\n", "no filter, no filter note");

    for (filters, expected) in [
        ("--source LoadImage", vec![1, 3]),
        ("--source processcreate", vec![2]),
        ("--pid 1234", vec![3]),
        ("--image NOTEPAD", vec![2]),
        ("--image .dll --count 1", vec![1]),
        ("--since 2099-01-01T00:00:00Z", vec![]),
    ] {
        let (result, out, err) = decode_dump(&path, &format!("-j {filters}"));
        result.unwrap();
        assert_eq!(sequences(&out), expected, "{filters}");
        assert_eq!(
            err,
            format!("kcbctl: 3 records, {} kept by the filters\n", expected.len()),
            "{filters}"
        );
    }
    let (result, out, _) = decode_dump(&path, "--pid 1234");
    result.unwrap();
    assert_eq!(out.lines().count(), 1, "text form: {out}");
    assert!(out.contains("kernel32.dll"), "{out}");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn decode_dump_output_appends_to_the_file() {
    let path = blob_file("output");
    let out_path = std::env::temp_dir().join(format!("kcbctl-dump-out-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&out_path);
    let option = format!("-j --source LoadImage --output {}", out_path.display());
    for _ in 0..2 {
        let (result, out, err) = decode_dump(&path, &option);
        result.unwrap();
        assert!(out.is_empty(), "stdout stays empty: {out}");
        assert_eq!(err, "kcbctl: 3 records, 2 kept by the filters\n");
    }
    let written = std::fs::read_to_string(&out_path).unwrap();
    assert_eq!(sequences(&written), [1, 3, 1, 3], "appended, not replaced");

    let missing = std::env::temp_dir().join(format!("kcbctl-no-such-dir-{}", std::process::id()));
    let bad = missing.join("out.jsonl");
    let (result, _, _) = decode_dump(&path, &format!("--output {}", bad.display()));
    assert!(matches!(result, Err(Error::File { .. })), "{result:?}");
    std::fs::remove_file(&out_path).unwrap();
    std::fs::remove_file(&path).unwrap();
}
