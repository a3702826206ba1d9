//! `kcbctl report` and `kcbctl status`.

use super::*;

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
