//! The `events` filters on records.

use kcb_proto::{EventRecord, FileTime, ImageLoadPayload, ProcessPayload, SourceId, kind};

use super::{EventFilter, FilterState, FilterView, parse_since, parse_source};

fn image_load(pid: u64, tid: u64, timestamp: u64, name: &str) -> EventRecord {
    let mut rec = EventRecord::build::<ImageLoadPayload>(kind::NONE, |p| {
        p.name.set_from_str(name);
    });
    rec.header.pid = pid;
    rec.header.tid = tid;
    rec.header.timestamp = timestamp;
    rec
}

fn process(image: &str, cmdline: &str) -> EventRecord {
    EventRecord::build::<ProcessPayload>(kind::CREATE, |p| {
        p.image_name.set_from_str(image);
        p.command_line.set_from_str(cmdline);
    })
}

#[test]
fn the_default_filter_passes_everything() {
    let filter = EventFilter::default();
    assert!(filter.matches(&image_load(1, 2, 3, "a")));
    assert!(filter.matches(&EventRecord::new(SourceId::Flood, 0)));
    let mut unknown = EventRecord::ZERO;
    unknown.header.source = 999;
    assert!(filter.matches(&unknown));
}

#[test]
fn source_pid_tid_and_since() {
    let rec = image_load(4, 8, 1000, r"C:\x.sys");
    let by_source = |sources: Vec<SourceId>| EventFilter {
        sources,
        ..EventFilter::default()
    };
    assert!(by_source(vec![SourceId::LoadImage]).matches(&rec));
    assert!(by_source(vec![SourceId::Registry, SourceId::LoadImage]).matches(&rec));
    assert!(!by_source(vec![SourceId::Registry]).matches(&rec));
    let mut unknown = EventRecord::ZERO;
    unknown.header.source = 999;
    assert!(!by_source(vec![SourceId::LoadImage]).matches(&unknown));

    let pid = |pid| EventFilter {
        pid: Some(pid),
        ..EventFilter::default()
    };
    assert!(pid(4).matches(&rec));
    assert!(!pid(5).matches(&rec));
    let tid = |tid| EventFilter {
        tid: Some(tid),
        ..EventFilter::default()
    };
    assert!(tid(8).matches(&rec));
    assert!(!tid(4).matches(&rec));
    let since = |since| EventFilter {
        since: Some(since),
        ..EventFilter::default()
    };
    assert!(since(1000).matches(&rec));
    assert!(since(999).matches(&rec));
    assert!(!since(1001).matches(&rec));
}

#[test]
fn image_is_a_case_insensitive_substring_of_any_name_field() {
    let image = |text: &str| EventFilter {
        image: Some(text.to_lowercase()),
        ..EventFilter::default()
    };
    let load = image_load(0, 0, 0, r"C:\Windows\System32\drivers\Foo.SYS");
    assert!(image("foo.sys").matches(&load));
    assert!(image("DRIVERS\\FOO").matches(&load));
    assert!(!image("bar.sys").matches(&load));
    // The command line is a name field of a process record too.
    let proc = process(r"C:\cmd.exe", "cmd /c NOTEPAD.exe");
    assert!(image("notepad").matches(&proc));
    assert!(image("CMD.EXE").matches(&proc));
    assert!(!image("calc").matches(&proc));
    // No string fields: never matches.
    assert!(!image("").matches(&EventRecord::new(SourceId::Flood, 0)));
}

#[test]
fn filters_combine() {
    let filter = EventFilter {
        sources: vec![SourceId::LoadImage],
        pid: Some(4),
        image: Some("x.sys".into()),
        ..EventFilter::default()
    };
    assert!(filter.matches(&image_load(4, 0, 0, "x.sys")));
    assert!(!filter.matches(&image_load(5, 0, 0, "x.sys")));
    assert!(!filter.matches(&image_load(4, 0, 0, "y.sys")));
}

