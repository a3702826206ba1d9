//! The model's own tests. DDIs are called through `wdk_sys::ntddk`, the
//! declarations the driver uses, so these also check the link-time seam.

mod common;

use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

// The model's own IRQL routines: the x64 headers (and so wdk-sys) bind only
// KeGetCurrentIrql and KfRaiseIrql.
use ntsim::irql::{
    APC_LEVEL, DISPATCH_LEVEL, HIGH_LEVEL, KeLowerIrql, KeRaiseIrqlToDpcLevel, KfRaiseIrql, PASSIVE_LEVEL,
    with_irql,
};
use ntsim::unicode::OwnedUnicode;
use ntsim::verifier::{ModelRule, codes};
use ntsim::{Kernel, faults, trigger};
use wdk_sys::ntddk::*;
use wdk_sys::*;

const C4: u32 = codes::DRIVER_VERIFIER_DETECTED_VIOLATION;
const CE: u32 = codes::DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS;

fn name(text: &str) -> OwnedUnicode {
    OwnedUnicode::new(text)
}

fn current_irql() -> u8 {
    // SAFETY: the model's KeGetCurrentIrql has no preconditions.
    unsafe { KeGetCurrentIrql() }
}

// --- IRQL ---------------------------------------------------------------

#[test]
fn irql_raise_and_lower() {
    let kernel = Kernel::boot();
    assert_eq!(current_irql(), PASSIVE_LEVEL);
    // SAFETY: raising from PASSIVE_LEVEL, lowered again below.
    let old = unsafe { KfRaiseIrql(DISPATCH_LEVEL) };
    assert_eq!(old, PASSIVE_LEVEL);
    assert_eq!(current_irql(), DISPATCH_LEVEL);
    // SAFETY: back to the level returned by the raise.
    unsafe { KeLowerIrql(old) };
    // SAFETY: as above.
    assert_eq!(unsafe { KeRaiseIrqlToDpcLevel() }, PASSIVE_LEVEL);
    // SAFETY: as above.
    unsafe { KeLowerIrql(PASSIVE_LEVEL) };
    with_irql(APC_LEVEL, || {
        assert_eq!(current_irql(), APC_LEVEL);
    });
    kernel.assert_no_bugchecks();
}

#[test]
fn irql_bad_raise_and_lower_are_caught() {
    let kernel = Kernel::boot();
    with_irql(DISPATCH_LEVEL, || {
        // SAFETY: the model's routine; the bad raise is the violation under test.
        let _ = unsafe { KfRaiseIrql(APC_LEVEL) };
        assert_eq!(current_irql(), DISPATCH_LEVEL, "a bad raise changes nothing");
        // SAFETY: as above, for the bad lower.
        unsafe { KeLowerIrql(HIGH_LEVEL) };
    });
    let raise = kernel.expect_bugcheck(C4, 0x30);
    assert_eq!(raise.params, [0x30, 2, 1, 0]);
    let lower = kernel.expect_bugcheck(C4, 0x31);
    assert_eq!(lower.params[1..3], [2, 15]);
}

// --- DbgPrint -----------------------------------------------------------

#[test]
fn dbgprint_output_is_exactly_what_the_format_produces() {
    let kernel = Kernel::boot();
    // SAFETY: the format matches its argument.
    unsafe { DbgPrintEx(77, 0, c"%s\n".as_ptr(), c"kcallbacks: hello".as_ptr()) };
    // SAFETY: as above.
    unsafe {
        DbgPrintEx(
            77,
            0,
            c"n=%d x=%#x s=%.3s%%\n".as_ptr(),
            -5i32,
            255u32,
            c"abcdef".as_ptr(),
        )
    };
    // SAFETY: a format without conversions.
    unsafe { DbgPrint(c"plain".as_ptr()) };
    let calls = ntsim::dbgprint::debug_calls();
    assert_eq!(calls[0].text, "kcallbacks: hello\n");
    assert_eq!(calls[1].text, "n=-5 x=0xff s=abc%\n");
    assert!(calls[0].visible, "DPFLTR_ERROR_LEVEL passes the default filter");
    assert_eq!(
        (calls[2].component, calls[2].level, calls[2].visible),
        (101, 3, false),
        "DbgPrint is DEFAULT_ID/INFO"
    );
    assert_eq!(
        kernel.debug_output(),
        ["kcallbacks: hello", "n=-5 x=0xff s=abc%", "plain"]
    );
    let long = "x".repeat(700);
    let long_c = std::ffi::CString::new(long.clone()).unwrap();
    // SAFETY: as above.
    unsafe { DbgPrintEx(77, 0, c"%s".as_ptr(), long_c.as_ptr()) };
    let last = ntsim::dbgprint::debug_calls().pop().unwrap();
    assert_eq!(last.text, long);
    assert!(last.over_limit);
}

#[test]
fn dbgprint_above_dirql_is_caught() {
    let kernel = Kernel::boot();
    with_irql(HIGH_LEVEL, || {
        // SAFETY: constant format without conversions.
        unsafe { DbgPrintEx(77, 0, c"at high\n".as_ptr()) };
    });
    let check = kernel.expect_bugcheck(C4, 0xE5);
    assert_eq!(check.params[1], 15);
}

