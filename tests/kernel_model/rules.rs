//! Rules of the kernel model exercised through the REAL driver (issue #12,
//! items 10 and 13): what the driver's registrations see when another
//! registration's unregistration has begun, when a file system registers
//! twice, an interface goes, a higher registry filter bypasses, an image of
//! a conflicting architecture loads, a processor hot-add fails; and the
//! model flagging a faulty caller next to the driver's registrations
//! (notifying a system object, removal from one's own callback, a second
//! `ObUnRegisterCallbacks`, returning at a raised IRQL, a double
//! dereference).

#![allow(
    clippy::significant_drop_tightening,
    reason = "a test holds its Kernel (the model's global lock) for its whole body, by design"
)]
#![allow(clippy::too_many_lines, reason = "one scenario per test, step by step")]

use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use kcallbacks::registrations::io::guid_bytes;
use kcb_proto::{
    CallbackObjectPayload, EventRecord, PlugPlayPayload, ProcessorChangePayload, RegistryPayload, SourceId,
};
use ntsim::irql::{APC_LEVEL, DISPATCH_LEVEL, PASSIVE_LEVEL};
use ntsim::unicode::OwnedUnicode;
use ntsim::verifier::{ModelRule, codes};
use ntsim::{Kernel, trigger};
use wdk_sys::{
    DRIVER_OBJECT, GUID, HANDLE, KE_PROCESSOR_CHANGE_NOTIFY_CONTEXT, NTSTATUS, OBJECT_ATTRIBUTES,
    PCALLBACK_OBJECT, PDEVICE_OBJECT, PIMAGE_INFO, PKE_PROCESSOR_CHANGE_NOTIFY_CONTEXT, PNTSTATUS,
    PUNICODE_STRING, PVOID, REG_POST_OPERATION_INFORMATION, STATUS_ACCESS_DENIED,
    STATUS_DEVICE_ALREADY_ATTACHED, STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS, UNICODE_STRING,
};

#[allow(clippy::wildcard_imports)]
use crate::common::*;

const NSIM: u32 = codes::NTSIM_RULE;
/// `GUID_DEVICE_INTERFACE_REMOVAL` (wdmguid.h).
const INTERFACE_REMOVAL: GUID = ntsim::ioreg::GUID_DEVICE_INTERFACE_REMOVAL;

/// Boots the model (the driver's rings are allocated per load, from pool,
/// so each load starts with empty rings).
fn fresh() -> Kernel {
    boot()
}

/// `CallbackObject` events that found no ring (recorded while the driver
/// had no ring set, i.e. after its unload freed them).
fn callback_events_without_ring() -> u64 {
    kcallbacks::pipeline::rings::UNRINGED.snapshot()[SourceId::CallbackObject.index()].seen
}

fn wide(units: &[u16]) -> String {
    String::from_utf16_lossy(units)
}

fn callback_object_name(record: &EventRecord) -> Option<String> {
    record
        .payload::<CallbackObjectPayload>()
        .map(|p| wide(p.name.as_units()))
}

fn open_object(name: &str) -> PCALLBACK_OBJECT {
    let mut text = OwnedUnicode::new(name);
    let mut attributes = OBJECT_ATTRIBUTES {
        ObjectName: text.as_ptr(),
        ..Default::default()
    };
    let mut object: PCALLBACK_OBJECT = std::ptr::null_mut();
    // SAFETY: a valid out pointer and attributes naming a live string.
    let status = unsafe { ntsim::excallback::ExCreateCallback(&raw mut object, &raw mut attributes, 0, 0) };
    assert_eq!(status, STATUS_SUCCESS, "open {name}");
    object
}

fn dereference(object: PVOID) {
    // SAFETY: a referenced object.
    let _ = unsafe { ntsim::excallback::ObfDereferenceObject(object) };
}

// --- Item 10: a driver callback is not entered after its unregistration began ---

/// (entered, released) for the blocking callback.
static GATE: Mutex<(bool, bool)> = Mutex::new((false, false));
static GATE_CHANGED: Condvar = Condvar::new();

