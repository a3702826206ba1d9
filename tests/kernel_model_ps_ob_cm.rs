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
use ntsim::unicode::OwnedUnicode;
use ntsim::verifier::{ModelRule, codes};
use ntsim::{Kernel, faults, poll_until};
use wdk_sys::{
    _OB_PREOP_CALLBACK_STATUS::OB_PREOP_SUCCESS, BOOLEAN, HANDLE, LARGE_INTEGER, NTSTATUS,
    OB_CALLBACK_REGISTRATION, OB_FLT_REGISTRATION_VERSION, OB_OPERATION_REGISTRATION,
    OB_PREOP_CALLBACK_STATUS, PCUNICODE_STRING, PEPROCESS, PIMAGE_INFO, POB_PRE_OPERATION_INFORMATION,
    POBJECT_TYPE, PPS_CREATE_NOTIFY_INFO, PUNICODE_STRING, PVOID, STATUS_ACCESS_DENIED,
    STATUS_FLT_INSTANCE_ALTITUDE_COLLISION, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER,
    STATUS_NO_MORE_ENTRIES, STATUS_OBJECT_NAME_NOT_FOUND, STATUS_SUCCESS,
};

mod common;
#[allow(clippy::wildcard_imports)]
use common::*;

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
        let arrived = poll_until(DRAIN_TIMEOUT, || {
            self.0.extend(read_events(kernel, 64));
            done(&self.0)
        });
        assert!(
            arrived,
            "{what}: not within {DRAIN_TIMEOUT:?}; read {} records",
            self.0.len()
        );
    }

    /// The records of `source` whose header names process `pid`.
    fn of(&self, source: SourceId, pid: u64) -> Vec<EventRecord> {
        select(&self.0, source, pid)
    }
}

