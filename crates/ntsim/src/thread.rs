//! System threads, kernel handles, the current process/thread ids, and the
//! object-type data exports (`PsThreadType`, ...).
//!
//! `PsCreateSystemThread` (wdm/nf-wdm-pscreatesystemthread) runs the start
//! routine on a real host thread, at `PASSIVE_LEVEL`, in the System process
//! (pid 4) with its own thread id, and returns a kernel handle. The thread
//! runs "until ... the thread terminates itself by calling
//! PsTerminateSystemThread"; returning from the start routine is not
//! described there and is treated as termination (the model's choice).
//! `PsTerminateSystemThread` (wdm/nf-wdm-psterminatesystemthread) does not
//! return: the thread is marked terminated, waiters are woken, and the host
//! thread parks forever inside the model (unwinding through the driver's
//! `extern "C"` frames would abort the process). Called from a thread that
//! is not a system thread it returns `STATUS_INVALID_PARAMETER` (the page
//! says "an error NTSTATUS value").

#![allow(non_snake_case, non_upper_case_globals)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wdk_sys::{
    BOOLEAN, HANDLE, NTSTATUS, OBJ_EXCLUSIVE, OBJ_KERNEL_HANDLE, OBJ_OPENIF, OBJ_PERMANENT, PCLIENT_ID,
    PHANDLE, PKSTART_ROUTINE, PLARGE_INTEGER, POBJECT_ATTRIBUTES, POBJECT_TYPE, PVOID,
    STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_HANDLE, STATUS_INVALID_PARAMETER, STATUS_NOT_IMPLEMENTED,
    STATUS_SUCCESS, ULONG,
};

use crate::context::{self, ContextScope, Phase, SYSTEM_PID};
use crate::irql::{IrqlScope, PASSIVE_LEVEL};
use crate::verifier::{self, ModelRule, codes};
use crate::{ddi, freeze, ke, sync::lock};

/// A system thread the driver created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemThread {
    /// Thread id.
    pub tid: u64,
    /// Start routine address.
    pub start: usize,
    /// Whether it has terminated.
    pub terminated: bool,
    /// Exit status (when terminated).
    pub exit_status: NTSTATUS,
}

/// What a kernel handle refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandleObject {
    /// A thread, by id.
    Thread(u64),
    /// A registry key, by canonical path.
    Key(String),
    /// An object directory, by canonical path.
    Directory(String),
    /// An object opened by pointer (`ObOpenObjectByPointer`): its address
    /// and the access granted.
    Object(usize, u32),
}

#[derive(Default)]
struct Threads {
    threads: HashMap<u64, SystemThread>,
    handles: HashMap<usize, HandleObject>,
}

static THREADS: Mutex<Option<Threads>> = Mutex::new(None);
static NEXT_HANDLE: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static SYSTEM_THREAD: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

fn with_threads<R>(f: impl FnOnce(&mut Threads) -> R) -> R {
    let mut guard = lock(&THREADS);
    f(guard.get_or_insert_with(Threads::default))
}

/// Kernel handle values have the top bit set (0xFFFFFFFF8xxxxxxx on x64).
fn new_kernel_handle() -> usize {
    let index = NEXT_HANDLE.fetch_add(1, Ordering::Relaxed);
    usize::try_from(0xFFFF_FFFF_8000_0000_u64 | (index * 4)).unwrap_or(usize::MAX)
}

/// The system threads created since boot.
#[must_use]
pub fn system_threads() -> Vec<SystemThread> {
    let mut list: Vec<_> = with_threads(|t| t.threads.values().cloned().collect());
    list.sort_by_key(|t| t.tid);
    list
}

/// Opens a kernel handle to `object`.
pub(crate) fn open_handle(object: HandleObject) -> HANDLE {
    let handle = new_kernel_handle();
    with_threads(|t| t.handles.insert(handle, object));
    handle as HANDLE
}

/// What `handle` refers to, if it is open.
pub(crate) fn handle_object(handle: HANDLE) -> Option<HandleObject> {
    with_threads(|t| t.handles.get(&(handle as usize)).cloned())
}

/// The kernel handles open now.
#[must_use]
pub fn open_handles() -> Vec<(usize, HandleObject)> {
    with_threads(|t| t.handles.iter().map(|(h, o)| (*h, o.clone())).collect())
}

