//! Issue 12 (driver items 1-8): each hardening fix through the driver's REAL
//! `DriverEntry`, notify routines, IOCTLs and unload, against the kernel
//! model. Every test here failed on the code before its fix.
//!
//! Every test uses its own range of process ids, so records other tests
//! left in the driver's static queues never match.

#![allow(clippy::too_many_lines, reason = "scripted scenarios")]
#![allow(
    clippy::significant_drop_tightening,
    reason = "the Kernel is held to the end of each scenario on purpose: dropping it ends the model session"
)]

use kcb_proto::{
    IOCTL_KCB_GET_REPORT, IOCTL_KCB_LIST_REGISTRATIONS, ListRegistrationsRequest, METHOD_IN_DIRECT,
    METHOD_NEITHER, METHOD_OUT_DIRECT, OB_TYPE_THREAD, ObjectHandlePayload, PROCESS_FLAG_DENIED_BY_POLICY,
    ProcessPayload, REGISTRATION_BUFFER_SIZE, RegistrationEntry, RegistryPayload, SourceId, bytes_of,
    decode_registrations, kind,
    params::{MAX_ALTITUDE, MAX_DENY_IMAGES, MAX_IMAGE_NAME, MAX_VALUE_DATA},
    registration_status,
};
use ntsim::Kernel;
use ntsim::registry::{KeyOperation, RegistryOperation};
use ntsim::trigger::{self, HandleOperation, Target};
use ntsim::unicode::OwnedUnicode;
use ntsim::verifier::{ModelRule, codes};
use wdk_sys::{
    OBJ_CASE_INSENSITIVE, OBJECT_ATTRIBUTES, PCALLBACK_OBJECT, PVOID, STATUS_ACCESS_DENIED,
    STATUS_INVALID_DEVICE_REQUEST, STATUS_SUCCESS,
};

#[allow(clippy::wildcard_imports)]
use crate::common::*;

// --- Helpers -------------------------------------------------------------------------------------

/// `OBJECT_ATTRIBUTES` naming `name`, case-insensitive, without
/// `OBJ_KERNEL_HANDLE` (the caller adds it where it wants one).
fn case_insensitive_name(name: &mut OwnedUnicode) -> OBJECT_ATTRIBUTES {
    OBJECT_ATTRIBUTES {
        #[allow(clippy::cast_possible_truncation, reason = "48 bytes")]
        Length: size_of::<OBJECT_ATTRIBUTES>() as u32,
        ObjectName: name.as_ptr(),
        Attributes: OBJ_CASE_INSENSITIVE,
        ..OBJECT_ATTRIBUTES::default()
    }
}

// --- 1. Altitude retries stay in the requested band ----------------------------------------------

/// What `register` (another driver's `api`) returns at each of `altitudes`.
fn foreign_at<T>(
    altitudes: &[&str],
    api: &str,
    register: impl Fn(&str) -> Result<T, wdk_sys::NTSTATUS>,
) -> Vec<T> {
    altitudes
        .iter()
        .map(|a| register(a).unwrap_or_else(|s| panic!("foreign {api} at {a}: {s:#x}")))
        .collect()
}

