//! The registry's store: a tree of keys and values the test fills, and the
//! `Zw` routines drivers read it with (see [`crate::registry`]).

#![allow(non_snake_case)]

use std::collections::BTreeMap;
use std::sync::Mutex;

use wdk_sys::{
    _KEY_VALUE_INFORMATION_CLASS::{
        KeyValueBasicInformation, KeyValueFullInformation, KeyValuePartialInformation,
    },
    ACCESS_MASK, HANDLE, KEY_VALUE_INFORMATION_CLASS, NTSTATUS, PHANDLE, POBJECT_ATTRIBUTES, PULONG,
    PUNICODE_STRING, PVOID, STATUS_BUFFER_OVERFLOW, STATUS_BUFFER_TOO_SMALL, STATUS_INVALID_HANDLE,
    STATUS_INVALID_PARAMETER, STATUS_NO_MORE_ENTRIES, STATUS_OBJECT_NAME_NOT_FOUND,
    STATUS_OBJECT_TYPE_MISMATCH, STATUS_SUCCESS, ULONG,
};

use crate::thread::{HandleObject, handle_object, open_handle};
use crate::unicode::{self};
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
pub(super) struct Value {
    pub(super) name: String,
    value_type: u32,
    data: Vec<u8>,
}

#[derive(Clone, Debug, Default)]
pub(super) struct Key {
    pub(super) path: String,
    pub(super) values: Vec<Value>,
}

pub(super) static KEYS: Mutex<BTreeMap<String, Key>> = Mutex::new(BTreeMap::new());

pub(super) fn key_of(path: &str) -> String {
    path.trim_end_matches('\\').to_uppercase()
}

/// Creates `path` and its parents (no-op for existing keys).
pub fn create_key(path: &str) {
    let mut keys = lock(&KEYS);
    let mut current = String::new();
    for part in path.trim_end_matches('\\').split('\\').filter(|p| !p.is_empty()) {
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
    match key.values.iter_mut().find(|v| v.name.eq_ignore_ascii_case(name)) {
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

pub(super) fn find_value(path: &str, index: Option<usize>, name: Option<&str>) -> Option<Option<Value>> {
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
    ddi::unless_faulted!(ddi::enter(&ddi::ZW_OPEN_KEY));
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
    let name: Vec<u8> = value.name.encode_utf16().flat_map(u16::to_le_bytes).collect();
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
    ddi::unless_faulted!(ddi::enter(&ddi::ZW_ENUMERATE_VALUE_KEY));
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
    unsafe { deliver(&encoded, fixed, key_value_information, length, result_length) }
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
    ddi::unless_faulted!(ddi::enter(&ddi::ZW_QUERY_VALUE_KEY));
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
    unsafe { deliver(&encoded, fixed, key_value_information, length, result_length) }
}

/// One key as [`snapshot`] lists it: its path and its values (name, type, data).
pub type KeySnapshot = (String, Vec<(String, u32, Vec<u8>)>);

/// The keys under `path` (itself included) and their values, in key order
/// (what a test compares with and without a driver).
#[must_use]
pub fn snapshot(path: &str) -> Vec<KeySnapshot> {
    let upper = key_of(path);
    let prefix = format!("{upper}\\");
    lock(&KEYS)
        .iter()
        .filter(|(k, _)| **k == upper || k.starts_with(&prefix))
        .map(|(_, key)| {
            (
                key.path.clone(),
                key.values
                    .iter()
                    .map(|v| (v.name.clone(), v.value_type, v.data.clone()))
                    .collect(),
            )
        })
        .collect()
}