// --- Pool ---------------------------------------------------------------

const TAG: u32 = u32::from_le_bytes(*b"Test");

#[test]
fn pool_is_accounted_and_zeroed() {
    let kernel = Kernel::boot();
    let mut block = std::ptr::null_mut();
    let made = ntsim::pool::count_allocations(|| {
        // SAFETY: the model's allocator.
        block = unsafe { ExAllocatePool2(POOL_FLAG_NON_PAGED, 100, TAG) };
    });
    assert_eq!(made, 1);
    assert!(!block.is_null());
    // SAFETY: a 100-byte allocation.
    let bytes = unsafe { std::slice::from_raw_parts(block.cast::<u8>(), 100) };
    assert!(bytes.iter().all(|&b| b == 0));
    let live = ntsim::pool::outstanding();
    assert_eq!(live.len(), 1);
    assert_eq!(
        (live[0].size, live[0].tag, live[0].api),
        (100, TAG, "ExAllocatePool2")
    );
    assert_ne!(live[0].caller, 0, "the call site is recorded");
    assert_eq!(ntsim::pool::tag_text(live[0].tag), "Test");
    // SAFETY: freeing what was allocated, with its tag.
    unsafe { ExFreePoolWithTag(block, TAG) };
    assert!(ntsim::pool::outstanding().is_empty());
    // SAFETY: an invalid request (tag 0) is documented to return NULL.
    assert!(unsafe { ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, 0) }.is_null());
    // SAFETY: as above (no pool type).
    assert!(unsafe { ExAllocatePool2(0, 8, TAG) }.is_null());
    kernel.assert_no_bugchecks();
}

#[test]
fn pool_at_wrong_irql_double_free_and_bad_free_are_caught() {
    let kernel = Kernel::boot();
    let nonpaged = with_irql(HIGH_LEVEL, || {
        // SAFETY: the model's allocator.
        unsafe { ExAllocatePool2(POOL_FLAG_NON_PAGED, 16, TAG) }
    });
    assert!(nonpaged.is_null());
    let check = kernel.expect_bugcheck(C4, 0x02);
    assert_eq!(check.params, [0x02, 15, 512, 16]);
    let paged = with_irql(DISPATCH_LEVEL, || {
        // SAFETY: as above.
        unsafe { ExAllocatePool2(POOL_FLAG_PAGED, 16, TAG) }
    });
    assert!(paged.is_null());
    kernel.expect_bugcheck(C4, 0x01);
    // SAFETY: a valid allocation.
    let block = unsafe { ExAllocatePool2(POOL_FLAG_NON_PAGED, 16, TAG) };
    for _ in 0..2 {
        // SAFETY: the model's free; the second one is the double free under test.
        unsafe { ExFreePool(block) };
    }
    let double = kernel.expect_bugcheck(codes::BAD_POOL_CALLER, 0x07);
    assert_eq!(double.params[3], block as u64);
    let mut local = 0u64;
    // SAFETY: the model checks the address first; freeing a stack address is the violation.
    unsafe { ExFreePool((&raw mut local).cast()) };
    kernel.expect_bugcheck(C4, 0x10);
    // SAFETY: a valid allocation.
    let block = unsafe { ExAllocatePool2(POOL_FLAG_NON_PAGED, 16, TAG) };
    // SAFETY: freeing it with the wrong tag is the violation under test.
    unsafe { ExFreePoolWithTag(block, u32::from_le_bytes(*b"Oops")) };
    kernel.expect_bugcheck(codes::BAD_POOL_CALLER, 0x0A);
    kernel.assert_no_bugchecks();
}

#[test]
fn pool_fault_injection_returns_null() {
    let kernel = Kernel::boot();
    faults::fail_nth("ExAllocatePool2", 2, STATUS_INSUFFICIENT_RESOURCES);
    let allocate = || {
        // SAFETY: the model's allocator.
        unsafe { ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, TAG) }
    };
    let (first, second, third) = (allocate(), allocate(), allocate());
    assert!(!first.is_null() && second.is_null() && !third.is_null());
    for block in [first, third] {
        // SAFETY: freeing what was allocated.
        unsafe { ExFreePool(block) };
    }
    assert_eq!(faults::fired().len(), 1);
    kernel.assert_no_bugchecks();
}

// --- Exports, clock -----------------------------------------------------

#[test]
fn mm_get_system_routine_address_finds_the_model_and_honours_hiding() {
    let kernel = Kernel::boot();
    let mut precise = name("KeQuerySystemTimePrecise");
    let mut plain = name("KeQuerySystemTime");
    let mut bogus = name("NoSuchRoutine");
    let lookup = |routine: &mut OwnedUnicode| {
        // SAFETY: a live UNICODE_STRING.
        unsafe { MmGetSystemRoutineAddress(routine.as_ptr()) }
    };
    assert_eq!(
        lookup(&mut precise) as usize,
        KeQuerySystemTimePrecise as *const () as usize
    );
    assert!(lookup(&mut plain).is_null(), "a macro on x64, not an export");
    assert!(lookup(&mut bogus).is_null());
    ntsim::exports::hide("KeQuerySystemTimePrecise");
    assert!(lookup(&mut precise).is_null());
    ntsim::exports::expose("KeQuerySystemTime");
    let address = lookup(&mut plain);
    assert!(!address.is_null());
    // SAFETY: the model exports KeQuerySystemTime with this signature.
    let query: unsafe extern "C" fn(*mut LARGE_INTEGER) = unsafe { std::mem::transmute(address) };
    let mut now = LARGE_INTEGER::default();
    // SAFETY: a writable LARGE_INTEGER.
    unsafe { query(&raw mut now) };
    // SAFETY: plain integer read.
    assert!(unsafe { now.QuadPart } > ntsim::clock::UNIX_EPOCH_AS_FILETIME);
    kernel.assert_no_bugchecks();
}

