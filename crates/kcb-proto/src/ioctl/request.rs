//! Request inputs: every one starts with a [`RequestHeader`]; the driver
//! decodes them with [`decode_request`], which copies and checks.

use core::mem::size_of;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::codes::{Ioctl, PROTOCOL_VERSION, RequestError};
use crate::pod::{Pod, read_pod};

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

/// Implements [`Request`] for a struct whose first field is `header`, with
/// an optional check of the other fields.
macro_rules! request {
    ($ty:ident => $ioctl:ident $(, check($request:ident) $check:block)?) => {
        impl sealed::Sealed for $ty {}
        const _: () = assert!(size_of::<$ty>() <= 64);
        impl Request for $ty {
            const IOCTL: Ioctl = Ioctl::$ioctl;
            fn header(&self) -> &RequestHeader {
                &self.header
            }
            $(
                fn check(&self) -> Result<(), RequestError> {
                    let $request = self;
                    $check
                }
            )?
        }
    };
}

/// Declares the requests that carry nothing but the header, each with its
/// `new` and `Default`.
macro_rules! header_only_requests {
    ($( $(#[$doc:meta])* $ty:ident => $ioctl:ident; )*) => {
        $(
            $(#[$doc])*
            #[repr(C)]
            #[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
            pub struct $ty {
                /// Header.
                pub header: RequestHeader,
            }

            impl $ty {
                /// A well-formed request.
                #[must_use]
                pub const fn new() -> Self {
                    Self {
                        header: RequestHeader::for_request::<Self>(),
                    }
                }
            }

            impl Default for $ty {
                fn default() -> Self {
                    Self::new()
                }
            }

            request!($ty => $ioctl);
            const _: () = assert!(size_of::<$ty>() == 8);
        )*
    };
}

header_only_requests! {
    /// `IOCTL_KCB_GET_REPORT` input.
    GetReportRequest => GetReport;
    /// `IOCTL_KCB_GET_STATS` input.
    GetStatsRequest => GetStats;
    /// `IOCTL_KCB_GET_CONFIG` input.
    GetConfigRequest => GetConfig;
    /// `IOCTL_KCB_LIST_CALLBACK_OBJECTS` input.
    ListCallbackObjectsRequest => ListCallbackObjects;
    /// `IOCTL_KCB_QUERY_COST` input.
    QueryCostRequest => QueryCost;
    /// `IOCTL_KCB_LIST_REGISTRATIONS` input.
    ListRegistrationsRequest => ListRegistrations;
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

request!(ReadEventsRequest => ReadEvents, check(request) {
    if request.flags & !READ_EVENTS_VALID_FLAGS != 0 {
        return Err(RequestError::InvalidParameter);
    }
    Ok(())
});

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

request!(NotifyRequest => Notify);

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

request!(FloodRequest => Flood, check(request) {
    if request.count == 0 || request.count > MAX_FLOOD_COUNT || request.reserved != 0 {
        return Err(RequestError::InvalidParameter);
    }
    Ok(())
});

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

const _: () = {
    assert!(size_of::<RequestHeader>() == 8);
    assert!(size_of::<ReadEventsRequest>() == 16);
    assert!(size_of::<NotifyRequest>() == 24);
    assert!(size_of::<FloodRequest>() == 16);
};

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
