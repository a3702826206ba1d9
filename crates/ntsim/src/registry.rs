//! The registry: a tree of keys and values the test fills, the `Zw` routines
//! drivers read it with, and registry filtering callbacks
//! (kernel-semantics.md §6).
//!
//! Reading (wdm/nf-wdm-zwopenkey, wdm/nf-wdm-zwenumeratevaluekey,
//! wdm/nf-wdm-zwqueryvaluekey): PASSIVE_LEVEL, rule IrqlZwPassive. A missing
//! key gives `STATUS_OBJECT_NAME_NOT_FOUND`. Enumeration past the last value
//! gives `STATUS_NO_MORE_ENTRIES`; a buffer smaller than the fixed part of
//! the information structure gives `STATUS_BUFFER_TOO_SMALL` (nothing
//! written), one that holds the fixed part but not all of it
//! `STATUS_BUFFER_OVERFLOW` (partial data written); `*ResultLength` is the
//! size needed in both cases. `KEY_VALUE_FULL_INFORMATION.DataOffset` points
//! right after the name ("the data immediately following the Name string").
//!
//! Callbacks:
//! * `CmRegisterCallbackEx` (wdm/nf-wdm-cmregistercallbackex): `<= APC_LEVEL`,
//!   rule IrqlExApcLte2; an altitude already registered by anyone gives
//!   `STATUS_FLT_INSTANCE_ALTITUDE_COLLISION`. A missing altitude is SILENT
//!   (`STATUS_INVALID_PARAMETER` chosen). The limit is SILENT (64 chosen,
//!   `STATUS_INSUFFICIENT_RESOURCES`).
//! * `CmRegisterCallback` (obsolete): same IRQL and rule; statuses unspecified
//!   (the model uses the Ex ones); such callbacks sit "near the top of the
//!   stack, in registration order" (above every altitude).
//! * `CmUnRegisterCallback`: an unknown cookie gives `STATUS_INVALID_PARAMETER`;
//!   it waits for running callbacks (calling it from the callback deadlocks).
//! * Notification (kernel/handling-notifications): highest altitude first;
//!   a pre-notification callback that returns an error blocks the operation
//!   (that status goes to the caller, lower callbacks and the post
//!   notification do not run); `STATUS_CALLBACK_BYPASS` on a pre
//!   notification completes it with `STATUS_SUCCESS` without doing it.
//!   Callbacks run at PASSIVE_LEVEL in the thread doing the operation.
//! * `CmCallbackGetKeyObjectID(Ex)`: `<= APC_LEVEL`; the key's full path
//!   and a unique id; the Ex name must be released with
//!   `CmCallbackReleaseKeyObjectIDEx`.

#![allow(non_snake_case)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use wdk_sys::{
    _KEY_VALUE_INFORMATION_CLASS::{
        KeyValueBasicInformation, KeyValueFullInformation, KeyValuePartialInformation,
    },
    ACCESS_MASK, HANDLE, KEY_VALUE_INFORMATION_CLASS, LARGE_INTEGER, NTSTATUS, PCUNICODE_STRING,
    PEX_CALLBACK_FUNCTION, PHANDLE, PLARGE_INTEGER, POBJECT_ATTRIBUTES, PULONG, PULONG_PTR,
    PUNICODE_STRING, PVOID, STATUS_BUFFER_OVERFLOW, STATUS_BUFFER_TOO_SMALL,
    STATUS_FLT_INSTANCE_ALTITUDE_COLLISION, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER, STATUS_NO_MORE_ENTRIES, STATUS_OBJECT_NAME_NOT_FOUND,
    STATUS_OBJECT_TYPE_MISMATCH, STATUS_SUCCESS, ULONG,
};

use crate::notify::Registry;
use crate::thread::{HandleObject, handle_object, open_handle};
use crate::unicode::{self, OwnedUnicode};
use crate::verifier::{self, ModelRule};
use crate::{ddi, sync::lock};