// --- Events and system threads ------------------------------------------

struct EventCell(std::cell::UnsafeCell<KEVENT>);
// SAFETY: the event is only touched through the model's Ke routines.
unsafe impl Sync for EventCell {}
// SAFETY: as above; all-zero is a valid KEVENT before KeInitializeEvent.
static EVENT: EventCell = EventCell(std::cell::UnsafeCell::new(unsafe { std::mem::zeroed() }));
static THREAD_RAN: AtomicUsize = AtomicUsize::new(0);

fn event_ptr() -> *mut KEVENT {
    EVENT.0.get()
}

unsafe extern "C" fn worker(context: *mut c_void) {
    assert_eq!(current_irql(), PASSIVE_LEVEL);
    // SAFETY: the model's routine, no preconditions.
    assert_eq!(unsafe { PsGetCurrentProcessId() } as u64, 4);
    THREAD_RAN.fetch_add(context as usize, Ordering::SeqCst);
    // SAFETY: an initialized event, waited on at PASSIVE_LEVEL.
    let _ = unsafe {
        KeWaitForSingleObject(
            event_ptr().cast(),
            _KWAIT_REASON::Executive,
            0,
            0,
            std::ptr::null_mut(),
        )
    };
    // SAFETY: called from the system thread itself; does not return.
    let _ = unsafe { PsTerminateSystemThread(STATUS_SUCCESS) };
}

#[test]
fn system_thread_event_wait_terminate() {
    let kernel = Kernel::boot();
    THREAD_RAN.store(0, Ordering::SeqCst);
    let event = event_ptr();
    let mut handle: HANDLE = std::ptr::null_mut();
    let mut attributes = OBJECT_ATTRIBUTES {
        Attributes: OBJ_KERNEL_HANDLE,
        ..Default::default()
    };
    // SAFETY: a writable KEVENT in static storage.
    unsafe { KeInitializeEvent(event, _EVENT_TYPE::SynchronizationEvent, 0) };
    // SAFETY: the event was just initialized and nothing else touches it yet.
    let header = unsafe { &(*event).Header };
    let kind = ntsim::ke::dispatcher_type(header);
    assert_eq!(kind, 1);
    // SAFETY: valid out pointer and attributes; a 'static start routine.
    let status = unsafe {
        PsCreateSystemThread(
            &raw mut handle,
            THREAD_ALL_ACCESS,
            &raw mut attributes,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            Some(worker),
            7 as *mut c_void,
        )
    };
    assert_eq!(status, STATUS_SUCCESS);
    assert!(handle as usize & 0x8000_0000 != 0, "a kernel handle");
    let wait = |timeout: Option<i64>| {
        common::with_timeout(timeout, |interval| {
            // SAFETY: the model validates the handle; the interval is live for the call.
            unsafe { ZwWaitForSingleObject(handle, 0, interval) }
        })
    };
    assert_eq!(
        wait(Some(-50 * 10_000)),
        STATUS_TIMEOUT,
        "the thread waits for the event"
    );
    // SAFETY: the initialized event, at PASSIVE_LEVEL.
    assert_eq!(unsafe { KeSetEvent(event, 0, 0) }, 0);
    assert_eq!(wait(None), STATUS_SUCCESS);
    // SAFETY: the initialized event.
    let state = unsafe { KeReadStateEvent(event) };
    assert_eq!(state, 0, "the satisfied wait reset the synchronization event");
    let close = || {
        // SAFETY: the model validates the handle.
        unsafe { ZwClose(handle) }
    };
    assert_eq!(close(), STATUS_SUCCESS);
    assert_eq!(close(), STATUS_INVALID_HANDLE);
    assert_eq!(THREAD_RAN.load(Ordering::SeqCst), 7);
    assert!(ntsim::thread::system_threads().iter().all(|t| t.terminated));
    kernel.expect_bugcheck(codes::INVALID_KERNEL_HANDLE, handle as u64);
}

#[test]
fn waits_at_the_wrong_irql_are_caught() {
    let kernel = Kernel::boot();
    let event = event_ptr();
    // SAFETY: a writable KEVENT in static storage.
    unsafe { KeInitializeEvent(event, _EVENT_TYPE::NotificationEvent, 1) };
    let wait = |timeout: Option<i64>| {
        common::with_timeout(timeout, |interval| {
            // SAFETY: an initialized event; the interval is live for the call.
            unsafe { KeWaitForSingleObject(event.cast(), 0, 0, 0, interval) }
        })
    };
    let set = |wait_next: u8| {
        // SAFETY: an initialized event.
        unsafe { KeSetEvent(event, 0, wait_next) }
    };
    let status = with_irql(DISPATCH_LEVEL, || wait(Some(0)));
    assert_eq!(
        status, STATUS_SUCCESS,
        "a zero timeout is allowed at DISPATCH_LEVEL"
    );
    let _ = with_irql(DISPATCH_LEVEL, || wait(None));
    kernel.expect_bugcheck(C4, 0x121);
    let _ = with_irql(HIGH_LEVEL, || set(0));
    kernel.expect_bugcheck(C4, 0x80);
    let _ = with_irql(DISPATCH_LEVEL, || set(1));
    kernel.expect_bugcheck(C4, 0x2_0016);
    kernel.assert_no_bugchecks();
}

