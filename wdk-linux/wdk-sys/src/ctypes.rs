//! C types as the Windows x64 (LLP64) ABI defines them.
//!
//! The bindings name their C types through this module rather than
//! `core::ffi`, so that `long` is 32 bits even when this crate is compiled for
//! the Linux host (LP64), and every struct keeps its Windows x64 layout there.

#![allow(non_camel_case_types)]

/// `char` (signed on MSVC).
pub type c_char = i8;
/// `signed char`.
pub type c_schar = i8;
/// `unsigned char`.
pub type c_uchar = u8;
/// `short`.
pub type c_short = i16;
/// `unsigned short`.
pub type c_ushort = u16;
/// `int`.
pub type c_int = i32;
/// `unsigned int`.
pub type c_uint = u32;
/// `long`: 32 bits on Windows.
pub type c_long = i32;
/// `unsigned long`: 32 bits on Windows.
pub type c_ulong = u32;
/// `long long`.
pub type c_longlong = i64;
/// `unsigned long long`.
pub type c_ulonglong = u64;
/// `float`.
pub type c_float = f32;
/// `double`.
pub type c_double = f64;
/// `void`.
pub use core::ffi::c_void;
