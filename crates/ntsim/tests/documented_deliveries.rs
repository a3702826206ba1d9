//! Documented checks and deliveries the model lacked (issue #12, item 12):
//! a legacy process-notify removal from inside its own callback,
//! `RegNtCallbackObjectContextCleanup` on `CmUnRegisterCallback`, the
//! `KbCallbackAddPages`/`KbCallbackDumpIo` bug-check reasons, processor
//! change callbacks writing their status outside StartNotify, and vetoable
//! PnP events (TargetDeviceChange query-remove, hardware-profile query).

#![allow(
    clippy::significant_drop_tightening,
    reason = "a test holds its Kernel (the model's global lock) for its whole body"
)]

mod common;

use std::ffi::c_void;
use std::sync::Mutex;

use ntsim::ioreg::{
    GUID_HWPROFILE_CHANGE_CANCELLED, GUID_HWPROFILE_CHANGE_COMPLETE, GUID_HWPROFILE_QUERY_CHANGE,
    GUID_TARGET_DEVICE_QUERY_REMOVE, GUID_TARGET_DEVICE_REMOVE_CANCELLED, GUID_TARGET_DEVICE_REMOVE_COMPLETE,
};
use ntsim::unicode::OwnedUnicode;
use ntsim::verifier::{ModelRule, codes};
use ntsim::{Kernel, trigger};
use wdk_sys::ntddk::{
    CmRegisterCallbackEx, CmSetCallbackObjectContext, CmUnRegisterCallback, ExUnregisterCallback,
    IoRegisterPlugPlayNotification, IoUnregisterPlugPlayNotificationEx, KeDeregisterBugCheckReasonCallback,
    KeDeregisterProcessorChangeCallback, KeRegisterBugCheckReasonCallback, KeRegisterProcessorChangeCallback,
    ObfDereferenceObject, PsSetCreateProcessNotifyRoutine,
};
use wdk_sys::{
    _IO_NOTIFICATION_EVENT_CATEGORY::{EventCategoryHardwareProfileChange, EventCategoryTargetDeviceChange},
    _KBUGCHECK_CALLBACK_REASON::{KbCallbackAddPages, KbCallbackDumpIo},
    _KBUGCHECK_DUMP_IO_TYPE::{KbDumpIoBody, KbDumpIoComplete, KbDumpIoHeader},
    BOOLEAN, FILE_OBJECT, GUID, HANDLE, HWPROFILE_CHANGE_NOTIFICATION,
    KB_ADD_PAGES_FLAG_ADDITIONAL_RANGES_EXIST, KB_ADD_PAGES_FLAG_PHYSICAL_ADDRESS,
    KB_ADD_PAGES_FLAG_VIRTUAL_ADDRESS, KBUGCHECK_ADD_PAGES, KBUGCHECK_CALLBACK_REASON, KBUGCHECK_DUMP_IO,
    KBUGCHECK_REASON_CALLBACK_RECORD, KE_PROCESSOR_CHANGE_NOTIFY_CONTEXT, LARGE_INTEGER, NTSTATUS,
    PKE_PROCESSOR_CHANGE_NOTIFY_CONTEXT, PNTSTATUS, PVOID, REG_CALLBACK_CONTEXT_CLEANUP_INFORMATION,
    REG_SET_VALUE_KEY_INFORMATION, STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS, STATUS_UNSUCCESSFUL,
    TARGET_DEVICE_REMOVAL_NOTIFICATION, ULONG,
};

const NSIM: u32 = codes::NTSIM_RULE;

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn log(entry: String) {
    LOG.lock().unwrap().push(entry);
}

fn take_log() -> Vec<String> {
    std::mem::take(&mut *LOG.lock().unwrap())
}

const fn guid_name(guid: &GUID) -> &'static str {
    match guid.Data1 {
        0xCB3A_4001 => "hwprofile-query",
        0xCB3A_4002 => "hwprofile-cancelled",
        0xCB3A_4003 => "hwprofile-complete",
        0xCB3A_4006 => "query-remove",
        0xCB3A_4007 => "remove-cancelled",
        0xCB3A_4008 => "remove-complete",
        _ => "other",
    }
}

