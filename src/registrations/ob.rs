//! Handle-operation callbacks: `ObRegisterCallbacks` for process, thread
//! and desktop objects, handle create and duplicate, pre and post.
//!
//! The registration (altitude string, operation array) lives in static
//! memory for as long as it is registered. Altitude: `ObAltitude` from
//! `Parameters`, else [`DEFAULT_OB_ALTITUDE`]; on
//! `STATUS_FLT_INSTANCE_ALTITUDE_COLLISION` the driver retries with one
//! digit appended to the fraction (`.7193` -> `.71931` ... `.71939`;
//! `371942` -> `371942.1` ... `371942.9`), which stays strictly between the
//! requested altitude and the next integer
//! ([`kcb_proto::params::altitude_attempt`]), and reports the altitude it got.
//!
//! Policy (off unless `ProtectPids` is set): for handles to a protected
//! process, or to one of its threads, that another process gets (opens, or
//! receives through a duplicate: the duplicate's target process counts),
//! `PROCESS_TERMINATE`, `PROCESS_VM_OPERATION` and `PROCESS_VM_WRITE`
//! (process handles) and `THREAD_TERMINATE`, `THREAD_SUSPEND_RESUME` and
//! `THREAD_SET_CONTEXT` (thread handles) are removed from the desired access
//! (a pre-callback may only remove rights, and all six are on the lists of
//! modifiable rights, wdm/ns-wdm-_ob_pre_create_handle_information); kernel
//! handles are left alone (the docs are silent; system components rely on
//! them).

use core::{ffi::c_void, ptr};

use kcb_proto::SourceId;
use kcb_proto::{
    EventRecord, OB_FLAG_KERNEL_HANDLE, OB_OPERATION_HANDLE_CREATE, OB_OPERATION_HANDLE_DUPLICATE,
    OB_TYPE_DESKTOP, OB_TYPE_PROCESS, OB_TYPE_THREAD, ObjectHandlePayload, kind,
    params::{DEFAULT_OB_ALTITUDE, MAX_ALTITUDE, altitude_attempt},
};
use wdk_sys::{
    _OB_PREOP_CALLBACK_STATUS::OB_PREOP_SUCCESS,
    OB_CALLBACK_REGISTRATION, OB_FLT_REGISTRATION_VERSION, OB_OPERATION_REGISTRATION,
    OB_PREOP_CALLBACK_STATUS, POB_POST_OPERATION_INFORMATION, POB_PRE_OPERATION_INFORMATION, POBJECT_TYPE,
    STATUS_FLT_INSTANCE_ALTITUDE_COLLISION, UNICODE_STRING,
    ntddk::{
        ObRegisterCallbacks, ObUnRegisterCallbacks, PsGetCurrentProcessId, PsGetCurrentThreadId,
        PsGetProcessId, PsGetThreadId, PsGetThreadProcessId,
    },
};

use crate::{
    config::settings,
    kernel::cell::KernelCell,
    kernel::imports::ExDesktopObjectType,
    kernel::imports::PsProcessType,
    kernel::imports::PsThreadType,
    kernel::unicode::Utf16Display,
    kprintln,
    pipeline::events,
    registrations::guard::{Failure, RegistrationOps},
    registrations::report::Api,
};

/// `PROCESS_TERMINATE | PROCESS_VM_OPERATION | PROCESS_VM_WRITE` (winnt.h).
pub const PROTECTED_ACCESS: u32 = 0x0001 | 0x0008 | 0x0020;

/// `THREAD_TERMINATE | THREAD_SUSPEND_RESUME | THREAD_SET_CONTEXT` (winnt.h).
pub const PROTECTED_THREAD_ACCESS: u32 = 0x0001 | 0x0002 | 0x0010;

/// Retries after an altitude collision.
pub const ALTITUDE_RETRIES: usize = 9;

/// The registration the kernel reads: pinned in static memory.
struct Storage {
    altitude: [u16; MAX_ALTITUDE],
    operations: [OB_OPERATION_REGISTRATION; 3],
    registration: OB_CALLBACK_REGISTRATION,
}

