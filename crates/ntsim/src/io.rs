//! The I/O manager: driver objects, device objects, symbolic links, object
//! security, IRPs and opening a device as a user-mode client would.
//!
//! Documented behaviour modeled (pages named at each routine):
//! * `IoCreateDevice` places a named device in the namespace;
//!   an existing name gives `STATUS_OBJECT_NAME_COLLISION`, a missing parent
//!   directory `STATUS_OBJECT_PATH_NOT_FOUND`. The device starts with
//!   `DO_DEVICE_INITIALIZING`, which the I/O manager clears for devices
//!   created in DriverEntry when DriverEntry returns (kernel/initializing-a-device-object);
//!   opens fail while it is set.
//! * A named device created with `IoCreateDevice` gets a default security
//!   descriptor. Its exact content is not documented (the docs only warn that
//!   it is permissive and point to `IoCreateDeviceSecure`); the model uses
//!   owner Administrators, group SYSTEM and the DACL
//!   `(A;;GA;;;SY)(A;;GA;;;BA)(A;;GRGWGX;;;WD)(A;;GRGX;;;RC)`.
//! * `IoCreateSymbolicLink` on an existing link name gives
//!   `STATUS_OBJECT_NAME_COLLISION` (the object manager's status for an
//!   existing name); the target need not exist.
//! * Opening a device evaluates its DACL against the caller's token unless
//!   the open names a path below the device and the device lacks
//!   `FILE_DEVICE_SECURE_OPEN` (kernel/controlling-device-namespace-access).
//!   An IOCTL whose `CTL_CODE` access bits require `FILE_READ_DATA` or
//!   `FILE_WRITE_DATA` fails with `STATUS_ACCESS_DENIED` on a handle without it.
//! * IRPs: every IRP must be completed exactly once (a second completion is
//!   bug check 0x44 MULTIPLE_IRP_COMPLETE_REQUESTS); completing with
//!   `STATUS_PENDING` is 0xC9/0x06; a dispatch routine that changes the
//!   IRQL is 0xC9/0x05 (debugger/bug-check-0xc9--driver-verifier-iomanager-violation).

#![allow(non_snake_case)]

use std::alloc::Layout;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use wdk_sys::{
    BOOLEAN, CCHAR, DEVICE_OBJECT, DO_DEVICE_HAS_NAME, DO_DEVICE_INITIALIZING, DO_EXCLUSIVE,
    DRIVER_EXTENSION, DRIVER_OBJECT, DRVO_LEGACY_DRIVER, FILE_DEVICE_SECURE_OPEN, FILE_OBJECT,
    IO_STACK_LOCATION, IO_TYPE_DEVICE, IO_TYPE_DRIVER, IO_TYPE_FILE, IO_TYPE_IRP, IRP, IRP_MJ_CLEANUP,
    IRP_MJ_CLOSE, IRP_MJ_CREATE, IRP_MJ_DEVICE_CONTROL, IRP_MJ_MAXIMUM_FUNCTION, NTSTATUS, PDEVICE_OBJECT,
    PDRIVER_OBJECT, PIRP, PSECURITY_DESCRIPTOR, PUNICODE_STRING, PVOID, SECURITY_INFORMATION,
    STATUS_ACCESS_DENIED, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_DEVICE_REQUEST,
    STATUS_INVALID_PARAMETER, STATUS_NO_SUCH_DEVICE, STATUS_OBJECT_NAME_INVALID, STATUS_OBJECT_TYPE_MISMATCH,
    STATUS_PENDING, STATUS_SUCCESS, UNICODE_STRING,
};

use crate::context::{ContextScope, Phase};
use crate::irql::{IrqlScope, PASSIVE_LEVEL};
use crate::se::{self, Ace, SecurityDescriptor, Sid};
use crate::unicode::{self, OwnedUnicode};
use crate::verifier::{self, ModelRule, codes};
use crate::{ddi, irql, ob, sync::lock};

/// `OWNER_SECURITY_INFORMATION`.
const OWNER_SECURITY_INFORMATION: u32 = 1;
/// `GROUP_SECURITY_INFORMATION`.
const GROUP_SECURITY_INFORMATION: u32 = 2;
/// `DACL_SECURITY_INFORMATION`.
const DACL_SECURITY_INFORMATION: u32 = 4;
/// `UserMode` (`KPROCESSOR_MODE`).
const USER_MODE: i8 = 1;

struct DeviceRecord {
    memory: usize,
    name: Option<String>,
    driver: usize,
    deleted: bool,
    security: Option<Box<[u8]>>,
    handles: u32,
}

struct LinkRecord {
    name: String,
    target: String,
}

#[derive(Default)]
struct Io {
    devices: Vec<DeviceRecord>,
    /// Links created through `IoCreateSymbolicLink`, by canonical path.
    links: BTreeMap<String, LinkRecord>,
    /// Live IRPs and how often each was completed.
    irps: HashMap<usize, u32>,
}

static IO: Mutex<Option<Io>> = Mutex::new(None);

fn with_io<R>(f: impl FnOnce(&mut Io) -> R) -> R {
    let mut guard = lock(&IO);
    f(guard.get_or_insert_with(Io::default))
}

/// A device object as the test sees it.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    /// The `DEVICE_OBJECT`'s address.
    pub address: usize,
    /// Its name (canonical path), if named.
    pub name: Option<String>,
    /// `DeviceType`.
    pub device_type: u32,
    /// `Characteristics`.
    pub characteristics: u32,
    /// `Flags`.
    pub flags: u32,
    /// The self-relative security descriptor applied to it, parsed.
    pub security: Option<SecurityDescriptor>,
    /// The same descriptor's bytes.
    pub security_bytes: Option<Vec<u8>>,
    /// Open handles (file objects) to it.
    pub handles: u32,
    /// The `DRIVER_OBJECT` that owns it.
    pub driver: usize,
}

