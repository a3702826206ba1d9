//! Wire format shared by the `kcallbacks` driver and the `kcbctl` client.
//!
//! - [`SourceId`]: the catalog of callback sources, with stable numbers.
//! - [`EventRecord`]: one record per callback firing, a 512-byte image in
//!   memory: a 48-byte [`EventHeader`] and a payload whose layout is the
//!   source's [`Payload`] type (e.g. [`ImageLoadPayload`]). Strings are
//!   inline UTF-16 [`WStr`]s. On the wire (format v2, [`stream`]) a record
//!   takes only its used bytes, its header's `size` giving the length;
//!   untrusted bytes are decoded with [`EventRecord::decode_wire`] /
//!   [`stream::decode_records`], which validate everything and refuse the
//!   retired format v1 (fixed 512-byte records).
//! - [`write_text`] / [`write_json`]: one line per event, without
//!   allocating (usable from the driver's `DbgPrint` drain).
//! - [`cost`]: log2 histograms of the time spent in notify routines.
//! - [`ioctl`]: control codes, request/response structs, and the safe
//!   encode/decode helpers used on both sides of `DeviceIoControl`.
//!
//! The crate is `no_std` and allocation-free; its one dependency is
//! `zerocopy` (no default features). Every wire struct derives
//! `FromBytes, IntoBytes, Immutable, KnownLayout` on a `#[repr(C)]` layout,
//! so a struct with padding bytes does not compile; byte-level conversions
//! go through the [`Pod`] helpers ([`bytes_of`], [`read_pod`], ...).

#![no_std]

#[cfg(test)]
extern crate std;

pub mod cost;
mod error;
pub mod flight;
mod format;
mod header;
pub mod ioctl;
pub mod params;
mod payload;
mod pod;
mod record;
mod source;
pub mod stream;
mod visit;
mod wstr;

pub use cost::{CostHeader, CostHistogram, CostResponse, write_cost};
pub use error::DecodeError;
pub use format::{FileTime, GuidFmt, write_json, write_json_string, write_text};
pub use header::{
    EventHeader, FLAG_TRUNCATED, HEADER_SIZE, PAYLOAD_SIZE, RECORD_SIZE, RECORD_VERSION,
    RETIRED_RECORD_VERSION, SIZE_OFFSET, kind, kind_name,
};
pub use ioctl::*;
pub use payload::*;
pub use pod::{Pod, bytes_of, read_pod, slice_bytes_mut, write_pod, zeroed};
pub use record::EventRecord;
pub use source::{SOURCE_COUNT, SourceId};
pub use visit::FieldVisitor;
pub use wstr::{WStr, WStrView};

#[cfg(test)]
mod tests;