/// Written only by `register` at PASSIVE_LEVEL in DriverEntry while nothing
/// is registered (the guard is unique); read by the kernel afterwards.
static STORAGE: KernelCell<Storage> = KernelCell::new(Storage {
    altitude: [0; MAX_ALTITUDE],
    operations: [OB_OPERATION_REGISTRATION {
        ObjectType: ptr::null_mut(),
        Operations: 0,
        PreOperation: None,
        PostOperation: None,
    }; 3],
    registration: OB_CALLBACK_REGISTRATION {
        Version: 0,
        OperationRegistrationCount: 0,
        Altitude: UNICODE_STRING {
            Length: 0,
            MaximumLength: 0,
            Buffer: ptr::null_mut(),
        },
        RegistrationContext: ptr::null_mut(),
        OperationRegistration: ptr::null_mut(),
    },
});

/// `ObRegisterCallbacks` / `ObUnRegisterCallbacks`.
pub struct HandleCallbacks;

/// The registration handle.
pub struct ObHandle(*mut c_void);

impl RegistrationOps for HandleCallbacks {
    type Args = ();
    type Token = ObHandle;
    const SOURCE: Option<SourceId> = Some(SourceId::ObjectHandle);
    const API: Api = Api::ObRegisterCallbacks;

    /// `<= APC_LEVEL` (here PASSIVE, DriverEntry). `STATUS_ACCESS_DENIED`
    /// without FORCE_INTEGRITY; collisions are retried (module docs).
    fn register((): ()) -> Result<ObHandle, Failure> {
        let altitude = settings::get().policy.ob_altitude;
        let base = if altitude.units().is_empty() {
            kcb_proto::params::InlineName::<MAX_ALTITUDE>::from_ascii(DEFAULT_OB_ALTITUDE)
        } else {
            altitude
        };
        let mut last = STATUS_FLT_INSTANCE_ALTITUDE_COLLISION;
        for attempt in 0..=ALTITUDE_RETRIES {
            // SAFETY: DriverEntry, nothing registered: exclusive access.
            let storage = unsafe { &mut *STORAGE.get() };
            if !fill(storage, base.units(), attempt) {
                // No retry fits in the longest altitude string.
                break;
            }
            let mut handle: *mut c_void = ptr::null_mut();
            // SAFETY: the registration and everything it points to is static
            // and stays unchanged while registered; the routines are 'static.
            let status = unsafe { ObRegisterCallbacks(&raw mut storage.registration, &raw mut handle) };
            if status == STATUS_FLT_INSTANCE_ALTITUDE_COLLISION {
                last = status;
                continue;
            }
            if status < 0 {
                return Err(status.into());
            }
            let len = usize::from(storage.registration.Altitude.Length / 2);
            kprintln!(
                "ObRegisterCallbacks altitude {}",
                Utf16Display(&storage.altitude[..len])
            );
            return Ok(ObHandle(handle));
        }
        Err(last.into())
    }

    unsafe fn unregister(token: ObHandle) {
        // SAFETY: the handle came from ObRegisterCallbacks; unregistered once.
        unsafe { ObUnRegisterCallbacks(token.0) };
    }
}

/// Builds the registration for `attempt` (the altitude of
/// [`altitude_attempt`]); `false` if that attempt does not exist.
fn fill(storage: &mut Storage, altitude: &[u16], attempt: usize) -> bool {
    let Some(len) = altitude_attempt(altitude, attempt, &mut storage.altitude) else {
        return false;
    };
    // The addresses of the kernel's object-type variables (data imports,
    // valid for the system's life), as OB_OPERATION_REGISTRATION wants them.
    let types: [*mut POBJECT_TYPE; 3] = [
        (&raw const PsProcessType).cast_mut(),
        (&raw const PsThreadType).cast_mut(),
        (&raw const ExDesktopObjectType).cast_mut(),
    ];
    let operations = OB_OPERATION_HANDLE_CREATE | OB_OPERATION_HANDLE_DUPLICATE;
    for (operation, object_type) in storage.operations.iter_mut().zip(types) {
        *operation = OB_OPERATION_REGISTRATION {
            ObjectType: object_type,
            Operations: operations,
            PreOperation: Some(pre_operation),
            PostOperation: Some(post_operation),
        };
    }
    #[allow(clippy::cast_possible_truncation, reason = "at most 62 bytes")]
    let bytes = (len * 2) as u16;
    storage.registration = OB_CALLBACK_REGISTRATION {
        #[allow(clippy::cast_possible_truncation, reason = "0x0100")]
        Version: OB_FLT_REGISTRATION_VERSION as u16,
        OperationRegistrationCount: 3,
        Altitude: UNICODE_STRING {
            Length: bytes,
            MaximumLength: bytes,
            Buffer: storage.altitude.as_mut_ptr(),
        },
        RegistrationContext: ptr::null_mut(),
        OperationRegistration: storage.operations.as_mut_ptr(),
    };
    true
}

