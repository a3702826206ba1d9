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

use kcallbacks::io::{InterruptConnection, guid_bytes};
use kcallbacks::report::Api;
use kcallbacks::rings;
use kcb_proto::flight::{FLIGHT_GUID, FLIGHT_HEADER_SIZE, flight_size, records_within};
use kcb_proto::{
    BootDriverReinitPayload, BoundExceptionPayload, BugCheckPayload, BugCheckReasonPayload,
    DriverReinitPayload, EventRecord, FloodPayload, FloodRequest, FloodResponse, FsRegistrationPayload,
    IOCTL_KCB_FLOOD, LastChanceShutdownPayload, NmiPayload, PageOfflinePayload, PlugPlayPayload,
    PowerSettingPayload, ProcessorChangePayload, ProfileInterruptPayload, RECORD_SIZE, RegistrationState,
    ShutdownPayload, SourceId, bytes_of, decode_report, flood_checksum, read_pod, report_detail,
};
use ntsim::context::{PROCESSOR_COUNT, SYSTEM_PID};
use ntsim::ioreg::InterruptLine;
use ntsim::irql::{
    APC_LEVEL, DISPATCH_LEVEL, HIGH_LEVEL, MAX_DIRQL, PASSIVE_LEVEL, PROFILE_LEVEL, with_irql,
};
use ntsim::kernel::service_key;
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

mod common;
#[allow(clippy::wildcard_imports)]
use common::*;

// --- Helpers -----------------------------------------------------------------

/// `GUID_DEVINTERFACE_VOLUME`, the interface class the driver watches.
const VOLUME: GUID = GUID {
    Data1: 0x53F5_630D,
    Data2: 0xB6BF,
    Data3: 0x11D0,
    Data4: [0x94, 0xF2, 0x00, 0xA0, 0xC9, 0x1E, 0xFB, 0x8B],
};
const VOLUME_LINK: &str = "\\??\\STORAGE#Volume#{ntsim-ke-io}#{53f5630d-b6bf-11d0-94f2-00a0c91efb8b}";
/// `FILE_DEVICE_DISK_FILE_SYSTEM`.
const DISK_FILE_SYSTEM: u32 = 8;

/// Boots with the driver and with `Parameters` values set (the rings come
/// from pool at each load, so nothing from an earlier test is queued).
fn boot_with(parameters: &[(&str, u32)]) -> Kernel {
    let kernel = boot();
    let key = format!("{}\\Parameters", service_key("kcallbacks"));
    for (name, value) in parameters {
        ntsim::registry::set_dword(&key, name, *value);
    }
    kernel
}

fn load(kernel: &mut Kernel) {
    assert_eq!(
        kernel.load_driver(),
        STATUS_SUCCESS,
        "{:#?}",
        driver_lines(kernel)
    );
}

fn loaded_with(parameters: &[(&str, u32)]) -> Kernel {
    let mut kernel = boot_with(parameters);
    load(&mut kernel);
    kernel
}

/// The report: name -> (state, status, detail).
fn report(kernel: &mut Kernel) -> HashMap<String, (RegistrationState, i32, u32)> {
    let (status, out) = get_report(kernel);
    assert_eq!(status, STATUS_SUCCESS);
    let report = decode_report(&out).expect("report");
    report
        .entries
        .iter()
        .map(|e| {
            (
                e.name_str().to_owned(),
                (e.state().expect("known state"), e.status, e.detail),
            )
        })
        .collect()
}

fn entry(kernel: &mut Kernel, api: Api) -> (RegistrationState, i32, u32) {
    *report(kernel)
        .get(api.name())
        .unwrap_or_else(|| panic!("no report entry for {}", api.name()))
}

/// Reads events until `done` holds for everything read so far (bounded).
fn collect_until(kernel: &mut Kernel, what: &str, done: impl Fn(&[EventRecord]) -> bool) -> Vec<EventRecord> {
    let mut all = Vec::new();
    let arrived = poll_until(DRAIN_TIMEOUT, || {
        all.extend(read_events(kernel, 64));
        done(&all)
    });
    assert!(
        arrived,
        "{what}: not within {DRAIN_TIMEOUT:?}; got {:?}",
        sources(&all)
    );
    all
}

fn sources(records: &[EventRecord]) -> Vec<Option<SourceId>> {
    records.iter().map(EventRecord::source).collect()
}

