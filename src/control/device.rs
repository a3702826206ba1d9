//! The control device `\Device\KCallbacks` and its symbolic link
//! `\DosDevices\KCallbacks`, as registrations (the IRP dispatch routines
//! are [`crate::control::dispatch`]).
//!
//! The device is created with `FILE_DEVICE_SECURE_OPEN` and a DACL that
//! admits only SYSTEM and the Administrators group — the descriptor that
//! `IoCreateDeviceSecure` builds from SDDL `D:P(A;;GA;;;SY)(A;;GA;;;BA)`
//! (`SDDL_DEVOBJ_SYS_ALL_ADM_ALL`). It is built here from documented Rtl
//! routines and applied through a kernel handle (`ObOpenObjectByPointer` +
//! `ZwSetSecurityObject`) before the symbolic link exists and while
//! `DO_DEVICE_INITIALIZING` still refuses opens, because
//! `IoCreateDeviceSecure` is a static-library routine (`wdmsec.lib`), not a
//! kernel export. (`ObSetSecurityObjectByPointer` would do in one call, but
//! is a stub that aborts the host under Wine.)

use core::{mem::size_of, ptr};

use kcb_proto::SourceId;
use wdk_sys::{
    ACCESS_ALLOWED_ACE, ACL, DACL_SECURITY_INFORMATION, DO_DEVICE_INITIALIZING, FILE_ALL_ACCESS,
    FILE_DEVICE_SECURE_OPEN, HANDLE, OBJ_KERNEL_HANDLE, PDEVICE_OBJECT, SECURITY_DESCRIPTOR,
    SECURITY_DESCRIPTOR_REVISION, STATUS_INVALID_PARAMETER, WRITE_DAC,
    ntddk::{
        IoCreateDevice, IoCreateSymbolicLink, IoDeleteDevice, IoDeleteSymbolicLink, ObOpenObjectByPointer,
        RtlAddAccessAllowedAce, RtlCreateAcl, RtlCreateSecurityDescriptor, RtlSetDaclSecurityDescriptor,
        ZwSetSecurityObject,
    },
};

use crate::{
    kernel::{
        object::{DriverObject, KERNEL_MODE, KernelHandle},
        unicode::WideName,
    },
    registrations::{
        guard::{Failure, NtStatus, RegistrationOps, check},
        report::Api,
    },
};

/// `\Device\KCallbacks`.
pub static DEVICE_NAME: WideName = WideName::new("\\Device\\KCallbacks");
/// `\DosDevices\KCallbacks` (user mode opens `\\.\KCallbacks`).
pub static LINK_NAME: WideName = WideName::new("\\DosDevices\\KCallbacks");

/// The SDDL equivalent of the device's security descriptor, for the report.
pub const DEVICE_SDDL: &str = "D:P(A;;GA;;;SY)(A;;GA;;;BA)";

/// `ACL_REVISION` (winnt.h).
const ACL_REVISION: u32 = 2;

/// A SID's bytes, 4-byte aligned as the Rtl routines require.
#[repr(C, align(4))]
struct SidBytes<const N: usize>([u8; N]);

/// S-1-5-18 (LocalSystem): revision 1, one sub-authority, NT authority 5.
static SID_LOCAL_SYSTEM: SidBytes<12> = SidBytes([1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]);
/// S-1-5-32-544 (BUILTIN\Administrators).
static SID_ADMINISTRATORS: SidBytes<16> = SidBytes([1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 2, 0, 0]);

/// Room for the ACL header and two ACEs (SIDs of 12 and 16 bytes).
const ACL_BUFFER_SIZE: usize = size_of::<ACL>() + 2 * size_of::<ACCESS_ALLOWED_ACE>() + 12 + 16;

/// Storage for the ACL, aligned for `ACL` and its ACEs.
#[repr(C, align(8))]
struct AclBuffer([u8; ACL_BUFFER_SIZE]);

/// `ACL_BUFFER_SIZE` as the `ULONG` `RtlCreateAcl` takes.
#[allow(clippy::cast_possible_truncation, reason = "a few dozen bytes")]
const ACL_BUFFER_LEN: u32 = ACL_BUFFER_SIZE as u32;

/// The control device, created at `DriverEntry`.
pub struct ControlDevice;

/// A created device object (the kernel's pointer, valid until deleted).
pub struct DeviceToken(PDEVICE_OBJECT);

impl DeviceToken {
    /// The device object.
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub const fn as_ptr(&self) -> PDEVICE_OBJECT {
        self.0
    }
}

impl RegistrationOps for ControlDevice {
    type Args = DriverObject;
    type Token = DeviceToken;
    const SOURCE: Option<SourceId> = None;
    const API: Api = Api::ControlDevice;