/// What both callbacks record about an operation: which, on what, by whom.
struct Subject {
    operation: u32,
    object_type: u32,
    /// Target process and thread ids.
    target: (u64, u64),
    /// Requesting process and thread ids.
    source: (u64, u64),
    kernel_handle: bool,
}

impl Subject {
    /// Describes `operation` on `object` (of `object_type`) by the current
    /// thread; `flags` is the information's `Flags` (bit 0: kernel handle).
    #[allow(clippy::similar_names, reason = "pid/tid pairs")]
    fn new(operation: u32, object_type: POBJECT_TYPE, object: *mut c_void, flags: u32) -> Self {
        let (object_type, target_pid, target_tid) = describe(object_type, object);
        Self {
            operation,
            object_type,
            target: (target_pid, target_tid),
            source: source_ids(),
            kernel_handle: flags & 1 != 0,
        }
    }

    /// A record of `kind` with these fields, then `fill`'s.
    fn record(&self, kind: u16, fill: impl FnOnce(&mut ObjectHandlePayload)) -> EventRecord {
        EventRecord::build(kind, |payload: &mut ObjectHandlePayload| {
            payload.operation = self.operation;
            payload.object_type = self.object_type;
            (payload.target_pid, payload.target_tid) = self.target;
            (payload.source_pid, payload.source_tid) = self.source;
            payload.flags = if self.kernel_handle {
                OB_FLAG_KERNEL_HANDLE
            } else {
                0
            };
            fill(payload);
        })
    }
}

/// Classifies an object by type; `(type, target pid, target tid)`.
fn describe(object_type: POBJECT_TYPE, object: *mut c_void) -> (u32, u64, u64) {
    // SAFETY: reading the exported type variable (set before any driver loads).
    let process = unsafe { PsProcessType };
    // SAFETY: as above.
    let thread = unsafe { PsThreadType };
    if object_type == process {
        // SAFETY: the object is a process (its type says so), referenced during the callback.
        (
            OB_TYPE_PROCESS,
            unsafe { PsGetProcessId(object.cast()) } as u64,
            0,
        )
    } else if object_type == thread {
        // SAFETY: the object is a thread, referenced during the callback.
        let pid = unsafe { PsGetThreadProcessId(object.cast()) } as u64;
        // SAFETY: as above.
        let tid = unsafe { PsGetThreadId(object.cast()) } as u64;
        (OB_TYPE_THREAD, pid, tid)
    } else {
        (OB_TYPE_DESKTOP, 0, 0)
    }
}

fn source_ids() -> (u64, u64) {
    // SAFETY: callable at any IRQL.
    let pid = unsafe { PsGetCurrentProcessId() } as u64;
    // SAFETY: as above.
    let tid = unsafe { PsGetCurrentThreadId() } as u64;
    (pid, tid)
}