// --- Legacy process notify removed from inside itself -------------------------

unsafe extern "C" fn removes_itself(_parent: HANDLE, _pid: HANDLE, _create: BOOLEAN) {
    // SAFETY: the routine registered by the test (legacy variant).
    let status = unsafe { PsSetCreateProcessNotifyRoutine(Some(removes_itself), 1) };
    log(format!("removed {status:#x}"));
}

#[test]
fn legacy_process_routine_removed_from_its_own_callback_is_flagged() {
    let kernel = Kernel::boot();
    take_log();
    // SAFETY: a 'static routine.
    let status = unsafe { PsSetCreateProcessNotifyRoutine(Some(removes_itself), 0) };
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(trigger::process_exit(0x500, 4), 1);
    assert_eq!(
        take_log(),
        ["removed 0x0"],
        "the legacy removal does not wait: it succeeds"
    );
    let check = kernel.expect_bugcheck(NSIM, ModelRule::RemovalFromOwnCallback as u64);
    assert_eq!(check.params[1], removes_itself as *const () as u64);
    assert!(check.text.contains("PsSetCreateProcessNotifyRoutine"), "{check}");
    assert!(ntsim::ps::process_routines().is_empty());
    kernel.assert_no_bugchecks();
}

// --- RegNtCallbackObjectContextCleanup on CmUnRegisterCallback ---------------------

static COOKIE: Mutex<i64> = Mutex::new(0);
/// The context the callback associates with each key it sees.
const OBJECT_CONTEXT: usize = 0x00C0_FFEE;

unsafe extern "C" fn registry_callback(_context: PVOID, class: PVOID, information: PVOID) -> NTSTATUS {
    let class = class as usize;
    if class == 1 {
        // RegNtPreSetValueKey: associate a context with the key object.
        // SAFETY: the documented structure for class 1.
        let info = unsafe { &*information.cast::<REG_SET_VALUE_KEY_INFORMATION>() };
        let mut cookie = LARGE_INTEGER {
            QuadPart: *COOKIE.lock().unwrap(),
        };
        let mut old: PVOID = 1 as PVOID;
        // SAFETY: a key object of this notification and our own cookie.
        let status = unsafe {
            CmSetCallbackObjectContext(
                info.Object,
                &raw mut cookie,
                OBJECT_CONTEXT as PVOID,
                &raw mut old,
            )
        };
        log(format!("set {status:#x} old={}", old as usize));
    } else if class == 40 {
        // SAFETY: the documented structure for class 40.
        let info = unsafe { &*information.cast::<REG_CALLBACK_CONTEXT_CLEANUP_INFORMATION>() };
        log(format!("cleanup context={:#x}", info.ObjectContext as usize));
    }
    STATUS_SUCCESS
}

