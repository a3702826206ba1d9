//! Fallbacks to the older routines, limits and statuses, `FORCE_INTEGRITY`, altitudes.

#[allow(clippy::wildcard_imports)]
use super::*;

// --- 2. Fallbacks -------------------------------------------------------------------

/// Loads with `hidden` exports missing; checks the variant each family
/// used, that events flow, and that unload removes the right routine.
fn fallback_case(hidden: &[&str], base: u64) {
    let mut kernel = loaded_without(hidden);
    let is_hidden = |name: &str| hidden.contains(&name);
    let pick = |name: &'static str, older: &'static str| {
        if is_hidden(name) {
            (older, name)
        } else {
            (name, older)
        }
    };
    let families = [
        pick(EX2, "PsSetCreateProcessNotifyRoutineEx"),
        pick(THREAD_EX, "PsSetCreateThreadNotifyRoutine"),
        pick(IMAGE_EX, "PsSetLoadImageNotifyRoutine"),
        pick(CM_EX, "CmRegisterCallback"),
    ];
    for (used, unused) in families {
        assert_registered(&mut kernel, used);
        assert_eq!(entry(&mut kernel, unused), None, "{unused} not attempted");
    }
    // The model's view of what was registered.
    let process = ntsim::ps::process_routines();
    assert_eq!(process.len(), 1);
    assert_eq!(
        process[0].1,
        if is_hidden(EX2) { 1 } else { 2 },
        "Ex (1) or Ex2 (2)"
    );
    assert_eq!(ntsim::ps::thread_routines().len(), 1);
    assert_eq!(ntsim::ps::load_image_routines().len(), 1);
    let registry = ntsim::registry::callbacks();
    assert_eq!(registry.len(), 1);
    assert_eq!(
        registry[0].1.is_none(),
        is_hidden(CM_EX),
        "the legacy routine has no altitude"
    );

    // Events flow through whichever variant.
    let (pid, creator, tid) = (base, base + 0x100, base + 0x104);
    assert_eq!(
        trigger::ProcessCreate::new(pid, creator, "\\??\\C:\\fallback.exe").fire(),
        STATUS_SUCCESS
    );
    // A thread created in `pid` by another process, and one by `pid` itself.
    assert_eq!(
        trigger::thread_notify(pid, pid + 4, true, (creator, tid), PASSIVE_LEVEL),
        1
    );
    assert_eq!(
        trigger::thread_notify(pid, pid + 8, true, (pid, pid + 4), PASSIVE_LEVEL),
        1
    );
    let name = format!("\\Windows\\System32\\fallback-{base:x}.dll");
    assert_eq!(trigger::load_image(&name, pid, 0x1000_0000, 0x1000, false), 1);
    let key = format!("\\Registry\\Machine\\Software\\KcbFallback{base:x}");
    assert_eq!(
        trigger::registry_set_value(pid, &key, "V", ntsim::registry::REG_DWORD, &[1, 0, 0, 0]),
        STATUS_SUCCESS
    );
    let mut events = Events::new();
    events.until_counts(
        &mut kernel,
        "fallback events",
        pid,
        &[
            (SourceId::ProcessCreate, 1),
            (SourceId::ThreadCreate, 2),
            (SourceId::LoadImage, 1),
            (SourceId::Registry, 2),
        ],
    );
    let threads = events.of(SourceId::ThreadCreate, pid);
    let payloads: Vec<ThreadPayload> = threads
        .iter()
        .map(|r| *r.payload::<ThreadPayload>().expect("thread"))
        .collect();
    if is_hidden(THREAD_EX) {
        // The plain routine runs in the creator's context.
        assert_eq!(
            payloads[0].flags,
            THREAD_FLAG_REMOTE | THREAD_FLAG_CREATOR_CONTEXT
        );
        assert_eq!((payloads[0].creator_pid, payloads[0].creator_tid), (creator, tid));
        assert_eq!(
            payloads[1].flags, THREAD_FLAG_CREATOR_CONTEXT,
            "created by the process itself"
        );
        assert_eq!((payloads[1].creator_pid, payloads[1].creator_tid), (pid, pid + 4));
    } else {
        // NonSystem: on the new thread; the creator is unknown, nothing claimed.
        assert_eq!(payloads[0].flags, 0);
        assert_eq!((payloads[0].creator_pid, payloads[0].creator_tid), (pid, pid + 4));
        assert_eq!(payloads[1].flags, 0);
    }
    let registry_events = events.of(SourceId::Registry, pid);
    for record in &registry_events {
        let r = record.payload::<RegistryPayload>().expect("registry");
        assert_eq!(text(&r.key_path), key, "key path with either Get routine");
    }
    assert_eq!(ntsim::registry::unreleased_names(), 0);

    ntsim::dbgprint::clear();
    kernel.unload_driver();
    let lines = driver_lines(&kernel);
    for (used, _) in families {
        let line = outcome_line("unregister", used, RegistrationState::Removed, 0);
        assert!(lines.contains(&line), "missing {line:?} in {lines:#?}");
    }
    assert!(ntsim::ps::process_routines().is_empty() && ntsim::ps::thread_routines().is_empty());
    assert!(ntsim::registry::callbacks().is_empty());
    assert_nothing_left(&kernel);
}

