//! The process, thread, image, object-handle and registry families through
//! the driver's REAL `DriverEntry`, notify routines, `READ_EVENTS` and
//! `GET_REPORT`, against the kernel model (kernel-semantics.md §2-§6, §20).
//!
//! Every test uses its own range of process ids, so records a previous test
//! left in the driver's static queues never match.

#![allow(clippy::too_many_lines, reason = "scripted scenarios")]

use kcb_proto::{
    EventRecord, IMAGE_FLAG_EXTENDED_INFO, IMAGE_FLAG_SYSTEM_MODE, ImageLoadPayload, OB_FLAG_KERNEL_HANDLE,
    OB_OPERATION_HANDLE_CREATE, OB_OPERATION_HANDLE_DUPLICATE, OB_TYPE_PROCESS, OB_TYPE_THREAD,
    ObjectHandlePayload, PROCESS_FLAG_DENIED_BY_POLICY, PROCESS_FLAG_FILE_OPEN_NAME_AVAILABLE,
    ProcessPayload, RegistrationState, RegistryPayload, SourceId, THREAD_FLAG_CREATOR_CONTEXT,
    THREAD_FLAG_REMOTE, ThreadPayload, WStr, kind,
    params::{DEFAULT_CM_ALTITUDE, DEFAULT_OB_ALTITUDE},
};
use ntsim::irql::{APC_LEVEL, PASSIVE_LEVEL};
use ntsim::registry::{KeyOperation, RegistryOperation};
use ntsim::trigger::{self, HandleOperation};
use ntsim::verifier::{ModelRule, codes};
use ntsim::{Kernel, faults, poll_until};
use wdk_sys::{
    _OB_PREOP_CALLBACK_STATUS::OB_PREOP_SUCCESS, BOOLEAN, HANDLE, LARGE_INTEGER, NTSTATUS,
    OB_PREOP_CALLBACK_STATUS, PCUNICODE_STRING, PEPROCESS, PIMAGE_INFO, POB_PRE_OPERATION_INFORMATION,
    POBJECT_TYPE, PPS_CREATE_NOTIFY_INFO, PUNICODE_STRING, PVOID, STATUS_ACCESS_DENIED,
    STATUS_FLT_INSTANCE_ALTITUDE_COLLISION, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER,
    STATUS_NO_MORE_ENTRIES, STATUS_OBJECT_NAME_NOT_FOUND, STATUS_SUCCESS,
};

#[allow(clippy::wildcard_imports)]
use crate::common::*;

// --- Helpers -------------------------------------------------------------------

const PROCESS_TERMINATE: u32 = 0x0001;
const PROCESS_VM_OPERATION: u32 = 0x0008;
const PROCESS_VM_WRITE: u32 = 0x0020;
const PROCESS_QUERY_INFORMATION: u32 = 0x0400;
const PROCESS_VM_READ: u32 = 0x0010;
const PROCESS_ALL_ACCESS: u32 = 0x001F_FFFF;
const PROTECTED: u32 = PROCESS_TERMINATE | PROCESS_VM_OPERATION | PROCESS_VM_WRITE;

fn text<const N: usize>(s: &WStr<N>) -> String {
    String::from_utf16_lossy(s.as_units())
}

/// Every record read so far in a test.
struct Events(Vec<EventRecord>);

impl Events {
    const fn new() -> Self {
        Self(Vec::new())
    }

    /// Reads until `done` holds for everything read (bounded).
    fn until(&mut self, kernel: &mut Kernel, what: &str, done: impl Fn(&[EventRecord]) -> bool) {
        read_more(kernel, &mut self.0, what, done);
    }

    /// Reads until process `pid` has exactly the given number of records of
    /// each listed source (bounded).
    fn until_counts(&mut self, kernel: &mut Kernel, what: &str, pid: u64, counts: &[(SourceId, usize)]) {
        self.until(kernel, what, |r| {
            counts.iter().all(|&(source, n)| count(r, source, pid) == n)
        });
    }

