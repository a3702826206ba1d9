//! The event record: a fixed 512-byte image in memory, its used prefix
//! (header + payload up to its last non-zero byte) on the wire.

use core::fmt;
use core::mem::{align_of, offset_of, size_of};

use crate::payload::{self, Payload};
use crate::pod::{Pod, bytes_of, read_pod, zeroed};
use crate::source::SourceId;
use crate::wstr::WStrView;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

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

/// One event: a 48-byte [`EventHeader`] and a 464-byte payload whose
/// layout is given by the header's source (one [`Payload`] type per
/// [`SourceId`]).
///
/// Exactly [`RECORD_SIZE`] bytes, 8-byte aligned, `Copy`.
#[repr(C, align(8))]
#[derive(Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct EventRecord {
    /// The header.
    pub header: EventHeader,
    /// The raw payload; read it through [`EventRecord::payload`].
    pub payload: [u8; PAYLOAD_SIZE],
}

const _: () = {
    assert!(size_of::<EventHeader>() == HEADER_SIZE);
    assert!(size_of::<EventRecord>() == RECORD_SIZE);
    assert!(align_of::<EventRecord>() == 8);
    assert!(offset_of!(EventRecord, payload) == HEADER_SIZE);
    assert!(offset_of!(EventHeader, cpu) == 8);
    assert!(offset_of!(EventHeader, irql) == 12);
    assert!(offset_of!(EventHeader, size) == SIZE_OFFSET);
    assert!(offset_of!(EventHeader, sequence) == 16);
    assert!(offset_of!(EventHeader, timestamp) == 24);
    assert!(offset_of!(EventHeader, pid) == 32);
    assert!(offset_of!(EventHeader, tid) == 40);
};

impl fmt::Debug for EventRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = crate::format::FmtAdapter(f);
        crate::format::write_text(self, &mut text)
    }
}

impl Default for EventRecord {
    fn default() -> Self {
        Self::ZERO
    }
}

/// Why bytes could not be decoded into a record or a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The input is shorter than the structure.
    TooShort {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        actual: usize,
    },
    /// The input or a size field does not match the structure size.
    WrongSize {
        /// Expected size.
        expected: usize,
        /// Size found.
        actual: usize,
    },
    /// The version field is not one this crate understands.
    UnsupportedVersion(u32),
    /// The input is in a retired format this crate no longer reads.
    RetiredFormat {
        /// Format version found.
        found: u32,
        /// Format version this crate reads.
        expected: u32,
    },
    /// A record's size field is not a multiple of 8 in
    /// `HEADER_SIZE..=RECORD_SIZE`, or runs past the input.
    BadRecordSize {
        /// Byte offset of the record in the input.
        offset: usize,
        /// The size field.
        size: usize,
    },
    /// The source id is not in the catalog.
    UnknownSource(u16),
    /// A string's length exceeds its buffer, or its truncation flag is not 0/1.
    BadString,
    /// Another field is out of range (the field name).
    InvalidField(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooShort { needed, actual } => {
                write!(f, "input too short: need {needed} bytes, have {actual}")
            }
            Self::WrongSize { expected, actual } => {
                write!(f, "wrong size: expected {expected} bytes, got {actual}")
            }
            Self::UnsupportedVersion(v) => write!(f, "unsupported version {v}"),
            Self::RetiredFormat { found, expected } => write!(
                f,
                "format v{found}{} is no longer read (this build reads v{expected}, \
                 variable-size records); use the kcbctl of the same driver version",
                if found == 1 {
                    " (fixed 512-byte records)"
                } else {
                    ""
                }
            ),
            Self::BadRecordSize { offset, size } => write!(
                f,
                "record at offset {offset}: size field {size} is not a multiple of 8 in \
                 {HEADER_SIZE}..={RECORD_SIZE} within the input"
            ),
            Self::UnknownSource(s) => write!(f, "unknown source id {s}"),
            Self::BadString => f.write_str("string length beyond its buffer"),
            Self::InvalidField(name) => write!(f, "invalid field `{name}`"),
        }
    }
}

