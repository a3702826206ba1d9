//! The callback-object path through the driver: load, `IOCTL_KCB_NOTIFY`, kcbctl end to end,
//! order and single registrations, waits, IRQL, system objects, unload, faults, the `\Callback` map.

#[allow(clippy::wildcard_imports)]
use super::*;

// --- 1. Load -------------------------------------------------------------------

#[test]
fn load_creates_the_own_object_and_observes_every_system_object() {
    let mut kernel = loaded();
    let own = excallback::object(OWN).expect("\\Callback\\KCallbacks exists");
    assert!(own.permanent && own.allow_multiple && !own.system, "{own:?}");
    assert_eq!(own.driver_references, 1, "the driver holds one reference");
    assert_eq!(own.callbacks.len(), 1, "the driver's observer: {own:?}");
    assert!(has_line(
        &kernel,
        &format!("kcallbacks: register ExCreateCallback({OWN}): ok status=0x00000000")
    ));
    assert!(has_line(
        &kernel,
        &format!("kcallbacks: register ExRegisterCallback({OWN}): ok status=0x00000000")
    ));
    let observer = own.callbacks[0];

    let catalog = catalog_names();
    for (name, allow_multiple) in excallback::SYSTEM_OBJECTS {
        assert!(
            catalog.iter().any(|c| c == name),
            "{name} is not in the driver's catalog"
        );
        let object = excallback::object(name).expect("a system object");
        if *allow_multiple {
            assert!(
                has_line(&kernel, &object_line(name, "ok", "0x00000000")),
                "{name}: {:#?}",
                driver_lines(&kernel)
            );
            assert_eq!(
                object.callbacks,
                [observer],
                "{name}: the observer is registered once"
            );
        } else {
            // \Callback\PowerPort: one callback, the system's.
            assert!(
                has_line(
                    &kernel,
                    &format!(
                        "{} (object allows a single callback and has one)",
                        object_line(name, "unavailable", "0xC0000001")
                    )
                ),
                "{name}: {:#?}",
                driver_lines(&kernel)
            );
            assert!(object.callbacks.is_empty());
            assert_eq!(object.system_callbacks, [POWER_PORT_OWNER]);
        }
    }
    // Catalog objects this system does not have.
    let missing: Vec<&String> = catalog
        .iter()
        .skip(1)
        .filter(|c| excallback::object(c).is_none())
        .collect();
    assert!(missing.len() >= 5, "{missing:?}");
    for name in missing {
        assert!(
            has_line(
                &kernel,
                &format!(
                    "{} (no such object on this system)",
                    object_line(name, "unavailable", NAME_NOT_FOUND)
                )
            ),
            "{name}: {:#?}",
            driver_lines(&kernel)
        );
    }
    // The report carries the own object's two entries.
    let entries = report_entries(&mut kernel);
    for api in [
        format!("ExCreateCallback({OWN})"),
        format!("ExRegisterCallback({OWN})"),
    ] {
        assert!(
            entries
                .iter()
                .any(|(n, s, _)| *n == api && *s == RegistrationState::Registered),
            "{api}: {entries:?}"
        );
    }
    unload_clean(&mut kernel);
}

// --- 2. IOCTL_KCB_NOTIFY -----------------------------------------------------

#[test]
fn notify_ioctl_event_arrives_through_read_events() {
    let mut kernel = loaded();
    let (status, out) = kernel.device_io_control(IOCTL_KCB_NOTIFY, bytes_of(&NotifyRequest::new(1, 2)), 0);
    assert_eq!((status, out.len()), (STATUS_SUCCESS, 0));
    // Events earlier tests left in the driver's static queue carry other
    // arguments; this one is told apart by its own.
    let found = wait_for_notifications(&mut kernel, 1, |n| n.object == OWN && n.argument2 == 2);
    assert_eq!(
        found[0],
        Notification {
            object: OWN.to_owned(),
            argument1: 1,
            argument2: 2,
            irql: PASSIVE_LEVEL,
        }
    );
    unload_clean(&mut kernel);
}

