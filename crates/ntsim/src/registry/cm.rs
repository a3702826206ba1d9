//! Registry filtering callbacks: `CmRegisterCallback(Ex)`,
//! `CmUnRegisterCallback`, object contexts, key object ids, and the
//! notification of registered callbacks (see [`crate::registry`]).

#![allow(non_snake_case)]

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use wdk_sys::{
    LARGE_INTEGER, NTSTATUS, PCUNICODE_STRING, PEX_CALLBACK_FUNCTION, PLARGE_INTEGER, PULONG_PTR, PVOID,
    STATUS_FLT_INSTANCE_ALTITUDE_COLLISION, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER,
    STATUS_SUCCESS, ULONG,
};

use super::store::{CALLBACK_LIMIT, KEYS, STATUS_CALLBACK_BYPASS, create_key, key_of};
use crate::notify::Registry;
use crate::unicode::{self, OwnedUnicode};
use crate::verifier::{self, ModelRule};
use crate::{ddi, sync::lock};

pub static CALLBACKS: Registry = Registry::new("registry callback");

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
pub(super) struct CmState {
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
    pub(super) closing: HashSet<usize>,
    /// Contexts `CmSetCallbackObjectContext` associated: (cookie, key
    /// object, context), in the order they were first set.
    object_contexts: Vec<(i64, usize, usize)>,
}

static CM: Mutex<Option<CmState>> = Mutex::new(None);

pub(super) fn with_cm<R>(f: impl FnOnce(&mut CmState) -> R) -> R {
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
    ddi::unless_faulted!(ddi::enter(&ddi::CM_REGISTER_CALLBACK));
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
    ddi::unless_faulted!(ddi::enter(&ddi::CM_REGISTER_CALLBACK_EX));
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
    ddi::unless_faulted!(ddi::enter(&ddi::CM_UNREGISTER_CALLBACK));
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
    ddi::unless_faulted!(ddi::enter(&ddi::CM_SET_CALLBACK_OBJECT_CONTEXT));
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

pub(super) fn key_object(path: &str) -> PVOID {
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

pub(super) fn invalid_key_object() -> PVOID {
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
pub fn notify(class: u32, information: PVOID, pre: bool) -> NTSTATUS {
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
pub fn object_for(path: &str) -> PVOID {
    key_object(path)
}

pub fn reset() {
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
