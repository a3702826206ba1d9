//! What a run of the scenario recorded: each command's result, the
//! captures of the client commands, the session's log and driver messages.

use std::time::Duration;

use crate::util::{Captured, last_lines};

/// The result of one recorded command.
#[derive(Debug)]
pub(super) struct Step {
    pub(super) ok: bool,
    pub(super) text: String,
}

impl Step {
    pub(super) fn skipped(why: &str) -> Self {
        Self {
            ok: false,
            text: format!("not run: {why}"),
        }
    }

    pub(super) fn from_captured(c: &Captured) -> Self {
        let mut text = format!("{}", c.ended);
        let output = format!("{}\n{}", c.stdout.trim(), c.stderr.trim());
        let output = output.trim();
        if !c.ended.success() && !output.is_empty() {
            text.push_str(": ");
            text.push_str(&last_lines(output, 6).join(" | "));
        }
        Self {
            ok: c.ended.success(),
            text,
        }
    }
}

/// Everything the scenario recorded.
#[derive(Debug)]
pub struct Transcript {
    pub(super) session: std::result::Result<(), String>,
    pub(super) create_driver: Step,
    pub(super) start_driver: Step,
    pub(super) create_trigger: Step,
    pub(super) start_trigger: Step,
    pub(super) event_wait: Option<Duration>,
    pub(super) report: Option<Captured>,
    pub(super) version: Option<Captured>,
    pub(super) events_json: Option<Captured>,
    pub(super) status_before_flood: Option<Captured>,
    pub(super) flood: Option<Captured>,
    pub(super) flood_events: Option<Captured>,
    pub(super) status_after_flood: Option<Captured>,
    pub(super) stop_trigger: Step,
    pub(super) delete_trigger: Step,
    pub(super) stop_driver: Step,
    pub(super) delete_driver: Step,
    pub(super) shutdown: std::result::Result<(), String>,
    pub(super) messages: Vec<String>,
    pub(super) log: String,
}

impl Transcript {
    pub(super) fn new() -> Self {
        let none = || Step::skipped("an earlier step failed");
        Self {
            session: Ok(()),
            create_driver: none(),
            start_driver: none(),
            create_trigger: none(),
            start_trigger: none(),
            event_wait: None,
            report: None,
            version: None,
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
