//! Process-manager notify routines: image load, process and thread
//! creation/exit (kernel-semantics.md §2-§4).
//!
//! * `PsSetLoadImageNotifyRoutine(Ex)`: PASSIVE_LEVEL; a limit of 8
//!   registrations, raised to 64 by KB2919355 (Win8.1) / KB2922790 (Win7 SP1)
//!   (ntddk/nf-ntddk-pssetloadimagenotifyroutine); configurable with
//!   [`set_load_image_limit`], default 64, shared by both variants (the docs
//!   are SILENT; one array is the model's choice); past it
//!   `STATUS_INSUFFICIENT_RESOURCES`. Duplicates are SILENT: accepted (each
//!   is a separate slot). The Ex flag check gives `STATUS_INVALID_PARAMETER_2`.
//! * `PsRemoveLoadImageNotifyRoutine`: `<= APC_LEVEL`;
//!   `STATUS_PROCEDURE_NOT_FOUND` for an unknown routine; waits for running callbacks.
//! * `PsSetCreateProcessNotifyRoutine(Ex, Ex2)`: PASSIVE_LEVEL; a duplicate
//!   or the 64th+1 registration gives `STATUS_INVALID_PARAMETER` (the 64 is
//!   shared by all variants: SILENT, chosen); removing an unknown routine is
//!   SILENT (`STATUS_PROCEDURE_NOT_FOUND` chosen, as the other Ps removals);
//!   Ex/Ex2 removals wait for running callbacks (documented), the legacy
//!   removal is not documented to wait and does not, and removing a routine
//!   from inside that routine is forbidden for every variant (NSIM
//!   `RemovalFromOwnCallback`; for the legacy one it is recorded and the
//!   removal still happens); Ex/Ex2 give
//!   `STATUS_ACCESS_DENIED` when the image lacks `/INTEGRITYCHECK`
//!   ([`set_force_integrity`]); Ex2 with a type other than
//!   `PsCreateProcessNotifySubsystems` gives `STATUS_INVALID_PARAMETER`.
//! * `PsSetCreateThreadNotifyRoutine(Ex)`: PASSIVE_LEVEL; any failure is
//!   `STATUS_INSUFFICIENT_RESOURCES`; the limit is SILENT (64 chosen);
//!   duplicates SILENT (accepted); an Ex type other than NonSystem/Subsystems
//!   SILENT (`STATUS_INVALID_PARAMETER` chosen).
//!   `PsRemoveCreateThreadNotifyRoutine`: `<= APC_LEVEL`,
//!   `STATUS_PROCEDURE_NOT_FOUND`, waits.
//! * Context (what the triggers do, [`invocations`] records): process
//!   routines run at PASSIVE_LEVEL in a critical region (normal kernel APCs
//!   disabled), on create in the creating thread, on exit in the process's
//!   last thread (ntddk/nc-ntddk-pcreate_process_notify_routine); image
//!   routines at PASSIVE_LEVEL in a critical region in the process the image
//!   maps into, `ProcessId` 0 for drivers
//!   (ntddk/nc-ntddk-pload_image_notify_routine); thread routines at
//!   PASSIVE_LEVEL or APC_LEVEL, in the creator's thread (legacy,
//!   Subsystems) or on the new thread (Ex NonSystem), on exit in the exiting
//!   thread (ntddk/nc-ntddk-pcreate_thread_notify_routine,
//!   ntddk/ne-ntddk-_pscreatethreadnotifytype; no critical region is
//!   documented, none is entered).

#![allow(non_snake_case)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use wdk_sys::{
    BOOLEAN, NTSTATUS, PCREATE_PROCESS_NOTIFY_ROUTINE, PCREATE_PROCESS_NOTIFY_ROUTINE_EX,
    PCREATE_THREAD_NOTIFY_ROUTINE, PLOAD_IMAGE_NOTIFY_ROUTINE, PSCREATEPROCESSNOTIFYTYPE,
    PSCREATETHREADNOTIFYTYPE, PVOID, STATUS_ACCESS_DENIED, STATUS_INSUFFICIENT_RESOURCES,
    STATUS_INVALID_PARAMETER, STATUS_INVALID_PARAMETER_2, STATUS_PROCEDURE_NOT_FOUND, STATUS_SUCCESS,
    ULONG_PTR,
};

