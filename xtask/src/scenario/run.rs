//! Running the full scenario in a Wine session and recording what happens
//! (the checks are evaluated afterwards, in `checks/`).

use std::fs;
use std::time::{Duration, Instant};

use super::expect::{FLOOD_COUNT, WINE_DISABLED, WINE_ENABLED};
use super::transcript::{Step, Transcript};
use crate::artifacts::Paths;
use crate::logparse::parse_event;
use crate::util::{Captured, Result, copy_file, last_lines, secs};
use crate::wine::{self, Session};

/// The service's `Parameters` key, as `reg.exe` names it.
const PARAMETERS_KEY: &str = "HKLM\\System\\CurrentControlSet\\Services\\kcallbacks\\Parameters";

/// How often one `reg add` of a `Parameters` value is tried.
const REG_ADD_ATTEMPTS: u32 = 3;
/// How long to wait for the trigger driver's load-image event line.
const EVENT_WAIT: Duration = Duration::from_secs(10);
/// How long to wait for the unload summary after `sc stop`.
const UNLOAD_WAIT: Duration = Duration::from_secs(5);
/// Time limit of one `sc` command (`sc start` waits for `DriverEntry`).
pub(super) const SC_LIMIT: Duration = Duration::from_secs(45);
/// Time limit of `kcbctl report`.
const CLIENT_LIMIT: Duration = Duration::from_secs(45);

/// Runs `sc.exe <args>` in the session and prints the verdict.
pub(super) fn sc(session: &Session, args: &[&str]) -> Step {
    let t0 = Instant::now();
    let shown = format!("sc {}", args.join(" "));
    let step = match session.wine(&[&["sc.exe"], args].concat(), SC_LIMIT) {
        Ok(c) => Step::from_captured(&c),
        Err(e) => Step {
            ok: false,
            text: e.to_string(),
        },
    };
    session.flush_echo();
    let verdict = if step.ok {
        "ok".to_owned()
    } else {
        format!("FAILED ({})", step.text)
    };
    println!("wine: {shown}: {verdict} [{}]", secs(t0.elapsed()));
    step
}

pub(super) fn create_args<'a>(name: &'a str, bin: &'a str) -> [&'a str; 10] {
    [
        "create", name, "type=", "kernel", "start=", "demand", "binPath=", bin, "group=", "kcb",
    ]
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
        t.shutdown
            .as_ref()
            .map_or_else(|e| format!("FAILED ({e})"), |()| "ok".to_owned()),
        secs(t0.elapsed())
    );
    t.log = session.log();
    t.messages = session.messages();
    t
}

/// Copies the drivers (only the trigger driver unless `full`), kcbctl and
/// the shim into the prefix.
pub(super) fn install_files(paths: &Paths, session: &Session, full: bool) -> Result<()> {
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
    let settings = WINE_DISABLED
        .iter()
        .map(|(v, _)| (*v, "0"))
        .chain(WINE_ENABLED.iter().map(|v| (*v, "1")));
    for (value, data) in settings {
        let args = [
            "reg.exe",
            "add",
            PARAMETERS_KEY,
            "/v",
            value,
            "/t",
            "REG_DWORD",
            "/d",
            data,
            "/f",
        ];
        // Wine's reg.exe has been seen to exit 1 once right after `sc create`
        // (a CI run); a value left unset would let the driver call one of
        // Wine's aborting stubs, so each write is tried up to three times.
        for attempt in 1..=REG_ADD_ATTEMPTS {
            match session.wine(&args, SC_LIMIT) {
                Ok(c) if c.ended.success() => {
                    println!("wine: Parameters\\{value} = {data}");
                    break;
                }
                Ok(c) => println!(
                    "wine: reg add {value} (attempt {attempt} of {REG_ADD_ATTEMPTS}): {}",
                    c.ended
                ),
                Err(e) => println!("wine: reg add {value} (attempt {attempt} of {REG_ADD_ATTEMPTS}): {e}"),
            }
            std::thread::sleep(Duration::from_millis(250));
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
                    parse_event(m)
                        .is_some_and(|e| e.is_load_image() && m.to_ascii_lowercase().contains("kcbtrig"))
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
        t.version = client(session, &["--version"]);
        // Filtered: the first LoadImage event of kcbtrig.sys, then stop.
        t.events_json = client(
            session,
            &[
                "events",
                "--json",
                "--source",
                "LoadImage",
                "--image",
                "kcbtrig",
                "--count",
                "1",
            ],
        );
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
        if t.stop_driver.ok
            && session
                .wait_for(UNLOAD_WAIT, |m| m.starts_with("kcallbacks: unloaded:"))
                .is_none()
        {
            session.flush_echo();
            println!(
                "wine: no `kcallbacks: unloaded:` line within {}",
                secs(UNLOAD_WAIT)
            );
        }
    }
    t.delete_driver = sc(session, &["delete", "kcallbacks"]);
}

/// Runs `kcbctl <args>` in the session; prints what it wrote (JSON lines
/// only counted) and returns the capture.
fn client(session: &Session, args: &[&str]) -> Option<Captured> {
    let mut command_line = vec!["C:\\kcb\\kcbctl.exe"];
    command_line.extend_from_slice(args);
    let t0 = Instant::now();
    println!("wine: kcbctl {}", args.join(" "));
    match session.wine(&command_line, CLIENT_LIMIT) {
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
