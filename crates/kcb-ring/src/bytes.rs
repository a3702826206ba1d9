//! [`ByteRing`]: a per-processor ring of variable-size records over
//! caller-provided storage (pool memory in the driver).
//!
//! # Layout
//!
//! The storage is a slice of 64-bit words (`AtomicU64`, so that a reader may
//! look at a word while a producer writes another one without a data race);
//! the ring uses its largest power-of-two prefix. A record occupies
//! `1 + ceil(len / 8)` consecutive words (modulo the capacity, so a record
//! may wrap around the end): one *header* word, then the payload, whose last
//! word is zero-padded. The header is
//!
//! ```text
//! bit 0        1 = published (0 = free, or claimed and still being written)
//! bits 1..32   payload length in bytes
//! bits 32..64  the low 32 bits of the record's sequence number
//! ```
//!
//! **Every word that is not part of a claimed record is zero.** The storage
//! is zeroed by [`ByteRing::new`], and the consumer zeroes each record's
//! words before it hands them back to the producers. A non-zero header is
//! therefore always a published record of the current lap, never a stale
//! payload word of an earlier one.
//!
//! # Positions and the sequence
//!
//! Positions count words (wrapping `u32`; the capacity is at most 2^30
//! words, so distances are exact). Producers share one atomic word,
//! `state = (sequence << 32) | tail`: a push reads it, checks the free space
//! against `free` (the position up to which the consumer has zeroed), and
//! claims with one compare-exchange that advances `tail` by the record's
//! size **and** the sequence by one. A push that finds no room performs the
//! same compare-exchange with only the sequence advanced (a counted drop
//! that leaves a gap in the sequence). So the claim and the sequence number
//! are one atomic step: a record's sequence is its rank among the events
//! this ring saw, and records sit in the ring in sequence order even when a
//! push is interrupted by a nested push (issue #12 item 9). The consumer
//! extends the 32-bit sequence to 64 bits (it sees every record in order;
//! fewer than 2^32 consecutive drops keep the extension exact).
//!
//! The compare-exchange is the ordinary (locked) one for a ring made with
//! [`ByteRing::new`]; a ring made with [`ByteRing::new_processor_local`],
//! whose pushes only ever nest on one processor, claims with an unlocked
//! `cmpxchg` on x86-64 (the module `producers` argues why that is enough
//! and what it saves).
//!
//! # Who pushes: one processor, nested interrupts
//!
//! In the driver each processor has its own ring, and a producer pushes at
//! `DISPATCH_LEVEL` or above (it raises for the claim-copy-publish window),
//! so it is never preempted by another thread and never migrates. The only
//! other producers on that ring are interrupts and NMIs that arrive on the
//! same processor while a push is in progress, and they *nest*: the inner
//! push runs to completion before the outer one resumes.
//! - Interrupt between the outer push's load of `state` and its
//!   compare-exchange: the inner push claims and publishes; the outer
//!   compare-exchange fails (state moved) and retries with the new value.
//!   Each failure means a nested push completed, so [`MAX_PUSH_ATTEMPTS`]
//!   failures in a row only happen under an interrupt storm; the push then
//!   gives up ([`ByteRingError::Contended`]), bumping the sequence so the drop
//!   still leaves a gap.
//! - Interrupt after the outer claim, before its publish (the outer header
//!   is still 0): the inner push reads `tail` past the outer record and
//!   claims the next words; it never touches the outer record and waits for
//!   nothing, so it cannot deadlock on the interrupted push (an NMI can
//!   interrupt anything and still completes). The consumer stops at the
//!   unpublished outer header and never reads a half-written record; the
//!   inner record becomes visible after the outer one is published, which
//!   happens as soon as the interrupt returns (not after a thread is
//!   rescheduled: the outer push runs at `DISPATCH_LEVEL` or above).
//! - A full ring makes the push fail at once with [`ByteRingError::Full`]; a
//!   record larger than the whole ring with [`ByteRingError::TooLarge`]. Either
//!   way nothing is written: a record is stored whole or not at all.
//!
//! Nested pushes are a subset of the interleavings of two concurrent
//! producers on one ring, so the protocol is also correct (lock-free, no
//! torn record) if several processors push into the same ring, as happens
//! under a kernel that does not pin the pushing thread (the model checker
//! explores exactly that general case, `tests/loom.rs`). What per-processor
//! rings buy is that producers on different processors never share a cache
//! line.
//!
//! # Consumer
//!
//! One consumer at a time (an atomic flag, [`ByteRing::consumer`]). It reads
//! the header at `head` (Acquire, pairs with the producer's Release store),
//! copies the payload, and on [`ByteConsumer::consume`] first advances
//! `head` (Release), then zeroes the record's words, then advances `free`
//! (Release, pairs with the producers' Acquire load before they write). A
//! crash-dump reader that runs while the consumer is frozen therefore starts
//! at `head`, which never points into words being zeroed.
//!
//! # Bounded work
//!
//! A push is at most [`MAX_PUSH_ATTEMPTS`] iterations of "load free, one
//! compare-exchange", then one store per payload word and the header store.
//! The consumer never waits either.

