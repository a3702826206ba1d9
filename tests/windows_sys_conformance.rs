//! A second, Microsoft-derived oracle for the bindings: the stand-in
//! `wdk-sys` (mingw-w64's headers plus `kcb_supplement.h`) against
//! `windows-sys`'s `Wdk::*` / `Win32::*` modules, which are generated from
//! Microsoft's WDK metadata (itself generated from the WDK headers).
//!
//! Compared, for what the driver (and the kernel model, where it shares
//! kernel structures) uses:
//! * structures: size, alignment, and the offsets of the fields the code
//!   reads or writes;
//! * kernel routines the driver imports, declares itself (raw-dylib) or
//!   resolves at run time (`MmGetSystemRoutineAddress`, the prototypes in
//!   `src/*.rs`): the size of each parameter and of the result. The
//!   parameter count is part of the fn-pointer type both sides are cast to,
//!   so a different count does not compile (rustc then prints both
//!   signatures);
//! * constants: their values.
//!
//! Prints `conformance: N of M items match`, then the exceptions (names the
//! metadata lacks, with the reason); fails on any mismatch, with both values.

#![allow(non_snake_case, reason = "kernel names")]

use std::mem::{align_of, offset_of, size_of};

use kcallbacks as _;
use ntsim as _;
use windows_sys::Wdk::Foundation as wf;
use windows_sys::Wdk::Storage::FileSystem as wfs;
use windows_sys::Wdk::System::SystemServices as wss;
use windows_sys::Win32::Foundation as w32;

/// Sizes of a routine's parameters and result (0 for no result).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sig {
    count: usize,
    params: [usize; 12],
    ret: usize,
}

impl std::fmt::Display for Sig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({:?}) -> {}", &self.params[..self.count], self.ret)
    }
}

/// The [`Sig`] of a fn-pointer type.
trait FnSig {
    const SIG: Sig;
}

const fn sig_from(sizes: &[usize], ret: usize) -> Sig {
    let mut params = [0; 12];
    let mut i = 0;
    while i < sizes.len() {
        params[i] = sizes[i];
        i += 1;
    }
    Sig {
        count: sizes.len(),
        params,
        ret,
    }
}

macro_rules! impl_fn_sig {
    ($($p:ident),*) => {
        impl<R, $($p),*> FnSig for unsafe extern "C" fn($($p),*) -> R {
            const SIG: Sig = sig_from(&[$(size_of::<$p>()),*], size_of::<R>());
        }
        impl<R, $($p),*> FnSig for unsafe extern "system" fn($($p),*) -> R {
            const SIG: Sig = sig_from(&[$(size_of::<$p>()),*], size_of::<R>());
        }
        impl<R, $($p),*> FnSig for Option<unsafe extern "C" fn($($p),*) -> R> {
            const SIG: Sig = sig_from(&[$(size_of::<$p>()),*], size_of::<R>());
        }
        impl<R, $($p),*> FnSig for Option<unsafe extern "system" fn($($p),*) -> R> {
            const SIG: Sig = sig_from(&[$(size_of::<$p>()),*], size_of::<R>());
        }
    };
}
impl_fn_sig!();
// DbgPrintEx(ComponentId, Level, Format, ...): the fixed parameters.
impl<R, A, B, C> FnSig for unsafe extern "C" fn(A, B, C, ...) -> R {
    const SIG: Sig = sig_from(&[size_of::<A>(), size_of::<B>(), size_of::<C>()], size_of::<R>());
}
impl_fn_sig!(A);
impl_fn_sig!(A, B);
impl_fn_sig!(A, B, C);
impl_fn_sig!(A, B, C, D);
impl_fn_sig!(A, B, C, D, E);
impl_fn_sig!(A, B, C, D, E, F);
impl_fn_sig!(A, B, C, D, E, F, G);
impl_fn_sig!(A, B, C, D, E, F, G, H);
impl_fn_sig!(A, B, C, D, E, F, G, H, I);
impl_fn_sig!(A, B, C, D, E, F, G, H, I, J);
impl_fn_sig!(A, B, C, D, E, F, G, H, I, J, K);

/// The [`Sig`] of a fn pointer. Used in `const` items only: the pointer is
/// never kept, so no symbol is referenced at link time.
const fn sig_of<T: FnSig>(f: T) -> Sig {
    std::mem::forget(f);
    T::SIG
}

