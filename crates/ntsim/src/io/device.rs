//! The I/O manager's device store: device objects, their names and
//! security descriptors, symbolic links, and the live IRPs (see
//! [`crate::io`] for the documented behaviour).

#![allow(non_snake_case)]

use std::alloc::Layout;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use wdk_sys::{
    BOOLEAN, DEVICE_OBJECT, DO_DEVICE_HAS_NAME, DO_DEVICE_INITIALIZING, DO_EXCLUSIVE, IO_TYPE_DEVICE,
    NTSTATUS, PDEVICE_OBJECT, PDRIVER_OBJECT, PUNICODE_STRING, STATUS_INSUFFICIENT_RESOURCES,
    STATUS_INVALID_PARAMETER, STATUS_OBJECT_NAME_INVALID, STATUS_OBJECT_TYPE_MISMATCH, STATUS_SUCCESS,
};

use crate::se::{self, Ace, SecurityDescriptor, Sid};
use crate::unicode::{self};
use crate::verifier::{self, ModelRule};
use crate::{ddi, ob, sync::lock};

pub(super) struct DeviceRecord {
    pub(super) memory: usize,
    name: Option<String>,
    driver: usize,
    pub(super) deleted: bool,
    pub(super) security: Option<Box<[u8]>>,
    pub(super) handles: u32,
}

struct LinkRecord {
    name: String,
    target: String,
}

#[derive(Default)]
pub(super) struct Io {
    pub(super) devices: Vec<DeviceRecord>,
    /// Links created through `IoCreateSymbolicLink`, by canonical path.
    links: BTreeMap<String, LinkRecord>,
    /// Live IRPs and how often each was completed.
    pub(super) irps: HashMap<usize, u32>,
}

static IO: Mutex<Option<Io>> = Mutex::new(None);

pub(super) fn with_io<R>(f: impl FnOnce(&mut Io) -> R) -> R {
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

/// Replaces the security descriptor of the live device at `address` with
/// what `update` makes of the current one (its self-relative bytes, if it
/// has one). Returns `false` if no live device is at `address`.
pub fn update_security(address: usize, update: impl FnOnce(Option<&[u8]>) -> Vec<u8>) -> bool {
    with_io(|io| {
        let Some(record) = io.devices.iter_mut().find(|d| d.memory == address && !d.deleted) else {
            return false;
        };
        let bytes = update(record.security.as_deref());
        store_security(record, bytes);
        true
    })
}

/// Whether a live (not deleted) device object is at `address`.
pub fn is_live_device(address: usize) -> bool {
    with_io(|io| io.devices.iter().any(|d| d.memory == address && !d.deleted))
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
    ddi::unless_faulted!(ddi::enter(&ddi::IO_CREATE_DEVICE));
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
pub unsafe fn create_device(
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
    ddi::unless_faulted!(ddi::enter(&ddi::IO_CREATE_SYMBOLIC_LINK));
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
    ddi::unless_faulted!(ddi::enter(&ddi::IO_DELETE_SYMBOLIC_LINK));
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

/// What a driver left in the I/O manager: devices not deleted, links not deleted.
pub fn leftovers(driver: PDRIVER_OBJECT) -> (Vec<DeviceInfo>, Vec<(String, String)>) {
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
pub fn open_handle_count(driver: PDRIVER_OBJECT) -> u32 {
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
pub fn reset() {
    *lock(&IO) = Some(Io::default());
}
