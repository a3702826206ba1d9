//! Object security: setting a device object's security descriptor
//! (`ObSetSecurityObjectByPointer`, `ZwSetSecurityObject`) and opening a
//! kernel handle to it (`ObOpenObjectByPointer`). The descriptors
//! themselves are [`crate::se`]'s; the devices are [`crate::io`]'s.

#![allow(non_snake_case)]

use wdk_sys::{
    NTSTATUS, PSECURITY_DESCRIPTOR, PVOID, SECURITY_INFORMATION, STATUS_ACCESS_DENIED,
    STATUS_INVALID_PARAMETER, STATUS_OBJECT_TYPE_MISMATCH, STATUS_SUCCESS,
};

use crate::se::{self, SecurityDescriptor};
use crate::verifier::{self, ModelRule};
use crate::{ddi, io};

/// `OWNER_SECURITY_INFORMATION`.
const OWNER_SECURITY_INFORMATION: u32 = 1;
/// `GROUP_SECURITY_INFORMATION`.
const GROUP_SECURITY_INFORMATION: u32 = 2;
/// `DACL_SECURITY_INFORMATION`.
const DACL_SECURITY_INFORMATION: u32 = 4;

/// `ObSetSecurityObjectByPointer` (ntifs/nf-ntifs-obsetsecurityobjectbypointer):
/// PASSIVE_LEVEL. Applies the owner, group and/or DACL of `security_descriptor`
/// (absolute or self-relative) to a device object; the descriptor is copied
/// (stored self-relative, `DEVICE_OBJECT.SecurityDescriptor` points to it).
/// Malformed input gives `STATUS_UNKNOWN_REVISION`, `STATUS_INVALID_SID`,
/// `STATUS_INVALID_ACL` or `STATUS_INVALID_SECURITY_DESCR` (the statuses
/// ntifs/nf-ntifs-ntsetsecurityobject lists); an object that is not a device
/// the model knows gives `STATUS_OBJECT_TYPE_MISMATCH`.
///
/// # Safety
/// `object` is an object pointer; `security_descriptor` is a valid descriptor.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ObSetSecurityObjectByPointer(
    object: PVOID,
    security_information: SECURITY_INFORMATION,
    security_descriptor: PSECURITY_DESCRIPTOR,
) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::OB_SET_SECURITY_OBJECT_BY_POINTER));
    // SAFETY: valid per the caller.
    unsafe {
        set_object_security(
            object as usize,
            security_information,
            security_descriptor,
            "ObSetSecurityObjectByPointer",
        )
    }
}

/// Applies the owner, group and/or DACL of `security_descriptor` to the
/// device at `address` (the work of ObSetSecurityObjectByPointer and
/// ZwSetSecurityObject).
///
/// # Safety
/// `security_descriptor` is a valid descriptor (absolute or self-relative).
unsafe fn set_object_security(
    address: usize,
    security_information: SECURITY_INFORMATION,
    security_descriptor: PSECURITY_DESCRIPTOR,
    ddi_name: &str,
) -> NTSTATUS {
    // SAFETY: valid per the caller.
    let (control, owner, group, dacl) = match unsafe { se::capture(security_descriptor) } {
        Ok(parts) => parts,
        Err(status) => return status,
    };
    let found = io::update_security(address, |current| {
        let current = current
            .and_then(|b| SecurityDescriptor::parse_self_relative(b).ok())
            .unwrap_or(SecurityDescriptor {
                control: 0,
                owner: None,
                group: None,
                dacl: None,
            });
        let mut new_control = current.control & !se::SE_SELF_RELATIVE;
        let owner = if security_information & OWNER_SECURITY_INFORMATION != 0 {
            owner
        } else {
            current.owner
        };
        let group = if security_information & GROUP_SECURITY_INFORMATION != 0 {
            group
        } else {
            current.group
        };
        let old_dacl = current.dacl.as_ref().map(|acl| se::build_acl(&acl.aces));
        let dacl = if security_information & DACL_SECURITY_INFORMATION != 0 {
            let dacl_bits = se::SE_DACL_PRESENT | se::SE_DACL_DEFAULTED | se::SE_DACL_PROTECTED | 0x0400;
            new_control = (new_control & !dacl_bits) | (control & dacl_bits);
            dacl
        } else {
            old_dacl
        };
        se::build_self_relative(
            new_control & !se::SE_DACL_PRESENT,
            owner.as_ref(),
            group.as_ref(),
            if new_control & se::SE_DACL_PRESENT != 0 {
                dacl.as_deref()
            } else {
                None
            },
        )
    });
    if !found {
        verifier::model_rule(
            ModelRule::UnknownObject,
            address as u64,
            format!("{ddi_name}({address:#x}): not an object the model knows"),
        );
        return STATUS_OBJECT_TYPE_MISMATCH;
    }
    STATUS_SUCCESS
}