/// The comparison results.
#[derive(Default)]
struct Report {
    matched: Vec<String>,
    mismatched: Vec<String>,
    exceptions: Vec<(String, &'static str)>,
}

impl Report {
    #[allow(
        clippy::needless_pass_by_value,
        reason = "sizes, offsets, values and Sigs: all Copy"
    )]
    fn cmp<T: PartialEq + std::fmt::Display>(&mut self, item: impl Into<String>, ours: T, theirs: T) {
        let item = item.into();
        if ours == theirs {
            self.matched.push(item);
        } else {
            self.mismatched
                .push(format!("{item}: stand-in {ours}, windows-sys {theirs}"));
        }
    }

    fn except(&mut self, item: &str, reason: &'static str) {
        self.exceptions.push((item.to_owned(), reason));
    }
}

/// Size, alignment and field offsets of a structure. Fields are listed by
/// the same name on both sides, or `ours => theirs` where bindgen and the
/// metadata name an anonymous member differently.
macro_rules! layout {
    ($r:ident, $ours:ty, $theirs:ty { $($f:ident),* $(,)? } $(; $($of:ident $(. $ofn:ident)* => $tf:ident $(. $tfn:ident)*),* $(,)?)?) => {{
        let name = stringify!($ours);
        $r.cmp(format!("{name} size"), size_of::<$ours>(), size_of::<$theirs>());
        $r.cmp(format!("{name} align"), align_of::<$ours>(), align_of::<$theirs>());
        $( $r.cmp(format!("{name}.{}", stringify!($f)), offset_of!($ours, $f), offset_of!($theirs, $f)); )*
        $($(
            $r.cmp(
                format!("{name}.{}", stringify!($tf $(. $tfn)*)),
                offset_of!($ours, $of $(. $ofn)*),
                offset_of!($theirs, $tf $(. $tfn)*),
            );
        )*)?
    }};
}

/// A routine of the stand-in's `ntddk` against windows-sys. `_` per parameter.
macro_rules! routine {
    ($r:ident, $name:ident ( $($p:tt),* ) in $module:ident) => {{
        const OURS: Sig = sig_of(wdk_sys::ntddk::$name as unsafe extern "C" fn($($p),*) -> _);
        const THEIRS: Sig = sig_of($module::$name as unsafe extern "system" fn($($p),*) -> _);
        $r.cmp(format!("{}()", stringify!($name)), OURS, THEIRS);
    }};
}

/// A prototype the driver declares itself (a raw-dylib declaration or a
/// fn-pointer type for a routine resolved at run time) against windows-sys.
macro_rules! declared {
    ($r:ident, $label:expr, $ours:expr, $name:ident ( $($p:tt),* ) in $module:ident) => {{
        const OURS: Sig = $ours;
        const THEIRS: Sig = sig_of($module::$name as unsafe extern "system" fn($($p),*) -> _);
        $r.cmp(format!("{}() [{}]", stringify!($name), $label), OURS, THEIRS);
    }};
}

/// A constant's value on both sides.
macro_rules! constant {
    ($r:ident, $ours:expr, $theirs:expr) => {{
        #[allow(
            clippy::cast_lossless,
            clippy::unnecessary_cast,
            reason = "values of different integer types"
        )]
        let (ours, theirs) = ($ours as i128, $theirs as i128);
        $r.cmp(
            stringify!($ours)
                .rsplit("::")
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
            ours,
            theirs,
        );
    }};
}

/// A callback prototype the driver implements against the metadata's.
macro_rules! callback {
    ($r:ident, $label:expr, $ours:ty, $theirs:ty) => {{
        $r.cmp(
            format!("{} (callback)", $label),
            <$ours as FnSig>::SIG,
            <$theirs as FnSig>::SIG,
        );
    }};
}

