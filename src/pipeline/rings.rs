//! The event rings: one [`ByteRing`] per processor plus the client queue,
//! all in one block of non-paged NX pool allocated at `DriverEntry` and
//! freed at unload.
//!
//! # One ring per processor, sized once
//!
//! The set has `KeQueryMaximumProcessorCountEx(ALL_PROCESSOR_GROUPS)` rings,
//! indexed by `KeGetCurrentProcessorNumberEx` (a system-wide index across
//! all groups, always below that count). The maximum count includes the
//! processors that may be hot-added later (wdm/nf-wdm-kequerymaximumprocessorcountex),
//! so a processor that arrives through the ProcessorChange notification
//! already has its ring: nothing is allocated or published while
//! producers run, which keeps the push free of any lookup that could race
//! with a resize. The cost is memory for processors that never come, only on
//! machines configured for hot-add.
//!
//! # The push window
//!
//! A push reads the processor number, claims, copies and publishes. If a
//! thread were preempted (or moved to another processor) inside that
//! window, its ring's consumer would stall at the unpublished record until
//! the thread ran again. So [`push`] raises to `DISPATCH_LEVEL` when called
//! below it (`KeRaiseIrql`/`KeLowerIrql`: on x64 a CR8 write each) and pushes
//! as it is at `DISPATCH_LEVEL` and above (interrupts, NMIs, bug check);
//! see [`crate::pipeline::window::in_window`].
//! Inside the window only nested interrupts run on this processor; see
//! `kcb_ring::bytes` for why they are safe.
//!
//! # Counters
//!
//! Each processor has its own per-source `seen/recorded/dropped` counters
//! next to its ring (no shared cache line between processors); the totals
//! are their sums, plus [`UNRINGED`] for events no ring could take (before
//! the rings exist, after they are freed, or a processor index out of
//! range, which the documented count rules out).

use core::mem::{align_of, size_of};
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use kcb_proto::SOURCE_COUNT;
use kcb_ring::{ByteRing, CounterSnapshot, SourceCounters, Word};
use wdk_sys::ntddk::KeQueryMaximumProcessorCountEx;

use crate::kernel::pool;

/// `ALL_PROCESSOR_GROUPS` (wdm.h).
const ALL_PROCESSOR_GROUPS: u16 = 0xFFFF;

/// Default ring size per processor (`RingKiBPerProcessor`).
pub const DEFAULT_RING_KIB: u32 = kcb_proto::params::DEFAULT_RING_KIB;
/// Smallest ring the driver falls back to when pool is short.
pub const MIN_RING_KIB: u32 = kcb_proto::params::MIN_RING_KIB;

/// One processor's ring and counters.
pub struct ProcessorRing {
    /// The ring. Pushed only through `window::push_in_window` (its processor-local
    /// claim relies on that, see [`processor_ring`]); read by the drain, the
    /// bug-check summary and the flight recorder.
    pub ring: ByteRing<'static, ProcessorProducers>,
    /// Per-source counters of the events pushed on this processor, bumped
    /// only beside the pushes (processor-local, like the claim; only
    /// [`crate::pipeline::window`] pushes).
    pub(crate) counters: SourceCounters<SOURCE_COUNT>,
    /// Per source, the events of this processor that reached its ring but
    /// not the client queue (the drain found it full). Written only by the
    /// drain, the ring's single consumer, so never at the same time as
    /// another write: the processor-local counters above stay unshared.
    undelivered: [AtomicU64; SOURCE_COUNT],
}

impl ProcessorRing {
    /// This processor's counters per source: `recorded` counts the events
    /// delivered or still on their way, `dropped` those refused by the
    /// ring or not delivered.
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub fn counters(&self) -> [CounterSnapshot; SOURCE_COUNT] {
        let mut counts = self.counters.snapshot();
        for (count, undelivered) in counts.iter_mut().zip(&self.undelivered) {
            let undelivered = undelivered.load(Ordering::Relaxed);
            count.recorded = count.recorded.wrapping_sub(undelivered);
            count.dropped = count.dropped.wrapping_add(undelivered);
        }
        counts
    }
}

/// The rings, at the start of their pool block.
pub struct RingSet {
    processors: u32,
    ring_bytes: usize,
    /// Records the drain moved on for the user-mode client (`READ_EVENTS`).
    client: ByteRing<'static>,
    per_processor: *const ProcessorRing,
}

// SAFETY: invariant (established by `allocate`, which builds the set in
// its pool block before publishing it, and kept by `free`, which
// unpublishes it before freeing the block): after publication the set is
// never written except through atomics (the rings and counters), and
// `per_processor` points into the same block, which outlives every reader.
unsafe impl Sync for RingSet {}

static SET: AtomicPtr<RingSet> = AtomicPtr::new(ptr::null_mut());

/// Events that no ring could take (no ring set, or a processor index out
/// of range): counted seen + dropped here.
pub static UNRINGED: SourceCounters<SOURCE_COUNT> = SourceCounters::new();

