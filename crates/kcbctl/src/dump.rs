//! The flight-recorder blob: the driver's last events, saved as crash-dump
//! secondary data by its bug-check reason callback.
//!
//! # Format (v2)
//!
//! Defined by [`kcb_proto::flight`] and [`kcb_proto::stream`]; all integers
//! little-endian.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic, the ASCII bytes `KCBFLT01` ([`FLIGHT_MAGIC`]) |
//! | 8 | 4 | `version`, [`FLIGHT_VERSION`] (2) |
//! | 12 | 4 | `count`, number of records that follow |
//! | 16 | 4 | `length`, bytes of records that follow |
//! | 20 | 4 | reserved, zero |
//! | 24 | `length` | `count` wire records, oldest first: each a 48-byte header whose `size` field (offset 14) gives the record's length (a multiple of 8, 48..=512), then the payload's used bytes |
//!
//! A version-1 blob (fixed 512-byte records) is refused with
//! [`DumpError::Retired`], which names both versions.
//!
//! Where a file extracted from a dump by hand needs it, kcbctl is stricter
//! and more forgiving than
//! [`decode_flight`](kcb_proto::flight::decode_flight):
//! - anything after the last record must be zero bytes (the unused tail of
//!   the secondary-data buffer), so a wrong file is not taken for a blob;
//! - a blob without the header is accepted too: then the file must be a
//!   sequence of wire records, possibly followed by zero bytes;
//! - each record's content is validated on its own by
//!   [`EventRecord::decode_wire`], so one torn record (the system was
//!   crashing) does not hide the others (its framing must be intact).
//!
//! [`decode_dump`] validates every field and never panics.

use std::fmt;

use kcb_proto::flight::{
    FLIGHT_HEADER_SIZE, FLIGHT_MAGIC, FLIGHT_VERSION, FLIGHT_VERSION_OFFSET, flight_header,
};
use kcb_proto::stream::{RETIRED_STREAM_VERSION, StreamWriter, decode_records, retired};
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
    /// The blob is in the retired format v1 (fixed 512-byte records).
    Retired,
    /// The header's version is neither [`FLIGHT_VERSION`] nor the retired 1.
    UnsupportedVersion(u32),
    /// The header announces more bytes of records than the file holds.
    TruncatedRecords {
        /// Bytes of records announced.
        length: u32,
        /// Bytes present after the header.
        present: usize,
    },
    /// The records' framing is broken (a size field, or `count` and
    /// `length` disagree).
    Framing(DecodeError),
    /// Non-zero bytes after the last announced record.
    TrailingData {
        /// Offset of the first non-zero byte.
        offset: usize,
    },
    /// No magic, and the file is not a sequence of wire records.
    NotRecords {
        /// Bytes in the file.
        actual: usize,
        /// Why the first bad record could not be framed.
        error: DecodeError,
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
            Self::Retired => write!(f, "blob {}", retired()),
            Self::UnsupportedVersion(v) => {
                write!(f, "blob version {v}, this kcbctl reads version {FLIGHT_VERSION}")
            }
            Self::TruncatedRecords { length, present } => write!(
                f,
                "the header announces {length} bytes of records but the file holds only \
                 {present}"
            ),
            Self::Framing(e) => write!(f, "the records' framing is broken: {e}"),
            Self::TrailingData { offset } => write!(
                f,
                "unexpected non-zero data at offset {offset}, after the last announced record"
            ),
            Self::NotRecords { actual, error } => write!(
                f,
                "no `KCBFLT01` header, and the {actual} bytes are not a sequence of wire \
                 records: {error}"
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
    /// The record slots, in file order.
    pub slots: Vec<Slot>,
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

/// Decodes a headerless file: wire records back to back, then zero bytes.
fn decode_headerless(bytes: &[u8]) -> Result<Vec<Slot>, DumpError> {
    let mut slots = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() && bytes[offset..].iter().any(|&b| b != 0) {
        let size = EventRecord::wire_size(&bytes[offset..], offset).map_err(|error| match error {
            DecodeError::RetiredFormat { .. } => DumpError::Retired,
            error => DumpError::NotRecords {
                actual: bytes.len(),
                error,
            },
        })?;
        slots.push(Slot {
            index: slots.len(),
            offset,
            record: EventRecord::decode_wire(&bytes[offset..offset + size]).map(|(r, _)| r),
        });
        offset += size;
    }
    Ok(slots)
}

/// Decodes a blob (see the module documentation for the format).
///
/// # Errors
/// A [`DumpError`] when the blob as a whole is malformed. Records whose
/// content is invalid are not errors: they are [`Slot`]s holding the
/// [`DecodeError`]. Never panics.
pub fn decode_dump(bytes: &[u8]) -> Result<Dump, DumpError> {
    if bytes.is_empty() {
        return Err(DumpError::Empty);
    }
    if !bytes.starts_with(&FLIGHT_MAGIC) {
        return Ok(Dump {
            has_header: false,
            slots: decode_headerless(bytes)?,
        });
    }
    let version = read_pod::<u32>(&bytes[FLIGHT_VERSION_OFFSET..])
        .ok_or(DumpError::TruncatedHeader { actual: bytes.len() })?;
    if version == RETIRED_STREAM_VERSION {
        return Err(DumpError::Retired);
    }
    if version != FLIGHT_VERSION {
        return Err(DumpError::UnsupportedVersion(version));
    }
    let Some(header) = read_pod::<kcb_proto::flight::FlightHeader>(bytes) else {
        return Err(DumpError::TruncatedHeader { actual: bytes.len() });
    };
    let body = &bytes[FLIGHT_HEADER_SIZE..];
    let records_len = usize::try_from(header.length)
        .ok()
        .filter(|&n| n <= body.len())
        .ok_or(DumpError::TruncatedRecords {
            length: header.length,
            present: body.len(),
        })?;
    let (records, tail) = body.split_at(records_len);
    let count = usize::try_from(header.count).unwrap_or(usize::MAX);
    let framed = decode_records(records, count, FLIGHT_HEADER_SIZE).map_err(DumpError::Framing)?;
    if let Some(pos) = tail.iter().position(|&b| b != 0) {
        return Err(DumpError::TrailingData {
            offset: FLIGHT_HEADER_SIZE + records_len + pos,
        });
    }
    let slots = framed
        .enumerate()
        .map(|(index, (offset, record))| Slot {
            index,
            offset,
            record,
        })
        .collect();
    Ok(Dump {
        has_header: true,
        slots,
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
    let mut body = vec![0_u8; records.len() * RECORD_SIZE];
    let mut writer = StreamWriter::new(&mut body);
    for record in records {
        assert!(writer.push(record), "room for every record");
    }
    let len = writer.len();
    body.truncate(len);
    let length = u32::try_from(len).expect("at most u32::MAX bytes");
    let mut out = Vec::with_capacity(FLIGHT_HEADER_SIZE + len);
    out.extend_from_slice(bytes_of(&flight_header(count, length)));
    out.extend_from_slice(&body);
    out
}
