//! `MmGetSystemRoutineAddress` and the table of exports it searches.
//!
//! Every routine and data export the model defines is "exported" by name
//! (case-sensitive, as the export directory is), and the call returns the
//! model's own definition, so a driver that resolves `KeQuerySystemTimePrecise`
//! at run time calls the same code the linker would have bound. A test can
//! [`hide`] a name to model an older system that lacks it, or [`expose`] a
//! name that x64 Windows does not export (`KeQuerySystemTime`, a header
//! macro on x64, which Wine does export).

#![allow(non_snake_case)]

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::sync::Mutex;

use wdk_sys::{PUNICODE_STRING, PVOID};

use crate::{clock, ddi, sync::lock, unicode};

struct Export {
    address: usize,
    exported: bool,
}

static EXPORTS: Mutex<BTreeMap<&'static str, Export>> = Mutex::new(BTreeMap::new());

macro_rules! table {
    (
        $($module:ident :: $name:ident),* ;
        $($parent:ident :: $child:ident :: $nested:ident),* $(,)?
    ) => {
        fn defaults() -> Vec<(&'static str, usize)> {
            vec![
                $((stringify!($name), crate::$module::$name as *const () as usize),)*
                $((stringify!($nested), crate::$parent::$child::$nested as *const () as usize),)*
            ]
        }
    };
}

table!(
    irql::KeGetCurrentIrql,
    irql::KfRaiseIrql,
    irql::KeLowerIrql,
    irql::KeRaiseIrqlToDpcLevel,
    clock::KeQuerySystemTimePrecise,
    ke::KeInitializeEvent,
    ke::KeSetEvent,
    ke::KeResetEvent,
    ke::KeClearEvent,
    ke::KeReadStateEvent,
    ke::KeWaitForSingleObject,
    ke::KeDelayExecutionThread,
    ke::KeGetCurrentProcessorNumberEx,
    perf::KeQueryPerformanceCounter,
    ke::KeQueryMaximumProcessorCountEx,
    thread::PsCreateSystemThread,
    thread::PsTerminateSystemThread,
    thread::ZwWaitForSingleObject,
    thread::ZwClose,
    thread::PsGetCurrentProcessId,
    thread::PsGetCurrentThreadId,
    io::IoCreateDevice,
    io::IoDeleteDevice,
    io::IoCreateSymbolicLink,
    io::IoDeleteSymbolicLink,
    io::IofCompleteRequest,
    se::RtlCreateAcl,
    se::RtlAddAccessAllowedAce,
    se::RtlCreateSecurityDescriptor,
    se::RtlSetDaclSecurityDescriptor,
    ps::PsSetLoadImageNotifyRoutine,
    ps::PsSetLoadImageNotifyRoutineEx,
    ps::PsRemoveLoadImageNotifyRoutine,
    ps::PsSetCreateProcessNotifyRoutine,
    ps::PsSetCreateProcessNotifyRoutineEx,
    ps::PsSetCreateProcessNotifyRoutineEx2,
    ps::PsSetCreateThreadNotifyRoutine,
    ps::PsSetCreateThreadNotifyRoutineEx,
    ps::PsRemoveCreateThreadNotifyRoutine,
    excallback::ExCreateCallback,
    excallback::ExRegisterCallback,
    excallback::ExUnregisterCallback,
    excallback::ExNotifyCallback,
    excallback::ObfReferenceObject,
    excallback::ObfDereferenceObject,
    excallback::ObMakeTemporaryObject,
    spinlock::KeAcquireSpinLockRaiseToDpc,
    spinlock::KeReleaseSpinLock,
    mm::MmIsAddressValid,
    sysinfo::ZwQuerySystemInformation,
    objects::PsGetProcessId,
    objects::PsGetThreadId,
    objects::PsGetThreadProcessId,
    registry::ZwOpenKey,
    registry::ZwEnumerateValueKey,
    registry::ZwQueryValueKey,
    registry::CmRegisterCallback,
    registry::CmRegisterCallbackEx,
    registry::CmUnRegisterCallback,
    registry::CmCallbackGetKeyObjectID,
    registry::CmCallbackGetKeyObjectIDEx,
    registry::CmCallbackReleaseKeyObjectIDEx,
    ob::ZwOpenDirectoryObject,
    ob::ZwQueryDirectoryObject,
    obcallbacks::ObRegisterCallbacks,
    obcallbacks::ObUnRegisterCallbacks,
    obcallbacks::ObGetFilterVersion,
    shutdown::IoRegisterShutdownNotification,
    shutdown::IoRegisterLastChanceShutdownNotification,
    shutdown::IoUnregisterShutdownNotification,
    ioreg::IoRegisterPlugPlayNotification,
    ioreg::IoUnregisterPlugPlayNotification,
    ioreg::IoUnregisterPlugPlayNotificationEx,
    ioreg::IoRegisterFsRegistrationChange,
    ioreg::IoUnregisterFsRegistrationChange,
    ioreg::IoRegisterDriverReinitialization,
    ioreg::IoRegisterBootDriverReinitialization,
    interrupt::IoConnectInterruptEx,
    interrupt::IoDisconnectInterruptEx,
    kecb::KeRegisterBugCheckCallback,
    kecb::KeDeregisterBugCheckCallback,
    kecb::KeRegisterBugCheckReasonCallback,
    kecb::KeDeregisterBugCheckReasonCallback,
    kecb::KeRegisterNmiCallback,
    kecb::KeDeregisterNmiCallback,
    kecb::KeRegisterBoundCallback,
    kecb::KeDeregisterBoundCallback,
    kecb::KeRegisterProcessorChangeCallback,
    kecb::KeDeregisterProcessorChangeCallback,
    power::PoRegisterPowerSettingCallback,
    power::PoUnregisterPowerSettingCallback,
    power::WheaRegisterInUsePageOfflineNotification,
    power::WheaUnregisterInUsePageOfflineNotification,
    version::RtlGetVersion,
    etw::EtwRegister,
    etw::EtwSetInformation,
    etw::EtwWriteTransfer,
    etw::EtwUnregister;
    // Files below a module (`parent::child::Name`).
    se::object::ObSetSecurityObjectByPointer,
    se::object::ObOpenObjectByPointer,
    se::object::ZwSetSecurityObject,
);