fn mark_terminated(tid: u64, status: NTSTATUS) {
    with_threads(|t| {
        if let Some(thread) = t.threads.get_mut(&tid) {
            thread.terminated = true;
            thread.exit_status = status;
        }
    });
    ke::lock_dispatcher().threads.insert(tid, true);
    ke::wake_all();
}

struct StartContext(PVOID);
// SAFETY: the start context is an opaque value the driver hands to its own thread.
unsafe impl Send for StartContext {}

/// `PsCreateSystemThread` (wdm/nf-wdm-pscreatesystemthread): PASSIVE_LEVEL,
/// rule IrqlPsPassive. `OBJ_PERMANENT`, `OBJ_EXCLUSIVE` and `OBJ_OPENIF` are
/// invalid (`STATUS_INVALID_PARAMETER`); a caller outside the System process
/// must ask for `OBJ_KERNEL_HANDLE` (recorded as an NSIM violation). Only
/// `ProcessHandle == NULL` (the System process) is modeled; anything else
/// returns `STATUS_NOT_IMPLEMENTED`.
///
/// # Safety
/// `thread_handle` is writable; `object_attributes` and `client_id` are null
/// or valid; `start_routine` stays callable until the thread exits.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PsCreateSystemThread(
    thread_handle: PHANDLE,
    _desired_access: ULONG,
    object_attributes: POBJECT_ATTRIBUTES,
    process_handle: HANDLE,
    client_id: PCLIENT_ID,
    start_routine: PKSTART_ROUTINE,
    start_context: PVOID,
) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::PS_CREATE_SYSTEM_THREAD));
    if thread_handle.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    let Some(start) = start_routine else {
        return STATUS_INVALID_PARAMETER;
    };
    let attributes = if object_attributes.is_null() {
        0
    } else {
        // SAFETY: valid per the caller.
        unsafe { (*object_attributes).Attributes }
    };
    if attributes & (OBJ_PERMANENT | OBJ_EXCLUSIVE | OBJ_OPENIF) != 0 {
        return STATUS_INVALID_PARAMETER;
    }
    if attributes & OBJ_KERNEL_HANDLE == 0 && context::current_pid() != SYSTEM_PID {
        verifier::model_rule(
            ModelRule::InvalidParameter,
            u64::from(attributes),
            "PsCreateSystemThread outside the System process without OBJ_KERNEL_HANDLE".to_owned(),
        );
    }
    if !process_handle.is_null() {
        return STATUS_NOT_IMPLEMENTED;
    }
    let tid = context::new_tid();
    let handle = new_kernel_handle();
    with_threads(|t| {
        t.threads.insert(
            tid,
            SystemThread {
                tid,
                start: start as usize,
                terminated: false,
                exit_status: 0,
            },
        );
        t.handles.insert(handle, HandleObject::Thread(tid));
    });
    ke::lock_dispatcher().threads.insert(tid, false);
    let context = StartContext(start_context);
    let spawned = std::thread::Builder::new()
        .name(format!("ntsim-system-thread-{tid:#x}"))
        .spawn(move || {
            let context = context;
            context::set_identity(SYSTEM_PID, tid);
            SYSTEM_THREAD.with(|s| s.set(Some(tid)));
            let _irql = IrqlScope::enter(PASSIVE_LEVEL);
            let _phase = ContextScope::phase(Phase::SystemThread);
            // SAFETY: the driver's start routine with the context it supplied.
            unsafe { start(context.0) };
            mark_terminated(tid, STATUS_SUCCESS);
        });
    if spawned.is_err() {
        with_threads(|t| {
            t.threads.remove(&tid);
            t.handles.remove(&handle);
        });
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    // SAFETY: writable per the caller.
    unsafe { thread_handle.write(handle as HANDLE) };
    if !client_id.is_null() {
        // SAFETY: writable per the caller.
        unsafe {
            client_id.write(wdk_sys::CLIENT_ID {
                UniqueProcess: SYSTEM_PID as HANDLE,
                UniqueThread: tid as HANDLE,
            });
        };
    }
    STATUS_SUCCESS
}

