//! Allocation-free text and JSON rendering of records.
//!
//! Both formats write exactly one line per event and **no** trailing newline
//! (the caller adds `\n`, or passes the line to `DbgPrint`).

use core::fmt::{self, Write};

use crate::header::{RECORD_VERSION, kind_name};
use crate::record::EventRecord;
use crate::visit::FieldVisitor;
use crate::wstr::WStrView;

/// Adapts a `core::fmt::Formatter` to `core::fmt::Write` (used by the
/// records' `Debug` impl).
pub struct FmtAdapter<'a, 'b>(pub &'a mut fmt::Formatter<'b>);

impl Write for FmtAdapter<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write_str(s)
    }
}

/// A record's `Debug` form is its text line ([`write_text`]).
impl fmt::Debug for EventRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = FmtAdapter(f);
        write_text(self, &mut text)
    }
}

/// A Windows system time (100-ns units since 1601-01-01 UTC) that displays
/// as ISO 8601 UTC with 7 fractional digits, e.g. `2024-05-01T12:00:00.1234567Z`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileTime(pub u64);

impl FileTime {
    /// Splits into (year, month 1-12, day 1-31, hour, minute, second,
    /// 100-ns fraction).
    #[must_use]
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_possible_wrap,
        reason = "every cast value is range-limited by the preceding division or remainder"
    )]
    pub const fn to_civil(self) -> (i64, u32, u32, u32, u32, u32, u32) {
        const TICKS_PER_SEC: u64 = 10_000_000;
        const SECS_PER_DAY: u64 = 86_400;
        // Days from 1601-01-01 to 1970-01-01.
        const DAYS_1601_TO_1970: i64 = 134_774;
        let fraction = (self.0 % TICKS_PER_SEC) as u32;
        let secs = self.0 / TICKS_PER_SEC;
        let sod = (secs % SECS_PER_DAY) as u32;
        // At most u64::MAX / 10^7 / 86400 ~ 2.1e7 days: fits in i64.
        let days = (secs / SECS_PER_DAY) as i64 - DAYS_1601_TO_1970;
        // Proleptic Gregorian calendar from a day count relative to
        // 1970-01-01, using 400-year eras that start on March 1st.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097); // [0, 146096]
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
        let mp = (5 * doy + 2) / 153; // [0, 11], March-based
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
        (year, month, day, sod / 3600, sod / 60 % 60, sod % 60, fraction)
    }
}

impl fmt::Display for FileTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day, hour, minute, second, fraction) = self.to_civil();
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{fraction:07}Z"
        )
    }
}

/// Displays 16 GUID bytes (Windows memory layout) as
/// `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX`.
#[derive(Clone, Copy, Debug)]
pub struct GuidFmt<'a>(pub &'a [u8; 16]);

impl fmt::Display for GuidFmt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        let d1 = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let d2 = u16::from_le_bytes([b[4], b[5]]);
        let d3 = u16::from_le_bytes([b[6], b[7]]);
        write!(f, "{d1:08X}-{d2:04X}-{d3:04X}-{:02X}{:02X}-", b[8], b[9])?;
        for x in &b[10..] {
            write!(f, "{x:02X}")?;
        }
        Ok(())
    }
}

fn write_hex_bytes(w: &mut impl Write, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(w, "{b:02x}")?;
    }
    Ok(())
}

