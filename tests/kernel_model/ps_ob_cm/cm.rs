//! The registry callback: every notify class decoded and never altered, filters above the driver,
//! the model's checks of a registry callback.

#[allow(clippy::wildcard_imports)]
use super::*;

// --- 10. Registry: every notify class, decoded, never altered ----------------------------------------------

const COVERAGE_KEY: &str = "\\Registry\\Machine\\Software\\KcbCoverage";

/// The scripted sequence: (key, operation, status override).
fn registry_script() -> Vec<(String, KeyOperation, Option<NTSTATUS>)> {
    let key = COVERAGE_KEY.to_owned();
    let sub = format!("{COVERAGE_KEY}\\Sub");
    let hive = format!("{COVERAGE_KEY}\\Hive");
    let value = |name: &str| name.to_owned();
    vec![
        (key.clone(), KeyOperation::CreateKeyEx, None),
        (sub.clone(), KeyOperation::CreateKey, None),
        (key.clone(), KeyOperation::OpenKeyEx, None),
        (key.clone(), KeyOperation::OpenKey, None),
        (format!("{COVERAGE_KEY}\\Missing"), KeyOperation::OpenKey, None),
        (format!("{COVERAGE_KEY}\\Missing"), KeyOperation::OpenKeyEx, None),
        (
            format!("{COVERAGE_KEY}\\Link"),
            KeyOperation::OpenKeyEx,
            Some(ntsim::registry::STATUS_REPARSE),
        ),
        (
            key.clone(),
            KeyOperation::SetValue {
                name: value("V"),
                value_type: ntsim::registry::REG_BINARY,
                data: vec![1, 2, 3],
            },
            None,
        ),
        (key.clone(), KeyOperation::QueryValue { name: value("V") }, None),
        (
            key.clone(),
            KeyOperation::QueryValue { name: value("Nope") },
            None,
        ),
        (key.clone(), KeyOperation::EnumerateKey { index: 0 }, None),
        (key.clone(), KeyOperation::EnumerateKey { index: 5 }, None),
        (key.clone(), KeyOperation::EnumerateValueKey { index: 0 }, None),
        (key.clone(), KeyOperation::QueryKey, None),
        (key.clone(), KeyOperation::QueryMultipleValueKey, None),
        (key.clone(), KeyOperation::SetInformationKey, None),
        (key.clone(), KeyOperation::FlushKey, None),
        (key.clone(), KeyOperation::QueryKeySecurity, None),
        (key.clone(), KeyOperation::SetKeySecurity, None),
        (key.clone(), KeyOperation::SaveKey, None),
        (key.clone(), KeyOperation::RestoreKey, None),
        (
            key.clone(),
            KeyOperation::ReplaceKey {
                new_file: value("\\??\\C:\\new.hiv"),
                old_file: value("\\??\\C:\\old.hiv"),
            },
            None,
        ),
        (key.clone(), KeyOperation::QueryKeyName, None),
        (key.clone(), KeyOperation::SaveMergedKey, None),
        (key.clone(), KeyOperation::DeleteValue { name: value("V") }, None),
        (key.clone(), KeyOperation::DeleteValue { name: value("V") }, None),
        (key.clone(), KeyOperation::DeleteKey, None),
        (
            sub,
            KeyOperation::RenameKey {
                new_name: value("Sub2"),
            },
            None,
        ),
        (
            hive.clone(),
            KeyOperation::LoadKey {
                file: value("\\??\\C:\\hive.dat"),
            },
            None,
        ),
        (hive, KeyOperation::UnloadKey, None),
        (key.clone(), KeyOperation::CloseKey, None),
        (key, KeyOperation::ContextCleanup, None),
        (format!("{COVERAGE_KEY}\\Sub2"), KeyOperation::DeleteKey, None),
    ]
}

type ScriptResult = Vec<(
    ntsim::registry::RegistryOutcome,
    Vec<ntsim::registry::KeySnapshot>,
)>;