/// `REG_SZ`.
pub const REG_SZ: u32 = 1;
/// `REG_EXPAND_SZ`.
pub const REG_EXPAND_SZ: u32 = 2;
/// `REG_BINARY`.
pub const REG_BINARY: u32 = 3;
/// `REG_DWORD`.
pub const REG_DWORD: u32 = 4;
/// `REG_MULTI_SZ`.
pub const REG_MULTI_SZ: u32 = 7;
/// `REG_QWORD`.
pub const REG_QWORD: u32 = 11;
/// `STATUS_CALLBACK_BYPASS`.
pub const STATUS_CALLBACK_BYPASS: NTSTATUS = 0xC000_0503_u32.cast_signed();
/// Registry callbacks at most (SILENT in the docs; the model's choice).
pub const CALLBACK_LIMIT: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Value {
    name: String,
    value_type: u32,
    data: Vec<u8>,
}

#[derive(Clone, Debug, Default)]
struct Key {
    path: String,
    values: Vec<Value>,
}

static KEYS: Mutex<BTreeMap<String, Key>> = Mutex::new(BTreeMap::new());

fn key_of(path: &str) -> String {
    path.trim_end_matches('\\').to_uppercase()
}

/// Creates `path` and its parents (no-op for existing keys).
pub fn create_key(path: &str) {
    let mut keys = lock(&KEYS);
    let mut current = String::new();
    for part in path
        .trim_end_matches('\\')
        .split('\\')
        .filter(|p| !p.is_empty())
    {
        current.push('\\');
        current.push_str(part);
        keys.entry(key_of(&current)).or_insert_with(|| Key {
            path: current.clone(),
            values: Vec::new(),
        });
    }
}

/// Sets value `name` of key `path` (creating the key).
pub fn set_value(path: &str, name: &str, value_type: u32, data: &[u8]) {
    create_key(path);
    let mut keys = lock(&KEYS);
    let Some(key) = keys.get_mut(&key_of(path)) else {
        return;
    };
    let value = Value {
        name: name.to_owned(),
        value_type,
        data: data.to_vec(),
    };
    match key
        .values
        .iter_mut()
        .find(|v| v.name.eq_ignore_ascii_case(name))
    {
        Some(existing) => *existing = value,
        None => key.values.push(value),
    }
}

/// Sets a `REG_DWORD`.
pub fn set_dword(path: &str, name: &str, value: u32) {
    set_value(path, name, REG_DWORD, &value.to_le_bytes());
}

/// Sets a `REG_SZ` (stored NUL-terminated, as the registry does).
pub fn set_string(path: &str, name: &str, value: &str) {
    let mut bytes: Vec<u8> = value.encode_utf16().flat_map(u16::to_le_bytes).collect();
    bytes.extend_from_slice(&[0, 0]);
    set_value(path, name, REG_SZ, &bytes);
}

/// Sets a `REG_MULTI_SZ`.
pub fn set_multi_string(path: &str, name: &str, values: &[&str]) {
    let mut bytes = Vec::new();
    for value in values {
        bytes.extend(value.encode_utf16().flat_map(u16::to_le_bytes));
        bytes.extend_from_slice(&[0, 0]);
    }
    bytes.extend_from_slice(&[0, 0]);
    set_value(path, name, REG_MULTI_SZ, &bytes);
}

/// Deletes key `path` (and its subkeys).
pub fn delete_key(path: &str) {
    let prefix = format!("{}\\", key_of(path));
    lock(&KEYS).retain(|k, _| *k != key_of(path) && !k.starts_with(&prefix));
}

/// Whether key `path` exists.
#[must_use]
pub fn key_exists(path: &str) -> bool {
    lock(&KEYS).contains_key(&key_of(path))
}