#[test]
fn psterminatesystemthread_outside_a_system_thread_returns_an_error() {
    let kernel = Kernel::boot();
    // SAFETY: the model's routine; it returns on a non-system thread.
    let status = unsafe { PsTerminateSystemThread(STATUS_SUCCESS) };
    assert_eq!(status, STATUS_INVALID_PARAMETER);
    kernel.assert_no_bugchecks();
}

// --- Load-image notify ----------------------------------------------------

/// (name, pid, base, size, properties, irql, current pid).
type Seen = (String, u64, u64, u64, u32, u8, u64);

static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());

unsafe extern "C" fn record_image(name: PUNICODE_STRING, pid: HANDLE, info: PIMAGE_INFO) {
    // SAFETY: the kernel passes a valid (or null) name for the duration of the call.
    let name = unsafe { ntsim::unicode::read(name) }.unwrap_or_default();
    // SAFETY: a valid IMAGE_INFO for the call.
    let info = unsafe { &*info };
    // SAFETY: the Properties view of the bit-field union.
    let properties = unsafe { info.__bindgen_anon_1.Properties };
    // SAFETY: the model's routine, no preconditions.
    let current = unsafe { PsGetCurrentProcessId() } as u64;
    SEEN.lock().unwrap().push((
        name,
        pid as u64,
        info.ImageBase as u64,
        info.ImageSize,
        properties,
        current_irql(),
        current,
    ));
}

const unsafe extern "C" fn other_image_routine(_: PUNICODE_STRING, _: HANDLE, _: PIMAGE_INFO) {}

fn set_image(routine: PLOAD_IMAGE_NOTIFY_ROUTINE) -> NTSTATUS {
    // SAFETY: the routines passed here are 'static; each test removes them.
    unsafe { PsSetLoadImageNotifyRoutine(routine) }
}

fn remove_image(routine: PLOAD_IMAGE_NOTIFY_ROUTINE) -> NTSTATUS {
    // SAFETY: the model looks the routine up and reports an unknown one.
    unsafe { PsRemoveLoadImageNotifyRoutine(routine) }
}

#[test]
fn load_image_notify_delivers_documented_arguments() {
    let kernel = Kernel::boot();
    SEEN.lock().unwrap().clear();
    assert_eq!(set_image(Some(record_image)), STATUS_SUCCESS);
    assert_eq!(
        trigger::load_image(
            "\\Windows\\System32\\notepad.exe",
            0x1F0,
            0x7FF6_1000_0000,
            0x4_0000,
            false
        ),
        1
    );
    let mut driver = trigger::LoadImage::new("\\SystemRoot\\System32\\drivers\\x.sys", 0);
    driver.system_mode = true;
    driver.signature_level = 0xC;
    driver.signature_type = 1;
    assert_eq!(driver.fire(), 1);
    let seen = SEEN.lock().unwrap().clone();
    assert_eq!(seen[0].0, "\\Windows\\System32\\notepad.exe");
    assert_eq!(
        (seen[0].1, seen[0].2, seen[0].3),
        (0x1F0, 0x7FF6_1000_0000, 0x4_0000)
    );
    assert_eq!(
        seen[0].4 & 0xFF,
        3,
        "ImageAddressingMode = IMAGE_ADDRESSING_MODE_32BIT"
    );
    assert_eq!(seen[0].4 & (1 << 10), 1 << 10, "ExtendedInfoPresent");
    assert_eq!(
        (seen[0].5, seen[0].6),
        (PASSIVE_LEVEL, 0x1F0),
        "PASSIVE_LEVEL, in the new process's context"
    );
    assert_eq!(seen[1].4 >> 8 & 1, 1, "SystemModeImage");
    assert_eq!((seen[1].4 >> 12 & 0xF, seen[1].4 >> 16 & 7), (0xC, 1));
    assert_eq!(seen[1].6, 4, "drivers load in the System process");
    assert_eq!(remove_image(Some(record_image)), STATUS_SUCCESS);
    assert_eq!(remove_image(Some(record_image)), STATUS_PROCEDURE_NOT_FOUND);
    assert_eq!(trigger::load_image("x.dll", 8, 0, 0, false), 0);
    kernel.assert_no_bugchecks();
}