    /// `IoCreateDevice` + the SYSTEM/Administrators DACL. `PASSIVE_LEVEL`.
    fn register(driver: DriverObject) -> Result<DeviceToken, Failure> {
        let mut device: PDEVICE_OBJECT = ptr::null_mut();
        let mut name = DEVICE_NAME.as_unicode_string();
        // SAFETY: `driver` wraps the DRIVER_OBJECT DriverEntry received (its
        // constructor's contract); the name is a valid UNICODE_STRING over
        // static memory; `device` receives the new object.
        let status = unsafe {
            IoCreateDevice(
                driver.as_ptr(),
                0,
                &raw mut name,
                kcb_proto::FILE_DEVICE_KCALLBACKS,
                FILE_DEVICE_SECURE_OPEN,
                0,
                &raw mut device,
            )
        };
        if status < 0 {
            return Err(status.into());
        }
        if device.is_null() {
            return Err(STATUS_INVALID_PARAMETER.into());
        }
        if let Err(status) = secure(device) {
            // SAFETY: the device was created above and nothing references it yet.
            unsafe { IoDeleteDevice(device) };
            return Err(status.into());
        }
        Ok(DeviceToken(device))
    }

    unsafe fn unregister(token: DeviceToken) {
        // SAFETY: the device came from IoCreateDevice; the symbolic link guard
        // (dropped earlier) no longer names it.
        unsafe { IoDeleteDevice(token.0) };
    }
}

/// Applies the SYSTEM + Administrators DACL to a new device object.
fn secure(device: PDEVICE_OBJECT) -> Result<(), NtStatus> {
    let mut acl = AclBuffer([0; ACL_BUFFER_SIZE]);
    #[allow(clippy::cast_ptr_alignment, reason = "AclBuffer is 8-byte aligned")]
    let acl_ptr = acl.0.as_mut_ptr().cast::<ACL>();
    // SAFETY: the buffer is 8-aligned, ACL_BUFFER_SIZE long and lives until
    // the descriptor has been applied.
    check(unsafe { RtlCreateAcl(acl_ptr, ACL_BUFFER_LEN, ACL_REVISION) })?;
    for sid in [SID_LOCAL_SYSTEM.0.as_ptr(), SID_ADMINISTRATORS.0.as_ptr()] {
        // SAFETY: the ACL was initialised above with room for both ACEs; the
        // SID points to a valid, aligned, static SID.
        check(unsafe {
            RtlAddAccessAllowedAce(acl_ptr, ACL_REVISION, FILE_ALL_ACCESS, sid.cast_mut().cast())
        })?;
    }
    // SAFETY: an all-zero SECURITY_DESCRIPTOR is a valid starting value;
    // RtlCreateSecurityDescriptor initialises it.
    let mut descriptor: SECURITY_DESCRIPTOR = unsafe { core::mem::zeroed() };
    let descriptor_ptr = (&raw mut descriptor).cast();
    // SAFETY: the descriptor is a writable absolute SECURITY_DESCRIPTOR.
    check(unsafe { RtlCreateSecurityDescriptor(descriptor_ptr, SECURITY_DESCRIPTOR_REVISION) })?;
    // SAFETY: descriptor initialised above; the ACL is valid and outlives its use.
    check(unsafe { RtlSetDaclSecurityDescriptor(descriptor_ptr, 1, acl_ptr, 0) })?;
    let mut handle: HANDLE = core::ptr::null_mut();
    // SAFETY: `device` is a live device object; a kernel handle with
    // WRITE_DAC, opened in kernel mode.
    check(unsafe {
        ObOpenObjectByPointer(
            device.cast(),
            OBJ_KERNEL_HANDLE,
            core::ptr::null_mut(),
            WRITE_DAC,
            core::ptr::null_mut(),
            KERNEL_MODE,
            &raw mut handle,
        )
    })?;
    // SAFETY: ObOpenObjectByPointer succeeded: an open kernel handle, ours.
    let handle = unsafe { KernelHandle::from_raw(handle) };
    // SAFETY: our handle; the object manager copies the descriptor, so stack
    // storage is fine.
    check(unsafe { ZwSetSecurityObject(handle.as_raw(), DACL_SECURITY_INFORMATION, descriptor_ptr) })
}

/// The symbolic link `\DosDevices\KCallbacks` -> `\Device\KCallbacks`.
pub struct SymbolicLink;

impl RegistrationOps for SymbolicLink {
    type Args = ();
    type Token = ();
    const SOURCE: Option<SourceId> = None;
    const API: Api = Api::SymbolicLink;

    /// `IoCreateSymbolicLink`. PASSIVE_LEVEL.
    fn register((): ()) -> Result<(), Failure> {
        let mut link = LINK_NAME.as_unicode_string();
        let mut device = DEVICE_NAME.as_unicode_string();
        // SAFETY: both are valid UNICODE_STRINGs over static memory.
        Ok(check(unsafe {
            IoCreateSymbolicLink(&raw mut link, &raw mut device)
        })?)
    }

    unsafe fn unregister((): ()) {
        let mut link = LINK_NAME.as_unicode_string();
        // SAFETY: the link was created by register.
        let _ = unsafe { IoDeleteSymbolicLink(&raw mut link) };
    }
}

/// Lets DriverEntry's device accept opens (clears `DO_DEVICE_INITIALIZING`).
///
/// # Safety
/// `device` is the live control device.
///
/// # IRQL
/// PASSIVE_LEVEL (DriverEntry).
pub unsafe fn finish_initializing(device: PDEVICE_OBJECT) {
    // SAFETY: caller guarantees the device is live; only DriverEntry touches Flags now.
    unsafe { (*device).Flags &= !DO_DEVICE_INITIALIZING };
}