fn info(record: &DeviceRecord) -> DeviceInfo {
    let device = record.memory as *const DEVICE_OBJECT;
    // SAFETY: the device memory stays allocated while the model runs (it is
    // not freed on delete), and the fields read are plain integers.
    let device = unsafe { &*device };
    let (device_type, characteristics, flags) = (device.DeviceType, device.Characteristics, device.Flags);
    let security_bytes = record.security.as_ref().map(|b| b.to_vec());
    DeviceInfo {
        address: record.memory,
        name: record.name.clone(),
        device_type,
        characteristics,
        flags,
        security: security_bytes
            .as_deref()
            .and_then(|b| SecurityDescriptor::parse_self_relative(b).ok()),
        security_bytes,
        handles: record.handles,
        driver: record.driver,
    }
}

/// The device objects that exist (not deleted).
#[must_use]
pub fn devices() -> Vec<DeviceInfo> {
    with_io(|io| io.devices.iter().filter(|d| !d.deleted).map(info).collect())
}

/// The device named `name` (case-insensitive; links are not followed).
#[must_use]
pub fn device(name: &str) -> Option<DeviceInfo> {
    devices()
        .into_iter()
        .find(|d| d.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name)))
}

/// The symbolic links created with `IoCreateSymbolicLink` that exist:
/// (canonical link path, target).
#[must_use]
pub fn symbolic_links() -> Vec<(String, String)> {
    with_io(|io| {
        io.links
            .values()
            .map(|l| (l.name.clone(), l.target.clone()))
            .collect()
    })
}

fn default_device_security() -> Vec<u8> {
    let ace = |mask, sid| Ace {
        ace_type: se::ACCESS_ALLOWED_ACE_TYPE,
        flags: 0,
        mask,
        sid,
    };
    let dacl = se::build_acl(&[
        ace(se::GENERIC_ALL, Sid::local_system()),
        ace(se::GENERIC_ALL, Sid::administrators()),
        ace(
            se::GENERIC_READ | se::GENERIC_WRITE | se::GENERIC_EXECUTE,
            Sid::world(),
        ),
        ace(se::GENERIC_READ | se::GENERIC_EXECUTE, Sid::restricted()),
    ]);
    se::build_self_relative(
        0,
        Some(&Sid::administrators()),
        Some(&Sid::local_system()),
        Some(&dacl),
    )
}

fn store_security(record: &mut DeviceRecord, bytes: Vec<u8>) {
    let boxed = bytes.into_boxed_slice();
    let device = record.memory as *mut DEVICE_OBJECT;
    // SAFETY: the device memory is live; the descriptor bytes are kept alive
    // in the record (a boxed slice does not move when the record moves).
    unsafe { (*device).SecurityDescriptor = boxed.as_ptr().cast_mut().cast() };
    record.security = Some(boxed);
}

/// `IoCreateDevice` (wdm/nf-wdm-iocreatedevice): see the module docs.
///
/// # Safety
/// `driver_object` is the caller's driver object; `device_name` is null or a
/// valid `UNICODE_STRING`; `device_object` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IoCreateDevice(
    driver_object: PDRIVER_OBJECT,
    device_extension_size: u32,
    device_name: PUNICODE_STRING,
    device_type: u32,
    device_characteristics: u32,
    exclusive: BOOLEAN,
    device_object: *mut PDEVICE_OBJECT,
) -> NTSTATUS {
    let entry = ddi::enter(&ddi::IO_CREATE_DEVICE);
    if let Some(status) = entry.fault {
        return status;
    }
    if driver_object.is_null() || device_object.is_null() {
        verifier::model_rule(
            ModelRule::InvalidParameter,
            0,
            "IoCreateDevice: DriverObject and DeviceObject must not be NULL".to_owned(),
        );
        return STATUS_INVALID_PARAMETER;
    }
    let name = if device_name.is_null() {
        None
    } else {
        // SAFETY: valid per the caller.
        match unsafe { unicode::read(device_name) } {
            Some(name) => Some(name),
            None => return STATUS_OBJECT_NAME_INVALID,
        }
    };
    // SAFETY: the driver object is valid per the caller.
    match unsafe {
        create_device(
            driver_object,
            device_extension_size,
            name.as_deref(),
            device_type,
            device_characteristics,
            exclusive != 0,
        )
    } {
        Ok(device) => {
            // SAFETY: writable per the caller.
            unsafe { device_object.write(device) };
            STATUS_SUCCESS
        }
        Err(status) => status,
    }
}