/// Receives the fields of a payload one by one, in layout order.
///
/// The text and JSON formatters are visitors; a client can implement its own
/// (CSV, tables) with no knowledge of the payload layouts.
pub trait FieldVisitor {
    /// An unsigned integer shown in decimal.
    ///
    /// # Errors
    /// Propagates formatter errors.
    fn unsigned(&mut self, name: &'static str, value: u64) -> fmt::Result;
    /// A signed integer shown in decimal.
    ///
    /// # Errors
    /// Propagates formatter errors.
    fn signed(&mut self, name: &'static str, value: i64) -> fmt::Result;
    /// An address, size or bit mask (hex in text, a number in JSON).
    ///
    /// # Errors
    /// Propagates formatter errors.
    fn hex(&mut self, name: &'static str, value: u64) -> fmt::Result;
    /// An NTSTATUS.
    ///
    /// # Errors
    /// Propagates formatter errors.
    fn status(&mut self, name: &'static str, value: i32) -> fmt::Result;
    /// A boolean flag.
    ///
    /// # Errors
    /// Propagates formatter errors.
    fn boolean(&mut self, name: &'static str, value: bool) -> fmt::Result;
    /// A raw enumerated value with its label when known.
    ///
    /// # Errors
    /// Propagates formatter errors.
    fn enumeration(&mut self, name: &'static str, value: u32, label: Option<&'static str>) -> fmt::Result;
    /// An inline UTF-16 string (possibly unvalidated: use its clamping accessors).
    ///
    /// # Errors
    /// Propagates formatter errors.
    fn string(&mut self, name: &'static str, value: WStrView<'_>) -> fmt::Result;
    /// A GUID in Windows memory layout.
    ///
    /// # Errors
    /// Propagates formatter errors.
    fn guid(&mut self, name: &'static str, value: &[u8; 16]) -> fmt::Result;
    /// Raw bytes (hex).
    ///
    /// # Errors
    /// Propagates formatter errors.
    fn bytes(&mut self, name: &'static str, value: &[u8]) -> fmt::Result;
}

/// Visitor that passes every string field to a closure and skips the rest
/// (see [`EventRecord::for_each_string`]).
struct Strings<F>(F);

impl<F: FnMut(&'static str, WStrView<'_>)> FieldVisitor for Strings<F> {
    fn unsigned(&mut self, _: &'static str, _: u64) -> fmt::Result {
        Ok(())
    }
    fn signed(&mut self, _: &'static str, _: i64) -> fmt::Result {
        Ok(())
    }
    fn hex(&mut self, _: &'static str, _: u64) -> fmt::Result {
        Ok(())
    }
    fn status(&mut self, _: &'static str, _: i32) -> fmt::Result {
        Ok(())
    }
    fn boolean(&mut self, _: &'static str, _: bool) -> fmt::Result {
        Ok(())
    }
    fn enumeration(&mut self, _: &'static str, _: u32, _: Option<&'static str>) -> fmt::Result {
        Ok(())
    }
    fn string(&mut self, name: &'static str, value: WStrView<'_>) -> fmt::Result {
        (self.0)(name, value);
        Ok(())
    }
    fn guid(&mut self, _: &'static str, _: &[u8; 16]) -> fmt::Result {
        Ok(())
    }
    fn bytes(&mut self, _: &'static str, _: &[u8]) -> fmt::Result {
        Ok(())
    }
}

/// What [`EventRecord::check_strings`] found in the payload's strings.
#[derive(Default)]
struct StringCheck {
    invalid: bool,
    truncated: bool,
}

impl EventRecord {
    /// The all-zero record (version 0: not a valid event until filled).
    pub const ZERO: Self = zeroed();

    /// A record for `source` with the given `kind`, a zeroed payload and
    /// all other header fields zero.
    #[must_use]
    pub const fn new(source: SourceId, kind: u16) -> Self {
        let mut rec = Self::ZERO;
        rec.header.version = RECORD_VERSION;
        rec.header.source = source.as_u16();
        rec.header.kind = kind;
        rec
    }

    /// A record for `P`'s source with a copy of `payload`; the
    /// [`FLAG_TRUNCATED`] bit is set from the payload's strings.
    #[must_use]
    pub fn with_payload<P: Payload>(kind: u16, payload: &P) -> Self {
        Self::build(kind, |p: &mut P| *p = *payload)
    }

    /// A record for `P`'s source whose zeroed payload is filled in place by
    /// `fill` (no intermediate copy); the [`FLAG_TRUNCATED`] bit is then set
    /// from the payload's strings.
    #[must_use]
    pub fn build<P: Payload>(kind: u16, fill: impl FnOnce(&mut P)) -> Self {
        let mut rec = Self::new(P::SOURCE, kind);
        fill(rec.payload_ref_mut::<P>());
        rec.update_truncated_flag();
        rec
    }

    /// The source, or `None` if the raw id is not in the catalog.
    #[must_use]
    pub const fn source(&self) -> Option<SourceId> {
        SourceId::from_u16(self.header.source)
    }

    /// The payload viewed as `P`, or `None` if the record's source is not
    /// `P::SOURCE`.
    #[must_use]
    pub fn payload<P: Payload>(&self) -> Option<&P> {
        (self.header.source == P::SOURCE.as_u16()).then(|| self.payload_ref::<P>())
    }

    /// The payload viewed mutably as `P`, or `None` if the record's source is
    /// not `P::SOURCE`. Call [`update_truncated_flag`](Self::update_truncated_flag)
    /// after changing strings.
    #[must_use]
    pub fn payload_mut<P: Payload>(&mut self) -> Option<&mut P> {
        if self.header.source == P::SOURCE.as_u16() {
            Some(self.payload_ref_mut::<P>())
        } else {
            None
        }
    }

    pub(crate) const fn payload_ref<P: Pod>(&self) -> &P {
        const { assert!(size_of::<P>() <= PAYLOAD_SIZE && align_of::<P>() <= 8) };
        let ptr = self.payload.as_ptr().cast::<P>();
        // SAFETY: the payload starts at offset 48 of an 8-aligned struct, so
        // `ptr` is aligned for `P` (alignment <= 8, asserted above) and
        // `size_of::<P>() <= PAYLOAD_SIZE` bytes from it lie inside
        // `self.payload`, which is initialized; `P: Pod` (`FromBytes`) accepts
        // every bit pattern and (`Immutable`) has no interior mutability, so
        // reading through a shared borrow of bytes is sound; the returned
        // borrow is tied to `&self`.
        unsafe { &*ptr }
    }

    fn payload_ref_mut<P: Pod>(&mut self) -> &mut P {
        const { assert!(size_of::<P>() <= PAYLOAD_SIZE && align_of::<P>() <= 8) };
        let ptr = self.payload.as_mut_ptr().cast::<P>();
        // SAFETY: as in `payload_ref`; additionally the exclusive borrow of
        // `self` makes this the only reference to those bytes, and any value
        // written through it is a valid `P` whose bytes (`IntoBytes`: no
        // padding) are all initialized, valid `u8`s.
        unsafe { &mut *ptr }
    }

    /// Whether the [`FLAG_TRUNCATED`] bit is set.
    #[must_use]
    pub const fn is_truncated(&self) -> bool {
        self.header.flags & FLAG_TRUNCATED != 0
    }

    /// Recomputes the [`FLAG_TRUNCATED`] bit from the payload's strings.
    pub fn update_truncated_flag(&mut self) {
        let check = self.check_strings();
        if check.truncated {
            self.header.flags |= FLAG_TRUNCATED;
        } else {
            self.header.flags &= !FLAG_TRUNCATED;
        }
    }

    fn check_strings(&self) -> StringCheck {
        let mut check = StringCheck::default();
        self.for_each_string(|_, value| {
            check.invalid |= !value.is_valid();
            check.truncated |= value.is_truncated();
        });
        check
    }

    /// Calls `f` with the name and value of every string field of the
    /// payload, in field order (nothing if the source is unknown).
    pub fn for_each_string(&self, f: impl FnMut(&'static str, WStrView<'_>)) {
        // `Strings` never fails.
        let _ = self.visit_payload(&mut Strings(f));
    }

    /// Feeds the payload's fields to `visitor` (nothing if the source is
    /// unknown).
    ///
    /// # Errors
    /// Propagates the visitor's errors.
    pub fn visit_payload<V: FieldVisitor + ?Sized>(&self, visitor: &mut V) -> fmt::Result {
        self.source()
            .map_or(Ok(()), |source| payload::visit(self, source, visitor))
    }

    /// The record as its 512 wire bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        bytes_of(self)
    }

    /// Bytes that carry content: the header plus the payload up to its last
    /// non-zero byte, rounded up to 8 (payloads start zeroed, so the rest
    /// is zero). The driver's rings store only these; [`from_prefix`](Self::from_prefix)
    /// restores the full record.
    #[must_use]
    pub fn used_len(&self) -> usize {
        let bytes = self.as_bytes();
        let mut end = RECORD_SIZE;
        while end > HEADER_SIZE {
            let word = &bytes[end - 8..end];
            if word.iter().any(|b| *b != 0) {
                break;
            }
            end -= 8;
        }
        end
    }

    /// A record from its first `prefix.len()` bytes (at least the header,
    /// at most [`RECORD_SIZE`]), the rest zero, without validation (the
    /// driver's own rings hold only records it built).
    #[must_use]
    pub fn from_prefix(prefix: &[u8]) -> Self {
        let mut bytes = [0_u8; RECORD_SIZE];
        let n = prefix.len().min(RECORD_SIZE);
        bytes[..n].copy_from_slice(&prefix[..n]);
        read_pod(&bytes).unwrap_or(Self::ZERO)
    }

    /// Checks that the record is one this crate can interpret: current
    /// version, known source and every string length within its buffer.
    ///
    /// # Errors
    /// [`DecodeError::UnsupportedVersion`], [`DecodeError::UnknownSource`] or
    /// [`DecodeError::BadString`].
    pub fn validate(&self) -> Result<(), DecodeError> {
        if self.header.version == RETIRED_RECORD_VERSION {
            return Err(DecodeError::RetiredFormat {
                found: u32::from(RETIRED_RECORD_VERSION),
                expected: u32::from(RECORD_VERSION),
            });
        }
        if self.header.version != RECORD_VERSION {
            return Err(DecodeError::UnsupportedVersion(u32::from(self.header.version)));
        }
        if self.source().is_none() {
            return Err(DecodeError::UnknownSource(self.header.source));
        }
        if self.check_strings().invalid {
            return Err(DecodeError::BadString);
        }
        Ok(())
    }

    /// Size of the record on the wire: [`used_len`](Self::used_len) with the
    /// size field counted (it is never zero there), a multiple of 8 in
    /// `HEADER_SIZE..=RECORD_SIZE`.
    #[must_use]
    pub fn wire_len(&self) -> usize {
        self.used_len()
    }

    /// Writes the record in wire format v2 at the start of `out`: its
    /// [`wire_len`](Self::wire_len) bytes with [`EventHeader::size`] set.
    /// Returns the bytes written, or `None` (writing nothing) when `out`
    /// is too short.
    pub fn encode_wire(&self, out: &mut [u8]) -> Option<usize> {
        let len = self.wire_len();
        let dest = out.get_mut(..len)?;
        dest.copy_from_slice(&self.as_bytes()[..len]);
        #[allow(clippy::cast_possible_truncation, reason = "at most RECORD_SIZE")]
        dest[SIZE_OFFSET..SIZE_OFFSET + 2].copy_from_slice(&(len as u16).to_le_bytes());
        Some(len)
    }

    /// The size field of the wire record at the start of `bytes`, checked
    /// against the format and against `bytes` (`offset` only names the
    /// record in errors). Never panics.
    ///
    /// # Errors
    /// [`DecodeError::TooShort`] without a whole header;
    /// [`DecodeError::RetiredFormat`] for a version-1 record;
    /// [`DecodeError::BadRecordSize`].
    pub fn wire_size(bytes: &[u8], offset: usize) -> Result<usize, DecodeError> {
        let header: EventHeader = read_pod(bytes).ok_or(DecodeError::TooShort {
            needed: offset + HEADER_SIZE,
            actual: offset + bytes.len(),
        })?;
        if header.version == RETIRED_RECORD_VERSION {
            return Err(DecodeError::RetiredFormat {
                found: u32::from(RETIRED_RECORD_VERSION),
                expected: u32::from(RECORD_VERSION),
            });
        }
        // Other versions are left to `validate`: a record of an unknown
        // version with a sound size is one invalid record, not a broken
        // stream.
        let size = usize::from(header.size);
        if !(HEADER_SIZE..=RECORD_SIZE).contains(&size) || !size.is_multiple_of(8) || size > bytes.len() {
            return Err(DecodeError::BadRecordSize { offset, size });
        }
        Ok(size)
    }

    /// Decodes and validates the wire-format v2 record at the start of
    /// untrusted `bytes` (any alignment); returns it (zero-extended to the
    /// in-memory image, its size field cleared) and its size on the wire.
    /// Never panics.
    ///
    /// # Errors
    /// As [`wire_size`](Self::wire_size), then [`validate`](Self::validate).
    pub fn decode_wire(bytes: &[u8]) -> Result<(Self, usize), DecodeError> {
        let size = Self::wire_size(bytes, 0)?;
        let mut record = Self::from_prefix(&bytes[..size]);
        record.header.size = 0;
        record.validate()?;
        Ok((record, size))
    }

    /// Decodes and validates one record from exactly [`RECORD_SIZE`]
    /// untrusted bytes (any alignment). Never panics.
    ///
    /// # Errors
    /// [`DecodeError::TooShort`] / [`DecodeError::WrongSize`] when
    /// `bytes.len() != RECORD_SIZE`, otherwise see [`validate`](Self::validate).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() < RECORD_SIZE {
            return Err(DecodeError::TooShort {
                needed: RECORD_SIZE,
                actual: bytes.len(),
            });
        }
        if bytes.len() > RECORD_SIZE {
            return Err(DecodeError::WrongSize {
                expected: RECORD_SIZE,
                actual: bytes.len(),
            });
        }
        let rec: Self = read_pod(bytes).ok_or(DecodeError::TooShort {
            needed: RECORD_SIZE,
            actual: bytes.len(),
        })?;
        rec.validate()?;
        Ok(rec)
    }
}
