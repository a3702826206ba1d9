//! The crash-dump flight recorder's blob: the newest events of the ring,
//! added to a crash dump as secondary data by the driver's
//! `KbCallbackSecondaryDumpData` callback, under [`FLIGHT_GUID`].
//!
//! Layout (little-endian, format v2): a 24-byte [`FlightHeader`] (`magic`
//! = [`FLIGHT_MAGIC`], `version` = [`FLIGHT_VERSION`], `count`, `length`)
//! followed by `count` wire records (`length` bytes, see [`crate::stream`]),
//! oldest first. A version-1 blob (16-byte header, fixed 512-byte records)
//! is refused with [`DecodeError::RetiredFormat`]. Retrieve it from a dump
//! in `WinDbg` with `.enumtag` (lists secondary-data tags) and `.dumpdebug`,
//! save the tagged block to a file, and decode it with `kcbctl decode-dump
//! FILE`.

use crate::stream::{Records, STREAM_VERSION, decode_container_header, decode_records};
use crate::{DecodeError, RECORD_SIZE};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `KCBFLT01` (the blob's name; the format version is the `version` field).
pub const FLIGHT_MAGIC: [u8; 8] = *b"KCBFLT01";
/// Blob layout version: 2, variable-size records.
pub const FLIGHT_VERSION: u32 = STREAM_VERSION;
/// The secondary-data GUID {5c1e9b2a-7f43-4d8e-9a61-0c3b5e2f8d17}, as the
/// 16 bytes of a Windows GUID (Data1..3 little-endian).
pub const FLIGHT_GUID: [u8; 16] = crate::guid_bytes(
    0x5c1e_9b2a,
    0x7f43,
    0x4d8e,
    [0x9a, 0x61, 0x0c, 0x3b, 0x5e, 0x2f, 0x8d, 0x17],
);

/// The blob's header.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct FlightHeader {
    /// [`FLIGHT_MAGIC`].
    pub magic: [u8; 8],
    /// [`FLIGHT_VERSION`].
    pub version: u32,
    /// Records that follow.
    pub count: u32,
    /// Bytes of records that follow.
    pub length: u32,
    /// Reserved, zero.
    pub reserved: u32,
}

/// Header size in bytes.
pub const FLIGHT_HEADER_SIZE: usize = size_of::<FlightHeader>();
/// Offset of the version field (the same in every version).
pub const FLIGHT_VERSION_OFFSET: usize = 8;

/// The largest blob of `count` records.
#[must_use]
pub const fn flight_size(count: usize) -> usize {
    FLIGHT_HEADER_SIZE + count * RECORD_SIZE
}

/// How many records of any size surely fit in `limit` bytes (e.g.
/// `MaximumAllowed`).
#[must_use]
pub const fn records_within(limit: usize) -> usize {
    if limit < FLIGHT_HEADER_SIZE {
        0
    } else {
        (limit - FLIGHT_HEADER_SIZE) / RECORD_SIZE
    }
}

/// A header for `count` records taking `length` bytes.
#[must_use]
pub const fn flight_header(count: u32, length: u32) -> FlightHeader {
    FlightHeader {
        magic: FLIGHT_MAGIC,
        version: FLIGHT_VERSION,
        count,
        length,
        reserved: 0,
    }
}

/// Checks a blob's magic, version and header; returns the header. Never
/// panics.
///
/// # Errors
/// Short input, wrong magic, a retired (v1) or unknown version.
pub fn decode_flight_header(bytes: &[u8]) -> Result<FlightHeader, DecodeError> {
    const { assert!(FLIGHT_VERSION_OFFSET == FLIGHT_MAGIC.len()) };
    decode_container_header(bytes, &FLIGHT_MAGIC)
}

/// Decodes a blob: the header, the framing of every record, then each
/// record validated as it is read (with its byte offset in the blob).
///
/// # Errors
/// See [`decode_flight_header`]; then `length` beyond the bytes, or
/// framing that does not match `count` and `length` exactly. Never panics.
pub fn decode_flight(bytes: &[u8]) -> Result<Records<'_>, DecodeError> {
    let header = decode_flight_header(bytes)?;
    let length = header.length as usize;
    let body = bytes[FLIGHT_HEADER_SIZE..]
        .get(..length)
        .ok_or_else(|| DecodeError::TooShort {
            needed: FLIGHT_HEADER_SIZE.saturating_add(length),
            actual: bytes.len(),
        })?;
    decode_records(body, header.count as usize, FLIGHT_HEADER_SIZE)
}

#[cfg(test)]
mod tests {
    use std::vec::Vec;

    use super::*;
    use crate::stream::StreamWriter;
    use crate::{EventRecord, SourceId, bytes_of};

    fn blob(records: &[EventRecord]) -> Vec<u8> {
        let mut body = std::vec![0_u8; records.len() * RECORD_SIZE];
        let mut writer = StreamWriter::new(&mut body);
        for record in records {
            assert!(writer.push(record));
        }
        let (count, len) = (writer.count(), writer.len());
        body.truncate(len);
        let mut out = Vec::new();
        out.extend_from_slice(bytes_of(&flight_header(
            u32::try_from(count).unwrap(),
            u32::try_from(len).unwrap(),
        )));
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn round_trip_and_garbage() {
        let records = [
            EventRecord::new(SourceId::Nmi, 1),
            EventRecord::new(SourceId::Nmi, 2),
        ];
        let blob = blob(&records);
        assert_eq!(blob.len(), FLIGHT_HEADER_SIZE + 2 * crate::HEADER_SIZE);
        let decoded: Vec<_> = decode_flight(&blob).unwrap().map(|(_, r)| r.unwrap()).collect();
        assert_eq!(decoded, records);
        assert!(decode_flight(&blob[..20]).is_err());
        assert!(decode_flight(&blob[..FLIGHT_HEADER_SIZE + 10]).is_err());
        let mut bad = blob.clone();
        bad[0] = b'X';
        assert_eq!(
            decode_flight(&bad).err(),
            Some(DecodeError::InvalidField("magic"))
        );
        let mut huge = blob.clone();
        huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_flight(&huge).is_err());
        let mut long = blob;
        long[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode_flight(&long), Err(DecodeError::TooShort { .. })));
        assert_eq!(records_within(flight_size(3) + 511), 3);
        assert_eq!(records_within(4), 0);
    }

    #[test]
    fn version_1_blob_is_refused_by_name() {
        // A v1 blob: 16-byte header (magic, version 1, count) + 512-byte records.
        let mut v1 = Vec::new();
        v1.extend_from_slice(&FLIGHT_MAGIC);
        v1.extend_from_slice(&1_u32.to_le_bytes());
        v1.extend_from_slice(&1_u32.to_le_bytes());
        let mut record = EventRecord::new(SourceId::Nmi, 0);
        record.header.version = 1;
        v1.extend_from_slice(record.as_bytes());
        let error = decode_flight(&v1).err().unwrap();
        assert_eq!(
            error,
            DecodeError::RetiredFormat {
                found: 1,
                expected: 2
            }
        );
        let message = std::format!("{error}");
        assert!(
            message.contains("format v1 (fixed 512-byte records) is no longer read"),
            "{message}"
        );
        assert!(message.contains("v2"), "{message}");
        v1[8] = 3;
        assert_eq!(decode_flight(&v1).err(), Some(DecodeError::UnsupportedVersion(3)));
    }
}