/// The values of key `path`: (name, type, data).
#[must_use]
pub fn values(path: &str) -> Vec<(String, u32, Vec<u8>)> {
    lock(&KEYS)
        .get(&key_of(path))
        .map(|k| {
            k.values
                .iter()
                .map(|v| (v.name.clone(), v.value_type, v.data.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn find_value(path: &str, index: Option<usize>, name: Option<&str>) -> Option<Option<Value>> {
    let keys = lock(&KEYS);
    let key = keys.get(&key_of(path))?;
    Some(match (index, name) {
        (Some(i), _) => key.values.get(i).cloned(),
        (None, Some(n)) => key
            .values
            .iter()
            .find(|v| v.name.eq_ignore_ascii_case(n))
            .cloned(),
        (None, None) => None,
    })
}

/// Resolves ObjectAttributes to a key path (`RootDirectory` may be a key handle).
///
/// # Safety
/// `attributes` is a valid `OBJECT_ATTRIBUTES`.
unsafe fn attributes_path(attributes: POBJECT_ATTRIBUTES) -> Result<String, NTSTATUS> {
    if attributes.is_null() {
        return Err(STATUS_INVALID_PARAMETER);
    }
    // SAFETY: valid per the caller.
    let attributes = unsafe { &*attributes };
    // SAFETY: ObjectName is null or valid per the caller.
    let name = unsafe { unicode::read(attributes.ObjectName) }.ok_or(STATUS_INVALID_PARAMETER)?;
    if attributes.RootDirectory.is_null() {
        return Ok(name);
    }
    match handle_object(attributes.RootDirectory) {
        Some(HandleObject::Key(root)) => Ok(format!("{root}\\{name}")),
        Some(_) => Err(STATUS_OBJECT_TYPE_MISMATCH),
        None => Err(STATUS_INVALID_HANDLE),
    }
}

/// `ZwOpenKey` (wdm/nf-wdm-zwopenkey): PASSIVE_LEVEL, rule IrqlZwPassive.
///
/// # Safety
/// `key_handle` is writable; `object_attributes` is valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ZwOpenKey(
    key_handle: PHANDLE,
    _desired_access: ACCESS_MASK,
    object_attributes: POBJECT_ATTRIBUTES,
) -> NTSTATUS {
    let entry = ddi::enter(&ddi::ZW_OPEN_KEY);
    if let Some(status) = entry.fault {
        return status;
    }
    if key_handle.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: valid per the caller.
    let path = match unsafe { attributes_path(object_attributes) } {
        Ok(path) => path,
        Err(status) => return status,
    };
    let Some(canonical) = lock(&KEYS).get(&key_of(&path)).map(|k| k.path.clone()) else {
        return STATUS_OBJECT_NAME_NOT_FOUND;
    };
    // SAFETY: writable per the caller.
    unsafe { key_handle.write(open_handle(HandleObject::Key(canonical))) };
    STATUS_SUCCESS
}

fn key_path_of(handle: HANDLE) -> Result<String, NTSTATUS> {
    match handle_object(handle) {
        Some(HandleObject::Key(path)) => Ok(path),
        Some(_) => Err(STATUS_OBJECT_TYPE_MISMATCH),
        None => Err(STATUS_INVALID_HANDLE),
    }
}

/// Encodes `value` as the requested information class; `None` for an unknown class.
fn encode(value: &Value, class: KEY_VALUE_INFORMATION_CLASS) -> Option<(Vec<u8>, usize)> {
    let name: Vec<u8> = value
        .name
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let name_len = u32::try_from(name.len()).unwrap_or(u32::MAX);
    let data_len = u32::try_from(value.data.len()).unwrap_or(u32::MAX);
    let mut bytes = Vec::new();
    let fixed;
    if class == KeyValueBasicInformation {
        // TitleIndex, Type, NameLength, Name[]
        for field in [0, value.value_type, name_len] {
            bytes.extend_from_slice(&field.to_le_bytes());
        }
        fixed = bytes.len();
        bytes.extend_from_slice(&name);
    } else if class == KeyValueFullInformation {
        // TitleIndex, Type, DataOffset, DataLength, NameLength, Name[], data
        let data_offset = 20 + name_len;
        for field in [0, value.value_type, data_offset, data_len, name_len] {
            bytes.extend_from_slice(&field.to_le_bytes());
        }
        fixed = bytes.len();
        bytes.extend_from_slice(&name);
        bytes.extend_from_slice(&value.data);
    } else if class == KeyValuePartialInformation {
        // TitleIndex, Type, DataLength, Data[]
        for field in [0, value.value_type, data_len] {
            bytes.extend_from_slice(&field.to_le_bytes());
        }
        fixed = bytes.len();
        bytes.extend_from_slice(&value.data);
    } else {
        return None;
    }
    Some((bytes, fixed))
}

/// Copies an encoded value into the caller's buffer with the documented statuses.
///
/// # Safety
/// `buffer` is writable for `length` bytes; `result_length` is writable.
unsafe fn deliver(
    encoded: &[u8],
    fixed: usize,
    buffer: PVOID,
    length: ULONG,
    result_length: PULONG,
) -> NTSTATUS {
    let needed = u32::try_from(encoded.len()).unwrap_or(u32::MAX);
    if !result_length.is_null() {
        // SAFETY: writable per the caller.
        unsafe { result_length.write(needed) };
    }
    let length = length as usize;
    if length < fixed || buffer.is_null() {
        return STATUS_BUFFER_TOO_SMALL;
    }
    let copied = encoded.len().min(length);
    // SAFETY: `copied <= length` bytes into the caller's writable buffer.
    unsafe { std::ptr::copy_nonoverlapping(encoded.as_ptr(), buffer.cast::<u8>(), copied) };
    if copied < encoded.len() {
        STATUS_BUFFER_OVERFLOW
    } else {
        STATUS_SUCCESS
    }
}

/// `ZwEnumerateValueKey` (wdm/nf-wdm-zwenumeratevaluekey): PASSIVE_LEVEL,
/// rule IrqlZwPassive. Classes Basic, Full and Partial are modeled; others
/// give `STATUS_INVALID_PARAMETER`.
///
/// # Safety
/// `key_value_information` is writable for `length` bytes; `result_length` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ZwEnumerateValueKey(
    key_handle: HANDLE,
    index: ULONG,
    key_value_information_class: KEY_VALUE_INFORMATION_CLASS,
    key_value_information: PVOID,
    length: ULONG,
    result_length: PULONG,
) -> NTSTATUS {
    let entry = ddi::enter(&ddi::ZW_ENUMERATE_VALUE_KEY);
    if let Some(status) = entry.fault {
        return status;
    }
    let path = match key_path_of(key_handle) {
        Ok(path) => path,
        Err(status) => return status,
    };
    let Some(found) = find_value(&path, Some(index as usize), None) else {
        return STATUS_OBJECT_NAME_NOT_FOUND;
    };
    let Some(value) = found else {
        return STATUS_NO_MORE_ENTRIES;
    };
    let Some((encoded, fixed)) = encode(&value, key_value_information_class) else {
        return STATUS_INVALID_PARAMETER;
    };
    // SAFETY: forwarded from the caller.
    unsafe {
        deliver(
            &encoded,
            fixed,
            key_value_information,
            length,
            result_length,
        )
    }
}

/// `ZwQueryValueKey` (wdm/nf-wdm-zwqueryvaluekey): PASSIVE_LEVEL, rule
/// IrqlZwPassive; a missing value gives `STATUS_OBJECT_NAME_NOT_FOUND`.
///
/// # Safety
/// As [`ZwEnumerateValueKey`]; `value_name` is a valid `UNICODE_STRING`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ZwQueryValueKey(
    key_handle: HANDLE,
    value_name: PUNICODE_STRING,
    key_value_information_class: KEY_VALUE_INFORMATION_CLASS,
    key_value_information: PVOID,
    length: ULONG,
    result_length: PULONG,
) -> NTSTATUS {
    let entry = ddi::enter(&ddi::ZW_QUERY_VALUE_KEY);
    if let Some(status) = entry.fault {
        return status;
    }
    let path = match key_path_of(key_handle) {
        Ok(path) => path,
        Err(status) => return status,
    };
    // SAFETY: valid per the caller.
    let name = unsafe { unicode::read(value_name) }.unwrap_or_default();
    let Some(Some(value)) = find_value(&path, None, Some(&name)) else {
        return STATUS_OBJECT_NAME_NOT_FOUND;
    };
    let Some((encoded, fixed)) = encode(&value, key_value_information_class) else {
        return STATUS_INVALID_PARAMETER;
    };
    // SAFETY: forwarded from the caller.
    unsafe {
        deliver(
            &encoded,
            fixed,
            key_value_information,
            length,
            result_length,
        )
    }
}

// --- Registry callbacks -------------------------------------------------------

pub(crate) static CALLBACKS: Registry = Registry::new("registry callback");

#[derive(Clone, Debug)]
struct CmRegistration {
    slot: u64,
    cookie: i64,
    function: usize,
    context: usize,
    altitude: Option<String>,
}

/// A key object as registry callbacks see it (opaque to them; passed to
/// `CmCallbackGetKeyObjectID*`).
#[repr(C)]
struct KeyObject {
    signature: u32,
    id: u64,
}

#[derive(Default)]
struct CmState {
    registrations: Vec<CmRegistration>,
    next_cookie: i64,
    key_objects: HashMap<String, Box<KeyObject>>,
    names: HashMap<usize, Box<OwnedUnicode>>,
}

static CM: Mutex<Option<CmState>> = Mutex::new(None);

fn with_cm<R>(f: impl FnOnce(&mut CmState) -> R) -> R {
    let mut guard = lock(&CM);
    f(guard.get_or_insert_with(CmState::default))
}

/// The registered registry callbacks: (function, altitude), in call order.
#[must_use]
pub fn callbacks() -> Vec<(usize, Option<String>)> {
    ordered()
        .into_iter()
        .map(|r| (r.function, r.altitude))
        .collect()
}

/// Registrations in call order: legacy ones first (registration order),
/// then by altitude, highest first. Altitudes compare as decimal numbers
/// where they parse, else as text.
fn ordered() -> Vec<CmRegistration> {
    let mut list = with_cm(|cm| cm.registrations.clone());
    let number = |a: &Option<String>| {
        a.as_deref()
            .and_then(|a| a.parse::<f64>().ok())
            .unwrap_or(f64::MAX)
    };
    list.sort_by(|a, b| match (&a.altitude, &b.altitude) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, Some(_)) => std::cmp::Ordering::Less,
        (Some(_), None) => std::cmp::Ordering::Greater,
        (Some(_), Some(_)) => number(&b.altitude).total_cmp(&number(&a.altitude)),
    });
    list
}