/// Another driver's callback on `\Callback\SetSystemTime`, registered before
/// kcallbacks': it blocks (bounded) until the test releases it.
unsafe extern "C" fn blocking_time_callback(_context: *mut c_void, _a1: *mut c_void, _a2: *mut c_void) {
    let mut gate = GATE.lock().unwrap();
    gate.0 = true;
    GATE_CHANGED.notify_all();
    let _unused = GATE_CHANGED
        .wait_timeout_while(gate, Duration::from_secs(3), |g| !g.1)
        .unwrap();
}

/// A `SetSystemTime` notification is under way (another driver's callback,
/// first in the list, is running) when kcallbacks unloads: its
/// `ExUnregisterCallback` removes the observer that has not been called
/// yet, and the notification, going on afterwards, must not enter the
/// unloaded driver's observer. Before the fix the model had collected every
/// registration when the notification started, so the unregistration
/// waited for that pre-counted call (30 s) and the observer then ran after
/// `DriverUnload`, recording an event into the unloaded driver.
#[test]
fn driver_observer_is_not_entered_after_its_unregistration_began() {
    let mut kernel = fresh();
    *GATE.lock().unwrap() = (false, false);
    // Another driver's image (not kcallbacks' leftovers at its unload).
    let other_image = 0xFFFF_A000_0000_2000_usize;
    let (object, other) = ntsim::context::as_other_image(other_image, || {
        let object = open_object("\\Callback\\SetSystemTime");
        // SAFETY: a live object and a 'static routine.
        let other = unsafe {
            ntsim::excallback::ExRegisterCallback(object, Some(blocking_time_callback), std::ptr::null_mut())
        };
        (object, other)
    });
    assert!(!other.is_null());
    load(&mut kernel);
    let notifier = std::thread::spawn(|| trigger::set_system_time(0x01DB_0000_0000_0000));
    {
        let gate = GATE.lock().unwrap();
        let (gate, _) = GATE_CHANGED
            .wait_timeout_while(gate, Duration::from_secs(10), |g| !g.0)
            .unwrap();
        assert!(gate.0, "the other driver's callback never ran");
    }
    let started = std::time::Instant::now();
    let unringed_before = callback_events_without_ring();
    kernel.unload_driver();
    let unload_took = started.elapsed();
    {
        let mut gate = GATE.lock().unwrap();
        gate.1 = true;
        GATE_CHANGED.notify_all();
    }
    let ran = notifier.join().unwrap();
    // After DriverUnload the rings are freed: an observer entered now would
    // record into no ring, which the driver counts in `UNRINGED`.
    let late = callback_events_without_ring() - unringed_before;
    assert_eq!(
        late, 0,
        "the driver's observer ran after its ExUnregisterCallback ({late} record(s))"
    );
    assert_eq!(ran, 1, "only the other driver's callback ran");
    assert!(
        unload_took < Duration::from_secs(2),
        "the unregistration waited for a call that had not started ({unload_took:?})"
    );
    kernel.assert_no_bugchecks();
    ntsim::context::as_other_image(other_image, || {
        // SAFETY: the registration made above.
        unsafe { ntsim::excallback::ExUnregisterCallback(other) };
        dereference(object.cast());
    });
}

// --- File-system registration change ---------------------------------------------

