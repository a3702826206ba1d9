//! Constants: their values.

#[allow(clippy::wildcard_imports)]
use super::*;

#[allow(clippy::too_many_lines, reason = "one entry per compared constant")]
pub fn constants(r: &mut Report) {
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

    // ETW.
    {
        use windows_sys::Win32::System::Diagnostics::Etw as etw;
        constant!(
            r,
            kcallbacks::etw::DESCRIPTOR_TYPE_EVENT_METADATA,
            etw::EVENT_DATA_DESCRIPTOR_TYPE_EVENT_METADATA
        );
        constant!(
            r,
            kcallbacks::etw::DESCRIPTOR_TYPE_PROVIDER_METADATA,
            etw::EVENT_DATA_DESCRIPTOR_TYPE_PROVIDER_METADATA
        );
        constant!(
            r,
            kcallbacks::etw::EVENT_PROVIDER_SET_TRAITS,
            etw::EventProviderSetTraits
        );
        constant!(
            r,
            kcallbacks::etw::CONTROL_DISABLE,
            etw::EVENT_CONTROL_CODE_DISABLE_PROVIDER
        );
        constant!(
            r,
            kcallbacks::etw::CONTROL_ENABLE,
            etw::EVENT_CONTROL_CODE_ENABLE_PROVIDER
        );
        constant!(
            r,
            ntsim::etw::EVENT_PROVIDER_SET_TRAITS,
            etw::EventProviderSetTraits
        );
        constant!(
            r,
            ntsim::etw::CONTROL_DISABLE,
            etw::EVENT_CONTROL_CODE_DISABLE_PROVIDER
        );
        constant!(
            r,
            ntsim::etw::CONTROL_ENABLE,
            etw::EVENT_CONTROL_CODE_ENABLE_PROVIDER
        );
    }
}
