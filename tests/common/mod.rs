//! Helpers shared by the kernel-model tests (`tests/kernel_model/`): boot
//! the model with the real driver (with `Parameters` values or hidden
//! exports), load and unload it, read events and the report through the
//! real IOCTLs, and check that nothing is left behind. `client.rs` runs
//! kcbctl's command logic against the model; `foreign.rs` registers
//! "other drivers" next to the driver.

#![allow(dead_code, unreachable_pub)]

mod client;
mod families;
mod foreign;

pub use client::*;
pub use families::*;
pub use foreign::*;

use std::time::Duration;

use kcallbacks::driver_entry;
use kcallbacks::registrations::report::outcome_word;
use kcb_proto::{
    EventRecord, GetReportRequest, IOCTL_KCB_GET_REPORT, IOCTL_KCB_READ_EVENTS, ImageLoadPayload,
    ReadEventsRequest, RegistrationState, SourceId, bytes_of, decode_read_events, decode_report,
    read_events_buffer_size,
};
use ntsim::verifier::codes;
use ntsim::{Kernel, poll_until};
use wdk_sys::{NTSTATUS, STATUS_SUCCESS};

pub const C4: u32 = codes::DRIVER_VERIFIER_DETECTED_VIOLATION;
pub const CE: u32 = codes::DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS;
pub const DEVICE: &str = "\\Device\\KCallbacks";
/// `GUID_DEVINTERFACE_VOLUME` (ntddstor.h), the interface class the driver
/// watches.
pub const VOLUME: wdk_sys::GUID = wdk_sys::GUID {
    Data1: 0x53F5_630D,
    Data2: 0xB6BF,
    Data3: 0x11D0,
    Data4: [0x94, 0xF2, 0x00, 0xA0, 0xC9, 0x1E, 0xFB, 0x8B],
};
/// How long the drain may take to move an event to the client queue (it
/// wakes every 100 ms).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

pub fn boot() -> Kernel {
    Kernel::boot().with_driver("kcallbacks", driver_entry)
}

/// Boots with `Parameters` values set (the rings come from pool at each
/// load, so nothing from an earlier test is queued).
pub fn boot_with(parameters: &[(&str, u32)]) -> Kernel {
    let kernel = boot();
    let key = parameters_key();
    for (name, value) in parameters {
        ntsim::registry::set_dword(&key, name, *value);
    }
    kernel
}

/// Loads the driver; `DriverEntry` must succeed.
pub fn load(kernel: &mut Kernel) {
    assert_eq!(
        kernel.load_driver(),
        STATUS_SUCCESS,
        "DriverEntry: {:#?}",
        kernel.debug_output()
    );
}

pub fn loaded() -> Kernel {
    let mut kernel = boot();
    load(&mut kernel);
    kernel
}

pub fn loaded_with(parameters: &[(&str, u32)]) -> Kernel {
    let mut kernel = boot_with(parameters);
    load(&mut kernel);
    kernel
}

/// Loads the driver with `exports` missing from the kernel's export table.
pub fn loaded_without(exports: &[&str]) -> Kernel {
    let mut kernel = boot();
    for name in exports {
        ntsim::exports::hide(name);
    }
    load(&mut kernel);
    kernel
}

/// The driver's service key in the model's registry.
pub fn service_key() -> String {
    ntsim::kernel::service_key("kcallbacks")
}

/// Its `Parameters` subkey, where the driver reads its configuration.
pub fn parameters_key() -> String {
    format!("{}\\Parameters", service_key())
}

/// What the service control manager creates, so a test can add the
/// `Parameters` subkey before the first load.
pub fn prepare_service() {
    ntsim::kernel::create_service("kcallbacks");
}

/// The DDI calls `DriverEntry` made that fault injection can fail, in order.
pub fn failable_driver_entry_calls(kernel: &Kernel) -> Vec<&'static str> {
    kernel
        .driver_entry_calls()
        .into_iter()
        .filter(|c| c.failable)
        .map(|c| c.ddi)
        .collect()
}

