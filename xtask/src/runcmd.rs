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
    let mut args = cmd.get_args();
    args.next() == Some(OsStr::new("--config")) && args.next() == Some(OsStr::new(PATCH_CONFIG))
}

/// Runs `cmd` with inherited stdout/stderr, at most `limit`. After a
/// [`crate::util::cargo_main`] command, `Cargo.lock` is put back as it was
/// ([`Guard`]).
pub fn run_inherit(cmd: &mut Command, limit: Duration) -> Result<Ended> {
    let _lock = is_patched_cargo(cmd).then(|| Guard::new(cmd.get_current_dir().unwrap_or(Path::new("."))));
    let mut child = cmd.stdin(Stdio::null()).spawn().ctx(format!("starting `{}`", show(cmd)))?;
    wait_limited(&mut child, limit)
}

/// Runs `cmd` with inherited output; an error unless it exits with 0.
pub fn run_checked(cmd: &mut Command, limit: Duration) -> Result<()> {
    let ended = run_inherit(cmd, limit)?;
    if ended.success() { Ok(()) } else { bail!("`{}` failed: {ended}", show(cmd)) }
}
