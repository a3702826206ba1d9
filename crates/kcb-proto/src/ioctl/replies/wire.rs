//! What every reply shares: the [`Response`] trait for fixed-size replies,
//! the version check, [`PodSlice`] (entries decoded on access) and the
//! NUL-padded ASCII fields.

use core::fmt;
use core::marker::PhantomData;
use core::mem::size_of;

use crate::error::DecodeError;
use crate::ioctl::codes::{PROTOCOL_VERSION, RequestError};
use crate::pod::{Pod, read_pod, write_pod, zeroed};

/// Writes `value` at the start of `out`, returning the bytes written.
///
/// # Errors
/// [`RequestError::TooSmall`] (writing nothing) if `out` is shorter than `T`.
pub fn write_response<T: Pod>(out: &mut [u8], value: &T) -> Result<usize, RequestError> {
    write_pod(value, out).ok_or(RequestError::TooSmall)
}

/// A fixed-size response struct the client can decode and validate.
pub trait Response: Pod {
    /// Checks version and count fields.
    ///
    /// # Errors
    /// The first inconsistency found.
    fn check(&self) -> Result<(), DecodeError> {
        Ok(())
    }
}

/// Decodes a fixed-size response from the bytes the driver returned.
///
/// # Errors
/// [`DecodeError::TooShort`] if `bytes` is shorter than `T`, or what
/// [`Response::check`] reports. Never panics.
pub fn decode_response<T: Response>(bytes: &[u8]) -> Result<T, DecodeError> {
    let value: T = read_header(bytes)?;
    value.check()?;
    Ok(value)
}

/// Copies the fixed part `T` of a reply out of `bytes`.
pub(crate) fn read_header<T: Pod>(bytes: &[u8]) -> Result<T, DecodeError> {
    read_pod(bytes).ok_or(DecodeError::TooShort {
        needed: size_of::<T>(),
        actual: bytes.len(),
    })
}

/// Checks a reply's `version` field against [`PROTOCOL_VERSION`].
pub(crate) const fn check_version(version: u32) -> Result<(), DecodeError> {
    if version == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(DecodeError::UnsupportedVersion(version))
    }
}

/// `n` as a `u32` count, saturated.
pub(crate) fn u32_sat(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A read-only array of `Pod` entries in a response buffer, decoded (copied)
/// on access.
#[derive(Clone, Copy)]
pub struct PodSlice<'a, T> {
    bytes: &'a [u8],
    _marker: PhantomData<T>,
}

impl<'a, T: Pod> PodSlice<'a, T> {
    /// The first `count` entries of `bytes`.
    ///
    /// # Errors
    /// [`DecodeError::TooShort`] if `bytes` holds fewer than `count` entries.
    pub fn new(bytes: &'a [u8], count: usize) -> Result<Self, DecodeError> {
        let needed = count
            .checked_mul(size_of::<T>())
            .ok_or(DecodeError::InvalidField("count"))?;
        let bytes = bytes.get(..needed).ok_or(DecodeError::TooShort {
            needed,
            actual: bytes.len(),
        })?;
        Ok(Self {
            bytes,
            _marker: PhantomData,
        })
    }

    /// Number of entries.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.bytes.len() / size_of::<T>()
    }

    /// Whether there are no entries.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Entry `index`, if in range.
    #[must_use]
    pub fn get(&self, index: usize) -> Option<T> {
        let start = index.checked_mul(size_of::<T>())?;
        read_pod(self.bytes.get(start..)?)
    }

    /// Iterates the entries.
    #[must_use]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = T> + 'a {
        // Every chunk has exactly `size_of::<T>()` bytes, so `read_pod` succeeds.
        self.bytes
            .chunks_exact(size_of::<T>())
            .map(|chunk| read_pod(chunk).unwrap_or_else(zeroed))
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for PodSlice<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Copies `s` into a NUL-padded ASCII field, replacing non-ASCII bytes with
/// `?` and cutting at `N` bytes.
#[must_use]
pub fn ascii_field<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    for (dst, b) in out.iter_mut().zip(s.bytes()) {
        *dst = if b.is_ascii() && b != 0 { b } else { b'?' };
    }
    out
}

/// Reads a NUL-padded ASCII field (up to the first NUL); non-ASCII content
/// yields `"?"`.
#[must_use]
pub fn ascii_str(field: &[u8]) -> &str {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    let bytes = &field[..end];
    if bytes.is_ascii() {
        core::str::from_utf8(bytes).unwrap_or("?")
    } else {
        "?"
    }
}

/// Declares a module of `u32` codes, each with its doc and a short
/// description, and the module's `describe` (the description of a code,
/// `None` for an unknown one): one row per code, so a code cannot lack its
/// description.
macro_rules! described_codes {
    (
        $(#[$doc:meta])*
        pub mod $module:ident {
            $( $(#[$code_doc:meta])* $code:ident = $value:literal => $description:literal, )*
        }
    ) => {
        $(#[$doc])*
        pub mod $module {
            $(
                $(#[$code_doc])*
                pub const $code: u32 = $value;
            )*

            /// A short description of `code`, if known.
            #[must_use]
            pub const fn describe(code: u32) -> Option<&'static str> {
                match code {
                    $( $code => Some($description), )*
                    _ => None,
                }
            }
        }
    };
}

pub(crate) use described_codes;

/// Declares a field-less enum carried in a reply as a raw integer, with
/// its conversion from the raw value (`None` for an unknown one) and its
/// short lowercase name: one row per variant.
macro_rules! wire_enum {
    (
        $(#[$doc:meta])*
        pub enum $name:ident: $raw:ident, $from:ident {
            $( $(#[$variant_doc:meta])* $variant:ident = $value:literal => $label:literal, )*
        }
    ) => {
        $(#[$doc])*
        #[repr($raw)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$variant_doc])* $variant = $value, )*
        }

        impl $name {
            /// Converts a raw value.
            #[must_use]
            pub const fn $from(value: $raw) -> Option<Self> {
                match value {
                    $( $value => Some(Self::$variant), )*
                    _ => None,
                }
            }

            /// A short lowercase name, e.g. for `kcbctl`'s tables.
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self {
                    $( Self::$variant => $label, )*
                }
            }
        }
    };
}

pub(crate) use wire_enum;
