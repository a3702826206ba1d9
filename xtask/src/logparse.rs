//! Parsing the drivers' `DbgPrint` lines out of a Wine log.
//!
//! Under Wine a line looks like
//! `0160:warn:debugstr:vDbgPrintExWithPrefix 0000004d:00000001: kcbtrig: DriverEntry`;
//! [`driver_message`] returns the part from the driver's tag on. The texts
//! the main driver prints (its contract with this harness):
//!
//! - `kcallbacks: DriverEntry version=<x.y.z>`
//! - `kcallbacks: register <ApiName>: <ok|FAILED|disabled|unavailable> status=0x<8 hex>`
//! - `kcallbacks: loaded: <n> registered, <m> failed, <k> disabled, <u> unavailable`
//! - `kcallbacks: event #<seq> ... LoadImage ... base=0x<hex> size=0x<hex> ... name=<path>`
//! - `kcallbacks: unregister <ApiName>: removed`
//! - `kcallbacks: unloaded: <n> removed`

/// The tags the drivers put in front of every message.
pub const TAGS: &[&str] = &["kcallbacks: ", "kcbtrig: "];

/// The driver message in a log line: from the first driver tag on, for lines
/// of Wine's `debugstr` channel (or lines that start with a tag).
pub fn driver_message(line: &str) -> Option<&str> {
    let line = line.trim_end_matches(['\r', '\n']);
    let pos = TAGS.iter().filter_map(|t| line.find(t)).min()?;
    (pos == 0 || line.contains(":debugstr:")).then(|| &line[pos..])
}

/// The outcome word of a `register` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `ok`: registered.
    Ok,
    /// `FAILED`: the API returned an error.
    Failed,
    /// `disabled`: not attempted by configuration.
    Disabled,
    /// `unavailable`: the API does not exist (or must not be called) here.
    Unavailable,
    /// Anything else (a format change the harness does not know).
    Other(String),
}

impl Outcome {
    fn parse(word: &str) -> Self {
        match word {
            "ok" => Self::Ok,
            "FAILED" => Self::Failed,
            "disabled" => Self::Disabled,
            "unavailable" => Self::Unavailable,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// `kcallbacks: register <ApiName>: <outcome> status=0x<hex>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    /// The API as printed, e.g. `IoCreateDevice(\Device\KCallbacks)`.
    pub api: String,
    /// The outcome.
    pub outcome: Outcome,
    /// The NTSTATUS, if printed.
    pub status: Option<u32>,
}

/// The API's name without arguments: `IoCreateDevice(\Device\X)` -> `IoCreateDevice`.
pub fn api_base(api: &str) -> &str {
    api.split('(').next().unwrap_or(api).trim()
}

/// Parses a `register` message.
pub fn parse_register(msg: &str) -> Option<Register> {
    let rest = msg.strip_prefix("kcallbacks: register ")?;
    let (api, tail) = rest.rsplit_once(": ")?;
    let mut words = tail.split_whitespace();
    let outcome = Outcome::parse(words.next()?);
    let status = words.find_map(|w| w.strip_prefix("status=")).and_then(parse_hex);
    Some(Register {
        api: api.trim().to_owned(),
        outcome,
        status,
    })
}

/// `kcallbacks: loaded: <n> registered, <m> failed, <k> disabled, <u> unavailable`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Registered.
    pub registered: u64,
    /// Failed.
    pub failed: u64,
    /// Disabled by configuration.
    pub disabled: u64,
    /// Not available.
    pub unavailable: u64,
}

/// Parses the `loaded:` message (every count must be present).
pub fn parse_loaded(msg: &str) -> Option<Loaded> {
    let rest = msg.strip_prefix("kcallbacks: loaded: ")?;
    let mut loaded = Loaded::default();
    let mut seen = [false; 4];
    for part in rest.split(',') {
        let mut words = part.split_whitespace();
        let n: u64 = words.next()?.parse().ok()?;
        let (slot, field) = match words.next()? {
            "registered" => (0, &mut loaded.registered),
            "failed" => (1, &mut loaded.failed),
            "disabled" => (2, &mut loaded.disabled),
            "unavailable" => (3, &mut loaded.unavailable),
            _ => return None,
        };
        *field = n;
        seen[slot] = true;
    }
    seen.iter().all(|s| *s).then_some(loaded)
}

/// Parses `kcallbacks: unregister <ApiName>: <result>` into (api, result).
pub fn parse_unregister(msg: &str) -> Option<(&str, &str)> {
    let rest = msg.strip_prefix("kcallbacks: unregister ")?;
    let (api, result) = rest.rsplit_once(": ")?;
    Some((api.trim(), result.trim()))
}

/// Parses `kcallbacks: unloaded: <n> removed`.
pub fn parse_unloaded(msg: &str) -> Option<u64> {
    let rest = msg.strip_prefix("kcallbacks: unloaded: ")?;
    let mut words = rest.split_whitespace();
    let n = words.next()?.parse().ok()?;
    (words.next()? == "removed").then_some(n)
}

/// Parses `kcallbacks: DriverEntry version=<v>` into the version.
pub fn parse_driver_entry(msg: &str) -> Option<&str> {
    let rest = msg.strip_prefix("kcallbacks: DriverEntry")?;
    rest.split_whitespace().find_map(|w| w.strip_prefix("version="))
}

/// An `event` message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// The sequence number (`#<seq>`).
    pub seq: Option<u64>,
    /// The bare words (no `=`): the source, e.g. `LoadImage`, or `LoadImage.kind`.
    pub words: Vec<String>,
    /// The `key=value` fields in order, values unquoted.
    pub fields: Vec<(String, String)>,
}