/// The driver's lines, without the drain's per-event lines (which depend on
/// what earlier tests left in the driver's static ring).
pub fn driver_lines(kernel: &Kernel) -> Vec<String> {
    kernel
        .debug_output()
        .into_iter()
        .filter(|l| !l.starts_with("kcallbacks: event ") && !l.ends_with("lines suppressed"))
        .collect()
}

/// Unloads the driver and checks that nothing it registered is left.
pub fn unload_clean(kernel: &mut Kernel) {
    kernel.unload_driver();
    assert_nothing_left(kernel);
}

/// Asserts the driver printed a line for which `matches` holds; `what`
/// describes it in the failure message, with every line printed.
pub fn assert_printed(kernel: &Kernel, what: &str, matches: impl Fn(&str) -> bool) {
    let lines = driver_lines(kernel);
    assert!(lines.iter().any(|l| matches(l)), "no line {what} in {lines:#?}");
}

/// Asserts the driver printed exactly `line`.
pub fn assert_line(kernel: &Kernel, line: &str) {
    assert_printed(kernel, &format!("{line:?}"), |l| l == line);
}

/// Asserts that nothing the driver registered is left in the model (the
/// unload checks cover every callback family; this adds the I/O manager's
/// and the pool's view).
pub fn assert_nothing_left(kernel: &Kernel) {
    let driver = kernel.driver_object_address();
    let devices: Vec<_> = ntsim::io::devices()
        .into_iter()
        .filter(|d| Some(d.driver) == driver)
        .collect();
    none_left("devices", &devices);
    none_left("symbolic links", &ntsim::io::symbolic_links());
    none_left("load-image routines", &ntsim::ps::load_image_routines());
    assert!(
        ntsim::thread::system_threads().iter().all(|t| t.terminated),
        "system thread still running"
    );
    none_left("kernel handles", &ntsim::thread::open_handles());
    none_left("pool blocks", &ntsim::pool::outstanding());
    assert!(
        ntsim::excallback::objects()
            .iter()
            .all(|o| o.driver_references == 0 && o.callbacks.is_empty())
    );
    kernel.assert_no_bugchecks();
}

/// Asserts the model holds no `what` (printed if it does).
fn none_left<T: std::fmt::Debug>(what: &str, left: &[T]) {
    assert!(left.is_empty(), "{what} left: {left:?}");
}

pub fn get_report(kernel: &mut Kernel) -> (NTSTATUS, Vec<u8>) {
    kernel.device_io_control(
        IOCTL_KCB_GET_REPORT,
        bytes_of(&GetReportRequest::new()),
        kcb_proto::REPORT_BUFFER_SIZE,
    )
}

pub fn read_events(kernel: &mut Kernel, max: usize) -> Vec<EventRecord> {
    let (status, out) = kernel.device_io_control(
        IOCTL_KCB_READ_EVENTS,
        bytes_of(&ReadEventsRequest::new(0)),
        read_events_buffer_size(max),
    );
    assert_eq!(status, STATUS_SUCCESS);
    let batch = decode_read_events(&out).expect("a valid READ_EVENTS reply");
    batch.records().map(|r| r.expect("a valid record")).collect()
}

/// Reads events into `all` until `done` holds for everything in it (bounded).
pub fn read_more(
    kernel: &mut Kernel,
    all: &mut Vec<EventRecord>,
    what: &str,
    done: impl Fn(&[EventRecord]) -> bool,
) {
    let arrived = poll_until(DRAIN_TIMEOUT, || {
        all.extend(read_events(kernel, 64));
        done(all)
    });
    assert!(
        arrived,
        "{what}: not within {DRAIN_TIMEOUT:?}; read {} records: {:?}",
        all.len(),
        all.iter().map(EventRecord::source).collect::<Vec<_>>()
    );
}

/// Reads events until `done` holds for everything read (bounded).
pub fn read_until(
    kernel: &mut Kernel,
    what: &str,
    done: impl Fn(&[EventRecord]) -> bool,
) -> Vec<EventRecord> {
    let mut all = Vec::new();
    read_more(kernel, &mut all, what, done);
    all
}

