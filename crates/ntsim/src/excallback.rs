//! Callback objects: `ExCreateCallback`, `ExRegisterCallback`,
//! `ExUnregisterCallback`, `ExNotifyCallback` and the `\Callback` directory
//! (kernel-semantics.md §1).
//!
//! Memory layout, as `seeds/callback-object-internals.md` describes the
//! Windows 11 24H2 implementation: the object body starts with the
//! signature `'Call'` (0x6C6C6143), then a spin lock (offset 0x08), the list
//! head of registrations (0x10) and the AllowMultipleCallbacks byte (0x20).
//! A registration handle is a 0x30-byte block: list entry (0x00), object
//! (0x10), function (0x18), context (0x20), busy count (0x28) and an
//! "unregister waiting" byte (0x2C). The model keeps the list in that memory
//! (FIFO: new registrations at the tail, notification from the head), and
//! reference counts, names and permanence in a side table (the object
//! header, which drivers do not see).
//!
//! Rules:
//! * `ExCreateCallback` (wdm/nf-wdm-excreatecallback): opens the named
//!   object or, with `Create`, creates it; `AllowMultipleCallbacks` is
//!   ignored when an existing object is opened. No name:
//!   `STATUS_UNSUCCESSFUL` (documented). Missing name with `Create = FALSE`:
//!   SILENT; `STATUS_OBJECT_NAME_NOT_FOUND` chosen (the object manager's
//!   status). The returned pointer carries a reference the caller must drop
//!   with `ObDereferenceObject`. `OBJ_PERMANENT` keeps the object when the
//!   last reference goes.
//! * `ExRegisterCallback` (wdm/nf-wdm-exregistercallback): NULL on error,
//!   and when the object allows one callback and has one. The registration
//!   holds a reference to the object (kernel/using-a-driver-defined-callback-object:
//!   unregistering removes "its reference to the callback object").
//! * `ExUnregisterCallback`: whether it waits for running callbacks is
//!   SILENT. The model waits (configurable, [`set_unregister_waits`]): the
//!   busy count and "unregister waiting" fields of the registration block
//!   exist for exactly that. A stale or unknown handle is SILENT: recorded
//!   as an NSIM violation, nothing else happens.
//! * `ExNotifyCallback` (wdm/nf-wdm-exnotifycallback): `<= DISPATCH_LEVEL`;
//!   every callback runs at the caller's IRQL, in registration order.
//!   "Drivers must never call it on system-defined objects": an NSIM
//!   violation (the notification is not delivered).
//! * System objects (created at boot, permanent): `\Callback\SetSystemTime`,
//!   `\Callback\PowerState`, `\Callback\ProcessorAdd` (documented), and the
//!   others the internals note lists as created by the kernel at boot.
//!   `\Callback\PowerPort` is the one it marks as not allowing multiple
//!   callbacks.

#![allow(non_snake_case)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use wdk_sys::{
    BOOLEAN, KIRQL, LIST_ENTRY, NTSTATUS, OBJ_PERMANENT, PCALLBACK_FUNCTION, PCALLBACK_OBJECT,
    POBJECT_ATTRIBUTES, PVOID, STATUS_INVALID_PARAMETER, STATUS_NOT_IMPLEMENTED,
    STATUS_OBJECT_NAME_NOT_FOUND, STATUS_OBJECT_TYPE_MISMATCH, STATUS_SUCCESS, STATUS_UNSUCCESSFUL,
};

use crate::context::{ContextScope, Phase};
use crate::irql::IrqlScope;
use crate::verifier::{self, ModelRule, codes};
use crate::{ddi, irql, ob, sync};

/// `'Call'`, the first four bytes of a callback object body.
pub const CALLBACK_SIGNATURE: u32 = u32::from_le_bytes(*b"Call");

/// A callback object body, as laid out in memory.
#[repr(C)]
pub struct CallbackObjectBody {
    /// `'Call'`.
    pub signature: u32,
    _pad: u32,
    /// The spin lock guarding the list (0 = free).
    pub lock: u64,
    /// Head of the registration list.
    pub registrations: LIST_ENTRY,
    /// `AllowMultipleCallbacks`.
    pub allow_multiple: u8,
    _pad2: [u8; 7],
}