#[test]
fn fallbacks_each_missing_routine_separately_and_all_together() {
    fallback_case(&[], 0x2_0000);
    fallback_case(&[EX2], 0x2_1000);
    fallback_case(&[THREAD_EX], 0x2_2000);
    fallback_case(&[IMAGE_EX], 0x2_3000);
    fallback_case(&[CM_EX], 0x2_4000);
    fallback_case(&[EX2, THREAD_EX, IMAGE_EX, CM_EX], 0x2_5000);
}

#[test]
fn legacy_key_object_id_is_used_without_the_ex_routines() {
    let mut kernel = loaded_without(&["CmCallbackGetKeyObjectIDEx", "CmCallbackReleaseKeyObjectIDEx"]);
    let pid = 0x2_6000;
    let key = "\\Registry\\Machine\\Software\\KcbLegacyId";
    assert_eq!(
        trigger::registry_set_value(pid, key, "V", ntsim::registry::REG_DWORD, &[2, 0, 0, 0]),
        STATUS_SUCCESS
    );
    let mut events = Events::new();
    events.until_counts(&mut kernel, "registry events", pid, &[(SourceId::Registry, 2)]);
    for record in events.of(SourceId::Registry, pid) {
        assert_eq!(
            text(&record.payload::<RegistryPayload>().expect("registry").key_path),
            key
        );
    }
    let calls = ntsim::ddi::calls();
    assert!(calls.iter().any(|c| c.ddi == "CmCallbackGetKeyObjectID"));
    assert!(
        !calls
            .iter()
            .any(|c| c.ddi == "CmCallbackGetKeyObjectIDEx" || c.ddi == "CmCallbackReleaseKeyObjectIDEx")
    );
    unload_clean(&mut kernel);
}

// --- 3. Limits and statuses ------------------------------------------------------------

#[test]
fn process_routine_limit_is_reported_and_the_driver_runs_on() {
    let mut kernel = boot();
    each_succeeds(&FOREIGN_PROCESS, |r| {
        // SAFETY: 'static routines, removed below.
        unsafe { ntsim::ps::PsSetCreateProcessNotifyRoutineEx(r, 0) }
    });
    load(&mut kernel);
    assert_failed(&mut kernel, EX2, STATUS_INVALID_PARAMETER);
    assert_registered(&mut kernel, THREAD_EX);
    assert_runs_on(&mut kernel, 0x3_0000);
    each_succeeds(&FOREIGN_PROCESS, |r| {
        // SAFETY: removing what was registered above.
        unsafe { ntsim::ps::PsSetCreateProcessNotifyRoutineEx(r, 1) }
    });
    unload_clean(&mut kernel);
}

