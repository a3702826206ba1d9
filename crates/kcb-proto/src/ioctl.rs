//! The IOCTL protocol between `kcbctl` and the driver.
//!
//! All transfers are `METHOD_BUFFERED`. Every request input starts with a
//! [`RequestHeader`]; the driver decodes it with [`decode_request`] (which
//! copies, never keeping a reference to the caller's buffer) and answers with
//! the `write_*` helpers. The client builds requests with their `new`
//! constructors, sends them as [`bytes_of`](crate::bytes_of), and validates the reply with the
//! `decode_*` functions, which never panic on short or garbage input.
//!
//! Integers are in the native (little-endian) byte order of the machine: the
//! driver and the client always run on the same one.

use core::fmt;
use core::marker::PhantomData;
use core::mem::size_of;

use crate::pod::{Pod, read_pod, write_pod, zeroed};
use crate::record::{DecodeError, EventRecord, RECORD_SIZE};
use crate::source::SOURCE_COUNT;
use crate::stream::{self, Records, STREAM_VERSION, StreamWriter, decode_records, retired};
use crate::wstr::WStr;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Version of the IOCTL request/response layouts.
pub const PROTOCOL_VERSION: u32 = 1;

/// The driver's device type (in the customer range 0x8000..=0xFFFF).
pub const FILE_DEVICE_KCALLBACKS: u32 = 0x8CB0;

/// `METHOD_BUFFERED`.
pub const METHOD_BUFFERED: u32 = 0;
/// `METHOD_IN_DIRECT`.
pub const METHOD_IN_DIRECT: u32 = 1;
/// `METHOD_OUT_DIRECT`.
pub const METHOD_OUT_DIRECT: u32 = 2;
/// `METHOD_NEITHER`.
pub const METHOD_NEITHER: u32 = 3;
/// `FILE_ANY_ACCESS`.
pub const FILE_ANY_ACCESS: u32 = 0;
/// `FILE_READ_ACCESS`.
pub const FILE_READ_ACCESS: u32 = 1;
/// `FILE_WRITE_ACCESS`.
pub const FILE_WRITE_ACCESS: u32 = 2;

/// The Windows `CTL_CODE` macro:
/// `(device_type << 16) | (access << 14) | (function << 2) | method`.
#[must_use]
pub const fn ctl_code(device_type: u32, function: u32, method: u32, access: u32) -> u32 {
    (device_type << 16) | (access << 14) | (function << 2) | method
}

/// The transfer method of an I/O control code (its low two bits:
/// [`METHOD_BUFFERED`], [`METHOD_IN_DIRECT`], [`METHOD_OUT_DIRECT`] or
/// [`METHOD_NEITHER`]).
#[must_use]
pub const fn transfer_method(code: u32) -> u32 {
    code & 3
}

/// Returns the registration report ([`ReportHeader`] + [`ReportEntry`]s).
pub const IOCTL_KCB_GET_REPORT: u32 =
    ctl_code(FILE_DEVICE_KCALLBACKS, 0x800, METHOD_BUFFERED, FILE_READ_ACCESS);
/// Pops events ([`ReadEventsRequest`] -> [`ReadEventsResponse`] + records).
pub const IOCTL_KCB_READ_EVENTS: u32 =
    ctl_code(FILE_DEVICE_KCALLBACKS, 0x801, METHOD_BUFFERED, FILE_READ_ACCESS);
/// Returns counters ([`StatsResponse`]).
pub const IOCTL_KCB_GET_STATS: u32 =
    ctl_code(FILE_DEVICE_KCALLBACKS, 0x802, METHOD_BUFFERED, FILE_READ_ACCESS);
/// Returns the effective configuration ([`ConfigResponse`]).
pub const IOCTL_KCB_GET_CONFIG: u32 =
    ctl_code(FILE_DEVICE_KCALLBACKS, 0x803, METHOD_BUFFERED, FILE_READ_ACCESS);
/// Calls `ExNotifyCallback` on the driver's own callback object ([`NotifyRequest`]).
pub const IOCTL_KCB_NOTIFY: u32 = ctl_code(FILE_DEVICE_KCALLBACKS, 0x804, METHOD_BUFFERED, FILE_WRITE_ACCESS);
/// Lists the observed callback objects ([`CallbackObjectListHeader`] + entries).
pub const IOCTL_KCB_LIST_CALLBACK_OBJECTS: u32 =
    ctl_code(FILE_DEVICE_KCALLBACKS, 0x805, METHOD_BUFFERED, FILE_READ_ACCESS);
/// Pushes a synthetic burst into the ring ([`FloodRequest`] -> [`FloodResponse`]).
pub const IOCTL_KCB_FLOOD: u32 = ctl_code(FILE_DEVICE_KCALLBACKS, 0x806, METHOD_BUFFERED, FILE_WRITE_ACCESS);

/// Lists the routines registered on each callback object.
///
/// [`ListRegistrationsRequest`] -> [`RegistrationListHeader`] +
/// [`RegistrationEntry`]s. Opt-in: the driver refuses it with
/// `STATUS_NOT_SUPPORTED` unless `EnableRegistrationWalk` = 1.
pub const IOCTL_KCB_LIST_REGISTRATIONS: u32 =
    ctl_code(FILE_DEVICE_KCALLBACKS, 0x807, METHOD_BUFFERED, FILE_READ_ACCESS);
/// Returns the time spent in each source's notify routines
/// ([`QueryCostRequest`] -> [`CostResponse`](crate::CostResponse)).
pub const IOCTL_KCB_QUERY_COST: u32 =
    ctl_code(FILE_DEVICE_KCALLBACKS, 0x808, METHOD_BUFFERED, FILE_READ_ACCESS);

/// NTSTATUS values used by the protocol.
#[allow(
    clippy::cast_possible_wrap,
    reason = "NTSTATUS values are defined as unsigned hex literals"
)]
pub mod status {
    /// `STATUS_SUCCESS`.
    pub const STATUS_SUCCESS: i32 = 0;
    /// `STATUS_INFO_LENGTH_MISMATCH`.
    pub const STATUS_INFO_LENGTH_MISMATCH: i32 = 0xC000_0004_u32 as i32;
    /// `STATUS_INVALID_PARAMETER`.
    pub const STATUS_INVALID_PARAMETER: i32 = 0xC000_000D_u32 as i32;
    /// `STATUS_INVALID_DEVICE_REQUEST`.
    pub const STATUS_INVALID_DEVICE_REQUEST: i32 = 0xC000_0010_u32 as i32;
    /// `STATUS_BUFFER_TOO_SMALL`.
    pub const STATUS_BUFFER_TOO_SMALL: i32 = 0xC000_0023_u32 as i32;
    /// `STATUS_REVISION_MISMATCH`.
    pub const STATUS_REVISION_MISMATCH: i32 = 0xC000_0059_u32 as i32;
}

