//! Who pushes into a [`ByteRing`](crate::ByteRing), and so how a push
//! updates the words producers share: the claim (the one compare-exchange
//! on the ring's `state` word) and the per-source counters that
//! [`record_bytes`](crate::record_bytes) bumps beside it.
//!
//! # Two disciplines
//!
//! - [`Shared`]: any number of processors may push at once. The
//!   claim is an ordinary atomic compare-exchange (`lock cmpxchg` on x86-64),
//!   a counter bump an atomic add (`lock xadd`).
//! - [`ProcessorLocal`]: pushes never run at the same time on two
//!   processors; the only concurrency is *nesting* (an interrupt or NMI that
//!   arrives on the processor inside a push and pushes too; on a host, a
//!   signal handler on the pushing thread). This is the driver's case: ring
//!   N is pushed only on processor N, at `DISPATCH_LEVEL` or above, so the
//!   pushing thread can neither be preempted by another pushing thread nor
//!   migrate. On x86-64 the claim is then a `cmpxchg` and a counter bump an
//!   `inc`, both **without** the `lock` prefix.
//!
//! # Why the unlocked instruction is enough on one processor
//!
//! An interrupt (NMI included) is taken only between two instructions
//! (Intel SDM vol. 3A, chapter 6, "Interrupt and Exception Handling": the
//! processor services interrupts at instruction boundaries; AMD APM vol. 2,
//! chapter 8, likewise), so a single `cmpxchg` (or `inc`) is atomic
//! with respect to everything else that runs on the same processor: a
//! nested push sees the word either before or after it, never half-way
//! (a load-then-store pair would lose the nested push's update). What the `lock` prefix adds is atomicity with respect to
//! *other* processors and a full barrier; neither is needed here:
//! - no other processor writes these words (the consumer only reads them, and a
//!   naturally aligned 8-byte store is single-copy atomic on x86-64, so it
//!   never sees a torn value);
//! - x86-64 keeps stores in program order (TSO), so a consumer that reads
//!   the new `tail` and then a record's words still needs the producer's
//!   Release store of the header (unchanged) before it reads the payload.
//!
//! The barrier is what the lock costs: a locked instruction waits until the
//! store buffer has drained, i.e. until the previous record's payload
//! stores reached the cache; a push with its two counter bumps had three. Measured by `cargo xtask bench` (criterion,
//! 64-byte records): see the README's pipeline section for the figures of
//! both disciplines.
//!
//! Linux takes the same step for its per-CPU data (`this_cpu_cmpxchg`: an
//! unlocked `cmpxchg` on a per-CPU variable, safe against interrupts on the
//! same CPU); the argument above is the architectural one, not borrowed code.
//!
//! # Where the unlocked claim is not used
//!
//! Other architectures, the loom model (`--cfg loom`) and Miri use the
//! locked instructions for both disciplines: loom and Miri model
//! threads, not interrupts, and the protocol is the same, so what they check
//! (the claim/publish/consume protocol under arbitrary interleavings) holds
//! for both. The interrupt-atomicity of the unlocked instruction is what
//! `tests/nested_signals.rs` exercises on the host: a thread pushes into a
//! processor-local ring while signal handlers, delivered on that thread,
//! push into the same ring; every record must come out whole, every
//! sequence number exactly once, and the counters must add up exactly.

use crate::sync::{AtomicU64, Ordering};

/// Who may push into a ring at the same time: [`Shared`] or
/// [`ProcessorLocal`] (see the module docs). A type-level choice, so a push
/// carries no run-time branch on it. Sealed: the two are the only ones.
pub trait Producers: sealed::Sealed + 'static {
    /// Replaces `word`'s value `current` by `new` if it still holds
    /// `current`.
    ///
    /// # Errors
    /// The value found, when it was not `current` (nothing was written).
    fn compare_exchange(word: &AtomicU64, current: u64, new: u64) -> Result<u64, u64>;

    /// Adds one to `counter` (wrapping).
    fn increment(counter: &AtomicU64);
}

