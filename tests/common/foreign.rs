//! Registrations of "other drivers" next to the driver's own: object and
//! registry callbacks at a chosen altitude, with routines that change
//! nothing.

use ntsim::unicode::OwnedUnicode;
use wdk_sys::{
    _OB_PREOP_CALLBACK_STATUS::OB_PREOP_SUCCESS, LARGE_INTEGER, NTSTATUS, OB_CALLBACK_REGISTRATION,
    OB_FLT_REGISTRATION_VERSION, OB_OPERATION_HANDLE_CREATE, OB_OPERATION_HANDLE_DUPLICATE,
    OB_OPERATION_REGISTRATION, OB_PREOP_CALLBACK_STATUS, POB_PRE_OPERATION_INFORMATION, POBJECT_TYPE, PVOID,
    STATUS_SUCCESS,
};

/// An object pre-operation routine that changes nothing.
pub const unsafe extern "C" fn foreign_pre(
    _: PVOID,
    _: POB_PRE_OPERATION_INFORMATION,
) -> OB_PREOP_CALLBACK_STATUS {
    OB_PREOP_SUCCESS
}

/// A registry callback that changes nothing.
pub const unsafe extern "C" fn foreign_registry(_: PVOID, _: PVOID, _: PVOID) -> NTSTATUS {
    STATUS_SUCCESS
}

/// The address of the model's `PsProcessType` variable, as a driver names it.
pub fn process_type_variable() -> *mut POBJECT_TYPE {
    (&raw const ntsim::thread::PsProcessType).cast_mut().cast()
}

/// Registers an object callback of "another driver" at `altitude`
/// (process handles, create and duplicate).
pub fn foreign_ob(altitude: &str, pre: wdk_sys::POB_PRE_OPERATION_CALLBACK) -> Result<PVOID, NTSTATUS> {
    let mut operation = OB_OPERATION_REGISTRATION {
        ObjectType: process_type_variable(),
        Operations: OB_OPERATION_HANDLE_CREATE | OB_OPERATION_HANDLE_DUPLICATE,
        PreOperation: pre,
        PostOperation: None,
    };
    let name = OwnedUnicode::new(altitude);
    let mut registration = OB_CALLBACK_REGISTRATION {
        #[allow(clippy::cast_possible_truncation, reason = "0x0100")]
        Version: OB_FLT_REGISTRATION_VERSION as u16,
        OperationRegistrationCount: 1,
        Altitude: name.descriptor(),
        RegistrationContext: std::ptr::null_mut(),
        OperationRegistration: &raw mut operation,
    };
    let mut handle: PVOID = std::ptr::null_mut();
    // SAFETY: a registration whose strings and operations outlive the call
    // (the model copies them); a 'static routine, unregistered by the test.
    let status = unsafe { ntsim::obcallbacks::ObRegisterCallbacks(&raw mut registration, &raw mut handle) };
    if status == STATUS_SUCCESS {
        Ok(handle)
    } else {
        Err(status)
    }
}

/// Removes what [`foreign_ob`] registered.
pub fn unregister_ob(handle: PVOID) {
    // SAFETY: a handle ObRegisterCallbacks returned, unregistered once.
    unsafe { ntsim::obcallbacks::ObUnRegisterCallbacks(handle) };
}

/// Registers a registry callback of "another driver" at `altitude`.
pub fn foreign_cm(
    altitude: &str,
    function: wdk_sys::PEX_CALLBACK_FUNCTION,
) -> Result<LARGE_INTEGER, NTSTATUS> {
    let mut name = OwnedUnicode::new(altitude);
    let mut cookie = LARGE_INTEGER::default();
    // SAFETY: a live altitude string, a 'static routine and a writable cookie.
    let status = unsafe {
        ntsim::registry::CmRegisterCallbackEx(
            function,
            name.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &raw mut cookie,
            std::ptr::null_mut(),
        )
    };
    if status == STATUS_SUCCESS {
        Ok(cookie)
    } else {
        Err(status)
    }
}

/// Removes what [`foreign_cm`] registered.
pub fn unregister_cm(cookie: LARGE_INTEGER) {
    assert_eq!(
        // SAFETY: a cookie CmRegisterCallbackEx returned.
        unsafe { ntsim::registry::CmUnRegisterCallback(cookie) },
        STATUS_SUCCESS
    );
}
