//! The named checks of the full scenario, evaluated on what the run
//! recorded, a file per group, in the order they are printed: load
//! (services, `DriverEntry`, registrations), events (the log line, the
//! client's JSON, counters, flood, cost), client (`--version`, filtered
//! events, service state), report (`kcbctl report`, callback
//! objects), unload (unregistrations, unload, shutdown).

mod client;
mod events;
mod load;
mod report;
mod unload;

use super::check::Check;
use super::transcript::Transcript;
use crate::logparse::Outcome;

/// Evaluates the named checks of the full scenario.
pub fn checks(t: &Transcript, expected_version: Option<&str>) -> Vec<Check> {
    let mut out = vec![];
    if let Err(e) = &t.session {
        out.push(Check::new("wine session started", false, e.clone()));
        return out;
    }
    out.push(Check::new("wine session started", true, ""));
    let msgs: Vec<&str> = t.messages.iter().map(String::as_str).collect();
    let regs = load::checks(t, &msgs, expected_version, &mut out);
    let ok_apis: Vec<&str> = regs
        .iter()
        .filter(|r| r.outcome == Outcome::Ok)
        .map(|r| r.api.as_str())
        .collect();
    out.push(events::load_image_line(t, &msgs));
    out.extend(report::checks(t, &ok_apis));
    out.extend(events::client_checks(t));
    out.extend(client::checks(t, expected_version));
    out.push(report::callback_objects(t, &regs));
    unload::checks(t, &msgs, &ok_apis, &mut out);
    out
}
