//! Callback objects: `ExCreateCallback` / `ExRegisterCallback` /
//! `ExNotifyCallback` / `ExUnregisterCallback`, in RAII guards.
//!
//! * [`CallbackObject<Owned>`] is an object this driver created (or opened
//!   for its own use) — the only kind it may notify.
//! * [`CallbackObject<System>`] is a system-defined object, opened (never
//!   created); drivers must never call `ExNotifyCallback` on it
//!   (wdm/nf-wdm-exnotifycallback), so that type has no `notify`.
//! * [`CallbackRegistration`] is one `ExRegisterCallback`; dropping it calls
//!   `ExUnregisterCallback`. Its context is `'static`.
//!
//! The driver's own object is `\Callback\KCallbacks` (multiple callbacks
//! allowed, created `OBJ_PERMANENT` so it is visible in the namespace; made
//! temporary before the last dereference so unloading leaves nothing
//! behind). Contract for other drivers that register on it: `Argument1` and
//! `Argument2` are two pointer-sized integers given by whoever notifies
//! (`kcbctl notify <a1> <a2>` passes them through `IOCTL_KCB_NOTIFY`), never
//! pointers; callbacks run at the notifier's IRQL, `<= DISPATCH_LEVEL`.

use core::{ffi::c_void, marker::PhantomData, ptr};

use kcb_proto::{CallbackObjectPayload, EventRecord, kind, report_detail};
use wdk_sys::{
    DISPATCH_LEVEL, OBJ_PERMANENT, PCALLBACK_OBJECT, STATUS_INVALID_DEVICE_STATE,
    STATUS_OBJECT_NAME_NOT_FOUND, STATUS_UNSUCCESSFUL, UNICODE_STRING,
    ntddk::{
        ExCreateCallback, ExNotifyCallback, ExRegisterCallback, ExUnregisterCallback, KeGetCurrentIrql,
        ObMakeTemporaryObject, ObfDereferenceObject,
    },
};

use crate::{kernel::object::ObjectAttributes, pipeline::events, registrations::guard::Failure};

/// Marker: an object the driver owns and may notify.
pub struct Owned;
/// Marker: a system-defined object (observe only).
pub struct System;

/// A referenced callback object; dropping it releases the reference.
///
/// # Invariants
/// `object` is a referenced, non-null callback object; if `permanent`, this
/// driver created it with `OBJ_PERMANENT` and must make it temporary before
/// dropping its reference.
pub struct CallbackObject<K> {
    object: PCALLBACK_OBJECT,
    permanent: bool,
    kind: PhantomData<K>,
}

// SAFETY: invariant (established by `create_callback`, the only
// constructor): the value holds one reference to a live callback object,
// released once in Drop. A referenced kernel object may be used and
// released from any thread; the kernel synchronises access to it.
unsafe impl<K> Send for CallbackObject<K> {}
// SAFETY: same invariant; `&self` methods only pass the pointer to kernel
// routines that synchronise internally (ExRegisterCallback, ExNotifyCallback).
unsafe impl<K> Sync for CallbackObject<K> {}

/// Calls `ExCreateCallback`, turning "success without an object" into an
/// error instead of a null pointer.
///
/// `attributes` are added to `OBJ_CASE_INSENSITIVE | OBJ_KERNEL_HANDLE`
/// ([`ObjectAttributes::named`]); the kernel-handle flag matters here: `ExCreateCallback`
/// opens the object by name, and this routine also runs in a client's
/// process (`IOCTL_KCB_LIST_REGISTRATIONS`), where a handle without that flag
/// would land in the client's handle table, where the client could use or
/// close it ("driver routines that run in a process context other than that
/// of the system process must set the OBJ_KERNEL_HANDLE flag",
/// wdm/nf-wdm-initializeobjectattributes).
fn create_callback(
    name: &UNICODE_STRING,
    attributes: u32,
    create: bool,
    allow_multiple: bool,
) -> Result<PCALLBACK_OBJECT, Failure> {
    let mut name = *name;
    let mut object_attributes = ObjectAttributes::named(&mut name, attributes);
    let mut object: PCALLBACK_OBJECT = ptr::null_mut();
    // SAFETY: valid attributes over a name that outlives the call; `object`
    // receives the referenced object. PASSIVE_LEVEL (the caller's contract).
    let status = unsafe {
        ExCreateCallback(
            &raw mut object,
            object_attributes.as_mut_ptr(),
            u8::from(create),
            u8::from(allow_multiple),
        )
    };
    if status < 0 {
        let detail = if status == STATUS_OBJECT_NAME_NOT_FOUND && !create {
            return Err(Failure::unavailable(status, report_detail::NO_SUCH_OBJECT));
        } else {
            report_detail::NONE
        };
        return Err(Failure {
            status,
            state: kcb_proto::RegistrationState::Failed,
            detail,
        });
    }
    if object.is_null() {
        // Wine's ExCreateCallback returns STATUS_SUCCESS without an object.
        return Err(Failure::unavailable(
            status,
            report_detail::SUCCESS_WITHOUT_OBJECT,
        ));
    }
    Ok(object)
}