use crate::ddi;
use crate::notify::Registry;

/// `PS_IMAGE_NOTIFY_CONFLICTING_ARCHITECTURE`.
pub const PS_IMAGE_NOTIFY_CONFLICTING_ARCHITECTURE: u64 = 1;
/// `PsCreateThreadNotifyNonSystem`.
pub const PS_CREATE_THREAD_NOTIFY_NON_SYSTEM: i32 = 0;
/// `PsCreateThreadNotifySubsystems`.
pub const PS_CREATE_THREAD_NOTIFY_SUBSYSTEMS: i32 = 1;

/// Registry variants.
pub(crate) mod variant {
    /// The legacy routine.
    pub const LEGACY: u32 = 0;
    /// The `Ex` routine.
    pub const EX: u32 = 1;
    /// The `Ex2` routine.
    pub const EX2: u32 = 2;
}

pub(crate) static LOAD_IMAGE: Registry = Registry::new("load-image notify");
pub(crate) static PROCESS: Registry = Registry::new("process notify");
pub(crate) static THREAD: Registry = Registry::new("thread notify");

static LOAD_IMAGE_LIMIT: AtomicUsize = AtomicUsize::new(64);
static FORCE_INTEGRITY: AtomicBool = AtomicBool::new(true);

/// Process-creation notify routines at most (ntddk/nf-ntddk-pssetcreateprocessnotifyroutine: 64 since Vista).
pub const PROCESS_LIMIT: usize = 64;
/// Thread notify routines at most (SILENT in the docs; the model's choice).
pub const THREAD_LIMIT: usize = 64;

/// Sets the load-image registration limit (8 before KB2919355, 64 after).
pub fn set_load_image_limit(limit: usize) {
    LOAD_IMAGE_LIMIT.store(limit, Ordering::SeqCst);
}

/// Whether the driver's image is linked with `/INTEGRITYCHECK`
/// (`IMAGE_DLLCHARACTERISTICS_FORCE_INTEGRITY`), which the Ex/Ex2 process
/// routines require. Default: yes.
pub fn set_force_integrity(present: bool) {
    FORCE_INTEGRITY.store(present, Ordering::SeqCst);
}

pub(crate) fn force_integrity() -> bool {
    FORCE_INTEGRITY.load(Ordering::SeqCst)
}

/// The registered load-image routines (addresses), in order.
#[must_use]
pub fn load_image_routines() -> Vec<usize> {
    LOAD_IMAGE.live().iter().map(|s| s.routine).collect()
}

/// The registered process notify routines (address, variant 0/1/2), in order.
#[must_use]
pub fn process_routines() -> Vec<(usize, u32)> {
    PROCESS.live().iter().map(|s| (s.routine, s.variant)).collect()
}

/// The registered thread notify routines (address), in order.
#[must_use]
pub fn thread_routines() -> Vec<usize> {
    THREAD.live().iter().map(|s| s.routine).collect()
}

pub(crate) fn reset() {
    LOAD_IMAGE.reset();
    PROCESS.reset();
    THREAD.reset();
    set_load_image_limit(64);
    set_force_integrity(true);
    crate::sync::lock(&INVOCATIONS).clear();
}

fn add_load_image(routine: usize, variant: u32, flags: u64) -> NTSTATUS {
    if LOAD_IMAGE.live().len() >= LOAD_IMAGE_LIMIT.load(Ordering::SeqCst) {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    LOAD_IMAGE.add(routine, variant, flags);
    STATUS_SUCCESS
}

/// `PsSetLoadImageNotifyRoutine` (ntddk/nf-ntddk-pssetloadimagenotifyroutine):
/// PASSIVE_LEVEL, rule IrqlPsPassive.
///
/// # Safety
/// `notify_routine` stays callable until removed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PsSetLoadImageNotifyRoutine(notify_routine: PLOAD_IMAGE_NOTIFY_ROUTINE) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::PS_SET_LOAD_IMAGE_NOTIFY_ROUTINE));
    let Some(routine) = notify_routine else {
        return STATUS_INVALID_PARAMETER;
    };
    add_load_image(routine as usize, variant::LEGACY, 0)
}