/// Creates a device object for `driver_object` (the work of `IoCreateDevice`).
///
/// # Safety
/// `driver_object` is a valid driver object.
pub(crate) unsafe fn create_device(
    driver_object: PDRIVER_OBJECT,
    device_extension_size: u32,
    name: Option<&str>,
    device_type: u32,
    device_characteristics: u32,
    exclusive: bool,
) -> Result<PDEVICE_OBJECT, NTSTATUS> {
    let header = std::mem::size_of::<DEVICE_OBJECT>().next_multiple_of(16);
    let Ok(layout) = Layout::from_size_align(header + device_extension_size as usize, 16) else {
        return Err(STATUS_INSUFFICIENT_RESOURCES);
    };
    // SAFETY: the layout is non-zero sized.
    let memory = unsafe { std::alloc::alloc_zeroed(layout) };
    if memory.is_null() {
        return Err(STATUS_INSUFFICIENT_RESOURCES);
    }
    let canonical = match name {
        Some(name) => match ob::insert(name, ob::Object::Device(memory as usize)) {
            Ok(canonical) => Some(canonical),
            Err(status) => {
                // SAFETY: allocated above with this layout, never published.
                unsafe { std::alloc::dealloc(memory, layout) };
                return Err(status);
            }
        },
        None => None,
    };
    let device = memory.cast::<DEVICE_OBJECT>();
    // SAFETY: the driver object is valid per the caller.
    let driver = unsafe { &mut *driver_object };
    // SAFETY: `memory` is a fresh, zeroed, 16-aligned block large enough for
    // a DEVICE_OBJECT followed by the extension.
    let object = unsafe { &mut *device };
    object.Type = IO_TYPE_DEVICE as i16;
    object.Size = u16::try_from(layout.size()).unwrap_or(u16::MAX);
    object.DriverObject = driver_object;
    object.NextDevice = driver.DeviceObject;
    object.Flags = DO_DEVICE_INITIALIZING
        | if exclusive { DO_EXCLUSIVE } else { 0 }
        | if name.is_some() { DO_DEVICE_HAS_NAME } else { 0 };
    object.Characteristics = device_characteristics;
    object.DeviceType = device_type;
    object.StackSize = 1;
    object.DeviceExtension = if device_extension_size == 0 {
        std::ptr::null_mut()
    } else {
        memory.wrapping_add(header).cast()
    };
    driver.DeviceObject = device;
    let mut record = DeviceRecord {
        memory: memory as usize,
        name: canonical,
        driver: driver_object as usize,
        deleted: false,
        security: None,
        handles: 0,
    };
    if record.name.is_some() {
        store_security(&mut record, default_device_security());
    }
    with_io(|io| io.devices.push(record));
    Ok(device)
}

/// `IoDeleteDevice` (wdm/nf-wdm-iodeletedevice): `<= APC_LEVEL`, rule
/// IrqlIoApcLte. "A driver can call IoDeleteDevice only once for a given
/// device object" (a second call: NSIM DoubleRelease). The memory is kept
/// (poisoned flags) so a stale pointer does not crash the test process.
///
/// # Safety
/// `device_object` came from `IoCreateDevice`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IoDeleteDevice(device_object: PDEVICE_OBJECT) {
    ddi::enter(&ddi::IO_DELETE_DEVICE);
    let address = device_object as usize;
    let found = with_io(|io| {
        let record = io.devices.iter_mut().find(|d| d.memory == address)?;
        let was_deleted = record.deleted;
        record.deleted = true;
        Some((was_deleted, record.name.clone(), record.driver))
    });
    let Some((was_deleted, name, driver)) = found else {
        verifier::model_rule(
            ModelRule::UnknownObject,
            address as u64,
            format!("IoDeleteDevice({device_object:p}): not a device object"),
        );
        return;
    };
    if was_deleted {
        verifier::model_rule(
            ModelRule::DoubleRelease,
            address as u64,
            format!("IoDeleteDevice({device_object:p}) called twice"),
        );
        return;
    }
    if let Some(name) = name {
        let _ = ob::remove(&name);
    }
    // The I/O manager drops the shutdown registrations of a deleted device
    // (DO_SHUTDOWN_REGISTERED).
    crate::shutdown::device_deleted(address);
    // Unlink from the driver's device list.
    let driver = driver as PDRIVER_OBJECT;
    // SAFETY: the driver object outlives its devices; the device list links
    // only device objects created by the model.
    let mut link: *mut PDEVICE_OBJECT = unsafe { &raw mut (*driver).DeviceObject };
    loop {
        // SAFETY: `link` points to the driver's list head or a live device's NextDevice.
        let current = unsafe { link.read() };
        if current.is_null() {
            break;
        }
        if current == device_object {
            // SAFETY: the device being deleted is live.
            let next = unsafe { (*device_object).NextDevice };
            // SAFETY: as above for `link`.
            unsafe { link.write(next) };
            break;
        }
        // SAFETY: `current` is a live device in the list.
        link = unsafe { &raw mut (*current).NextDevice };
    }
}

/// `IoCreateSymbolicLink` (wdm/nf-wdm-iocreatesymboliclink): PASSIVE_LEVEL,
/// rule IrqlIoPassive3.
///
/// # Safety
/// Both arguments are valid `UNICODE_STRING`s.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IoCreateSymbolicLink(
    symbolic_link_name: PUNICODE_STRING,
    device_name: PUNICODE_STRING,
) -> NTSTATUS {
    let entry = ddi::enter(&ddi::IO_CREATE_SYMBOLIC_LINK);
    if let Some(status) = entry.fault {
        return status;
    }
    // SAFETY: valid per the caller.
    let (Some(link), Some(target)) = (unsafe { unicode::read(symbolic_link_name) }, unsafe {
        unicode::read(device_name)
    }) else {
        return STATUS_OBJECT_NAME_INVALID;
    };
    match ob::insert(&link, ob::Object::SymbolicLink(target.clone())) {
        Ok(canonical) => {
            with_io(|io| {
                io.links.insert(
                    canonical.to_uppercase(),
                    LinkRecord {
                        name: canonical,
                        target,
                    },
                )
            });
            STATUS_SUCCESS
        }
        Err(status) => status,
    }
}

