//! Driver Verifier-style checks, reported as simulated bug checks.
//!
//! A real check stops the machine. Here a panic cannot unwind through the
//! driver's `extern "C"` frames (Rust aborts the process), so a check
//! *records* a [`Bugcheck`] (code, four parameters, text) and the DDI goes
//! on with a failure status or a NULL result where it has one. The test
//! harness asserts on the recorded list; [`crate::Kernel`] panics in its
//! `Drop` if bug checks were recorded that the test did not take.
//!
//! Codes and parameters follow the documented bug checks
//! (debugger/bug-check-0xc4--driver-verifier-detected-violation,
//! debugger/bug-check-0xc2--bad-pool-caller,
//! debugger/bug-check-0xce--driver-unloaded-without-cancelling-pending-operations,
//! debugger/bug-check-0xc9--driver-verifier-iomanager-violation). Where a
//! documented rule is broken but no bug check is documented for it, the model
//! uses its own code [`codes::NTSIM_RULE`] with a [`ModelRule`] number in P1.

use std::ffi::CStr;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use wdk_sys::KIRQL;

use crate::{levels, sync::lock};

/// Bug check codes the model raises.
pub mod codes {
    /// `IRQL_NOT_LESS_OR_EQUAL`.
    pub const IRQL_NOT_LESS_OR_EQUAL: u32 = 0x0A;
    /// `KMODE_EXCEPTION_NOT_HANDLED` (an exception raised in kernel mode with
    /// no handler, e.g. `POOL_FLAG_RAISE_ON_FAILURE`).
    pub const KMODE_EXCEPTION_NOT_HANDLED: u32 = 0x1E;
    /// `MULTIPLE_IRP_COMPLETE_REQUESTS` (P1: the IRP).
    pub const MULTIPLE_IRP_COMPLETE_REQUESTS: u32 = 0x44;
    /// `INVALID_KERNEL_HANDLE` (P1: the handle passed to `NtClose`).
    pub const INVALID_KERNEL_HANDLE: u32 = 0x93;
    /// `BAD_POOL_CALLER`.
    pub const BAD_POOL_CALLER: u32 = 0xC2;
    /// `DRIVER_VERIFIER_DETECTED_VIOLATION`.
    pub const DRIVER_VERIFIER_DETECTED_VIOLATION: u32 = 0xC4;
    /// `DRIVER_VERIFIER_IOMANAGER_VIOLATION`.
    pub const DRIVER_VERIFIER_IOMANAGER_VIOLATION: u32 = 0xC9;
    /// `DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS`.
    pub const DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS: u32 = 0xCE;
    /// Model-defined ("NSIM"): a documented rule was broken for which no bug
    /// check is documented. P1 is a [`super::ModelRule`].
    pub const NTSIM_RULE: u32 = 0x4E53_494D;
}

/// Rules the model checks that have no documented bug check (P1 of
/// [`codes::NTSIM_RULE`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum ModelRule {
    /// A removal routine that waits for running callbacks was called from
    /// inside that callback (it would deadlock; ntddk/nf-ntddk-psremoveloadimagenotifyroutine,
    /// ntddk/nf-ntddk-psremovecreatethreadnotifyroutine, ...).
    RemovalFromOwnCallback = 1,
    /// A removal returned while a callback of that registration was still
    /// running (model self-check of the documented wait).
    RemovalReturnedWhileRunning = 2,
    /// A callback returned at a different IRQL than it was called at.
    CallbackChangedIrql = 3,
    /// An object, handle or registration the model does not know was passed
    /// to a DDI.
    UnknownObject = 4,
    /// A DDI was called a second time for something it may handle once
    /// (e.g. wdm/nf-wdm-iodeletedevice: "only once for a given device object").
    DoubleRelease = 5,
    /// A kernel handle (e.g. the one `PsCreateSystemThread` returns, which
    /// "the driver must close with ZwClose") was still open at unload.
    HandleLeakedAtUnload = 6,
    /// An IRP was neither completed nor pended, or completed with an
    /// `Information` larger than the output buffer, or the dispatch routine's
    /// return value differs from `IoStatus.Status`.
    IrpHandling = 7,
    /// A wait exceeded the model's watchdog (the test would hang).
    WatchdogExpired = 8,
    /// A driver called `ExNotifyCallback` on a system-defined callback object
    /// (wdm/nf-wdm-exnotifycallback: drivers must never do this).
    NotifySystemCallbackObject = 9,
    /// A parameter broke a documented precondition that has no status code.
    InvalidParameter = 10,
    /// DriverEntry, DriverUnload or a dispatch routine returned at a raised IRQL.
    ReturnedAtRaisedIrql = 11,
    /// The driver pushed an event below `DISPATCH_LEVEL` (preemptible inside
    /// the claim-publish window), or into another processor's ring
    /// ([`crate::eventpush`]).
    PushBelowDispatch = 40,
}