fn run_script(pid: u64) -> ScriptResult {
    registry_script()
        .into_iter()
        .map(|(key, operation, completes_with)| {
            let outcome = RegistryOperation {
                completes_with,
                ..RegistryOperation::new(pid, &key, operation)
            }
            .fire();
            (outcome, ntsim::registry::snapshot(COVERAGE_KEY))
        })
        .collect()
}

#[test]
fn every_registry_notify_class_is_decoded_and_nothing_is_altered() {
    // The reference: the same operations on a system without the driver.
    let kernel = boot();
    let reference = run_script(0xA_0000);
    kernel.assert_no_bugchecks();
    drop(kernel);

    let mut kernel = loaded();
    let pid = 0xA_1000;
    let calls_before = ntsim::ddi::calls().len();
    let observed = run_script(pid);
    for (index, ((with, with_tree), (without, without_tree))) in observed.iter().zip(&reference).enumerate() {
        let (key, operation, _) = &registry_script()[index];
        assert_eq!(
            with, without,
            "#{index} {operation:?} on {key}: the driver changed the outcome"
        );
        assert!(
            !with.pre_information_changed && !with.post_information_changed,
            "#{index}: wrote into the information"
        );
        assert_eq!(with_tree, without_tree, "#{index}: the registry differs");
    }
    let expected_records: usize = observed
        .iter()
        .map(|(o, _)| 1 + usize::from(o.post_notified))
        .sum();
    let mut events = Events::new();
    let arrived = poll_until(DRAIN_TIMEOUT, || {
        events.0.extend(read_events(&mut kernel, 64));
        count(&events.0, SourceId::Registry, pid) == expected_records
    });
    let seen: Vec<(u16, u32)> = events
        .of(SourceId::Registry, pid)
        .iter()
        .map(|r| {
            (
                r.header.kind,
                r.payload::<RegistryPayload>().expect("cm").notify_class,
            )
        })
        .collect();
    assert!(
        arrived,
        "expected {expected_records} registry records, got {seen:?}"
    );
    let records = events.of(SourceId::Registry, pid);
    let mut records = records.iter();
    let mut classes = std::collections::BTreeSet::new();
    for (index, ((key, operation, _), (outcome, _))) in registry_script().iter().zip(&observed).enumerate() {
        let (pre_class, post_class) = operation.classes();
        let pre = records.next().expect("pre record");
        assert_eq!(pre.header.kind, kind::PRE, "#{index}");
        assert_eq!(pre.header.irql, PASSIVE_LEVEL);
        let r = pre.payload::<RegistryPayload>().expect("registry");
        assert_eq!((r.notify_class, r.status), (pre_class, 0), "#{index}");
        classes.insert(pre_class);
        let path = text(&r.key_path);
        match operation {
            // Close and context cleanup: the object has no reference; no path.
            KeyOperation::CloseKey | KeyOperation::ContextCleanup => {
                assert_eq!(path, "", "#{index}");
            }
            _ => assert_eq!(&path, key, "#{index} {operation:?}"),
        }
        match operation {
            KeyOperation::SetValue {
                name,
                value_type,
                data,
            } => {
                assert_eq!(
                    (text(&r.value_name), r.value_type, r.data_size as usize),
                    (name.clone(), *value_type, data.len())
                );
            }
            KeyOperation::DeleteValue { name } | KeyOperation::QueryValue { name } => {
                assert_eq!(text(&r.value_name), *name);
            }
            _ => assert!(r.value_name.is_empty()),
        }
        let Some(post_class) = post_class else {
            continue;
        };
        let post = records.next().expect("post record");
        assert_eq!(post.header.kind, kind::POST, "#{index}");
        let r = post.payload::<RegistryPayload>().expect("registry");
        classes.insert(post_class);
        assert_eq!(r.notify_class, post_class, "#{index}");
        let status = outcome.registry_status.expect("not blocked");
        let path = text(&r.key_path);
        match post_class {
            // Post close: nothing but the class.
            25 => assert_eq!((r.status, path.as_str()), (0, ""), "#{index}"),
            // Post create/open (pre-Vista form): the complete name, always.
            11 | 13 => assert_eq!((r.status, path.as_str()), (status, key.as_str()), "#{index}"),
            // The object only when Status is STATUS_SUCCESS.
            _ if status == STATUS_SUCCESS => {
                assert_eq!((r.status, path.as_str()), (status, key.as_str()), "#{index}");
            }
            _ => assert_eq!((r.status, path.as_str()), (status, ""), "#{index} {operation:?}"),
        }
    }
    assert_eq!(
        classes,
        (0..=50).collect(),
        "every REG_NOTIFY_CLASS the model can send"
    );
    // Failures were among them.
    for status in [
        STATUS_OBJECT_NAME_NOT_FOUND,
        STATUS_NO_MORE_ENTRIES,
        ntsim::registry::STATUS_REPARSE,
        ntsim::registry::STATUS_CANNOT_DELETE,
    ] {
        assert!(
            observed.iter().any(|(o, _)| o.registry_status == Some(status)),
            "{status:#x}"
        );
    }
    // One release per successful get, nothing outstanding.
    let calls = &ntsim::ddi::calls()[calls_before..];
    let gets = calls
        .iter()
        .filter(|c| c.ddi == "CmCallbackGetKeyObjectIDEx")
        .count();
    let releases = calls
        .iter()
        .filter(|c| c.ddi == "CmCallbackReleaseKeyObjectIDEx")
        .count();
    assert!(gets > 20, "{gets}");
    assert_eq!(gets, releases);
    assert_eq!(ntsim::registry::unreleased_names(), 0);
    unload_clean(&mut kernel);
}