/// `PsSetLoadImageNotifyRoutineEx` (ntddk/nf-ntddk-pssetloadimagenotifyroutineex,
/// Windows 10 1709): PASSIVE_LEVEL; `STATUS_INVALID_PARAMETER_2` for a flag
/// other than `PS_IMAGE_NOTIFY_CONFLICTING_ARCHITECTURE`.
///
/// # Safety
/// `notify_routine` stays callable until removed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PsSetLoadImageNotifyRoutineEx(
    notify_routine: PLOAD_IMAGE_NOTIFY_ROUTINE,
    flags: ULONG_PTR,
) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::PS_SET_LOAD_IMAGE_NOTIFY_ROUTINE_EX));
    if flags & !PS_IMAGE_NOTIFY_CONFLICTING_ARCHITECTURE != 0 {
        return STATUS_INVALID_PARAMETER_2;
    }
    let Some(routine) = notify_routine else {
        return STATUS_INVALID_PARAMETER;
    };
    add_load_image(routine as usize, variant::EX, flags)
}

/// `PsRemoveLoadImageNotifyRoutine` (ntddk/nf-ntddk-psremoveloadimagenotifyroutine):
/// `<= APC_LEVEL`; waits for running callbacks.
///
/// # Safety
/// None beyond the C ABI.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PsRemoveLoadImageNotifyRoutine(
    notify_routine: PLOAD_IMAGE_NOTIFY_ROUTINE,
) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::PS_REMOVE_LOAD_IMAGE_NOTIFY_ROUTINE));
    let routine = notify_routine.map_or(0, |r| r as usize);
    if LOAD_IMAGE.remove("PsRemoveLoadImageNotifyRoutine", true, |s| s.routine == routine) {
        STATUS_SUCCESS
    } else {
        STATUS_PROCEDURE_NOT_FOUND
    }
}

fn set_process_routine(ddi_name: &str, routine: usize, variant: u32, remove: bool) -> NTSTATUS {
    if remove {
        // Ex and Ex2 removals wait for in-flight callbacks (documented); the
        // legacy one is not documented to.
        let wait = variant != variant::LEGACY;
        if !wait && let Some(routine) = PROCESS.inside_own(|s| s.routine == routine && s.variant == variant) {
            // ntddk/nf-ntddk-pssetcreateprocessnotifyroutine: "A driver must
            // remove any callbacks it registers before it unloads ... [and]
            // must not call this routine [to remove it] from inside the
            // callback": the legacy removal does not wait, so unlike the
            // Ex/Ex2 ones it would not deadlock, but it is still forbidden.
            crate::verifier::model_rule(
                crate::verifier::ModelRule::RemovalFromOwnCallback,
                routine as u64,
                format!(
                    "{ddi_name}(Remove = TRUE) called from inside the process notify routine it removes (documented: must not)"
                ),
            );
        }
        return if PROCESS.remove(ddi_name, wait, |s| s.routine == routine && s.variant == variant) {
            STATUS_SUCCESS
        } else {
            STATUS_PROCEDURE_NOT_FOUND
        };
    }
    let live = PROCESS.live();
    if live.len() >= PROCESS_LIMIT || live.iter().any(|s| s.routine == routine && s.variant == variant) {
        return STATUS_INVALID_PARAMETER;
    }
    PROCESS.add(routine, variant, 0);
    STATUS_SUCCESS
}

/// `PsSetCreateProcessNotifyRoutine` (ntddk/nf-ntddk-pssetcreateprocessnotifyroutine):
/// PASSIVE_LEVEL, rule IrqlPsPassive.
///
/// # Safety
/// `notify_routine` stays callable until removed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PsSetCreateProcessNotifyRoutine(
    notify_routine: PCREATE_PROCESS_NOTIFY_ROUTINE,
    remove: BOOLEAN,
) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::PS_SET_CREATE_PROCESS_NOTIFY_ROUTINE));
    let Some(routine) = notify_routine else {
        return STATUS_INVALID_PARAMETER;
    };
    set_process_routine(
        "PsSetCreateProcessNotifyRoutine",
        routine as usize,
        variant::LEGACY,
        remove != 0,
    )
}