/// The driver's IOCTLs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ioctl {
    /// [`IOCTL_KCB_GET_REPORT`].
    GetReport,
    /// [`IOCTL_KCB_READ_EVENTS`].
    ReadEvents,
    /// [`IOCTL_KCB_GET_STATS`].
    GetStats,
    /// [`IOCTL_KCB_GET_CONFIG`].
    GetConfig,
    /// [`IOCTL_KCB_NOTIFY`].
    Notify,
    /// [`IOCTL_KCB_LIST_CALLBACK_OBJECTS`].
    ListCallbackObjects,
    /// [`IOCTL_KCB_FLOOD`].
    Flood,
    /// [`IOCTL_KCB_LIST_REGISTRATIONS`].
    ListRegistrations,
    /// [`IOCTL_KCB_QUERY_COST`].
    QueryCost,
}

impl Ioctl {
    /// Every IOCTL.
    pub const ALL: [Self; 9] = [
        Self::GetReport,
        Self::ReadEvents,
        Self::GetStats,
        Self::GetConfig,
        Self::Notify,
        Self::ListCallbackObjects,
        Self::Flood,
        Self::ListRegistrations,
        Self::QueryCost,
    ];

    /// The control code.
    #[must_use]
    pub const fn code(self) -> u32 {
        match self {
            Self::GetReport => IOCTL_KCB_GET_REPORT,
            Self::ReadEvents => IOCTL_KCB_READ_EVENTS,
            Self::GetStats => IOCTL_KCB_GET_STATS,
            Self::GetConfig => IOCTL_KCB_GET_CONFIG,
            Self::Notify => IOCTL_KCB_NOTIFY,
            Self::ListCallbackObjects => IOCTL_KCB_LIST_CALLBACK_OBJECTS,
            Self::Flood => IOCTL_KCB_FLOOD,
            Self::ListRegistrations => IOCTL_KCB_LIST_REGISTRATIONS,
            Self::QueryCost => IOCTL_KCB_QUERY_COST,
        }
    }

    /// The IOCTL with control code `code`.
    ///
    /// # Errors
    /// [`RequestError::UnknownCode`] for any other code.
    pub const fn from_code(code: u32) -> Result<Self, RequestError> {
        match code {
            IOCTL_KCB_GET_REPORT => Ok(Self::GetReport),
            IOCTL_KCB_READ_EVENTS => Ok(Self::ReadEvents),
            IOCTL_KCB_GET_STATS => Ok(Self::GetStats),
            IOCTL_KCB_GET_CONFIG => Ok(Self::GetConfig),
            IOCTL_KCB_NOTIFY => Ok(Self::Notify),
            IOCTL_KCB_LIST_CALLBACK_OBJECTS => Ok(Self::ListCallbackObjects),
            IOCTL_KCB_FLOOD => Ok(Self::Flood),
            IOCTL_KCB_LIST_REGISTRATIONS => Ok(Self::ListRegistrations),
            IOCTL_KCB_QUERY_COST => Ok(Self::QueryCost),
            _ => Err(RequestError::UnknownCode),
        }
    }

    /// The constant's name, e.g. `"IOCTL_KCB_GET_REPORT"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::GetReport => "IOCTL_KCB_GET_REPORT",
            Self::ReadEvents => "IOCTL_KCB_READ_EVENTS",
            Self::GetStats => "IOCTL_KCB_GET_STATS",
            Self::GetConfig => "IOCTL_KCB_GET_CONFIG",
            Self::Notify => "IOCTL_KCB_NOTIFY",
            Self::ListCallbackObjects => "IOCTL_KCB_LIST_CALLBACK_OBJECTS",
            Self::Flood => "IOCTL_KCB_FLOOD",
            Self::ListRegistrations => "IOCTL_KCB_LIST_REGISTRATIONS",
            Self::QueryCost => "IOCTL_KCB_QUERY_COST",
        }
    }
}

/// Why a request could not be served; maps to the NTSTATUS the driver
/// completes the IRP with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// Input shorter than a [`RequestHeader`], or output buffer too small
    /// for the fixed part of the response.
    TooSmall,
    /// [`RequestHeader::version`] is not [`PROTOCOL_VERSION`].
    WrongVersion,
    /// [`RequestHeader::size`] or the input length does not match the
    /// request struct.
    WrongSize,
    /// A field is out of range (non-zero reserved field, unknown flag, bad count).
    InvalidParameter,
    /// The control code is not one of the driver's.
    UnknownCode,
}

impl RequestError {
    /// The NTSTATUS to complete the request with.
    #[must_use]
    pub const fn ntstatus(self) -> i32 {
        match self {
            Self::TooSmall => status::STATUS_BUFFER_TOO_SMALL,
            Self::WrongVersion => status::STATUS_REVISION_MISMATCH,
            Self::WrongSize => status::STATUS_INFO_LENGTH_MISMATCH,
            Self::InvalidParameter => status::STATUS_INVALID_PARAMETER,
            Self::UnknownCode => status::STATUS_INVALID_DEVICE_REQUEST,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooSmall => "buffer too small",
            Self::WrongVersion => "protocol version mismatch",
            Self::WrongSize => "request size mismatch",
            Self::InvalidParameter => "invalid parameter",
            Self::UnknownCode => "unknown control code",
        })
    }
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// The first 8 bytes of every request input.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct RequestHeader {
    /// [`PROTOCOL_VERSION`].
    pub version: u32,
    /// Size in bytes of the whole request struct.
    pub size: u32,
}

impl RequestHeader {
    /// The header for request type `T`.
    #[must_use]
    pub const fn for_request<T: Request>() -> Self {
        // Request structs are a few dozen bytes (asserted per type).
        #[allow(clippy::cast_possible_truncation, reason = "request sizes are tiny")]
        let size = size_of::<T>() as u32;
        Self {
            version: PROTOCOL_VERSION,
            size,
        }
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A request input struct.
pub trait Request: Pod + sealed::Sealed {
    /// The IOCTL that carries this request.
    const IOCTL: Ioctl;

    /// The header.
    fn header(&self) -> &RequestHeader;

    /// Checks the fields beyond the header.
    ///
    /// # Errors
    /// [`RequestError::InvalidParameter`].
    fn check(&self) -> Result<(), RequestError> {
        Ok(())
    }
}

macro_rules! requests {
    ($( $ty:ident ),* $(,)?) => {
        $(
            impl sealed::Sealed for $ty {}
            const _: () = assert!(size_of::<$ty>() <= 64);
        )*
    };
}

/// `IOCTL_KCB_GET_REPORT` input.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GetReportRequest {
    /// Header.
    pub header: RequestHeader,
}

/// `IOCTL_KCB_GET_STATS` input.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GetStatsRequest {
    /// Header.
    pub header: RequestHeader,
}

