//! Plain-old-data conversions between wire structs and bytes.
//!
//! Every wire struct in this crate implements the unsafe [`Pod`] trait, and
//! all conversions between structs and bytes go through the three helpers in
//! this module ([`bytes_of`], [`read_pod`], [`zeroed`]), each of which holds a
//! single documented `unsafe` operation. The [`pod_struct!`] macro declares a
//! `#[repr(C)]` struct and proves at compile time that it has no padding (its
//! size equals the sum of its field sizes) and that every field is itself
//! `Pod`, so the `unsafe impl` it emits is sound by construction.

use core::mem::size_of;

/// A type whose values can be copied to and from raw bytes.
///
/// # Safety
///
/// An implementor must guarantee all of the following:
/// - it is `#[repr(C)]` (or `#[repr(transparent)]` / a primitive / an array of
///   `Pod`), so its layout is fixed;
/// - it has no padding bytes, so every byte of a value is initialized;
/// - every bit pattern of `size_of::<Self>()` bytes is a valid value (only
///   integers and arrays of integers: no `bool`, `char`, enums, references or
///   pointers);
/// - its alignment is at most 8.
pub unsafe trait Pod: Copy + 'static {}

macro_rules! impl_pod_primitive {
    ($($t:ty),* $(,)?) => {
        $(
            // SAFETY: primitive integers have no padding, accept every bit
            // pattern and have an alignment of at most 8.
            unsafe impl Pod for $t {}
        )*
    };
}

impl_pod_primitive!(u8, u16, u32, u64, i8, i16, i32, i64);

// SAFETY: an array of `Pod` elements has no padding (the element size is a
// multiple of its alignment), accepts every bit pattern its elements accept
// and has the element's alignment.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}

/// Views a `Pod` value as its bytes.
#[must_use]
pub const fn bytes_of<T: Pod>(value: &T) -> &[u8] {
    // SAFETY: `value` is a valid reference, so `size_of::<T>()` bytes starting
    // at it are readable for the lifetime of the borrow; `T: Pod` has no
    // padding, so every one of those bytes is initialized; `u8` has
    // alignment 1.
    unsafe { core::slice::from_raw_parts(core::ptr::from_ref(value).cast::<u8>(), size_of::<T>()) }
}

/// Views a slice of `Pod` values as its bytes, mutably (any bytes written
/// leave valid values behind).
#[must_use]
pub const fn slice_bytes_mut<T: Pod>(values: &mut [T]) -> &mut [u8] {
    let len = size_of_val(values);
    // SAFETY: `values` is an exclusive borrow of `len` initialized bytes
    // (`T: Pod` has no padding), readable and writable for the borrow's
    // lifetime, which the result takes over; `u8` has alignment 1; every
    // byte pattern written through the result is a valid `T` (`T: Pod`).
    unsafe { core::slice::from_raw_parts_mut(values.as_mut_ptr().cast::<u8>(), len) }
}

/// Copies a `Pod` value out of the first `size_of::<T>()` bytes of `bytes`.
///
/// Returns `None` when `bytes` is shorter than `T`. The bytes need not be
/// aligned. The result is a copy: it never refers to `bytes`.
#[must_use]
pub fn read_pod<T: Pod>(bytes: &[u8]) -> Option<T> {
    let src = bytes.get(..size_of::<T>())?;
    // SAFETY: `src` holds exactly `size_of::<T>()` readable, initialized
    // bytes; `read_unaligned` has no alignment requirement; `T: Pod` accepts
    // every bit pattern, so the value read is valid.
    Some(unsafe { src.as_ptr().cast::<T>().read_unaligned() })
}

/// Copies `value` into the start of `out`.
///
/// Returns the number of bytes written, or `None` (writing nothing) when
/// `out` is shorter than `T`.
#[must_use]
pub fn write_pod<T: Pod>(value: &T, out: &mut [u8]) -> Option<usize> {
    let dst = out.get_mut(..size_of::<T>())?;
    dst.copy_from_slice(bytes_of(value));
    Some(size_of::<T>())
}

/// Returns the all-zero value of a `Pod` type.
#[must_use]
pub const fn zeroed<T: Pod>() -> T {
    // SAFETY: `T: Pod` accepts every bit pattern, including all zeros.
    unsafe { core::mem::zeroed() }
}

/// Declares a `#[repr(C)]` wire struct whose fields are all public `Pod`
/// types, asserts at compile time that it has no padding, and implements
/// [`Pod`] for it.
///
/// Extra attributes (docs, derives, `#[repr(align(8))]`) pass through.
macro_rules! pod_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, PartialEq, Eq)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                pub $field: $ty,
            )*
        }

        const _: () = {
            const fn field_is_pod<T: $crate::pod::Pod>() {}
            $( field_is_pod::<$ty>(); )*
            assert!(
                core::mem::size_of::<$name>() == 0 $( + core::mem::size_of::<$ty>() )*,
                concat!(stringify!($name), " has padding bytes: add explicit pad fields"),
            );
            assert!(core::mem::align_of::<$name>() <= 8);
        };

        // SAFETY: the struct is `#[repr(C)]`, every field is `Pod` (checked by
        // `field_is_pod` above), its size equals the sum of its field sizes so
        // it has no padding (checked above), and its alignment is at most 8.
        unsafe impl $crate::pod::Pod for $name {}
    };
}

pub(crate) use pod_struct;

#[cfg(test)]
mod tests {
    use super::*;

    pod_struct! {
        /// Test struct.
        #[derive(Debug)]
        pub struct Sample {
            /// a
            pub a: u32,
            /// b
            pub b: u16,
            /// c
            pub c: [u8; 2],
            /// d
            pub d: u64,
        }
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