impl CallbackObject<Owned> {
    /// Opens the named object if it exists, else creates it (permanent if
    /// `permanent`, allowing multiple callbacks if `allow_multiple`).
    ///
    /// # Errors
    /// The `ExCreateCallback` failure; success without an object is
    /// reported as unavailable.
    ///
    /// # IRQL
    /// PASSIVE_LEVEL (`ExCreateCallback`: <= APC_LEVEL, rule IrqlExPassive).
    pub fn create_or_open(
        name: &UNICODE_STRING,
        allow_multiple: bool,
        permanent: bool,
    ) -> Result<Self, Failure> {
        match create_callback(name, 0, false, allow_multiple) {
            Ok(object) => {
                return Ok(Self {
                    object,
                    permanent: false,
                    kind: PhantomData,
                });
            }
            Err(failure) if failure.detail != report_detail::NO_SUCH_OBJECT => return Err(failure),
            Err(_) => {}
        }
        let attributes = if permanent { OBJ_PERMANENT } else { 0 };
        let object = create_callback(name, attributes, true, allow_multiple)?;
        Ok(Self {
            object,
            permanent,
            kind: PhantomData,
        })
    }

    /// `ExNotifyCallback(object, argument1, argument2)`: runs every
    /// registered callback, in registration order, at the caller's IRQL.
    ///
    /// # Errors
    /// `STATUS_INVALID_DEVICE_STATE` above DISPATCH_LEVEL (nothing is called).
    ///
    /// # IRQL
    /// `<= DISPATCH_LEVEL`.
    pub fn notify(&self, argument1: u64, argument2: u64) -> Result<(), i32> {
        notify_raw(self.object, argument1, argument2)
    }

    /// Whether this driver created the object permanent (and will make it
    /// temporary at drop).
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub const fn is_permanent(&self) -> bool {
        self.permanent
    }
}

impl CallbackObject<System> {
    /// Opens an existing system-defined object; never creates one.
    ///
    /// # Errors
    /// Unavailable when the object does not exist on this system (or the
    /// routine returns no object); the `ExCreateCallback` status otherwise.
    ///
    /// # IRQL
    /// PASSIVE_LEVEL.
    pub fn open(name: &UNICODE_STRING) -> Result<Self, Failure> {
        let object = create_callback(name, 0, false, false)?;
        Ok(Self {
            object,
            permanent: false,
            kind: PhantomData,
        })
    }
}

impl<K> CallbackObject<K> {
    /// The object pointer (valid while `self` lives).
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub const fn as_ptr(&self) -> PCALLBACK_OBJECT {
        self.object
    }

    /// Registers `routine` with `context` on this object.
    ///
    /// # Errors
    /// `ExRegisterCallback` returned NULL (reported as `STATUS_UNSUCCESSFUL`):
    /// any error, one of which is an object that allows a single callback
    /// and already has one (wdm/nf-wdm-exregistercallback).
    ///
    /// # IRQL
    /// `<= APC_LEVEL` (rule IrqlExApcLte2).
    pub fn register(
        &self,
        routine: unsafe extern "C" fn(*mut c_void, *mut c_void, *mut c_void),
        context: &'static (impl Sync + 'static),
    ) -> Result<CallbackRegistration, Failure> {
        // SAFETY: a referenced object (invariant), live while `self` is.
        unsafe { register_raw(self.object, routine, context) }
    }
}