#[test]
fn fs_registration_twice_in_a_row_is_already_attached_and_unregistration_stops_calls() {
    let mut kernel = fresh();
    load(&mut kernel);
    let driver = kernel.driver_object_address().unwrap();
    let own: Vec<(usize, usize)> = ntsim::ioreg::fs_change_registrations()
        .into_iter()
        .filter(|(d, _)| *d == driver)
        .collect();
    assert_eq!(own.len(), 1, "the driver registered one routine");
    let routine = own[0].1;
    // The same driver object and routine again, nothing registered in
    // between (ntifs/nf-ntifs-ioregisterfsregistrationchange).
    // SAFETY: the driver's own registered routine, as a PDRIVER_FS_NOTIFICATION.
    let notification = unsafe { std::mem::transmute::<usize, wdk_sys::PDRIVER_FS_NOTIFICATION>(routine) };
    // SAFETY: the driver's object and routine.
    let status =
        unsafe { ntsim::ioreg::IoRegisterFsRegistrationChange(driver as *mut DRIVER_OBJECT, notification) };
    assert_eq!(status, STATUS_DEVICE_ALREADY_ATTACHED);
    assert_eq!(
        ntsim::ioreg::fs_change_registrations()
            .iter()
            .filter(|(d, _)| *d == driver)
            .count(),
        1
    );
    let device: PDEVICE_OBJECT = ntsim::ioreg::interrupt_device("NtsimFsRules", &[]);
    assert_eq!(
        trigger::file_system_registered(device),
        1,
        "the driver's routine is called"
    );
    let records = read_until(&mut kernel, "fs registration", |all| {
        of(all, SourceId::FsRegistration).len() >= 2
    });
    assert!(
        of(&records, SourceId::FsRegistration).len() >= 2,
        "replayed NTFS and the new file system"
    );
    kernel.unload_driver();
    assert!(
        ntsim::ioreg::fs_change_registrations()
            .iter()
            .all(|(d, _)| *d != driver),
        "IoUnregisterFsRegistrationChange removed it"
    );
    assert_eq!(
        trigger::file_system_unregistered(device),
        0,
        "no routine is called after unregistration"
    );
    kernel.assert_no_bugchecks();
}

// --- PnP device-interface removal ---------------------------------------------------

#[test]
fn device_interface_removal_reaches_the_driver() {
    let mut kernel = fresh();
    load(&mut kernel);
    let link = "\\??\\STORAGE#Volume#{ntsim-rules}#{53f5630d-b6bf-11d0-94f2-00a0c91efb8b}";
    assert_eq!(trigger::device_interface_arrival(VOLUME, link), 1);
    assert_eq!(trigger::device_interface_removal(VOLUME, link), 1);
    let removal = guid_bytes(&INTERFACE_REMOVAL);
    let records = read_until(&mut kernel, "interface removal", |all| {
        of(all, SourceId::PlugPlay)
            .iter()
            .any(|r| r.payload::<PlugPlayPayload>().is_some_and(|p| p.event == removal))
    });
    let event = of(&records, SourceId::PlugPlay)
        .into_iter()
        .find_map(|r| {
            r.payload::<PlugPlayPayload>()
                .filter(|p| p.event == removal)
                .copied()
        })
        .unwrap();
    assert_eq!(event.class, guid_bytes(&VOLUME));
    assert_eq!(wide(event.symbolic_link.as_units()), link);
    kernel.unload_driver();
    assert_eq!(
        trigger::device_interface_removal(VOLUME, link),
        0,
        "unregistered at unload"
    );
    kernel.assert_no_bugchecks();
}

// --- Registry STATUS_CALLBACK_BYPASS ---------------------------------------------------

const BYPASS_KEY: &str = "\\Registry\\Machine\\Software\\NtsimBypass";

/// A higher filter: bypasses the pre set-value of value "pre"; lets the
/// one of value "post" happen, then on its post notification bypasses
/// with `ReturnStatus = STATUS_ACCESS_DENIED`.
unsafe extern "C" fn bypassing_filter(_context: PVOID, class: PVOID, information: PVOID) -> NTSTATUS {
    match class as usize {
        1 => {
            // SAFETY: REG_SET_VALUE_KEY_INFORMATION for class 1.
            let info = unsafe { &*information.cast::<wdk_sys::REG_SET_VALUE_KEY_INFORMATION>() };
            // SAFETY: the value name the operation passes.
            let name = unsafe { ntsim::unicode::read(info.ValueName) };
            if name.as_deref() == Some("pre") {
                return ntsim::registry::STATUS_CALLBACK_BYPASS;
            }
            STATUS_SUCCESS
        }
        16 => {
            // SAFETY: REG_POST_OPERATION_INFORMATION for class 16.
            let info = unsafe { &mut *information.cast::<REG_POST_OPERATION_INFORMATION>() };
            info.ReturnStatus = STATUS_ACCESS_DENIED;
            ntsim::registry::STATUS_CALLBACK_BYPASS
        }
        _ => STATUS_SUCCESS,
    }
}