use core::fmt;
use core::marker::PhantomData;

use crate::producers::{ProcessorLocal, Producers, Shared};
use crate::sync::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use crate::{CachePadded, MAX_PUSH_ATTEMPTS};

/// One word of ring storage: `core::sync::atomic::AtomicU64` (loom's
/// under `--cfg loom`). Zero-initialised memory is a valid `[Word]`.
pub type Word = AtomicU64;

/// Bytes of one storage word.
pub const WORD_BYTES: usize = 8;

/// Largest payload a record may carry (31-bit length field; the ring's own
/// capacity is the practical limit).
pub const MAX_RECORD_BYTES: usize = (1 << 30) - 1;

/// Most words a ring uses (positions are wrapping `u32`s).
const MAX_WORDS: usize = 1 << 30;

const PUBLISHED: u64 = 1;

/// Why a push did not store its record. The caller counts a drop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteRingError {
    /// Not enough free space for the whole record.
    Full,
    /// The record is larger than the ring (or than [`MAX_RECORD_BYTES`]).
    TooLarge,
    /// [`MAX_PUSH_ATTEMPTS`] compare-exchanges lost to other pushes.
    Contended,
}

impl fmt::Display for ByteRingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full => "ring full",
            Self::TooLarge => "record larger than the ring",
            Self::Contended => "ring claim contended",
        })
    }
}

/// Consumer-side state.
struct ConsumerSide {
    /// Position of the oldest record not yet consumed.
    head: AtomicU32,
    /// Position up to which words are zero and free for producers.
    free: AtomicU32,
    /// Sequence of the last consumed record (0 before the first).
    last_sequence: AtomicU64,
    /// Set while a [`ByteConsumer`] exists.
    busy: AtomicBool,
}

/// A record at the head of the ring, as [`ByteConsumer::peek`] sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordInfo {
    /// The record's sequence number among the events this ring saw
    /// (1-based; a gap means events were dropped in between).
    pub sequence: u64,
    /// Payload length in bytes.
    pub len: usize,
    /// Position of the header word.
    position: u32,
}

/// A lock-free ring of variable-size byte records over borrowed storage.
///
/// See the [module documentation](self) for the protocol and the
/// nested-interrupt argument.
pub struct ByteRing<'a, P: Producers = Shared> {
    /// `(sequence << 32) | tail` (producers).
    state: CachePadded<AtomicU64>,
    consumer: CachePadded<ConsumerSide>,
    words: &'a [AtomicU64],
    mask: u32,
    /// Who pushes (`crate::producers`): a type-level discipline, no field.
    producers: PhantomData<P>,
}

impl<P: Producers> fmt::Debug for ByteRing<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteRing")
            .field("capacity_bytes", &self.capacity_bytes())
            .field("state", &self.state.load(Ordering::Relaxed))
            .field("head", &self.consumer.head.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

const fn words_for(len: usize) -> usize {
    1 + len.div_ceil(WORD_BYTES)
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "positions are wrapping u32 by design"
)]
const fn low32(value: u64) -> u32 {
    value as u32
}

impl<'a> ByteRing<'a> {
    /// A ring over `words` (its largest power-of-two prefix, at most 2^30
    /// words, is used). Zeroes the storage.
    ///
    /// # Panics
    /// If `words` has fewer than 2 words.
    #[must_use]
    pub fn new(words: &'a [AtomicU64]) -> Self {
        Self::over(words)
    }
}

