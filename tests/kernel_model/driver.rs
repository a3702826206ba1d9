//! Host tests: the driver's REAL `DriverEntry`/`DriverUnload`, dispatch
//! routines and notify routines, linked against the kernel model
//! (`crates/ntsim`), which defines every kernel symbol the driver imports.
//!
//! Each test boots a fresh model ([`ntsim::Kernel::boot`] also serialises the
//! tests: the driver's statics are global) and, unless it checks a violation
//! on purpose, ends with no simulated bug check recorded (the `Kernel` guard
//! panics at drop otherwise).

use std::ffi::c_void;
use std::time::Duration;

use kcallbacks::driver_unload;
use kcallbacks::registrations::report::Api;
use kcb_proto::{
    GetReportRequest, IOCTL_KCB_GET_REPORT, IOCTL_KCB_READ_EVENTS, ImageLoadPayload, ReadEventsRequest,
    RegistrationState, RequestError, SourceId, bytes_of, decode_report,
};
use ntsim::io::Caller;
use ntsim::irql::{DISPATCH_LEVEL, HIGH_LEVEL, PASSIVE_LEVEL, with_irql};
use ntsim::verifier::{ModelRule, codes};
use ntsim::{Kernel, faults, poll_until, trigger};
use wdk_sys::ntddk::{
    ExAllocatePool2, ExCreateCallback, ExFreePool, ExRegisterCallback, ExUnregisterCallback,
    KeInitializeEvent, KeSetEvent, KeWaitForSingleObject, ObfDereferenceObject, PsCreateSystemThread,
    PsSetLoadImageNotifyRoutine,
};
use wdk_sys::{
    DO_DEVICE_INITIALIZING, FILE_ALL_ACCESS, FILE_DEVICE_SECURE_OPEN, HANDLE, KEVENT, OBJ_KERNEL_HANDLE,
    OBJECT_ATTRIBUTES, PCALLBACK_OBJECT, PIMAGE_INFO, POOL_FLAG_NON_PAGED, PUNICODE_STRING,
    STATUS_ACCESS_DENIED, STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS,
};

#[allow(clippy::wildcard_imports)]
use crate::common::*;

// --- Load and unload -------------------------------------------------------

