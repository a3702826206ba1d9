//! Unload and reload, fault injection at each registration, no pool per event.

#[allow(clippy::wildcard_imports)]
use super::*;

// --- 7. Unload and reload -------------------------------------------------------------------------

#[test]
fn unload_removes_everything_and_the_driver_loads_again() {
    let mut kernel = boot();
    for round in 0..2_u64 {
        assert_eq!(kernel.load_driver(), STATUS_SUCCESS, "load #{round}");
        assert_eq!(ntsim::ps::process_routines().len(), 1);
        assert_eq!(ntsim::ps::thread_routines().len(), 1);
        assert_eq!(ntsim::ps::load_image_routines().len(), 1);
        assert_eq!(
            ntsim::obcallbacks::altitudes(),
            [DEFAULT_OB_ALTITUDE.to_owned()],
            "fresh altitude each load"
        );
        assert_eq!(ntsim::registry::callbacks().len(), 1);
        let pid = 0x7_0000 + round * 0x100;
        assert_eq!(
            trigger::ProcessCreate::new(pid, pid + 4, "\\??\\C:\\again.exe").fire(),
            STATUS_SUCCESS
        );
        assert_eq!(
            HandleOperation::open_process(pid + 8, 0x1000, (pid, pid + 4)).fire(),
            0x1000
        );
        assert_eq!(
            trigger::registry_open_key(pid, "\\Registry\\Machine\\Software"),
            STATUS_SUCCESS
        );
        let mut events = Events::new();
        events.until_counts(
            &mut kernel,
            "events",
            pid,
            &[
                (SourceId::ProcessCreate, 1),
                (SourceId::ObjectHandle, 2),
                (SourceId::Registry, 2),
            ],
        );
        kernel.unload_driver();
        assert!(ntsim::ps::process_routines().is_empty());
        assert!(ntsim::ps::thread_routines().is_empty());
        assert!(ntsim::obcallbacks::altitudes().is_empty());
        assert!(ntsim::registry::callbacks().is_empty());
        assert_nothing_left(&kernel);
        // Nothing fires any more.
        assert_eq!(trigger::process_exit(pid, pid + 4), 0);
    }
}

// --- 8. Fault injection at every registration of these families ----------------------------------------

#[test]
fn fault_injection_at_each_registration_is_reported_and_unload_is_clean() {
    let cases: [(&str, &[&str], &str); 9] = [
        (EX2, &[], EX2),
        (
            "PsSetCreateProcessNotifyRoutineEx",
            &[EX2],
            "PsSetCreateProcessNotifyRoutineEx",
        ),
        (THREAD_EX, &[], THREAD_EX),
        (
            "PsSetCreateThreadNotifyRoutine",
            &[THREAD_EX],
            "PsSetCreateThreadNotifyRoutine",
        ),
        (IMAGE_EX, &[], IMAGE_EX),
        (
            "PsSetLoadImageNotifyRoutine",
            &[IMAGE_EX],
            "PsSetLoadImageNotifyRoutine",
        ),
        ("ObRegisterCallbacks", &[], "ObRegisterCallbacks"),
        (CM_EX, &[], CM_EX),
        ("CmRegisterCallback", &[CM_EX], "CmRegisterCallback"),
    ];
    let statuses = [STATUS_INSUFFICIENT_RESOURCES, 0xC000_0017_u32.cast_signed()]; // STATUS_NO_MEMORY
    for (index, (ddi, hidden, api)) in cases.iter().enumerate() {
        for status in statuses {
            let mut kernel = boot();
            for name in *hidden {
                ntsim::exports::hide(name);
            }
            faults::fail_nth_on_this_thread(ddi, 1, status);
            assert_eq!(kernel.load_driver(), STATUS_SUCCESS, "{ddi}");
            assert_eq!(faults::fired().len(), 1, "{ddi}: the fault fired");
            assert_failed(&mut kernel, api, status);
            // The other families are in place and deliver.
            let pid = 0x8_0000 + 0x100 * index as u64;
            assert_eq!(
                trigger::ProcessCreate::new(pid, pid + 4, "\\??\\C:\\fault.exe").fire(),
                STATUS_SUCCESS
            );
            let process_on = !ntsim::ps::process_routines().is_empty();
            assert_eq!(process_on, !ddi.starts_with("PsSetCreateProcess"), "{ddi}");
            if process_on {
                let mut events = Events::new();
                events.until_counts(&mut kernel, ddi, pid, &[(SourceId::ProcessCreate, 1)]);
            }
            assert_runs_on(&mut kernel, pid);
            unload_clean(&mut kernel);
        }
    }
}

