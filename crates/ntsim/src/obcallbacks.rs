//! Object-manager callbacks: `ObRegisterCallbacks` / `ObUnRegisterCallbacks`
//! and handle operations on processes, threads and desktops
//! (kernel-semantics.md §5).
//!
//! * `ObRegisterCallbacks` (wdm/nf-wdm-obregistercallbacks): `<= APC_LEVEL`.
//!   `Version` must be `OB_FLT_REGISTRATION_VERSION` and every operation
//!   must name `*PsProcessType`, `*PsThreadType` or `*ExDesktopObjectType`
//!   with `OB_OPERATION_HANDLE_CREATE` and/or `_DUPLICATE`
//!   (`STATUS_INVALID_PARAMETER` otherwise); an entry with neither Pre nor
//!   Post routine fails (SILENT which status: `STATUS_INVALID_PARAMETER`
//!   chosen); an altitude already registered by anyone gives
//!   `STATUS_FLT_INSTANCE_ALTITUDE_COLLISION`; an image without
//!   `/INTEGRITYCHECK` gets `STATUS_ACCESS_DENIED` ([`crate::ps::set_force_integrity`]).
//!   The limit is SILENT (64 chosen, `STATUS_INSUFFICIENT_RESOURCES`). The
//!   registration's strings and arrays are copied.
//! * `ObUnRegisterCallbacks`: `<= APC_LEVEL`; a handle not (or no longer)
//!   registered is an NSIM violation (the page's caution describes a double
//!   free, bug check 0x7E). Whether it waits for running callbacks is
//!   SILENT: it waits (like the other removals).
//! * Callbacks (wdm/nc-wdm-pob_pre_operation_callback): PASSIVE_LEVEL in an
//!   "arbitrary thread context" (the model uses the requesting thread),
//!   with normal kernel APCs disabled (a critical region, see
//!   [`crate::ps::normal_apcs_disabled`]). Duplicate operations carry the
//!   process that owns the source handle and the one that receives the new
//!   handle (wdm/ns-wdm-_ob_pre_duplicate_handle_information). Order is SILENT: pre-operation callbacks run from
//!   the highest altitude down, post-operation callbacks in reverse. A pre
//!   callback must return `OB_PREOP_SUCCESS`, and may only *remove* bits
//!   from `DesiredAccess`, and only bits on the documented modifiable list
//!   (wdm/ns-wdm-_ob_pre_create_handle_information); anything else is an
//!   NSIM violation and the change is undone. `CallContext` set by a pre
//!   callback reaches the matching post callback.

#![allow(non_snake_case)]

use std::sync::Mutex;

use wdk_sys::{
    _OB_PREOP_CALLBACK_STATUS::OB_PREOP_SUCCESS, NTSTATUS, OB_FLT_REGISTRATION_VERSION,
    OB_POST_OPERATION_INFORMATION, OB_POST_OPERATION_PARAMETERS, OB_PRE_OPERATION_INFORMATION,
    OB_PRE_OPERATION_PARAMETERS, POB_CALLBACK_REGISTRATION, POB_POST_OPERATION_CALLBACK,
    POB_PRE_OPERATION_CALLBACK, POBJECT_TYPE, PVOID, STATUS_ACCESS_DENIED,
    STATUS_FLT_INSTANCE_ALTITUDE_COLLISION, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER,
    STATUS_SUCCESS, USHORT,
};

use crate::context::ContextScope;
use crate::irql::{IrqlScope, PASSIVE_LEVEL};
use crate::notify::Registry;
use crate::opaque::OpaqueHandles;
use crate::verifier::{self, ModelRule};
use crate::{context, ddi, objects, sync::lock, thread, unicode};

/// `OB_OPERATION_HANDLE_CREATE`.
pub const OB_OPERATION_HANDLE_CREATE: u32 = 1;
/// `OB_OPERATION_HANDLE_DUPLICATE`.
pub const OB_OPERATION_HANDLE_DUPLICATE: u32 = 2;
/// Registrations at most (SILENT; the model's choice).
pub const LIMIT: usize = 64;

