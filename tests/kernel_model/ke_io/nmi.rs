//! NMI callbacks: last registered runs first, `Handled` passed along.

#[allow(clippy::wildcard_imports)]
use super::*;

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
        let events = read_until(&mut kernel, "NMI", count_of(SourceId::Nmi, 1));
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
    unload_clean(&mut kernel);
}
