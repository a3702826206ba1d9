//! What is not compared as is: names the metadata lacks, and the `POINTER_ALIGNMENT` fields
//! it lays out packed.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Names the metadata lacks (or carries without what is compared), and why.
pub fn exceptions(r: &mut Report) {
    r.except(
        "KeAcquireSpinLockRaiseToDpc, KeReleaseSpinLock",
        "x64 exports declared in wdm.h that the metadata omits",
    );
    r.except(
        "memcpy, memmove, memset, __chkstk",
        "C runtime routines ntoskrnl exports, called by compiled code (no WDK metadata)",
    );
    r.except(
        "KeQuerySystemTime",
        "a macro over KUSER_SHARED_DATA on x64 (wdm.h); the driver resolves the export",
    );
    r.except(
        "KeGetCurrentIrql",
        "prototype compared; as an import: the stand-in reads CR8 inline on x64, nothing is imported",
    );
    r.except(
        "HalRegisterErrataCallbacks",
        "undocumented HAL export: no header declaration, no metadata",
    );
    r.except(
        "PsProcessType, PsThreadType, ExDesktopObjectType, HalDispatchTable",
        "data exports: the metadata has no variables",
    );
    r.except(
        "DPFLTR_ERROR_LEVEL, DPFLTR_IHVDRIVER_ID",
        "dpfilter.h values the metadata does not carry",
    );
    r.except(
        "PETWENABLECALLBACK",
        "the metadata types it as a parameterless function pointer; the driver's and the model's \
         prototype follow wdm.h (GUID*, ULONG, UCHAR, ULONGLONG, ULONGLONG, PEVENT_FILTER_DESCRIPTOR, PVOID)",
    );
    r.except(
        "POOL_FLAG_PAGED",
        "POOL_FLAGS macros (wdm.h) the metadata does not carry",
    );
    r.except(
        "HIGH_LEVEL",
        "architecture-dependent wdm.h macro: the metadata carries the x86 value (31), x64 defines 15 (the stand-in's)",
    );
    r.except(
        "PEX_CALLBACK_FUNCTION, PNMI_CALLBACK, PBOUND_CALLBACK, PKBUGCHECK_*_ROUTINE, PPROCESSOR_CALLBACK_FUNCTION, \
         PPOWER_SETTING_CALLBACK, PCALLBACK_FUNCTION",
        "the metadata declares these callback types without parameters; only the registration routines are compared",
    );
    r.except(
        "walker's undocumented structures",
        "the registration walker reads undocumented kernel structures (no metadata)",
    );
}

/// Fields that wdm.h declares `POINTER_ALIGNMENT` (`DECLSPEC_ALIGN(8)` on
/// 64-bit): the metadata drops the attribute, so windows-sys lays them out
/// packed. The stand-in is held to the header's x64 offsets instead (within
/// `Parameters`), and windows-sys's are printed as an exception.
pub fn pointer_alignment(r: &mut Report) {
    use wdk_sys::IO_STACK_LOCATION as Ours;
    use wf::IO_STACK_LOCATION as Theirs;
    let base_ours = offset_of!(Ours, Parameters);
    let base_theirs = offset_of!(Theirs, Parameters);
    let fields = [
        (
            "InputBufferLength",
            8,
            offset_of!(Ours, Parameters.DeviceIoControl.InputBufferLength),
            offset_of!(Theirs, Parameters.DeviceIoControl.InputBufferLength),
        ),
        (
            "IoControlCode",
            16,
            offset_of!(Ours, Parameters.DeviceIoControl.IoControlCode),
            offset_of!(Theirs, Parameters.DeviceIoControl.IoControlCode),
        ),
        (
            "Type3InputBuffer",
            24,
            offset_of!(Ours, Parameters.DeviceIoControl.Type3InputBuffer),
            offset_of!(Theirs, Parameters.DeviceIoControl.Type3InputBuffer),
        ),
    ];
    let mut theirs_text = vec![];
    for (name, header, ours, theirs) in fields {
        r.cmp(
            format!("IO_STACK_LOCATION.Parameters.DeviceIoControl.{name} (wdm.h x64 offset in Parameters)"),
            ours - base_ours,
            header,
        );
        theirs_text.push(format!("{name} {}", theirs - base_theirs));
    }
    r.exceptions.push((
        "IO_STACK_LOCATION.Parameters.DeviceIoControl".to_owned(),
        "POINTER_ALIGNMENT fields: the metadata drops DECLSPEC_ALIGN(8), so windows-sys has them packed; \
         compared with wdm.h's x64 offsets instead (8, 16, 24)",
    ));
    println!(
        "windows-sys (packed) DeviceIoControl offsets in Parameters: {}",
        theirs_text.join(", ")
    );
}
