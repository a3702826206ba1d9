//! Kernel-model tests of the processor/exception (Ke), I/O-manager (Io),
//! power (Po), WHEA and HAL registrations, through the driver's REAL
//! `DriverEntry`, IOCTLs and `DriverUnload` (kernel-semantics.md §7-§20):
//! registration and removal, the documented call context of each callback,
//! the `HIGH_LEVEL` rules, the crash-dump flight recorder and the bug-check
//! summary, NMI ordering, fault injection and hidden exports, the unload
//! checks, and the `IoConnectInterruptEx` guard.

#![allow(
    clippy::significant_drop_tightening,
    reason = "a test holds its Kernel (the model's global lock) for its whole body, by design"
)]
#![allow(clippy::too_many_lines, reason = "one scenario per test, step by step")]
#![allow(
    clippy::cast_possible_truncation,
    reason = "small test constants (blob sizes, counts) converted between the kernel's widths"
)]

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use interrupt_connection::InterruptConnection;
use kcallbacks::pipeline::rings;
use kcallbacks::registrations::io::guid_bytes;
use kcallbacks::registrations::report::Api;
use kcb_proto::flight::{FLIGHT_GUID, FLIGHT_HEADER_SIZE, flight_size, records_within};
use kcb_proto::{
    BootDriverReinitPayload, BoundExceptionPayload, BugCheckPayload, BugCheckReasonPayload,
    DriverReinitPayload, EventRecord, FloodPayload, FloodRequest, FloodResponse, FsRegistrationPayload,
    IOCTL_KCB_FLOOD, LastChanceShutdownPayload, NmiPayload, PageOfflinePayload, PlugPlayPayload,
    PowerSettingPayload, ProcessorChangePayload, ProfileInterruptPayload, RECORD_SIZE, RegistrationState,
    ShutdownPayload, SourceId, bytes_of, flood_checksum, read_pod, report_detail,
};
use ntsim::context::{PROCESSOR_COUNT, SYSTEM_PID};
use ntsim::ioreg::InterruptLine;
use ntsim::irql::{
    APC_LEVEL, DISPATCH_LEVEL, HIGH_LEVEL, MAX_DIRQL, PASSIVE_LEVEL, PROFILE_LEVEL, with_irql,
};
use ntsim::trigger::{self, BugCheckOptions};
use ntsim::verifier::{ModelRule, codes};
use ntsim::{Kernel, faults, poll_until};
use wdk_sys::{
    _IO_NOTIFICATION_EVENT_CATEGORY::EventCategoryHardwareProfileChange,
    _KBUGCHECK_CALLBACK_REASON::KbCallbackSecondaryDumpData, BOOLEAN, BOUND_CALLBACK_STATUS,
    CONNECT_FULLY_SPECIFIED, CONNECT_LINE_BASED, CONNECT_MESSAGE_BASED, GUID,
    IO_CONNECT_INTERRUPT_PARAMETERS, IO_DISCONNECT_INTERRUPT_PARAMETERS, KBUGCHECK_CALLBACK_REASON,
    KBUGCHECK_CALLBACK_RECORD, KBUGCHECK_REASON_CALLBACK_RECORD, KE_PROCESSOR_CHANGE_NOTIFY_CONTEXT,
    NTSTATUS, PDEVICE_OBJECT, PKINTERRUPT, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER,
    STATUS_INVALID_PARAMETER_1, STATUS_INVALID_PARAMETER_10, STATUS_NOT_FOUND, STATUS_PROCEDURE_NOT_FOUND,
    STATUS_SUCCESS, STATUS_UNSUCCESSFUL,
};

#[allow(clippy::wildcard_imports)]
use crate::common::*;

// --- Helpers -----------------------------------------------------------------

const VOLUME_LINK: &str = "\\??\\STORAGE#Volume#{ntsim-ke-io}#{53f5630d-b6bf-11d0-94f2-00a0c91efb8b}";
/// `FILE_DEVICE_DISK_FILE_SYSTEM`.
const DISK_FILE_SYSTEM: u32 = 8;

/// The report: name -> (state, status, detail).
fn report(kernel: &mut Kernel) -> HashMap<String, (RegistrationState, i32, u32)> {
    report_details(kernel)
        .into_iter()
        .map(|(name, state, status, detail)| (name, (state, status, detail)))
        .collect()
}

/// How many times `DriverUnload` called `ddi`.
fn unload_calls_of(ddi: &str) -> usize {
    ntsim::ddi::calls_in(ntsim::context::Phase::DriverUnload)
        .iter()
        .filter(|c| c.ddi == ddi)
        .count()
}

fn entry(kernel: &mut Kernel, api: Api) -> (RegistrationState, i32, u32) {
    *report(kernel)
        .get(api.name())
        .unwrap_or_else(|| panic!("no report entry for {}", api.name()))
}

fn sources(records: &[EventRecord]) -> Vec<Option<SourceId>> {
    records.iter().map(EventRecord::source).collect()
}