/// The driver's Registry events on [`BYPASS_KEY`]: (class, value name).
fn registry_events(records: &[EventRecord]) -> Vec<(u32, String)> {
    of(records, SourceId::Registry)
        .iter()
        .filter_map(|r| r.payload::<RegistryPayload>())
        .filter(|p| wide(p.key_path.as_units()).eq_ignore_ascii_case(BYPASS_KEY))
        .map(|p| (p.notify_class, wide(p.value_name.as_units())))
        .collect()
}

/// Process 0x700 sets the DWORD value `name` of the bypass key to `value`.
fn set_bypass_value(name: &str, value: u32) -> NTSTATUS {
    trigger::registry_set_value(
        0x700,
        BYPASS_KEY,
        name,
        ntsim::registry::REG_DWORD,
        &value.to_le_bytes(),
    )
}

#[test]
fn registry_bypass_by_a_higher_filter_pre_and_post() {
    let mut kernel = fresh();
    load(&mut kernel);
    ntsim::registry::create_key(BYPASS_KEY);
    let cookie = foreign_cm("999999", Some(bypassing_filter)).expect("the filter registers");
    assert_eq!(
        ntsim::registry::callbacks().first().map(|c| c.0),
        Some(bypassing_filter as *const () as usize),
        "the filter sits above the driver"
    );
    // Pre bypass: the caller gets STATUS_SUCCESS, nothing is written, no
    // lower callback (the driver) and no post notification run.
    let pre = set_bypass_value("pre", 1);
    assert_eq!(pre, STATUS_SUCCESS);
    assert!(
        ntsim::registry::values(BYPASS_KEY).is_empty(),
        "a bypassed set writes nothing"
    );
    // Post bypass: the value is written; ReturnStatus becomes the caller's status.
    let post = set_bypass_value("post", 2);
    assert_eq!(post, STATUS_ACCESS_DENIED);
    assert_eq!(ntsim::registry::values(BYPASS_KEY).len(), 1);
    // A marker operation the driver sees, so all earlier events have drained.
    let marker = set_bypass_value("marker", 3);
    assert_eq!(
        marker, STATUS_ACCESS_DENIED,
        "the filter bypasses every post set-value"
    );
    let records = read_until(&mut kernel, "registry marker", |all| {
        registry_events(all)
            .iter()
            .filter(|(class, _)| *class == 16)
            .count()
            >= 2
    });
    assert_eq!(
        registry_events(&records),
        [
            (1, "post".to_owned()),
            (16, String::new()),
            (1, "marker".to_owned()),
            (16, String::new())
        ],
        "nothing of the pre-bypassed set reaches the driver; both notifications of the post-bypassed ones do"
    );
    unregister_cm(cookie);
    kernel.unload_driver();
    kernel.assert_no_bugchecks();
}

// --- Load-image Ex: conflicting architecture ---------------------------------------