impl<'a> ByteRing<'a, ProcessorLocal> {
    /// A ring over `words` (as [`ByteRing::new`]) whose pushes claim with
    /// the processor-local compare-exchange, and [`crate::record_bytes`]
    /// bumps the counters it is given with processor-local adds
    /// (`crate::producers`: unlocked `cmpxchg` / `inc` on x86-64).
    ///
    /// # Safety
    /// Pushes into this ring never run at the same time on two processors
    /// (or host threads): a push may only be interrupted by another push on
    /// the same processor (an interrupt or NMI; on a host, a signal handler
    /// on the pushing thread), which completes before the interrupted one
    /// resumes. In the driver: ring N is pushed only on processor N at
    /// `DISPATCH_LEVEL` or above. Consumers and readers may run anywhere.
    /// The same holds for the counters passed with this ring to
    /// [`crate::record_bytes`]: nothing else writes them.
    ///
    /// # Panics
    /// As [`ByteRing::new`].
    #[must_use]
    pub unsafe fn new_processor_local(words: &'a [AtomicU64]) -> Self {
        ByteRing::over(words)
    }
}

impl<'a, P: Producers> ByteRing<'a, P> {
    /// A ring over `words` for producers of discipline `P`: the largest
    /// power-of-two prefix (at most 2^30 words), zeroed.
    fn over(words: &'a [AtomicU64]) -> Self {
        assert!(words.len() >= 2, "a ByteRing needs at least 2 words");
        let usable = if words.len() >= MAX_WORDS {
            MAX_WORDS
        } else if words.len().is_power_of_two() {
            words.len()
        } else {
            words.len().next_power_of_two() / 2
        };
        let words = &words[..usable];
        for word in words {
            word.store(0, Ordering::Relaxed);
        }
        #[allow(clippy::cast_possible_truncation, reason = "usable <= 2^30")]
        let mask = (usable - 1) as u32;
        Self {
            state: CachePadded(AtomicU64::new(0)),
            consumer: CachePadded(ConsumerSide {
                head: AtomicU32::new(0),
                free: AtomicU32::new(0),
                last_sequence: AtomicU64::new(0),
                busy: AtomicBool::new(false),
            }),
            words,
            mask,
            producers: PhantomData,
        }
    }

    /// Capacity in bytes (headers included).
    #[must_use]
    pub const fn capacity_bytes(&self) -> usize {
        self.words.len() * WORD_BYTES
    }

    /// Bytes a record of `len` payload bytes occupies in the ring.
    #[must_use]
    pub const fn record_bytes(len: usize) -> usize {
        words_for(len) * WORD_BYTES
    }

    /// Bytes claimed and not yet consumed (approximate while pushes run).
    #[must_use]
    pub fn used_bytes(&self) -> usize {
        let head = self.consumer.head.load(Ordering::Acquire);
        let tail = low32(self.state.load(Ordering::Acquire));
        (tail.wrapping_sub(head) as usize).min(self.words.len()) * WORD_BYTES
    }

