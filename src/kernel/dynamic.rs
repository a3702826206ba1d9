//! Routines newer than the oldest supported Windows, looked up by name with
//! `MmGetSystemRoutineAddress` at DriverEntry: a missing one is reported by
//! the registration that needs it, never a load failure.

use core::{
    ffi::c_void,
    sync::atomic::{AtomicPtr, Ordering},
};

use wdk_sys::ntddk::MmGetSystemRoutineAddress;

use crate::kernel::unicode::WideName;

/// A kernel routine looked up by name at `DriverEntry`.
pub struct DynamicRoutine {
    name: WideName,
    address: AtomicPtr<c_void>,
}

impl DynamicRoutine {
    /// A routine named `name` (resolved by [`resolve`](Self::resolve)).
    ///
    /// # IRQL
    /// Any (const).
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

    /// Forgets the address (at unload).
    ///
    /// # IRQL
    /// Any.
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
