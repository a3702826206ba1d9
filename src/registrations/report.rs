//! The registration report: what the driver tried to register, and how it
//! went, per API.
//!
//! One fixed slot per wrapped API ([`Api`]), each two atomics, in static
//! memory: recording an outcome never allocates and never blocks, and the
//! control device can read the report (IOCTL `GET_REPORT`) at any time.

use core::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use kcb_proto::{RegistrationState, report_detail};

use crate::kprintln;

macro_rules! apis {
    ($($variant:ident => $name:literal,)*) => {
        /// Every registration the driver can make, in report order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(usize)]
        pub enum Api {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl Api {
            /// All APIs, in report order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// The name shown in the report and the debug output.
            ///
            /// # IRQL
            /// Any.
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }
        }
    };
}

apis! {
    ControlDevice => "IoCreateDevice(\\Device\\KCallbacks)",
    SymbolicLink => "IoCreateSymbolicLink(\\DosDevices\\KCallbacks)",
    DrainThread => "PsCreateSystemThread(drain)",
    ProcessNotifyEx2 => "PsSetCreateProcessNotifyRoutineEx2",
    ProcessNotifyEx => "PsSetCreateProcessNotifyRoutineEx",
    ThreadNotifyEx => "PsSetCreateThreadNotifyRoutineEx",
    ThreadNotify => "PsSetCreateThreadNotifyRoutine",
    LoadImageNotifyEx => "PsSetLoadImageNotifyRoutineEx",
    LoadImageNotify => "PsSetLoadImageNotifyRoutine",
    ObRegisterCallbacks => "ObRegisterCallbacks",
    CmRegisterCallbackEx => "CmRegisterCallbackEx",
    CmRegisterCallback => "CmRegisterCallback",
    NmiCallback => "KeRegisterNmiCallback",
    BoundCallback => "KeRegisterBoundCallback",
    BugCheckCallback => "KeRegisterBugCheckCallback",
    BugCheckReasonCallback => "KeRegisterBugCheckReasonCallback",
    ProcessorChangeCallback => "KeRegisterProcessorChangeCallback",
    ShutdownNotification => "IoRegisterShutdownNotification",
    LastChanceShutdownNotification => "IoRegisterLastChanceShutdownNotification",
    PnpDeviceInterface => "IoRegisterPlugPlayNotification(interfaces)",
    PnpHardwareProfile => "IoRegisterPlugPlayNotification(hwprofile)",
    FsRegistrationChange => "IoRegisterFsRegistrationChange",
    DriverReinitialization => "IoRegisterDriverReinitialization",
    BootDriverReinitialization => "IoRegisterBootDriverReinitialization",
    PowerSettingMonitor => "PoRegisterPowerSettingCallback(monitor)",
    PowerSettingLid => "PoRegisterPowerSettingCallback(lid)",
    PowerSettingAcDc => "PoRegisterPowerSettingCallback(acdc)",
    PowerSettingConsoleDisplay => "PoRegisterPowerSettingCallback(display)",
    PageOfflineNotification => "WheaRegisterInUsePageOfflineNotification",
    HalProfileInterrupt => "HalSetSystemInformation(ProfileInterrupt)",
    HalErrataCallbacks => "HalRegisterErrataCallbacks",
    OwnCallbackObject => "ExCreateCallback(\\Callback\\KCallbacks)",
    OwnCallbackObserver => "ExRegisterCallback(\\Callback\\KCallbacks)",
    EtwProvider => "EtwRegister(kcallbacks)",
}

/// Number of report slots.
pub const API_COUNT: usize = Api::ALL.len();

/// Outcome slots of every [`Api`].
pub struct Report {
    states: [AtomicU32; API_COUNT],
    statuses: [AtomicI32; API_COUNT],
    details: [AtomicU32; API_COUNT],
}

impl Report {
    /// An empty report: nothing attempted.
    ///
    /// # IRQL
    /// Any (const).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            states: [const { AtomicU32::new(0) }; API_COUNT],
            statuses: [const { AtomicI32::new(0) }; API_COUNT],
            details: [const { AtomicU32::new(0) }; API_COUNT],
        }
    }

    /// Forgets every outcome (DriverEntry starts from a clean report).
    ///
    /// # IRQL
    /// Any.
    pub fn clear(&self) {
        for ((state, status), detail) in self.states.iter().zip(&self.statuses).zip(&self.details) {
            state.store(0, Ordering::Relaxed);
            status.store(0, Ordering::Relaxed);
            detail.store(0, Ordering::Relaxed);
        }
    }

    /// Records an outcome and prints its line.
    ///
    /// # IRQL
    /// `<= DISPATCH_LEVEL` (prints).
    pub fn set(&self, api: Api, state: RegistrationState, status: i32) {
        self.set_detailed(api, state, status, report_detail::NONE);
    }

    /// As [`set`](Self::set), with a [`report_detail`] value explaining it.
    ///
    /// # IRQL
    /// `<= DISPATCH_LEVEL` (prints).
    pub fn set_detailed(&self, api: Api, state: RegistrationState, status: i32, detail: u32) {
        self.statuses[api as usize].store(status, Ordering::Relaxed);
        self.details[api as usize].store(detail, Ordering::Relaxed);
        self.states[api as usize].store(state as u32, Ordering::Release);
        print_outcome(api.name(), state, status, detail);
    }

    /// The recorded outcome of `api`: state (if any was recorded), status
    /// and detail.
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub fn get(&self, api: Api) -> (Option<RegistrationState>, i32, u32) {
        let state = RegistrationState::from_u32(self.states[api as usize].load(Ordering::Acquire));
        (
            state,
            self.statuses[api as usize].load(Ordering::Relaxed),
            self.details[api as usize].load(Ordering::Relaxed),
        )
    }

    /// How many APIs are in `state`.
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub fn count(&self, state: RegistrationState) -> u32 {
        let n = self
            .states
            .iter()
            .filter(|s| s.load(Ordering::Acquire) == state as u32)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

impl Default for Report {
    fn default() -> Self {
        Self::new()
    }
}

/// Prints the report line of one registration outcome:
/// `register <name>: <ok|FAILED|disabled|unavailable> status=0x........ (why)`
/// or `unregister <name>: removed`.
///
/// # IRQL
/// `<= DISPATCH_LEVEL`.
pub fn print_outcome(name: impl core::fmt::Display, state: RegistrationState, status: i32, detail: u32) {
    if state == RegistrationState::Removed {
        kprintln!("unregister {name}: removed");
        return;
    }
    let verb = "register";
    let why = report_detail::describe(detail).unwrap_or("");
    let (open, close) = if why.is_empty() { ("", "") } else { (" (", ")") };
    kprintln!(
        "{verb} {name}: {} status={:#010X}{open}{why}{close}",
        outcome_word(state),
        status.cast_unsigned()
    );
}

/// The word the report line uses for a state.
///
/// # IRQL
/// Any.
#[must_use]
pub const fn outcome_word(state: RegistrationState) -> &'static str {
    match state {
        RegistrationState::Registered => "ok",
        RegistrationState::Failed => "FAILED",
        RegistrationState::DisabledByConfig => "disabled",
        RegistrationState::NotAvailable => "unavailable",
        RegistrationState::Removed => "removed",
    }
}

/// The driver's report.
pub static REPORT: Report = Report::new();
