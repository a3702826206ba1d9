//! kcallbacks: a Windows kernel-mode (WDM) driver that registers the kernel's
//! callback and notify routines behind RAII guards, records every firing
//! into a lock-free ring without allocating, and reports what it registered.
//!
//! The same source builds into `kcallbacks.sys` (target
//! `x86_64-pc-windows-msvc`, real WDK crates on Windows, stand-ins from
//! `wdk-linux/` on Linux) and into an rlib that host tests link against the
//! kernel model in `crates/ntsim`.
//!
//! # Module map
//!
//! ```text
//! lib.rs            this map, VERSION
//! driver.rs         DriverEntry / DriverUnload / DriverState (guards built from the table)
//! config/           registry.rs (PASSIVE reader) -> settings.rs (one write-once value, any IRQL)
//! control/          device.rs (device + link + DACL), dispatch.rs (IRP mechanics),
//!                   ioctl.rs (pure request server)
//! registrations/    guard.rs (Registration<R> + RegistrationOps), report.rs (the outcomes),
//!                   table.rs (SourceId <-> Api <-> guard <-> default <-> Parameters name),
//!                   one file per family: ps ob cm ke io shutdown po whea hal ex
//!                   callback_objects drain_thread; callback_map + walker (read side)
//! pipeline/         events (stamp), window (the push), rings, cost, drain, held + crash
//!                   (summary, flight recorder)
//! kernel/           the seam to ntoskrnl: cell, object (ObjectAttributes, KernelHandle),
//!                   irp, imports (every raw-dylib declaration), dynamic, unicode, clock,
//!                   log, irql, pool
//! ```
//!
//! Arrows point one way: [`driver`] -> [`control`] -> [`registrations`] ->
//! [`pipeline`] -> [`kernel`], with [`config`] read through
//! [`config::settings`] only. Nothing imports `driver`; [`VERSION`] lives
//! here so that the crash summary and the report can name it.

#![no_std]
// IRQL names (PASSIVE_LEVEL, ...) and DDI names are prose in these docs.
#![allow(clippy::doc_markdown)]

#[cfg(all(target_os = "windows", not(test)))]
extern crate wdk_panic;

// Host builds (tests against the kernel model) use std's panic handler.
#[cfg(not(target_os = "windows"))]
extern crate std;

#[cfg(all(target_os = "windows", not(test)))]
#[global_allocator]
static GLOBAL_ALLOCATOR: wdk_alloc::WdkAllocator = wdk_alloc::WdkAllocator;

// First: its macros (`kprintln!`, `dynamic_fn!`) are used everywhere.
pub mod kernel;

pub mod config;
pub mod control;
pub mod driver;
pub mod etw;
pub mod pipeline;
pub mod registrations;

/// The driver's version, as printed at load and returned by `GET_REPORT`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub use driver::{driver_entry, driver_unload};
