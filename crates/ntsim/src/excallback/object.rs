//! Callback objects: their memory layout, the side table, and the `Ex`
//! and `Ob` routines (see [`crate::excallback`]).

#![allow(non_snake_case)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

use crate::mm::{evict, make_resident};
use crate::spinlock::BodyLock;
use crate::sysinfo::NTOSKRNL_BASE;

/// `'Call'`, the first four bytes of a callback object body.
pub const CALLBACK_SIGNATURE: u32 = u32::from_le_bytes(*b"Call");

/// A callback object body, as laid out in memory.
#[repr(C)]
pub struct CallbackObjectBody {
    /// `'Call'`.
    pub signature: u32,
    _pad: u32,
    /// The KSPIN_LOCK guarding the list (0 = free, 1 = held).
    pub lock: AtomicU64,
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
    assert!(std::mem::size_of::<CallbackObjectBody>() == 0x28);
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

/// The routine the system registers on `\Callback\PowerPort`
/// (`PopUmpoMessageCallback` in the internals note's table).
///
/// This is the address the registration block holds: inside the model's
/// `ntoskrnl.exe`. It is
/// never called through that address (the model runs its own stand-in).
pub const POWER_PORT_OWNER: usize = NTOSKRNL_BASE + 0x003C_5A10;

/// A model-side routine that stands in for a system registration's routine.
type SystemRoutine = fn(PVOID, PVOID);

pub(super) struct ObjectInfo {
    pub(super) name: String,
    pub(super) body: Box<CallbackObjectBody>,
    /// Pointer count (the object header's).
    pub(super) references: i64,
    /// References taken through DDIs (ExCreateCallback, ObfReferenceObject)
    /// and not yet dropped through ObfDereferenceObject by the driver under
    /// test (another driver's, [`crate::context::other_image`], are not
    /// counted here: they are that driver's to drop).
    pub(super) driver_references: i64,
    pub(super) permanent: bool,
    pub(super) system: bool,
    pub(super) deleted: bool,
}

pub(super) struct RegistrationInfo {
    pub(super) block: Box<CallbackRegistration>,
    pub(super) object: usize,
    pub(super) removed: bool,
    /// The other driver that registered it ([`crate::context::other_image`]);
    /// `None`: the driver under test.
    pub(super) owner: Option<usize>,
    /// Set for registrations the model makes as the system: what runs
    /// instead of the (synthetic) address in the block.
    pub(super) system_routine: Option<SystemRoutine>,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) objects: HashMap<usize, ObjectInfo>,
    pub(super) registrations: HashMap<usize, RegistrationInfo>,
}

// SAFETY: the raw pointers inside the blocks point into blocks owned by this
// state; they are only followed with the state's lock held (or, for a
// notification in flight, while the block's busy count keeps it alive).
unsafe impl Send for State {}

static STATE: Mutex<Option<State>> = Mutex::new(None);
static DONE: Condvar = Condvar::new();
static UNREGISTER_WAITS: AtomicBool = AtomicBool::new(true);
static SUCCESS_WITHOUT_OBJECT: AtomicBool = AtomicBool::new(false);

pub(super) fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut guard = sync::lock(&STATE);
    f(guard.get_or_insert_with(State::default))
}

/// Whether `ExUnregisterCallback` waits for running callbacks (default: yes).
pub fn set_unregister_waits(wait: bool) {
    UNREGISTER_WAITS.store(wait, Ordering::SeqCst);
}

/// Makes `ExCreateCallback` behave as Wine's stub does (default: off): it
/// returns `STATUS_SUCCESS` and writes no object pointer.
pub fn set_success_without_object(on: bool) {
    SUCCESS_WITHOUT_OBJECT.store(on, Ordering::SeqCst);
}

