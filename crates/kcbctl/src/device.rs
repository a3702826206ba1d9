//! `\\.\KCallbacks` through `CreateFileW` / `DeviceIoControl` (Windows only).

#[cfg(windows)]
mod imp {
    use std::ptr;

    use windows_sys::Win32::{
        Foundation::{
            CloseHandle, ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND,
            GENERIC_READ, GENERIC_WRITE, GetLastError, HANDLE, INVALID_HANDLE_VALUE,
        },
        Storage::FileSystem::{CreateFileW, FILE_ATTRIBUTE_NORMAL, OPEN_EXISTING},
        System::IO::DeviceIoControl,
    };

    use crate::{Driver, Error};

    /// An open handle to the control device.
    pub struct Device {
        handle: HANDLE,
    }

    impl Device {
        /// Opens `\\.\KCallbacks` for reading and writing.
        ///
        /// # Errors
        /// [`Error::NotLoaded`], [`Error::AccessDenied`] or the Win32 error.
        pub fn open() -> Result<Self, Error> {
            let path: Vec<u16> = r"\\.\KCallbacks".encode_utf16().chain(Some(0)).collect();
            // SAFETY: `path` is NUL-terminated and outlives the call; the other
            // arguments are plain values or null where optional.
            let handle = unsafe {
                CreateFileW(
                    path.as_ptr(),
                    GENERIC_READ | GENERIC_WRITE,
                    0,
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
                    code => Error::Request { what: "opening \\\\.\\KCallbacks", code },
                });
            }
            Ok(Self { handle })
        }
    }

    impl Driver for Device {
        fn control(&mut self, code: u32, input: &[u8], output_len: usize) -> Result<Vec<u8>, Error> {
            let mut output = vec![0u8; output_len];
            let mut returned = 0u32;
            let input_len = u32::try_from(input.len()).map_err(|_| Error::Usage("input too large".into()))?;
            let output_len = u32::try_from(output.len()).map_err(|_| Error::Usage("output too large".into()))?;
            // SAFETY: the handle is open; both buffers are valid for the given
            // lengths for the duration of this synchronous call.
            let ok = unsafe {
                DeviceIoControl(
                    self.handle,
                    code,
                    input.as_ptr().cast(),
                    input_len,
                    output.as_mut_ptr().cast(),
                    output_len,
                    &raw mut returned,
                    ptr::null_mut(),
                )
            };
            if ok == 0 {
                // SAFETY: no preconditions.
                let error = unsafe { GetLastError() };
                return Err(Error::Request { what: "DeviceIoControl", code: error });
            }
            output.truncate(returned as usize);
            Ok(output)
        }
    }

    impl Drop for Device {
        fn drop(&mut self) {
            // SAFETY: closing the handle we opened, once.
            unsafe { CloseHandle(self.handle) };
        }
    }
}

#[cfg(not(windows))]
mod imp {
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
        fn control(&mut self, _code: u32, _input: &[u8], _output_len: usize) -> Result<Vec<u8>, Error> {
            Err(Error::NotLoaded)
        }
    }
}

pub use imp::Device;