#[test]
fn load_and_unload_clean() {
    let mut kernel = boot();
    load(&mut kernel);
    let lines = driver_lines(&kernel);
    assert_eq!(
        lines[0],
        format!("kcallbacks: DriverEntry version={}", kcallbacks::VERSION)
    );
    assert_eq!(lines[1], "kcallbacks: clock: Precise");
    assert!(
        lines.contains(&"kcallbacks: config: no Parameters key; compiled-in defaults".to_owned()),
        "{lines:#?}"
    );
    assert_eq!(
        ntsim::dbgprint::debug_calls()[0].text,
        format!("kcallbacks: DriverEntry version={}\n", kcallbacks::VERSION),
        "exactly what \"%s\\n\" produces"
    );
    assert!(
        ntsim::dbgprint::debug_calls()
            .iter()
            .all(|l| l.component == 77 && l.level == 0 && l.visible)
    );
    // Every report entry was printed as the driver reported it, none failed.
    let entries = report_entries(&mut kernel);
    assert!(entries.len() >= 4, "{entries:?}");
    for (name, state, status) in &entries {
        let line = outcome_line("register", name, *state, *status);
        assert!(
            lines.iter().any(|l| l.starts_with(&line)),
            "missing {line:?} in {lines:#?}"
        );
        assert_ne!(
            *state,
            RegistrationState::Failed,
            "{name} failed on a clean system: {status:#X}"
        );
    }
    let loaded = lines
        .iter()
        .find(|l| l.starts_with("kcallbacks: loaded: "))
        .expect("a loaded line");
    assert!(loaded.contains(" 0 failed"), "{loaded}");
    assert!(
        entries
            .iter()
            .any(|(n, s, _)| n.starts_with("IoCreateDevice") && *s == RegistrationState::Registered)
    );
    assert!(!ntsim::ps::load_image_routines().is_empty());
    assert_eq!(
        ntsim::io::symbolic_links(),
        [("\\??\\KCallbacks".to_owned(), DEVICE.to_owned())]
    );
    // DriverEntry sets DriverUnload to the driver's unload routine.
    let object = kernel.driver_object();
    // SAFETY: the driver object the harness built.
    let unload = unsafe { (*object).DriverUnload }.map(|f| f as usize);
    assert_eq!(unload, Some(driver_unload as *const () as usize));
    // Every DDI DriverEntry called was called at PASSIVE_LEVEL.
    assert!(
        kernel
            .driver_entry_calls()
            .iter()
            .all(|c| c.irql == PASSIVE_LEVEL)
    );

    ntsim::dbgprint::clear();
    assert!(kernel.unload_driver());
    let lines = driver_lines(&kernel);
    for (name, state, _) in &entries {
        if *state == RegistrationState::Registered {
            let line = outcome_line("unregister", name, RegistrationState::Removed, 0);
            assert!(
                lines.iter().any(|l| l.starts_with(&line)),
                "missing {line:?} in {lines:#?}"
            );
        }
    }
    // DriverState drops its fields in declaration order: notify routines
    // first, then the drain, the link, and the device last (src/driver.rs).
    let position = |name: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(&format!("kcallbacks: unregister {name}")))
    };
    let device = position(Api::ControlDevice.name()).expect("device removed");
    let link = position(Api::SymbolicLink.name()).expect("link removed");
    let drain = position(Api::DrainThread.name()).expect("drain removed");
    assert!(drain < link && link < device, "{lines:#?}");
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("kcallbacks: unloaded: ")),
        "{lines:#?}"
    );
    assert_nothing_left(&kernel);
}

#[test]
fn clock_falls_back_when_the_precise_clock_is_not_exported() {
    let mut kernel = boot();
    ntsim::exports::hide("KeQuerySystemTimePrecise");
    ntsim::exports::expose("KeQuerySystemTime");
    load(&mut kernel);
    assert!(driver_lines(&kernel).contains(&"kcallbacks: clock: Plain".to_owned()));
    unload_clean(&mut kernel);
    drop(kernel);

    let mut kernel = loaded_without(&["KeQuerySystemTimePrecise"]);
    assert!(driver_lines(&kernel).contains(&"kcallbacks: clock: None".to_owned()));
    unload_clean(&mut kernel);
}

#[test]
fn load_image_limit_reached_is_reported_and_the_driver_runs_on() {
    let mut kernel = boot();
    ntsim::ps::set_load_image_limit(0);
    load(&mut kernel);
    let entries = report_entries(&mut kernel);
    let (name, state, status) = entries
        .iter()
        .find(|(n, ..)| n.starts_with("PsSetLoadImageNotifyRoutine"))
        .expect("a load-image entry");
    assert_eq!(
        (*state, *status),
        (RegistrationState::Failed, STATUS_INSUFFICIENT_RESOURCES),
        "{name}"
    );
    let line = outcome_line(
        "register",
        name,
        RegistrationState::Failed,
        STATUS_INSUFFICIENT_RESOURCES,
    );
    assert!(
        driver_lines(&kernel).iter().any(|l| l.starts_with(&line)),
        "{:#?}",
        driver_lines(&kernel)
    );
    assert!(
        entries
            .iter()
            .any(|(n, s, _)| n.starts_with("IoCreateDevice") && *s == RegistrationState::Registered)
    );
    unload_clean(&mut kernel);
}

// --- Events ----------------------------------------------------------------