pub(super) fn list_order(body: &CallbackObjectBody) -> Vec<*mut CallbackRegistration> {
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

fn new_body(allow_multiple: bool) -> Box<CallbackObjectBody> {
    let mut body = Box::new(CallbackObjectBody {
        signature: CALLBACK_SIGNATURE,
        _pad: 0,
        lock: AtomicU64::new(0),
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
    make_resident(address, std::mem::size_of::<CallbackObjectBody>());
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

fn delete(info: &mut ObjectInfo, address: usize) {
    info.deleted = true;
    let _ = ob::remove(&info.name);
    evict(address);
}

/// Drops one reference; deletes a temporary object at zero. Returns the new count.
fn dereference(state: &mut State, address: usize) -> Option<i64> {
    let info = state.objects.get_mut(&address)?;
    info.references -= 1;
    let count = info.references;
    if count <= 0 && !info.permanent && !info.deleted {
        delete(info, address);
    }
    Some(count)
}

/// 1 if a reference taken or dropped now is the driver under test's, 0 if
/// another driver's code runs ([`crate::context::other_image`]).
fn own_reference() -> i64 {
    i64::from(crate::context::other_image().is_none())
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
    ddi::unless_faulted!(ddi::enter(&ddi::EX_CREATE_CALLBACK));
    if SUCCESS_WITHOUT_OBJECT.load(Ordering::SeqCst) {
        // Wine's stub: success, and `*callback_object` is not written.
        return STATUS_SUCCESS;
    }
    if callback_object.is_null() || object_attributes.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: valid per the caller.
    let attributes = unsafe { &*object_attributes };
    crate::handle_attributes::check_kernel_handle("ExCreateCallback", attributes);
    if !attributes.RootDirectory.is_null() {
        return STATUS_NOT_IMPLEMENTED;
    }
    // SAFETY: ObjectName is null or a valid UNICODE_STRING per the caller.
    let Some(name) = (unsafe { crate::unicode::read(attributes.ObjectName) }).filter(|n| !n.is_empty())
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
            info.driver_references += own_reference();
            Ok(address)
        }
        Ok(_) => Err(STATUS_OBJECT_TYPE_MISMATCH),
        Err(_) if create == 0 => Err(STATUS_OBJECT_NAME_NOT_FOUND),
        Err(_) => {
            let address = create_object_in(state, &name, allow_multiple_callbacks != 0, permanent, false)?;
            if let Some(info) = state.objects.get_mut(&address) {
                info.driver_references = own_reference();
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

/// Links a new registration block at the tail of object `address`'s list,
/// under the object's spin lock. `None`: no such live object; `Some(NULL)`:
/// the object allows one callback and has one.
fn register_in(
    state: &mut State,
    address: usize,
    function: PCALLBACK_FUNCTION,
    context: PVOID,
    system_routine: Option<SystemRoutine>,
) -> Option<PVOID> {
    let info = state.objects.get_mut(&address).filter(|o| !o.deleted)?;
    let body: *mut CallbackObjectBody = &raw mut *info.body;
    // SAFETY: `body` is a live callback-object body owned by the state
    // table; the lock field is only accessed atomically.
    let _lock = BodyLock::acquire(unsafe { &(*body).lock });
    // SAFETY: as above; the list is read with its lock held.
    if info.body.allow_multiple == 0 && !list_order(unsafe { &*body }).is_empty() {
        return Some(std::ptr::null_mut());
    }
    let mut block = Box::new(CallbackRegistration {
        link: LIST_ENTRY {
            Flink: std::ptr::null_mut(),
            Blink: std::ptr::null_mut(),
        },
        object: body,
        function,
        context,
        busy: 0,
        unregister_waiting: 0,
        _pad: [0; 3],
    });
    let link: *mut LIST_ENTRY = &raw mut block.link;
    // SAFETY: `body` is live; taking the address of its list head reads nothing.
    let head: *mut LIST_ENTRY = unsafe { &raw mut (*body).registrations };
    make_resident(link as usize, std::mem::size_of::<CallbackRegistration>());
    // SAFETY: the head and the new block are live; inserting at the tail
    // keeps FIFO order; the object's lock is held.
    unsafe { insert_tail(head, link) };
    info.references += 1;
    let handle = link.cast::<c_void>();
    state.registrations.insert(
        handle as usize,
        RegistrationInfo {
            block,
            object: address,
            removed: false,
            owner: crate::context::other_image(),
            system_routine,
        },
    );
    Some(handle)
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
    let address = callback_object as usize;
    // An object that allows one callback and has one refuses whatever
    // happens: fault injection could not change the outcome (ddi::enter_decided).
    let refuses = with_state(|state| {
        state
            .objects
            .get(&address)
            .is_some_and(|o| !o.deleted && o.body.allow_multiple == 0 && !list_order(&o.body).is_empty())
    });
    let entry = if refuses {
        ddi::enter_decided(&ddi::EX_REGISTER_CALLBACK)
    } else {
        ddi::enter(&ddi::EX_REGISTER_CALLBACK)
    };
    if entry.fault.is_some() || callback_function.is_none() {
        return std::ptr::null_mut();
    }
    let result = with_state(|state| register_in(state, address, callback_function, callback_context, None));
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
    // SAFETY: the block's object body is live (the registration holds a
    // reference to it); its lock field is only accessed atomically.
    let _lock = BodyLock::acquire(unsafe { &(*block.object).lock });
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

/// Forgets registration `handle` once nothing runs it any more.
fn drop_registration(state: &mut State, handle: usize) {
    if state.registrations.remove(&handle).is_some() {
        evict(handle);
    }
}

/// Whether `block` is linked into its object's list (an unlinked block's
/// links point to itself).
fn is_linked(block: &CallbackRegistration) -> bool {
    !std::ptr::eq(block.link.Flink, &raw const block.link)
}

/// `ExUnregisterCallback` (wdm/nf-wdm-exunregistercallback): `<= APC_LEVEL`,
/// rule IrqlExApcLte2.
///
/// It waits for calls of this registration in flight (SILENT in the docs;
/// see the module docs for why the model chose so). As the kernel does
/// (WRK `ExUnregisterCallback`, ReactOS `ntoskrnl/ex/callback.c`), a
/// registration with no call in flight leaves the list at once; one with
/// calls in flight gets the "unregister waiting" byte (+0x2C) set under the
/// object's lock and stays linked until its busy count (+0x28) drops to 0,
/// and `ExNotifyCallback` skips it meanwhile: no new call of it starts once
/// its unregistration has begun.
///
/// # Safety
/// `cb_registration` came from `ExRegisterCallback`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ExUnregisterCallback(cb_registration: PVOID) {
    ddi::enter(&ddi::EX_UNREGISTER_CALLBACK);
    let handle = cb_registration as usize;
    let waits = UNREGISTER_WAITS.load(Ordering::SeqCst);
    let known = with_state(|state| {
        let registration = state.registrations.get_mut(&handle).filter(|r| !r.removed)?;
        registration.removed = true;
        let busy = {
            // SAFETY: the block's object body is live (the registration
            // holds a reference to it); its lock is only accessed atomically.
            let _lock = BodyLock::acquire(unsafe { &(*registration.block.object).lock });
            if registration.block.busy > 0 && waits {
                registration.block.unregister_waiting = 1;
            }
            registration.block.busy
        };
        if busy == 0 || !waits {
            unlink(&mut registration.block);
        }
        Some((registration.block.function.map_or(0, |f| f as usize), busy))
    });
    let Some((function, busy)) = known else {
        verifier::model_rule(
            ModelRule::UnknownObject,
            handle as u64,
            format!("ExUnregisterCallback({cb_registration:p}): not a live registration"),
        );
        return;
    };
    if waits && busy > 0 {
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
                    .get(&handle)
                    .map_or(0, |r| r.block.busy);
                if busy == 0 || started.elapsed() > Duration::from_secs(30) {
                    break;
                }
                guard = sync::wait_timeout(&DONE, guard, Duration::from_millis(10));
            }
        }
        with_state(|state| {
            if let Some(registration) = state.registrations.get_mut(&handle)
                && is_linked(&registration.block)
            {
                unlink(&mut registration.block);
            }
        });
    }
    with_state(|state| {
        let Some(registration) = state.registrations.get(&handle) else {
            return;
        };
        let object = registration.object;
        if registration.block.busy == 0 {
            drop_registration(state, handle);
        }
        dereference(state, object);
    });
}

thread_local! {
    static INSIDE: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// One call a notification makes: (handle, function, context, stand-in).
type PendingCall = (usize, PCALLBACK_FUNCTION, PVOID, Option<SystemRoutine>);

/// One step of a notification's walk over object `address`'s list, under
/// the object's lock: ends the call of `previous` (its busy count drops),
/// then finds the next registration to call after it (or the first one),
/// skipping those whose unregistration is waiting, and counts it busy.
/// `order` is the list as it was when the notification started: where to
/// go on from a block that was unlinked while it ran (a removal that did
/// not wait, or one from inside its own callback).
fn notify_step(address: usize, previous: Option<usize>, order: &[usize]) -> Option<PendingCall> {
    let next = with_state(|state| {
        let State {
            objects,
            registrations,
        } = state;
        let info = objects.get_mut(&address)?;
        let _lock = BodyLock::acquire(&info.body.lock);
        let head: *mut LIST_ENTRY = &raw mut info.body.registrations;
        let mut entry = info.body.registrations.Flink;
        let mut finished = None;
        if let Some(previous) = previous
            && let Some(registration) = registrations.get_mut(&previous)
        {
            registration.block.busy -= 1;
            entry = if is_linked(&registration.block) {
                registration.block.link.Flink
            } else {
                let live = list_order(&info.body);
                order
                    .iter()
                    .skip_while(|&&b| b != previous)
                    .skip(1)
                    .find(|&&b| live.contains(&(b as *mut CallbackRegistration)))
                    .map_or(head, |&b| b as *mut LIST_ENTRY)
            };
            if registration.removed && registration.block.busy == 0 && !is_linked(&registration.block) {
                finished = Some(previous);
            }
        }
        let mut call = None;
        while !entry.is_null() && entry != head {
            let block = entry.cast::<CallbackRegistration>();
            // SAFETY: list entries are live registration blocks.
            let registration = unsafe { &mut *block };
            if registration.unregister_waiting == 0 {
                registration.busy += 1;
                let stand_in = registrations
                    .get(&(block as usize))
                    .and_then(|r| r.system_routine);
                call = Some((
                    block as usize,
                    registration.function,
                    registration.context,
                    stand_in,
                ));
                break;
            }
            entry = registration.link.Flink;
        }
        Some((call, finished))
    });
    let (call, finished) = next?;
    if let Some(handle) = finished {
        with_state(|state| drop_registration(state, handle));
    }
    if previous.is_some() {
        DONE.notify_all();
    }
    call
}

/// Calls every registration of `object` in list order at the current IRQL.
/// Returns how many callbacks ran.
///
/// The walk follows the kernel's `ExNotifyCallback` (WRK
/// `ntos/ex/callback.c`; ReactOS `ntoskrnl/ex/callback.c`): under the
/// object's lock it takes the next registration, skips it if its
/// "unregister waiting" byte is set, else counts it busy, drops the lock
/// for the call, and takes the lock again to count it done and go on to the
/// next. A registration unregistered while an earlier one runs is not
/// called (it left the list, or waits and is skipped).
fn notify_object(address: usize, argument1: PVOID, argument2: PVOID) -> usize {
    let order: Vec<usize> = with_state(|state| {
        state
            .objects
            .get(&address)
            .filter(|o| !o.deleted)
            .map(|info| {
                let _lock = BodyLock::acquire(&info.body.lock);
                list_order(&info.body).into_iter().map(|b| b as usize).collect()
            })
            .unwrap_or_default()
    });
    if order.is_empty() {
        return 0;
    }
    let mut count = 0;
    let mut previous = None;
    while let Some((handle, function, context, stand_in)) = notify_step(address, previous, &order) {
        count += 1;
        let before = irql::current();
        INSIDE.with(|inside| inside.borrow_mut().push(handle));
        if let Some(routine) = stand_in {
            routine(argument1, argument2);
        } else if let Some(function) = function {
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
                format!("a callback-object callback returned at IRQL {after}; it was called at {before}"),
            );
            irql::set(before);
        }
        previous = Some(handle);
    }
    count
}

/// `ExNotifyCallback` (wdm/nf-wdm-exnotifycallback): `<= DISPATCH_LEVEL`
/// (above it: 0xC4/0xE5, and nothing is called).
///
/// # Safety
/// `callback_object` came from `ExCreateCallback`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ExNotifyCallback(callback_object: PVOID, argument1: PVOID, argument2: PVOID) {
    let entry = ddi::enter(&ddi::EX_NOTIFY_CALLBACK);
    if entry.irql_violation {
        return;
    }
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
                format!("ExNotifyCallback on the system-defined object {name}: drivers must never do this"),
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
    let address = with_state(|s| {
        s.objects
            .iter()
            .find(|(_, o)| !o.deleted && o.name.eq_ignore_ascii_case(name))
            .map(|(address, _)| *address)
    })
    .unwrap_or_else(|| panic!("no callback object {name}"));
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
        info.driver_references += own_reference();
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
        info.driver_references -= own_reference();
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
                format!("ObDereferenceObject({object:p}) on an object whose reference count is zero"),
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
            delete(info, address);
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

/// The model's stand-in for `PopUmpoMessageCallback` (the PowerPort owner).
const fn power_port_owner(_argument1: PVOID, _argument2: PVOID) {}

/// The registration block's function field for a system routine at the
/// synthetic address `address` (never called through it).
#[allow(clippy::unnecessary_wraps, reason = "PCALLBACK_FUNCTION is an Option")]
fn synthetic_function(address: usize) -> PCALLBACK_FUNCTION {
    // SAFETY: a non-null address: a valid function-pointer value. It is
    // never called (notify_object runs the stand-in instead).
    Some(unsafe { std::mem::transmute::<usize, unsafe extern "C" fn(PVOID, PVOID, PVOID)>(address) })
}

/// Recreates the `\Callback` objects (with the PowerPort owner registered),
/// the resident memory and the module list. Blocks of a previous test are leaked (a driver
/// static might still point to them).
pub fn reset() {
    let old = std::mem::take(&mut *sync::lock(&STATE));
    if let Some(old) = old {
        std::mem::forget(old);
    }
    crate::mm::reset();
    set_unregister_waits(true);
    set_success_without_object(false);
    crate::sysinfo::reset();
    with_state(|state| {
        for (name, allow_multiple) in SYSTEM_OBJECTS {
            let Ok(address) = create_object_in(state, name, *allow_multiple, true, true) else {
                continue;
            };
            if name.ends_with("\\PowerPort") {
                let _ = register_in(
                    state,
                    address,
                    synthetic_function(POWER_PORT_OWNER),
                    std::ptr::null_mut(),
                    Some(power_port_owner),
                );
            }
        }
    });
}