/// Loads with `ObAltitude` = `ob`, `CmAltitude` = `cm` while other drivers
/// hold `taken_ob` / `taken_cm`; checks the altitudes the driver got.
fn altitude_case(ob: &str, cm: &str, taken_ob: &[&str], taken_cm: &[&str], ob_got: &str, cm_got: &str) {
    let mut kernel = boot();
    prepare_service();
    ntsim::registry::set_string(&parameters_key(), "ObAltitude", ob);
    ntsim::registry::set_string(&parameters_key(), "CmAltitude", cm);
    let handles = foreign_at(taken_ob, "ObRegisterCallbacks", |a| {
        foreign_ob(a, Some(foreign_pre))
    });
    let cookies = foreign_at(taken_cm, "CmRegisterCallbackEx", |a| {
        foreign_cm(a, Some(foreign_registry))
    });
    load(&mut kernel);
    assert_line(
        &kernel,
        &format!("kcallbacks: ObRegisterCallbacks altitude {ob_got}"),
    );
    assert_line(
        &kernel,
        &format!("kcallbacks: CmRegisterCallbackEx altitude {cm_got}"),
    );
    assert!(ntsim::obcallbacks::altitudes().iter().any(|a| a == ob_got));
    assert!(
        ntsim::registry::callbacks()
            .iter()
            .any(|(_, a)| a.as_deref() == Some(cm_got))
    );
    for handle in handles {
        // SAFETY: a handle ObRegisterCallbacks returned, unregistered once.
        unsafe { ntsim::obcallbacks::ObUnRegisterCallbacks(handle) };
    }
    for cookie in cookies {
        // SAFETY: a cookie CmRegisterCallbackEx returned, unregistered once.
        let status = unsafe { ntsim::registry::CmUnRegisterCallback(cookie) };
        assert_eq!(status, STATUS_SUCCESS);
    }
    unload_clean(&mut kernel);
}

#[test]
fn integer_altitudes_retry_between_the_altitude_and_the_next_integer() {
    // Before: 371942 retried as 3719421, three orders of magnitude higher.
    altitude_case(
        "371942",
        "371950",
        &["371942"],
        &["371950"],
        "371942.1",
        "371950.1",
    );
    altitude_case(
        "371942",
        "371950",
        &["371942", "371942.1", "371942.2"],
        &["371950", "371950.1"],
        "371942.3",
        "371950.2",
    );
    // With a fraction: one more digit of it.
    altitude_case(
        "371942.7193",
        "371942.7194",
        &["371942.7193"],
        &["371942.7194", "371942.71941"],
        "371942.71931",
        "371942.71942",
    );
}

#[test]
fn altitudes_of_the_maximum_length_are_used_whole() {
    // Before: the first attempt kept 30 of the 31 units allowed.
    let ob = "1234567890.12345678901234567890";
    let cm = "1234567890.12345678901234567891";
    assert_eq!(ob.len(), MAX_ALTITUDE);
    altitude_case(ob, cm, &[], &[], ob, cm);
    // 30 units and a collision: the retry digit makes it 31.
    altitude_case(
        &ob[..30],
        &cm[..29],
        &[&ob[..30]],
        &[&cm[..29]],
        &format!("{}1", &ob[..30]),
        &format!("{}1", &cm[..29]),
    );
}

// --- 2. DenyImages: paths are rejected, the documented maximum is read whole ---------------------

fn load_with_deny_images(values: &[&str]) -> Kernel {
    let mut kernel = boot();
    prepare_service();
    ntsim::registry::set_multi_string(&parameters_key(), "DenyImages", values);
    load(&mut kernel);
    kernel
}

fn denied(kernel: &mut Kernel, pid: u64, image: &str) -> bool {
    let status = trigger::ProcessCreate::new(pid, pid - 4, image).fire();
    let records = read_until(kernel, image, |r| {
        !select(r, SourceId::ProcessCreate, pid).is_empty()
    });
    let record = select(&records, SourceId::ProcessCreate, pid)[0];
    let flagged =
        record.payload::<ProcessPayload>().expect("process").flags & PROCESS_FLAG_DENIED_BY_POLICY != 0;
    assert_eq!(
        status == STATUS_ACCESS_DENIED,
        flagged,
        "{image}: status and event agree"
    );
    flagged
}

#[test]
fn deny_images_entries_with_a_path_are_rejected_with_a_config_line() {
    let mut kernel = load_with_deny_images(&["bad.exe", "C:\\x\\evil.exe"]);
    assert_line(
        &kernel,
        "kcallbacks: config: invalid value DenyImages: an entry is a path; DenyImages compares file names only (e.g. evil.exe), so it could never match; default used",
    );
    assert!(
        !driver_lines(&kernel).iter().any(|l| l.contains("deny policy on")),
        "not reported as on"
    );
    assert!(!denied(&mut kernel, 0x12_1000, "\\??\\C:\\x\\evil.exe"));
    assert!(
        !denied(&mut kernel, 0x12_1010, "\\??\\C:\\x\\bad.exe"),
        "the whole value is invalid"
    );
    unload_clean(&mut kernel);
}