fn select(records: &[EventRecord], source: SourceId, pid: u64) -> Vec<EventRecord> {
    records
        .iter()
        .filter(|r| r.source() == Some(source) && r.header.pid == pid)
        .copied()
        .collect()
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

fn service_key() -> String {
    ntsim::kernel::service_key("kcallbacks")
}

fn parameters_key() -> String {
    format!("{}\\Parameters", service_key())
}

/// What the service control manager creates, so a test can add the
/// `Parameters` subkey before the first load.
fn prepare_service() {
    let key = service_key();
    ntsim::registry::set_dword(&key, "Type", 1);
    ntsim::registry::set_dword(&key, "Start", 3);
    ntsim::registry::set_dword(&key, "ErrorControl", 1);
    ntsim::registry::set_string(
        &key,
        "ImagePath",
        "\\SystemRoot\\System32\\drivers\\kcallbacks.sys",
    );
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

const unsafe extern "C" fn foreign_pre(
    _: PVOID,
    _: POB_PRE_OPERATION_INFORMATION,
) -> OB_PREOP_CALLBACK_STATUS {
    OB_PREOP_SUCCESS
}

const unsafe extern "C" fn foreign_registry(_: PVOID, _: PVOID, _: PVOID) -> NTSTATUS {
    STATUS_SUCCESS
}

fn process_type_variable() -> *mut POBJECT_TYPE {
    (&raw const ntsim::thread::PsProcessType).cast_mut().cast()
}

/// Registers an object callback of "another driver" at `altitude`.
fn foreign_ob(altitude: &str, pre: wdk_sys::POB_PRE_OPERATION_CALLBACK) -> Result<PVOID, NTSTATUS> {
    let mut operation = OB_OPERATION_REGISTRATION {
        ObjectType: process_type_variable(),
        Operations: OB_OPERATION_HANDLE_CREATE | OB_OPERATION_HANDLE_DUPLICATE,
        PreOperation: pre,
        PostOperation: None,
    };
    let name = OwnedUnicode::new(altitude);
    let mut registration = OB_CALLBACK_REGISTRATION {
        #[allow(clippy::cast_possible_truncation, reason = "0x0100")]
        Version: OB_FLT_REGISTRATION_VERSION as u16,
        OperationRegistrationCount: 1,
        Altitude: name.descriptor(),
        RegistrationContext: std::ptr::null_mut(),
        OperationRegistration: &raw mut operation,
    };
    let mut handle: PVOID = std::ptr::null_mut();
    // SAFETY: a registration whose strings and operations outlive the call
    // (the model copies them); a 'static routine, unregistered by the test.
    let status = unsafe { ntsim::obcallbacks::ObRegisterCallbacks(&raw mut registration, &raw mut handle) };
    if status == STATUS_SUCCESS {
        Ok(handle)
    } else {
        Err(status)
    }
}

fn unregister_ob(handle: PVOID) {
    // SAFETY: a handle ObRegisterCallbacks returned, unregistered once.
    unsafe { ntsim::obcallbacks::ObUnRegisterCallbacks(handle) };
}

/// Registers a registry callback of "another driver" at `altitude`.
fn foreign_cm(altitude: &str, function: wdk_sys::PEX_CALLBACK_FUNCTION) -> Result<LARGE_INTEGER, NTSTATUS> {
    let mut name = OwnedUnicode::new(altitude);
    let mut cookie = LARGE_INTEGER::default();
    // SAFETY: a live altitude string, a 'static routine and a writable cookie.
    let status = unsafe {
        ntsim::registry::CmRegisterCallbackEx(
            function,
            name.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &raw mut cookie,
            std::ptr::null_mut(),
        )
    };
    if status == STATUS_SUCCESS {
        Ok(cookie)
    } else {
        Err(status)
    }
}

fn unregister_cm(cookie: LARGE_INTEGER) {
    // SAFETY: a cookie CmRegisterCallbackEx returned.
    assert_eq!(
        unsafe { ntsim::registry::CmUnRegisterCallback(cookie) },
        STATUS_SUCCESS
    );
}

// --- 1. A scripted scenario --------------------------------------------------------

#[test]
fn scripted_process_lifetime_fills_every_field_in_the_documented_context() {
    let mut kernel = loaded();
    let _ = ntsim::ps::take_invocations();
    let (parent, parent_tid) = (0x1_1000_u64, 0x1_1004_u64);
    let (child, child_tid) = (0x1_1100_u64, 0x1_1104_u64);
    let other = 0x1_1200_u64;
    let image = "\\??\\C:\\Program Files\\App\\child.exe";
    let command_line = "\"C:\\Program Files\\App\\child.exe\" --flag value";
    let process_routine = ntsim::ps::process_routines()[0].0;
    let thread_routine = ntsim::ps::thread_routines()[0];
    let image_routine = ntsim::ps::load_image_routines()[0];
    let registry_routine = ntsim::registry::callbacks()[0].0;

    // The parent's thread creates the child.
    let create = trigger::ProcessCreate {
        pid: child,
        parent_pid: parent,
        creating_pid: parent,
        creating_tid: parent_tid,
        image_file_name: Some(image.to_owned()),
        command_line: Some(command_line.to_owned()),
        subsystem: false,
        file_open_name_available: true,
    };
    assert_eq!(create.fire(), STATUS_SUCCESS, "no deny policy configured");
    // Its first thread (Ex NonSystem: the routine runs on the new thread),
    // and a second one notified at APC_LEVEL.
    assert_eq!(
        trigger::thread_notify(child, child_tid, true, (parent, parent_tid), PASSIVE_LEVEL),
        1
    );
    assert_eq!(
        trigger::thread_notify(child, child_tid + 4, true, (parent, parent_tid), APC_LEVEL),
        1
    );
    // The child maps a user-mode image.
    let dll = "\\Device\\HarddiskVolume3\\Windows\\System32\\kernel32.dll";
    let mut load = trigger::LoadImage::new(dll, child);
    load.base = 0x7FFD_1000_0000;
    load.size = 0x000C_3000;
    load.signature_level = 0xC;
    load.signature_type = 1;
    assert_eq!(load.fire(), 1);
    // It opens, then duplicates, a handle to another process, and opens one
    // of that process's threads.
    let granted = HandleOperation::open_process(other, PROCESS_ALL_ACCESS, (child, child_tid)).fire();
    assert_eq!(granted, PROCESS_ALL_ACCESS);
    let granted =
        HandleOperation::duplicate_process(other, PROCESS_VM_READ, (child, child_tid), child, child).fire();
    assert_eq!(granted, PROCESS_VM_READ);
    let granted = HandleOperation::open_thread(other, other + 4, 0x0040, (child, child_tid)).fire();
    assert_eq!(granted, 0x0040);
    // It writes a registry value.
    let key = "\\Registry\\Machine\\Software\\KcbScenario";
    let data = "on\0"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect::<Vec<u8>>();
    let outcome = RegistryOperation {
        tid: Some(child_tid),
        ..RegistryOperation::new(
            child,
            key,
            KeyOperation::SetValue {
                name: "Mode".to_owned(),
                value_type: ntsim::registry::REG_SZ,
                data: data.clone(),
            },
        )
    }
    .fire();
    assert_eq!((outcome.status, outcome.post_notified), (STATUS_SUCCESS, true));
    assert_eq!(
        ntsim::registry::values(key),
        [("Mode".to_owned(), ntsim::registry::REG_SZ, data.clone())]
    );
    // Its thread exits, then the process, with an exit status.
    assert_eq!(
        trigger::thread_notify(child, child_tid, false, (child, child_tid), PASSIVE_LEVEL),
        1
    );
    let exit_status: NTSTATUS = 0xC000_013A_u32.cast_signed(); // STATUS_CONTROL_C_EXIT
    assert_eq!(trigger::process_exit_with_status(child, parent, exit_status), 1);

    let mut events = Events::new();
    events.until(&mut kernel, "the scenario's records", |r| {
        count(r, SourceId::ProcessCreate, child) == 2
            && count(r, SourceId::ThreadCreate, child) == 3
            && count(r, SourceId::LoadImage, child) == 1
            && count(r, SourceId::ObjectHandle, child) == 6
            && count(r, SourceId::Registry, child) == 2
    });
    let mine: Vec<EventRecord> = events
        .0
        .iter()
        .filter(|r| r.header.pid == child)
        .copied()
        .collect();
    // In the order they fired, with increasing sequence numbers and times.
    assert!(
        mine.windows(2)
            .all(|w| w[0].header.sequence < w[1].header.sequence)
    );
    assert!(
        mine.windows(2)
            .all(|w| w[0].header.timestamp <= w[1].header.timestamp)
    );
    let order: Vec<(Option<SourceId>, u16)> = mine.iter().map(|r| (r.source(), r.header.kind)).collect();
    assert_eq!(
        order,
        [
            (Some(SourceId::ProcessCreate), kind::CREATE),
            (Some(SourceId::ThreadCreate), kind::CREATE),
            (Some(SourceId::ThreadCreate), kind::CREATE),
            (Some(SourceId::LoadImage), kind::NONE),
            (Some(SourceId::ObjectHandle), kind::PRE),
            (Some(SourceId::ObjectHandle), kind::POST),
            (Some(SourceId::ObjectHandle), kind::PRE),
            (Some(SourceId::ObjectHandle), kind::POST),
            (Some(SourceId::ObjectHandle), kind::PRE),
            (Some(SourceId::ObjectHandle), kind::POST),
            (Some(SourceId::Registry), kind::PRE),
            (Some(SourceId::Registry), kind::POST),
            (Some(SourceId::ThreadCreate), kind::EXIT),
            (Some(SourceId::ProcessCreate), kind::EXIT),
        ]
    );
    for record in &mine {
        assert!(record.header.timestamp > 0 && record.header.cpu < ntsim::context::PROCESSOR_COUNT);
    }
    let mut next = mine.into_iter();
    let mut take = || next.next().expect("a record");

    // Process create: PASSIVE_LEVEL, in the creating thread.
    let record = take();
    assert_eq!(
        (record.header.irql, record.header.tid),
        (PASSIVE_LEVEL, parent_tid)
    );
    let p = *record.payload::<ProcessPayload>().expect("process payload");
    assert_eq!(
        (p.parent_pid, p.creating_pid, p.creating_tid),
        (parent, parent, parent_tid)
    );
    assert_eq!(p.flags, PROCESS_FLAG_FILE_OPEN_NAME_AVAILABLE);
    assert_eq!(
        (text(&p.image_name), text(&p.command_line)),
        (image.to_owned(), command_line.to_owned())
    );
    assert_eq!(p.exit_status, 0);

    // Thread create (Ex, NonSystem): on the new thread, so creator_* is the
    // new thread itself and neither remote nor creator-context is claimed.
    for (tid, irql) in [(child_tid, PASSIVE_LEVEL), (child_tid + 4, APC_LEVEL)] {
        let record = take();
        assert_eq!((record.header.irql, record.header.tid), (irql, tid));
        let t = *record.payload::<ThreadPayload>().expect("thread payload");
        assert_eq!(
            (t.target_pid, t.target_tid, t.creator_pid, t.creator_tid, t.flags),
            (child, tid, child, tid, 0)
        );
    }

    // Image load: PASSIVE_LEVEL, in the process it maps into.
    let record = take();
    assert_eq!(record.header.irql, PASSIVE_LEVEL);
    let i = *record.payload::<ImageLoadPayload>().expect("image payload");
    assert_eq!(text(&i.name), dll);
    assert_eq!((i.image_base, i.image_size), (0x7FFD_1000_0000, 0x000C_3000));
    assert_eq!(i.properties, load.properties());
    assert_eq!(i.flags, IMAGE_FLAG_EXTENDED_INFO);
    assert_eq!((i.signature_level, i.signature_type), (0xC, 1));

    // Handle create and duplicate to the other process, then a thread handle.
    for (operation, object_type, target_tid, access) in [
        (OB_OPERATION_HANDLE_CREATE, OB_TYPE_PROCESS, 0, PROCESS_ALL_ACCESS),
        (OB_OPERATION_HANDLE_DUPLICATE, OB_TYPE_PROCESS, 0, PROCESS_VM_READ),
        (OB_OPERATION_HANDLE_CREATE, OB_TYPE_THREAD, other + 4, 0x0040),
    ] {
        let pre = take();
        let post = take();
        for record in [&pre, &post] {
            assert_eq!(
                (record.header.irql, record.header.tid),
                (PASSIVE_LEVEL, child_tid)
            );
            let o = record.payload::<ObjectHandlePayload>().expect("handle payload");
            assert_eq!((o.operation, o.object_type), (operation, object_type));
            assert_eq!(
                (o.target_pid, o.target_tid, o.source_pid, o.source_tid),
                (other, target_tid, child, child_tid)
            );
            assert_eq!((o.flags, o.stripped_access), (0, 0));
        }
        let o = *pre.payload::<ObjectHandlePayload>().expect("pre");
        assert_eq!(
            (
                o.desired_access,
                o.original_desired_access,
                o.granted_access,
                o.return_status
            ),
            (access, access, 0, 0)
        );
        let o = *post.payload::<ObjectHandlePayload>().expect("post");
        assert_eq!(
            (o.desired_access, o.granted_access, o.return_status),
            (0, access, STATUS_SUCCESS)
        );
    }

    // Registry: RegNtPreSetValueKey then RegNtPostSetValueKey, in the
    // caller's thread, the key path from CmCallbackGetKeyObjectIDEx.
    let pre = take();
    let post = take();
    for record in [&pre, &post] {
        assert_eq!(
            (record.header.irql, record.header.tid),
            (PASSIVE_LEVEL, child_tid)
        );
    }
    let r = *pre.payload::<RegistryPayload>().expect("registry payload");
    assert_eq!(
        (r.notify_class, r.status, r.value_type),
        (1, 0, ntsim::registry::REG_SZ)
    );
    assert_eq!(r.data_size as usize, data.len());
    assert_eq!(
        (text(&r.key_path), text(&r.value_name)),
        (key.to_owned(), "Mode".to_owned())
    );
    let r = *post.payload::<RegistryPayload>().expect("registry payload");
    assert_eq!(
        (r.notify_class, r.status, r.value_type, r.data_size),
        (16, STATUS_SUCCESS, 0, 0)
    );
    assert_eq!(
        (text(&r.key_path), text(&r.value_name)),
        (key.to_owned(), String::new())
    );
    assert_eq!(ntsim::registry::unreleased_names(), 0, "every name released");

    // Thread exit: in the exiting thread.
    let record = take();
    assert_eq!(
        (record.header.irql, record.header.tid),
        (PASSIVE_LEVEL, child_tid)
    );
    let t = *record.payload::<ThreadPayload>().expect("thread payload");
    assert_eq!((t.target_pid, t.target_tid, t.flags), (child, child_tid, 0));

    // Process exit: the exit status, nothing else.
    let record = take();
    assert_eq!(record.header.irql, PASSIVE_LEVEL);
    let p = *record.payload::<ProcessPayload>().expect("process payload");
    assert_eq!(p.exit_status, exit_status);
    assert_eq!(
        (p.parent_pid, p.creating_pid, p.creating_tid, p.flags),
        (0, 0, 0, 0)
    );
    assert!(p.image_name.is_empty() && p.command_line.is_empty());
    drop(next);

    // The contexts the model ran the routines in (kernel-semantics §2-§6).
    let process = invocations_of(process_routine);
    assert_eq!(process.len(), 2);
    assert!(
        process
            .iter()
            .all(|i| i.irql == PASSIVE_LEVEL && i.normal_apcs_disabled),
        "{process:?}"
    );
    assert_eq!(
        (process[0].pid, process[0].tid),
        (parent, parent_tid),
        "create: the creating thread"
    );
    assert_eq!(process[1].pid, child, "exit: the process's last thread");
    let image_calls = invocations_of(image_routine);
    assert_eq!(image_calls.len(), 1);
    assert!(
        image_calls[0].irql == PASSIVE_LEVEL
            && image_calls[0].normal_apcs_disabled
            && image_calls[0].pid == child
    );
    let thread_calls = invocations_of(thread_routine);
    assert_eq!(
        thread_calls
            .iter()
            .map(|i| (i.irql, i.pid, i.tid))
            .collect::<Vec<_>>(),
        [
            (PASSIVE_LEVEL, child, child_tid),
            (APC_LEVEL, child, child_tid + 4),
            (PASSIVE_LEVEL, child, child_tid)
        ]
    );
    let ob_calls: Vec<_> = ntsim::ps::invocations()
        .into_iter()
        .filter(|i| i.family == "object (handle) callback")
        .collect();
    assert_eq!(ob_calls.len(), 6);
    assert!(
        ob_calls
            .iter()
            .all(|i| i.irql == PASSIVE_LEVEL && i.normal_apcs_disabled)
    );
    let cm_calls = invocations_of(registry_routine);
    assert_eq!(cm_calls.len(), 2);
    assert!(
        cm_calls
            .iter()
            .all(|i| (i.irql, i.pid, i.tid) == (PASSIVE_LEVEL, child, child_tid))
    );

    kernel.unload_driver();
    assert_nothing_left(&kernel);
}

#[test]
fn driver_images_load_in_the_system_process() {
    let mut kernel = loaded();
    let name = "\\SystemRoot\\System32\\drivers\\kcb-scenario.sys";
    let mut load = trigger::LoadImage::new(name, 0x1_1300);
    load.system_mode = true;
    assert_eq!(load.fire(), 1);
    let record = wait_for_image_event(&mut kernel, name);
    assert_eq!(record.header.pid, 0, "ProcessId is 0 for drivers");
    let i = *record.payload::<ImageLoadPayload>().expect("image payload");
    assert_eq!(i.flags, IMAGE_FLAG_SYSTEM_MODE | IMAGE_FLAG_EXTENDED_INFO);
    kernel.unload_driver();
    assert_nothing_left(&kernel);
}

// --- 2. Fallbacks -------------------------------------------------------------------

const EX2: &str = "PsSetCreateProcessNotifyRoutineEx2";
const THREAD_EX: &str = "PsSetCreateThreadNotifyRoutineEx";
const IMAGE_EX: &str = "PsSetLoadImageNotifyRoutineEx";
const CM_EX: &str = "CmRegisterCallbackEx";

/// Loads with `hidden` exports missing; checks the variant each family
/// used, that events flow, and that unload removes the right routine.
fn fallback_case(hidden: &[&str], base: u64) {
    let mut kernel = boot();
    for name in hidden {
        ntsim::exports::hide(name);
    }
    assert_eq!(kernel.load_driver(), STATUS_SUCCESS);
    let is_hidden = |name: &str| hidden.contains(&name);
    let pick = |name: &'static str, older: &'static str| {
        if is_hidden(name) {
            (older, name)
        } else {
            (name, older)
        }
    };
    let families = [
        pick(EX2, "PsSetCreateProcessNotifyRoutineEx"),
        pick(THREAD_EX, "PsSetCreateThreadNotifyRoutine"),
        pick(IMAGE_EX, "PsSetLoadImageNotifyRoutine"),
        pick(CM_EX, "CmRegisterCallback"),
    ];
    for (used, unused) in families {
        assert_registered(&mut kernel, used);
        assert_eq!(entry(&mut kernel, unused), None, "{unused} not attempted");
    }
    // The model's view of what was registered.
    let process = ntsim::ps::process_routines();
    assert_eq!(process.len(), 1);
    assert_eq!(
        process[0].1,
        if is_hidden(EX2) { 1 } else { 2 },
        "Ex (1) or Ex2 (2)"
    );
    assert_eq!(ntsim::ps::thread_routines().len(), 1);
    assert_eq!(ntsim::ps::load_image_routines().len(), 1);
    let registry = ntsim::registry::callbacks();
    assert_eq!(registry.len(), 1);
    assert_eq!(
        registry[0].1.is_none(),
        is_hidden(CM_EX),
        "the legacy routine has no altitude"
    );

    // Events flow through whichever variant.
    let (pid, creator, tid) = (base, base + 0x100, base + 0x104);
    assert_eq!(
        trigger::ProcessCreate::new(pid, creator, "\\??\\C:\\fallback.exe").fire(),
        STATUS_SUCCESS
    );
    // A thread created in `pid` by another process, and one by `pid` itself.
    assert_eq!(
        trigger::thread_notify(pid, pid + 4, true, (creator, tid), PASSIVE_LEVEL),
        1
    );
    assert_eq!(
        trigger::thread_notify(pid, pid + 8, true, (pid, pid + 4), PASSIVE_LEVEL),
        1
    );
    let name = format!("\\Windows\\System32\\fallback-{base:x}.dll");
    assert_eq!(trigger::load_image(&name, pid, 0x1000_0000, 0x1000, false), 1);
    let key = format!("\\Registry\\Machine\\Software\\KcbFallback{base:x}");
    assert_eq!(
        trigger::registry_set_value(pid, &key, "V", ntsim::registry::REG_DWORD, &[1, 0, 0, 0]),
        STATUS_SUCCESS
    );
    let mut events = Events::new();
    events.until(&mut kernel, "fallback events", |r| {
        count(r, SourceId::ProcessCreate, pid) == 1
            && count(r, SourceId::ThreadCreate, pid) == 2
            && count(r, SourceId::LoadImage, pid) == 1
            && count(r, SourceId::Registry, pid) == 2
    });
    let threads = events.of(SourceId::ThreadCreate, pid);
    let payloads: Vec<ThreadPayload> = threads
        .iter()
        .map(|r| *r.payload::<ThreadPayload>().expect("thread"))
        .collect();
    if is_hidden(THREAD_EX) {
        // The plain routine runs in the creator's context.
        assert_eq!(
            payloads[0].flags,
            THREAD_FLAG_REMOTE | THREAD_FLAG_CREATOR_CONTEXT
        );
        assert_eq!((payloads[0].creator_pid, payloads[0].creator_tid), (creator, tid));
        assert_eq!(
            payloads[1].flags, THREAD_FLAG_CREATOR_CONTEXT,
            "created by the process itself"
        );
        assert_eq!((payloads[1].creator_pid, payloads[1].creator_tid), (pid, pid + 4));
    } else {
        // NonSystem: on the new thread; the creator is unknown, nothing claimed.
        assert_eq!(payloads[0].flags, 0);
        assert_eq!((payloads[0].creator_pid, payloads[0].creator_tid), (pid, pid + 4));
        assert_eq!(payloads[1].flags, 0);
    }
    let registry_events = events.of(SourceId::Registry, pid);
    for record in &registry_events {
        let r = record.payload::<RegistryPayload>().expect("registry");
        assert_eq!(text(&r.key_path), key, "key path with either Get routine");
    }
    assert_eq!(ntsim::registry::unreleased_names(), 0);

    ntsim::dbgprint::clear();
    kernel.unload_driver();
    let lines = driver_lines(&kernel);
    for (used, _) in families {
        let line = outcome_line("unregister", used, RegistrationState::Removed, 0);
        assert!(lines.contains(&line), "missing {line:?} in {lines:#?}");
    }
    assert!(ntsim::ps::process_routines().is_empty() && ntsim::ps::thread_routines().is_empty());
    assert!(ntsim::registry::callbacks().is_empty());
    assert_nothing_left(&kernel);
}

#[test]
fn fallbacks_each_missing_routine_separately_and_all_together() {
    fallback_case(&[], 0x2_0000);
    fallback_case(&[EX2], 0x2_1000);
    fallback_case(&[THREAD_EX], 0x2_2000);
    fallback_case(&[IMAGE_EX], 0x2_3000);
    fallback_case(&[CM_EX], 0x2_4000);
    fallback_case(&[EX2, THREAD_EX, IMAGE_EX, CM_EX], 0x2_5000);
}

#[test]
fn legacy_key_object_id_is_used_without_the_ex_routines() {
    let mut kernel = boot();
    ntsim::exports::hide("CmCallbackGetKeyObjectIDEx");
    ntsim::exports::hide("CmCallbackReleaseKeyObjectIDEx");
    assert_eq!(kernel.load_driver(), STATUS_SUCCESS);
    let pid = 0x2_6000;
    let key = "\\Registry\\Machine\\Software\\KcbLegacyId";
    assert_eq!(
        trigger::registry_set_value(pid, key, "V", ntsim::registry::REG_DWORD, &[2, 0, 0, 0]),
        STATUS_SUCCESS
    );
    let mut events = Events::new();
    events.until(&mut kernel, "registry events", |r| {
        count(r, SourceId::Registry, pid) == 2
    });
    for record in events.of(SourceId::Registry, pid) {
        assert_eq!(
            text(&record.payload::<RegistryPayload>().expect("registry").key_path),
            key
        );
    }
    let calls = ntsim::ddi::calls();
    assert!(calls.iter().any(|c| c.ddi == "CmCallbackGetKeyObjectID"));
    assert!(
        !calls
            .iter()
            .any(|c| c.ddi == "CmCallbackGetKeyObjectIDEx" || c.ddi == "CmCallbackReleaseKeyObjectIDEx")
    );
    kernel.unload_driver();
    assert_nothing_left(&kernel);
}

// --- 3. Limits and statuses ------------------------------------------------------------

#[test]
fn process_routine_limit_is_reported_and_the_driver_runs_on() {
    let mut kernel = boot();
    for routine in FOREIGN_PROCESS {
        // SAFETY: 'static routines, removed below.
        assert_eq!(
            unsafe { ntsim::ps::PsSetCreateProcessNotifyRoutineEx(routine, 0) },
            STATUS_SUCCESS
        );
    }
    assert_eq!(kernel.load_driver(), STATUS_SUCCESS);
    assert_failed(&mut kernel, EX2, STATUS_INVALID_PARAMETER);
    assert_registered(&mut kernel, THREAD_EX);
    assert_runs_on(&mut kernel, 0x3_0000);
    for routine in FOREIGN_PROCESS {
        // SAFETY: removing what was registered above.
        assert_eq!(
            unsafe { ntsim::ps::PsSetCreateProcessNotifyRoutineEx(routine, 1) },
            STATUS_SUCCESS
        );
    }
    kernel.unload_driver();
    assert_nothing_left(&kernel);
}

#[test]
fn duplicate_process_registration_is_reported() {
    // Learn the driver's routine, then have it registered already.
    let mut kernel = loaded();
    let routine = ntsim::ps::process_routines()[0].0;
    kernel.unload_driver();
    assert_nothing_left(&kernel);
    drop(kernel);

    let mut kernel = boot();
    let register = |remove: u8| {
        // SAFETY: the driver's own 'static routine, removed below.
        unsafe { ntsim::ps::PsSetCreateProcessNotifyRoutineEx2(0, routine as PVOID, remove) }
    };
    assert_eq!(register(0), STATUS_SUCCESS);
    assert_eq!(kernel.load_driver(), STATUS_SUCCESS);
    assert_failed(&mut kernel, EX2, STATUS_INVALID_PARAMETER);
    assert_runs_on(&mut kernel, 0x3_1000);
    assert_eq!(register(1), STATUS_SUCCESS);
    kernel.unload_driver();
    assert_nothing_left(&kernel);
}

#[test]
fn image_routine_limit_is_reported_and_the_driver_runs_on() {
    let mut kernel = boot();
    for routine in FOREIGN_IMAGE {
        // SAFETY: 'static routines, removed below.
        assert_eq!(
            unsafe { ntsim::ps::PsSetLoadImageNotifyRoutine(routine) },
            STATUS_SUCCESS
        );
    }
    assert_eq!(kernel.load_driver(), STATUS_SUCCESS);
    assert_failed(&mut kernel, IMAGE_EX, STATUS_INSUFFICIENT_RESOURCES);
    // Process events still flow.
    let pid = 0x3_2000;
    assert_eq!(
        trigger::ProcessCreate::new(pid, pid + 4, "\\??\\C:\\limit.exe").fire(),
        STATUS_SUCCESS
    );
    let mut events = Events::new();
    events.until(&mut kernel, "process event", |r| {
        count(r, SourceId::ProcessCreate, pid) == 1
    });
    for routine in FOREIGN_IMAGE {
        // SAFETY: removing what was registered above.
        assert_eq!(
            unsafe { ntsim::ps::PsRemoveLoadImageNotifyRoutine(routine) },
            STATUS_SUCCESS
        );
    }
    kernel.unload_driver();
    assert_nothing_left(&kernel);
}

#[test]
fn thread_registration_failure_is_reported_and_the_driver_runs_on() {
    let mut kernel = boot();
    for routine in FOREIGN_THREAD {
        // SAFETY: 'static routines, removed below.
        assert_eq!(
            unsafe { ntsim::ps::PsSetCreateThreadNotifyRoutine(routine) },
            STATUS_SUCCESS
        );
    }
    assert_eq!(kernel.load_driver(), STATUS_SUCCESS);
    assert_failed(&mut kernel, THREAD_EX, STATUS_INSUFFICIENT_RESOURCES);
    assert_runs_on(&mut kernel, 0x3_3000);
    for routine in FOREIGN_THREAD {
        // SAFETY: removing what was registered above.
        assert_eq!(
            unsafe { ntsim::ps::PsRemoveCreateThreadNotifyRoutine(routine) },
            STATUS_SUCCESS
        );
    }
    kernel.unload_driver();
    assert_nothing_left(&kernel);
}

// --- 4. FORCE_INTEGRITY ---------------------------------------------------------------------

#[test]
fn missing_force_integrity_denies_process_and_object_callbacks() {
    for hide_ex2 in [false, true] {
        let mut kernel = boot();
        ntsim::ps::set_force_integrity(false);
        if hide_ex2 {
            ntsim::exports::hide(EX2);
        }
        assert_eq!(kernel.load_driver(), STATUS_SUCCESS);
        let process = if hide_ex2 {
            "PsSetCreateProcessNotifyRoutineEx"
        } else {
            EX2
        };
        assert_failed(&mut kernel, process, STATUS_ACCESS_DENIED);
        assert_failed(&mut kernel, "ObRegisterCallbacks", STATUS_ACCESS_DENIED);
        assert_registered(&mut kernel, THREAD_EX);
        assert_registered(&mut kernel, CM_EX);
        assert!(ntsim::ps::process_routines().is_empty() && ntsim::obcallbacks::altitudes().is_empty());
        assert_runs_on(&mut kernel, 0x4_0000);
        kernel.unload_driver();
        assert_nothing_left(&kernel);
    }
}

// --- 5. Altitudes ------------------------------------------------------------------------------

fn with_digit(base: &str, digit: u32) -> String {
    if digit == 0 {
        base.to_owned()
    } else {
        format!("{base}{digit}")
    }
}

/// Occupies `taken` altitudes (the base, then the fallbacks) in both
/// families, loads, and checks what the driver got.
fn altitude_case(ob_base: &str, cm_base: &str, taken: u32, configured: bool) {
    let mut kernel = boot();
    if configured {
        prepare_service();
        ntsim::registry::set_string(&parameters_key(), "ObAltitude", ob_base);
        ntsim::registry::set_string(&parameters_key(), "CmAltitude", cm_base);
    }
    let ob: Vec<PVOID> = (0..taken)
        .map(|d| foreign_ob(&with_digit(ob_base, d), Some(foreign_pre)).expect("foreign ob"))
        .collect();
    let cm: Vec<LARGE_INTEGER> = (0..taken)
        .map(|d| foreign_cm(&with_digit(cm_base, d), Some(foreign_registry)).expect("foreign cm"))
        .collect();
    assert_eq!(kernel.load_driver(), STATUS_SUCCESS);
    let lines = driver_lines(&kernel);
    if taken < 10 {
        assert_registered(&mut kernel, "ObRegisterCallbacks");
        assert_registered(&mut kernel, CM_EX);
        let ob_got = with_digit(ob_base, taken);
        let cm_got = with_digit(cm_base, taken);
        assert!(
            lines.contains(&format!("kcallbacks: ObRegisterCallbacks altitude {ob_got}")),
            "{lines:#?}"
        );
        assert!(
            lines.contains(&format!("kcallbacks: CmRegisterCallbackEx altitude {cm_got}")),
            "{lines:#?}"
        );
        assert!(ntsim::obcallbacks::altitudes().contains(&ob_got));
        assert!(
            ntsim::registry::callbacks()
                .iter()
                .any(|(_, a)| a.as_deref() == Some(cm_got.as_str()))
        );
    } else {
        assert_failed(
            &mut kernel,
            "ObRegisterCallbacks",
            STATUS_FLT_INSTANCE_ALTITUDE_COLLISION,
        );
        assert_failed(&mut kernel, CM_EX, STATUS_FLT_INSTANCE_ALTITUDE_COLLISION);
        assert_eq!(
            ntsim::obcallbacks::altitudes().len(),
            10,
            "only the other drivers'"
        );
        assert_runs_on(&mut kernel, 0x5_0000 + u64::from(taken));
    }
    for handle in ob {
        unregister_ob(handle);
    }
    for cookie in cm {
        unregister_cm(cookie);
    }
    kernel.unload_driver();
    assert_nothing_left(&kernel);
}

#[test]
fn altitude_collisions_fall_back_one_digit_at_a_time() {
    altitude_case(DEFAULT_OB_ALTITUDE, DEFAULT_CM_ALTITUDE, 0, false);
    altitude_case(DEFAULT_OB_ALTITUDE, DEFAULT_CM_ALTITUDE, 1, false);
    altitude_case(DEFAULT_OB_ALTITUDE, DEFAULT_CM_ALTITUDE, 2, false);
    altitude_case(DEFAULT_OB_ALTITUDE, DEFAULT_CM_ALTITUDE, 10, false);
}

#[test]
fn configured_altitudes_are_used_and_fall_back_too() {
    altitude_case("385100.5", "385100.6", 0, true);
    altitude_case("385100.5", "385100.6", 1, true);
    altitude_case("385100.5", "385100.6", 10, true);
}

// --- 6. Policies ---------------------------------------------------------------------------------

const PROTECTED_PID: u64 = 61_000;

fn load_with_policies(deny: &[&str], protect: &[&str]) -> Kernel {
    let mut kernel = boot();
    prepare_service();
    if !deny.is_empty() {
        ntsim::registry::set_multi_string(&parameters_key(), "DenyImages", deny);
    }
    if !protect.is_empty() {
        ntsim::registry::set_multi_string(&parameters_key(), "ProtectPids", protect);
    }
    assert_eq!(kernel.load_driver(), STATUS_SUCCESS);
    kernel
}

#[test]
fn deny_images_denies_exactly_the_configured_names() {
    let mut kernel = load_with_policies(&["evil.exe", "Bad.EXE"], &[]);
    let base = 0x6_1000_u64;
    let cases = [
        ("\\??\\C:\\tmp\\evil.exe", true),
        ("\\??\\C:\\tmp\\EVIL.EXE", true),
        ("\\Device\\HarddiskVolume2\\x\\bad.exe", true),
        ("\\??\\C:\\tmp\\notevil.exe", false),
        ("\\??\\C:\\tmp\\evil.exe.txt", false),
        ("\\??\\C:\\evil.exe\\good.exe", false),
        ("\\??\\C:\\tmp\\evil.ex", false),
    ];
    for (index, (image, denied)) in cases.iter().enumerate() {
        let pid = base + 4 * index as u64;
        let status = trigger::ProcessCreate::new(pid, base - 4, image).fire();
        assert_eq!(
            status,
            if *denied {
                STATUS_ACCESS_DENIED
            } else {
                STATUS_SUCCESS
            },
            "{image}"
        );
    }
    let mut events = Events::new();
    events.until(&mut kernel, "process events", |r| {
        (0..cases.len()).all(|i| count(r, SourceId::ProcessCreate, base + 4 * i as u64) == 1)
    });
    for (index, (image, denied)) in cases.iter().enumerate() {
        let record = events.of(SourceId::ProcessCreate, base + 4 * index as u64)[0];
        let p = record.payload::<ProcessPayload>().expect("process");
        assert_eq!(p.flags & PROCESS_FLAG_DENIED_BY_POLICY != 0, *denied, "{image}");
        assert_eq!(text(&p.image_name), *image);
    }
    // The deny policy does not touch handles.
    assert_eq!(
        HandleOperation::open_process(base, PROCESS_ALL_ACCESS, (base + 8, base + 12)).fire(),
        PROCESS_ALL_ACCESS
    );
    kernel.unload_driver();
    assert_nothing_left(&kernel);
}

/// One handle request, what it should be granted, and what the driver
/// should report stripped.
struct HandleCase {
    what: &'static str,
    operation: HandleOperation,
    stripped: u32,
}

#[test]
fn protect_pids_strips_exactly_the_configured_rights() {
    let mut kernel = load_with_policies(&[], &["61000", "61004"]);
    let other = 0x6_2000_u64;
    let third = 0x6_2100_u64;
    let requester = (other, other + 4);
    let cases = [
        HandleCase {
            what: "create, all access",
            operation: HandleOperation::open_process(PROTECTED_PID, PROCESS_ALL_ACCESS, requester),
            stripped: PROTECTED,
        },
        HandleCase {
            what: "create, some protected bits",
            operation: HandleOperation::open_process(
                PROTECTED_PID,
                PROCESS_TERMINATE | PROCESS_VM_WRITE | PROCESS_QUERY_INFORMATION,
                requester,
            ),
            stripped: PROCESS_TERMINATE | PROCESS_VM_WRITE,
        },
        HandleCase {
            what: "create, no protected bit",
            operation: HandleOperation::open_process(
                PROTECTED_PID,
                PROCESS_QUERY_INFORMATION | PROCESS_VM_READ,
                requester,
            ),
            stripped: 0,
        },
        HandleCase {
            what: "the second protected pid",
            operation: HandleOperation::open_process(61_004, PROCESS_VM_OPERATION, requester),
            stripped: PROCESS_VM_OPERATION,
        },
        HandleCase {
            what: "duplicate from a third process into the requester",
            operation: HandleOperation::duplicate_process(
                PROTECTED_PID,
                PROCESS_ALL_ACCESS,
                requester,
                third,
                other,
            ),
            stripped: PROTECTED,
        },
        HandleCase {
            what: "the protected process duplicates its own handle into another process",
            operation: HandleOperation::duplicate_process(
                PROTECTED_PID,
                PROCESS_ALL_ACCESS,
                (PROTECTED_PID, PROTECTED_PID + 8),
                PROTECTED_PID,
                other,
            ),
            stripped: PROTECTED,
        },
        HandleCase {
            what: "another process duplicates a handle into the protected process",
            operation: HandleOperation::duplicate_process(
                PROTECTED_PID,
                PROCESS_ALL_ACCESS,
                requester,
                other,
                PROTECTED_PID,
            ),
            stripped: 0,
        },
        HandleCase {
            what: "an unprotected pid",
            operation: HandleOperation::open_process(other + 0x40, PROCESS_ALL_ACCESS, requester),
            stripped: 0,
        },
        HandleCase {
            what: "a kernel handle",
            operation: HandleOperation::open_process(PROTECTED_PID, PROCESS_ALL_ACCESS, requester).kernel(),
            stripped: 0,
        },
        HandleCase {
            what: "the process's own handle",
            operation: HandleOperation::open_process(
                PROTECTED_PID,
                PROCESS_ALL_ACCESS,
                (PROTECTED_PID, PROTECTED_PID + 8),
            ),
            stripped: 0,
        },
        HandleCase {
            what: "a thread of the protected process",
            operation: HandleOperation::open_thread(
                PROTECTED_PID,
                PROTECTED_PID + 12,
                0x001F_03FF,
                requester,
            ),
            // THREAD_TERMINATE | THREAD_SUSPEND_RESUME | THREAD_SET_CONTEXT
            // (issue 12, item 8; tests/kernel_model_hardening.rs).
            stripped: 0x0013,
        },
    ];
    let mut events = Events::new();
    for case in &cases {
        let before = events.0.len();
        let granted = case.operation.fire();
        let desired = case.operation.desired_access;
        assert_eq!(granted, desired & !case.stripped, "{}: granted", case.what);
        let source = case.operation.source.0;
        events.until(&mut kernel, case.what, |r| {
            count(&r[before..], SourceId::ObjectHandle, source) == 2
        });
        let records = select(&events.0[before..], SourceId::ObjectHandle, source);
        let pre = *records[0].payload::<ObjectHandlePayload>().expect("pre");
        let post = *records[1].payload::<ObjectHandlePayload>().expect("post");
        assert_eq!(records[0].header.kind, kind::PRE);
        assert_eq!(pre.stripped_access, case.stripped, "{}: stripped", case.what);
        assert_eq!(
            (pre.desired_access, pre.original_desired_access),
            (desired, desired),
            "{}: DesiredAccess as seen on entry",
            case.what
        );
        assert_eq!(
            pre.flags,
            if case.operation.kernel_handle {
                OB_FLAG_KERNEL_HANDLE
            } else {
                0
            }
        );
        assert_eq!(
            post.granted_access, granted,
            "{}: post sees the granted access",
            case.what
        );
    }
    // The protect policy does not deny process creation.
    assert_eq!(
        trigger::ProcessCreate::new(other + 0x80, other, "\\??\\C:\\evil.exe").fire(),
        STATUS_SUCCESS
    );
    kernel.unload_driver();
    assert_nothing_left(&kernel);
}

#[test]
fn without_policies_nothing_is_ever_changed() {
    let mut kernel = loaded();
    let base = 0x6_3000_u64;
    for (index, image) in ["\\??\\C:\\evil.exe", "\\??\\C:\\bad.exe", "\\??\\C:\\x.exe"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            trigger::ProcessCreate::new(base + 4 * index as u64, base, image).fire(),
            STATUS_SUCCESS
        );
    }
    for operation in [
        HandleOperation::open_process(PROTECTED_PID, PROCESS_ALL_ACCESS, (base, base + 4)),
        HandleOperation::duplicate_process(
            PROTECTED_PID,
            PROCESS_ALL_ACCESS,
            (base, base + 4),
            base + 0x40,
            base,
        ),
        HandleOperation::open_process(4, PROCESS_ALL_ACCESS, (base, base + 4)),
        HandleOperation::open_thread(PROTECTED_PID, PROTECTED_PID + 4, 0x001F_03FF, (base, base + 4)),
    ] {
        assert_eq!(operation.fire(), operation.desired_access);
    }
    let mut events = Events::new();
    events.until(&mut kernel, "records", |r| {
        count(r, SourceId::ObjectHandle, base) == 8
            && (0..3).all(|i| count(r, SourceId::ProcessCreate, base + 4 * i) == 1)
    });
    for record in events.of(SourceId::ObjectHandle, base) {
        assert_eq!(
            record
                .payload::<ObjectHandlePayload>()
                .expect("ob")
                .stripped_access,
            0
        );
    }
    for i in 0..3 {
        let record = events.of(SourceId::ProcessCreate, base + 4 * i)[0];
        assert_eq!(
            record.payload::<ProcessPayload>().expect("p").flags & PROCESS_FLAG_DENIED_BY_POLICY,
            0
        );
    }
    kernel.unload_driver();
    assert_nothing_left(&kernel);
}

unsafe extern "C" fn add_query_information(
    _: PVOID,
    info: POB_PRE_OPERATION_INFORMATION,
) -> OB_PREOP_CALLBACK_STATUS {
    // SAFETY: the model's live pre-operation information.
    let info = unsafe { &*info };
    // SAFETY: its live parameters.
    let parameters = unsafe { &mut *info.Parameters };
    // SAFETY: a create operation: CreateHandleInformation is the active member.
    unsafe { parameters.CreateHandleInformation.DesiredAccess |= PROCESS_QUERY_INFORMATION };
    OB_PREOP_SUCCESS
}

unsafe extern "C" fn remove_vm_read(
    _: PVOID,
    info: POB_PRE_OPERATION_INFORMATION,
) -> OB_PREOP_CALLBACK_STATUS {
    // SAFETY: the model's live pre-operation information.
    let info = unsafe { &*info };
    // SAFETY: its live parameters.
    let parameters = unsafe { &mut *info.Parameters };
    // SAFETY: as above. PROCESS_VM_READ is not on the modifiable list.
    unsafe { parameters.CreateHandleInformation.DesiredAccess &= !PROCESS_VM_READ };
    OB_PREOP_SUCCESS
}

unsafe extern "C" fn remove_terminate(
    _: PVOID,
    info: POB_PRE_OPERATION_INFORMATION,
) -> OB_PREOP_CALLBACK_STATUS {
    // SAFETY: the model's live pre-operation information.
    let info = unsafe { &*info };
    // SAFETY: its live parameters.
    let parameters = unsafe { &mut *info.Parameters };
    // SAFETY: as above. PROCESS_TERMINATE is on the modifiable list.
    unsafe { parameters.CreateHandleInformation.DesiredAccess &= !PROCESS_TERMINATE };
    OB_PREOP_SUCCESS
}

#[test]
fn the_model_lets_a_pre_callback_only_remove_modifiable_rights() {
    let kernel = boot();
    let source = (0x6_4000, 0x6_4004);
    for (pre, desired, granted, violation) in [
        (
            add_query_information as unsafe extern "C" fn(_, _) -> _,
            PROCESS_TERMINATE,
            PROCESS_TERMINATE,
            true,
        ),
        (
            remove_vm_read,
            PROCESS_VM_READ | PROCESS_TERMINATE,
            PROCESS_VM_READ | PROCESS_TERMINATE,
            true,
        ),
        (
            remove_terminate,
            PROCESS_VM_READ | PROCESS_TERMINATE,
            PROCESS_VM_READ,
            false,
        ),
    ] {
        let handle = foreign_ob("300000", Some(pre)).expect("registered");
        assert_eq!(
            HandleOperation::open_process(0x6_4100, desired, source).fire(),
            granted
        );
        if violation {
            let check = kernel.expect_bugcheck(codes::NTSIM_RULE, ModelRule::InvalidParameter as u64);
            assert!(check.text.contains("may only remove bits"), "{check}");
        }
        kernel.assert_no_bugchecks();
        unregister_ob(handle);
    }
    assert_eq!(
        ntsim::obcallbacks::PROCESS_MODIFIABLE & PROTECTED,
        PROTECTED,
        "what the driver strips is modifiable"
    );
}

// --- 7. Unload and reload -------------------------------------------------------------------------

#[test]
fn unload_removes_everything_and_the_driver_loads_again() {
    let mut kernel = boot();
    for round in 0..2_u64 {
        assert_eq!(kernel.load_driver(), STATUS_SUCCESS, "load #{round}");
        assert_eq!(ntsim::ps::process_routines().len(), 1);
        assert_eq!(ntsim::ps::thread_routines().len(), 1);
        assert_eq!(ntsim::ps::load_image_routines().len(), 1);
        assert_eq!(
            ntsim::obcallbacks::altitudes(),
            [DEFAULT_OB_ALTITUDE.to_owned()],
            "fresh altitude each load"
        );
        assert_eq!(ntsim::registry::callbacks().len(), 1);
        let pid = 0x7_0000 + round * 0x100;
        assert_eq!(
            trigger::ProcessCreate::new(pid, pid + 4, "\\??\\C:\\again.exe").fire(),
            STATUS_SUCCESS
        );
        assert_eq!(
            HandleOperation::open_process(pid + 8, 0x1000, (pid, pid + 4)).fire(),
            0x1000
        );
        assert_eq!(
            trigger::registry_open_key(pid, "\\Registry\\Machine\\Software"),
            STATUS_SUCCESS
        );
        let mut events = Events::new();
        events.until(&mut kernel, "events", |r| {
            count(r, SourceId::ProcessCreate, pid) == 1
                && count(r, SourceId::ObjectHandle, pid) == 2
                && count(r, SourceId::Registry, pid) == 2
        });
        kernel.unload_driver();
        assert!(ntsim::ps::process_routines().is_empty());
        assert!(ntsim::ps::thread_routines().is_empty());
        assert!(ntsim::obcallbacks::altitudes().is_empty());
        assert!(ntsim::registry::callbacks().is_empty());
        assert_nothing_left(&kernel);
        // Nothing fires any more.
        assert_eq!(trigger::process_exit(pid, pid + 4), 0);
    }
}

// --- 8. Fault injection at every registration of these families ----------------------------------------

#[test]
fn fault_injection_at_each_registration_is_reported_and_unload_is_clean() {
    let cases: [(&str, &[&str], &str); 9] = [
        (EX2, &[], EX2),
        (
            "PsSetCreateProcessNotifyRoutineEx",
            &[EX2],
            "PsSetCreateProcessNotifyRoutineEx",
        ),
        (THREAD_EX, &[], THREAD_EX),
        (
            "PsSetCreateThreadNotifyRoutine",
            &[THREAD_EX],
            "PsSetCreateThreadNotifyRoutine",
        ),
        (IMAGE_EX, &[], IMAGE_EX),
        (
            "PsSetLoadImageNotifyRoutine",
            &[IMAGE_EX],
            "PsSetLoadImageNotifyRoutine",
        ),
        ("ObRegisterCallbacks", &[], "ObRegisterCallbacks"),
        (CM_EX, &[], CM_EX),
        ("CmRegisterCallback", &[CM_EX], "CmRegisterCallback"),
    ];
    let statuses = [STATUS_INSUFFICIENT_RESOURCES, 0xC000_0017_u32.cast_signed()]; // STATUS_NO_MEMORY
    for (index, (ddi, hidden, api)) in cases.iter().enumerate() {
        for status in statuses {
            let mut kernel = boot();
            for name in *hidden {
                ntsim::exports::hide(name);
            }
            faults::fail_nth_on_this_thread(ddi, 1, status);
            assert_eq!(kernel.load_driver(), STATUS_SUCCESS, "{ddi}");
            assert_eq!(faults::fired().len(), 1, "{ddi}: the fault fired");
            assert_failed(&mut kernel, api, status);
            // The other families are in place and deliver.
            let pid = 0x8_0000 + 0x100 * index as u64;
            assert_eq!(
                trigger::ProcessCreate::new(pid, pid + 4, "\\??\\C:\\fault.exe").fire(),
                STATUS_SUCCESS
            );
            let process_on = !ntsim::ps::process_routines().is_empty();
            assert_eq!(process_on, !ddi.starts_with("PsSetCreateProcess"), "{ddi}");
            if process_on {
                let mut events = Events::new();
                events.until(&mut kernel, ddi, |r| count(r, SourceId::ProcessCreate, pid) == 1);
            }
            assert_runs_on(&mut kernel, pid);
            kernel.unload_driver();
            assert_nothing_left(&kernel);
        }
    }
}

// --- 9. Zero allocations per event ----------------------------------------------------------------------

/// One event trigger.
type Step = Box<dyn Fn()>;

#[test]
fn no_routine_allocates_pool_per_event() {
    for legacy_get in [false, true] {
        let mut kernel = boot();
        if legacy_get {
            ntsim::exports::hide("CmCallbackGetKeyObjectIDEx");
        }
        assert_eq!(kernel.load_driver(), STATUS_SUCCESS);
        let pid = 0x9_0000 + u64::from(legacy_get) * 0x1000;
        let key = format!("\\Registry\\Machine\\Software\\KcbAlloc{pid:x}");
        let set = KeyOperation::SetValue {
            name: "V".to_owned(),
            value_type: ntsim::registry::REG_DWORD,
            data: vec![1, 0, 0, 0],
        };
        let steps: Vec<(&str, Step)> = vec![
            (
                "process create",
                Box::new(move || {
                    assert_eq!(
                        trigger::ProcessCreate::new(pid, pid + 4, "\\??\\C:\\a.exe").fire(),
                        0
                    )
                }),
            ),
            (
                "thread create",
                Box::new(move || {
                    assert_eq!(
                        trigger::thread_notify(pid, pid + 8, true, (pid, pid + 8), PASSIVE_LEVEL),
                        1
                    )
                }),
            ),
            (
                "thread exit",
                Box::new(move || {
                    assert_eq!(
                        trigger::thread_notify(pid, pid + 8, false, (pid, pid + 8), PASSIVE_LEVEL),
                        1
                    )
                }),
            ),
            (
                "image load",
                Box::new(move || {
                    assert_eq!(
                        trigger::load_image("\\Windows\\a.dll", pid, 0x1000_0000, 0x1000, false),
                        1
                    )
                }),
            ),
            (
                "ob create",
                Box::new(move || {
                    assert_eq!(
                        HandleOperation::open_process(pid + 12, 0x1000, (pid, pid + 8)).fire(),
                        0x1000
                    )
                }),
            ),
            (
                "ob duplicate",
                Box::new(move || {
                    assert_eq!(
                        HandleOperation::duplicate_process(pid + 12, 0x1000, (pid, pid + 8), pid, pid).fire(),
                        0x1000
                    )
                }),
            ),
            (
                "cm set value",
                Box::new({
                    let key = key.clone();
                    move || assert_eq!(RegistryOperation::new(pid, &key, set.clone()).fire().status, 0)
                }),
            ),
            (
                "cm query missing",
                Box::new({
                    let key = key.clone();
                    move || {
                        assert_eq!(
                            RegistryOperation::new(
                                pid,
                                &key,
                                KeyOperation::QueryValue {
                                    name: "none".to_owned()
                                }
                            )
                            .fire()
                            .status,
                            STATUS_OBJECT_NAME_NOT_FOUND
                        )
                    }
                }),
            ),
            (
                "cm create key",
                Box::new({
                    let key = key.clone();
                    move || {
                        assert_eq!(
                            RegistryOperation::new(pid, &key, KeyOperation::CreateKeyEx)
                                .fire()
                                .status,
                            0
                        )
                    }
                }),
            ),
            (
                "process exit",
                Box::new(move || assert_eq!(trigger::process_exit(pid, pid + 4), 1)),
            ),
        ];
        let get_calls = || {
            ntsim::ddi::calls()
                .iter()
                .filter(|c| c.ddi.starts_with("CmCallbackGetKeyObjectID"))
                .count()
        };
        let gets_before = get_calls();
        for (what, step) in &steps {
            let made = ntsim::pool::count_allocations(step);
            assert_eq!(made, 0, "{what} allocated pool (legacy get: {legacy_get})");
        }
        assert!(
            get_calls() > gets_before,
            "the key-name routine ran (and its own memory did not count)"
        );
        let mut events = Events::new();
        events.until(&mut kernel, "records", |r| {
            count(r, SourceId::ProcessCreate, pid) == 2 && count(r, SourceId::Registry, pid) == 6
        });
        let with_path = events
            .of(SourceId::Registry, pid)
            .iter()
            .filter(|r| text(&r.payload::<RegistryPayload>().expect("cm").key_path) == key)
            .count();
        assert!(with_path >= 3, "key paths were resolved");
        kernel.unload_driver();
        assert_nothing_left(&kernel);
    }
}

// --- 10. Registry: every notify class, decoded, never altered ----------------------------------------------

const COVERAGE_KEY: &str = "\\Registry\\Machine\\Software\\KcbCoverage";

/// The scripted sequence: (key, operation, status override).
fn registry_script() -> Vec<(String, KeyOperation, Option<NTSTATUS>)> {
    let key = COVERAGE_KEY.to_owned();
    let sub = format!("{COVERAGE_KEY}\\Sub");
    let hive = format!("{COVERAGE_KEY}\\Hive");
    let value = |name: &str| name.to_owned();
    vec![
        (key.clone(), KeyOperation::CreateKeyEx, None),
        (sub.clone(), KeyOperation::CreateKey, None),
        (key.clone(), KeyOperation::OpenKeyEx, None),
        (key.clone(), KeyOperation::OpenKey, None),
        (format!("{COVERAGE_KEY}\\Missing"), KeyOperation::OpenKey, None),
        (format!("{COVERAGE_KEY}\\Missing"), KeyOperation::OpenKeyEx, None),
        (
            format!("{COVERAGE_KEY}\\Link"),
            KeyOperation::OpenKeyEx,
            Some(ntsim::registry::STATUS_REPARSE),
        ),
        (
            key.clone(),
            KeyOperation::SetValue {
                name: value("V"),
                value_type: ntsim::registry::REG_BINARY,
                data: vec![1, 2, 3],
            },
            None,
        ),
        (key.clone(), KeyOperation::QueryValue { name: value("V") }, None),
        (
            key.clone(),
            KeyOperation::QueryValue { name: value("Nope") },
            None,
        ),
        (key.clone(), KeyOperation::EnumerateKey { index: 0 }, None),
        (key.clone(), KeyOperation::EnumerateKey { index: 5 }, None),
        (key.clone(), KeyOperation::EnumerateValueKey { index: 0 }, None),
        (key.clone(), KeyOperation::QueryKey, None),
        (key.clone(), KeyOperation::QueryMultipleValueKey, None),
        (key.clone(), KeyOperation::SetInformationKey, None),
        (key.clone(), KeyOperation::FlushKey, None),
        (key.clone(), KeyOperation::QueryKeySecurity, None),
        (key.clone(), KeyOperation::SetKeySecurity, None),
        (key.clone(), KeyOperation::SaveKey, None),
        (key.clone(), KeyOperation::RestoreKey, None),
        (
            key.clone(),
            KeyOperation::ReplaceKey {
                new_file: value("\\??\\C:\\new.hiv"),
                old_file: value("\\??\\C:\\old.hiv"),
            },
            None,
        ),
        (key.clone(), KeyOperation::QueryKeyName, None),
        (key.clone(), KeyOperation::SaveMergedKey, None),
        (key.clone(), KeyOperation::DeleteValue { name: value("V") }, None),
        (key.clone(), KeyOperation::DeleteValue { name: value("V") }, None),
        (key.clone(), KeyOperation::DeleteKey, None),
        (
            sub,
            KeyOperation::RenameKey {
                new_name: value("Sub2"),
            },
            None,
        ),
        (
            hive.clone(),
            KeyOperation::LoadKey {
                file: value("\\??\\C:\\hive.dat"),
            },
            None,
        ),
        (hive, KeyOperation::UnloadKey, None),
        (key.clone(), KeyOperation::CloseKey, None),
        (key, KeyOperation::ContextCleanup, None),
        (format!("{COVERAGE_KEY}\\Sub2"), KeyOperation::DeleteKey, None),
    ]
}

type ScriptResult = Vec<(
    ntsim::registry::RegistryOutcome,
    Vec<ntsim::registry::KeySnapshot>,
)>;

fn run_script(pid: u64) -> ScriptResult {
    registry_script()
        .into_iter()
        .map(|(key, operation, completes_with)| {
            let outcome = RegistryOperation {
                completes_with,
                ..RegistryOperation::new(pid, &key, operation)
            }
            .fire();
            (outcome, ntsim::registry::snapshot(COVERAGE_KEY))
        })
        .collect()
}

#[test]
fn every_registry_notify_class_is_decoded_and_nothing_is_altered() {
    // The reference: the same operations on a system without the driver.
    let kernel = boot();
    let reference = run_script(0xA_0000);
    kernel.assert_no_bugchecks();
    drop(kernel);

    let mut kernel = loaded();
    let pid = 0xA_1000;
    let calls_before = ntsim::ddi::calls().len();
    let observed = run_script(pid);
    for (index, ((with, with_tree), (without, without_tree))) in observed.iter().zip(&reference).enumerate() {
        let (key, operation, _) = &registry_script()[index];
        assert_eq!(
            with, without,
            "#{index} {operation:?} on {key}: the driver changed the outcome"
        );
        assert!(
            !with.pre_information_changed && !with.post_information_changed,
            "#{index}: wrote into the information"
        );
        assert_eq!(with_tree, without_tree, "#{index}: the registry differs");
    }
    let expected_records: usize = observed
        .iter()
        .map(|(o, _)| 1 + usize::from(o.post_notified))
        .sum();
    let mut events = Events::new();
    let arrived = poll_until(DRAIN_TIMEOUT, || {
        events.0.extend(read_events(&mut kernel, 64));
        count(&events.0, SourceId::Registry, pid) == expected_records
    });
    let seen: Vec<(u16, u32)> = events
        .of(SourceId::Registry, pid)
        .iter()
        .map(|r| {
            (
                r.header.kind,
                r.payload::<RegistryPayload>().expect("cm").notify_class,
            )
        })
        .collect();
    assert!(
        arrived,
        "expected {expected_records} registry records, got {seen:?}"
    );
    let records = events.of(SourceId::Registry, pid);
    let mut records = records.iter();
    let mut classes = std::collections::BTreeSet::new();
    for (index, ((key, operation, _), (outcome, _))) in registry_script().iter().zip(&observed).enumerate() {
        let (pre_class, post_class) = operation.classes();
        let pre = records.next().expect("pre record");
        assert_eq!(pre.header.kind, kind::PRE, "#{index}");
        assert_eq!(pre.header.irql, PASSIVE_LEVEL);
        let r = pre.payload::<RegistryPayload>().expect("registry");
        assert_eq!((r.notify_class, r.status), (pre_class, 0), "#{index}");
        classes.insert(pre_class);
        let path = text(&r.key_path);
        match operation {
            // Close and context cleanup: the object has no reference; no path.
            KeyOperation::CloseKey | KeyOperation::ContextCleanup => {
                assert_eq!(path, "", "#{index}")
            }
            _ => assert_eq!(&path, key, "#{index} {operation:?}"),
        }
        match operation {
            KeyOperation::SetValue {
                name,
                value_type,
                data,
            } => {
                assert_eq!(
                    (text(&r.value_name), r.value_type, r.data_size as usize),
                    (name.clone(), *value_type, data.len())
                );
            }
            KeyOperation::DeleteValue { name } | KeyOperation::QueryValue { name } => {
                assert_eq!(text(&r.value_name), *name);
            }
            _ => assert!(r.value_name.is_empty()),
        }
        let Some(post_class) = post_class else {
            continue;
        };
        let post = records.next().expect("post record");
        assert_eq!(post.header.kind, kind::POST, "#{index}");
        let r = post.payload::<RegistryPayload>().expect("registry");
        classes.insert(post_class);
        assert_eq!(r.notify_class, post_class, "#{index}");
        let status = outcome.registry_status.expect("not blocked");
        let path = text(&r.key_path);
        match post_class {
            // Post close: nothing but the class.
            25 => assert_eq!((r.status, path.as_str()), (0, ""), "#{index}"),
            // Post create/open (pre-Vista form): the complete name, always.
            11 | 13 => assert_eq!((r.status, path.as_str()), (status, key.as_str()), "#{index}"),
            // The object only when Status is STATUS_SUCCESS.
            _ if status == STATUS_SUCCESS => {
                assert_eq!((r.status, path.as_str()), (status, key.as_str()), "#{index}")
            }
            _ => assert_eq!((r.status, path.as_str()), (status, ""), "#{index} {operation:?}"),
        }
    }
    assert_eq!(
        classes,
        (0..=50).collect(),
        "every REG_NOTIFY_CLASS the model can send"
    );
    // Failures were among them.
    for status in [
        STATUS_OBJECT_NAME_NOT_FOUND,
        STATUS_NO_MORE_ENTRIES,
        ntsim::registry::STATUS_REPARSE,
        ntsim::registry::STATUS_CANNOT_DELETE,
    ] {
        assert!(
            observed.iter().any(|(o, _)| o.registry_status == Some(status)),
            "{status:#x}"
        );
    }
    // One release per successful get, nothing outstanding.
    let calls = &ntsim::ddi::calls()[calls_before..];
    let gets = calls
        .iter()
        .filter(|c| c.ddi == "CmCallbackGetKeyObjectIDEx")
        .count();
    let releases = calls
        .iter()
        .filter(|c| c.ddi == "CmCallbackReleaseKeyObjectIDEx")
        .count();
    assert!(gets > 20, "{gets}");
    assert_eq!(gets, releases);
    assert_eq!(ntsim::registry::unreleased_names(), 0);
    kernel.unload_driver();
    assert_nothing_left(&kernel);
}

#[test]
fn a_blocking_filter_above_the_driver_hides_the_operation_from_it() {
    unsafe extern "C" fn deny_set_value(_: PVOID, class: PVOID, _: PVOID) -> NTSTATUS {
        if class as usize == 1 {
            STATUS_ACCESS_DENIED
        } else {
            STATUS_SUCCESS
        }
    }
    let mut kernel = loaded();
    let cookie = foreign_cm("400000", Some(deny_set_value)).expect("registered");
    let pid = 0xA_2000;
    let key = "\\Registry\\Machine\\Software\\KcbBlocked";
    let outcome = RegistryOperation::new(
        pid,
        key,
        KeyOperation::SetValue {
            name: "V".to_owned(),
            value_type: 4,
            data: vec![0; 4],
        },
    )
    .fire();
    assert_eq!(
        (outcome.status, outcome.post_notified),
        (STATUS_ACCESS_DENIED, false)
    );
    assert!(ntsim::registry::values(key).is_empty());
    // The next operation reaches the driver; the blocked one never did.
    assert_eq!(
        RegistryOperation::new(pid, key, KeyOperation::FlushKey)
            .fire()
            .status,
        STATUS_SUCCESS
    );
    let mut events = Events::new();
    events.until(&mut kernel, "flush records", |r| {
        count(r, SourceId::Registry, pid) == 2
    });
    let classes: Vec<u32> = events
        .of(SourceId::Registry, pid)
        .iter()
        .map(|r| r.payload::<RegistryPayload>().expect("cm").notify_class)
        .collect();
    assert_eq!(classes, [30, 31]);
    unregister_cm(cookie);
    kernel.unload_driver();
    assert_nothing_left(&kernel);
}

// Proofs that the model's registry checks fire.

static LEAK_COOKIE: std::sync::Mutex<Option<i64>> = std::sync::Mutex::new(None);

unsafe extern "C" fn leak_names(_: PVOID, class: PVOID, info: PVOID) -> NTSTATUS {
    if class as usize == 1 {
        let cookie = LEAK_COOKIE.lock().unwrap().expect("cookie");
        let mut cookie = LARGE_INTEGER { QuadPart: cookie };
        // SAFETY: RegNtPreSetValueKey's information starts with the key object.
        let object = unsafe { *info.cast::<PVOID>() };
        let mut name: PCUNICODE_STRING = std::ptr::null();
        // SAFETY: the model's routine with a live object; the name is leaked on purpose.
        let status = unsafe {
            ntsim::registry::CmCallbackGetKeyObjectIDEx(
                &raw mut cookie,
                object,
                std::ptr::null_mut(),
                &raw mut name,
                0,
            )
        };
        assert_eq!(status, STATUS_SUCCESS);
    }
    STATUS_SUCCESS
}

unsafe extern "C" fn query_on_close(_: PVOID, class: PVOID, info: PVOID) -> NTSTATUS {
    if class as usize == 14 {
        let cookie = LEAK_COOKIE.lock().unwrap().expect("cookie");
        let mut cookie = LARGE_INTEGER { QuadPart: cookie };
        // SAFETY: REG_KEY_HANDLE_CLOSE_INFORMATION starts with the key object.
        let object = unsafe { *info.cast::<PVOID>() };
        let mut id = 0_u64;
        // SAFETY: the call under test: the object has no reference any more.
        let status = unsafe {
            ntsim::registry::CmCallbackGetKeyObjectIDEx(
                &raw mut cookie,
                object,
                &raw mut id,
                std::ptr::null_mut(),
                0,
            )
        };
        assert_eq!(status, STATUS_INVALID_PARAMETER);
    }
    STATUS_SUCCESS
}

unsafe extern "C" fn query_failed_post(_: PVOID, class: PVOID, info: PVOID) -> NTSTATUS {
    if class as usize == 29 {
        let cookie = LEAK_COOKIE.lock().unwrap().expect("cookie");
        let mut cookie = LARGE_INTEGER { QuadPart: cookie };
        // SAFETY: a REG_POST_OPERATION_INFORMATION.
        let post = unsafe { &*info.cast::<wdk_sys::REG_POST_OPERATION_INFORMATION>() };
        let mut id = 0_u64;
        // SAFETY: the call under test: Status is not STATUS_SUCCESS.
        let status = unsafe {
            ntsim::registry::CmCallbackGetKeyObjectIDEx(
                &raw mut cookie,
                post.Object,
                &raw mut id,
                std::ptr::null_mut(),
                0,
            )
        };
        assert_eq!(status, STATUS_INVALID_PARAMETER);
    }
    STATUS_SUCCESS
}

#[test]
fn the_model_flags_unreleased_names_and_invalid_key_objects() {
    let kernel = boot();
    let key = "\\Registry\\Machine\\Software\\KcbChecks";
    for (routine, operation, completes_with, rule) in [
        (
            leak_names as unsafe extern "C" fn(_, _, _) -> _,
            KeyOperation::SetValue {
                name: "V".to_owned(),
                value_type: 4,
                data: vec![0; 4],
            },
            None,
            ModelRule::HandleLeakedAtUnload,
        ),
        (
            query_on_close,
            KeyOperation::CloseKey,
            None,
            ModelRule::InvalidParameter,
        ),
        (
            query_failed_post,
            KeyOperation::OpenKeyEx,
            Some(ntsim::registry::STATUS_REPARSE),
            ModelRule::InvalidParameter,
        ),
    ] {
        let cookie = foreign_cm("310000", Some(routine)).expect("registered");
        // SAFETY: every bit pattern is a valid i64.
        *LEAK_COOKIE.lock().unwrap() = Some(unsafe { cookie.QuadPart });
        let outcome = RegistryOperation {
            completes_with,
            ..RegistryOperation::new(0xA_3000, key, operation)
        }
        .fire();
        assert!(outcome.status >= 0);
        unregister_cm(cookie);
        let check = kernel.expect_bugcheck(codes::NTSIM_RULE, rule as u64);
        eprintln!("{check}");
        kernel.assert_no_bugchecks();
    }
    let _ = ntsim::registry::unreleased_names();
}

// --- The object-type data exports ------------------------------------------------------------------------

#[test]
fn object_type_exports_hold_the_type_pointers_like_ntoskrnl_variables() {
    let mut kernel = loaded();
    for (name, value) in [
        ("PsProcessType", ntsim::thread::process_type()),
        ("PsThreadType", ntsim::thread::thread_type()),
        ("ExDesktopObjectType", ntsim::thread::desktop_type()),
    ] {
        let address = ntsim::exports::address_of(name).expect("exported");
        // SAFETY: the model's exported variable: a POBJECT_TYPE.
        let held = unsafe { *(address as *const POBJECT_TYPE) };
        assert_eq!(held, value, "{name}: the variable holds the POBJECT_TYPE");
        assert!(ntsim::thread::object_type_name(held).is_some());
    }
    // The driver's registration named the variables (OB_OPERATION_REGISTRATION
    // takes POBJECT_TYPE*), and the model accepted all three types.
    assert_registered(&mut kernel, "ObRegisterCallbacks");
    let pid = 0xB_0000;
    assert_eq!(
        HandleOperation {
            target: ntsim::trigger::Target::Desktop,
            ..HandleOperation::open_process(0, 0x1, (pid, pid + 4))
        }
        .fire(),
        0x1
    );
    let mut events = Events::new();
    events.until(&mut kernel, "desktop records", |r| {
        count(r, SourceId::ObjectHandle, pid) == 2
    });
    let o = *events.of(SourceId::ObjectHandle, pid)[0]
        .payload::<ObjectHandlePayload>()
        .expect("ob");
    assert_eq!(o.object_type, kcb_proto::OB_TYPE_DESKTOP);
    kernel.unload_driver();
    assert_nothing_left(&kernel);
}
