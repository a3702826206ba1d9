//! Lock-free, allocation-free event rings for kernel code, usable from any
//! IRQL up to `HIGH_LEVEL` (including NMI and bug-check callbacks).
//!
//! - [`ByteRing`] (module [`bytes`]): the driver's pipeline v2. One ring per
//!   processor over caller-provided storage (pool), variable-size records
//!   (a one-word header + the payload's real length, capacity in bytes),
//!   the claim and the record's sequence number in one compare-exchange;
//!   safe against pushes nested by interrupts and NMIs on the same
//!   processor (argued in the module docs, model-checked in
//!   `tests/loom_bytes.rs`).
//! - [`Ring`] (below): a fixed-slot multi-producer ring in static memory,
//!   the v1 pipeline, kept for its proofs and benchmarks.
//!
//! # `Ring`: a bounded multi-producer / single-consumer ring of slots
//!
//! # Protocol
//!
//! [`Ring<T, N>`] holds `N` slots (`N` a power of two, at least 2). Each slot
//! has a *stamp* (an `AtomicUsize`) and room for one `T`. Positions are
//! unbounded counters: the producers' `tail` and the consumer's `head`;
//! position `pos` lives in slot `pos % N` and belongs to lap
//! `lap(pos) = pos - pos % N`. A slot's stamp says what it is ready for:
//!
//! | stamp of slot `pos % N` | meaning                                        |
//! |-------------------------|------------------------------------------------|
//! | `lap(pos)`              | free: position `pos` may be claimed            |
//! | `lap(pos) + 1`          | published: `pos` holds a complete record       |
//! | `lap(pos) + N`          | consumed: free for position `pos + N`          |
//!
//! All stamps start at 0, which means "slot `i` is free for position `i`",
//! so [`Ring::new`] is a `const fn` and a ring can be a `static`.
//!
//! **Push** (any CPU, any IRQL): read `tail` as `pos`, read the stamp of its
//! slot (Acquire).
//! - stamp == `lap(pos)`: try to claim with one `compare_exchange(tail: pos
//!   -> pos + 1)`. On success the slot is ours alone: copy the record in,
//!   then store stamp = `lap(pos) + 1` (Release) to publish it. On failure
//!   another producer claimed `pos`; retry with the `tail` the CAS returned.
//! - stamp < `lap(pos)` (the slot still holds, or is still being written
//!   for, the previous lap): the ring is full. Fail with
//!   [`PushError::Full`].
//! - stamp > `lap(pos)`: our `pos` is stale (someone claimed it); reload
//!   `tail` and retry.
//!
//! **Pop** (one consumer at a time): if the stamp of slot `head % N` is
//! `lap(head) + 1`, copy the record out, store stamp = `lap(head) + N`
//! (Release) and advance `head`; otherwise return `None`.
//!
//! # Bounded work and the retry bound
//!
//! A push never waits for another CPU: it performs at most
//! [`MAX_PUSH_ATTEMPTS`] (= 64) iterations of "load tail, load stamp, maybe
//! one CAS", then one copy of `T` and one store. Every iteration that does
//! not finish the push observed that some *other* producer had claimed the
//! position it targeted (its CAS lost, or the slot was already stamped for
//! that position), so a push only runs out of attempts when other producers
//! win 64 times in a row; it then fails with [`PushError::Contended`] and
//! the caller counts the event as dropped. A
//! full ring fails immediately with [`PushError::Full`]. The consumer side
//! is likewise wait-free: `pop` is a handful of loads and stores.
//!
//! # NMI safety
//!
//! Suppose producer P on CPU 0 claimed position `p` (the CAS succeeded) and
//! is interrupted by an NMI before it published (stamp is still `lap(p)`),
//! and the NMI handler pushes too:
//! - The NMI producer reads `tail >= p + 1`, so it never targets slot `p`;
//!   it claims `p + 1` (or later) with its own CAS and completes. Nothing in
//!   push waits for another producer's progress, so it cannot deadlock on
//!   the interrupted P. If the ring has wrapped all the way round to P's
//!   slot, the NMI producer sees a stamp of the previous lap and reports
//!   `Full`: a drop, not a wait.
//! - If the NMI arrived between P's load of `tail` and its CAS, P's CAS
//!   simply fails after the NMI returns (tail moved) and P retries, within
//!   its attempt bound.
//! - The consumer at `head == p` sees stamp `lap(p)`, not `lap(p) + 1`, and
//!   returns `None`: it never reads the half-written record and never skips
//!   it (head-of-line wait). Records after `p`, such as the NMI's, become
//!   visible once P resumes and publishes.
//! - The same holds if the consumer itself is interrupted: it holds nothing
//!   a producer waits for. A producer whose target slot is being read by an
//!   interrupted consumer sees the slot as not yet consumed and reports
//!   `Full`.
//!
//! # Consumer exclusivity
//!
//! Only one consumer may run at a time. This is enforced: [`Ring::consumer`]
//! takes an atomic flag and returns `None` while another [`Consumer`] is
//! alive, and [`Ring::pop`] returns `None` in that case.
//!
//! # Memory ordering
//!
//! `tail` is only ever CAS'd with `Relaxed`: claims are ordered by the
//! stamps. A producer's Release store of the "published" stamp pairs with
//! the consumer's Acquire load, so the record's bytes are visible before the
//! consumer reads them; the consumer's Release store of the "consumed" stamp
//! pairs with the next producer's Acquire load, so the consumer finished
//! reading before the slot is overwritten. The protocol is model-checked
//! with `loom` (`tests/loom.rs`).
//!
//! Positions wrap around `usize`; stamps are compared with wrapping
//! arithmetic, which is exact as long as fewer than `isize::MAX` pushes are
//! in flight, i.e. always.

