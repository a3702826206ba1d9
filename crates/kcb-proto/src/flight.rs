//! The crash-dump flight recorder's blob: the newest events of the ring,
//! added to a crash dump as secondary data by the driver's
//! `KbCallbackSecondaryDumpData` callback, under [`FLIGHT_GUID`].
//!
//! Layout (little-endian): a 16-byte [`FlightHeader`] (`magic` =
//! [`FLIGHT_MAGIC`], `version` = [`FLIGHT_VERSION`], `count`) followed by
//! `count` whole [`EventRecord`]s, oldest first. Retrieve it from a dump in
//! `WinDbg` with `.enumtag` (lists secondary-data tags) and `.dumpdebug`, save
//! the tagged block to a file, and decode it with `kcbctl decode-dump FILE`.

use crate::{DecodeError, EventRecord, RECORD_SIZE, read_pod};

/// `KCBFLT01`.
pub const FLIGHT_MAGIC: [u8; 8] = *b"KCBFLT01";
/// Blob layout version.
pub const FLIGHT_VERSION: u32 = 1;
/// The secondary-data GUID {5c1e9b2a-7f43-4d8e-9a61-0c3b5e2f8d17}, as the
/// 16 bytes of a Windows GUID (Data1..3 little-endian).
pub const FLIGHT_GUID: [u8; 16] = crate::guid_bytes(
    0x5c1e_9b2a,
    0x7f43,
    0x4d8e,
    [0x9a, 0x61, 0x0c, 0x3b, 0x5e, 0x2f, 0x8d, 0x17],
);

crate::pod::pod_struct! {
    /// The blob's header.
    #[derive(Debug)]
    pub struct FlightHeader {
        /// [`FLIGHT_MAGIC`].
        pub magic: [u8; 8],
        /// [`FLIGHT_VERSION`].
        pub version: u32,
        /// Records that follow.
        pub count: u32,
    }
}

/// Header size in bytes.
pub const FLIGHT_HEADER_SIZE: usize = size_of::<FlightHeader>();

/// The largest blob of `count` records.
#[must_use]
pub const fn flight_size(count: usize) -> usize {
    FLIGHT_HEADER_SIZE + count * RECORD_SIZE
}

/// How many records fit in `limit` bytes (e.g. `MaximumAllowed`).
#[must_use]
pub const fn records_within(limit: usize) -> usize {
    if limit < FLIGHT_HEADER_SIZE {
        0
    } else {
        (limit - FLIGHT_HEADER_SIZE) / RECORD_SIZE
    }
}

/// A header for `count` records.
#[must_use]
pub const fn flight_header(count: u32) -> FlightHeader {
    FlightHeader {
        magic: FLIGHT_MAGIC,
        version: FLIGHT_VERSION,
        count,
    }
}

/// Decodes a blob: the header, then each record validated.
///
/// # Errors
/// Short input, wrong magic or version, a count beyond the bytes, or an
/// invalid record. Never panics.
pub fn decode_flight(
    bytes: &[u8],
) -> Result<impl Iterator<Item = Result<EventRecord, DecodeError>> + '_, DecodeError> {
    let header: FlightHeader = read_pod(bytes).ok_or(DecodeError::TooShort {
        needed: FLIGHT_HEADER_SIZE,
        actual: bytes.len(),
    })?;
    if header.magic != FLIGHT_MAGIC {
        return Err(DecodeError::InvalidField("magic"));
    }
    if header.version != FLIGHT_VERSION {
        return Err(DecodeError::UnsupportedVersion(header.version));
    }
    let count = header.count as usize;
    let needed = count
        .checked_mul(RECORD_SIZE)
        .and_then(|n| n.checked_add(FLIGHT_HEADER_SIZE));
    let needed = needed.ok_or(DecodeError::TooShort {
        needed: usize::MAX,
        actual: bytes.len(),
    })?;
    if bytes.len() < needed {
        return Err(DecodeError::TooShort {
            needed,
            actual: bytes.len(),
        });
    }
    Ok(bytes[FLIGHT_HEADER_SIZE..needed]
        .chunks_exact(RECORD_SIZE)
        .map(EventRecord::from_bytes))
}

#[cfg(test)]
mod tests {
    use std::vec::Vec;

    use super::*;
    use crate::{SourceId, bytes_of};

    #[test]
    fn round_trip_and_garbage() {
        let mut blob = Vec::new();
        blob.extend_from_slice(bytes_of(&flight_header(2)));
        for kind in [1_u16, 2] {
            blob.extend_from_slice(bytes_of(&EventRecord::new(SourceId::Nmi, kind)));
        }
        assert_eq!(blob.len(), flight_size(2));
        let records: Vec<_> = decode_flight(&blob).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].header.kind, 2);
        assert!(decode_flight(&blob[..20]).is_err());
        assert!(decode_flight(&blob[..FLIGHT_HEADER_SIZE + 10]).is_err());
        let mut bad = blob.clone();
        bad[0] = b'X';
        assert!(decode_flight(&bad).is_err());
        let mut huge = blob;
        huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_flight(&huge).is_err());
        assert_eq!(records_within(flight_size(3) + 511), 3);
        assert_eq!(records_within(4), 0);
    }
}