impl Event {
    /// The value of field `key`.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A hexadecimal (`0x...`) or decimal field.
    pub fn number(&self, key: &str) -> Option<u64> {
        parse_u64(self.field(key)?)
    }

    /// Whether this is a load-image event.
    pub fn is_load_image(&self) -> bool {
        self.words
            .iter()
            .any(|w| w == "LoadImage" || w.starts_with("LoadImage."))
    }
}

/// Parses an `event` message.
pub fn parse_event(msg: &str) -> Option<Event> {
    let rest = msg.strip_prefix("kcallbacks: event ")?;
    let mut event = Event::default();
    for token in tokens(rest) {
        if let Some(seq) = token.strip_prefix('#')
            && event.seq.is_none()
            && event.words.is_empty()
            && event.fields.is_empty()
        {
            event.seq = seq.parse().ok();
        } else if let Some((k, v)) = token.split_once('=') {
            event.fields.push((k.to_owned(), v.to_owned()));
        } else {
            event.words.push(token);
        }
    }
    Some(event)
}

/// Splits on spaces, keeping `"..."` (with `\"` escapes) together and removing the quotes.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_token = false;
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '\\' if chars.peek() == Some(&'"') => {
                    current.push('"');
                    chars.next();
                }
                '"' => quoted = false,
                c => current.push(c),
            }
        } else if c.is_whitespace() {
            if in_token {
                out.push(std::mem::take(&mut current));
                in_token = false;
            }
        } else {
            in_token = true;
            if c == '"' {
                quoted = true;
            } else {
                current.push(c);
            }
        }
    }
    if in_token {
        out.push(current);
    }
    out
}

/// `0x1234abcd` (or without `0x`) as u32.
fn parse_hex(text: &str) -> Option<u32> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    u32::from_str_radix(digits, 16).ok()
}