    /// The records of `source` whose header names process `pid`.
    fn of(&self, source: SourceId, pid: u64) -> Vec<EventRecord> {
        select(&self.0, source, pid)
    }
}

fn count(records: &[EventRecord], source: SourceId, pid: u64) -> usize {
    select(records, source, pid).len()
}

/// The report entry for `name`: (state, status).
fn entry(kernel: &mut Kernel, name: &str) -> Option<(RegistrationState, i32)> {
    report_entries(kernel)
        .into_iter()
        .find(|(n, ..)| n == name)
        .map(|(_, state, status)| (state, status))
}

fn assert_registered(kernel: &mut Kernel, name: &str) {
    assert_eq!(
        entry(kernel, name),
        Some((RegistrationState::Registered, 0)),
        "{name}"
    );
}

/// Asserts `name` is reported FAILED with `status`, and printed so.
fn assert_failed(kernel: &mut Kernel, name: &str, status: NTSTATUS) {
    assert_eq!(
        entry(kernel, name),
        Some((RegistrationState::Failed, status)),
        "{name}"
    );
    let line = outcome_line("register", name, RegistrationState::Failed, status);
    assert!(
        driver_lines(kernel).iter().any(|l| l.starts_with(&line)),
        "missing {line:?} in {:#?}",
        driver_lines(kernel)
    );
}

/// The control device still answers and image-load events still flow.
fn assert_runs_on(kernel: &mut Kernel, pid: u64) {
    let (status, _) = get_report(kernel);
    assert_eq!(status, STATUS_SUCCESS, "GET_REPORT");
    let name = format!("\\Windows\\System32\\runs-on-{pid:x}.dll");
    if ntsim::ps::load_image_routines().is_empty() {
        return;
    }
    assert_eq!(
        trigger::load_image(&name, pid, 0x7FF0_0000_0000, 0x1000, false),
        1
    );
    let _ = wait_for_image_event(kernel, &name);
}

fn invocations_of(routine: usize) -> Vec<ntsim::ps::Invocation> {
    ntsim::ps::invocations()
        .into_iter()
        .filter(|i| i.routine == routine)
        .collect()
}

// --- Routines of "other drivers" ---------------------------------------------------

unsafe extern "C" fn foreign_process<const N: usize>(_: PEPROCESS, _: HANDLE, _: PPS_CREATE_NOTIFY_INFO) {
    std::hint::black_box(N);
}

unsafe extern "C" fn foreign_thread<const N: usize>(_: HANDLE, _: HANDLE, _: BOOLEAN) {
    std::hint::black_box(N);
}

unsafe extern "C" fn foreign_image<const N: usize>(_: PUNICODE_STRING, _: HANDLE, _: PIMAGE_INFO) {
    std::hint::black_box(N);
}

macro_rules! foreign_tables {
    ($($n:literal)*) => {
        const FOREIGN_PROCESS: [wdk_sys::PCREATE_PROCESS_NOTIFY_ROUTINE_EX; 64] = [$(Some(foreign_process::<$n>)),*];
        const FOREIGN_THREAD: [wdk_sys::PCREATE_THREAD_NOTIFY_ROUTINE; 64] = [$(Some(foreign_thread::<$n>)),*];
        const FOREIGN_IMAGE: [wdk_sys::PLOAD_IMAGE_NOTIFY_ROUTINE; 64] = [$(Some(foreign_image::<$n>)),*];
    };
}

foreign_tables!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
    32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63
);

const EX2: &str = "PsSetCreateProcessNotifyRoutineEx2";
const THREAD_EX: &str = "PsSetCreateThreadNotifyRoutineEx";
const IMAGE_EX: &str = "PsSetLoadImageNotifyRoutineEx";
const CM_EX: &str = "CmRegisterCallbackEx";

mod cm;
mod fallbacks;
mod lifecycle;
mod policies;
mod scenario;
