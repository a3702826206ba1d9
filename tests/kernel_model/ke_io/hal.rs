//! The HAL registrations and the `HIGH_LEVEL` rules (nothing allocated, nothing printed).

#[allow(clippy::wildcard_imports)]
use super::*;

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
    unload_clean(&mut kernel);
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
    let events = read_until(&mut kernel, "PMI", count_of(SourceId::ProfileInterrupt, 2));
    let pmi = of(&events, SourceId::ProfileInterrupt);
    assert!(pmi.iter().all(|r| r.header.irql == PROFILE_LEVEL));
    let counts: Vec<u64> = pmi
        .iter()
        .map(|r| r.payload::<ProfileInterruptPayload>().unwrap().count)
        .collect();
    assert_eq!(counts[1], counts[0] + 1);
    ntsim::dbgprint::clear();
    // The driver refuses to unload while the handler is installed (issue
    // 12, item 6; tests/kernel_model/hardening.rs); once it is unloaded
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

/// The errata callbacks were not registered, for the reason `detail`, and
/// the driver's line on them says `why`.
fn assert_errata_not_available(kernel: &mut Kernel, detail: u32, why: &str) {
    assert_eq!(
        entry(kernel, Api::HalErrataCallbacks),
        (
            RegistrationState::NotAvailable,
            STATUS_PROCEDURE_NOT_FOUND,
            detail
        )
    );
    assert!(
        driver_lines(kernel)
            .iter()
            .any(|l| l.contains("HalRegisterErrataCallbacks") && l.contains(why))
    );
}

#[test]
fn errata_callbacks_are_reported_and_never_called() {
    let mut kernel = loaded_with(&[]);
    assert_errata_not_available(&mut kernel, report_detail::NOT_EXPORTED, "not exported");
    kernel.unload_driver();
    drop(kernel);

    let mut kernel = boot_with(&[]);
    ntsim::exports::expose("HalRegisterErrataCallbacks");
    load(&mut kernel);
    assert_errata_not_available(
        &mut kernel,
        report_detail::UNDOCUMENTED_PROTOTYPE,
        "prototype is undocumented",
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
    let events = read_until(&mut kernel, "high-level events", |all| {
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
