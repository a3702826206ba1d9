//! Keeps the committed `Cargo.lock` the crates.io resolution.
//!
//! The Linux stand-ins are brought in with `cargo --config wdk-linux/config.toml`
//! (a `[patch.crates-io]`), and a patched cargo records `wdk-build` and
//! `wdk-sys` in `Cargo.lock` as path packages. On Windows, where the real
//! crates are used, such a lock file is re-resolved and fails any `--locked`
//! build. So:
//!
//! * [`Guard`] snapshots `Cargo.lock` when an xtask task starts and writes the
//!   snapshot back when the task ends, whatever the patched cargo commands in
//!   between did; a lock file already rewritten at start (by a plain
//!   `cargo --config wdk-linux/config.toml ...`) is first re-resolved without
//!   the patch (`cargo metadata`), which puts the crates.io entries back;
//! * [`check`] is the test step: `wdk-build` and `wdk-sys` must be registry
//!   packages from crates.io with a checksum, in the lock file on disk and in
//!   the one committed at `HEAD`.
//!
//! A separate copy of the manifest and lock for the patched build was the
//! alternative; it would need the whole workspace mirrored (members are
//! found relative to the manifest), so every path in it would differ from
//! the developer's.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{Context, Result, bail, cargo};

/// Where crates.io packages come from, as `Cargo.lock` spells it.
pub const CRATES_IO: &str = "registry+https://github.com/rust-lang/crates.io-index";

/// The packages the stand-in patch replaces.
pub const PATCHED: &[&str] = &["wdk-build", "wdk-sys"];

/// One `[[package]]` entry of a lock file (the keys this module needs).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Package {
    /// `name`.
    pub name: String,
    /// `version`.
    pub version: String,
    /// `source`, absent for path packages.
    pub source: Option<String>,
    /// `checksum`, absent for path packages.
    pub checksum: Option<String>,
}

/// The `[[package]]` entries of a `Cargo.lock` text (a line-based reading of
/// the format cargo writes: `key = "value"` lines after each header).
#[must_use]
pub fn packages(text: &str) -> Vec<Package> {
    let mut out: Vec<Package> = vec![];
    let mut current: Option<Package> = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            out.extend(current.take());
            if line == "[[package]]" {
                current = Some(Package::default());
            }
            continue;
        }
        let Some(package) = current.as_mut() else { continue };
        let Some((key, value)) = line.split_once(" = ") else {
            continue;
        };
        let Some(value) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
            continue;
        };
        match key {
            "name" => value.clone_into(&mut package.name),
            "version" => value.clone_into(&mut package.version),
            "source" => package.source = Some(value.to_owned()),
            "checksum" => package.checksum = Some(value.to_owned()),
            _ => {}
        }
    }
    out.extend(current);
    out
}

/// What is wrong with a lock text, for each patched package: it must appear
/// exactly once, from crates.io, with a checksum. Empty when all is well.
#[must_use]
pub fn problems(text: &str) -> Vec<String> {
    let all = packages(text);
    let mut found = vec![];
    for name in PATCHED {
        let entries: Vec<&Package> = all.iter().filter(|p| p.name == *name).collect();
        match entries.as_slice() {
            [] => found.push(format!("{name}: not in the lock file")),
            [p] if p.source.as_deref() == Some(CRATES_IO) && p.checksum.is_some() => {}
            [p] => found.push(format!(
                "{name} {}: source {} (expected {CRATES_IO} with a checksum; the Linux stand-in patch leaked into it)",
                p.version,
                p.source.as_deref().unwrap_or("none, a path package")
            )),
            more => found.push(format!("{name}: {} entries", more.len())),
        }
    }
    found
}

/// Runs cargo without the stand-in patch so that it re-resolves the lock
/// file: path entries for `wdk-build`/`wdk-sys` become crates.io entries again.
fn resolve_unpatched(root: &Path) -> Result<()> {
    cargo_metadata(root, &[]).map(drop)
}

