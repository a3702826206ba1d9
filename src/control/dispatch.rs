//! IRP mechanics of the control device.
//!
//! The dispatch table, completing an IRP, and unpacking a METHOD_BUFFERED `IRP_MJ_DEVICE_CONTROL` request for
//! the request server ([`crate::control::ioctl`], which never sees an IRP).

use wdk_sys::{
    DRIVER_OBJECT, IRP, IRP_MJ_CLOSE, IRP_MJ_CREATE, IRP_MJ_DEVICE_CONTROL, IRP_MJ_SHUTDOWN, NTSTATUS,
    PDEVICE_OBJECT, STATUS_INVALID_DEVICE_REQUEST, STATUS_INVALID_PARAMETER, STATUS_SUCCESS,
};

use crate::{control::ioctl, kernel::irp::complete, registrations::shutdown};

/// Installs the dispatch routines in the driver object.
///
/// # Safety
/// `driver` is the valid DRIVER_OBJECT passed to DriverEntry.
///
/// # IRQL
/// PASSIVE_LEVEL (DriverEntry).
pub unsafe fn install_dispatch(driver: *mut DRIVER_OBJECT) {
    // SAFETY: caller guarantees `driver` is valid and exclusively ours during DriverEntry.
    let major = unsafe { &mut (*driver).MajorFunction };
    major[IRP_MJ_CREATE as usize] = Some(dispatch_create_close);
    major[IRP_MJ_CLOSE as usize] = Some(dispatch_create_close);
    major[IRP_MJ_DEVICE_CONTROL as usize] = Some(dispatch_device_control);
    major[IRP_MJ_SHUTDOWN as usize] = Some(shutdown::dispatch_shutdown);
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
