//! Raising and lowering the IRQL, as wdm.h defines them on x64.
//!
//! `KeRaiseIrql` and `KeLowerIrql` (wdm/nf-wdm-keraiseirql,
//! wdm/nf-wdm-kelowerirql) are header-level routines on x64: the headers
//! expand them inline into a write of CR8 (the task-priority register that
//! holds the IRQL), so a driver built with the WDK imports nothing for them.
//! `KeLowerIrql` is not declared as a function there at all (Microsoft's WDK
//! metadata has no entry for it), so the real `wdk-sys` has no binding to
//! call. The driver therefore does what the header does, here, instead of
//! depending on a binding only the Linux stand-in provides. In host builds
//! (tests) the kernel model defines `KfRaiseIrql` / `KeLowerIrql`, so tests
//! see and check every IRQL change.
//!
//! Reading the IRQL stays `wdk_sys::ntddk::KeGetCurrentIrql`: x64 ntoskrnl
//! exports it (Windows 10 and later) and both bindings declare it.

use wdk_sys::KIRQL;

#[cfg(all(target_os = "windows", target_arch = "x86_64"))]
mod imp {
    use wdk_sys::KIRQL;

    /// Writes CR8.
    ///
    /// # Safety
    /// Kernel mode; the raise/lower pairing the kernel requires is the
    /// caller's.
    ///
    /// # IRQL
    /// Any; the new IRQL is `irql`.
    #[inline]
    pub unsafe fn write_cr8(irql: KIRQL) {
        // SAFETY: writing CR8 sets the task priority (the IRQL); allowed in
        // kernel mode, touches no memory; the pairing is the caller's contract.
        unsafe {
            core::arch::asm!("mov cr8, {}", in(reg) u64::from(irql), options(nomem, nostack, preserves_flags));
        }
    }

    /// `KfRaiseIrql` as the x64 header expands it.
    ///
    /// # Safety
    /// As [`super::raise`].
    ///
    /// # IRQL
    /// Any; `new_irql` >= current.
    #[inline]
    pub unsafe fn raise(new_irql: KIRQL) {
        // SAFETY: forwarded contract.
        unsafe { write_cr8(new_irql) };
    }

    /// `KeLowerIrql` as the x64 header expands it.
    ///
    /// # Safety
    /// As [`super::lower`].
    ///
    /// # IRQL
    /// `old_irql` <= current.
    #[inline]
    pub unsafe fn lower(old_irql: KIRQL) {
        // SAFETY: forwarded contract.
        unsafe { write_cr8(old_irql) };
    }
}

#[cfg(not(all(target_os = "windows", target_arch = "x86_64")))]
mod imp {
    use wdk_sys::KIRQL;

    unsafe extern "C" {
        /// The kernel model's `KfRaiseIrql` (host builds).
        fn KfRaiseIrql(new_irql: KIRQL) -> KIRQL;
        /// The kernel model's `KeLowerIrql` (host builds).
        fn KeLowerIrql(new_irql: KIRQL);
    }

    /// # Safety
    /// As [`super::raise`].
    ///
    /// # IRQL
    /// Any; `new_irql` >= current.
    #[inline]
    pub unsafe fn raise(new_irql: KIRQL) {
        // SAFETY: forwarded contract; the model checks it.
        let _ = unsafe { KfRaiseIrql(new_irql) };
    }

    /// # Safety
    /// As [`super::lower`].
    ///
    /// # IRQL
    /// `old_irql` <= current.
    #[inline]
    pub unsafe fn lower(old_irql: KIRQL) {
        // SAFETY: forwarded contract; the model checks it.
        unsafe { KeLowerIrql(old_irql) };
    }
}

/// Raises the current processor's IRQL to `new_irql` (`KeRaiseIrql`).
///
/// # Safety
/// `new_irql` is at or above the current IRQL, and the caller lowers back
/// with [`lower`] to the IRQL it read before, on the same processor.
///
/// # IRQL
/// Any; `new_irql` >= current.
#[inline]
pub unsafe fn raise(new_irql: KIRQL) {
    // SAFETY: forwarded contract.
    unsafe { imp::raise(new_irql) };
}

/// Lowers the current processor's IRQL back to `old_irql` (`KeLowerIrql`).
///
/// # Safety
/// `old_irql` is the IRQL read before the matching [`raise`].
///
/// # IRQL
/// `old_irql` <= current.
#[inline]
pub unsafe fn lower(old_irql: KIRQL) {
    // SAFETY: forwarded contract.
    unsafe { imp::lower(old_irql) };
}