    /// Whether nothing is claimed and unconsumed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.used_bytes() == 0
    }

    #[inline]
    fn word(&self, position: u32) -> &AtomicU64 {
        let index = (position & self.mask) as usize;
        debug_assert!(index < self.words.len());
        // SAFETY: `mask` is `words.len() - 1` with `words.len()` a power of
        // two (`new`), so `index < words.len()`.
        unsafe { self.words.get_unchecked(index) }
    }

    /// Copies `payload` into the ring as one record.
    ///
    /// Returns the record's 32-bit sequence (low bits of its 1-based rank
    /// among the events this ring saw). Lock-free with bounded work; safe
    /// at any IRQL and re-entrantly from an interrupt or NMI that
    /// interrupted another push on the same ring.
    ///
    /// # Errors
    /// [`ByteRingError`]; nothing was written and the caller counts a drop.
    // Always inlined: a push that is not copies through a variable-length
    // `memcpy` call; inlined with a record of known size, the copy is a few
    // moves (callgrind, 64 B record: 77 instructions a push inlined, 93 not).
    #[allow(clippy::inline_always, reason = "measured: see the comment above")]
    #[inline(always)]
    pub fn push(&self, payload: &[u8]) -> Result<u32, ByteRingError> {
        self.push_with(payload.len(), |writer| writer.write(0, payload))
    }

    /// Claims room for a record of `len` payload bytes, lets `fill` write
    /// it (unwritten bytes stay zero), then publishes it. `fill` runs between
    /// claim and publish: an interrupt there is the nested case of the
    /// module docs (tests push from inside `fill` to exercise it).
    ///
    /// # Errors
    /// As [`push`](Self::push); `fill` is not called.
    // Always inlined, as `push`.
    #[allow(clippy::inline_always, reason = "as push")]
    #[inline(always)]
    pub fn push_with(
        &self,
        len: usize,
        fill: impl FnOnce(&RecordWriter<'_, 'a, P>),
    ) -> Result<u32, ByteRingError> {
        let (position, sequence) = self.claim(len)?;
        let writer = RecordWriter {
            ring: self,
            position,
            len,
        };
        fill(&writer);
        let header = (u64::from(sequence) << 32) | ((len as u64) << 1) | PUBLISHED;
        self.word(position).store(header, Ordering::Release);
        Ok(sequence)
    }

    /// Claims `len` bytes: returns the header position and the sequence.
    #[inline]
    fn claim(&self, len: usize) -> Result<(u32, u32), ByteRingError> {
        let words = words_for(len);
        #[allow(clippy::cast_possible_truncation, reason = "capacity <= 2^30 words")]
        let capacity = self.words.len() as u32;
        if len > MAX_RECORD_BYTES || words > self.words.len() {
            return Err(self.refuse(ByteRingError::TooLarge));
        }
        #[allow(
            clippy::cast_possible_truncation,
            reason = "checked against the capacity (<= 2^30)"
        )]
        let words = words as u32;
        let mut state = self.state.load(Ordering::Relaxed);
        for _ in 0..MAX_PUSH_ATTEMPTS {
            let tail = low32(state);
            let free = self.consumer.free.load(Ordering::Acquire);
            // `free` may be older than `tail` (separate loads): then the
            // used span can exceed the capacity, which must read as "no
            // room", never wrap into a huge one.
            let used = tail.wrapping_sub(free);
            if used > capacity - words {
                #[allow(clippy::cast_possible_wrap, reason = "wrapping distance")]
                if (used as i32) < 0 {
                    // `free` is past our `tail`: the state we hold is stale
                    // (the consumer freed records claimed after it). Reload.
                    state = self.state.load(Ordering::Relaxed);
                    continue;
                }
                return Err(self.refuse(ByteRingError::Full));
            }
            let sequence = low32(state >> 32).wrapping_add(1);
            let next = (u64::from(sequence) << 32) | u64::from(tail.wrapping_add(words));
            match P::compare_exchange(&self.state, state, next) {
                Ok(_) => return Ok((tail, sequence)),
                Err(current) => state = current,
            }
        }
        Err(self.refuse(ByteRingError::Contended))
    }

    /// Counts a refused push in the sequence (one atomic add to its high
    /// half: a carry out of bit 63 is discarded, the tail is untouched), so
    /// the drop leaves a gap, in order with the claims.
    #[cold]
    #[inline(never)]
    fn refuse(&self, why: ByteRingError) -> ByteRingError {
        self.state.fetch_add(1 << 32, Ordering::Relaxed);
        why
    }

    /// Takes the consumer role, or `None` while another [`ByteConsumer`]
    /// is alive.
    #[must_use]
    pub fn consumer(&self) -> Option<ByteConsumer<'_, 'a, P>> {
        self.consumer
            .busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| ByteConsumer { ring: self })
    }

    /// The published record at `position`, if any, with its sequence
    /// extended from `previous` (the sequence of the record before it).
    fn record_at(&self, position: u32, tail: u32, previous: u64) -> Option<RecordInfo> {
        if position == tail {
            return None;
        }
        let header = self.word(position).load(Ordering::Acquire);
        if header & PUBLISHED == 0 {
            return None;
        }
        let len = usize::try_from((header >> 1) & 0x7FFF_FFFF).ok()?;
        // A published header lies within [head, tail): anything else is a
        // broken invariant; report nothing rather than read beyond it.
        #[allow(clippy::cast_possible_truncation, reason = "len <= 2^31")]
        let words = words_for(len) as u32;
        if tail.wrapping_sub(position) < words {
            return None;
        }
        let low = low32(header >> 32);
        let sequence = previous.wrapping_add(u64::from(low.wrapping_sub(low32(previous))));
        Some(RecordInfo {
            sequence,
            len,
            position,
        })
    }

    /// Copies payload bytes `[offset, offset + out.len())` of `record`
    /// (clipped to its length) into `out`; returns the bytes copied.
    fn read_record(&self, record: &RecordInfo, offset: usize, out: &mut [u8]) -> usize {
        let end = record.len.min(offset.saturating_add(out.len()));
        let mut copied = 0;
        let mut at = offset;
        while at < end {
            let word_index = at / WORD_BYTES;
            let in_word = at % WORD_BYTES;
            #[allow(clippy::cast_possible_truncation, reason = "within the ring")]
            let word = self
                .word(record.position.wrapping_add(1).wrapping_add(word_index as u32))
                .load(Ordering::Relaxed)
                .to_le_bytes();
            let n = (WORD_BYTES - in_word).min(end - at);
            out[copied..copied + n].copy_from_slice(&word[in_word..in_word + n]);
            copied += n;
            at += n;
        }
        copied
    }

    /// Calls `visit` for each published record from the consumer's head on,
    /// oldest first, stopping at the first unpublished one; returns how many
    /// were visited. Consumes nothing and writes nothing.
    ///
    /// # Safety
    /// No consumer may run concurrently on another processor: the consumer
    /// role must be free, or its holder stopped for good (frozen by a bug
    /// check) or suspended on this processor. Producers may run.
    pub unsafe fn visit_unsynchronized(&self, mut visit: impl FnMut(&RecordView<'_, 'a, P>)) -> usize {
        let tail = low32(self.state.load(Ordering::Acquire));
        let mut position = self.consumer.head.load(Ordering::Acquire);
        let mut previous = self.consumer.last_sequence.load(Ordering::Acquire);
        let mut visited = 0;
        while let Some(info) = self.record_at(position, tail, previous) {
            visit(&RecordView { ring: self, info });
            visited += 1;
            previous = info.sequence;
            #[allow(clippy::cast_possible_truncation, reason = "len <= 2^31")]
            let words = words_for(info.len) as u32;
            position = position.wrapping_add(words);
        }
        visited
    }
}

