//! `kcbctl`: the user-mode client of the kcallbacks driver.
//!
//! The command logic works on a [`Driver`] (anything that answers
//! `DeviceIoControl` requests), so it is tested on the host against canned
//! replies and runs against `\\.\KCallbacks` on Windows ([`device`]).

use std::io::{self, Write};

use kcb_proto::{
    GetReportRequest, IOCTL_KCB_GET_REPORT, IOCTL_KCB_READ_EVENTS, Pod, REPORT_BUFFER_SIZE,
    ReadEventsRequest, RECORD_SIZE, bytes_of, decode_read_events, decode_report, write_json,
    write_text,
};

pub mod device;

/// A channel to the driver: one `DeviceIoControl` round trip.
pub trait Driver {
    /// Sends `input` with control code `code`, with an output buffer of
    /// `output_len` bytes; returns the bytes the driver wrote.
    ///
    /// # Errors
    /// The driver's (or the system's) error.
    fn control(&mut self, code: u32, input: &[u8], output_len: usize) -> Result<Vec<u8>, Error>;
}

/// What can go wrong talking to the driver.
#[derive(Debug)]
pub enum Error {
    /// `\\.\KCallbacks` does not exist: the driver is not loaded.
    NotLoaded,
    /// Opening the device was refused (not SYSTEM or an administrator).
    AccessDenied,
    /// A request failed with this Win32 error code.
    Request {
        /// Which request.
        what: &'static str,
        /// `GetLastError()`.
        code: u32,
    },
    /// The reply did not decode.
    BadReply(String),
    /// Command-line usage error.
    Usage(String),
    /// Writing the output failed.
    Io(io::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotLoaded => write!(
                f,
                "the kcallbacks driver is not loaded (\\\\.\\KCallbacks not found); start it with `sc start kcallbacks`"
            ),
            Self::AccessDenied => write!(
                f,
                "access denied opening \\\\.\\KCallbacks: the device admits only SYSTEM and Administrators; run from an elevated prompt"
            ),
            Self::Request { what, code } => write!(f, "{what} failed: Win32 error {code}"),
            Self::BadReply(why) => write!(f, "unexpected reply from the driver: {why}"),
            Self::Usage(why) => write!(f, "{why}\n{USAGE}"),
            Self::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// Usage text.
pub const USAGE: &str = "usage: kcbctl report | events [--json] [--follow]";

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `report`: what the driver registered.
    Report,
    /// `events`: read and print events.
    Events {
        /// One JSON object per line.
        json: bool,
        /// Keep polling.
        follow: bool,
    },
}

/// Parses arguments (without the program name).
///
/// # Errors
/// [`Error::Usage`] for anything else.
pub fn parse_args(args: &[String]) -> Result<Command, Error> {
    let (first, rest) = args.split_first().ok_or_else(|| Error::Usage("no command".into()))?;
    match first.as_str() {
        "report" if rest.is_empty() => Ok(Command::Report),
        "events" => {
            let (mut json, mut follow) = (false, false);
            for arg in rest {
                match arg.as_str() {
                    "--json" => json = true,
                    "--follow" => follow = true,
                    other => return Err(Error::Usage(format!("unknown option {other}"))),
                }
            }
            Ok(Command::Events { json, follow })
        }
        other => Err(Error::Usage(format!("unknown command or arguments: {other}"))),
    }
}

fn request<T: Pod>(value: &T) -> &[u8] {
    bytes_of(value)
}

/// `kcbctl report`: prints the registration report.
///
/// # Errors
/// Driver or output errors.
pub fn report(driver: &mut dyn Driver, out: &mut dyn Write) -> Result<(), Error> {
    let reply = driver.control(IOCTL_KCB_GET_REPORT, request(&GetReportRequest::new()), REPORT_BUFFER_SIZE)?;
    let report = decode_report(&reply).map_err(|e| Error::BadReply(e.to_string()))?;
    let header = report.header;
    writeln!(out, "kcallbacks {}", header.driver_version_str())?;
    for entry in report.entries.iter() {
        let state = entry.state().map_or("?", |s| s.name());
        writeln!(out, "  {:<48} {:<12} status=0x{:08X}", entry.name_str(), state, entry.status.cast_unsigned())?;
    }
    writeln!(
        out,
        "{} registered, {} failed, {} disabled ({} entries)",
        header.registered, header.failed, header.disabled, header.entry_count
    )?;
    Ok(())
}

/// Records per `READ_EVENTS` request.
pub const EVENTS_PER_READ: usize = 64;

/// Reads one batch of events and prints them; returns how many were printed.
///
/// # Errors
/// Driver or output errors.
pub fn events_once(driver: &mut dyn Driver, json: bool, out: &mut dyn Write) -> Result<usize, Error> {
    let output_len = kcb_proto::read_events_buffer_size(EVENTS_PER_READ);
    let reply = driver.control(
        IOCTL_KCB_READ_EVENTS,
        request(&ReadEventsRequest::new(EVENTS_PER_READ as u32)),
        output_len,
    )?;
    let batch = decode_read_events(&reply).map_err(|e| Error::BadReply(e.to_string()))?;
    let mut printed = 0;
    for record in batch.records() {
        let record = record.map_err(|e| Error::BadReply(e.to_string()))?;
        let mut line = String::with_capacity(RECORD_SIZE);
        let result = if json { write_json(&record, &mut line) } else { write_text(&record, &mut line) };
        result.map_err(|_| Error::BadReply("formatting failed".into()))?;
        let _ = writeln!(line);
        out.write_all(line.as_bytes())?;
        printed += 1;
    }
    Ok(printed)
}

/// Runs a command.
///
/// # Errors
/// Driver or output errors.
pub fn run(command: &Command, driver: &mut dyn Driver, out: &mut dyn Write) -> Result<(), Error> {
    match command {
        Command::Report => report(driver, out),
        Command::Events { json, follow } => loop {
            let n = events_once(driver, *json, out)?;
            out.flush()?;
            if !*follow {
                return Ok(());
            }
            if n < EVENTS_PER_READ {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        },
    }
}