fn count_of(source: SourceId, n: usize) -> impl Fn(&[EventRecord]) -> bool {
    move |all| all.iter().filter(|r| r.source() == Some(source)).count() >= n
}

fn flood(kernel: &mut Kernel, count: u32) {
    let (status, out) = kernel.device_io_control(
        IOCTL_KCB_FLOOD,
        bytes_of(&FloodRequest::new(count)),
        size_of::<FloodResponse>(),
    );
    assert_eq!(status, STATUS_SUCCESS);
    let response: FloodResponse = read_pod(&out).expect("a flood response");
    assert_eq!((response.recorded, response.dropped), (count, 0));
}

/// Holds every processor ring's consumer role, so the drain thread cannot
/// move records to the client queue while a test arranges what the rings
/// hold.
fn hold_drain() -> Vec<kcb_ring::ByteConsumer<'static, 'static>> {
    let set = rings::get().expect("rings allocated");
    let mut held = Vec::new();
    for ring in set.per_processor() {
        let mut consumer = None;
        assert!(poll_until(Duration::from_secs(5), || {
            consumer = ring.ring.consumer();
            consumer.is_some()
        }));
        held.push(consumer.unwrap_or_else(|| unreachable!()));
    }
    // A record the drain was moving just before is moved within its tick.
    std::thread::sleep(Duration::from_millis(300));
    held
}

/// The complete half of a double-buffered bug-check summary (`KCBSUM02`:
/// the index of the active half at offset 24, halves of
/// `64 + SUMMARY_EVENTS * 512` bytes from offset 64).
fn active_summary_half(summary: &[u8]) -> &[u8] {
    let half_size = 64 + kcallbacks::pipeline::crash::SUMMARY_EVENTS * RECORD_SIZE;
    let active = u64::from_le_bytes(summary[24..32].try_into().unwrap());
    assert!(active < 2, "active half index {active}");
    let start = 64 + active as usize * half_size;
    &summary[start..start + half_size]
}

/// Whether every processor ring is empty (the drain moved everything).
fn rings_empty() -> bool {
    rings::get().is_none_or(|set| set.per_processor().iter().all(|r| r.ring.is_empty()))
}

/// Records held in the processor rings and the client queue.
///
/// # Safety
/// No consumer runs concurrently (the caller holds the drain, and no
/// `READ_EVENTS` is in progress).
unsafe fn held_records() -> usize {
    let set = rings::get().expect("rings allocated");
    // SAFETY: the caller's contract.
    let queued = unsafe { set.client().visit_unsynchronized(|_| {}) };
    queued
        + set
            .per_processor()
            .iter()
            // SAFETY: the caller's contract.
            .map(|r| unsafe { r.ring.visit_unsynchronized(|_| {}) })
            .sum::<usize>()
}

fn guid_text(guid: &GUID) -> String {
    format!(
        "{{{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{}}}",
        guid.Data1,
        guid.Data2,
        guid.Data3,
        guid.Data4[0],
        guid.Data4[1],
        guid.Data4[2..].iter().fold(String::new(), |mut text, b| {
            use std::fmt::Write;
            let _ = write!(text, "{b:02x}");
            text
        })
    )
}

/// Asserts every one of `apis` is reported registered, with no detail.
fn assert_all_registered(kernel: &mut Kernel, apis: &[Api]) {
    for &api in apis {
        assert_eq!(
            entry(kernel, api),
            (RegistrationState::Registered, 0, 0),
            "{}",
            api.name()
        );
    }
}

fn assert_removed_line(kernel: &Kernel, api: Api) {
    let line = outcome_line("unregister", api.name(), RegistrationState::Removed, 0);
    assert!(
        driver_lines(kernel).iter().any(|l| l.starts_with(&line)),
        "missing {line:?}: {:#?}",
        driver_lines(kernel)
    );
}

struct Cell<T>(std::cell::UnsafeCell<T>);
// SAFETY: only the model touches the records, from one test at a time.
unsafe impl<T> Sync for Cell<T> {}

/// Registers `routine` as a bug check callback ("another driver") with the
/// resident `record`, re-initialised (`BufferEmpty`) first, and no buffer;
/// returns the record to deregister.
fn register_bug_check_callback(
    record: &'static Cell<wdk_sys::KBUGCHECK_CALLBACK_RECORD>,
    routine: unsafe extern "C" fn(*mut std::ffi::c_void, u32),
) -> *mut wdk_sys::KBUGCHECK_CALLBACK_RECORD {
    let record = record.0.get();
    // SAFETY: a resident static record that only the model touches.
    unsafe { record.write_bytes(0, 1) };
    // SAFETY: as above; a 'static routine.
    let ok = unsafe {
        ntsim::kecb::KeRegisterBugCheckCallback(
            record,
            Some(routine),
            std::ptr::null_mut(),
            0,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(ok, 1);
    record
}

mod context;
mod crash;
mod hal;
mod injection;
mod interrupt_connection;
mod interrupts;
mod nmi;
mod unload;
