//! The Wine end-to-end scenario shared by `cargo xtask run` and
//! `cargo xtask wine-e2e`, its named checks, and the trigger-only smoke test.
//!
//! Scenario: load `kcallbacks.sys`, then `kcbtrig.sys` in the same load-order
//! group (hence the same `winedevice.exe`, so the main driver's load-image
//! notify routine sees it), wait for the event line, run `kcbctl report`,
//! stop and delete both services, end the session. The checks are then
//! evaluated on what was recorded (the session's log and each command's
//! result), so a failure in one step still lets the others report.
//!
//! | file | its job |
//! |---|---|
//! | `expect.rs` | what the Wine run is expected to do (APIs it may skip, settings, the version) |
//! | `run.rs` | running the scenario in a Wine session and recording it |
//! | `transcript.rs` | what the run recorded (steps, captures, the log) |
//! | `check.rs` | a named check and how checks are printed |
//! | `checks/` | the checks of the full scenario, a file per group, in the order they are printed |
//! | `kcbctl_output.rs` | reading `kcbctl`'s text and JSON output |
//! | `wine_log.rs` | reading the Wine log (stubs reached, forbidden texts, its tail) |
//! | `smoke.rs` | the trigger-only smoke test |

mod check;
mod checks;
mod expect;
mod kcbctl_output;
mod run;
mod smoke;
mod transcript;
mod wine_log;

#[cfg(test)]
mod tests;

pub use check::print_checks;
pub use checks::checks;
pub use expect::workspace_version;
pub use run::full;
pub use smoke::smoke;
pub use wine_log::{dump_log_tail, stub_called};
