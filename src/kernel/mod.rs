//! The seam to ntoskrnl.
//!
//! Everything the rest of the driver needs from the
//! kernel beyond the `wdk-sys` bindings, and nothing that knows about
//! registrations, events or requests. Nothing here imports another layer.
//!
//! [`cell`] (the one cell type for kernel-visible statics), [`object`]
//! (`ObjectAttributes`, `KernelHandle` closed on drop, the driver object),
//! [`imports`] (every raw-dylib declaration), [`dynamic`] (routines resolved
//! by name), [`unicode`], [`clock`] (timestamps at any IRQL), [`log`]
//! (`kprintln!`), [`irql`] (raise/lower), [`pool`] (the one allocation
//! primitive).

pub mod cell;
pub mod clock;
pub mod dynamic;
pub mod imports;
pub mod irp;
pub mod irql;
pub mod log;
pub mod object;
pub mod pool;
pub mod unicode;
