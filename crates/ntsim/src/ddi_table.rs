//! The table of modeled DDIs: for each, the IRQL its page documents, the
//! DDI compliance rule that covers it and how it reports a failure. Data
//! only: [`crate::faults`] checks names against it and the gate in
//! [`crate::ddi`] (which re-exports everything here) enforces it.

use wdk_sys::KIRQL;

use crate::levels::{APC_LEVEL, DISPATCH_LEVEL, MAX_DIRQL, PASSIVE_LEVEL};
use crate::verifier::{DdiRule, rules};

/// The IRQL a DDI's page documents (`req.irql`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Irql {
    /// `PASSIVE_LEVEL`.
    Passive,
    /// `<= APC_LEVEL`.
    AtMostApc,
    /// `< DISPATCH_LEVEL`.
    BelowDispatch,
    /// `<= DISPATCH_LEVEL`.
    AtMostDispatch,
    /// `<= DIRQL`.
    AtMostDirql,
    /// Any level (or checked by the routine itself, with its own codes).
    Any,
}

impl Irql {
    pub(crate) const fn max(self) -> KIRQL {
        match self {
            Self::Passive => PASSIVE_LEVEL,
            Self::AtMostApc | Self::BelowDispatch => APC_LEVEL,
            Self::AtMostDispatch => DISPATCH_LEVEL,
            Self::AtMostDirql => MAX_DIRQL,
            Self::Any => u8::MAX,
        }
    }

    pub(crate) const fn text(self) -> &'static str {
        match self {
            Self::Passive => "PASSIVE_LEVEL",
            Self::AtMostApc => "<= APC_LEVEL",
            Self::BelowDispatch => "< DISPATCH_LEVEL",
            Self::AtMostDispatch => "<= DISPATCH_LEVEL",
            Self::AtMostDirql => "<= DIRQL",
            Self::Any => "any",
        }
    }
}

/// How a DDI reports an (injected) failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// It cannot fail (returns nothing, or a value that is not a status).
    Never,
    /// It returns an `NTSTATUS`.
    Status,
    /// It returns a pointer (NULL) or a BOOLEAN (FALSE): zero.
    Null,
}

/// One modeled DDI.
#[derive(Debug)]
pub struct Ddi {
    /// The C name.
    pub name: &'static str,
    /// The documented IRQL.
    pub irql: Irql,
    /// The DDI compliance rule that covers it, if any.
    pub rule: Option<&'static DdiRule>,
    /// How a failure is reported.
    pub failure: Failure,
}