/// `ObOpenObjectByPointer` (ntifs/nf-ntifs-obopenobjectbypointer): `<= APC_LEVEL`.
///
/// Opens a handle to a device object the model knows; with
/// `AccessMode == KernelMode` no access check is made and the desired access
/// is granted. An `ObjectType` that does not match, or an object the model
/// does not know, gives `STATUS_OBJECT_TYPE_MISMATCH`.
///
/// # Safety
/// `object` is a referenced object; `handle` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ObOpenObjectByPointer(
    object: PVOID,
    _handle_attributes: u32,
    _passed_access_state: wdk_sys::PACCESS_STATE,
    desired_access: wdk_sys::ACCESS_MASK,
    object_type: wdk_sys::POBJECT_TYPE,
    _access_mode: wdk_sys::KPROCESSOR_MODE,
    handle: wdk_sys::PHANDLE,
) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::OB_OPEN_OBJECT_BY_POINTER));
    if handle.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    let address = object as usize;
    let is_device = io::is_live_device(address);
    if !is_device
        || (!object_type.is_null() && crate::thread::object_type_name(object_type) != Some("Device"))
    {
        return STATUS_OBJECT_TYPE_MISMATCH;
    }
    let opened = crate::thread::open_handle(crate::thread::HandleObject::Object(address, desired_access));
    // SAFETY: writable per the caller.
    unsafe { handle.write(opened) };
    STATUS_SUCCESS
}

/// `ZwSetSecurityObject` (ntifs/nf-ntifs-zwsetsecurityobject): PASSIVE_LEVEL.
///
/// Setting the DACL needs `WRITE_DAC` on the handle, the owner or group
/// `WRITE_OWNER` (`STATUS_ACCESS_DENIED` otherwise); a bad handle gives
/// `STATUS_INVALID_HANDLE`, a NULL descriptor `STATUS_ACCESS_VIOLATION`.
///
/// # Safety
/// `security_descriptor` is a valid descriptor.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ZwSetSecurityObject(
    handle: wdk_sys::HANDLE,
    security_information: SECURITY_INFORMATION,
    security_descriptor: PSECURITY_DESCRIPTOR,
) -> NTSTATUS {
    ddi::unless_faulted!(ddi::zw_passive(&ddi::ZW_SET_SECURITY_OBJECT));
    let Some(crate::thread::HandleObject::Object(address, granted)) = crate::thread::handle_object(handle)
    else {
        return wdk_sys::STATUS_INVALID_HANDLE;
    };
    const WRITE_DAC: u32 = 0x0004_0000;
    const WRITE_OWNER: u32 = 0x0008_0000;
    if (security_information & DACL_SECURITY_INFORMATION != 0 && granted & WRITE_DAC == 0)
        || (security_information & (OWNER_SECURITY_INFORMATION | GROUP_SECURITY_INFORMATION) != 0
            && granted & WRITE_OWNER == 0)
    {
        return STATUS_ACCESS_DENIED;
    }
    if security_descriptor.is_null() {
        return wdk_sys::STATUS_ACCESS_VIOLATION;
    }
    // SAFETY: valid per the caller.
    unsafe {
        set_object_security(
            address,
            security_information,
            security_descriptor,
            "ZwSetSecurityObject",
        )
    }
}