/// `PsSetCreateProcessNotifyRoutineEx` (ntddk/nf-ntddk-pssetcreateprocessnotifyroutineex):
/// PASSIVE_LEVEL.
///
/// # Safety
/// `notify_routine` stays callable until removed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PsSetCreateProcessNotifyRoutineEx(
    notify_routine: PCREATE_PROCESS_NOTIFY_ROUTINE_EX,
    remove: BOOLEAN,
) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::PS_SET_CREATE_PROCESS_NOTIFY_ROUTINE_EX));
    if !FORCE_INTEGRITY.load(Ordering::SeqCst) {
        return STATUS_ACCESS_DENIED;
    }
    let Some(routine) = notify_routine else {
        return STATUS_INVALID_PARAMETER;
    };
    set_process_routine(
        "PsSetCreateProcessNotifyRoutineEx",
        routine as usize,
        variant::EX,
        remove != 0,
    )
}

/// `PsSetCreateProcessNotifyRoutineEx2` (ntddk/nf-ntddk-pssetcreateprocessnotifyroutineex2,
/// Windows 10 1703): PASSIVE_LEVEL. `NotifyInformation` is the
/// `PCREATE_PROCESS_NOTIFY_ROUTINE_EX`.
///
/// # Safety
/// `notify_information` is a routine that stays callable until removed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PsSetCreateProcessNotifyRoutineEx2(
    notify_type: PSCREATEPROCESSNOTIFYTYPE,
    notify_information: PVOID,
    remove: BOOLEAN,
) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::PS_SET_CREATE_PROCESS_NOTIFY_ROUTINE_EX2));
    if notify_type != 0 || notify_information.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    if !FORCE_INTEGRITY.load(Ordering::SeqCst) {
        return STATUS_ACCESS_DENIED;
    }
    set_process_routine(
        "PsSetCreateProcessNotifyRoutineEx2",
        notify_information as usize,
        variant::EX2,
        remove != 0,
    )
}

fn add_thread_routine(routine: usize, variant: u32, data: u64) -> NTSTATUS {
    if THREAD.live().len() >= THREAD_LIMIT {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    THREAD.add(routine, variant, data);
    STATUS_SUCCESS
}

/// `PsSetCreateThreadNotifyRoutine` (ntddk/nf-ntddk-pssetcreatethreadnotifyroutine):
/// PASSIVE_LEVEL, rule IrqlPsPassive.
///
/// # Safety
/// `notify_routine` stays callable until removed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PsSetCreateThreadNotifyRoutine(
    notify_routine: PCREATE_THREAD_NOTIFY_ROUTINE,
) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::PS_SET_CREATE_THREAD_NOTIFY_ROUTINE));
    let Some(routine) = notify_routine else {
        return STATUS_INSUFFICIENT_RESOURCES;
    };
    add_thread_routine(
        routine as usize,
        variant::LEGACY,
        PS_CREATE_THREAD_NOTIFY_SUBSYSTEMS as u64,
    )
}

/// `PsSetCreateThreadNotifyRoutineEx` (ntddk/nf-ntddk-pssetcreatethreadnotifyroutineex):
/// PASSIVE_LEVEL. `NotifyInformation` is the `PCREATE_THREAD_NOTIFY_ROUTINE`.
///
/// # Safety
/// `notify_information` is a routine that stays callable until removed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PsSetCreateThreadNotifyRoutineEx(
    notify_type: PSCREATETHREADNOTIFYTYPE,
    notify_information: PVOID,
) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::PS_SET_CREATE_THREAD_NOTIFY_ROUTINE_EX));
    if notify_type != PS_CREATE_THREAD_NOTIFY_NON_SYSTEM && notify_type != PS_CREATE_THREAD_NOTIFY_SUBSYSTEMS
    {
        return STATUS_INVALID_PARAMETER;
    }
    if notify_information.is_null() {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    add_thread_routine(
        notify_information as usize,
        variant::EX,
        u64::from(notify_type.cast_unsigned()),
    )
}

