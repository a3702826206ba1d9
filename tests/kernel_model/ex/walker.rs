//! The registration walker (`IOCTL_KCB_LIST_REGISTRATIONS`) over the model's callback objects.

#[allow(clippy::wildcard_imports)]
use super::*;

// --- B. The registration walker -----------------------------------------------------------

#[test]
fn registration_walk_is_opt_in() {
    let mut kernel = loaded();
    kcallbacks::config::settings::test_seam::set_walk_enabled(false);
    let (status, _, _) = list_registrations(&mut kernel);
    assert_eq!(status, STATUS_NOT_SUPPORTED);
    assert!(
        !ntsim::ddi::calls()
            .iter()
            .any(|c| c.ddi == "ZwQuerySystemInformation")
    );
    let (result, out, err) = kcbctl(&mut kernel, &["callbacks", "--registrations"]);
    assert_eq!(result, Ok(()));
    assert!(out.contains(OWN), "the object table is printed: {out}");
    assert!(
        err.contains("EnableRegistrationWalk") && err.contains("object table only"),
        "{err}"
    );
    unload_clean(&mut kernel);
}

const WALK: &str = "\\Callback\\NtsimExWalk";

#[test]
#[allow(clippy::too_many_lines, reason = "one scenario, step by step")]
fn registration_walk_lists_each_routine_with_its_module_and_offset() {
    let mut kernel = loaded();
    let (status, object) = create_callback(WALK, true, true);
    assert_eq!(status, STATUS_SUCCESS);
    let routines = [first_routine as Routine, second_routine, third_routine];
    let handles: Vec<*mut c_void> = routines.iter().map(|r| register(object, *r, 0)).collect();
    let addresses: Vec<usize> = routines.iter().map(|r| *r as *const () as usize).collect();
    let modules = add_modules(&[
        ("alpha.sys", addresses[0]),
        ("beta.sys", addresses[1]),
        ("gamma.sys", addresses[2]),
        ("kcallbacks.sys", observer_address()),
    ]);
    let module_of = |address: usize| {
        let (path, base, _) = modules
            .iter()
            .find(|(_, base, size)| address >= *base && address - base < *size as usize)
            .unwrap();
        (
            path.rsplit('\\').next().unwrap().to_owned(),
            (address - base) as u64,
        )
    };
    kcallbacks::config::settings::test_seam::set_walk_enabled(true);
    let (status, entries, objects) = list_registrations(&mut kernel);
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(
        objects as usize,
        callback_directory().len(),
        "every object of the directory"
    );

    let walk = entries_of(&entries, WALK);
    assert_eq!(walk.len(), 3, "{walk:#?}");
    for (entry, address) in walk.iter().zip(&addresses) {
        let (module, offset) = module_of(*address);
        assert_eq!(entry.status, registration_status::IN_MODULE);
        assert_eq!((entry.routine, entry.allow_multiple), (*address as u64, 1));
        assert_eq!((entry.module_str(), entry.offset), (module.as_str(), offset));
        assert!(entry.offset > 0);
    }
    let own = entries_of(&entries, OWN);
    assert_eq!(own.len(), 1);
    assert_eq!(
        (own[0].module_str(), own[0].offset),
        ("kcallbacks.sys", module_of(observer_address()).1)
    );
    let power_port = entries_of(&entries, "\\Callback\\PowerPort");
    assert_eq!(power_port.len(), 1);
    assert_eq!(
        (
            power_port[0].module_str(),
            power_port[0].offset,
            power_port[0].allow_multiple
        ),
        (
            "ntoskrnl.exe",
            (POWER_PORT_OWNER - excallback::NTOSKRNL_BASE) as u64,
            0
        )
    );
    for (name, allow_multiple) in excallback::SYSTEM_OBJECTS.iter().filter(|(_, m)| *m) {
        let observed = entries_of(&entries, name);
        assert_eq!(observed.len(), 1, "{name}");
        assert_eq!(
            (observed[0].module_str(), observed[0].allow_multiple),
            ("kcallbacks.sys", u32::from(*allow_multiple))
        );
    }
    // The walk validated every pointer under the object's lock, at
    // DISPATCH_LEVEL, and freed its pool buffer.
    let calls = ntsim::ddi::calls();
    assert!(
        calls
            .iter()
            .any(|c| c.ddi == "KeAcquireSpinLockRaiseToDpc" && c.irql == PASSIVE_LEVEL)
    );
    assert!(
        calls
            .iter()
            .any(|c| c.ddi == "MmIsAddressValid" && c.irql == DISPATCH_LEVEL)
    );
    assert!(calls.iter().any(|c| c.ddi == "ZwQuerySystemInformation"));
    assert!(pool_outstanding_besides_held_blocks().is_empty());
    assert!(driver_lines(&kernel).iter().any(|l| {
        l.starts_with("kcallbacks: registration walk: ") && l.contains(" 0 layouts not recognised")
    }));

    // kcbctl prints the seed's table: object, allows multiple, module!offset.
    let (result, out, err) = kcbctl(&mut kernel, &["callbacks", "--registrations"]);
    assert_eq!(result, Ok(()), "{err}");
    let line_of = |needle: &str| {
        out.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} missing in {out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        line_of(&format!(
            "ntoskrnl.exe!{:#x}",
            POWER_PORT_OWNER - excallback::NTOSKRNL_BASE
        )),
        ["\\Callback\\PowerPort", "no", "[x]", "ntoskrnl.exe!0x3c5a10"]
    );
    let (alpha, alpha_offset) = module_of(addresses[0]);
    assert_eq!(
        line_of(&format!("{alpha}!")),
        [WALK, "yes", &format!("{alpha}!{alpha_offset:#x}")]
    );
    let (beta, beta_offset) = module_of(addresses[1]);
    assert_eq!(
        line_of(&format!("{beta}!")),
        [format!("{beta}!{beta_offset:#x}")],
        "continuation line"
    );
    assert!(out.contains("[x]: allows a single callback"), "{out}");

    end_walk(&mut kernel, handles, object);
}