#![no_std]

#[cfg(test)]
extern crate std;

use core::fmt;
use core::mem::MaybeUninit;
use core::ops::Deref;

use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Ordering, UnsafeCell};

mod producers;
mod sync;

pub mod bytes;
pub use bytes::{ByteConsumer, ByteRing, ByteRingError, RecordInfo, Word};
pub use producers::{ProcessorLocal, Producers, Shared};

/// Loom builds only: see the `sync` module (runs atomic loads as RMWs so
/// loom explores all interleavings).
#[cfg(loom)]
#[doc(hidden)]
pub use sync::set_rmw_loads as loom_set_rmw_loads;

/// Most claim attempts one push makes before giving up.
///
/// It then fails with [`PushError::Contended`]. Each failed attempt means another producer
/// claimed the position this push targeted, so the bound is only reached
/// when other producers win 64 times in a row (see the crate docs).
pub const MAX_PUSH_ATTEMPTS: usize = 64;

/// Why a push did not store its record. Either way the caller should count
/// the event as dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PushError {
    /// Every slot holds a record not yet consumed (or one still being
    /// written for the previous lap).
    Full,
    /// [`MAX_PUSH_ATTEMPTS`] claim attempts lost to other producers.
    Contended,
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full => "ring full",
            Self::Contended => "ring claim contended",
        })
    }
}

/// Keeps the producers' and the consumer's hot counters on separate cache
/// lines (128 bytes: adjacent-line prefetch pairs 64-byte lines on x86).
#[repr(align(128))]
struct CachePadded<T>(T);

impl<T> Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// One slot: its (possibly uninitialized) record and its stamp.
///
/// Cache-line aligned so that a record never shares a line with its
/// neighbours' (no false sharing between producers filling adjacent slots);
/// with a 512-byte record the record fills 8 lines exactly and the stamp
/// sits in a ninth.
#[repr(C, align(64))]
struct Slot<T> {
    value: UnsafeCell<MaybeUninit<T>>,
    stamp: AtomicUsize,
}