/// `IoDeleteSymbolicLink` (wdm/nf-wdm-iodeletesymboliclink): PASSIVE_LEVEL,
/// rule IrqlIoPassive4. A name that does not exist gives
/// `STATUS_OBJECT_NAME_NOT_FOUND`.
///
/// # Safety
/// `symbolic_link_name` is a valid `UNICODE_STRING`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IoDeleteSymbolicLink(symbolic_link_name: PUNICODE_STRING) -> NTSTATUS {
    let entry = ddi::enter(&ddi::IO_DELETE_SYMBOLIC_LINK);
    if let Some(status) = entry.fault {
        return status;
    }
    // SAFETY: valid per the caller.
    let Some(link) = (unsafe { unicode::read(symbolic_link_name) }) else {
        return STATUS_OBJECT_NAME_INVALID;
    };
    match ob::lookup(&link) {
        Ok((canonical, ob::Object::SymbolicLink(_))) => {
            let status = ob::remove(&canonical);
            with_io(|io| io.links.remove(&canonical.to_uppercase()));
            status
        }
        Ok(_) => STATUS_OBJECT_TYPE_MISMATCH,
        Err(status) => status,
    }
}

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
    let entry = ddi::enter(&ddi::OB_SET_SECURITY_OBJECT_BY_POINTER);
    if let Some(status) = entry.fault {
        return status;
    }
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
    let found = with_io(|io| {
        let record = io
            .devices
            .iter_mut()
            .find(|d| d.memory == address && !d.deleted)?;
        let current = record
            .security
            .as_deref()
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
        let bytes = se::build_self_relative(
            new_control & !se::SE_DACL_PRESENT,
            owner.as_ref(),
            group.as_ref(),
            if new_control & se::SE_DACL_PRESENT != 0 {
                dacl.as_deref()
            } else {
                None
            },
        );
        store_security(record, bytes);
        Some(())
    });
    if found.is_none() {
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
    let entry = ddi::enter(&ddi::OB_OPEN_OBJECT_BY_POINTER);
    if let Some(status) = entry.fault {
        return status;
    }
    if handle.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    let address = object as usize;
    let is_device = with_io(|io| io.devices.iter().any(|d| d.memory == address && !d.deleted));
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
    let entry = ddi::zw_passive(&ddi::ZW_SET_SECURITY_OBJECT);
    if let Some(status) = entry.fault {
        return status;
    }
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

fn complete(irp: PIRP, from_ddi: bool) {
    let count = with_io(|io| {
        io.irps.get_mut(&(irp as usize)).map(|n| {
            *n += 1;
            *n
        })
    });
    let Some(count) = count else {
        verifier::model_rule(
            ModelRule::UnknownObject,
            irp as u64,
            format!("IofCompleteRequest({irp:p}): not a live IRP"),
        );
        return;
    };
    if count > 1 {
        verifier::bugcheck(
            codes::MULTIPLE_IRP_COMPLETE_REQUESTS,
            [irp as u64, 0, 0, 0],
            format!("IRP {irp:p} completed {count} times"),
        );
        return;
    }
    // SAFETY: a live IRP the model built.
    let io_status = unsafe { &(*irp).IoStatus };
    // SAFETY: every bit pattern of the union is a valid NTSTATUS.
    let status = unsafe { io_status.__bindgen_anon_1.Status };
    if from_ddi && status == STATUS_PENDING {
        verifier::bugcheck(
            codes::DRIVER_VERIFIER_IOMANAGER_VIOLATION,
            [0x06, status.cast_unsigned().into(), irp as u64, 0],
            format!("IoCompleteRequest({irp:p}) with STATUS_PENDING"),
        );
    }
}

/// `IofCompleteRequest` (wdm/nf-wdm-iocompleterequest): `<= DISPATCH_LEVEL`.
///
/// # Safety
/// `irp` is a live IRP the caller owns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IofCompleteRequest(irp: PIRP, _priority_boost: CCHAR) {
    ddi::enter(&ddi::IOF_COMPLETE_REQUEST);
    complete(irp, true);
}

/// The dispatch routine the I/O manager installs for every major function a
/// driver does not handle (`IopInvalidDeviceRequest`): completes the IRP
/// with `STATUS_INVALID_DEVICE_REQUEST`.
unsafe extern "C" fn invalid_device_request(_device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: the I/O manager passes a live IRP.
    let io_status = unsafe { &mut (*irp).IoStatus };
    io_status.__bindgen_anon_1.Status = STATUS_INVALID_DEVICE_REQUEST;
    io_status.Information = 0;
    complete(irp, false);
    STATUS_INVALID_DEVICE_REQUEST
}

/// The routine every `MajorFunction` entry starts as.
#[must_use]
pub fn default_dispatch() -> wdk_sys::PDRIVER_DISPATCH {
    Some(invalid_device_request)
}

/// A driver object and the strings it points to, as the I/O manager builds
/// them before calling DriverEntry (kernel/writing-a-driverentry-routine):
/// every `MajorFunction` entry is the invalid-request routine,
/// `DriverName` is `\Driver\<name>`, the extension's `ServiceKeyName` is
/// `<name>`, and `Flags` has `DRVO_LEGACY_DRIVER`.
pub struct DriverImage {
    object: Box<DRIVER_OBJECT>,
    _extension: Box<DRIVER_EXTENSION>,
    _name: OwnedUnicode,
    _service: OwnedUnicode,
    registry_path: OwnedUnicode,
}

