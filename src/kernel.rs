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

use core::{
    ffi::c_void,
    sync::atomic::{AtomicPtr, Ordering},
};

use wdk_sys::{POBJECT_TYPE, ntddk::MmGetSystemRoutineAddress};

use crate::unicode::WideName;

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

/// A kernel routine looked up by name at `DriverEntry`.
pub struct DynamicRoutine {
    name: WideName,
    address: AtomicPtr<c_void>,
}

impl DynamicRoutine {
    /// A routine named `name` (resolved by [`resolve`](Self::resolve)).
    #[must_use]
    pub const fn new(name: &str) -> Self {
        Self {
            name: WideName::new(name),
            address: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    /// Looks the routine up; returns whether the system exports it.
    ///
    /// # IRQL
    /// PASSIVE_LEVEL.
    pub fn resolve(&'static self) -> bool {
        let mut name = self.name.as_unicode_string();
        // SAFETY: a valid UNICODE_STRING over static memory.
        let address = unsafe { MmGetSystemRoutineAddress(&raw mut name) };
        self.address.store(address, Ordering::Release);
        !address.is_null()
    }

    /// The resolved address, if the system exports the routine.
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub fn address(&self) -> Option<*mut c_void> {
        let address = self.address.load(Ordering::Acquire);
        (!address.is_null()).then_some(address)
    }

    /// `Ok` if the system exports the routine, else "not exported" (used
    /// for removal routines: what cannot be removed is not registered).
    ///
    /// # Errors
    /// [`Failure::not_exported`].
    pub fn require(&self) -> Result<(), crate::guard::Failure> {
        self.address()
            .map(|_| ())
            .ok_or_else(crate::guard::Failure::not_exported)
    }

    /// Forgets the address (at unload).
    pub fn clear(&self) {
        self.address.store(core::ptr::null_mut(), Ordering::Release);
    }
}

/// Casts a resolved address to the routine's function type.
///
/// ```ignore
/// let f = dynamic_fn!(ROUTINE as unsafe extern "C" fn(u32) -> i32);
/// ```
#[macro_export]
macro_rules! dynamic_fn {
    ($routine:expr => $ty:ty) => {
        $routine.address().map(|address| {
            // SAFETY: MmGetSystemRoutineAddress returned this address for
            // the routine of that name, whose documented prototype is $ty.
            unsafe { core::mem::transmute::<*mut core::ffi::c_void, $ty>(address) }
        })
    };
}

/// `KernelMode` as the `KPROCESSOR_MODE` (`CCHAR`) the Ke/Ob routines take.
#[allow(clippy::cast_possible_truncation, reason = "KernelMode is 0")]
pub const KERNEL_MODE: i8 = wdk_sys::_MODE::KernelMode as i8;

/// Static memory the kernel keeps a pointer into (a registration record, a
/// dump buffer, an event): nonpaged (it is in the driver image), with a
/// stable address for the driver's life.
///
/// Every access goes through the raw pointer from [`get`](Self::get); each
/// user documents why its accesses do not race (typically: written only
/// before the registration that publishes it, read by the kernel after).
pub struct KernelCell<T>(core::cell::UnsafeCell<T>);

// SAFETY: the cell only hands out raw pointers; the users' documented
// protocols (see each static) rule out data races.
unsafe impl<T> Sync for KernelCell<T> {}

impl<T> KernelCell<T> {
    /// A cell holding `value`.
    #[must_use]
    pub const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }

    /// The stable address of the contents.
    #[must_use]
    pub const fn get(&self) -> *mut T {
        self.0.get()
    }
}