static PLAIN_EX_CALLS: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn plain_ex_routine(_name: PUNICODE_STRING, _pid: HANDLE, _info: PIMAGE_INFO) {
    PLAIN_EX_CALLS.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn conflicting_architecture_images_reach_the_driver_through_its_ex_flag() {
    let mut kernel = fresh();
    load(&mut kernel);
    PLAIN_EX_CALLS.store(0, Ordering::SeqCst);
    // Another driver's Ex registration without the flag.
    // SAFETY: a 'static routine.
    let status = unsafe { ntsim::ps::PsSetLoadImageNotifyRoutineEx(Some(plain_ex_routine), 0) };
    assert_eq!(status, STATUS_SUCCESS);
    let name = "\\Device\\HarddiskVolume2\\Windows\\SysWOW64\\ntsimwow.dll";
    let ran = trigger::LoadImage {
        machine_type_mismatch: true,
        base: 0x7700_0000,
        size: 0x1000,
        ..trigger::LoadImage::new(name, 0x800)
    }
    .fire();
    assert_eq!(
        ran, 1,
        "only the driver's routine (registered with the flag) runs"
    );
    assert_eq!(PLAIN_EX_CALLS.load(Ordering::SeqCst), 0);
    let event = wait_for_image_event(&mut kernel, name);
    assert_eq!(event.source(), Some(SourceId::LoadImage));
    assert_eq!(
        // SAFETY: the routine registered above.
        unsafe { ntsim::ps::PsRemoveLoadImageNotifyRoutine(Some(plain_ex_routine)) },
        STATUS_SUCCESS
    );
    kernel.unload_driver();
    kernel.assert_no_bugchecks();
}

// --- Notifying a system object ----------------------------------------------------------

#[test]
fn notifying_a_system_object_is_flagged_and_not_delivered_to_the_driver() {
    let mut kernel = fresh();
    load(&mut kernel);
    let object = open_object("\\Callback\\SetSystemTime");
    // A faulty driver notifies the system-defined object itself.
    // SAFETY: a live object.
    unsafe { ntsim::excallback::ExNotifyCallback(object.cast(), 7 as PVOID, 8 as PVOID) };
    let check = kernel.expect_bugcheck(NSIM, ModelRule::NotifySystemCallbackObject as u64);
    assert!(check.text.contains("SetSystemTime"), "{check}");
    // The system's own notification reaches the driver's observer.
    assert!(trigger::set_system_time(0x01DB_0000_0000_0001) >= 1);
    let records = read_until(&mut kernel, "set system time", |all| {
        of(all, SourceId::CallbackObject)
            .iter()
            .any(|r| callback_object_name(r).as_deref() == Some("\\Callback\\SetSystemTime"))
    });
    let observed: Vec<(u64, u64)> = of(&records, SourceId::CallbackObject)
        .iter()
        .filter(|r| callback_object_name(r).as_deref() == Some("\\Callback\\SetSystemTime"))
        .filter_map(|r| {
            r.payload::<CallbackObjectPayload>()
                .map(|p| (p.argument1, p.argument2))
        })
        .collect();
    assert!(
        !observed.contains(&(7, 8)),
        "the forbidden notification was delivered"
    );
    assert_eq!(observed.len(), 1);
    dereference(object.cast());
    kernel.unload_driver();
    kernel.assert_no_bugchecks();
}

// --- Removal from one's own callback, next to the driver's routine -------------------------

/// Registers `routine` as another driver's load-image notify routine, then
/// loads the system image `name` at `base`: both routines are called.
fn load_beside_driver(
    routine: unsafe extern "C" fn(PUNICODE_STRING, HANDLE, PIMAGE_INFO),
    name: &str,
    base: u64,
) {
    assert_eq!(
        // SAFETY: a 'static routine.
        unsafe { ntsim::ps::PsSetLoadImageNotifyRoutine(Some(routine)) },
        STATUS_SUCCESS
    );
    assert_eq!(trigger::load_image(name, 0, base, 0x1000, true), 2);
}

unsafe extern "C" fn removes_itself(_name: PUNICODE_STRING, _pid: HANDLE, _info: PIMAGE_INFO) {
    // SAFETY: this routine is registered; removing it from inside is the fault.
    let _ = unsafe { ntsim::ps::PsRemoveLoadImageNotifyRoutine(Some(removes_itself)) };
}

#[test]
fn removal_from_its_own_callback_is_flagged_and_the_driver_runs_on() {
    let mut kernel = fresh();
    load(&mut kernel);
    let name = "\\SystemRoot\\System32\\drivers\\ntsimself.sys";
    load_beside_driver(removes_itself, name, 0xFFFF_F800_5000_0000);
    let check = kernel.expect_bugcheck(NSIM, ModelRule::RemovalFromOwnCallback as u64);
    assert_eq!(check.params[1], removes_itself as *const () as u64, "{check}");
    wait_for_image_event(&mut kernel, name);
    let name2 = "\\SystemRoot\\System32\\drivers\\ntsimself2.sys";
    assert_eq!(
        trigger::load_image(name2, 0, 0xFFFF_F800_5001_0000, 0x1000, true),
        1,
        "removed"
    );
    wait_for_image_event(&mut kernel, name2);
    kernel.unload_driver();
    kernel.assert_no_bugchecks();
}

// --- Processor hot-add failure -------------------------------------------------------------

unsafe extern "C" fn fails_start(
    _context: PVOID,
    change: PKE_PROCESSOR_CHANGE_NOTIFY_CONTEXT,
    status: PNTSTATUS,
) {
    // SAFETY: valid for the call.
    let change: &KE_PROCESSOR_CHANGE_NOTIFY_CONTEXT = unsafe { &*change };
    if change.State == 0 {
        // SAFETY: writable for the call; StartNotify may fail the add.
        unsafe { *status = STATUS_INSUFFICIENT_RESOURCES };
    }
}

#[test]
fn processor_hot_add_failure_is_notified_to_the_driver() {
    let mut kernel = fresh();
    load(&mut kernel);
    // Registered after the driver: the driver is started first, then this
    // one fails the add (wdm/nf-wdm-keregisterprocessorchangecallback).
    // SAFETY: a 'static routine.
    let handle =
        unsafe { ntsim::kecb::KeRegisterProcessorChangeCallback(Some(fails_start), std::ptr::null_mut(), 0) };
    assert!(!handle.is_null());
    let number = 9;
    assert_eq!(trigger::processor_add(number), STATUS_INSUFFICIENT_RESOURCES);
    let changes = |all: &[EventRecord]| -> Vec<(u32, u32)> {
        of(all, SourceId::ProcessorChange)
            .iter()
            .filter_map(|r| r.payload::<ProcessorChangePayload>())
            .filter(|p| p.processor_number == number)
            .map(|p| (p.state, p.processor_number))
            .collect()
    };
    let records = read_until(&mut kernel, "processor failure", |all| changes(all).len() >= 2);
    assert_eq!(
        changes(&records),
        [(0, number), (2, number)],
        "StartNotify, then FailureNotify"
    );
    // SAFETY: the handle registered above.
    unsafe { ntsim::kecb::KeDeregisterProcessorChangeCallback(handle) };
    kernel.unload_driver();
    kernel.assert_no_bugchecks();
}

// --- A second ObUnRegisterCallbacks on the driver's registration ---------------------------

#[test]
fn a_second_ob_unregister_of_the_drivers_registration_is_flagged() {
    let mut kernel = fresh();
    load(&mut kernel);
    let handles = ntsim::obcallbacks::handles();
    assert_eq!(handles.len(), 1, "the driver's Ob registration");
    kernel.unload_driver();
    kernel.assert_no_bugchecks();
    assert!(
        ntsim::obcallbacks::handles().is_empty(),
        "the driver unregistered it once"
    );
    // A second ObUnRegisterCallbacks on the same handle (wdm/nf-wdm-obunregistercallbacks:
    // a double free, bug check 0x7E on Windows).
    // SAFETY: the model only looks the stale handle up.
    unsafe { ntsim::obcallbacks::ObUnRegisterCallbacks(handles[0] as PVOID) };
    kernel.expect_bugcheck(NSIM, ModelRule::DoubleRelease as u64);
    kernel.assert_no_bugchecks();
}

// --- Returning at a raised IRQL --------------------------------------------------------------

unsafe extern "C" fn returns_raised(_name: PUNICODE_STRING, _pid: HANDLE, _info: PIMAGE_INFO) {
    // SAFETY: raising is allowed; returning raised is the fault.
    let _ = unsafe { ntsim::irql::KfRaiseIrql(APC_LEVEL) };
}

unsafe extern "C" fn entry_returns_raised(
    _driver: *mut DRIVER_OBJECT,
    _path: *const UNICODE_STRING,
) -> NTSTATUS {
    // SAFETY: as above, for DriverEntry.
    let _ = unsafe { ntsim::irql::KfRaiseIrql(DISPATCH_LEVEL) };
    STATUS_SUCCESS
}

#[test]
fn returning_at_a_raised_irql_is_flagged_and_the_driver_never_does() {
    let mut kernel = fresh();
    load(&mut kernel);
    kernel.assert_no_bugchecks();
    let name = "\\SystemRoot\\System32\\drivers\\ntsimraised.sys";
    load_beside_driver(returns_raised, name, 0xFFFF_F800_6000_0000);
    let check = kernel.expect_bugcheck(NSIM, ModelRule::CallbackChangedIrql as u64);
    assert_eq!(check.params[1], u64::from(APC_LEVEL), "{check}");
    kernel.assert_no_bugchecks();
    wait_for_image_event(&mut kernel, name);
    assert_eq!(
        ntsim::irql::current(),
        PASSIVE_LEVEL,
        "the model restored the IRQL"
    );
    assert_eq!(
        // SAFETY: the routine registered above.
        unsafe { ntsim::ps::PsRemoveLoadImageNotifyRoutine(Some(returns_raised)) },
        STATUS_SUCCESS
    );
    // Another driver whose DriverEntry returns at DISPATCH_LEVEL.
    let (status, _) = kernel.load_other_driver("ntsim-raised", entry_returns_raised);
    assert_eq!(status, STATUS_SUCCESS);
    let check = kernel.expect_bugcheck(NSIM, ModelRule::ReturnedAtRaisedIrql as u64);
    assert!(check.text.contains("DriverEntry"), "{check}");
    assert_eq!(ntsim::irql::current(), PASSIVE_LEVEL);
    kernel.unload_driver();
    kernel.assert_no_bugchecks();
}

// --- Double dereference of the driver's callback object -------------------------------------

#[test]
fn a_second_dereference_of_the_drivers_object_is_flagged() {
    let mut kernel = fresh();
    load(&mut kernel);
    let object = ntsim::excallback::object("\\Callback\\KCallbacks").expect("the driver's own object");
    assert_eq!(object.driver_references, 1);
    kernel.unload_driver();
    kernel.assert_no_bugchecks();
    // The driver dropped its reference at unload; one more is a double dereference.
    dereference(object.address as PVOID);
    let check = kernel.expect_bugcheck(codes::DRIVER_VERIFIER_DETECTED_VIOLATION, 0x3F);
    assert_eq!(check.params[1], object.address as u64);
    kernel.assert_no_bugchecks();
}

// --- Item 12 deliveries as the driver sees them -----------------------------------------------

static PROFILE_VETO_CALLS: AtomicUsize = AtomicUsize::new(0);

/// Another driver's hardware-profile callback that vetoes every query.
unsafe extern "C" fn vetoes_profile_query(notification: PVOID, _context: PVOID) -> NTSTATUS {
    PROFILE_VETO_CALLS.fetch_add(1, Ordering::SeqCst);
    // SAFETY: a HWPROFILE_CHANGE_NOTIFICATION for this category.
    let event = unsafe { (*notification.cast::<wdk_sys::HWPROFILE_CHANGE_NOTIFICATION>()).Event };
    if event.Data1 == ntsim::ioreg::GUID_HWPROFILE_QUERY_CHANGE.Data1 {
        STATUS_ACCESS_DENIED
    } else {
        STATUS_SUCCESS
    }
}

fn profile_events(records: &[EventRecord]) -> Vec<u32> {
    of(records, SourceId::PlugPlay)
        .iter()
        .filter_map(|r| r.payload::<PlugPlayPayload>())
        .filter(|p| {
            p.category
                == wdk_sys::_IO_NOTIFICATION_EVENT_CATEGORY::EventCategoryHardwareProfileChange
                    .cast_unsigned()
        })
        .map(|p| u32::from_le_bytes([p.event[0], p.event[1], p.event[2], p.event[3]]))
        .collect()
}

/// Fires a hardware-profile query change; checks the status the caller
/// gets and the two profile events the driver records: the query
/// (`0xCB3A_4001`), then `outcome` (complete or cancelled).
fn profile_query(kernel: &mut Kernel, status: NTSTATUS, outcome: u32, what: &str) {
    assert_eq!(trigger::hardware_profile_query_change(), status, "{what}");
    let records = read_until(kernel, what, |all| profile_events(all).len() >= 2);
    assert_eq!(profile_events(&records), [0xCB3A_4001, outcome], "{what}");
}

/// The driver never vetoes a hardware-profile query (it returns success,
/// C:kernel/guidelines-for-writing-pnp-notification-callback-routines) and
/// records the cancel another driver's veto causes.
#[test]
fn the_driver_never_vetoes_a_profile_change_and_sees_the_cancel() {
    let mut kernel = fresh();
    load(&mut kernel);
    // The driver alone: no veto; query, then complete.
    profile_query(&mut kernel, STATUS_SUCCESS, 0xCB3A_4003, "profile complete");
    PROFILE_VETO_CALLS.store(0, Ordering::SeqCst);
    let mut entry: PVOID = std::ptr::null_mut();
    // SAFETY: a 'static routine and a writable entry.
    let status = unsafe {
        ntsim::ioreg::IoRegisterPlugPlayNotification(
            wdk_sys::_IO_NOTIFICATION_EVENT_CATEGORY::EventCategoryHardwareProfileChange,
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            Some(vetoes_profile_query),
            std::ptr::null_mut(),
            &raw mut entry,
        )
    };
    assert_eq!(status, STATUS_SUCCESS);
    // The other driver vetoes: query, then cancelled.
    profile_query(
        &mut kernel,
        STATUS_ACCESS_DENIED,
        0xCB3A_4002,
        "profile cancelled",
    );
    assert_eq!(PROFILE_VETO_CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(
        // SAFETY: the entry registered above.
        unsafe { ntsim::ioreg::IoUnregisterPlugPlayNotificationEx(entry) },
        STATUS_SUCCESS
    );
    kernel.unload_driver();
    kernel.assert_no_bugchecks();
}

/// Another driver's `KbCallbackDumpIo` routine sees the driver's flight
/// recorder written as secondary dump data, after the header and body;
/// the driver's reason routine (`SecondaryDumpData` only) ignores the reasons
/// it did not register for.
#[test]
fn the_drivers_secondary_dump_data_is_written_after_the_body() {
    static DUMP_IO: ReasonCell = ReasonCell(std::cell::UnsafeCell::new(
        // SAFETY: all-zero is KeInitializeCallbackRecord's result.
        unsafe { std::mem::zeroed() },
    ));
    let mut kernel = fresh();
    load(&mut kernel);
    // SAFETY: a resident record and a 'static routine.
    let registered = unsafe {
        ntsim::kecb::KeRegisterBugCheckReasonCallback(
            DUMP_IO.0.get(),
            Some(observes_dump_io),
            wdk_sys::_KBUGCHECK_CALLBACK_REASON::KbCallbackDumpIo,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(registered, 1);
    let report = trigger::bug_check_with(0xE2, trigger::BugCheckOptions::default());
    assert_eq!(report.secondary.len(), 1, "the driver's flight recorder");
    let kinds: Vec<i32> = report.dump_io.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [1, 2, 3, 4],
        "header, body, the driver's secondary data, complete"
    );
    assert_eq!(report.dump_io[2].length as usize, report.secondary[0].data.len());
    assert_eq!(
        // SAFETY: the record registered above.
        unsafe { ntsim::kecb::KeDeregisterBugCheckReasonCallback(DUMP_IO.0.get()) },
        1
    );
    kernel.unload_driver();
    kernel.assert_no_bugchecks();
}

struct ReasonCell(std::cell::UnsafeCell<wdk_sys::KBUGCHECK_REASON_CALLBACK_RECORD>);
// SAFETY: only the model touches the record while registered.
unsafe impl Sync for ReasonCell {}

const unsafe extern "C" fn observes_dump_io(
    _reason: wdk_sys::KBUGCHECK_CALLBACK_REASON,
    _record: *mut wdk_sys::KBUGCHECK_REASON_CALLBACK_RECORD,
    _data: PVOID,
    _length: u32,
) {
}