/// `0x...` (hex) or decimal, as u64.
fn parse_u64(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(digits) => u64::from_str_radix(digits, 16).ok(),
        None => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_from_wine_line() {
        let line = "0160:warn:debugstr:vDbgPrintExWithPrefix 0000004d:00000001: kcbtrig: DriverEntry\n";
        assert_eq!(driver_message(line), Some("kcbtrig: DriverEntry"));
        let line =
            "0160:warn:debugstr:vDbgPrintExWithPrefix 0000004d:00000001: kcallbacks: loaded: 1 registered";
        assert_eq!(driver_message(line), Some("kcallbacks: loaded: 1 registered"));
        assert_eq!(
            driver_message("kcallbacks: unloaded: 2 removed\r\n"),
            Some("kcallbacks: unloaded: 2 removed")
        );
        assert_eq!(
            driver_message("0048:err:ntoskrnl:x failed for kcallbacks: c0000142"),
            None
        );
        assert_eq!(driver_message("0048:fixme:actctx:parse_depend_manifests"), None);
    }

    #[test]
    fn register_lines() {
        let r =
            parse_register("kcallbacks: register IoCreateDevice(\\Device\\KCallbacks): ok status=0x00000000")
                .unwrap();
        assert_eq!(r.api, "IoCreateDevice(\\Device\\KCallbacks)");
        assert_eq!(api_base(&r.api), "IoCreateDevice");
        assert_eq!(r.outcome, Outcome::Ok);
        assert_eq!(r.status, Some(0));
        let r =
            parse_register("kcallbacks: register CmRegisterCallbackEx: FAILED status=0xC0000002").unwrap();
        assert_eq!((r.outcome, r.status), (Outcome::Failed, Some(0xC000_0002)));
        let r = parse_register("kcallbacks: register KeRegisterNmiCallback: unavailable status=0xC00000BB")
            .unwrap();
        assert_eq!(r.outcome, Outcome::Unavailable);
        let r = parse_register("kcallbacks: register X: weird").unwrap();
        assert_eq!(r.outcome, Outcome::Other("weird".into()));
        assert_eq!(r.status, None);
        assert!(parse_register("kcallbacks: registered 3").is_none());
    }

    #[test]
    fn loaded_and_unloaded_lines() {
        let l =
            parse_loaded("kcallbacks: loaded: 5 registered, 0 failed, 2 disabled, 1 unavailable").unwrap();
        assert_eq!(
            l,
            Loaded {
                registered: 5,
                failed: 0,
                disabled: 2,
                unavailable: 1
            }
        );
        assert!(parse_loaded("kcallbacks: loaded: 5 registered, 0 failed").is_none());
        assert_eq!(parse_unloaded("kcallbacks: unloaded: 5 removed"), Some(5));
        assert_eq!(parse_unloaded("kcallbacks: unloaded: x removed"), None);
        assert_eq!(
            parse_unregister("kcallbacks: unregister PsSetLoadImageNotifyRoutine: removed"),
            Some(("PsSetLoadImageNotifyRoutine", "removed"))
        );
        assert_eq!(
            parse_driver_entry("kcallbacks: DriverEntry version=0.1.0"),
            Some("0.1.0")
        );
    }

    #[test]
    fn event_lines() {
        let e = parse_event(
            "kcallbacks: event #7 t=2024-05-01T12:00:00.0000000Z cpu=0 irql=0 LoadImage pid=0 tid=36 \
             base=0x7ffff0000000 size=0x3000 properties=0x103 system_mode=1 name=C:\\kcbtrig.sys",
        )
        .unwrap();
        assert_eq!(e.seq, Some(7));
        assert!(e.is_load_image());
        assert_eq!(e.field("name"), Some("C:\\kcbtrig.sys"));
        assert_eq!(e.number("base"), Some(0x7fff_f000_0000));
        assert_eq!(e.number("size"), Some(0x3000));
        assert_eq!(e.number("pid"), Some(0));

        let e = parse_event(
            r#"kcallbacks: event #8 LoadImage.x name="C:\Program Files\a \"b\".sys"... base=0x1"#,
        )
        .unwrap();
        assert_eq!(e.field("name"), Some(r#"C:\Program Files\a "b".sys..."#));
        assert!(e.is_load_image());
        assert_eq!(e.number("base"), Some(1));

        let e = parse_event("kcallbacks: event #9 ProcessCreate.create pid=4").unwrap();
        assert!(!e.is_load_image());
    }
}