/// The records of `source`.
pub fn of(records: &[EventRecord], source: SourceId) -> Vec<EventRecord> {
    records
        .iter()
        .filter(|r| r.source() == Some(source))
        .copied()
        .collect()
}

/// The records of `source` whose header names process `pid`.
pub fn select(records: &[EventRecord], source: SourceId, pid: u64) -> Vec<EventRecord> {
    records
        .iter()
        .filter(|r| r.source() == Some(source) && r.header.pid == pid)
        .copied()
        .collect()
}

pub fn image_name(record: &EventRecord) -> Option<String> {
    record
        .payload::<ImageLoadPayload>()
        .map(|p| String::from_utf16_lossy(p.name.as_units()))
}

/// Reads events until one for image `name` arrives (bounded).
pub fn wait_for_image_event(kernel: &mut Kernel, name: &str) -> EventRecord {
    let mut found = None;
    let arrived = poll_until(DRAIN_TIMEOUT, || {
        found = read_events(kernel, 32)
            .into_iter()
            .find(|r| image_name(r).as_deref() == Some(name));
        found.is_some()
    });
    assert!(
        arrived,
        "no READ_EVENTS record for {name} within {DRAIN_TIMEOUT:?}"
    );
    found.unwrap_or_else(|| unreachable!())
}

/// The `GET_REPORT` entries: (name, state, status, detail).
pub fn report_details(kernel: &mut Kernel) -> Vec<(String, RegistrationState, i32, u32)> {
    let (status, out) = get_report(kernel);
    assert_eq!(status, STATUS_SUCCESS);
    let report = decode_report(&out).expect("report");
    report
        .entries
        .iter()
        .map(|e| {
            (
                e.name_str().to_owned(),
                e.state().expect("known state"),
                e.status,
                e.detail,
            )
        })
        .collect()
}

/// The `GET_REPORT` entries: (name, state, status).
pub fn report_entries(kernel: &mut Kernel) -> Vec<(String, RegistrationState, i32)> {
    report_details(kernel)
        .into_iter()
        .map(|(name, state, status, _)| (name, state, status))
        .collect()
}

/// The line the driver prints for a report outcome (a detail in
/// parentheses may follow).
/// The line `report::print_outcome` prints (src/report.rs): closing lines
/// carry no status.
pub fn outcome_line(verb: &str, name: &str, state: RegistrationState, status: i32) -> String {
    if state == RegistrationState::Removed {
        return format!("kcallbacks: {verb} {name}: removed");
    }
    format!(
        "kcallbacks: {verb} {name}: {} status={:#010X}",
        outcome_word(state),
        status.cast_unsigned()
    )
}

/// Unloads the driver. While the HAL PMI handler is installed the driver
/// refuses (no `DriverUnload`, src/hal.rs): that refusal is checked (the
/// driver stays loaded, the handler stays installed), then the unload
/// routine is put back and the driver unloaded — on Windows only a reboot
/// removes such a driver, but every test here shares the driver's static
/// state, so the next one must start clean.
pub fn unload_even_if_refused(kernel: &mut Kernel) {
    if kernel.unload_driver() {
        return;
    }
    assert!(kernel.is_loaded(), "a refused unload leaves the driver loaded");
    assert_ne!(ntsim::power::profile_handler(), 0, "only the PMI handler refuses");
    let object = kernel.driver_object();
    // SAFETY: the loaded driver's object; nothing else uses it now.
    unsafe { (*object).DriverUnload = Some(kcallbacks::driver::driver_unload) };
    assert!(kernel.unload_driver());
}

/// Pool blocks outstanding besides the blocks the driver holds from
/// `DriverEntry` to unload: its cost tables (`kcallbacks::pipeline::cost::POOL_TAG`)
/// and its event rings (`kcallbacks::kernel::pool::RING_TAG`).
pub fn pool_outstanding_besides_held_blocks() -> Vec<ntsim::pool::Allocation> {
    ntsim::pool::outstanding()
        .into_iter()
        .filter(|a| {
            a.tag != kcallbacks::pipeline::cost::POOL_TAG && a.tag != kcallbacks::kernel::pool::RING_TAG
        })
        .collect()
}
