//! kcallbacks: a Windows kernel-mode (WDM) driver that registers the kernel's
//! callback and notify routines behind RAII guards, records every firing
//! into a lock-free ring without allocating, and reports what it registered.
//!
//! The same source builds into `kcallbacks.sys` (target
//! `x86_64-pc-windows-msvc`, real WDK crates on Windows, stand-ins from
//! `wdk-linux/` on Linux) and into an rlib that host tests link against the
//! kernel model in `crates/ntsim`.
//!
//! Module map: [`guard`] (the registration pattern), [`report`] (what was
//! registered), [`device`] + [`ioctl`] (control device), [`events`] +
//! [`drain`] (event pipeline; [`rings`] per processor, pushed at
//! DISPATCH_LEVEL through [`irql`]), [`ps`] (process-manager notify routines),
//! [`driver`] (DriverEntry/DriverUnload).

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

pub mod log;

pub mod callbacks;
pub mod clock;
pub mod cm;
pub mod config;
pub mod cost;
pub mod device;
pub mod drain;
pub mod driver;
pub mod etw;
pub mod events;
pub mod ex;
pub mod guard;
pub mod hal;
pub mod held;
pub mod io;
pub mod ioctl;
pub mod irql;
pub mod ke;
pub mod kernel;
pub mod ob;
pub mod po;
pub mod pool;
pub mod ps;
pub mod report;
pub mod rings;
pub mod unicode;
pub mod walker;
pub mod whea;

pub use driver::{driver_entry, driver_unload};