// --- 3. kcbctl end to end --------------------------------------------------------

#[test]
fn kcbctl_notify_then_events_json_end_to_end() {
    let mut kernel = loaded();
    let (result, out, err) = kcbctl(&mut kernel, &["notify", "0x1234", "5678"]);
    assert_eq!(result, Ok(()), "{err}");
    assert!(
        out.contains("ExNotifyCallback(argument1=0x1234, argument2=0x162e)"),
        "{out}"
    );
    // The drain moves the event to the client queue within ~100 ms: run
    // `events --json` until its line is there.
    let mut line = None;
    let arrived = poll_until(DRAIN_TIMEOUT, || {
        let (result, out, err) = kcbctl(&mut kernel, &["events", "--json"]);
        assert_eq!(result, Ok(()), "{err}");
        line = out
            .lines()
            .find(|l| l.contains("\"source\":\"CallbackObject\"") && l.contains("\"argument1\":4660,"))
            .map(str::to_owned);
        line.is_some()
    });
    assert!(arrived, "no CallbackObject JSON line within {DRAIN_TIMEOUT:?}");
    let line = line.unwrap_or_default();
    for field in [
        "\"source\":\"CallbackObject\"",
        "\"object\":\"\\\\Callback\\\\KCallbacks\"",
        // JSON numbers: 0x1234 and 5678.
        "\"argument1\":4660,",
        "\"argument2\":5678",
        "\"irql\":0",
    ] {
        assert!(line.contains(field), "{field} missing in {line}");
    }
    assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
    unload_clean(&mut kernel);
}

// --- 4. Order, multiple and single registrations --------------------------------

#[test]
fn registration_order_is_notification_order() {
    let mut kernel = loaded();
    ORDER.lock().unwrap().clear();
    let (status, object) = create_callback(OWN, false, false);
    assert_eq!(status, STATUS_SUCCESS, "the driver's object opens");
    let first = register(object, first_routine, 1);
    let second = register(object, second_routine, 2);
    assert!(
        !first.is_null() && !second.is_null(),
        "multiple registrations on one object"
    );
    let info = excallback::object(OWN).unwrap();
    assert_eq!(
        info.callbacks,
        [
            observer_address(),
            first_routine as *const () as usize,
            second_routine as *const () as usize
        ]
    );
    let before = callback_events_seen();
    let (status, _) = kernel.device_io_control(IOCTL_KCB_NOTIFY, bytes_of(&NotifyRequest::new(7, 8)), 0);
    assert_eq!(status, STATUS_SUCCESS);
    // FIFO: the driver's observer (registered first, at load) had already
    // recorded its event when the first test routine ran, which ran before
    // the second.
    assert_eq!(*ORDER.lock().unwrap(), ["first", "second"]);
    assert_eq!(SEEN_BY_FIRST.load(Ordering::SeqCst), before + 1);
    let found = wait_for_notifications(&mut kernel, 1, |n| n.object == OWN && n.argument1 == 7);
    assert_eq!(found[0].argument2, 8);
    unregister(second);
    unregister(first);
    dereference(object);
    unload_clean(&mut kernel);
}

#[test]
fn an_object_that_allows_one_callback_refuses_the_second() {
    let kernel = loaded();
    let name = "\\Callback\\NtsimExSingle";
    let (status, object) = create_callback(name, true, false);
    assert_eq!(status, STATUS_SUCCESS);
    let first = register(object, first_routine, 0);
    assert!(!first.is_null());
    assert!(
        register(object, second_routine, 0).is_null(),
        "ExRegisterCallback returns NULL"
    );
    assert_eq!(
        excallback::object(name).unwrap().callbacks,
        [first_routine as *const () as usize]
    );
    // Opening it again ignores AllowMultipleCallbacks (wdm/nf-wdm-excreatecallback).
    let (status, again) = create_callback(name, true, true);
    assert_eq!((status, again), (STATUS_SUCCESS, object));
    assert!(register(again, third_routine, 0).is_null());
    dereference(again);
    // The system's PowerPort refuses the same way.
    let (_, power_port) = create_callback("\\Callback\\PowerPort", false, true);
    assert!(register(power_port, second_routine, 0).is_null());
    dereference(power_port);
    unregister(first);
    dereference(object);
    assert!(
        excallback::object(name).is_none(),
        "temporary: gone with its last reference"
    );
    drop(kernel);
}

