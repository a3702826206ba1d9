//! The unload checks: the trigger driver and the driver stopped, one
//! `removed` line per registration, the `unloaded:` count, the service
//! deleted, nothing unimplemented reached, the wineserver shut down.

use crate::logparse::{parse_unloaded, parse_unregister};
use crate::scenario::check::{Check, step_check};
use crate::scenario::transcript::Transcript;
use crate::scenario::wine_log::forbidden_texts_check;

/// Pushes the unload checks to `out`.
pub(super) fn checks(t: &Transcript, msgs: &[&str], ok_apis: &[&str], out: &mut Vec<Check>) {
    // Trigger unload.
    let mut trig_stop = step_check(
        "trigger driver stopped (DriverUnload ran) and deleted",
        &[
            ("sc stop kcbtrig", &t.stop_trigger),
            ("sc delete kcbtrig", &t.delete_trigger),
        ],
    );
    if trig_stop.ok && !msgs.contains(&"kcbtrig: unload") {
        trig_stop = Check::new(trig_stop.name, false, "no `kcbtrig: unload` line");
    }
    out.push(trig_stop);

    out.push(step_check(
        "sc stop kcallbacks",
        &[("sc stop kcallbacks", &t.stop_driver)],
    ));

    // unregister lines: one `removed` per registration.
    let unregs: Vec<(&str, &str)> = msgs.iter().filter_map(|m| parse_unregister(m)).collect();
    let mut expected: Vec<&str> = ok_apis.to_vec();
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
        Check::new(
            "one `unregister ...: removed` per registration",
            false,
            "no registrations",
        )
    } else if problems.is_empty() {
        Check::new(
            "one `unregister ...: removed` per registration",
            true,
            format!("{} removed", unregs.len()),
        )
    } else {
        Check::new(
            "one `unregister ...: removed` per registration",
            false,
            problems.join("; "),
        )
    });

    let unloaded: Vec<u64> = msgs.iter().filter_map(|m| parse_unloaded(m)).collect();
    out.push(match unloaded.as_slice() {
        [n] if *n == ok_apis.len() as u64 && !ok_apis.is_empty() => Check::new(
            "unloaded line with the registered count",
            true,
            format!("{n} removed"),
        ),
        [n] => Check::new(
            "unloaded line with the registered count",
            false,
            format!("unloaded: {n} removed, but {} were registered", ok_apis.len()),
        ),
        [] => Check::new(
            "unloaded line with the registered count",
            false,
            "no `kcallbacks: unloaded:` line",
        ),
        many => Check::new(
            "unloaded line with the registered count",
            false,
            format!("{} `unloaded:` lines", many.len()),
        ),
    });

    out.push(step_check(
        "kcallbacks service deleted",
        &[("sc delete kcallbacks", &t.delete_driver)],
    ));
    out.push(forbidden_texts_check(&t.log));
    out.push(match &t.shutdown {
        Ok(()) => Check::new("wineserver shut down cleanly", true, ""),
        Err(e) => Check::new("wineserver shut down cleanly", false, e.clone()),
    });
}
