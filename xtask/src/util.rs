//! Small helpers: errors, running child processes with time limits, paths.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// An error message for the user (xtask prints it and exits non-zero).
#[derive(Debug)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// xtask's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Returns early with an [`Error`] built from a format string.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::util::Error(format!($($arg)*)))
    };
}
pub(crate) use bail;

/// Adds a description of what was being done to an error.
pub trait Context<T> {
    /// Wraps the error as `"<what>: <error>"`.
    fn ctx(self, what: impl fmt::Display) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for Result<T, E> {
    fn ctx(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error(format!("{what}: {e}")))
    }
}

/// The repository root (the parent of `xtask/`).
pub fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// The cargo that runs us (`$CARGO`), else `cargo` from `PATH`.
pub fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"))
}

/// The stand-in patch (`[patch.crates-io]` for `wdk-build` and `wdk-sys`).
pub const PATCH_CONFIG: &str = "wdk-linux/config.toml";

/// A cargo command for the main workspace: `cargo --config wdk-linux/config.toml <args>`,
/// run in the repository root.
pub fn cargo_main(root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(cargo());
    cmd.current_dir(root).arg("--config").arg(PATCH_CONFIG).args(args);
    // Variables `cargo run` set for xtask itself; they mean nothing to the
    // builds xtask starts.
    for (key, _) in std::env::vars_os() {
        if let Some(key) = key.to_str()
            && (key.starts_with("CARGO_PKG_")
                || key == "CARGO_MANIFEST_DIR"
                || key == "CARGO_MANIFEST_PATH"
                || key == "CARGO_CRATE_NAME"
                || key == "CARGO_BIN_NAME"
                || key == "CARGO_PRIMARY_PACKAGE")
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Renders a command line for messages (program and arguments, space-separated).
pub fn show(cmd: &Command) -> String {
    // Programs found by absolute path (cargo from $CARGO, wine64) by their name.
    let program = Path::new(cmd.get_program());
    let mut text = program
        .file_name()
        .unwrap_or(program.as_os_str())
        .to_string_lossy()
        .into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&quote(arg));
    }
    text
}

fn quote(arg: &OsStr) -> String {
    let s = arg.to_string_lossy();
    if s.is_empty() || s.contains([' ', '"', '\'']) {
        format!("'{s}'")
    } else {
        s.into_owned()
    }
}

/// How a child process ended.
#[derive(Debug)]
pub enum Ended {
    /// It exited on its own.
    Exited(ExitStatus),
    /// It was still running at the time limit and was killed.
    TimedOut,
}

impl Ended {
    /// Exited with status 0.
    pub fn success(&self) -> bool {
        matches!(self, Self::Exited(s) if s.success())
    }
}

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exited(s) => match s.code() {
                Some(code) => write!(f, "exit code {code}"),
                None => write!(f, "{s}"),
            },
            Self::TimedOut => f.write_str("timed out (killed)"),
        }
    }
}

/// Waits for `child` at most `limit`; kills it when the limit is reached.
pub fn wait_limited(child: &mut Child, limit: Duration) -> Result<Ended> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().ctx("waiting for a child process")? {
            return Ok(Ended::Exited(status));
        }
        if Instant::now() >= deadline {
            // The child may have exited in between; either way it is gone after wait().
            let _ = child.kill();
            let _ = child.wait();
            return Ok(Ended::TimedOut);
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Output of a command run by [`run_captured`].
#[derive(Debug)]
pub struct Captured {
    /// How it ended.
    pub ended: Ended,
    /// Its standard output (lossy UTF-8).
    pub stdout: String,
    /// Its standard error (lossy UTF-8).
    pub stderr: String,
}

/// Runs `cmd` at most `limit`, capturing stdout and stderr.
///
/// Output goes to files in `scratch` rather than pipes: Wine commands may hand
/// their standard handles to long-lived processes (services, `winedevice.exe`),
/// which would keep a pipe open for ever; a file never blocks anyone.
pub fn run_captured(cmd: &mut Command, scratch: &Path, limit: Duration) -> Result<Captured> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    fs::create_dir_all(scratch).ctx(format!("creating {}", scratch.display()))?;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let out_path = scratch.join(format!("{}-{n}.out", std::process::id()));
    let err_path = scratch.join(format!("{}-{n}.err", std::process::id()));
    let out = File::create(&out_path).ctx(format!("creating {}", out_path.display()))?;
    let err = File::create(&err_path).ctx(format!("creating {}", err_path.display()))?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .ctx(format!("starting `{}`", show(cmd)))?;
    let ended = wait_limited(&mut child, limit)?;
    let read = |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
    let captured = Captured {
        ended,
        stdout: read(&out_path),
        stderr: read(&err_path),
    };
    let _ = fs::remove_file(&out_path);
    let _ = fs::remove_file(&err_path);
    Ok(captured)
}

/// Looks `program` up on `PATH`.
pub fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Copies `from` to `to` (creating `to`'s folder), replacing `to`.
pub fn copy_file(from: &Path, to: &Path) -> Result<()> {
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir).ctx(format!("creating {}", dir.display()))?;
    }
    // Remove first: `to` may be a hard link into cargo's output folder.
    let _ = fs::remove_file(to);
    fs::copy(from, to).ctx(format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// `path` relative to `root` for display, if it is inside it.
pub fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

/// Seconds with one decimal, for timings.
pub fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// The last `n` lines of `text`.
pub fn last_lines(text: &str, n: usize) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_takes_the_tail() {
        assert_eq!(last_lines("a\nb\nc\n", 2), ["b", "c"]);
        assert_eq!(last_lines("a", 5), ["a"]);
        assert!(last_lines("", 3).is_empty());
    }

    #[test]
    fn captured_command_output_and_time_limit() {
        let scratch = std::env::temp_dir().join("xtask-util-test");
        let mut echo = Command::new("sh");
        echo.args(["-c", "echo out; echo err >&2; exit 3"]);
        let c = run_captured(&mut echo, &scratch, Duration::from_secs(10)).unwrap();
        assert_eq!(c.stdout, "out\n");
        assert_eq!(c.stderr, "err\n");
        assert!(matches!(c.ended, Ended::Exited(s) if s.code() == Some(3)));

        let mut sleep = Command::new("sleep");
        sleep.arg("10");
        let c = run_captured(&mut sleep, &scratch, Duration::from_millis(200)).unwrap();
        assert!(matches!(c.ended, Ended::TimedOut));
    }
}