#[allow(clippy::too_many_lines, reason = "one entry per compared structure")]
fn structures(r: &mut Report) {
    use wdk_sys as ws;

    // Ps
    layout!(r, ws::PS_CREATE_NOTIFY_INFO, wss::PS_CREATE_NOTIFY_INFO {
        Size, ParentProcessId, CreatingThreadId, FileObject, ImageFileName, CommandLine, CreationStatus
    }; __bindgen_anon_1 => Anonymous);
    layout!(r, ws::IMAGE_INFO, wss::IMAGE_INFO {
        ImageBase, ImageSelector, ImageSize, ImageSectionNumber
    }; __bindgen_anon_1 => Anonymous);
    layout!(
        r,
        ws::IMAGE_INFO_EX,
        wss::IMAGE_INFO_EX {
            Size,
            ImageInfo,
            FileObject
        }
    );
    layout!(
        r,
        ws::CLIENT_ID,
        windows_sys::Win32::System::WindowsProgramming::CLIENT_ID {
            UniqueProcess,
            UniqueThread
        }
    );

    // Ob
    layout!(
        r,
        ws::OB_CALLBACK_REGISTRATION,
        wss::OB_CALLBACK_REGISTRATION {
            Version,
            OperationRegistrationCount,
            Altitude,
            RegistrationContext,
            OperationRegistration
        }
    );
    layout!(
        r,
        ws::OB_OPERATION_REGISTRATION,
        wss::OB_OPERATION_REGISTRATION {
            ObjectType,
            Operations,
            PreOperation,
            PostOperation
        }
    );
    layout!(r, ws::OB_PRE_OPERATION_INFORMATION, wss::OB_PRE_OPERATION_INFORMATION {
        Operation, Object, ObjectType, CallContext, Parameters
    }; __bindgen_anon_1 => Anonymous);
    layout!(r, ws::OB_POST_OPERATION_INFORMATION, wss::OB_POST_OPERATION_INFORMATION {
        Operation, Object, ObjectType, CallContext, ReturnStatus, Parameters
    }; __bindgen_anon_1 => Anonymous);
    layout!(
        r,
        ws::OB_PRE_OPERATION_PARAMETERS,
        wss::OB_PRE_OPERATION_PARAMETERS {
            CreateHandleInformation,
            DuplicateHandleInformation
        }
    );
    layout!(
        r,
        ws::OB_PRE_CREATE_HANDLE_INFORMATION,
        wss::OB_PRE_CREATE_HANDLE_INFORMATION {
            DesiredAccess,
            OriginalDesiredAccess
        }
    );
    layout!(
        r,
        ws::OB_PRE_DUPLICATE_HANDLE_INFORMATION,
        wss::OB_PRE_DUPLICATE_HANDLE_INFORMATION {
            DesiredAccess,
            OriginalDesiredAccess,
            SourceProcess,
            TargetProcess
        }
    );
    layout!(
        r,
        ws::OB_POST_OPERATION_PARAMETERS,
        wss::OB_POST_OPERATION_PARAMETERS {
            CreateHandleInformation,
            DuplicateHandleInformation
        }
    );
    layout!(
        r,
        ws::OB_POST_CREATE_HANDLE_INFORMATION,
        wss::OB_POST_CREATE_HANDLE_INFORMATION { GrantedAccess }
    );
    layout!(
        r,
        ws::OB_POST_DUPLICATE_HANDLE_INFORMATION,
        wss::OB_POST_DUPLICATE_HANDLE_INFORMATION { GrantedAccess }
    );

    // Cm (the REG_*_INFORMATION records cm.rs reads)
    layout!(
        r,
        ws::REG_PRE_CREATE_KEY_INFORMATION,
        wss::REG_PRE_CREATE_KEY_INFORMATION { CompleteName }
    );
    layout!(
        r,
        ws::REG_POST_CREATE_KEY_INFORMATION,
        wss::REG_POST_CREATE_KEY_INFORMATION {
            CompleteName,
            Object,
            Status
        }
    );
    layout!(
        r,
        ws::REG_SET_VALUE_KEY_INFORMATION,
        wss::REG_SET_VALUE_KEY_INFORMATION {
            Object,
            ValueName,
            TitleIndex,
            Type,
            Data,
            DataSize,
            CallContext,
            ObjectContext
        }
    );
    layout!(
        r,
        ws::REG_DELETE_VALUE_KEY_INFORMATION,
        wss::REG_DELETE_VALUE_KEY_INFORMATION {
            Object,
            ValueName,
            CallContext,
            ObjectContext
        }
    );
    layout!(
        r,
        ws::REG_POST_OPERATION_INFORMATION,
        wss::REG_POST_OPERATION_INFORMATION {
            Object,
            Status,
            PreInformation,
            ReturnStatus,
            CallContext,
            ObjectContext
        }
    );
    layout!(
        r,
        ws::KEY_VALUE_FULL_INFORMATION,
        wss::KEY_VALUE_FULL_INFORMATION {
            TitleIndex,
            Type,
            DataOffset,
            DataLength,
            NameLength,
            Name
        }
    );

    // Ke: bug check records, processor change, events
    layout!(
        r,
        ws::KBUGCHECK_CALLBACK_RECORD,
        wss::KBUGCHECK_CALLBACK_RECORD {
            Entry,
            CallbackRoutine,
            Buffer,
            Length,
            Component,
            Checksum,
            State
        }
    );
    layout!(
        r,
        ws::KBUGCHECK_REASON_CALLBACK_RECORD,
        wss::KBUGCHECK_REASON_CALLBACK_RECORD {
            Entry,
            CallbackRoutine,
            Component,
            Checksum,
            Reason,
            State
        }
    );
    layout!(
        r,
        ws::KBUGCHECK_SECONDARY_DUMP_DATA,
        wss::KBUGCHECK_SECONDARY_DUMP_DATA {
            InBuffer,
            InBufferLength,
            MaximumAllowed,
            Guid,
            OutBuffer,
            OutBufferLength
        }
    );
    layout!(
        r,
        ws::KE_PROCESSOR_CHANGE_NOTIFY_CONTEXT,
        wss::KE_PROCESSOR_CHANGE_NOTIFY_CONTEXT {
            State,
            NtNumber,
            Status,
            ProcNumber
        }
    );
    layout!(
        r,
        ws::PROCESSOR_NUMBER,
        windows_sys::Win32::System::Kernel::PROCESSOR_NUMBER {
            Group,
            Number,
            Reserved
        }
    );
    layout!(r, ws::KEVENT, wf::KEVENT { Header });
    layout!(
        r,
        ws::DISPATCHER_HEADER,
        wf::DISPATCHER_HEADER {
            SignalState,
            WaitListHead
        }
    );
    layout!(
        r,
        ws::LIST_ENTRY,
        windows_sys::Win32::System::Kernel::LIST_ENTRY { Flink, Blink }
    );

    // Io / PnP / interrupts
    layout!(
        r,
        ws::DEVICE_INTERFACE_CHANGE_NOTIFICATION,
        wss::DEVICE_INTERFACE_CHANGE_NOTIFICATION {
            Version,
            Size,
            Event,
            InterfaceClassGuid,
            SymbolicLinkName
        }
    );
    layout!(r, ws::IO_CONNECT_INTERRUPT_PARAMETERS, wss::IO_CONNECT_INTERRUPT_PARAMETERS { Version }; __bindgen_anon_1 => Anonymous);
    layout!(
        r,
        ws::IO_CONNECT_INTERRUPT_FULLY_SPECIFIED_PARAMETERS,
        wss::IO_CONNECT_INTERRUPT_FULLY_SPECIFIED_PARAMETERS {
            PhysicalDeviceObject,
            InterruptObject,
            ServiceRoutine,
            ServiceContext,
            SpinLock,
            SynchronizeIrql,
            FloatingSave,
            ShareVector,
            Vector,
            Irql,
            InterruptMode,
            ProcessorEnableMask,
            Group
        }
    );
    layout!(
        r,
        ws::IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS,
        wss::IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS {
            PhysicalDeviceObject,
            InterruptObject,
            ServiceRoutine,
            ServiceContext,
            SpinLock,
            SynchronizeIrql,
            FloatingSave
        }
    );
    layout!(
        r,
        ws::IO_CONNECT_INTERRUPT_MESSAGE_BASED_PARAMETERS,
        wss::IO_CONNECT_INTERRUPT_MESSAGE_BASED_PARAMETERS {
            PhysicalDeviceObject,
            ConnectionContext,
            MessageServiceRoutine,
            ServiceContext,
            SpinLock,
            SynchronizeIrql,
            FloatingSave,
            FallBackServiceRoutine
        }
    );
    layout!(
        r,
        ws::IO_DISCONNECT_INTERRUPT_PARAMETERS,
        wss::IO_DISCONNECT_INTERRUPT_PARAMETERS {
            Version,
            ConnectionContext
        }
    );

    // Driver/device objects and IRPs
    layout!(
        r,
        ws::DRIVER_OBJECT,
        wf::DRIVER_OBJECT {
            Type,
            Size,
            DeviceObject,
            Flags,
            DriverStart,
            DriverSize,
            DriverSection,
            DriverExtension,
            DriverName,
            HardwareDatabase,
            FastIoDispatch,
            DriverInit,
            DriverStartIo,
            DriverUnload,
            MajorFunction
        }
    );
    layout!(
        r,
        ws::DEVICE_OBJECT,
        wf::DEVICE_OBJECT {
            Type,
            Size,
            ReferenceCount,
            DriverObject,
            NextDevice,
            AttachedDevice,
            CurrentIrp,
            Flags,
            Characteristics,
            DeviceExtension,
            DeviceType,
            StackSize
        }
    );
    layout!(
        r,
        ws::IRP,
        wf::IRP {
            Type,
            Size,
            MdlAddress,
            Flags,
            AssociatedIrp,
            IoStatus,
            RequestorMode,
            PendingReturned,
            StackCount,
            CurrentLocation,
            Cancel,
            CancelIrql,
            UserBuffer,
            Tail
        }
    );
    layout!(
        r,
        ws::IO_STACK_LOCATION,
        wf::IO_STACK_LOCATION {
            MajorFunction,
            MinorFunction,
            Flags,
            Control,
            Parameters,
            DeviceObject,
            FileObject,
            CompletionRoutine,
            Context
        };
        Parameters.Create.SecurityContext => Parameters.Create.SecurityContext,
        Parameters.DeviceIoControl.OutputBufferLength => Parameters.DeviceIoControl.OutputBufferLength
    );
    layout!(r, ws::IO_STATUS_BLOCK, windows_sys::Win32::System::IO::IO_STATUS_BLOCK { Information }; __bindgen_anon_1 => Anonymous);
    layout!(
        r,
        ws::FILE_OBJECT,
        wf::FILE_OBJECT {
            Type,
            Size,
            DeviceObject,
            Vpb,
            FsContext,
            FsContext2,
            FileName,
            Flags,
            CurrentByteOffset
        }
    );
    layout!(
        r,
        ws::OBJECT_ATTRIBUTES,
        wf::OBJECT_ATTRIBUTES {
            Length,
            RootDirectory,
            ObjectName,
            Attributes,
            SecurityDescriptor,
            SecurityQualityOfService
        }
    );
    layout!(
        r,
        ws::UNICODE_STRING,
        w32::UNICODE_STRING {
            Length,
            MaximumLength,
            Buffer
        }
    );
    layout!(r, ws::GUID, windows_sys::core::GUID {}; Data1 => data1, Data2 => data2, Data3 => data3, Data4 => data4);

    // Security descriptor building (device.rs)
    layout!(
        r,
        ws::ACL,
        windows_sys::Win32::Security::ACL {
            AclRevision,
            Sbz1,
            AclSize,
            AceCount,
            Sbz2
        }
    );
    layout!(
        r,
        ws::ACCESS_ALLOWED_ACE,
        windows_sys::Win32::Security::ACCESS_ALLOWED_ACE {
            Header,
            Mask,
            SidStart
        }
    );
    layout!(
        r,
        ws::SECURITY_DESCRIPTOR,
        windows_sys::Win32::Security::SECURITY_DESCRIPTOR {
            Revision,
            Sbz1,
            Control,
            Owner,
            Group,
            Sacl,
            Dacl
        }
    );
}

