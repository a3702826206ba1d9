//! Routines the driver imports, declares or resolves at run time, and the callbacks it implements:
//! the size of each parameter and of the result.

#[allow(clippy::wildcard_imports)]
use super::*;

#[allow(clippy::too_many_lines, reason = "one line per compared routine")]
pub fn routines(r: &mut Report) {
    use kcallbacks::{
        kernel::clock, registrations::cm, registrations::io, registrations::ke, registrations::po,
        registrations::ps, registrations::whea,
    };

    // Imported through the stand-in's `ntddk` (the names src/*.rs uses).
    routine!(r, CmRegisterCallback(_, _, _) in wss);
    routine!(r, CmUnRegisterCallback(_) in wss);
    routine!(r, ExCreateCallback(_, _, _, _) in wss);
    routine!(r, ExFreePoolWithTag(_, _) in wss);
    routine!(r, ExNotifyCallback(_, _, _) in wss);
    routine!(r, ExRegisterCallback(_, _, _) in wss);
    routine!(r, ExUnregisterCallback(_) in wss);
    routine!(r, IoConnectInterruptEx(_) in wss);
    routine!(r, IoCreateDevice(_, _, _, _, _, _, _) in wss);
    routine!(r, IoCreateSymbolicLink(_, _) in wss);
    routine!(r, IoDeleteDevice(_) in wss);
    routine!(r, IoDeleteSymbolicLink(_) in wss);
    routine!(r, IoDisconnectInterruptEx(_) in wss);
    routine!(r, IoRegisterBootDriverReinitialization(_, _, _) in wss);
    routine!(r, IoRegisterDriverReinitialization(_, _, _) in wss);
    routine!(r, IoRegisterFsRegistrationChange(_, _) in wfs);
    routine!(r, IoRegisterLastChanceShutdownNotification(_) in wss);
    routine!(r, IoRegisterPlugPlayNotification(_, _, _, _, _, _, _) in wss);
    routine!(r, IoRegisterShutdownNotification(_) in wss);
    routine!(r, IoUnregisterFsRegistrationChange(_, _) in wfs);
    routine!(r, IoUnregisterPlugPlayNotification(_) in wss);
    routine!(r, IoUnregisterShutdownNotification(_) in wss);
    routine!(r, IofCompleteRequest(_, _) in wss);
    routine!(r, KeDeregisterBugCheckCallback(_) in wss);
    routine!(r, KeDeregisterBugCheckReasonCallback(_) in wss);
    routine!(r, KeInitializeEvent(_, _, _) in wss);
    routine!(r, KeRegisterBugCheckCallback(_, _, _, _, _) in wss);
    routine!(r, KeRegisterBugCheckReasonCallback(_, _, _, _) in wss);
    routine!(r, KeSetEvent(_, _, _) in wss);
    routine!(r, KeWaitForSingleObject(_, _, _, _, _) in wss);
    routine!(r, MmGetSystemRoutineAddress(_) in wss);
    routine!(r, MmIsAddressValid(_) in wss);
    routine!(r, ObMakeTemporaryObject(_) in wfs);
    routine!(r, ObOpenObjectByPointer(_, _, _, _, _, _, _) in wfs);
    routine!(r, ObRegisterCallbacks(_, _) in wss);
    routine!(r, ObUnRegisterCallbacks(_) in wss);
    routine!(r, ObfDereferenceObject(_) in wss);
    routine!(r, PsCreateSystemThread(_, _, _, _, _, _, _) in wss);
    routine!(r, PsGetCurrentProcessId() in wss);
    routine!(r, PsGetCurrentThreadId() in wss);
    routine!(r, PsGetProcessId(_) in wss);
    routine!(r, PsGetThreadId(_) in wss);
    routine!(r, PsGetThreadProcessId(_) in wss);
    routine!(r, PsRemoveCreateThreadNotifyRoutine(_) in wss);
    routine!(r, PsRemoveLoadImageNotifyRoutine(_) in wss);
    routine!(r, PsSetCreateProcessNotifyRoutineEx(_, _) in wss);
    routine!(r, PsSetCreateThreadNotifyRoutine(_) in wss);
    routine!(r, PsSetLoadImageNotifyRoutine(_) in wss);
    routine!(r, PsTerminateSystemThread(_) in wss);
    routine!(r, RtlAddAccessAllowedAce(_, _, _, _) in wfs);
    routine!(r, RtlCreateAcl(_, _, _) in wfs);
    routine!(r, RtlCreateSecurityDescriptor(_, _) in wss);
    routine!(r, RtlSetDaclSecurityDescriptor(_, _, _, _) in wss);
    routine!(r, ZwClose(_) in wss);
    routine!(r, ZwOpenDirectoryObject(_, _, _) in wfs);
    routine!(r, ZwQueryDirectoryObject(_, _, _, _, _, _, _) in wfs);
    routine!(r, ZwSetSecurityObject(_, _, _) in wfs);
    {
        use windows_sys::Wdk::System::Registry as wreg;
        use windows_sys::Wdk::System::Threading as wthr;
        routine!(r, ZwEnumerateValueKey(_, _, _, _, _, _) in wreg);
        routine!(r, ZwOpenKey(_, _, _) in wreg);
        routine!(r, ZwWaitForSingleObject(_, _, _) in wthr);
    }
    routine!(r, KeBugCheckEx(_, _, _, _, _) in wss);
    routine!(r, KeGetCurrentProcessorNumberEx(_) in wss);
    {
        const OURS: Sig = sig_of(wdk_sys::ntddk::DbgPrintEx as unsafe extern "C" fn(_, _, _, ...) -> _);
        const THEIRS: Sig = sig_of(wss::DbgPrintEx as unsafe extern "C" fn(_, _, _, ...) -> _);
        r.cmp("DbgPrintEx() [variadic: the fixed parameters]", OURS, THEIRS);
    }
    // Resolved at run time by the driver: the stand-in's declarations too.
    routine!(r, ExAllocatePool2(_, _, _) in wss);
    routine!(r, PsSetCreateProcessNotifyRoutineEx2(_, _, _) in wss);
    routine!(r, PsSetCreateThreadNotifyRoutineEx(_, _) in wss);
    routine!(r, PsSetLoadImageNotifyRoutineEx(_, _) in wss);
    routine!(r, KeRegisterBoundCallback(_) in wss);
    routine!(r, KeDeregisterBoundCallback(_) in wss);
    routine!(r, WheaRegisterInUsePageOfflineNotification(_, _) in wss);
    routine!(r, WheaUnregisterInUsePageOfflineNotification(_) in wss);
    routine!(r, CmCallbackGetKeyObjectIDEx(_, _, _, _, _) in wss);
    routine!(r, CmCallbackReleaseKeyObjectIDEx(_) in wss);
    routine!(r, KeQuerySystemTimePrecise(_) in wss);
    routine!(r, KeQueryMaximumProcessorCountEx(_) in wss);
    // x64 ntoskrnl exports these two (the only IRQL routines the metadata has; the stand-in
    // reads/writes CR8 inline on Windows, as the driver's src/kernel/irql.rs does for raise/lower).
    routine!(r, KeGetCurrentIrql() in wss);
    routine!(r, KfRaiseIrql(_) in wss);
    routine!(r, KeQueryPerformanceCounter(_) in wss);

    // Declared by the driver itself (the raw-dylib block of src/kernel/imports.rs).
    declared!(r, "pool.rs raw-dylib",
        sig_of(kcallbacks::kernel::imports::ExAllocatePoolWithTag as unsafe extern "C" fn(_, _, _) -> _),
        ExAllocatePoolWithTag(_, _, _) in wss);
    {
        use windows_sys::Wdk::System::SystemInformation as wsi;
        declared!(r, "walker.rs raw-dylib",
            sig_of(kcallbacks::kernel::imports::ZwQuerySystemInformation as unsafe extern "C" fn(_, _, _, _) -> _),
            ZwQuerySystemInformation(_, _, _, _) in wsi);
    }

    // Prototypes of the routines resolved with MmGetSystemRoutineAddress.
    declared!(r, "ke::RegisterNmiFn", <ke::RegisterNmiFn as FnSig>::SIG, KeRegisterNmiCallback(_, _) in wss);
    declared!(r, "ke::DeregisterFn", <ke::DeregisterFn as FnSig>::SIG, KeDeregisterNmiCallback(_) in wss);
    declared!(r, "ke::RegisterBoundFn", <ke::RegisterBoundFn as FnSig>::SIG, KeRegisterBoundCallback(_) in wss);
    declared!(r, "ke::DeregisterFn", <ke::DeregisterFn as FnSig>::SIG, KeDeregisterBoundCallback(_) in wss);
    declared!(r, "ke::RegisterProcessorFn", <ke::RegisterProcessorFn as FnSig>::SIG,
        KeRegisterProcessorChangeCallback(_, _, _) in wss);
    declared!(r, "ke::DeregisterProcessorFn", <ke::DeregisterProcessorFn as FnSig>::SIG,
        KeDeregisterProcessorChangeCallback(_) in wss);
    declared!(r, "po::RegisterFn", <po::RegisterFn as FnSig>::SIG, PoRegisterPowerSettingCallback(_, _, _, _, _) in wss);
    declared!(r, "po::UnregisterFn", <po::UnregisterFn as FnSig>::SIG, PoUnregisterPowerSettingCallback(_) in wss);
    declared!(r, "pool::AllocatePool2", <kcallbacks::kernel::pool::AllocatePool2 as FnSig>::SIG, ExAllocatePool2(_, _, _) in wss);
    // ETW (src/etw): resolved at run time by the driver, defined by the kernel model.
    declared!(r, "etw::RegisterFn", <kcallbacks::etw::RegisterFn as FnSig>::SIG, EtwRegister(_, _, _, _) in wss);
    declared!(r, "etw::SetInformationFn", <kcallbacks::etw::SetInformationFn as FnSig>::SIG,
        EtwSetInformation(_, _, _, _) in wss);
    declared!(r, "etw::WriteTransferFn", <kcallbacks::etw::WriteTransferFn as FnSig>::SIG,
        EtwWriteTransfer(_, _, _, _, _, _) in wss);
    declared!(r, "etw::UnregisterFn", <kcallbacks::etw::UnregisterFn as FnSig>::SIG, EtwUnregister(_) in wss);
    declared!(r, "ntsim::etw::EtwRegister", sig_of(ntsim::etw::EtwRegister as unsafe extern "C" fn(_, _, _, _) -> _),
        EtwRegister(_, _, _, _) in wss);
    declared!(r, "ntsim::etw::EtwSetInformation",
        sig_of(ntsim::etw::EtwSetInformation as unsafe extern "C" fn(_, _, _, _) -> _),
        EtwSetInformation(_, _, _, _) in wss);
    declared!(r, "ntsim::etw::EtwWriteTransfer",
        sig_of(ntsim::etw::EtwWriteTransfer as unsafe extern "C" fn(_, _, _, _, _, _) -> _),
        EtwWriteTransfer(_, _, _, _, _, _) in wss);
    declared!(r, "ntsim::etw::EtwUnregister", sig_of(ntsim::etw::EtwUnregister as unsafe extern "C" fn(_) -> _),
        EtwUnregister(_) in wss);
    declared!(r, "io::UnregisterPnpExFn", <io::UnregisterPnpExFn as FnSig>::SIG,
        IoUnregisterPlugPlayNotificationEx(_) in wss);
    declared!(r, "ps::ProcessEx2Fn", <ps::ProcessEx2Fn as FnSig>::SIG,
        PsSetCreateProcessNotifyRoutineEx2(_, _, _) in wss);
    declared!(r, "ps::ThreadExFn", <ps::ThreadExFn as FnSig>::SIG, PsSetCreateThreadNotifyRoutineEx(_, _) in wss);
    declared!(r, "ps::ImageExFn", <ps::ImageExFn as FnSig>::SIG, PsSetLoadImageNotifyRoutineEx(_, _) in wss);
    declared!(r, "ps::ExitStatusFn", <ps::ExitStatusFn as FnSig>::SIG, PsGetProcessExitStatus(_) in wss);
    declared!(r, "clock::QueryTime", <clock::QueryTime as FnSig>::SIG, KeQuerySystemTimePrecise(_) in wss);
    declared!(r, "cm::RegisterExFn", <cm::RegisterExFn as FnSig>::SIG, CmRegisterCallbackEx(_, _, _, _, _, _) in wss);
    declared!(r, "cm::GetKeyIdExFn", <cm::GetKeyIdExFn as FnSig>::SIG, CmCallbackGetKeyObjectIDEx(_, _, _, _, _) in wss);
    declared!(r, "cm::ReleaseKeyIdExFn", <cm::ReleaseKeyIdExFn as FnSig>::SIG,
        CmCallbackReleaseKeyObjectIDEx(_) in wss);
    declared!(r, "cm::GetKeyIdFn", <cm::GetKeyIdFn as FnSig>::SIG, CmCallbackGetKeyObjectID(_, _, _, _) in wss);
    declared!(r, "whea::RegisterFn", <whea::RegisterFn as FnSig>::SIG,
        WheaRegisterInUsePageOfflineNotification(_, _) in wss);
    declared!(r, "whea::UnregisterFn", <whea::UnregisterFn as FnSig>::SIG,
        WheaUnregisterInUsePageOfflineNotification(_) in wss);

    // Callback prototypes the driver implements, where the metadata gives
    // the parameters.
    callback!(
        r,
        "PCREATE_PROCESS_NOTIFY_ROUTINE_EX",
        wdk_sys::PCREATE_PROCESS_NOTIFY_ROUTINE_EX,
        wss::PCREATE_PROCESS_NOTIFY_ROUTINE_EX
    );
    callback!(
        r,
        "PCREATE_THREAD_NOTIFY_ROUTINE",
        wdk_sys::PCREATE_THREAD_NOTIFY_ROUTINE,
        wss::PCREATE_THREAD_NOTIFY_ROUTINE
    );
    // Undocumented (no DDI page): the header declaration is known only through the metadata.
    callback!(
        r,
        "PFN_IN_USE_PAGE_OFFLINE_NOTIFY",
        wdk_sys::PFN_IN_USE_PAGE_OFFLINE_NOTIFY,
        wss::PFN_IN_USE_PAGE_OFFLINE_NOTIFY
    );
    callback!(
        r,
        "PLOAD_IMAGE_NOTIFY_ROUTINE",
        wdk_sys::PLOAD_IMAGE_NOTIFY_ROUTINE,
        wss::PLOAD_IMAGE_NOTIFY_ROUTINE
    );
    callback!(
        r,
        "POB_PRE_OPERATION_CALLBACK",
        wdk_sys::POB_PRE_OPERATION_CALLBACK,
        wss::POB_PRE_OPERATION_CALLBACK
    );
    callback!(
        r,
        "POB_POST_OPERATION_CALLBACK",
        wdk_sys::POB_POST_OPERATION_CALLBACK,
        wss::POB_POST_OPERATION_CALLBACK
    );
    callback!(
        r,
        "DRIVER_REINITIALIZE",
        wdk_sys::PDRIVER_REINITIALIZE,
        wf::DRIVER_REINITIALIZE
    );
    callback!(
        r,
        "DRIVER_NOTIFICATION_CALLBACK_ROUTINE",
        wdk_sys::PDRIVER_NOTIFICATION_CALLBACK_ROUTINE,
        wf::DRIVER_NOTIFICATION_CALLBACK_ROUTINE
    );
}
