//! The Wine end-to-end scenario shared by `cargo xtask run` and
//! `cargo xtask wine-e2e`, its named checks, and the trigger-only smoke test.
//!
//! Scenario: load `kcallbacks.sys`, then `kcbtrig.sys` in the same load-order
//! group (hence the same `winedevice.exe`, so the main driver's load-image
//! notify routine sees it), wait for the event line, run `kcbctl report`,
//! stop and delete both services, end the session. The checks are then
//! evaluated on what was recorded (the session's log and each command's
//! result), so a failure in one step still lets the others report.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::artifacts::Paths;
use crate::logparse::{
    Event, Outcome, Register, api_base, parse_driver_entry, parse_event, parse_loaded, parse_register,
    parse_unloaded, parse_unregister,
};
use crate::util::{Captured, Result, copy_file, last_lines, secs};
use crate::wine::{self, Session};

/// APIs whose `register` line may say `disabled` or `unavailable` instead of
/// `ok` (compared on the name without arguments). Extend as the driver grows.
///
/// Initial contents, from `shared/docs/wine.md`: what Wine 8.0 does not
/// export (so the driver's run-time lookup reports it unavailable), and what
/// it exports only as a stub that aborts `winedevice.exe` when called (so the
/// driver must not call it under Wine).
pub const MAY_BE_SKIPPED: &[&str] = &[
    // Wine 8.0's ExCreateCallback returns success without an object, and
    // IoRegisterPlugPlayNotification success without an entry: unavailable.
    "ExCreateCallback",
    "ExRegisterCallback",
    "IoRegisterPlugPlayNotification",
    // Undocumented prototype: always reported, never called.
    "HalRegisterErrataCallbacks",
    // Opt-in (off by default) / boot-start only.
    "HalSetSystemInformation",
    "IoRegisterBootDriverReinitialization",
    // Not exported by Wine 8.0.
    "PsSetCreateProcessNotifyRoutineEx2",
    "PsSetCreateThreadNotifyRoutineEx",
    "PsSetLoadImageNotifyRoutineEx",
    "CmRegisterCallbackEx",
    "KeRegisterNmiCallback",
    "KeRegisterProcessorChangeCallback",
    "KeRegisterBoundCallback",
    "PoRegisterPowerSettingCallback",
    "WheaRegisterInUsePageOfflineNotification",
    "HalSetSystemInformation",
    // Stubs that abort the host process when called.
    "KeRegisterBugCheckCallback",
    "KeRegisterBugCheckReasonCallback",
    "IoRegisterLastChanceShutdownNotification",
    "IoRegisterFsRegistrationChange",
];

/// `Parameters` values the Wine run sets to 0, with the API each disables:
/// Wine 8.0 exports these routines only as stubs that abort the host, so the
/// run must not call them, and each must be reported `disabled`.
pub const WINE_DISABLED: &[(&str, &str)] = &[
    ("EnableBugCheck", "KeRegisterBugCheckCallback"),
    ("EnableBugCheckReason", "KeRegisterBugCheckReasonCallback"),
    ("EnableLastChanceShutdown", "IoRegisterLastChanceShutdownNotification"),
    ("EnableFsRegistration", "IoRegisterFsRegistrationChange"),
];

/// Registrations expected to fail under Wine, with their status: the legacy
/// `CmRegisterCallback` (used because `CmRegisterCallbackEx` is not exported)
/// returns `STATUS_NOT_IMPLEMENTED`; the driver must report it and go on.
/// `Parameters` values the Wine run sets to 1: the flood test switch.
pub const WINE_ENABLED: &[&str] = &["EnableFlood"];

/// Records the flood test pushes: more than the ring and the client queue
/// hold together (1024 each), so some must be dropped.
pub const FLOOD_COUNT: u64 = 3000;

pub const WINE_EXPECTED_FAILURES: &[(&str, u32)] = &[("CmRegisterCallback", 0xC000_0002)];

/// The service's `Parameters` key, as `reg.exe` names it.
const PARAMETERS_KEY: &str = "HKLM\\System\\CurrentControlSet\\Services\\kcallbacks\\Parameters";

/// Registered APIs that `kcbctl report` need not list (compared on the name
/// without arguments). Empty: every registration is expected in the report.
pub const REPORT_MAY_OMIT: &[&str] = &[];

/// Texts that mean a driver reached code Wine does not implement.
pub const FORBIDDEN_LOG_TEXTS: &[&str] = &["Unimplemented function", "unimplemented function", "wine_stub"];

/// How long to wait for the trigger driver's load-image event line.
const EVENT_WAIT: Duration = Duration::from_secs(10);
/// How long to wait for the unload summary after `sc stop`.
const UNLOAD_WAIT: Duration = Duration::from_secs(5);
/// Time limit of one `sc` command (`sc start` waits for `DriverEntry`).
const SC_LIMIT: Duration = Duration::from_secs(45);
/// Time limit of `kcbctl report`.
const CLIENT_LIMIT: Duration = Duration::from_secs(45);