/// `IOCTL_KCB_GET_CONFIG` input.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GetConfigRequest {
    /// Header.
    pub header: RequestHeader,
}

/// `IOCTL_KCB_LIST_CALLBACK_OBJECTS` input.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ListCallbackObjectsRequest {
    /// Header.
    pub header: RequestHeader,
}

/// `IOCTL_KCB_QUERY_COST` input.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct QueryCostRequest {
    /// Header.
    pub header: RequestHeader,
}

/// `IOCTL_KCB_LIST_REGISTRATIONS` input.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ListRegistrationsRequest {
    /// Header.
    pub header: RequestHeader,
}

/// Mask of the [`ReadEventsRequest::flags`] bits this version defines
/// (none yet: any set bit is rejected).
pub const READ_EVENTS_VALID_FLAGS: u32 = 0;

/// `IOCTL_KCB_READ_EVENTS` input.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ReadEventsRequest {
    /// Header.
    pub header: RequestHeader,
    /// Most records to return; 0 = as many as fit in the output buffer.
    pub max_records: u32,
    /// Must be zero (see [`READ_EVENTS_VALID_FLAGS`]).
    pub flags: u32,
}

/// `IOCTL_KCB_NOTIFY` input: the arguments passed to `ExNotifyCallback`.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct NotifyRequest {
    /// Header.
    pub header: RequestHeader,
    /// `Argument1`.
    pub argument1: u64,
    /// `Argument2`.
    pub argument2: u64,
}

/// Largest accepted [`FloodRequest::count`].
pub const MAX_FLOOD_COUNT: u32 = 1_000_000;

/// `IOCTL_KCB_FLOOD` input.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct FloodRequest {
    /// Header.
    pub header: RequestHeader,
    /// Records to push, `1..=MAX_FLOOD_COUNT`.
    pub count: u32,
    /// Reserved, must be zero.
    pub reserved: u32,
}

requests! {
    GetReportRequest,
    ReadEventsRequest,
    GetStatsRequest,
    GetConfigRequest,
    NotifyRequest,
    ListCallbackObjectsRequest,
    FloodRequest,
    ListRegistrationsRequest,
    QueryCostRequest,
}

impl Request for GetReportRequest {
    const IOCTL: Ioctl = Ioctl::GetReport;
    fn header(&self) -> &RequestHeader {
        &self.header
    }
}

impl Request for GetStatsRequest {
    const IOCTL: Ioctl = Ioctl::GetStats;
    fn header(&self) -> &RequestHeader {
        &self.header
    }
}

impl Request for GetConfigRequest {
    const IOCTL: Ioctl = Ioctl::GetConfig;
    fn header(&self) -> &RequestHeader {
        &self.header
    }
}

impl Request for ListCallbackObjectsRequest {
    const IOCTL: Ioctl = Ioctl::ListCallbackObjects;
    fn header(&self) -> &RequestHeader {
        &self.header
    }
}

impl Request for ListRegistrationsRequest {
    const IOCTL: Ioctl = Ioctl::ListRegistrations;
    fn header(&self) -> &RequestHeader {
        &self.header
    }
}

impl Request for QueryCostRequest {
    const IOCTL: Ioctl = Ioctl::QueryCost;
    fn header(&self) -> &RequestHeader {
        &self.header
    }
}

impl Request for ReadEventsRequest {
    const IOCTL: Ioctl = Ioctl::ReadEvents;
    fn header(&self) -> &RequestHeader {
        &self.header
    }
    fn check(&self) -> Result<(), RequestError> {
        if self.flags & !READ_EVENTS_VALID_FLAGS != 0 {
            return Err(RequestError::InvalidParameter);
        }
        Ok(())
    }
}

impl Request for NotifyRequest {
    const IOCTL: Ioctl = Ioctl::Notify;
    fn header(&self) -> &RequestHeader {
        &self.header
    }
}

impl Request for FloodRequest {
    const IOCTL: Ioctl = Ioctl::Flood;
    fn header(&self) -> &RequestHeader {
        &self.header
    }
    fn check(&self) -> Result<(), RequestError> {
        if self.count == 0 || self.count > MAX_FLOOD_COUNT || self.reserved != 0 {
            return Err(RequestError::InvalidParameter);
        }
        Ok(())
    }
}

impl GetReportRequest {
    /// A well-formed request.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            header: RequestHeader::for_request::<Self>(),
        }
    }
}

impl GetStatsRequest {
    /// A well-formed request.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            header: RequestHeader::for_request::<Self>(),
        }
    }
}

impl GetConfigRequest {
    /// A well-formed request.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            header: RequestHeader::for_request::<Self>(),
        }
    }
}

impl ListCallbackObjectsRequest {
    /// A well-formed request.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            header: RequestHeader::for_request::<Self>(),
        }
    }
}

impl ListRegistrationsRequest {
    /// A well-formed request.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            header: RequestHeader::for_request::<Self>(),
        }
    }
}

impl QueryCostRequest {
    /// A well-formed request.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            header: RequestHeader::for_request::<Self>(),
        }
    }
}

impl ReadEventsRequest {
    /// A request for at most `max_records` records (0 = as many as fit).
    #[must_use]
    pub const fn new(max_records: u32) -> Self {
        Self {
            header: RequestHeader::for_request::<Self>(),
            max_records,
            flags: 0,
        }
    }
}

impl NotifyRequest {
    /// A request to notify with the two arguments.
    #[must_use]
    pub const fn new(argument1: u64, argument2: u64) -> Self {
        Self {
            header: RequestHeader::for_request::<Self>(),
            argument1,
            argument2,
        }
    }
}

impl FloodRequest {
    /// A request to push `count` synthetic records.
    #[must_use]
    pub const fn new(count: u32) -> Self {
        Self {
            header: RequestHeader::for_request::<Self>(),
            count,
            reserved: 0,
        }
    }
}

macro_rules! impl_default_new {
    ($($ty:ident),*) => {
        $(
            impl Default for $ty {
                fn default() -> Self {
                    Self::new()
                }
            }
        )*
    };
}

impl_default_new!(
    GetReportRequest,
    GetStatsRequest,
    GetConfigRequest,
    ListCallbackObjectsRequest,
    ListRegistrationsRequest,
    QueryCostRequest
);

/// Decodes a request of type `T` from the raw input buffer of an IRP.
///
/// The value is copied out of `input` (no reference to it is kept), then
/// checked in this order:
/// 1. `input` shorter than a [`RequestHeader`] -> [`RequestError::TooSmall`];
/// 2. `header.version != PROTOCOL_VERSION` -> [`RequestError::WrongVersion`];
/// 3. `header.size != size_of::<T>()` or `input.len() != size_of::<T>()`
///    -> [`RequestError::WrongSize`];
/// 4. [`Request::check`] -> [`RequestError::InvalidParameter`].
///
/// # Errors
/// As listed above. Never panics.
pub fn decode_request<T: Request>(input: &[u8]) -> Result<T, RequestError> {
    let header: RequestHeader = read_pod(input).ok_or(RequestError::TooSmall)?;
    if header.version != PROTOCOL_VERSION {
        return Err(RequestError::WrongVersion);
    }
    let size = size_of::<T>();
    if usize::try_from(header.size).ok() != Some(size) || input.len() != size {
        return Err(RequestError::WrongSize);
    }
    let request: T = read_pod(input).ok_or(RequestError::WrongSize)?;
    request.check()?;
    Ok(request)
}

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

