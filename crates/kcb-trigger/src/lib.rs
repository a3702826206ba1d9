//! `kcbtrig.sys`: a minimal WDM driver for the Wine end-to-end test.
//!
//! Its only purpose is to be loaded into the same `winedevice.exe` as
//! `kcallbacks.sys` (both services share a load-order group), so that the
//! load-image notify routine `kcallbacks` registered with
//! `PsSetLoadImageNotifyRoutine` fires for a real image load. `DriverEntry`
//! prints `kcbtrig: DriverEntry` and installs a `DriverUnload` that prints
//! `kcbtrig: unload`; nothing else.
//!
//! In a host (non-Windows) build, as `cargo test --workspace` makes it, the
//! crate is empty apart from linking `std` (so the `no_std` cdylib has a panic
//! handler); the kernel panic handler of `wdk-panic` is only linked into the
//! Windows driver image.

#![no_std]

#[cfg(not(target_os = "windows"))]
extern crate std;

#[cfg(target_os = "windows")]
extern crate wdk_panic;

#[cfg(target_os = "windows")]
mod driver {
    use wdk_sys::{
        _DPFLTR_TYPE::DPFLTR_IHVDRIVER_ID, DPFLTR_ERROR_LEVEL, DRIVER_OBJECT, NTSTATUS, PCUNICODE_STRING,
        PDRIVER_OBJECT, STATUS_SUCCESS, ntddk::DbgPrintEx,
    };

    /// `DbgPrintEx` component id, as `DPFLTR_IHVDRIVER_ID` (an enum value).
    #[allow(clippy::cast_sign_loss)]
    const COMPONENT: u32 = DPFLTR_IHVDRIVER_ID as u32;

    /// Prints a NUL-terminated message without format arguments.
    fn log(message: &core::ffi::CStr) {
        // SAFETY: the format is a NUL-terminated string with no conversion
        // specifications, so DbgPrintEx reads no variadic arguments.
        unsafe {
            DbgPrintEx(COMPONENT, DPFLTR_ERROR_LEVEL, message.as_ptr());
        }
    }

    /// The driver's entry point (the image's `/ENTRY`).
    ///
    /// # Safety
    /// Called by the I/O manager only, with a valid driver object.
    #[unsafe(export_name = "DriverEntry")]
    pub unsafe extern "system" fn driver_entry(
        driver: &mut DRIVER_OBJECT,
        _registry_path: PCUNICODE_STRING,
    ) -> NTSTATUS {
        log(c"kcbtrig: DriverEntry\n");
        driver.DriverUnload = Some(driver_unload);
        STATUS_SUCCESS
    }

    /// `DriverUnload`: runs on `sc stop kcbtrig`.
    unsafe extern "C" fn driver_unload(_driver: PDRIVER_OBJECT) {
        log(c"kcbtrig: unload\n");
    }
}
