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
//!   Before it returns, the callback gets `RegNtCallbackObjectContextCleanup`
//!   for every key object it set a context on with
//!   `CmSetCallbackObjectContext` (wdm/ns-wdm-_reg_callback_context_cleanup_information).
//! * Notification (kernel/handling-notifications): highest altitude first;
//!   a pre-notification callback that returns an error blocks the operation
//!   (that status goes to the caller, lower callbacks and the post
//!   notification do not run); `STATUS_CALLBACK_BYPASS` on a pre
//!   notification completes it with `STATUS_SUCCESS` without doing it.
//!   Callbacks run at PASSIVE_LEVEL in the thread doing the operation.
//! * `CmCallbackGetKeyObjectID(Ex)`: `<= APC_LEVEL`; the key's full path
//!   and a unique id; the Ex name must be released with
//!   `CmCallbackReleaseKeyObjectIDEx` (the model counts outstanding names,
//!   [`unreleased_names`], and records an NSIM `HandleLeakedAtUnload` when
//!   a registration is removed, normally at unload, with names of it still
//!   held). The names are model memory, not pool: they never count as the
//!   caller's pool allocations. Passing a key object whose reference count
//!   is 0 (close and context-cleanup notifications,
//!   kernel/invalid-key-object-pointers-in-registry-notifications) or the
//!   `Object` of a post notification whose `Status` is not
//!   `STATUS_SUCCESS` (wdm/ns-wdm-_reg_post_operation_information) is an
//!   NSIM `InvalidParameter` violation.
//! * [`RegistryOperation`]: every `REG_NOTIFY_CLASS` 0-50 with its
//!   documented information structure (see [`KeyOperation`]); post
//!   notifications of failed operations carry an invalid `Object`; a post
//!   callback returning `STATUS_CALLBACK_BYPASS` makes `ReturnStatus` the
//!   caller's status.

#![allow(non_snake_case)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use wdk_sys::{
    _KEY_VALUE_INFORMATION_CLASS::{
        KeyValueBasicInformation, KeyValueFullInformation, KeyValuePartialInformation,
    },
    ACCESS_MASK, HANDLE, KEY_VALUE_INFORMATION_CLASS, LARGE_INTEGER, NTSTATUS, PCUNICODE_STRING,
    PEX_CALLBACK_FUNCTION, PHANDLE, PLARGE_INTEGER, POBJECT_ATTRIBUTES, PULONG, PULONG_PTR, PUNICODE_STRING,
    PVOID, STATUS_BUFFER_OVERFLOW, STATUS_BUFFER_TOO_SMALL, STATUS_FLT_INSTANCE_ALTITUDE_COLLISION,
    STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_HANDLE, STATUS_INVALID_PARAMETER, STATUS_NO_MORE_ENTRIES,
    STATUS_OBJECT_NAME_NOT_FOUND, STATUS_OBJECT_TYPE_MISMATCH, STATUS_SUCCESS, ULONG,
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
    unsafe { deliver(&encoded, fixed, key_value_information, length, result_length) }
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
    /// The path each key object was made for (kept when the key is
    /// deleted or renamed: the object outlives the name).
    object_paths: HashMap<usize, String>,
    /// Names `CmCallbackGetKeyObjectIDEx` returned and the caller has not
    /// released yet, with the cookie they were asked for.
    names: HashMap<usize, (Box<OwnedUnicode>, i64)>,
    /// Names the legacy `CmCallbackGetKeyObjectID` returned: owned by the
    /// system, never released by drivers.
    #[allow(
        clippy::vec_box,
        reason = "each name's address is handed out and must not move"
    )]
    system_names: Vec<Box<OwnedUnicode>>,
    /// Key objects whose reference count is 0 right now (inside a close or
    /// context-cleanup notification).
    closing: HashSet<usize>,
    /// Contexts `CmSetCallbackObjectContext` associated: (cookie, key
    /// object, context), in the order they were first set.
    object_contexts: Vec<(i64, usize, usize)>,
}

static CM: Mutex<Option<CmState>> = Mutex::new(None);

fn with_cm<R>(f: impl FnOnce(&mut CmState) -> R) -> R {
    let mut guard = lock(&CM);
    f(guard.get_or_insert_with(CmState::default))
}

/// The registered registry callbacks: (function, altitude), in call order.
#[must_use]
pub fn callbacks() -> Vec<(usize, Option<String>)> {
    ordered().into_iter().map(|r| (r.function, r.altitude)).collect()
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
    let Some(registration) = with_cm(|cm| cm.registrations.iter().find(|r| r.cookie == value).cloned())
    else {
        return STATUS_INVALID_PARAMETER;
    };
    clean_up_object_contexts(&registration);
    let Some((slot, held)) = with_cm(|cm| {
        let position = cm.registrations.iter().position(|r| r.cookie == value)?;
        let held = cm.names.values().filter(|(_, c)| *c == value).count();
        Some((cm.registrations.remove(position).slot, held))
    }) else {
        return STATUS_INVALID_PARAMETER;
    };
    CALLBACKS.remove("CmUnRegisterCallback", true, |s| s.id == slot);
    if held > 0 {
        // The names are the system's pool, allocated for this registration
        // (wdm/nf-wdm-cmcallbackreleasekeyobjectidex: the caller frees them);
        // the driver removes its registration at unload, so this is the
        // unload-time leak check of the names.
        verifier::model_rule(
            ModelRule::HandleLeakedAtUnload,
            held as u64,
            format!(
                "CmUnRegisterCallback: {held} name(s) from CmCallbackGetKeyObjectIDEx for this registration were never released with CmCallbackReleaseKeyObjectIDEx"
            ),
        );
    }
    STATUS_SUCCESS
}

