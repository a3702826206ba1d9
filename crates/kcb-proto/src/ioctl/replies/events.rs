//! `IOCTL_KCB_READ_EVENTS`: a header, then wire records back to back
//! ([`crate::stream`]); [`ReadEventsWriter`] fills it in the driver,
//! [`decode_read_events`] checks it in the client.

use core::mem::size_of;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::wire::u32_sat;
use crate::error::DecodeError;
use crate::header::{RECORD_SIZE, RETIRED_RECORD_VERSION};
use crate::ioctl::codes::RequestError;
use crate::pod::{read_pod, write_pod};
use crate::record::EventRecord;
use crate::stream::{self, Records, STREAM_VERSION, StreamWriter, decode_records, retired};

/// [`ReadEventsResponse::magic`]: `KCBEVENT`.
pub const READ_EVENTS_MAGIC: [u8; 8] = *b"KCBEVENT";

/// `IOCTL_KCB_READ_EVENTS` output header (format v2), followed by
/// `returned` wire records, `length` bytes in all (at offset 40, so
/// 8-byte aligned when the buffer is; see [`crate::stream`]).
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ReadEventsResponse {
    /// [`READ_EVENTS_MAGIC`].
    pub magic: [u8; 8],
    /// [`STREAM_VERSION`](crate::stream::STREAM_VERSION) (2).
    pub version: u32,
    /// Records in this buffer.
    pub returned: u32,
    /// Bytes of records after the header.
    pub length: u32,
    /// Records left in the client queue.
    pub pending: u32,
    /// Total records dropped since the driver started.
    pub dropped_total: u64,
    /// Wire size of the next waiting record (0 if none): a reply with
    /// no record and a non-zero `next_size` asks for a larger buffer.
    pub next_size: u32,
    /// Reserved, zero.
    pub reserved: u32,
}

/// Size of the [`ReadEventsResponse`] header.
pub const READ_EVENTS_HEADER_SIZE: usize = size_of::<ReadEventsResponse>();

/// Size of the retired format-v1 reply header (`returned`, `pending`,
/// `dropped_total`, then fixed 512-byte records), recognised only to be
/// refused.
const RETIRED_READ_EVENTS_HEADER_SIZE: usize = 16;

/// Output buffer size that holds `n` records of any size.
#[must_use]
pub const fn read_events_buffer_size(n: usize) -> usize {
    READ_EVENTS_HEADER_SIZE + n * RECORD_SIZE
}

/// Driver side: fills a `READ_EVENTS` output buffer record by record,
/// whole records only.
///
/// ```
/// # use kcb_proto::*;
/// let mut out = [0u8; read_events_buffer_size(2)];
/// let mut w = ReadEventsWriter::new(&mut out, 0).unwrap();
/// let record = EventRecord::new(SourceId::Flood, 0);
/// // pop from the queue only when there is room, so nothing is lost
/// while w.fits(record.wire_len()) {
///     assert!(w.push(&record));
/// }
/// let len = w.finish(0, 0, 0);
/// // 48-byte records in room for two 512-byte ones
/// assert_eq!(decode_read_events(&out[..len]).unwrap().len(), 2 * 512 / 48);
/// ```
pub struct ReadEventsWriter<'a> {
    header: &'a mut [u8],
    records: StreamWriter<'a>,
    max_records: usize,
}

impl<'a> ReadEventsWriter<'a> {
    /// Starts a reply in `out`, limited to `max_records` records (0 = no
    /// limit besides the buffer size).
    ///
    /// # Errors
    /// [`RequestError::TooSmall`] if `out` cannot hold the header.
    pub fn new(out: &'a mut [u8], max_records: u32) -> Result<Self, RequestError> {
        if out.len() < READ_EVENTS_HEADER_SIZE {
            return Err(RequestError::TooSmall);
        }
        let (header, body) = out.split_at_mut(READ_EVENTS_HEADER_SIZE);
        let max_records = match usize::try_from(max_records) {
            Ok(max) if max != 0 => max,
            _ => usize::MAX,
        };
        Ok(Self {
            header,
            records: StreamWriter::new(body),
            max_records,
        })
    }