fn longest_names(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("{i:02}{}.exe", "n".repeat(MAX_IMAGE_NAME - 6)))
        .collect()
}

#[test]
fn deny_images_at_the_documented_maximum_is_applied() {
    // Before: the value did not fit the 512-byte buffer and was skipped,
    // so the policy was off.
    let names = longest_names(MAX_DENY_IMAGES);
    assert!(names.iter().all(|n| n.len() == MAX_IMAGE_NAME));
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut kernel = load_with_deny_images(&refs);
    assert_line(
        &kernel,
        "kcallbacks: config: DenyImages: 8 image names (deny policy on)",
    );
    assert!(denied(
        &mut kernel,
        0x12_2000,
        &format!("\\??\\C:\\x\\{}", names[7])
    ));
    assert!(denied(
        &mut kernel,
        0x12_2010,
        &format!("\\Device\\HarddiskVolume2\\{}", names[0].to_uppercase())
    ));
    assert!(!denied(&mut kernel, 0x12_2020, "\\??\\C:\\x\\other.exe"));
    unload_clean(&mut kernel);
}

#[test]
fn deny_images_beyond_the_documented_maximum_is_reported_invalid() {
    let names = longest_names(MAX_DENY_IMAGES + 1);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let size = names.len() * (MAX_IMAGE_NAME + 1) * 2 + 2;
    assert!(size > MAX_VALUE_DATA);
    let mut kernel = load_with_deny_images(&refs);
    assert_line(
        &kernel,
        &format!(
            "kcallbacks: config: invalid value DenyImages: {size} bytes of data, more than the {MAX_VALUE_DATA} any setting takes; default used"
        ),
    );
    assert!(!denied(
        &mut kernel,
        0x12_3000,
        &format!("\\??\\C:\\x\\{}", names[0])
    ));
    unload_clean(&mut kernel);
}

// --- 5. ExCreateCallback always with OBJ_KERNEL_HANDLE ------------------------------------------

#[test]
fn the_model_flags_excreatecallback_without_a_kernel_handle_outside_the_system_process() {
    let kernel = boot();
    let mut name = OwnedUnicode::new("\\Callback\\NtsimHardeningUserHandle");
    let mut attributes = case_insensitive_name(&mut name);
    let mut object: PCALLBACK_OBJECT = std::ptr::null_mut();
    let status = ntsim::context::with_process(0x12_5000, || {
        // SAFETY: valid attributes and out-pointer.
        unsafe { ntsim::excallback::ExCreateCallback(&raw mut object, &raw mut attributes, 1, 1) }
    });
    assert_eq!(status, STATUS_SUCCESS);
    let check = kernel.expect_bugcheck(codes::NTSIM_RULE, ModelRule::InvalidParameter as u64);
    assert!(check.text.contains("OBJ_KERNEL_HANDLE"), "{check}");
    // SAFETY: the object ExCreateCallback returned, dereferenced once.
    unsafe { ntsim::excallback::ObfDereferenceObject(object.cast()) };
    kernel.assert_no_bugchecks();
}

#[test]
fn list_registrations_in_the_client_process_opens_objects_with_kernel_handles() {
    // Before: ExCreateCallback got OBJ_CASE_INSENSITIVE only, also in the
    // client's process (IOCTL_KCB_LIST_REGISTRATIONS).
    let mut kernel = loaded();
    let _ = list_registrations(&mut kernel);
    assert!(ntsim::ddi::call_count("ExCreateCallback") > 1);
    kernel.assert_no_bugchecks();
    unload_clean(&mut kernel);
}

// --- 7. IOCTL transfer method checked before the system buffer is used -------------------------