impl<T> Slot<T> {
    #[cfg(not(loom))]
    const fn new() -> Self {
        Self {
            stamp: AtomicUsize::new(0),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    #[cfg(loom)]
    fn new() -> Self {
        Self {
            stamp: AtomicUsize::new(0),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }
}

/// State touched only by the consumer (and read by [`Ring::len`]).
struct ConsumerState {
    /// Next position to pop.
    head: AtomicUsize,
    /// Set while a [`Consumer`] exists.
    busy: AtomicBool,
}

/// A bounded lock-free MPSC ring of `N` records of type `T`.
///
/// See the [crate documentation](crate) for the protocol, the retry bound
/// and the NMI-safety argument.
pub struct Ring<T, const N: usize> {
    /// Next position to claim (producers).
    tail: CachePadded<AtomicUsize>,
    consumer: CachePadded<ConsumerState>,
    slots: [Slot<T>; N],
}

// SAFETY: records move from producer threads to the consumer thread through
// the slots, which requires `T: Send`. Shared access to a slot's `value` is
// serialized by the stamp protocol: only the producer whose CAS claimed a
// position writes its slot, and only between the claim and the Release
// store that publishes it; readers (the single consumer, or a snapshot that
// excludes the consumer) only read slots whose stamp they observed
// published with an Acquire load, and producers only overwrite a slot after
// the consumer's Release store marked it consumed.
unsafe impl<T: Send, const N: usize> Sync for Ring<T, N> {}

impl<T: Copy, const N: usize> Ring<T, N> {
    const MASK: usize = {
        assert!(
            N.is_power_of_two() && N >= 2,
            "Ring capacity must be a power of two >= 2"
        );
        N - 1
    };

    /// An empty ring (usable in a `static`).
    #[cfg(not(loom))]
    #[must_use]
    pub const fn new() -> Self {
        let _ = Self::MASK;
        Self {
            tail: CachePadded(AtomicUsize::new(0)),
            consumer: CachePadded(ConsumerState {
                head: AtomicUsize::new(0),
                busy: AtomicBool::new(false),
            }),
            slots: [const { Slot::new() }; N],
        }
    }

    /// An empty ring (loom build: not `const`).
    #[cfg(loom)]
    #[must_use]
    pub fn new() -> Self {
        let _ = Self::MASK;
        Self {
            tail: CachePadded(AtomicUsize::new(0)),
            consumer: CachePadded(ConsumerState {
                head: AtomicUsize::new(0),
                busy: AtomicBool::new(false),
            }),
            slots: core::array::from_fn(|_| Slot::new()),
        }
    }

    /// Number of slots.
    #[must_use]
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Approximate number of claimed, not yet consumed records (exact when
    /// no push or pop runs concurrently).
    #[must_use]
    pub fn len(&self) -> usize {
        // head first: head never passes tail, so a later tail load is >= it.
        let head = self.consumer.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        tail.wrapping_sub(head).min(N)
    }

    /// Whether [`len`](Self::len) is 0.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies `value` into the ring. Lock-free with bounded work (see
    /// [`MAX_PUSH_ATTEMPTS`]); callable at any IRQL, from any number of CPUs,
    /// and re-entrantly from an NMI that interrupted another push.
    ///
    /// # Errors
    /// [`PushError::Full`] or [`PushError::Contended`]; the record was not
    /// stored and the caller should count a drop.
    #[inline]
    pub fn push(&self, value: &T) -> Result<(), PushError> {
        let (slot, lap) = self.claim()?;
        Self::publish(slot, lap, value);
        Ok(())
    }

    /// Claims the next free position: returns its slot and lap. The caller
    /// must then [`publish`](Self::publish) it, or the consumer stalls there.
    #[inline]
    fn claim(&self) -> Result<(&Slot<T>, usize), PushError> {
        let mut pos = self.tail.load(Ordering::Relaxed);
        for _ in 0..MAX_PUSH_ATTEMPTS {
            let slot = &self.slots[pos & Self::MASK];
            let lap = pos & !Self::MASK;
            let stamp = slot.stamp.load(Ordering::Acquire);
            #[allow(
                clippy::cast_possible_wrap,
                reason = "wrapping distance between stamps, see crate docs"
            )]
            let distance = stamp.wrapping_sub(lap) as isize;
            #[allow(
                clippy::comparison_chain,
                reason = "an if chain compiles to tighter code here"
            )]
            if distance == 0 {
                // Free for `pos`: try to claim it.
                match self.tail.compare_exchange(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Ok((slot, lap)),
                    Err(current) => pos = current,
                }
            } else if distance < 0 {
                // Still holds (or is being written for) the previous lap.
                return Err(PushError::Full);
            } else {
                // `pos` was claimed by another producer: reload.
                pos = self.tail.load(Ordering::Relaxed);
            }
        }
        Err(PushError::Contended)
    }