    /// Whether one more record of `wire_len` bytes fits (room and count).
    #[must_use]
    pub const fn fits(&self, wire_len: usize) -> bool {
        self.records.count() < self.max_records && self.records.fits(wire_len)
    }

    /// Appends a record; returns `false` (writing nothing) when it does
    /// not fit.
    pub fn push(&mut self, record: &EventRecord) -> bool {
        self.fits(record.wire_len()) && self.records.push(record)
    }

    /// Records written so far.
    #[must_use]
    pub const fn written(&self) -> usize {
        self.records.count()
    }

    /// Writes the header and returns the total bytes used (the IRP's
    /// `Information`). `next_size` is the wire size of the first record
    /// left waiting (0 if none).
    #[must_use]
    pub fn finish(self, pending: u32, dropped_total: u64, next_size: u32) -> usize {
        let header = ReadEventsResponse {
            magic: READ_EVENTS_MAGIC,
            version: STREAM_VERSION,
            returned: u32_sat(self.records.count()),
            length: u32_sat(self.records.len()),
            pending,
            dropped_total,
            next_size,
            reserved: 0,
        };
        // `new` checked that the header fits.
        let _ = write_pod(&header, self.header);
        READ_EVENTS_HEADER_SIZE + self.records.len()
    }
}

/// A decoded `READ_EVENTS` reply.
#[derive(Debug, Clone, Copy)]
pub struct EventBatch<'a> {
    /// The header.
    pub header: ReadEventsResponse,
    records: Records<'a>,
}

impl<'a> EventBatch<'a> {
    /// Number of records.
    #[must_use]
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are no records.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.records.len() == 0
    }

    /// The records, each validated by [`EventRecord::decode_wire`].
    #[must_use]
    pub fn records(&self) -> impl ExactSizeIterator<Item = Result<EventRecord, DecodeError>> + 'a {
        self.records.map(|(_, record)| record)
    }
}

/// Whether `bytes` look like a retired format-v1 reply: a 16-byte header
/// whose `returned` matches a whole number of 512-byte records, the first
/// of which (if any) says version 1.
fn is_retired_reply(bytes: &[u8]) -> bool {
    let Some(returned) = read_pod::<u32>(bytes) else {
        return false;
    };
    let expected = usize::try_from(returned)
        .ok()
        .and_then(|n| n.checked_mul(RECORD_SIZE))
        .and_then(|n| n.checked_add(RETIRED_READ_EVENTS_HEADER_SIZE));
    let first_version = bytes
        .get(RETIRED_READ_EVENTS_HEADER_SIZE..)
        .and_then(read_pod::<u16>);
    expected == Some(bytes.len()) && (returned == 0 || first_version == Some(RETIRED_RECORD_VERSION))
}

/// Client side: decodes a `READ_EVENTS` reply (`bytes` = the returned
/// length of the output buffer).
///
/// # Errors
/// A retired format-v1 reply ([`DecodeError::RetiredFormat`]), a wrong
/// magic or version, a short header, or framing that does not match
/// `returned` and `length` exactly ([`crate::stream::decode_records`]).
/// Individual records are validated lazily by [`EventBatch::records`].
/// Never panics.
pub fn decode_read_events(bytes: &[u8]) -> Result<EventBatch<'_>, DecodeError> {
    if !bytes.starts_with(&READ_EVENTS_MAGIC) && is_retired_reply(bytes) {
        return Err(retired());
    }
    let header: ReadEventsResponse = stream::decode_container_header(bytes, &READ_EVENTS_MAGIC)?;
    let length = usize::try_from(header.length).map_err(|_| DecodeError::InvalidField("length"))?;
    let returned = usize::try_from(header.returned).map_err(|_| DecodeError::InvalidField("returned"))?;
    let body = &bytes[READ_EVENTS_HEADER_SIZE..];
    let body = body.get(..length).ok_or_else(|| DecodeError::TooShort {
        needed: READ_EVENTS_HEADER_SIZE.saturating_add(length),
        actual: bytes.len(),
    })?;
    let records = decode_records(body, returned, READ_EVENTS_HEADER_SIZE)?;
    Ok(EventBatch { header, records })
}
