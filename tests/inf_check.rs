//! Checks `inf/kcallbacks.inx`: the sections, keys and values a legacy
//! (non-PnP) kernel service package needs, laid out as a primitive driver.
//! A small INF reader is included: sections and keys are case-insensitive,
//! `;` starts a comment outside quotes, a trailing `\` continues a line,
//! same-named sections merge, `%token%`s resolve through `[Strings]`.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// One line of a section: `key = value`, or a bare value (file lists, `AddReg` lines).
#[derive(Debug, Clone)]
struct Line {
    key: Option<String>,
    value: String,
    number: usize,
}

/// A parsed INF/INX file.
#[derive(Debug, Default)]
struct Inf {
    /// Lower-cased section name -> (name as written, lines).
    sections: BTreeMap<String, (String, Vec<Line>)>,
}

/// Strips a `;` comment that is not inside double quotes.
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Splits on `,` outside quotes; fields are trimmed and unquoted.
fn fields(value: &str) -> Vec<String> {
    let mut out = vec![];
    let mut current = String::new();
    let mut quoted = false;
    for c in value.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut current).trim().to_owned()),
            c => current.push(c),
        }
    }
    out.push(current.trim().to_owned());
    out
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(s)
}

impl Inf {
    fn parse(text: &str) -> Self {
        let mut inf = Self::default();
        let mut current: Option<String> = None;
        let mut pending = String::new();
        let mut pending_start = 0;
        for (index, raw) in text.lines().enumerate() {
            let number = index + 1;
            let line = strip_comment(raw).trim_end();
            if pending.is_empty() {
                pending_start = number;
            }
            if let Some(head) = line.strip_suffix('\\') {
                pending.push_str(head);
                continue;
            }
            pending.push_str(line);
            let full = std::mem::take(&mut pending);
            let full = full.trim();
            if full.is_empty() {
                continue;
            }
            if let Some(name) = full.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                let name = name.trim().to_owned();
                let key = name.to_ascii_lowercase();
                inf.sections.entry(key.clone()).or_insert_with(|| (name, vec![]));
                current = Some(key);
                continue;
            }
            let section = current
                .clone()
                .unwrap_or_else(|| panic!("line {number}: text before any section"));
            let (key, value) = match split_key(full) {
                Some((k, v)) => (Some(k.trim().to_owned()), v.trim().to_owned()),
                None => (None, full.to_owned()),
            };
            inf.sections
                .get_mut(&section)
                .expect("section exists")
                .1
                .push(Line {
                    key,
                    value,
                    number: pending_start,
                });
        }
        inf
    }

    fn section(&self, name: &str) -> Option<&[Line]> {
        self.sections
            .get(&name.to_ascii_lowercase())
            .map(|(_, lines)| lines.as_slice())
    }

    fn require(&self, name: &str) -> &[Line] {
        self.section(name)
            .unwrap_or_else(|| panic!("section [{name}] is missing"))
    }

    /// All values of `key` in `section` (case-insensitive).
    fn values(&self, section: &str, key: &str) -> Vec<&str> {
        self.require(section)
            .iter()
            .filter(|l| l.key.as_deref().is_some_and(|k| k.eq_ignore_ascii_case(key)))
            .map(|l| l.value.as_str())
            .collect()
    }

    /// The single value of `key` in `section`.
    fn value(&self, section: &str, key: &str) -> &str {
        match self.values(section, key).as_slice() {
            [v] => v,
            [] => panic!("[{section}] has no {key}"),
            many => panic!("[{section}] has {} {key} entries", many.len()),
        }
    }

    /// `value` with `%token%`s replaced from `[Strings]` (numeric tokens, DIRIDs, kept).
    fn resolve(&self, value: &str) -> String {
        let mut out = String::new();
        let mut rest = value;
        while let Some(start) = rest.find('%') {
            out.push_str(&rest[..start]);
            let after = &rest[start + 1..];
            let end = after
                .find('%')
                .unwrap_or_else(|| panic!("unterminated %token% in `{value}`"));
            let token = &after[..end];
            if token.is_empty() || token.chars().all(|c| c.is_ascii_digit()) {
                out.push('%');
                out.push_str(token);
                out.push('%');
            } else {
                let defined = self.values("Strings", token);
                let text = defined
                    .first()
                    .unwrap_or_else(|| panic!("%{token}% is not defined in [Strings]"));
                out.push_str(unquote(text));
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// `key = value` with the `=` outside quotes.
fn split_key(line: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '=' if !quoted => return Some((&line[..i], &line[i + 1..])),
            _ => {}
        }
    }
    None
}

fn parse_number(text: &str) -> u32 {
    let t = text.trim();
    t.strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .map_or_else(|| t.parse(), |hex| u32::from_str_radix(hex, 16))
        .unwrap_or_else(|e| panic!("`{t}` is not a number: {e}"))
}

fn inx_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("inf")
        .join("kcallbacks.inx")
}