/// Pushes may run concurrently on any number of processors (locked
/// instructions).
#[derive(Debug)]
pub enum Shared {}

/// Pushes run on one processor at a time; concurrent pushes only nest.
///
/// Unlocked instructions on x86-64. Only
/// [`ByteRing::new_processor_local`](crate::ByteRing::new_processor_local),
/// an `unsafe fn` whose contract is this discipline, makes such a ring.
#[derive(Debug)]
pub enum ProcessorLocal {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Shared {}
    impl Sealed for super::ProcessorLocal {}
}

impl Producers for Shared {
    #[inline]
    fn compare_exchange(word: &AtomicU64, current: u64, new: u64) -> Result<u64, u64> {
        word.compare_exchange(current, new, Ordering::AcqRel, Ordering::Relaxed)
    }

    #[inline]
    fn increment(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl Producers for ProcessorLocal {
    #[inline]
    fn compare_exchange(word: &AtomicU64, current: u64, new: u64) -> Result<u64, u64> {
        #[cfg(all(target_arch = "x86_64", not(loom), not(miri)))]
        {
            unlocked_compare_exchange(word, current, new)
        }
        #[cfg(not(all(target_arch = "x86_64", not(loom), not(miri))))]
        {
            Shared::compare_exchange(word, current, new)
        }
    }

    #[inline]
    fn increment(counter: &AtomicU64) {
        #[cfg(all(target_arch = "x86_64", not(loom), not(miri)))]
        unlocked_increment(counter);
        #[cfg(not(all(target_arch = "x86_64", not(loom), not(miri))))]
        Shared::increment(counter);
    }
}

/// `cmpxchg` without `lock`: atomic with respect to interrupts on this
/// processor, not with respect to other processors.
#[cfg(all(target_arch = "x86_64", not(loom), not(miri)))]
#[inline]
fn unlocked_compare_exchange(word: &AtomicU64, current: u64, new: u64) -> Result<u64, u64> {
    let found: u64;
    // SAFETY: `word.as_ptr()` is a valid, 8-byte aligned pointer to a live
    // `AtomicU64` (a shared reference to it is held), and an atomic may be
    // written through a shared reference. The instruction compares RAX with
    // the word and either stores `new` (equal) or loads the word into RAX:
    // one aligned 8-byte access each way, so a concurrent reader on another
    // processor sees the old or the new value, never a torn one. No other
    // processor writes the word (the [`ProcessorLocal`] contract), so the
    // missing `lock` loses no update; an interrupt on this processor runs
    // before or after the instruction, never inside it. The flags it
    // changes are declared clobbered (no `preserves_flags`), and the block
    // is not `nomem`, so the compiler neither caches the word across it nor
    // moves other memory accesses over it.
    unsafe {
        core::arch::asm!(
            "cmpxchg qword ptr [{word}], {new}",
            word = in(reg) word.as_ptr(),
            new = in(reg) new,
            inout("rax") current => found,
            options(nostack),
        );
    }
    if found == current { Ok(found) } else { Err(found) }
}

/// `inc` without `lock`: atomic with respect to interrupts on this
/// processor, not with respect to other processors.
#[cfg(all(target_arch = "x86_64", not(loom), not(miri)))]
#[inline]
fn unlocked_increment(counter: &AtomicU64) {
    // SAFETY: `counter.as_ptr()` is a valid, 8-byte aligned pointer to a live
    // `AtomicU64` (a shared reference is held; atomics may be written through
    // one). One read-modify-write instruction: an interrupt on this processor
    // runs before or after it; a reader on another processor sees the old or
    // the new value (aligned 8-byte access). No other processor writes the
    // counter (the [`ProcessorLocal`] contract). Flags are clobbered (declared
    // by omitting `preserves_flags`); the block is not `nomem`.
    unsafe {
        core::arch::asm!(
            "inc qword ptr [{counter}]",
            counter = in(reg) counter.as_ptr(),
            options(nostack),
        );
    }
}