impl DriverImage {
    /// Builds the driver object for service `name`.
    #[must_use]
    pub fn new(name: &str, entry: wdk_sys::PDRIVER_INITIALIZE) -> Self {
        let driver_name = OwnedUnicode::new(&format!("\\Driver\\{name}"));
        let service = OwnedUnicode::new(name);
        let registry_path = OwnedUnicode::new(&format!(
            "\\Registry\\Machine\\System\\CurrentControlSet\\Services\\{name}"
        ));
        let mut extension = Box::new(DRIVER_EXTENSION {
            DriverObject: std::ptr::null_mut(),
            AddDevice: None,
            Count: 0,
            ServiceKeyName: service.descriptor(),
        });
        let mut object = Box::new(DRIVER_OBJECT {
            Type: IO_TYPE_DRIVER as i16,
            Size: i16::try_from(std::mem::size_of::<DRIVER_OBJECT>()).unwrap_or(i16::MAX),
            DeviceObject: std::ptr::null_mut(),
            Flags: DRVO_LEGACY_DRIVER,
            DriverStart: std::ptr::null_mut(),
            DriverSize: 0,
            DriverSection: std::ptr::null_mut(),
            DriverExtension: std::ptr::null_mut(),
            DriverName: driver_name.descriptor(),
            HardwareDatabase: std::ptr::null_mut(),
            FastIoDispatch: std::ptr::null_mut(),
            DriverInit: entry,
            DriverStartIo: None,
            DriverUnload: None,
            MajorFunction: [default_dispatch(); (IRP_MJ_MAXIMUM_FUNCTION + 1) as usize],
        });
        extension.DriverObject = &raw mut *object;
        object.DriverExtension = &raw mut *extension;
        let _ = ob::insert(&format!("\\Driver\\{name}"), ob::Object::Directory);
        Self {
            object,
            _extension: extension,
            _name: driver_name,
            _service: service,
            registry_path,
        }
    }

    /// A file-system driver's object (`\FileSystem\<name>`), owned by the model.
    #[must_use]
    pub(crate) fn new_file_system(name: &str) -> Self {
        let mut image = Self::new(name, None);
        image._name = OwnedUnicode::new(&format!("\\FileSystem\\{name}"));
        image.object.DriverName = image._name.descriptor();
        image
    }

    /// The `DRIVER_OBJECT`, read-only.
    #[must_use]
    pub fn object_ref(&self) -> &DRIVER_OBJECT {
        &self.object
    }

    /// The `DRIVER_OBJECT`.
    pub fn object(&mut self) -> PDRIVER_OBJECT {
        &raw mut *self.object
    }

    /// The registry path passed to DriverEntry.
    pub const fn registry_path(&mut self) -> *mut UNICODE_STRING {
        self.registry_path.as_ptr()
    }

    /// The driver's `DriverUnload`, if it set one.
    #[must_use]
    pub fn unload_routine(&self) -> wdk_sys::PDRIVER_UNLOAD {
        self.object.DriverUnload
    }

    /// The device objects of this driver, newest first (the driver object's list).
    #[must_use]
    pub fn device_objects(&self) -> Vec<PDEVICE_OBJECT> {
        let mut list = Vec::new();
        let mut device = self.object.DeviceObject;
        while !device.is_null() && list.len() < 1024 {
            list.push(device);
            // SAFETY: the list links device objects created by the model, whose memory is kept.
            device = unsafe { (*device).NextDevice };
        }
        list
    }

    /// Clears `DO_DEVICE_INITIALIZING` on the driver's devices (the I/O
    /// manager does this for devices created in DriverEntry).
    pub(crate) fn finish_initializing(&self) {
        for device in self.device_objects() {
            // SAFETY: live device memory kept by the model.
            unsafe { (*device).Flags &= !DO_DEVICE_INITIALIZING };
        }
    }
}

/// Who opens a device (the token the access check uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// LocalSystem: SYSTEM, Administrators, Everyone, Authenticated Users.
    System,
    /// An elevated administrator: Administrators, Users, Everyone, Authenticated Users.
    Administrator,
    /// A standard user: Users, Everyone, Authenticated Users.
    User,
}

impl Caller {
    /// The SIDs in the caller's token.
    #[must_use]
    pub fn token(self) -> Vec<Sid> {
        match self {
            Self::System => vec![
                Sid::local_system(),
                Sid::administrators(),
                Sid::world(),
                Sid::authenticated_users(),
            ],
            Self::Administrator => {
                vec![
                    Sid::administrators(),
                    Sid::users(),
                    Sid::world(),
                    Sid::authenticated_users(),
                ]
            }
            Self::User => vec![Sid::users(), Sid::world(), Sid::authenticated_users()],
        }
    }
}

/// The process id user-mode requests come from.
pub const CLIENT_PID: u64 = 0x1234;

/// An IRP with one stack location, laid out as the I/O manager allocates it
/// (the stack location follows the IRP).
struct IrpBox {
    memory: *mut u8,
    layout: Layout,
}

impl IrpBox {
    fn new(major: u32, device: PDEVICE_OBJECT, file: *mut FILE_OBJECT) -> Self {
        let irp_size = std::mem::size_of::<IRP>();
        let size = irp_size + std::mem::size_of::<IO_STACK_LOCATION>();
        let layout = Layout::from_size_align(size, 16).unwrap_or_else(|_| unreachable!("constant layout"));
        // SAFETY: non-zero size.
        let memory = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!memory.is_null(), "host allocation failed");
        let irp = memory.cast::<IRP>();
        let stack = memory.wrapping_add(irp_size).cast::<IO_STACK_LOCATION>();
        // SAFETY: fresh zeroed memory laid out as IRP + IO_STACK_LOCATION,
        // exclusively ours until published.
        let irp_ref = unsafe { &mut *irp };
        irp_ref.Type = IO_TYPE_IRP as i16;
        irp_ref.Size = u16::try_from(size).unwrap_or(u16::MAX);
        irp_ref.StackCount = 1;
        irp_ref.CurrentLocation = 1;
        irp_ref.RequestorMode = USER_MODE;
        irp_ref
            .Tail
            .Overlay
            .__bindgen_anon_2
            .__bindgen_anon_1
            .CurrentStackLocation = stack;
        irp_ref.Tail.Overlay.OriginalFileObject = file;
        // SAFETY: as above, the stack location after the IRP.
        let stack_ref = unsafe { &mut *stack };
        stack_ref.MajorFunction = u8::try_from(major).unwrap_or(0);
        stack_ref.DeviceObject = device;
        stack_ref.FileObject = file;
        with_io(|io| io.irps.insert(memory as usize, 0));
        Self { memory, layout }
    }

    const fn irp(&self) -> PIRP {
        self.memory.cast()
    }

    const fn stack(&self) -> *mut IO_STACK_LOCATION {
        self.memory.wrapping_add(std::mem::size_of::<IRP>()).cast()
    }
}