fn inx() -> Inf {
    let path = inx_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    Inf::parse(&text)
}

const INSTALL: &str = "DefaultInstall.NT$ARCH$";
const SERVICES: &str = "DefaultInstall.NT$ARCH$.Services";
const SERVICE_NAME: &str = "kcallbacks";
const BINARY: &str = "kcallbacks.sys";
const SPSVCINST_ASSOCSERVICE: u32 = 0x0000_0002;
const SPSVCINST_STARTSERVICE: u32 = 0x0000_0800;
const FLG_ADDREG_KEYONLY: u32 = 0x0000_0010;

#[test]
fn reader_handles_comments_case_quotes_and_continuations() {
    let inf = Inf::parse(
        "; header\n[version]\nSIGNATURE = \"$Windows NT$\" ; trailing\n[Strings]\nA = \"x;y\"\n\
         [S]\nKey = %a%, \\\n  2\nbare.sys\n[s]\nmore = 1\n",
    );
    assert_eq!(inf.value("Version", "signature"), "\"$Windows NT$\"");
    assert_eq!(inf.resolve("%A%"), "x;y");
    assert_eq!(fields(inf.value("S", "KEY")), ["%a%", "2"]);
    let s = inf.require("s");
    assert_eq!(s.len(), 3, "same-named sections merge: {s:?}");
    assert!(s[1].key.is_none() && s[1].value == "bare.sys");
    assert_eq!(inf.resolve("%13%\\a.sys"), "%13%\\a.sys");
}

#[test]
fn version_section() {
    let inf = inx();
    assert!(
        unquote(inf.value("Version", "Signature")).eq_ignore_ascii_case("$Windows NT$"),
        "Signature must be \"$WINDOWS NT$\""
    );
    assert!(
        inf.value("Version", "Class").eq_ignore_ascii_case("System"),
        "Class"
    );
    assert!(
        inf.value("Version", "ClassGuid")
            .eq_ignore_ascii_case("{4d36e97d-e325-11ce-bfc1-08002be10318}"),
        "ClassGuid must be the System class GUID"
    );
    assert!(
        !inf.resolve(inf.value("Version", "Provider")).trim().is_empty(),
        "Provider"
    );
    assert!(
        inf.value("Version", "CatalogFile")
            .eq_ignore_ascii_case("kcallbacks.cat"),
        "CatalogFile"
    );
    assert_eq!(
        parse_number(inf.value("Version", "PnpLockdown")),
        1,
        "PnpLockdown"
    );
}