fn register(
    function: PEX_CALLBACK_FUNCTION,
    context: PVOID,
    cookie: PLARGE_INTEGER,
    altitude: Option<String>,
) -> NTSTATUS {
    let Some(function) = function else {
        return STATUS_INVALID_PARAMETER;
    };
    if cookie.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    let result = with_cm(|cm| {
        if cm.registrations.len() >= CALLBACK_LIMIT {
            return Err(STATUS_INSUFFICIENT_RESOURCES);
        }
        if let Some(altitude) = &altitude
            && cm
                .registrations
                .iter()
                .any(|r| r.altitude.as_deref() == Some(altitude.as_str()))
        {
            return Err(STATUS_FLT_INSTANCE_ALTITUDE_COLLISION);
        }
        cm.next_cookie += 1;
        let value = 0x0100_0000_i64 + cm.next_cookie;
        let slot = CALLBACKS.add(function as usize, u32::from(altitude.is_some()), 0);
        cm.registrations.push(CmRegistration {
            slot,
            cookie: value,
            function: function as usize,
            context: context as usize,
            altitude,
        });
        Ok(value)
    });
    match result {
        Ok(value) => {
            // SAFETY: writable per the caller (checked non-null).
            unsafe { cookie.write(LARGE_INTEGER { QuadPart: value }) };
            STATUS_SUCCESS
        }
        Err(status) => status,
    }
}