impl Drop for IrpBox {
    fn drop(&mut self) {
        with_io(|io| io.irps.remove(&(self.memory as usize)));
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.memory, self.layout) };
    }
}

/// Sends `irp` to `device`'s driver at PASSIVE_LEVEL in the client's context
/// and checks how it was handled. Returns the final status and `Information`.
fn call_driver(device: PDEVICE_OBJECT, irp: &IrpBox, major: u32) -> (NTSTATUS, usize) {
    call_driver_as(device, irp, major, CLIENT_PID)
}

fn call_driver_as(device: PDEVICE_OBJECT, irp: &IrpBox, major: u32, pid: u64) -> (NTSTATUS, usize) {
    // SAFETY: a live device object of a loaded driver.
    let driver = unsafe { (*device).DriverObject };
    // SAFETY: the device's driver object outlives its devices.
    let dispatch = unsafe { (*driver).MajorFunction[major as usize] };
    let Some(dispatch) = dispatch else {
        verifier::model_rule(
            ModelRule::IrpHandling,
            irp.irp() as u64,
            format!("MajorFunction[{major}] is NULL"),
        );
        return (STATUS_INVALID_DEVICE_REQUEST, 0);
    };
    let _irql = IrqlScope::enter(PASSIVE_LEVEL);
    let _context = ContextScope::enter(pid, None, Phase::Dispatch);
    // SAFETY: the driver's dispatch routine with a live device and IRP.
    let returned = unsafe { dispatch(device, irp.irp()) };
    let after = irql::current();
    if after != PASSIVE_LEVEL {
        verifier::bugcheck(
            codes::DRIVER_VERIFIER_IOMANAGER_VIOLATION,
            [0x05, device as u64, u64::from(PASSIVE_LEVEL), u64::from(after)],
            format!("dispatch routine for major function {major} returned at IRQL {after}"),
        );
    }
    let completed = with_io(|io| io.irps.get(&(irp.irp() as usize)).copied().unwrap_or(0));
    // SAFETY: the IRP stays live until `irp` is dropped.
    let io_status = unsafe { &(*irp.irp()).IoStatus };
    // SAFETY: every bit pattern of the union is a valid NTSTATUS.
    let status = unsafe { io_status.__bindgen_anon_1.Status };
    let information = io_status.Information;
    if returned == STATUS_PENDING {
        verifier::model_rule(
            ModelRule::IrpHandling,
            irp.irp() as u64,
            "the model does not support pended IRPs (STATUS_PENDING)".to_owned(),
        );
    } else if completed == 0 {
        verifier::model_rule(
            ModelRule::IrpHandling,
            irp.irp() as u64,
            format!(
                "dispatch routine for major function {major} returned {returned:#X} without completing the IRP"
            ),
        );
    } else if returned != status {
        verifier::model_rule(
            ModelRule::IrpHandling,
            irp.irp() as u64,
            format!("dispatch routine returned {returned:#X} but completed the IRP with {status:#X}"),
        );
    }
    (returned, usize::try_from(information).unwrap_or(usize::MAX))
}

/// Sends an IRP with major function `major` and no file object to
/// `device`'s driver from a System process thread (the I/O manager's own
/// requests, e.g. `IRP_MJ_SHUTDOWN`). Returns the status.
pub(crate) fn send_system_irp(device: PDEVICE_OBJECT, major: u32) -> NTSTATUS {
    let irp = IrpBox::new(major, device, std::ptr::null_mut());
    // SAFETY: the IRP built above.
    unsafe { (*irp.irp()).RequestorMode = 0 };
    call_driver_as(device, &irp, major, crate::context::SYSTEM_PID).0
}

/// An open handle to a device (a file object), as a user-mode client holds it.
pub struct DeviceHandle {
    file: Box<FILE_OBJECT>,
    device: PDEVICE_OBJECT,
    granted: u32,
    closed: bool,
}

// SAFETY: the handle is used by one test thread at a time; the raw pointers
// refer to model-owned memory that outlives it.
unsafe impl Send for DeviceHandle {}