#[test]
fn ioctls_with_another_transfer_method_are_refused_before_the_buffer_is_touched() {
    let mut kernel = loaded();
    let header = bytes_of(&kcb_proto::GetReportRequest::new()).to_vec();
    for method in [METHOD_NEITHER, METHOD_IN_DIRECT, METHOD_OUT_DIRECT] {
        let code = (IOCTL_KCB_GET_REPORT & !3) | method;
        for (input, output) in [
            (&header[..], kcb_proto::REPORT_BUFFER_SIZE),
            (&[][..], 64),
            (&header[..], 0),
        ] {
            let (status, out) = kernel.device_io_control(code, input, output);
            assert_eq!(
                status,
                STATUS_INVALID_DEVICE_REQUEST,
                "method {method}, input {}, output {output}",
                input.len()
            );
            assert!(out.is_empty());
        }
    }
    // The buffered code itself still works.
    let (status, _) = get_report(&mut kernel);
    assert_eq!(status, STATUS_SUCCESS);
    unload_clean(&mut kernel);
}

// --- 8. ProtectPids covers the protected process's threads -------------------------------------

const THREAD_TERMINATE: u32 = 0x0001;
const THREAD_SUSPEND_RESUME: u32 = 0x0002;
const THREAD_SET_CONTEXT: u32 = 0x0010;
const THREAD_QUERY_INFORMATION: u32 = 0x0040;
const THREAD_ALL_ACCESS: u32 = 0x001F_FFFF;
const THREAD_PROTECTED: u32 = THREAD_TERMINATE | THREAD_SUSPEND_RESUME | THREAD_SET_CONTEXT;

#[test]
fn protect_pids_strips_thread_rights_too() {
    let protected = 0x12_8000_u64;
    let mut kernel = boot();
    prepare_service();
    ntsim::registry::set_multi_string(&parameters_key(), "ProtectPids", &[&protected.to_string()]);
    load(&mut kernel);
    let thread = protected + 4;
    let other = 0x12_8100_u64;
    let requester = (other, other + 4);
    let cases: [(&str, HandleOperation, u32); 7] = [
        (
            "open, all access",
            HandleOperation::open_thread(protected, thread, THREAD_ALL_ACCESS, requester),
            THREAD_PROTECTED,
        ),
        (
            "open, terminate and query",
            HandleOperation::open_thread(
                protected,
                thread,
                THREAD_TERMINATE | THREAD_QUERY_INFORMATION,
                (other + 0x10, other + 0x14),
            ),
            THREAD_TERMINATE,
        ),
        (
            "open, no protected right",
            HandleOperation::open_thread(
                protected,
                thread,
                THREAD_QUERY_INFORMATION,
                (other + 0x20, other + 0x24),
            ),
            0,
        ),
        (
            "duplicate into another process",
            HandleOperation {
                target: Target::Thread(protected, thread),
                ..HandleOperation::duplicate_process(
                    protected,
                    THREAD_SET_CONTEXT | THREAD_SUSPEND_RESUME,
                    (protected, protected + 8),
                    protected,
                    other,
                )
            },
            THREAD_SET_CONTEXT | THREAD_SUSPEND_RESUME,
        ),
        (
            "a kernel handle",
            HandleOperation::open_thread(protected, thread, THREAD_ALL_ACCESS, (other + 0x30, other + 0x34))
                .kernel(),
            0,
        ),
        (
            "the process's own thread",
            HandleOperation::open_thread(protected, thread, THREAD_ALL_ACCESS, (protected, protected + 0xC)),
            0,
        ),
        (
            "a thread of an unprotected process",
            HandleOperation::open_thread(other, other + 8, THREAD_ALL_ACCESS, (other + 0x40, other + 0x44)),
            0,
        ),
    ];
    let mut records = Vec::new();
    for (what, operation, stripped) in &cases {
        let granted = operation.fire();
        assert_eq!(granted, operation.desired_access & !stripped, "{what}: granted");
        let source = operation.source.0;
        let before = records.len();
        let more = read_until(&mut kernel, what, |r| {
            select(r, SourceId::ObjectHandle, source).iter().any(|x| {
                x.header.kind == kind::PRE
                    && x.payload::<ObjectHandlePayload>()
                        .is_some_and(|p| p.object_type == OB_TYPE_THREAD)
            })
        });
        records.extend(more);
        let pre = select(&records[before..], SourceId::ObjectHandle, source)
            .into_iter()
            .find(|x| x.header.kind == kind::PRE)
            .expect("pre record");
        let payload = *pre.payload::<ObjectHandlePayload>().expect("handle payload");
        assert_eq!(payload.object_type, OB_TYPE_THREAD, "{what}");
        assert_eq!(payload.stripped_access, *stripped, "{what}: reported");
        assert_eq!(
            payload.desired_access, operation.desired_access,
            "{what}: as seen on entry"
        );
    }
    unload_clean(&mut kernel);
}