/// `CmRegisterCallback` (wdm/nf-wdm-cmregistercallback): `<= APC_LEVEL`, rule IrqlExApcLte2.
///
/// # Safety
/// `function` stays callable until unregistered; `cookie` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CmRegisterCallback(
    function: PEX_CALLBACK_FUNCTION,
    context: PVOID,
    cookie: PLARGE_INTEGER,
) -> NTSTATUS {
    let entry = ddi::enter(&ddi::CM_REGISTER_CALLBACK);
    if let Some(status) = entry.fault {
        return status;
    }
    register(function, context, cookie, None)
}

/// `CmRegisterCallbackEx` (wdm/nf-wdm-cmregistercallbackex): `<= APC_LEVEL`, rule IrqlExApcLte2.
///
/// # Safety
/// `function` stays callable until unregistered; `altitude` is a valid
/// `UNICODE_STRING`; `cookie` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CmRegisterCallbackEx(
    function: PEX_CALLBACK_FUNCTION,
    altitude: PCUNICODE_STRING,
    _driver: PVOID,
    context: PVOID,
    cookie: PLARGE_INTEGER,
    _reserved: PVOID,
) -> NTSTATUS {
    let entry = ddi::enter(&ddi::CM_REGISTER_CALLBACK_EX);
    if let Some(status) = entry.fault {
        return status;
    }
    // SAFETY: valid per the caller.
    let Some(altitude) = (unsafe { unicode::read(altitude) }).filter(|a| !a.is_empty()) else {
        return STATUS_INVALID_PARAMETER;
    };
    register(function, context, cookie, Some(altitude))
}

