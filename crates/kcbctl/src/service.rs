//! The state of the driver's service, as `sc query` shows it, from the
//! Service Control Manager (`OpenSCManagerW` / `OpenServiceW` /
//! `QueryServiceStatus`; Windows only).
//!
//! Off Windows [`query`] reports [`ServiceState::Unavailable`] so the crate
//! builds and the rest of `status` is tested on the host.

use std::fmt;

/// The service name `sc create` gives the driver.
pub const SERVICE_NAME: &str = "kcallbacks";

/// A service's state (`SERVICE_STATUS.dwCurrentState`), or why it is not known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceState {
    /// `SERVICE_STOPPED` (1).
    Stopped,
    /// `SERVICE_START_PENDING` (2).
    StartPending,
    /// `SERVICE_STOP_PENDING` (3).
    StopPending,
    /// `SERVICE_RUNNING` (4).
    Running,
    /// `SERVICE_CONTINUE_PENDING` (5).
    ContinuePending,
    /// `SERVICE_PAUSE_PENDING` (6).
    PausePending,
    /// `SERVICE_PAUSED` (7).
    Paused,
    /// A `dwCurrentState` value not in the list above.
    Other(u32),
    /// `OpenServiceW` failed with `ERROR_SERVICE_DOES_NOT_EXIST`.
    NotInstalled,
    /// The Service Control Manager could not be asked (the reason).
    Unavailable(String),
}

impl ServiceState {
    /// The state for a `dwCurrentState` value.
    #[must_use]
    pub const fn from_current_state(value: u32) -> Self {
        match value {
            1 => Self::Stopped,
            2 => Self::StartPending,
            3 => Self::StopPending,
            4 => Self::Running,
            5 => Self::ContinuePending,
            6 => Self::PausePending,
            7 => Self::Paused,
            other => Self::Other(other),
        }
    }

    /// The name `sc query` prints (`RUNNING`, `STOPPED`, ...), `not installed`
    /// or `unknown`.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Stopped => "STOPPED",
            Self::StartPending => "START_PENDING",
            Self::StopPending => "STOP_PENDING",
            Self::Running => "RUNNING",
            Self::ContinuePending => "CONTINUE_PENDING",
            Self::PausePending => "PAUSE_PENDING",
            Self::Paused => "PAUSED",
            Self::Other(_) => "unknown",
            Self::NotInstalled => "not installed",
            Self::Unavailable(_) => "unavailable",
        }
    }
}

impl fmt::Display for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Other(value) => write!(f, "unknown (dwCurrentState {value})"),
            Self::Unavailable(why) => write!(f, "unavailable ({why})"),
            other => f.write_str(other.name()),
        }
    }
}

/// Asks the Service Control Manager for the state of `name`.
///
/// # IRQL
/// User mode (no kernel involvement beyond the SCM's own).
#[cfg(windows)]
#[must_use]
pub fn query(name: &str) -> ServiceState {
    use std::ptr;

    use windows_sys::Win32::Foundation::{ERROR_SERVICE_DOES_NOT_EXIST, GetLastError};
    use windows_sys::Win32::System::Services::{
        CloseServiceHandle, OpenSCManagerW, OpenServiceW, QueryServiceStatus, SC_HANDLE, SC_MANAGER_CONNECT,
        SERVICE_QUERY_STATUS, SERVICE_STATUS,
    };

    /// Closes a service or SCM handle on drop.
    struct Handle(SC_HANDLE);
    impl Drop for Handle {
        fn drop(&mut self) {
            // SAFETY: the handle came from OpenSCManagerW / OpenServiceW,
            // is not null and is closed once.
            unsafe { CloseServiceHandle(self.0) };
        }
    }

    let describe = |code: u32| {
        crate::win32_message(code).map_or_else(
            || format!("Win32 error {code}"),
            |text| format!("{text} (Win32 error {code})"),
        )
    };
    let last_error = || {
        // SAFETY: reads the calling thread's last-error value; no arguments.
        unsafe { GetLastError() }
    };
    // SAFETY: null machine and database names select the local active
    // database; SC_MANAGER_CONNECT is a valid access mask.
    let scm = unsafe { OpenSCManagerW(ptr::null(), ptr::null(), SC_MANAGER_CONNECT) };
    if scm.is_null() {
        return ServiceState::Unavailable(format!("OpenSCManagerW failed: {}", describe(last_error())));
    }
    let scm = Handle(scm);
    let wide: Vec<u16> = name.encode_utf16().chain(Some(0)).collect();
    // SAFETY: `scm.0` is an open SCM handle and `wide` is NUL-terminated and
    // outlives the call.
    let service = unsafe { OpenServiceW(scm.0, wide.as_ptr(), SERVICE_QUERY_STATUS) };
    if service.is_null() {
        let error = last_error();
        return if error == ERROR_SERVICE_DOES_NOT_EXIST {
            ServiceState::NotInstalled
        } else {
            ServiceState::Unavailable(format!("OpenServiceW failed: {}", describe(error)))
        };
    }
    let service = Handle(service);
    // SAFETY: SERVICE_STATUS is plain integers; all-zero is a valid value.
    let mut status: SERVICE_STATUS = unsafe { std::mem::zeroed() };
    // SAFETY: `service.0` is open with SERVICE_QUERY_STATUS and `status` is
    // a writable SERVICE_STATUS.
    if unsafe { QueryServiceStatus(service.0, &raw mut status) } == 0 {
        return ServiceState::Unavailable(format!("QueryServiceStatus failed: {}", describe(last_error())));
    }
    ServiceState::from_current_state(status.dwCurrentState)
}

/// Off Windows there is no Service Control Manager.
///
/// # IRQL
/// User mode.
#[cfg(not(windows))]
#[must_use]
pub fn query(_name: &str) -> ServiceState {
    ServiceState::Unavailable("no Service Control Manager off Windows".to_owned())
}

#[cfg(test)]
mod tests {
    use super::ServiceState;

    #[test]
    fn states_are_named_as_sc_query_names_them() {
        let names: Vec<&str> = (1..=7)
            .map(|v| ServiceState::from_current_state(v).name())
            .collect();
        assert_eq!(
            names,
            [
                "STOPPED",
                "START_PENDING",
                "STOP_PENDING",
                "RUNNING",
                "CONTINUE_PENDING",
                "PAUSE_PENDING",
                "PAUSED"
            ]
        );
        assert_eq!(ServiceState::from_current_state(0), ServiceState::Other(0));
        assert_eq!(ServiceState::Other(9).to_string(), "unknown (dwCurrentState 9)");
        assert_eq!(ServiceState::NotInstalled.to_string(), "not installed");
        assert_eq!(
            ServiceState::Unavailable("x".into()).to_string(),
            "unavailable (x)"
        );
    }
}