#[test]
fn load_image_limit_is_configurable() {
    let kernel = Kernel::boot();
    for limit in [8, 64] {
        ntsim::ps::set_load_image_limit(limit);
        for _ in 0..limit {
            assert_eq!(set_image(Some(other_image_routine)), STATUS_SUCCESS);
        }
        assert_eq!(
            set_image(Some(other_image_routine)),
            STATUS_INSUFFICIENT_RESOURCES
        );
        // SAFETY: a 'static routine; the model validates the flags first.
        let status = unsafe { PsSetLoadImageNotifyRoutineEx(Some(other_image_routine), 2) };
        assert_eq!(status, STATUS_INVALID_PARAMETER_2);
        for _ in 0..limit {
            assert_eq!(remove_image(Some(other_image_routine)), STATUS_SUCCESS);
        }
    }
    kernel.assert_no_bugchecks();
}

#[test]
fn load_image_registration_at_dispatch_is_caught_and_refused() {
    let kernel = Kernel::boot();
    let status = with_irql(DISPATCH_LEVEL, || set_image(Some(other_image_routine)));
    assert_eq!(status, ntsim::ddi::REFUSED_AT_WRONG_IRQL);
    let check = kernel.expect_bugcheck(C4, 0x2_001C);
    assert!(check.text.contains("IrqlPsPassive"), "{check}");
    assert!(ntsim::ps::load_image_routines().is_empty());
}

static GATE: Mutex<Option<Arc<Barrier>>> = Mutex::new(None);
static RELEASE: Mutex<Option<Arc<Barrier>>> = Mutex::new(None);

unsafe extern "C" fn blocking_image_routine(_: PUNICODE_STRING, _: HANDLE, _: PIMAGE_INFO) {
    let gate = GATE.lock().unwrap().clone().unwrap();
    let release = RELEASE.lock().unwrap().clone().unwrap();
    gate.wait();
    release.wait();
    std::thread::sleep(Duration::from_millis(100));
}

#[test]
fn removal_waits_for_a_running_callback() {
    let kernel = Kernel::boot();
    let gate = Arc::new(Barrier::new(2));
    let release = Arc::new(Barrier::new(2));
    *GATE.lock().unwrap() = Some(gate.clone());
    *RELEASE.lock().unwrap() = Some(release.clone());
    assert_eq!(set_image(Some(blocking_image_routine)), STATUS_SUCCESS);
    let firing = std::thread::spawn(|| trigger::load_image("slow.dll", 12, 0, 0, false));
    gate.wait();
    release.wait();
    let started = Instant::now();
    assert_eq!(remove_image(Some(blocking_image_routine)), STATUS_SUCCESS);
    assert!(
        started.elapsed() >= Duration::from_millis(80),
        "the removal returned while the callback ran"
    );
    assert_eq!(firing.join().unwrap(), 1);
    kernel.assert_no_bugchecks();
}

unsafe extern "C" fn self_removing_routine(_: PUNICODE_STRING, _: HANDLE, _: PIMAGE_INFO) {
    let _ = remove_image(Some(self_removing_routine));
}

#[test]
fn removal_from_inside_the_callback_is_caught() {
    let kernel = Kernel::boot();
    assert_eq!(set_image(Some(self_removing_routine)), STATUS_SUCCESS);
    assert_eq!(trigger::load_image("a.dll", 12, 0, 0, false), 1);
    kernel.expect_bugcheck(codes::NTSIM_RULE, ModelRule::RemovalFromOwnCallback as u64);
}

// --- Process and thread notify ---------------------------------------------

static PROCESS_EVENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn process_ex(_process: PEPROCESS, pid: HANDLE, info: PPS_CREATE_NOTIFY_INFO) {
    if info.is_null() {
        PROCESS_EVENTS
            .lock()
            .unwrap()
            .push(format!("exit {}", pid as u64));
        return;
    }
    // SAFETY: a valid, writable PS_CREATE_NOTIFY_INFO for the call.
    let info = unsafe { &mut *info };
    // SAFETY: its image name is a valid UNICODE_STRING.
    let image = unsafe { ntsim::unicode::read(info.ImageFileName) }.unwrap_or_default();
    // SAFETY: the model's routine, no preconditions.
    let current = unsafe { PsGetCurrentProcessId() } as u64;
    PROCESS_EVENTS.lock().unwrap().push(format!(
        "create {} parent {} image {image} ctx {current}",
        pid as u64, info.ParentProcessId as u64,
    ));
    if image.ends_with("evil.exe") {
        info.CreationStatus = STATUS_ACCESS_DENIED;
    }
}

unsafe extern "C" fn thread_routine(pid: HANDLE, tid: HANDLE, create: BOOLEAN) {
    let irql = current_irql();
    PROCESS_EVENTS
        .lock()
        .unwrap()
        .push(format!("thread {} {} {create} at {irql}", pid as u64, tid as u64));
}

