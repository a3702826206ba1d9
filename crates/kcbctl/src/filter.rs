//! The filters of `kcbctl events` (`--source`, `--pid`, `--tid`, `--image`,
//! `--since`, `--count`), applied in kcbctl to decoded records.
//!
//! Pure: the filter sees a record only through [`FilterView`], so a change
//! of the wire framing (how records are read from an IOCTL reply or a dump)
//! does not touch it, and tests build views directly.

use std::time::{SystemTime, UNIX_EPOCH};

use kcb_proto::{EventRecord, SourceId};

/// 100-ns ticks between 1601-01-01 and 1970-01-01 (Windows `FILETIME` epoch
/// to the Unix epoch).
const TICKS_1601_TO_1970: u64 = 116_444_736_000_000_000;
/// 100-ns ticks per second.
const TICKS_PER_SEC: u64 = 10_000_000;

/// What a filter needs to know about one event.
pub trait FilterView {
    /// The source, or `None` if the id is not in the catalog.
    fn source(&self) -> Option<SourceId>;
    /// Process id.
    fn pid(&self) -> u64;
    /// Thread id.
    fn tid(&self) -> u64;
    /// System time (100-ns units since 1601-01-01 UTC).
    fn timestamp(&self) -> u64;
    /// Whether `matches` returns `true` for any name (string) field.
    fn any_name(&self, matches: &mut dyn FnMut(&str) -> bool) -> bool;
}

impl FilterView for EventRecord {
    fn source(&self) -> Option<SourceId> {
        Self::source(self)
    }
    fn pid(&self) -> u64 {
        self.header.pid
    }
    fn tid(&self) -> u64 {
        self.header.tid
    }
    fn timestamp(&self) -> u64 {
        self.header.timestamp
    }
    fn any_name(&self, matches: &mut dyn FnMut(&str) -> bool) -> bool {
        let mut found = false;
        let mut text = String::new();
        self.for_each_string(|_, value| {
            if !found {
                text.clear();
                text.extend(value.chars());
                found = matches(&text);
            }
        });
        found
    }
}

/// The filters of one `events` run; the default passes everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Keep only these sources (empty: all).
    pub sources: Vec<SourceId>,
    /// Keep only this process id.
    pub pid: Option<u64>,
    /// Keep only this thread id.
    pub tid: Option<u64>,
    /// Keep only records with a name field containing this text, compared
    /// case-insensitively (stored lower-case).
    pub image: Option<String>,
    /// Keep only records at or after this system time (100-ns units since
    /// 1601-01-01 UTC).
    pub since: Option<u64>,
    /// Stop after this many matching records.
    pub count: Option<u64>,
}

impl EventFilter {
    /// Whether the filters keep `record` (`count` is not considered here; see
    /// [`FilterState`]).
    #[must_use]
    pub fn matches(&self, record: &dyn FilterView) -> bool {
        if !self.sources.is_empty() && !record.source().is_some_and(|s| self.sources.contains(&s)) {
            return false;
        }
        if self.pid.is_some_and(|pid| pid != record.pid()) || self.tid.is_some_and(|tid| tid != record.tid())
        {
            return false;
        }
        if self.since.is_some_and(|since| record.timestamp() < since) {
            return false;
        }
        self.image
            .as_deref()
            .is_none_or(|needle| record.any_name(&mut |name: &str| name.to_lowercase().contains(needle)))
    }
}

/// A filter in use: counts the records it let through, for `--count`.
#[derive(Debug)]
pub struct FilterState<'a> {
    filter: &'a EventFilter,
    passed: u64,
}

impl<'a> FilterState<'a> {
    /// Starts with nothing passed.
    #[must_use]
    pub const fn new(filter: &'a EventFilter) -> Self {
        Self { filter, passed: 0 }
    }

    /// Whether `record` is to be printed (counts it if so; `false` once
    /// `--count` records have passed).
    pub fn admit(&mut self, record: &dyn FilterView) -> bool {
        if self.done() || !self.filter.matches(record) {
            return false;
        }
        self.passed += 1;
        true
    }

