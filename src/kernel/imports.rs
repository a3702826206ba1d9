//! Every kernel export the driver links by name that the bindings cannot
//! provide, in one raw-dylib block against `ntoskrnl.exe`.
//!
//! * Data exports (`PsThreadType`, ...): bindgen's plain extern statics do
//!   not link against the import library (windows-drivers-rs issue #338).
//! * Routines missing from the WDK headers the bindings come from
//!   (`ZwQuerySystemInformation`) or that the driver calls only as a
//!   fallback (`ExAllocatePoolWithTag`, see [`crate::kernel::pool`]).
//!
//! In host builds the kernel model (`crates/ntsim`) defines the same
//! symbols. Routines resolved at run time are in [`crate::kernel::dynamic`].

use core::ffi::c_void;

use wdk_sys::POBJECT_TYPE;

#[cfg_attr(
    target_os = "windows",
    link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
)]
unsafe extern "C" {
    /// `PsProcessType`: the kernel's variable holding the process object
    /// type. (C code sees `POBJECT_TYPE *PsProcessType`, the address of this
    /// variable; here the static *is* the variable, so its address is what
    /// `OB_OPERATION_REGISTRATION.ObjectType` wants and its value is the type.)
    pub static PsProcessType: POBJECT_TYPE;
    /// `PsThreadType`: the thread object type variable (see [`PsProcessType`]).
    pub static PsThreadType: POBJECT_TYPE;
    /// `ExDesktopObjectType`: the desktop object type variable.
    pub static ExDesktopObjectType: POBJECT_TYPE;
    /// `HalDispatchTable`: the HAL dispatch table itself (its first fields
    /// are [`HalDispatchPrefix`]).
    pub static HalDispatchTable: HalDispatchPrefix;

    /// `ExAllocatePoolWithTag` (wdm/nf-wdm-exallocatepoolwithtag): the
    /// fallback where `ExAllocatePool2` is not exported (older Windows, Wine).
    ///
    /// # IRQL
    /// `<= DISPATCH_LEVEL` for non-paged pool, `<= APC_LEVEL` for paged pool.
    pub fn ExAllocatePoolWithTag(pool_type: i32, number_of_bytes: usize, tag: u32) -> *mut c_void;

    /// `ZwQuerySystemInformation` (win32/sysinfo/zwquerysysteminformation):
    /// not in the WDK headers the bindings come from.
    ///
    /// # IRQL
    /// PASSIVE_LEVEL.
    pub fn ZwQuerySystemInformation(
        system_information_class: u32,
        system_information: *mut c_void,
        system_information_length: u32,
        return_length: *mut u32,
    ) -> i32;
}

/// The documented start of `HAL_DISPATCH` (ntddk.h): version, then the
/// query and set routines.
#[repr(C)]
pub struct HalDispatchPrefix {
    /// `Version`.
    pub version: u32,
    /// `HalQuerySystemInformation`.
    pub query_system_information: wdk_sys::pHalQuerySystemInformation,
    /// `HalSetSystemInformation`.
    pub set_system_information: wdk_sys::pHalSetSystemInformation,
}