/// Writes the payload of a claimed record (see [`ByteRing::push_with`]).
pub struct RecordWriter<'r, 'a, P: Producers = Shared> {
    ring: &'r ByteRing<'a, P>,
    position: u32,
    len: usize,
}

impl<P: Producers> RecordWriter<'_, '_, P> {
    /// Writes `bytes` at payload offset `offset` (clipped to the record's
    /// length). `offset` must be a multiple of 8; bytes of a partially
    /// written last word are zero.
    #[inline]
    pub fn write(&self, offset: usize, bytes: &[u8]) {
        debug_assert!(offset.is_multiple_of(WORD_BYTES), "word-aligned writes only");
        let end = self.len.min(offset.saturating_add(bytes.len()));
        if end <= offset {
            return;
        }
        let bytes = &bytes[..end - offset];
        #[allow(clippy::cast_possible_truncation, reason = "within the ring")]
        let first = self
            .position
            .wrapping_add(1)
            .wrapping_add((offset / WORD_BYTES) as u32);
        // Loom cannot see plain writes to its atomics, and Miri's
        // weak-memory emulation does not support plain writes to locations
        // it tracks as atomic (it stops with an internal error): both check
        // the word-by-word atomic path below, which has the same protocol.
        #[cfg(not(any(loom, miri)))]
        {
            let start = (first & self.ring.mask) as usize;
            if start + bytes.len().div_ceil(WORD_BYTES) <= self.ring.words.len() {
                // Common case: the record does not wrap. One plain copy: the
                // claim makes these words this producer's alone until it
                // publishes (no reader looks at them before the Release store
                // of the header, no producer writes them, and the consumer's
                // zeroing happened-before the claim's Acquire load of `free`),
                // so a non-atomic write does not race. Bytes past `len` in the
                // last word stay zero: free words are zero.
                let target = self
                    .ring
                    .words
                    .as_ptr()
                    .wrapping_add(start)
                    .cast::<u8>()
                    .cast_mut();
                // SAFETY: `start + ceil(len / 8)` words are in bounds (checked);
                // `AtomicU64` has `u64`'s layout and allows writes through a
                // shared reference; exclusive by the claim as argued above.
                unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), target, bytes.len()) };
                return;
            }
        }
        self.write_words(first, bytes);
    }

    /// [`write`](Self::write) word by word (a record that wraps around the
    /// end; every record under loom and Miri).
    #[cold]
    #[inline(never)]
    fn write_words(&self, first: u32, bytes: &[u8]) {
        let mut position = first;
        let mut chunks = bytes.chunks_exact(WORD_BYTES);
        for chunk in &mut chunks {
            let value = u64::from_le_bytes(chunk.try_into().unwrap_or([0; WORD_BYTES]));
            self.ring.word(position).store(value, Ordering::Relaxed);
            position = position.wrapping_add(1);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0; WORD_BYTES];
            word[..rest.len()].copy_from_slice(rest);
            self.ring
                .word(position)
                .store(u64::from_le_bytes(word), Ordering::Relaxed);
        }
    }
}

