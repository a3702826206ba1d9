//! `kcbctl`: the user-mode client of the kcallbacks driver.
//!
//! The command logic works on a [`Driver`] (anything that answers
//! `DeviceIoControl` requests), so it is tested on the host against canned
//! replies and runs against `\\.\KCallbacks` on Windows ([`device`]).
//!
//! Output discipline: a command's results go to `out` (stdout); warnings and
//! diagnostics go to `err` (stderr), so `events --json` and
//! `decode-dump --json` print nothing but JSON lines on stdout.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub mod cli;
mod commands;
pub mod cost;
pub mod device;
pub mod dump;
mod error;
mod fetch;
pub mod filter;
pub mod service;
mod status_json;

pub use cli::{Command, EventsOptions, USAGE, parse_args};
pub use commands::{
    EVENTS_PER_READ, NOTIFY_OUTPUT_LEN, callbacks, decode_dump_bytes, decode_dump_filtered, events, flood,
    notify, report, status,
};
pub use error::{
    DEVICE_PATH, ERROR_ACCESS_DENIED, ERROR_BAD_LENGTH, ERROR_FILE_NOT_FOUND, ERROR_INSUFFICIENT_BUFFER,
    ERROR_INVALID_FUNCTION, ERROR_INVALID_PARAMETER, ERROR_MORE_DATA, ERROR_NOT_SUPPORTED,
    ERROR_PATH_NOT_FOUND, ERROR_REVISION_MISMATCH, Error, PARAMETERS_KEY, request_hint, win32_message,
};
use kcb_proto::Ioctl;

/// A channel to the driver: one `DeviceIoControl` round trip.
pub trait Driver {
    /// Sends `input` with `ioctl`'s control code and an output buffer of
    /// `output_len` bytes; returns the bytes the driver wrote
    /// (`lpBytesReturned` of them).
    ///
    /// # Errors
    /// [`Error::NotLoaded`] / [`Error::AccessDenied`] / [`Error::Open`] when
    /// the device cannot be opened, [`Error::Request`] when the request fails.
    fn control(&mut self, ioctl: Ioctl, input: &[u8], output_len: usize) -> Result<Vec<u8>, Error>;
}

/// Where a command writes, and when `--follow` must stop.
pub struct Console<'a> {
    /// Results (stdout).
    pub out: &'a mut dyn Write,
    /// Diagnostics (stderr).
    pub err: &'a mut dyn Write,
    /// Set (by the Ctrl-C handler) to end `events --follow`.
    pub stop: &'a AtomicBool,
    /// Pause between polls of `events --follow` when the ring is drained.
    pub poll_interval: Duration,
}

impl Console<'_> {
    /// Default pause between polls of `events --follow`.
    pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

    /// Whether a stop was requested.
    #[must_use]
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sleeps for the poll interval, waking early on a stop request.
    pub fn pause(&self) {
        const STEP: Duration = Duration::from_millis(25);
        let mut left = self.poll_interval;
        while !left.is_zero() && !self.stopped() {
            let step = left.min(STEP);
            std::thread::sleep(step);
            left -= step;
        }
    }
}

/// `kcbctl events` with its options: the filter, and `--output` (the file is
/// opened for appending and receives what stdout would).
///
/// # Errors
/// [`Error::File`] if the output file cannot be opened; as [`events`].
pub fn events_with(
    driver: &mut dyn Driver,
    json: bool,
    follow: bool,
    options: &EventsOptions,
    console: &mut Console<'_>,
) -> Result<(), Error> {
    with_output(options.output.as_ref(), console, |console| {
        events(driver, json, follow, &options.filter, console)
    })
}

/// `kcbctl decode-dump` with its options: reads the blob file, prints the
/// records the filter keeps, to `--output` if given.
///
/// # Errors
/// [`Error::File`] if a file cannot be read or opened; as
/// [`decode_dump_filtered`].
pub fn decode_dump_with(
    path: &str,
    json: bool,
    options: &EventsOptions,
    console: &mut Console<'_>,
) -> Result<(), Error> {
    let bytes = std::fs::read(path).map_err(|error| Error::File {
        path: path.to_owned(),
        error,
    })?;
    with_output(options.output.as_ref(), console, |console| {
        decode_dump_filtered(&bytes, json, &options.filter, console)
    })
}

/// Runs `command` with its results going to `output` (opened for appending,
/// synced at the end) instead of stdout, if given.
fn with_output(
    output: Option<&String>,
    console: &mut Console<'_>,
    command: impl FnOnce(&mut Console<'_>) -> Result<(), Error>,
) -> Result<(), Error> {
    let Some(path) = output else {
        return command(console);
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|error| Error::File {
            path: path.clone(),
            error,
        })?;
    let mut to_file = Console {
        out: &mut file,
        err: &mut *console.err,
        stop: console.stop,
        poll_interval: console.poll_interval,
    };
    command(&mut to_file)?;
    Ok(file.sync_all()?)
}

/// Runs a command (`driver` is used only by commands that need it; see
/// [`Command::needs_driver`]).
///
/// # Errors
/// Driver, decoding, file or output errors.
pub fn run(command: &Command, driver: &mut dyn Driver, console: &mut Console<'_>) -> Result<(), Error> {
    let result = match command {
        Command::Help => writeln!(console.out, "{USAGE}").map_err(Error::from),
        Command::Report => report(driver, console.out),
        Command::Show(text) => console.out.write_all(text.as_bytes()).map_err(Error::from),
        Command::Status { json } => status(driver, *json, &service::query(service::SERVICE_NAME), console),
        Command::Events {
            json,
            follow,
            options,
        } => events_with(driver, *json, *follow, options, console),
        Command::Notify { argument1, argument2 } => notify(driver, *argument1, *argument2, console.out),
        Command::Flood { count } => flood(driver, *count, console),
        Command::Callbacks { registrations } => callbacks(driver, *registrations, console),
        Command::DecodeDump { path, json, options } => decode_dump_with(path, *json, options, console),
    };
    let flushed = console.out.flush();
    result?;
    Ok(flushed?)
}

#[cfg(test)]
mod tests;
