//! The IRQL values of x64 and their names. A leaf: [`crate::irql`] (the
//! per-thread IRQL and the `Ke*Irql` routines, which report violations to
//! [`crate::verifier`]) and [`crate::verifier`] (which names levels in its
//! bug check texts) both use it, so neither has to import the other both
//! ways. [`crate::irql`] re-exports everything here.

use wdk_sys::KIRQL;

/// `PASSIVE_LEVEL`.
pub const PASSIVE_LEVEL: KIRQL = 0;
/// `APC_LEVEL`.
pub const APC_LEVEL: KIRQL = 1;
/// `DISPATCH_LEVEL`.
pub const DISPATCH_LEVEL: KIRQL = 2;
/// `CMCI_LEVEL` (x64).
pub const CMCI_LEVEL: KIRQL = 5;
/// The highest device IRQL on x64 (DIRQLs are 3..=12).
pub const MAX_DIRQL: KIRQL = 12;
/// `CLOCK_LEVEL` (x64).
pub const CLOCK_LEVEL: KIRQL = 13;
/// `IPI_LEVEL` (x64).
pub const IPI_LEVEL: KIRQL = 14;
/// `PROFILE_LEVEL` (x64).
pub const PROFILE_LEVEL: KIRQL = 15;
/// `HIGH_LEVEL` (x64).
pub const HIGH_LEVEL: KIRQL = 15;

/// A readable name for an IRQL.
#[must_use]
pub const fn name(level: KIRQL) -> &'static str {
    match level {
        PASSIVE_LEVEL => "PASSIVE_LEVEL",
        APC_LEVEL => "APC_LEVEL",
        DISPATCH_LEVEL => "DISPATCH_LEVEL",
        3..=MAX_DIRQL => "DIRQL",
        CLOCK_LEVEL => "CLOCK_LEVEL",
        IPI_LEVEL => "IPI_LEVEL",
        HIGH_LEVEL => "HIGH_LEVEL",
        _ => "invalid IRQL",
    }
}
