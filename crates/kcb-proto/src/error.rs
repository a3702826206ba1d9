//! [`DecodeError`]: why untrusted bytes were refused (records, streams,
//! replies).

use core::fmt;

use crate::header::{HEADER_SIZE, RECORD_SIZE};

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
