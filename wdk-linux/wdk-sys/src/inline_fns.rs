//! Routines that x64 WDK headers define inline (or as macros), so no kernel
//! export exists to bind to.
//!
//! On Windows they are implemented here as the headers do (CR8 holds the
//! IRQL on x64). Only the two that Microsoft's WDK metadata lists as x64
//! ntoskrnl functions, and that the real wdk-sys therefore binds, are offered:
//! `KeGetCurrentIrql` and `KfRaiseIrql`. `KeLowerIrql` and
//! `KeRaiseIrqlToDpcLevel` are header-only on x64 (no declaration bindgen
//! could bind), so the stand-in refuses them as the real crate does. In host
//! builds they are declared as external symbols, which the kernel model
//! defines, so that tests see and control the IRQL.

use crate::types::KIRQL;

#[cfg(all(target_os = "windows", target_arch = "x86_64"))]
#[allow(non_snake_case)]
mod imp {
    use super::KIRQL;

    /// `KeGetCurrentIrql`: the current processor's IRQL. Any IRQL.
    ///
    /// # Safety
    /// Kernel mode only (reads CR8).
    #[inline]
    #[must_use]
    pub unsafe fn KeGetCurrentIrql() -> KIRQL {
        let irql: u64;
        // SAFETY: reading CR8 is allowed in kernel mode and has no side effects.
        unsafe { core::arch::asm!("mov {}, cr8", out(reg) irql, options(nomem, nostack, preserves_flags)) };
        #[allow(clippy::cast_possible_truncation)]
        let irql = irql as KIRQL;
        irql
    }

    /// `KfRaiseIrql`: raises the IRQL to `new_irql` and returns the previous
    /// one. `new_irql` must be >= the current IRQL.
    ///
    /// # Safety
    /// Kernel mode only; the caller must lower back (a CR8 write, as wdm.h's
    /// inline `KeLowerIrql` does).
    #[inline]
    pub unsafe fn KfRaiseIrql(new_irql: KIRQL) -> KIRQL {
        // SAFETY: forwarded precondition.
        let old = unsafe { KeGetCurrentIrql() };
        // SAFETY: writing CR8 sets the task priority; the caller keeps the
        // raise/lower pairing the kernel requires.
        unsafe { core::arch::asm!("mov cr8, {}", in(reg) u64::from(new_irql), options(nomem, nostack, preserves_flags)) };
        old
    }
}

#[cfg(not(all(target_os = "windows", target_arch = "x86_64")))]
mod imp {
    use super::KIRQL;

    unsafe extern "C" {
        /// `KeGetCurrentIrql`, provided by the kernel model in host builds.
        pub fn KeGetCurrentIrql() -> KIRQL;
        /// `KfRaiseIrql`, provided by the kernel model in host builds.
        pub fn KfRaiseIrql(new_irql: KIRQL) -> KIRQL;
    }
}

#[allow(unused_imports)]
pub use imp::*;