/// The one entry a rejected object gets: layout not recognised, `check`,
/// and nothing guessed.
fn assert_not_recognised(kernel: &mut Kernel, check: u32, what: &str) {
    let (status, entries, _) = list_registrations(kernel);
    assert_eq!(status, STATUS_SUCCESS, "{what}");
    let walk = entries_of(&entries, WALK);
    assert_eq!(walk.len(), 1, "{what}: {walk:#?}");
    let entry = walk[0];
    assert_eq!(
        (
            entry.status,
            entry.detail,
            entry.routine,
            entry.offset,
            entry.allow_multiple
        ),
        (registration_status::LAYOUT_NOT_RECOGNISED, check, 0, 0, u32::MAX),
        "{what}"
    );
    assert_eq!(entry.module_str(), "", "{what}");
    // The other objects are still walked.
    assert_eq!(
        entries_of(&entries, "\\Callback\\PowerPort")[0].status,
        registration_status::IN_MODULE,
        "{what}"
    );
}

#[test]
fn registration_walk_rejects_every_corrupted_layout_without_crashing() {
    let mut kernel = loaded();
    let (_, object) = create_callback(WALK, true, true);
    let handles: Vec<*mut c_void> = [first_routine as Routine, second_routine, third_routine]
        .iter()
        .map(|r| register(object, *r, 0))
        .collect();
    let info = excallback::object(WALK).unwrap();
    let (address, blocks) = (info.address, info.registrations);
    assert_eq!(blocks.len(), 3);
    kcallbacks::config::settings::test_seam::set_walk_enabled(true);
    let (_, entries, _) = list_registrations(&mut kernel);
    assert_eq!(entries_of(&entries, WALK).len(), 3, "intact first");

    // Each case: (word to overwrite, value, expected check).
    let other = excallback::object("\\Callback\\SetSystemTime").unwrap().address;
    let cases: [(&str, usize, usize, u32); 7] = [
        ("signature", address, 0x6C6C_6144, layout_check::SIGNATURE),
        (
            "AllowMultipleCallbacks byte",
            address + 0x20,
            7,
            layout_check::BAD_FLAG,
        ),
        (
            "Blink of the second block",
            blocks[1] + 8,
            blocks[2],
            layout_check::LINK_MISMATCH,
        ),
        (
            "Blink of the head",
            address + 0x18,
            blocks[0],
            layout_check::LINK_MISMATCH,
        ),
        (
            "object pointer of the first block",
            blocks[0] + 0x10,
            other,
            layout_check::OBJECT_MISMATCH,
        ),
        (
            "routine of the third block",
            blocks[2] + 0x18,
            0,
            layout_check::NULL_ROUTINE,
        ),
        // Never read: reading it would crash the test process.
        (
            "Flink to unmapped memory",
            blocks[1],
            0x0000_7FF0_DEAD_0000,
            layout_check::UNREADABLE,
        ),
    ];
    for (what, word, value, check) in cases {
        let old = excallback::corrupt(word, value);
        assert_not_recognised(&mut kernel, check, what);
        excallback::corrupt(word, old);
    }
    // A single-callback object listing several.
    let old = excallback::corrupt(address + 0x20, 0);
    assert_not_recognised(&mut kernel, layout_check::SINGLE_WITH_MANY, "single with three");
    excallback::corrupt(address + 0x20, old);
    // A block paged out.
    excallback::set_paged_out(blocks[2], true);
    assert_not_recognised(&mut kernel, layout_check::UNREADABLE, "paged-out block");
    excallback::set_paged_out(blocks[2], false);
    // A cycle that does not come back to the head: caught by the Blink check.
    let old = excallback::corrupt(blocks[2], blocks[1]);
    assert_not_recognised(
        &mut kernel,
        layout_check::LINK_MISMATCH,
        "cycle away from the head",
    );
    excallback::corrupt(blocks[2], old);

    // Intact again: the same three routines.
    let (_, entries, _) = list_registrations(&mut kernel);
    assert_eq!(entries_of(&entries, WALK).len(), 3);
    assert!(
        driver_lines(&kernel)
            .iter()
            .any(|l| l.contains(" 1 layouts not recognised"))
    );
    end_walk(&mut kernel, handles, object);
}