#[test]
fn unregistering_delivers_context_cleanup_for_each_object_context() {
    let kernel = Kernel::boot();
    take_log();
    let mut altitude = OwnedUnicode::new("385201");
    let mut cookie = LARGE_INTEGER::default();
    // SAFETY: a 'static routine; valid altitude and cookie.
    let status = unsafe {
        CmRegisterCallbackEx(
            Some(registry_callback),
            altitude.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &raw mut cookie,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(status, STATUS_SUCCESS);
    // SAFETY: written by CmRegisterCallbackEx.
    *COOKIE.lock().unwrap() = unsafe { cookie.QuadPart };
    let key_a = "\\Registry\\Machine\\Software\\NtsimA";
    let key_b = "\\Registry\\Machine\\Software\\NtsimB";
    ntsim::registry::create_key(key_a);
    ntsim::registry::create_key(key_b);
    for key in [key_a, key_b, key_a] {
        let status =
            trigger::registry_set_value(0x600, key, "v", ntsim::registry::REG_DWORD, &1u32.to_le_bytes());
        assert_eq!(status, STATUS_SUCCESS);
    }
    assert_eq!(
        take_log(),
        [
            "set 0x0 old=0",
            "set 0x0 old=0",
            format!("set 0x0 old={OBJECT_CONTEXT}").as_str()
        ],
        "the third call replaces key A's context and hands back the old one"
    );
    assert_eq!(ntsim::registry::object_contexts().len(), 2);
    // SAFETY: the cookie of the live registration.
    let status = unsafe { CmUnRegisterCallback(cookie) };
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(
        take_log(),
        [
            format!("cleanup context={OBJECT_CONTEXT:#x}"),
            format!("cleanup context={OBJECT_CONTEXT:#x}")
        ],
        "one RegNtCallbackObjectContextCleanup per key object with a context"
    );
    assert!(ntsim::registry::object_contexts().is_empty());
    kernel.assert_no_bugchecks();
}

// --- KbCallbackAddPages / KbCallbackDumpIo -------------------------------------------

struct ReasonCell(std::cell::UnsafeCell<KBUGCHECK_REASON_CALLBACK_RECORD>);
// SAFETY: only the model touches the records while registered.
unsafe impl Sync for ReasonCell {}
// SAFETY: all-zero is KeInitializeCallbackRecord's result.
static ADD_PAGES: ReasonCell = ReasonCell(std::cell::UnsafeCell::new(unsafe { std::mem::zeroed() }));
// SAFETY: as above.
static DUMP_IO: ReasonCell = ReasonCell(std::cell::UnsafeCell::new(unsafe { std::mem::zeroed() }));
// SAFETY: as above.
static BAD_PAGES: ReasonCell = ReasonCell(std::cell::UnsafeCell::new(unsafe { std::mem::zeroed() }));

unsafe extern "C" fn on_add_pages(
    reason: KBUGCHECK_CALLBACK_REASON,
    _record: *mut KBUGCHECK_REASON_CALLBACK_RECORD,
    data: PVOID,
    _length: ULONG,
) {
    assert_eq!(reason, KbCallbackAddPages);
    // SAFETY: the documented structure for this reason.
    let pages = unsafe { &mut *data.cast::<KBUGCHECK_ADD_PAGES>() };
    let call = pages.Context as usize;
    log(format!("add-pages call={call} code={:#x}", pages.BugCheckCode));
    pages.Context = (call + 1) as PVOID;
    pages.Address = 0x1000 * (call as u64 + 1);
    pages.Count = 1;
    pages.Flags = if call == 0 {
        KB_ADD_PAGES_FLAG_VIRTUAL_ADDRESS | KB_ADD_PAGES_FLAG_ADDITIONAL_RANGES_EXIST
    } else {
        KB_ADD_PAGES_FLAG_PHYSICAL_ADDRESS
    };
}

unsafe extern "C" fn on_bad_pages(
    _reason: KBUGCHECK_CALLBACK_REASON,
    _record: *mut KBUGCHECK_REASON_CALLBACK_RECORD,
    data: PVOID,
    _length: ULONG,
) {
    // SAFETY: the documented structure for this reason.
    let pages = unsafe { &mut *data.cast::<KBUGCHECK_ADD_PAGES>() };
    pages.Flags = KB_ADD_PAGES_FLAG_VIRTUAL_ADDRESS | KB_ADD_PAGES_FLAG_PHYSICAL_ADDRESS;
    pages.Address = 0x5000;
    pages.Count = 1;
}

unsafe extern "C" fn on_dump_io(
    reason: KBUGCHECK_CALLBACK_REASON,
    _record: *mut KBUGCHECK_REASON_CALLBACK_RECORD,
    data: PVOID,
    _length: ULONG,
) {
    assert_eq!(reason, KbCallbackDumpIo);
    // SAFETY: the documented structure for this reason.
    let io = unsafe { &*data.cast::<KBUGCHECK_DUMP_IO>() };
    log(format!(
        "dump-io type={} offset={:#x} length={} null={}",
        io.Type,
        io.Offset,
        io.BufferLength,
        io.Buffer.is_null()
    ));
}

fn register_reason(
    cell: &ReasonCell,
    routine: unsafe extern "C" fn(
        KBUGCHECK_CALLBACK_REASON,
        *mut KBUGCHECK_REASON_CALLBACK_RECORD,
        PVOID,
        ULONG,
    ),
    reason: KBUGCHECK_CALLBACK_REASON,
) {
    // SAFETY: a resident record and a 'static routine.
    let registered = unsafe {
        KeRegisterBugCheckReasonCallback(cell.0.get(), Some(routine), reason, std::ptr::null_mut())
    };
    assert_eq!(registered, 1);
}

fn deregister_reason(cell: &ReasonCell) {
    // SAFETY: a registered resident record.
    assert_eq!(unsafe { KeDeregisterBugCheckReasonCallback(cell.0.get()) }, 1);
}

#[test]
fn add_pages_and_dump_io_reasons_are_delivered() {
    let kernel = Kernel::boot();
    take_log();
    register_reason(&ADD_PAGES, on_add_pages, KbCallbackAddPages);
    register_reason(&DUMP_IO, on_dump_io, KbCallbackDumpIo);
    let report = trigger::bug_check_with(0xE2, trigger::BugCheckOptions::default());
    assert_eq!(
        report
            .added_pages
            .iter()
            .map(|p| (p.flags & 3, p.address, p.count))
            .collect::<Vec<_>>(),
        [
            (KB_ADD_PAGES_FLAG_VIRTUAL_ADDRESS, 0x1000, 1),
            (KB_ADD_PAGES_FLAG_PHYSICAL_ADDRESS, 0x2000, 1)
        ],
        "called again while ADDITIONAL_RANGES_EXIST is set"
    );
    let kinds: Vec<i32> = report.dump_io.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, [KbDumpIoHeader, KbDumpIoBody, KbDumpIoComplete]);
    let last = report.dump_io.last().unwrap();
    assert!(
        last.null_buffer && last.length == 0,
        "the final call: Buffer NULL, Length 0"
    );
    assert_eq!(
        report.dump_io[1].offset,
        u64::MAX,
        "sequential writes have Offset -1"
    );
    assert_eq!(
        take_log(),
        [
            "add-pages call=0 code=0xe2",
            "add-pages call=1 code=0xe2",
            "dump-io type=1 offset=0x0 length=4096 null=false",
            "dump-io type=2 offset=0xffffffffffffffff length=4096 null=false",
            "dump-io type=4 offset=0xffffffffffffffff length=0 null=true",
        ],
        "Context preserved between calls; AddPages before the dump is written"
    );
    deregister_reason(&ADD_PAGES);
    deregister_reason(&DUMP_IO);
    kernel.assert_no_bugchecks();
}

#[test]
fn add_pages_with_both_address_kinds_is_flagged() {
    let kernel = Kernel::boot();
    register_reason(&BAD_PAGES, on_bad_pages, KbCallbackAddPages);
    let report = trigger::bug_check_with(0xE2, trigger::BugCheckOptions::default());
    assert!(report.added_pages.is_empty());
    let check = kernel.expect_bugcheck(NSIM, ModelRule::InvalidParameter as u64);
    assert!(check.text.contains("exactly one"), "{check}");
    deregister_reason(&BAD_PAGES);
    kernel.assert_no_bugchecks();
}

// --- Processor change status outside StartNotify -------------------------------------

unsafe extern "C" fn fails_on_complete(
    _context: PVOID,
    change: PKE_PROCESSOR_CHANGE_NOTIFY_CONTEXT,
    status: PNTSTATUS,
) {
    // SAFETY: valid for the call.
    let change = unsafe { &*change };
    if change.State != 0 {
        // SAFETY: writable for the call; the write itself is the violation.
        unsafe { *status = STATUS_INSUFFICIENT_RESOURCES };
    }
}

#[test]
fn processor_change_status_written_after_start_notify_is_flagged() {
    let kernel = Kernel::boot();
    // SAFETY: a 'static routine.
    let handle =
        unsafe { KeRegisterProcessorChangeCallback(Some(fails_on_complete), std::ptr::null_mut(), 0) };
    assert!(!handle.is_null());
    assert_eq!(
        trigger::processor_add(5),
        STATUS_SUCCESS,
        "the late write is ignored"
    );
    let check = kernel.expect_bugcheck(NSIM, ModelRule::InvalidParameter as u64);
    assert!(check.text.contains("KeProcessorAddStartNotify"), "{check}");
    // SAFETY: the handle just registered.
    unsafe { KeDeregisterProcessorChangeCallback(handle) };
    kernel.assert_no_bugchecks();
}

unsafe extern "C" fn processor_add_object_callback(
    _context: *mut c_void,
    argument1: *mut c_void,
    argument2: *mut c_void,
) {
    // SAFETY: Argument1 is the read-only KE_PROCESSOR_CHANGE_NOTIFY_CONTEXT.
    let change = unsafe { &*argument1.cast::<KE_PROCESSOR_CHANGE_NOTIFY_CONTEXT>() };
    if change.State != 0 {
        // SAFETY: Argument2 is an NTSTATUS*; writing it now is the violation.
        unsafe { *argument2.cast::<NTSTATUS>() = STATUS_UNSUCCESSFUL };
    }
}

#[test]
fn processor_add_object_status_written_after_start_notify_is_flagged() {
    let kernel = Kernel::boot();
    let object = common::open_callback_object("\\Callback\\ProcessorAdd", false, false);
    let registration = common::register_callback(object, processor_add_object_callback);
    assert_eq!(trigger::processor_add(6), STATUS_SUCCESS);
    let check = kernel.expect_bugcheck(NSIM, ModelRule::InvalidParameter as u64);
    assert!(check.text.contains("ProcessorAdd"), "{check}");
    // SAFETY: the registration and reference taken above.
    unsafe { ExUnregisterCallback(registration) };
    // SAFETY: as above.
    let _ = unsafe { ObfDereferenceObject(object.cast()) };
    kernel.assert_no_bugchecks();
}

// --- PnP: TargetDeviceChange query-remove veto, hardware-profile veto ----------------------

static VETO: Mutex<bool> = Mutex::new(false);

unsafe extern "C" fn target_accepts(notification: PVOID, _context: PVOID) -> NTSTATUS {
    // SAFETY: a TARGET_DEVICE_REMOVAL_NOTIFICATION for this category.
    let n = unsafe { &*notification.cast::<TARGET_DEVICE_REMOVAL_NOTIFICATION>() };
    log(format!(
        "accepts {} fo={:#x}",
        guid_name(&n.Event),
        n.FileObject as usize
    ));
    STATUS_SUCCESS
}

unsafe extern "C" fn target_vetoes(notification: PVOID, _context: PVOID) -> NTSTATUS {
    // SAFETY: as above.
    let n = unsafe { &*notification.cast::<TARGET_DEVICE_REMOVAL_NOTIFICATION>() };
    log(format!("vetoes {}", guid_name(&n.Event)));
    let query = n.Event.Data1 == GUID_TARGET_DEVICE_QUERY_REMOVE.Data1;
    if query && *VETO.lock().unwrap() {
        STATUS_UNSUCCESSFUL
    } else {
        STATUS_SUCCESS
    }
}

unsafe extern "C" fn profile_vetoes(notification: PVOID, _context: PVOID) -> NTSTATUS {
    // SAFETY: a HWPROFILE_CHANGE_NOTIFICATION for this category.
    let n = unsafe { &*notification.cast::<HWPROFILE_CHANGE_NOTIFICATION>() };
    log(format!("profile {}", guid_name(&n.Event)));
    if n.Event.Data1 == GUID_HWPROFILE_QUERY_CHANGE.Data1 && *VETO.lock().unwrap() {
        STATUS_UNSUCCESSFUL
    } else {
        STATUS_SUCCESS
    }
}

fn register_pnp(
    category: i32,
    data: PVOID,
    routine: unsafe extern "C" fn(PVOID, PVOID) -> NTSTATUS,
) -> PVOID {
    let mut entry: PVOID = std::ptr::null_mut();
    // SAFETY: a 'static routine; data as the category requires; a writable entry.
    let status = unsafe {
        IoRegisterPlugPlayNotification(
            category,
            0,
            data,
            std::ptr::null_mut(),
            Some(routine),
            std::ptr::null_mut(),
            &raw mut entry,
        )
    };
    assert_eq!(status, STATUS_SUCCESS);
    entry
}

#[test]
fn target_device_query_remove_can_be_vetoed() {
    let kernel = Kernel::boot();
    take_log();
    let device = ntsim::ioreg::interrupt_device("NtsimTarget", &[]);
    // SAFETY: plain data; zeroed is a valid (unused) file object.
    let mut file_object: FILE_OBJECT = unsafe { std::mem::zeroed() };
    file_object.DeviceObject = device;
    let fo = (&raw mut file_object).cast::<c_void>();
    let first = register_pnp(EventCategoryTargetDeviceChange, fo, target_accepts);
    let second = register_pnp(EventCategoryTargetDeviceChange, fo, target_vetoes);
    *VETO.lock().unwrap() = true;
    assert_eq!(trigger::target_device_query_remove(device), STATUS_UNSUCCESSFUL);
    let fo_text = format!("{:#x}", fo as usize);
    assert_eq!(
        take_log(),
        [
            format!("accepts query-remove fo={fo_text}"),
            "vetoes query-remove".to_owned(),
            format!("accepts remove-cancelled fo={fo_text}"),
            "vetoes remove-cancelled".to_owned(),
        ]
    );
    *VETO.lock().unwrap() = false;
    assert_eq!(trigger::target_device_query_remove(device), STATUS_SUCCESS);
    assert_eq!(
        take_log(),
        [
            format!("accepts query-remove fo={fo_text}"),
            "vetoes query-remove".to_owned(),
            format!("accepts remove-complete fo={fo_text}"),
            "vetoes remove-complete".to_owned(),
        ]
    );
    for entry in [first, second] {
        // SAFETY: entries from IoRegisterPlugPlayNotification.
        let status = unsafe { IoUnregisterPlugPlayNotificationEx(entry) };
        assert_eq!(status, STATUS_SUCCESS);
    }
    assert_eq!(GUID_TARGET_DEVICE_REMOVE_CANCELLED.Data1, 0xCB3A_4007);
    assert_eq!(GUID_TARGET_DEVICE_REMOVE_COMPLETE.Data1, 0xCB3A_4008);
    kernel.assert_no_bugchecks();
}

#[test]
fn hardware_profile_query_change_can_be_vetoed() {
    let kernel = Kernel::boot();
    take_log();
    let entry = register_pnp(
        EventCategoryHardwareProfileChange,
        std::ptr::null_mut(),
        profile_vetoes,
    );
    *VETO.lock().unwrap() = true;
    assert_eq!(trigger::hardware_profile_query_change(), STATUS_UNSUCCESSFUL);
    assert_eq!(
        take_log(),
        ["profile hwprofile-query", "profile hwprofile-cancelled"]
    );
    *VETO.lock().unwrap() = false;
    assert_eq!(trigger::hardware_profile_query_change(), STATUS_SUCCESS);
    assert_eq!(
        take_log(),
        ["profile hwprofile-query", "profile hwprofile-complete"]
    );
    assert_eq!(GUID_HWPROFILE_CHANGE_CANCELLED.Data1, 0xCB3A_4002);
    assert_eq!(GUID_HWPROFILE_CHANGE_COMPLETE.Data1, 0xCB3A_4003);
    // SAFETY: the entry from IoRegisterPlugPlayNotification.
    let status = unsafe { IoUnregisterPlugPlayNotificationEx(entry) };
    assert_eq!(status, STATUS_SUCCESS);
    kernel.assert_no_bugchecks();
}