/// Sends `RegNtCallbackObjectContextCleanup` (40) to `registration`'s
/// callback for every key object it associated a context with, as
/// `CmUnRegisterCallback` does before it returns
/// (wdm/ns-wdm-_reg_callback_context_cleanup_information: "the
/// configuration manager ... sends this notification ... when the driver
/// calls CmUnRegisterCallback" for each object context it set), with a
/// `REG_CALLBACK_CONTEXT_CLEANUP_INFORMATION` whose `Object` has a
/// reference count of 0 (kernel/invalid-key-object-pointers-in-registry-notifications)
/// and whose `ObjectContext` is the context. Only that callback is told
/// (the context is its own). Its return value is ignored (there is no
/// operation to block).
fn clean_up_object_contexts(registration: &CmRegistration) {
    let contexts: Vec<(usize, usize)> = with_cm(|cm| {
        let (mine, others) = std::mem::take(&mut cm.object_contexts)
            .into_iter()
            .partition(|(cookie, ..)| *cookie == registration.cookie);
        cm.object_contexts = others;
        mine.into_iter()
            .map(|(_, object, context)| (object, context))
            .collect()
    });
    // SAFETY: the function was registered as a PEX_CALLBACK_FUNCTION.
    let function = unsafe { std::mem::transmute::<usize, PEX_CALLBACK_FUNCTION>(registration.function) };
    let Some(function) = function else { return };
    for (object, context) in contexts {
        let mut information = wdk_sys::REG_CALLBACK_CONTEXT_CLEANUP_INFORMATION {
            Object: object as PVOID,
            ObjectContext: context as PVOID,
            Reserved: std::ptr::null_mut(),
        };
        with_cm(|cm| cm.closing.insert(object));
        let _ = crate::ps::invoke(&CALLBACKS, registration.slot, registration.function, || {
            // SAFETY: a registered callback with its context and a cleanup
            // structure valid for the call.
            unsafe {
                function(
                    registration.context as PVOID,
                    CONTEXT_CLEANUP_CLASS as usize as PVOID,
                    (&raw mut information).cast(),
                )
            }
        });
        with_cm(|cm| cm.closing.remove(&object));
    }
}

/// `RegNtCallbackObjectContextCleanup`.
const CONTEXT_CLEANUP_CLASS: u32 = 40;

/// `CmSetCallbackObjectContext` (wdm/nf-wdm-cmsetcallbackobjectcontext): `<= APC_LEVEL`.
///
/// Associates `new_context` with key object `object` for the registration
/// `cookie` and returns the previous one in
/// `*old_context` (optional; NULL if there was none). An unknown object or
/// cookie: `STATUS_INVALID_PARAMETER` (the page lists only "an NTSTATUS
/// error"; the model's choice). The context is handed back with
/// `RegNtCallbackObjectContextCleanup` when the registration is removed.
///
/// # Safety
/// `cookie` is readable; `old_context` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn CmSetCallbackObjectContext(
    object: PVOID,
    cookie: PLARGE_INTEGER,
    new_context: PVOID,
    old_context: *mut PVOID,
) -> NTSTATUS {
    let entry = ddi::enter(&ddi::CM_SET_CALLBACK_OBJECT_CONTEXT);
    if let Some(status) = entry.fault {
        return status;
    }
    if cookie.is_null() || key_object_path(object).is_none() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: readable per the caller.
    let cookie = unsafe { cookie.read_unaligned() };
    // SAFETY: every bit pattern of the union is a valid i64.
    let value = unsafe { cookie.QuadPart };
    let previous = with_cm(|cm| {
        if !cm.registrations.iter().any(|r| r.cookie == value) {
            return None;
        }
        let address = object as usize;
        let found = cm
            .object_contexts
            .iter_mut()
            .find(|(c, o, _)| *c == value && *o == address);
        if let Some(entry) = found {
            return Some(std::mem::replace(&mut entry.2, new_context as usize));
        }
        cm.object_contexts.push((value, address, new_context as usize));
        Some(0)
    });
    let Some(previous) = previous else {
        return STATUS_INVALID_PARAMETER;
    };
    if !old_context.is_null() {
        // SAFETY: writable per the caller.
        unsafe { old_context.write(previous as PVOID) };
    }
    STATUS_SUCCESS
}

/// The object contexts set through `CmSetCallbackObjectContext` and not yet
/// cleaned up: (cookie, key object, context).
#[must_use]
pub fn object_contexts() -> Vec<(i64, usize, usize)> {
    with_cm(|cm| cm.object_contexts.clone())
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
        let address = std::ptr::from_mut::<KeyObject>(object);
        cm.object_paths
            .entry(address as usize)
            .or_insert_with(|| path.trim_end_matches('\\').to_owned());
        address.cast()
    })
}

