//! What the Wine run is expected to do: the APIs that may be skipped or are
//! disabled through `Parameters`, the failures Wine produces, what the log
//! must not say, and the driver version the `DriverEntry` line must show.

use std::fs;
use std::path::Path;

/// APIs whose `register` line may say `disabled` or `unavailable` instead of
/// `ok` (compared on the name without arguments). Extend as the driver grows.
///
/// Initial contents, from `shared/docs/wine.md`: what Wine 8.0 does not
/// export (so the driver's run-time lookup reports it unavailable), and what
/// it exports only as a stub that aborts `winedevice.exe` when called (so the
/// driver must not call it under Wine).
pub const MAY_BE_SKIPPED: &[&str] = &[
    // Wine 8.0's ExCreateCallback returns success without an object, and
    // IoRegisterPlugPlayNotification success without an entry: unavailable.
    "ExCreateCallback",
    "ExRegisterCallback",
    "IoRegisterPlugPlayNotification",
    // Undocumented prototype: always reported, never called.
    "HalRegisterErrataCallbacks",
    // Opt-in (off by default) / boot-start only.
    "HalSetSystemInformation",
    "IoRegisterBootDriverReinitialization",
    // Not exported by Wine 8.0.
    "PsSetCreateProcessNotifyRoutineEx2",
    "PsSetCreateThreadNotifyRoutineEx",
    "PsSetLoadImageNotifyRoutineEx",
    "CmRegisterCallbackEx",
    "KeRegisterNmiCallback",
    "KeRegisterProcessorChangeCallback",
    "KeRegisterBoundCallback",
    "PoRegisterPowerSettingCallback",
    "WheaRegisterInUsePageOfflineNotification",
    "HalSetSystemInformation",
    // The ETW provider (src/etw): Wine 8.0 exports no Etw* routine.
    "EtwRegister",
    // Stubs that abort the host process when called.
    "KeRegisterBugCheckCallback",
    "KeRegisterBugCheckReasonCallback",
    "IoRegisterLastChanceShutdownNotification",
    "IoRegisterFsRegistrationChange",
];

/// `Parameters` values the Wine run sets to 0, with the API each disables:
/// Wine 8.0 exports these routines only as stubs that abort the host, so the
/// run must not call them, and each must be reported `disabled`.
pub const WINE_DISABLED: &[(&str, &str)] = &[
    ("EnableBugCheck", "KeRegisterBugCheckCallback"),
    ("EnableBugCheckReason", "KeRegisterBugCheckReasonCallback"),
    (
        "EnableLastChanceShutdown",
        "IoRegisterLastChanceShutdownNotification",
    ),
    ("EnableFsRegistration", "IoRegisterFsRegistrationChange"),
];

/// `Parameters` values the Wine run sets to 1: the flood test switch.
pub const WINE_ENABLED: &[&str] = &["EnableFlood"];

/// Records the flood test pushes: more than the ring and the client queue
/// hold together (1024 each), so some must be dropped.
pub const FLOOD_COUNT: u64 = 3000;
/// Registrations expected to fail under Wine, with their status: the legacy
/// `CmRegisterCallback` (used because `CmRegisterCallbackEx` is not exported)
/// returns `STATUS_NOT_IMPLEMENTED`; the driver must report it and go on.
pub const WINE_EXPECTED_FAILURES: &[(&str, u32)] = &[("CmRegisterCallback", 0xC000_0002)];

/// The report line of the ETW provider under Wine: `EtwRegister` is not
/// exported, so the driver reports it unavailable with that reason.
pub const WINE_ETW_LINE: &str =
    "kcallbacks: register EtwRegister(kcallbacks): unavailable status=0xC000007A (not exported by this system)";

/// Registered APIs that `kcbctl report` need not list (compared on the name
/// without arguments). Empty: every registration is expected in the report.
pub const REPORT_MAY_OMIT: &[&str] = &[];

/// Texts that mean a driver reached code Wine does not implement.
pub const FORBIDDEN_LOG_TEXTS: &[&str] = &["Unimplemented function", "unimplemented function", "wine_stub"];

/// The workspace version (`[workspace.package] version`, else `[package] version`).
pub fn workspace_version(root: &Path) -> Option<String> {
    let text = fs::read_to_string(root.join("Cargo.toml")).ok()?;
    let mut section = String::new();
    let mut found = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            line.clone_into(&mut section);
        } else if let Some((k, v)) = line.split_once('=')
            && k.trim() == "version"
            && (section == "[workspace.package]" || (section == "[package]" && found.is_none()))
        {
            let v = v.trim();
            if v.starts_with('"') {
                found = Some(v.trim_matches('"').to_owned());
                if section == "[workspace.package]" {
                    return found;
                }
            }
        }
    }
    found
}
