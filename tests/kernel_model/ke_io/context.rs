//! Registration, removal and the documented call context of the Ke, Io, Po and WHEA callbacks.

#[allow(clippy::wildcard_imports)]
use super::*;

// --- 1, 2: registration, removal and the call context of each callback ----------

/// The Ke registrations of a default load.
const KE: [Api; 5] = [
    Api::NmiCallback,
    Api::BoundCallback,
    Api::BugCheckCallback,
    Api::BugCheckReasonCallback,
    Api::ProcessorChangeCallback,
];

#[test]
fn ke_callbacks_register_fire_in_their_documented_context_and_unregister() {
    let mut kernel = loaded_with(&[]);
    assert_all_registered(&mut kernel, &KE);

    // KE_PROCESSOR_CHANGE_ADD_EXISTING: StartNotify for every active
    // processor, then CompleteNotify for each, synchronously, at PASSIVE_LEVEL
    // (§11.3), in DriverEntry's thread.
    let n = PROCESSOR_COUNT as usize;
    let events = read_until(
        &mut kernel,
        "processor change",
        count_of(SourceId::ProcessorChange, 2 * n),
    );
    let changes = of(&events, SourceId::ProcessorChange);
    let seen: Vec<(u32, u32)> = changes
        .iter()
        .map(|r| {
            let p = r.payload::<ProcessorChangePayload>().expect("payload");
            assert_eq!((p.group, u32::from(p.group_index)), (0, p.processor_number));
            (p.state, p.processor_number)
        })
        .collect();
    let expected: Vec<(u32, u32)> = (0..PROCESSOR_COUNT)
        .map(|i| (0, i))
        .chain((0..PROCESSOR_COUNT).map(|i| (1, i)))
        .collect();
    assert_eq!(seen, expected, "all StartNotify, then all CompleteNotify");
    assert!(
        changes
            .iter()
            .all(|r| r.header.irql == PASSIVE_LEVEL && r.header.pid == SYSTEM_PID)
    );

    // A hot-added processor: StartNotify then CompleteNotify.
    assert_eq!(trigger::processor_add(PROCESSOR_COUNT), STATUS_SUCCESS);
    let events = read_until(&mut kernel, "hot add", count_of(SourceId::ProcessorChange, 2));
    let added: Vec<(u32, u32)> = of(&events, SourceId::ProcessorChange)
        .iter()
        .map(|r| {
            let p = r.payload::<ProcessorChangePayload>().expect("payload");
            (p.state, p.processor_number)
        })
        .collect();
    assert_eq!(added, [(0, PROCESSOR_COUNT), (1, PROCESSOR_COUNT)]);

    // NMI at HIGH_LEVEL: the driver does not claim it.
    assert!(!trigger::nmi(), "the driver returns FALSE");
    // BOUND in the faulting process's context; the driver lets the search go on.
    assert_eq!(
        trigger::bound_exception(0x3A00),
        0,
        "BoundExceptionContinueSearch"
    );
    // Bug check: both callbacks at HIGH_LEVEL.
    let report = trigger::bug_check_with(0xE2, BugCheckOptions::default());
    assert_eq!(report.callback_buffers.len(), 1);
    assert_eq!(report.secondary.len(), 1);

    let events = read_until(&mut kernel, "ke events", |all| {
        [
            SourceId::Nmi,
            SourceId::BoundException,
            SourceId::BugCheck,
            SourceId::BugCheckReason,
        ]
        .iter()
        .all(|s| count_of(*s, 1)(all))
    });
    let nmi = of(&events, SourceId::Nmi)[0];
    assert_eq!(nmi.header.irql, HIGH_LEVEL);
    assert_eq!(
        nmi.payload::<NmiPayload>().unwrap().handled,
        0,
        "first (only) callback: Handled = FALSE"
    );
    let bound = of(&events, SourceId::BoundException)[0];
    assert_eq!(
        (bound.header.irql, bound.header.pid),
        (PASSIVE_LEVEL, 0x3A00),
        "the exception's context"
    );
    assert!(bound.payload::<BoundExceptionPayload>().unwrap().count >= 1);
    for source in [SourceId::BugCheck, SourceId::BugCheckReason] {
        assert_eq!(of(&events, source)[0].header.irql, HIGH_LEVEL, "{source}");
    }
    let reason = of(&events, SourceId::BugCheckReason)[0];
    let reason = reason.payload::<BugCheckReasonPayload>().unwrap();
    assert_eq!(reason.reason, KbCallbackSecondaryDumpData.cast_unsigned());
    assert_eq!(reason.data_length, report.secondary[0].data.len() as u64);

    ntsim::dbgprint::clear();
    kernel.unload_driver();
    for api in KE {
        assert_removed_line(&kernel, api);
    }
    // Nothing fires any more.
    assert!(!trigger::nmi());
    assert_eq!(trigger::bound_exception(0x3A00), 0);
    let after = trigger::bug_check_with(0xE2, BugCheckOptions::default());
    assert!(after.callback_buffers.is_empty() && after.secondary.is_empty());
    assert_nothing_left(&kernel);
}

