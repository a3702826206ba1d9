//! A Wine session that can load kernel drivers (see `shared/docs/wine.md`).
//!
//! Recipe: `wineserver -p` (one persistent server for the whole session), then
//! a first wine command whose stderr is appended to the session log: it
//! starts `services.exe`, every `winedevice.exe` inherits that stderr, so the
//! drivers' `DbgPrint` lines land in the log. Driver services are then
//! created, started, stopped and deleted with Wine's `sc.exe`; at the end
//! `wineserver -k` and `wineserver -w` end the session. Every wait is bounded.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::logparse::driver_message;
use crate::util::{
    Captured, Context, Ended, Result, bail, find_program, rel, run_captured, secs, wait_limited,
};

/// `WINEDEBUG` that shows `DbgPrint` output and the ntoskrnl stubs a driver hits.
pub const WINEDEBUG: &str = "+debugstr,fixme+ntoskrnl,-winediag,-systray,-hid";
/// No Gecko/Mono install dialogs.
pub const WINEDLLOVERRIDES: &str = "mscoree,mshtml=";

/// Time limit of the first command (it creates a fresh prefix: 3-12 s measured).
const FIRST_COMMAND_LIMIT: Duration = Duration::from_secs(180);
/// An appended log is started afresh beyond this size.
const LOG_LIMIT: u64 = 4 << 20;
/// Time limit of `wineserver -p`, `-k` and `-w`.
const SERVER_LIMIT: Duration = Duration::from_secs(20);

/// How to set a session up.
#[derive(Debug, Clone)]
pub struct Config {
    /// `WINEPREFIX` (absolute).
    pub prefix: PathBuf,
    /// The log that receives the first command's stderr (the `DbgPrint` lines).
    pub log: PathBuf,
    /// Delete the prefix first (else reuse it if it exists).
    pub fresh: bool,
    /// Empty the log first (else append to it).
    pub truncate_log: bool,
    /// Print driver lines (`kcallbacks:` / `kcbtrig:`) as they appear.
    pub echo: bool,
    /// A label for the header line written into the log.
    pub label: String,
}

impl Config {
    /// The configuration of `cargo xtask <task>`: a fresh prefix
    /// `target/wine/<name>-prefix` and an emptied log `target/wine/<name>.log`,
    /// driver lines echoed.
    pub fn fresh(root: &Path, name: &str, task: &str) -> Self {
        let wine_dir = root.join("target").join("wine");
        Self {
            prefix: wine_dir.join(format!("{name}-prefix")),
            log: wine_dir.join(format!("{name}.log")),
            fresh: true,
            truncate_log: true,
            echo: true,
            label: format!("cargo xtask {task}"),
        }
    }
}

/// A running Wine session; dropping it kills the session if it was not shut
/// down cleanly.
pub struct Session {
    root: PathBuf,
    prefix: PathBuf,
    log_path: PathBuf,
    log_start: u64,
    scratch: PathBuf,
    wine: PathBuf,
    wineserver: PathBuf,
    running: bool,
    tail: Option<Tail>,
}

/// Finds the 64-bit wine loader: Debian's `wine64` package installs it as
/// `/usr/lib/wine/wine64` (`/usr/bin/wine` is a wrapper that prints a
/// "wine32 is missing" hint on every call).
fn wine_program() -> Result<PathBuf> {
    first_program(
        &["/usr/lib/wine/wine64", "wine64", "wine"],
        "wine not found (run `cargo xtask setup`: Debian package wine64)",
    )
}

fn wineserver_program() -> Result<PathBuf> {
    first_program(
        &["wineserver", "/usr/lib/wine/wineserver64", "/usr/lib/wine/wineserver"],
        "wineserver not found (run `cargo xtask setup`)",
    )
}

/// The first of `candidates` that exists, or the error `missing`.
fn first_program(candidates: &[&str], missing: &str) -> Result<PathBuf> {
    candidates
        .iter()
        .find_map(|c| find_program(c))
        .ok_or_else(|| crate::util::Error(missing.into()))
}