/// One named check.
#[derive(Debug, Clone)]
pub struct Check {
    /// What is checked.
    pub name: &'static str,
    /// Passed?
    pub ok: bool,
    /// Why it failed (or a note when it passed).
    pub detail: String,
}

impl Check {
    fn new(name: &'static str, ok: bool, detail: impl Into<String>) -> Self {
        Self { name, ok, detail: detail.into() }
    }
}

/// Prints checks as `ok   name` / `FAIL name: detail`; returns (passed, failed).
pub fn print_checks(checks: &[Check]) -> (usize, usize) {
    for c in checks {
        if c.ok {
            if c.detail.is_empty() {
                println!("ok   {}", c.name);
            } else {
                println!("ok   {} ({})", c.name, c.detail);
            }
        } else {
            println!("FAIL {}: {}", c.name, c.detail);
        }
    }
    let passed = checks.iter().filter(|c| c.ok).count();
    (passed, checks.len() - passed)
}

/// The result of one recorded command.
#[derive(Debug)]
struct Step {
    ok: bool,
    text: String,
}

impl Step {
    fn skipped(why: &str) -> Self {
        Self { ok: false, text: format!("not run: {why}") }
    }

    fn from_captured(c: &Captured) -> Self {
        let mut text = format!("{}", c.ended);
        let output = format!("{}\n{}", c.stdout.trim(), c.stderr.trim());
        let output = output.trim();
        if !c.ended.success() && !output.is_empty() {
            text.push_str(": ");
            text.push_str(&last_lines(output, 6).join(" | "));
        }
        Self { ok: c.ended.success(), text }
    }
}

/// Everything the scenario recorded.
#[derive(Debug)]
pub struct Transcript {
    session: std::result::Result<(), String>,
    create_driver: Step,
    start_driver: Step,
    create_trigger: Step,
    start_trigger: Step,
    event_wait: Option<Duration>,
    report: Option<Captured>,
    events_json: Option<Captured>,
    status_before_flood: Option<Captured>,
    flood: Option<Captured>,
    flood_events: Option<Captured>,
    status_after_flood: Option<Captured>,
    stop_trigger: Step,
    delete_trigger: Step,
    stop_driver: Step,
    delete_driver: Step,
    shutdown: std::result::Result<(), String>,
    messages: Vec<String>,
    log: String,
}

impl Transcript {
    fn new() -> Self {
        let none = || Step::skipped("an earlier step failed");
        Self {
            session: Ok(()),
            create_driver: none(),
            start_driver: none(),
            create_trigger: none(),
            start_trigger: none(),
            event_wait: None,
            report: None,
            events_json: None,
            status_before_flood: None,
            flood: None,
            flood_events: None,
            status_after_flood: None,
            stop_trigger: none(),
            delete_trigger: none(),
            stop_driver: none(),
            delete_driver: none(),
            shutdown: Ok(()),
            messages: vec![],
            log: String::new(),
        }
    }

    /// The session's whole log.
    pub fn log(&self) -> &str {
        &self.log
    }
}

fn sc(session: &Session, args: &[&str]) -> Step {
    let t0 = Instant::now();
    let shown = format!("sc {}", args.join(" "));
    let step = match session.wine(&[&["sc.exe"], args].concat(), SC_LIMIT) {
        Ok(c) => Step::from_captured(&c),
        Err(e) => Step { ok: false, text: e.to_string() },
    };
    session.flush_echo();
    let verdict = if step.ok { "ok".to_owned() } else { format!("FAILED ({})", step.text) };
    println!("wine: {shown}: {verdict} [{}]", secs(t0.elapsed()));
    step
}

fn create_args<'a>(name: &'a str, bin: &'a str) -> [&'a str; 10] {
    ["create", name, "type=", "kernel", "start=", "demand", "binPath=", bin, "group=", "kcb"]
}

/// Runs the full scenario in a session configured by `config`.
pub fn full(paths: &Paths, config: &wine::Config) -> Transcript {
    let mut t = Transcript::new();
    let t0 = Instant::now();
    let mut session = match Session::start(&paths.root, config) {
        Ok(s) => s,
        Err(e) => {
            t.session = Err(e.to_string());
            t.log = fs::read_to_string(&config.log).unwrap_or_default();
            return t;
        }
    };
    if let Err(e) = install_files(paths, &session, true) {
        t.session = Err(e.to_string());
    } else {
        run_steps(&session, &mut t);
    }
    t.shutdown = session.shutdown().map_err(|e| e.to_string());
    println!(
        "wine: session shut down: {} [{} in Wine]",
        t.shutdown.as_ref().map_or_else(|e| format!("FAILED ({e})"), |()| "ok".to_owned()),
        secs(t0.elapsed())
    );
    t.log = session.log();
    t.messages = session.messages();
    t
}

