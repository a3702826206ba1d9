//! The one cell type for statics the kernel or the driver's entry points
//! share: [`KernelCell`].
//!
//! A registration record the kernel links into its lists, a dump buffer, a
//! `KEVENT`, the policy the notify routines read, the driver state between
//! DriverEntry and DriverUnload: each is static (nonpaged, in the image,
//! with a stable address), reached through a raw pointer, and guarded by a
//! protocol its static documents. One type serves them all, so there is one
//! place that says what `Sync` means for them (replacing the former
//! `KernelCell` / `StateSlot` pair).

/// Static memory the kernel keeps a pointer into (a registration record, a
/// dump buffer, an event): nonpaged (it is in the driver image), with a
/// stable address for the driver's life.
///
/// Every access goes through the raw pointer from [`get`](Self::get); each
/// user documents why its accesses do not race (typically: written only
/// before the registration that publishes it, read by the kernel after).
pub struct KernelCell<T>(core::cell::UnsafeCell<T>);

// SAFETY: the invariant is established per static, where the static is
// declared: the cell only hands out raw pointers, and every
// `static X: KernelCell<_>` states next to it the protocol (who writes,
// when, who reads) that rules out data races on its contents. A static
// without such a comment is a review error.
unsafe impl<T> Sync for KernelCell<T> {}

impl<T> KernelCell<T> {
    /// A cell holding `value`.
    ///
    /// # IRQL
    /// Any (const).
    #[must_use]
    pub const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }

    /// The stable address of the contents.
    ///
    /// # IRQL
    /// Any; what may be done through the pointer is the static's protocol.
    #[must_use]
    pub const fn get(&self) -> *mut T {
        self.0.get()
    }
}