/// One simulated bug check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bugcheck {
    /// The bug check code (e.g. 0xC4).
    pub code: u32,
    /// Parameters 1-4.
    pub params: [u64; 4],
    /// What happened, with the DDI and rule names.
    pub text: String,
    /// Host thread name (or id) that hit the check.
    pub thread: String,
}

impl Bugcheck {
    /// Parameter 1 (the violation type for 0xC4, 0xC2, 0xC9, NSIM).
    #[must_use]
    pub const fn p1(&self) -> u64 {
        self.params[0]
    }
}

impl fmt::Display for Bugcheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bug check {:#X} ({:#X}, {:#X}, {:#X}, {:#X}) on {}: {}",
            self.code, self.params[0], self.params[1], self.params[2], self.params[3], self.thread, self.text
        )
    }
}

/// A Driver Verifier DDI compliance rule with an IRQL condition
/// (devtest/wdm-irql*; bug check 0xC4 with P1 = the rule's code and P2 = a
/// pointer to the rule-condition string).
#[derive(Debug)]
pub struct DdiRule {
    /// Rule name, e.g. `IrqlPsPassive`.
    pub name: &'static str,
    /// 0xC4 Parameter 1.
    pub p1: u64,
    /// The rule-condition text (P2 points to it).
    pub condition: &'static CStr,
    /// Highest IRQL the rule allows.
    pub max_irql: KIRQL,
}

/// The DDI compliance rules the model checks (P1 values from
/// debugger/bug-check-0xc4--driver-verifier-detected-violation; the routines
/// each rule covers are listed on its devtest/wdm-* page).
pub mod rules {
    use super::DdiRule;
    use crate::levels::{APC_LEVEL, DISPATCH_LEVEL, PASSIVE_LEVEL};

