//! `IOCTL_KCB_LIST_REGISTRATIONS`.
//!
//! The routines registered on each callback object (or why an object
//! cannot be listed): a list reply ([`super::list`]), which the driver's
//! walker fills entry by entry (a [`ListWriter`](super::list::ListWriter)
//! does that job).

use core::mem::size_of;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::list::{List, decode_list, list_header};
use super::wire::ascii_str;
use crate::error::DecodeError;
use crate::wstr::WStr;

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
    /// [`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION).
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

list_header!(RegistrationListHeader => RegistrationEntry, max MAX_REGISTRATION_ENTRIES, total count);

const _: () = {
    assert!(size_of::<RegistrationListHeader>() == 16);
    assert!(size_of::<RegistrationEntry>() == 200);
};

/// Output buffer size that always holds a full registration list.
pub const REGISTRATION_BUFFER_SIZE: usize =
    size_of::<RegistrationListHeader>() + MAX_REGISTRATION_ENTRIES * size_of::<RegistrationEntry>();

/// A decoded registration list.
pub type RegistrationList<'a> = List<'a, RegistrationListHeader>;

/// Client side: decodes a `LIST_REGISTRATIONS` reply.
///
/// # Errors
/// Short buffer, wrong version, `returned > count` or
/// `returned > MAX_REGISTRATION_ENTRIES`. Never panics.
pub fn decode_registrations(bytes: &[u8]) -> Result<RegistrationList<'_>, DecodeError> {
    decode_list(bytes)
}
