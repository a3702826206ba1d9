//! `IOCTL_KCB_LIST_REGISTRATIONS`.
//!
//! The routines registered on each callback object (or why an object
//! cannot be listed): a list reply ([`super::list`]), which the driver's
//! walker fills entry by entry (a [`ListWriter`](super::list::ListWriter)
//! does that job).

use core::mem::size_of;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::list::{List, decode_list, list_header};
use super::wire::{ascii_str, described_codes};
use crate::error::DecodeError;
use crate::wstr::WStr;

/// Most entries in a registration list.
pub const MAX_REGISTRATION_ENTRIES: usize = 256;

described_codes! {
    /// Values of [`RegistrationEntry::status`].
    pub mod registration_status {
        /// A registered routine inside a loaded module (`module`, `offset`).
        IN_MODULE = 1 => "registered",
        /// A registered routine inside no module the system lists.
        NO_MODULE = 2 => "registered, in no loaded module",
        /// A registered routine; the module list could not be read.
        MODULES_UNAVAILABLE = 3 => "registered, module list unavailable",
        /// The object has no registration (one entry, `routine` 0).
        NO_REGISTRATIONS = 4 => "no registrations",
        /// The object's layout failed a check (one entry, `routine` 0, the
        /// failed [`super::layout_check`] in `detail`): nothing is reported.
        LAYOUT_NOT_RECOGNISED = 5 => "layout not recognised",
        /// The object could not be opened (one entry; `detail` holds the
        /// NTSTATUS bits, 0 for success without an object).
        OBJECT_UNAVAILABLE = 6 => "object unavailable",
        /// The walk was refused: `RtlGetVersion` reports a Windows build on
        /// which the layout was not verified (one entry, `routine` 0, the build
        /// number in `detail`, 0 if it could not be read); nothing was read.
        BUILD_NOT_VERIFIED = 7 => "refused: layout not verified on this Windows build",
    }
}

described_codes! {
    /// Which check of the callback-object layout failed
    /// ([`RegistrationEntry::detail`] with
    /// [`registration_status::LAYOUT_NOT_RECOGNISED`]).
    pub mod layout_check {
        /// The object does not start with the signature `'Call'`.
        SIGNATURE = 1 => "no 'Call' signature",
        /// A pointer to read was not valid memory (`MmIsAddressValid`) or not
        /// pointer-aligned.
        UNREADABLE = 2 => "unreadable pointer",
        /// A list entry's `Blink` is not the entry before it.
        LINK_MISMATCH = 3 => "list link mismatch",
        /// A registration's object pointer is not the object.
        OBJECT_MISMATCH = 4 => "registration of another object",
        /// The list did not come back to its head within the bound.
        TOO_LONG = 5 => "list longer than the bound",
        /// The `AllowMultipleCallbacks` byte is neither 0 nor 1.
        BAD_FLAG = 6 => "AllowMultipleCallbacks is not a boolean",
        /// An object that allows a single callback lists more than one.
        SINGLE_WITH_MANY = 7 => "single-callback object with several",
        /// A registration's routine is NULL.
        NULL_ROUTINE = 8 => "NULL routine",
        /// The word at the lock offset holds neither a free (0) nor an acquired
        /// (1) spin lock, so it is not the object's lock: it is never acquired.
        LOCK_VALUE = 9 => "lock word is not a spin lock",
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