/// A registration handle (what `ExRegisterCallback` returns), as laid out in memory.
#[repr(C)]
pub struct CallbackRegistration {
    /// Link in the object's list.
    pub link: LIST_ENTRY,
    /// The callback object.
    pub object: *mut CallbackObjectBody,
    /// The callback routine.
    pub function: PCALLBACK_FUNCTION,
    /// Its context.
    pub context: PVOID,
    /// Calls in flight.
    pub busy: u32,
    /// Set while an unregister waits for `busy` to drop to 0.
    pub unregister_waiting: u8,
    _pad: [u8; 3],
}

const _: () = {
    assert!(std::mem::offset_of!(CallbackObjectBody, lock) == 0x08);
    assert!(std::mem::offset_of!(CallbackObjectBody, registrations) == 0x10);
    assert!(std::mem::offset_of!(CallbackObjectBody, allow_multiple) == 0x20);
    assert!(std::mem::offset_of!(CallbackRegistration, object) == 0x10);
    assert!(std::mem::offset_of!(CallbackRegistration, function) == 0x18);
    assert!(std::mem::offset_of!(CallbackRegistration, context) == 0x20);
    assert!(std::mem::offset_of!(CallbackRegistration, busy) == 0x28);
    assert!(std::mem::offset_of!(CallbackRegistration, unregister_waiting) == 0x2C);
    assert!(std::mem::size_of::<CallbackRegistration>() == 0x30);
};

/// The system callback objects created at boot: (name, AllowMultipleCallbacks).
pub const SYSTEM_OBJECTS: &[(&str, bool)] = &[
    ("\\Callback\\EnlightenmentState", true),
    ("\\Callback\\SetSystemTime", true),
    ("\\Callback\\SetSystemState", true),
    ("\\Callback\\Phase1InitComplete", true),
    ("\\Callback\\SeImageVerificationDriverInfo", true),
    ("\\Callback\\SeImageVerificationBlockInfo", true),
    ("\\Callback\\PowerState", true),
    ("\\Callback\\SoftRestart", true),
    ("\\Callback\\BootDriver", true),
    ("\\Callback\\ProcessorAdd", true),
    ("\\Callback\\LicensingData", true),
    ("\\Callback\\IoSessionNotifications", true),
    ("\\Callback\\IoExternalDmaUnblock", true),
    ("\\Callback\\PowerPort", false),
    ("\\Callback\\PowerMonitorPort", true),
    ("\\Callback\\SleepstudyControlPort", true),
];

struct ObjectInfo {
    name: String,
    body: Box<CallbackObjectBody>,
    /// Pointer count (the object header's).
    references: i64,
    /// References taken through DDIs (ExCreateCallback, ObfReferenceObject)
    /// and not yet dropped through ObfDereferenceObject: the driver's.
    driver_references: i64,
    permanent: bool,
    system: bool,
    deleted: bool,
}

struct RegistrationInfo {
    block: Box<CallbackRegistration>,
    object: usize,
    removed: bool,
}

#[derive(Default)]
struct State {
    objects: HashMap<usize, ObjectInfo>,
    registrations: HashMap<usize, RegistrationInfo>,
}

// SAFETY: the raw pointers inside the blocks point into blocks owned by this
// state; they are only followed with the state's lock held (or, for a
// notification in flight, while the block's busy count keeps it alive).
unsafe impl Send for State {}

static STATE: Mutex<Option<State>> = Mutex::new(None);
static DONE: Condvar = Condvar::new();
static UNREGISTER_WAITS: AtomicBool = AtomicBool::new(true);

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut guard = sync::lock(&STATE);
    f(guard.get_or_insert_with(State::default))
}

/// Whether `ExUnregisterCallback` waits for running callbacks (default: yes).
pub fn set_unregister_waits(wait: bool) {
    UNREGISTER_WAITS.store(wait, Ordering::SeqCst);
}

