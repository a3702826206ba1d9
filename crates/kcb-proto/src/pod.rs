//! Plain-old-data conversions between wire structs and bytes, on top of
//! `zerocopy`.
//!
//! Every wire struct derives `FromBytes, IntoBytes, Immutable, KnownLayout`
//! on a `#[repr(C)]` layout: `IntoBytes` refuses (at compile time) a struct
//! with padding bytes, `FromBytes` one with a field that does not accept
//! every bit pattern. [`Pod`] names those bounds together, and the helpers
//! here are the crate's byte-level conversions (the same names as before
//! `zerocopy`, so the driver and `kcbctl` call them unchanged).

use core::mem::size_of;

use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

/// A wire type: fixed layout, no padding, every bit pattern valid.
///
/// Implemented for every type with the four `zerocopy` derives (and for
/// integers and arrays of them); never implemented by hand.
///
/// The no-padding guarantee is the derive's: a wire struct with a padding
/// byte does not compile,
///
/// ```compile_fail
/// #[repr(C)]
/// #[derive(zerocopy::IntoBytes, zerocopy::Immutable)]
/// struct Padded {
///     a: u8,
///     b: u32,
/// }
/// ```
///
/// while the same struct with its padding spelled out as a field does:
///
/// ```
/// #[repr(C)]
/// #[derive(zerocopy::IntoBytes, zerocopy::Immutable)]
/// struct Explicit {
///     a: u8,
///     reserved: [u8; 3],
///     b: u32,
/// }
/// ```
pub trait Pod: FromBytes + IntoBytes + Immutable + KnownLayout + Copy + 'static {}

impl<T: FromBytes + IntoBytes + Immutable + KnownLayout + Copy + 'static> Pod for T {}

/// Views a `Pod` value as its bytes.
#[must_use]
pub fn bytes_of<T: Pod>(value: &T) -> &[u8] {
    value.as_bytes()
}

/// Views a slice of `Pod` values as its bytes, mutably (any bytes written
/// leave valid values behind).
#[must_use]
pub fn slice_bytes_mut<T: Pod>(values: &mut [T]) -> &mut [u8] {
    values.as_mut_bytes()
}

/// Copies a `Pod` value out of the first `size_of::<T>()` bytes of `bytes`.
///
/// Returns `None` when `bytes` is shorter than `T`. The bytes need not be
/// aligned. The result is a copy: it never refers to `bytes`.
#[must_use]
pub fn read_pod<T: Pod>(bytes: &[u8]) -> Option<T> {
    T::read_from_prefix(bytes).ok().map(|(value, _)| value)
}

/// Copies `value` into the start of `out`.
///
/// Returns the number of bytes written, or `None` (writing nothing) when
/// `out` is shorter than `T`.
#[must_use]
pub fn write_pod<T: Pod>(value: &T, out: &mut [u8]) -> Option<usize> {
    value.write_to_prefix(out).ok().map(|()| size_of::<T>())
}

/// Returns the all-zero value of a type, in `const` contexts too
/// (`zerocopy`'s `FromZeros::new_zeroed` is not a `const fn`).
#[must_use]
pub const fn zeroed<T: FromZeros>() -> T {
    // SAFETY: `T: FromZeros` (derived, or implied by `FromBytes`) guarantees
    // that the all-zero bit pattern is a valid `T`.
    unsafe { core::mem::zeroed() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test struct.
    #[repr(C)]
    #[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
    struct Sample {
        a: u32,
        b: u16,
        c: [u8; 2],
        d: u64,
    }

    #[test]
    fn round_trip_unaligned() {
        let s = Sample {
            a: 0x0102_0304,
            b: 0x0506,
            c: [7, 8],
            d: u64::MAX - 1,
        };
        let mut buf = [0u8; 18];
        assert_eq!(write_pod(&s, &mut buf[1..]), Some(16));
        assert_eq!(read_pod::<Sample>(&buf[1..]), Some(s));
        assert_eq!(read_pod::<Sample>(&buf[2..]).map(|x| x.a), Some(0x0601_0203));
        assert_eq!(read_pod::<Sample>(&buf[..15]), None);
        assert_eq!(write_pod(&s, &mut buf[..15]), None);
        assert_eq!(bytes_of(&s).len(), 16);
        assert_eq!(
            zeroed::<Sample>(),
            Sample {
                a: 0,
                b: 0,
                c: [0; 2],
                d: 0
            }
        );
    }
}