fn install_files(paths: &Paths, session: &Session, full: bool) -> Result<()> {
    let c = session.drive_c();
    copy_file(&paths.trigger, &c.join("kcbtrig.sys"))?;
    if full {
        copy_file(&paths.driver, &c.join("kcallbacks.sys"))?;
        copy_file(&paths.kcbctl, &c.join("kcb").join("kcbctl.exe"))?;
        copy_file(&paths.shim, &c.join("kcb").join("bcryptprimitives.dll"))?;
    }
    Ok(())
}

fn run_steps(session: &Session, t: &mut Transcript) {
    // Services left over in a reused prefix would make `sc create` fail (1073).
    for name in ["kcbtrig", "kcallbacks"] {
        let _ = session.wine(&["sc.exe", "delete", name], SC_LIMIT);
    }
    t.create_driver = sc(session, &create_args("kcallbacks", "C:\\kcallbacks.sys"));
    if !t.create_driver.ok {
        return;
    }
    let settings = WINE_DISABLED.iter().map(|(v, _)| (*v, "0")).chain(WINE_ENABLED.iter().map(|v| (*v, "1")));
    for (value, data) in settings {
        let args = ["reg.exe", "add", PARAMETERS_KEY, "/v", value, "/t", "REG_DWORD", "/d", data, "/f"];
        match session.wine(&args, SC_LIMIT) {
            Ok(c) if c.ended.success() => println!("wine: Parameters\\{value} = {data}"),
            Ok(c) => println!("wine: reg add {value}: {}", c.ended),
            Err(e) => println!("wine: reg add {value}: {e}"),
        }
    }
    t.start_driver = sc(session, &["start", "kcallbacks"]);
    if t.start_driver.ok {
        t.create_trigger = sc(session, &create_args("kcbtrig", "C:\\kcbtrig.sys"));
        if t.create_trigger.ok {
            t.start_trigger = sc(session, &["start", "kcbtrig"]);
            if t.start_trigger.ok {
                let w0 = Instant::now();
                let seen = session.wait_for(EVENT_WAIT, |m| {
                    parse_event(m).is_some_and(|e| e.is_load_image() && m.to_ascii_lowercase().contains("kcbtrig"))
                });
                t.event_wait = seen.map(|_| w0.elapsed());
                session.flush_echo();
                match t.event_wait {
                    Some(d) => println!("wine: LoadImage event for kcbtrig seen after {}", secs(d)),
                    None => println!("wine: no LoadImage event for kcbtrig within {}", secs(EVENT_WAIT)),
                }
            }
        }
        let r0 = Instant::now();
        println!("wine: C:\\kcb\\kcbctl.exe report");
        match session.wine(&["C:\\kcb\\kcbctl.exe", "report"], CLIENT_LIMIT) {
            Ok(c) => {
                session.flush_echo();
                for line in c.stdout.lines() {
                    println!("  > {line}");
                }
                println!("wine: kcbctl report: {} [{}]", c.ended, secs(r0.elapsed()));
                if !c.ended.success() {
                    for line in last_lines(&c.stderr, 10) {
                        println!("  ! {line}");
                    }
                }
                t.report = Some(c);
            }
            Err(e) => println!("wine: kcbctl report: {e}"),
        }
        t.events_json = client(session, &["events", "--json"]);
        t.status_before_flood = client(session, &["status"]);
        let count = FLOOD_COUNT.to_string();
        t.flood = client(session, &["flood", &count]);
        // Let the drain move what the ring kept to the client queue.
        std::thread::sleep(Duration::from_millis(400));
        t.flood_events = client(session, &["events", "--json"]);
        t.status_after_flood = client(session, &["status"]);
        if t.create_trigger.ok {
            if t.start_trigger.ok {
                t.stop_trigger = sc(session, &["stop", "kcbtrig"]);
            }
            t.delete_trigger = sc(session, &["delete", "kcbtrig"]);
        }
        t.stop_driver = sc(session, &["stop", "kcallbacks"]);
        if t.stop_driver.ok && session.wait_for(UNLOAD_WAIT, |m| m.starts_with("kcallbacks: unloaded:")).is_none() {
            session.flush_echo();
            println!("wine: no `kcallbacks: unloaded:` line within {}", secs(UNLOAD_WAIT));
        }
    }
    t.delete_driver = sc(session, &["delete", "kcallbacks"]);
}

/// Runs `kcbctl <args>` in the session; prints what it wrote (JSON lines
/// only counted) and returns the capture.
fn client(session: &Session, args: &[&str]) -> Option<Captured> {
    let mut argv = vec!["C:\\kcb\\kcbctl.exe"];
    argv.extend_from_slice(args);
    let t0 = Instant::now();
    println!("wine: kcbctl {}", args.join(" "));
    match session.wine(&argv, CLIENT_LIMIT) {
        Ok(c) => {
            session.flush_echo();
            if args.contains(&"--json") {
                println!("  > {} JSON lines", c.stdout.lines().count());
            } else {
                for line in c.stdout.lines() {
                    println!("  > {line}");
                }
            }
            println!("wine: kcbctl {}: {} [{}]", args[0], c.ended, secs(t0.elapsed()));
            if !c.ended.success() {
                for line in last_lines(&c.stderr, 6) {
                    println!("  ! {line}");
                }
            }
            Some(c)
        }
        Err(e) => {
            println!("wine: kcbctl {}: {e}", args[0]);
            None
        }
    }
}

