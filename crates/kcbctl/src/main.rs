//! `kcbctl` command-line entry point.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = kcbctl::parse_args(&args).and_then(|command| {
        let mut device = kcbctl::device::Device::open()?;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        kcbctl::run(&command, &mut device, &mut out)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kcbctl: {error}");
            ExitCode::FAILURE
        }
    }
}
