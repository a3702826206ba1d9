//! Host tests of the callback-object path (`ExCreateCallback`,
//! `ExRegisterCallback`, `ExNotifyCallback`, `ExUnregisterCallback`, the
//! `\Callback` map) and of the registration walker, through the REAL
//! driver: its DriverEntry/DriverUnload, IOCTLs and observer routine, linked
//! against the kernel model (`crates/ntsim`), and, end to end, through
//! kcbctl's own command logic.
//!
//! Each test boots a fresh model (which also serialises the tests: the
//! driver's statics are global) and ends with no simulated bug check
//! recorded unless it checks one on purpose.

#![allow(
    clippy::significant_drop_tightening,
    reason = "each test holds its Kernel (the model's lock) until it ends, on purpose"
)]

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use kcallbacks::kernel::unicode::WideName;
use kcallbacks::registrations::catalog::CATALOG;
use kcallbacks::registrations::ex::{CallbackObject, Owned};
use kcb_proto::{
    CallbackObjectPayload, EventRecord, IOCTL_KCB_LIST_CALLBACK_OBJECTS, IOCTL_KCB_LIST_REGISTRATIONS,
    IOCTL_KCB_NOTIFY, ListCallbackObjectsRequest, ListRegistrationsRequest, NotifyRequest,
    REGISTRATION_BUFFER_SIZE, RegistrationEntry, RegistrationState, SourceId, bytes_of,
    decode_callback_objects, decode_registrations, layout_check, registration_status,
};
use ntsim::excallback::{self, POWER_PORT_OWNER};
use ntsim::irql::{DISPATCH_LEVEL, PASSIVE_LEVEL, with_irql};
use ntsim::{Kernel, faults, poll_until, trigger};
use wdk_sys::ntddk::{
    ExNotifyCallback, ExRegisterCallback, ExUnregisterCallback, KeInitializeEvent, KeSetEvent,
    KeWaitForSingleObject, ObfDereferenceObject,
};
use wdk_sys::{
    KEVENT, PCALLBACK_OBJECT, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_DEVICE_STATE,
    STATUS_NOT_SUPPORTED, STATUS_OBJECT_NAME_NOT_FOUND, STATUS_SUCCESS, STATUS_UNSUCCESSFUL,
};

#[allow(clippy::wildcard_imports)]
use crate::common::*;

const OWN: &str = "\\Callback\\KCallbacks";
/// `PO_CB_AC_STATUS` and `PO_CB_LID_SWITCH_STATE` (kernel-semantics §1, System-defined objects.4).
const PO_CB_AC_STATUS: u32 = 1;
const PO_CB_LID_SWITCH_STATE: u32 = 4;
/// `STATUS_OBJECT_NAME_NOT_FOUND` as the report line prints it.
const NAME_NOT_FOUND: &str = "0xC0000034";

// --- Helpers -------------------------------------------------------------------

/// A callback-object event: (object name, argument1, argument2, IRQL).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Notification {
    object: String,
    argument1: u64,
    argument2: u64,
    irql: u8,
}

fn notification(record: &EventRecord) -> Option<Notification> {
    if record.source() != Some(SourceId::CallbackObject) {
        return None;
    }
    let payload = record.payload::<CallbackObjectPayload>()?;
    Some(Notification {
        object: String::from_utf16_lossy(payload.name.as_units()),
        argument1: payload.argument1,
        argument2: payload.argument2,
        irql: record.header.irql,
    })
}

/// Reads events until `wanted` callback-object notifications matching
/// `filter` arrived (bounded); returns them in arrival order.
fn wait_for_notifications(
    kernel: &mut Kernel,
    wanted: usize,
    filter: impl Fn(&Notification) -> bool,
) -> Vec<Notification> {
    let mut found = Vec::new();
    let arrived = poll_until(DRAIN_TIMEOUT, || {
        found.extend(
            read_events(kernel, 64)
                .iter()
                .filter_map(notification)
                .filter(|n| filter(n)),
        );
        found.len() >= wanted
    });
    assert!(arrived, "only {found:?} within {DRAIN_TIMEOUT:?}");
    found
}

/// The line `print_outcome` prints for a catalog object.
fn object_line(name: &str, word: &str, status: &str) -> String {
    format!("kcallbacks: register {name}: {word} status={status}")
}

fn has_line(kernel: &Kernel, line: &str) -> bool {
    driver_lines(kernel).iter().any(|l| l == line)
}

fn catalog_names() -> Vec<String> {
    CATALOG
        .iter()
        .map(|e| String::from_utf16_lossy(e.name.units()))
        .collect()
}