/// `POB_PRE_OPERATION_CALLBACK`: PASSIVE_LEVEL, arbitrary thread context.
#[allow(clippy::similar_names, reason = "pid/tid pairs")]
/// Records the request and applies the protect policy. Always returns
/// `OB_PREOP_SUCCESS` (the only allowed value).
unsafe extern "C" fn pre_operation(
    _context: *mut c_void,
    info: POB_PRE_OPERATION_INFORMATION,
) -> OB_PREOP_CALLBACK_STATUS {
    let _cost = crate::pipeline::cost::Span::start(kcb_proto::SourceId::ObjectHandle);
    if info.is_null() {
        return OB_PREOP_SUCCESS;
    }
    // SAFETY: non-null, valid and writable (Parameters) during the callback.
    let info = unsafe { &mut *info };
    // SAFETY: every bit pattern of the Flags union is a valid u32.
    let flags = unsafe { info.__bindgen_anon_1.Flags };
    let subject = Subject::new(info.Operation, info.ObjectType, info.Object, flags);
    let Subject {
        object_type,
        target: (target_pid, _),
        source: (source_pid, _),
        kernel_handle,
        ..
    } = subject;
    if info.Parameters.is_null() {
        return OB_PREOP_SUCCESS;
    }
    // SAFETY: non-null parameters of this operation.
    let parameters = unsafe { &mut *info.Parameters };
    let duplicate = info.Operation == OB_OPERATION_HANDLE_DUPLICATE;
    // Both members start with DesiredAccess, OriginalDesiredAccess; the one
    // matching the operation is the active one.
    // The process that gets the handle: the requester for a create, the
    // target process of a duplicate (which may differ from the current
    // process, e.g. a process duplicating a handle to itself into another;
    // wdm/ns-wdm-_ob_pre_duplicate_handle_information).
    let (requested, original, receiver_pid) = if duplicate {
        // SAFETY: a duplicate operation: DuplicateHandleInformation is active.
        let d = unsafe { parameters.DuplicateHandleInformation };
        let receiver = if d.TargetProcess.is_null() {
            source_pid
        } else {
            // SAFETY: the target process object, referenced during the callback.
            (unsafe { PsGetProcessId(d.TargetProcess.cast()) }) as u64
        };
        (d.DesiredAccess, d.OriginalDesiredAccess, receiver)
    } else {
        // SAFETY: a create operation: CreateHandleInformation is active.
        let c = unsafe { parameters.CreateHandleInformation };
        (c.DesiredAccess, c.OriginalDesiredAccess, source_pid)
    };
    let policy = &settings::get().policy;
    // For a thread, `target_pid` is the process the thread belongs to.
    let protected = match object_type {
        OB_TYPE_PROCESS => PROTECTED_ACCESS,
        OB_TYPE_THREAD => PROTECTED_THREAD_ACCESS,
        _ => 0,
    };
    let stripped = if protected != 0
        && !kernel_handle
        && receiver_pid != target_pid
        && policy.protect_policy_active()
        && policy.is_protected(target_pid)
    {
        requested & protected
    } else {
        0
    };
    let desired = requested & !stripped;
    if stripped != 0 {
        if duplicate {
            // SAFETY: the active member (see above), read then written back whole.
            let mut d = unsafe { parameters.DuplicateHandleInformation };
            d.DesiredAccess = desired;
            parameters.DuplicateHandleInformation = d;
        } else {
            // SAFETY: as above.
            let mut c = unsafe { parameters.CreateHandleInformation };
            c.DesiredAccess = desired;
            parameters.CreateHandleInformation = c;
        }
    }
    let record = subject.record(kind::PRE, |payload| {
        // As seen on entry (kcb_proto::ObjectHandlePayload); what was
        // removed is `stripped_access`.
        payload.desired_access = requested;
        payload.original_desired_access = original;
        payload.stripped_access = stripped;
    });
    events::record_for_process(record, source_pid);
    OB_PREOP_SUCCESS
}

/// `POB_POST_OPERATION_CALLBACK`: PASSIVE_LEVEL; records the granted access.
#[allow(clippy::similar_names, reason = "pid/tid pairs")]
unsafe extern "C" fn post_operation(_context: *mut c_void, info: POB_POST_OPERATION_INFORMATION) {
    let _cost = crate::pipeline::cost::Span::start(kcb_proto::SourceId::ObjectHandle);
    if info.is_null() {
        return;
    }
    // SAFETY: non-null and valid (read-only) during the callback.
    let info = unsafe { &*info };
    // SAFETY: every bit pattern of the Flags union is a valid u32.
    let flags = unsafe { info.__bindgen_anon_1.Flags };
    let subject = Subject::new(info.Operation, info.ObjectType, info.Object, flags);
    // Parameters are valid only when the operation succeeded
    // (wdm/ns-wdm-_ob_post_operation_information).
    let granted = if info.ReturnStatus >= 0 && !info.Parameters.is_null() {
        // SAFETY: valid (non-null) parameters of a successful operation.
        let parameters = unsafe { &*info.Parameters };
        // SAFETY: GrantedAccess is the first field of both members.
        unsafe { parameters.CreateHandleInformation.GrantedAccess }
    } else {
        0
    };
    let record = subject.record(kind::POST, |payload| {
        payload.granted_access = granted;
        payload.return_status = info.ReturnStatus;
    });
    events::record_for_process(record, subject.source.0);
}
