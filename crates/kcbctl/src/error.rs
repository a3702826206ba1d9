//! Errors, and readable messages for the Win32 codes `DeviceIoControl`
//! reports.
//!
//! The driver completes a bad request with an NTSTATUS; the I/O manager turns
//! it into the Win32 code `GetLastError` returns. The pairs that matter here
//! (see `kcb_proto::RequestError::ntstatus`):
//!
//! | driver NTSTATUS | Win32 code | meaning for kcbctl |
//! |---|---|---|
//! | `STATUS_INVALID_DEVICE_REQUEST` | 1 `ERROR_INVALID_FUNCTION` | unknown request, or a feature the configuration disables |
//! | `STATUS_INFO_LENGTH_MISMATCH` | 24 `ERROR_BAD_LENGTH` | request struct size differs (kcbctl and driver from different builds) |
//! | `STATUS_INVALID_PARAMETER` | 87 `ERROR_INVALID_PARAMETER` | a field out of range |
//! | `STATUS_BUFFER_TOO_SMALL` | 122 `ERROR_INSUFFICIENT_BUFFER` | output buffer too small for the reply |
//! | `STATUS_REVISION_MISMATCH` | 1306 `ERROR_REVISION_MISMATCH` | protocol version differs |

use std::fmt;
use std::io;

use kcb_proto::{DecodeError, Ioctl, PROTOCOL_VERSION};

use crate::dump::DumpError;

/// Path of the driver's control device, as `CreateFileW` sees it.
pub const DEVICE_PATH: &str = r"\\.\KCallbacks";

macro_rules! parameters_key {
    () => {
        r"HKLM\SYSTEM\CurrentControlSet\Services\kcallbacks\Parameters"
    };
}

/// Registry key holding the driver's settings (`Enable<Source>` values).
pub const PARAMETERS_KEY: &str = parameters_key!();

/// `ERROR_INVALID_FUNCTION`.
pub const ERROR_INVALID_FUNCTION: u32 = 1;
/// `ERROR_FILE_NOT_FOUND`.
pub const ERROR_FILE_NOT_FOUND: u32 = 2;
/// `ERROR_PATH_NOT_FOUND`.
pub const ERROR_PATH_NOT_FOUND: u32 = 3;
/// `ERROR_ACCESS_DENIED`.
pub const ERROR_ACCESS_DENIED: u32 = 5;
/// `ERROR_BAD_LENGTH`.
pub const ERROR_BAD_LENGTH: u32 = 24;
/// `ERROR_NOT_SUPPORTED`.
pub const ERROR_NOT_SUPPORTED: u32 = 50;
/// `ERROR_INVALID_PARAMETER`.
pub const ERROR_INVALID_PARAMETER: u32 = 87;
/// `ERROR_INSUFFICIENT_BUFFER`.
pub const ERROR_INSUFFICIENT_BUFFER: u32 = 122;
/// `ERROR_MORE_DATA`.
pub const ERROR_MORE_DATA: u32 = 234;
/// `ERROR_REVISION_MISMATCH`.
pub const ERROR_REVISION_MISMATCH: u32 = 1306;

/// The standard text of Win32 error `code`, for the codes a device client
/// can meet. `None` for others (on Windows the system's message table is
/// consulted next, see [`Error`]'s `Display`).
#[must_use]
pub const fn win32_message(code: u32) -> Option<&'static str> {
    Some(match code {
        0 => "success",
        ERROR_INVALID_FUNCTION => "incorrect function (the driver does not serve this request)",
        ERROR_FILE_NOT_FOUND => "file not found",
        ERROR_PATH_NOT_FOUND => "path not found",
        ERROR_ACCESS_DENIED => "access denied",
        6 => "invalid handle",
        8 => "not enough memory",
        14 => "not enough memory (out of memory)",
        20 => "the system cannot find the device specified",
        21 => "the device is not ready",
        ERROR_BAD_LENGTH => "the program issued a command but the command length is incorrect",
        31 => "a device attached to the system is not functioning",
        32 => "sharing violation: the device is in use by another process",
        ERROR_NOT_SUPPORTED => "the request is not supported",
        55 => "the device is no longer available",
        ERROR_INVALID_PARAMETER => "the parameter is incorrect",
        ERROR_INSUFFICIENT_BUFFER => "the data area passed to a system call is too small",
        123 => "the file name, directory name, or volume label syntax is incorrect",
        161 => "the specified path is invalid",
        170 => "the requested resource is in use",
        ERROR_MORE_DATA => "more data is available than fits in the buffer",
        995 => "the I/O operation was aborted",
        998 => "invalid access to memory location",
        1117 => "the request could not be performed because of an I/O device error",
        1167 => "the device is not connected",
        ERROR_REVISION_MISMATCH => "revision mismatch",
        1314 => "a required privilege is not held by the client",
        1450 => "insufficient system resources to complete the request",
        1784 => "the supplied user buffer is not valid for the requested operation",
        _ => return None,
    })
}