use crate::model_helpers::{Routine, create_callback};

fn register(object: PCALLBACK_OBJECT, routine: Routine, context: usize) -> *mut c_void {
    // SAFETY: a live object; a 'static routine; the context is an integer.
    unsafe { ExRegisterCallback(object, Some(routine), context as *mut c_void) }
}

fn unregister(handle: *mut c_void) {
    // SAFETY: a handle ExRegisterCallback returned, removed once.
    unsafe { ExUnregisterCallback(handle) };
}

fn dereference(object: PCALLBACK_OBJECT) {
    // SAFETY: drops the reference ExCreateCallback took, once.
    let _ = unsafe { ObfDereferenceObject(object.cast()) };
}

/// Runs a kcbctl command line against the loaded driver: (result, stdout, stderr).
fn kcbctl(kernel: &mut Kernel, args: &[&str]) -> (Result<(), String>, String, String) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let command = kcbctl::parse_args(&args).expect("a valid kcbctl command line");
    run_kcbctl(&command, &mut ModelDriver(kernel))
}

fn list_registrations(kernel: &mut Kernel) -> (i32, Vec<RegistrationEntry>, u32) {
    let (status, out) = kernel.device_io_control(
        IOCTL_KCB_LIST_REGISTRATIONS,
        bytes_of(&ListRegistrationsRequest::new()),
        REGISTRATION_BUFFER_SIZE,
    );
    if status < 0 {
        return (status, Vec::new(), 0);
    }
    let list = decode_registrations(&out).expect("a valid LIST_REGISTRATIONS reply");
    assert_eq!(list.header.count, list.header.returned, "everything fits");
    (status, list.entries.iter().collect(), list.header.objects)
}

fn entries_of<'a>(entries: &'a [RegistrationEntry], object: &str) -> Vec<&'a RegistrationEntry> {
    entries
        .iter()
        .filter(|e| String::from_utf16_lossy(e.object.as_units()) == object)
        .collect()
}

/// Disjoint synthetic modules around `routines`: (path, base, size) each,
/// the base a little below the routine so the offset is not 0.
fn modules_around(routines: &[(&str, usize)]) -> Vec<(String, usize, u32)> {
    let mut sorted: Vec<(&str, usize)> = routines.to_vec();
    sorted.sort_by_key(|r| r.1);
    let mut modules = Vec::new();
    for (i, (name, address)) in sorted.iter().enumerate() {
        let below = if i == 0 {
            0x40
        } else {
            ((address - sorted[i - 1].1) / 2).min(0x40)
        };
        let above = sorted
            .get(i + 1)
            .map_or(0x40, |next| ((next.1 - address) / 2).clamp(1, 0x40));
        let path = format!("\\SystemRoot\\System32\\drivers\\{name}");
        modules.push((path, address - below, u32::try_from(below + above).unwrap()));
    }
    modules
}

fn add_modules(routines: &[(&str, usize)]) -> Vec<(String, usize, u32)> {
    let modules = modules_around(routines);
    for (path, base, size) in &modules {
        excallback::add_module(path, *base, *size);
    }
    modules
}

/// The driver's observer routine (the one it registers on every object).
fn observer_address() -> usize {
    excallback::object(OWN).expect("the driver's object").callbacks[0]
}

// Routines the tests register.

static ORDER: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
/// `CallbackObject` events the driver had seen when the first test routine ran.
static SEEN_BY_FIRST: AtomicUsize = AtomicUsize::new(usize::MAX);

fn callback_events_seen() -> usize {
    let counters = kcallbacks::pipeline::rings::counters();
    usize::try_from(counters[SourceId::CallbackObject.index()].seen).unwrap()
}

unsafe extern "C" fn first_routine(_: *mut c_void, _: *mut c_void, _: *mut c_void) {
    SEEN_BY_FIRST.store(callback_events_seen(), Ordering::SeqCst);
    ORDER.lock().unwrap().push("first");
}

unsafe extern "C" fn second_routine(_: *mut c_void, _: *mut c_void, _: *mut c_void) {
    ORDER.lock().unwrap().push("second");
}

unsafe extern "C" fn third_routine(_: *mut c_void, _: *mut c_void, _: *mut c_void) {
    ORDER.lock().unwrap().push("third");
}

fn callback_directory() -> Vec<String> {
    ntsim::ob::children("\\Callback")
        .into_iter()
        .map(|(n, _)| n)
        .collect()
}

mod callback_objects;
mod walker;
