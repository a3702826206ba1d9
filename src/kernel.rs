//! Kernel symbols the DDK headers cannot bind, and routines resolved at run
//! time.
//!
//! * Data exports (`PsThreadType`, ...) are declared in a raw-dylib block:
//!   bindgen's plain extern statics do not link against the import library
//!   (windows-drivers-rs issue #338). In host builds the kernel model defines
//!   the same symbols.
//! * Routines newer than the oldest supported Windows are looked up with
//!   `MmGetSystemRoutineAddress`; a missing one is reported, never a load
//!   failure.

use core::ffi::c_void;

use wdk_sys::{POBJECT_TYPE, ntddk::MmGetSystemRoutineAddress};

use crate::unicode::StaticUnicode;

#[cfg_attr(
    target_os = "windows",
    link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
)]
unsafe extern "C" {
    /// `PsThreadType`: the thread object type.
    pub static PsThreadType: *mut POBJECT_TYPE;
}

/// Looks up an exported kernel routine by name.
///
/// # IRQL
/// PASSIVE_LEVEL.
#[must_use]
pub fn system_routine<const N: usize>(name: &'static StaticUnicode<N>) -> *mut c_void {
    let mut name = name.as_unicode_string();
    // SAFETY: `name` is a valid UNICODE_STRING over static memory.
    unsafe { MmGetSystemRoutineAddress(&raw mut name) }
}
