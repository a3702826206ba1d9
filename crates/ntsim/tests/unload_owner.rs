//! The unload checks charge a leftover registration to the driver that
//! registered it (issue #12, item 11): another driver's load-image routine,
//! process routine, callback-object registration and object reference are
//! not the unloading driver's 0xCE; the unloading driver's own still are.

#![allow(
    clippy::significant_drop_tightening,
    reason = "a test holds its Kernel (the model's global lock) for its whole body"
)]

mod common;

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use ntsim::Kernel;
use ntsim::verifier::codes;
use wdk_sys::ntddk::{
    PsRemoveLoadImageNotifyRoutine, PsSetCreateProcessNotifyRoutine, PsSetLoadImageNotifyRoutine,
};
use wdk_sys::{
    BOOLEAN, DRIVER_OBJECT, HANDLE, NTSTATUS, PIMAGE_INFO, PUNICODE_STRING, STATUS_SUCCESS, UNICODE_STRING,
};

const CE: u32 = codes::DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS;

unsafe extern "C" fn own_image_routine(_name: PUNICODE_STRING, _pid: HANDLE, _info: PIMAGE_INFO) {
    std::hint::black_box(1);
}
unsafe extern "C" fn other_image_routine(_name: PUNICODE_STRING, _pid: HANDLE, _info: PIMAGE_INFO) {
    std::hint::black_box(2);
}
unsafe extern "C" fn other_process_routine(_parent: HANDLE, _pid: HANDLE, _create: BOOLEAN) {}
unsafe extern "C" fn other_object_callback(_context: *mut c_void, _a1: *mut c_void, _a2: *mut c_void) {}

/// Whether the driver under test removes its routine in DriverUnload.
static CLEAN_UNLOAD: AtomicBool = AtomicBool::new(true);
static OTHER_OBJECT: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

unsafe extern "C" fn own_unload(_driver: *mut DRIVER_OBJECT) {
    if CLEAN_UNLOAD.load(Ordering::SeqCst) {
        // SAFETY: the routine registered in own_entry.
        let status = unsafe { PsRemoveLoadImageNotifyRoutine(Some(own_image_routine)) };
        assert_eq!(status, STATUS_SUCCESS);
    }
}

/// The driver under test: one load-image routine, removed at unload.
unsafe extern "C" fn own_entry(driver: *mut DRIVER_OBJECT, _path: *const UNICODE_STRING) -> NTSTATUS {
    // SAFETY: a 'static routine.
    let status = unsafe { PsSetLoadImageNotifyRoutine(Some(own_image_routine)) };
    if status < 0 {
        return status;
    }
    // SAFETY: the driver object the I/O manager passed.
    unsafe { (*driver).DriverUnload = Some(own_unload) };
    STATUS_SUCCESS
}

/// Another driver (a resident one that never unloads): a load-image and a
/// process routine, a callback object it keeps a reference to and a
/// registration on it.
unsafe extern "C" fn other_entry(_driver: *mut DRIVER_OBJECT, _path: *const UNICODE_STRING) -> NTSTATUS {
    // SAFETY: 'static routines.
    let status = unsafe { PsSetLoadImageNotifyRoutine(Some(other_image_routine)) };
    assert_eq!(status, STATUS_SUCCESS);
    // SAFETY: as above.
    let status = unsafe { PsSetCreateProcessNotifyRoutine(Some(other_process_routine), 0) };
    assert_eq!(status, STATUS_SUCCESS);
    let object = common::open_callback_object("\\Callback\\NtsimOtherDriver", true, true);
    common::register_callback(object, other_object_callback);
    OTHER_OBJECT.store(object.cast(), Ordering::SeqCst);
    STATUS_SUCCESS
}

fn boot() -> Kernel {
    Kernel::boot().with_driver("ntsim-owner", own_entry)
}

/// A booted model with the other driver loaded (its unload `clean` or not)
/// and then this driver: (kernel, the other driver's object).
fn boot_beside_other(clean: bool) -> (Kernel, usize) {
    let mut kernel = boot();
    CLEAN_UNLOAD.store(clean, Ordering::SeqCst);
    let (status, other) = kernel.load_other_driver("ntsim-other", other_entry);
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(kernel.load_driver(), STATUS_SUCCESS);
    (kernel, other)
}

#[test]
fn another_drivers_registrations_are_not_the_unloading_drivers_leftovers() {
    let (mut kernel, other) = boot_beside_other(true);
    assert_ne!(other, 0);
    assert_eq!(ntsim::ps::load_image_routines().len(), 2);
    assert!(kernel.unload_driver());
    // Before owners were tracked, the other driver's load-image and process
    // routines, its callback registration and its object reference were
    // all reported as this driver's 0xCE.
    kernel.assert_no_bugchecks();
    assert_eq!(
        ntsim::ps::load_image_routines(),
        vec![other_image_routine as *const () as usize],
        "the other driver's routine stays registered"
    );
}

#[test]
fn the_unloading_drivers_own_leftover_is_still_reported_and_only_it() {
    let (mut kernel, _) = boot_beside_other(false);
    assert!(kernel.unload_driver());
    let check = kernel.expect_bugcheck(CE, own_image_routine as *const () as u64);
    assert!(check.text.contains("load-image"), "{check}");
    kernel.assert_no_bugchecks();
    CLEAN_UNLOAD.store(true, Ordering::SeqCst);
}

/// What test code registers through `as_other_image` is that image's too.
#[test]
fn a_routine_registered_as_another_image_is_charged_to_it() {
    let mut kernel = boot();
    CLEAN_UNLOAD.store(true, Ordering::SeqCst);
    let other = 0xFFFF_A000_0000_1000_usize;
    ntsim::context::as_other_image(other, || {
        // SAFETY: a 'static routine.
        let status = unsafe { PsSetLoadImageNotifyRoutine(Some(other_image_routine)) };
        assert_eq!(status, STATUS_SUCCESS);
    });
    assert_eq!(kernel.load_driver(), STATUS_SUCCESS);
    assert!(kernel.unload_driver());
    kernel.assert_no_bugchecks();
    // Without an image scope the same registration is the driver under test's.
    assert_eq!(kernel.load_driver(), STATUS_SUCCESS);
    // SAFETY: a 'static routine.
    let status = unsafe { PsSetLoadImageNotifyRoutine(Some(other_process_image_alias)) };
    assert_eq!(status, STATUS_SUCCESS);
    assert!(kernel.unload_driver());
    kernel.expect_bugcheck(CE, other_process_image_alias as *const () as u64);
    kernel.assert_no_bugchecks();
}

unsafe extern "C" fn other_process_image_alias(_name: PUNICODE_STRING, _pid: HANDLE, _info: PIMAGE_INFO) {
    std::hint::black_box(3);
}