/// A published record seen by [`ByteRing::visit_unsynchronized`].
pub struct RecordView<'r, 'a, P: Producers = Shared> {
    ring: &'r ByteRing<'a, P>,
    info: RecordInfo,
}

impl<P: Producers> RecordView<'_, '_, P> {
    /// Sequence and length.
    #[must_use]
    pub const fn info(&self) -> RecordInfo {
        self.info
    }

    /// Copies payload bytes from `offset` into `out`; returns the count.
    pub fn read(&self, offset: usize, out: &mut [u8]) -> usize {
        self.ring.read_record(&self.info, offset, out)
    }
}

/// The single consumer of a [`ByteRing`]; releases the role when dropped.
pub struct ByteConsumer<'r, 'a, P: Producers = Shared> {
    ring: &'r ByteRing<'a, P>,
}

impl<P: Producers> fmt::Debug for ByteConsumer<'_, '_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteConsumer").finish_non_exhaustive()
    }
}

impl<P: Producers> ByteConsumer<'_, '_, P> {
    /// The oldest record if it is published; `None` if the ring is empty or
    /// its oldest claimed record is still being written (never skipped).
    #[must_use]
    pub fn peek(&self) -> Option<RecordInfo> {
        let ring = self.ring;
        let tail = low32(ring.state.load(Ordering::Acquire));
        let head = ring.consumer.head.load(Ordering::Relaxed);
        ring.record_at(head, tail, ring.consumer.last_sequence.load(Ordering::Relaxed))
    }

    /// Copies payload bytes `[offset, ..)` of the peeked record into `out`;
    /// returns the bytes copied.
    pub fn read(&self, record: &RecordInfo, offset: usize, out: &mut [u8]) -> usize {
        self.ring.read_record(record, offset, out)
    }

    /// Removes the peeked record `record` (which must be the current
    /// [`peek`](Self::peek) result): advances the head, zeroes its words and
    /// gives them back to the producers.
    pub fn consume(&mut self, record: &RecordInfo) {
        let ring = self.ring;
        #[allow(clippy::cast_possible_truncation, reason = "len <= 2^31")]
        let words = words_for(record.len) as u32;
        let next = record.position.wrapping_add(words);
        debug_assert_eq!(record.position, ring.consumer.head.load(Ordering::Relaxed));
        ring.consumer
            .last_sequence
            .store(record.sequence, Ordering::Release);
        ring.consumer.head.store(next, Ordering::Release);
        let mut position = record.position;
        while position != next {
            ring.word(position).store(0, Ordering::Relaxed);
            position = position.wrapping_add(1);
        }
        ring.consumer.free.store(next, Ordering::Release);
    }

    /// Peeks, copies the whole payload into `out` (which must hold it) and
    /// consumes. A record longer than `out` is left in place and `Err` with
    /// its length returned.
    ///
    /// # Errors
    /// `Err(len)` if `out` is shorter than the record.
    pub fn pop(&mut self, out: &mut [u8]) -> Option<Result<RecordInfo, usize>> {
        let record = self.peek()?;
        if record.len > out.len() {
            return Some(Err(record.len));
        }
        self.read(&record, 0, &mut out[..record.len]);
        self.consume(&record);
        Some(Ok(record))
    }
}

impl<P: Producers> Drop for ByteConsumer<'_, '_, P> {
    fn drop(&mut self) {
        self.ring.consumer.busy.store(false, Ordering::Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