#[test]
fn load_image_event_arrives_through_read_events() {
    let mut kernel = loaded();
    let name = format!(
        "\\Device\\HarddiskVolume2\\Windows\\System32\\ntsim-{}.dll",
        std::process::id()
    );
    assert_eq!(
        trigger::load_image(&name, 0x2468, 0x7FFB_1234_0000, 0x5_6000, false),
        1
    );
    let record = wait_for_image_event(&mut kernel, &name);
    assert_eq!(record.source(), Some(SourceId::LoadImage));
    let payload = record.payload::<ImageLoadPayload>().expect("image payload");
    assert_eq!(
        (payload.image_base, payload.image_size),
        (0x7FFB_1234_0000, 0x5_6000)
    );
    assert_eq!(payload.flags, kcb_proto::IMAGE_FLAG_EXTENDED_INFO);
    assert_eq!(payload.properties & 0xFF, 3, "IMAGE_ADDRESSING_MODE_32BIT");
    let header = record.header;
    assert_eq!(header.pid, 0x2468);
    assert_eq!(
        header.irql, PASSIVE_LEVEL,
        "load-image callbacks run at PASSIVE_LEVEL"
    );
    assert!(header.cpu < ntsim::context::PROCESSOR_COUNT);
    assert!(header.timestamp > 0 && header.tid != 0);
    assert!(
        kernel
            .debug_output()
            .iter()
            .any(|l| l.starts_with("kcallbacks: event ") && l.contains("ntsim-")),
        "the drain prints the event"
    );

    let mut driver_image = trigger::LoadImage::new("\\SystemRoot\\System32\\drivers\\ntsimtest.sys", 0);
    driver_image.system_mode = true;
    driver_image.signature_level = 0xC;
    driver_image.signature_type = 1;
    assert_eq!(driver_image.fire(), 1);
    let record = wait_for_image_event(&mut kernel, "\\SystemRoot\\System32\\drivers\\ntsimtest.sys");
    let payload = record.payload::<ImageLoadPayload>().expect("image payload");
    assert_eq!(
        payload.flags,
        kcb_proto::IMAGE_FLAG_SYSTEM_MODE | kcb_proto::IMAGE_FLAG_EXTENDED_INFO
    );
    assert_eq!((payload.signature_level, payload.signature_type), (0xC, 1));
    assert_eq!(record.header.pid, 0);
    unload_clean(&mut kernel);
}

#[test]
fn one_load_image_event_makes_zero_allocations() {
    let mut kernel = loaded();
    let before = ntsim::pool::total_allocations();
    let name = "\\Windows\\System32\\zero-alloc.dll";
    let made = ntsim::pool::count_allocations(|| {
        assert_eq!(trigger::load_image(name, 0x99, 0x1000_0000, 0x1000, false), 1);
    });
    assert_eq!(made, 0, "the notify routine allocated pool");
    let _ = wait_for_image_event(&mut kernel, name);
    assert_eq!(
        ntsim::pool::total_allocations(),
        before,
        "the drain or the read allocated pool"
    );
    unload_clean(&mut kernel);
}

/// Reads every event until `wanted` sources were all seen or the time is up;
/// returns the sources seen.
fn collect_sources(kernel: &mut Kernel, wanted: &[SourceId]) -> std::collections::BTreeSet<u16> {
    let mut seen = std::collections::BTreeSet::new();
    poll_until(DRAIN_TIMEOUT, || {
        for record in read_events(kernel, 64) {
            seen.insert(record.header.source);
        }
        wanted.iter().all(|s| seen.contains(&(*s as u16)))
    });
    seen
}

#[test]
fn every_family_fires_through_the_driver_without_allocating() {
    let mut kernel = loaded();
    let made = ntsim::pool::count_allocations(|| fire_every_family(0x3000));
    assert_eq!(made, 0, "a callback allocated pool");
    // FsRegistration and DriverReinit were called around DriverEntry.
    let mut wanted = FIRED_SOURCES.to_vec();
    wanted.extend([SourceId::FsRegistration, SourceId::DriverReinit]);
    let seen = collect_sources(&mut kernel, &wanted);
    let missing: Vec<&SourceId> = wanted.iter().filter(|s| !seen.contains(&(**s as u16))).collect();
    assert!(
        missing.is_empty(),
        "no events from {missing:?}; seen sources {seen:?}"
    );
    unload_clean(&mut kernel);
}

