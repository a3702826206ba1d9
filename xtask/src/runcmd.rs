//! Running a command in the foreground (inherited output) with a time
//! limit; after a patched cargo command ([`crate::util::cargo_main`]),
//! `Cargo.lock` is put back ([`Guard`]). Apart from `util` so that `util`
//! (which `lockfile` uses) does not depend on `lockfile`.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::lockfile::Guard;
use crate::util::{Context, Ended, PATCH_CONFIG, Result, bail, show, wait_limited};

/// Whether `cmd` is a [`crate::util::cargo_main`] command (it rewrites `Cargo.lock`).
fn is_patched_cargo(cmd: &Command) -> bool {
    // Anywhere on the line: `cargo --config P test` and `cargo clippy --config P`.
    let args: Vec<&OsStr> = cmd.get_args().collect();
    args.windows(2)
        .any(|pair| pair == [OsStr::new("--config"), OsStr::new(PATCH_CONFIG)])
}

/// Runs `cmd` with inherited stdout/stderr, at most `limit`. After a
/// patched cargo command (`--config wdk-linux/config.toml` anywhere), `Cargo.lock` is put back as it was
/// ([`Guard`]).
pub fn run_inherit(cmd: &mut Command, limit: Duration) -> Result<Ended> {
    let _lock = is_patched_cargo(cmd).then(|| Guard::new(cmd.get_current_dir().unwrap_or(Path::new("."))));
    let mut child = cmd
        .stdin(Stdio::null())
        .spawn()
        .ctx(format!("starting `{}`", show(cmd)))?;
    wait_limited(&mut child, limit)
}

/// Runs `cmd` with inherited output; an error unless it exits with 0.
pub fn run_checked(cmd: &mut Command, limit: Duration) -> Result<()> {
    let ended = run_inherit(cmd, limit)?;
    if ended.success() {
        Ok(())
    } else {
        bail!("`{}` failed: {ended}", show(cmd))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patched_cargo_is_recognised_before_and_after_the_subcommand() {
        let before = {
            let mut c = Command::new("cargo");
            c.args(["--config", PATCH_CONFIG, "test"]);
            c
        };
        let after = {
            let mut c = Command::new("cargo");
            c.args(["clippy", "--config", PATCH_CONFIG, "--workspace"]);
            c
        };
        let plain = {
            let mut c = Command::new("cargo");
            c.args(["test", "--manifest-path", "xtask/Cargo.toml"]);
            c
        };
        assert!(is_patched_cargo(&before));
        assert!(is_patched_cargo(&after));
        assert!(!is_patched_cargo(&plain));
    }
}
