//! The trigger-only smoke test: proves the Wine toolchain without the main
//! driver.

use super::check::{Check, step_check};
use super::run::{SC_LIMIT, create_args, install_files, sc};
use super::transcript::Step;
use super::wine_log::forbidden_texts_check;
use crate::artifacts::Paths;
use crate::wine::{self, Session};

/// The smoke test: the trigger driver alone (proves the Wine toolchain
/// without the main driver). Returns the checks.
pub fn smoke(paths: &Paths, config: &wine::Config) -> (Vec<Check>, String) {
    let mut session = match Session::start(&paths.root, config) {
        Ok(s) => s,
        Err(e) => {
            return (
                vec![Check::new("wine session started", false, e.to_string())],
                String::new(),
            );
        }
    };
    let mut out = vec![Check::new("wine session started", true, "")];
    if let Err(e) = install_files(paths, &session, false) {
        out.push(Check::new(
            "kcbtrig.sys copied into the prefix",
            false,
            e.to_string(),
        ));
    } else {
        let _ = session.wine(&["sc.exe", "delete", "kcbtrig"], SC_LIMIT);
        let create = sc(&session, &create_args("kcbtrig", "C:\\kcbtrig.sys"));
        let start = if create.ok {
            sc(&session, &["start", "kcbtrig"])
        } else {
            Step::skipped("sc create failed")
        };
        let stop = if start.ok {
            sc(&session, &["stop", "kcbtrig"])
        } else {
            Step::skipped("sc start failed")
        };
        let delete = if create.ok {
            sc(&session, &["delete", "kcbtrig"])
        } else {
            Step::skipped("sc create failed")
        };
        let msgs = session.messages();
        let has = |m: &str| msgs.iter().any(|x| x == m);
        out.push(step_check(
            "kcbtrig created and started",
            &[("sc create", &create), ("sc start", &start)],
        ));
        let line_check = |name, msg| Check::new(name, has(msg), if has(msg) { "" } else { "not in the log" });
        out.push(line_check("`kcbtrig: DriverEntry` line", "kcbtrig: DriverEntry"));
        out.push(step_check(
            "kcbtrig stopped and deleted",
            &[("sc stop", &stop), ("sc delete", &delete)],
        ));
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