/// Process access rights a pre-operation callback may remove
/// (wdm/ns-wdm-_ob_pre_create_handle_information): CREATE_PROCESS,
/// CREATE_THREAD, DUP_HANDLE, SET_QUOTA, SET_INFORMATION, SUSPEND_RESUME,
/// TERMINATE, VM_OPERATION, VM_WRITE.
pub const PROCESS_MODIFIABLE: u32 =
    0x0080 | 0x0002 | 0x0040 | 0x0100 | 0x0200 | 0x0800 | 0x0001 | 0x0008 | 0x0020;
/// Thread access rights a pre-operation callback may remove:
/// DIRECT_IMPERSONATION, IMPERSONATE, SET_CONTEXT, SET_INFORMATION,
/// SET_LIMITED_INFORMATION, SET_THREAD_TOKEN, SUSPEND_RESUME, TERMINATE.
pub const THREAD_MODIFIABLE: u32 = 0x0200 | 0x0100 | 0x0010 | 0x0020 | 0x0400 | 0x0080 | 0x0002 | 0x0001;

pub(crate) static CALLBACKS: Registry = Registry::new("object (handle) callback");

#[derive(Clone, Debug)]
struct Operation {
    object_type: POBJECT_TYPE,
    operations: u32,
    pre: POB_PRE_OPERATION_CALLBACK,
    post: POB_POST_OPERATION_CALLBACK,
}

#[derive(Clone, Debug)]
struct ObRegistration {
    handle: usize,
    slot: u64,
    altitude: String,
    context: usize,
    operations: Vec<Operation>,
}

struct State {
    registrations: Vec<ObRegistration>,
    blocks: OpaqueHandles,
}

// SAFETY: the raw pointers are object-type and routine addresses, used only
// as identities or called as registered.
unsafe impl Send for State {}

static STATE: Mutex<State> = Mutex::new(State {
    registrations: Vec::new(),
    blocks: OpaqueHandles::new(),
});

/// The registered altitudes, in call order (highest first).
#[must_use]
pub fn altitudes() -> Vec<String> {
    ordered().into_iter().map(|r| r.altitude).collect()
}

/// The registration handles `ObRegisterCallbacks` returned and not yet
/// unregistered, in call order (highest altitude first).
#[must_use]
pub fn handles() -> Vec<usize> {
    ordered().into_iter().map(|r| r.handle).collect()
}

fn ordered() -> Vec<ObRegistration> {
    let mut list = lock(&STATE).registrations.clone();
    let number = |a: &str| a.parse::<f64>().unwrap_or(0.0);
    list.sort_by(|a, b| number(&b.altitude).total_cmp(&number(&a.altitude)));
    list
}

fn known_type(object_type: POBJECT_TYPE) -> bool {
    [
        thread::process_type(),
        thread::thread_type(),
        thread::desktop_type(),
    ]
    .contains(&object_type)
}

