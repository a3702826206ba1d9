//! One record as one TraceLogging event, built into fixed buffers.
//!
//! The event's metadata (name, tags, fields with their in/out types) and its
//! data follow the layout `TraceLoggingProvider.h` documents; nothing is
//! allocated.
//!
//! Metadata (`EVENT_DATA_DESCRIPTOR_TYPE_EVENT_METADATA`):
//! `UINT16 size` (the whole block, the size included), the event tags
//! (one byte, 0: none), the event name (UTF-8, NUL-terminated), then per
//! field: its name (UTF-8, NUL-terminated), the in-type byte (bit 7 set
//! when an out-type byte follows) and the out-type byte if any.
//!
//! Data: the field values in field order, little-endian; a counted string
//! or binary value (`Str8`, `Str16`, `Binary`) is a `UINT16` byte count
//! followed by the bytes.
//!
//! Field names are those of `kcbctl events --json` (`kcb_proto::write_json`):
//! the header fields, then the payload fields the record's
//! [`FieldVisitor`] reports, with the same `<name>_name` and
//! `<name>_truncated` companions. The in-types and out-types come from the
//! `tracelogging` crate ([`InType`], [`OutType`]).

use core::fmt;

use core::mem::offset_of;

use kcb_proto::{EventHeader, EventRecord, FieldVisitor, SourceId, WStrView, kind_name};
use tracelogging::{InType, Level, OutType};

/// Largest event metadata block (bytes).
pub const META_CAPACITY: usize = 1024;
/// Largest event data block (bytes).
pub const DATA_CAPACITY: usize = 2048;

/// The keyword of each source family: a session selects families with its
/// `MatchAnyKeyword` mask.
pub mod keyword {
    /// Process, thread and image notify routines.
    pub const PROCESS: u64 = 0x1;
    /// `ObRegisterCallbacks` handle operations.
    pub const OBJECT: u64 = 0x2;
    /// `CmRegisterCallbackEx` registry operations.
    pub const REGISTRY: u64 = 0x4;
    /// Callback objects (`ExRegisterCallback`).
    pub const CALLBACK_OBJECT: u64 = 0x8;
    /// Power-setting callbacks.
    pub const POWER: u64 = 0x10;
    /// Ke callbacks: NMI, bound exception, bug check, processor change.
    pub const KERNEL: u64 = 0x20;
    /// I/O manager notifications: shutdown, PnP, file systems, reinitialization.
    pub const IO: u64 = 0x40;
    /// Hardware: WHEA page offline, profile interrupt, interrupt service routines.
    pub const HARDWARE: u64 = 0x80;
    /// The driver itself, and synthetic flood bursts.
    pub const DRIVER: u64 = 0x100;
}

/// The event class of `source`: (keyword, level).
#[must_use]
pub const fn class(source: SourceId) -> (u64, Level) {
    match source {
        SourceId::LoadImage | SourceId::ProcessCreate => (keyword::PROCESS, Level::Informational),
        SourceId::ThreadCreate => (keyword::PROCESS, Level::Verbose),
        SourceId::ObjectHandle => (keyword::OBJECT, Level::Verbose),
        SourceId::Registry => (keyword::REGISTRY, Level::Verbose),
        SourceId::CallbackObject => (keyword::CALLBACK_OBJECT, Level::Informational),
        SourceId::PowerSetting => (keyword::POWER, Level::Informational),
        SourceId::BugCheck | SourceId::BugCheckReason => (keyword::KERNEL, Level::Critical),
        SourceId::Nmi | SourceId::BoundException => (keyword::KERNEL, Level::Warning),
        SourceId::ProcessorChange => (keyword::KERNEL, Level::Informational),
        SourceId::Shutdown
        | SourceId::LastChanceShutdown
        | SourceId::PlugPlay
        | SourceId::FsRegistration
        | SourceId::DriverReinit
        | SourceId::BootDriverReinit => (keyword::IO, Level::Informational),
        SourceId::PageOffline => (keyword::HARDWARE, Level::Warning),
        SourceId::ProfileInterrupt | SourceId::Interrupt => (keyword::HARDWARE, Level::Verbose),
        SourceId::Driver => (keyword::DRIVER, Level::Informational),
        SourceId::Flood => (keyword::DRIVER, Level::Verbose),
    }
}

