//! `RtlGetVersion` (wdm/nf-wdm-rtlgetversion): the version of the running
//! system.
//!
//! PASSIVE_LEVEL; the caller sets `dwOSVersionInfoSize` to the size
//! of the structure it passes (`RTL_OSVERSIONINFOW`, 276 bytes, or
//! `RTL_OSVERSIONINFOEXW`, 284 bytes, wdm/ns-wdm-_osversioninfoexw); the
//! routine "returns STATUS_SUCCESS". Another size is a precondition without
//! a documented status: an NSIM `InvalidParameter` violation, and
//! `STATUS_INVALID_PARAMETER`.
//!
//! The model reports Windows 10.0 (the kernel version of Windows 10 and 11)
//! with build [`DEFAULT_BUILD`] (Windows 11 24H2, the build the seed notes
//! on callback-object internals describe) unless a test sets another with
//! [`set_build`]; every boot restores the default.

#![allow(non_snake_case)]

use std::sync::atomic::{AtomicU32, Ordering};

use wdk_sys::{NTSTATUS, STATUS_INVALID_PARAMETER, STATUS_SUCCESS};

use crate::ddi;
use crate::verifier::{self, ModelRule};

/// The build the model reports after boot.
pub const DEFAULT_BUILD: u32 = 26100;

/// `sizeof(RTL_OSVERSIONINFOW)`.
pub const OSVERSIONINFOW_SIZE: u32 = 276;
/// `sizeof(RTL_OSVERSIONINFOEXW)`.
pub const OSVERSIONINFOEXW_SIZE: u32 = 284;
/// `VER_PLATFORM_WIN32_NT`.
const VER_PLATFORM_WIN32_NT: u32 = 2;

static BUILD: AtomicU32 = AtomicU32::new(DEFAULT_BUILD);

/// Makes `RtlGetVersion` report build `build` (until the next boot).
pub fn set_build(build: u32) {
    BUILD.store(build, Ordering::SeqCst);
}

/// The build `RtlGetVersion` reports.
#[must_use]
pub fn build() -> u32 {
    BUILD.load(Ordering::SeqCst)
}

pub(crate) fn reset() {
    set_build(DEFAULT_BUILD);
}

/// The leading members of `RTL_OSVERSIONINFOW` (wdm/ns-wdm-_osversioninfow).
#[repr(C)]
struct VersionHeader {
    size: u32,
    major: u32,
    minor: u32,
    build: u32,
    platform: u32,
}

/// `RtlGetVersion` (see the module docs).
///
/// # Safety
/// `information` points to a writable structure of the size its
/// `dwOSVersionInfoSize` says.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RtlGetVersion(information: *mut core::ffi::c_void) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::RTL_GET_VERSION));
    if information.is_null() {
        verifier::model_rule(
            ModelRule::InvalidParameter,
            0,
            "RtlGetVersion(NULL): lpVersionInformation is required (wdm/nf-wdm-rtlgetversion)".to_owned(),
        );
        return STATUS_INVALID_PARAMETER;
    }
    let header = information.cast::<VersionHeader>();
    // SAFETY: readable per the caller (the size field comes first).
    let size = unsafe { (*header).size };
    if size != OSVERSIONINFOW_SIZE && size != OSVERSIONINFOEXW_SIZE {
        verifier::model_rule(
            ModelRule::InvalidParameter,
            u64::from(size),
            format!(
                "RtlGetVersion: dwOSVersionInfoSize {size} is neither sizeof(RTL_OSVERSIONINFOW) nor sizeof(RTL_OSVERSIONINFOEXW) (wdm/nf-wdm-rtlgetversion)"
            ),
        );
        return STATUS_INVALID_PARAMETER;
    }
    let filled = VersionHeader {
        size,
        major: 10,
        minor: 0,
        build: build(),
        platform: VER_PLATFORM_WIN32_NT,
    };
    // SAFETY: the structure is `size` (>= 276) bytes long and writable; its
    // fixed members come first.
    unsafe { header.write(filled) };
    let rest = information.cast::<u8>().wrapping_add(size_of::<VersionHeader>());
    // SAFETY: szCSDVersion[128] and the Ex members follow, up to `size`
    // bytes in all: emptied (no service pack).
    unsafe { rest.write_bytes(0, size as usize - size_of::<VersionHeader>()) };
    STATUS_SUCCESS
}
