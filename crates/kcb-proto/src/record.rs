//! The event record: a fixed 512-byte image in memory, its used prefix
//! (header + payload up to its last non-zero byte) on the wire.

use core::fmt;
use core::mem::{align_of, offset_of, size_of};

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::error::DecodeError;
use crate::header::{
    EventHeader, FLAG_TRUNCATED, HEADER_SIZE, PAYLOAD_SIZE, RECORD_SIZE, RECORD_VERSION,
    RETIRED_RECORD_VERSION, SIZE_OFFSET,
};
use crate::payload::{self, Payload, PayloadArea};
use crate::pod::{Pod, bytes_of, read_pod, zeroed};
use crate::source::SourceId;
use crate::visit::{FieldVisitor, Strings};
use crate::wstr::WStrView;

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
    assert!(size_of::<EventRecord>() == RECORD_SIZE);
    assert!(align_of::<EventRecord>() == 8);
    assert!(offset_of!(EventRecord, payload) == HEADER_SIZE);
};

impl PayloadArea for EventRecord {
    fn view<P: Payload>(&self) -> &P {
        self.payload_ref()
    }
}

impl Default for EventRecord {
    fn default() -> Self {
        Self::ZERO
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

    const fn payload_ref<P: Pod>(&self) -> &P {
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