/// `PsTerminateSystemThread` (wdm/nf-wdm-psterminatesystemthread):
/// PASSIVE_LEVEL, rule IrqlPsPassive. Does not return when called on a
/// system thread.
///
/// # Safety
/// None beyond the C ABI.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PsTerminateSystemThread(exit_status: NTSTATUS) -> NTSTATUS {
    ddi::enter(&ddi::PS_TERMINATE_SYSTEM_THREAD);
    let Some(tid) = SYSTEM_THREAD.with(std::cell::Cell::get) else {
        return STATUS_INVALID_PARAMETER;
    };
    mark_terminated(tid, exit_status);
    loop {
        std::thread::park();
    }
}

/// `ZwWaitForSingleObject` (ntifs/nf-ntifs-zwwaitforsingleobject) on a
/// thread handle: waits until the thread terminated. PASSIVE_LEVEL (Zw
/// routines: 0xC4/0xE6). Unknown handle: `STATUS_INVALID_HANDLE`.
///
/// # Safety
/// `timeout` is null or readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ZwWaitForSingleObject(
    handle: HANDLE,
    _alertable: BOOLEAN,
    timeout: PLARGE_INTEGER,
) -> NTSTATUS {
    ddi::zw_passive(&ddi::ZW_WAIT_FOR_SINGLE_OBJECT);
    let Some(HandleObject::Thread(tid)) = with_threads(|t| t.handles.get(&(handle as usize)).cloned()) else {
        return STATUS_INVALID_HANDLE;
    };
    if SYSTEM_THREAD.with(std::cell::Cell::get) == Some(tid) {
        verifier::model_rule(
            ModelRule::InvalidParameter,
            handle as u64,
            "ZwWaitForSingleObject: a thread waits for its own termination (deadlock)".to_owned(),
        );
        return wdk_sys::STATUS_TIMEOUT;
    }
    // SAFETY: null or readable per the caller.
    let deadline = unsafe { ke::deadline(timeout) };
    ke::wait_until("a system thread to terminate", deadline, |d| {
        d.threads.get(&tid).copied().unwrap_or(true)
    })
}

/// `ZwClose` (wdm/nf-wdm-zwclose): PASSIVE_LEVEL, rule IrqlZwPassive. An
/// invalid handle returns `STATUS_INVALID_HANDLE` and, with the checks on,
/// records bug check 0x93 INVALID_KERNEL_HANDLE (P1 the handle, P2 1).
///
/// # Safety
/// None beyond the C ABI.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ZwClose(handle: HANDLE) -> NTSTATUS {
    ddi::enter(&ddi::ZW_CLOSE);
    if with_threads(|t| t.handles.remove(&(handle as usize))).is_none() {
        verifier::bugcheck(
            codes::INVALID_KERNEL_HANDLE,
            [handle as u64, 1, 0, 0],
            format!("ZwClose({handle:p}): not an open kernel handle"),
        );
        return STATUS_INVALID_HANDLE;
    }
    STATUS_SUCCESS
}

/// `PsGetCurrentProcessId` (ntddk/nf-ntddk-psgetcurrentprocessid): any IRQL.
///
/// # Safety
/// None beyond the C ABI.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PsGetCurrentProcessId() -> HANDLE {
    ddi::enter(&ddi::PS_GET_CURRENT_PROCESS_ID);
    context::current_pid() as HANDLE
}

/// `PsGetCurrentThreadId` (ntddk/nf-ntddk-psgetcurrentthreadid): any IRQL.
///
/// # Safety
/// None beyond the C ABI.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PsGetCurrentThreadId() -> HANDLE {
    ddi::enter(&ddi::PS_GET_CURRENT_THREAD_ID);
    context::current_tid() as HANDLE
}

/// An object type (opaque to drivers: they only compare and pass pointers).
#[repr(C)]
pub struct ObjectType {
    /// The type's name, for debugging.
    pub name: &'static str,
}

/// A data export whose value is a pointer. `#[repr(transparent)]` over the
/// pointer, so its layout is the C variable's.
#[repr(transparent)]
pub struct Export<T>(pub *mut T);

// SAFETY: the exported cells are immutable after initialisation; drivers only read them.
unsafe impl<T> Sync for Export<T> {}

static THREAD_TYPE: ObjectType = ObjectType { name: "Thread" };
static PROCESS_TYPE: ObjectType = ObjectType { name: "Process" };
static DESKTOP_TYPE: ObjectType = ObjectType { name: "Desktop" };
static FILE_TYPE: ObjectType = ObjectType { name: "File" };
static DEVICE_TYPE: ObjectType = ObjectType { name: "Device" };