#[allow(clippy::too_many_lines, reason = "one line per compared routine")]
fn routines(r: &mut Report) {
    use kcallbacks::{clock, cm, io, ke, po, ps, walker, whea};

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
    routine!(r, KeQueryPerformanceCounter(_) in wss);

    // Declared by the driver itself (raw-dylib blocks of src/pool.rs and src/walker.rs).
    declared!(r, "pool.rs raw-dylib",
        sig_of(kcallbacks::pool::ExAllocatePoolWithTag as unsafe extern "C" fn(_, _, _) -> _),
        ExAllocatePoolWithTag(_, _, _) in wss);
    {
        use windows_sys::Wdk::System::SystemInformation as wsi;
        declared!(r, "walker.rs raw-dylib",
            sig_of(kcallbacks::walker::ZwQuerySystemInformation as unsafe extern "C" fn(_, _, _, _) -> _),
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
    declared!(r, "pool::AllocatePool2", <kcallbacks::pool::AllocatePool2 as FnSig>::SIG, ExAllocatePool2(_, _, _) in wss);
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

fn constants(r: &mut Report) {
    use wdk_sys as ws;
    use windows_sys::Win32::{Security as wsec, Storage::FileSystem as w32fs, System::Registry as wr};

    constant!(r, ws::IRP_MJ_CREATE, wss::IRP_MJ_CREATE);
    constant!(r, ws::IRP_MJ_CLOSE, wss::IRP_MJ_CLOSE);
    constant!(r, ws::IRP_MJ_DEVICE_CONTROL, wss::IRP_MJ_DEVICE_CONTROL);
    constant!(r, ws::IRP_MJ_SHUTDOWN, wss::IRP_MJ_SHUTDOWN);
    constant!(
        r,
        ws::OB_FLT_REGISTRATION_VERSION,
        wss::OB_FLT_REGISTRATION_VERSION
    );
    constant!(r, ws::OB_OPERATION_HANDLE_CREATE, wss::OB_OPERATION_HANDLE_CREATE);
    constant!(
        r,
        ws::OB_OPERATION_HANDLE_DUPLICATE,
        wss::OB_OPERATION_HANDLE_DUPLICATE
    );
    constant!(
        r,
        ws::_OB_PREOP_CALLBACK_STATUS::OB_PREOP_SUCCESS,
        wss::OB_PREOP_SUCCESS
    );
    constant!(r, ws::OBJ_CASE_INSENSITIVE, w32::OBJ_CASE_INSENSITIVE);
    constant!(r, ws::OBJ_KERNEL_HANDLE, w32::OBJ_KERNEL_HANDLE);
    constant!(r, ws::OBJ_PERMANENT, w32::OBJ_PERMANENT);
    constant!(r, ws::KEY_READ, wr::KEY_READ);
    constant!(r, ws::FILE_ALL_ACCESS, w32fs::FILE_ALL_ACCESS);
    constant!(r, ws::WRITE_DAC, w32fs::WRITE_DAC);
    constant!(r, ws::FILE_DEVICE_SECURE_OPEN, wss::FILE_DEVICE_SECURE_OPEN);
    constant!(
        r,
        ws::FILE_DEVICE_UNKNOWN,
        windows_sys::Win32::System::Ioctl::FILE_DEVICE_UNKNOWN
    );
    constant!(r, ws::DO_DEVICE_INITIALIZING, wfs::DO_DEVICE_INITIALIZING);
    constant!(r, ws::DIRECTORY_QUERY, wss::DIRECTORY_QUERY);
    constant!(
        r,
        ws::THREAD_ALL_ACCESS,
        windows_sys::Win32::System::Threading::THREAD_ALL_ACCESS
    );
    constant!(r, ws::DACL_SECURITY_INFORMATION, wsec::DACL_SECURITY_INFORMATION);
    constant!(
        r,
        ws::SECURITY_DESCRIPTOR_REVISION,
        windows_sys::Win32::System::SystemServices::SECURITY_DESCRIPTOR_REVISION
    );
    constant!(
        r,
        ws::PS_IMAGE_NOTIFY_CONFLICTING_ARCHITECTURE,
        wss::PS_IMAGE_NOTIFY_CONFLICTING_ARCHITECTURE
    );
    constant!(
        r,
        ws::KE_PROCESSOR_CHANGE_ADD_EXISTING,
        wss::KE_PROCESSOR_CHANGE_ADD_EXISTING
    );
    constant!(
        r,
        ws::PNPNOTIFY_DEVICE_INTERFACE_INCLUDE_EXISTING_INTERFACES,
        wss::PNPNOTIFY_DEVICE_INTERFACE_INCLUDE_EXISTING_INTERFACES
    );
    constant!(r, ws::DISPATCH_LEVEL, wss::DISPATCH_LEVEL);
    constant!(r, ws::PASSIVE_LEVEL, wss::PASSIVE_LEVEL);
    constant!(r, ws::CONNECT_FULLY_SPECIFIED, wss::CONNECT_FULLY_SPECIFIED);
    constant!(r, ws::CONNECT_LINE_BASED, wss::CONNECT_LINE_BASED);
    constant!(r, ws::CONNECT_MESSAGE_BASED, wss::CONNECT_MESSAGE_BASED);
    constant!(r, ws::IO_NO_INCREMENT, wfs::IO_NO_INCREMENT);
    constant!(r, ws::_MODE::KernelMode, wss::KernelMode);
    constant!(
        r,
        ws::_EVENT_TYPE::NotificationEvent,
        windows_sys::Win32::System::Kernel::NotificationEvent
    );
    constant!(
        r,
        ws::_EVENT_TYPE::SynchronizationEvent,
        windows_sys::Win32::System::Kernel::SynchronizationEvent
    );
    constant!(
        r,
        ws::_KBUGCHECK_CALLBACK_REASON::KbCallbackSecondaryDumpData,
        wss::KbCallbackSecondaryDumpData
    );
    constant!(
        r,
        ws::_IO_NOTIFICATION_EVENT_CATEGORY::EventCategoryDeviceInterfaceChange,
        wss::EventCategoryDeviceInterfaceChange
    );
    constant!(
        r,
        ws::_BOUND_CALLBACK_STATUS::BoundExceptionContinueSearch,
        wss::BoundExceptionContinueSearch
    );
    constant!(
        r,
        ws::_PSCREATEPROCESSNOTIFYTYPE::PsCreateProcessNotifySubsystems,
        wss::PsCreateProcessNotifySubsystems
    );
    constant!(
        r,
        ws::_PSCREATETHREADNOTIFYTYPE::PsCreateThreadNotifyNonSystem,
        wss::PsCreateThreadNotifyNonSystem
    );
    constant!(
        r,
        ws::_REG_NOTIFY_CLASS::RegNtPreCreateKeyEx,
        wss::RegNtPreCreateKeyEx
    );
    constant!(
        r,
        ws::_REG_NOTIFY_CLASS::RegNtPostCreateKeyEx,
        wss::RegNtPostCreateKeyEx
    );
    constant!(
        r,
        ws::_REG_NOTIFY_CLASS::RegNtPreSetValueKey,
        wss::RegNtPreSetValueKey
    );
    constant!(
        r,
        ws::_REG_NOTIFY_CLASS::RegNtPreDeleteValueKey,
        wss::RegNtPreDeleteValueKey
    );
    constant!(
        r,
        ws::_REG_NOTIFY_CLASS::RegNtCallbackObjectContextCleanup,
        wss::RegNtCallbackObjectContextCleanup
    );
    constant!(
        r,
        ws::_KEY_VALUE_INFORMATION_CLASS::KeyValueFullInformation,
        windows_sys::Wdk::System::Registry::KeyValueFullInformation
    );
    constant!(r, ws::STATUS_SUCCESS, w32::STATUS_SUCCESS);
    constant!(r, ws::STATUS_UNSUCCESSFUL, w32::STATUS_UNSUCCESSFUL);
    constant!(r, ws::STATUS_ACCESS_DENIED, w32::STATUS_ACCESS_DENIED);
    constant!(r, ws::STATUS_BUFFER_OVERFLOW, w32::STATUS_BUFFER_OVERFLOW);
    constant!(r, ws::STATUS_BUFFER_TOO_SMALL, w32::STATUS_BUFFER_TOO_SMALL);
    constant!(
        r,
        ws::STATUS_FLT_INSTANCE_ALTITUDE_COLLISION,
        w32::STATUS_FLT_INSTANCE_ALTITUDE_COLLISION
    );
    constant!(
        r,
        ws::STATUS_INFO_LENGTH_MISMATCH,
        w32::STATUS_INFO_LENGTH_MISMATCH
    );
    constant!(
        r,
        ws::STATUS_INSUFFICIENT_RESOURCES,
        w32::STATUS_INSUFFICIENT_RESOURCES
    );
    constant!(
        r,
        ws::STATUS_INVALID_DEVICE_STATE,
        w32::STATUS_INVALID_DEVICE_STATE
    );
    constant!(r, ws::STATUS_INVALID_PARAMETER, w32::STATUS_INVALID_PARAMETER);
    constant!(r, ws::STATUS_NAME_TOO_LONG, w32::STATUS_NAME_TOO_LONG);
    constant!(r, ws::STATUS_NOT_SUPPORTED, w32::STATUS_NOT_SUPPORTED);
    constant!(r, ws::STATUS_NO_MORE_ENTRIES, w32::STATUS_NO_MORE_ENTRIES);
    constant!(
        r,
        ws::STATUS_OBJECT_NAME_NOT_FOUND,
        w32::STATUS_OBJECT_NAME_NOT_FOUND
    );
    constant!(r, ws::STATUS_PROCEDURE_NOT_FOUND, w32::STATUS_PROCEDURE_NOT_FOUND);
}

/// Names the metadata lacks (or carries without what is compared), and why.
fn exceptions(r: &mut Report) {
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
        "inline on x64 (reads CR8); the stand-in defines it, nothing is imported",
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
fn pointer_alignment(r: &mut Report) {
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

/// Every comparison and every exception.
fn full_report() -> Report {
    let mut r = Report::default();
    structures(&mut r);
    routines(&mut r);
    constants(&mut r);
    pointer_alignment(&mut r);
    exceptions(&mut r);
    r
}

#[test]
fn stand_in_bindings_conform_to_the_windows_sys_metadata() {
    let r = full_report();

    let total = r.matched.len() + r.mismatched.len();
    println!("conformance: {} of {total} items match", r.matched.len());
    println!("exceptions ({}):", r.exceptions.len());
    for (item, reason) in &r.exceptions {
        println!("  {item}: {reason}");
    }
    for m in &r.mismatched {
        println!("MISMATCH {m}");
    }
    assert!(
        r.mismatched.is_empty(),
        "{} mismatches:\n{}",
        r.mismatched.len(),
        r.mismatched.join("\n")
    );
    assert!(total > 200, "only {total} items compared");
}

#[test]
fn a_mismatch_is_reported_with_both_values() {
    const A: Sig = sig_from(&[8, 1], 4);
    const B: Sig = sig_from(&[8, 8], 4);
    let mut r = Report::default();
    r.cmp("X size", 8usize, 16usize);
    assert_eq!(r.mismatched, ["X size: stand-in 8, windows-sys 16"]);
    r.cmp("f()", A, B);
    assert_eq!(
        r.mismatched[1],
        "f(): stand-in ([8, 1]) -> 4, windows-sys ([8, 8]) -> 4"
    );
}

/// Environment variable `cargo xtask test` sets after the cross build: the
/// built driver (as for `tests/image_checks.rs`).
const SYS_PATH_ENV: &str = "KCB_SYS_PATH";

#[test]
fn every_import_of_the_built_driver_is_compared_or_excepted() {
    use object::Object;

    let Some(path) = std::env::var_os(SYS_PATH_ENV) else {
        println!("{SYS_PATH_ENV} is not set: this check runs in `cargo xtask test` after the cross build");
        return;
    };
    let bytes = std::fs::read(&path).expect("the built driver");
    let file = object::read::pe::PeFile64::parse(&*bytes).expect("a PE32+ image");
    let imports: Vec<String> = Object::imports(&file)
        .expect("import table")
        .map(|i| match i.expect("import entry").name() {
            object::NameOrOrdinal::Name(name) => String::from_utf8_lossy(name).into_owned(),
            object::NameOrOrdinal::Ordinal(n) => format!("#{n}"),
        })
        .collect();
    let r = full_report();
    let compared: std::collections::BTreeSet<&str> = r
        .matched
        .iter()
        .filter_map(|m| m.split_once("()").map(|(name, _)| name))
        .collect();
    let excepted: std::collections::BTreeSet<&str> = r
        .exceptions
        .iter()
        .flat_map(|(names, _)| names.split(", "))
        .collect();
    let missing: Vec<&String> = imports
        .iter()
        .filter(|n| !compared.contains(n.as_str()) && !excepted.contains(n.as_str()))
        .collect();
    println!(
        "imports: {} of the driver's {} imports compared, {} listed as exceptions",
        imports.iter().filter(|n| compared.contains(n.as_str())).count(),
        imports.len(),
        imports.iter().filter(|n| excepted.contains(n.as_str())).count()
    );
    assert!(
        missing.is_empty(),
        "imports neither compared nor listed as exceptions: {missing:?}"
    );
}