impl Session {
    /// Starts a session: prefix, persistent server, first command.
    pub fn start(root: &Path, config: &Config) -> Result<Self> {
        let wine = wine_program()?;
        let wineserver = wineserver_program()?;
        let wine_dir = root.join("target").join("wine");
        let scratch = wine_dir.join("io");
        fs::create_dir_all(&scratch).ctx(format!("creating {}", scratch.display()))?;

        let mut session = Self {
            root: root.to_path_buf(),
            prefix: config.prefix.clone(),
            log_path: config.log.clone(),
            log_start: 0,
            scratch,
            wine,
            wineserver,
            running: false,
            tail: None,
        };

        // Leftovers of an interrupted session in this prefix (a persistent
        // server lives until killed).
        if session.prefix.join("system.reg").exists() || session.prefix.join("drive_c").exists() {
            session.kill_quietly();
        }
        if config.fresh && session.prefix.exists() {
            fs::remove_dir_all(&session.prefix).ctx(format!("deleting {}", session.prefix.display()))?;
        }
        // wineserver chdirs into the prefix: it must exist before `wineserver -p`.
        fs::create_dir_all(&session.prefix).ctx(format!("creating {}", session.prefix.display()))?;

        // An appended log (`run.log`) is restarted once it grows past a few MiB.
        let too_big = fs::metadata(&session.log_path).is_ok_and(|m| m.len() > LOG_LIMIT);
        let mut log = if config.truncate_log || too_big {
            File::create(&session.log_path)
        } else {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&session.log_path)
        }
        .ctx(format!("opening {}", session.log_path.display()))?;
        session.log_start = log.seek(SeekFrom::End(0)).ctx("seeking the log")?;
        writeln!(
            log,
            "==== {} (WINEPREFIX={}) ====",
            config.label,
            session.prefix.display()
        )
        .ctx("writing the log")?;
        // The server (which forks and stays) and the first command write to the
        // log through O_APPEND descriptors of their own.
        let appender = || {
            OpenOptions::new()
                .append(true)
                .open(&config.log)
                .ctx("opening the log for appending")
        };

        let mut server = session.server_cmd("-p");
        server
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(appender()?);
        let mut child = server.spawn().ctx("starting wineserver -p")?;
        let ended = wait_limited(&mut child, SERVER_LIMIT)?;
        if !ended.success() {
            bail!(
                "`wineserver -p` failed ({ended}); see {}",
                rel(root, &session.log_path)
            );
        }
        session.running = true;