#[test]
fn registration_walk_bounds_the_list() {
    let mut kernel = loaded();
    let (_, object) = create_callback(WALK, true, true);
    let bound = kcallbacks::registrations::walker::MAX_REGISTRATIONS_PER_OBJECT;
    let mut handles: Vec<*mut c_void> = (0..bound).map(|i| register(object, first_routine, i)).collect();
    kcallbacks::config::settings::test_seam::set_walk_enabled(true);
    let (_, entries, _) = list_registrations(&mut kernel);
    assert_eq!(
        entries_of(&entries, WALK).len(),
        bound,
        "exactly the bound is still walked"
    );
    handles.push(register(object, second_routine, bound));
    assert_not_recognised(&mut kernel, layout_check::TOO_LONG, "one more than the bound");
    end_walk(&mut kernel, handles, object);
}

#[test]
fn registration_walk_allocates_through_the_fallback_and_survives_module_failures() {
    let mut kernel = loaded();
    kcallbacks::config::settings::test_seam::set_walk_enabled(true);
    // No ExAllocatePool2 (Wine): ExAllocatePoolWithTag, freed before return.
    ntsim::exports::hide("ExAllocatePool2");
    let before = ntsim::ddi::calls().len();
    let (status, entries, _) = list_registrations(&mut kernel);
    assert_eq!(status, STATUS_SUCCESS);
    let apis: Vec<&str> = ntsim::ddi::calls()[before..].iter().map(|c| c.ddi).collect();
    assert!(
        apis.contains(&"ExAllocatePoolWithTag") && !apis.contains(&"ExAllocatePool2"),
        "{apis:?}"
    );
    assert!(apis.contains(&"ExFreePoolWithTag"));
    assert!(pool_outstanding_besides_held_blocks().is_empty());
    assert_eq!(
        entries_of(&entries, "\\Callback\\PowerPort")[0].module_str(),
        "ntoskrnl.exe"
    );
    ntsim::exports::expose("ExAllocatePool2");
    // The module list cannot be read, or its buffer cannot be allocated: the
    // routines are still listed, without modules.
    for (ddi, status) in [
        ("ZwQuerySystemInformation", STATUS_INSUFFICIENT_RESOURCES),
        ("ExAllocatePool2", STATUS_INSUFFICIENT_RESOURCES),
    ] {
        faults::fail_always(ddi, status);
        ntsim::dbgprint::clear();
        let (result, entries, _) = list_registrations(&mut kernel);
        faults::clear();
        assert_eq!(result, STATUS_SUCCESS, "{ddi}");
        let power_port = entries_of(&entries, "\\Callback\\PowerPort");
        assert_eq!(
            (power_port[0].status, power_port[0].routine),
            (registration_status::MODULES_UNAVAILABLE, POWER_PORT_OWNER as u64),
            "{ddi}"
        );
        assert!(
            driver_lines(&kernel)
                .iter()
                .any(|l| l.starts_with("kcallbacks: registration walk: module list unavailable")),
            "{ddi}"
        );
        assert!(pool_outstanding_besides_held_blocks().is_empty(), "{ddi}");
    }
    kcallbacks::config::settings::test_seam::set_walk_enabled(false);
    unload_clean(&mut kernel);
}

static STOP: AtomicBool = AtomicBool::new(false);

#[test]
fn registration_walk_under_concurrent_registrations_sees_consistent_lists() {
    let mut kernel = loaded();
    let (_, object) = create_callback(WALK, true, true);
    let keep = register(object, first_routine, 0);
    STOP.store(false, Ordering::SeqCst);
    let object_address = object as usize;
    // Another "processor" registers and unregisters on the object meanwhile.
    let churn = std::thread::spawn(move || {
        let mut rounds = 0;
        while !STOP.load(Ordering::SeqCst) {
            let handle = register(object_address as PCALLBACK_OBJECT, second_routine, rounds);
            unregister(handle);
            rounds += 1;
        }
        rounds
    });
    kcallbacks::config::settings::test_seam::set_walk_enabled(true);
    for _ in 0..50 {
        let (status, entries, _) = list_registrations(&mut kernel);
        assert_eq!(status, STATUS_SUCCESS);
        let walk = entries_of(&entries, WALK);
        assert!(
            (1..=2).contains(&walk.len()) && walk.iter().all(|e| e.status == registration_status::NO_MODULE),
            "{walk:#?}"
        );
        assert_eq!(walk[0].routine, first_routine as *const () as u64);
    }
    STOP.store(true, Ordering::SeqCst);
    assert!(churn.join().unwrap() > 0);
    end_walk(&mut kernel, vec![keep], object);
}

/// Turns the walk off again, removes `handles` and the reference on
/// `object`, unloads, and checks that nothing is left.
fn end_walk(kernel: &mut Kernel, handles: Vec<*mut c_void>, object: PCALLBACK_OBJECT) {
    kcallbacks::config::settings::test_seam::set_walk_enabled(false);
    for handle in handles {
        unregister(handle);
    }
    dereference(object);
    kernel.unload_driver();
    assert_nothing_left(kernel);
}