/// A fixed byte buffer that refuses what does not fit.
struct Buf<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Buf<N> {
    const fn new() -> Self {
        Self {
            bytes: [0; N],
            len: 0,
        }
    }

    fn push(&mut self, bytes: &[u8]) -> fmt::Result {
        push(&mut self.bytes, &mut self.len, bytes)
    }

    fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

/// Appends `bytes` to `buffer[..*len]` (one copy of the code for both
/// buffer sizes).
#[inline(never)]
fn push(buffer: &mut [u8], len: &mut usize, bytes: &[u8]) -> fmt::Result {
    let end = len.checked_add(bytes.len()).ok_or(fmt::Error)?;
    buffer
        .get_mut(*len..end)
        .ok_or(fmt::Error)?
        .copy_from_slice(bytes);
    *len = end;
    Ok(())
}

/// A header field: JSON name, in-type, offset and size in [`EventHeader`].
type HeaderField = (&'static str, InType, usize, usize);

/// The header fields before `source`.
const HEADER_FIRST: [HeaderField; 5] = [
    ("seq", InType::U64, offset_of!(EventHeader, sequence), 8),
    ("timestamp", InType::U64, offset_of!(EventHeader, timestamp), 8),
    ("time", InType::FileTime, offset_of!(EventHeader, timestamp), 8),
    ("cpu", InType::U32, offset_of!(EventHeader, cpu), 4),
    ("irql", InType::U8, offset_of!(EventHeader, irql), 1),
];
/// Between `source` and `kind_name`.
const HEADER_IDS: [HeaderField; 2] = [
    ("source_id", InType::U16, offset_of!(EventHeader, source), 2),
    ("kind", InType::U16, offset_of!(EventHeader, kind), 2),
];
/// After `kind_name`.
const HEADER_LAST: [HeaderField; 4] = [
    ("version", InType::U16, offset_of!(EventHeader, version), 2),
    ("flags", InType::U16, offset_of!(EventHeader, flags), 2),
    ("pid", InType::U64, offset_of!(EventHeader, pid), 8),
    ("tid", InType::U64, offset_of!(EventHeader, tid), 8),
];

/// The record did not fit [`META_CAPACITY`] / [`DATA_CAPACITY`] (cannot
/// happen for a record the driver made; counted, never silently dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

/// One encoded event.
pub struct Event {
    meta: Buf<META_CAPACITY>,
    data: Buf<DATA_CAPACITY>,
}

impl Event {
    /// An empty event, to [`encode`](Self::encode) into.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            meta: Buf::new(),
            data: Buf::new(),
        }
    }

    /// Encodes `record` of `source` (its event name is the source name).
    ///
    /// # Errors
    /// [`TooLarge`] when the metadata or data does not fit.
    pub fn encode(&mut self, record: &EventRecord, source: SourceId) -> Result<(), TooLarge> {
        self.meta.len = 0;
        self.data.len = 0;
        self.header(record, source).map_err(|fmt::Error| TooLarge)?;
        // Through `dyn`: one more copy of the payload visitor per concrete
        // visitor type would cost image size (issue 11's budget).
        let visitor: &mut dyn FieldVisitor = self;
        record.visit_payload(visitor).map_err(|fmt::Error| TooLarge)?;
        let size = u16::try_from(self.meta.len).map_err(|_| TooLarge)?;
        self.meta.bytes[..2].copy_from_slice(&size.to_le_bytes());
        Ok(())
    }

    /// The event metadata block.
    #[must_use]
    pub fn metadata(&self) -> &[u8] {
        self.meta.as_slice()
    }

    /// The event data block.
    #[must_use]
    pub fn data(&self) -> &[u8] {
        self.data.as_slice()
    }

    fn header(&mut self, record: &EventRecord, source: SourceId) -> fmt::Result {
        // Size (patched at the end), no event tags, the event name.
        self.meta.push(&[0, 0, 0])?;
        self.meta.push(source.name().as_bytes())?;
        self.meta.push(&[0])?;
        // The header's bytes are its fields in the machine's (little-endian) order.
        let header = record.as_bytes();
        self.header_fields(header, &HEADER_FIRST)?;
        self.counted("source", "", InType::Str8, source.name().as_bytes())?;
        self.header_fields(header, &HEADER_IDS)?;
        if let Some(name) = kind_name(source, record.header.kind) {
            self.counted("kind_name", "", InType::Str8, name.as_bytes())?;
        }
        self.header_fields(header, &HEADER_LAST)
    }

