//! A named check, how checks are printed, and the check that recorded
//! steps succeeded.

use super::transcript::Step;

/// One named check.
#[derive(Debug, Clone)]
pub struct Check {
    /// What is checked.
    pub name: &'static str,
    /// Passed?
    pub ok: bool,
    /// Why it failed (or a note when it passed).
    pub detail: String,
}

impl Check {
    pub(super) fn new(name: &'static str, ok: bool, detail: impl Into<String>) -> Self {
        Self {
            name,
            ok,
            detail: detail.into(),
        }
    }
}

/// Prints checks as `ok   name` / `FAIL name: detail`; returns (passed, failed).
pub fn print_checks(checks: &[Check]) -> (usize, usize) {
    for c in checks {
        if c.ok {
            if c.detail.is_empty() {
                println!("ok   {}", c.name);
            } else {
                println!("ok   {} ({})", c.name, c.detail);
            }
        } else {
            println!("FAIL {}: {}", c.name, c.detail);
        }
    }
    let passed = checks.iter().filter(|c| c.ok).count();
    (passed, checks.len() - passed)
}

/// A check that every step in `steps` succeeded (each failure named).
pub(super) fn step_check(name: &'static str, steps: &[(&str, &Step)]) -> Check {
    let failed: Vec<String> = steps
        .iter()
        .filter(|(_, s)| !s.ok)
        .map(|(what, s)| format!("{what}: {}", s.text))
        .collect();
    Check::new(name, failed.is_empty(), failed.join("; "))
}