/// Writes `value` at the start of `out`, returning the bytes written.
///
/// # Errors
/// [`RequestError::TooSmall`] (writing nothing) if `out` is shorter than `T`.
pub fn write_response<T: Pod>(out: &mut [u8], value: &T) -> Result<usize, RequestError> {
    write_pod(value, out).ok_or(RequestError::TooSmall)
}

/// A fixed-size response struct the client can decode and validate.
pub trait Response: Pod {
    /// Checks version and count fields.
    ///
    /// # Errors
    /// The first inconsistency found.
    fn check(&self) -> Result<(), DecodeError> {
        Ok(())
    }
}

/// Decodes a fixed-size response from the bytes the driver returned.
///
/// # Errors
/// [`DecodeError::TooShort`] if `bytes` is shorter than `T`, or what
/// [`Response::check`] reports. Never panics.
pub fn decode_response<T: Response>(bytes: &[u8]) -> Result<T, DecodeError> {
    let value: T = read_pod(bytes).ok_or(DecodeError::TooShort {
        needed: size_of::<T>(),
        actual: bytes.len(),
    })?;
    value.check()?;
    Ok(value)
}

pub(crate) const fn check_version(version: u32) -> Result<(), DecodeError> {
    if version == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(DecodeError::UnsupportedVersion(version))
    }
}

/// A read-only array of `Pod` entries in a response buffer, decoded (copied)
/// on access.
#[derive(Clone, Copy)]
pub struct PodSlice<'a, T> {
    bytes: &'a [u8],
    _marker: PhantomData<T>,
}

impl<'a, T: Pod> PodSlice<'a, T> {
    /// The first `count` entries of `bytes`.
    ///
    /// # Errors
    /// [`DecodeError::TooShort`] if `bytes` holds fewer than `count` entries.
    pub fn new(bytes: &'a [u8], count: usize) -> Result<Self, DecodeError> {
        let needed = count
            .checked_mul(size_of::<T>())
            .ok_or(DecodeError::InvalidField("count"))?;
        let bytes = bytes.get(..needed).ok_or(DecodeError::TooShort {
            needed,
            actual: bytes.len(),
        })?;
        Ok(Self {
            bytes,
            _marker: PhantomData,
        })
    }

    /// Number of entries.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.bytes.len() / size_of::<T>()
    }

    /// Whether there are no entries.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Entry `index`, if in range.
    #[must_use]
    pub fn get(&self, index: usize) -> Option<T> {
        let start = index.checked_mul(size_of::<T>())?;
        read_pod(self.bytes.get(start..)?)
    }

    /// Iterates the entries.
    #[must_use]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = T> + 'a {
        // Every chunk has exactly `size_of::<T>()` bytes, so `read_pod` succeeds.
        self.bytes
            .chunks_exact(size_of::<T>())
            .map(|chunk| read_pod(chunk).unwrap_or_else(zeroed))
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for PodSlice<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Copies `s` into a NUL-padded ASCII field, replacing non-ASCII bytes with
/// `?` and cutting at `N` bytes.
#[must_use]
pub fn ascii_field<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    for (dst, b) in out.iter_mut().zip(s.bytes()) {
        *dst = if b.is_ascii() && b != 0 { b } else { b'?' };
    }
    out
}

/// Reads a NUL-padded ASCII field (up to the first NUL); non-ASCII content
/// yields `"?"`.
#[must_use]
pub fn ascii_str(field: &[u8]) -> &str {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    let bytes = &field[..end];
    if bytes.is_ascii() {
        core::str::from_utf8(bytes).unwrap_or("?")
    } else {
        "?"
    }
}

/// Writes a header followed by as many whole entries as fit, returning the
/// bytes written and the number of entries written.
fn write_with_entries<H: Pod, E: Pod>(
    out: &mut [u8],
    header: &H,
    entries: &[E],
) -> Result<(usize, usize), RequestError> {
    let mut offset = write_response(out, header)?;
    let mut count = 0;
    for entry in entries {
        match out.get_mut(offset..).and_then(|rest| write_pod(entry, rest)) {
            Some(n) => {
                offset += n;
                count += 1;
            }
            None => break,
        }
    }
    Ok((offset, count))
}

fn u32_sat(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

// --- GET_REPORT -----------------------------------------------------------

/// Most entries in a report.
pub const MAX_REPORT_ENTRIES: usize = 64;

/// Outcome of one registration attempt.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegistrationState {
    /// The routine is registered.
    Registered = 1,
    /// Registration failed (`status` holds the NTSTATUS).
    Failed = 2,
    /// Not attempted: disabled by configuration.
    DisabledByConfig = 3,
    /// The API is not available on this system.
    NotAvailable = 4,
    /// Was registered, since removed.
    Removed = 5,
}

impl RegistrationState {
    /// Converts a raw value.
    #[must_use]
    pub const fn from_u32(value: u32) -> Option<Self> {
        match value {
            1 => Some(Self::Registered),
            2 => Some(Self::Failed),
            3 => Some(Self::DisabledByConfig),
            4 => Some(Self::NotAvailable),
            5 => Some(Self::Removed),
            _ => None,
        }
    }

    /// A short lowercase name, e.g. `"registered"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::Failed => "failed",
            Self::DisabledByConfig => "disabled",
            Self::NotAvailable => "not-available",
            Self::Removed => "removed",
        }
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

/// Values of [`ReportEntry::detail`]: why a registration is not in place
/// beyond its NTSTATUS.
pub mod report_detail {
    /// Nothing to add.
    pub const NONE: u32 = 0;
    /// The routine returned success but no object (Wine's `ExCreateCallback`).
    pub const SUCCESS_WITHOUT_OBJECT: u32 = 1;
    /// The callback object allows a single callback and already has one.
    pub const SINGLE_CALLBACK_TAKEN: u32 = 2;
    /// The routine is not exported by this system's kernel.
    pub const NOT_EXPORTED: u32 = 3;
    /// The object does not exist on this system.
    pub const NO_SUCH_OBJECT: u32 = 4;
    /// Registered only when the driver is started at boot (`Start` = 0).
    pub const NOT_BOOT_START: u32 = 5;
    /// Exported, but its prototype is undocumented: not called.
    pub const UNDOCUMENTED_PROTOTYPE: u32 = 6;