#[test]
fn process_and_thread_notify() {
    let kernel = Kernel::boot();
    PROCESS_EVENTS.lock().unwrap().clear();
    let process = |remove: u8| {
        // SAFETY: a 'static routine, removed below.
        unsafe { PsSetCreateProcessNotifyRoutineEx(Some(process_ex), remove) }
    };
    assert_eq!(process(0), STATUS_SUCCESS);
    assert_eq!(process(0), STATUS_INVALID_PARAMETER, "duplicate");
    // SAFETY: a 'static routine, removed below.
    let status = unsafe { PsSetCreateThreadNotifyRoutine(Some(thread_routine)) };
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(
        trigger::ProcessCreate::new(0x100, 0x80, "\\??\\C:\\app.exe").fire(),
        STATUS_SUCCESS
    );
    assert_eq!(
        trigger::ProcessCreate::new(0x104, 0x80, "\\??\\C:\\evil.exe").fire(),
        STATUS_ACCESS_DENIED
    );
    assert_eq!(
        trigger::thread_notify(0x100, 0x200, true, (0x80, 0x84), APC_LEVEL),
        1
    );
    assert_eq!(trigger::process_exit(0x100, 0x80), 1);
    assert_eq!(process(1), STATUS_SUCCESS);
    assert_eq!(process(1), STATUS_PROCEDURE_NOT_FOUND);
    // SAFETY: removing what was registered.
    let status = unsafe { PsRemoveCreateThreadNotifyRoutine(Some(thread_routine)) };
    assert_eq!(status, STATUS_SUCCESS);
    let events = PROCESS_EVENTS.lock().unwrap().clone();
    assert_eq!(
        events,
        [
            "create 256 parent 128 image \\??\\C:\\app.exe ctx 128",
            "create 260 parent 128 image \\??\\C:\\evil.exe ctx 128",
            "thread 256 512 1 at 1",
            "exit 256",
        ]
    );
    ntsim::ps::set_force_integrity(false);
    assert_eq!(process(0), STATUS_ACCESS_DENIED);
    kernel.assert_no_bugchecks();
}

// --- Devices, links, security -------------------------------------------------

unsafe extern "C" fn complete_success(_device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: a live IRP from the model, owned by this routine until completed.
    let packet = unsafe { &mut *irp };
    packet.IoStatus.__bindgen_anon_1.Status = STATUS_SUCCESS;
    // SAFETY: completing the IRP this routine owns.
    unsafe { IofCompleteRequest(irp, 0) };
    STATUS_SUCCESS
}

#[test]
fn device_and_link_names_collide_as_documented() {
    let kernel = Kernel::boot();
    let mut image = ntsim::io::DriverImage::new("test", None);
    let driver = image.object();
    let mut device_name = name("\\Device\\Test");
    let mut link_name = name("\\DosDevices\\Test");
    let mut device: PDEVICE_OBJECT = std::ptr::null_mut();
    let mut second: PDEVICE_OBJECT = std::ptr::null_mut();
    let mut create = |flags: u32, extension: u32, out: &mut PDEVICE_OBJECT| {
        // SAFETY: a live driver object and name, a writable out pointer.
        unsafe { IoCreateDevice(driver, extension, device_name.as_ptr(), 0x22, flags, 0, out) }
    };
    assert_eq!(create(FILE_DEVICE_SECURE_OPEN, 16, &mut device), STATUS_SUCCESS);
    assert_eq!(create(0, 0, &mut second), STATUS_OBJECT_NAME_COLLISION);
    // SAFETY: the image's driver object is live.
    let object = unsafe { &mut *driver };
    assert_eq!(object.DeviceObject, device);
    // SAFETY: the device created above is live until IoDeleteDevice.
    let device_ref = unsafe { &mut *device };
    assert!(!device_ref.DeviceExtension.is_null());
    assert_ne!(device_ref.Flags & DO_DEVICE_INITIALIZING, 0);
    let mut link = |delete: bool| {
        if delete {
            // SAFETY: a live link name.
            unsafe { IoDeleteSymbolicLink(link_name.as_ptr()) }
        } else {
            // SAFETY: live link and device names.
            unsafe { IoCreateSymbolicLink(link_name.as_ptr(), device_name.as_ptr()) }
        }
    };
    assert_eq!(link(false), STATUS_SUCCESS);
    assert_eq!(link(false), STATUS_OBJECT_NAME_COLLISION);
    assert_eq!(
        ntsim::io::symbolic_links(),
        [("\\??\\Test".to_owned(), "\\Device\\Test".to_owned())]
    );
    let open = || kernel.open("\\\\.\\Test", ntsim::io::Caller::User, ntsim::se::GENERIC_READ);
    assert_eq!(
        open().err(),
        Some(STATUS_NO_SUCH_DEVICE),
        "DO_DEVICE_INITIALIZING refuses opens"
    );
    device_ref.Flags &= !DO_DEVICE_INITIALIZING;
    assert_eq!(
        open().err(),
        Some(STATUS_INVALID_DEVICE_REQUEST),
        "no IRP_MJ_CREATE routine: the I/O manager's default fails the open"
    );
    object.MajorFunction[IRP_MJ_CREATE as usize] = Some(complete_success);
    object.MajorFunction[IRP_MJ_CLOSE as usize] = Some(complete_success);
    open().expect("open").close();
    assert_eq!(link(true), STATUS_SUCCESS);
    assert_eq!(link(true), STATUS_OBJECT_NAME_NOT_FOUND);
    // SAFETY: the device created above, no longer used.
    unsafe { IoDeleteDevice(device) };
    assert!(object.DeviceObject.is_null());
    // SAFETY: the model recognizes the deleted device; the repeat is the violation under test.
    unsafe { IoDeleteDevice(device) };
    kernel.expect_bugcheck(codes::NTSIM_RULE, ModelRule::DoubleRelease as u64);
}

