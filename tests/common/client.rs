//! Running kcbctl's own command logic in the test process, against the
//! model's `DeviceIoControl` or against no driver at all.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use kcb_proto::Ioctl;
use ntsim::Kernel;

/// kcbctl's `Driver` over the model's `DeviceIoControl`.
pub struct ModelDriver<'a>(pub &'a mut Kernel);

impl kcbctl::Driver for ModelDriver<'_> {
    fn control(&mut self, ioctl: Ioctl, input: &[u8], output_len: usize) -> Result<Vec<u8>, kcbctl::Error> {
        let (status, out) = self.0.device_io_control(ioctl.code(), input, output_len);
        if status < 0 {
            Err(kcbctl::Error::Request {
                ioctl,
                code: win32_of(status),
            })
        } else {
            Ok(out)
        }
    }
}

/// kcbctl's `Driver` for commands that need none (`decode-dump`).
pub struct NoDriver;

impl kcbctl::Driver for NoDriver {
    fn control(&mut self, _: Ioctl, _: &[u8], _: usize) -> Result<Vec<u8>, kcbctl::Error> {
        panic!("this command needs no driver")
    }
}

/// `NTSTATUS` -> the Win32 code `DeviceIoControl` reports (the pairs of
/// kernel/ntstatus-values as `RtlNtStatusToDosError` maps them).
pub const fn win32_of(status: i32) -> u32 {
    match status.cast_unsigned() {
        0xC000_0010 => 1,    // STATUS_INVALID_DEVICE_REQUEST
        0xC000_0022 => 5,    // STATUS_ACCESS_DENIED
        0xC000_0004 => 24,   // STATUS_INFO_LENGTH_MISMATCH
        0xC000_00BB => 50,   // STATUS_NOT_SUPPORTED
        0xC000_000D => 87,   // STATUS_INVALID_PARAMETER
        0xC000_0023 => 122,  // STATUS_BUFFER_TOO_SMALL
        0xC000_0059 => 1306, // STATUS_REVISION_MISMATCH
        _ => 317,            // ERROR_MR_MID_NOT_FOUND
    }
}

/// Runs a kcbctl command with `driver`: (result, stdout, stderr).
pub fn run_kcbctl(
    command: &kcbctl::Command,
    driver: &mut dyn kcbctl::Driver,
) -> (Result<(), String>, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let stop = AtomicBool::new(false);
    let mut console = kcbctl::Console {
        out: &mut out,
        err: &mut err,
        stop: &stop,
        poll_interval: Duration::from_millis(1),
    };
    let result = kcbctl::run(command, driver, &mut console).map_err(|e| e.to_string());
    (
        result,
        String::from_utf8(out).expect("UTF-8 stdout"),
        String::from_utf8(err).expect("UTF-8 stderr"),
    )
}