    /// A short description of `detail`, if known.
    #[must_use]
    pub const fn describe(detail: u32) -> Option<&'static str> {
        match detail {
            NONE => Some(""),
            SUCCESS_WITHOUT_OBJECT => Some("success without an object"),
            SINGLE_CALLBACK_TAKEN => Some("object allows a single callback and has one"),
            NOT_EXPORTED => Some("not exported by this system"),
            NO_SUCH_OBJECT => Some("no such object on this system"),
            NOT_BOOT_START => Some("not started at boot"),
            UNDOCUMENTED_PROTOTYPE => Some("exported, but its prototype is undocumented"),
            _ => None,
        }
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
    let mut header = ReportHeader {
        version: PROTOCOL_VERSION,
        driver_version: ascii_field(driver_version),
        entry_count: u32_sat(entries.len()),
        returned: 0,
        registered: count_state(RegistrationState::Registered),
        failed: count_state(RegistrationState::Failed),
        disabled: count_state(RegistrationState::DisabledByConfig),
    };
    let sent = &entries[..entries.len().min(MAX_REPORT_ENTRIES)];
    let (written, count) = write_with_entries(out, &header, sent)?;
    header.returned = u32_sat(count);
    write_response(out, &header)?;
    Ok(written)
}

/// A decoded report.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    /// The header.
    pub header: ReportHeader,
    /// The `header.returned` entries.
    pub entries: PodSlice<'a, ReportEntry>,
}

/// Client side: decodes a `GET_REPORT` reply.
///
/// # Errors
/// Short buffer, wrong version, `returned > entry_count` or
/// `returned > MAX_REPORT_ENTRIES`. Never panics.
pub fn decode_report(bytes: &[u8]) -> Result<Report<'_>, DecodeError> {
    let header: ReportHeader = read_pod(bytes).ok_or(DecodeError::TooShort {
        needed: size_of::<ReportHeader>(),
        actual: bytes.len(),
    })?;
    check_version(header.version)?;
    if header.returned > header.entry_count {
        return Err(DecodeError::InvalidField("returned"));
    }
    let returned = usize::try_from(header.returned).map_err(|_| DecodeError::InvalidField("returned"))?;
    if returned > MAX_REPORT_ENTRIES {
        return Err(DecodeError::InvalidField("returned"));
    }
    let entries = PodSlice::new(&bytes[size_of::<ReportHeader>()..], returned)?;
    Ok(Report { header, entries })
}

// --- READ_EVENTS ----------------------------------------------------------

/// [`ReadEventsResponse::magic`]: `KCBEVENT`.
pub const READ_EVENTS_MAGIC: [u8; 8] = *b"KCBEVENT";

/// `IOCTL_KCB_READ_EVENTS` output header (format v2), followed by
/// `returned` wire records, `length` bytes in all (at offset 40, so
/// 8-byte aligned when the buffer is; see [`crate::stream`]).
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ReadEventsResponse {
    /// [`READ_EVENTS_MAGIC`].
    pub magic: [u8; 8],
    /// [`STREAM_VERSION`](crate::stream::STREAM_VERSION) (2).
    pub version: u32,
    /// Records in this buffer.
    pub returned: u32,
    /// Bytes of records after the header.
    pub length: u32,
    /// Records left in the client queue.
    pub pending: u32,
    /// Total records dropped since the driver started.
    pub dropped_total: u64,
    /// Wire size of the next waiting record (0 if none): a reply with
    /// no record and a non-zero `next_size` asks for a larger buffer.
    pub next_size: u32,
    /// Reserved, zero.
    pub reserved: u32,
}

/// Size of the [`ReadEventsResponse`] header.
pub const READ_EVENTS_HEADER_SIZE: usize = size_of::<ReadEventsResponse>();

/// Size of the retired format-v1 reply header (`returned`, `pending`,
/// `dropped_total`, then fixed 512-byte records), recognised only to be
/// refused.
const RETIRED_READ_EVENTS_HEADER_SIZE: usize = 16;

/// Output buffer size that holds `n` records of any size.
#[must_use]
pub const fn read_events_buffer_size(n: usize) -> usize {
    READ_EVENTS_HEADER_SIZE + n * RECORD_SIZE
}

/// Driver side: fills a `READ_EVENTS` output buffer record by record,
/// whole records only.
///
/// ```
/// # use kcb_proto::*;
/// let mut out = [0u8; read_events_buffer_size(2)];
/// let mut w = ReadEventsWriter::new(&mut out, 0).unwrap();
/// let record = EventRecord::new(SourceId::Flood, 0);
/// // pop from the queue only when there is room, so nothing is lost
/// while w.fits(record.wire_len()) {
///     assert!(w.push(&record));
/// }
/// let len = w.finish(0, 0, 0);
/// // 48-byte records in room for two 512-byte ones
/// assert_eq!(decode_read_events(&out[..len]).unwrap().len(), 2 * 512 / 48);
/// ```
pub struct ReadEventsWriter<'a> {
    header: &'a mut [u8],
    records: StreamWriter<'a>,
    max_records: usize,
}

impl<'a> ReadEventsWriter<'a> {
    /// Starts a reply in `out`, limited to `max_records` records (0 = no
    /// limit besides the buffer size).
    ///
    /// # Errors
    /// [`RequestError::TooSmall`] if `out` cannot hold the header.
    pub fn new(out: &'a mut [u8], max_records: u32) -> Result<Self, RequestError> {
        if out.len() < READ_EVENTS_HEADER_SIZE {
            return Err(RequestError::TooSmall);
        }
        let (header, body) = out.split_at_mut(READ_EVENTS_HEADER_SIZE);
        let max_records = match usize::try_from(max_records) {
            Ok(max) if max != 0 => max,
            _ => usize::MAX,
        };
        Ok(Self {
            header,
            records: StreamWriter::new(body),
            max_records,
        })
    }

    /// Whether one more record of `wire_len` bytes fits (room and count).
    #[must_use]
    pub const fn fits(&self, wire_len: usize) -> bool {
        self.records.count() < self.max_records && self.records.fits(wire_len)
    }

    /// Appends a record; returns `false` (writing nothing) when it does
    /// not fit.
    pub fn push(&mut self, record: &EventRecord) -> bool {
        self.fits(record.wire_len()) && self.records.push(record)
    }

    /// Records written so far.
    #[must_use]
    pub const fn written(&self) -> usize {
        self.records.count()
    }

    /// Writes the header and returns the total bytes used (the IRP's
    /// `Information`). `next_size` is the wire size of the first record
    /// left waiting (0 if none).
    #[must_use]
    pub fn finish(self, pending: u32, dropped_total: u64, next_size: u32) -> usize {
        let header = ReadEventsResponse {
            magic: READ_EVENTS_MAGIC,
            version: STREAM_VERSION,
            returned: u32_sat(self.records.count()),
            length: u32_sat(self.records.len()),
            pending,
            dropped_total,
            next_size,
            reserved: 0,
        };
        // `new` checked that the header fits.
        let _ = write_pod(&header, self.header);
        READ_EVENTS_HEADER_SIZE + self.records.len()
    }
}

