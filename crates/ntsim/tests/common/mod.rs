//! Helpers the model's test binaries share: a callback object opened and
//! registered on through the DDIs, as a driver does it, and the desired
//! access an object pre-operation callback edits.

#![allow(dead_code, reason = "each test binary uses a part")]

use std::ffi::c_void;

use ntsim::unicode::OwnedUnicode;
use wdk_sys::ntddk::{ExCreateCallback, ExRegisterCallback};
use wdk_sys::{
    LARGE_INTEGER, NTSTATUS, OBJ_CASE_INSENSITIVE, OBJECT_ATTRIBUTES, PCALLBACK_OBJECT, PLARGE_INTEGER,
    POB_PRE_OPERATION_INFORMATION, PVOID, STATUS_SUCCESS,
};

/// A callback routine as `ExRegisterCallback` takes it.
pub type Routine = unsafe extern "C" fn(*mut c_void, *mut c_void, *mut c_void);

/// Opens the callback object `name` (case-insensitive) with
/// `ExCreateCallback`, creating it when `create`; returns the status and
/// the object.
pub fn create_callback(name: &str, create: bool, allow_multiple: bool) -> (NTSTATUS, PCALLBACK_OBJECT) {
    let mut name = OwnedUnicode::new(name);
    let mut attributes = OBJECT_ATTRIBUTES {
        ObjectName: name.as_ptr(),
        Attributes: OBJ_CASE_INSENSITIVE,
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
    (status, object)
}

/// As [`create_callback`], asserting success.
pub fn open_callback_object(name: &str, create: bool, allow_multiple: bool) -> PCALLBACK_OBJECT {
    let (status, object) = create_callback(name, create, allow_multiple);
    assert_eq!(status, STATUS_SUCCESS);
    object
}

/// Calls `f` with a relative or absolute timeout (100-ns units, negative:
/// relative) as the wait routines take it, or NULL (wait forever).
pub fn with_timeout<R>(timeout: Option<i64>, f: impl FnOnce(PLARGE_INTEGER) -> R) -> R {
    let mut interval = LARGE_INTEGER {
        QuadPart: timeout.unwrap_or(0),
    };
    f(if timeout.is_some() {
        &raw mut interval
    } else {
        std::ptr::null_mut()
    })
}

/// Registers `routine` (no context) on `object`, asserting a handle came back.
pub fn register_callback(object: PCALLBACK_OBJECT, routine: Routine) -> PVOID {
    // SAFETY: a live callback object and a 'static routine.
    let handle = unsafe { ExRegisterCallback(object, Some(routine), std::ptr::null_mut()) };
    assert!(!handle.is_null());
    handle
}

/// The `DesiredAccess` an object pre-operation callback may edit, for a
/// handle-create operation.
///
/// # Safety
/// `info` is the live pre-operation information of a create operation, for
/// the length of the callback (and `'a` no longer).
pub unsafe fn create_desired_access<'a>(info: POB_PRE_OPERATION_INFORMATION) -> &'a mut u32 {
    // SAFETY: a live pre-operation information block, per the caller.
    let parameters = unsafe { (*info).Parameters };
    // SAFETY: its parameters are live for the call.
    let parameters = unsafe { &mut *parameters };
    // SAFETY: a create operation uses the CreateHandleInformation member.
    unsafe { &mut parameters.CreateHandleInformation.DesiredAccess }
}
