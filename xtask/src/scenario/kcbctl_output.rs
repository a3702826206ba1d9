//! Reading `kcbctl`'s output: fields of its one-line JSON objects, rows of
//! the counter and cost tables of `kcbctl status`, `registered` words of
//! `kcbctl report`.

/// The value of `"key":` in a one-line JSON object: a number or a string
/// (escapes resolved for `\\` and `\"`). Enough for kcbctl's flat objects.
pub fn json_field(line: &str, key: &str) -> Option<String> {
    let pattern = format!("\"{key}\":");
    let rest = &line[line.find(&pattern)? + pattern.len()..];
    if let Some(body) = rest.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(out),
                '\\' => out.push(chars.next()?),
                c => out.push(c),
            }
        }
        None
    } else {
        Some(
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect(),
        )
    }
}

/// `(seen, recorded, dropped)` of `source` from `kcbctl status`'s counter table.
pub fn status_counters(status: &str, source: &str) -> Option<(u64, u64, u64)> {
    status.lines().find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() != Some(&source) || words.len() < 5 {
            return None;
        }
        let n = |w: &str| w.parse::<u64>().ok();
        Some((
            n(words[words.len() - 3])?,
            n(words[words.len() - 2])?,
            n(words[words.len() - 1])?,
        ))
    })
}

/// Sum of the `dropped` column of `kcbctl status`.
pub(super) fn total_dropped(status: &str) -> Option<u64> {
    let mut in_counters = false;
    let mut total = None;
    for line in status.lines() {
        if line.starts_with("Counters") {
            in_counters = true;
            continue;
        }
        if in_counters && !line.starts_with(' ') && !line.trim().is_empty() {
            break;
        }
        if !in_counters {
            continue;
        }
        // Rows: source, enabled, seen, recorded, dropped (other lines, such as
        // the ring occupancy, do not end in three numbers).
        if let Some((_, _, dropped)) = line
            .split_whitespace()
            .next()
            .and_then(|source| status_counters(line, source))
        {
            total = Some(total.unwrap_or(0) + dropped);
        }
    }
    total
}

/// Whether `line` has the word `registered` (not `unregistered`).
pub(super) fn says_registered(line: &str) -> bool {
    line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .any(|w| w.eq_ignore_ascii_case("registered"))
}

/// Heading of the cost section of `kcbctl status`.
pub(super) const COST_HEADING: &str = "Cost (time inside the notify routines)";

/// `(calls, p50, p99, max)` of `source` from the cost section of `kcbctl
/// status` (columns: source, calls, p50, p99, max in cycles, then ns).
pub fn cost_row(status: &str, source: &str) -> Option<(u64, u64, u64, u64)> {
    let section = &status[status.find(COST_HEADING)?..];
    section
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with(' ') || l.is_empty())
        .find_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.first() != Some(&source) || words.len() < 5 {
                return None;
            }
            let n = |w: &str| w.parse::<u64>().ok();
            Some((n(words[1])?, n(words[2])?, n(words[3])?, n(words[4])?))
        })
}