/// A decoded `READ_EVENTS` reply.
#[derive(Debug, Clone, Copy)]
pub struct EventBatch<'a> {
    /// The header.
    pub header: ReadEventsResponse,
    records: Records<'a>,
}

impl<'a> EventBatch<'a> {
    /// Number of records.
    #[must_use]
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are no records.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.records.len() == 0
    }

    /// The records, each validated by [`EventRecord::decode_wire`].
    #[must_use]
    pub fn records(&self) -> impl ExactSizeIterator<Item = Result<EventRecord, DecodeError>> + 'a {
        self.records.map(|(_, record)| record)
    }
}

/// Whether `bytes` look like a retired format-v1 reply: a 16-byte header
/// whose `returned` matches a whole number of 512-byte records, the first
/// of which (if any) says version 1.
fn is_retired_reply(bytes: &[u8]) -> bool {
    let Some(returned) = read_pod::<u32>(bytes) else {
        return false;
    };
    let expected = usize::try_from(returned)
        .ok()
        .and_then(|n| n.checked_mul(RECORD_SIZE))
        .and_then(|n| n.checked_add(RETIRED_READ_EVENTS_HEADER_SIZE));
    let first_version = bytes
        .get(RETIRED_READ_EVENTS_HEADER_SIZE..)
        .and_then(read_pod::<u16>);
    expected == Some(bytes.len())
        && (returned == 0 || first_version == Some(crate::record::RETIRED_RECORD_VERSION))
}

/// Client side: decodes a `READ_EVENTS` reply (`bytes` = the returned
/// length of the output buffer).
///
/// # Errors
/// A retired format-v1 reply ([`DecodeError::RetiredFormat`]), a wrong
/// magic or version, a short header, or framing that does not match
/// `returned` and `length` exactly ([`crate::stream::decode_records`]).
/// Individual records are validated lazily by [`EventBatch::records`].
/// Never panics.
pub fn decode_read_events(bytes: &[u8]) -> Result<EventBatch<'_>, DecodeError> {
    if !bytes.starts_with(&READ_EVENTS_MAGIC) {
        if is_retired_reply(bytes) {
            return Err(retired());
        }
        return Err(if bytes.len() < READ_EVENTS_MAGIC.len() {
            DecodeError::TooShort {
                needed: READ_EVENTS_HEADER_SIZE,
                actual: bytes.len(),
            }
        } else {
            DecodeError::InvalidField("magic")
        });
    }
    let version = read_pod::<u32>(&bytes[READ_EVENTS_MAGIC.len()..]).ok_or(DecodeError::TooShort {
        needed: READ_EVENTS_HEADER_SIZE,
        actual: bytes.len(),
    })?;
    stream::check_version(version)?;
    let header: ReadEventsResponse = read_pod(bytes).ok_or(DecodeError::TooShort {
        needed: READ_EVENTS_HEADER_SIZE,
        actual: bytes.len(),
    })?;
    let length = usize::try_from(header.length).map_err(|_| DecodeError::InvalidField("length"))?;
    let returned = usize::try_from(header.returned).map_err(|_| DecodeError::InvalidField("returned"))?;
    let body = &bytes[READ_EVENTS_HEADER_SIZE..];
    let body = body.get(..length).ok_or_else(|| DecodeError::TooShort {
        needed: READ_EVENTS_HEADER_SIZE.saturating_add(length),
        actual: bytes.len(),
    })?;
    let records = decode_records(body, returned, READ_EVENTS_HEADER_SIZE)?;
    Ok(EventBatch { header, records })
}

// --- GET_STATS ------------------------------------------------------------

/// Counters of one source.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SourceStats {
    /// Callbacks that fired (events seen).
    pub seen: u64,
    /// Events pushed into the ring.
    pub recorded: u64,
    /// Events dropped (ring full, contention, or the source disabled at runtime).
    pub dropped: u64,
}

/// `IOCTL_KCB_GET_STATS` output.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct StatsResponse {
    /// [`PROTOCOL_VERSION`].
    pub version: u32,
    /// [`SOURCE_COUNT`].
    pub source_count: u32,
    /// Capacity in bytes of every processor's ring and the client queue
    /// together (records take their real size: header + used payload).
    pub ring_capacity: u32,
    /// Bytes currently in use in them (approximate).
    pub ring_occupancy: u32,
    /// Sum of `seen` over all sources.
    pub total_seen: u64,
    /// Sum of `dropped` over all sources.
    pub total_dropped: u64,
    /// Per-source counters, indexed by [`SourceId`](crate::SourceId).
    pub sources: [SourceStats; SOURCE_COUNT],
}

impl StatsResponse {
    /// A zeroed response with `version` and `source_count` set.
    #[must_use]
    pub const fn new() -> Self {
        let mut r: Self = zeroed();
        r.version = PROTOCOL_VERSION;
        #[allow(clippy::cast_possible_truncation, reason = "SOURCE_COUNT <= 64")]
        let count = SOURCE_COUNT as u32;
        r.source_count = count;
        r
    }
}

impl Default for StatsResponse {
    fn default() -> Self {
        Self::new()
    }
}

impl Response for StatsResponse {
    fn check(&self) -> Result<(), DecodeError> {
        check_version(self.version)?;
        if usize::try_from(self.source_count).ok() != Some(SOURCE_COUNT) {
            return Err(DecodeError::InvalidField("source_count"));
        }
        Ok(())
    }
}

// --- GET_CONFIG -----------------------------------------------------------

/// Width of the per-source arrays in [`ConfigResponse`] (the bitmap width).
pub const MAX_SOURCES: usize = 64;

/// Where a source's enabled/disabled setting came from.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfigOrigin {
    /// Built-in default.
    Default = 0,
    /// Read from the registry.
    Registry = 1,
    /// The registry value was invalid; the default was used.
    InvalidRegistryValue = 2,
}

impl ConfigOrigin {
    /// Converts a raw value.
    #[must_use]
    pub const fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(Self::Default),
            1 => Some(Self::Registry),
            2 => Some(Self::InvalidRegistryValue),
            _ => None,
        }
    }

    /// A short lowercase name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Registry => "registry",
            Self::InvalidRegistryValue => "invalid-registry-value",
        }
    }
}

/// `IOCTL_KCB_GET_CONFIG` output.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ConfigResponse {
    /// [`PROTOCOL_VERSION`].
    pub version: u32,
    /// [`SOURCE_COUNT`].
    pub source_count: u32,
    /// Bit `i` set = source `i` enabled.
    pub enabled_mask: u64,
    /// Capacity in bytes of every processor's ring and the client queue.
    pub ring_capacity: u32,
    /// Driver-defined configuration flags.
    pub flags: u32,
    /// Raw [`ConfigOrigin`] per source (first `source_count` used).
    pub origins: [u8; MAX_SOURCES],
}