// --- 9. Zero allocations per event ----------------------------------------------------------------------

/// One event trigger.
type Step = Box<dyn Fn()>;

#[test]
fn no_routine_allocates_pool_per_event() {
    for legacy_get in [false, true] {
        let mut kernel = boot();
        if legacy_get {
            ntsim::exports::hide("CmCallbackGetKeyObjectIDEx");
        }
        load(&mut kernel);
        let pid = 0x9_0000 + u64::from(legacy_get) * 0x1000;
        let key = format!("\\Registry\\Machine\\Software\\KcbAlloc{pid:x}");
        let set = KeyOperation::SetValue {
            name: "V".to_owned(),
            value_type: ntsim::registry::REG_DWORD,
            data: vec![1, 0, 0, 0],
        };
        let steps: Vec<(&str, Step)> = vec![
            (
                "process create",
                Box::new(move || {
                    assert_eq!(
                        trigger::ProcessCreate::new(pid, pid + 4, "\\??\\C:\\a.exe").fire(),
                        0
                    );
                }),
            ),
            (
                "thread create",
                Box::new(move || {
                    assert_eq!(
                        trigger::thread_notify(pid, pid + 8, true, (pid, pid + 8), PASSIVE_LEVEL),
                        1
                    );
                }),
            ),
            (
                "thread exit",
                Box::new(move || {
                    assert_eq!(
                        trigger::thread_notify(pid, pid + 8, false, (pid, pid + 8), PASSIVE_LEVEL),
                        1
                    );
                }),
            ),
            (
                "image load",
                Box::new(move || {
                    assert_eq!(
                        trigger::load_image("\\Windows\\a.dll", pid, 0x1000_0000, 0x1000, false),
                        1
                    );
                }),
            ),
            (
                "ob create",
                Box::new(move || {
                    assert_eq!(
                        HandleOperation::open_process(pid + 12, 0x1000, (pid, pid + 8)).fire(),
                        0x1000
                    );
                }),
            ),
            (
                "ob duplicate",
                Box::new(move || {
                    assert_eq!(
                        HandleOperation::duplicate_process(pid + 12, 0x1000, (pid, pid + 8), pid, pid).fire(),
                        0x1000
                    );
                }),
            ),
            (
                "cm set value",
                Box::new({
                    let key = key.clone();
                    move || assert_eq!(RegistryOperation::new(pid, &key, set.clone()).fire().status, 0)
                }),
            ),
            (
                "cm query missing",
                Box::new({
                    let key = key.clone();
                    move || {
                        assert_eq!(
                            RegistryOperation::new(
                                pid,
                                &key,
                                KeyOperation::QueryValue {
                                    name: "none".to_owned()
                                }
                            )
                            .fire()
                            .status,
                            STATUS_OBJECT_NAME_NOT_FOUND
                        );
                    }
                }),
            ),
            (
                "cm create key",
                Box::new({
                    let key = key.clone();
                    move || {
                        assert_eq!(
                            RegistryOperation::new(pid, &key, KeyOperation::CreateKeyEx)
                                .fire()
                                .status,
                            0
                        );
                    }
                }),
            ),
            (
                "process exit",
                Box::new(move || assert_eq!(trigger::process_exit(pid, pid + 4), 1)),
            ),
        ];
        let get_calls = || {
            ntsim::ddi::calls()
                .iter()
                .filter(|c| c.ddi.starts_with("CmCallbackGetKeyObjectID"))
                .count()
        };
        let gets_before = get_calls();
        for (what, step) in &steps {
            let made = ntsim::pool::count_allocations(step);
            assert_eq!(made, 0, "{what} allocated pool (legacy get: {legacy_get})");
        }
        assert!(
            get_calls() > gets_before,
            "the key-name routine ran (and its own memory did not count)"
        );
        let mut events = Events::new();
        events.until_counts(
            &mut kernel,
            "records",
            pid,
            &[(SourceId::ProcessCreate, 2), (SourceId::Registry, 6)],
        );
        let with_path = events
            .of(SourceId::Registry, pid)
            .iter()
            .filter(|r| text(&r.payload::<RegistryPayload>().expect("cm").key_path) == key)
            .count();
        assert!(with_path >= 3, "key paths were resolved");
        unload_clean(&mut kernel);
    }
}