/// Writes `record` as one human-readable line.
///
/// For example
/// `#42 t=2024-05-01T12:00:00.0000000Z cpu=1 irql=0 LoadImage pid=4 tid=8 base=0xfffff80000000000 ...`.
///
/// Strings are shown raw, wrapped in `"..."` when they contain spaces or
/// quotes; control characters are escaped as `\xNN`; a truncated string is
/// followed by `...`. Never panics, even on an unvalidated record.
///
/// # Errors
/// Propagates errors of `out`.
pub fn write_text(record: &EventRecord, out: &mut impl Write) -> fmt::Result {
    let h = &record.header;
    write!(
        out,
        "#{} t={} cpu={} irql={} ",
        h.sequence,
        FileTime(h.timestamp),
        h.cpu,
        h.irql
    )?;
    match record.source() {
        Some(source) => {
            out.write_str(source.name())?;
            match kind_name(source, h.kind) {
                Some(k) => write!(out, ".{k}")?,
                None if h.kind != 0 => write!(out, ".{}", h.kind)?,
                None => {}
            }
        }
        None => write!(out, "source#{}", h.source)?,
    }
    write!(out, " pid={} tid={}", h.pid, h.tid)?;
    if h.version != RECORD_VERSION {
        write!(out, " version={}", h.version)?;
    }
    // Through `dyn`: the driver instantiates the payload visitor once for
    // its text lines and its ETW events, not once per visitor type.
    let visitor: &mut dyn FieldVisitor = &mut TextFields { out };
    record.visit_payload(visitor)
}

struct TextFields<'a, W: Write> {
    out: &'a mut W,
}

impl<W: Write> TextFields<'_, W> {
    fn key(&mut self, name: &str) -> fmt::Result {
        write!(self.out, " {name}=")
    }
}

impl<W: Write> FieldVisitor for TextFields<'_, W> {
    fn unsigned(&mut self, name: &'static str, value: u64) -> fmt::Result {
        self.key(name)?;
        write!(self.out, "{value}")
    }
    fn signed(&mut self, name: &'static str, value: i64) -> fmt::Result {
        self.key(name)?;
        write!(self.out, "{value}")
    }
    fn hex(&mut self, name: &'static str, value: u64) -> fmt::Result {
        self.key(name)?;
        write!(self.out, "{value:#x}")
    }
    fn status(&mut self, name: &'static str, value: i32) -> fmt::Result {
        self.key(name)?;
        write!(self.out, "0x{value:08X}")
    }
    fn boolean(&mut self, name: &'static str, value: bool) -> fmt::Result {
        self.key(name)?;
        self.out.write_str(if value { "1" } else { "0" })
    }
    fn enumeration(&mut self, name: &'static str, value: u32, label: Option<&'static str>) -> fmt::Result {
        self.key(name)?;
        match label {
            Some(l) => self.out.write_str(l),
            None => write!(self.out, "{value}"),
        }
    }
    fn string(&mut self, name: &'static str, value: WStrView<'_>) -> fmt::Result {
        self.key(name)?;
        let quote = value.as_units().is_empty() || value.chars().any(|c| c == ' ' || c == '"');
        if quote {
            self.out.write_char('"')?;
        }
        for c in value.chars() {
            match c {
                '"' if quote => self.out.write_str("\\\"")?,
                c if c.is_control() => write!(self.out, "\\x{:02x}", u32::from(c))?,
                c => self.out.write_char(c)?,
            }
        }
        if quote {
            self.out.write_char('"')?;
        }
        if value.is_truncated() {
            self.out.write_str("...")?;
        }
        Ok(())
    }
    fn guid(&mut self, name: &'static str, value: &[u8; 16]) -> fmt::Result {
        self.key(name)?;
        write!(self.out, "{}", GuidFmt(value))
    }
    fn bytes(&mut self, name: &'static str, value: &[u8]) -> fmt::Result {
        self.key(name)?;
        write_hex_bytes(self.out, value)
    }
}