/// `ExRegisterCallback(object, routine, context)`.
///
/// # Errors
/// As [`CallbackObject::register`].
///
/// # Safety
/// `object` is a referenced callback object that stays referenced until the
/// returned registration is dropped.
///
/// # IRQL
/// `<= APC_LEVEL` (rule IrqlExApcLte2).
pub unsafe fn register_raw(
    object: PCALLBACK_OBJECT,
    routine: unsafe extern "C" fn(*mut c_void, *mut c_void, *mut c_void),
    context: &'static (impl Sync + 'static),
) -> Result<CallbackRegistration, Failure> {
    // SAFETY: a referenced object (the caller's contract); the routine is
    // nonpageable code in this image and the context is 'static, so both
    // outlive the registration, which is removed before the image unloads.
    let handle = unsafe {
        ExRegisterCallback(
            object,
            Some(routine),
            ptr::from_ref(context).cast_mut().cast::<c_void>(),
        )
    };
    if handle.is_null() {
        return Err(STATUS_UNSUCCESSFUL.into());
    }
    Ok(CallbackRegistration { handle })
}

impl<K> Drop for CallbackObject<K> {
    fn drop(&mut self) {
        if self.permanent {
            // SAFETY: we created it permanent (invariant); making it temporary
            // lets the last dereference delete it. Not reached under Wine,
            // where no object is ever returned (ObMakeTemporaryObject is a
            // stub there).
            unsafe { ObMakeTemporaryObject(self.object.cast()) };
        }
        // SAFETY: releases the reference ExCreateCallback gave us, once.
        let _ = unsafe { ObfDereferenceObject(self.object.cast()) };
    }
}

/// One `ExRegisterCallback`; dropping it unregisters.
///
/// Must be dropped before the [`CallbackObject`] it was made from (the
/// driver's state orders its fields so).
pub struct CallbackRegistration {
    handle: *mut c_void,
}

// SAFETY: invariant (established by `register_raw`, the only constructor):
// `handle` is the non-NULL result of ExRegisterCallback, removed once in
// Drop; an opaque kernel handle, valid on any thread.
unsafe impl Send for CallbackRegistration {}
// SAFETY: same invariant; no `&self` method reads or writes the handle.
unsafe impl Sync for CallbackRegistration {}

impl Drop for CallbackRegistration {
    fn drop(&mut self) {
        // SAFETY: the handle came from ExRegisterCallback and is removed once.
        unsafe { ExUnregisterCallback(self.handle) };
    }
}

/// Records one observed notification of catalog object `index` (`name`).
///
/// # IRQL
/// Any (called at the notifier's IRQL, <= DISPATCH_LEVEL).
pub fn record_notification(index: u32, name: &[u16], argument1: u64, argument2: u64) {
    let record = EventRecord::build(kind::NONE, |payload: &mut CallbackObjectPayload| {
        payload.argument1 = argument1;
        payload.argument2 = argument2;
        payload.object_index = index;
        payload.name.set_from_utf16(name);
    });
    events::record(record);
}

/// An argument as the pointer-sized integer `ExNotifyCallback` passes on.
#[allow(clippy::cast_possible_truncation, reason = "x64: usize is 64 bits")]
const fn pointer_sized(value: u64) -> *mut c_void {
    value as usize as *mut c_void
}

/// `ExNotifyCallback` on a raw object pointer owned by the driver.
///
/// # Errors
/// `STATUS_INVALID_DEVICE_STATE` above DISPATCH_LEVEL.
///
/// # IRQL
/// `<= DISPATCH_LEVEL`.
pub fn notify_raw(object: PCALLBACK_OBJECT, argument1: u64, argument2: u64) -> Result<(), i32> {
    // SAFETY: callable at any IRQL.
    if u32::from(unsafe { KeGetCurrentIrql() }) > DISPATCH_LEVEL {
        return Err(STATUS_INVALID_DEVICE_STATE);
    }
    // SAFETY: the driver's own live callback object (the caller's contract:
    // it is published only while the guard holds its reference); the
    // arguments are integers by the object's contract.
    unsafe { ExNotifyCallback(object.cast(), pointer_sized(argument1), pointer_sized(argument2)) };
    Ok(())
}