// --- 3. Registry names relative to RootObject are recorded in full -----------------------------

/// Fires `operation` on `key` (relative to `root` when given) from `pid`
/// and returns the pre notification's recorded key path and truncation.
fn recorded_open(
    kernel: &mut Kernel,
    pid: u64,
    key: &str,
    root: Option<&str>,
    operation: KeyOperation,
) -> (String, bool) {
    let class = operation.classes().0;
    let outcome = RegistryOperation {
        relative_to: root.map(str::to_owned),
        ..RegistryOperation::new(pid, key, operation)
    }
    .fire();
    assert!(outcome.status >= 0, "{key}: {:#x}", outcome.status);
    let records = read_until(kernel, key, |r| {
        select(r, SourceId::Registry, pid).iter().any(|x| {
            x.payload::<RegistryPayload>()
                .is_some_and(|p| p.notify_class == class)
        })
    });
    let record = select(&records, SourceId::Registry, pid)
        .into_iter()
        .find(|x| {
            x.payload::<RegistryPayload>()
                .is_some_and(|p| p.notify_class == class)
        })
        .expect("pre record");
    let payload = record.payload::<RegistryPayload>().expect("registry payload");
    assert_eq!(record.header.kind, kind::PRE);
    assert_eq!(
        record.is_truncated(),
        payload.key_path.is_truncated(),
        "the header's truncated flag follows the path"
    );
    (
        String::from_utf16_lossy(payload.key_path.as_units()),
        payload.key_path.is_truncated(),
    )
}

fn relative_names_case(kernel: &mut Kernel, base: u64) {
    let machine = "\\Registry\\Machine\\Software";
    ntsim::registry::create_key(&format!("{machine}\\KcbRelative\\Existing"));
    // Before: recorded as "KcbRelative\Child", as if absolute.
    assert_eq!(
        recorded_open(
            kernel,
            base,
            "KcbRelative\\Child",
            Some(machine),
            KeyOperation::CreateKeyEx
        ),
        (format!("{machine}\\KcbRelative\\Child"), false)
    );
    assert_eq!(
        recorded_open(
            kernel,
            base + 4,
            "KcbRelative\\Existing",
            Some(machine),
            KeyOperation::OpenKeyEx
        ),
        (format!("{machine}\\KcbRelative\\Existing"), false)
    );
    // An absolute name stays as it is, RootObject or not.
    let absolute = format!("{machine}\\KcbRelative\\Absolute");
    assert_eq!(
        recorded_open(kernel, base + 8, &absolute, None, KeyOperation::CreateKeyEx),
        (absolute.clone(), false)
    );
    // Too long for the record: cut, and marked truncated.
    let deep = format!("{machine}\\{}", "D".repeat(140));
    ntsim::registry::create_key(&deep);
    let (path, truncated) = recorded_open(
        kernel,
        base + 12,
        "0123456789\\abcdefghij",
        Some(&deep),
        KeyOperation::CreateKeyEx,
    );
    let full = format!("{deep}\\0123456789\\abcdefghij");
    assert!(full.len() > 160);
    assert_eq!(path, full[..160]);
    assert!(truncated);
    assert_eq!(ntsim::registry::unreleased_names(), 0, "every Ex name released");
}

#[test]
fn relative_create_and_open_names_are_resolved_against_the_root_key() {
    let mut kernel = loaded();
    relative_names_case(&mut kernel, 0x12_9000);
    unload_clean(&mut kernel);
}