fn of(records: &[EventRecord], source: SourceId) -> Vec<EventRecord> {
    records
        .iter()
        .filter(|r| r.source() == Some(source))
        .copied()
        .collect()
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
    let half_size = 64 + kcallbacks::ke::SUMMARY_EVENTS * RECORD_SIZE;
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

fn assert_removed_line(kernel: &Kernel, api: Api) {
    let line = outcome_line("unregister", api.name(), RegistrationState::Removed, 0);
    assert!(
        driver_lines(kernel).iter().any(|l| l.starts_with(&line)),
        "missing {line:?}: {:#?}",
        driver_lines(kernel)
    );
}

// --- 1, 2: registration, removal and the call context of each callback ----------

#[test]
fn ke_callbacks_register_fire_in_their_documented_context_and_unregister() {
    let mut kernel = loaded_with(&[]);
    for api in [
        Api::NmiCallback,
        Api::BoundCallback,
        Api::BugCheckCallback,
        Api::BugCheckReasonCallback,
        Api::ProcessorChangeCallback,
    ] {
        assert_eq!(
            entry(&mut kernel, api),
            (RegistrationState::Registered, 0, 0),
            "{}",
            api.name()
        );
    }

    // KE_PROCESSOR_CHANGE_ADD_EXISTING: StartNotify for every active
    // processor, then CompleteNotify for each, synchronously, at PASSIVE_LEVEL
    // (§11.3), in DriverEntry's thread.
    let n = PROCESSOR_COUNT as usize;
    let events = collect_until(
        &mut kernel,
        "processor change",
        count_of(SourceId::ProcessorChange, 2 * n),
    );
    let changes = of(&events, SourceId::ProcessorChange);
    let seen: Vec<(u32, u32)> = changes
        .iter()
        .map(|r| {
            let p = r.payload::<ProcessorChangePayload>().expect("payload");
            assert_eq!((p.group, u32::from(p.group_index)), (0, p.processor_number));
            (p.state, p.processor_number)
        })
        .collect();
    let expected: Vec<(u32, u32)> = (0..PROCESSOR_COUNT)
        .map(|i| (0, i))
        .chain((0..PROCESSOR_COUNT).map(|i| (1, i)))
        .collect();
    assert_eq!(seen, expected, "all StartNotify, then all CompleteNotify");
    assert!(
        changes
            .iter()
            .all(|r| r.header.irql == PASSIVE_LEVEL && r.header.pid == SYSTEM_PID)
    );

    // A hot-added processor: StartNotify then CompleteNotify.
    assert_eq!(trigger::processor_add(PROCESSOR_COUNT), STATUS_SUCCESS);
    let events = collect_until(&mut kernel, "hot add", count_of(SourceId::ProcessorChange, 2));
    let added: Vec<(u32, u32)> = of(&events, SourceId::ProcessorChange)
        .iter()
        .map(|r| {
            let p = r.payload::<ProcessorChangePayload>().expect("payload");
            (p.state, p.processor_number)
        })
        .collect();
    assert_eq!(added, [(0, PROCESSOR_COUNT), (1, PROCESSOR_COUNT)]);

    // NMI at HIGH_LEVEL: the driver does not claim it.
    assert!(!trigger::nmi(), "the driver returns FALSE");
    // BOUND in the faulting process's context; the driver lets the search go on.
    assert_eq!(
        trigger::bound_exception(0x3A00),
        0,
        "BoundExceptionContinueSearch"
    );
    // Bug check: both callbacks at HIGH_LEVEL.
    let report = trigger::bug_check_with(0xE2, BugCheckOptions::default());
    assert_eq!(report.callback_buffers.len(), 1);
    assert_eq!(report.secondary.len(), 1);

    let events = collect_until(&mut kernel, "ke events", |all| {
        [
            SourceId::Nmi,
            SourceId::BoundException,
            SourceId::BugCheck,
            SourceId::BugCheckReason,
        ]
        .iter()
        .all(|s| count_of(*s, 1)(all))
    });
    let nmi = of(&events, SourceId::Nmi)[0];
    assert_eq!(nmi.header.irql, HIGH_LEVEL);
    assert_eq!(
        nmi.payload::<NmiPayload>().unwrap().handled,
        0,
        "first (only) callback: Handled = FALSE"
    );
    let bound = of(&events, SourceId::BoundException)[0];
    assert_eq!(
        (bound.header.irql, bound.header.pid),
        (PASSIVE_LEVEL, 0x3A00),
        "the exception's context"
    );
    assert!(bound.payload::<BoundExceptionPayload>().unwrap().count >= 1);
    for source in [SourceId::BugCheck, SourceId::BugCheckReason] {
        assert_eq!(of(&events, source)[0].header.irql, HIGH_LEVEL, "{source}");
    }
    let reason = of(&events, SourceId::BugCheckReason)[0];
    let reason = reason.payload::<BugCheckReasonPayload>().unwrap();
    assert_eq!(reason.reason, KbCallbackSecondaryDumpData.cast_unsigned());
    assert_eq!(reason.data_length, report.secondary[0].data.len() as u64);

    ntsim::dbgprint::clear();
    kernel.unload_driver();
    for api in [
        Api::NmiCallback,
        Api::BoundCallback,
        Api::BugCheckCallback,
        Api::BugCheckReasonCallback,
        Api::ProcessorChangeCallback,
    ] {
        assert_removed_line(&kernel, api);
    }
    // Nothing fires any more.
    assert!(!trigger::nmi());
    assert_eq!(trigger::bound_exception(0x3A00), 0);
    let after = trigger::bug_check_with(0xE2, BugCheckOptions::default());
    assert!(after.callback_buffers.is_empty() && after.secondary.is_empty());
    assert_nothing_left(&kernel);
}

#[test]
fn io_po_and_whea_callbacks_register_fire_in_their_documented_context_and_unregister() {
    let mut kernel = boot_with(&[]);
    // An interface that exists before the driver registers is replayed at once.
    ntsim::ioreg::add_device_interface(VOLUME, VOLUME_LINK);
    load(&mut kernel);
    for api in [
        Api::ShutdownNotification,
        Api::LastChanceShutdownNotification,
        Api::PnpDeviceInterface,
        Api::PnpHardwareProfile,
        Api::FsRegistrationChange,
        Api::DriverReinitialization,
        Api::PowerSettingMonitor,
        Api::PowerSettingLid,
        Api::PowerSettingAcDc,
        Api::PowerSettingConsoleDisplay,
        Api::PageOfflineNotification,
    ] {
        assert_eq!(
            entry(&mut kernel, api),
            (RegistrationState::Registered, 0, 0),
            "{}",
            api.name()
        );
    }
    // Not started at boot (Start = 3): the boot variant is not requested.
    assert_eq!(
        entry(&mut kernel, Api::BootDriverReinitialization),
        (
            RegistrationState::DisabledByConfig,
            0,
            report_detail::NOT_BOOT_START
        )
    );
    assert!(
        driver_lines(&kernel)
            .iter()
            .any(|l| l.contains("IoRegisterBootDriverReinitialization") && l.contains("not started at boot")),
        "{:#?}",
        driver_lines(&kernel)
    );

    // What DriverEntry's registrations replayed, and the reinitialization
    // routine the I/O manager called after DriverEntry returned.
    let events = collect_until(&mut kernel, "load-time events", |all| {
        count_of(SourceId::PlugPlay, 1)(all)
            && count_of(SourceId::FsRegistration, 1)(all)
            && count_of(SourceId::DriverReinit, 1)(all)
            && count_of(SourceId::PowerSetting, 4)(all)
    });
    let pnp = of(&events, SourceId::PlugPlay);
    assert_eq!(
        pnp.len(),
        1,
        "one existing interface: reported once (twice at most, §13.3)"
    );
    let payload = pnp[0].payload::<PlugPlayPayload>().unwrap();
    assert_eq!(
        payload.event,
        guid_bytes(&ntsim::ioreg::GUID_DEVICE_INTERFACE_ARRIVAL)
    );
    assert_eq!(payload.class, guid_bytes(&VOLUME));
    assert_eq!(
        String::from_utf16_lossy(payload.symbolic_link.as_units()),
        VOLUME_LINK
    );
    assert_eq!(pnp[0].header.irql, PASSIVE_LEVEL);

    let fs = of(&events, SourceId::FsRegistration);
    assert_eq!(fs.len(), 1, "the one registered file system (NTFS) replayed");
    let payload = fs[0].payload::<FsRegistrationPayload>().unwrap();
    assert_eq!((payload.device_type, payload.active), (DISK_FILE_SYSTEM, 1));
    assert!(
        ntsim::io::devices()
            .iter()
            .any(|d| d.address as u64 == payload.device_object)
    );
    assert_eq!(fs[0].header.irql, PASSIVE_LEVEL);

    let reinit = of(&events, SourceId::DriverReinit);
    assert_eq!(reinit.len(), 1);
    assert_eq!(
        reinit[0].payload::<DriverReinitPayload>().unwrap().count,
        1,
        "Count includes this call"
    );
    assert_eq!(
        (reinit[0].header.irql, reinit[0].header.pid),
        (PASSIVE_LEVEL, SYSTEM_PID)
    );
    assert!(of(&events, SourceId::BootDriverReinit).is_empty());

    // Power settings: each called once right after registration with the current value.
    let power = of(&events, SourceId::PowerSetting);
    let values: Vec<([u8; 16], u32, [u8; 4])> = power
        .iter()
        .map(|r| {
            assert_eq!(r.header.irql, PASSIVE_LEVEL);
            let p = r.payload::<PowerSettingPayload>().unwrap();
            (p.setting, p.value_length, p.value[..4].try_into().unwrap())
        })
        .collect();
    assert_eq!(
        values,
        [
            (
                guid_bytes(&ntsim::power::GUID_MONITOR_POWER_ON),
                4,
                1u32.to_le_bytes()
            ),
            (
                guid_bytes(&ntsim::power::GUID_LIDSWITCH_STATE_CHANGE),
                4,
                1u32.to_le_bytes()
            ),
            (
                guid_bytes(&ntsim::power::GUID_ACDC_POWER_SOURCE),
                4,
                0u32.to_le_bytes()
            ),
            (
                guid_bytes(&ntsim::power::GUID_CONSOLE_DISPLAY_STATE),
                4,
                1u32.to_le_bytes()
            ),
        ]
    );

    // Later events of each family.
    assert_eq!(
        trigger::power_setting_change(ntsim::power::GUID_LIDSWITCH_STATE_CHANGE, &0u32.to_le_bytes()),
        1
    );
    let link2 = "\\??\\STORAGE#Volume#{ntsim-ke-io-2}#{53f5630d-b6bf-11d0-94f2-00a0c91efb8b}";
    assert_eq!(trigger::device_interface_arrival(VOLUME, link2), 1);
    assert_eq!(
        trigger::hardware_profile_change(ntsim::ioreg::GUID_HWPROFILE_CHANGE_COMPLETE),
        1
    );
    let new_fs = ntsim::ioreg::interrupt_device("NtsimKeIoFs", &[]);
    assert_eq!(trigger::file_system_registered(new_fs), 1);
    assert_eq!(
        trigger::page_offline(0x1234, 0x41, true),
        [0],
        "claims no page as handled"
    );
    let events = collect_until(&mut kernel, "later events", |all| {
        count_of(SourceId::PowerSetting, 1)(all)
            && count_of(SourceId::PlugPlay, 2)(all)
            && count_of(SourceId::FsRegistration, 1)(all)
            && count_of(SourceId::PageOffline, 1)(all)
    });
    let lid = of(&events, SourceId::PowerSetting)[0];
    assert_eq!(
        lid.payload::<PowerSettingPayload>().unwrap().value[..4],
        0u32.to_le_bytes()
    );
    let pnp = of(&events, SourceId::PlugPlay);
    let arrival = pnp[0].payload::<PlugPlayPayload>().unwrap();
    assert_eq!(String::from_utf16_lossy(arrival.symbolic_link.as_units()), link2);
    let profile = pnp[1].payload::<PlugPlayPayload>().unwrap();
    assert_eq!(
        profile.category,
        EventCategoryHardwareProfileChange.cast_unsigned()
    );
    assert_eq!(
        profile.event,
        guid_bytes(&ntsim::ioreg::GUID_HWPROFILE_CHANGE_COMPLETE)
    );
    assert!(pnp.iter().all(|r| r.header.irql == PASSIVE_LEVEL));
    let fs = of(&events, SourceId::FsRegistration)[0];
    let fs_payload = fs.payload::<FsRegistrationPayload>().unwrap();
    assert_eq!((fs_payload.device_object, fs_payload.active), (new_fs as u64, 1));
    let page = of(&events, SourceId::PageOffline)[0];
    let page_payload = page.payload::<PageOfflinePayload>().unwrap();
    assert_eq!(
        (page_payload.pfn, page_payload.decision, page_payload.flags),
        (0x1234, 0, 0x41 | kcb_proto::PAGE_OFFLINE_POISONED)
    );

    // Shutdown: one IRP_MJ_SHUTDOWN per registration, normal first, at <= APC_LEVEL.
    let device = ntsim::io::device(DEVICE).expect("the control device").address;
    assert_eq!(
        ntsim::ioreg::shutdown_registrations(),
        [(device, false), (device, true)]
    );
    ntsim::dbgprint::clear();
    assert_eq!(trigger::shutdown(), [STATUS_SUCCESS, STATUS_SUCCESS]);
    let events = collect_until(&mut kernel, "shutdown", |all| {
        count_of(SourceId::Shutdown, 1)(all) && count_of(SourceId::LastChanceShutdown, 1)(all)
    });
    let normal = of(&events, SourceId::Shutdown);
    let last = of(&events, SourceId::LastChanceShutdown);
    assert_eq!((normal.len(), last.len()), (1, 1));
    assert!(
        normal[0].header.sequence < last[0].header.sequence,
        "normal before last chance"
    );
    assert!(normal[0].header.irql <= APC_LEVEL && last[0].header.irql <= APC_LEVEL);
    assert_eq!(
        normal[0].payload::<ShutdownPayload>().unwrap().major_function,
        wdk_sys::IRP_MJ_SHUTDOWN
    );
    assert_eq!(
        last[0]
            .payload::<LastChanceShutdownPayload>()
            .unwrap()
            .major_function,
        wdk_sys::IRP_MJ_SHUTDOWN
    );
    let lines = driver_lines(&kernel);
    let normal_line = lines
        .iter()
        .position(|l| l.starts_with("kcallbacks: shutdown: ") && l.contains(" events seen, "));
    let last_line = lines
        .iter()
        .position(|l| l.starts_with("kcallbacks: shutdown (last chance): "));
    assert!(
        normal_line.is_some() && last_line.is_some() && normal_line < last_line,
        "{lines:#?}"
    );

    ntsim::dbgprint::clear();
    kernel.unload_driver();
    for api in [
        Api::ShutdownNotification,
        Api::LastChanceShutdownNotification,
        Api::PnpDeviceInterface,
        Api::PnpHardwareProfile,
        Api::FsRegistrationChange,
        Api::DriverReinitialization,
        Api::PowerSettingMonitor,
        Api::PowerSettingLid,
        Api::PowerSettingAcDc,
        Api::PowerSettingConsoleDisplay,
        Api::PageOfflineNotification,
    ] {
        assert_removed_line(&kernel, api);
    }
    assert!(ntsim::ioreg::shutdown_registrations().is_empty());
    assert_eq!(
        trigger::power_setting_change(ntsim::power::GUID_MONITOR_POWER_ON, &0u32.to_le_bytes()),
        0
    );
    assert_eq!(
        trigger::hardware_profile_change(ntsim::ioreg::GUID_HWPROFILE_CHANGE_COMPLETE),
        0
    );
    assert!(trigger::page_offline(0x99, 0, false).is_empty());
    // The PnP entries were removed with the Ex routine (it waits for running callbacks).
    let unload_calls: Vec<&str> = ntsim::ddi::calls_in(ntsim::context::Phase::DriverUnload)
        .iter()
        .map(|c| c.ddi)
        .collect();
    assert_eq!(
        unload_calls
            .iter()
            .filter(|c| **c == "IoUnregisterPlugPlayNotificationEx")
            .count(),
        2
    );
    assert_nothing_left(&kernel);
}

#[test]
fn last_chance_shutdown_alone_is_recorded_as_last_chance() {
    // Regression: the driver took the first IRP_MJ_SHUTDOWN for the normal
    // notification even when only the last-chance one was registered.
    let mut kernel = loaded_with(&[("EnableShutdown", 0)]);
    assert_eq!(
        entry(&mut kernel, Api::ShutdownNotification).0,
        RegistrationState::DisabledByConfig
    );
    assert_eq!(
        entry(&mut kernel, Api::LastChanceShutdownNotification).0,
        RegistrationState::Registered
    );
    assert_eq!(trigger::shutdown(), [STATUS_SUCCESS]);
    let events = collect_until(
        &mut kernel,
        "last chance",
        count_of(SourceId::LastChanceShutdown, 1),
    );
    assert!(
        of(&events, SourceId::Shutdown).is_empty(),
        "{:?}",
        sources(&events)
    );
    assert!(
        driver_lines(&kernel)
            .iter()
            .any(|l| l.starts_with("kcallbacks: shutdown (last chance): "))
    );
    kernel.unload_driver();
    assert_nothing_left(&kernel);
    drop(kernel);

    // The same driver image loaded again (statics kept, as in these tests):
    // both registered, the first IRP is the normal one again.
    let mut kernel = loaded_with(&[]);
    assert_eq!(trigger::shutdown(), [STATUS_SUCCESS, STATUS_SUCCESS]);
    let events = collect_until(&mut kernel, "both", |all| {
        count_of(SourceId::Shutdown, 1)(all) && count_of(SourceId::LastChanceShutdown, 1)(all)
    });
    assert_eq!(of(&events, SourceId::Shutdown).len(), 1);
    kernel.unload_driver();
    assert_nothing_left(&kernel);
}

#[test]
fn boot_driver_reinitialization_only_when_started_at_boot() {
    let mut kernel = boot_with(&[]);
    let key = service_key("kcallbacks");
    ntsim::registry::set_dword(&key, "Type", 1);
    ntsim::registry::set_dword(&key, "Start", 0);
    ntsim::registry::set_dword(&key, "ErrorControl", 1);
    load(&mut kernel);
    assert_eq!(
        entry(&mut kernel, Api::BootDriverReinitialization),
        (RegistrationState::Registered, 0, 0)
    );
    assert_eq!(
        entry(&mut kernel, Api::DriverReinitialization),
        (RegistrationState::Registered, 0, 0)
    );
    let events = collect_until(&mut kernel, "reinit", |all| {
        count_of(SourceId::DriverReinit, 1)(all) && count_of(SourceId::BootDriverReinit, 1)(all)
    });
    let normal = of(&events, SourceId::DriverReinit)[0];
    let boot_reinit = of(&events, SourceId::BootDriverReinit)[0];
    assert!(
        normal.header.sequence < boot_reinit.header.sequence,
        "normal routines first"
    );
    assert_eq!(boot_reinit.payload::<BootDriverReinitPayload>().unwrap().count, 1);
    assert_eq!(
        (boot_reinit.header.irql, boot_reinit.header.pid),
        (PASSIVE_LEVEL, SYSTEM_PID)
    );
    kernel.unload_driver();
    assert_nothing_left(&kernel);
}

// --- HAL ---------------------------------------------------------------------------

const unsafe extern "C" fn foreign_profile_handler(_frame: *mut c_void) {}

#[test]
fn profile_interrupt_handler_only_when_enabled_and_cleared_at_unload() {
    // Off by default: the slot is never touched.
    let mut kernel = loaded_with(&[]);
    assert_eq!(
        entry(&mut kernel, Api::HalProfileInterrupt).0,
        RegistrationState::DisabledByConfig
    );
    assert_eq!(ntsim::power::profile_handler(), 0);
    assert!(!trigger::profile_interrupt());
    kernel.unload_driver();
    assert_nothing_left(&kernel);
    drop(kernel);

    let mut kernel = loaded_with(&[("EnableProfileInterrupt", 1)]);
    assert_eq!(
        entry(&mut kernel, Api::HalProfileInterrupt),
        (RegistrationState::Registered, 0, 0)
    );
    assert_ne!(
        ntsim::power::profile_handler(),
        0,
        "HalSetSystemInformation stored the handler"
    );
    let made = ntsim::pool::count_allocations(|| {
        assert!(trigger::profile_interrupt());
        assert!(trigger::profile_interrupt());
    });
    assert_eq!(made, 0);
    let events = collect_until(&mut kernel, "PMI", count_of(SourceId::ProfileInterrupt, 2));
    let pmi = of(&events, SourceId::ProfileInterrupt);
    assert!(pmi.iter().all(|r| r.header.irql == PROFILE_LEVEL));
    let counts: Vec<u64> = pmi
        .iter()
        .map(|r| r.payload::<ProfileInterruptPayload>().unwrap().count)
        .collect();
    assert_eq!(counts[1], counts[0] + 1);
    ntsim::dbgprint::clear();
    // The driver refuses to unload while the handler is installed (issue
    // 12, item 6; tests/kernel_model_hardening.rs); once it is unloaded
    // after all, the slot is NULL again.
    unload_even_if_refused(&mut kernel);
    assert_eq!(
        ntsim::power::profile_handler(),
        0,
        "unload sets the slot back to NULL"
    );
    assert_removed_line(&kernel, Api::HalProfileInterrupt);
    assert_nothing_left(&kernel);
    drop(kernel);

    // A handler left in the slot at unload is caught (proof of the check).
    let mut kernel = loaded_with(&[]);
    let mut handler = foreign_profile_handler as *mut c_void;
    let set = ntsim::power::HalDispatchTable
        .set_system_information
        .expect("HalSetSystemInformation");
    // SAFETY: the model's routine with a pointer-sized buffer.
    let status = unsafe {
        set(
            wdk_sys::_HAL_SET_INFORMATION_CLASS::HalProfileSourceInterruptHandler,
            8,
            (&raw mut handler).cast(),
        )
    };
    assert_eq!(status, STATUS_SUCCESS);
    kernel.unload_driver();
    let check = kernel.expect_bugcheck(CE, foreign_profile_handler as *const () as u64);
    assert!(check.text.contains("profile interrupt handler"), "{check}");
    kernel.assert_no_bugchecks();
}

#[test]
fn errata_callbacks_are_reported_and_never_called() {
    let mut kernel = loaded_with(&[]);
    assert_eq!(
        entry(&mut kernel, Api::HalErrataCallbacks),
        (
            RegistrationState::NotAvailable,
            STATUS_PROCEDURE_NOT_FOUND,
            report_detail::NOT_EXPORTED
        )
    );
    assert!(
        driver_lines(&kernel)
            .iter()
            .any(|l| l.contains("HalRegisterErrataCallbacks") && l.contains("not exported"))
    );
    kernel.unload_driver();
    drop(kernel);

    let mut kernel = boot_with(&[]);
    ntsim::exports::expose("HalRegisterErrataCallbacks");
    load(&mut kernel);
    assert_eq!(
        entry(&mut kernel, Api::HalErrataCallbacks),
        (
            RegistrationState::NotAvailable,
            STATUS_PROCEDURE_NOT_FOUND,
            report_detail::UNDOCUMENTED_PROTOTYPE
        )
    );
    assert!(
        driver_lines(&kernel)
            .iter()
            .any(|l| l.contains("HalRegisterErrataCallbacks") && l.contains("prototype is undocumented"))
    );
    kernel.unload_driver();
    // Calling the model's routine records NSIM: the driver never did.
    assert_nothing_left(&kernel);
}

// --- 3: HIGH_LEVEL routines allocate nothing and print nothing ------------------------

#[test]
fn high_level_callbacks_allocate_nothing_and_print_nothing() {
    let mut kernel = loaded_with(&[("EnableProfileInterrupt", 1), ("EnableFlood", 1)]);
    flood(&mut kernel, 10);
    ntsim::dbgprint::clear();
    let me = ntsim::context::current_tid();
    let mut report = None;
    let made = ntsim::pool::count_allocations(|| {
        assert!(!trigger::nmi());
        assert!(trigger::profile_interrupt());
        report = Some(trigger::bug_check_with(0xE2, BugCheckOptions::default()));
    });
    assert_eq!(made, 0, "a HIGH_LEVEL routine allocated pool");
    let report = report.unwrap();
    assert_eq!((report.callback_buffers.len(), report.secondary.len()), (1, 1));
    let calls = ntsim::dbgprint::debug_calls();
    assert!(
        calls.iter().all(|c| c.tid != me && c.irql <= DISPATCH_LEVEL),
        "DbgPrint from a HIGH_LEVEL routine: {calls:#?}"
    );
    let events = collect_until(&mut kernel, "high-level events", |all| {
        [
            SourceId::Nmi,
            SourceId::ProfileInterrupt,
            SourceId::BugCheck,
            SourceId::BugCheckReason,
        ]
        .iter()
        .all(|s| count_of(*s, 1)(all))
    });
    for source in [SourceId::Nmi, SourceId::BugCheck, SourceId::BugCheckReason] {
        assert_eq!(of(&events, source)[0].header.irql, HIGH_LEVEL, "{source}");
    }
    assert_eq!(
        of(&events, SourceId::ProfileInterrupt)[0].header.irql,
        PROFILE_LEVEL
    );
    unload_even_if_refused(&mut kernel);
    assert_nothing_left(&kernel);
    drop(kernel);

    // Proof that the capture and the check would show it: DbgPrint at
    // HIGH_LEVEL is recorded with its IRQL, and is 0xC4/0xE5 (above DIRQL).
    let kernel = boot();
    with_irql(HIGH_LEVEL, || {
        // SAFETY: the model's DbgPrint, a constant format; the call is the violation under test.
        unsafe { wdk_sys::ntddk::DbgPrint(c"from HIGH_LEVEL\n".as_ptr()) };
    });
    let check = kernel.expect_bugcheck(C4, 0xE5);
    assert_eq!(check.params[1], u64::from(HIGH_LEVEL));
    let calls = ntsim::dbgprint::debug_calls();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].irql > MAX_DIRQL && calls[0].text == "from HIGH_LEVEL\n");
    kernel.assert_no_bugchecks();
}

