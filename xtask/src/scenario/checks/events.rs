//! The event checks: the load-image line in the log, the same event through
//! `kcbctl events --json`, no drops before the flood, the flood's
//! accounting, the measured cost of the load-image routine.

use crate::logparse::{Event, parse_event};
use crate::scenario::check::Check;
use crate::scenario::expect::FLOOD_COUNT;
use crate::scenario::kcbctl_output::{cost_row, json_field, status_counters, total_dropped};
use crate::scenario::transcript::Transcript;

/// The `LoadImage` event line of `kcbtrig.sys` in the log.
pub(super) fn load_image_line(t: &Transcript, msgs: &[&str]) -> Check {
    let events: Vec<Event> = msgs
        .iter()
        .filter_map(|m| parse_event(m))
        .filter(Event::is_load_image)
        .collect();
    let hit = events.iter().find(|e| {
        e.field("name").is_some_and(|n| {
            n.trim_end_matches("...")
                .to_ascii_lowercase()
                .ends_with("kcbtrig.sys")
        })
    });
    match hit {
        Some(e) if e.number("base").unwrap_or(0) != 0 && e.number("size").unwrap_or(0) != 0 => Check::new(
            "LoadImage event for kcbtrig.sys with nonzero base and size",
            true,
            format!(
                "#{} name={} base={} size={}{}",
                e.seq.unwrap_or(0),
                e.field("name").unwrap_or(""),
                e.field("base").unwrap_or(""),
                e.field("size").unwrap_or(""),
                if t.event_wait.is_none() {
                    ", but only after the wait"
                } else {
                    ""
                }
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
                events
                    .iter()
                    .filter_map(|e| e.field("name"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    }
}

/// The checks of what the client read: the event as JSON, the counters
/// before the flood, the flood, the cost.
pub(super) fn client_checks(t: &Transcript) -> [Check; 4] {
    let json = match &t.events_json {
        Some(c) if c.ended.success() => {
            let hit = c.stdout.lines().find(|l| {
                json_field(l, "source").as_deref() == Some("LoadImage")
                    && json_field(l, "name").is_some_and(|n| n.to_ascii_lowercase().ends_with("kcbtrig.sys"))
            });
            match hit {
                Some(l) => {
                    let base = json_field(l, "base")
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0);
                    let size = json_field(l, "size")
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0);
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
            other
                .as_ref()
                .map_or_else(|| "not run".to_owned(), |c| format!("{}", c.ended)),
        ),
    };
    let drops = match t.status_before_flood.as_ref().filter(|c| c.ended.success()) {
        Some(c) => match total_dropped(&c.stdout) {
            Some(0) => Check::new("kcbctl status: zero drops before the flood", true, ""),
            Some(n) => Check::new(
                "kcbctl status: zero drops before the flood",
                false,
                format!("{n} dropped"),
            ),
            None => Check::new(
                "kcbctl status: zero drops before the flood",
                false,
                "no counter table",
            ),
        },
        None => Check::new(
            "kcbctl status: zero drops before the flood",
            false,
            "status failed",
        ),
    };
    [json, drops, flood_check(t), cost_check(t)]
}

/// The flood test: every pushed record is either delivered (read back) or
/// counted as dropped, and some were dropped.
fn flood_check(t: &Transcript) -> Check {
    const NAME: &str = "flood: delivered + dropped = pushed, drops counted";
    let (Some(flood), Some(events), Some(status)) = (&t.flood, &t.flood_events, &t.status_after_flood) else {
        return Check::new(NAME, false, "flood, events or status not run");
    };
    if !flood.ended.success() {
        return Check::new(
            NAME,
            false,
            format!("kcbctl flood: {}: {}", flood.ended, flood.stderr.trim()),
        );
    }
    let delivered = events
        .stdout
        .lines()
        .filter(|l| json_field(l, "source").as_deref() == Some("Flood"))
        .count() as u64;
    let Some((seen, _recorded, dropped)) = status_counters(&status.stdout, "Flood") else {
        return Check::new(NAME, false, "no Flood row in kcbctl status");
    };
    Check::new(
        NAME,
        seen == FLOOD_COUNT && delivered + dropped == FLOOD_COUNT && dropped > 0,
        format!("pushed {FLOOD_COUNT}, seen {seen}, delivered {delivered}, dropped {dropped}"),
    )
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