/// `ObRegisterCallbacks` (wdm/nf-wdm-obregistercallbacks): see the module docs.
///
/// # Safety
/// `callback_registration` is a valid registration whose routines stay
/// callable until unregistered; `registration_handle` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ObRegisterCallbacks(
    callback_registration: POB_CALLBACK_REGISTRATION,
    registration_handle: *mut PVOID,
) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::OB_REGISTER_CALLBACKS));
    if callback_registration.is_null() || registration_handle.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: valid per the caller.
    let registration = unsafe { &*callback_registration };
    if u32::from(registration.Version) != OB_FLT_REGISTRATION_VERSION
        || registration.OperationRegistrationCount == 0
        || registration.OperationRegistration.is_null()
    {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: OperationRegistrationCount entries per the caller.
    let entries = unsafe {
        std::slice::from_raw_parts(
            registration.OperationRegistration,
            usize::from(registration.OperationRegistrationCount),
        )
    };
    let mut operations = Vec::new();
    for entry in entries {
        if entry.ObjectType.is_null() {
            return STATUS_INVALID_PARAMETER;
        }
        // SAFETY: ObjectType points to a POBJECT_TYPE variable per the caller.
        let object_type = unsafe { *entry.ObjectType };
        let valid_ops = OB_OPERATION_HANDLE_CREATE | OB_OPERATION_HANDLE_DUPLICATE;
        if !known_type(object_type)
            || entry.Operations == 0
            || entry.Operations & !valid_ops != 0
            || (entry.PreOperation.is_none() && entry.PostOperation.is_none())
        {
            return STATUS_INVALID_PARAMETER;
        }
        operations.push(Operation {
            object_type,
            operations: entry.Operations,
            pre: entry.PreOperation,
            post: entry.PostOperation,
        });
    }
    // SAFETY: the altitude is a valid UNICODE_STRING per the caller.
    let Some(altitude) =
        (unsafe { unicode::read(&raw const registration.Altitude) }).filter(|a| !a.is_empty())
    else {
        return STATUS_INVALID_PARAMETER;
    };
    if !crate::ps::force_integrity() {
        return STATUS_ACCESS_DENIED;
    }
    let mut state = lock(&STATE);
    if state.registrations.len() >= LIMIT {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    if state.registrations.iter().any(|r| r.altitude == altitude) {
        return STATUS_FLT_INSTANCE_ALTITUDE_COLLISION;
    }
    let handle = state.blocks.issue(0x4F62_4362);
    let first = operations
        .first()
        .and_then(|o| o.pre.map(|f| f as usize).or(o.post.map(|f| f as usize)))
        .unwrap_or(0);
    let slot = CALLBACKS.add(first, 0, 0);
    state.registrations.push(ObRegistration {
        handle,
        slot,
        altitude,
        context: registration.RegistrationContext as usize,
        operations,
    });
    drop(state);
    // SAFETY: writable per the caller.
    unsafe { registration_handle.write(handle as PVOID) };
    STATUS_SUCCESS
}

/// `ObUnRegisterCallbacks` (wdm/nf-wdm-obunregistercallbacks): see the module docs.
///
/// # Safety
/// `registration_handle` came from `ObRegisterCallbacks`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ObUnRegisterCallbacks(registration_handle: PVOID) {
    ddi::enter(&ddi::OB_UNREGISTER_CALLBACKS);
    let handle = registration_handle as usize;
    let slot = {
        let mut state = lock(&STATE);
        state
            .registrations
            .iter()
            .position(|r| r.handle == handle)
            .map(|p| state.registrations.remove(p).slot)
    };
    match slot {
        Some(slot) => {
            CALLBACKS.remove("ObUnRegisterCallbacks", true, |s| s.id == slot);
        }
        None => {
            verifier::model_rule(
                ModelRule::DoubleRelease,
                handle as u64,
                format!(
                    "ObUnRegisterCallbacks({registration_handle:p}): not a registered handle (unregistered twice?)"
                ),
            );
        }
    }
}

/// `ObGetFilterVersion`: undocumented (only in wdm.h); returns
/// `OB_FLT_REGISTRATION_VERSION`.
///
/// # Safety
/// None beyond the C ABI.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ObGetFilterVersion() -> USHORT {
    u16::try_from(OB_FLT_REGISTRATION_VERSION).unwrap_or(0)
}

/// The object a handle operation is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Process `pid`.
    Process(u64),
    /// Thread `tid` of process `pid`.
    Thread(u64, u64),
    /// A desktop.
    Desktop,
}