/// `CmUnRegisterCallback` (wdm/nf-wdm-cmunregistercallback): `<= APC_LEVEL`,
/// rule IrqlExApcLte2; waits for running callbacks.
///
/// # Safety
/// None beyond the C ABI.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CmUnRegisterCallback(cookie: LARGE_INTEGER) -> NTSTATUS {
    let entry = ddi::enter(&ddi::CM_UNREGISTER_CALLBACK);
    if let Some(status) = entry.fault {
        return status;
    }
    // SAFETY: every bit pattern of the union is a valid i64.
    let value = unsafe { cookie.QuadPart };
    let Some(slot) = with_cm(|cm| {
        let position = cm.registrations.iter().position(|r| r.cookie == value)?;
        Some(cm.registrations.remove(position).slot)
    }) else {
        return STATUS_INVALID_PARAMETER;
    };
    CALLBACKS.remove("CmUnRegisterCallback", true, |s| s.id == slot);
    STATUS_SUCCESS
}

fn key_object(path: &str) -> PVOID {
    with_cm(|cm| {
        let next = u64::try_from(cm.key_objects.len()).unwrap_or(0) + 1;
        let object = cm.key_objects.entry(key_of(path)).or_insert_with(|| {
            Box::new(KeyObject {
                signature: u32::from_le_bytes(*b"Key "),
                id: next,
            })
        });
        std::ptr::from_mut::<KeyObject>(object).cast()
    })
}

fn key_object_path(object: PVOID) -> Option<String> {
    let upper = with_cm(|cm| {
        cm.key_objects
            .iter()
            .find(|(_, o)| {
                std::ptr::from_ref::<KeyObject>(o).cast::<std::ffi::c_void>() == object.cast_const()
            })
            .map(|(k, _)| k.clone())
    })?;
    Some(lock(&KEYS).get(&upper).map_or(upper, |k| k.path.clone()))
}

fn get_key_object_id(
    ddi_name: &str,
    cookie: PLARGE_INTEGER,
    object: PVOID,
    object_id: PULONG_PTR,
    object_name: *mut PCUNICODE_STRING,
) -> NTSTATUS {
    if cookie.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: readable per the caller.
    let cookie = unsafe { &*cookie };
    // SAFETY: every bit pattern of the union is a valid i64.
    let value = unsafe { cookie.QuadPart };
    if !with_cm(|cm| cm.registrations.iter().any(|r| r.cookie == value)) {
        return STATUS_INVALID_PARAMETER;
    }
    let Some(path) = key_object_path(object) else {
        verifier::model_rule(
            ModelRule::UnknownObject,
            object as u64,
            format!("{ddi_name}({object:p}): not a key object"),
        );
        return STATUS_INVALID_PARAMETER;
    };
    if !object_id.is_null() {
        // SAFETY: writable per the caller.
        unsafe { object_id.write(object as u64) };
    }
    if !object_name.is_null() {
        let mut name = Box::new(OwnedUnicode::new(&path));
        let pointer = name.as_ptr().cast_const();
        with_cm(|cm| cm.names.insert(pointer as usize, name));
        // SAFETY: writable per the caller.
        unsafe { object_name.write(pointer) };
    }
    STATUS_SUCCESS
}

