//! The flight-recorder blob: the driver's last events, saved as crash-dump
//! secondary data by its bug-check reason callback.
//!
//! # Format
//!
//! Defined by [`kcb_proto::flight`]; all integers little-endian.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic, the ASCII bytes `KCBFLT01` ([`FLIGHT_MAGIC`]) |
//! | 8 | 4 | `version`, [`FLIGHT_VERSION`] (1) |
//! | 12 | 4 | `count`, number of records that follow |
//! | 16 | `count * 512` | `count` whole [`EventRecord`]s (`kcb_proto` wire layout), oldest first |
//!
//! Where a file extracted from a dump by hand needs it, kcbctl is stricter
//! and more forgiving than
//! [`decode_flight`](kcb_proto::flight::decode_flight):
//! - anything after the last record must be zero bytes (the unused tail of
//!   the fixed-size secondary-data buffer), so a wrong file is not taken for
//!   a blob;
//! - a blob without the header is accepted too: then the whole file must be
//!   a sequence of whole records, and all-zero records are empty slots
//!   (skipped);
//! - each record is validated on its own by [`EventRecord::from_bytes`], so
//!   one torn record (the system was crashing) does not hide the others.
//!
//! [`decode_dump`] validates every field and never panics.

use std::fmt;

use kcb_proto::flight::{FLIGHT_HEADER_SIZE, FLIGHT_MAGIC, FLIGHT_VERSION, FlightHeader, flight_header};
use kcb_proto::{DecodeError, EventRecord, RECORD_SIZE, bytes_of, read_pod};

/// Why a blob could not be decoded at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpError {
    /// The file is empty.
    Empty,
    /// The magic is present but the header is cut.
    TruncatedHeader {
        /// Bytes in the file.
        actual: usize,
    },
    /// The header's version is not [`FLIGHT_VERSION`].
    UnsupportedVersion(u32),
    /// The header announces more records than the file holds.
    TruncatedRecords {
        /// Records announced.
        count: u32,
        /// Whole records present.
        present: usize,
    },
    /// Non-zero bytes after the last announced record.
    TrailingData {
        /// Offset of the first non-zero byte.
        offset: usize,
    },
    /// No magic, and the size is not a whole number of records.
    NotRecords {
        /// Bytes in the file.
        actual: usize,
    },
}

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Empty => f.write_str("the file is empty"),
            Self::TruncatedHeader { actual } => write!(
                f,
                "the header is cut: {actual} bytes, a header is {FLIGHT_HEADER_SIZE}"
            ),
            Self::UnsupportedVersion(v) => {
                write!(f, "blob version {v}, this kcbctl reads version {FLIGHT_VERSION}")
            }
            Self::TruncatedRecords { count, present } => write!(
                f,
                "the header announces {count} records but the file holds only {present} \
                 whole records"
            ),
            Self::TrailingData { offset } => write!(
                f,
                "unexpected non-zero data at offset {offset}, after the last announced record"
            ),
            Self::NotRecords { actual } => write!(
                f,
                "no `KCBFLT01` header, and {actual} bytes is not a whole number of \
                 {RECORD_SIZE}-byte records"
            ),
        }
    }
}

impl std::error::Error for DumpError {}

/// One record slot of a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Position in the blob (0-based).
    pub index: usize,
    /// Byte offset of the record in the file.
    pub offset: usize,
    /// The decoded record, or why it is invalid.
    pub record: Result<EventRecord, DecodeError>,
}

/// A decoded blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dump {
    /// Whether the file had the `KCBFLT01` header.
    pub has_header: bool,
    /// The record slots, in file order (empty slots of a headerless blob
    /// left out).
    pub slots: Vec<Slot>,
    /// All-zero slots skipped (headerless blobs only).
    pub empty_slots: usize,
}

impl Dump {
    /// The valid records.
    pub fn records(&self) -> impl Iterator<Item = &EventRecord> {
        self.slots.iter().filter_map(|s| s.record.as_ref().ok())
    }

    /// Number of invalid records.
    #[must_use]
    pub fn invalid_count(&self) -> usize {
        self.slots.iter().filter(|s| s.record.is_err()).count()
    }
}

fn decode_slots(records: &[u8], base: usize, skip_empty: bool) -> (Vec<Slot>, usize) {
    let mut slots = Vec::with_capacity(records.len() / RECORD_SIZE);
    let mut empty = 0;
    for (index, chunk) in records.chunks_exact(RECORD_SIZE).enumerate() {
        if skip_empty && chunk.iter().all(|&b| b == 0) {
            empty += 1;
            continue;
        }
        slots.push(Slot {
            index,
            offset: base + index * RECORD_SIZE,
            record: EventRecord::from_bytes(chunk),
        });
    }
    (slots, empty)
}

/// Decodes a blob (see the module documentation for the format).
///
/// # Errors
/// A [`DumpError`] when the blob as a whole is malformed. Invalid
/// individual records are not errors: they are [`Slot`]s holding the
/// [`DecodeError`]. Never panics.
pub fn decode_dump(bytes: &[u8]) -> Result<Dump, DumpError> {
    if bytes.is_empty() {
        return Err(DumpError::Empty);
    }
    if !bytes.starts_with(&FLIGHT_MAGIC) {
        if !bytes.len().is_multiple_of(RECORD_SIZE) {
            return Err(DumpError::NotRecords { actual: bytes.len() });
        }
        let (slots, empty_slots) = decode_slots(bytes, 0, true);
        return Ok(Dump {
            has_header: false,
            slots,
            empty_slots,
        });
    }
    let Some(FlightHeader { version, count, .. }) = read_pod::<FlightHeader>(bytes) else {
        return Err(DumpError::TruncatedHeader { actual: bytes.len() });
    };
    if version != FLIGHT_VERSION {
        return Err(DumpError::UnsupportedVersion(version));
    }
    let body = &bytes[FLIGHT_HEADER_SIZE..];
    let present = body.len() / RECORD_SIZE;
    let records_len = usize::try_from(count)
        .ok()
        .filter(|&n| n <= present)
        .and_then(|n| n.checked_mul(RECORD_SIZE))
        .ok_or(DumpError::TruncatedRecords { count, present })?;
    let (records, tail) = body.split_at(records_len);
    if let Some(pos) = tail.iter().position(|&b| b != 0) {
        return Err(DumpError::TrailingData {
            offset: FLIGHT_HEADER_SIZE + records_len + pos,
        });
    }
    let (slots, empty_slots) = decode_slots(records, FLIGHT_HEADER_SIZE, false);
    Ok(Dump {
        has_header: true,
        slots,
        empty_slots,
    })
}

/// Encodes `records` as a blob with a header (the bytes the driver puts in
/// its secondary-data buffer; used by tests and fuzzing).
///
/// # Panics
/// If there are more than `u32::MAX` records.
#[must_use]
pub fn encode_dump(records: &[EventRecord]) -> Vec<u8> {
    let count = u32::try_from(records.len()).expect("at most u32::MAX records");
    let mut out = Vec::with_capacity(FLIGHT_HEADER_SIZE + records.len() * RECORD_SIZE);
    out.extend_from_slice(bytes_of(&flight_header(count)));
    for record in records {
        out.extend_from_slice(record.as_bytes());
    }
    out
}