impl RingSet {
    /// Number of per-processor rings.
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub const fn processors(&self) -> u32 {
        self.processors
    }

    /// Bytes of each per-processor ring.
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub const fn ring_bytes(&self) -> usize {
        self.ring_bytes
    }

    /// The client queue.
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub const fn client(&self) -> &ByteRing<'static> {
        &self.client
    }

    /// The rings, by processor index.
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub const fn per_processor(&self) -> &[ProcessorRing] {
        // SAFETY: `processors` initialised rings follow the set in its block
        // (see `allocate`), alive while the set is.
        unsafe { core::slice::from_raw_parts(self.per_processor, self.processors as usize) }
    }

    /// Bytes in use over all rings and the client queue.
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub fn used_bytes(&self) -> usize {
        self.per_processor()
            .iter()
            .map(|p| p.ring.used_bytes())
            .sum::<usize>()
            + self.client.used_bytes()
    }

    /// Capacity over all rings and the client queue.
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub const fn capacity_bytes(&self) -> usize {
        self.ring_bytes * self.processors as usize + self.client.capacity_bytes()
    }
}

/// The published ring set, if allocated.
///
/// # IRQL
/// Any.
#[must_use]
pub fn get() -> Option<&'static RingSet> {
    // SAFETY: a non-null pointer is a fully initialised set, published with
    // Release after initialisation, and freed only at unload after every
    // producer and consumer stopped (`free`).
    unsafe { SET.load(Ordering::Acquire).as_ref() }
}

const fn align_up(value: usize, align: usize) -> usize {
    value.div_ceil(align) * align
}

/// Offsets in the pool block: (rings, words, total).
const fn layout(processors: usize, ring_bytes: usize) -> (usize, usize, usize) {
    let rings = align_up(size_of::<RingSet>(), align_of::<ProcessorRing>());
    let words = align_up(rings + processors * size_of::<ProcessorRing>(), 64);
    // Per-processor rings, then the client queue (as large as one ring).
    (rings, words, words + ring_bytes * (processors + 1))
}

/// Why the rings could not be allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfPool;

/// Allocates and publishes the ring set; returns the KiB per ring obtained.
///
/// One ring of `kib` KiB per possible processor plus the client queue. If
/// pool cannot provide that, halves the ring size down to [`MIN_RING_KIB`]
/// (each attempt reported).
///
/// # Errors
/// [`OutOfPool`] when even the smallest set cannot be allocated; nothing
/// is allocated then.
///
/// # IRQL
/// PASSIVE_LEVEL.
pub fn allocate(kib: u32) -> Result<u32, OutOfPool> {
    // SAFETY: any IRQL; ALL_PROCESSOR_GROUPS counts every group.
    let processors = unsafe { KeQueryMaximumProcessorCountEx(ALL_PROCESSOR_GROUPS) }.max(1);
    let mut kib = kib.max(MIN_RING_KIB);
    loop {
        let ring_bytes = kib as usize * 1024;
        let (rings_at, words_at, total) = layout(processors as usize, ring_bytes);
        let block = pool::allocate(pool::Pool::NonPagedNx, total, pool::RING_TAG);
        if block.is_null() {
            crate::kprintln!(
                "rings: cannot allocate {processors} x {kib} KiB ({total} bytes) of non-paged pool"
            );
            if kib <= MIN_RING_KIB {
                return Err(OutOfPool);
            }
            kib /= 2;
            continue;
        }
        // SAFETY: a fresh block of `total` bytes, page aligned (>= 4096
        // bytes, wdm/nf-wdm-exallocatepool2), so every offset below is
        // aligned for its type; nothing else knows the block yet.
        unsafe { initialise(block, processors, ring_bytes, rings_at, words_at, total) };
        crate::kprintln!(
            "rings: {processors} processors x {kib} KiB + client queue {kib} KiB ({total} bytes of non-paged NX pool)"
        );
        return Ok(kib);
    }
}