    /// Writes `value` into a slot claimed by [`claim`](Self::claim) and
    /// publishes it.
    #[inline]
    fn publish(slot: &Slot<T>, lap: usize, value: &T) {
        slot.value.with_mut(|ptr| {
            // SAFETY: the successful CAS in `claim` made this producer the
            // only one that may write this slot until it publishes; the
            // consumer finished reading the previous record before marking
            // the slot free (Release), which `claim` observed (Acquire); the
            // slot is not published, so nobody reads it. `ptr` points to a
            // valid `MaybeUninit<T>`, which has `T`'s layout.
            unsafe { ptr.cast::<T>().write(*value) };
        });
        slot.stamp.store(lap.wrapping_add(1), Ordering::Release);
    }

    /// Takes the consumer role, or `None` if another [`Consumer`] is alive.
    #[must_use]
    pub fn consumer(&self) -> Option<Consumer<'_, T, N>> {
        match self
            .consumer
            .busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => Some(Consumer { ring: self }),
            Err(_) => None,
        }
    }

    /// Pops the oldest record, or `None` if the ring is empty, the oldest
    /// claimed record is not yet published, or another consumer is active.
    ///
    /// Convenience for `self.consumer()?.pop()`; hold a [`Consumer`] to pop
    /// many records with one flag acquisition.
    #[must_use]
    pub fn pop(&self) -> Option<T> {
        self.consumer()?.pop()
    }

    /// Copies up to `out.len()` of the newest published, unconsumed records
    /// into `out` (oldest first) without consuming them, and returns how
    /// many were copied. Claimed-but-unpublished records are skipped.
    ///
    /// Takes the consumer role for the duration; returns 0 if a consumer is
    /// active. Because published records cannot be overwritten before they
    /// are consumed, the copied records are never torn, even with producers
    /// running; but the set is only a consistent "latest N" picture when
    /// producers are quiescent (e.g. in a bug-check callback, where all
    /// other CPUs are frozen). If the consumer may have been frozen while
    /// active, use [`snapshot_newest_unsynchronized`](Self::snapshot_newest_unsynchronized).
    pub fn snapshot_newest(&self, out: &mut [T]) -> usize {
        self.consumer().map_or(0, |c| c.snapshot_newest(out))
    }

    /// Like [`snapshot_newest`](Self::snapshot_newest), without taking the
    /// consumer role (for the crash-dump flight recorder, whose consumer may
    /// have been frozen mid-`pop` by the bug check).
    ///
    /// # Safety
    /// No `pop` (or other consumer activity) may execute concurrently on
    /// another CPU: consumers must be absent, or stopped for good (frozen by
    /// a bug check), or suspended on this CPU (the caller interrupted them).
    /// Producers may run.
    pub unsafe fn snapshot_newest_unsynchronized(&self, out: &mut [T]) -> usize {
        self.snapshot_inner(out)
    }

    /// Shared by the snapshot functions. The caller excludes concurrent
    /// consumers (by holding the consumer flag or by the safety contract of
    /// `snapshot_newest_unsynchronized`).
    fn snapshot_inner(&self, out: &mut [T]) -> usize {
        let head = self.consumer.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        let span = tail.wrapping_sub(head).min(N);
        let mut copied = 0;
        let mut pos = tail;
        for _ in 0..span {
            if copied == out.len() {
                break;
            }
            pos = pos.wrapping_sub(1);
            let slot = &self.slots[pos & Self::MASK];
            if slot.stamp.load(Ordering::Acquire) == (pos & !Self::MASK).wrapping_add(1) {
                out[copied] = slot.value.with(|ptr| {
                    // SAFETY: the Acquire load saw the slot published for
                    // `pos`, so it holds an initialized `T` whose writes
                    // happened-before this read; no producer can overwrite it
                    // until a consumer marks it consumed, and no consumer
                    // runs concurrently (caller's contract).
                    unsafe { ptr.cast::<T>().read() }
                });
                copied += 1;
            }
        }
        out[..copied].reverse();
        copied
    }
}

