//! Reading the Wine log: the stub a driver reached, the texts that must not
//! appear, the tail printed after a failure.

use std::path::Path;

use super::check::Check;
use super::expect::FORBIDDEN_LOG_TEXTS;
use crate::util::last_lines;

/// The first Wine stub a driver called (`ntoskrnl.exe.Name`), if any.
pub fn stub_called(log: &str) -> Option<String> {
    log.lines().find_map(|l| {
        let at = l.find("nimplemented function ")? + "nimplemented function ".len();
        l[at..]
            .split_whitespace()
            .next()
            .map(|f| f.trim_end_matches(',').to_owned())
    })
}

/// No line of the log has one of [`FORBIDDEN_LOG_TEXTS`].
pub(super) fn forbidden_texts_check(log: &str) -> Check {
    let hits: Vec<&str> = log
        .lines()
        .filter(|l| FORBIDDEN_LOG_TEXTS.iter().any(|f| l.contains(f)))
        .take(5)
        .collect();
    if hits.is_empty() {
        Check::new("no unimplemented-function / wine_stub lines in the log", true, "")
    } else {
        Check::new(
            "no unimplemented-function / wine_stub lines in the log",
            false,
            hits.join(" | "),
        )
    }
}

/// Prints the last `n` lines of a log under a heading.
pub fn dump_log_tail(root: &Path, log_path: &Path, log: &str, n: usize) {
    println!("---- last {n} lines of {} ----", crate::util::rel(root, log_path));
    for line in last_lines(log, n) {
        println!("{line}");
    }
    println!("---- end of log ----");
}