#[test]
fn driver_ver_is_well_formed_and_matches_the_crate_version() {
    let inf = inx();
    let driver_ver = inf.value("Version", "DriverVer");
    let f = fields(driver_ver);
    assert_eq!(f.len(), 2, "DriverVer = mm/dd/yyyy,w.x.y.z, got `{driver_ver}`");
    let date: Vec<u32> = f[0].split('/').map(parse_number).collect();
    assert!(
        date.len() == 3 && (1..=12).contains(&date[0]) && (1..=31).contains(&date[1]) && date[2] >= 2000,
        "DriverVer date `{}` is not mm/dd/yyyy",
        f[0]
    );
    let version: Vec<u32> = f[1].split('.').map(parse_number).collect();
    assert_eq!(version.len(), 4, "DriverVer version `{}` is not w.x.y.z", f[1]);
    assert!(
        version.iter().all(|&p| p <= 65535),
        "DriverVer version parts are 16-bit"
    );
    let crate_version: Vec<u32> = env!("CARGO_PKG_VERSION")
        .split(['.', '-', '+'])
        .take(3)
        .map(parse_number)
        .collect();
    assert_eq!(
        version[..3],
        crate_version[..],
        "DriverVer {} does not match the crate version {}",
        f[1],
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn files_go_to_the_driver_store() {
    let inf = inx();
    assert_eq!(
        parse_number(inf.value("DestinationDirs", "DefaultDestDir")),
        13,
        "DefaultDestDir = 13"
    );
    let disk = fields(inf.value("SourceDisksNames", "1"));
    assert!(
        !inf.resolve(&disk[0]).trim().is_empty(),
        "disk 1 needs a description"
    );
    let source = fields(inf.value("SourceDisksFiles", BINARY));
    assert_eq!(source[0], "1", "{BINARY} must come from disk 1");

    let copy = inf.value(INSTALL, "CopyFiles");
    // CopyFiles = @file, or file-list sections.
    let listed: Vec<String> = copy.strip_prefix('@').map_or_else(
        || {
            fields(copy)
                .iter()
                .flat_map(|section| inf.require(section).iter().map(|l| fields(&l.value)[0].clone()))
                .collect()
        },
        |file| vec![file.to_owned()],
    );
    assert!(
        listed.iter().any(|f| f.eq_ignore_ascii_case(BINARY)),
        "CopyFiles does not copy {BINARY}: {listed:?}"
    );
}

#[test]
fn laid_out_as_a_primitive_driver() {
    let inf = inx();
    inf.require(INSTALL);
    inf.require(SERVICES);
    for forbidden in [
        "Manufacturer",
        "DefaultInstall",
        "DefaultInstall.Services",
        "DefaultUninstall",
        "ClassInstall32",
    ] {
        assert!(
            inf.section(forbidden).is_none(),
            "a primitive driver INF must not have [{forbidden}]"
        );
    }
    assert!(
        !inf.sections.keys().any(|k| k.starts_with("defaultuninstall")),
        "a primitive driver INF must not have a [DefaultUninstall*] section"
    );
}

#[test]
fn service_is_a_demand_start_kernel_driver() {
    let inf = inx();
    let add = inf.values(SERVICES, "AddService");
    assert_eq!(add.len(), 1, "exactly one AddService in [{SERVICES}]: {add:?}");
    let f = fields(add[0]);
    assert!(
        f.len() >= 3,
        "AddService = name, flags, install-section: `{}`",
        add[0]
    );
    assert_eq!(f[0], SERVICE_NAME, "service name");
    let flags = parse_number(&f[1]);
    assert_eq!(
        flags & SPSVCINST_ASSOCSERVICE,
        0,
        "SPSVCINST_ASSOCSERVICE is for the function driver of a PnP device"
    );
    assert_eq!(
        flags & SPSVCINST_STARTSERVICE,
        0,
        "the driver is loaded on request only (no SPSVCINST_STARTSERVICE)"
    );

    let section = f[2].as_str();
    assert_eq!(
        parse_number(inf.value(section, "ServiceType")),
        1,
        "ServiceType = 1 (SERVICE_KERNEL_DRIVER)"
    );
    assert_eq!(
        parse_number(inf.value(section, "StartType")),
        3,
        "StartType = 3 (SERVICE_DEMAND_START)"
    );
    assert_eq!(
        parse_number(inf.value(section, "ErrorControl")),
        1,
        "ErrorControl = 1 (SERVICE_ERROR_NORMAL)"
    );
    assert!(
        inf.value(section, "ServiceBinary")
            .eq_ignore_ascii_case("%13%\\kcallbacks.sys"),
        "ServiceBinary = %13%\\kcallbacks.sys"
    );
    if let Some(name) = inf.values(section, "DisplayName").first() {
        assert!(!inf.resolve(name).trim().is_empty(), "DisplayName");
    }
}

#[test]
fn service_add_reg_creates_the_parameters_key() {
    let inf = inx();
    let add = inf.values(SERVICES, "AddService");
    let section = fields(add[0])[2].clone();
    let addreg = inf.value(&section, "AddReg");
    let lines: Vec<Vec<String>> = fields(addreg)
        .iter()
        .flat_map(|s| inf.require(s).iter().map(|l| fields(&l.value)))
        .collect();
    let creates = lines.iter().any(|f| {
        f.len() >= 2
            && f[0].eq_ignore_ascii_case("HKR")
            && f[1].eq_ignore_ascii_case("Parameters")
            && (f
                .get(3)
                .is_some_and(|fl| !fl.is_empty() && parse_number(fl) & FLG_ADDREG_KEYONLY != 0)
                || f.get(2).is_some_and(|name| !name.is_empty()))
    });
    assert!(creates, "AddReg must create HKR\\Parameters: {lines:?}");
}

#[test]
fn every_string_token_is_defined() {
    let inf = inx();
    for (name, lines) in inf.sections.values() {
        for line in lines {
            // Panics on an undefined %token%.
            let _ = inf.resolve(&line.value);
            if let Some(key) = &line.key {
                assert!(!key.is_empty(), "[{name}] line {}: empty key", line.number);
            }
        }
    }
}

#[test]
fn stamped_for_amd64_names_decorated_sections() {
    let text = std::fs::read_to_string(inx_path())
        .expect("read the INX")
        .replace("$ARCH$", "amd64");
    let inf = Inf::parse(&text);
    inf.require("DefaultInstall.NTamd64");
    inf.require("DefaultInstall.NTamd64.Services");
}