fn key_object_path(object: PVOID) -> Option<String> {
    let made_for = with_cm(|cm| cm.object_paths.get(&(object as usize)).cloned())?;
    Some(
        lock(&KEYS)
            .get(&key_of(&made_for))
            .map_or(made_for, |k| k.path.clone()),
    )
}

/// What a post notification whose `Status` is not `STATUS_SUCCESS` carries
/// in `Object`: not a key object ("valid only if the Status member ... is
/// set to STATUS_SUCCESS", wdm/ns-wdm-_reg_post_operation_information).
static INVALID_KEY_OBJECT: [u64; 4] = [0xBAD0_0B1E_C700_0000; 4];

fn invalid_key_object() -> PVOID {
    INVALID_KEY_OBJECT.as_ptr().cast_mut().cast()
}

/// The name buffer is the model's own (host) memory, never pool: the
/// driver's pool accounting ([`crate::pool::count_allocations`]) counts only
/// the driver's own pool calls.
fn get_key_object_id(
    ddi_name: &str,
    release_needed: bool,
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
    if object == invalid_key_object() {
        verifier::model_rule(
            ModelRule::InvalidParameter,
            object as u64,
            format!(
                "{ddi_name}({object:p}): the Object of a post notification whose Status is not STATUS_SUCCESS is not valid (wdm/ns-wdm-_reg_post_operation_information)"
            ),
        );
        return STATUS_INVALID_PARAMETER;
    }
    if with_cm(|cm| cm.closing.contains(&(object as usize))) {
        verifier::model_rule(
            ModelRule::InvalidParameter,
            object as u64,
            format!(
                "{ddi_name}({object:p}): in a close or context-cleanup notification the key object's reference count is 0; it must not be passed to any routine (kernel/invalid-key-object-pointers-in-registry-notifications)"
            ),
        );
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
        with_cm(|cm| {
            if release_needed {
                cm.names.insert(pointer as usize, (name, value));
            } else {
                cm.system_names.push(name);
            }
        });
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
        false,
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
        true,
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

/// Runs the registry callbacks for one notification class in call order,
/// at the caller's IRQL and in its thread; a pre notification stops at the
/// first non-success status and returns it. A post notification runs every
/// callback and returns `STATUS_CALLBACK_BYPASS` if one returned it (the
/// caller then gets `REG_POST_OPERATION_INFORMATION.ReturnStatus`,
/// kernel/handling-notifications), else `STATUS_SUCCESS` (the effect of
/// other post statuses is SILENT: ignored).
pub(crate) fn notify(class: u32, information: PVOID, pre: bool) -> NTSTATUS {
    let mut bypass = false;
    for registration in ordered() {
        // SAFETY: the function was registered as a PEX_CALLBACK_FUNCTION.
        let function = unsafe { std::mem::transmute::<usize, PEX_CALLBACK_FUNCTION>(registration.function) };
        let Some(function) = function else { continue };
        let status = crate::ps::invoke(&CALLBACKS, registration.slot, registration.function, || {
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
        bypass |= !pre && status == STATUS_CALLBACK_BYPASS;
    }
    if bypass {
        STATUS_CALLBACK_BYPASS
    } else {
        STATUS_SUCCESS
    }
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

// --- Registry operations as filter callbacks see them -------------------------

/// `STATUS_REPARSE`: a create/open that reached a symbolic link (a success
/// code whose post notification carries no valid key object).
pub const STATUS_REPARSE: NTSTATUS = 0x0000_0104;
/// `STATUS_CANNOT_DELETE`.
pub const STATUS_CANNOT_DELETE: NTSTATUS = 0xC000_0121_u32.cast_signed();
/// `STATUS_OBJECT_NAME_COLLISION`.
pub const STATUS_OBJECT_NAME_COLLISION: NTSTATUS = 0xC000_0035_u32.cast_signed();

/// What a thread does to a registry key; each maps to a pre and a post
/// `REG_NOTIFY_CLASS` (wdm/ne-wdm-_reg_notify_class).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyOperation {
    /// `ZwDeleteKey`: `RegNtPreDeleteKey` (0) / `RegNtPostDeleteKey` (15).
    /// Fails with `STATUS_CANNOT_DELETE` while the key has subkeys.
    DeleteKey,
    /// `ZwSetValueKey`: 1 / 16.
    SetValue {
        /// Value name.
        name: String,
        /// `REG_*` type.
        value_type: u32,
        /// Data.
        data: Vec<u8>,
    },
    /// `ZwDeleteValueKey`: 2 / 17 (`STATUS_OBJECT_NAME_NOT_FOUND` if missing).
    DeleteValue {
        /// Value name.
        name: String,
    },
    /// `ZwSetInformationKey`: 3 / 18.
    SetInformationKey,
    /// `ZwRenameKey`: 4 / 19 (the last path component becomes `new_name`).
    RenameKey {
        /// The new last component.
        new_name: String,
    },
    /// `ZwEnumerateKey`: 5 / 20 (`STATUS_NO_MORE_ENTRIES` past the last subkey).
    EnumerateKey {
        /// Subkey index.
        index: u32,
    },
    /// `ZwEnumerateValueKey`: 6 / 21 (`STATUS_NO_MORE_ENTRIES` past the last value).
    EnumerateValueKey {
        /// Value index.
        index: u32,
    },
    /// `ZwQueryKey`: 7 / 22.
    QueryKey,
    /// `ZwQueryValueKey`: 8 / 23 (`STATUS_OBJECT_NAME_NOT_FOUND` if missing).
    QueryValue {
        /// Value name.
        name: String,
    },
    /// `NtQueryMultipleValueKey`: 9 / 24.
    QueryMultipleValueKey,
    /// Create, as systems before Vista report it: `RegNtPreCreateKey` (10,
    /// `REG_PRE_CREATE_KEY_INFORMATION`) / `RegNtPostCreateKey` (11,
    /// `REG_POST_CREATE_KEY_INFORMATION`).
    CreateKey,
    /// Open, before Vista: 12 / 13 (`STATUS_OBJECT_NAME_NOT_FOUND` if missing).
    OpenKey,
    /// The last handle closes: `RegNtPreKeyHandleClose` (14) /
    /// `RegNtPostKeyHandleClose` (25). The object's reference count is 0:
    /// passing it to `CmCallbackGetKeyObjectID*` is an NSIM violation.
    CloseKey,
    /// `ZwCreateKey` (Vista+): `RegNtPreCreateKeyEx` (26,
    /// `REG_CREATE_KEY_INFORMATION`) / `RegNtPostCreateKeyEx` (27).
    CreateKeyEx,
    /// `ZwOpenKey` (Vista+): 28 / 29.
    OpenKeyEx,
    /// `ZwFlushKey`: 30 / 31.
    FlushKey,
    /// `ZwLoadKey`: 32 / 33 (the key becomes a hive root).
    LoadKey {
        /// The hive file.
        file: String,
    },
    /// `ZwUnloadKey`: 34 / 35 (the key tree goes).
    UnloadKey,
    /// `ZwQuerySecurityObject` on a key: 36 / 37.
    QueryKeySecurity,
    /// `ZwSetSecurityObject` on a key: 38 / 39.
    SetKeySecurity,
    /// `ZwRestoreKey`: 41 / 42.
    RestoreKey,
    /// `ZwSaveKey`: 43 / 44.
    SaveKey,
    /// `ZwReplaceKey`: 45 / 46.
    ReplaceKey {
        /// The new hive file.
        new_file: String,
        /// Where the old one is saved.
        old_file: String,
    },
    /// `NtQueryObject(ObjectNameInformation)` on a key: 47 / 48.
    QueryKeyName,
    /// `ZwSaveMergedKeys`: 49 / 50.
    SaveMergedKey,
    /// `RegNtCallbackObjectContextCleanup` (40) alone: what the kernel sends
    /// a callback for a key object it associated a context with, when the
    /// object goes or the callback unregisters
    /// (wdm/ns-wdm-_reg_callback_context_cleanup_information). No post.
    ContextCleanup,
}

impl KeyOperation {
    /// The (pre, post) notification classes.
    #[must_use]
    pub const fn classes(&self) -> (u32, Option<u32>) {
        match self {
            Self::DeleteKey => (0, Some(15)),
            Self::SetValue { .. } => (1, Some(16)),
            Self::DeleteValue { .. } => (2, Some(17)),
            Self::SetInformationKey => (3, Some(18)),
            Self::RenameKey { .. } => (4, Some(19)),
            Self::EnumerateKey { .. } => (5, Some(20)),
            Self::EnumerateValueKey { .. } => (6, Some(21)),
            Self::QueryKey => (7, Some(22)),
            Self::QueryValue { .. } => (8, Some(23)),
            Self::QueryMultipleValueKey => (9, Some(24)),
            Self::CreateKey => (10, Some(11)),
            Self::OpenKey => (12, Some(13)),
            Self::CloseKey => (14, Some(25)),
            Self::CreateKeyEx => (26, Some(27)),
            Self::OpenKeyEx => (28, Some(29)),
            Self::FlushKey => (30, Some(31)),
            Self::LoadKey { .. } => (32, Some(33)),
            Self::UnloadKey => (34, Some(35)),
            Self::QueryKeySecurity => (36, Some(37)),
            Self::SetKeySecurity => (38, Some(39)),
            Self::ContextCleanup => (40, None),
            Self::RestoreKey => (41, Some(42)),
            Self::SaveKey => (43, Some(44)),
            Self::ReplaceKey { .. } => (45, Some(46)),
            Self::QueryKeyName => (47, Some(48)),
            Self::SaveMergedKey => (49, Some(50)),
        }
    }

    /// Whether the pre notification names the key by its complete name
    /// rather than a key object (create and open).
    #[must_use]
    pub const fn names_the_key(&self) -> bool {
        matches!(
            self,
            Self::CreateKey | Self::OpenKey | Self::CreateKeyEx | Self::OpenKeyEx
        )
    }
}

/// A registry operation by a thread of process `pid` on key `key`.
#[derive(Clone, Debug)]
pub struct RegistryOperation {
    /// The process doing it (the callbacks run in its thread).
    pub pid: u64,
    /// The thread (a fresh id when `None`).
    pub tid: Option<u64>,
    /// The key's full path (`\Registry\Machine\...`).
    pub key: String,
    /// What is done.
    pub operation: KeyOperation,
    /// Completes with this status instead of what the model's registry
    /// gives, without changing the registry (e.g. [`STATUS_REPARSE`] for
    /// an open that reached a symbolic link).
    pub completes_with: Option<NTSTATUS>,
    /// `CreateKeyEx` / `OpenKeyEx` only: the key is opened relative to this
    /// one (its full path), as `ZwCreateKey`/`ZwOpenKey` with a
    /// `RootDirectory` handle do. `key` is then the relative path (no
    /// leading `\`): `REG_CREATE_KEY_INFORMATION.CompleteName` carries it
    /// and `RootObject` is this key's object ("the path can be absolute or
    /// relative ... relative to the key that is specified by the RootObject
    /// member", wdm/ns-wdm-_reg_create_key_information).
    pub relative_to: Option<String>,
}

/// What a registry operation produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegistryOutcome {
    /// The status the caller gets.
    pub status: NTSTATUS,
    /// What the pre notification returned (`STATUS_SUCCESS`: every
    /// callback let it through).
    pub pre_status: NTSTATUS,
    /// The status the registry itself produced (`None` if the operation was
    /// blocked or bypassed before it ran).
    pub registry_status: Option<NTSTATUS>,
    /// Whether the post notification was sent.
    pub post_notified: bool,
    /// Whether a callback wrote into the pre-operation information.
    pub pre_information_changed: bool,
    /// Whether a callback wrote into the post-operation information.
    pub post_information_changed: bool,
}

/// The information structure of `REG_QUERY_KEY_NAME` (RegNtPreQueryKeyName;
/// wdm.h, not in the mingw-w64 headers).
#[repr(C)]
struct QueryKeyNameInformation {
    object: PVOID,
    object_name_info: PVOID,
    length: ULONG,
    return_length: PULONG,
    call_context: PVOID,
    object_context: PVOID,
    reserved: PVOID,
}

/// `REG_SAVE_MERGED_KEY_INFORMATION` (wdm.h, not in the mingw-w64 headers).
#[repr(C)]
struct SaveMergedKeyInformation {
    object: PVOID,
    file_handle: HANDLE,
    high_key_object: PVOID,
    low_key_object: PVOID,
    call_context: PVOID,
    object_context: PVOID,
    reserved: PVOID,
}

/// `REG_FLUSH_KEY_INFORMATION` (wdm.h, not in the mingw-w64 headers).
#[repr(C)]
struct FlushKeyInformation {
    object: PVOID,
    call_context: PVOID,
    object_context: PVOID,
    reserved: PVOID,
}

/// An information structure in 8-byte-aligned storage, so the callbacks
/// get a pointer to the documented layout and the model can compare its
/// bytes before and after.
struct InfoBlock(Box<[u64]>);

impl InfoBlock {
    fn new<T>(value: T) -> Self {
        let words = std::mem::size_of::<T>().div_ceil(8);
        let mut storage = vec![0_u64; words].into_boxed_slice();
        // SAFETY: the storage holds size_of::<T>() bytes, 8-byte aligned
        // (every information structure is at most 8-byte aligned).
        unsafe { storage.as_mut_ptr().cast::<T>().write(value) };
        Self(storage)
    }

    fn as_ptr(&mut self) -> PVOID {
        self.0.as_mut_ptr().cast()
    }

    fn snapshot(&self) -> Vec<u64> {
        self.0.to_vec()
    }

    fn changed_since(&self, before: &[u64]) -> bool {
        *self.0 != *before
    }
}

fn subkey_count(path: &str) -> usize {
    let prefix = format!("{}\\", key_of(path));
    lock(&KEYS)
        .keys()
        .filter(|k| k.starts_with(&prefix) && !k[prefix.len()..].contains('\\'))
        .count()
}

fn rename_key(path: &str, new_name: &str) -> NTSTATUS {
    let trimmed = path.trim_end_matches('\\');
    let parent = trimmed.rsplit_once('\\').map_or("", |(p, _)| p);
    let new_path = format!("{parent}\\{new_name}");
    let mut keys = lock(&KEYS);
    if keys.contains_key(&key_of(&new_path)) {
        return STATUS_OBJECT_NAME_COLLISION;
    }
    let old = key_of(trimmed);
    let prefix = format!("{old}\\");
    let moved: Vec<String> = keys
        .keys()
        .filter(|k| **k == old || k.starts_with(&prefix))
        .cloned()
        .collect();
    for upper in moved {
        if let Some(mut key) = keys.remove(&upper) {
            key.path = format!("{new_path}{}", &key.path[trimmed.len()..]);
            keys.insert(key_of(&key.path), key);
        }
    }
    STATUS_SUCCESS
}

impl RegistryOperation {
    /// `operation` on `key` by process `pid`.
    #[must_use]
    pub fn new(pid: u64, key: &str, operation: KeyOperation) -> Self {
        Self {
            pid,
            tid: None,
            key: key.to_owned(),
            operation,
            completes_with: None,
            relative_to: None,
        }
    }

    /// The key's full path (`relative_to` and `key` joined when relative).
    fn full_key(&self) -> String {
        match &self.relative_to {
            Some(root) if !self.key.is_empty() => format!("{}\\{}", root.trim_end_matches('\\'), self.key),
            Some(root) => root.clone(),
            None => self.key.clone(),
        }
    }

    /// What the model's registry does; returns the status.
    fn perform(&self) -> NTSTATUS {
        let full = self.full_key();
        let key = full.as_str();
        match &self.operation {
            KeyOperation::DeleteKey => {
                if subkey_count(key) > 0 {
                    STATUS_CANNOT_DELETE
                } else {
                    delete_key(key);
                    STATUS_SUCCESS
                }
            }
            KeyOperation::SetValue {
                name,
                value_type,
                data,
            } => {
                set_value(key, name, *value_type, data);
                STATUS_SUCCESS
            }
            KeyOperation::DeleteValue { name } => {
                let removed = lock(&KEYS).get_mut(&key_of(key)).is_some_and(|entry| {
                    let before = entry.values.len();
                    entry.values.retain(|v| !v.name.eq_ignore_ascii_case(name));
                    entry.values.len() != before
                });
                if removed {
                    STATUS_SUCCESS
                } else {
                    STATUS_OBJECT_NAME_NOT_FOUND
                }
            }
            KeyOperation::RenameKey { new_name } => rename_key(key, new_name),
            KeyOperation::EnumerateKey { index } => {
                if (*index as usize) < subkey_count(key) {
                    STATUS_SUCCESS
                } else {
                    STATUS_NO_MORE_ENTRIES
                }
            }
            KeyOperation::EnumerateValueKey { index } => match find_value(key, Some(*index as usize), None) {
                Some(Some(_)) => STATUS_SUCCESS,
                _ => STATUS_NO_MORE_ENTRIES,
            },
            KeyOperation::QueryValue { name } => match find_value(key, None, Some(name)) {
                Some(Some(_)) => STATUS_SUCCESS,
                _ => STATUS_OBJECT_NAME_NOT_FOUND,
            },
            KeyOperation::CreateKey | KeyOperation::CreateKeyEx | KeyOperation::LoadKey { .. } => {
                create_key(key);
                STATUS_SUCCESS
            }
            KeyOperation::OpenKey | KeyOperation::OpenKeyEx => {
                if key_exists(key) {
                    STATUS_SUCCESS
                } else {
                    STATUS_OBJECT_NAME_NOT_FOUND
                }
            }
            KeyOperation::UnloadKey => {
                delete_key(key);
                STATUS_SUCCESS
            }
            _ => STATUS_SUCCESS,
        }
    }

    /// Sends the pre notification with the operation's documented
    /// information structure, at PASSIVE_LEVEL in the caller's thread
    /// (wdm/nc-wdm-ex_callback_function); unless a callback blocked
    /// (error: the caller gets it, no post) or bypassed it
    /// (`STATUS_CALLBACK_BYPASS`: the caller gets `STATUS_SUCCESS`, no post),
    /// performs it and sends the post notification
    /// (`REG_POST_CREATE_KEY_INFORMATION` for classes 11 and 13,
    /// `REG_POST_OPERATION_INFORMATION` otherwise, whose `Object` is a key
    /// object only when `Status` is `STATUS_SUCCESS`); a post callback
    /// returning `STATUS_CALLBACK_BYPASS` makes `ReturnStatus` the caller's
    /// status (kernel/handling-notifications). Operations other than
    /// create and open act on an existing key (created if missing, as if
    /// the caller had a handle to it).
    ///
    /// # Panics
    /// If called above PASSIVE_LEVEL.
    #[must_use = "the outcome"]
    #[allow(clippy::too_many_lines, reason = "one arm per information structure")]
    pub fn fire(&self) -> RegistryOutcome {
        assert_eq!(
            crate::irql::current(),
            crate::irql::PASSIVE_LEVEL,
            "RegistryOperation::fire must be called at PASSIVE_LEVEL"
        );
        let (pre_class, post_class) = self.operation.classes();
        assert!(
            self.relative_to.is_none()
                || matches!(
                    self.operation,
                    KeyOperation::CreateKeyEx | KeyOperation::OpenKeyEx
                ),
            "only RegNtPreCreateKeyEx / RegNtPreOpenKeyEx carry a RootObject"
        );
        let full_key = self.full_key();
        if !self.operation.names_the_key() && !key_exists(&full_key) {
            create_key(&full_key);
        }
        let root_object = self.relative_to.as_deref().map_or(std::ptr::null_mut(), |root| {
            if !key_exists(root) {
                create_key(root);
            }
            key_object(root)
        });
        let tid = self.tid.unwrap_or_else(crate::context::new_tid);
        let _context = crate::context::ContextScope::enter(self.pid, Some(tid), crate::context::Phase::Other);
        let _irql = crate::irql::IrqlScope::enter(crate::irql::PASSIVE_LEVEL);
        let object = if self.operation.names_the_key() {
            std::ptr::null_mut()
        } else {
            key_object(&full_key)
        };
        let mut complete_name = OwnedUnicode::new(&self.key);
        let mut name_a = OwnedUnicode::new(match &self.operation {
            KeyOperation::SetValue { name, .. }
            | KeyOperation::DeleteValue { name }
            | KeyOperation::QueryValue { name } => name.as_str(),
            KeyOperation::RenameKey { new_name } => new_name.as_str(),
            KeyOperation::LoadKey { file } => file.as_str(),
            KeyOperation::ReplaceKey { new_file, .. } => new_file.as_str(),
            _ => "",
        });
        let mut name_b = OwnedUnicode::new(match &self.operation {
            KeyOperation::ReplaceKey { old_file, .. } => old_file.as_str(),
            _ => "",
        });
        let mut data = match &self.operation {
            KeyOperation::SetValue { data, .. } => data.clone(),
            _ => Vec::new(),
        };
        let mut output = [0_u64; 64];
        let mut result_length: ULONG = 0;
        let mut security_information: u32 = 4; // DACL_SECURITY_INFORMATION
        let mut result_object: PVOID = std::ptr::null_mut();
        let mut disposition: ULONG = 0;
        let output_ptr: PVOID = output.as_mut_ptr().cast();
        let output_len = u32::try_from(std::mem::size_of_val(&output)).unwrap_or(0);
        let mut pre = match &self.operation {
            KeyOperation::DeleteKey => InfoBlock::new(wdk_sys::REG_DELETE_KEY_INFORMATION {
                Object: object,
                ..Default::default()
            }),
            KeyOperation::SetValue { value_type, .. } => {
                InfoBlock::new(wdk_sys::REG_SET_VALUE_KEY_INFORMATION {
                    Object: object,
                    ValueName: name_a.as_ptr(),
                    Type: *value_type,
                    Data: data.as_mut_ptr().cast(),
                    DataSize: u32::try_from(data.len()).unwrap_or(u32::MAX),
                    ..Default::default()
                })
            }
            KeyOperation::DeleteValue { .. } => InfoBlock::new(wdk_sys::REG_DELETE_VALUE_KEY_INFORMATION {
                Object: object,
                ValueName: name_a.as_ptr(),
                ..Default::default()
            }),
            KeyOperation::SetInformationKey => InfoBlock::new(wdk_sys::REG_SET_INFORMATION_KEY_INFORMATION {
                Object: object,
                KeySetInformation: output_ptr,
                KeySetInformationLength: 8,
                ..Default::default()
            }),
            KeyOperation::RenameKey { .. } => InfoBlock::new(wdk_sys::REG_RENAME_KEY_INFORMATION {
                Object: object,
                NewName: name_a.as_ptr(),
                ..Default::default()
            }),
            KeyOperation::EnumerateKey { index } => InfoBlock::new(wdk_sys::REG_ENUMERATE_KEY_INFORMATION {
                Object: object,
                Index: *index,
                KeyInformation: output_ptr,
                Length: output_len,
                ResultLength: &raw mut result_length,
                ..Default::default()
            }),
            KeyOperation::EnumerateValueKey { index } => {
                InfoBlock::new(wdk_sys::REG_ENUMERATE_VALUE_KEY_INFORMATION {
                    Object: object,
                    Index: *index,
                    KeyValueInformation: output_ptr,
                    Length: output_len,
                    ResultLength: &raw mut result_length,
                    ..Default::default()
                })
            }
            KeyOperation::QueryKey => InfoBlock::new(wdk_sys::REG_QUERY_KEY_INFORMATION {
                Object: object,
                KeyInformation: output_ptr,
                Length: output_len,
                ResultLength: &raw mut result_length,
                ..Default::default()
            }),
            KeyOperation::QueryValue { .. } => InfoBlock::new(wdk_sys::REG_QUERY_VALUE_KEY_INFORMATION {
                Object: object,
                ValueName: name_a.as_ptr(),
                KeyValueInformation: output_ptr,
                Length: output_len,
                ResultLength: &raw mut result_length,
                ..Default::default()
            }),
            KeyOperation::QueryMultipleValueKey => {
                InfoBlock::new(wdk_sys::REG_QUERY_MULTIPLE_VALUE_KEY_INFORMATION {
                    Object: object,
                    ValueBuffer: output_ptr,
                    BufferLength: &raw mut result_length,
                    ..Default::default()
                })
            }
            KeyOperation::CreateKey | KeyOperation::OpenKey => {
                InfoBlock::new(wdk_sys::REG_PRE_CREATE_KEY_INFORMATION {
                    CompleteName: complete_name.as_ptr(),
                })
            }
            KeyOperation::CreateKeyEx | KeyOperation::OpenKeyEx => {
                InfoBlock::new(wdk_sys::REG_CREATE_KEY_INFORMATION {
                    CompleteName: complete_name.as_ptr(),
                    RootObject: root_object,
                    DesiredAccess: 0x2_0019, // KEY_READ
                    Disposition: &raw mut disposition,
                    ResultObject: &raw mut result_object,
                    ..Default::default()
                })
            }
            KeyOperation::CloseKey => InfoBlock::new(wdk_sys::REG_KEY_HANDLE_CLOSE_INFORMATION {
                Object: object,
                ..Default::default()
            }),
            KeyOperation::FlushKey => InfoBlock::new(FlushKeyInformation {
                object,
                call_context: std::ptr::null_mut(),
                object_context: std::ptr::null_mut(),
                reserved: std::ptr::null_mut(),
            }),
            KeyOperation::LoadKey { .. } => InfoBlock::new(wdk_sys::REG_LOAD_KEY_INFORMATION {
                Object: object,
                KeyName: complete_name.as_ptr(),
                SourceFile: name_a.as_ptr(),
                DesiredAccess: 0x2_0019,
                ..Default::default()
            }),
            KeyOperation::UnloadKey => InfoBlock::new(wdk_sys::REG_UNLOAD_KEY_INFORMATION {
                Object: object,
                ..Default::default()
            }),
            KeyOperation::QueryKeySecurity => InfoBlock::new(wdk_sys::REG_QUERY_KEY_SECURITY_INFORMATION {
                Object: object,
                SecurityInformation: &raw mut security_information,
                SecurityDescriptor: output_ptr,
                Length: &raw mut result_length,
                ..Default::default()
            }),
            KeyOperation::SetKeySecurity => InfoBlock::new(wdk_sys::REG_SET_KEY_SECURITY_INFORMATION {
                Object: object,
                SecurityInformation: &raw mut security_information,
                SecurityDescriptor: output_ptr,
                ..Default::default()
            }),
            KeyOperation::ContextCleanup => {
                InfoBlock::new(wdk_sys::REG_CALLBACK_CONTEXT_CLEANUP_INFORMATION {
                    Object: object,
                    ..Default::default()
                })
            }
            KeyOperation::RestoreKey => InfoBlock::new(wdk_sys::REG_RESTORE_KEY_INFORMATION {
                Object: object,
                ..Default::default()
            }),
            KeyOperation::SaveKey => InfoBlock::new(wdk_sys::REG_SAVE_KEY_INFORMATION {
                Object: object,
                Format: 1, // REG_STANDARD_FORMAT
                ..Default::default()
            }),
            KeyOperation::ReplaceKey { .. } => InfoBlock::new(wdk_sys::REG_REPLACE_KEY_INFORMATION {
                Object: object,
                OldFileName: name_b.as_ptr(),
                NewFileName: name_a.as_ptr(),
                ..Default::default()
            }),
            KeyOperation::QueryKeyName => InfoBlock::new(QueryKeyNameInformation {
                object,
                object_name_info: output_ptr,
                length: output_len,
                return_length: &raw mut result_length,
                call_context: std::ptr::null_mut(),
                object_context: std::ptr::null_mut(),
                reserved: std::ptr::null_mut(),
            }),
            KeyOperation::SaveMergedKey => InfoBlock::new(SaveMergedKeyInformation {
                object,
                file_handle: std::ptr::null_mut(),
                high_key_object: object,
                low_key_object: object,
                call_context: std::ptr::null_mut(),
                object_context: std::ptr::null_mut(),
                reserved: std::ptr::null_mut(),
            }),
        };
        let closing = matches!(
            self.operation,
            KeyOperation::CloseKey | KeyOperation::ContextCleanup
        );
        if closing {
            with_cm(|cm| cm.closing.insert(object as usize));
        }
        let before = pre.snapshot();
        let pre_status = notify(pre_class, pre.as_ptr(), true);
        let pre_information_changed = pre.changed_since(&before);
        let mut outcome = RegistryOutcome {
            status: STATUS_SUCCESS,
            pre_status,
            registry_status: None,
            post_notified: false,
            pre_information_changed,
            post_information_changed: false,
        };
        let finish = |outcome: RegistryOutcome| {
            if closing {
                with_cm(|cm| cm.closing.remove(&(object as usize)));
            }
            outcome
        };
        if pre_status == STATUS_CALLBACK_BYPASS {
            return finish(outcome);
        }
        if pre_status < 0 {
            outcome.status = pre_status;
            return finish(outcome);
        }
        let status = self.completes_with.unwrap_or_else(|| self.perform());
        outcome.registry_status = Some(status);
        outcome.status = status;
        let Some(post_class) = post_class else {
            return finish(outcome);
        };
        let post_object = if status != STATUS_SUCCESS {
            invalid_key_object()
        } else if self.operation.names_the_key() {
            key_object(&full_key)
        } else {
            object
        };
        let mut post = if matches!(post_class, 11 | 13) {
            InfoBlock::new(wdk_sys::REG_POST_CREATE_KEY_INFORMATION {
                CompleteName: complete_name.as_ptr(),
                Object: post_object,
                Status: status,
            })
        } else {
            InfoBlock::new(wdk_sys::REG_POST_OPERATION_INFORMATION {
                Object: post_object,
                Status: status,
                PreInformation: pre.as_ptr(),
                ReturnStatus: STATUS_SUCCESS,
                ..Default::default()
            })
        };
        let before = post.snapshot();
        let post_status = notify(post_class, post.as_ptr(), false);
        outcome.post_notified = true;
        outcome.post_information_changed = post.changed_since(&before);
        if post_status == STATUS_CALLBACK_BYPASS && !matches!(post_class, 11 | 13) {
            // SAFETY: the block holds a REG_POST_OPERATION_INFORMATION.
            let info = unsafe { &*post.as_ptr().cast::<wdk_sys::REG_POST_OPERATION_INFORMATION>() };
            outcome.status = info.ReturnStatus;
        }
        let _ = (&mut name_b, &mut complete_name);
        finish(outcome)
    }
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