/// The Io, Po and WHEA registrations of a default load.
const IO_PO_WHEA: [Api; 11] = [
    Api::ShutdownNotification,
    Api::LastChanceShutdownNotification,
    Api::PnpDeviceInterface,
    Api::PnpHardwareProfile,
    Api::FsRegistrationChange,
    Api::DriverReinitialization,
    Api::PowerSettingMonitor,
    Api::PowerSettingLid,
    Api::PowerSettingAcDc,
    Api::PowerSettingConsoleDisplay,
    Api::PageOfflineNotification,
];

#[test]
fn io_po_and_whea_callbacks_register_fire_in_their_documented_context_and_unregister() {
    let mut kernel = boot_with(&[]);
    // An interface that exists before the driver registers is replayed at once.
    ntsim::ioreg::add_device_interface(VOLUME, VOLUME_LINK);
    load(&mut kernel);
    assert_all_registered(&mut kernel, &IO_PO_WHEA);
    // Not started at boot (Start = 3): the boot variant is not requested.
    assert_eq!(
        entry(&mut kernel, Api::BootDriverReinitialization),
        (
            RegistrationState::DisabledByConfig,
            0,
            report_detail::NOT_BOOT_START
        )
    );
    assert!(
        driver_lines(&kernel)
            .iter()
            .any(|l| l.contains("IoRegisterBootDriverReinitialization") && l.contains("not started at boot")),
        "{:#?}",
        driver_lines(&kernel)
    );

    // What DriverEntry's registrations replayed, and the reinitialization
    // routine the I/O manager called after DriverEntry returned.
    let events = read_until(&mut kernel, "load-time events", |all| {
        count_of(SourceId::PlugPlay, 1)(all)
            && count_of(SourceId::FsRegistration, 1)(all)
            && count_of(SourceId::DriverReinit, 1)(all)
            && count_of(SourceId::PowerSetting, 4)(all)
    });
    let pnp = of(&events, SourceId::PlugPlay);
    assert_eq!(
        pnp.len(),
        1,
        "one existing interface: reported once (twice at most, §13.3)"
    );
    let payload = pnp[0].payload::<PlugPlayPayload>().unwrap();
    assert_eq!(
        payload.event,
        guid_bytes(&ntsim::ioreg::GUID_DEVICE_INTERFACE_ARRIVAL)
    );
    assert_eq!(payload.class, guid_bytes(&VOLUME));
    assert_eq!(
        String::from_utf16_lossy(payload.symbolic_link.as_units()),
        VOLUME_LINK
    );
    assert_eq!(pnp[0].header.irql, PASSIVE_LEVEL);

    let fs = of(&events, SourceId::FsRegistration);
    assert_eq!(fs.len(), 1, "the one registered file system (NTFS) replayed");
    let payload = fs[0].payload::<FsRegistrationPayload>().unwrap();
    assert_eq!((payload.device_type, payload.active), (DISK_FILE_SYSTEM, 1));
    assert!(
        ntsim::io::devices()
            .iter()
            .any(|d| d.address as u64 == payload.device_object)
    );
    assert_eq!(fs[0].header.irql, PASSIVE_LEVEL);

    let reinit = of(&events, SourceId::DriverReinit);
    assert_eq!(reinit.len(), 1);
    assert_eq!(
        reinit[0].payload::<DriverReinitPayload>().unwrap().count,
        1,
        "Count includes this call"
    );
    assert_eq!(
        (reinit[0].header.irql, reinit[0].header.pid),
        (PASSIVE_LEVEL, SYSTEM_PID)
    );
    assert!(of(&events, SourceId::BootDriverReinit).is_empty());

    // Power settings: each called once right after registration with the current value.
    let power = of(&events, SourceId::PowerSetting);
    let values: Vec<([u8; 16], u32, [u8; 4])> = power
        .iter()
        .map(|r| {
            assert_eq!(r.header.irql, PASSIVE_LEVEL);
            let p = r.payload::<PowerSettingPayload>().unwrap();
            (p.setting, p.value_length, p.value[..4].try_into().unwrap())
        })
        .collect();
    assert_eq!(
        values,
        [
            (
                guid_bytes(&ntsim::power::GUID_MONITOR_POWER_ON),
                4,
                1u32.to_le_bytes()
            ),
            (
                guid_bytes(&ntsim::power::GUID_LIDSWITCH_STATE_CHANGE),
                4,
                1u32.to_le_bytes()
            ),
            (
                guid_bytes(&ntsim::power::GUID_ACDC_POWER_SOURCE),
                4,
                0u32.to_le_bytes()
            ),
            (
                guid_bytes(&ntsim::power::GUID_CONSOLE_DISPLAY_STATE),
                4,
                1u32.to_le_bytes()
            ),
        ]
    );

    // Later events of each family.
    assert_eq!(
        trigger::power_setting_change(ntsim::power::GUID_LIDSWITCH_STATE_CHANGE, &0u32.to_le_bytes()),
        1
    );
    let link2 = "\\??\\STORAGE#Volume#{ntsim-ke-io-2}#{53f5630d-b6bf-11d0-94f2-00a0c91efb8b}";
    assert_eq!(trigger::device_interface_arrival(VOLUME, link2), 1);
    assert_eq!(
        trigger::hardware_profile_change(ntsim::ioreg::GUID_HWPROFILE_CHANGE_COMPLETE),
        1
    );
    let new_fs = ntsim::ioreg::interrupt_device("NtsimKeIoFs", &[]);
    assert_eq!(trigger::file_system_registered(new_fs), 1);
    assert_eq!(
        trigger::page_offline(0x1234, 0x41, true),
        [0],
        "claims no page as handled"
    );
    let events = read_until(&mut kernel, "later events", |all| {
        count_of(SourceId::PowerSetting, 1)(all)
            && count_of(SourceId::PlugPlay, 2)(all)
            && count_of(SourceId::FsRegistration, 1)(all)
            && count_of(SourceId::PageOffline, 1)(all)
    });
    let lid = of(&events, SourceId::PowerSetting)[0];
    assert_eq!(
        lid.payload::<PowerSettingPayload>().unwrap().value[..4],
        0u32.to_le_bytes()
    );
    let pnp = of(&events, SourceId::PlugPlay);
    let arrival = pnp[0].payload::<PlugPlayPayload>().unwrap();
    assert_eq!(String::from_utf16_lossy(arrival.symbolic_link.as_units()), link2);
    let profile = pnp[1].payload::<PlugPlayPayload>().unwrap();
    assert_eq!(
        profile.category,
        EventCategoryHardwareProfileChange.cast_unsigned()
    );
    assert_eq!(
        profile.event,
        guid_bytes(&ntsim::ioreg::GUID_HWPROFILE_CHANGE_COMPLETE)
    );
    assert!(pnp.iter().all(|r| r.header.irql == PASSIVE_LEVEL));
    let fs = of(&events, SourceId::FsRegistration)[0];
    let fs_payload = fs.payload::<FsRegistrationPayload>().unwrap();
    assert_eq!((fs_payload.device_object, fs_payload.active), (new_fs as u64, 1));
    let page = of(&events, SourceId::PageOffline)[0];
    let page_payload = page.payload::<PageOfflinePayload>().unwrap();
    assert_eq!(
        (page_payload.pfn, page_payload.decision, page_payload.flags),
        (0x1234, 0, 0x41 | kcb_proto::PAGE_OFFLINE_POISONED)
    );

    // Shutdown: one IRP_MJ_SHUTDOWN per registration, normal first, at <= APC_LEVEL.
    let device = ntsim::io::device(DEVICE).expect("the control device").address;
    assert_eq!(
        ntsim::ioreg::shutdown_registrations(),
        [(device, false), (device, true)]
    );
    ntsim::dbgprint::clear();
    assert_eq!(trigger::shutdown(), [STATUS_SUCCESS, STATUS_SUCCESS]);
    let events = read_until(&mut kernel, "shutdown", |all| {
        count_of(SourceId::Shutdown, 1)(all) && count_of(SourceId::LastChanceShutdown, 1)(all)
    });
    let normal = of(&events, SourceId::Shutdown);
    let last = of(&events, SourceId::LastChanceShutdown);
    assert_eq!((normal.len(), last.len()), (1, 1));
    assert!(
        normal[0].header.sequence < last[0].header.sequence,
        "normal before last chance"
    );
    assert!(normal[0].header.irql <= APC_LEVEL && last[0].header.irql <= APC_LEVEL);
    assert_eq!(
        normal[0].payload::<ShutdownPayload>().unwrap().major_function,
        wdk_sys::IRP_MJ_SHUTDOWN
    );
    assert_eq!(
        last[0]
            .payload::<LastChanceShutdownPayload>()
            .unwrap()
            .major_function,
        wdk_sys::IRP_MJ_SHUTDOWN
    );
    let lines = driver_lines(&kernel);
    let normal_line = lines
        .iter()
        .position(|l| l.starts_with("kcallbacks: shutdown: ") && l.contains(" events seen, "));
    let last_line = lines
        .iter()
        .position(|l| l.starts_with("kcallbacks: shutdown (last chance): "));
    assert!(
        normal_line.is_some() && last_line.is_some() && normal_line < last_line,
        "{lines:#?}"
    );

    ntsim::dbgprint::clear();
    kernel.unload_driver();
    for api in IO_PO_WHEA {
        assert_removed_line(&kernel, api);
    }
    assert!(ntsim::ioreg::shutdown_registrations().is_empty());
    assert_eq!(
        trigger::power_setting_change(ntsim::power::GUID_MONITOR_POWER_ON, &0u32.to_le_bytes()),
        0
    );
    assert_eq!(
        trigger::hardware_profile_change(ntsim::ioreg::GUID_HWPROFILE_CHANGE_COMPLETE),
        0
    );
    assert!(trigger::page_offline(0x99, 0, false).is_empty());
    // The PnP entries were removed with the Ex routine (it waits for running callbacks).
    assert_eq!(unload_calls_of("IoUnregisterPlugPlayNotificationEx"), 2);
    assert_nothing_left(&kernel);
}