/// `cargo metadata` (with `extra` arguments) without the stand-in patch:
/// its JSON output.
fn cargo_metadata(root: &Path, extra: &[&str]) -> Result<String> {
    let out = Command::new(cargo())
        .current_dir(root)
        .args(["metadata", "--format-version", "1"])
        .args(extra)
        .output()
        .ctx("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata (unpatched, extra arguments {extra:?}) failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Restores `Cargo.lock` to its state at task start when dropped.
pub struct Guard {
    path: PathBuf,
    committed: Option<Vec<u8>>,
}

impl Guard {
    /// Snapshots `root/Cargo.lock`, after putting back crates.io entries a
    /// plain patched cargo command left in it.
    #[must_use]
    pub fn new(root: &Path) -> Self {
        let path = root.join("Cargo.lock");
        if let Ok(text) = fs::read_to_string(&path)
            && !problems(&text).is_empty()
        {
            eprintln!(
                "xtask: Cargo.lock records the stand-in wdk-build/wdk-sys (left by a plain \
                 `cargo --config wdk-linux/config.toml` command); re-resolving them from crates.io"
            );
            if let Err(e) = resolve_unpatched(root) {
                eprintln!("xtask: {e}");
            }
        }
        Self {
            committed: fs::read(&path).ok(),
            path,
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let Some(committed) = &self.committed else { return };
        if fs::read(&self.path).ok().as_ref() != Some(committed) {
            // Nothing to report to: a failed write leaves the patched lock,
            // which the next task's Guard re-resolves and `check` reports.
            let _ = fs::write(&self.path, committed);
        }
    }
}

/// The test step: the lock file on disk and, in a git checkout, the
/// committed one resolve `wdk-build` and `wdk-sys` from crates.io. Run it
/// before any patched cargo command of the task (on disk it is then what
/// the task's [`Guard`] leaves behind).
///
/// # Errors
/// Every problem found, with where.
pub fn check(root: &Path) -> Result<()> {
    let mut found = vec![];
    let on_disk = fs::read_to_string(root.join("Cargo.lock")).ctx("reading Cargo.lock")?;
    found.extend(problems(&on_disk).into_iter().map(|p| format!("Cargo.lock: {p}")));
    let head = Command::new("git")
        .current_dir(root)
        .args(["show", "HEAD:Cargo.lock"])
        .output();
    match head {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            found.extend(
                problems(&text)
                    .into_iter()
                    .map(|p| format!("HEAD:Cargo.lock: {p}")),
            );
            println!("checked Cargo.lock and HEAD:Cargo.lock");
        }
        _ => println!("checked Cargo.lock (no git checkout: HEAD not checked)"),
    }
    for p in packages(&on_disk)
        .into_iter()
        .filter(|p| PATCHED.contains(&p.name.as_str()))
    {
        println!(
            "  {} {} from {}",
            p.name,
            p.version,
            p.source.as_deref().unwrap_or("a path")
        );
    }
    if found.is_empty() {
        Ok(())
    } else {
        bail!("{}", found.join("; "))
    }
}

/// The folder of the real (crates.io) package `name` as the committed lock
/// resolves it: `cargo metadata --locked` without the stand-in patch (which
/// also downloads it into the cargo registry).
///
/// # Errors
/// cargo failing (a lock file that is not the crates.io resolution fails
/// `--locked`), or no such package.
pub fn real_package_dir(root: &Path, name: &str) -> Result<PathBuf> {
    let json = cargo_metadata(root, &["--locked"])?;
    let key = "\"manifest_path\":\"";
    let prefix = format!("{name}-");
    json.match_indices(key)
        .filter_map(|(at, _)| json[at + key.len()..].split('"').next())
        .map(PathBuf::from)
        .filter_map(|manifest| manifest.parent().map(Path::to_path_buf))
        .find(|dir| {
            dir.file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with(&prefix))
        })
        .ok_or_else(|| crate::util::Error(format!("{name} is not in `cargo metadata`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"# This file is automatically @generated by Cargo.
version = 4

[[package]]
name = "wdk-build"
version = "0.6.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "16f5"
dependencies = [
 "serde",
]

[[package]]
name = "wdk-sys"
version = "0.5.2"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "e279"
"#;

    #[test]
    fn crates_io_entries_pass() {
        assert_eq!(packages(GOOD).len(), 2);
        assert!(problems(GOOD).is_empty(), "{:?}", problems(GOOD));
    }

    #[test]
    fn path_entries_fail() {
        let patched = GOOD.replacen(
            "source = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"e279\"\n",
            "",
            1,
        );
        let p = problems(&patched);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("wdk-sys 0.5.2: source none"), "{p:?}");
    }

    #[test]
    fn missing_and_duplicate_entries_fail() {
        let only_build = &GOOD[..GOOD.find("[[package]]\nname = \"wdk-sys\"").unwrap()];
        assert_eq!(problems(only_build), ["wdk-sys: not in the lock file"]);
        let twice = format!("{GOOD}\n[[package]]\nname = \"wdk-build\"\nversion = \"0.5.0\"\n");
        assert_eq!(problems(&twice), ["wdk-build: 2 entries"]);
    }

    #[test]
    fn the_repository_lock_file_is_parsed() {
        // The real file is read through the same parser the step uses.
        let text = fs::read_to_string(crate::util::repo_root().join("Cargo.lock")).unwrap();
        let names: Vec<String> = packages(&text).into_iter().map(|p| p.name).collect();
        assert!(names.iter().any(|n| n == "kcallbacks"));
        assert!(names.iter().any(|n| n == "wdk-sys"));
    }
}
