//! Process and thread objects (`PEPROCESS`, `PETHREAD`) as the callbacks see
//! them: opaque pointers to small blocks the model owns, one per id, whose
//! ids `PsGetProcessId`, `PsGetThreadId` and `PsGetThreadProcessId` return.

#![allow(non_snake_case)]

use std::collections::HashMap;
use std::sync::Mutex;

use wdk_sys::{HANDLE, NTSTATUS, PEPROCESS, PETHREAD, STATUS_PENDING};

use crate::verifier::{self, ModelRule};
use crate::{ddi, sync::lock};

/// The block behind a `PEPROCESS`.
#[repr(C)]
struct ProcessBody {
    signature: u32,
    pid: u64,
    exit_status: NTSTATUS,
}

/// The block behind a `PETHREAD`.
#[repr(C)]
struct ThreadBody {
    signature: u32,
    pid: u64,
    tid: u64,
}

const PROCESS_SIGNATURE: u32 = u32::from_le_bytes(*b"Proc");
const THREAD_SIGNATURE: u32 = u32::from_le_bytes(*b"Thre");

#[derive(Default)]
struct Objects {
    processes: HashMap<u64, Box<ProcessBody>>,
    threads: HashMap<u64, Box<ThreadBody>>,
}

static OBJECTS: Mutex<Option<Objects>> = Mutex::new(None);

fn with_objects<R>(f: impl FnOnce(&mut Objects) -> R) -> R {
    let mut guard = lock(&OBJECTS);
    f(guard.get_or_insert_with(Objects::default))
}

/// The `PEPROCESS` of process `pid` (created on first use).
#[must_use]
pub fn process(pid: u64) -> PEPROCESS {
    with_objects(|o| {
        let body = o.processes.entry(pid).or_insert_with(|| {
            Box::new(ProcessBody {
                signature: PROCESS_SIGNATURE,
                pid,
                exit_status: STATUS_PENDING,
            })
        });
        std::ptr::from_mut::<ProcessBody>(body).cast()
    })
}

/// The `PETHREAD` of thread `tid` in process `pid` (created on first use).
#[must_use]
pub fn thread(pid: u64, tid: u64) -> PETHREAD {
    with_objects(|o| {
        let body = o.threads.entry(tid).or_insert_with(|| {
            Box::new(ThreadBody {
                signature: THREAD_SIGNATURE,
                pid,
                tid,
            })
        });
        std::ptr::from_mut::<ThreadBody>(body).cast()
    })
}

/// Records process `pid`'s exit status.
pub(crate) fn set_exit_status(pid: u64, status: NTSTATUS) {
    let _ = process(pid);
    with_objects(|o| {
        if let Some(body) = o.processes.get_mut(&pid) {
            body.exit_status = status;
        }
    });
}

fn find_process(process: PEPROCESS) -> Option<(u64, NTSTATUS)> {
    with_objects(|o| {
        o.processes
            .values()
            .find(|b| {
                std::ptr::from_ref::<ProcessBody>(b).cast::<wdk_sys::_EPROCESS>() == process.cast_const()
            })
            .map(|b| (b.pid, b.exit_status))
    })
}

fn find_thread(thread: PETHREAD) -> Option<(u64, u64)> {
    with_objects(|o| {
        o.threads
            .values()
            .find(|b| std::ptr::from_ref::<ThreadBody>(b).cast::<wdk_sys::_ETHREAD>() == thread.cast_const())
            .map(|b| (b.pid, b.tid))
    })
}

fn unknown(ddi: &str, object: *const std::ffi::c_void) {
    verifier::model_rule(
        ModelRule::UnknownObject,
        object as u64,
        format!("{ddi}({object:p}): not an object the model made"),
    );
}

/// The id `pick` selects from what the model knows of an object (`found`)
/// as a `HANDLE`; NULL, reported as an unknown object, when `object`, passed
/// to `ddi`, is not an object the model made (`found` is `None`).
fn id_or_unknown<T>(
    ddi: &str,
    object: *const std::ffi::c_void,
    found: Option<T>,
    pick: fn(T) -> u64,
) -> HANDLE {
    found.map_or_else(
        || {
            unknown(ddi, object);
            std::ptr::null_mut()
        },
        |found| pick(found) as HANDLE,
    )
}

/// `PsGetProcessId` (ntifs/nf-ntifs-psgetprocessid): the process id.
///
/// # Safety
/// `process` is a process object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PsGetProcessId(process: PEPROCESS) -> HANDLE {
    ddi::enter(&ddi::PS_GET_PROCESS_ID);
    let ids = find_process(process);
    id_or_unknown("PsGetProcessId", process.cast_const().cast(), ids, |(pid, _)| pid)
}

/// `PsGetThreadId` (ntddk/nf-ntddk-psgetthreadid): the thread id.
///
/// # Safety
/// `thread` is a thread object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PsGetThreadId(thread: PETHREAD) -> HANDLE {
    ddi::enter(&ddi::PS_GET_THREAD_ID);
    let ids = find_thread(thread);
    id_or_unknown("PsGetThreadId", thread.cast_const().cast(), ids, |(_, tid)| tid)
}

/// `PsGetThreadProcessId` (ntifs/nf-ntifs-psgetthreadprocessid): the id of
/// the thread's process.
///
/// # Safety
/// `thread` is a thread object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PsGetThreadProcessId(thread: PETHREAD) -> HANDLE {
    ddi::enter(&ddi::PS_GET_THREAD_PROCESS_ID);
    let ids = find_thread(thread);
    id_or_unknown(
        "PsGetThreadProcessId",
        thread.cast_const().cast(),
        ids,
        |(pid, _)| pid,
    )
}

/// `PsGetProcessExitStatus`: exported but undocumented; modeled as
/// `STATUS_PENDING` while the process runs and the status passed to
/// [`crate::trigger::process_exit_with_status`] afterwards.
///
/// # Safety
/// `process` is a process object.
pub unsafe extern "C" fn ps_get_process_exit_status(process: PEPROCESS) -> NTSTATUS {
    ddi::enter(&ddi::PS_GET_PROCESS_EXIT_STATUS);
    find_process(process).map_or_else(
        || {
            unknown("PsGetProcessExitStatus", process.cast_const().cast());
            STATUS_PENDING
        },
        |(_, status)| status,
    )
}

pub(crate) fn reset() {
    let old = lock(&OBJECTS).take();
    // Blocks of a previous test may still be referenced by a driver static.
    std::mem::forget(old);
}
