//! How errors read, and the host's device.

use super::*;

#[test]
fn errors_read_well() {
    let not_loaded = Error::NotLoaded.to_string();
    assert!(not_loaded.contains("not loaded") && not_loaded.contains(r"\\.\KCallbacks"));
    assert!(not_loaded.contains("sc start kcallbacks"));
    let denied = Error::AccessDenied.to_string();
    assert!(denied.contains("SYSTEM and Administrators") && denied.contains("elevated"));
    let text = |ioctl, code| Error::Request { ioctl, code }.to_string();
    assert_eq!(
        text(Ioctl::GetStats, 122),
        "IOCTL_KCB_GET_STATS failed: the data area passed to a system call is too small \
         (Win32 error 122); the reply did not fit in kcbctl's buffer: the driver is newer than \
         this kcbctl"
    );
    assert!(text(Ioctl::GetConfig, 1).contains("does not know this request"));
    assert!(text(Ioctl::GetConfig, 1306).contains(
        "revision mismatch (Win32 error 1306); kcbctl and the driver speak different protocol versions"
    ));
    assert!(text(Ioctl::ReadEvents, 24).contains("different kcb-proto versions"));
    assert!(text(Ioctl::Notify, 87).contains("the parameter is incorrect"));
    assert!(
        text(Ioctl::Notify, 50).contains(r"no callback object of its own (creating \Callback\KCallbacks")
    );
    // What the driver answers when the switch is off (STATUS_NOT_SUPPORTED).
    assert!(text(Ioctl::Flood, 50).contains("EnableFlood=1"));
    assert_eq!(
        text(Ioctl::Notify, 0xDEAD),
        "IOCTL_KCB_NOTIFY failed: Win32 error 57005 (0x0000DEAD)"
    );
    assert!(Error::Open { code: 32 }.to_string().contains("sharing violation"));
    let bad = Error::BadReply {
        ioctl: Ioctl::GetStats,
        error: kcb_proto::DecodeError::UnsupportedVersion(2),
    };
    assert!(bad.to_string().contains("use the kcbctl built with this driver"));
    for code in [1, 2, 5, 24, 87, 122, 234, 1306] {
        assert!(crate::win32_message(code).is_some(), "{code}");
    }
}

#[test]
fn broken_pipe_is_recognised() {
    let e = Error::Io(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
    assert!(e.is_broken_pipe());
    assert!(!Error::NotLoaded.is_broken_pipe());
}

#[test]
fn the_host_device_reports_not_loaded() {
    let mut device = crate::device::LazyDevice::new();
    let (result, out, _) = run_cmd(&Command::Report, &mut device);
    assert!(matches!(result, Err(Error::NotLoaded)));
    assert!(out.is_empty());
}