    /// devtest/wdm-irqlexallocatepool: ExAllocatePoolWithTag(+Priority) at <= DISPATCH_LEVEL.
    pub static IRQL_EX_ALLOCATE_POOL: DdiRule = DdiRule {
        name: "IrqlExAllocatePool",
        p1: 0x2_0004,
        condition: c"IrqlExAllocatePool: ExAllocatePoolWithTag must be called at IRQL <= DISPATCH_LEVEL",
        max_irql: DISPATCH_LEVEL,
    };
    /// devtest/wdm-irqlexapclte2: ExRegisterCallback, ExUnregisterCallback, CmRegisterCallback(Ex), CmUnRegisterCallback at <= APC_LEVEL.
    pub static IRQL_EX_APC_LTE2: DdiRule = DdiRule {
        name: "IrqlExApcLte2",
        p1: 0x2_0006,
        condition: c"IrqlExApcLte2: the routine must be called at IRQL <= APC_LEVEL",
        max_irql: APC_LEVEL,
    };
    /// devtest/wdm-irqlexpassive: ExCreateCallback at PASSIVE_LEVEL.
    pub static IRQL_EX_PASSIVE: DdiRule = DdiRule {
        name: "IrqlExPassive",
        p1: 0x2_0008,
        condition: c"IrqlExPassive: the routine must be called at IRQL = PASSIVE_LEVEL",
        max_irql: PASSIVE_LEVEL,
    };
    /// devtest/wdm-irqlioapclte: IoDeleteDevice (among others) at <= APC_LEVEL.
    pub static IRQL_IO_APC_LTE: DdiRule = DdiRule {
        name: "IrqlIoApcLte",
        p1: 0x2_0009,
        condition: c"IrqlIoApcLte: the routine must be called at IRQL <= APC_LEVEL",
        max_irql: APC_LEVEL,
    };
    /// devtest/wdm-irqliopassive1: IoCreateDevice (among others) at PASSIVE_LEVEL.
    pub static IRQL_IO_PASSIVE1: DdiRule = DdiRule {
        name: "IrqlIoPassive1",
        p1: 0x2_000A,
        condition: c"IrqlIoPassive1: the routine must be called at IRQL = PASSIVE_LEVEL",
        max_irql: PASSIVE_LEVEL,
    };
    /// devtest/wdm-irqliopassive3: IoCreateSymbolicLink (among others) at PASSIVE_LEVEL.
    pub static IRQL_IO_PASSIVE3: DdiRule = DdiRule {
        name: "IrqlIoPassive3",
        p1: 0x2_000C,
        condition: c"IrqlIoPassive3: the routine must be called at IRQL = PASSIVE_LEVEL",
        max_irql: PASSIVE_LEVEL,
    };
    /// devtest/wdm-irqliopassive4: IoDeleteSymbolicLink (among others) at PASSIVE_LEVEL.
    pub static IRQL_IO_PASSIVE4: DdiRule = DdiRule {
        name: "IrqlIoPassive4",
        p1: 0x2_000D,
        condition: c"IrqlIoPassive4: the routine must be called at IRQL = PASSIVE_LEVEL",
        max_irql: PASSIVE_LEVEL,
    };
    /// devtest/wdm-irqliopassive5: IoRegisterDriverReinitialization, IoRegisterShutdownNotification,
    /// IoUnregisterShutdownNotification at PASSIVE_LEVEL.
    pub static IRQL_IO_PASSIVE5: DdiRule = DdiRule {
        name: "IrqlIoPassive5",
        p1: 0x2_000E,
        condition: c"IrqlIoPassive5: the routine must be called at IRQL = PASSIVE_LEVEL",
        max_irql: PASSIVE_LEVEL,
    };
    /// devtest/wdm-irqlkeapclte2: KeRegisterNmiCallback, KeDeregisterNmiCallback at <= APC_LEVEL.
    pub static IRQL_KE_APC_LTE2: DdiRule = DdiRule {
        name: "IrqlKeApcLte2",
        p1: 0x2_0010,
        condition: c"IrqlKeApcLte2: the routine must be called at IRQL <= APC_LEVEL",
        max_irql: APC_LEVEL,
    };
    /// devtest/wdm-irqlkedispatchlte: KeClearEvent, KeResetEvent, KeReadStateEvent, KeRaiseIrqlToDpcLevel, ... at <= DISPATCH_LEVEL.
    pub static IRQL_KE_DISPATCH_LTE: DdiRule = DdiRule {
        name: "IrqlKeDispatchLte",
        p1: 0x2_0011,
        condition: c"IrqlKeDispatchLte: the routine must be called at IRQL <= DISPATCH_LEVEL",
        max_irql: DISPATCH_LEVEL,
    };
    /// devtest/wdm-irqlkesetevent: KeSetEvent with Wait=TRUE at <= APC_LEVEL (Wait=FALSE: <= DISPATCH_LEVEL).
    pub static IRQL_KE_SET_EVENT: DdiRule = DdiRule {
        name: "IrqlKeSetEvent",
        p1: 0x2_0016,
        condition: c"IrqlKeSetEvent: KeSetEvent with Wait = TRUE must be called at IRQL <= APC_LEVEL",
        max_irql: APC_LEVEL,
    };
    /// devtest/wdm-irqlpspassive: PsSetCreateProcessNotifyRoutine, PsSetCreateThreadNotifyRoutine,
    /// PsSetLoadImageNotifyRoutine, PsCreateSystemThread, PsTerminateSystemThread at PASSIVE_LEVEL.
    pub static IRQL_PS_PASSIVE: DdiRule = DdiRule {
        name: "IrqlPsPassive",
        p1: 0x2_001C,
        condition: c"IrqlPsPassive: the routine must be called at IRQL = PASSIVE_LEVEL",
        max_irql: PASSIVE_LEVEL,
    };
    /// devtest/wdm-irqlzwpassive: ZwClose at PASSIVE_LEVEL.
    pub static IRQL_ZW_PASSIVE: DdiRule = DdiRule {
        name: "IrqlZwPassive",
        p1: 0x2_001F,
        condition: c"IrqlZwPassive: ZwClose must be called at IRQL = PASSIVE_LEVEL",
        max_irql: PASSIVE_LEVEL,
    };
}