/// Writes `s` as a JSON string literal (with quotes), escaping `"`, `\`,
/// control characters and U+2028/U+2029.
///
/// # Errors
/// Propagates errors of `out`.
pub fn write_json_string(out: &mut impl Write, chars: impl Iterator<Item = char>) -> fmt::Result {
    out.write_char('"')?;
    for c in chars {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            '\u{8}' => out.write_str("\\b")?,
            '\u{c}' => out.write_str("\\f")?,
            c if u32::from(c) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                write!(out, "\\u{:04x}", u32::from(c))?;
            }
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

/// Writes `record` as one JSON object on one line.
///
/// For example
/// `{"seq":42,"timestamp":...,"time":"...","cpu":1,"irql":0,"source":"LoadImage","source_id":1,"kind":0,"flags":0,"pid":4,"tid":8,"base":...,"name":"C:\\drv2.sys"}`.
///
/// Numbers are JSON numbers (NTSTATUS values as signed 32-bit), GUIDs and
/// byte arrays are strings, enumerations add a `<name>_name` label when
/// known, truncated strings add `<name>_truncated: true`. An unknown source
/// gives `"source":null` and no payload fields. Never panics.
///
/// # Errors
/// Propagates errors of `out`.
pub fn write_json(record: &EventRecord, out: &mut impl Write) -> fmt::Result {
    let h = &record.header;
    write!(
        out,
        "{{\"seq\":{},\"timestamp\":{},\"time\":\"{}\",\"cpu\":{},\"irql\":{},\"source\":",
        h.sequence,
        h.timestamp,
        FileTime(h.timestamp),
        h.cpu,
        h.irql
    )?;
    let source = record.source();
    match source {
        Some(s) => write!(out, "\"{}\"", s.name())?,
        None => out.write_str("null")?,
    }
    write!(out, ",\"source_id\":{},\"kind\":{}", h.source, h.kind)?;
    if let Some(k) = source.and_then(|s| kind_name(s, h.kind)) {
        write!(out, ",\"kind_name\":\"{k}\"")?;
    }
    write!(
        out,
        ",\"version\":{},\"flags\":{},\"pid\":{},\"tid\":{}",
        h.version, h.flags, h.pid, h.tid
    )?;
    record.visit_payload(&mut JsonFields { out })?;
    out.write_char('}')
}

struct JsonFields<'a, W: Write> {
    out: &'a mut W,
}

impl<W: Write> JsonFields<'_, W> {
    fn key(&mut self, name: &str) -> fmt::Result {
        // Field names are static ASCII identifiers: no escaping needed.
        write!(self.out, ",\"{name}\":")
    }
}

impl<W: Write> FieldVisitor for JsonFields<'_, W> {
    fn unsigned(&mut self, name: &'static str, value: u64) -> fmt::Result {
        self.key(name)?;
        write!(self.out, "{value}")
    }
    fn signed(&mut self, name: &'static str, value: i64) -> fmt::Result {
        self.key(name)?;
        write!(self.out, "{value}")
    }
    fn hex(&mut self, name: &'static str, value: u64) -> fmt::Result {
        self.unsigned(name, value)
    }
    fn status(&mut self, name: &'static str, value: i32) -> fmt::Result {
        self.signed(name, i64::from(value))
    }
    fn boolean(&mut self, name: &'static str, value: bool) -> fmt::Result {
        self.key(name)?;
        self.out.write_str(if value { "true" } else { "false" })
    }
    fn enumeration(&mut self, name: &'static str, value: u32, label: Option<&'static str>) -> fmt::Result {
        self.unsigned(name, u64::from(value))?;
        if let Some(l) = label {
            write!(self.out, ",\"{name}_name\":\"{l}\"")?;
        }
        Ok(())
    }
    fn string(&mut self, name: &'static str, value: WStrView<'_>) -> fmt::Result {
        self.key(name)?;
        write_json_string(self.out, value.chars())?;
        if value.is_truncated() {
            write!(self.out, ",\"{name}_truncated\":true")?;
        }
        Ok(())
    }
    fn guid(&mut self, name: &'static str, value: &[u8; 16]) -> fmt::Result {
        self.key(name)?;
        write!(self.out, "\"{}\"", GuidFmt(value))
    }
    fn bytes(&mut self, name: &'static str, value: &[u8]) -> fmt::Result {
        self.key(name)?;
        self.out.write_char('"')?;
        write_hex_bytes(self.out, value)?;
        self.out.write_char('"')
    }
}
