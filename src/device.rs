//! The control device `\Device\KCallbacks` and its symbolic link
//! `\DosDevices\KCallbacks`, as registrations, plus the IRP dispatch routines.
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

use wdk_sys::{
    ACCESS_ALLOWED_ACE, ACL, DACL_SECURITY_INFORMATION, DO_DEVICE_INITIALIZING, DRIVER_OBJECT,
    FILE_ALL_ACCESS, FILE_DEVICE_SECURE_OPEN, HANDLE, IRP, IRP_MJ_CLOSE, IRP_MJ_CREATE,
    IRP_MJ_DEVICE_CONTROL, IRP_MJ_SHUTDOWN, NTSTATUS, OBJ_KERNEL_HANDLE, PDEVICE_OBJECT, SECURITY_DESCRIPTOR,
    SECURITY_DESCRIPTOR_REVISION, STATUS_INVALID_DEVICE_REQUEST, STATUS_INVALID_PARAMETER, STATUS_SUCCESS,
    WRITE_DAC,
    ntddk::{
        IoCreateDevice, IoCreateSymbolicLink, IoDeleteDevice, IoDeleteSymbolicLink, IofCompleteRequest,
        ObOpenObjectByPointer, RtlAddAccessAllowedAce, RtlCreateAcl, RtlCreateSecurityDescriptor,
        RtlSetDaclSecurityDescriptor, ZwClose, ZwSetSecurityObject,
    },
};

