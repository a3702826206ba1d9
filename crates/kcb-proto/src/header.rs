//! The 48-byte event header and the record's fixed sizes, version and kinds.

use core::mem::{offset_of, size_of};

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::source::SourceId;

/// Version of the [`EventRecord`] layout, stored in every header.
///
/// Version 2: records travel at their real size ([`EventHeader::size`]
/// bytes, a multiple of 8 between [`HEADER_SIZE`] and [`RECORD_SIZE`]).
/// Version 1 (every record a fixed 512 bytes, no size field) is refused
/// with [`DecodeError::RetiredFormat`].
pub const RECORD_VERSION: u16 = 2;
/// The retired fixed-size format version, named in refusals.
pub const RETIRED_RECORD_VERSION: u16 = 1;
/// Size in bytes of one [`EventRecord`].
pub const RECORD_SIZE: usize = 512;
/// Size in bytes of an [`EventHeader`].
pub const HEADER_SIZE: usize = 48;
/// Size in bytes of the payload area of an [`EventRecord`].
pub const PAYLOAD_SIZE: usize = RECORD_SIZE - HEADER_SIZE;

/// Byte offset of [`EventHeader::size`] in a record.
pub const SIZE_OFFSET: usize = 14;

/// [`EventHeader::flags`] bit: at least one string in the payload was
/// truncated.
pub const FLAG_TRUNCATED: u16 = 1 << 0;

/// Per-source event kinds stored in [`EventHeader::kind`].
///
/// Sources that have a single kind of event use [`NONE`](kind::NONE).
pub mod kind {
    /// The source has only one kind of event.
    pub const NONE: u16 = 0;
    /// `ProcessCreate` / `ThreadCreate`: creation.
    pub const CREATE: u16 = 1;
    /// `ProcessCreate` / `ThreadCreate`: exit.
    pub const EXIT: u16 = 2;
    /// `ObjectHandle` / `Registry`: pre-operation callback.
    pub const PRE: u16 = 1;
    /// `ObjectHandle` / `Registry`: post-operation callback.
    pub const POST: u16 = 2;
    /// `Driver`: the driver finished loading.
    pub const DRIVER_LOAD: u16 = 1;
    /// `Driver`: the driver is unloading.
    pub const DRIVER_UNLOAD: u16 = 2;
    /// `Driver`: informational message.
    pub const DRIVER_INFO: u16 = 3;
    /// `Driver`: error message (`status` holds the NTSTATUS).
    pub const DRIVER_ERROR: u16 = 4;
}

/// The display name of `kind` for events of `source`, if it has one.
#[must_use]
pub const fn kind_name(source: SourceId, kind: u16) -> Option<&'static str> {
    match (source, kind) {
        (SourceId::ProcessCreate | SourceId::ThreadCreate, kind::CREATE) => Some("create"),
        (SourceId::ProcessCreate | SourceId::ThreadCreate, kind::EXIT) => Some("exit"),
        (SourceId::ObjectHandle | SourceId::Registry, kind::PRE) => Some("pre"),
        (SourceId::ObjectHandle | SourceId::Registry, kind::POST) => Some("post"),
        (SourceId::Driver, kind::DRIVER_LOAD) => Some("load"),
        (SourceId::Driver, kind::DRIVER_UNLOAD) => Some("unload"),
        (SourceId::Driver, kind::DRIVER_INFO) => Some("info"),
        (SourceId::Driver, kind::DRIVER_ERROR) => Some("error"),
        _ => None,
    }
}

/// The 48-byte header common to every event.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct EventHeader {
    /// Layout version, [`RECORD_VERSION`].
    pub version: u16,
    /// Raw [`SourceId`].
    pub source: u16,
    /// Per-source event kind (see [`kind`]).
    pub kind: u16,
    /// Bit set of `FLAG_*` values (bit 0: [`FLAG_TRUNCATED`]).
    pub flags: u16,
    /// Number of the processor the callback ran on.
    pub cpu: u32,
    /// IRQL the callback ran at.
    pub irql: u8,
    /// Reserved, zero.
    pub pad: u8,
    /// On the wire: the record's total size in bytes (header + payload,
    /// a multiple of 8 in `HEADER_SIZE..=RECORD_SIZE`), set by
    /// [`EventRecord::encode_wire`]. A wire-only field: zero in memory
    /// ([`EventRecord::decode_wire`] clears it).
    pub size: u16,
    /// Number of the event among those *seen on processor `cpu`*
    /// (1-based), assigned by the processor's ring in the same atomic
    /// step as the claim, so gaps reveal drops on that processor and
    /// `(cpu, sequence)` identifies an event.
    pub sequence: u64,
    /// System time in 100-ns units since 1601-01-01 UTC.
    pub timestamp: u64,
    /// Current process id when the callback ran.
    pub pid: u64,
    /// Current thread id when the callback ran.
    pub tid: u64,
}

const _: () = {
    assert!(size_of::<EventHeader>() == HEADER_SIZE);
    assert!(offset_of!(EventHeader, cpu) == 8);
    assert!(offset_of!(EventHeader, irql) == 12);
    assert!(offset_of!(EventHeader, size) == SIZE_OFFSET);
    assert!(offset_of!(EventHeader, sequence) == 16);
    assert!(offset_of!(EventHeader, timestamp) == 24);
    assert!(offset_of!(EventHeader, pid) == 32);
    assert!(offset_of!(EventHeader, tid) == 40);
};