/// The value of `"key":` in a one-line JSON object: a number or a string
/// (escapes resolved for `\\` and `\"`). Enough for kcbctl's flat objects.
pub fn json_field(line: &str, key: &str) -> Option<String> {
    let pattern = format!("\"{key}\":");
    let rest = &line[line.find(&pattern)? + pattern.len()..];
    if let Some(body) = rest.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(out),
                '\\' => out.push(chars.next()?),
                c => out.push(c),
            }
        }
        None
    } else {
        Some(rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect())
    }
}

/// `(seen, recorded, dropped)` of `source` from `kcbctl status`'s counter table.
pub fn status_counters(status: &str, source: &str) -> Option<(u64, u64, u64)> {
    status.lines().find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() != Some(&source) || words.len() < 5 {
            return None;
        }
        let n = |w: &str| w.parse::<u64>().ok();
        Some((n(words[words.len() - 3])?, n(words[words.len() - 2])?, n(words[words.len() - 1])?))
    })
}

/// Sum of the `dropped` column of `kcbctl status`.
fn total_dropped(status: &str) -> Option<u64> {
    let mut in_counters = false;
    let mut total = None;
    for line in status.lines() {
        if line.starts_with("Counters") {
            in_counters = true;
            continue;
        }
        if in_counters && !line.starts_with(' ') && !line.trim().is_empty() {
            break;
        }
        if !in_counters {
            continue;
        }
        // Rows: source, enabled, seen, recorded, dropped (other lines, such as
        // the ring occupancy, do not end in three numbers).
        if let Some((_, _, dropped)) = line.split_whitespace().next().and_then(|source| status_counters(line, source)) {
            total = Some(total.unwrap_or(0) + dropped);
        }
    }
    total
}

/// The workspace version (`[workspace.package] version`, else `[package] version`).
pub fn workspace_version(root: &Path) -> Option<String> {
    let text = fs::read_to_string(root.join("Cargo.toml")).ok()?;
    let mut section = String::new();
    let mut found = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            line.clone_into(&mut section);
        } else if let Some((k, v)) = line.split_once('=')
            && k.trim() == "version"
            && (section == "[workspace.package]" || (section == "[package]" && found.is_none()))
        {
            let v = v.trim();
            if v.starts_with('"') {
                found = Some(v.trim_matches('"').to_owned());
                if section == "[workspace.package]" {
                    return found;
                }
            }
        }
    }
    found
}

fn may_be_skipped(api: &str) -> bool {
    MAY_BE_SKIPPED.contains(&api_base(api)) || WINE_DISABLED.iter().any(|(_, a)| *a == api_base(api))
}

/// A failure Wine is expected to produce (same API, same status).
fn expected_failure(r: &Register) -> bool {
    WINE_EXPECTED_FAILURES.iter().any(|(api, status)| api_base(&r.api) == *api && r.status == Some(*status))
}

/// Whether `line` has the word `registered` (not `unregistered`).
fn says_registered(line: &str) -> bool {
    line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .any(|w| w.eq_ignore_ascii_case("registered"))
}

fn step_check(name: &'static str, steps: &[(&str, &Step)]) -> Check {
    let failed: Vec<String> =
        steps.iter().filter(|(_, s)| !s.ok).map(|(what, s)| format!("{what}: {}", s.text)).collect();
    Check::new(name, failed.is_empty(), failed.join("; "))
}