use crate::{
    guard::{Failure, NtStatus, RegistrationOps, check},
    ioctl,
    kernel::KERNEL_MODE,
    report::Api,
    unicode::WideName,
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

/// The driver object `DriverEntry` received, for registrations that need it.
#[derive(Clone, Copy)]
pub struct DriverObject(*mut DRIVER_OBJECT);

impl DriverObject {
    /// Wraps the driver object.
    ///
    /// # Safety
    /// `driver` is the valid `DRIVER_OBJECT` passed to `DriverEntry`, and
    /// stays valid while the wrapper is used.
    #[must_use]
    pub const unsafe fn new(driver: *mut DRIVER_OBJECT) -> Self {
        Self(driver)
    }

    /// The raw pointer.
    #[must_use]
    pub const fn as_ptr(self) -> *mut DRIVER_OBJECT {
        self.0
    }
}

/// The control device, created at `DriverEntry`.
pub struct ControlDevice;

/// A created device object (the kernel's pointer, valid until deleted).
pub struct DeviceToken(PDEVICE_OBJECT);

impl DeviceToken {
    /// The device object.
    #[must_use]
    pub const fn as_ptr(&self) -> PDEVICE_OBJECT {
        self.0
    }
}

impl RegistrationOps for ControlDevice {
    type Args = DriverObject;
    type Token = DeviceToken;
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
    // SAFETY: our handle; the object manager copies the descriptor, so stack
    // storage is fine.
    let status = unsafe { ZwSetSecurityObject(handle, DACL_SECURITY_INFORMATION, descriptor_ptr) };
    // SAFETY: closing our own kernel handle once.
    let _ = unsafe { ZwClose(handle) };
    check(status)
}

/// The symbolic link `\DosDevices\KCallbacks` -> `\Device\KCallbacks`.
pub struct SymbolicLink;

impl RegistrationOps for SymbolicLink {
    type Args = ();
    type Token = ();
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

/// Installs the dispatch routines in the driver object.
///
/// # Safety
/// `driver` is the valid DRIVER_OBJECT passed to DriverEntry.
pub unsafe fn install_dispatch(driver: *mut DRIVER_OBJECT) {
    // SAFETY: caller guarantees `driver` is valid and exclusively ours during DriverEntry.
    let major = unsafe { &mut (*driver).MajorFunction };
    major[IRP_MJ_CREATE as usize] = Some(dispatch_create_close);
    major[IRP_MJ_CLOSE as usize] = Some(dispatch_create_close);
    major[IRP_MJ_DEVICE_CONTROL as usize] = Some(dispatch_device_control);
    major[IRP_MJ_SHUTDOWN as usize] = Some(crate::io::dispatch_shutdown);
}

/// Lets DriverEntry's device accept opens (clears `DO_DEVICE_INITIALIZING`).
///
/// # Safety
/// `device` is the live control device.
pub unsafe fn finish_initializing(device: PDEVICE_OBJECT) {
    // SAFETY: caller guarantees the device is live; only DriverEntry touches Flags now.
    unsafe { (*device).Flags &= !DO_DEVICE_INITIALIZING };
}

/// Completes an IRP with a status and information value.
///
/// # Safety
/// `irp` is a live IRP this driver owns and has not completed.
unsafe fn complete(irp: *mut IRP, status: NTSTATUS, information: u64) -> NTSTATUS {
    // SAFETY: caller guarantees the IRP is live and ours until completed.
    let irp_ref = unsafe { &mut *irp };
    irp_ref.IoStatus.__bindgen_anon_1.Status = status;
    irp_ref.IoStatus.Information = information;
    // SAFETY: completing a live IRP once; no boost for a synchronous request.
    unsafe { IofCompleteRequest(irp, 0) };
    status
}

/// The current stack location's `DeviceIoControl` parameters and the
/// METHOD_BUFFERED system buffer of an IRP_MJ_DEVICE_CONTROL request.
///
/// # Safety
/// `irp` is a live IRP_MJ_DEVICE_CONTROL request delivered to this driver.
unsafe fn device_control_parameters(irp: &IRP) -> Option<(ioctl::Request, *mut u8)> {
    // SAFETY: while a driver processes an IRP, Tail.Overlay is the active
    // member of the Tail union (wdm/ns-wdm-_irp).
    let overlay = unsafe { &irp.Tail.Overlay };
    // SAFETY: CurrentStackLocation, not PacketType, is the member in use
    // while a driver owns the IRP.
    let stack = unsafe { overlay.__bindgen_anon_2.__bindgen_anon_1.CurrentStackLocation };
    if stack.is_null() {
        return None;
    }
    // SAFETY: the I/O manager set a valid current stack location (non-null).
    let stack = unsafe { &*stack };
    // SAFETY: for IRP_MJ_DEVICE_CONTROL the DeviceIoControl member of the
    // Parameters union is the active one (wdm/ns-wdm-_io_stack_location).
    let params = unsafe { stack.Parameters.DeviceIoControl };
    // SAFETY: for METHOD_BUFFERED requests AssociatedIrp.SystemBuffer is the
    // active member (kernel/buffer-descriptions-for-i-o-control-codes).
    let system_buffer = unsafe { irp.AssociatedIrp.SystemBuffer }.cast::<u8>();
    let request = ioctl::Request {
        code: params.IoControlCode,
        input_length: params.InputBufferLength as usize,
        output_length: params.OutputBufferLength as usize,
    };
    Some((request, system_buffer))
}

/// IRP_MJ_CREATE / IRP_MJ_CLOSE: always succeed (the DACL already decided
/// who may open). PASSIVE_LEVEL.
unsafe extern "C" fn dispatch_create_close(_device: PDEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: the I/O manager hands us a live IRP.
    unsafe { complete(irp, STATUS_SUCCESS, 0) }
}

/// IRP_MJ_DEVICE_CONTROL: METHOD_BUFFERED requests, decoded and answered by
/// [`ioctl::handle`]; any other transfer method gets
/// `STATUS_INVALID_DEVICE_REQUEST` before the buffer is touched. PASSIVE_LEVEL.
unsafe extern "C" fn dispatch_device_control(_device: PDEVICE_OBJECT, irp: *mut IRP) -> NTSTATUS {
    // SAFETY: the I/O manager hands us a live IRP, ours until completed.
    let irp_ref = unsafe { &*irp };
    // SAFETY: it is an IRP_MJ_DEVICE_CONTROL request (this routine's slot).
    let parameters = unsafe { device_control_parameters(irp_ref) };
    let Some((request, system_buffer)) = parameters else {
        // SAFETY: live IRP, not yet completed.
        return unsafe { complete(irp, STATUS_INVALID_PARAMETER, 0) };
    };
    // Every code of this driver is METHOD_BUFFERED; only for that method is
    // SystemBuffer one kernel buffer of max(input, output) bytes. With
    // METHOD_IN/OUT_DIRECT it holds the input only, with METHOD_NEITHER it
    // is not used at all (the buffers are user addresses;
    // kernel/buffer-descriptions-for-i-o-control-codes), so no slice is
    // built for another method: such a code is not one of ours.
    if kcb_proto::transfer_method(request.code) != kcb_proto::METHOD_BUFFERED {
        // SAFETY: live IRP, not yet completed.
        return unsafe { complete(irp, STATUS_INVALID_DEVICE_REQUEST, 0) };
    }
    let buffer_length = request.input_length.max(request.output_length);
    let buffer: &mut [u8] = if buffer_length == 0 {
        &mut []
    } else if system_buffer.is_null() {
        // SAFETY: live IRP, not yet completed.
        return unsafe { complete(irp, STATUS_INVALID_PARAMETER, 0) };
    } else {
        // SAFETY: METHOD_BUFFERED: the I/O manager's SystemBuffer is a kernel
        // buffer of max(input, output) bytes that we own until completion.
        unsafe { core::slice::from_raw_parts_mut(system_buffer, buffer_length) }
    };
    let (status, information) = ioctl::handle(&request, buffer);
    // SAFETY: live IRP, not yet completed.
    unsafe { complete(irp, status, information as u64) }
}
