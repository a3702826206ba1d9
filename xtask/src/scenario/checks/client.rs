//! The kcbctl command-line checks: `--version`, the filtered
//! `events --json --source LoadImage --image kcbtrig --count 1`, the service
//! state line of `kcbctl status` (from the Service Control Manager).

use crate::scenario::check::Check;
use crate::util::Captured;
use crate::scenario::kcbctl_output::json_field;
use crate::scenario::transcript::Transcript;

/// The service state line `kcbctl status` prints for a started driver.
pub(crate) const SERVICE_RUNNING_LINE: &str = "  kcallbacks: RUNNING";

/// The three checks, in order: version, filtered events, service state.
pub(super) fn checks(t: &Transcript, expected_version: Option<&str>) -> [Check; 3] {
    [version(t, expected_version), filtered_events(t), service_state(t)]
}

fn version(t: &Transcript, expected_version: Option<&str>) -> Check {
    on_success("kcbctl --version prints the workspace version", t.version.as_ref(), |c| {
        let line = c.stdout.trim();
        let ok = expected_version.map_or_else(
            || line.starts_with("kcbctl "),
            |v| line == format!("kcbctl {v}"),
        );
        (ok, line.to_owned())
    })
}

fn filtered_events(t: &Transcript) -> Check {
    const NAME: &str = "kcbctl events --json --source LoadImage --count 1: exactly one LoadImage line";
    on_success(NAME, t.events_json.as_ref(), |c| {
        let lines: Vec<&str> = c.stdout.lines().collect();
        let sources: Vec<String> =
            lines.iter().map(|l| json_field(l, "source").unwrap_or_else(|| "?".to_owned())).collect();
        (
            sources.len() == 1 && sources[0] == "LoadImage",
            format!("{} lines, sources [{}]", lines.len(), sources.join(", ")),
        )
    })
}

fn service_state(t: &Transcript) -> Check {
    const NAME: &str = "kcbctl status: service state RUNNING (Service Control Manager)";
    on_success(NAME, t.status_before_flood.as_ref(), |c| {
        let line = c.stdout.lines().find(|l| l.starts_with("  kcallbacks: "));
        (
            line == Some(SERVICE_RUNNING_LINE),
            line.map_or_else(|| "no service line".to_owned(), |l| l.trim().to_owned()),
        )
    })
}

/// The check `name` on a kcbctl command's output: `judge` decides, from the
/// output, on a command that exited 0; one that failed fails the check with
/// its exit and stderr; one that did not run fails it as "not run".
fn on_success(
    name: &'static str,
    command: Option<&Captured>,
    judge: impl FnOnce(&Captured) -> (bool, String),
) -> Check {
    match command {
        Some(c) if c.ended.success() => {
            let (ok, detail) = judge(c);
            Check::new(name, ok, detail)
        }
        Some(c) => Check::new(name, false, format!("{}: {}", c.ended, c.stderr.trim())),
        None => Check::new(name, false, "not run"),
    }
}
