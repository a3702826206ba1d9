//! Control codes, the [`Ioctl`] catalog, and the NTSTATUS values a request
//! completes with ([`RequestError`]).

use core::fmt;

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

/// Declares each control code (all `METHOD_BUFFERED` on
/// [`FILE_DEVICE_KCALLBACKS`]) and the [`Ioctl`] enum that names them, from
/// one row per IOCTL, so a code, its variant and its name cannot drift.
macro_rules! ioctls {
    ($( $(#[$doc:meta])* $variant:ident => $code:ident = ($function:literal, $access:ident); )*) => {
        $(
            $(#[$doc])*
            pub const $code: u32 = ctl_code(FILE_DEVICE_KCALLBACKS, $function, METHOD_BUFFERED, $access);
        )*

        /// The driver's IOCTLs.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Ioctl {
            $(
                #[doc = concat!("[`", stringify!($code), "`].")]
                $variant,
            )*
        }

        impl Ioctl {
            /// Every IOCTL.
            pub const ALL: [Self; [$(stringify!($variant)),*].len()] = [$(Self::$variant),*];

            /// The control code.
            #[must_use]
            pub const fn code(self) -> u32 {
                match self {
                    $(Self::$variant => $code,)*
                }
            }

            /// The IOCTL with control code `code`.
            ///
            /// # Errors
            /// [`RequestError::UnknownCode`] for any other code.
            pub const fn from_code(code: u32) -> Result<Self, RequestError> {
                match code {
                    $($code => Ok(Self::$variant),)*
                    _ => Err(RequestError::UnknownCode),
                }
            }

            /// The constant's name, e.g. `"IOCTL_KCB_GET_REPORT"`.
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => stringify!($code),)*
                }
            }
        }
    };
}

ioctls! {
    /// Returns the registration report ([`ReportHeader`](crate::ReportHeader) +
    /// [`ReportEntry`](crate::ReportEntry)s).
    GetReport => IOCTL_KCB_GET_REPORT = (0x800, FILE_READ_ACCESS);
    /// Pops events ([`ReadEventsRequest`](crate::ReadEventsRequest) ->
    /// [`ReadEventsResponse`](crate::ReadEventsResponse) + records).
    ReadEvents => IOCTL_KCB_READ_EVENTS = (0x801, FILE_READ_ACCESS);
    /// Returns counters ([`StatsResponse`](crate::StatsResponse)).
    GetStats => IOCTL_KCB_GET_STATS = (0x802, FILE_READ_ACCESS);
    /// Returns the effective configuration ([`ConfigResponse`](crate::ConfigResponse)).
    GetConfig => IOCTL_KCB_GET_CONFIG = (0x803, FILE_READ_ACCESS);
    /// Calls `ExNotifyCallback` on the driver's own callback object
    /// ([`NotifyRequest`](crate::NotifyRequest)).
    Notify => IOCTL_KCB_NOTIFY = (0x804, FILE_WRITE_ACCESS);
    /// Lists the observed callback objects
    /// ([`CallbackObjectListHeader`](crate::CallbackObjectListHeader) + entries).
    ListCallbackObjects => IOCTL_KCB_LIST_CALLBACK_OBJECTS = (0x805, FILE_READ_ACCESS);
    /// Pushes a synthetic burst into the ring ([`FloodRequest`](crate::FloodRequest) ->
    /// [`FloodResponse`](crate::FloodResponse)).
    Flood => IOCTL_KCB_FLOOD = (0x806, FILE_WRITE_ACCESS);
    /// Lists the routines registered on each callback object.
    ///
    /// [`ListRegistrationsRequest`](crate::ListRegistrationsRequest) ->
    /// [`RegistrationListHeader`](crate::RegistrationListHeader) +
    /// [`RegistrationEntry`](crate::RegistrationEntry)s. Opt-in: the driver
    /// refuses it with `STATUS_NOT_SUPPORTED` unless `EnableRegistrationWalk` = 1.
    ListRegistrations => IOCTL_KCB_LIST_REGISTRATIONS = (0x807, FILE_READ_ACCESS);
    /// Returns the time spent in each source's notify routines
    /// ([`QueryCostRequest`](crate::QueryCostRequest) -> [`CostResponse`](crate::CostResponse)).
    QueryCost => IOCTL_KCB_QUERY_COST = (0x808, FILE_READ_ACCESS);
}

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

/// Why a request could not be served; maps to the NTSTATUS the driver
/// completes the IRP with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// Input shorter than a [`RequestHeader`](crate::RequestHeader), or
    /// output buffer too small for the fixed part of the response.
    TooSmall,
    /// [`RequestHeader::version`](crate::RequestHeader::version) is not
    /// [`PROTOCOL_VERSION`].
    WrongVersion,
    /// [`RequestHeader::size`](crate::RequestHeader::size) or the input
    /// length does not match the request struct.
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
