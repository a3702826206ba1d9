//! Fault injection at every registration of these families, and routines missing from the exports.

#[allow(clippy::wildcard_imports)]
use super::*;

// --- 6: fault injection and hidden exports ---------------------------------------------

#[test]
fn every_registration_of_these_families_fails_cleanly() {
    let cases: [(&str, u32, Api, NTSTATUS); 16] = [
        ("KeRegisterNmiCallback", 1, Api::NmiCallback, STATUS_UNSUCCESSFUL),
        (
            "KeRegisterBoundCallback",
            1,
            Api::BoundCallback,
            STATUS_UNSUCCESSFUL,
        ),
        (
            "KeRegisterBugCheckCallback",
            1,
            Api::BugCheckCallback,
            STATUS_UNSUCCESSFUL,
        ),
        (
            "KeRegisterBugCheckReasonCallback",
            1,
            Api::BugCheckReasonCallback,
            STATUS_UNSUCCESSFUL,
        ),
        (
            "KeRegisterProcessorChangeCallback",
            1,
            Api::ProcessorChangeCallback,
            STATUS_UNSUCCESSFUL,
        ),
        (
            "IoRegisterShutdownNotification",
            1,
            Api::ShutdownNotification,
            STATUS_INSUFFICIENT_RESOURCES,
        ),
        (
            "IoRegisterLastChanceShutdownNotification",
            1,
            Api::LastChanceShutdownNotification,
            STATUS_INSUFFICIENT_RESOURCES,
        ),
        (
            "IoRegisterPlugPlayNotification",
            1,
            Api::PnpDeviceInterface,
            STATUS_INSUFFICIENT_RESOURCES,
        ),
        (
            "IoRegisterPlugPlayNotification",
            2,
            Api::PnpHardwareProfile,
            STATUS_INSUFFICIENT_RESOURCES,
        ),
        (
            "IoRegisterFsRegistrationChange",
            1,
            Api::FsRegistrationChange,
            STATUS_INSUFFICIENT_RESOURCES,
        ),
        (
            "PoRegisterPowerSettingCallback",
            1,
            Api::PowerSettingMonitor,
            STATUS_INSUFFICIENT_RESOURCES,
        ),
        (
            "PoRegisterPowerSettingCallback",
            2,
            Api::PowerSettingLid,
            STATUS_INSUFFICIENT_RESOURCES,
        ),
        (
            "PoRegisterPowerSettingCallback",
            3,
            Api::PowerSettingAcDc,
            STATUS_INSUFFICIENT_RESOURCES,
        ),
        (
            "PoRegisterPowerSettingCallback",
            4,
            Api::PowerSettingConsoleDisplay,
            STATUS_INSUFFICIENT_RESOURCES,
        ),
        (
            "WheaRegisterInUsePageOfflineNotification",
            1,
            Api::PageOfflineNotification,
            STATUS_INSUFFICIENT_RESOURCES,
        ),
        (
            "HalSetSystemInformation",
            1,
            Api::HalProfileInterrupt,
            STATUS_INSUFFICIENT_RESOURCES,
        ),
    ];
    for (ddi, nth, api, reported) in cases {
        let mut kernel = boot_with(&[("EnableProfileInterrupt", 1)]);
        faults::fail_nth_on_this_thread(ddi, nth, STATUS_INSUFFICIENT_RESOURCES);
        load(&mut kernel);
        assert_eq!(faults::fired().len(), 1, "{ddi} #{nth} did not fire");
        let entries = report(&mut kernel);
        assert_eq!(
            entries[api.name()],
            (RegistrationState::Failed, reported, 0),
            "{ddi} #{nth}"
        );
        let line = outcome_line("register", api.name(), RegistrationState::Failed, reported);
        assert!(
            driver_lines(&kernel).iter().any(|l| l.starts_with(&line)),
            "{ddi} #{nth}: no {line:?}"
        );
        let failed: Vec<&String> = entries
            .iter()
            .filter(|(_, e)| e.0 == RegistrationState::Failed)
            .map(|(n, _)| n)
            .collect();
        assert_eq!(failed, [api.name()], "{ddi} #{nth}: only that one failed");
        assert_eq!(
            entries[Api::ControlDevice.name()].0,
            RegistrationState::Registered
        );
        unload_even_if_refused(&mut kernel);
        assert!(
            !driver_lines(&kernel)
                .iter()
                .any(|l| l.starts_with(&format!("kcallbacks: unregister {}", api.name()))),
            "{ddi} #{nth}: a failed registration is not removed"
        );
        assert_nothing_left(&kernel);
    }
}