// --- Control device --------------------------------------------------------

#[test]
fn get_report_round_trip() {
    let mut kernel = loaded();
    let (status, out) = get_report(&mut kernel);
    assert_eq!(status, STATUS_SUCCESS);
    let report = decode_report(&out).expect("report");
    assert_eq!(report.header.version, kcb_proto::PROTOCOL_VERSION);
    assert_eq!(report.header.driver_version_str(), kcallbacks::VERSION);
    let entries: Vec<_> = report.entries.iter().collect();
    let count =
        |state| u32::try_from(entries.iter().filter(|e| e.state() == Some(state)).count()).expect("few");
    assert_eq!(
        report.header.entry_count,
        u32::try_from(entries.len()).expect("few")
    );
    assert_eq!(report.header.returned, report.header.entry_count);
    assert_eq!(report.header.registered, count(RegistrationState::Registered));
    assert_eq!(report.header.failed, count(RegistrationState::Failed));
    assert_eq!(report.header.disabled, count(RegistrationState::DisabledByConfig));
    // Entries come in Api order and name only Api slots.
    let order: Vec<usize> = entries
        .iter()
        .map(|e| {
            Api::ALL
                .iter()
                .position(|a| a.name() == e.name_str())
                .expect("an Api name")
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    let device = entries
        .iter()
        .find(|e| e.name_str() == Api::ControlDevice.name())
        .expect("device entry");
    assert_eq!(
        (device.state(), device.status),
        (Some(RegistrationState::Registered), 0)
    );
    unload_clean(&mut kernel);
}

#[test]
fn bad_ioctl_inputs_return_the_documented_status_and_change_nothing() {
    let mut kernel = loaded();
    let name = "\\Windows\\System32\\still-queued.dll";
    assert_eq!(trigger::load_image(name, 0x44, 0x2000_0000, 0x2000, false), 1);
    // Wait until the drain moved it to the client queue (without reading it).
    assert!(poll_until(DRAIN_TIMEOUT, || kernel
        .debug_output()
        .iter()
        .any(|l| l.contains("still-queued"))));
    let (_, report_before) = get_report(&mut kernel);

    let good = bytes_of(&ReadEventsRequest::new(0)).to_vec();
    let mut wrong_version = good.clone();
    wrong_version[0..4].copy_from_slice(&(kcb_proto::PROTOCOL_VERSION + 1).to_le_bytes());
    let mut wrong_size = good.clone();
    wrong_size[4..8].copy_from_slice(&(u32::try_from(good.len()).unwrap() + 4).to_le_bytes());
    let mut long_input = good.clone();
    long_input.extend_from_slice(&[0; 4]);
    let mut bad_flags = good.clone();
    bad_flags[12..16].copy_from_slice(&1u32.to_le_bytes());
    let unknown = kcb_proto::ctl_code(
        kcb_proto::FILE_DEVICE_KCALLBACKS,
        0x8FF,
        kcb_proto::METHOD_BUFFERED,
        kcb_proto::FILE_READ_ACCESS,
    );
    let cases: [(&str, u32, &[u8], usize, RequestError); 7] = [
        (
            "short input",
            IOCTL_KCB_READ_EVENTS,
            &good[..4],
            4096,
            RequestError::TooSmall,
        ),
        (
            "wrong version",
            IOCTL_KCB_READ_EVENTS,
            &wrong_version,
            4096,
            RequestError::WrongVersion,
        ),
        (
            "wrong size field",
            IOCTL_KCB_READ_EVENTS,
            &wrong_size,
            4096,
            RequestError::WrongSize,
        ),
        (
            "input longer than the request",
            IOCTL_KCB_READ_EVENTS,
            &long_input,
            4096,
            RequestError::WrongSize,
        ),
        (
            "reserved flags set",
            IOCTL_KCB_READ_EVENTS,
            &bad_flags,
            4096,
            RequestError::InvalidParameter,
        ),
        ("unknown code", unknown, &good, 4096, RequestError::UnknownCode),
        (
            "output too small",
            IOCTL_KCB_READ_EVENTS,
            &good,
            8,
            RequestError::TooSmall,
        ),
    ];
    for (what, code, input, output_len, error) in cases {
        let (status, out) = kernel.device_io_control(code, input, output_len);
        assert_eq!(status, error.ntstatus(), "{what}");
        assert!(out.is_empty(), "{what}: no output on failure");
    }
    let (status, out) = kernel.device_io_control(IOCTL_KCB_GET_REPORT, bytes_of(&GetReportRequest::new()), 8);
    assert_eq!(
        (status, out.len()),
        (RequestError::TooSmall.ntstatus(), 0),
        "GET_REPORT output too small"
    );

    // Nothing changed: the report is the same and the queued event is still there.
    let (_, report_after) = get_report(&mut kernel);
    assert_eq!(report_before, report_after);
    let _ = wait_for_image_event(&mut kernel, name);
    unload_clean(&mut kernel);
}

#[test]
fn device_dacl_is_system_and_administrators_only() {
    let kernel = loaded();
    let device = ntsim::io::device(DEVICE).expect("the control device");
    assert_eq!(device.device_type, kcb_proto::FILE_DEVICE_KCALLBACKS);
    assert_ne!(
        device.characteristics & FILE_DEVICE_SECURE_OPEN,
        0,
        "FILE_DEVICE_SECURE_OPEN"
    );
    assert_eq!(
        device.flags & DO_DEVICE_INITIALIZING,
        0,
        "the device accepts opens"
    );
    let security = device.security.expect("a security descriptor was applied");
    assert_ne!(security.control & ntsim::se::SE_DACL_PRESENT, 0);
    let dacl = security.dacl.expect("a DACL");
    let aces: Vec<(u8, u8, u32, String)> = dacl
        .aces
        .iter()
        .map(|a| (a.ace_type, a.flags, a.mask, a.sid.to_string()))
        .collect();
    assert_eq!(
        aces,
        [
            (
                ntsim::se::ACCESS_ALLOWED_ACE_TYPE,
                0,
                FILE_ALL_ACCESS,
                "S-1-5-18".to_owned()
            ),
            (
                ntsim::se::ACCESS_ALLOWED_ACE_TYPE,
                0,
                FILE_ALL_ACCESS,
                "S-1-5-32-544".to_owned()
            ),
        ]
    );
    // The raw bytes parse as a winnt.h self-relative descriptor.
    let bytes = device.security_bytes.expect("bytes");
    assert_eq!(
        ntsim::se::SecurityDescriptor::parse_self_relative(&bytes)
            .expect("parses")
            .dacl_text(),
        "D:(A;0x0;0x1f01ff;;;S-1-5-18)(A;0x0;0x1f01ff;;;S-1-5-32-544)"
    );

    // What the DACL means for callers.
    let rw = ntsim::se::GENERIC_READ | ntsim::se::GENERIC_WRITE;
    for caller in [Caller::System, Caller::Administrator] {
        kernel
            .open("\\\\.\\KCallbacks", caller, rw)
            .expect("SYSTEM and Administrators may open")
            .close();
    }
    assert_eq!(
        kernel
            .open("\\\\.\\KCallbacks", Caller::User, ntsim::se::GENERIC_READ)
            .err(),
        Some(STATUS_ACCESS_DENIED)
    );
    assert_eq!(
        kernel
            .open(
                "\\Device\\KCallbacks\\anything",
                Caller::User,
                ntsim::se::GENERIC_READ
            )
            .err(),
        Some(STATUS_ACCESS_DENIED),
        "FILE_DEVICE_SECURE_OPEN applies the DACL to paths below the device"
    );
    drop(kernel);
}

// --- Fault-injection sweep ---------------------------------------------------

#[test]
fn fault_injection_sweep_over_every_driver_entry_call() {
    // A clean run discovers the failable DDI calls DriverEntry makes.
    let mut kernel = loaded();
    let calls = failable_driver_entry_calls(&kernel);
    let clean_lines = driver_lines(&kernel);
    unload_clean(&mut kernel);
    drop(kernel);
    for expected in [
        "IoCreateDevice",
        "IoCreateSymbolicLink",
        "PsCreateSystemThread",
        "ZwOpenKey",
    ] {
        assert!(
            calls.contains(&expected),
            "DriverEntry did not call {expected}: {calls:?}"
        );
    }

    let mut seen = std::collections::HashMap::<&str, u32>::new();
    for ddi in calls {
        let nth = seen.entry(ddi).and_modify(|n| *n += 1).or_insert(1);
        let nth = *nth;
        let mut kernel = boot();
        faults::fail_nth_on_this_thread(ddi, nth, STATUS_INSUFFICIENT_RESOURCES);
        let status = kernel.load_driver();
        assert_eq!(faults::fired().len(), 1, "{ddi} #{nth}: the fault did not fire");
        eprintln!("sweep: {ddi} call #{nth} fails -> DriverEntry {status:#010X}");
        if status < 0 {
            // DriverEntry failed: it must have undone everything itself
            // (DriverUnload is not called after a failed DriverEntry).
            assert!(
                driver_lines(&kernel)
                    .iter()
                    .any(|l| l.starts_with("kcallbacks: DriverEntry failed")),
                "{ddi} #{nth}: {:#?}",
                driver_lines(&kernel)
            );
        } else {
            // The driver runs with the rest, and reports the failure if it
            // was a registration routine.
            if Api::ALL.iter().any(|a| a.name().starts_with(ddi)) {
                let reported = driver_lines(&kernel).into_iter().any(|l| {
                    l.starts_with("kcallbacks: register ")
                        && (l.contains(": FAILED status=") || l.contains(": unavailable status="))
                        && !clean_lines.contains(&l)
                });
                assert!(
                    reported,
                    "{ddi} #{nth}: the failure is not reported: {:#?}",
                    driver_lines(&kernel)
                );
            }
            let (report_status, _) = get_report(&mut kernel);
            assert_eq!(
                report_status, STATUS_SUCCESS,
                "{ddi} #{nth}: the control device works"
            );
            kernel.unload_driver();
        }
        let bugchecks: Vec<String> = kernel.take_bugchecks().iter().map(ToString::to_string).collect();
        assert!(
            bugchecks.is_empty(),
            "{ddi} #{nth} (DriverEntry {status:#X}) left: {bugchecks:#?}"
        );
        assert_nothing_left(&kernel);
    }
}

// --- Proofs that each verifier check fires -------------------------------------

const unsafe extern "C" fn foreign_image_routine(_: PUNICODE_STRING, _: HANDLE, _: PIMAGE_INFO) {}

#[test]
fn check_ddi_at_wrong_irql() {
    let kernel = boot();
    // SAFETY: the model's routine; the call is the violation under test.
    let status = with_irql(DISPATCH_LEVEL, || unsafe {
        PsSetLoadImageNotifyRoutine(Some(foreign_image_routine))
    });
    assert!(status < 0, "refused");
    let check = kernel.expect_bugcheck(C4, 0x2_001C);
    assert!(
        check.text.contains("IrqlPsPassive") && check.text.contains("DISPATCH_LEVEL"),
        "{check}"
    );
    assert!(ntsim::ps::load_image_routines().is_empty());
}

#[test]
fn check_pool_at_high_level() {
    let kernel = boot();
    // SAFETY: the model's allocator; the call is the violation under test.
    let block = with_irql(HIGH_LEVEL, || unsafe {
        ExAllocatePool2(POOL_FLAG_NON_PAGED, 64, u32::from_le_bytes(*b"kcbT"))
    });
    assert!(block.is_null());
    let check = kernel.expect_bugcheck(C4, 0x02);
    assert_eq!(check.params[1], u64::from(HIGH_LEVEL));
}

#[test]
fn check_pool_leaked_at_unload() {
    let mut kernel = loaded();
    // As if the driver allocated and never freed.
    // SAFETY: the model's allocator.
    let block = unsafe { ExAllocatePool2(POOL_FLAG_NON_PAGED, 48, u32::from_le_bytes(*b"Leak")) };
    assert!(!block.is_null());
    kernel.unload_driver();
    let check = kernel.expect_bugcheck(C4, 0x62);
    assert_eq!(check.params[3], 1, "one allocation not freed");
    assert!(check.text.contains("48 bytes tag 'Leak'"), "{check}");
    kernel.assert_no_bugchecks();
    // SAFETY: freeing it now keeps the model tidy.
    unsafe { ExFreePool(block) };
}

#[test]
fn check_double_free() {
    let kernel = boot();
    // SAFETY: the model's allocator.
    let block = unsafe { ExAllocatePool2(POOL_FLAG_NON_PAGED, 16, u32::from_le_bytes(*b"Dbl ")) };
    for _ in 0..2 {
        // SAFETY: the model's free; the second one is the violation under test.
        unsafe { ExFreePool(block) };
    }
    kernel.expect_bugcheck(codes::BAD_POOL_CALLER, 0x07);
}

#[test]
fn check_registration_left_at_unload() {
    let mut kernel = loaded();
    // As if the driver registered a second routine and forgot to remove it.
    // SAFETY: a 'static routine.
    let status = unsafe { PsSetLoadImageNotifyRoutine(Some(foreign_image_routine)) };
    assert_eq!(status, STATUS_SUCCESS);
    kernel.unload_driver();
    let check = kernel.expect_bugcheck(CE, foreign_image_routine as *const () as u64);
    assert!(check.text.contains("load-image notify routine"), "{check}");
    kernel.assert_no_bugchecks();
}

struct EventCell(std::cell::UnsafeCell<KEVENT>);
// SAFETY: only touched through the model's Ke routines.
unsafe impl Sync for EventCell {}
// SAFETY: all-zero is a valid KEVENT before KeInitializeEvent.
static STUCK: EventCell = EventCell(std::cell::UnsafeCell::new(unsafe { std::mem::zeroed() }));

unsafe extern "C" fn stuck_thread(_context: *mut c_void) {
    // SAFETY: the model's routine; the event is initialised before the thread starts.
    let _ = unsafe { KeWaitForSingleObject(STUCK.0.get().cast(), 0, 0, 0, std::ptr::null_mut()) };
}

#[test]
fn check_system_thread_left_at_unload() {
    let mut kernel = loaded();
    let mut handle: HANDLE = std::ptr::null_mut();
    let mut attributes = OBJECT_ATTRIBUTES {
        Attributes: OBJ_KERNEL_HANDLE,
        ..Default::default()
    };
    // SAFETY: a writable KEVENT in static storage.
    unsafe { KeInitializeEvent(STUCK.0.get(), wdk_sys::_EVENT_TYPE::NotificationEvent, 0) };
    // SAFETY: valid out pointer and attributes; a 'static start routine.
    let status = unsafe {
        PsCreateSystemThread(
            &raw mut handle,
            0,
            &raw mut attributes,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            Some(stuck_thread),
            std::ptr::null_mut(),
        )
    };
    assert_eq!(status, STATUS_SUCCESS);
    kernel.unload_driver();
    let check = kernel.expect_bugcheck(CE, stuck_thread as *const () as u64);
    assert!(check.text.contains("system thread"), "{check}");
    kernel.expect_bugcheck(codes::NTSIM_RULE, ModelRule::HandleLeakedAtUnload as u64);
    kernel.assert_no_bugchecks();
    // SAFETY: releases the thread.
    unsafe { KeSetEvent(STUCK.0.get(), 0, 0) };
    // The thread may not even have reached its wait yet: let it finish before
    // the next test's boot resets the dispatcher under it.
    let stuck = stuck_thread as *const () as usize;
    assert!(ntsim::kernel::poll_until(Duration::from_secs(10), || {
        ntsim::thread::system_threads()
            .iter()
            .any(|t| t.start == stuck && t.terminated)
    }));
}

static RUNNING: std::sync::Mutex<Option<std::sync::Arc<std::sync::Barrier>>> = std::sync::Mutex::new(None);
// SAFETY: all-zero is a valid KEVENT before KeInitializeEvent.
static RELEASE: EventCell = EventCell(std::cell::UnsafeCell::new(unsafe { std::mem::zeroed() }));

unsafe extern "C" fn slow_callback(_context: *mut c_void, _a1: *mut c_void, _a2: *mut c_void) {
    let running = RUNNING.lock().unwrap().clone().unwrap();
    running.wait();
    // SAFETY: initialised by the test before the notification.
    let _ = unsafe { KeWaitForSingleObject(RELEASE.0.get().cast(), 0, 0, 0, std::ptr::null_mut()) };
}

#[test]
fn check_callback_running_after_a_removal_that_did_not_wait() {
    let mut kernel = loaded();
    // Model a system where ExUnregisterCallback does not wait (the docs are
    // silent): the driver's callback is still running when it unloads.
    ntsim::excallback::set_unregister_waits(false);
    let running = std::sync::Arc::new(std::sync::Barrier::new(2));
    *RUNNING.lock().unwrap() = Some(running.clone());
    let mut name = ntsim::unicode::OwnedUnicode::new("\\Callback\\NtsimSlow");
    let mut attributes = OBJECT_ATTRIBUTES {
        ObjectName: name.as_ptr(),
        ..Default::default()
    };
    let mut object: PCALLBACK_OBJECT = std::ptr::null_mut();
    // SAFETY: a writable KEVENT in static storage.
    unsafe { KeInitializeEvent(RELEASE.0.get(), wdk_sys::_EVENT_TYPE::NotificationEvent, 0) };
    // SAFETY: valid out pointer and attributes naming a live string.
    let status = unsafe { ExCreateCallback(&raw mut object, &raw mut attributes, 1, 1) };
    assert_eq!(status, STATUS_SUCCESS);
    // SAFETY: the object created above; a 'static routine.
    let registration = unsafe { ExRegisterCallback(object, Some(slow_callback), std::ptr::null_mut()) };
    assert!(!registration.is_null());
    let notifier =
        std::thread::spawn(|| trigger::notify_callback_object("\\Callback\\NtsimSlow", 1, 2, PASSIVE_LEVEL));
    running.wait();
    // SAFETY: unregistering, as a driver would at unload.
    unsafe { ExUnregisterCallback(registration) };
    // SAFETY: dropping the reference ExCreateCallback took.
    let _ = unsafe { ObfDereferenceObject(object.cast()) };
    kernel.unload_driver();
    let check = kernel.expect_bugcheck(CE, slow_callback as *const () as u64);
    assert!(check.text.contains("still running"), "{check}");
    kernel.assert_no_bugchecks();
    // SAFETY: releases the callback.
    unsafe { KeSetEvent(RELEASE.0.get(), 0, 0) };
    assert_eq!(notifier.join().unwrap(), 1);
}
