//! Completing an IRP: the one place the driver writes `IoStatus` and calls
//! `IofCompleteRequest`.

use wdk_sys::{IRP, NTSTATUS, ntddk::IofCompleteRequest};

/// Completes `irp` with `status` and `information`, no priority boost (a
/// synchronous request); returns `status` for the dispatch routine.
///
/// # Safety
/// `irp` is a live IRP this driver owns and has not completed.
///
/// # IRQL
/// `<= DISPATCH_LEVEL`.
pub unsafe fn complete(irp: *mut IRP, status: NTSTATUS, information: u64) -> NTSTATUS {
    // SAFETY: the caller guarantees the IRP is live and ours until completed.
    let irp_ref = unsafe { &mut *irp };
    irp_ref.IoStatus.__bindgen_anon_1.Status = status;
    irp_ref.IoStatus.Information = information;
    // SAFETY: completing a live IRP once (the caller's contract).
    unsafe { IofCompleteRequest(irp, 0) };
    status
}