/// Builds the set in `block` and publishes it.
///
/// # Safety
/// `block` is a fresh, exclusive, page-aligned allocation of `total` bytes
/// laid out by [`layout`].
#[allow(
    clippy::cast_ptr_alignment,
    reason = "the block is page aligned and every offset is aligned for its type (layout)"
)]
unsafe fn initialise(
    block: *mut u8,
    processors: u32,
    ring_bytes: usize,
    rings_at: usize,
    words_at: usize,
    total: usize,
) {
    let word_count = ring_bytes / size_of::<Word>();
    let word_area = block.wrapping_add(words_at);
    // Zero-filled memory is a valid `[Word]` (AtomicU64 has u64's layout);
    // ByteRing::new zeroes its words anyway.
    // SAFETY: [words_at, total) is inside the block (layout), exclusive.
    unsafe { word_area.write_bytes(0, total - words_at) };
    let words = |index: usize| -> &'static [Word] {
        let first = word_area.cast::<Word>().wrapping_add(index * word_count);
        // SAFETY: ring `index` owns words [index * word_count, +word_count)
        // of the word area, inside the block, aligned, zero-initialised; the
        // block lives until `free`, after which no reference is used.
        unsafe { core::slice::from_raw_parts(first, word_count) }
    };
    let rings = block.wrapping_add(rings_at).cast::<ProcessorRing>();
    for index in 0..processors as usize {
        let slot = rings.wrapping_add(index);
        // SAFETY: slot `index` of the ring array, inside the block, aligned.
        unsafe {
            slot.write(ProcessorRing {
                ring: processor_ring(words(index)),
                counters: SourceCounters::new(),
                undelivered: [const { AtomicU64::new(0) }; SOURCE_COUNT],
            });
        };
    }
    let set = block.cast::<RingSet>();
    // SAFETY: offset 0 of the block, aligned (page).
    unsafe {
        set.write(RingSet {
            processors,
            ring_bytes,
            client: ByteRing::new(words(processors as usize)),
            per_processor: rings,
        });
    };
    SET.store(set, Ordering::Release);
}

/// How the per-processor rings are pushed: [`kcb_ring::ProcessorLocal`] in
/// the kernel (see [`processor_ring`]).
#[cfg(target_os = "windows")]
pub type ProcessorProducers = kcb_ring::ProcessorLocal;
/// How the per-processor rings are pushed: [`kcb_ring::Shared`] on the host,
/// where the kernel model's processors are threads that share a number.
#[cfg(not(target_os = "windows"))]
pub type ProcessorProducers = kcb_ring::Shared;

/// The ring of one processor.
///
/// In the kernel every push into ring N runs on processor N inside
/// [`crate::pipeline::window::in_window`] (`DISPATCH_LEVEL` or above: no
/// preemption, no migration),
/// so pushes on it only nest, and the ring claims and counts with
/// processor-local instructions (`kcb_ring`'s `producers` module: no `lock`
/// prefix on x64, which keeps the push from waiting for the previous
/// record's stores to drain). The kernel model's processors are host threads that share a
/// processor number, so host builds use the shared (locked) claim; the
/// protocol is the same.
fn processor_ring(words: &'static [Word]) -> ByteRing<'static, ProcessorProducers> {
    #[cfg(target_os = "windows")]
    {
        // SAFETY: only `push_raised` pushes into a processor's ring (and
        // bumps its `counters`, in `record_bytes`), reached
        // through `push_in_window` with a `Window`, which only `in_window`
        // makes: its index was read at DISPATCH_LEVEL or above on the
        // processor itself, and the window holds that IRQL while the borrow
        // lives. Nothing else pushes into it (the client queue is a
        // separate ring).
        unsafe { ByteRing::new_processor_local(words) }
    }
    #[cfg(not(target_os = "windows"))]
    ByteRing::new(words)
}

/// Unpublishes and frees the set.
///
/// # Safety
/// Every producer (notify routine) and consumer (drain, IOCTL) has stopped
/// and none can start again: DriverUnload after everything was unregistered.
///
/// # IRQL
/// PASSIVE_LEVEL.
pub unsafe fn free() {
    let set = SET.swap(ptr::null_mut(), Ordering::AcqRel);
    if !set.is_null() {
        // SAFETY: the block from `allocate`, freed once (the pointer was
        // swapped out); no user remains (caller's contract). The rings hold
        // no resources, so nothing needs dropping.
        unsafe { pool::free(set.cast(), pool::RING_TAG) };
    }
}

/// Sums of every processor's counters (and [`UNRINGED`]), per source.
///
/// # IRQL
/// Any.
#[must_use]
pub fn counters() -> [CounterSnapshot; SOURCE_COUNT] {
    let mut sums = UNRINGED.snapshot();
    if let Some(set) = get() {
        for ring in set.per_processor() {
            for (sum, counter) in sums.iter_mut().zip(ring.counters()) {
                *sum = sum.wrapping_add(counter);
            }
        }
    }
    sums
}

/// Totals over all sources of [`counters`].
///
/// # IRQL
/// Any.
#[must_use]
pub fn totals() -> CounterSnapshot {
    counters()
        .into_iter()
        .fold(CounterSnapshot::default(), CounterSnapshot::wrapping_add)
}

/// Moves one event of `source`, pushed on `processor`, from "recorded" to
/// "dropped": it reached its ring but could not be delivered (the client
/// queue was full).
///
/// # IRQL
/// Any.
pub fn reclassify_as_dropped(processor: u32, source: usize) {
    let undelivered = get()
        .and_then(|set| set.per_processor().get(processor as usize))
        .and_then(|ring| ring.undelivered.get(source));
    if let Some(undelivered) = undelivered {
        undelivered.fetch_add(1, Ordering::Relaxed);
    }
}