/// A callback object as the test sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackObjectInfo {
    /// Its address (the `PCALLBACK_OBJECT`).
    pub address: usize,
    /// Its name.
    pub name: String,
    /// Pointer count.
    pub references: i64,
    /// References the driver holds.
    pub driver_references: i64,
    /// `AllowMultipleCallbacks`.
    pub allow_multiple: bool,
    /// Created with `OBJ_PERMANENT` (or a system object).
    pub permanent: bool,
    /// A system-defined object.
    pub system: bool,
    /// Registered callback functions, in list order.
    pub callbacks: Vec<usize>,
}

fn list_order(body: &CallbackObjectBody) -> Vec<*mut CallbackRegistration> {
    let head = std::ptr::from_ref(&body.registrations).cast_mut();
    let mut list = Vec::new();
    let mut entry = body.registrations.Flink;
    while !entry.is_null() && entry != head && list.len() < 4096 {
        list.push(entry.cast::<CallbackRegistration>());
        // SAFETY: the list links registration blocks owned by the state table.
        entry = unsafe { (*entry).Flink };
    }
    list
}

fn object_info(address: usize, info: &ObjectInfo) -> CallbackObjectInfo {
    CallbackObjectInfo {
        address,
        name: info.name.clone(),
        references: info.references,
        driver_references: info.driver_references,
        allow_multiple: info.body.allow_multiple != 0,
        permanent: info.permanent,
        system: info.system,
        callbacks: list_order(&info.body)
            .into_iter()
            // SAFETY: blocks in the list are live.
            .map(|r| unsafe { (*r).function }.map_or(0, |f| f as usize))
            .collect(),
    }
}

/// Every callback object that exists.
#[must_use]
pub fn objects() -> Vec<CallbackObjectInfo> {
    let mut list: Vec<_> = with_state(|s| {
        s.objects
            .iter()
            .filter(|(_, o)| !o.deleted)
            .map(|(a, o)| object_info(*a, o))
            .collect()
    });
    list.sort_by(|a, b| a.name.cmp(&b.name));
    list
}

/// The callback object named `name` (case-insensitive).
#[must_use]
pub fn object(name: &str) -> Option<CallbackObjectInfo> {
    objects()
        .into_iter()
        .find(|o| o.name.eq_ignore_ascii_case(name))
}

fn new_body(allow_multiple: bool) -> Box<CallbackObjectBody> {
    let mut body = Box::new(CallbackObjectBody {
        signature: CALLBACK_SIGNATURE,
        _pad: 0,
        lock: 0,
        registrations: LIST_ENTRY {
            Flink: std::ptr::null_mut(),
            Blink: std::ptr::null_mut(),
        },
        allow_multiple: u8::from(allow_multiple),
        _pad2: [0; 7],
    });
    let head: *mut LIST_ENTRY = &raw mut body.registrations;
    body.registrations = LIST_ENTRY {
        Flink: head,
        Blink: head,
    };
    body
}

fn create_object_in(
    state: &mut State,
    name: &str,
    allow_multiple: bool,
    permanent: bool,
    system: bool,
) -> Result<usize, NTSTATUS> {
    let mut body = new_body(allow_multiple);
    let address = std::ptr::from_mut::<CallbackObjectBody>(&mut body) as usize;
    let canonical = ob::insert(name, ob::Object::Callback(address))?;
    state.objects.insert(
        address,
        ObjectInfo {
            name: canonical,
            body,
            references: 1,
            driver_references: 0,
            permanent,
            system,
            deleted: false,
        },
    );
    Ok(address)
}

/// Drops one reference; deletes a temporary object at zero. Returns the new count.
fn dereference(state: &mut State, address: usize) -> Option<i64> {
    let info = state.objects.get_mut(&address)?;
    info.references -= 1;
    let count = info.references;
    if count <= 0 && !info.permanent && !info.deleted {
        info.deleted = true;
        let _ = ob::remove(&info.name);
    }
    Some(count)
}