/// Calls `call` (another driver registering or removing a routine) with
/// each of `routines`, asserting every call succeeds.
fn each_succeeds<R: Copy>(routines: &[R], call: impl Fn(R) -> NTSTATUS) {
    for &routine in routines {
        assert_eq!(call(routine), STATUS_SUCCESS);
    }
}

#[test]
fn duplicate_process_registration_is_reported() {
    // Learn the driver's routine, then have it registered already.
    let mut kernel = loaded();
    let routine = ntsim::ps::process_routines()[0].0;
    unload_clean(&mut kernel);
    drop(kernel);

    let mut kernel = boot();
    let register = |remove: u8| {
        // SAFETY: the driver's own 'static routine, removed below.
        unsafe { ntsim::ps::PsSetCreateProcessNotifyRoutineEx2(0, routine as PVOID, remove) }
    };
    assert_eq!(register(0), STATUS_SUCCESS);
    load(&mut kernel);
    assert_failed(&mut kernel, EX2, STATUS_INVALID_PARAMETER);
    assert_runs_on(&mut kernel, 0x3_1000);
    assert_eq!(register(1), STATUS_SUCCESS);
    unload_clean(&mut kernel);
}

#[test]
fn image_routine_limit_is_reported_and_the_driver_runs_on() {
    let mut kernel = boot();
    each_succeeds(&FOREIGN_IMAGE, |r| {
        // SAFETY: 'static routines, removed below.
        unsafe { ntsim::ps::PsSetLoadImageNotifyRoutine(r) }
    });
    load(&mut kernel);
    assert_failed(&mut kernel, IMAGE_EX, STATUS_INSUFFICIENT_RESOURCES);
    // Process events still flow.
    let pid = 0x3_2000;
    assert_eq!(
        trigger::ProcessCreate::new(pid, pid + 4, "\\??\\C:\\limit.exe").fire(),
        STATUS_SUCCESS
    );
    let mut events = Events::new();
    events.until_counts(&mut kernel, "process event", pid, &[(SourceId::ProcessCreate, 1)]);
    each_succeeds(&FOREIGN_IMAGE, |r| {
        // SAFETY: removing what was registered above.
        unsafe { ntsim::ps::PsRemoveLoadImageNotifyRoutine(r) }
    });
    unload_clean(&mut kernel);
}

#[test]
fn thread_registration_failure_is_reported_and_the_driver_runs_on() {
    let mut kernel = boot();
    each_succeeds(&FOREIGN_THREAD, |r| {
        // SAFETY: 'static routines, removed below.
        unsafe { ntsim::ps::PsSetCreateThreadNotifyRoutine(r) }
    });
    load(&mut kernel);
    assert_failed(&mut kernel, THREAD_EX, STATUS_INSUFFICIENT_RESOURCES);
    assert_runs_on(&mut kernel, 0x3_3000);
    each_succeeds(&FOREIGN_THREAD, |r| {
        // SAFETY: removing what was registered above.
        unsafe { ntsim::ps::PsRemoveCreateThreadNotifyRoutine(r) }
    });
    unload_clean(&mut kernel);
}

// --- 4. FORCE_INTEGRITY ---------------------------------------------------------------------

#[test]
fn missing_force_integrity_denies_process_and_object_callbacks() {
    for hide_ex2 in [false, true] {
        let mut kernel = boot();
        ntsim::ps::set_force_integrity(false);
        if hide_ex2 {
            ntsim::exports::hide(EX2);
        }
        load(&mut kernel);
        let process = if hide_ex2 {
            "PsSetCreateProcessNotifyRoutineEx"
        } else {
            EX2
        };
        assert_failed(&mut kernel, process, STATUS_ACCESS_DENIED);
        assert_failed(&mut kernel, "ObRegisterCallbacks", STATUS_ACCESS_DENIED);
        assert_registered(&mut kernel, THREAD_EX);
        assert_registered(&mut kernel, CM_EX);
        assert!(ntsim::ps::process_routines().is_empty() && ntsim::obcallbacks::altitudes().is_empty());
        assert_runs_on(&mut kernel, 0x4_0000);
        unload_clean(&mut kernel);
    }
}

