//! One event of every family the model can fire on demand, for the tests
//! that look at all sources at once (events, allocation, cost).

use kcb_proto::SourceId;
use ntsim::irql::PASSIVE_LEVEL;
use ntsim::trigger;
use wdk_sys::STATUS_SUCCESS;

use super::VOLUME;

/// The sources [`fire_every_family`] makes the loaded driver record
/// (`FsRegistration` and `DriverReinit` are not among them: the system
/// calls those around `DriverEntry`, not on a trigger).
pub const FIRED_SOURCES: [SourceId; 16] = [
    SourceId::LoadImage,
    SourceId::ProcessCreate,
    SourceId::ThreadCreate,
    SourceId::ObjectHandle,
    SourceId::Registry,
    SourceId::CallbackObject,
    SourceId::PowerSetting,
    SourceId::Nmi,
    SourceId::BoundException,
    SourceId::BugCheck,
    SourceId::BugCheckReason,
    SourceId::ProcessorChange,
    SourceId::Shutdown,
    SourceId::LastChanceShutdown,
    SourceId::PlugPlay,
    SourceId::PageOffline,
];

/// Fires one event of every family, from process `pid` (created by the
/// system process 0x2000 and given thread `pid + 4`): an image load, the
/// process and thread lifecycle, a process handle open, registry writes and
/// opens, a system-time change (`\Callback\SetSystemTime`), a power state
/// and a power setting change, an NMI, a bound exception, a processor
/// added, a device interface arrival, a hardware profile change, a page
/// offline notification, a shutdown and a bug check.
///
/// # Panics
/// If a trigger the driver cannot veto fails (the image load, the process
/// creation, the registry write and open) or a handle open loses access
/// with no protect policy configured.
pub fn fire_every_family(pid: u64) {
    let image = format!("\\Windows\\System32\\every{pid:x}.dll");
    assert_eq!(trigger::load_image(&image, pid, 0x1000_0000, 0x1000, false), 1);
    let create = trigger::ProcessCreate::new(pid, 0x2000, "\\??\\C:\\Windows\\notepad.exe");
    assert_eq!(create.fire(), STATUS_SUCCESS);
    let _ = trigger::thread_notify(pid, pid + 4, true, (0x2000, 0x2004), PASSIVE_LEVEL);
    let _ = trigger::thread_notify(pid, pid + 4, false, (0x2000, 0x2004), PASSIVE_LEVEL);
    let _ = trigger::process_exit(pid, 0x2000);
    let granted = trigger::HandleOperation::open_process(pid, 0x1F_FFFF, (0x2000, 0x2004)).fire();
    assert_eq!(granted, 0x1F_FFFF, "no protect policy is configured");
    let key = "\\Registry\\Machine\\Software\\NtsimTest";
    let value = 7u32.to_le_bytes();
    let set = trigger::registry_set_value(0x2000, key, "Value", ntsim::registry::REG_DWORD, &value);
    assert_eq!(set, STATUS_SUCCESS);
    assert_eq!(trigger::registry_open_key(0x2000, key), STATUS_SUCCESS);
    let _ = trigger::set_system_time(ntsim::clock::system_time());
    let _ = trigger::power_state(wdk_sys::PO_CB_AC_STATUS, true, PASSIVE_LEVEL);
    let lid = ntsim::power::GUID_LIDSWITCH_STATE_CHANGE;
    let _ = trigger::power_setting_change(lid, &0u32.to_le_bytes());
    let _ = trigger::nmi();
    let _ = trigger::bound_exception(pid);
    let _ = trigger::processor_add(4);
    let _ = trigger::device_interface_arrival(
        VOLUME,
        "\\??\\STORAGE#Volume#{ntsim}#{53f5630d-b6bf-11d0-94f2-00a0c91efb8b}",
    );
    let _ = trigger::hardware_profile_change(ntsim::ioreg::GUID_HWPROFILE_CHANGE_COMPLETE);
    let _ = trigger::page_offline(0x1234, 0, false);
    let _ = trigger::shutdown();
    let _ = trigger::bug_check(0xE2);
}