/// `ExCreateCallback` (wdm/nf-wdm-excreatecallback): see the module docs.
///
/// # Safety
/// `callback_object` is writable; `object_attributes` is valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ExCreateCallback(
    callback_object: *mut PCALLBACK_OBJECT,
    object_attributes: POBJECT_ATTRIBUTES,
    create: BOOLEAN,
    allow_multiple_callbacks: BOOLEAN,
) -> NTSTATUS {
    let entry = ddi::enter(&ddi::EX_CREATE_CALLBACK);
    if let Some(status) = entry.fault {
        return status;
    }
    if callback_object.is_null() || object_attributes.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: valid per the caller.
    let attributes = unsafe { &*object_attributes };
    if !attributes.RootDirectory.is_null() {
        return STATUS_NOT_IMPLEMENTED;
    }
    // SAFETY: ObjectName is null or a valid UNICODE_STRING per the caller.
    let Some(name) =
        (unsafe { crate::unicode::read(attributes.ObjectName) }).filter(|n| !n.is_empty())
    else {
        return STATUS_UNSUCCESSFUL;
    };
    let permanent = attributes.Attributes & OBJ_PERMANENT != 0;
    let result = with_state(|state| match ob::lookup(&name) {
        Ok((_, ob::Object::Callback(address))) => {
            let info = state
                .objects
                .get_mut(&address)
                .ok_or(STATUS_OBJECT_NAME_NOT_FOUND)?;
            info.references += 1;
            info.driver_references += 1;
            Ok(address)
        }
        Ok(_) => Err(STATUS_OBJECT_TYPE_MISMATCH),
        Err(_) if create == 0 => Err(STATUS_OBJECT_NAME_NOT_FOUND),
        Err(_) => {
            let address = create_object_in(
                state,
                &name,
                allow_multiple_callbacks != 0,
                permanent,
                false,
            )?;
            if let Some(info) = state.objects.get_mut(&address) {
                info.driver_references = 1;
            }
            Ok(address)
        }
    });
    match result {
        Ok(address) => {
            // SAFETY: writable per the caller.
            unsafe { callback_object.write(address as PCALLBACK_OBJECT) };
            STATUS_SUCCESS
        }
        Err(status) => status,
    }
}

/// `ExRegisterCallback` (wdm/nf-wdm-exregistercallback): `<= APC_LEVEL`,
/// rule IrqlExApcLte2.
///
/// # Safety
/// `callback_object` came from `ExCreateCallback`; the function and context
/// stay valid until unregistered.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ExRegisterCallback(
    callback_object: PCALLBACK_OBJECT,
    callback_function: PCALLBACK_FUNCTION,
    callback_context: PVOID,
) -> PVOID {
    let entry = ddi::enter(&ddi::EX_REGISTER_CALLBACK);
    if entry.fault.is_some() || callback_function.is_none() {
        return std::ptr::null_mut();
    }
    let address = callback_object as usize;
    let result = with_state(|state| {
        let info = state.objects.get_mut(&address).filter(|o| !o.deleted)?;
        if info.body.allow_multiple == 0 && !list_order(&info.body).is_empty() {
            return Some(std::ptr::null_mut());
        }
        let body: *mut CallbackObjectBody = &raw mut *info.body;
        let mut block = Box::new(CallbackRegistration {
            link: LIST_ENTRY {
                Flink: std::ptr::null_mut(),
                Blink: std::ptr::null_mut(),
            },
            object: body,
            function: callback_function,
            context: callback_context,
            busy: 0,
            unregister_waiting: 0,
            _pad: [0; 3],
        });
        let link: *mut LIST_ENTRY = &raw mut block.link;
        // SAFETY: `body` is a live callback-object body owned by the state
        // table; taking the address of its list head reads nothing.
        let head: *mut LIST_ENTRY = unsafe { &raw mut (*body).registrations };
        // SAFETY: the head and the new block are live; inserting at the tail
        // keeps FIFO order.
        unsafe { insert_tail(head, link) };
        info.references += 1;
        let handle = link.cast::<std::ffi::c_void>();
        state.registrations.insert(
            handle as usize,
            RegistrationInfo {
                block,
                object: address,
                removed: false,
            },
        );
        Some(handle)
    });
    result.unwrap_or_else(|| {
        verifier::model_rule(
            ModelRule::UnknownObject,
            address as u64,
            format!("ExRegisterCallback({callback_object:p}): not a callback object"),
        );
        std::ptr::null_mut()
    })
}