// --- 5. Altitudes ------------------------------------------------------------------------------

fn with_digit(base: &str, digit: u32) -> String {
    if digit == 0 {
        base.to_owned()
    } else {
        format!("{base}{digit}")
    }
}

/// Occupies `taken` altitudes (the base, then the fallbacks) in both
/// families, loads, and checks what the driver got.
fn altitude_case(ob_base: &str, cm_base: &str, taken: u32, configured: bool) {
    let mut kernel = boot();
    if configured {
        prepare_service();
        ntsim::registry::set_string(&parameters_key(), "ObAltitude", ob_base);
        ntsim::registry::set_string(&parameters_key(), "CmAltitude", cm_base);
    }
    let ob: Vec<PVOID> = (0..taken)
        .map(|d| foreign_ob(&with_digit(ob_base, d), Some(foreign_pre)).expect("foreign ob"))
        .collect();
    let cm: Vec<LARGE_INTEGER> = (0..taken)
        .map(|d| foreign_cm(&with_digit(cm_base, d), Some(foreign_registry)).expect("foreign cm"))
        .collect();
    load(&mut kernel);
    let lines = driver_lines(&kernel);
    if taken < 10 {
        assert_registered(&mut kernel, "ObRegisterCallbacks");
        assert_registered(&mut kernel, CM_EX);
        let ob_got = with_digit(ob_base, taken);
        let cm_got = with_digit(cm_base, taken);
        assert!(
            lines.contains(&format!("kcallbacks: ObRegisterCallbacks altitude {ob_got}")),
            "{lines:#?}"
        );
        assert!(
            lines.contains(&format!("kcallbacks: CmRegisterCallbackEx altitude {cm_got}")),
            "{lines:#?}"
        );
        assert!(ntsim::obcallbacks::altitudes().contains(&ob_got));
        assert!(
            ntsim::registry::callbacks()
                .iter()
                .any(|(_, a)| a.as_deref() == Some(cm_got.as_str()))
        );
    } else {
        assert_failed(
            &mut kernel,
            "ObRegisterCallbacks",
            STATUS_FLT_INSTANCE_ALTITUDE_COLLISION,
        );
        assert_failed(&mut kernel, CM_EX, STATUS_FLT_INSTANCE_ALTITUDE_COLLISION);
        assert_eq!(
            ntsim::obcallbacks::altitudes().len(),
            10,
            "only the other drivers'"
        );
        assert_runs_on(&mut kernel, 0x5_0000 + u64::from(taken));
    }
    for handle in ob {
        unregister_ob(handle);
    }
    for cookie in cm {
        unregister_cm(cookie);
    }
    unload_clean(&mut kernel);
}

#[test]
fn altitude_collisions_fall_back_one_digit_at_a_time() {
    altitude_case(DEFAULT_OB_ALTITUDE, DEFAULT_CM_ALTITUDE, 0, false);
    altitude_case(DEFAULT_OB_ALTITUDE, DEFAULT_CM_ALTITUDE, 1, false);
    altitude_case(DEFAULT_OB_ALTITUDE, DEFAULT_CM_ALTITUDE, 2, false);
    altitude_case(DEFAULT_OB_ALTITUDE, DEFAULT_CM_ALTITUDE, 10, false);
}

#[test]
fn configured_altitudes_are_used_and_fall_back_too() {
    altitude_case("385100.5", "385100.6", 0, true);
    altitude_case("385100.5", "385100.6", 1, true);
    altitude_case("385100.5", "385100.6", 10, true);
}