impl ConfigResponse {
    /// A zeroed response with `version` and `source_count` set.
    #[must_use]
    pub const fn new() -> Self {
        let mut r: Self = zeroed();
        r.version = PROTOCOL_VERSION;
        #[allow(clippy::cast_possible_truncation, reason = "SOURCE_COUNT <= 64")]
        let count = SOURCE_COUNT as u32;
        r.source_count = count;
        r
    }

    /// Whether `source` is enabled.
    #[must_use]
    pub const fn is_enabled(&self, source: crate::SourceId) -> bool {
        self.enabled_mask & source.bit() != 0
    }

    /// Where `source`'s setting came from, if the raw value is known.
    #[must_use]
    pub const fn origin(&self, source: crate::SourceId) -> Option<ConfigOrigin> {
        ConfigOrigin::from_u8(self.origins[source.index()])
    }
}

impl Default for ConfigResponse {
    fn default() -> Self {
        Self::new()
    }
}

impl Response for ConfigResponse {
    fn check(&self) -> Result<(), DecodeError> {
        check_version(self.version)?;
        if usize::try_from(self.source_count).ok() != Some(SOURCE_COUNT) {
            return Err(DecodeError::InvalidField("source_count"));
        }
        Ok(())
    }
}

// --- LIST_CALLBACK_OBJECTS ------------------------------------------------

/// Most entries in a callback-object list.
pub const MAX_CALLBACK_OBJECTS: usize = 64;

/// `IOCTL_KCB_LIST_CALLBACK_OBJECTS` output header, followed by
/// `returned` [`CallbackObjectEntry`]s.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CallbackObjectListHeader {
    /// [`PROTOCOL_VERSION`].
    pub version: u32,
    /// Total objects the driver knows.
    pub count: u32,
    /// Entries present in this buffer.
    pub returned: u32,
    /// Reserved, zero.
    pub reserved: u32,
}

/// One named callback object.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CallbackObjectEntry {
    /// Index used in `CallbackObject` event payloads.
    pub index: u32,
    /// Raw [`RegistrationState`] of the `ExRegisterCallback` observer.
    pub state: u32,
    /// NTSTATUS of opening / registering.
    pub status: i32,
    /// Reserved, zero.
    pub reserved: u32,
    /// Times the observer fired.
    pub fired: u64,
    /// Object name, e.g. `\Callback\SetSystemTime`.
    pub name: WStr<64>,
    /// Reserved, zero.
    pub reserved2: [u16; 2],
}

impl CallbackObjectEntry {
    /// The state, if it is a known value.
    #[must_use]
    pub const fn state(&self) -> Option<RegistrationState> {
        RegistrationState::from_u32(self.state)
    }
}

/// Driver side: writes the callback-object list (at most
/// [`MAX_CALLBACK_OBJECTS`] sent), as many whole entries as fit.
///
/// # Errors
/// [`RequestError::TooSmall`] if `out` cannot hold the header.
pub fn write_callback_objects(
    out: &mut [u8],
    entries: &[CallbackObjectEntry],
) -> Result<usize, RequestError> {
    let mut header = CallbackObjectListHeader {
        version: PROTOCOL_VERSION,
        count: u32_sat(entries.len()),
        returned: 0,
        reserved: 0,
    };
    let sent = &entries[..entries.len().min(MAX_CALLBACK_OBJECTS)];
    let (written, count) = write_with_entries(out, &header, sent)?;
    header.returned = u32_sat(count);
    write_response(out, &header)?;
    Ok(written)
}

/// A decoded callback-object list.
#[derive(Debug, Clone, Copy)]
pub struct CallbackObjectList<'a> {
    /// The header.
    pub header: CallbackObjectListHeader,
    /// The `header.returned` entries (strings not yet validated: use the
    /// clamping accessors of [`WStr`]).
    pub entries: PodSlice<'a, CallbackObjectEntry>,
}

/// Client side: decodes a `LIST_CALLBACK_OBJECTS` reply.
///
/// # Errors
/// Short buffer, wrong version, `returned > count` or
/// `returned > MAX_CALLBACK_OBJECTS`. Never panics.
pub fn decode_callback_objects(bytes: &[u8]) -> Result<CallbackObjectList<'_>, DecodeError> {
    let header: CallbackObjectListHeader = read_pod(bytes).ok_or(DecodeError::TooShort {
        needed: size_of::<CallbackObjectListHeader>(),
        actual: bytes.len(),
    })?;
    check_version(header.version)?;
    let returned = usize::try_from(header.returned).map_err(|_| DecodeError::InvalidField("returned"))?;
    if header.returned > header.count || returned > MAX_CALLBACK_OBJECTS {
        return Err(DecodeError::InvalidField("returned"));
    }
    let entries = PodSlice::new(&bytes[size_of::<CallbackObjectListHeader>()..], returned)?;
    Ok(CallbackObjectList { header, entries })
}

// --- LIST_REGISTRATIONS ---------------------------------------------------

/// Most entries in a registration list.
pub const MAX_REGISTRATION_ENTRIES: usize = 256;

/// Values of [`RegistrationEntry::status`].
pub mod registration_status {
    /// A registered routine inside a loaded module (`module`, `offset`).
    pub const IN_MODULE: u32 = 1;
    /// A registered routine inside no module the system lists.
    pub const NO_MODULE: u32 = 2;
    /// A registered routine; the module list could not be read.
    pub const MODULES_UNAVAILABLE: u32 = 3;
    /// The object has no registration (one entry, `routine` 0).
    pub const NO_REGISTRATIONS: u32 = 4;
    /// The object's layout failed a check (one entry, `routine` 0, the
    /// failed [`super::layout_check`] in `detail`): nothing is reported.
    pub const LAYOUT_NOT_RECOGNISED: u32 = 5;
    /// The object could not be opened (one entry; `detail` holds the
    /// NTSTATUS bits, 0 for success without an object).
    pub const OBJECT_UNAVAILABLE: u32 = 6;
    /// The walk was refused: `RtlGetVersion` reports a Windows build on
    /// which the layout was not verified (one entry, `routine` 0, the build
    /// number in `detail`, 0 if it could not be read); nothing was read.
    pub const BUILD_NOT_VERIFIED: u32 = 7;

    /// A short description of `status`, if known.
    #[must_use]
    pub const fn describe(status: u32) -> Option<&'static str> {
        match status {
            IN_MODULE => Some("registered"),
            NO_MODULE => Some("registered, in no loaded module"),
            MODULES_UNAVAILABLE => Some("registered, module list unavailable"),
            NO_REGISTRATIONS => Some("no registrations"),
            LAYOUT_NOT_RECOGNISED => Some("layout not recognised"),
            OBJECT_UNAVAILABLE => Some("object unavailable"),
            BUILD_NOT_VERIFIED => Some("refused: layout not verified on this Windows build"),
            _ => None,
        }
    }
}

