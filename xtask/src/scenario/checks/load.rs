//! The load checks: the services were created and started, the
//! `DriverEntry` line, every registration line, the `loaded:` summary, the
//! trigger driver.

use crate::logparse::{Outcome, Register, api_base, parse_driver_entry, parse_loaded, parse_register};
use crate::scenario::check::{Check, step_check};
use crate::scenario::expect::{MAY_BE_SKIPPED, WINE_DISABLED, WINE_ETW_LINE, WINE_EXPECTED_FAILURES};
use crate::scenario::transcript::Transcript;

fn may_be_skipped(api: &str) -> bool {
    MAY_BE_SKIPPED.contains(&api_base(api)) || WINE_DISABLED.iter().any(|(_, a)| *a == api_base(api))
}

/// A failure Wine is expected to produce (same API, same status).
fn expected_failure(r: &Register) -> bool {
    WINE_EXPECTED_FAILURES
        .iter()
        .any(|(api, status)| api_base(&r.api) == *api && r.status == Some(*status))
}

/// Pushes the load checks to `out`; returns the registration lines.
#[allow(clippy::too_many_lines)]
pub(super) fn checks(
    t: &Transcript,
    msgs: &[&str],
    expected_version: Option<&str>,
    out: &mut Vec<Check>,
) -> Vec<Register> {
    out.push(step_check(
        "kcallbacks service created and started (DriverEntry returned success)",
        &[
            ("sc create kcallbacks", &t.create_driver),
            ("sc start kcallbacks", &t.start_driver),
        ],
    ));

    // DriverEntry line.
    let entry: Vec<&str> = msgs.iter().filter_map(|m| parse_driver_entry(m)).collect();
    out.push(match (entry.as_slice(), expected_version) {
        ([], _) => Check::new(
            "DriverEntry line",
            false,
            "no `kcallbacks: DriverEntry version=...` line",
        ),
        ([v], Some(want)) if v != &want => Check::new(
            "DriverEntry line",
            false,
            format!("version={v}, Cargo.toml says {want}"),
        ),
        ([v], _) => Check::new("DriverEntry line", true, format!("version={v}")),
        (many, _) => Check::new(
            "DriverEntry line",
            false,
            format!("{} DriverEntry lines", many.len()),
        ),
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
    let ok_apis: Vec<&str> = regs
        .iter()
        .filter(|r| r.outcome == Outcome::Ok)
        .map(|r| r.api.as_str())
        .collect();
    out.push(if regs.is_empty() {
        Check::new(
            "every registration ok (or allowed disabled/unavailable)",
            false,
            "no `register` lines",
        )
    } else if bad.is_empty() {
        Check::new(
            "every registration ok (or allowed disabled/unavailable)",
            true,
            format!("{} lines, {} ok", regs.len(), ok_apis.len()),
        )
    } else {
        Check::new(
            "every registration ok (or allowed disabled/unavailable)",
            false,
            bad.join("; "),
        )
    });

    // Each API excluded through Parameters is reported as disabled.
    let not_disabled: Vec<&str> = WINE_DISABLED
        .iter()
        .map(|(_, api)| *api)
        .filter(|api| {
            !regs
                .iter()
                .any(|r| api_base(&r.api) == *api && r.outcome == Outcome::Disabled)
        })
        .collect();
    out.push(Check::new(
        "APIs that are stubs under Wine are reported `disabled` (by Parameters)",
        not_disabled.is_empty(),
        if not_disabled.is_empty() {
            format!("{} disabled", WINE_DISABLED.len())
        } else {
            not_disabled.join(", ")
        },
    ));

    // The ETW provider: unavailable under Wine, with the reason.
    out.push(Check::new(
        "ETW provider reported unavailable (EtwRegister not exported by Wine)",
        msgs.contains(&WINE_ETW_LINE),
        msgs.iter()
            .find(|m| m.contains("register EtwRegister("))
            .map_or_else(|| "no `register EtwRegister(kcallbacks)` line".to_owned(), |m| (*m).to_owned()),
    ));

    // loaded: summary.
    let loaded: Vec<_> = msgs
        .iter()
        .filter(|m| m.starts_with("kcallbacks: loaded:"))
        .collect();
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
        &[
            ("sc create kcbtrig", &t.create_trigger),
            ("sc start kcbtrig", &t.start_trigger),
        ],
    );
    if trig.ok && !trig_entry {
        trig = Check::new(trig.name, false, "no `kcbtrig: DriverEntry` line");
    }
    out.push(trig);
    regs
}