/// Insert `link` at the tail of the doubly linked list headed by `head`.
///
/// # Safety
/// `head` heads a well-formed live list; `link` is a live, unlinked entry.
unsafe fn insert_tail(head: *mut LIST_ENTRY, link: *mut LIST_ENTRY) {
    // SAFETY: `head` is live per the contract.
    let tail = unsafe { (*head).Blink };
    // SAFETY: `link` is live per the contract.
    unsafe { (*link).Flink = head };
    // SAFETY: as above.
    unsafe { (*link).Blink = tail };
    // SAFETY: `tail` is an entry (or the head) of the well-formed list.
    unsafe { (*tail).Flink = link };
    // SAFETY: `head` is live.
    unsafe { (*head).Blink = link };
}

fn unlink(block: &mut CallbackRegistration) {
    let link: *mut LIST_ENTRY = &raw mut block.link;
    let previous = block.link.Blink;
    let next = block.link.Flink;
    // SAFETY: the block is linked into a live list, so its neighbours are live.
    unsafe { (*previous).Flink = next };
    // SAFETY: as above.
    unsafe { (*next).Blink = previous };
    block.link.Flink = link;
    block.link.Blink = link;
}

/// `ExUnregisterCallback` (wdm/nf-wdm-exunregistercallback): `<= APC_LEVEL`,
/// rule IrqlExApcLte2. See the module docs for the wait.
///
/// # Safety
/// `cb_registration` came from `ExRegisterCallback`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ExUnregisterCallback(cb_registration: PVOID) {
    ddi::enter(&ddi::EX_UNREGISTER_CALLBACK);
    let handle = cb_registration as usize;
    let known = with_state(|state| {
        let registration = state
            .registrations
            .get_mut(&handle)
            .filter(|r| !r.removed)?;
        registration.removed = true;
        unlink(&mut registration.block);
        Some(registration.block.function.map_or(0, |f| f as usize))
    });
    let Some(function) = known else {
        verifier::model_rule(
            ModelRule::UnknownObject,
            handle as u64,
            format!("ExUnregisterCallback({cb_registration:p}): not a live registration"),
        );
        return;
    };
    if UNREGISTER_WAITS.load(Ordering::SeqCst) {
        if INSIDE.with(|inside| inside.borrow().contains(&handle)) {
            verifier::model_rule(
                ModelRule::RemovalFromOwnCallback,
                function as u64,
                "ExUnregisterCallback called from inside the callback it removes: it waits for that callback (deadlock)"
                    .to_owned(),
            );
        } else {
            let started = Instant::now();
            let mut guard = sync::lock(&STATE);
            loop {
                let busy = guard
                    .get_or_insert_with(State::default)
                    .registrations
                    .get_mut(&handle)
                    .map_or(0, |r| {
                        r.block.unregister_waiting = u8::from(r.block.busy > 0);
                        r.block.busy
                    });
                if busy == 0 || started.elapsed() > Duration::from_secs(30) {
                    break;
                }
                guard = sync::wait_timeout(&DONE, guard, Duration::from_millis(10));
            }
        }
    }
    with_state(|state| {
        let Some(registration) = state.registrations.get(&handle) else {
            return;
        };
        let object = registration.object;
        if registration.block.busy == 0 {
            state.registrations.remove(&handle);
        }
        dereference(state, object);
    });
}