/// A handle being created or duplicated (the trigger for the callbacks).
#[derive(Clone, Copy, Debug)]
pub struct HandleOperation {
    /// What the handle is to.
    pub target: Target,
    /// `OB_OPERATION_HANDLE_CREATE` or `_DUPLICATE`.
    pub operation: u32,
    /// The access requested.
    pub desired_access: u32,
    /// A kernel handle.
    pub kernel_handle: bool,
    /// The requesting process and thread (the callbacks' context).
    pub source: (u64, u64),
    /// Duplicate operations: the process that owns the handle being
    /// duplicated (`OB_PRE_DUPLICATE_HANDLE_INFORMATION.SourceProcess`).
    pub source_process: u64,
    /// Duplicate operations: the process that receives the new handle
    /// (`TargetProcess`).
    pub target_process: u64,
}

impl HandleOperation {
    /// A user-mode `OpenProcess(desired_access, pid)` from `source`.
    #[must_use]
    pub const fn open_process(pid: u64, desired_access: u32, source: (u64, u64)) -> Self {
        Self {
            target: Target::Process(pid),
            operation: OB_OPERATION_HANDLE_CREATE,
            desired_access,
            kernel_handle: false,
            source,
            source_process: source.0,
            target_process: source.0,
        }
    }

    /// A user-mode `OpenThread(desired_access, tid)` (thread `tid` of
    /// process `pid`) from `source`.
    #[must_use]
    pub const fn open_thread(pid: u64, tid: u64, desired_access: u32, source: (u64, u64)) -> Self {
        Self {
            target: Target::Thread(pid, tid),
            ..Self::open_process(pid, desired_access, source)
        }
    }

    /// A user-mode `DuplicateHandle(source_process, <handle to process pid>,
    /// target_process, desired_access)` called by thread `source`.
    #[must_use]
    pub const fn duplicate_process(
        pid: u64,
        desired_access: u32,
        source: (u64, u64),
        source_process: u64,
        target_process: u64,
    ) -> Self {
        Self {
            operation: OB_OPERATION_HANDLE_DUPLICATE,
            source_process,
            target_process,
            ..Self::open_process(pid, desired_access, source)
        }
    }

    /// The same operation on a kernel handle (`KernelHandle` = TRUE).
    #[must_use]
    pub const fn kernel(self) -> Self {
        Self {
            kernel_handle: true,
            ..self
        }
    }

