//! Unload leaves no registration of these families; a leaked registration is caught.

#[allow(clippy::wildcard_imports)]
use super::*;

// --- 7: unload leaves nothing; a leaked registration is caught ---------------------------

#[test]
fn unload_leaves_no_registration_of_these_families() {
    let mut kernel = boot_with(&[("EnableProfileInterrupt", 1)]);
    let key = service_key();
    ntsim::registry::set_dword(&key, "Start", 0);
    load(&mut kernel);
    let entries = report(&mut kernel);
    let registered = entries
        .values()
        .filter(|e| e.0 == RegistrationState::Registered)
        .count();
    assert!(registered >= 20, "{entries:?}");
    unload_even_if_refused(&mut kernel);
    kernel.assert_no_bugchecks();
    assert!(ntsim::ioreg::shutdown_registrations().is_empty());
    assert_eq!(ntsim::power::profile_handler(), 0);
    assert!(ntsim::ioreg::interrupt_connections().is_empty());
    assert!(!trigger::nmi());
    assert!(trigger::bug_check(0xE2).is_empty());
    assert_eq!(trigger::processor_add(PROCESSOR_COUNT + 1), STATUS_SUCCESS);
    assert_nothing_left(&kernel);
}

// SAFETY: all-zero is KeInitializeCallbackRecord's result (State = BufferEmpty).
static LEAK_RECORD: Cell<KBUGCHECK_CALLBACK_RECORD> =
    Cell(std::cell::UnsafeCell::new(unsafe { std::mem::zeroed() }));
// SAFETY: as above.
static LEAK_REASON: Cell<KBUGCHECK_REASON_CALLBACK_RECORD> =
    Cell(std::cell::UnsafeCell::new(unsafe { std::mem::zeroed() }));

const unsafe extern "C" fn leak_nmi(_: *mut c_void, _: BOOLEAN) -> BOOLEAN {
    0
}
const unsafe extern "C" fn leak_bound() -> BOUND_CALLBACK_STATUS {
    0
}
const unsafe extern "C" fn leak_bugcheck(_: *mut c_void, _: u32) {}
const unsafe extern "C" fn leak_reason(
    _: KBUGCHECK_CALLBACK_REASON,
    _: *mut KBUGCHECK_REASON_CALLBACK_RECORD,
    _: *mut c_void,
    _: u32,
) {
}
const unsafe extern "C" fn leak_processor(
    _: *mut c_void,
    _: *mut KE_PROCESSOR_CHANGE_NOTIFY_CONTEXT,
    _: *mut NTSTATUS,
) {
}
const unsafe extern "C" fn leak_pnp(_: *mut c_void, _: *mut c_void) -> NTSTATUS {
    STATUS_SUCCESS
}
const unsafe extern "C" fn leak_fs(_: PDEVICE_OBJECT, _: BOOLEAN) {}
const unsafe extern "C" fn leak_power(_: *const GUID, _: *mut c_void, _: u32, _: *mut c_void) -> NTSTATUS {
    STATUS_SUCCESS
}
const unsafe extern "C" fn leak_whea(_: u32, _: BOOLEAN, _: BOOLEAN, _: *mut c_void) -> BOOLEAN {
    0
}

#[test]
fn a_leaked_registration_of_each_family_is_caught_at_unload() {
    type Leak = fn(&mut Kernel) -> usize;
    let leaks: [(&str, Leak); 9] = [
        ("NMI callback", |_| {
            // SAFETY: a 'static routine, left registered on purpose.
            let handle = unsafe { ntsim::kecb::KeRegisterNmiCallback(Some(leak_nmi), std::ptr::null_mut()) };
            assert!(!handle.is_null());
            leak_nmi as *const () as usize
        }),
        ("bound callback", |_| {
            // SAFETY: as above.
            let handle = unsafe { ntsim::kecb::KeRegisterBoundCallback(Some(leak_bound)) };
            assert!(!handle.is_null());
            leak_bound as *const () as usize
        }),
        ("bug check callback", |_| {
            register_bug_check_callback(&LEAK_RECORD, leak_bugcheck);
            leak_bugcheck as *const () as usize
        }),
        ("bug check reason callback", |_| {
            let record = LEAK_REASON.0.get();
            // SAFETY: resident static record, re-initialised first.
            unsafe { record.write_bytes(0, 1) };
            // SAFETY: as above.
            let ok = unsafe {
                ntsim::kecb::KeRegisterBugCheckReasonCallback(
                    record,
                    Some(leak_reason),
                    KbCallbackSecondaryDumpData,
                    std::ptr::null_mut(),
                )
            };
            assert_eq!(ok, 1);
            leak_reason as *const () as usize
        }),
        ("processor change callback", |_| {
            // SAFETY: a 'static routine.
            let handle = unsafe {
                ntsim::kecb::KeRegisterProcessorChangeCallback(Some(leak_processor), std::ptr::null_mut(), 0)
            };
            assert!(!handle.is_null());
            leak_processor as *const () as usize
        }),
        ("Plug and Play notification", |kernel| {
            let mut entry = std::ptr::null_mut();
            // SAFETY: the driver's object; a 'static routine; a writable entry.
            let status = unsafe {
                ntsim::ioreg::IoRegisterPlugPlayNotification(
                    EventCategoryHardwareProfileChange,
                    0,
                    std::ptr::null_mut(),
                    kernel.driver_object(),
                    Some(leak_pnp),
                    std::ptr::null_mut(),
                    &raw mut entry,
                )
            };
            assert_eq!(status, STATUS_SUCCESS);
            leak_pnp as *const () as usize
        }),
        ("file-system registration change", |kernel| {
            // SAFETY: the driver's object; a 'static routine.
            let status = unsafe {
                ntsim::ioreg::IoRegisterFsRegistrationChange(kernel.driver_object(), Some(leak_fs))
            };
            assert_eq!(status, STATUS_SUCCESS);
            leak_fs as *const () as usize
        }),
        ("power setting callback", |_| {
            let mut handle = std::ptr::null_mut();
            // SAFETY: a 'static GUID and routine; a writable handle.
            let status = unsafe {
                ntsim::power::PoRegisterPowerSettingCallback(
                    std::ptr::null_mut(),
                    &ntsim::power::GUID_ACDC_POWER_SOURCE,
                    Some(leak_power),
                    std::ptr::null_mut(),
                    &raw mut handle,
                )
            };
            assert_eq!(status, STATUS_SUCCESS);
            leak_power as *const () as usize
        }),
        ("page offline notification", |_| {
            // SAFETY: a 'static routine.
            let status = unsafe {
                ntsim::power::WheaRegisterInUsePageOfflineNotification(Some(leak_whea), std::ptr::null_mut())
            };
            assert_eq!(status, STATUS_SUCCESS);
            leak_whea as *const () as usize
        }),
    ];
    for (family, leak) in leaks {
        let mut kernel = loaded_with(&[]);
        let routine = leak(&mut kernel);
        kernel.unload_driver();
        let check = kernel.expect_bugcheck(CE, routine as u64);
        assert!(
            check.text.contains(family) && check.text.contains("still registered"),
            "{check}"
        );
        kernel.assert_no_bugchecks();
    }
}