/// Opens `path` (an NT path such as `\Device\X`, or a Win32 device path
/// `\\.\X`, which names `\??\X`) as `caller`, asking for `desired_access`
/// (generic rights allowed), and sends `IRP_MJ_CREATE`.
///
/// # Errors
/// The status the open failed with: name lookup, `STATUS_NO_SUCH_DEVICE`
/// while the device is initializing, `STATUS_ACCESS_DENIED` from the access
/// check, or the driver's create status.
pub fn open(path: &str, caller: Caller, desired_access: u32) -> Result<DeviceHandle, NTSTATUS> {
    let nt_path = path
        .strip_prefix("\\\\.\\")
        .map_or_else(|| path.to_owned(), |rest| format!("\\??\\{rest}"));
    let (object, remainder) = ob::resolve_for_open(&nt_path)?;
    let ob::Object::Device(address) = object else {
        return Err(STATUS_OBJECT_TYPE_MISMATCH);
    };
    let device = address as PDEVICE_OBJECT;
    let (security, exclusive_busy) = with_io(|io| {
        let record = io.devices.iter().find(|d| d.memory == address && !d.deleted);
        (
            record.and_then(|r| r.security.as_deref().map(<[u8]>::to_vec)),
            record.is_some_and(|r| r.handles > 0),
        )
    });
    // SAFETY: live device memory kept by the model.
    let device_ref = unsafe { &*device };
    let (flags, characteristics) = (device_ref.Flags, device_ref.Characteristics);
    if flags & DO_DEVICE_INITIALIZING != 0 {
        return Err(STATUS_NO_SUCH_DEVICE);
    }
    if flags & DO_EXCLUSIVE != 0 && exclusive_busy {
        return Err(STATUS_ACCESS_DENIED);
    }
    let granted = if remainder.is_empty() || characteristics & FILE_DEVICE_SECURE_OPEN != 0 {
        let parsed = security
            .as_deref()
            .and_then(|b| SecurityDescriptor::parse_self_relative(b).ok());
        se::access_check(parsed.as_ref(), &caller.token(), desired_access).ok_or(STATUS_ACCESS_DENIED)?
    } else {
        se::map_generic_file(desired_access)
    };
    // SAFETY: FILE_OBJECT is plain data; all-zero is a valid starting value.
    let mut file: Box<FILE_OBJECT> = Box::new(unsafe { std::mem::zeroed() });
    file.Type = IO_TYPE_FILE as i16;
    file.Size = i16::try_from(std::mem::size_of::<FILE_OBJECT>()).unwrap_or(i16::MAX);
    file.DeviceObject = device;
    let irp = IrpBox::new(IRP_MJ_CREATE, device, &raw mut *file);
    let mut security_context = wdk_sys::IO_SECURITY_CONTEXT {
        SecurityQos: std::ptr::null_mut(),
        AccessState: std::ptr::null_mut(),
        DesiredAccess: granted,
        FullCreateOptions: 0,
    };
    // SAFETY: the stack location of the IRP built above.
    let stack = unsafe { &mut *irp.stack() };
    // Clear the union, then fill the fields the model sets. (Its type has a
    // name bindgen invents, which differs between header sets.)
    #[allow(
        clippy::default_trait_access,
        reason = "the union type's name is bindgen's, not portable"
    )]
    {
        stack.Parameters = Default::default();
    }
    stack.Parameters.Create.SecurityContext = &raw mut security_context;
    let (status, _) = call_driver(device, &irp, IRP_MJ_CREATE);
    if status < 0 {
        return Err(status);
    }
    with_io(|io| {
        if let Some(record) = io.devices.iter_mut().find(|d| d.memory == address) {
            record.handles += 1;
        }
    });
    Ok(DeviceHandle {
        file,
        device,
        granted,
        closed: false,
    })
}

impl DeviceHandle {
    /// The access granted at open.
    #[must_use]
    pub const fn granted_access(&self) -> u32 {
        self.granted
    }