#[test]
fn rtl_security_routines_build_winnt_layouts() {
    let kernel = Kernel::boot();
    let system = ntsim::se::Sid::local_system().to_bytes();
    let admins = ntsim::se::Sid::administrators().to_bytes();
    let mut acl = vec![0u64; 8];
    let acl_ptr = acl.as_mut_ptr().cast::<ACL>();
    let create_acl = |length: u32, revision: u32| {
        assert!(length <= 64);
        // SAFETY: a writable, 8-aligned 64-byte buffer.
        unsafe { RtlCreateAcl(acl_ptr, length, revision) }
    };
    assert_eq!(create_acl(4, 2), STATUS_BUFFER_TOO_SMALL);
    assert_eq!(create_acl(64, 9), STATUS_INVALID_PARAMETER);
    assert_eq!(create_acl(8 + 20 + 24, 2), STATUS_SUCCESS);
    let add = |mask: u32, sid: &[u8]| {
        // SAFETY: the initialized ACL; the SID's bytes are live (the model validates them).
        unsafe { RtlAddAccessAllowedAce(acl_ptr, 2, mask, sid.as_ptr().cast_mut().cast()) }
    };
    assert_eq!(add(FILE_ALL_ACCESS, &system), STATUS_SUCCESS);
    assert_eq!(add(FILE_ALL_ACCESS, &admins), STATUS_SUCCESS);
    assert_eq!(add(FILE_ALL_ACCESS, &admins), STATUS_ALLOTTED_SPACE_EXCEEDED);
    let bad_sid = [9u8, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0];
    assert_eq!(add(1, &bad_sid), STATUS_INVALID_SID);
    // SAFETY: the ACL's bytes.
    let bytes = unsafe { std::slice::from_raw_parts(acl.as_ptr().cast::<u8>(), 52) };
    let parsed = ntsim::se::Acl::parse(bytes).expect("valid ACL");
    assert_eq!(parsed.aces.len(), 2);
    assert_eq!(parsed.aces[0].sid.to_string(), "S-1-5-18");
    assert_eq!(parsed.aces[1].sid.to_string(), "S-1-5-32-544");
    assert_eq!(parsed.aces[1].mask, FILE_ALL_ACCESS);
    let mut sd = SECURITY_DESCRIPTOR::default();
    let sd_ptr = (&raw mut sd).cast::<c_void>();
    let create_sd = |revision: u32| {
        // SAFETY: a writable SECURITY_DESCRIPTOR.
        unsafe { RtlCreateSecurityDescriptor(sd_ptr, revision) }
    };
    assert_eq!(create_sd(2), STATUS_UNKNOWN_REVISION);
    assert_eq!(create_sd(1), STATUS_SUCCESS);
    // SAFETY: the initialized descriptor and ACL, both outliving their use.
    let status = unsafe { RtlSetDaclSecurityDescriptor(sd_ptr, 1, acl_ptr, 0) };
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(sd.Control, ntsim::se::SE_DACL_PRESENT);
    kernel.assert_no_bugchecks();
}

// --- Callback objects --------------------------------------------------------

static CB_LOG: Mutex<Vec<(usize, usize, usize, u8)>> = Mutex::new(Vec::new());

unsafe extern "C" fn callback_a(context: *mut c_void, a1: *mut c_void, a2: *mut c_void) {
    let irql = current_irql();
    CB_LOG
        .lock()
        .unwrap()
        .push((context as usize, a1 as usize, a2 as usize, irql));
}

fn register(object: PCALLBACK_OBJECT, context: usize) -> PVOID {
    // SAFETY: the model validates the object; the routine is 'static.
    unsafe { ExRegisterCallback(object, Some(callback_a), context as *mut c_void) }
}

fn unregister(registration: PVOID) {
    // SAFETY: the model validates the registration.
    unsafe { ExUnregisterCallback(registration) };
}

fn dereference(object: PCALLBACK_OBJECT) {
    // SAFETY: the model validates the object and its reference count.
    let _ = unsafe { ObfDereferenceObject(object.cast()) };
}

fn create_callback(path: &str, create: bool, multiple: bool) -> (NTSTATUS, PCALLBACK_OBJECT) {
    common::create_callback(path, create, multiple)
}

#[test]
fn callback_objects_create_open_fifo_and_refcount() {
    let kernel = Kernel::boot();
    CB_LOG.lock().unwrap().clear();
    assert_eq!(
        create_callback("\\Callback\\Mine", false, true).0,
        STATUS_OBJECT_NAME_NOT_FOUND
    );
    let (status, object) = create_callback("\\Callback\\Mine", true, true);
    assert_eq!(status, STATUS_SUCCESS);
    // SAFETY: the body starts with the 'Call' signature.
    assert_eq!(unsafe { *object.cast::<u32>() }, 0x6C6C_6143);
    let (status, again) = create_callback("\\callback\\MINE", false, false);
    assert_eq!(
        (status, again),
        (STATUS_SUCCESS, object),
        "opens the same object, case-insensitively"
    );
    let (first, second) = (register(object, 1), register(object, 2));
    assert!(!first.is_null() && !second.is_null());
    let info = ntsim::excallback::object("\\Callback\\Mine").unwrap();
    assert_eq!(
        (info.references, info.driver_references, info.callbacks.len()),
        (4, 2, 2)
    );
    with_irql(DISPATCH_LEVEL, || {
        // SAFETY: a driver-created object.
        unsafe { ExNotifyCallback(object.cast(), 10 as *mut c_void, 20 as *mut c_void) };
    });
    assert_eq!(
        *CB_LOG.lock().unwrap(),
        [(1, 10, 20, 2), (2, 10, 20, 2)],
        "FIFO, at the caller's IRQL"
    );
    unregister(first);
    unregister(second);
    dereference(object);
    dereference(object);
    assert!(
        ntsim::excallback::object("\\Callback\\Mine").is_none(),
        "a temporary object goes with its last reference"
    );
    unregister(first);
    kernel.expect_bugcheck(codes::NTSIM_RULE, ModelRule::UnknownObject as u64);
}