thread_local! {
    static INSIDE: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Calls every registration of `object` in list order at the current IRQL.
/// Returns how many callbacks ran.
fn notify_object(address: usize, argument1: PVOID, argument2: PVOID) -> usize {
    let calls = with_state(|state| {
        let Some(info) = state.objects.get_mut(&address).filter(|o| !o.deleted) else {
            return Vec::new();
        };
        info.body.lock = 1;
        let list = list_order(&info.body);
        let mut calls = Vec::new();
        for block in list {
            // SAFETY: list entries are live registration blocks.
            let registration = unsafe { &mut *block };
            registration.busy += 1;
            calls.push((block as usize, registration.function, registration.context));
        }
        info.body.lock = 0;
        calls
    });
    let count = calls.len();
    for (handle, function, context) in calls {
        let before = irql::current();
        INSIDE.with(|inside| inside.borrow_mut().push(handle));
        if let Some(function) = function {
            let _phase = ContextScope::phase(Phase::Callback);
            // SAFETY: a registered callback routine with its own context.
            unsafe { function(context, argument1, argument2) };
        }
        INSIDE.with(|inside| {
            inside.borrow_mut().pop();
        });
        let after = irql::current();
        if after != before {
            verifier::model_rule(
                ModelRule::CallbackChangedIrql,
                u64::from(after),
                format!(
                    "a callback-object callback returned at IRQL {after}; it was called at {before}"
                ),
            );
            irql::set(before);
        }
        with_state(|state| {
            let Some(registration) = state.registrations.get_mut(&handle) else {
                return;
            };
            registration.block.busy -= 1;
            if registration.removed && registration.block.busy == 0 {
                state.registrations.remove(&handle);
            }
        });
        DONE.notify_all();
    }
    count
}

/// `ExNotifyCallback` (wdm/nf-wdm-exnotifycallback): `<= DISPATCH_LEVEL`.
///
/// # Safety
/// `callback_object` came from `ExCreateCallback`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ExNotifyCallback(
    callback_object: PVOID,
    argument1: PVOID,
    argument2: PVOID,
) {
    ddi::enter(&ddi::EX_NOTIFY_CALLBACK);
    let address = callback_object as usize;
    let system = with_state(|state| {
        state
            .objects
            .get(&address)
            .filter(|o| !o.deleted)
            .map(|o| (o.system, o.name.clone()))
    });
    match system {
        None => {
            verifier::model_rule(
                ModelRule::UnknownObject,
                address as u64,
                format!("ExNotifyCallback({callback_object:p}): not a callback object"),
            );
        }
        Some((true, name)) => {
            verifier::model_rule(
                ModelRule::NotifySystemCallbackObject,
                address as u64,
                format!(
                    "ExNotifyCallback on the system-defined object {name}: drivers must never do this"
                ),
            );
        }
        Some((false, _)) => {
            notify_object(address, argument1, argument2);
        }
    }
}

/// Notifies the callback object `name` as its system owner would, at
/// `level`. Returns how many callbacks ran.
///
/// # Panics
/// If there is no such object, or `level` is above `DISPATCH_LEVEL`
/// (wdm/nf-wdm-exnotifycallback: callbacks run at <= DISPATCH_LEVEL).
pub fn notify(name: &str, level: KIRQL, argument1: PVOID, argument2: PVOID) -> usize {
    assert!(
        level <= irql::DISPATCH_LEVEL,
        "ExNotifyCallback runs at <= DISPATCH_LEVEL"
    );
    let address = object(name)
        .unwrap_or_else(|| panic!("no callback object {name}"))
        .address;
    let _irql = IrqlScope::enter(level);
    notify_object(address, argument1, argument2)
}

/// `ObfReferenceObject` (wdm/nf-wdm-obfreferenceobject) for the objects the
/// model counts (callback objects): `<= DISPATCH_LEVEL`. Returns the new count.
///
/// # Safety
/// `object` is a referenced object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ObfReferenceObject(object: PVOID) -> isize {
    ddi::enter(&ddi::OBF_REFERENCE_OBJECT);
    let address = object as usize;
    let count = with_state(|state| {
        let info = state.objects.get_mut(&address)?;
        info.references += 1;
        info.driver_references += 1;
        Some(info.references)
    });
    count.map_or_else(
        || {
            verifier::model_rule(
                ModelRule::UnknownObject,
                address as u64,
                format!("ObfReferenceObject({object:p})"),
            );
            0
        },
        |c| isize::try_from(c).unwrap_or(isize::MAX),
    )
}

