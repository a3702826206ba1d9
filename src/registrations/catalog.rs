//! The objects a registration outcome is recorded in: [`Slot`] names one,
//! the guard ([`crate::registrations::guard`]) is the only code that writes
//! through it.
//!
//! The report proper lives in [`crate::registrations::report`] (one slot per
//! [`Api`]); the callback-object catalog here holds one slot per named
//! object the driver observes (printed by the object's name, served by
//! `IOCTL_KCB_LIST_CALLBACK_OBJECTS`).

use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

use kcb_proto::{RegistrationState, report_detail};

use crate::{
    kernel::unicode::{Utf16Display, WideName},
    registrations::report::{Api, REPORT, print_outcome},
};

/// Where one registration's outcome is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// A report slot, printed by the API's name.
    Api(Api),
    /// A catalog entry (by index), printed by the object's name.
    Catalog(usize),
    /// A report slot whose outcome the catalog entry mirrors silently (the
    /// observer on the driver's own object: printed once, by the API).
    Mirrored(Api, usize),
}

impl Slot {
    /// Records an outcome and prints its line.
    ///
    /// # IRQL
    /// `<= DISPATCH_LEVEL` (prints).
    pub fn set(self, state: RegistrationState, status: i32, detail: u32) {
        match self {
            Self::Api(api) => REPORT.set_detailed(api, state, status, detail),
            Self::Catalog(index) => CATALOG[index].set(state, status, detail),
            Self::Mirrored(api, index) => {
                REPORT.set_detailed(api, state, status, detail);
                CATALOG[index].store(state as u32, status, detail);
            }
        }
    }
}

/// One catalog entry: a named callback object and the observer's outcome.
pub struct CatalogEntry {
    /// `\Callback\...`.
    pub name: WideName,
    /// Raw [`RegistrationState`] of the observer (0: not attempted).
    pub(crate) state: AtomicU32,
    /// The observer's NTSTATUS.
    pub(crate) status: AtomicI32,
    detail: AtomicU32,
    /// Notifications observed.
    pub(crate) fired: AtomicU64,
    /// Created allowing a single callback (marked `[x]` in the internals
    /// notes' table), so a second registration is refused by design.
    pub(crate) single_callback: bool,
}

impl CatalogEntry {
    const fn new(name: &str) -> Self {
        Self {
            name: WideName::new(name),
            state: AtomicU32::new(0),
            status: AtomicI32::new(0),
            detail: AtomicU32::new(0),
            fired: AtomicU64::new(0),
            single_callback: false,
        }
    }

    const fn single_callback(name: &str) -> Self {
        Self {
            single_callback: true,
            ..Self::new(name)
        }
    }

    /// Records an outcome and prints its line.
    fn set(&self, state: RegistrationState, status: i32, detail: u32) {
        self.store(state as u32, status, detail);
        print_outcome(Utf16Display(self.name.units()), state, status, detail);
    }

    /// Records an outcome without printing it (raw state 0: not attempted).
    ///
    /// # IRQL
    /// Any.
    pub(crate) fn store(&self, state: u32, status: i32, detail: u32) {
        self.status.store(status, Ordering::Relaxed);
        self.detail.store(detail, Ordering::Relaxed);
        self.state.store(state, Ordering::Release);
    }

    /// The observer's state, if one was recorded.
    ///
    /// # IRQL
    /// Any.
    pub(crate) fn state(&self) -> Option<RegistrationState> {
        RegistrationState::from_u32(self.state.load(Ordering::Acquire))
    }
}

/// Index of the driver's own object in [`CATALOG`].
pub const OWN_INDEX: usize = 0;

/// The driver's own object and the system objects it observes.
pub static CATALOG: [CatalogEntry; 27] = [
    CatalogEntry::new("\\Callback\\KCallbacks"),
    // Documented system-defined objects (kernel/using-a-system-defined-callback-object).
    CatalogEntry::new("\\Callback\\SetSystemTime"),
    CatalogEntry::new("\\Callback\\PowerState"),
    CatalogEntry::new("\\Callback\\ProcessorAdd"),
    // Created by ExpInitializeCallbacks and others (internals notes, table).
    CatalogEntry::new("\\Callback\\EnlightenmentState"),
    CatalogEntry::new("\\Callback\\SetSystemState"),
    CatalogEntry::new("\\Callback\\Phase1InitComplete"),
    CatalogEntry::new("\\Callback\\SeImageVerificationDriverInfo"),
    CatalogEntry::new("\\Callback\\SeImageVerificationBlockInfo"),
    CatalogEntry::new("\\Callback\\SoftRestart"),
    CatalogEntry::new("\\Callback\\BootDriver"),
    CatalogEntry::new("\\Callback\\LicensingData"),
    CatalogEntry::new("\\Callback\\IoSessionNotifications"),
    CatalogEntry::new("\\Callback\\IoExternalDmaUnblock"),
    CatalogEntry::single_callback("\\Callback\\PowerPort"),
    CatalogEntry::new("\\Callback\\PowerMonitorPort"),
    CatalogEntry::new("\\Callback\\SleepstudyControlPort"),
    // Seen in the boot-time ExCreateCallback trace (internals notes).
    CatalogEntry::new("\\Callback\\542875F90F9B47F497B64BA219CACF69"),
    CatalogEntry::new("\\Callback\\AcpiSimulator"),
    CatalogEntry::new("\\Callback\\VMCIDetachCB"),
    CatalogEntry::new("\\Callback\\WdProcessNotificationCallback"),
    CatalogEntry::new("\\Callback\\WdNriNotificationCallback"),
    CatalogEntry::new("\\Callback\\NdisBindUnbind"),
    CatalogEntry::new("\\Callback\\TcpConnectionCallbackTemp"),
    CatalogEntry::new("\\Callback\\TcpTimerStarvationCallbackTemp"),
    CatalogEntry::new("\\Callback\\AfdTdxCallback"),
    CatalogEntry::new("\\Callback\\DamExemptCheckCallback"),
];

/// Counts one observed notification of catalog entry `index`.
///
/// # IRQL
/// Any.
pub fn count_fired(index: u32) {
    if let Some(entry) = CATALOG.get(index as usize) {
        entry.fired.fetch_add(1, Ordering::Relaxed);
    }
}

/// Forgets every catalog outcome (a previous load's are stale).
///
/// # IRQL
/// Any.
pub fn clear() {
    for entry in &CATALOG {
        entry.store(0, 0, report_detail::NONE);
    }
}

/// Catalog observers (the own object excluded: it is counted through the
/// report) in `state`, for the load and unload summaries.
///
/// # IRQL
/// Any.
#[must_use]
pub fn count(state: RegistrationState) -> u32 {
    let n = CATALOG
        .iter()
        .skip(OWN_INDEX + 1)
        .filter(|e| e.state() == Some(state))
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}
