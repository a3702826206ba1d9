//! `IOCTL_KCB_GET_REPORT`: one entry per registration attempt, a list
//! reply ([`super::list`]).

use core::mem::size_of;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::list::{List, decode_list, list_header, write_list};
use super::wire::{ascii_field, ascii_str, described_codes, u32_sat, wire_enum};
use crate::error::DecodeError;
use crate::ioctl::codes::{PROTOCOL_VERSION, RequestError};

/// Most entries in a report.
pub const MAX_REPORT_ENTRIES: usize = 64;

wire_enum! {
    /// Outcome of one registration attempt.
    pub enum RegistrationState: u32, from_u32 {
        /// The routine is registered.
        Registered = 1 => "registered",
        /// Registration failed (`status` holds the NTSTATUS).
        Failed = 2 => "failed",
        /// Not attempted: disabled by configuration.
        DisabledByConfig = 3 => "disabled",
        /// The API is not available on this system.
        NotAvailable = 4 => "not-available",
        /// Was registered, since removed.
        Removed = 5 => "removed",
    }
}

/// `IOCTL_KCB_GET_REPORT` output header, followed by `returned`
/// [`ReportEntry`]s.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ReportHeader {
    /// [`PROTOCOL_VERSION`].
    pub version: u32,
    /// Driver version, ASCII, NUL-padded.
    pub driver_version: [u8; 16],
    /// Total entries the driver has (may exceed `returned`).
    pub entry_count: u32,
    /// Entries present in this buffer.
    pub returned: u32,
    /// Entries in state `Registered`.
    pub registered: u32,
    /// Entries in state `Failed`.
    pub failed: u32,
    /// Entries in state `DisabledByConfig`.
    pub disabled: u32,
}

/// One registration in the report.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ReportEntry {
    /// API name, ASCII, NUL-padded (e.g. `PsSetLoadImageNotifyRoutineEx`).
    pub name: [u8; 48],
    /// Raw [`RegistrationState`].
    pub state: u32,
    /// NTSTATUS of the registration call.
    pub status: i32,
    /// API-specific detail (e.g. altitude, index, flags).
    pub detail: u32,
}

list_header!(ReportHeader => ReportEntry, max MAX_REPORT_ENTRIES, total entry_count);

const _: () = {
    assert!(size_of::<ReportHeader>() == 40);
    assert!(size_of::<ReportEntry>() == 60);
};

described_codes! {
    /// Values of [`ReportEntry::detail`]: why a registration is not in place
    /// beyond its NTSTATUS.
    pub mod report_detail {
        /// Nothing to add.
        NONE = 0 => "",
        /// The routine returned success but no object (Wine's `ExCreateCallback`).
        SUCCESS_WITHOUT_OBJECT = 1 => "success without an object",
        /// The callback object allows a single callback and already has one.
        SINGLE_CALLBACK_TAKEN = 2 => "object allows a single callback and has one",
        /// The routine is not exported by this system's kernel.
        NOT_EXPORTED = 3 => "not exported by this system",
        /// The object does not exist on this system.
        NO_SUCH_OBJECT = 4 => "no such object on this system",
        /// Registered only when the driver is started at boot (`Start` = 0).
        NOT_BOOT_START = 5 => "not started at boot",
        /// Exported, but its prototype is undocumented: not called.
        UNDOCUMENTED_PROTOTYPE = 6 => "exported, but its prototype is undocumented",
    }
}

impl ReportEntry {
    /// An entry for API `name` (cut to 48 ASCII bytes).
    #[must_use]
    pub fn new(name: &str, state: RegistrationState, status: i32, detail: u32) -> Self {
        Self {
            name: ascii_field(name),
            state: state as u32,
            status,
            detail,
        }
    }

    /// The API name.
    #[must_use]
    pub fn name_str(&self) -> &str {
        ascii_str(&self.name)
    }

    /// The state, if it is a known value.
    #[must_use]
    pub const fn state(&self) -> Option<RegistrationState> {
        RegistrationState::from_u32(self.state)
    }
}

impl ReportHeader {
    /// The driver version string.
    #[must_use]
    pub fn driver_version_str(&self) -> &str {
        ascii_str(&self.driver_version)
    }
}

/// Output buffer size that always holds a full report.
pub const REPORT_BUFFER_SIZE: usize =
    size_of::<ReportHeader>() + MAX_REPORT_ENTRIES * size_of::<ReportEntry>();

/// Driver side: writes a report for `entries` into `out`.
///
/// At most [`MAX_REPORT_ENTRIES`] are sent, as many whole entries as fit.
/// The header's counts are computed from all `entries`. Returns the bytes
/// written.
///
/// # Errors
/// [`RequestError::TooSmall`] if `out` cannot hold the header.
pub fn write_report(
    out: &mut [u8],
    driver_version: &str,
    entries: &[ReportEntry],
) -> Result<usize, RequestError> {
    let count_state = |s: RegistrationState| u32_sat(entries.iter().filter(|e| e.state == s as u32).count());
    let header = ReportHeader {
        version: PROTOCOL_VERSION,
        driver_version: ascii_field(driver_version),
        entry_count: 0,
        returned: 0,
        registered: count_state(RegistrationState::Registered),
        failed: count_state(RegistrationState::Failed),
        disabled: count_state(RegistrationState::DisabledByConfig),
    };
    write_list(out, header, entries)
}

/// A decoded report.
pub type Report<'a> = List<'a, ReportHeader>;

/// Client side: decodes a `GET_REPORT` reply.
///
/// # Errors
/// Short buffer, wrong version, `returned > entry_count` or
/// `returned > MAX_REPORT_ENTRIES`. Never panics.
pub fn decode_report(bytes: &[u8]) -> Result<Report<'_>, DecodeError> {
    decode_list(bytes)
}