/// `ObfDereferenceObject` (`ObDereferenceObject`, wdm/nf-wdm-obfdereferenceobject):
/// `<= DISPATCH_LEVEL`. Dereferencing an object whose count is already zero
/// is 0xC4/0x3F (P2 the object, P3 -1).
///
/// # Safety
/// `object` is a referenced object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ObfDereferenceObject(object: PVOID) -> isize {
    ddi::enter(&ddi::OBF_DEREFERENCE_OBJECT);
    let address = object as usize;
    let outcome = with_state(|state| {
        let info = state.objects.get_mut(&address)?;
        if info.references <= 0 {
            return Some(Err(()));
        }
        info.driver_references -= 1;
        Some(Ok(dereference(state, address).unwrap_or(0)))
    });
    match outcome {
        None => {
            verifier::model_rule(
                ModelRule::UnknownObject,
                address as u64,
                format!("ObfDereferenceObject({object:p})"),
            );
            0
        }
        Some(Err(())) => {
            verifier::bugcheck(
                codes::DRIVER_VERIFIER_DETECTED_VIOLATION,
                [0x3F, address as u64, u64::MAX, 0],
                format!(
                    "ObDereferenceObject({object:p}) on an object whose reference count is zero"
                ),
            );
            0
        }
        Some(Ok(count)) => isize::try_from(count).unwrap_or(isize::MAX),
    }
}

/// `ObMakeTemporaryObject` (ntifs/nf-ntifs-obmaketemporaryobject, "reserved
/// for system use"; modeled as its handle twin wdm/nf-wdm-zwmaketemporaryobject):
/// PASSIVE_LEVEL; a permanent object becomes temporary (a temporary one is
/// left alone) and goes away with its last reference.
///
/// # Safety
/// `object` is a referenced object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ObMakeTemporaryObject(object: PVOID) {
    ddi::enter(&ddi::OB_MAKE_TEMPORARY_OBJECT);
    let address = object as usize;
    let known = with_state(|state| {
        let info = state.objects.get_mut(&address)?;
        info.permanent = false;
        if info.references <= 0 && !info.deleted {
            info.deleted = true;
            let _ = ob::remove(&info.name);
        }
        Some(())
    });
    if known.is_none() {
        verifier::model_rule(
            ModelRule::UnknownObject,
            address as u64,
            format!("ObMakeTemporaryObject({object:p})"),
        );
    }
}

/// Creates a permanent callback object `name` as another component would
/// (e.g. one of the objects third-party drivers create at boot). Returns
/// its address.
///
/// # Panics
/// If the name is taken or its directory does not exist.
#[must_use]
pub fn create_object(name: &str, allow_multiple: bool) -> usize {
    with_state(|state| create_object_in(state, name, allow_multiple, true, true))
        .unwrap_or_else(|status| panic!("cannot create {name}: {status:#X}"))
}

/// What the driver left: (objects it holds references to, registrations not
/// removed (function addresses), registrations with calls in flight).
pub(crate) fn leftovers() -> (Vec<CallbackObjectInfo>, Vec<(usize, String)>, Vec<usize>) {
    with_state(|state| {
        let held = state
            .objects
            .iter()
            .filter(|(_, o)| o.driver_references > 0)
            .map(|(a, o)| object_info(*a, o))
            .collect();
        let registered = state
            .registrations
            .values()
            .filter(|r| !r.removed)
            .map(|r| {
                let name = state
                    .objects
                    .get(&r.object)
                    .map(|o| o.name.clone())
                    .unwrap_or_default();
                (r.block.function.map_or(0, |f| f as usize), name)
            })
            .collect();
        let running = state
            .registrations
            .values()
            .filter(|r| r.block.busy > 0)
            .map(|r| r.block.function.map_or(0, |f| f as usize))
            .collect();
        (held, registered, running)
    })
}

/// Recreates the `\Callback` objects. Blocks of a previous test are leaked
/// (a driver static might still point to them).
pub(crate) fn reset() {
    let old = std::mem::take(&mut *sync::lock(&STATE));
    if let Some(old) = old {
        std::mem::forget(old);
    }
    set_unregister_waits(true);
    with_state(|state| {
        for (name, allow_multiple) in SYSTEM_OBJECTS {
            let _ = create_object_in(state, name, *allow_multiple, true, true);
        }
    });
}
