//! Wire format v2 of record streams: the `READ_EVENTS` reply and the
//! flight-recorder blob carry records back to back at their real size.
//!
//! A stream is a container header (its own magic, [`STREAM_VERSION`], the
//! record count and the byte length of the records) followed by the
//! records. Each record is an [`EventRecord`]'s wire form: the 48-byte
//! header, whose `size` field gives the record's total length (a multiple
//! of 8 in `HEADER_SIZE..=RECORD_SIZE`), then the payload up to its last
//! non-zero byte. So records stay 8-byte aligned when the stream is.
//!
//! [`decode_records`] checks the whole framing before anything is read:
//! every size field, the count and the exact byte length; content is then
//! validated record by record. Input in the retired format v1 (fixed
//! 512-byte records) is refused with [`DecodeError::RetiredFormat`].

use crate::error::DecodeError;
use crate::header::{RECORD_VERSION, RETIRED_RECORD_VERSION};
use core::mem::size_of;

use crate::pod::{Pod, read_pod, slice_bytes_mut};
use crate::record::EventRecord;

/// Version of the stream formats ([`crate::ReadEventsResponse`],
/// [`crate::flight::FlightHeader`]): 2 = variable-size records.
pub const STREAM_VERSION: u32 = RECORD_VERSION as u32;
/// The retired stream version (fixed 512-byte records).
pub const RETIRED_STREAM_VERSION: u32 = RETIRED_RECORD_VERSION as u32;

/// Checks a container's version field.
///
/// # Errors
/// [`DecodeError::RetiredFormat`] for version 1,
/// [`DecodeError::UnsupportedVersion`] for any other but [`STREAM_VERSION`].
pub const fn check_version(version: u32) -> Result<(), DecodeError> {
    if version == RETIRED_STREAM_VERSION {
        Err(retired())
    } else if version == STREAM_VERSION {
        Ok(())
    } else {
        Err(DecodeError::UnsupportedVersion(version))
    }
}

/// Decodes the header `H` of a stream container (the `READ_EVENTS` reply,
/// the flight-recorder blob): `magic` first, a `u32` version at offset 8
/// checked by [`check_version`], then the whole header.
///
/// # Errors
/// [`DecodeError::TooShort`] (needing the whole header) or
/// [`DecodeError::InvalidField`] naming `magic` for a wrong magic; as
/// [`check_version`]. Never panics.
pub fn decode_container_header<H: Pod>(bytes: &[u8], magic: &[u8; 8]) -> Result<H, DecodeError> {
    let too_short = || DecodeError::TooShort {
        needed: size_of::<H>(),
        actual: bytes.len(),
    };
    if !bytes.starts_with(magic) {
        return Err(if bytes.len() < magic.len() {
            too_short()
        } else {
            DecodeError::InvalidField("magic")
        });
    }
    let version = read_pod::<u32>(&bytes[magic.len()..]).ok_or_else(too_short)?;
    check_version(version)?;
    read_pod(bytes).ok_or_else(too_short)
}

/// The refusal of format v1 input.
#[must_use]
pub const fn retired() -> DecodeError {
    DecodeError::RetiredFormat {
        found: RETIRED_STREAM_VERSION,
        expected: STREAM_VERSION,
    }
}

/// `count` records whose framing [`decode_records`] has checked.
#[derive(Debug, Clone, Copy)]
pub struct Records<'a> {
    rest: &'a [u8],
    offset: usize,
    left: usize,
}

impl Records<'_> {
    /// An empty list.
    pub const EMPTY: Records<'static> = Records {
        rest: &[],
        offset: 0,
        left: 0,
    };
}

#[allow(
    clippy::copy_iterator,
    reason = "a checked view: each `EventBatch::records` call walks its own copy"
)]
impl Iterator for Records<'_> {
    /// The record's byte offset (from the start of the `base` given to
    /// [`decode_records`]) and the record, validated on its own.
    type Item = (usize, Result<EventRecord, DecodeError>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        // The framing was checked, so the size is valid; stay defensive.
        let Ok(size) = EventRecord::wire_size(self.rest, self.offset) else {
            self.left = 0;
            return None;
        };
        let (record, rest) = self.rest.split_at(size);
        let offset = self.offset;
        self.rest = rest;
        self.offset += size;
        self.left -= 1;
        Some((offset, EventRecord::decode_wire(record).map(|(r, _)| r)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Records<'_> {}

/// Checks the framing of `count` wire records filling exactly `body`.
///
/// Every record's size field must lie within what is left (and no record
/// may be in the retired format). `base` is the offset of `body` in the
/// input, for error messages and [`Records`]' offsets. Never panics; the
/// work is bounded by `body.len()`.
///
/// # Errors
/// The first bad record header ([`EventRecord::wire_size`]), too few bytes
/// for `count` records, or bytes left over after them
/// ([`DecodeError::WrongSize`]).
pub fn decode_records(body: &[u8], count: usize, base: usize) -> Result<Records<'_>, DecodeError> {
    let mut at = 0_usize;
    for _ in 0..count {
        at += EventRecord::wire_size(&body[at..], base + at)?;
    }
    if at != body.len() {
        return Err(DecodeError::WrongSize {
            expected: base + at,
            actual: base + body.len(),
        });
    }
    Ok(Records {
        rest: body,
        offset: base,
        left: count,
    })
}

/// Appends wire records to a byte buffer, never splitting one.
#[derive(Debug)]
pub struct StreamWriter<'a> {
    out: &'a mut [u8],
    len: usize,
    count: usize,
}

impl<'a> StreamWriter<'a> {
    /// A writer filling `out` from its start.
    pub const fn new(out: &'a mut [u8]) -> Self {
        Self {
            out,
            len: 0,
            count: 0,
        }
    }

    /// Whether a record of `wire_len` bytes fits in what is left.
    #[must_use]
    pub const fn fits(&self, wire_len: usize) -> bool {
        wire_len <= self.out.len() - self.len
    }

    /// Appends `record`; returns `false` (writing nothing) if it does not fit.
    pub fn push(&mut self, record: &EventRecord) -> bool {
        match record.encode_wire(&mut self.out[self.len..]) {
            Some(n) => {
                self.len += n;
                self.count += 1;
                true
            }
            None => false,
        }
    }

    /// Bytes written.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Records written.
    #[must_use]
    pub const fn count(&self) -> usize {
        self.count
    }
}

/// Re-encodes `records` in place as wire records, back to back from the
/// start of their storage; returns the bytes used.
///
/// Each record moves to an offset no greater than its own, so nothing
/// unread is overwritten. No allocation: the driver's flight recorder uses
/// it at `HIGH_LEVEL`.
pub fn compact_in_place(records: &mut [EventRecord]) -> usize {
    let mut len = 0_usize;
    for index in 0..records.len() {
        let record = records[index];
        let bytes = slice_bytes_mut(records);
        // Record `index` starts at `index * RECORD_SIZE >= len`, and is
        // copied out above: writing `[len, len + wire_len)` touches only
        // records already encoded and this one.
        len += record.encode_wire(&mut bytes[len..]).unwrap_or(0);
    }
    len
}