#[test]
fn dynamically_resolved_routines_missing_are_reported_unavailable() {
    let cases: [(&str, &[Api]); 10] = [
        ("KeRegisterNmiCallback", &[Api::NmiCallback]),
        ("KeDeregisterNmiCallback", &[Api::NmiCallback]),
        ("KeRegisterBoundCallback", &[Api::BoundCallback]),
        ("KeDeregisterBoundCallback", &[Api::BoundCallback]),
        (
            "KeRegisterProcessorChangeCallback",
            &[Api::ProcessorChangeCallback],
        ),
        (
            "KeDeregisterProcessorChangeCallback",
            &[Api::ProcessorChangeCallback],
        ),
        (
            "PoRegisterPowerSettingCallback",
            &[
                Api::PowerSettingMonitor,
                Api::PowerSettingLid,
                Api::PowerSettingAcDc,
                Api::PowerSettingConsoleDisplay,
            ],
        ),
        (
            "PoUnregisterPowerSettingCallback",
            &[
                Api::PowerSettingMonitor,
                Api::PowerSettingLid,
                Api::PowerSettingAcDc,
                Api::PowerSettingConsoleDisplay,
            ],
        ),
        (
            "WheaRegisterInUsePageOfflineNotification",
            &[Api::PageOfflineNotification],
        ),
        (
            "WheaUnregisterInUsePageOfflineNotification",
            &[Api::PageOfflineNotification],
        ),
    ];
    for (name, apis) in cases {
        let mut kernel = boot_with(&[]);
        ntsim::exports::hide(name);
        load(&mut kernel);
        let entries = report(&mut kernel);
        for api in apis {
            assert_eq!(
                entries[api.name()],
                (
                    RegistrationState::NotAvailable,
                    STATUS_PROCEDURE_NOT_FOUND,
                    report_detail::NOT_EXPORTED
                ),
                "{name} hidden: {}",
                api.name()
            );
            assert!(
                driver_lines(&kernel).iter().any(|l| l
                    .starts_with(&format!("kcallbacks: register {}: unavailable", api.name()))
                    && l.contains("not exported")),
                "{name}"
            );
        }
        assert!(
            entries.values().all(|e| e.0 != RegistrationState::Failed),
            "{name}: {entries:?}"
        );
        // The driver runs on: events of the other families still arrive.
        assert_eq!(
            trigger::hardware_profile_change(ntsim::ioreg::GUID_HWPROFILE_CHANGE_COMPLETE),
            1
        );
        let _ = read_until(&mut kernel, name, count_of(SourceId::PlugPlay, 1));
        unload_clean(&mut kernel);
    }

    // Without IoUnregisterPlugPlayNotificationEx the legacy routine removes
    // the entries.
    let mut kernel = loaded_without(&["IoUnregisterPlugPlayNotificationEx"]);
    assert_eq!(
        entry(&mut kernel, Api::PnpDeviceInterface).0,
        RegistrationState::Registered
    );
    kernel.unload_driver();
    assert_eq!(unload_calls_of("IoUnregisterPlugPlayNotification"), 2);
    assert_eq!(unload_calls_of("IoUnregisterPlugPlayNotificationEx"), 0);
    assert_nothing_left(&kernel);
}