#[test]
fn relative_names_use_the_legacy_key_name_routine_where_ex_is_missing() {
    let mut kernel = loaded_without(&["CmCallbackGetKeyObjectIDEx", "CmCallbackReleaseKeyObjectIDEx"]);
    relative_names_case(&mut kernel, 0x12_A000);
    let calls = ntsim::ddi::calls();
    assert!(calls.iter().any(|c| c.ddi == "CmCallbackGetKeyObjectID"));
    assert!(!calls.iter().any(|c| c.ddi == "CmCallbackGetKeyObjectIDEx"));
    unload_clean(&mut kernel);
}

// --- 6. No unload while the PMI handler is installed -------------------------------------------

#[test]
fn the_driver_refuses_to_unload_while_its_pmi_handler_is_installed() {
    let mut kernel = boot();
    prepare_service();
    ntsim::registry::set_dword(&parameters_key(), "EnableProfileInterrupt", 1);
    load(&mut kernel);
    let handler = ntsim::power::profile_handler();
    assert_ne!(handler, 0, "installed");
    assert_line(
        &kernel,
        &format!(
            "kcallbacks: {}",
            kcallbacks::registrations::hal::UNLOAD_REFUSED_LINE
        ),
    );
    let object = kernel.driver_object();
    // SAFETY: the loaded driver's object.
    let unload = unsafe { (*object).DriverUnload };
    assert!(unload.is_none(), "no DriverUnload: the I/O manager refuses");
    // Before: unload cleared the slot and returned while a PMI dispatched
    // on another processor could still be running the handler.
    assert!(!kernel.unload_driver(), "refused");
    assert!(kernel.is_loaded());
    assert_eq!(ntsim::power::profile_handler(), handler, "still installed");
    assert!(trigger::profile_interrupt(), "and still served by a loaded image");
    kernel.assert_no_bugchecks();
    assert!(
        !driver_lines(&kernel)
            .iter()
            .any(|l| l.starts_with("kcallbacks: unloaded")),
        "DriverUnload never ran"
    );
    unload_even_if_refused(&mut kernel);
    assert_eq!(ntsim::power::profile_handler(), 0);
    assert_nothing_left(&kernel);
    drop(kernel);

    // Without the handler the driver unloads as always.
    let mut kernel = loaded();
    assert_eq!(ntsim::power::profile_handler(), 0);
    let object = kernel.driver_object();
    // SAFETY: the loaded driver's object.
    assert!(unsafe { (*object).DriverUnload }.is_some());
    assert!(kernel.unload_driver());
    assert_nothing_left(&kernel);
}

// --- 4. Registration walker: verified builds only, plausible lock word -------------------------

fn list_registrations(kernel: &mut Kernel) -> Vec<RegistrationEntry> {
    kcallbacks::config::settings::test_seam::set_walk_enabled(true);
    let (status, out) = kernel.device_io_control(
        IOCTL_KCB_LIST_REGISTRATIONS,
        bytes_of(&ListRegistrationsRequest::new()),
        REGISTRATION_BUFFER_SIZE,
    );
    kcallbacks::config::settings::test_seam::set_walk_enabled(false);
    assert_eq!(status, STATUS_SUCCESS);
    let list = decode_registrations(&out).expect("a valid LIST_REGISTRATIONS reply");
    list.entries.iter().collect()
}

fn entry_name(entry: &RegistrationEntry) -> String {
    String::from_utf16_lossy(entry.object.as_units())
}

const unsafe extern "C" fn walked_routine(_: PVOID, _: PVOID, _: PVOID) {}

fn acquired_locks() -> usize {
    ntsim::ddi::call_count("KeAcquireSpinLockRaiseToDpc")
}

