//! Object-manager plumbing: [`ObjectAttributes`] (the one way the driver
//! builds an `OBJECT_ATTRIBUTES`), [`KernelHandle`] (a kernel handle closed
//! on drop), [`DriverObject`] and [`KERNEL_MODE`].
//!
//! Every handle the driver opens is a kernel handle (`OBJ_KERNEL_HANDLE`):
//! some of its routines run in a client's process (IOCTL dispatch), where a
//! handle without that flag would land in the client's handle table ("driver
//! routines that run in a process context other than that of the system
//! process must set the OBJ_KERNEL_HANDLE flag",
//! wdm/nf-wdm-initializeobjectattributes). [`ObjectAttributes`] always sets
//! it, so no call site can forget it.

use core::marker::PhantomData;

use wdk_sys::{
    DRIVER_OBJECT, HANDLE, OBJ_CASE_INSENSITIVE, OBJ_KERNEL_HANDLE, OBJECT_ATTRIBUTES, UNICODE_STRING,
    ntddk::ZwClose,
};

/// `KernelMode` as the `KPROCESSOR_MODE` (`CCHAR`) the Ke/Ob routines take.
#[allow(clippy::cast_possible_truncation, reason = "KernelMode is 0")]
pub const KERNEL_MODE: i8 = wdk_sys::_MODE::KernelMode as i8;

/// The driver object `DriverEntry` received, for registrations that need it.
#[derive(Clone, Copy)]
pub struct DriverObject(*mut DRIVER_OBJECT);

impl DriverObject {
    /// Wraps the driver object.
    ///
    /// # Safety
    /// `driver` is the valid `DRIVER_OBJECT` passed to `DriverEntry`, and
    /// stays valid while the wrapper is used.
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub const unsafe fn new(driver: *mut DRIVER_OBJECT) -> Self {
        Self(driver)
    }

    /// The raw pointer.
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub const fn as_ptr(self) -> *mut DRIVER_OBJECT {
        self.0
    }
}

/// An `OBJECT_ATTRIBUTES` (wdm/nf-wdm-initializeobjectattributes) with
/// `OBJ_KERNEL_HANDLE` always set, borrowing the name it points to.
pub struct ObjectAttributes<'a> {
    raw: OBJECT_ATTRIBUTES,
    name: PhantomData<&'a mut UNICODE_STRING>,
}

impl<'a> ObjectAttributes<'a> {
    /// `Length` of the structure, as `InitializeObjectAttributes` sets it.
    #[allow(clippy::cast_possible_truncation, reason = "48 bytes")]
    const LENGTH: u32 = size_of::<OBJECT_ATTRIBUTES>() as u32;

    /// Attributes naming `name`, looked up case-insensitively, plus
    /// `extra` (`OBJ_PERMANENT`, say).
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub fn named(name: &'a mut UNICODE_STRING, extra: u32) -> Self {
        Self {
            raw: OBJECT_ATTRIBUTES {
                Length: Self::LENGTH,
                ObjectName: name,
                Attributes: OBJ_CASE_INSENSITIVE | OBJ_KERNEL_HANDLE | extra,
                ..OBJECT_ATTRIBUTES::default()
            },
            name: PhantomData,
        }
    }

    /// Attributes without a name (a new system thread, say).
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub fn unnamed() -> Self {
        Self {
            raw: OBJECT_ATTRIBUTES {
                Length: Self::LENGTH,
                Attributes: OBJ_KERNEL_HANDLE,
                ..OBJECT_ATTRIBUTES::default()
            },
            name: PhantomData,
        }
    }

    /// The structure, for the routine that takes it (valid while `self`
    /// and the name it borrows live).
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub const fn as_mut_ptr(&mut self) -> *mut OBJECT_ATTRIBUTES {
        &raw mut self.raw
    }
}

/// A kernel handle this driver opened; dropping it closes it (`ZwClose`).
pub struct KernelHandle(HANDLE);

impl KernelHandle {
    /// Takes ownership of `handle`.
    ///
    /// # Safety
    /// `handle` is an open kernel handle that nothing else closes.
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub const unsafe fn from_raw(handle: HANDLE) -> Self {
        Self(handle)
    }

    /// The handle, for routines that take it (still owned by `self`).
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub const fn as_raw(&self) -> HANDLE {
        self.0
    }
}

impl Drop for KernelHandle {
    /// `ZwClose` at PASSIVE_LEVEL (wdm/nf-wdm-zwclose), once.
    fn drop(&mut self) {
        // SAFETY: an open kernel handle owned by this value (from_raw's
        // contract), closed once, here.
        let _ = unsafe { ZwClose(self.0) };
    }
}
