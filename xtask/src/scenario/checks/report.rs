//! The report checks: `kcbctl report` runs and lists every registration
//! as registered; callback objects are reported unavailable under Wine.

use crate::logparse::{Outcome, Register, api_base};
use crate::scenario::check::Check;
use crate::scenario::expect::REPORT_MAY_OMIT;
use crate::scenario::kcbctl_output::says_registered;
use crate::scenario::transcript::Transcript;
use crate::util::last_lines;

/// `kcbctl report` exits 0, and lists each of `ok_apis` as registered.
pub(super) fn checks(t: &Transcript, ok_apis: &[&str]) -> [Check; 2] {
    let exits = match &t.report {
        None => Check::new(
            "kcbctl report exits 0",
            false,
            "not run (the driver did not start, or wine failed)",
        ),
        Some(c) if c.ended.success() => Check::new("kcbctl report exits 0", true, ""),
        Some(c) => Check::new(
            "kcbctl report exits 0",
            false,
            format!("{}: {}", c.ended, last_lines(c.stderr.trim(), 4).join(" | ")),
        ),
    };
    let lists = match &t.report {
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
                Check::new(
                    "kcbctl report lists the registrations as registered",
                    false,
                    "no registrations to look for",
                )
            } else if missing.is_empty() {
                Check::new(
                    "kcbctl report lists the registrations as registered",
                    true,
                    format!("{} entries", ok_apis.len()),
                )
            } else {
                Check::new(
                    "kcbctl report lists the registrations as registered",
                    false,
                    format!("no `registered` line for: {}", missing.join(", ")),
                )
            }
        }
        _ => Check::new(
            "kcbctl report lists the registrations as registered",
            false,
            "no successful report",
        ),
    };
    [exits, lists]
}

/// Callback objects under Wine: `ExCreateCallback` gives no object; the
/// driver says so and runs on.
pub(super) fn callback_objects(t: &Transcript, regs: &[Register]) -> Check {
    let create = regs.iter().find(|r| api_base(&r.api) == "ExCreateCallback");
    Check::new(
        "callback objects reported unavailable under Wine (success without an object), driver running",
        create.is_some_and(|r| r.outcome == Outcome::Unavailable) && t.start_driver.ok,
        create.map_or_else(
            || "no ExCreateCallback line".to_owned(),
            |r| format!("{:?}", r.outcome),
        ),
    )
}
