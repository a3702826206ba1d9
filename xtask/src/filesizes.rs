//! The file-size rules of issue 13: a file does one job, so none grows
//! past a size a reader takes in at once.
//!
//! - every Rust file of the driver (`src/`) has at most [`DRIVER_MAX_LINES`]
//!   lines;
//! - every other file git tracks has at most [`REPO_MAX_LINES`], except
//!   generated ones ([`GENERATED`]: lock files and the JSON schema that a
//!   test writes).
//!
//! Binary files (a NUL byte) are not counted.

use std::path::Path;
use std::process::Command;

use crate::util::{Error, Result, bail};

/// Most lines of a file in `src/`.
pub const DRIVER_MAX_LINES: usize = 400;
/// Most lines of any other tracked file.
pub const REPO_MAX_LINES: usize = 1000;
/// Generated files, exempt from [`REPO_MAX_LINES`] (path suffixes).
const GENERATED: [&str; 2] = ["Cargo.lock", ".schema.json"];

/// Checks every tracked file under `root`; prints the largest of each kind.
///
/// # Errors
/// `git ls-files` failing, or the files over their limit (all named).
pub fn check(root: &Path) -> Result<()> {
    let listed = Command::new("git")
        .current_dir(root)
        .args(["ls-files", "-z"])
        .output()
        .map_err(|e| Error(format!("git ls-files: {e}")))?;
    if !listed.status.success() {
        bail!("git ls-files failed: {}", String::from_utf8_lossy(&listed.stderr));
    }
    let mut over = Vec::new();
    let mut largest_driver = (0, String::new());
    let mut largest_other = (0, String::new());
    for path in listed.stdout.split(|&b| b == 0).filter(|p| !p.is_empty()) {
        let path = String::from_utf8_lossy(path).into_owned();
        let Ok(bytes) = std::fs::read(root.join(&path)) else {
            continue; // deleted in the work tree
        };
        if bytes.contains(&0) {
            continue;
        }
        let lines = bytecount_lines(&bytes);
        let is_rust = Path::new(&path)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("rs"));
        let (limit, largest) = if path.starts_with("src/") && is_rust {
            (DRIVER_MAX_LINES, &mut largest_driver)
        } else if GENERATED.iter().any(|suffix| path.ends_with(suffix)) {
            continue;
        } else {
            (REPO_MAX_LINES, &mut largest_other)
        };
        if lines > largest.0 {
            *largest = (lines, path.clone());
        }
        if lines > limit {
            over.push(format!("{path}: {lines} lines (limit {limit})"));
        }
    }
    println!(
        "file sizes: largest in src/ {} ({} lines, limit {DRIVER_MAX_LINES}); largest elsewhere {} ({} lines, limit {REPO_MAX_LINES})",
        largest_driver.1, largest_driver.0, largest_other.1, largest_other.0
    );
    if !over.is_empty() {
        bail!("files over their size limit:\n  {}", over.join("\n  "));
    }
    Ok(())
}

/// Lines of a text file (newline characters; no external crate for this).
fn bytecount_lines(bytes: &[u8]) -> usize {
    bytes.split(|&b| b == b'\n').count() - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch git repository with `files` (path, line count) committed.
    fn repository(name: &str, files: &[(&str, usize)]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-filesizes-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, lines) in files {
            let file = dir.join(path);
            std::fs::create_dir_all(file.parent().expect("a parent")).expect("mkdir");
            std::fs::write(&file, "x\n".repeat(*lines)).expect("write");
        }
        let git = |args: &[&str]| {
            let status = Command::new("git")
                .current_dir(&dir)
                .args(args)
                .status()
                .expect("git");
            assert!(status.success(), "git {args:?}");
        };
        git(&["init", "-q"]);
        git(&["add", "."]);
        dir
    }

    #[test]
    fn files_within_their_limits_pass() {
        let dir = repository(
            "ok",
            &[
                ("src/lib.rs", 400),
                ("crates/a/src/big.rs", 1000),
                ("Cargo.lock", 5000),
                ("s/x.schema.json", 3000),
            ],
        );
        assert!(check(&dir).is_ok());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_file_over_its_limit_is_named() {
        let dir = repository(
            "over",
            &[("src/driver.rs", 401), ("tests/t.rs", 1001), ("README.md", 10)],
        );
        let Err(Error(message)) = check(&dir) else {
            panic!("oversized files must fail");
        };
        assert!(
            message.contains("src/driver.rs: 401 lines (limit 400)"),
            "{message}"
        );
        assert!(
            message.contains("tests/t.rs: 1001 lines (limit 1000)"),
            "{message}"
        );
        assert!(!message.contains("README.md"), "{message}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