/// Evaluates the named checks of the full scenario.
#[allow(clippy::too_many_lines)]
pub fn checks(t: &Transcript, expected_version: Option<&str>) -> Vec<Check> {
    let mut out = vec![];
    if let Err(e) = &t.session {
        out.push(Check::new("wine session started", false, e.clone()));
        return out;
    }
    out.push(Check::new("wine session started", true, ""));
    let msgs: Vec<&str> = t.messages.iter().map(String::as_str).collect();

    out.push(step_check(
        "kcallbacks service created and started (DriverEntry returned success)",
        &[("sc create kcallbacks", &t.create_driver), ("sc start kcallbacks", &t.start_driver)],
    ));

    // DriverEntry line.
    let entry: Vec<&str> = msgs.iter().filter_map(|m| parse_driver_entry(m)).collect();
    out.push(match (entry.as_slice(), expected_version) {
        ([], _) => Check::new("DriverEntry line", false, "no `kcallbacks: DriverEntry version=...` line"),
        ([v], Some(want)) if v != &want => {
            Check::new("DriverEntry line", false, format!("version={v}, Cargo.toml says {want}"))
        }
        ([v], _) => Check::new("DriverEntry line", true, format!("version={v}")),
        (many, _) => Check::new("DriverEntry line", false, format!("{} DriverEntry lines", many.len())),
    });

    // Registrations.
    let regs: Vec<Register> = msgs.iter().filter_map(|m| parse_register(m)).collect();
    let bad: Vec<String> = regs
        .iter()
        .filter(|r| match &r.outcome {
            Outcome::Ok => false,
            Outcome::Disabled | Outcome::Unavailable => !may_be_skipped(&r.api),
            Outcome::Failed => !expected_failure(r),
            Outcome::Other(_) => true,
        })
        .map(|r| format!("{} {:?} status={:#010x}", r.api, r.outcome, r.status.unwrap_or(0)))
        .collect();
    let ok_apis: Vec<&str> = regs.iter().filter(|r| r.outcome == Outcome::Ok).map(|r| r.api.as_str()).collect();
    out.push(if regs.is_empty() {
        Check::new("every registration ok (or allowed disabled/unavailable)", false, "no `register` lines")
    } else if bad.is_empty() {
        Check::new(
            "every registration ok (or allowed disabled/unavailable)",
            true,
            format!("{} lines, {} ok", regs.len(), ok_apis.len()),
        )
    } else {
        Check::new("every registration ok (or allowed disabled/unavailable)", false, bad.join("; "))
    });

    // Each API excluded through Parameters is reported as disabled.
    let not_disabled: Vec<&str> = WINE_DISABLED
        .iter()
        .map(|(_, api)| *api)
        .filter(|api| !regs.iter().any(|r| api_base(&r.api) == *api && r.outcome == Outcome::Disabled))
        .collect();
    out.push(Check::new(
        "APIs that are stubs under Wine are reported `disabled` (by Parameters)",
        not_disabled.is_empty(),
        if not_disabled.is_empty() { format!("{} disabled", WINE_DISABLED.len()) } else { not_disabled.join(", ") },
    ));

    // loaded: summary.
    let loaded: Vec<_> = msgs.iter().filter(|m| m.starts_with("kcallbacks: loaded:")).collect();
    let count = |o: &Outcome| regs.iter().filter(|r| &r.outcome == o).count() as u64;
    out.push(match loaded.as_slice() {
        [] => Check::new("loaded line: 0 failed, counts match the register lines", false, "no `loaded:` line"),
        [line] => match parse_loaded(line) {
            None => Check::new("loaded line: 0 failed, counts match the register lines", false, format!("unparsable: {line}")),
            Some(l) => {
                let want = (count(&Outcome::Ok), count(&Outcome::Failed), count(&Outcome::Disabled), count(&Outcome::Unavailable));
                let got = (l.registered, l.failed, l.disabled, l.unavailable);
                let allowed = regs.iter().filter(|r| r.outcome == Outcome::Failed && expected_failure(r)).count() as u64;
                if l.failed != allowed {
                    Check::new(
                        "loaded line: 0 failed, counts match the register lines",
                        false,
                        format!("{} failed ({allowed} expected under Wine)", l.failed),
                    )
                } else if got != want {
                    Check::new(
                        "loaded line: 0 failed, counts match the register lines",
                        false,
                        format!("line says {got:?} (registered, failed, disabled, unavailable), register lines give {want:?}"),
                    )
                } else {
                    Check::new("loaded line: 0 failed, counts match the register lines", true, format!("{} registered", l.registered))
                }
            }
        },
        many => Check::new("loaded line: 0 failed, counts match the register lines", false, format!("{} `loaded:` lines", many.len())),
    });

    // Trigger driver.
    let trig_entry = msgs.contains(&"kcbtrig: DriverEntry");
    let mut trig = step_check(
        "trigger driver kcbtrig started in the same group",
        &[("sc create kcbtrig", &t.create_trigger), ("sc start kcbtrig", &t.start_trigger)],
    );
    if trig.ok && !trig_entry {
        trig = Check::new(trig.name, false, "no `kcbtrig: DriverEntry` line");
    }
    out.push(trig);

    // LoadImage event.
    let events: Vec<Event> = msgs.iter().filter_map(|m| parse_event(m)).filter(Event::is_load_image).collect();
    let hit = events.iter().find(|e| {
        e.field("name").is_some_and(|n| n.trim_end_matches("...").to_ascii_lowercase().ends_with("kcbtrig.sys"))
    });
    out.push(match hit {
        Some(e) if e.number("base").unwrap_or(0) != 0 && e.number("size").unwrap_or(0) != 0 => Check::new(
            "LoadImage event for kcbtrig.sys with nonzero base and size",
            true,
            format!(
                "#{} name={} base={} size={}{}",
                e.seq.unwrap_or(0),
                e.field("name").unwrap_or(""),
                e.field("base").unwrap_or(""),
                e.field("size").unwrap_or(""),
                if t.event_wait.is_none() { ", but only after the wait" } else { "" }
            ),
        ),
        Some(e) => Check::new(
            "LoadImage event for kcbtrig.sys with nonzero base and size",
            false,
            format!("base={:?} size={:?}", e.field("base"), e.field("size")),
        ),
        None => Check::new(
            "LoadImage event for kcbtrig.sys with nonzero base and size",
            false,
            format!(
                "no such event line ({} LoadImage events: {})",
                events.len(),
                events.iter().filter_map(|e| e.field("name")).collect::<Vec<_>>().join(", ")
            ),
        ),
    });

    // kcbctl report.
    out.push(match &t.report {
        None => Check::new("kcbctl report exits 0", false, "not run (the driver did not start, or wine failed)"),
        Some(c) if c.ended.success() => Check::new("kcbctl report exits 0", true, ""),
        Some(c) => Check::new(
            "kcbctl report exits 0",
            false,
            format!("{}: {}", c.ended, last_lines(c.stderr.trim(), 4).join(" | ")),
        ),
    });
    out.push(match &t.report {
        Some(c) if c.ended.success() => {
            let missing: Vec<&str> = ok_apis
                .iter()
                .map(|a| api_base(a))
                .filter(|base| !REPORT_MAY_OMIT.contains(base))
                .filter(|base| {
                    // The report's name field holds 47 ASCII characters.
                    let key = &base[..base.len().min(47)];
                    !c.stdout.lines().any(|l| l.contains(key) && says_registered(l))
                })
                .collect();
            if ok_apis.is_empty() {
                Check::new("kcbctl report lists the registrations as registered", false, "no registrations to look for")
            } else if missing.is_empty() {
                Check::new("kcbctl report lists the registrations as registered", true, format!("{} entries", ok_apis.len()))
            } else {
                Check::new(
                    "kcbctl report lists the registrations as registered",
                    false,
                    format!("no `registered` line for: {}", missing.join(", ")),
                )
            }
        }
        _ => Check::new("kcbctl report lists the registrations as registered", false, "no successful report"),
    });

    // Events through the ring, as JSON (issue: the event pipeline).
    out.push(match &t.events_json {
        Some(c) if c.ended.success() => {
            let hit = c.stdout.lines().find(|l| {
                json_field(l, "source").as_deref() == Some("LoadImage")
                    && json_field(l, "name").is_some_and(|n| n.to_ascii_lowercase().ends_with("kcbtrig.sys"))
            });
            match hit {
                Some(l) => {
                    let base = json_field(l, "base").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                    let size = json_field(l, "size").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                    let pid = json_field(l, "pid");
                    Check::new(
                        "kcbctl events --json: the LoadImage event of kcbtrig.sys with its fields",
                        base != 0 && size != 0 && pid.as_deref() == Some("0"),
                        format!("base={base:#x} size={size:#x} pid={}", pid.unwrap_or_default()),
                    )
                }
                None => Check::new(
                    "kcbctl events --json: the LoadImage event of kcbtrig.sys with its fields",
                    false,
                    format!("not among {} JSON lines", c.stdout.lines().count()),
                ),
            }
        }
        other => Check::new(
            "kcbctl events --json: the LoadImage event of kcbtrig.sys with its fields",
            false,
            other.as_ref().map_or_else(|| "not run".to_owned(), |c| format!("{}", c.ended)),
        ),
    });
    out.push(match t.status_before_flood.as_ref().filter(|c| c.ended.success()) {
        Some(c) => match total_dropped(&c.stdout) {
            Some(0) => Check::new("kcbctl status: zero drops before the flood", true, ""),
            Some(n) => Check::new("kcbctl status: zero drops before the flood", false, format!("{n} dropped")),
            None => Check::new("kcbctl status: zero drops before the flood", false, "no counter table"),
        },
        None => Check::new("kcbctl status: zero drops before the flood", false, "status failed"),
    });
    out.push(flood_check(t));
    out.push(cost_check(t));

    // Callback objects under Wine: ExCreateCallback gives no object; the
    // driver says so and runs on.
    let create = regs.iter().find(|r| api_base(&r.api) == "ExCreateCallback");
    out.push(Check::new(
        "callback objects reported unavailable under Wine (success without an object), driver running",
        create.is_some_and(|r| r.outcome == Outcome::Unavailable) && t.start_driver.ok,
        create.map_or_else(|| "no ExCreateCallback line".to_owned(), |r| format!("{:?}", r.outcome)),
    ));

    // Trigger unload.
    let mut trig_stop = step_check(
        "trigger driver stopped (DriverUnload ran) and deleted",
        &[("sc stop kcbtrig", &t.stop_trigger), ("sc delete kcbtrig", &t.delete_trigger)],
    );
    if trig_stop.ok && !msgs.contains(&"kcbtrig: unload") {
        trig_stop = Check::new(trig_stop.name, false, "no `kcbtrig: unload` line");
    }
    out.push(trig_stop);

    out.push(step_check("sc stop kcallbacks", &[("sc stop kcallbacks", &t.stop_driver)]));

    // unregister lines: one `removed` per registration.
    let unregs: Vec<(&str, &str)> = msgs.iter().filter_map(|m| parse_unregister(m)).collect();
    let mut expected: Vec<&str> = ok_apis.clone();
    let mut problems = vec![];
    for (api, result) in &unregs {
        if *result != "removed" {
            problems.push(format!("{api}: {result}"));
        } else if let Some(i) = expected.iter().position(|a| a == api) {
            expected.swap_remove(i);
        } else {
            problems.push(format!("{api} removed but not registered (or removed twice)"));
        }
    }
    problems.extend(expected.iter().map(|a| format!("{a} never removed")));
    out.push(if ok_apis.is_empty() {
        Check::new("one `unregister ...: removed` per registration", false, "no registrations")
    } else if problems.is_empty() {
        Check::new("one `unregister ...: removed` per registration", true, format!("{} removed", unregs.len()))
    } else {
        Check::new("one `unregister ...: removed` per registration", false, problems.join("; "))
    });

    let unloaded: Vec<u64> = msgs.iter().filter_map(|m| parse_unloaded(m)).collect();
    out.push(match unloaded.as_slice() {
        [n] if *n == ok_apis.len() as u64 && !ok_apis.is_empty() => {
            Check::new("unloaded line with the registered count", true, format!("{n} removed"))
        }
        [n] => Check::new(
            "unloaded line with the registered count",
            false,
            format!("unloaded: {n} removed, but {} were registered", ok_apis.len()),
        ),
        [] => Check::new("unloaded line with the registered count", false, "no `kcallbacks: unloaded:` line"),
        many => Check::new("unloaded line with the registered count", false, format!("{} `unloaded:` lines", many.len())),
    });

    out.push(step_check("kcallbacks service deleted", &[("sc delete kcallbacks", &t.delete_driver)]));
    out.push(forbidden_texts_check(&t.log));
    out.push(match &t.shutdown {
        Ok(()) => Check::new("wineserver shut down cleanly", true, ""),
        Err(e) => Check::new("wineserver shut down cleanly", false, e.clone()),
    });
    out
}