    /// Runs the registered callbacks that cover this object type and
    /// operation: pre callbacks (highest altitude first), then post
    /// callbacks (reverse order) with the access granted. Returns the
    /// granted access.
    #[must_use = "the access granted"]
    #[allow(
        clippy::too_many_lines,
        reason = "pre and post passes over every registration"
    )]
    pub fn fire(&self) -> u32 {
        let (object, object_type, modifiable): (PVOID, POBJECT_TYPE, u32) = match self.target {
            Target::Process(pid) => (
                objects::process(pid).cast(),
                thread::process_type(),
                PROCESS_MODIFIABLE,
            ),
            Target::Thread(pid, tid) => (
                objects::thread(pid, tid).cast(),
                thread::thread_type(),
                THREAD_MODIFIABLE,
            ),
            Target::Desktop => (
                std::ptr::from_ref(&DESKTOP_OBJECT).cast_mut().cast(),
                thread::desktop_type(),
                0,
            ),
        };
        let duplicate = self.operation == OB_OPERATION_HANDLE_DUPLICATE;
        let _context = ContextScope::enter(self.source.0, Some(self.source.1), context::phase());
        let _irql = IrqlScope::enter(PASSIVE_LEVEL);
        let _critical_region = crate::ps::CriticalRegion::enter();
        let mut desired = self.desired_access;
        let mut called = Vec::new();
        for registration in ordered() {
            for operation in registration
                .operations
                .iter()
                .filter(|o| o.object_type == object_type && o.operations & self.operation != 0)
            {
                // SAFETY: PARAMETERS is a plain-data union; zeroed is valid.
                let mut parameters: OB_PRE_OPERATION_PARAMETERS = unsafe { std::mem::zeroed() };
                if duplicate {
                    parameters.DuplicateHandleInformation.DesiredAccess = desired;
                    parameters.DuplicateHandleInformation.OriginalDesiredAccess = self.desired_access;
                    parameters.DuplicateHandleInformation.SourceProcess =
                        objects::process(self.source_process).cast();
                    parameters.DuplicateHandleInformation.TargetProcess =
                        objects::process(self.target_process).cast();
                } else {
                    parameters.CreateHandleInformation.DesiredAccess = desired;
                    parameters.CreateHandleInformation.OriginalDesiredAccess = self.desired_access;
                }
                // SAFETY: plain data; zeroed is valid.
                let mut info: OB_PRE_OPERATION_INFORMATION = unsafe { std::mem::zeroed() };
                info.Operation = self.operation;
                info.__bindgen_anon_1.Flags = u32::from(self.kernel_handle);
                info.Object = object;
                info.ObjectType = object_type;
                info.Parameters = &raw mut parameters;
                let mut call_context = std::ptr::null_mut();
                if let Some(pre) = operation.pre {
                    let status = crate::ps::invoke(&CALLBACKS, registration.slot, pre as usize, || {
                        // SAFETY: a registered pre-operation callback with valid information.
                        unsafe { pre(registration.context as PVOID, &raw mut info) }
                    });
                    if status.is_some_and(|s| s != OB_PREOP_SUCCESS) {
                        verifier::model_rule(
                            ModelRule::InvalidParameter,
                            pre as usize as u64,
                            "an ObRegisterCallbacks pre-operation callback did not return OB_PREOP_SUCCESS"
                                .to_owned(),
                        );
                    }
                    let new_access = if duplicate {
                        // SAFETY: the union member a duplicate operation uses.
                        unsafe { parameters.DuplicateHandleInformation.DesiredAccess }
                    } else {
                        // SAFETY: the union member a create operation uses.
                        unsafe { parameters.CreateHandleInformation.DesiredAccess }
                    };
                    let added = new_access & !desired;
                    let removed = desired & !new_access;
                    if added != 0 || removed & !modifiable != 0 {
                        verifier::model_rule(
                            ModelRule::InvalidParameter,
                            u64::from(new_access),
                            format!(
                                "a pre-operation callback changed DesiredAccess {desired:#x} -> {new_access:#x}: it may only remove bits of {modifiable:#x}"
                            ),
                        );
                    } else {
                        desired = new_access;
                    }
                    call_context = info.CallContext;
                }
                called.push((registration.clone(), operation.post, call_context));
            }
        }
        for (registration, post, call_context) in called.into_iter().rev() {
            let Some(post) = post else { continue };
            // SAFETY: plain data; zeroed is valid.
            let mut parameters: OB_POST_OPERATION_PARAMETERS = unsafe { std::mem::zeroed() };
            parameters.CreateHandleInformation.GrantedAccess = desired;
            // SAFETY: plain data; zeroed is valid.
            let mut info: OB_POST_OPERATION_INFORMATION = unsafe { std::mem::zeroed() };
            info.Operation = self.operation;
            info.__bindgen_anon_1.Flags = u32::from(self.kernel_handle);
            info.Object = object;
            info.ObjectType = object_type;
            info.CallContext = call_context;
            info.ReturnStatus = STATUS_SUCCESS;
            info.Parameters = &raw mut parameters;
            crate::ps::invoke(&CALLBACKS, registration.slot, post as usize, || {
                // SAFETY: a registered post-operation callback with valid information.
                unsafe { post(registration.context as PVOID, &raw mut info) };
            });
        }
        desired
    }
}

/// The desktop object handle operations on `Target::Desktop` are about.
static DESKTOP_OBJECT: u64 = u64::from_le_bytes(*b"Desktop\0");

pub(crate) fn reset() {
    CALLBACKS.reset();
    let mut state = lock(&STATE);
    state.registrations.clear();
    state.blocks.forget_all();
}
