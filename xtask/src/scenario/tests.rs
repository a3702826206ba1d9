//! Unit tests of the checks on recorded transcripts.

use std::time::Duration;

use super::check::Check;
use super::checks::checks;
use super::expect::workspace_version;
use super::kcbctl_output::{COST_HEADING, cost_row, says_registered};
use super::transcript::{Step, Transcript};
use super::wine_log::stub_called;
use crate::logparse::driver_message;
use crate::util::{Captured, Ended};

fn ok_step() -> Step {
    Step {
        ok: true,
        text: "exit code 0".into(),
    }
}

fn wine_line(msg: &str) -> String {
    format!("0160:warn:debugstr:vDbgPrintExWithPrefix 0000004d:00000001: {msg}\n")
}

fn transcript(messages: &[&str], report: &str) -> Transcript {
    let mut t = Transcript::new();
    for s in [
        &mut t.create_driver,
        &mut t.start_driver,
        &mut t.create_trigger,
        &mut t.start_trigger,
        &mut t.stop_trigger,
        &mut t.delete_trigger,
        &mut t.stop_driver,
        &mut t.delete_driver,
    ] {
        *s = ok_step();
    }
    t.event_wait = Some(Duration::from_millis(100));
    t.log = messages.iter().map(|m| wine_line(m)).collect();
    t.messages = t
        .log
        .lines()
        .filter_map(driver_message)
        .map(str::to_owned)
        .collect();
    let status = std::process::Command::new("true").status().unwrap();
    let ok = |stdout: &str| {
        Some(Captured {
            ended: Ended::Exited(status),
            stdout: stdout.into(),
            stderr: String::new(),
        })
    };
    t.report = ok(report);
    t.version = ok("kcbctl 0.1.0\n");
    t.events_json = ok(
        r#"{"seq":1,"source":"LoadImage","pid":0,"base":5368709120,"size":12288,"name":"C:\\kcbtrig.sys"}"#,
    );
    let counters = |flood: &str| {
        format!(
            "Service\n  kcallbacks: RUNNING\n\nCounters (sources enabled or with activity)\n  source enabled seen recorded dropped\n  \
             LoadImage yes 1 1 0\n{flood}  rings: 0 of 589824 bytes in use (0%)\n\n\
             Cost (time inside the notify routines)\n  counter: TSC (3.000 GHz); 2 processors\n  \
             source calls p50 cycles p99 cycles max cycles p50 ns p99 ns max ns\n  \
             LoadImage 1 5000 5000 5000 1666 1666 1666\n\nConfiguration\n"
        )
    };
    t.status_before_flood = ok(&counters(""));
    t.flood = ok("flood: requested 3000, recorded 1024, dropped 1976\n");
    t.flood_events = ok(&vec![r#"{"source":"Flood","index":1}"#; 1024].join("\n"));
    t.status_after_flood = ok(&counters("  Flood yes 3000 1024 1976\n"));
    t
}

const GOOD: &[&str] = &[
    "kcallbacks: DriverEntry version=0.1.0",
    "kcallbacks: register IoCreateDevice(\\Device\\KCallbacks): ok status=0x00000000",
    "kcallbacks: register ExCreateCallback(\\Callback\\KCallbacks): unavailable status=0x00000000 (success without an object)",
    "kcallbacks: register KeRegisterBugCheckCallback: disabled status=0x00000000",
    "kcallbacks: register KeRegisterBugCheckReasonCallback: disabled status=0x00000000",
    "kcallbacks: register IoRegisterLastChanceShutdownNotification: disabled status=0x00000000",
    "kcallbacks: register IoRegisterFsRegistrationChange: disabled status=0x00000000",
    "kcallbacks: register PsSetLoadImageNotifyRoutine: ok status=0x00000000",
    "kcallbacks: register KeRegisterNmiCallback: unavailable status=0xC00000BB",
    "kcallbacks: loaded: 2 registered, 0 failed, 4 disabled, 3 unavailable",
    "kcallbacks: register EtwRegister(kcallbacks): unavailable status=0xC000007A (not exported by this system)",
    "kcbtrig: DriverEntry",
    "kcallbacks: event #1 t=x cpu=0 irql=0 LoadImage pid=0 tid=9 base=0x140000000 size=0x3000 name=C:\\kcbtrig.sys",
    "kcbtrig: unload",
    "kcallbacks: unregister PsSetLoadImageNotifyRoutine: removed",
    "kcallbacks: unregister IoCreateDevice(\\Device\\KCallbacks): removed",
    "kcallbacks: unloaded: 2 removed",
];
const GOOD_REPORT: &str = "IoCreateDevice            registered  0x00000000\n\
                           PsSetLoadImageNotifyRoutine registered 0x00000000\n\
                           KeRegisterNmiCallback     not-available\n";

fn failed(checks: &[Check]) -> Vec<&'static str> {
    checks.iter().filter(|c| !c.ok).map(|c| c.name).collect()
}

#[test]
fn a_good_session_passes_every_check() {
    let checks = checks(&transcript(GOOD, GOOD_REPORT), Some("0.1.0"));
    assert_eq!(failed(&checks), Vec::<&str>::new(), "{checks:#?}");
    assert_eq!(checks.len(), 26);
}

#[test]
fn failures_are_reported_by_name() {
    let mut lines = GOOD.to_vec();
    // An unexpected failure (Cm with another status than Wine's).
    lines[8] = "kcallbacks: register CmRegisterCallback: FAILED status=0xC0000001";
    lines[9] = "kcallbacks: loaded: 2 registered, 1 failed, 4 disabled, 1 unavailable";
    lines.remove(lines.iter().position(|l| l.contains("unregister Ps")).unwrap());
    lines.push("0024:err:module:x Unimplemented function ntoskrnl.exe.Foo called");
    let t = transcript(&lines, "IoCreateDevice registered\n");
    let names = failed(&checks(&t, Some("0.2.0")));
    assert_eq!(
        names,
        [
            "DriverEntry line",
            "every registration ok (or allowed disabled/unavailable)",
            "loaded line: 0 failed, counts match the register lines",
            "kcbctl report lists the registrations as registered",
            "kcbctl --version prints the workspace version",
            "one `unregister ...: removed` per registration",
            "no unimplemented-function / wine_stub lines in the log",
        ]
    );
}

#[test]
fn missing_event_and_unload_count_mismatch() {
    let lines: Vec<&str> = GOOD.iter().copied().filter(|l| !l.contains("event #")).collect();
    let mut t = transcript(&lines, GOOD_REPORT);
    t.log = t.log.replace("unloaded: 2 removed", "unloaded: 1 removed");
    t.messages = t
        .log
        .lines()
        .filter_map(driver_message)
        .map(str::to_owned)
        .collect();
    let names = failed(&checks(&t, None));
    assert_eq!(
        names,
        [
            "LoadImage event for kcbtrig.sys with nonzero base and size",
            "unloaded line with the registered count"
        ]
    );
}

#[test]
fn cost_rows_come_from_the_cost_section_only() {
    let t = transcript(GOOD, GOOD_REPORT);
    let status = &t.status_before_flood.as_ref().unwrap().stdout;
    assert_eq!(cost_row(status, "LoadImage"), Some((1, 5000, 5000, 5000)));
    assert_eq!(cost_row(status, "Registry"), None);
    // The counters row of the same source is not taken for a cost row.
    assert_eq!(
        cost_row(&status.replace(COST_HEADING, "Something else"), "LoadImage"),
        None
    );
    let mut t = transcript(GOOD, GOOD_REPORT);
    let unmeasured = status.replace("LoadImage 1 5000", "LoadImage 0 5000");
    t.status_before_flood.as_mut().unwrap().stdout = unmeasured;
    assert_eq!(
        failed(&checks(&t, Some("0.1.0"))),
        ["kcbctl status: cost of the LoadImage routine measured (calls >= 1)"]
    );
}

#[test]
fn stub_name_from_the_log() {
    let log = "x\nwine: Call from 000000007B013D7E to unimplemented function ntoskrnl.exe.IoRegisterLastChanceShutdownNotification, aborting\n";
    assert_eq!(
        stub_called(log).as_deref(),
        Some("ntoskrnl.exe.IoRegisterLastChanceShutdownNotification")
    );
    assert_eq!(stub_called("fine\n"), None);
}

#[test]
fn registered_word() {
    assert!(says_registered(
        "PsSetLoadImageNotifyRoutine  registered  status=0"
    ));
    assert!(says_registered("x: REGISTERED"));
    assert!(!says_registered("PsSetLoadImageNotifyRoutine unregistered"));
    assert!(!says_registered("x not-registered-yet"));
}

#[test]
fn version_from_cargo_toml() {
    let root = crate::util::repo_root();
    let v = workspace_version(&root).unwrap();
    assert!(v.split('.').count() >= 3, "{v}");
}

#[test]
fn kcbctl_client_checks_fail_on_wrong_output() {
    let mut t = transcript(GOOD, GOOD_REPORT);
    let status = std::process::Command::new("true").status().unwrap();
    let ok = |stdout: &str| {
        Some(Captured {
            ended: Ended::Exited(status),
            stdout: stdout.into(),
            stderr: String::new(),
        })
    };
    t.version = ok("kcbctl 0.0.9\n");
    let two = r#"{"seq":1,"source":"LoadImage","pid":0,"base":1,"size":1,"name":"C:\\kcbtrig.sys"}"#;
    t.events_json = ok(&format!("{two}\n{}", two.replace("LoadImage", "Registry")));
    t.status_before_flood = t.status_before_flood.map(|c| Captured {
        stdout: c.stdout.replace("kcallbacks: RUNNING", "kcallbacks: STOPPED"),
        ..c
    });
    let names = failed(&checks(&t, Some("0.1.0")));
    assert_eq!(
        names,
        [
            "kcbctl --version prints the workspace version",
            "kcbctl events --json --source LoadImage --count 1: exactly one LoadImage line",
            "kcbctl status: service state RUNNING (Service Control Manager)",
        ]
    );
}