        let t0 = Instant::now();
        let mut first = session.wine_cmd(&["cmd.exe", "/c", "ver"]);
        first
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(appender()?);
        let mut child = first.spawn().ctx("starting the first wine command")?;
        let ended = wait_limited(&mut child, FIRST_COMMAND_LIMIT)?;
        if !ended.success() {
            bail!(
                "the first wine command (cmd.exe /c ver) failed ({ended}); see {}",
                rel(root, &session.log_path)
            );
        }
        if !session.prefix.join("drive_c").is_dir() {
            bail!(
                "the prefix has no drive_c after the first command; see {}",
                rel(root, &session.log_path)
            );
        }
        println!(
            "wine: session up in {} ({})",
            secs(t0.elapsed()),
            rel(root, &session.prefix)
        );
        if config.echo {
            session.tail = Some(Tail::spawn(session.log_path.clone(), session.log_start));
        }
        Ok(session)
    }

    fn env(&self, cmd: &mut Command) {
        cmd.env("WINEPREFIX", &self.prefix)
            .env("WINEARCH", "win64")
            .env("WINEDLLOVERRIDES", WINEDLLOVERRIDES)
            .env("WINEDEBUG", WINEDEBUG)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .current_dir(&self.root);
    }

    fn wine_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.wine);
        cmd.args(args);
        self.env(&mut cmd);
        cmd
    }

    fn server_cmd(&self, flag: &str) -> Command {
        let mut cmd = Command::new(&self.wineserver);
        cmd.arg(flag);
        self.env(&mut cmd);
        cmd
    }

    /// The prefix's `C:` drive.
    pub fn drive_c(&self) -> PathBuf {
        self.prefix.join("drive_c")
    }

    /// Runs `wine64 <args>` and captures its output.
    pub fn wine(&self, args: &[&str], limit: Duration) -> Result<Captured> {
        run_captured(&mut self.wine_cmd(args), &self.scratch, limit)
    }

    /// This session's part of the log.
    pub fn log(&self) -> String {
        read_from(&self.log_path, self.log_start)
    }

    /// The driver messages (`kcallbacks: ...`, `kcbtrig: ...`) logged so far.
    pub fn messages(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(driver_message)
            .map(str::to_owned)
            .collect()
    }

    /// Waits until a driver message satisfies `pred`, at most `limit`.
    pub fn wait_for(&self, limit: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(found) = self.messages().into_iter().find(|m| pred(m)) {
                return Some(found);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Ends the session: `wineserver -k` (kills `services.exe` and every
    /// `winedevice.exe`), then `wineserver -w` until the server has exited,
    /// then checks that no server answers for the prefix any more.
    pub fn shutdown(&mut self) -> Result<()> {
        self.stop_tail();
        if !self.running {
            return Ok(());
        }
        self.running = false;
        let kill = run_captured(&mut self.server_cmd("-k"), &self.scratch, SERVER_LIMIT)?;
        let wait = run_captured(&mut self.server_cmd("-w"), &self.scratch, SERVER_LIMIT)?;
        if !kill.ended.success() {
            bail!("wineserver -k: {}", kill.ended);
        }
        if !wait.ended.success() {
            bail!("wineserver -w: {}", wait.ended);
        }
        // `wineserver -k` exits 1 when no server runs for the prefix.
        let probe = run_captured(&mut self.server_cmd("-k"), &self.scratch, SERVER_LIMIT)?;
        if probe.ended.success() {
            bail!("a wineserver was still running for the prefix after `wineserver -w`");
        }
        if matches!(probe.ended, Ended::TimedOut) {
            bail!("probing for a leftover wineserver timed out");
        }
        Ok(())
    }

    /// Prints the driver lines logged so far (when echoing).
    pub fn flush_echo(&self) {
        if let Some(tail) = &self.tail {
            tail.flush();
        }
    }

    fn stop_tail(&mut self) {
        if let Some(tail) = self.tail.take() {
            tail.stop();
        }
    }

    /// Kills whatever runs for the prefix; errors ignored.
    fn kill_quietly(&self) {
        let _ = run_captured(&mut self.server_cmd("-k"), &self.scratch, SERVER_LIMIT);
        let _ = run_captured(&mut self.server_cmd("-w"), &self.scratch, SERVER_LIMIT);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop_tail();
        if self.running {
            eprintln!("wine: killing the session ({})", self.prefix.display());
            self.kill_quietly();
        }
    }
}

/// Reads `path` from byte `offset` (lossy UTF-8; empty if unreadable).
fn read_from(path: &Path, offset: u64) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut f) = File::open(path)
        && f.seek(SeekFrom::Start(offset)).is_ok()
    {
        let _ = f.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Prints driver messages as they are appended to the log: a thread polls
/// every 50 ms, and [`Tail::flush`] catches up at once (so a step's result
/// is printed after the driver lines it caused).
struct Tail {
    state: Arc<Mutex<TailState>>,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

struct TailState {
    path: PathBuf,
    offset: u64,
    pending: Vec<u8>,
}

impl TailState {
    /// Prints the driver messages of the complete lines appended since the last call.
    fn pump(&mut self) {
        if let Ok(mut f) = File::open(&self.path)
            && f.seek(SeekFrom::Start(self.offset)).is_ok()
        {
            let mut fresh = Vec::new();
            if let Ok(n) = f.read_to_end(&mut fresh) {
                self.offset += n as u64;
                self.pending.extend_from_slice(&fresh);
            }
        }
        // Only complete lines; a writer may be in the middle of one.
        while let Some(nl) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line);
            if let Some(msg) = driver_message(&line) {
                println!("  | {msg}");
            }
        }
    }
}

impl Tail {
    fn spawn(path: PathBuf, start: u64) -> Self {
        let state = Arc::new(Mutex::new(TailState {
            path,
            offset: start,
            pending: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_state, flag) = (Arc::clone(&state), Arc::clone(&stop));
        let handle = thread::spawn(move || {
            loop {
                let stopping = flag.load(Ordering::Acquire);
                if let Ok(mut s) = thread_state.lock() {
                    s.pump();
                }
                if stopping {
                    break;
                }
                thread::sleep(Duration::from_millis(50));
            }
        });
        Self { state, stop, handle }
    }

    fn flush(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.pump();
        }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.handle.join();
    }
}