macro_rules! ddis {
    ($( $(#[$doc:meta])* $id:ident = $name:literal, $irql:ident, $rule:expr, $failure:ident; )*) => {
        $(
            $(#[$doc])*
            pub(crate) static $id: Ddi = Ddi {
                name: $name,
                irql: Irql::$irql,
                rule: $rule,
                failure: Failure::$failure,
            };
        )*
        /// Every modeled DDI.
        pub(crate) static ALL: &[&Ddi] = &[$(&$id),*];
    };
}

ddis! {
    /// wdm/nf-wdm-dbgprintex: IRQL <= DIRQL.
    DBG_PRINT_EX = "DbgPrintEx", AtMostDirql, None, Status;
    /// wdm/nf-wdm-dbgprint: IRQL <= DIRQL.
    DBG_PRINT = "DbgPrint", AtMostDirql, None, Status;
    /// wdm/nf-wdm-iocreatedevice: req.irql says <= APC_LEVEL but its rule
    /// IrqlIoPassive1 requires PASSIVE_LEVEL (AMBIG); Verifier enforces the rule.
    IO_CREATE_DEVICE = "IoCreateDevice", Passive, Some(&rules::IRQL_IO_PASSIVE1), Status;
    /// wdm/nf-wdm-iodeletedevice: <= APC_LEVEL, rule IrqlIoApcLte.
    IO_DELETE_DEVICE = "IoDeleteDevice", AtMostApc, Some(&rules::IRQL_IO_APC_LTE), Never;
    /// wdm/nf-wdm-iocreatesymboliclink: PASSIVE_LEVEL, rule IrqlIoPassive3.
    IO_CREATE_SYMBOLIC_LINK = "IoCreateSymbolicLink", Passive, Some(&rules::IRQL_IO_PASSIVE3), Status;
    /// wdm/nf-wdm-iodeletesymboliclink: PASSIVE_LEVEL, rule IrqlIoPassive4.
    IO_DELETE_SYMBOLIC_LINK = "IoDeleteSymbolicLink", Passive, Some(&rules::IRQL_IO_PASSIVE4), Status;
    /// wdm/nf-wdm-iocompleterequest: <= DISPATCH_LEVEL.
    IOF_COMPLETE_REQUEST = "IofCompleteRequest", AtMostDispatch, None, Never;
    /// ntifs/nf-ntifs-obsetsecurityobjectbypointer: PASSIVE_LEVEL (as
    /// ntifs/nf-ntifs-ntsetsecurityobject, whose work it does by pointer).
    OB_SET_SECURITY_OBJECT_BY_POINTER = "ObSetSecurityObjectByPointer", Passive, None, Status;
    /// ntifs/nf-ntifs-obopenobjectbypointer: <= APC_LEVEL.
    OB_OPEN_OBJECT_BY_POINTER = "ObOpenObjectByPointer", AtMostApc, None, Status;
    /// ntifs/nf-ntifs-zwsetsecurityobject: PASSIVE_LEVEL (Zw routines: 0xC4/0xE6).
    ZW_SET_SECURITY_OBJECT = "ZwSetSecurityObject", Any, None, Status;
    /// wdm/nf-wdm-obfreferenceobject: <= DISPATCH_LEVEL.
    OBF_REFERENCE_OBJECT = "ObfReferenceObject", AtMostDispatch, None, Never;
    /// wdm/nf-wdm-obfdereferenceobject: <= DISPATCH_LEVEL.
    OBF_DEREFERENCE_OBJECT = "ObfDereferenceObject", AtMostDispatch, None, Never;
    /// ntifs/nf-ntifs-rtlcreateacl: <= APC_LEVEL.
    RTL_CREATE_ACL = "RtlCreateAcl", AtMostApc, None, Status;
    /// ntifs/nf-ntifs-rtladdaccessallowedace: < DISPATCH_LEVEL.
    RTL_ADD_ACCESS_ALLOWED_ACE = "RtlAddAccessAllowedAce", BelowDispatch, None, Status;
    /// wdm/nf-wdm-rtlcreatesecuritydescriptor: PASSIVE_LEVEL.
    RTL_CREATE_SECURITY_DESCRIPTOR = "RtlCreateSecurityDescriptor", Passive, None, Status;
    /// wdm/nf-wdm-rtlsetdaclsecuritydescriptor: PASSIVE_LEVEL.
    RTL_SET_DACL_SECURITY_DESCRIPTOR = "RtlSetDaclSecurityDescriptor", Passive, None, Status;
    /// wdm/nf-wdm-mmgetsystemroutineaddress: PASSIVE_LEVEL.
    MM_GET_SYSTEM_ROUTINE_ADDRESS = "MmGetSystemRoutineAddress", Passive, None, Null;
    /// wdm/nf-wdm-kequerysystemtimeprecise: any IRQL.
    KE_QUERY_SYSTEM_TIME_PRECISE = "KeQuerySystemTimePrecise", Any, None, Never;
    /// wdm/nf-wdm-kegetcurrentprocessornumberex: any IRQL.
    KE_GET_CURRENT_PROCESSOR_NUMBER_EX = "KeGetCurrentProcessorNumberEx", Any, None, Never;
    /// wdm/nf-wdm-kequeryperformancecounter: any IRQL.
    KE_QUERY_PERFORMANCE_COUNTER = "KeQueryPerformanceCounter", Any, None, Never;
    /// wdm/nf-wdm-kequerymaximumprocessorcountex: any IRQL.
    KE_QUERY_MAXIMUM_PROCESSOR_COUNT_EX = "KeQueryMaximumProcessorCountEx", Any, None, Never;
    /// ntddk/nf-ntddk-psgetcurrentprocessid: any IRQL.
    PS_GET_CURRENT_PROCESS_ID = "PsGetCurrentProcessId", Any, None, Never;
    /// ntddk/nf-ntddk-psgetcurrentthreadid: any IRQL.
    PS_GET_CURRENT_THREAD_ID = "PsGetCurrentThreadId", Any, None, Never;
    /// wdm/nf-wdm-keinitializeevent: any level.
    KE_INITIALIZE_EVENT = "KeInitializeEvent", Any, None, Never;
    /// wdm/nf-wdm-kesetevent: checked by the routine (0xC4/0x80, IrqlKeSetEvent).
    KE_SET_EVENT = "KeSetEvent", Any, None, Never;
    /// wdm/nf-wdm-keresetevent: <= DISPATCH_LEVEL, rule IrqlKeDispatchLte.
    KE_RESET_EVENT = "KeResetEvent", AtMostDispatch, Some(&rules::IRQL_KE_DISPATCH_LTE), Never;
    /// wdm/nf-wdm-keclearevent: <= DISPATCH_LEVEL, rule IrqlKeDispatchLte.
    KE_CLEAR_EVENT = "KeClearEvent", AtMostDispatch, Some(&rules::IRQL_KE_DISPATCH_LTE), Never;
    /// wdm/nf-wdm-kereadstateevent: <= DISPATCH_LEVEL, rule IrqlKeDispatchLte.
    KE_READ_STATE_EVENT = "KeReadStateEvent", AtMostDispatch, Some(&rules::IRQL_KE_DISPATCH_LTE), Never;
    /// wdm/nf-wdm-kewaitforsingleobject: checked by the routine (0xC4/0x120-0x122).
    KE_WAIT_FOR_SINGLE_OBJECT = "KeWaitForSingleObject", Any, None, Never;
    /// wdm/nf-wdm-kedelayexecutionthread: <= APC_LEVEL.
    KE_DELAY_EXECUTION_THREAD = "KeDelayExecutionThread", AtMostApc, None, Never;
    /// wdm/nf-wdm-pscreatesystemthread: PASSIVE_LEVEL, rule IrqlPsPassive.
    PS_CREATE_SYSTEM_THREAD = "PsCreateSystemThread", Passive, Some(&rules::IRQL_PS_PASSIVE), Status;
    /// wdm/nf-wdm-psterminatesystemthread: PASSIVE_LEVEL, rule IrqlPsPassive.
    PS_TERMINATE_SYSTEM_THREAD = "PsTerminateSystemThread", Passive, Some(&rules::IRQL_PS_PASSIVE), Never;
    /// ntifs/nf-ntifs-zwwaitforsingleobject: PASSIVE_LEVEL (Zw routines: 0xC4/0xE6).
    ZW_WAIT_FOR_SINGLE_OBJECT = "ZwWaitForSingleObject", Any, None, Never;
    /// wdm/nf-wdm-zwclose: PASSIVE_LEVEL, rule IrqlZwPassive.
    ZW_CLOSE = "ZwClose", Passive, Some(&rules::IRQL_ZW_PASSIVE), Never;
    /// wdm/nf-wdm-exallocatepool2: checked by the routine (0xC4/0x01, 0x02).
    EX_ALLOCATE_POOL2 = "ExAllocatePool2", Any, None, Null;
    /// wdm/nf-wdm-exallocatepoolwithtag: checked by the routine (0xC4/0x01, 0x02).
    EX_ALLOCATE_POOL_WITH_TAG = "ExAllocatePoolWithTag", Any, None, Null;
    /// wdm/nf-wdm-exallocatepool: checked by the routine (0xC4/0x01, 0x02).
    EX_ALLOCATE_POOL = "ExAllocatePool", Any, None, Null;
    /// wdm/nf-wdm-exfreepool: checked by the routine (0xC4/0x11, 0x12).
    EX_FREE_POOL = "ExFreePool", Any, None, Never;
    /// wdm/nf-wdm-exfreepoolwithtag: checked by the routine (0xC4/0x11, 0x12).
    EX_FREE_POOL_WITH_TAG = "ExFreePoolWithTag", Any, None, Never;
    /// ntddk/nf-ntddk-pssetloadimagenotifyroutine: PASSIVE_LEVEL, rule IrqlPsPassive.
    PS_SET_LOAD_IMAGE_NOTIFY_ROUTINE = "PsSetLoadImageNotifyRoutine", Passive, Some(&rules::IRQL_PS_PASSIVE), Status;
    /// ntddk/nf-ntddk-pssetloadimagenotifyroutineex: PASSIVE_LEVEL (no rule).
    PS_SET_LOAD_IMAGE_NOTIFY_ROUTINE_EX = "PsSetLoadImageNotifyRoutineEx", Passive, None, Status;
    /// ntddk/nf-ntddk-psremoveloadimagenotifyroutine: <= APC_LEVEL.
    PS_REMOVE_LOAD_IMAGE_NOTIFY_ROUTINE = "PsRemoveLoadImageNotifyRoutine", AtMostApc, None, Status;
    /// ntddk/nf-ntddk-pssetcreateprocessnotifyroutine: PASSIVE_LEVEL, rule IrqlPsPassive.
    PS_SET_CREATE_PROCESS_NOTIFY_ROUTINE = "PsSetCreateProcessNotifyRoutine", Passive, Some(&rules::IRQL_PS_PASSIVE), Status;
    /// ntddk/nf-ntddk-pssetcreateprocessnotifyroutineex: PASSIVE_LEVEL (no rule).
    PS_SET_CREATE_PROCESS_NOTIFY_ROUTINE_EX = "PsSetCreateProcessNotifyRoutineEx", Passive, None, Status;
    /// ntddk/nf-ntddk-pssetcreateprocessnotifyroutineex2: PASSIVE_LEVEL (no rule).
    PS_SET_CREATE_PROCESS_NOTIFY_ROUTINE_EX2 = "PsSetCreateProcessNotifyRoutineEx2", Passive, None, Status;
    /// ntddk/nf-ntddk-pssetcreatethreadnotifyroutine: PASSIVE_LEVEL, rule IrqlPsPassive.
    PS_SET_CREATE_THREAD_NOTIFY_ROUTINE = "PsSetCreateThreadNotifyRoutine", Passive, Some(&rules::IRQL_PS_PASSIVE), Status;
    /// ntddk/nf-ntddk-pssetcreatethreadnotifyroutineex: PASSIVE_LEVEL (no rule).
    PS_SET_CREATE_THREAD_NOTIFY_ROUTINE_EX = "PsSetCreateThreadNotifyRoutineEx", Passive, None, Status;
    /// ntddk/nf-ntddk-psremovecreatethreadnotifyroutine: <= APC_LEVEL.
    PS_REMOVE_CREATE_THREAD_NOTIFY_ROUTINE = "PsRemoveCreateThreadNotifyRoutine", AtMostApc, None, Status;
    /// wdm/nf-wdm-excreatecallback: req.irql <= APC_LEVEL, but its rule
    /// IrqlExPassive requires PASSIVE_LEVEL (AMBIG; kernel-semantics §1); the rule is enforced.
    EX_CREATE_CALLBACK = "ExCreateCallback", Passive, Some(&rules::IRQL_EX_PASSIVE), Status;
    /// wdm/nf-wdm-exregistercallback: <= APC_LEVEL, rule IrqlExApcLte2.
    EX_REGISTER_CALLBACK = "ExRegisterCallback", AtMostApc, Some(&rules::IRQL_EX_APC_LTE2), Null;
    /// wdm/nf-wdm-exunregistercallback: <= APC_LEVEL, rule IrqlExApcLte2.
    EX_UNREGISTER_CALLBACK = "ExUnregisterCallback", AtMostApc, Some(&rules::IRQL_EX_APC_LTE2), Never;
    /// wdm/nf-wdm-exnotifycallback: <= DISPATCH_LEVEL.
    EX_NOTIFY_CALLBACK = "ExNotifyCallback", AtMostDispatch, None, Never;
    /// ntifs/nf-ntifs-obmaketemporaryobject (as wdm/nf-wdm-zwmaketemporaryobject): PASSIVE_LEVEL.
    OB_MAKE_TEMPORARY_OBJECT = "ObMakeTemporaryObject", Passive, None, Never;
    /// wdm/nf-wdm-keacquirespinlockraisetodpc: <= DISPATCH_LEVEL.
    KE_ACQUIRE_SPIN_LOCK_RAISE_TO_DPC = "KeAcquireSpinLockRaiseToDpc", AtMostDispatch, None, Never;
    /// wdm/nf-wdm-kereleasespinlock: DISPATCH_LEVEL (checked by the routine).
    KE_RELEASE_SPIN_LOCK = "KeReleaseSpinLock", Any, None, Never;
    /// ntddk/nf-ntddk-mmisaddressvalid: <= DISPATCH_LEVEL.
    MM_IS_ADDRESS_VALID = "MmIsAddressValid", AtMostDispatch, None, Never;
    /// win32/sysinfo/zwquerysysteminformation: PASSIVE_LEVEL (Zw routines: 0xC4/0xE6).
    ZW_QUERY_SYSTEM_INFORMATION = "ZwQuerySystemInformation", Any, None, Status;
    /// wdm/nf-wdm-rtlgetversion: PASSIVE_LEVEL.
    RTL_GET_VERSION = "RtlGetVersion", Passive, None, Status;
    /// ntddk/nf-ntddk-psgetprocessid: any level.
    PS_GET_PROCESS_ID = "PsGetProcessId", Any, None, Never;
    /// ntddk/nf-ntddk-psgetthreadid: any level (as PsGetProcessId).
    PS_GET_THREAD_ID = "PsGetThreadId", Any, None, Never;
    /// ntifs/nf-ntifs-psgetthreadprocessid: any level (as PsGetProcessId).
    PS_GET_THREAD_PROCESS_ID = "PsGetThreadProcessId", Any, None, Never;
    /// Undocumented export; any level (the model's choice).
    PS_GET_PROCESS_EXIT_STATUS = "PsGetProcessExitStatus", Any, None, Never;
    /// wdm/nf-wdm-zwopenkey: PASSIVE_LEVEL, rule IrqlZwPassive.
    ZW_OPEN_KEY = "ZwOpenKey", Passive, Some(&rules::IRQL_ZW_PASSIVE), Status;
    /// wdm/nf-wdm-zwenumeratevaluekey: PASSIVE_LEVEL, rule IrqlZwPassive.
    ZW_ENUMERATE_VALUE_KEY = "ZwEnumerateValueKey", Passive, Some(&rules::IRQL_ZW_PASSIVE), Status;
    /// wdm/nf-wdm-zwqueryvaluekey: PASSIVE_LEVEL, rule IrqlZwPassive.
    ZW_QUERY_VALUE_KEY = "ZwQueryValueKey", Passive, Some(&rules::IRQL_ZW_PASSIVE), Status;
    /// wdm/nf-wdm-zwopendirectoryobject: PASSIVE_LEVEL (Zw routines: 0xC4/0xE6).
    ZW_OPEN_DIRECTORY_OBJECT = "ZwOpenDirectoryObject", Any, None, Status;
    /// NtQueryDirectoryObject's Zw form: PASSIVE_LEVEL (Zw routines: 0xC4/0xE6).
    ZW_QUERY_DIRECTORY_OBJECT = "ZwQueryDirectoryObject", Any, None, Status;
    /// wdm/nf-wdm-cmregistercallback: <= APC_LEVEL, rule IrqlExApcLte2.
    CM_REGISTER_CALLBACK = "CmRegisterCallback", AtMostApc, Some(&rules::IRQL_EX_APC_LTE2), Status;
    /// wdm/nf-wdm-cmregistercallbackex: <= APC_LEVEL, rule IrqlExApcLte2.
    CM_REGISTER_CALLBACK_EX = "CmRegisterCallbackEx", AtMostApc, Some(&rules::IRQL_EX_APC_LTE2), Status;
    /// wdm/nf-wdm-cmunregistercallback: <= APC_LEVEL, rule IrqlExApcLte2.
    CM_UNREGISTER_CALLBACK = "CmUnRegisterCallback", AtMostApc, Some(&rules::IRQL_EX_APC_LTE2), Status;
    /// wdm/nf-wdm-cmsetcallbackobjectcontext: <= APC_LEVEL.
    CM_SET_CALLBACK_OBJECT_CONTEXT = "CmSetCallbackObjectContext", AtMostApc, None, Status;
    /// wdm/nf-wdm-cmcallbackgetkeyobjectid: <= APC_LEVEL (as the Ex routine).
    CM_CALLBACK_GET_KEY_OBJECT_ID = "CmCallbackGetKeyObjectID", AtMostApc, None, Never;
    /// wdm/nf-wdm-cmcallbackgetkeyobjectidex: <= APC_LEVEL.
    CM_CALLBACK_GET_KEY_OBJECT_ID_EX = "CmCallbackGetKeyObjectIDEx", AtMostApc, None, Never;
    /// wdm/nf-wdm-cmcallbackreleasekeyobjectidex: <= APC_LEVEL (as the get routine).
    CM_CALLBACK_RELEASE_KEY_OBJECT_ID_EX = "CmCallbackReleaseKeyObjectIDEx", AtMostApc, None, Never;
    /// wdm/nf-wdm-obregistercallbacks: <= APC_LEVEL (no rule).
    OB_REGISTER_CALLBACKS = "ObRegisterCallbacks", AtMostApc, None, Status;
    /// wdm/nf-wdm-obunregistercallbacks: <= APC_LEVEL (no rule).
    OB_UNREGISTER_CALLBACKS = "ObUnRegisterCallbacks", AtMostApc, None, Never;
    /// wdm/nf-wdm-ioregistershutdownnotification: PASSIVE_LEVEL, rule IrqlIoPassive5.
    IO_REGISTER_SHUTDOWN_NOTIFICATION = "IoRegisterShutdownNotification", Passive, Some(&rules::IRQL_IO_PASSIVE5), Status;
    /// wdm/nf-wdm-ioregisterlastchanceshutdownnotification: PASSIVE_LEVEL (no rule).
    IO_REGISTER_LAST_CHANCE_SHUTDOWN_NOTIFICATION = "IoRegisterLastChanceShutdownNotification", Passive, None, Status;
    /// wdm/nf-wdm-iounregistershutdownnotification: PASSIVE_LEVEL, rule IrqlIoPassive5.
    IO_UNREGISTER_SHUTDOWN_NOTIFICATION = "IoUnregisterShutdownNotification", Passive, Some(&rules::IRQL_IO_PASSIVE5), Never;
    /// wdm/nf-wdm-ioregisterplugplaynotification: PASSIVE_LEVEL.
    IO_REGISTER_PLUG_PLAY_NOTIFICATION = "IoRegisterPlugPlayNotification", Passive, None, Status;
    /// wdm/nf-wdm-iounregisterplugplaynotification: PASSIVE_LEVEL.
    IO_UNREGISTER_PLUG_PLAY_NOTIFICATION = "IoUnregisterPlugPlayNotification", Passive, None, Never;
    /// wdm/nf-wdm-iounregisterplugplaynotificationex: PASSIVE_LEVEL.
    IO_UNREGISTER_PLUG_PLAY_NOTIFICATION_EX = "IoUnregisterPlugPlayNotificationEx", Passive, None, Never;
    /// ntifs/nf-ntifs-ioregisterfsregistrationchange: < DISPATCH_LEVEL.
    IO_REGISTER_FS_REGISTRATION_CHANGE = "IoRegisterFsRegistrationChange", BelowDispatch, None, Status;
    /// ntifs/nf-ntifs-iounregisterfsregistrationchange: < DISPATCH_LEVEL (as the register routine).
    IO_UNREGISTER_FS_REGISTRATION_CHANGE = "IoUnregisterFsRegistrationChange", BelowDispatch, None, Never;
    /// ntddk/nf-ntddk-ioregisterdriverreinitialization: PASSIVE_LEVEL, rule IrqlIoPassive5.
    IO_REGISTER_DRIVER_REINITIALIZATION = "IoRegisterDriverReinitialization", Passive, Some(&rules::IRQL_IO_PASSIVE5), Never;
    /// ntddk/nf-ntddk-ioregisterbootdriverreinitialization: PASSIVE_LEVEL.
    IO_REGISTER_BOOT_DRIVER_REINITIALIZATION = "IoRegisterBootDriverReinitialization", Passive, None, Never;
    /// iointex/nf-iointex-wdmlibioconnectinterruptex: PASSIVE_LEVEL.
    IO_CONNECT_INTERRUPT_EX = "IoConnectInterruptEx", Passive, None, Status;
    /// iointex/nf-iointex-wdmlibiodisconnectinterruptex: PASSIVE_LEVEL.
    IO_DISCONNECT_INTERRUPT_EX = "IoDisconnectInterruptEx", Passive, None, Never;
    /// wdm/nf-wdm-keregisterbugcheckcallback: any level; FALSE on failure
    /// (injected as `Null`: the routine returns 0).
    KE_REGISTER_BUG_CHECK_CALLBACK = "KeRegisterBugCheckCallback", Any, None, Null;
    /// wdm/nf-wdm-kederegisterbugcheckcallback: any level.
    KE_DEREGISTER_BUG_CHECK_CALLBACK = "KeDeregisterBugCheckCallback", Any, None, Never;
    /// wdm/nf-wdm-keregisterbugcheckreasoncallback: any level; FALSE on
    /// failure (injected as `Null`: the routine returns 0).
    KE_REGISTER_BUG_CHECK_REASON_CALLBACK = "KeRegisterBugCheckReasonCallback", Any, None, Null;
    /// wdm/nf-wdm-kederegisterbugcheckreasoncallback: any level.
    KE_DEREGISTER_BUG_CHECK_REASON_CALLBACK = "KeDeregisterBugCheckReasonCallback", Any, None, Never;
    /// wdm/nf-wdm-keregisternmicallback: <= APC_LEVEL, rule IrqlKeApcLte2.
    KE_REGISTER_NMI_CALLBACK = "KeRegisterNmiCallback", AtMostApc, Some(&rules::IRQL_KE_APC_LTE2), Null;
    /// wdm/nf-wdm-kederegisternmicallback: <= APC_LEVEL, rule IrqlKeApcLte2.
    KE_DEREGISTER_NMI_CALLBACK = "KeDeregisterNmiCallback", AtMostApc, Some(&rules::IRQL_KE_APC_LTE2), Never;
    /// wdm/nf-wdm-keregisterboundcallback: IRQL SILENT (any).
    KE_REGISTER_BOUND_CALLBACK = "KeRegisterBoundCallback", Any, None, Null;
    /// wdm/nf-wdm-kederegisterboundcallback: IRQL SILENT (any).
    KE_DEREGISTER_BOUND_CALLBACK = "KeDeregisterBoundCallback", Any, None, Never;
    /// wdm/nf-wdm-keregisterprocessorchangecallback: PASSIVE_LEVEL.
    KE_REGISTER_PROCESSOR_CHANGE_CALLBACK = "KeRegisterProcessorChangeCallback", Passive, None, Null;
    /// wdm/nf-wdm-kederegisterprocessorchangecallback: PASSIVE_LEVEL.
    KE_DEREGISTER_PROCESSOR_CHANGE_CALLBACK = "KeDeregisterProcessorChangeCallback", Passive, None, Never;
    /// wdm/nf-wdm-poregisterpowersettingcallback: PASSIVE_LEVEL.
    PO_REGISTER_POWER_SETTING_CALLBACK = "PoRegisterPowerSettingCallback", Passive, None, Status;
    /// wdm/nf-wdm-pounregisterpowersettingcallback: PASSIVE_LEVEL.
    PO_UNREGISTER_POWER_SETTING_CALLBACK = "PoUnregisterPowerSettingCallback", Passive, None, Never;
    /// ntddk.h only (undocumented): PASSIVE_LEVEL (the model's choice).
    WHEA_REGISTER_IN_USE_PAGE_OFFLINE_NOTIFICATION = "WheaRegisterInUsePageOfflineNotification", Passive, None, Status;
    /// ntddk.h only (undocumented): PASSIVE_LEVEL (the model's choice).
    WHEA_UNREGISTER_IN_USE_PAGE_OFFLINE_NOTIFICATION = "WheaUnregisterInUsePageOfflineNotification", Passive, None, Never;
    /// HalDispatchTable->HalQuerySystemInformation (undocumented): any level.
    HAL_QUERY_SYSTEM_INFORMATION = "HalQuerySystemInformation", Any, None, Never;
    /// HalDispatchTable->HalSetSystemInformation (undocumented): any level.
    HAL_SET_SYSTEM_INFORMATION = "HalSetSystemInformation", Any, None, Status;
    /// wdm/nf-wdm-etwregister: PASSIVE_LEVEL.
    ETW_REGISTER = "EtwRegister", Passive, None, Status;
    /// wdm/nf-wdm-etwsetinformation: PASSIVE_LEVEL (the model's choice, see crate::etw).
    ETW_SET_INFORMATION = "EtwSetInformation", Passive, None, Status;
    /// wdm/nf-wdm-etwwritetransfer: <= HIGH_LEVEL.
    ETW_WRITE_TRANSFER = "EtwWriteTransfer", Any, None, Status;
    /// wdm/nf-wdm-etwunregister: PASSIVE_LEVEL; fails only for a handle EtwRegister did not return.
    ETW_UNREGISTER = "EtwUnregister", Passive, None, Never;
}

/// The names of the DDIs that can be made to fail with [`crate::faults`].
#[must_use]
pub fn failable() -> Vec<&'static str> {
    ALL.iter()
        .filter(|d| d.failure != Failure::Never)
        .map(|d| d.name)
        .collect()
}

/// The modeled DDI called `name`.
#[must_use]
pub fn find(name: &str) -> Option<&'static Ddi> {
    ALL.iter().copied().find(|d| d.name == name)
}