unsafe extern "C" {
    fn DbgPrint(format: *const i8, ...) -> u32;
    fn DbgPrintEx(component: u32, level: u32, format: *const i8, ...) -> u32;
    fn ExAllocatePool2(flags: u64, bytes: usize, tag: u32) -> *mut c_void;
    fn ExAllocatePoolWithTag(pool_type: i32, bytes: usize, tag: u32) -> *mut c_void;
    fn ExAllocatePool(pool_type: i32, bytes: usize) -> *mut c_void;
    fn ExFreePool(block: *mut c_void);
    fn ExFreePoolWithTag(block: *mut c_void, tag: u32);
}

fn c_routines() -> Vec<(&'static str, usize)> {
    vec![
        ("DbgPrint", DbgPrint as *const () as usize),
        ("DbgPrintEx", DbgPrintEx as *const () as usize),
        ("ExAllocatePool2", ExAllocatePool2 as *const () as usize),
        (
            "ExAllocatePoolWithTag",
            ExAllocatePoolWithTag as *const () as usize,
        ),
        ("ExAllocatePool", ExAllocatePool as *const () as usize),
        ("ExFreePool", ExFreePool as *const () as usize),
        ("ExFreePoolWithTag", ExFreePoolWithTag as *const () as usize),
    ]
}

/// The address of an exported data item.
fn address<T>(item: &'static T) -> usize {
    std::ptr::from_ref(item) as usize
}

fn data() -> Vec<(&'static str, usize)> {
    use crate::thread::{
        ExDesktopObjectType, IoDeviceObjectType, IoFileObjectType, PsProcessType, PsThreadType,
    };
    vec![
        ("PsThreadType", address(&PsThreadType)),
        ("PsProcessType", address(&PsProcessType)),
        ("ExDesktopObjectType", address(&ExDesktopObjectType)),
        ("IoFileObjectType", address(&IoFileObjectType)),
        ("IoDeviceObjectType", address(&IoDeviceObjectType)),
        ("HalDispatchTable", address(&crate::power::HalDispatchTable)),
        (
            "PsGetProcessExitStatus",
            crate::objects::ps_get_process_exit_status as *const () as usize,
        ),
    ]
}

/// Makes `name` unavailable to `MmGetSystemRoutineAddress` (an older system).
///
/// # Panics
/// If the model has no export of that name.
pub fn hide(name: &str) {
    set_exported(name, false);
}

/// Makes `name` available to `MmGetSystemRoutineAddress`.
///
/// # Panics
/// If the model has no routine of that name.
pub fn expose(name: &str) {
    set_exported(name, true);
}

/// Whether `MmGetSystemRoutineAddress` finds `name` from now on.
fn set_exported(name: &str, exported: bool) {
    lock(&EXPORTS)
        .get_mut(name)
        .unwrap_or_else(|| panic!("ntsim has no routine {name}"))
        .exported = exported;
}

/// The names `MmGetSystemRoutineAddress` finds now.
#[must_use]
pub fn exported() -> Vec<&'static str> {
    lock(&EXPORTS)
        .iter()
        .filter(|(_, e)| e.exported)
        .map(|(n, _)| *n)
        .collect()
}

/// The address `MmGetSystemRoutineAddress` returns for `name`.
#[must_use]
pub fn address_of(name: &str) -> Option<usize> {
    lock(&EXPORTS).get(name).filter(|e| e.exported).map(|e| e.address)
}

pub(crate) fn reset() {
    let mut exports = lock(&EXPORTS);
    exports.clear();
    for (name, address) in defaults().into_iter().chain(c_routines()).chain(data()) {
        exports.insert(
            name,
            Export {
                address,
                exported: true,
            },
        );
    }
    // Undocumented; not exported by default (crate::power).
    exports.insert(
        "HalRegisterErrataCallbacks",
        Export {
            address: crate::power::hal_register_errata_callbacks as *const () as usize,
            exported: false,
        },
    );
    // wdm/nf-wdm-kequerysystemtime: a macro on x64, so not exported there.
    exports.insert(
        "KeQuerySystemTime",
        Export {
            address: clock::ke_query_system_time as *const () as usize,
            exported: false,
        },
    );
}

/// `MmGetSystemRoutineAddress` (wdm/nf-wdm-mmgetsystemroutineaddress):
/// PASSIVE_LEVEL; the address of the named export, or NULL.
///
/// # Safety
/// `system_routine_name` is a valid `UNICODE_STRING`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn MmGetSystemRoutineAddress(system_routine_name: PUNICODE_STRING) -> PVOID {
    let entry = ddi::enter(&ddi::MM_GET_SYSTEM_ROUTINE_ADDRESS);
    if entry.fault.is_some() {
        return std::ptr::null_mut();
    }
    // SAFETY: valid per the caller.
    let Some(name) = (unsafe { unicode::read(system_routine_name) }) else {
        return std::ptr::null_mut();
    };
    address_of(&name).map_or(std::ptr::null_mut(), |a| a as PVOID)
}