/// The flood test: every pushed record is either delivered (read back) or
/// counted as dropped, and some were dropped.
fn flood_check(t: &Transcript) -> Check {
    const NAME: &str = "flood: delivered + dropped = pushed, drops counted";
    let (Some(flood), Some(events), Some(status)) = (&t.flood, &t.flood_events, &t.status_after_flood) else {
        return Check::new(NAME, false, "flood, events or status not run");
    };
    if !flood.ended.success() {
        return Check::new(NAME, false, format!("kcbctl flood: {}: {}", flood.ended, flood.stderr.trim()));
    }
    let delivered = events.stdout.lines().filter(|l| json_field(l, "source").as_deref() == Some("Flood")).count() as u64;
    let Some((seen, _recorded, dropped)) = status_counters(&status.stdout, "Flood") else {
        return Check::new(NAME, false, "no Flood row in kcbctl status");
    };
    Check::new(
        NAME,
        seen == FLOOD_COUNT && delivered + dropped == FLOOD_COUNT && dropped > 0,
        format!("pushed {FLOOD_COUNT}, seen {seen}, delivered {delivered}, dropped {dropped}"),
    )
}

/// Heading of the cost section of `kcbctl status`.
const COST_HEADING: &str = "Cost (time inside the notify routines)";

/// `(calls, p50, p99, max)` of `source` from the cost section of `kcbctl
/// status` (columns: source, calls, p50, p99, max in cycles, then ns).
pub fn cost_row(status: &str, source: &str) -> Option<(u64, u64, u64, u64)> {
    let section = &status[status.find(COST_HEADING)?..];
    section.lines().skip(1).take_while(|l| l.starts_with(' ') || l.is_empty()).find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() != Some(&source) || words.len() < 5 {
            return None;
        }
        let n = |w: &str| w.parse::<u64>().ok();
        Some((n(words[1])?, n(words[2])?, n(words[3])?, n(words[4])?))
    })
}

