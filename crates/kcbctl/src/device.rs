//! `\\.\KCallbacks` through `CreateFileW` / `DeviceIoControl` (Windows
//! only), the Ctrl-C handler and the system's error messages.
//!
//! Off Windows the same names exist so the crate builds and its logic is
//! tested on the host: opening always reports [`Error::NotLoaded`].

use kcb_proto::Ioctl;

use crate::{Driver, Error};

#[cfg(windows)]
mod imp {
    use std::ptr;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicBool, Ordering};

    use kcb_proto::Ioctl;
    use windows_sys::Win32::{
        Foundation::{
            BOOL, CloseHandle, ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND, FALSE,
            GENERIC_READ, GENERIC_WRITE, GetLastError, HANDLE, INVALID_HANDLE_VALUE, TRUE,
        },
        Storage::FileSystem::{
            CreateFileW, FILE_ATTRIBUTE_NORMAL, FILE_SHARE_READ, FILE_SHARE_WRITE, OPEN_EXISTING,
        },
        System::{
            Console::{CTRL_BREAK_EVENT, CTRL_C_EVENT, SetConsoleCtrlHandler},
            Diagnostics::Debug::{FORMAT_MESSAGE_FROM_SYSTEM, FORMAT_MESSAGE_IGNORE_INSERTS, FormatMessageW},
            IO::DeviceIoControl,
        },
    };

    use crate::{DEVICE_PATH, Driver, Error};

    /// An open handle to the control device.
    pub struct Device {
        handle: HANDLE,
    }

    impl Device {
        /// Opens `\\.\KCallbacks` for reading and writing.
        ///
        /// # Errors
        /// [`Error::NotLoaded`], [`Error::AccessDenied`] or [`Error::Open`].
        pub fn open() -> Result<Self, Error> {
            let path: Vec<u16> = DEVICE_PATH.encode_utf16().chain(Some(0)).collect();
            // SAFETY: `path` is NUL-terminated and outlives the call; the
            // security attributes and template are optional (null).
            let handle = unsafe {
                CreateFileW(
                    path.as_ptr(),
                    GENERIC_READ | GENERIC_WRITE,
                    FILE_SHARE_READ | FILE_SHARE_WRITE,
                    ptr::null(),
                    OPEN_EXISTING,
                    FILE_ATTRIBUTE_NORMAL,
                    ptr::null_mut(),
                )
            };
            if handle == INVALID_HANDLE_VALUE {
                // SAFETY: no preconditions.
                let code = unsafe { GetLastError() };
                return Err(match code {
                    ERROR_FILE_NOT_FOUND | ERROR_PATH_NOT_FOUND => Error::NotLoaded,
                    ERROR_ACCESS_DENIED => Error::AccessDenied,
                    code => Error::Open { code },
                });
            }
            Ok(Self { handle })
        }
    }

    impl Driver for Device {
        fn control(&mut self, ioctl: Ioctl, input: &[u8], output_len: usize) -> Result<Vec<u8>, Error> {
            let mut output = vec![0u8; output_len];
            let mut returned = 0u32;
            let too_large = |_| Error::Request {
                ioctl,
                code: crate::ERROR_INVALID_PARAMETER,
            };
            let input_len = u32::try_from(input.len()).map_err(too_large)?;
            let output_len = u32::try_from(output.len()).map_err(too_large)?;
            let input_ptr = if input.is_empty() {
                ptr::null()
            } else {
                input.as_ptr().cast()
            };
            let output_ptr = if output.is_empty() {
                ptr::null_mut()
            } else {
                output.as_mut_ptr().cast()
            };
            // SAFETY: the handle is open (closed only in Drop); each buffer
            // pointer is valid for its length (or null with length 0) for the
            // duration of this synchronous call (no OVERLAPPED).
            let ok = unsafe {
                DeviceIoControl(
                    self.handle,
                    ioctl.code(),
                    input_ptr,
                    input_len,
                    output_ptr,
                    output_len,
                    &raw mut returned,
                    ptr::null_mut(),
                )
            };
            if ok == 0 {
                // SAFETY: no preconditions.
                let code = unsafe { GetLastError() };
                return Err(Error::Request { ioctl, code });
            }
            // Never trust the count beyond the buffer we offered.
            output.truncate(usize::try_from(returned).unwrap_or(usize::MAX));
            Ok(output)
        }
    }

    impl Drop for Device {
        fn drop(&mut self) {
            // SAFETY: closing the handle `open` returned, exactly once.
            unsafe { CloseHandle(self.handle) };
        }
    }

    static STOP: OnceLock<&'static AtomicBool> = OnceLock::new();

    unsafe extern "system" fn on_console_ctrl(ctrl_type: u32) -> BOOL {
        match (ctrl_type, STOP.get()) {
            (CTRL_C_EVENT | CTRL_BREAK_EVENT, Some(stop)) => {
                stop.store(true, Ordering::Relaxed);
                TRUE
            }
            // Close, logoff, shutdown: the default handler ends the process.
            _ => FALSE,
        }
    }

    /// Makes Ctrl-C / Ctrl-Break set `stop` (so `events --follow` ends
    /// cleanly and exits 0) instead of killing the process. Returns whether
    /// the handler was installed (at most once per process).
    #[must_use]
    pub fn install_stop_handler(stop: &'static AtomicBool) -> bool {
        if STOP.set(stop).is_err() {
            return false;
        }
        // SAFETY: the routine is a valid `extern "system"` handler that lives
        // for the whole program and only touches a static atomic.
        unsafe { SetConsoleCtrlHandler(Some(on_console_ctrl), TRUE) != 0 }
    }

    /// The system's text for Win32 error `code` (`FormatMessageW`), if any.
    #[must_use]
    pub fn system_message(code: u32) -> Option<String> {
        let mut buffer = [0u16; 512];
        // SAFETY: `buffer` is writable for its length in u16 units (the size
        // argument for FormatMessageW without ALLOCATE_BUFFER); no source or
        // inserts are used (IGNORE_INSERTS).
        let len = unsafe {
            FormatMessageW(
                FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
                ptr::null(),
                code,
                0,
                buffer.as_mut_ptr(),
                512,
                ptr::null(),
            )
        };
        let units = buffer.get(..usize::try_from(len).ok()?)?;
        let text = String::from_utf16_lossy(units);
        let text = text.trim_end_matches(['\r', '\n', ' ', '.']).to_owned();
        (!text.is_empty()).then_some(text)
    }
}

