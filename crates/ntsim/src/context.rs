//! The simulated thread context: which process and thread the current host
//! thread stands for (what `PsGetCurrentProcessId`/`PsGetCurrentThreadId`
//! return), which processor it runs on, and what it is doing (the
//! [`Phase`], recorded with every DDI call).
//!
//! Host threads start in the System process (pid 4, as on Windows) with a
//! fresh thread id; the harness and the triggers switch the context to the
//! one the documentation names (e.g. a load-image callback for a user image
//! runs in the new process's context).

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The System process id.
pub const SYSTEM_PID: u64 = 4;

/// Number of simulated processors (`KeGetCurrentProcessorNumberEx` returns
/// values below it).
pub const PROCESSOR_COUNT: u32 = 4;

/// What the current thread is doing, from the kernel's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Nothing in particular (test code, model internals).
    Other,
    /// Inside the driver's `DriverEntry`.
    DriverEntry,
    /// Inside the driver's `DriverUnload`.
    DriverUnload,
    /// Inside one of the driver's IRP dispatch routines.
    Dispatch,
    /// Inside one of the driver's callback or notify routines.
    Callback,
    /// Inside a system thread the driver created.
    SystemThread,
}

static NEXT_TID: AtomicU64 = AtomicU64::new(0x1000);
static NEXT_CPU: AtomicU32 = AtomicU32::new(0);

thread_local! {
    static PID: Cell<u64> = const { Cell::new(SYSTEM_PID) };
    static TID: Cell<u64> = const { Cell::new(0) };
    static CPU: Cell<Option<u32>> = const { Cell::new(None) };
    static PHASE: Cell<Phase> = const { Cell::new(Phase::Other) };
    /// The driver object of *another* driver (not the one under test) whose
    /// code this thread runs, if any.
    static OTHER_IMAGE: Cell<Option<usize>> = const { Cell::new(None) };
}

/// A new thread id (client ids are multiples of 4 on Windows).
pub(crate) fn new_tid() -> u64 {
    NEXT_TID.fetch_add(4, Ordering::Relaxed)
}

/// The current process id.
#[must_use]
pub fn current_pid() -> u64 {
    PID.with(Cell::get)
}

/// The current thread id (assigned on first use).
#[must_use]
pub fn current_tid() -> u64 {
    TID.with(|tid| {
        if tid.get() == 0 {
            tid.set(new_tid());
        }
        tid.get()
    })
}

/// The current processor number (assigned round-robin per host thread).
#[must_use]
pub fn current_processor() -> u32 {
    CPU.with(|cpu| {
        // Assigned once per thread (the copy `Cell::get` returns must be
        // stored back, or every call would pick the next processor).
        let number = cpu
            .get()
            .unwrap_or_else(|| NEXT_CPU.fetch_add(1, Ordering::Relaxed) % PROCESSOR_COUNT);
        cpu.set(Some(number));
        number
    })
}

/// The current phase.
#[must_use]
pub fn phase() -> Phase {
    PHASE.with(Cell::get)
}

/// Sets the thread's identity for good (a new system thread).
pub(crate) fn set_identity(pid: u64, tid: u64) {
    PID.with(|p| p.set(pid));
    TID.with(|t| t.set(tid));
}

/// Restores the previous process/thread/phase when dropped.
pub(crate) struct ContextScope {
    pid: u64,
    tid: u64,
    phase: Phase,
}

impl ContextScope {
    /// Switches to `pid` (and `tid` if given) and `phase` until dropped.
    pub(crate) fn enter(pid: u64, tid: Option<u64>, phase: Phase) -> Self {
        let saved = Self {
            pid: current_pid(),
            tid: current_tid(),
            phase: self::phase(),
        };
        PID.with(|p| p.set(pid));
        if let Some(tid) = tid {
            TID.with(|t| t.set(tid));
        }
        PHASE.with(|p| p.set(phase));
        saved
    }

    /// Changes only the phase until dropped.
    pub(crate) fn phase(phase: Phase) -> Self {
        Self::enter(current_pid(), None, phase)
    }
}

impl Drop for ContextScope {
    fn drop(&mut self) {
        PID.with(|p| p.set(self.pid));
        TID.with(|t| t.set(self.tid));
        PHASE.with(|p| p.set(self.phase));
    }
}

/// Runs `f` as if in process `pid` (thread id unchanged). Test API.
pub fn with_process<R>(pid: u64, f: impl FnOnce() -> R) -> R {
    let _scope = ContextScope::enter(pid, None, phase());
    f()
}

/// The driver object of the other driver whose code this thread runs.
///
/// Set by [`crate::Kernel::load_other_driver`] and [`as_other_image`];
/// `None` for the driver under test, test code and the model itself.
/// Registrations record it as their owner, and the unload checks of the
/// driver under test skip what another driver registered (issue #12 item
/// 11): the kernel charges a leftover to the image that registered it. A
/// registration made with no other image running is charged to the driver
/// under test (the model loads one driver under test; code the model
/// cannot attribute, e.g. a callback or system thread of that driver, is
/// its).
#[must_use]
pub fn other_image() -> Option<usize> {
    OTHER_IMAGE.with(Cell::get)
}

/// Restores the previous [`other_image`] when dropped.
pub(crate) struct ImageScope(Option<usize>);

impl ImageScope {
    /// Runs as the code of driver object `image` until dropped.
    pub(crate) fn enter(image: usize) -> Self {
        Self(OTHER_IMAGE.with(|i| i.replace(Some(image))))
    }
}

impl Drop for ImageScope {
    fn drop(&mut self) {
        OTHER_IMAGE.with(|i| i.set(self.0));
    }
}

/// Runs `f` as code of another driver's image, driver object `image` (what
/// it registers is that driver's, not the driver under test's). Test API.
pub fn as_other_image<R>(image: usize, f: impl FnOnce() -> R) -> R {
    let _scope = ImageScope::enter(image);
    f()
}