    fn header_fields(&mut self, header: &[u8], fields: &[HeaderField]) -> fmt::Result {
        for &(name, in_type, offset, size) in fields {
            let value = header.get(offset..offset + size).ok_or(fmt::Error)?;
            self.field(name, "", in_type, OutType::Default, value)?;
        }
        Ok(())
    }

    /// The metadata of field `name``suffix` and its value.
    #[inline(never)]
    fn field(
        &mut self,
        name: &str,
        suffix: &str,
        in_type: InType,
        out_type: OutType,
        value: &[u8],
    ) -> fmt::Result {
        self.meta.push(name.as_bytes())?;
        self.meta.push(suffix.as_bytes())?;
        if out_type.as_int() == OutType::Default.as_int() {
            self.meta.push(&[0, in_type.as_int()])?;
        } else {
            self.meta.push(&[0, in_type.as_int() | 0x80, out_type.as_int()])?;
        }
        self.data.push(value)
    }

    /// A counted value (string or binary): `UINT16` byte count, then the bytes.
    #[inline(never)]
    fn counted(&mut self, name: &str, suffix: &str, in_type: InType, bytes: &[u8]) -> fmt::Result {
        let count = u16::try_from(bytes.len()).map_err(|_| fmt::Error)?;
        self.field(name, suffix, in_type, OutType::Default, &count.to_le_bytes())?;
        self.data.push(bytes)
    }
}

impl Default for Event {
    fn default() -> Self {
        Self::new()
    }
}

impl FieldVisitor for Event {
    fn unsigned(&mut self, name: &'static str, value: u64) -> fmt::Result {
        self.field(name, "", InType::U64, OutType::Default, &value.to_le_bytes())
    }
    fn signed(&mut self, name: &'static str, value: i64) -> fmt::Result {
        self.field(name, "", InType::I64, OutType::Default, &value.to_le_bytes())
    }
    fn hex(&mut self, name: &'static str, value: u64) -> fmt::Result {
        self.field(name, "", InType::Hex64, OutType::Default, &value.to_le_bytes())
    }
    fn status(&mut self, name: &'static str, value: i32) -> fmt::Result {
        self.field(name, "", InType::Hex32, OutType::NtStatus, &value.to_le_bytes())
    }
    fn boolean(&mut self, name: &'static str, value: bool) -> fmt::Result {
        self.field(
            name,
            "",
            InType::Bool32,
            OutType::Default,
            &u32::from(value).to_le_bytes(),
        )
    }
    fn enumeration(&mut self, name: &'static str, value: u32, label: Option<&'static str>) -> fmt::Result {
        self.field(name, "", InType::U32, OutType::Default, &value.to_le_bytes())?;
        label.map_or(Ok(()), |label| {
            self.counted(name, "_name", InType::Str8, label.as_bytes())
        })
    }
    fn string(&mut self, name: &'static str, value: WStrView<'_>) -> fmt::Result {
        let units = value.as_units();
        // SAFETY: the same memory as `units`, read as bytes (u16 has no
        // padding; the machine is little-endian, as UTF-16LE wants).
        let bytes = unsafe { core::slice::from_raw_parts(units.as_ptr().cast::<u8>(), size_of_val(units)) };
        self.counted(name, "", InType::Str16, bytes)?;
        if value.is_truncated() {
            self.field(
                name,
                "_truncated",
                InType::Bool32,
                OutType::Default,
                &1_u32.to_le_bytes(),
            )?;
        }
        Ok(())
    }
    fn guid(&mut self, name: &'static str, value: &[u8; 16]) -> fmt::Result {
        self.field(name, "", InType::Guid, OutType::Default, value)
    }
    fn bytes(&mut self, name: &'static str, value: &[u8]) -> fmt::Result {
        self.counted(name, "", InType::Binary, value)
    }
}
