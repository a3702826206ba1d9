//! Helpers the model's test binaries share: a callback object opened and
//! registered on through the DDIs, as a driver does it.

#![allow(dead_code, reason = "each test binary uses a part")]

use std::ffi::c_void;

use ntsim::unicode::OwnedUnicode;
use wdk_sys::ntddk::{ExCreateCallback, ExRegisterCallback};
use wdk_sys::{OBJECT_ATTRIBUTES, PCALLBACK_OBJECT, PVOID, STATUS_SUCCESS};

/// A callback routine as `ExRegisterCallback` takes it.
pub type Routine = unsafe extern "C" fn(*mut c_void, *mut c_void, *mut c_void);

/// Opens the callback object `name` with `ExCreateCallback` (creating it
/// when `create`), asserting success.
pub fn open_callback_object(name: &str, create: bool, allow_multiple: bool) -> PCALLBACK_OBJECT {
    let mut name = OwnedUnicode::new(name);
    let mut attributes = OBJECT_ATTRIBUTES {
        ObjectName: name.as_ptr(),
        ..Default::default()
    };
    let mut object: PCALLBACK_OBJECT = std::ptr::null_mut();
    // SAFETY: a valid out pointer and attributes naming a live string.
    let status = unsafe {
        ExCreateCallback(
            &raw mut object,
            &raw mut attributes,
            u8::from(create),
            u8::from(allow_multiple),
        )
    };
    assert_eq!(status, STATUS_SUCCESS);
    object
}

/// Registers `routine` (no context) on `object`, asserting a handle came back.
pub fn register_callback(object: PCALLBACK_OBJECT, routine: Routine) -> PVOID {
    // SAFETY: a live callback object and a 'static routine.
    let handle = unsafe { ExRegisterCallback(object, Some(routine), std::ptr::null_mut()) };
    assert!(!handle.is_null());
    handle
}
