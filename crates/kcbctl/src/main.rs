//! `kcbctl` command-line entry point.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use kcbctl::{Console, device::LazyDevice};

/// Set by Ctrl-C (Windows) to end `events --follow`.
static STOP: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    let result = kcbctl::parse_args(&args).and_then(|command| {
        if matches!(command, kcbctl::Command::Events { follow: true, .. }) {
            // Without the handler Ctrl-C still ends the process, just not as cleanly.
            let _ = kcbctl::device::install_stop_handler(&STOP);
        }
        let mut console = Console {
            out: &mut out,
            err: &mut err,
            stop: &STOP,
            poll_interval: Console::POLL_INTERVAL,
        };
        kcbctl::run(&command, &mut LazyDevice::new(), &mut console)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `kcbctl events | head`: the reader went away; nothing left to say.
        Err(error) if error.is_broken_pipe() => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(err, "kcbctl: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