#[test]
fn count_stops_after_n_matching_records() {
    let filter = EventFilter {
        sources: vec![SourceId::LoadImage],
        count: Some(2),
        ..EventFilter::default()
    };
    let mut state = FilterState::new(&filter);
    let flood = EventRecord::new(SourceId::Flood, 0);
    assert!(!state.done());
    assert!(!state.admit(&flood));
    assert!(state.admit(&image_load(0, 0, 0, "a")));
    assert!(!state.admit(&flood));
    assert!(!state.done());
    assert!(state.admit(&image_load(0, 0, 0, "b")));
    assert!(state.done());
    assert!(!state.admit(&image_load(0, 0, 0, "c")));

    let unlimited = EventFilter::default();
    let mut state = FilterState::new(&unlimited);
    for _ in 0..100 {
        assert!(state.admit(&flood));
    }
    assert!(!state.done());
}

#[test]
fn source_names_are_case_insensitive_and_errors_list_the_valid_ones() {
    assert_eq!(parse_source("LoadImage"), Ok(SourceId::LoadImage));
    assert_eq!(parse_source("loadimage"), Ok(SourceId::LoadImage));
    assert_eq!(parse_source("REGISTRY"), Ok(SourceId::Registry));
    let error = parse_source("Nope").unwrap_err();
    assert!(error.contains("`Nope`"), "{error}");
    for source in SourceId::ALL {
        assert!(error.contains(source.name()), "{error}");
    }
}

#[test]
fn since_accepts_the_timestamps_kcbctl_prints() {
    for ticks in [
        0u64,
        133_594_560_000_000_000,
        133_594_560_001_234_567,
        116_444_736_000_000_000,
        // 2000-02-29 (leap day).
        125_962_560_000_000_000,
    ] {
        let printed = FileTime(ticks).to_string();
        assert_eq!(parse_since(&printed, 0), Ok(ticks), "{printed}");
    }
    assert_eq!(
        parse_since("1970-01-01T00:00:00Z", 0),
        Ok(116_444_736_000_000_000)
    );
    assert_eq!(
        parse_since("1970-01-01T00:00:01.5Z", 0),
        Ok(116_444_736_015_000_000)
    );
}

#[test]
fn since_accepts_durations_before_now() {
    let now = 1_000_000_000_000;
    assert_eq!(parse_since("30s", now), Ok(now - 300_000_000));
    assert_eq!(parse_since("5m", now), Ok(now - 3_000_000_000));
    assert_eq!(parse_since("2h", now), Ok(now - 72_000_000_000));
    assert_eq!(parse_since("1d", now), Ok(now - 864_000_000_000));
    assert_eq!(parse_since("0s", now), Ok(now));
    // Longer ago than the epoch: everything.
    assert_eq!(parse_since("100000d", now), Ok(0));
}

#[test]
fn since_refuses_anything_else() {
    for bad in [
        "",
        "s",
        "5",
        "-5m",
        "+5m",
        "5 m",
        "5w",
        "2024-05-01",
        "2024-05-01T12:00:00",
        "2024-05-01T12:00:00+02:00",
        "2024-13-01T12:00:00Z",
        "2023-02-29T12:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:00:00.Z",
        "2024-05-01T12:00:00.12345678Z",
        "1600-01-01T00:00:00Z",
        "99999999999999999999s",
    ] {
        let error = parse_since(bad, 1_000).unwrap_err();
        assert!(error.contains("RFC 3339"), "{bad}: {error}");
    }
}

#[test]
fn views_can_be_built_without_a_record() {
    struct Fake;
    impl FilterView for Fake {
        fn source(&self) -> Option<SourceId> {
            Some(SourceId::Registry)
        }
        fn pid(&self) -> u64 {
            7
        }
        fn tid(&self) -> u64 {
            9
        }
        fn timestamp(&self) -> u64 {
            5
        }
        fn any_name(&self, matches: &mut dyn FnMut(&str) -> bool) -> bool {
            matches(r"\registry\machine\software")
        }
    }
    let filter = EventFilter {
        sources: vec![SourceId::Registry],
        pid: Some(7),
        tid: Some(9),
        since: Some(5),
        image: Some("machine".into()),
        count: None,
    };
    assert!(filter.matches(&Fake));
}
