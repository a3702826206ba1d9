//! Structures: size, alignment and the offsets of the fields the code uses.

#[allow(clippy::wildcard_imports)]
use super::*;

#[allow(clippy::too_many_lines, reason = "one entry per compared structure")]
pub fn structures(r: &mut Report) {
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

    // ETW (src/etw, crates/ntsim/src/etw.rs): the tracelogging crate's
    // descriptors the driver passes, and the model's reading of them.
    {
        use tracelogging::_internal::{EventDataDescriptor, EventDescriptor};
        use windows_sys::Win32::System::Diagnostics::Etw as etw;
        layout!(r, EventDescriptor, etw::EVENT_DESCRIPTOR {};
            id => Id, version => Version, channel => Channel, level => Level, opcode => Opcode, task => Task,
            keyword => Keyword);
        // Private fields: size and alignment only (the model's copy below has the offsets).
        layout!(r, EventDataDescriptor<'static>, etw::EVENT_DATA_DESCRIPTOR {});
        layout!(r, tracelogging::Guid, windows_sys::core::GUID {});
        layout!(r, ntsim::etw::EventDescriptor, etw::EVENT_DESCRIPTOR {};
            id => Id, version => Version, channel => Channel, level => Level, opcode => Opcode, task => Task,
            keyword => Keyword);
        layout!(r, ntsim::etw::EventDataDescriptor, etw::EVENT_DATA_DESCRIPTOR {};
            ptr => Ptr, size => Size, reserved => Anonymous);
    }
}