#[test]
fn a_blocking_filter_above_the_driver_hides_the_operation_from_it() {
    unsafe extern "C" fn deny_set_value(_: PVOID, class: PVOID, _: PVOID) -> NTSTATUS {
        if class as usize == 1 {
            STATUS_ACCESS_DENIED
        } else {
            STATUS_SUCCESS
        }
    }
    let mut kernel = loaded();
    let cookie = foreign_cm("400000", Some(deny_set_value)).expect("registered");
    let pid = 0xA_2000;
    let key = "\\Registry\\Machine\\Software\\KcbBlocked";
    let outcome = RegistryOperation::new(
        pid,
        key,
        KeyOperation::SetValue {
            name: "V".to_owned(),
            value_type: 4,
            data: vec![0; 4],
        },
    )
    .fire();
    assert_eq!(
        (outcome.status, outcome.post_notified),
        (STATUS_ACCESS_DENIED, false)
    );
    assert!(ntsim::registry::values(key).is_empty());
    // The next operation reaches the driver; the blocked one never did.
    assert_eq!(
        RegistryOperation::new(pid, key, KeyOperation::FlushKey)
            .fire()
            .status,
        STATUS_SUCCESS
    );
    let mut events = Events::new();
    events.until_counts(&mut kernel, "flush records", pid, &[(SourceId::Registry, 2)]);
    let classes: Vec<u32> = events
        .of(SourceId::Registry, pid)
        .iter()
        .map(|r| r.payload::<RegistryPayload>().expect("cm").notify_class)
        .collect();
    assert_eq!(classes, [30, 31]);
    unregister_cm(cookie);
    unload_clean(&mut kernel);
}

// Proofs that the model's registry checks fire.

static LEAK_COOKIE: std::sync::Mutex<Option<i64>> = std::sync::Mutex::new(None);