    /// Whether `--count` records have passed (no more are wanted).
    #[must_use]
    pub fn done(&self) -> bool {
        self.filter.count.is_some_and(|count| self.passed >= count)
    }
}

/// Looks a source up by the name kcbctl prints, ignoring case.
///
/// # Errors
/// A message listing the valid names.
pub fn parse_source(name: &str) -> Result<SourceId, String> {
    SourceId::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = SourceId::ALL.into_iter().map(SourceId::name).collect();
        format!("unknown source `{name}`; valid sources: {}", names.join(", "))
    })
}

/// The current system time in 100-ns units since 1601-01-01 UTC.
#[must_use]
pub fn now_ticks() -> u64 {
    let since_1970 = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let ticks = since_1970
        .as_secs()
        .saturating_mul(TICKS_PER_SEC)
        .saturating_add(u64::from(since_1970.subsec_nanos() / 100));
    ticks.saturating_add(TICKS_1601_TO_1970)
}

/// Parses `--since` into 100-ns units since 1601-01-01 UTC.
///
/// Accepts an RFC 3339 UTC time (`2024-05-01T12:00:00Z`, with an optional
/// fraction of up to 7 digits, as kcbctl prints it) or a duration (`30s`,
/// `5m`, `2h`, `1d`) meaning `now` minus that duration.
///
/// # Errors
/// A message saying what is accepted.
pub fn parse_since(text: &str, now: u64) -> Result<u64, String> {
    let bad = || {
        format!(
            "`{text}` is neither an RFC 3339 UTC time (like 2024-05-01T12:00:00Z) \
             nor a duration (like 30s, 5m, 2h, 1d)"
        )
    };
    if let Some(ticks) = parse_duration_ticks(text) {
        return Ok(now.saturating_sub(ticks));
    }
    parse_rfc3339(text).ok_or_else(bad)
}

fn parse_duration_ticks(text: &str) -> Option<u64> {
    let unit_at = text.len().checked_sub(1)?;
    let (digits, unit) = text.split_at(unit_at);
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits
        .parse::<u64>()
        .ok()?
        .checked_mul(seconds)?
        .checked_mul(TICKS_PER_SEC)
}

fn number(text: &str, digits: usize) -> Option<u64> {
    (text.len() == digits && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// Days from 1970-01-01 to the given proleptic Gregorian date.
const fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn parse_rfc3339(text: &str) -> Option<u64> {
    let text = text.strip_suffix('Z').or_else(|| text.strip_suffix('z'))?;
    let (date, time) = text.split_once(['T', 't'])?;
    let mut d = date.split('-');
    let (year, month, day) = (
        number(d.next()?, 4)?,
        number(d.next()?, 2)?,
        number(d.next()?, 2)?,
    );
    let (time, fraction) = match time.split_once('.') {
        Some((_, "")) => return None,
        Some(split) => split,
        None => (time, ""),
    };
    let mut t = time.split(':');
    let (hour, minute, second) = (
        number(t.next()?, 2)?,
        number(t.next()?, 2)?,
        number(t.next()?, 2)?,
    );
    if d.next().is_some() || t.next().is_some() || year < 1601 {
        return None;
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    if fraction.len() > 7 {
        return None;
    }
    let fraction_ticks = if fraction.is_empty() {
        0
    } else {
        number(fraction, fraction.len())? * 10u64.pow(u32::try_from(7 - fraction.len()).ok()?)
    };
    let days_since_1970 = days_from_civil(
        i64::try_from(year).ok()?,
        i64::try_from(month).ok()?,
        i64::try_from(day).ok()?,
    );
    let days_since_1601 = u64::try_from(days_since_1970 + 134_774).ok()?;
    let seconds = days_since_1601 * 86_400 + hour * 3600 + minute * 60 + second;
    seconds.checked_mul(TICKS_PER_SEC)?.checked_add(fraction_ticks)
}

#[cfg(test)]
#[path = "tests/filter_tests.rs"]
mod tests;