    /// `DeviceIoControl`: builds an `IRP_MJ_DEVICE_CONTROL` and sends it. For
    /// `METHOD_BUFFERED` the system buffer has `max(input, output)` bytes
    /// (input copied in; the rest filled with [`crate::pool::UNINITIALIZED_FILL`]);
    /// after completion `min(Information, output_len)` bytes are copied back
    /// for success and warning statuses. Returns the status and the output.
    ///
    /// The other transfer methods (kernel/buffer-descriptions-for-i-o-control-codes)
    /// go to [`Self::ioctl_unbuffered`].
    ///
    /// # Panics
    /// If the handle was closed.
    pub fn ioctl(&mut self, code: u32, input: &[u8], output_len: usize) -> (NTSTATUS, Vec<u8>) {
        assert!(!self.closed, "handle closed");
        let method = code & 3;
        if method != 0 {
            return self.ioctl_unbuffered(code, input, output_len);
        }
        let access = (code >> 14) & 3;
        if (access & 1 != 0 && self.granted & se::FILE_READ_DATA == 0)
            || (access & 2 != 0 && self.granted & se::FILE_WRITE_DATA == 0)
        {
            return (STATUS_ACCESS_DENIED, Vec::new());
        }
        let length = input.len().max(output_len);
        let mut buffer = vec![crate::pool::UNINITIALIZED_FILL; length];
        buffer[..input.len()].copy_from_slice(input);
        let irp = IrpBox::new(IRP_MJ_DEVICE_CONTROL, self.device, &raw mut *self.file);
        // SAFETY: the IRP built above, ours until sent.
        let irp_ref = unsafe { &mut *irp.irp() };
        irp_ref.AssociatedIrp.SystemBuffer = if length == 0 {
            std::ptr::null_mut()
        } else {
            buffer.as_mut_ptr().cast()
        };
        // SAFETY: its stack location, likewise.
        let stack = unsafe { &mut *irp.stack() };
        // Clear the union, then fill the fields the model sets (see above).
        #[allow(
            clippy::default_trait_access,
            reason = "the union type's name is bindgen's, not portable"
        )]
        {
            stack.Parameters = Default::default();
        }
        stack.Parameters.DeviceIoControl.OutputBufferLength = u32::try_from(output_len).unwrap_or(u32::MAX);
        stack.Parameters.DeviceIoControl.InputBufferLength = u32::try_from(input.len()).unwrap_or(u32::MAX);
        stack.Parameters.DeviceIoControl.IoControlCode = code;
        let (status, information) = call_driver(self.device, &irp, IRP_MJ_DEVICE_CONTROL);
        if information > output_len {
            verifier::model_rule(
                ModelRule::IrpHandling,
                irp.irp() as u64,
                format!(
                    "IOCTL {code:#x} completed with Information {information} > output length {output_len}"
                ),
            );
        }
        // NT_ERROR statuses copy nothing back; success and warning statuses do.
        let output = if (status.cast_unsigned() >> 30) == 3 {
            Vec::new()
        } else {
            buffer[..information.min(output_len)].to_vec()
        };
        (status, output)
    }

    /// `DeviceIoControl` with `METHOD_IN_DIRECT`, `METHOD_OUT_DIRECT` or
    /// `METHOD_NEITHER` (kernel/buffer-descriptions-for-i-o-control-codes):
    /// * direct: `SystemBuffer` holds a copy of the input only
    ///   (`InputBufferLength` bytes; NULL without input); the output buffer
    ///   would be described by `MdlAddress`, which the model does not build
    ///   (it stays NULL, and no output is returned);
    /// * neither: `SystemBuffer` is not used (NULL);
    ///   `Parameters.DeviceIoControl.Type3InputBuffer` is the caller's input
    ///   buffer and `Irp->UserBuffer` its output buffer, both the caller's
    ///   own addresses; after completion `min(Information, output_len)`
    ///   bytes of the output buffer are returned for success and warning
    ///   statuses.
    ///
    /// Access checks as for `METHOD_BUFFERED`.
    fn ioctl_unbuffered(&mut self, code: u32, input: &[u8], output_len: usize) -> (NTSTATUS, Vec<u8>) {
        let neither = code & 3 == 3;
        let access = (code >> 14) & 3;
        if (access & 1 != 0 && self.granted & se::FILE_READ_DATA == 0)
            || (access & 2 != 0 && self.granted & se::FILE_WRITE_DATA == 0)
        {
            return (STATUS_ACCESS_DENIED, Vec::new());
        }
        let mut user_input = input.to_vec();
        let mut user_output = vec![crate::pool::UNINITIALIZED_FILL; output_len];
        let mut system_input = input.to_vec();
        let irp = IrpBox::new(IRP_MJ_DEVICE_CONTROL, self.device, &raw mut *self.file);
        // SAFETY: the IRP built above, ours until sent.
        let irp_ref = unsafe { &mut *irp.irp() };
        irp_ref.AssociatedIrp.SystemBuffer = if neither || input.is_empty() {
            std::ptr::null_mut()
        } else {
            system_input.as_mut_ptr().cast()
        };
        irp_ref.MdlAddress = std::ptr::null_mut();
        irp_ref.UserBuffer = if neither && output_len > 0 {
            user_output.as_mut_ptr().cast()
        } else {
            std::ptr::null_mut()
        };
        // SAFETY: its stack location, likewise.
        let stack = unsafe { &mut *irp.stack() };
        // SAFETY: every bit pattern of these integer and pointer fields is valid.
        let mut parameters = unsafe { stack.Parameters.DeviceIoControl };
        parameters.OutputBufferLength = u32::try_from(output_len).unwrap_or(u32::MAX);
        parameters.InputBufferLength = u32::try_from(input.len()).unwrap_or(u32::MAX);
        parameters.IoControlCode = code;
        parameters.Type3InputBuffer = if neither && !input.is_empty() {
            user_input.as_mut_ptr().cast()
        } else {
            std::ptr::null_mut()
        };
        stack.Parameters.DeviceIoControl = parameters;
        let (status, information) = call_driver(self.device, &irp, IRP_MJ_DEVICE_CONTROL);
        if information > output_len {
            verifier::model_rule(
                ModelRule::IrpHandling,
                irp.irp() as u64,
                format!(
                    "IOCTL {code:#x} completed with Information {information} > output length {output_len}"
                ),
            );
        }
        let output = if !neither || (status.cast_unsigned() >> 30) == 3 {
            Vec::new()
        } else {
            user_output[..information.min(output_len)].to_vec()
        };
        (status, output)
    }

    /// Closes the handle: `IRP_MJ_CLEANUP`, then `IRP_MJ_CLOSE`.
    pub fn close(mut self) {
        self.close_inner();
    }

    fn close_inner(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        for major in [IRP_MJ_CLEANUP, IRP_MJ_CLOSE] {
            let irp = IrpBox::new(major, self.device, &raw mut *self.file);
            let _ = call_driver(self.device, &irp, major);
        }
        let address = self.device as usize;
        with_io(|io| {
            if let Some(record) = io.devices.iter_mut().find(|d| d.memory == address) {
                record.handles = record.handles.saturating_sub(1);
            }
        });
    }
}

impl Drop for DeviceHandle {
    fn drop(&mut self) {
        self.close_inner();
    }
}

/// What a driver left in the I/O manager: devices not deleted, links not deleted.
pub(crate) fn leftovers(driver: PDRIVER_OBJECT) -> (Vec<DeviceInfo>, Vec<(String, String)>) {
    let devices = with_io(|io| {
        io.devices
            .iter()
            .filter(|d| !d.deleted && d.driver == driver as usize)
            .map(info)
            .collect()
    });
    (devices, symbolic_links())
}

/// Open handles to the driver's devices.
pub(crate) fn open_handle_count(driver: PDRIVER_OBJECT) -> u32 {
    with_io(|io| {
        io.devices
            .iter()
            .filter(|d| !d.deleted && d.driver == driver as usize)
            .map(|d| d.handles)
            .sum()
    })
}

/// Forgets devices, links and IRPs. Device memory is not freed (a previous
/// test's driver statics might still point to it).
pub(crate) fn reset() {
    *lock(&IO) = Some(Io::default());
}