#[test]
fn last_chance_shutdown_alone_is_recorded_as_last_chance() {
    // Regression: the driver took the first IRP_MJ_SHUTDOWN for the normal
    // notification even when only the last-chance one was registered.
    let mut kernel = loaded_with(&[("EnableShutdown", 0)]);
    assert_eq!(
        entry(&mut kernel, Api::ShutdownNotification).0,
        RegistrationState::DisabledByConfig
    );
    assert_eq!(
        entry(&mut kernel, Api::LastChanceShutdownNotification).0,
        RegistrationState::Registered
    );
    assert_eq!(trigger::shutdown(), [STATUS_SUCCESS]);
    let events = read_until(
        &mut kernel,
        "last chance",
        count_of(SourceId::LastChanceShutdown, 1),
    );
    assert!(
        of(&events, SourceId::Shutdown).is_empty(),
        "{:?}",
        sources(&events)
    );
    assert!(
        driver_lines(&kernel)
            .iter()
            .any(|l| l.starts_with("kcallbacks: shutdown (last chance): "))
    );
    unload_clean(&mut kernel);
    drop(kernel);

    // The same driver image loaded again (statics kept, as in these tests):
    // both registered, the first IRP is the normal one again.
    let mut kernel = loaded_with(&[]);
    assert_eq!(trigger::shutdown(), [STATUS_SUCCESS, STATUS_SUCCESS]);
    let events = read_until(&mut kernel, "both", |all| {
        count_of(SourceId::Shutdown, 1)(all) && count_of(SourceId::LastChanceShutdown, 1)(all)
    });
    assert_eq!(of(&events, SourceId::Shutdown).len(), 1);
    unload_clean(&mut kernel);
}