impl<T: Copy, const N: usize> Default for Ring<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize> fmt::Debug for Ring<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &N)
            .field("tail", &self.tail.load(Ordering::Relaxed))
            .field("head", &self.consumer.head.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The single consumer of a [`Ring`]; releases the role when dropped.
pub struct Consumer<'a, T: Copy, const N: usize> {
    ring: &'a Ring<T, N>,
}

impl<T: Copy, const N: usize> Consumer<'_, T, N> {
    /// Pops the oldest record, or `None` if the ring is empty or the oldest
    /// claimed record is not yet published (its producer is still writing
    /// it, possibly interrupted on its CPU: never skipped, never read torn).
    #[must_use]
    pub fn pop(&mut self) -> Option<T> {
        let ring = self.ring;
        let head = ring.consumer.head.load(Ordering::Relaxed);
        let slot = &ring.slots[head & Ring::<T, N>::MASK];
        let lap = head & !Ring::<T, N>::MASK;
        if slot.stamp.load(Ordering::Acquire) != lap.wrapping_add(1) {
            return None;
        }
        let value = slot.value.with(|ptr| {
            // SAFETY: the Acquire load saw the slot published for `head`, so
            // it holds an initialized `T` whose writes happened-before this
            // read; producers cannot write it until the Release store below;
            // this is the only consumer (flag held).
            unsafe { ptr.cast::<T>().read() }
        });
        slot.stamp.store(lap.wrapping_add(N), Ordering::Release);
        ring.consumer.head.store(head.wrapping_add(1), Ordering::Release);
        Some(value)
    }

    /// See [`Ring::snapshot_newest`].
    pub fn snapshot_newest(&self, out: &mut [T]) -> usize {
        self.ring.snapshot_inner(out)
    }
}

impl<T: Copy, const N: usize> Iterator for Consumer<'_, T, N> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.pop()
    }
}

impl<T: Copy, const N: usize> Drop for Consumer<'_, T, N> {
    fn drop(&mut self) {
        self.ring.consumer.busy.store(false, Ordering::Release);
    }
}

/// Counters of one source.
#[derive(Debug)]
pub struct SourceCounter {
    /// Events seen (callback fired).
    pub seen: AtomicU64,
    /// Events pushed into the ring.
    pub recorded: AtomicU64,
    /// Events dropped (push failed).
    pub dropped: AtomicU64,
}

