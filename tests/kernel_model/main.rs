//! The kernel-model tests: the driver's REAL `DriverEntry`/`DriverUnload`,
//! dispatch routines and notify routines, linked against the project's
//! model of the NT kernel (`crates/ntsim`), which defines every kernel
//! symbol the driver imports. One test binary, a module per family.
//!
//! Serialisation: the driver's statics and the model are global to the
//! process, so every test holds a [`ntsim::Kernel`] for its whole body:
//! [`ntsim::Kernel::boot`] takes the model's global lock and resets the
//! model; the guard releases it at drop (and panics there if a simulated
//! bug check was recorded that the test did not expect). Tests that read
//! events filter them by their own process ids or sources, so records an
//! earlier test left behind never match.
//!
//! | module | what |
//! |---|---|
//! | [`driver`] | load and unload, events, the control device, the fault-injection sweep, the verifier checks |
//! | [`ex`] | callback objects (`ExCreateCallback` ... `ExUnregisterCallback`, the `\Callback` map) and the registration walker |
//! | [`ps_ob_cm`] | process, thread, image, object-handle and registry callbacks |
//! | [`ke_io`] | Ke, Io, Po, WHEA and HAL registrations, the crash-dump paths, interrupts |
//! | [`pipeline`] | rings, pushes at `DISPATCH_LEVEL`, the drain |
//! | [`cost`] | the cost of every notify routine |
//! | [`hardening`] | issue 12's driver fixes |
//! | [`rules`] | the model's rules seen through the driver |
//! | [`wire`] | wire format v2: `READ_EVENTS` through small buffers |
//! | [`etw`] | the ETW TraceLogging provider, decoded and compared with the JSON form |
//!
//! Shared helpers (booting, the IOCTLs, the unload checks) are in
//! `tests/common/mod.rs`; the model's own test helpers (callback objects,
//! pre-operation access) in `crates/ntsim/tests/common/mod.rs`.

#![allow(
    clippy::significant_drop_tightening,
    reason = "every test holds its Kernel (the model's global lock) for its whole body, by design"
)]

#[path = "../common/mod.rs"]
mod common;
/// The model's own test helpers (`crates/ntsim/tests/common`), used here
/// as another driver would: callback objects, pre-operation access.
#[path = "../../crates/ntsim/tests/common/mod.rs"]
mod model_helpers;

mod cost;
mod driver;
mod etw;
mod ex;
mod hardening;
mod ke_io;
mod pipeline;
mod ps_ob_cm;
mod rules;
mod wire;