/// What a failed request most likely means for kcbctl, beyond the code's
/// standard text.
#[must_use]
pub const fn request_hint(ioctl: Ioctl, code: u32) -> Option<&'static str> {
    Some(match (ioctl, code) {
        (Ioctl::Flood, ERROR_INVALID_FUNCTION | ERROR_NOT_SUPPORTED | ERROR_ACCESS_DENIED) => {
            concat!(
                "the flood test switch is off: set the REG_DWORD value EnableFlood=1 under ",
                parameters_key!(),
                " and restart the driver (or the driver predates IOCTL_KCB_FLOOD)"
            )
        }
        (Ioctl::Notify, ERROR_NOT_SUPPORTED) => {
            "the driver has no callback object of its own (creating \\Callback\\KCallbacks \
             failed when it loaded: see `kcbctl report`)"
        }
        (_, ERROR_INVALID_FUNCTION) => {
            "the driver does not know this request: it is older than this kcbctl, or the \
             feature is disabled by its configuration"
        }
        (_, ERROR_NOT_SUPPORTED) => "the driver does not support this request in its configuration",
        (_, ERROR_REVISION_MISMATCH) => {
            "kcbctl and the driver speak different protocol versions: use the kcbctl built \
             with this driver"
        }
        (_, ERROR_BAD_LENGTH) => {
            "the driver expects a request of another size: kcbctl and the driver were built \
             from different kcb-proto versions"
        }
        (_, ERROR_INSUFFICIENT_BUFFER | ERROR_MORE_DATA) => {
            "the reply did not fit in kcbctl's buffer: the driver is newer than this kcbctl"
        }
        (_, ERROR_INVALID_PARAMETER) => "the driver rejected a field of the request",
        (_, ERROR_ACCESS_DENIED) => {
            "the device admits only SYSTEM and Administrators: run from an elevated prompt"
        }
        _ => return None,
    })
}

/// What can go wrong.
#[derive(Debug)]
pub enum Error {
    /// `\\.\KCallbacks` does not exist: the driver is not loaded.
    NotLoaded,
    /// Opening the device was refused (not SYSTEM or an administrator).
    AccessDenied,
    /// Opening the device failed with another Win32 error.
    Open {
        /// `GetLastError()`.
        code: u32,
    },
    /// A request failed with this Win32 error code.
    Request {
        /// Which request.
        ioctl: Ioctl,
        /// `GetLastError()`.
        code: u32,
    },
    /// The driver's reply did not decode.
    BadReply {
        /// Which request.
        ioctl: Ioctl,
        /// Why.
        error: DecodeError,
    },
    /// Command-line usage error.
    Usage(String),
    /// Reading an input file failed.
    File {
        /// The path given.
        path: String,
        /// Why.
        error: io::Error,
    },
    /// A crash-dump blob is malformed.
    Dump(DumpError),
    /// Some records of a dump or a batch were invalid (already reported
    /// one by one on stderr).
    InvalidRecords {
        /// Invalid records.
        invalid: usize,
        /// Records in total.
        total: usize,
    },
    /// Some sections of `status` could not be obtained (already reported).
    Incomplete(Vec<&'static str>),
    /// Writing the output failed.
    Io(io::Error),
}

impl Error {
    /// The process exit code for this error: 2 for usage errors, 1 otherwise.
    #[must_use]
    pub const fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            _ => 1,
        }
    }

    /// Whether this is a write to a closed pipe (e.g. `kcbctl events | head`),
    /// which ends the output normally.
    #[must_use]
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Self::Io(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// Writes "message (Win32 error N)" with the best text available.
fn write_win32(f: &mut fmt::Formatter<'_>, code: u32) -> fmt::Result {
    if let Some(text) = win32_message(code) {
        return write!(f, "{text} (Win32 error {code})");
    }
    match crate::device::system_message(code) {
        Some(text) => write!(f, "{text} (Win32 error {code})"),
        None => write!(f, "Win32 error {code} (0x{code:08X})"),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotLoaded => write!(
                f,
                "the kcallbacks driver is not loaded ({DEVICE_PATH} not found); start it from an \
                 elevated prompt with `sc start kcallbacks` (after `sc create kcallbacks type= \
                 kernel binPath= <path>\\kcallbacks.sys` if the service does not exist)"
            ),
            Self::AccessDenied => write!(
                f,
                "access denied opening {DEVICE_PATH}: the device admits only SYSTEM and \
                 Administrators; run kcbctl from an elevated prompt"
            ),
            Self::Open { code } => {
                write!(f, "opening {DEVICE_PATH} failed: ")?;
                write_win32(f, *code)
            }
            Self::Request { ioctl, code } => {
                write!(f, "{} failed: ", ioctl.name())?;
                write_win32(f, *code)?;
                if let Some(hint) = request_hint(*ioctl, *code) {
                    write!(f, "; {hint}")?;
                }
                Ok(())
            }
            Self::BadReply { ioctl, error } => {
                write!(f, "unexpected reply to {}: {error}", ioctl.name())?;
                if matches!(error, DecodeError::UnsupportedVersion(_)) {
                    write!(
                        f,
                        " (this kcbctl speaks protocol version {PROTOCOL_VERSION}: use the kcbctl \
                         built with this driver)"
                    )?;
                }
                Ok(())
            }
            Self::Usage(why) => write!(f, "{why}\n{}", crate::cli::USAGE),
            Self::File { path, error } => write!(f, "cannot read {path}: {error}"),
            Self::Dump(e) => write!(f, "not a valid flight-recorder blob: {e}"),
            Self::InvalidRecords { invalid, total } => {
                write!(f, "{invalid} of {total} records were invalid (see above)")
            }
            Self::Incomplete(parts) => write!(f, "could not get: {}", parts.join(", ")),
            Self::Io(e) => write!(f, "writing the output failed: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<DumpError> for Error {
    fn from(e: DumpError) -> Self {
        Self::Dump(e)
    }
}