/// Which check of the callback-object layout failed
/// ([`RegistrationEntry::detail`] with
/// [`registration_status::LAYOUT_NOT_RECOGNISED`]).
pub mod layout_check {
    /// The object does not start with the signature `'Call'`.
    pub const SIGNATURE: u32 = 1;
    /// A pointer to read was not valid memory (`MmIsAddressValid`) or not
    /// pointer-aligned.
    pub const UNREADABLE: u32 = 2;
    /// A list entry's `Blink` is not the entry before it.
    pub const LINK_MISMATCH: u32 = 3;
    /// A registration's object pointer is not the object.
    pub const OBJECT_MISMATCH: u32 = 4;
    /// The list did not come back to its head within the bound.
    pub const TOO_LONG: u32 = 5;
    /// The `AllowMultipleCallbacks` byte is neither 0 nor 1.
    pub const BAD_FLAG: u32 = 6;
    /// An object that allows a single callback lists more than one.
    pub const SINGLE_WITH_MANY: u32 = 7;
    /// A registration's routine is NULL.
    pub const NULL_ROUTINE: u32 = 8;
    /// The word at the lock offset holds neither a free (0) nor an acquired
    /// (1) spin lock, so it is not the object's lock: it is never acquired.
    pub const LOCK_VALUE: u32 = 9;

    /// A short description of `check`, if known.
    #[must_use]
    pub const fn describe(check: u32) -> Option<&'static str> {
        match check {
            SIGNATURE => Some("no 'Call' signature"),
            UNREADABLE => Some("unreadable pointer"),
            LINK_MISMATCH => Some("list link mismatch"),
            OBJECT_MISMATCH => Some("registration of another object"),
            TOO_LONG => Some("list longer than the bound"),
            BAD_FLAG => Some("AllowMultipleCallbacks is not a boolean"),
            SINGLE_WITH_MANY => Some("single-callback object with several"),
            NULL_ROUTINE => Some("NULL routine"),
            LOCK_VALUE => Some("lock word is not a spin lock"),
            _ => None,
        }
    }
}

/// `IOCTL_KCB_LIST_REGISTRATIONS` output header, followed by `returned`
/// [`RegistrationEntry`]s.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct RegistrationListHeader {
    /// [`PROTOCOL_VERSION`].
    pub version: u32,
    /// Entries the driver produced (may exceed `returned`).
    pub count: u32,
    /// Entries present in this buffer.
    pub returned: u32,
    /// Callback objects walked.
    pub objects: u32,
}

/// One routine registered on a callback object, or one line about an
/// object whose routines cannot be listed (see [`registration_status`]).
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct RegistrationEntry {
    /// Position of the object in the walk (entries of one object are
    /// consecutive and share it).
    pub object_index: u32,
    /// A [`registration_status`] value.
    pub status: u32,
    /// A [`layout_check`] value, or an NTSTATUS (see the status).
    pub detail: u32,
    /// The object's `AllowMultipleCallbacks`: 0, 1, or `u32::MAX` unknown.
    pub allow_multiple: u32,
    /// The registered routine's address.
    pub routine: u64,
    /// `routine` minus the module's image base.
    pub offset: u64,
    /// The module's file name, ASCII, NUL-padded (e.g. `ntoskrnl.exe`).
    pub module: [u8; 32],
    /// Object name, e.g. `\Callback\PowerState`.
    pub object: WStr<64>,
    /// Reserved, zero.
    pub reserved: [u16; 2],
}

impl RegistrationEntry {
    /// The module file name.
    #[must_use]
    pub fn module_str(&self) -> &str {
        ascii_str(&self.module)
    }
}

/// Output buffer size that always holds a full registration list.
pub const REGISTRATION_BUFFER_SIZE: usize =
    size_of::<RegistrationListHeader>() + MAX_REGISTRATION_ENTRIES * size_of::<RegistrationEntry>();

/// A decoded registration list.
#[derive(Debug, Clone, Copy)]
pub struct RegistrationList<'a> {
    /// The header.
    pub header: RegistrationListHeader,
    /// The `header.returned` entries (strings not yet validated).
    pub entries: PodSlice<'a, RegistrationEntry>,
}

/// Client side: decodes a `LIST_REGISTRATIONS` reply.
///
/// # Errors
/// Short buffer, wrong version, `returned > count` or
/// `returned > MAX_REGISTRATION_ENTRIES`. Never panics.
pub fn decode_registrations(bytes: &[u8]) -> Result<RegistrationList<'_>, DecodeError> {
    let header: RegistrationListHeader = read_pod(bytes).ok_or(DecodeError::TooShort {
        needed: size_of::<RegistrationListHeader>(),
        actual: bytes.len(),
    })?;
    check_version(header.version)?;
    let returned = usize::try_from(header.returned).map_err(|_| DecodeError::InvalidField("returned"))?;
    if header.returned > header.count || returned > MAX_REGISTRATION_ENTRIES {
        return Err(DecodeError::InvalidField("returned"));
    }
    let entries = PodSlice::new(&bytes[size_of::<RegistrationListHeader>()..], returned)?;
    Ok(RegistrationList { header, entries })
}

// --- FLOOD ----------------------------------------------------------------

/// `IOCTL_KCB_FLOOD` output.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct FloodResponse {
    /// Records requested.
    pub requested: u32,
    /// Records pushed into the ring.
    pub recorded: u32,
    /// Records dropped.
    pub dropped: u32,
    /// Reserved, zero.
    pub reserved: u32,
}

impl Response for FloodResponse {}

const _: () = {
    assert!(size_of::<RequestHeader>() == 8);
    assert!(size_of::<GetReportRequest>() == 8);
    assert!(size_of::<ReadEventsRequest>() == 16);
    assert!(size_of::<NotifyRequest>() == 24);
    assert!(size_of::<FloodRequest>() == 16);
    assert!(size_of::<ReportHeader>() == 40);
    assert!(size_of::<ReportEntry>() == 60);
    assert!(size_of::<ReadEventsResponse>() == 40);
    assert!(size_of::<SourceStats>() == 24);
    assert!(size_of::<StatsResponse>() == 32 + 24 * SOURCE_COUNT);
    assert!(size_of::<ConfigResponse>() == 88);
    assert!(size_of::<CallbackObjectListHeader>() == 16);
    assert!(size_of::<CallbackObjectEntry>() == 160);
    assert!(size_of::<FloodResponse>() == 16);
    assert!(size_of::<ListRegistrationsRequest>() == 8);
    assert!(size_of::<RegistrationListHeader>() == 16);
    assert!(size_of::<RegistrationEntry>() == 200);
};