/// `PsRemoveCreateThreadNotifyRoutine` (ntddk/nf-ntddk-psremovecreatethreadnotifyroutine):
/// `<= APC_LEVEL`; waits for a running callback.
///
/// # Safety
/// None beyond the C ABI.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PsRemoveCreateThreadNotifyRoutine(
    notify_routine: PCREATE_THREAD_NOTIFY_ROUTINE,
) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::PS_REMOVE_CREATE_THREAD_NOTIFY_ROUTINE));
    let routine = notify_routine.map_or(0, |r| r as usize);
    if THREAD.remove("PsRemoveCreateThreadNotifyRoutine", true, |s| {
        s.routine == routine
    }) {
        STATUS_SUCCESS
    } else {
        STATUS_PROCEDURE_NOT_FOUND
    }
}

// --- The context notify routines run in -------------------------------------

thread_local! {
    /// The current thread's `KernelApcDisable` count (critical regions entered).
    static KERNEL_APC_DISABLE: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// A critical region (`KeEnterCriticalRegion` .. `KeLeaveCriticalRegion`).
///
/// Normal kernel APCs are disabled on this thread until dropped. The
/// triggers enter one where the documentation says the kernel calls the
/// routines in one: process notify ("inside a critical region with normal
/// kernel APCs disabled", ntddk/nc-ntddk-pcreate_process_notify_routine),
/// load-image notify ("normal kernel APCs are always disabled",
/// ntddk/nc-ntddk-pload_image_notify_routine) and object pre/post callbacks
/// ("normal kernel APCs are disabled", wdm/nc-wdm-pob_pre_operation_callback).
pub(crate) struct CriticalRegion(());

impl CriticalRegion {
    /// Enters a critical region until the value is dropped.
    pub(crate) fn enter() -> Self {
        KERNEL_APC_DISABLE.with(|c| c.set(c.get() + 1));
        Self(())
    }
}

impl Drop for CriticalRegion {
    fn drop(&mut self) {
        KERNEL_APC_DISABLE.with(|c| c.set(c.get().saturating_sub(1)));
    }
}

/// Whether normal kernel APCs are disabled on the current thread (it is in
/// a critical region), as `KeAreApcsDisabled` would report at PASSIVE_LEVEL.
#[must_use]
pub fn normal_apcs_disabled() -> bool {
    KERNEL_APC_DISABLE.with(std::cell::Cell::get) > 0
}

/// The context one registered routine was called in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// The family (`"process notify"`, `"thread notify"`,
    /// `"load-image notify"`, `"object (handle) callback"`,
    /// `"registry callback"`).
    pub family: &'static str,
    /// The routine's address.
    pub routine: usize,
    /// The IRQL it ran at.
    pub irql: wdk_sys::KIRQL,
    /// The current process id while it ran.
    pub pid: u64,
    /// The current thread id while it ran.
    pub tid: u64,
    /// Whether normal kernel APCs were disabled (critical region).
    pub normal_apcs_disabled: bool,
}

/// Invocations kept at most (the oldest go first).
const INVOCATION_LOG: usize = 4096;

static INVOCATIONS: std::sync::Mutex<Vec<Invocation>> = std::sync::Mutex::new(Vec::new());

/// The routine calls recorded since boot (or the last
/// [`take_invocations`]), oldest first: what the documented context
/// checks of the tests read.
#[must_use]
pub fn invocations() -> Vec<Invocation> {
    crate::sync::lock(&INVOCATIONS).clone()
}

/// Takes the recorded routine calls.
#[must_use]
pub fn take_invocations() -> Vec<Invocation> {
    std::mem::take(&mut *crate::sync::lock(&INVOCATIONS))
}

/// Calls routine `routine` of `registry` slot `id` (see
/// [`Registry::invoke`]) and records the context it ran in.
pub(crate) fn invoke<R>(registry: &Registry, id: u64, routine: usize, f: impl FnOnce() -> R) -> Option<R> {
    registry.invoke(id, || {
        let invocation = Invocation {
            family: registry.name,
            routine,
            irql: crate::irql::current(),
            pid: crate::context::current_pid(),
            tid: crate::context::current_tid(),
            normal_apcs_disabled: normal_apcs_disabled(),
        };
        {
            let mut log = crate::sync::lock(&INVOCATIONS);
            if log.len() >= INVOCATION_LOG {
                log.remove(0);
            }
            log.push(invocation);
        }
        f()
    })
}