/// `CmCallbackGetKeyObjectID` (wdm/nf-wdm-cmcallbackgetkeyobjectid): the
/// name belongs to the system (no release).
///
/// # Safety
/// `cookie` is the caller's registration cookie; `object` a key object from a notification.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CmCallbackGetKeyObjectID(
    cookie: PLARGE_INTEGER,
    object: PVOID,
    object_id: PULONG_PTR,
    object_name: *mut PCUNICODE_STRING,
) -> NTSTATUS {
    ddi::enter(&ddi::CM_CALLBACK_GET_KEY_OBJECT_ID);
    get_key_object_id(
        "CmCallbackGetKeyObjectID",
        cookie,
        object,
        object_id,
        object_name,
    )
}

/// `CmCallbackGetKeyObjectIDEx` (wdm/nf-wdm-cmcallbackgetkeyobjectidex,
/// Windows 8): `<= APC_LEVEL`. `Flags` must be 0.
///
/// # Safety
/// As [`CmCallbackGetKeyObjectID`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CmCallbackGetKeyObjectIDEx(
    cookie: PLARGE_INTEGER,
    object: PVOID,
    object_id: PULONG_PTR,
    object_name: *mut PCUNICODE_STRING,
    flags: ULONG,
) -> NTSTATUS {
    ddi::enter(&ddi::CM_CALLBACK_GET_KEY_OBJECT_ID_EX);
    if flags != 0 {
        return STATUS_INVALID_PARAMETER;
    }
    get_key_object_id(
        "CmCallbackGetKeyObjectIDEx",
        cookie,
        object,
        object_id,
        object_name,
    )
}

/// `CmCallbackReleaseKeyObjectIDEx` (wdm/nf-wdm-cmcallbackreleasekeyobjectidex):
/// releases a name `CmCallbackGetKeyObjectIDEx` returned (once: a second
/// release or an unknown name is an NSIM violation).
///
/// # Safety
/// `object_name` came from `CmCallbackGetKeyObjectIDEx`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CmCallbackReleaseKeyObjectIDEx(object_name: PCUNICODE_STRING) {
    ddi::enter(&ddi::CM_CALLBACK_RELEASE_KEY_OBJECT_ID_EX);
    if with_cm(|cm| cm.names.remove(&(object_name as usize))).is_none() {
        verifier::model_rule(
            ModelRule::DoubleRelease,
            object_name as u64,
            format!(
                "CmCallbackReleaseKeyObjectIDEx({object_name:p}): not a name CmCallbackGetKeyObjectIDEx returned (or released twice)"
            ),
        );
    }
}

/// Names returned by `CmCallbackGetKeyObjectIDEx` and not released.
#[must_use]
pub fn unreleased_names() -> usize {
    with_cm(|cm| cm.names.len())
}

/// Runs the registry callbacks for one notification class in call order at
/// PASSIVE_LEVEL; stops at the first pre-notification error. Returns
/// (status, whether to go on with the operation).
pub(crate) fn notify(class: u32, information: PVOID, pre: bool) -> NTSTATUS {
    for registration in ordered() {
        // SAFETY: the function was registered as a PEX_CALLBACK_FUNCTION.
        let function =
            unsafe { std::mem::transmute::<usize, PEX_CALLBACK_FUNCTION>(registration.function) };
        let Some(function) = function else { continue };
        let status = CALLBACKS
            .invoke(registration.slot, || {
                // SAFETY: a registered callback with its context and the
                // notification's documented arguments.
                unsafe {
                    function(
                        registration.context as PVOID,
                        class as usize as PVOID,
                        information,
                    )
                }
            })
            .unwrap_or(STATUS_SUCCESS);
        if pre && status < 0 {
            return status;
        }
    }
    STATUS_SUCCESS
}

/// The key object registry callbacks see for key `path`.
pub(crate) fn object_for(path: &str) -> PVOID {
    key_object(path)
}

pub(crate) fn reset() {
    lock(&KEYS).clear();
    CALLBACKS.reset();
    let old = lock(&CM).take();
    std::mem::forget(old);
    for root in [
        "\\Registry\\Machine\\System\\CurrentControlSet\\Services",
        "\\Registry\\Machine\\Software",
        "\\Registry\\User",
    ] {
        create_key(root);
    }
}
