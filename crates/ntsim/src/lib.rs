//! `ntsim`: a model of the NT kernel for host tests of the `kcallbacks` driver.
//!
//! The seam is the linker. This crate defines, with their exact C names and
//! ABI (`wdk-sys` types), the `ntoskrnl`/`hal` routines and data exports the
//! driver imports; in a host build the stand-in `wdk-sys` only declares them,
//! so the driver's REAL `DriverEntry`/`DriverUnload` run against this model.
//! The variadic `DbgPrint`/`DbgPrintEx` and the pool wrappers are in
//! `csrc/shims.c`.
//!
//! Every modeled DDI follows its documentation (the page is named at each
//! routine, as `wdm/nf-wdm-...` under
//! <https://learn.microsoft.com/windows-hardware/drivers/ddi/>): the IRQL it
//! may be called at (and the Driver Verifier DDI compliance rule that
//! checks it), its status codes, limits and waits. Where the documentation
//! is silent the choice is stated there.
//!
//! Map:
//! * [`Kernel`]: boot, load/unload a driver, send IRPs, read the bug checks.
//! * [`levels`]: the IRQL values; [`irql`]: per-thread IRQL and the
//!   `Ke*Irql` routines; [`context`]: process/thread identity.
//! * [`verifier`]: simulated bug checks; [`faults`]: fault injection;
//!   [`ddi_table`]: the table of modeled DDIs; [`ddi`]: the gate every DDI
//!   passes (IRQL check, fault injection, call log); `freeze`: the machine
//!   stopped by a bug check.
//! * [`pool`]: accounted pool memory; [`dbgprint`]: captured debug output.
//! * [`io`] (device store, IRPs and opening), [`ob`], [`se`] (with
//!   [`se::object`], object security): devices, links, the namespace,
//!   security.
//! * [`ke`], [`thread`], [`clock`], [`exports`]: events and waits, system
//!   threads and handles, time, `MmGetSystemRoutineAddress`.
//! * [`ps`], [`excallback`], [`obcallbacks`], [`registry`] (store, Cm
//!   callbacks, operations), [`ioreg`], [`shutdown`], [`interrupt`],
//!   [`kecb`], [`power`]: every callback family of the catalog (process,
//!   thread and image notify, callback objects, handle operations, registry
//!   filtering, shutdown, PnP/file-system/reinitialization, interrupts, bug
//!   check/NMI/bound/processor change, power settings, WHEA, HAL);
//!   [`objects`]: process and thread objects; [`trigger`]: make the kernel
//!   fire them.
//! * What a driver needs to inspect callback objects: [`spinlock`]
//!   (`KeAcquireSpinLockRaiseToDpc`/`KeReleaseSpinLock`), [`mm`]
//!   (`MmIsAddressValid`), [`sysinfo`]
//!   (`ZwQuerySystemInformation(SystemModuleInformation)`); re-exported by
//!   [`excallback`].
//!
//! Layering: no import circle among the files (checked with
//! `tools/import_graph.py crates/ntsim/src`). A family split over several
//! files is a folder whose `mod.rs` only re-exports (`io/`, `registry/`,
//! `excallback/`), so the public paths (`ntsim::io::...`) did not change;
//! a file below the gate (`levels`, `ddi_table`, `freeze`) imports nothing
//! that imports it.

#![allow(clippy::module_name_repetitions)]
#![allow(
    clippy::doc_markdown,
    reason = "docs are full of DDI names and doc-page slugs, as in the driver"
)]

mod freeze;
mod guid;
mod handle_attributes;
mod notify;
mod opaque;
mod sync;

pub mod clock;
pub mod context;
pub mod dbgprint;
pub mod ddi;
pub mod ddi_table;
pub mod etw;
pub mod eventpush;
pub mod excallback;
pub mod exports;
pub mod faults;
pub mod interrupt;
pub mod io;
pub mod ioreg;
pub mod irql;
pub mod ke;
pub mod kecb;
pub mod kernel;
pub mod levels;
pub mod mm;
pub mod ob;
pub mod obcallbacks;
pub mod objects;
pub mod perf;
pub mod pool;
pub mod power;
pub mod ps;
pub mod registry;
pub mod se;
pub mod shutdown;
pub mod spinlock;
pub mod sysinfo;
pub mod thread;
pub mod trigger;
pub mod unicode;
pub mod verifier;
pub mod version;

pub use kernel::{DriverEntry, Kernel, poll_until};
pub use verifier::Bugcheck;