// --- 4: the flight recorder and the bug-check summary ----------------------------------

fn flood_index(record: &EventRecord) -> Option<u64> {
    record.payload::<FloodPayload>().map(|p| {
        assert_eq!(p.checksum, flood_checksum(p.index, p.total));
        p.index
    })
}

/// `kcbctl`'s channel to a driver, for commands that need none.
struct NoDriver;

impl kcbctl::Driver for NoDriver {
    fn control(&mut self, _: kcb_proto::Ioctl, _: &[u8], _: usize) -> Result<Vec<u8>, kcbctl::Error> {
        panic!("decode-dump needs no driver")
    }
}

/// Decodes `blob` with kcbctl's decode-dump, both as a library call and as
/// the `decode-dump --json FILE` command on a file; returns the records.
fn decode_with_kcbctl(blob: &[u8], tag: &str) -> Vec<EventRecord> {
    let dump = kcbctl::dump::decode_dump(blob).expect("kcbctl decodes the blob");
    assert!(dump.has_header);
    assert_eq!(dump.invalid_count(), 0);
    let records: Vec<EventRecord> = dump.records().copied().collect();
    let path = std::env::temp_dir().join(format!("kcb-flight-{}-{tag}.bin", std::process::id()));
    std::fs::write(&path, blob).expect("temp file");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let stop = AtomicBool::new(false);
    let mut console = kcbctl::Console {
        out: &mut out,
        err: &mut err,
        stop: &stop,
        poll_interval: Duration::from_millis(1),
    };
    let command = kcbctl::Command::DecodeDump {
        path: path.to_string_lossy().into_owned(),
        json: true,
    };
    kcbctl::run(&command, &mut NoDriver, &mut console).expect("decode-dump");
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8(out).expect("UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), records.len(), "{text}");
    for (line, record) in lines.iter().zip(&records) {
        assert!(
            line.starts_with(&format!("{{\"seq\":{},", record.header.sequence)),
            "{line}"
        );
    }
    records
}

/// Checks one secondary-dump answer against `maximum` and returns its records.
fn check_blob(dump: &ntsim::trigger::SecondaryDump, maximum: u32, tag: &str) -> Vec<EventRecord> {
    assert_eq!(dump.maximum_allowed, maximum);
    assert!(
        dump.data.len() <= maximum as usize,
        "{} > MaximumAllowed {maximum}",
        dump.data.len()
    );
    assert!(dump.size_query_length <= maximum && dump.out_buffer_length <= maximum);
    assert_eq!(dump.out_buffer_length as usize, dump.data.len());
    assert!(dump.own_buffer, "the blob is the driver's resident buffer");
    assert_eq!(guid_bytes(&dump.guid), FLIGHT_GUID);
    assert_eq!(guid_text(&dump.guid), "{5c1e9b2a-7f43-4d8e-9a61-0c3b5e2f8d17}");
    let records = decode_with_kcbctl(&dump.data, tag);
    // Wire format v2: the header, then each record at its real size.
    let body: usize = records.iter().map(EventRecord::wire_len).sum();
    assert_eq!(dump.data.len(), FLIGHT_HEADER_SIZE + body);
    records
}

/// The sequence of the newest `BugCheck` event in `records`.
fn bugcheck_event_sequence(records: &[EventRecord]) -> Option<u64> {
    records
        .iter()
        .rev()
        .find(|r| r.source() == Some(SourceId::BugCheck))
        .map(|r| r.header.sequence)
}

#[test]
fn flight_recorder_respects_maximum_allowed_and_holds_the_newest_events() {
    let mut kernel = loaded_with(&[("EnableFlood", 1)]);
    let drain = hold_drain();
    flood(&mut kernel, 10);
    let mut summary_bugchecks = None;

    let maxima = [
        0,
        8,
        FLIGHT_HEADER_SIZE as u32,
        100,
        RECORD_SIZE as u32,
        flight_size(1) as u32,
        flight_size(3) as u32,
        flight_size(3) as u32 + 300,
        1 << 20,
    ];
    for &maximum in &maxima {
        // SAFETY: the test holds the drain and reads no events meanwhile.
        let held = unsafe { held_records() } + 1; // + the bug check callback's own event
        let report = trigger::bug_check_with(
            0xE2,
            BugCheckOptions {
                in_buffer_length: 4096,
                maximum_allowed: maximum,
                copy_callback_buffers: true,
            },
        );
        // The summary callback ran first, once per bug check.
        let summary = active_summary_half(&report.callback_buffers[0].data);
        let count = u64::from_le_bytes(summary[32..40].try_into().unwrap());
        if let Some(previous) = summary_bugchecks {
            assert_eq!(count, previous + 1);
        }
        summary_bugchecks = Some(count);
        if (maximum as usize) < FLIGHT_HEADER_SIZE {
            assert!(
                report.secondary.is_empty(),
                "MaximumAllowed {maximum}: not even the header fits"
            );
            continue;
        }
        assert_eq!(report.secondary.len(), 1);
        let records = check_blob(&report.secondary[0], maximum, &format!("max{maximum}"));
        let expected = records_within(maximum as usize)
            .min(kcallbacks::ke::FLIGHT_RECORDS)
            .min(held);
        assert_eq!(records.len(), expected, "MaximumAllowed {maximum}");
        if records.is_empty() {
            continue;
        }
        // The newest events, oldest first, with no gap: the newest is the
        // event the bug check callback recorded just before.
        assert!(
            records
                .windows(2)
                .all(|w| w[1].header.sequence == w[0].header.sequence + 1)
        );
        let newest = records.last().unwrap();
        assert_eq!(newest.source(), Some(SourceId::BugCheck));
        // Every bug check so far added a BugCheck event, and (from the
        // second on) the previous one's BugCheckReason event.
        let floods: Vec<u64> = records.iter().filter_map(flood_index).collect();
        if maximum == flight_size(3) as u32 {
            assert_eq!(records.len(), 3);
            assert_eq!(records[1].source(), Some(SourceId::BugCheckReason));
            assert_eq!(records[0].source(), Some(SourceId::BugCheck));
        }
        if maximum == 1 << 20 {
            // Larger than the blob: capped at FLIGHT_RECORDS, flood included, in order.
            assert_eq!(floods, (0..10).collect::<Vec<_>>());
        }
    }

    // The drain moves events on every tick: the blob must still hold the
    // newest ones, now from the client queue.
    drop(drain);
    flood(&mut kernel, 5);
    assert!(poll_until(DRAIN_TIMEOUT, rings_empty));
    std::thread::sleep(Duration::from_millis(300));
    let maximum = flight_size(3) as u32;
    let report = trigger::bug_check_with(
        0xE2,
        BugCheckOptions {
            in_buffer_length: 64,
            maximum_allowed: maximum,
            copy_callback_buffers: true,
        },
    );
    let records = check_blob(&report.secondary[0], maximum, "drained");
    let floods: Vec<u64> = records.iter().filter_map(flood_index).collect();
    assert_eq!(
        floods,
        [3, 4],
        "the flood's newest records, moved to the client queue by the drain"
    );
    assert_eq!(records[2].source(), Some(SourceId::BugCheck));

    // The events in the blob are the very events READ_EVENTS delivers.
    let blob_records = records;
    let last = blob_records.last().unwrap().header.sequence;
    let delivered = collect_until(&mut kernel, "blob events", |all| {
        all.iter().any(|r| r.header.sequence == last)
    });
    for record in &blob_records {
        let same = delivered
            .iter()
            .find(|r| r.header.sequence == record.header.sequence)
            .expect("delivered");
        assert_eq!(
            bytes_of(same),
            bytes_of(record),
            "record {}",
            record.header.sequence
        );
    }
    kernel.unload_driver();
    assert_nothing_left(&kernel);
}

#[test]
fn bug_check_summary_buffer_holds_counters_and_the_newest_events() {
    let mut kernel = loaded_with(&[("EnableFlood", 1)]);
    let drain = hold_drain();
    flood(&mut kernel, 20);
    let report = trigger::bug_check_with(
        0xE2,
        BugCheckOptions {
            copy_callback_buffers: true,
            ..Default::default()
        },
    );
    let buffer = &report.callback_buffers[0];
    assert_eq!(buffer.component.as_deref(), Some("kcallbacks"));
    let summary = &buffer.data;
    assert_eq!(buffer.length as usize, summary.len());
    let summary_events = (4096 - 128) / RECORD_SIZE;
    let half_size = 64 + summary_events * RECORD_SIZE;
    assert_eq!(summary.len(), 64 + 2 * half_size, "header + two halves");
    assert_eq!(&summary[..8], b"KCBSUM02");
    let version = kcallbacks::driver::VERSION.as_bytes();
    assert_eq!(&summary[8..8 + version.len()], version);
    let half = active_summary_half(summary);
    let word = |offset: usize| u64::from_le_bytes(half[offset..offset + 8].try_into().unwrap());
    let (seen, recorded, dropped, count) = (word(8), word(16), word(24), word(40));
    // The BugCheck and BugCheckReason events are recorded after the summary was filled.
    let totals = rings::totals();
    assert_eq!(
        (seen + 2, recorded + 2, dropped),
        (totals.seen, totals.recorded, totals.dropped)
    );
    assert_eq!(count, summary_events as u64, "enough events for every slot");
    let records: Vec<EventRecord> = half[64..]
        .chunks_exact(RECORD_SIZE)
        .take(count as usize)
        .map(|c| EventRecord::from_bytes(c).expect("valid record"))
        .collect();
    let floods: Vec<u64> = records.iter().filter_map(flood_index).collect();
    assert_eq!(
        floods,
        (13..20).collect::<Vec<_>>(),
        "the newest events, oldest first"
    );
    drop(drain);
    let events = collect_until(&mut kernel, "bug check event", count_of(SourceId::BugCheck, 1));
    let event = of(&events, SourceId::BugCheck)[0];
    let payload = event.payload::<BugCheckPayload>().unwrap();
    assert_eq!(payload.buffer, buffer.address as u64);
    assert_eq!(payload.buffer_length, summary.len() as u64);
    assert_eq!(payload.records_saved, count);
    assert_eq!(event.header.sequence, records.last().unwrap().header.sequence + 1);
    assert_eq!(bugcheck_event_sequence(&events), Some(event.header.sequence));
    kernel.unload_driver();
    assert_nothing_left(&kernel);
}

// --- 5: NMI callbacks run last-registered first, Handled passed along -----------------

static NMI_ORDER: std::sync::Mutex<Vec<(&str, u8, u64)>> = std::sync::Mutex::new(Vec::new());
static CLAIM: AtomicBool = AtomicBool::new(true);

unsafe extern "C" fn nmi_before_driver(_context: *mut c_void, handled: BOOLEAN) -> BOOLEAN {
    NMI_ORDER
        .lock()
        .unwrap()
        .push(("before", handled, rings::totals().seen));
    0
}

unsafe extern "C" fn nmi_after_driver(_context: *mut c_void, handled: BOOLEAN) -> BOOLEAN {
    NMI_ORDER
        .lock()
        .unwrap()
        .push(("after", handled, rings::totals().seen));
    u8::from(CLAIM.load(Ordering::SeqCst))
}

#[test]
fn nmi_callbacks_run_in_reverse_order_and_the_driver_passes_handled_along() {
    let mut kernel = boot_with(&[]);
    // SAFETY: 'static routines, deregistered below.
    let before = unsafe { ntsim::kecb::KeRegisterNmiCallback(Some(nmi_before_driver), std::ptr::null_mut()) };
    load(&mut kernel);
    // SAFETY: as above.
    let after = unsafe { ntsim::kecb::KeRegisterNmiCallback(Some(nmi_after_driver), std::ptr::null_mut()) };
    assert!(!before.is_null() && !after.is_null());

    for claim in [true, false] {
        CLAIM.store(claim, Ordering::SeqCst);
        NMI_ORDER.lock().unwrap().clear();
        assert_eq!(
            trigger::nmi(),
            claim,
            "handled iff a routine returned TRUE; the driver never does"
        );
        let order = NMI_ORDER.lock().unwrap().clone();
        assert_eq!(order.len(), 2);
        assert_eq!(
            (order[0].0, order[0].1),
            ("after", 0),
            "last registered runs first, Handled = FALSE"
        );
        assert_eq!(
            (order[1].0, order[1].1),
            ("before", u8::from(claim)),
            "Handled passed along past the driver"
        );
        assert_eq!(
            order[1].2,
            order[0].2 + 1,
            "the driver ran (one event) between the two"
        );
        let events = collect_until(&mut kernel, "NMI", count_of(SourceId::Nmi, 1));
        let nmi = of(&events, SourceId::Nmi);
        assert_eq!(nmi.len(), 1);
        assert_eq!(
            nmi[0].payload::<NmiPayload>().unwrap().handled,
            u32::from(claim),
            "the flag it was given"
        );
        assert_eq!(nmi[0].header.irql, HIGH_LEVEL);
    }
    // SAFETY: the handles registered above.
    unsafe {
        assert_eq!(ntsim::kecb::KeDeregisterNmiCallback(after), STATUS_SUCCESS);
    }
    // SAFETY: as above.
    unsafe {
        assert_eq!(ntsim::kecb::KeDeregisterNmiCallback(before), STATUS_SUCCESS);
    }
    kernel.unload_driver();
    assert_nothing_left(&kernel);
}

// --- 6: fault injection and hidden exports ---------------------------------------------

#[test]
fn every_registration_of_these_families_fails_cleanly() {
    let cases: [(&str, u32, Api, NTSTATUS); 16] = [
        ("KeRegisterNmiCallback", 1, Api::NmiCallback, STATUS_UNSUCCESSFUL),
        (
            "KeRegisterBoundCallback",
            1,
            Api::BoundCallback,
            STATUS_UNSUCCESSFUL,
        ),
        (
            "KeRegisterBugCheckCallback",
            1,
            Api::BugCheckCallback,
            STATUS_UNSUCCESSFUL,
        ),
        (
            "KeRegisterBugCheckReasonCallback",
            1,
            Api::BugCheckReasonCallback,
            STATUS_UNSUCCESSFUL,
        ),
        (
            "KeRegisterProcessorChangeCallback",
            1,
            Api::ProcessorChangeCallback,
            STATUS_UNSUCCESSFUL,
        ),
        (
            "IoRegisterShutdownNotification",
            1,
            Api::ShutdownNotification,
            STATUS_INSUFFICIENT_RESOURCES,
        ),
        (
            "IoRegisterLastChanceShutdownNotification",
            1,
            Api::LastChanceShutdownNotification,
            STATUS_INSUFFICIENT_RESOURCES,
        ),
        (
            "IoRegisterPlugPlayNotification",
            1,
            Api::PnpDeviceInterface,
            STATUS_INSUFFICIENT_RESOURCES,
        ),
        (
            "IoRegisterPlugPlayNotification",
            2,
            Api::PnpHardwareProfile,
            STATUS_INSUFFICIENT_RESOURCES,
        ),
        (
            "IoRegisterFsRegistrationChange",
            1,
            Api::FsRegistrationChange,
            STATUS_INSUFFICIENT_RESOURCES,
        ),
        (
            "PoRegisterPowerSettingCallback",
            1,
            Api::PowerSettingMonitor,
            STATUS_INSUFFICIENT_RESOURCES,
        ),
        (
            "PoRegisterPowerSettingCallback",
            2,
            Api::PowerSettingLid,
            STATUS_INSUFFICIENT_RESOURCES,
        ),
        (
            "PoRegisterPowerSettingCallback",
            3,
            Api::PowerSettingAcDc,
            STATUS_INSUFFICIENT_RESOURCES,
        ),
        (
            "PoRegisterPowerSettingCallback",
            4,
            Api::PowerSettingConsoleDisplay,
            STATUS_INSUFFICIENT_RESOURCES,
        ),
        (
            "WheaRegisterInUsePageOfflineNotification",
            1,
            Api::PageOfflineNotification,
            STATUS_INSUFFICIENT_RESOURCES,
        ),
        (
            "HalSetSystemInformation",
            1,
            Api::HalProfileInterrupt,
            STATUS_INSUFFICIENT_RESOURCES,
        ),
    ];
    for (ddi, nth, api, reported) in cases {
        let mut kernel = boot_with(&[("EnableProfileInterrupt", 1)]);
        faults::fail_nth_on_this_thread(ddi, nth, STATUS_INSUFFICIENT_RESOURCES);
        load(&mut kernel);
        assert_eq!(faults::fired().len(), 1, "{ddi} #{nth} did not fire");
        let entries = report(&mut kernel);
        assert_eq!(
            entries[api.name()],
            (RegistrationState::Failed, reported, 0),
            "{ddi} #{nth}"
        );
        let line = outcome_line("register", api.name(), RegistrationState::Failed, reported);
        assert!(
            driver_lines(&kernel).iter().any(|l| l.starts_with(&line)),
            "{ddi} #{nth}: no {line:?}"
        );
        let failed: Vec<&String> = entries
            .iter()
            .filter(|(_, e)| e.0 == RegistrationState::Failed)
            .map(|(n, _)| n)
            .collect();
        assert_eq!(failed, [api.name()], "{ddi} #{nth}: only that one failed");
        assert_eq!(
            entries[Api::ControlDevice.name()].0,
            RegistrationState::Registered
        );
        unload_even_if_refused(&mut kernel);
        assert!(
            !driver_lines(&kernel)
                .iter()
                .any(|l| l.starts_with(&format!("kcallbacks: unregister {}", api.name()))),
            "{ddi} #{nth}: a failed registration is not removed"
        );
        assert_nothing_left(&kernel);
    }
}

#[test]
fn dynamically_resolved_routines_missing_are_reported_unavailable() {
    let cases: [(&str, &[Api]); 10] = [
        ("KeRegisterNmiCallback", &[Api::NmiCallback]),
        ("KeDeregisterNmiCallback", &[Api::NmiCallback]),
        ("KeRegisterBoundCallback", &[Api::BoundCallback]),
        ("KeDeregisterBoundCallback", &[Api::BoundCallback]),
        (
            "KeRegisterProcessorChangeCallback",
            &[Api::ProcessorChangeCallback],
        ),
        (
            "KeDeregisterProcessorChangeCallback",
            &[Api::ProcessorChangeCallback],
        ),
        (
            "PoRegisterPowerSettingCallback",
            &[
                Api::PowerSettingMonitor,
                Api::PowerSettingLid,
                Api::PowerSettingAcDc,
                Api::PowerSettingConsoleDisplay,
            ],
        ),
        (
            "PoUnregisterPowerSettingCallback",
            &[
                Api::PowerSettingMonitor,
                Api::PowerSettingLid,
                Api::PowerSettingAcDc,
                Api::PowerSettingConsoleDisplay,
            ],
        ),
        (
            "WheaRegisterInUsePageOfflineNotification",
            &[Api::PageOfflineNotification],
        ),
        (
            "WheaUnregisterInUsePageOfflineNotification",
            &[Api::PageOfflineNotification],
        ),
    ];
    for (name, apis) in cases {
        let mut kernel = boot_with(&[]);
        ntsim::exports::hide(name);
        load(&mut kernel);
        let entries = report(&mut kernel);
        for api in apis {
            assert_eq!(
                entries[api.name()],
                (
                    RegistrationState::NotAvailable,
                    STATUS_PROCEDURE_NOT_FOUND,
                    report_detail::NOT_EXPORTED
                ),
                "{name} hidden: {}",
                api.name()
            );
            assert!(
                driver_lines(&kernel).iter().any(|l| l
                    .starts_with(&format!("kcallbacks: register {}: unavailable", api.name()))
                    && l.contains("not exported")),
                "{name}"
            );
        }
        assert!(
            entries.values().all(|e| e.0 != RegistrationState::Failed),
            "{name}: {entries:?}"
        );
        // The driver runs on: events of the other families still arrive.
        assert_eq!(
            trigger::hardware_profile_change(ntsim::ioreg::GUID_HWPROFILE_CHANGE_COMPLETE),
            1
        );
        let _ = collect_until(&mut kernel, name, count_of(SourceId::PlugPlay, 1));
        kernel.unload_driver();
        assert_nothing_left(&kernel);
    }

    // Without IoUnregisterPlugPlayNotificationEx the legacy routine removes
    // the entries.
    let mut kernel = boot_with(&[]);
    ntsim::exports::hide("IoUnregisterPlugPlayNotificationEx");
    load(&mut kernel);
    assert_eq!(
        entry(&mut kernel, Api::PnpDeviceInterface).0,
        RegistrationState::Registered
    );
    kernel.unload_driver();
    let unload_calls: Vec<&str> = ntsim::ddi::calls_in(ntsim::context::Phase::DriverUnload)
        .iter()
        .map(|c| c.ddi)
        .collect();
    assert_eq!(
        unload_calls
            .iter()
            .filter(|c| **c == "IoUnregisterPlugPlayNotification")
            .count(),
        2
    );
    assert!(!unload_calls.contains(&"IoUnregisterPlugPlayNotificationEx"));
    assert_nothing_left(&kernel);
}

// --- 7: unload leaves nothing; a leaked registration is caught ---------------------------

#[test]
fn unload_leaves_no_registration_of_these_families() {
    let mut kernel = boot_with(&[("EnableProfileInterrupt", 1)]);
    let key = service_key("kcallbacks");
    ntsim::registry::set_dword(&key, "Start", 0);
    load(&mut kernel);
    let entries = report(&mut kernel);
    let registered = entries
        .values()
        .filter(|e| e.0 == RegistrationState::Registered)
        .count();
    assert!(registered >= 20, "{entries:?}");
    unload_even_if_refused(&mut kernel);
    kernel.assert_no_bugchecks();
    assert!(ntsim::ioreg::shutdown_registrations().is_empty());
    assert_eq!(ntsim::power::profile_handler(), 0);
    assert!(ntsim::ioreg::interrupt_connections().is_empty());
    assert!(!trigger::nmi());
    assert!(trigger::bug_check(0xE2).is_empty());
    assert_eq!(trigger::processor_add(PROCESSOR_COUNT + 1), STATUS_SUCCESS);
    assert_nothing_left(&kernel);
}

struct Cell<T>(std::cell::UnsafeCell<T>);
// SAFETY: only the model touches the records, from one test at a time.
unsafe impl<T> Sync for Cell<T> {}
// SAFETY: all-zero is KeInitializeCallbackRecord's result (State = BufferEmpty).
static LEAK_RECORD: Cell<KBUGCHECK_CALLBACK_RECORD> =
    Cell(std::cell::UnsafeCell::new(unsafe { std::mem::zeroed() }));
// SAFETY: as above.
static LEAK_REASON: Cell<KBUGCHECK_REASON_CALLBACK_RECORD> =
    Cell(std::cell::UnsafeCell::new(unsafe { std::mem::zeroed() }));

const unsafe extern "C" fn leak_nmi(_: *mut c_void, _: BOOLEAN) -> BOOLEAN {
    0
}
const unsafe extern "C" fn leak_bound() -> BOUND_CALLBACK_STATUS {
    0
}
const unsafe extern "C" fn leak_bugcheck(_: *mut c_void, _: u32) {}
const unsafe extern "C" fn leak_reason(
    _: KBUGCHECK_CALLBACK_REASON,
    _: *mut KBUGCHECK_REASON_CALLBACK_RECORD,
    _: *mut c_void,
    _: u32,
) {
}
const unsafe extern "C" fn leak_processor(
    _: *mut c_void,
    _: *mut KE_PROCESSOR_CHANGE_NOTIFY_CONTEXT,
    _: *mut NTSTATUS,
) {
}
const unsafe extern "C" fn leak_pnp(_: *mut c_void, _: *mut c_void) -> NTSTATUS {
    STATUS_SUCCESS
}
const unsafe extern "C" fn leak_fs(_: PDEVICE_OBJECT, _: BOOLEAN) {}
const unsafe extern "C" fn leak_power(_: *const GUID, _: *mut c_void, _: u32, _: *mut c_void) -> NTSTATUS {
    STATUS_SUCCESS
}
const unsafe extern "C" fn leak_whea(_: u32, _: BOOLEAN, _: BOOLEAN, _: *mut c_void) -> BOOLEAN {
    0
}

#[test]
fn a_leaked_registration_of_each_family_is_caught_at_unload() {
    type Leak = fn(&mut Kernel) -> usize;
    let leaks: [(&str, Leak); 9] = [
        ("NMI callback", |_| {
            // SAFETY: a 'static routine, left registered on purpose.
            let handle = unsafe { ntsim::kecb::KeRegisterNmiCallback(Some(leak_nmi), std::ptr::null_mut()) };
            assert!(!handle.is_null());
            leak_nmi as *const () as usize
        }),
        ("bound callback", |_| {
            // SAFETY: as above.
            let handle = unsafe { ntsim::kecb::KeRegisterBoundCallback(Some(leak_bound)) };
            assert!(!handle.is_null());
            leak_bound as *const () as usize
        }),
        ("bug check callback", |_| {
            let record = LEAK_RECORD.0.get();
            // SAFETY: resident static record, re-initialised (BufferEmpty) first.
            unsafe { record.write_bytes(0, 1) };
            // SAFETY: as above; a 'static routine.
            let ok = unsafe {
                ntsim::kecb::KeRegisterBugCheckCallback(
                    record,
                    Some(leak_bugcheck),
                    std::ptr::null_mut(),
                    0,
                    std::ptr::null_mut(),
                )
            };
            assert_eq!(ok, 1);
            leak_bugcheck as *const () as usize
        }),
        ("bug check reason callback", |_| {
            let record = LEAK_REASON.0.get();
            // SAFETY: resident static record, re-initialised first.
            unsafe { record.write_bytes(0, 1) };
            // SAFETY: as above.
            let ok = unsafe {
                ntsim::kecb::KeRegisterBugCheckReasonCallback(
                    record,
                    Some(leak_reason),
                    KbCallbackSecondaryDumpData,
                    std::ptr::null_mut(),
                )
            };
            assert_eq!(ok, 1);
            leak_reason as *const () as usize
        }),
        ("processor change callback", |_| {
            // SAFETY: a 'static routine.
            let handle = unsafe {
                ntsim::kecb::KeRegisterProcessorChangeCallback(Some(leak_processor), std::ptr::null_mut(), 0)
            };
            assert!(!handle.is_null());
            leak_processor as *const () as usize
        }),
        ("Plug and Play notification", |kernel| {
            let mut entry = std::ptr::null_mut();
            // SAFETY: the driver's object; a 'static routine; a writable entry.
            let status = unsafe {
                ntsim::ioreg::IoRegisterPlugPlayNotification(
                    EventCategoryHardwareProfileChange,
                    0,
                    std::ptr::null_mut(),
                    kernel.driver_object(),
                    Some(leak_pnp),
                    std::ptr::null_mut(),
                    &raw mut entry,
                )
            };
            assert_eq!(status, STATUS_SUCCESS);
            leak_pnp as *const () as usize
        }),
        ("file-system registration change", |kernel| {
            // SAFETY: the driver's object; a 'static routine.
            let status = unsafe {
                ntsim::ioreg::IoRegisterFsRegistrationChange(kernel.driver_object(), Some(leak_fs))
            };
            assert_eq!(status, STATUS_SUCCESS);
            leak_fs as *const () as usize
        }),
        ("power setting callback", |_| {
            let mut handle = std::ptr::null_mut();
            // SAFETY: a 'static GUID and routine; a writable handle.
            let status = unsafe {
                ntsim::power::PoRegisterPowerSettingCallback(
                    std::ptr::null_mut(),
                    &ntsim::power::GUID_ACDC_POWER_SOURCE,
                    Some(leak_power),
                    std::ptr::null_mut(),
                    &raw mut handle,
                )
            };
            assert_eq!(status, STATUS_SUCCESS);
            leak_power as *const () as usize
        }),
        ("page offline notification", |_| {
            // SAFETY: a 'static routine.
            let status = unsafe {
                ntsim::power::WheaRegisterInUsePageOfflineNotification(Some(leak_whea), std::ptr::null_mut())
            };
            assert_eq!(status, STATUS_SUCCESS);
            leak_whea as *const () as usize
        }),
    ];
    for (family, leak) in leaks {
        let mut kernel = loaded_with(&[]);
        let routine = leak(&mut kernel);
        kernel.unload_driver();
        let check = kernel.expect_bugcheck(CE, routine as u64);
        assert!(
            check.text.contains(family) && check.text.contains("still registered"),
            "{check}"
        );
        kernel.assert_no_bugchecks();
    }
}

// --- 8: IoConnectInterruptEx through the driver's guard --------------------------------

static ISR_CALLS: AtomicU32 = AtomicU32::new(0);
static ISR_IRQL: AtomicU32 = AtomicU32::new(0);
static ISR_OBJECT: AtomicUsize = AtomicUsize::new(0);
static ISR_STORED: AtomicUsize = AtomicUsize::new(usize::MAX);
static ISR_CONTEXT: AtomicU64 = AtomicU64::new(0);

/// The ISR: counts, and records its IRQL, arguments and what the driver's
/// interrupt-object variable held at that moment.
unsafe extern "C" fn test_isr(interrupt: PKINTERRUPT, context: *mut c_void) -> BOOLEAN {
    ISR_CALLS.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the model's routine.
    ISR_IRQL.store(
        u32::from(unsafe { wdk_sys::ntddk::KeGetCurrentIrql() }),
        Ordering::SeqCst,
    );
    ISR_OBJECT.store(interrupt as usize, Ordering::SeqCst);
    ISR_CONTEXT.store(context as u64, Ordering::SeqCst);
    if !context.is_null() {
        // SAFETY: the context is the address of the test's PKINTERRUPT variable.
        ISR_STORED.store(
            unsafe { *context.cast::<PKINTERRUPT>() } as usize,
            Ordering::SeqCst,
        );
    }
    1
}

const unsafe extern "C" fn test_message_isr(_: PKINTERRUPT, _: *mut c_void, _: u32) -> BOOLEAN {
    1
}

fn reset_isr() {
    ISR_CALLS.store(0, Ordering::SeqCst);
    ISR_IRQL.store(0, Ordering::SeqCst);
    ISR_OBJECT.store(0, Ordering::SeqCst);
    ISR_STORED.store(usize::MAX, Ordering::SeqCst);
}

fn fully_specified(
    pdo: PDEVICE_OBJECT,
    storage: *mut PKINTERRUPT,
    vector: u32,
    irql: u8,
) -> IO_CONNECT_INTERRUPT_PARAMETERS {
    // SAFETY: plain data; all-zero is valid (NULL pointers, no routine).
    let mut parameters: IO_CONNECT_INTERRUPT_PARAMETERS = unsafe { std::mem::zeroed() };
    parameters.Version = CONNECT_FULLY_SPECIFIED;
    // SAFETY: writing the member this version uses.
    let p = unsafe { &mut parameters.__bindgen_anon_1.FullySpecified };
    p.PhysicalDeviceObject = pdo;
    p.InterruptObject = storage;
    p.ServiceRoutine = Some(test_isr);
    p.ServiceContext = storage.cast();
    p.SynchronizeIrql = irql;
    p.Vector = vector;
    p.Irql = irql;
    p.InterruptMode = wdk_sys::_KINTERRUPT_MODE::LevelSensitive;
    p.ProcessorEnableMask = 0xF;
    parameters
}

fn line_based(pdo: PDEVICE_OBJECT, storage: *mut PKINTERRUPT) -> IO_CONNECT_INTERRUPT_PARAMETERS {
    // SAFETY: as above.
    let mut parameters: IO_CONNECT_INTERRUPT_PARAMETERS = unsafe { std::mem::zeroed() };
    parameters.Version = CONNECT_LINE_BASED;
    // SAFETY: writing the member this version uses.
    let p = unsafe { &mut parameters.__bindgen_anon_1.LineBased };
    p.PhysicalDeviceObject = pdo;
    p.InterruptObject = storage;
    p.ServiceRoutine = Some(test_isr);
    p.ServiceContext = storage.cast();
    parameters
}

fn disconnects() -> usize {
    ntsim::ddi::calls()
        .iter()
        .filter(|c| c.ddi == "IoDisconnectInterruptEx")
        .count()
}

#[test]
fn interrupt_connection_guard_connects_and_disconnects_with_the_right_version_and_object() {
    let kernel = boot_with(&[]);
    let nic = ntsim::ioreg::interrupt_device(
        "NtsimNic0",
        &[
            InterruptLine {
                asserted: true,
                ..InterruptLine::new(0x51, 5)
            },
            InterruptLine::new(0x52, 6),
        ],
    );

    // Fully specified, on a line already asserted: the ISR runs before
    // IoConnectInterruptEx returns, at the line's DIRQL.
    reset_isr();
    let mut storage: Box<PKINTERRUPT> = Box::new(std::ptr::null_mut());
    let storage_ptr: *mut PKINTERRUPT = &raw mut *storage;
    // SAFETY: the ISR is 'static; `storage` outlives the guard.
    let guard = unsafe { InterruptConnection::connect(fully_specified(nic, storage_ptr, 0x51, 5)) }
        .expect("connects");
    assert_eq!(
        ISR_CALLS.load(Ordering::SeqCst),
        1,
        "the ISR ran before connect returned"
    );
    assert_eq!(
        ISR_STORED.load(Ordering::SeqCst),
        0,
        "... before the interrupt object was written back"
    );
    assert_eq!(ISR_IRQL.load(Ordering::SeqCst), 5);
    assert!(!storage.is_null());
    assert_eq!(ISR_OBJECT.load(Ordering::SeqCst), *storage as usize);
    assert_eq!(ISR_CONTEXT.load(Ordering::SeqCst), storage_ptr as u64);
    let connections = ntsim::ioreg::interrupt_connections();
    assert_eq!(connections.len(), 1);
    assert_eq!(
        (connections[0].object, connections[0].version),
        (*storage as usize, CONNECT_FULLY_SPECIFIED)
    );
    assert_eq!(connections[0].vectors, [0x51]);
    // A later interrupt on that vector.
    assert_eq!(trigger::interrupt(nic, 0x51), Some(true));
    assert_eq!(ISR_CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(trigger::interrupt(nic, 0x52), None, "not connected");
    let before = disconnects();
    drop(guard);
    assert_eq!(disconnects(), before + 1);
    assert!(ntsim::ioreg::interrupt_connections().is_empty());
    assert_eq!(trigger::interrupt(nic, 0x51), None);
    kernel.assert_no_bugchecks();

    // Line based: every line of the device, one ISR, at the highest DIRQL.
    reset_isr();
    let mut storage: Box<PKINTERRUPT> = Box::new(std::ptr::null_mut());
    // SAFETY: as above.
    let guard =
        unsafe { InterruptConnection::connect(line_based(nic, &raw mut *storage)) }.expect("connects");
    let connections = ntsim::ioreg::interrupt_connections();
    assert_eq!(
        (connections[0].version, connections[0].vectors.clone()),
        (CONNECT_LINE_BASED, vec![0x51, 0x52])
    );
    assert_eq!(ISR_CALLS.load(Ordering::SeqCst), 1, "line 0x51 is asserted");
    assert_eq!(trigger::interrupt(nic, 0x52), Some(true));
    assert_eq!(ISR_IRQL.load(Ordering::SeqCst), 6);
    drop(guard);
    assert!(ntsim::ioreg::interrupt_connections().is_empty());
    kernel.assert_no_bugchecks();

    // Message based on a device without MSI: the fallback ISR is connected
    // line-based, Version comes back CONNECT_LINE_BASED, and the guard
    // disconnects with that version and the object in ConnectionContext.
    let mut storage: Box<PKINTERRUPT> = Box::new(std::ptr::null_mut());
    // SAFETY: plain data; all-zero is valid.
    let mut parameters: IO_CONNECT_INTERRUPT_PARAMETERS = unsafe { std::mem::zeroed() };
    parameters.Version = CONNECT_MESSAGE_BASED;
    // SAFETY: writing the member this version uses.
    let p = unsafe { &mut parameters.__bindgen_anon_1.MessageBased };
    p.PhysicalDeviceObject = nic;
    p.ConnectionContext.InterruptObject = &raw mut *storage;
    p.MessageServiceRoutine = Some(test_message_isr);
    p.FallBackServiceRoutine = Some(test_isr);
    // SAFETY: as above.
    let guard = unsafe { InterruptConnection::connect(parameters) }.expect("falls back");
    let connections = ntsim::ioreg::interrupt_connections();
    assert_eq!(
        (connections[0].version, connections[0].object),
        (CONNECT_LINE_BASED, *storage as usize)
    );
    drop(guard);
    assert!(ntsim::ioreg::interrupt_connections().is_empty());
    kernel.assert_no_bugchecks();

    // Failures: no guard, nothing connected.
    let quiet = ntsim::ioreg::interrupt_device("NtsimQuiet0", &[]);
    let mut storage: Box<PKINTERRUPT> = Box::new(std::ptr::null_mut());
    let storage_ptr: *mut PKINTERRUPT = &raw mut *storage;
    let mut bad_version = fully_specified(nic, storage_ptr, 0x51, 5);
    bad_version.Version = 9;
    let mut no_cpu = fully_specified(nic, storage_ptr, 0x51, 5);
    // Writing a union field is safe; the member this version uses.
    no_cpu.__bindgen_anon_1.FullySpecified.ProcessorEnableMask = 0;
    let failures: [(&str, IO_CONNECT_INTERRUPT_PARAMETERS, NTSTATUS); 5] = [
        ("unknown version", bad_version, STATUS_INVALID_PARAMETER_1),
        (
            "NULL PDO",
            fully_specified(std::ptr::null_mut(), storage_ptr, 0x51, 5),
            STATUS_INVALID_PARAMETER,
        ),
        (
            "vector not assigned",
            fully_specified(nic, storage_ptr, 0x77, 5),
            STATUS_NOT_FOUND,
        ),
        ("no processor", no_cpu, STATUS_INVALID_PARAMETER_10),
        (
            "device without interrupts",
            line_based(quiet, storage_ptr),
            STATUS_NOT_FOUND,
        ),
    ];
    for (what, parameters, status) in failures {
        // SAFETY: as above.
        let result = unsafe { InterruptConnection::connect(parameters) };
        assert_eq!(result.err(), Some(status), "{what}");
    }
    faults::fail_nth_on_this_thread("IoConnectInterruptEx", 1, STATUS_INSUFFICIENT_RESOURCES);
    // SAFETY: as above.
    let result = unsafe { InterruptConnection::connect(line_based(nic, storage_ptr)) };
    assert_eq!(result.err(), Some(STATUS_INSUFFICIENT_RESOURCES));
    assert!(ntsim::ioreg::interrupt_connections().is_empty());
    assert!(storage.is_null());
    kernel.assert_no_bugchecks();

    // The model's checks on a disconnect: the wrong version, and an object
    // it never connected.
    // SAFETY: as above.
    let guard = unsafe { InterruptConnection::connect(line_based(nic, storage_ptr)) }.expect("connects");
    let mut wrong = IO_DISCONNECT_INTERRUPT_PARAMETERS {
        Version: CONNECT_FULLY_SPECIFIED,
        ..Default::default()
    };
    wrong.ConnectionContext.Generic = (*storage).cast();
    // SAFETY: the model's routine; the wrong version is the violation under test.
    unsafe { ntsim::ioreg::IoDisconnectInterruptEx(&raw mut wrong) };
    kernel.expect_bugcheck(codes::NTSIM_RULE, ModelRule::InvalidParameter as u64);
    assert_eq!(ntsim::ioreg::interrupt_connections().len(), 1, "still connected");
    drop(guard);
    // SAFETY: as above; now unknown.
    unsafe { ntsim::ioreg::IoDisconnectInterruptEx(&raw mut wrong) };
    kernel.expect_bugcheck(codes::NTSIM_RULE, ModelRule::UnknownObject as u64);
    kernel.assert_no_bugchecks();
}

#[test]
fn a_leaked_interrupt_connection_is_caught_at_unload() {
    let mut kernel = loaded_with(&[]);
    let nic = ntsim::ioreg::interrupt_device("NtsimNic1", &[InterruptLine::new(0x61, 7)]);
    let storage: &'static mut PKINTERRUPT = Box::leak(Box::new(std::ptr::null_mut()));
    // SAFETY: 'static ISR and storage.
    let guard = unsafe { InterruptConnection::connect(line_based(nic, storage)) }.expect("connects");
    std::mem::forget(guard);
    kernel.unload_driver();
    let check = kernel.expect_bugcheck(CE, test_isr as *const () as u64);
    assert!(check.text.contains("still connected"), "{check}");
    kernel.assert_no_bugchecks();
}

// --- The model's bug check runs the callbacks alone -------------------------------------

static FROZEN_RING: std::sync::Mutex<Option<(usize, usize, usize, usize)>> = std::sync::Mutex::new(None);
// SAFETY: all-zero is KeInitializeCallbackRecord's result (State = BufferEmpty).
static WATCH_RECORD: Cell<KBUGCHECK_CALLBACK_RECORD> =
    Cell(std::cell::UnsafeCell::new(unsafe { std::mem::zeroed() }));

/// A bug check callback that watches, for longer than the drain's tick,
/// whether anything else in the driver moves.
unsafe extern "C" fn watch_frozen(_: *mut c_void, _: u32) {
    let used = || rings::get().map_or(0, rings::RingSet::used_bytes);
    let (ring, prints) = (used(), ntsim::dbgprint::debug_calls().len());
    std::thread::sleep(Duration::from_millis(350));
    *FROZEN_RING.lock().unwrap() = Some((ring, used(), prints, ntsim::dbgprint::debug_calls().len()));
}

#[test]
fn bug_check_callbacks_run_with_the_other_processors_frozen() {
    let kernel = loaded_with(&[]);
    let record = WATCH_RECORD.0.get();
    // SAFETY: resident static record, re-initialised (BufferEmpty) first.
    unsafe { record.write_bytes(0, 1) };
    // SAFETY: as above; a 'static routine, deregistered below.
    let ok = unsafe {
        ntsim::kecb::KeRegisterBugCheckCallback(
            record,
            Some(watch_frozen),
            std::ptr::null_mut(),
            0,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(ok, 1);
    let _ = trigger::bug_check(0xE2);
    let (ring_before, ring_after, prints_before, prints_after) =
        FROZEN_RING.lock().unwrap().take().expect("ran");
    assert!(
        ring_before >= 1,
        "the driver's callback (registered first) recorded its event"
    );
    assert_eq!(
        ring_after, ring_before,
        "the drain did not run during the bug check"
    );
    assert_eq!(
        prints_after, prints_before,
        "nothing printed during the bug check"
    );
    // Afterwards the drain runs again.
    assert!(poll_until(DRAIN_TIMEOUT, rings_empty));
    // SAFETY: the record registered above.
    assert_eq!(unsafe { ntsim::kecb::KeDeregisterBugCheckCallback(record) }, 1);
    drop(kernel);
}