/// The driver measured its `LoadImage` routine (`kcbtrig.sys` was loaded before
/// `kcbctl status` ran): at least one call with a nonzero duration.
fn cost_check(t: &Transcript) -> Check {
    const NAME: &str = "kcbctl status: cost of the LoadImage routine measured (calls >= 1)";
    let Some(status) = t.status_before_flood.as_ref().filter(|c| c.ended.success()) else {
        return Check::new(NAME, false, "status failed");
    };
    match cost_row(&status.stdout, "LoadImage") {
        Some((calls, p50, p99, max)) => Check::new(
            NAME,
            calls >= 1 && max > 0 && p50 <= p99 && p99 <= max,
            format!("{calls} calls, p50 {p50}, p99 {p99}, max {max} cycles"),
        ),
        None => Check::new(NAME, false, "no LoadImage row in the cost section"),
    }
}

/// The first Wine stub a driver called (`ntoskrnl.exe.Name`), if any.
pub fn stub_called(log: &str) -> Option<String> {
    log.lines().find_map(|l| {
        let at = l.find("nimplemented function ")? + "nimplemented function ".len();
        l[at..].split_whitespace().next().map(|f| f.trim_end_matches(',').to_owned())
    })
}

fn forbidden_texts_check(log: &str) -> Check {
    let hits: Vec<&str> =
        log.lines().filter(|l| FORBIDDEN_LOG_TEXTS.iter().any(|f| l.contains(f))).take(5).collect();
    if hits.is_empty() {
        Check::new("no unimplemented-function / wine_stub lines in the log", true, "")
    } else {
        Check::new("no unimplemented-function / wine_stub lines in the log", false, hits.join(" | "))
    }
}