#[test]
fn system_callback_objects_and_triggers() {
    let kernel = Kernel::boot();
    CB_LOG.lock().unwrap().clear();
    for (path, _) in ntsim::excallback::SYSTEM_OBJECTS {
        assert!(ntsim::excallback::object(path).is_some(), "{path}");
    }
    let (status, power) = create_callback("\\Callback\\PowerState", false, false);
    assert_eq!(status, STATUS_SUCCESS);
    let (_, time) = create_callback("\\Callback\\SetSystemTime", false, false);
    let (_, port) = create_callback("\\Callback\\PowerPort", false, true);
    let power_reg = register(power, 5);
    let time_reg = register(time, 6);
    // PowerPort allows one callback, and the system (PopUmpoMessageCallback)
    // registered it at boot.
    assert!(register(port, 7).is_null(), "PowerPort allows one callback");
    assert_eq!(
        ntsim::excallback::object("\\Callback\\PowerPort")
            .unwrap()
            .system_callbacks,
        [ntsim::excallback::POWER_PORT_OWNER]
    );
    assert_eq!(trigger::power_state(PO_CB_AC_STATUS, true, PASSIVE_LEVEL), 1);
    assert_eq!(trigger::set_system_time(ntsim::clock::UNIX_EPOCH_AS_FILETIME), 1);
    assert_eq!(*CB_LOG.lock().unwrap(), [(5, 1, 1, 0), (6, 0, 0, 0)]);
    // SAFETY: the model validates the object; notifying a system object is the violation.
    unsafe { ExNotifyCallback(power.cast(), std::ptr::null_mut(), std::ptr::null_mut()) };
    kernel.expect_bugcheck(codes::NTSIM_RULE, ModelRule::NotifySystemCallbackObject as u64);
    for registration in [power_reg, time_reg] {
        unregister(registration);
    }
    for object in [power, time, port] {
        dereference(object);
    }
    assert!(
        ntsim::excallback::object("\\Callback\\PowerState").is_some(),
        "system objects are permanent"
    );
    let mut now = LARGE_INTEGER::default();
    // SAFETY: a writable LARGE_INTEGER.
    unsafe { KeQuerySystemTimePrecise(&raw mut now) };
    // SAFETY: plain integer read.
    let now = unsafe { now.QuadPart };
    assert!(
        (now - ntsim::clock::UNIX_EPOCH_AS_FILETIME).abs() < 600_000_000,
        "the clock follows set_system_time"
    );
    kernel.assert_no_bugchecks();
}

#[test]
fn excreatecallback_irql_rule_is_enforced() {
    let kernel = Kernel::boot();
    let status = with_irql(APC_LEVEL, || create_callback("\\Callback\\X", true, true).0);
    assert_eq!(status, ntsim::ddi::REFUSED_AT_WRONG_IRQL);
    kernel.expect_bugcheck(C4, 0x2_0008);
}

// --- Unload checks without a driver ----------------------------------------

unsafe extern "C" fn fake_entry(driver: *mut DRIVER_OBJECT, _path: *const UNICODE_STRING) -> NTSTATUS {
    // SAFETY: the driver object the model passes to DriverEntry.
    unsafe { (*driver).DriverUnload = Some(fake_unload) };
    // This "driver" deliberately leaks a registration and a block.
    let _ = set_image(Some(other_image_routine));
    // SAFETY: the model's allocator.
    let _ = unsafe { ExAllocatePool2(POOL_FLAG_NON_PAGED, 32, TAG) };
    STATUS_SUCCESS
}

const unsafe extern "C" fn fake_unload(_driver: *mut DRIVER_OBJECT) {}

#[test]
fn unload_checks_catch_leaks() {
    let mut kernel = Kernel::boot().with_driver("leaky", fake_entry);
    assert_eq!(kernel.load_driver(), STATUS_SUCCESS);
    assert!(kernel.unload_driver());
    let registration = kernel.expect_bugcheck(CE, other_image_routine as *const () as u64);
    assert!(registration.text.contains("load-image"), "{registration}");
    let pool = kernel.expect_bugcheck(C4, 0x62);
    assert_eq!(pool.params[3], 1);
    assert!(
        pool.text.contains("'Test'") && pool.text.contains("32 bytes"),
        "{pool}"
    );
    kernel.assert_no_bugchecks();
    // Clean up the model-level registration so later tests start clean anyway.
    let _ = remove_image(Some(other_image_routine));
}