// The kernel's variables are `POBJECT_TYPE PsProcessType` etc.; C code sees
// them through `extern POBJECT_TYPE *PsProcessType` (the import's address),
// so the exported symbol *is* the variable holding the type pointer, and its
// address is what OB_OPERATION_REGISTRATION.ObjectType takes.

/// `PsThreadType`: the variable holding the thread object type.
#[unsafe(no_mangle)]
pub static PsThreadType: Export<wdk_sys::_OBJECT_TYPE> = Export((&raw const THREAD_TYPE).cast_mut().cast());
/// `PsProcessType`: the variable holding the process object type.
#[unsafe(no_mangle)]
pub static PsProcessType: Export<wdk_sys::_OBJECT_TYPE> = Export((&raw const PROCESS_TYPE).cast_mut().cast());
/// `ExDesktopObjectType`: the variable holding the desktop object type.
#[unsafe(no_mangle)]
pub static ExDesktopObjectType: Export<wdk_sys::_OBJECT_TYPE> =
    Export((&raw const DESKTOP_TYPE).cast_mut().cast());
/// `IoFileObjectType`.
#[unsafe(no_mangle)]
pub static IoFileObjectType: Export<wdk_sys::_OBJECT_TYPE> = Export((&raw const FILE_TYPE).cast_mut().cast());
/// `IoDeviceObjectType`.
#[unsafe(no_mangle)]
pub static IoDeviceObjectType: Export<wdk_sys::_OBJECT_TYPE> =
    Export((&raw const DEVICE_TYPE).cast_mut().cast());

/// The process object type (the value of `PsProcessType`).
#[must_use]
pub fn process_type() -> POBJECT_TYPE {
    PsProcessType.0
}

/// The thread object type (the value of `PsThreadType`).
#[must_use]
pub fn thread_type() -> POBJECT_TYPE {
    PsThreadType.0
}

/// The desktop object type (the value of `ExDesktopObjectType`).
#[must_use]
pub fn desktop_type() -> POBJECT_TYPE {
    ExDesktopObjectType.0
}

/// The name of the object type a `POBJECT_TYPE` stands for (`"Thread"`, `"Process"`, ...).
#[must_use]
pub fn object_type_name(object_type: POBJECT_TYPE) -> Option<&'static str> {
    [
        &THREAD_TYPE,
        &PROCESS_TYPE,
        &DESKTOP_TYPE,
        &FILE_TYPE,
        &DEVICE_TYPE,
    ]
    .into_iter()
    .find(|t| std::ptr::from_ref::<ObjectType>(t).cast::<wdk_sys::_OBJECT_TYPE>() == object_type.cast_const())
    .map(|t| t.name)
}

/// Forgets threads and handles. Threads of a previous test that still run
/// keep running (a parked terminated thread stays parked).
pub(crate) fn reset() {
    *lock(&THREADS) = Some(Threads::default());
}

/// The machine stays frozen until this is dropped.
pub(crate) struct Frozen {
    nested: bool,
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if self.nested {
            return;
        }
        freeze::release();
        ke::wake_all();
    }
}

/// How long [`freeze_other_processors`] waits for the system threads to stop.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(2);

/// Stops the other "processors" as `KeBugCheckEx` does before it calls the
/// bug check callbacks (which therefore need no lock:
/// kernel/writing-a-bug-check-callback-routine forbids synchronization).
/// In the model every running system thread stops at its next DDI call or
/// wait; this returns once each live system thread is parked (or after
/// [`FREEZE_TIMEOUT`], for a thread that runs without calling the kernel).
pub(crate) fn freeze_other_processors() -> Frozen {
    if !freeze::claim() {
        return Frozen { nested: true };
    }
    ke::wake_all();
    let own_tid = context::current_tid();
    let started = Instant::now();
    loop {
        let running: Vec<u64> = system_threads()
            .into_iter()
            .filter(|t| !t.terminated && t.tid != own_tid)
            .map(|t| t.tid)
            .collect();
        if freeze::all_parked(&running) || started.elapsed() > FREEZE_TIMEOUT {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Frozen { nested: false }
}