#[test]
fn boot_driver_reinitialization_only_when_started_at_boot() {
    let mut kernel = boot_with(&[]);
    let key = service_key();
    ntsim::registry::set_dword(&key, "Type", 1);
    ntsim::registry::set_dword(&key, "Start", 0);
    ntsim::registry::set_dword(&key, "ErrorControl", 1);
    load(&mut kernel);
    assert_eq!(
        entry(&mut kernel, Api::BootDriverReinitialization),
        (RegistrationState::Registered, 0, 0)
    );
    assert_eq!(
        entry(&mut kernel, Api::DriverReinitialization),
        (RegistrationState::Registered, 0, 0)
    );
    let events = read_until(&mut kernel, "reinit", |all| {
        count_of(SourceId::DriverReinit, 1)(all) && count_of(SourceId::BootDriverReinit, 1)(all)
    });
    let normal = of(&events, SourceId::DriverReinit)[0];
    let boot_reinit = of(&events, SourceId::BootDriverReinit)[0];
    assert!(
        normal.header.sequence < boot_reinit.header.sequence,
        "normal routines first"
    );
    assert_eq!(boot_reinit.payload::<BootDriverReinitPayload>().unwrap().count, 1);
    assert_eq!(
        (boot_reinit.header.irql, boot_reinit.header.pid),
        (PASSIVE_LEVEL, SYSTEM_PID)
    );
    unload_clean(&mut kernel);
}