impl SourceCounter {
    #[cfg(not(loom))]
    const fn new() -> Self {
        Self {
            seen: AtomicU64::new(0),
            recorded: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    #[cfg(loom)]
    fn new() -> Self {
        Self {
            seen: AtomicU64::new(0),
            recorded: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Reads the three counters (each individually; `Relaxed`).
    #[must_use]
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            seen: self.seen.load(Ordering::Relaxed),
            recorded: self.recorded.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// A copy of one source's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Events seen.
    pub seen: u64,
    /// Events recorded.
    pub recorded: u64,
    /// Events dropped.
    pub dropped: u64,
}

impl CounterSnapshot {
    /// The sum of two snapshots, counter by counter (wrapping, as the
    /// counters themselves do).
    #[must_use]
    pub const fn wrapping_add(self, other: Self) -> Self {
        Self {
            seen: self.seen.wrapping_add(other.seen),
            recorded: self.recorded.wrapping_add(other.recorded),
            dropped: self.dropped.wrapping_add(other.dropped),
        }
    }
}

/// Per-source `seen` / `recorded` / `dropped` counters for `S` sources, plus
/// the global event sequence. All updates are single `Relaxed` atomic adds,
/// safe at any IRQL.
#[derive(Debug)]
pub struct SourceCounters<const S: usize> {
    sources: [SourceCounter; S],
    sequence: AtomicU64,
}

impl<const S: usize> SourceCounters<S> {
    /// All counters zero (usable in a `static`).
    #[cfg(not(loom))]
    #[must_use]
    pub const fn new() -> Self {
        Self {
            sources: [const { SourceCounter::new() }; S],
            sequence: AtomicU64::new(0),
        }
    }

    /// All counters zero (loom build: not `const`).
    #[cfg(loom)]
    #[must_use]
    pub fn new() -> Self {
        Self {
            sources: core::array::from_fn(|_| SourceCounter::new()),
            sequence: AtomicU64::new(0),
        }
    }

    /// The counters of source `index`, if in range.
    #[must_use]
    pub fn get(&self, index: usize) -> Option<&SourceCounter> {
        self.sources.get(index)
    }

    /// Returns the next global sequence number (1, 2, 3, ...). Call once per
    /// event seen, before pushing, so gaps in recorded sequences reveal drops.
    #[must_use]
    pub fn next_sequence(&self) -> u64 {
        self.sequence.fetch_add(1, Ordering::Relaxed).wrapping_add(1)
    }

    /// Copies every source's counters.
    #[must_use]
    pub fn snapshot(&self) -> [CounterSnapshot; S] {
        core::array::from_fn(|i| self.sources[i].snapshot())
    }

    /// Sums of the counters over all sources.
    #[must_use]
    pub fn totals(&self) -> CounterSnapshot {
        self.sources
            .iter()
            .map(SourceCounter::snapshot)
            .fold(CounterSnapshot::default(), CounterSnapshot::wrapping_add)
    }
}

impl<const S: usize> Default for SourceCounters<S> {
    fn default() -> Self {
        Self::new()
    }
}

/// Records one event of source `source_index`: bumps `seen`, pushes `value`
/// into `ring`, then bumps `recorded` (returns `true`) or `dropped`
/// (returns `false`).
///
/// An out-of-range `source_index` is a caller bug: nothing is pushed or
/// counted and `false` is returned.
#[inline]
pub fn record<T: Copy, const N: usize, const S: usize>(
    ring: &Ring<T, N>,
    counters: &SourceCounters<S>,
    source_index: usize,
    value: &T,
) -> bool {
    counted::<Shared, S>(counters, source_index, || ring.push(value).is_ok())
}

/// Records one event of source `source_index` in a [`ByteRing`].
///
/// Bumps `seen`, pushes `bytes` as one record, then bumps `recorded`
/// (returns `true`) or `dropped` (returns `false`). The bumps follow the
/// ring's [`Producers`] discipline `P` (processor-local adds for a ring made
/// with [`ByteRing::new_processor_local`], whose contract then covers
/// `counters` too). An out-of-range `source_index` is a caller bug: nothing
/// is pushed or counted and `false` is returned.
#[inline]
#[allow(clippy::must_use_candidate, reason = "a dropped event is already counted")]
pub fn record_bytes<P: Producers, const S: usize>(
    ring: &ByteRing<'_, P>,
    counters: &SourceCounters<S>,
    source_index: usize,
    bytes: &[u8],
) -> bool {
    counted::<P, S>(counters, source_index, || ring.push(bytes).is_ok())
}

/// The counting shared by [`record`] and [`record_bytes`]: bumps `seen`,
/// runs `push`, then bumps `recorded` or `dropped` by its outcome, with the
/// instructions of discipline `P`. An out-of-range `source_index` counts and
/// pushes nothing.
#[allow(clippy::inline_always, reason = "on the push path, as ByteRing::push")]
#[inline(always)]
fn counted<P: Producers, const S: usize>(
    counters: &SourceCounters<S>,
    source_index: usize,
    push: impl FnOnce() -> bool,
) -> bool {
    let Some(counter) = counters.get(source_index) else {
        return false;
    };
    P::increment(&counter.seen);
    let pushed = push();
    P::increment(if pushed {
        &counter.recorded
    } else {
        &counter.dropped
    });
    pushed
}

#[cfg(all(test, not(loom)))]
mod tests;
