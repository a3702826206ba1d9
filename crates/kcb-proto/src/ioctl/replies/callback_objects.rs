//! `IOCTL_KCB_LIST_CALLBACK_OBJECTS`: the named callback objects the
//! driver observes, a list reply ([`super::list`]).

use core::mem::size_of;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::list::{List, decode_list, list_header, write_list};
use super::report::RegistrationState;
use crate::error::DecodeError;
use crate::ioctl::codes::{PROTOCOL_VERSION, RequestError};
use crate::wstr::WStr;

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

list_header!(CallbackObjectListHeader => CallbackObjectEntry, max MAX_CALLBACK_OBJECTS, total count);

const _: () = {
    assert!(size_of::<CallbackObjectListHeader>() == 16);
    assert!(size_of::<CallbackObjectEntry>() == 160);
};

/// Driver side: writes the callback-object list (at most
/// [`MAX_CALLBACK_OBJECTS`] sent), as many whole entries as fit.
///
/// # Errors
/// [`RequestError::TooSmall`] if `out` cannot hold the header.
pub fn write_callback_objects(
    out: &mut [u8],
    entries: &[CallbackObjectEntry],
) -> Result<usize, RequestError> {
    let header = CallbackObjectListHeader {
        version: PROTOCOL_VERSION,
        count: 0,
        returned: 0,
        reserved: 0,
    };
    write_list(out, header, entries)
}

/// A decoded callback-object list.
pub type CallbackObjectList<'a> = List<'a, CallbackObjectListHeader>;

/// Client side: decodes a `LIST_CALLBACK_OBJECTS` reply.
///
/// # Errors
/// Short buffer, wrong version, `returned > count` or
/// `returned > MAX_CALLBACK_OBJECTS`. Never panics.
pub fn decode_callback_objects(bytes: &[u8]) -> Result<CallbackObjectList<'_>, DecodeError> {
    decode_list(bytes)
}