/// `CmCallbackGetKeyObjectIDEx` with the cookie of the registration under
/// test (`LEAK_COOKIE`), for `object`, into `id` and `name` (either NULL).
fn get_key_object_id_ex(object: PVOID, id: *mut u64, name: *mut PCUNICODE_STRING) -> NTSTATUS {
    let mut cookie = LARGE_INTEGER {
        QuadPart: LEAK_COOKIE.lock().unwrap().expect("cookie"),
    };
    // SAFETY: a live cookie and out pointers that are valid or NULL; the
    // model checks the object itself (what these proofs exercise).
    unsafe { ntsim::registry::CmCallbackGetKeyObjectIDEx(&raw mut cookie, object, id, name, 0) }
}

unsafe extern "C" fn leak_names(_: PVOID, class: PVOID, info: PVOID) -> NTSTATUS {
    if class as usize == 1 {
        // SAFETY: RegNtPreSetValueKey's information starts with the key object.
        let object = unsafe { *info.cast::<PVOID>() };
        let mut name: PCUNICODE_STRING = std::ptr::null();
        // The model's routine with a live object; the name is leaked on purpose.
        let status = get_key_object_id_ex(object, std::ptr::null_mut(), &raw mut name);
        assert_eq!(status, STATUS_SUCCESS);
    }
    STATUS_SUCCESS
}

unsafe extern "C" fn query_on_close(_: PVOID, class: PVOID, info: PVOID) -> NTSTATUS {
    if class as usize == 14 {
        // SAFETY: REG_KEY_HANDLE_CLOSE_INFORMATION starts with the key object.
        let object = unsafe { *info.cast::<PVOID>() };
        let mut id = 0_u64;
        // The call under test: the object has no reference any more.
        let status = get_key_object_id_ex(object, &raw mut id, std::ptr::null_mut());
        assert_eq!(status, STATUS_INVALID_PARAMETER);
    }
    STATUS_SUCCESS
}

unsafe extern "C" fn query_failed_post(_: PVOID, class: PVOID, info: PVOID) -> NTSTATUS {
    if class as usize == 29 {
        // SAFETY: a REG_POST_OPERATION_INFORMATION.
        let post = unsafe { &*info.cast::<wdk_sys::REG_POST_OPERATION_INFORMATION>() };
        let mut id = 0_u64;
        // The call under test: Status is not STATUS_SUCCESS.
        let status = get_key_object_id_ex(post.Object, &raw mut id, std::ptr::null_mut());
        assert_eq!(status, STATUS_INVALID_PARAMETER);
    }
    STATUS_SUCCESS
}

#[test]
fn the_model_flags_unreleased_names_and_invalid_key_objects() {
    let kernel = boot();
    let key = "\\Registry\\Machine\\Software\\KcbChecks";
    for (routine, operation, completes_with, rule) in [
        (
            leak_names as unsafe extern "C" fn(_, _, _) -> _,
            KeyOperation::SetValue {
                name: "V".to_owned(),
                value_type: 4,
                data: vec![0; 4],
            },
            None,
            ModelRule::HandleLeakedAtUnload,
        ),
        (
            query_on_close,
            KeyOperation::CloseKey,
            None,
            ModelRule::InvalidParameter,
        ),
        (
            query_failed_post,
            KeyOperation::OpenKeyEx,
            Some(ntsim::registry::STATUS_REPARSE),
            ModelRule::InvalidParameter,
        ),
    ] {
        let cookie = foreign_cm("310000", Some(routine)).expect("registered");
        // SAFETY: every bit pattern is a valid i64.
        *LEAK_COOKIE.lock().unwrap() = Some(unsafe { cookie.QuadPart });
        let outcome = RegistryOperation {
            completes_with,
            ..RegistryOperation::new(0xA_3000, key, operation)
        }
        .fire();
        assert!(outcome.status >= 0);
        unregister_cm(cookie);
        let check = kernel.expect_bugcheck(codes::NTSIM_RULE, rule as u64);
        eprintln!("{check}");
        kernel.assert_no_bugchecks();
    }
    let _ = ntsim::registry::unreleased_names();
}