static BUGCHECKS: Mutex<Vec<Bugcheck>> = Mutex::new(Vec::new());
static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns the checks on or off (on by default, and again after
/// [`crate::Kernel::boot`]). With checks off, violations are not recorded and
/// DDIs behave as if the call were allowed.
pub fn set_enabled(enabled: bool) {
    ENABLED.store(enabled, Ordering::SeqCst);
}

/// Whether checks are on.
#[must_use]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::SeqCst)
}

fn thread_label() -> String {
    let thread = std::thread::current();
    thread
        .name()
        .map_or_else(|| format!("{:?}", thread.id()), str::to_owned)
}

/// Records a bug check. Returns `false` (and records nothing) when checks
/// are disabled, so callers can write `if verifier::bugcheck(...) { fail }`.
pub(crate) fn bugcheck(code: u32, params: [u64; 4], text: String) -> bool {
    if !enabled() {
        return false;
    }
    lock(&BUGCHECKS).push(Bugcheck {
        code,
        params,
        text,
        thread: thread_label(),
    });
    true
}

/// Records an [`codes::NTSIM_RULE`] bug check.
pub(crate) fn model_rule(rule: ModelRule, p2: u64, text: String) -> bool {
    bugcheck(codes::NTSIM_RULE, [rule as u64, p2, 0, 0], text)
}

/// Records a DDI compliance rule violation (0xC4, P1 = rule code, P2 = the
/// condition string's address).
pub(crate) fn rule_violation(rule: &'static DdiRule, ddi: &str, current: KIRQL) -> bool {
    bugcheck(
        codes::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [rule.p1, rule.condition.as_ptr() as u64, 0, 0],
        format!(
            "{} ({:#X}): {ddi} called at {} ({current}); allowed up to {} ({})",
            rule.name,
            rule.p1,
            levels::name(current),
            levels::name(rule.max_irql),
            rule.max_irql
        ),
    )
}

/// Records 0xC4/0xE5 ("a call was made to a Kernel API at the incorrect
/// IRQL", P2 = current IRQL): the check for DDIs whose documented IRQL is
/// not covered by a DDI compliance rule.
pub(crate) fn wrong_irql(ddi: &str, current: KIRQL, allowed: &str) -> bool {
    bugcheck(
        codes::DRIVER_VERIFIER_DETECTED_VIOLATION,
        [0xE5, u64::from(current), 0, 0],
        format!(
            "{ddi} called at {} ({current}); documented IRQL: {allowed}",
            levels::name(current)
        ),
    )
}

/// A copy of the bug checks recorded so far.
#[must_use]
pub fn bugchecks() -> Vec<Bugcheck> {
    lock(&BUGCHECKS).clone()
}

/// Takes (removes and returns) the bug checks recorded so far.
#[must_use]
pub fn take() -> Vec<Bugcheck> {
    std::mem::take(&mut *lock(&BUGCHECKS))
}

pub(crate) fn reset() {
    lock(&BUGCHECKS).clear();
    set_enabled(true);
}