/// The smoke test: the trigger driver alone (proves the Wine toolchain
/// without the main driver). Returns the checks.
pub fn smoke(paths: &Paths, config: &wine::Config) -> (Vec<Check>, String) {
    let mut session = match Session::start(&paths.root, config) {
        Ok(s) => s,
        Err(e) => return (vec![Check::new("wine session started", false, e.to_string())], String::new()),
    };
    let mut out = vec![Check::new("wine session started", true, "")];
    if let Err(e) = install_files(paths, &session, false) {
        out.push(Check::new("kcbtrig.sys copied into the prefix", false, e.to_string()));
    } else {
        let _ = session.wine(&["sc.exe", "delete", "kcbtrig"], SC_LIMIT);
        let create = sc(&session, &create_args("kcbtrig", "C:\\kcbtrig.sys"));
        let start = if create.ok { sc(&session, &["start", "kcbtrig"]) } else { Step::skipped("sc create failed") };
        let stop = if start.ok { sc(&session, &["stop", "kcbtrig"]) } else { Step::skipped("sc start failed") };
        let delete = if create.ok { sc(&session, &["delete", "kcbtrig"]) } else { Step::skipped("sc create failed") };
        let msgs = session.messages();
        let has = |m: &str| msgs.iter().any(|x| x == m);
        out.push(step_check("kcbtrig created and started", &[("sc create", &create), ("sc start", &start)]));
        let line_check = |name, msg| Check::new(name, has(msg), if has(msg) { "" } else { "not in the log" });
        out.push(line_check("`kcbtrig: DriverEntry` line", "kcbtrig: DriverEntry"));
        out.push(step_check("kcbtrig stopped and deleted", &[("sc stop", &stop), ("sc delete", &delete)]));
        out.push(line_check("`kcbtrig: unload` line", "kcbtrig: unload"));
    }
    let shutdown = session.shutdown();
    let log = session.log();
    out.push(forbidden_texts_check(&log));
    out.push(match shutdown {
        Ok(()) => Check::new("wineserver shut down cleanly", true, ""),
        Err(e) => Check::new("wineserver shut down cleanly", false, e.to_string()),
    });
    (out, log)
}

/// Prints the last `n` lines of a log under a heading.
pub fn dump_log_tail(root: &Path, log_path: &Path, log: &str, n: usize) {
    println!("---- last {n} lines of {} ----", crate::util::rel(root, log_path));
    for line in last_lines(log, n) {
        println!("{line}");
    }
    println!("---- end of log ----");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logparse::driver_message;
    use crate::util::Ended;

    fn ok_step() -> Step {
        Step { ok: true, text: "exit code 0".into() }
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
        t.messages = t.log.lines().filter_map(driver_message).map(str::to_owned).collect();
        let status = std::process::Command::new("true").status().unwrap();
        let ok = |stdout: &str| Some(Captured { ended: Ended::Exited(status), stdout: stdout.into(), stderr: String::new() });
        t.report = ok(report);
        t.events_json = ok(
            r#"{"seq":1,"source":"LoadImage","pid":0,"base":5368709120,"size":12288,"name":"C:\\kcbtrig.sys"}"#,
        );
        let counters = |flood: &str| {
            format!(
                "Counters (sources enabled or with activity)\n  source enabled seen recorded dropped\n  \
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
        "kcallbacks: loaded: 2 registered, 0 failed, 4 disabled, 2 unavailable",
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
        assert_eq!(checks.len(), 22);
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
        t.messages = t.log.lines().filter_map(driver_message).map(str::to_owned).collect();
        let names = failed(&checks(&t, None));
        assert_eq!(
            names,
            ["LoadImage event for kcbtrig.sys with nonzero base and size", "unloaded line with the registered count"]
        );
    }

    #[test]
    fn cost_rows_come_from_the_cost_section_only() {
        let t = transcript(GOOD, GOOD_REPORT);
        let status = &t.status_before_flood.as_ref().unwrap().stdout;
        assert_eq!(cost_row(status, "LoadImage"), Some((1, 5000, 5000, 5000)));
        assert_eq!(cost_row(status, "Registry"), None);
        // The counters row of the same source is not taken for a cost row.
        assert_eq!(cost_row(&status.replace(COST_HEADING, "Something else"), "LoadImage"), None);
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
        assert_eq!(stub_called(log).as_deref(), Some("ntoskrnl.exe.IoRegisterLastChanceShutdownNotification"));
        assert_eq!(stub_called("fine\n"), None);
    }

    #[test]
    fn registered_word() {
        assert!(says_registered("PsSetLoadImageNotifyRoutine  registered  status=0"));
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
}