#[test]
fn the_walk_is_refused_on_a_build_where_the_layout_was_not_verified() {
    let mut kernel = loaded();
    assert_eq!(ntsim::version::build(), 26100);
    assert!(kcallbacks::registrations::walker::VERIFIED_BUILDS.contains(&26100));
    let walked = list_registrations(&mut kernel);
    assert!(walked.len() > 1, "walked on 26100: {walked:#?}");
    assert!(
        walked
            .iter()
            .all(|e| e.status != registration_status::BUILD_NOT_VERIFIED)
    );

    // Before: the walk ran (and took each object's lock) on any build.
    ntsim::version::set_build(22631);
    let locks = acquired_locks();
    let opened = ntsim::ddi::calls()
        .iter()
        .filter(|c| c.ddi == "ExCreateCallback")
        .count();
    let refused = list_registrations(&mut kernel);
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(
        (
            refused[0].status,
            refused[0].detail,
            refused[0].routine,
            entry_name(&refused[0])
        ),
        (
            registration_status::BUILD_NOT_VERIFIED,
            22631,
            0,
            "\\Callback".to_owned()
        )
    );
    assert_eq!(acquired_locks(), locks, "no lock taken");
    assert_eq!(
        ntsim::ddi::calls()
            .iter()
            .filter(|c| c.ddi == "ExCreateCallback")
            .count(),
        opened,
        "no object opened"
    );
    assert_line(
        &kernel,
        "kcallbacks: registration walk: refused: the callback-object layout was not verified on Windows build 22631 (verified: [26100]); nothing read",
    );
    // RtlGetVersion missing: the build is unknown (0), refused as well.
    ntsim::version::set_build(26100);
    ntsim::exports::hide("RtlGetVersion");
    let refused = list_registrations(&mut kernel);
    assert_eq!(
        (refused.len(), refused[0].status, refused[0].detail),
        (1, registration_status::BUILD_NOT_VERIFIED, 0)
    );
    ntsim::exports::expose("RtlGetVersion");
    unload_clean(&mut kernel);
}

#[test]
fn a_lock_word_that_is_not_a_spin_lock_is_never_acquired() {
    const NAME: &str = "\\Callback\\NtsimHardeningLockWord";
    let mut kernel = loaded();
    let mut name = OwnedUnicode::new(NAME);
    let mut attributes = case_insensitive_name(&mut name);
    let mut object: PCALLBACK_OBJECT = std::ptr::null_mut();
    // SAFETY: valid attributes and out-pointer (the test's own, system-process thread).
    let status = unsafe { ntsim::excallback::ExCreateCallback(&raw mut object, &raw mut attributes, 1, 1) };
    assert_eq!(status, STATUS_SUCCESS);
    // SAFETY: a live object and a 'static routine.
    let handle =
        unsafe { ntsim::excallback::ExRegisterCallback(object, Some(walked_routine), std::ptr::null_mut()) };
    assert!(!handle.is_null());
    let address = ntsim::excallback::object(NAME).expect("created").address;
    let of_object = |entries: &[RegistrationEntry]| -> Vec<(u32, u32)> {
        entries
            .iter()
            .filter(|e| entry_name(e) == NAME)
            .map(|e| (e.status, e.detail))
            .collect()
    };
    assert_eq!(
        of_object(&list_registrations(&mut kernel)),
        [(registration_status::NO_MODULE, 0)],
        "intact: walked"
    );
    // Before: acquired anyway, writing into whatever the word was (the
    // model's spin lock never comes free: watchdog).
    for value in [2_usize, 0xFFFF_8000_1234_5670, usize::MAX] {
        let old = ntsim::excallback::corrupt(address + 0x08, value);
        assert_eq!(old, 0, "a free lock");
        assert_eq!(
            of_object(&list_registrations(&mut kernel)),
            [(
                registration_status::LAYOUT_NOT_RECOGNISED,
                kcb_proto::layout_check::LOCK_VALUE
            )],
            "{value:#x}"
        );
        assert_eq!(
            ntsim::excallback::corrupt(address + 0x08, old),
            value,
            "left untouched"
        );
    }
    kernel.assert_no_bugchecks();
    // SAFETY: the registration above, removed once; then the reference
    // ExCreateCallback took.
    unsafe {
        ntsim::excallback::ExUnregisterCallback(handle);
    }
    // SAFETY: dropped once.
    unsafe { ntsim::excallback::ObfDereferenceObject(object.cast()) };
    unload_clean(&mut kernel);
}
