//! The `DenyImages` and `ProtectPids` policies, and the object-type data exports.

#[allow(clippy::wildcard_imports)]
use super::*;

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
    load(&mut kernel);
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
    unload_clean(&mut kernel);
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
            // (issue 12, item 8; tests/kernel_model/hardening.rs).
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
    unload_clean(&mut kernel);
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
    unload_clean(&mut kernel);
}

unsafe extern "C" fn add_query_information(
    _: PVOID,
    info: POB_PRE_OPERATION_INFORMATION,
) -> OB_PREOP_CALLBACK_STATUS {
    // SAFETY: the model's live information of a create operation.
    *unsafe { crate::model_helpers::create_desired_access(info) } |= PROCESS_QUERY_INFORMATION;
    OB_PREOP_SUCCESS
}

unsafe extern "C" fn remove_vm_read(
    _: PVOID,
    info: POB_PRE_OPERATION_INFORMATION,
) -> OB_PREOP_CALLBACK_STATUS {
    // PROCESS_VM_READ is not on the modifiable list.
    // SAFETY: the model's live information of a create operation.
    *unsafe { crate::model_helpers::create_desired_access(info) } &= !PROCESS_VM_READ;
    OB_PREOP_SUCCESS
}

unsafe extern "C" fn remove_terminate(
    _: PVOID,
    info: POB_PRE_OPERATION_INFORMATION,
) -> OB_PREOP_CALLBACK_STATUS {
    // PROCESS_TERMINATE is on the modifiable list.
    // SAFETY: the model's live information of a create operation.
    *unsafe { crate::model_helpers::create_desired_access(info) } &= !PROCESS_TERMINATE;
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
    events.until_counts(
        &mut kernel,
        "desktop records",
        pid,
        &[(SourceId::ObjectHandle, 2)],
    );
    let o = *events.of(SourceId::ObjectHandle, pid)[0]
        .payload::<ObjectHandlePayload>()
        .expect("ob");
    assert_eq!(o.object_type, kcb_proto::OB_TYPE_DESKTOP);
    unload_clean(&mut kernel);
}