#[cfg(not(windows))]
mod imp {
    use std::sync::atomic::AtomicBool;

    use kcb_proto::Ioctl;

    use crate::{Driver, Error};

    /// Placeholder on non-Windows hosts: the driver only exists on Windows.
    pub struct Device;

    impl Device {
        /// Always [`Error::NotLoaded`] off Windows.
        ///
        /// # Errors
        /// Always.
        pub const fn open() -> Result<Self, Error> {
            Err(Error::NotLoaded)
        }
    }

    impl Driver for Device {
        fn control(&mut self, _ioctl: Ioctl, _input: &[u8], _output_len: usize) -> Result<Vec<u8>, Error> {
            Err(Error::NotLoaded)
        }
    }

    /// No console control events off Windows: Ctrl-C ends the process
    /// (always `false`).
    #[must_use]
    pub const fn install_stop_handler(_stop: &'static AtomicBool) -> bool {
        false
    }

    /// No system message table off Windows (always `None`).
    #[must_use]
    pub const fn system_message(_code: u32) -> Option<String> {
        None
    }
}

pub use imp::{Device, install_stop_handler, system_message};

/// A [`Device`] opened on first use, so commands that need no driver
/// (`decode-dump`, `help`) work without it, and the open error surfaces from
/// the first request.
#[derive(Default)]
pub struct LazyDevice {
    device: Option<Device>,
}

impl LazyDevice {
    /// Not opened yet.
    #[must_use]
    pub const fn new() -> Self {
        Self { device: None }
    }
}

impl Driver for LazyDevice {
    fn control(&mut self, ioctl: Ioctl, input: &[u8], output_len: usize) -> Result<Vec<u8>, Error> {
        let device = match &mut self.device {
            Some(device) => device,
            slot @ None => slot.insert(Device::open()?),
        };
        device.control(ioctl, input, output_len)
    }
}