// --- 5. Unregister waits ---------------------------------------------------------

struct EventCell(std::cell::UnsafeCell<KEVENT>);
// SAFETY: only touched through the model's Ke routines.
unsafe impl Sync for EventCell {}
// SAFETY: all-zero is a valid KEVENT before KeInitializeEvent.
static RELEASE: EventCell = EventCell(std::cell::UnsafeCell::new(unsafe { std::mem::zeroed() }));
static RUNNING: Mutex<Option<Arc<Barrier>>> = Mutex::new(None);
static FINISHED: AtomicBool = AtomicBool::new(false);

unsafe extern "C" fn blocking_routine(_: *mut c_void, _: *mut c_void, _: *mut c_void) {
    let running = RUNNING.lock().unwrap().clone().unwrap();
    running.wait();
    // SAFETY: initialised by the test before the notification.
    let _ = unsafe { KeWaitForSingleObject(RELEASE.0.get().cast(), 0, 0, 0, std::ptr::null_mut()) };
    FINISHED.store(true, Ordering::SeqCst);
}

/// kernel-semantics §1 ExUnregisterCallback.3: whether it waits for calls in
/// flight is SILENT. The model chose to wait (see crates/ntsim/src/excallback.rs):
/// this proves that it does, with the driver's own notify as the caller.
#[test]
fn unregister_waits_for_a_notification_in_flight() {
    let mut kernel = loaded();
    FINISHED.store(false, Ordering::SeqCst);
    let running = Arc::new(Barrier::new(2));
    *RUNNING.lock().unwrap() = Some(running.clone());
    // SAFETY: a writable KEVENT in static storage.
    unsafe { KeInitializeEvent(RELEASE.0.get(), wdk_sys::_EVENT_TYPE::NotificationEvent, 0) };
    let (_, object) = create_callback(OWN, false, false);
    let handle = register(object, blocking_routine, 0) as usize;
    // The driver's notify (IOCTL_KCB_NOTIFY's path) in another thread.
    let notifier = std::thread::spawn(|| kcallbacks::registrations::callback_objects::notify_own(3, 4));
    running.wait();
    let returned = Arc::new(AtomicBool::new(false));
    let remover = {
        let returned = returned.clone();
        std::thread::spawn(move || {
            unregister(handle as *mut c_void);
            // The callback finished before ExUnregisterCallback returned.
            let finished = FINISHED.load(Ordering::SeqCst);
            returned.store(true, Ordering::SeqCst);
            finished
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !returned.load(Ordering::SeqCst),
        "ExUnregisterCallback returned while its callback was still running"
    );
    // As the kernel does (WRK/ReactOS ExUnregisterCallback), the busy
    // registration stays linked with its "unregister waiting" byte (+0x2C)
    // set until its call returns, and a new notification skips it: only the
    // driver's observer runs.
    assert!(excallback::object(OWN).unwrap().registrations.contains(&handle));
    // SAFETY: the model's registration block, alive while its call runs;
    // +0x2C is the "unregister waiting" byte, read only.
    assert_eq!(unsafe { ((handle + 0x2C) as *const u8).read_volatile() }, 1);
    assert_eq!(
        ntsim::trigger::notify_callback_object(OWN, 5, 6, ntsim::irql::PASSIVE_LEVEL),
        1,
        "no new notification reaches a registration whose unregistration waits"
    );
    // SAFETY: releases the callback.
    unsafe { KeSetEvent(RELEASE.0.get(), 0, 0) };
    assert!(
        remover.join().unwrap(),
        "ExUnregisterCallback returned before the callback finished"
    );
    assert_eq!(notifier.join().unwrap(), Some(Ok(())));
    dereference(object);
    unload_clean(&mut kernel);
}

// --- 6. IRQL ----------------------------------------------------------------------

#[test]
fn notify_at_dispatch_level_runs_the_callbacks_at_dispatch_level() {
    let mut kernel = loaded();
    let result = with_irql(DISPATCH_LEVEL, || {
        kcallbacks::registrations::callback_objects::notify_own(0x51, 0x52)
    });
    assert_eq!(result, Some(Ok(())));
    let found = wait_for_notifications(&mut kernel, 1, |n| n.object == OWN && n.argument1 == 0x51);
    assert_eq!(
        (found[0].argument2, found[0].irql),
        (0x52, DISPATCH_LEVEL),
        "irql=2 in the header"
    );
    unload_clean(&mut kernel);
}

static HIGH_NAME: WideName = WideName::new("\\Callback\\NtsimExHigh");
static HIGH_CONTEXT: AtomicU32 = AtomicU32::new(0);

unsafe extern "C" fn high_routine(context: *mut c_void, _: *mut c_void, _: *mut c_void) {
    // SAFETY: the context is HIGH_CONTEXT.
    unsafe { &*context.cast::<AtomicU32>() }.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn notify_above_dispatch_level_is_refused_by_the_driver_and_a_violation_in_the_model() {
    let kernel = loaded();
    let dirql = 5;
    // The driver's own wrapper, on an object it owns.
    let object = CallbackObject::<Owned>::create_or_open(&HIGH_NAME.as_unicode_string(), true, false)
        .expect("a driver-owned object");
    let registration = object.register(high_routine, &HIGH_CONTEXT).expect("registered");
    assert_eq!(with_irql(DISPATCH_LEVEL, || object.notify(1, 2)), Ok(()));
    assert_eq!(HIGH_CONTEXT.load(Ordering::SeqCst), 1, "ran at DISPATCH_LEVEL");
    assert_eq!(
        with_irql(dirql, || object.notify(1, 2)),
        Err(STATUS_INVALID_DEVICE_STATE)
    );
    assert_eq!(
        with_irql(dirql, || kcallbacks::registrations::callback_objects::notify_own(
            1, 2
        )),
        Some(Err(STATUS_INVALID_DEVICE_STATE))
    );
    assert_eq!(
        HIGH_CONTEXT.load(Ordering::SeqCst),
        1,
        "nothing ran above DISPATCH_LEVEL"
    );
    kernel.assert_no_bugchecks();
    // Called directly, it is a verifier violation (0xC4/0xE5) and nothing runs.
    // SAFETY: the live object; the call is the violation under test.
    with_irql(dirql, || unsafe {
        ExNotifyCallback(object.as_ptr().cast(), std::ptr::null_mut(), std::ptr::null_mut());
    });
    let check = kernel.expect_bugcheck(C4, 0xE5);
    assert_eq!(check.params[1], u64::from(dirql));
    assert!(check.text.contains("ExNotifyCallback"), "{check}");
    assert_eq!(HIGH_CONTEXT.load(Ordering::SeqCst), 1);
    drop(registration);
    drop(object);
    assert!(excallback::object("\\Callback\\NtsimExHigh").is_none());
    HIGH_CONTEXT.store(0, Ordering::SeqCst);
    drop(kernel);
}

// --- 7. System objects ----------------------------------------------------------

#[test]
fn system_object_notifications_reach_the_observers_without_allocating() {
    let mut kernel = loaded();
    assert_eq!(
        trigger::set_system_time(133_000_000_000_000_000),
        1,
        "the driver's observer"
    );
    let found = wait_for_notifications(&mut kernel, 1, |n| n.object.ends_with("\\SetSystemTime"));
    assert_eq!(
        (found[0].argument1, found[0].argument2),
        (0, 0),
        "Arg1 and Arg2 unused"
    );

    let made = ntsim::pool::count_allocations(|| {
        assert_eq!(trigger::power_state(PO_CB_AC_STATUS, false, PASSIVE_LEVEL), 1);
    });
    assert_eq!(made, 0, "the observer allocated pool");
    assert_eq!(
        trigger::power_state(PO_CB_LID_SWITCH_STATE, true, DISPATCH_LEVEL),
        1
    );
    let found = wait_for_notifications(&mut kernel, 2, |n| n.object == "\\Callback\\PowerState");
    assert_eq!(
        found
            .iter()
            .map(|n| (n.argument1, n.argument2, n.irql))
            .collect::<Vec<_>>(),
        [
            (u64::from(PO_CB_AC_STATUS), 0, PASSIVE_LEVEL),
            (u64::from(PO_CB_LID_SWITCH_STATE), 1, DISPATCH_LEVEL)
        ]
    );

    assert!(
        trigger::processor_add(3) >= 0,
        "the observer does not fail the add"
    );
    let found = wait_for_notifications(&mut kernel, 2, |n| n.object == "\\Callback\\ProcessorAdd");
    for n in &found {
        assert!(
            n.argument1 != 0 && n.argument2 != 0,
            "context and status pointers: {n:?}"
        );
        assert_eq!(n.irql, DISPATCH_LEVEL);
    }
    unload_clean(&mut kernel);
}

// --- 8. Unload and reload -------------------------------------------------------

#[test]
fn unload_leaves_nothing_and_a_reload_creates_the_object_again() {
    let mut kernel = loaded();
    assert!(callback_directory().contains(&"KCallbacks".to_owned()));
    for round in 0..2 {
        ntsim::dbgprint::clear();
        kernel.unload_driver();
        assert!(
            !callback_directory().contains(&"KCallbacks".to_owned()),
            "round {round}: \\Callback\\KCallbacks is still in the directory"
        );
        assert!(
            excallback::object(OWN).is_none(),
            "round {round}: the object still exists"
        );
        assert!(
            ntsim::ddi::calls()
                .iter()
                .any(|c| c.ddi == "ObMakeTemporaryObject")
        );
        assert!(has_line(
            &kernel,
            &format!("kcallbacks: unregister ExCreateCallback({OWN}): removed")
        ));
        assert_nothing_left(&kernel);
        assert_eq!(kernel.load_driver(), STATUS_SUCCESS, "reload in the same boot");
        let own = excallback::object(OWN).expect("created again");
        assert!(own.permanent && own.callbacks.len() == 1, "{own:?}");
        assert!(has_line(
            &kernel,
            &format!("kcallbacks: register ExCreateCallback({OWN}): ok status=0x00000000")
        ));
    }
    unload_clean(&mut kernel);
}

// --- 9. Fault injection -----------------------------------------------------------

/// Lines that tell what the Ex path did: register/unregister outcomes of
/// callback objects and the map.
fn ex_lines(kernel: &Kernel) -> Vec<String> {
    driver_lines(kernel)
        .into_iter()
        .filter(|l| {
            l.contains("\\Callback") || l.starts_with("kcallbacks: callback") || l.contains("Callback(")
        })
        .collect()
}

#[test]
fn fault_injection_at_every_step_of_the_ex_path() {
    let mut kernel = loaded();
    let calls: Vec<&'static str> = failable_driver_entry_calls(&kernel)
        .into_iter()
        .filter(|d| {
            [
                "ExCreateCallback",
                "ExRegisterCallback",
                "ZwOpenDirectoryObject",
                "ZwQueryDirectoryObject",
            ]
            .contains(d)
        })
        .collect();
    let clean = ex_lines(&kernel);
    unload_clean(&mut kernel);
    drop(kernel);
    let count = |ddi: &str| calls.iter().filter(|c| **c == ddi).count();
    // The own object (open, then create), each catalog object; a register
    // for the own object and each system object that exists but PowerPort
    // (whose refusal is decided: not failable); the map.
    assert_eq!(count("ExCreateCallback"), CATALOG.len() + 1, "{calls:?}");
    assert_eq!(
        count("ExRegisterCallback"),
        excallback::SYSTEM_OBJECTS.len(),
        "{calls:?}"
    );
    assert_eq!(count("ZwOpenDirectoryObject"), 1);
    assert!(count("ZwQueryDirectoryObject") > excallback::SYSTEM_OBJECTS.len());

    let mut seen = std::collections::HashMap::<&str, u32>::new();
    for ddi in calls {
        let nth = *seen.entry(ddi).and_modify(|n| *n += 1).or_insert(1);
        let mut kernel = boot();
        faults::fail_nth_on_this_thread(ddi, nth, STATUS_INSUFFICIENT_RESOURCES);
        assert_eq!(
            kernel.load_driver(),
            STATUS_SUCCESS,
            "{ddi} #{nth}: the driver runs on"
        );
        assert_eq!(faults::fired().len(), 1, "{ddi} #{nth}: the fault did not fire");
        let lines = ex_lines(&kernel);
        let new: Vec<&String> = lines.iter().filter(|l| !clean.contains(l)).collect();
        let reported = new.iter().any(|l| {
            l.contains(": FAILED status=")
                || l.contains(": unavailable status=")
                || l.contains("callback map: cannot")
        });
        assert!(reported, "{ddi} #{nth}: the failure is not reported: {lines:#?}");
        let (status, _) = get_report(&mut kernel);
        assert_eq!(status, STATUS_SUCCESS, "{ddi} #{nth}: the control device works");
        let (status, _) =
            kernel.device_io_control(IOCTL_KCB_NOTIFY, bytes_of(&NotifyRequest::new(0xF, 0xF)), 0);
        let own_exists = excallback::object(OWN).is_some();
        assert_eq!(
            status >= 0,
            own_exists,
            "{ddi} #{nth}: notify works iff the object exists ({status:#X})"
        );
        unload_clean(&mut kernel);
        assert!(
            excallback::object(OWN).is_none(),
            "{ddi} #{nth}: the own object is left"
        );
    }
}

// --- 10. The \Callback map -----------------------------------------------------------

#[test]
fn callback_map_lists_every_object_with_the_observer_state() {
    let mut kernel = boot();
    let extra = "\\Callback\\NtsimExThirdParty";
    let _ = excallback::create_object(extra, true);
    load(&mut kernel);
    let directory = callback_directory();
    let (status, out) = kernel.device_io_control(
        IOCTL_KCB_LIST_CALLBACK_OBJECTS,
        bytes_of(&ListCallbackObjectsRequest::new()),
        16 + 64 * 160,
    );
    assert_eq!(status, STATUS_SUCCESS);
    let list = decode_callback_objects(&out).expect("a valid map");
    assert_eq!(list.header.count, list.header.returned);
    let entries: Vec<(String, u32, u32, i32)> = list
        .entries
        .iter()
        .map(|e| {
            (
                String::from_utf16_lossy(e.name.as_units()),
                e.index,
                e.state,
                e.status,
            )
        })
        .collect();
    // Every object of the model's directory, in its order, first.
    for (i, name) in directory.iter().enumerate() {
        assert_eq!(entries[i].0, format!("\\Callback\\{name}"), "{entries:#?}");
    }
    let state_of = |name: &str| {
        entries
            .iter()
            .find(|e| e.0 == name)
            .unwrap_or_else(|| panic!("{name} missing: {entries:#?}"))
    };
    assert_eq!(state_of(extra).1, u32::MAX, "not a catalog object");
    assert_eq!(state_of(extra).2, 0, "not observed");
    assert_eq!(
        (state_of(OWN).1, state_of(OWN).2),
        (0, RegistrationState::Registered as u32),
        "the own observer"
    );
    for (name, allow_multiple) in excallback::SYSTEM_OBJECTS {
        let (_, index, state, status) = state_of(name);
        assert_ne!(*index, u32::MAX);
        if *allow_multiple {
            assert_eq!(*state, RegistrationState::Registered as u32, "{name}");
        } else {
            assert_eq!(
                (*state, *status),
                (RegistrationState::NotAvailable as u32, STATUS_UNSUCCESSFUL),
                "{name}"
            );
        }
    }
    // Catalog objects the directory does not have are listed too, unavailable.
    for name in catalog_names() {
        let (_, _, state, status) = state_of(&name);
        if excallback::object(&name).is_none() {
            assert_eq!(
                (*state, *status),
                (
                    RegistrationState::NotAvailable as u32,
                    STATUS_OBJECT_NAME_NOT_FOUND
                ),
                "{name}"
            );
        }
    }
    // The load-time debug lines list the same directory.
    let lines = driver_lines(&kernel);
    for name in &directory {
        let full = format!("\\Callback\\{name}");
        let word = match full.as_str() {
            _ if full == extra => "not observed",
            "\\Callback\\PowerPort" => "unavailable",
            _ => "ok",
        };
        let line = format!("kcallbacks: callback map: {full} observer={word}");
        assert!(lines.contains(&line), "{line} missing: {lines:#?}");
    }
    assert!(lines.contains(&format!(
        "kcallbacks: callback map: {} objects in \\Callback",
        directory.len()
    )));
    unload_clean(&mut kernel);
}

// --- 11. Success without an object (Wine) ----------------------------------------------

#[test]
fn success_without_an_object_is_reported_unavailable_and_never_dereferenced() {
    let mut kernel = boot();
    excallback::set_success_without_object(true);
    load(&mut kernel);
    assert!(
        has_line(
            &kernel,
            &format!(
                "kcallbacks: register ExCreateCallback({OWN}): unavailable status=0x00000000 (success without an object)"
            )
        ),
        "{:#?}",
        driver_lines(&kernel)
    );
    assert!(has_line(
        &kernel,
        "kcallbacks: callback objects unavailable on this system: system objects not observed"
    ));
    let calls = ntsim::ddi::calls();
    for ddi in [
        "ExRegisterCallback",
        "ObfDereferenceObject",
        "ObMakeTemporaryObject",
        "ExNotifyCallback",
    ] {
        assert!(!calls.iter().any(|c| c.ddi == ddi), "{ddi} was called");
    }
    let (status, _) = kernel.device_io_control(IOCTL_KCB_NOTIFY, bytes_of(&NotifyRequest::new(1, 2)), 0);
    assert_eq!(status, STATUS_NOT_SUPPORTED, "no object to notify");
    // The walker opens each object the same way: unavailable, never read.
    kcallbacks::config::settings::test_seam::set_walk_enabled(true);
    let (status, entries, objects) = list_registrations(&mut kernel);
    kcallbacks::config::settings::test_seam::set_walk_enabled(false);
    assert_eq!(status, STATUS_SUCCESS);
    assert!(objects as usize >= excallback::SYSTEM_OBJECTS.len());
    assert!(
        entries
            .iter()
            .all(|e| e.status == registration_status::OBJECT_UNAVAILABLE && e.detail == 0 && e.routine == 0)
    );
    assert!(
        !ntsim::ddi::calls()
            .iter()
            .any(|c| c.ddi == "ObfDereferenceObject" || c.ddi == "KeAcquireSpinLockRaiseToDpc")
    );
    unload_clean(&mut kernel);
}
