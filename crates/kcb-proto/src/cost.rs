//! What the driver's notify routines cost: log2 histograms of the time
//! spent inside each source's routines, in counter ticks (processor cycles
//! of the time-stamp counter on x64).
//!
//! - [`AtomicCostHistogram`] / [`CostTable`]: the driver-side storage, one
//!   [`CostTable`] per processor, updated with relaxed atomics only (no
//!   lock, no allocation; correct when an NMI or interrupt nests a second
//!   update on the same processor, see [`AtomicCostHistogram::record`]).
//! - [`CostHistogram`]: the same counts as plain integers, merged over the
//!   processors, on the wire in [`CostResponse`] (`IOCTL_KCB_QUERY_COST`).
//!
//! # Resolution
//! Bucket 0 counts durations of 0 ticks, bucket `b` in `1..=62` counts
//! durations in `[2^(b-1), 2^b - 1]`, bucket 63 everything from `2^62` up.
//! A percentile read from the buckets is the upper bound of the bucket that
//! holds it (never above the exact maximum): the true value is at most that
//! and more than half of it (for values of 2 ticks and more).

use core::sync::atomic::{AtomicU64, Ordering};

use crate::error::DecodeError;
use crate::ioctl::codes::{PROTOCOL_VERSION, RequestError};
use crate::ioctl::replies::wire::{Response, check_version};
use crate::pod::{write_pod, zeroed};
use crate::source::SOURCE_COUNT;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Buckets of a [`CostHistogram`].
pub const COST_BUCKETS: usize = 64;

/// [`CostResponse::flags`]: the driver measures (its per-processor storage
/// was allocated at load).
pub const COST_FLAG_MEASURING: u32 = 1;
/// [`CostResponse::flags`]: the counter is the processor's time-stamp
/// counter (`rdtsc`); otherwise `KeQueryPerformanceCounter`.
pub const COST_FLAG_TSC: u32 = 2;
/// Every flag this version defines.
pub const COST_VALID_FLAGS: u32 = COST_FLAG_MEASURING | COST_FLAG_TSC;

/// The bucket a duration of `ticks` falls into.
#[must_use]
pub const fn bucket_of(ticks: u64) -> usize {
    let bits = (u64::BITS - ticks.leading_zeros()) as usize;
    if bits < COST_BUCKETS {
        bits
    } else {
        COST_BUCKETS - 1
    }
}

/// The smallest and the largest duration bucket `bucket` counts
/// (`bucket < COST_BUCKETS`).
#[must_use]
pub const fn bucket_bounds(bucket: usize) -> (u64, u64) {
    match bucket {
        0 => (0, 0),
        b if b >= COST_BUCKETS - 1 => (1 << (COST_BUCKETS - 2), u64::MAX),
        b => (1 << (b - 1), (1 << b) - 1),
    }
}

/// `ticks` of a counter running at `hz` ticks per second, in nanoseconds
/// (rounded down); `None` when the frequency is unknown (0).
#[must_use]
pub fn ticks_to_ns(ticks: u64, hz: u64) -> Option<u64> {
    if hz == 0 {
        return None;
    }
    let ns = u128::from(ticks) * 1_000_000_000 / u128::from(hz);
    Some(u64::try_from(ns).unwrap_or(u64::MAX))
}

/// Durations of one source's routine calls, in counter ticks.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CostHistogram {
    /// Calls per duration bucket (see the module's "Resolution").
    pub buckets: [u64; COST_BUCKETS],
    /// The longest call.
    pub max: u64,
    /// The sum of all durations (wraps after 2^64 ticks, about 190
    /// years at 3 GHz).
    pub total: u64,
}

impl CostHistogram {
    /// No call.
    pub const ZERO: Self = zeroed();

    /// Counts one call of `ticks`.
    pub const fn record(&mut self, ticks: u64) {
        let bucket = bucket_of(ticks);
        self.buckets[bucket] = self.buckets[bucket].saturating_add(1);
        if ticks > self.max {
            self.max = ticks;
        }
        self.total = self.total.wrapping_add(ticks);
    }

    /// Calls counted (the sum of the buckets).
    #[must_use]
    pub fn calls(&self) -> u64 {
        self.buckets.iter().fold(0u64, |sum, &n| sum.saturating_add(n))
    }

    /// Adds `other`'s calls to these.
    pub fn merge(&mut self, other: &Self) {
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets) {
            *mine = mine.saturating_add(theirs);
        }
        self.max = self.max.max(other.max);
        self.total = self.total.wrapping_add(other.total);
    }

    /// The `percent`-th percentile (`1..=100`) as the upper bound of the
    /// bucket holding it, at most [`max`](Self::max): `None` without calls
    /// or for a percent out of range.
    #[must_use]
    pub fn percentile(&self, percent: u32) -> Option<u64> {
        let calls = self.calls();
        if calls == 0 || !(1..=100).contains(&percent) {
            return None;
        }
        // The smallest rank r with r >= calls * percent / 100 (nearest rank).
        let rank = (u128::from(calls) * u128::from(percent)).div_ceil(100);
        let mut seen = 0u128;
        for (bucket, &count) in self.buckets.iter().enumerate() {
            seen += u128::from(count);
            if seen >= rank {
                return Some(bucket_bounds(bucket).1.min(self.max));
            }
        }
        Some(self.max)
    }

    /// The mean duration (rounded down), `None` without calls.
    #[must_use]
    pub fn mean(&self) -> Option<u64> {
        let calls = self.calls();
        (calls != 0).then(|| self.total / calls)
    }

    /// The highest bucket with a call.
    fn highest_bucket(&self) -> Option<usize> {
        self.buckets.iter().rposition(|&n| n != 0)
    }
}

/// One source's histogram as relaxed atomics: what a processor updates.
///
/// All-zero bytes are a valid, empty histogram (`AtomicU64` has the layout
/// of `u64`), so zeroed pool memory needs no initialisation.
#[repr(C)]
pub struct AtomicCostHistogram {
    buckets: [AtomicU64; COST_BUCKETS],
    max: AtomicU64,
    total: AtomicU64,
}

impl Default for AtomicCostHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl AtomicCostHistogram {
    /// An empty histogram.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            buckets: [const { AtomicU64::new(0) }; COST_BUCKETS],
            max: AtomicU64::new(0),
            total: AtomicU64::new(0),
        }
    }

    /// Counts one call of `ticks`: three atomic read-modify-writes on
    /// memory only this processor normally writes, no loop, no lock.
    ///
    /// Each update is a single atomic instruction, so an interrupt or NMI
    /// that arrives between two of them and records into the same
    /// histogram loses nothing: both calls are counted. The maximum is
    /// raised before the bucket's count is published (release), so a
    /// reader that sees a call (acquire, [`add_to`](Self::add_to)) also
    /// sees a maximum at least that long.
    ///
    /// # IRQL
    /// Any.
    #[inline]
    pub fn record(&self, ticks: u64) {
        if ticks > self.max.load(Ordering::Relaxed) {
            self.max.fetch_max(ticks, Ordering::Relaxed);
        }
        self.total.fetch_add(ticks, Ordering::Relaxed);
        self.buckets[bucket_of(ticks)].fetch_add(1, Ordering::Release);
    }

    /// Adds this histogram's counts to `out`. Calls recorded concurrently
    /// may or may not be included; every call included has its maximum
    /// included.
    ///
    /// # IRQL
    /// Any.
    pub fn add_to(&self, out: &mut CostHistogram) {
        for (slot, bucket) in out.buckets.iter_mut().zip(&self.buckets) {
            *slot = slot.saturating_add(bucket.load(Ordering::Acquire));
        }
        out.total = out.total.wrapping_add(self.total.load(Ordering::Relaxed));
        out.max = out.max.max(self.max.load(Ordering::Relaxed));
    }
}

/// One processor's histograms, one per source (indexed by
/// [`SourceId`](crate::SourceId)): `SOURCE_COUNT` x 528 bytes.
///
/// All-zero bytes are a valid, empty table.
#[repr(C)]
pub struct CostTable {
    sources: [AtomicCostHistogram; SOURCE_COUNT],
}

impl Default for CostTable {
    fn default() -> Self {
        Self::new()
    }
}

impl CostTable {
    /// An empty table.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            sources: [const { AtomicCostHistogram::new() }; SOURCE_COUNT],
        }
    }

    /// Counts one call of `source`'s routine (an index out of range is
    /// ignored).
    ///
    /// # IRQL
    /// Any.
    #[inline]
    pub fn record(&self, source: usize, ticks: u64) {
        if let Some(histogram) = self.sources.get(source) {
            histogram.record(ticks);
        }
    }

    /// Adds `source`'s counts to `out` (an index out of range adds
    /// nothing).
    ///
    /// # IRQL
    /// Any.
    pub fn add_source_to(&self, source: usize, out: &mut CostHistogram) {
        if let Some(histogram) = self.sources.get(source) {
            histogram.add_to(out);
        }
    }

    /// Adds every source's counts to `out`.
    ///
    /// # IRQL
    /// Any.
    pub fn add_to(&self, out: &mut [CostHistogram; SOURCE_COUNT]) {
        for (histogram, slot) in self.sources.iter().zip(out.iter_mut()) {
            histogram.add_to(slot);
        }
    }
}

/// The fixed part of a [`CostResponse`].
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CostHeader {
    /// [`PROTOCOL_VERSION`].
    pub version: u32,
    /// [`SOURCE_COUNT`].
    pub source_count: u32,
    /// Processors whose tables were merged (0 when not measuring).
    pub processor_count: u32,
    /// `COST_FLAG_*` bits.
    pub flags: u32,
    /// Counter ticks per second, 0 when unknown (not calibrated yet).
    pub counter_hz: u64,
    /// Ticks one measurement itself takes (two counter reads, the
    /// processor number and the histogram update; the smallest of
    /// several timed at load), 0 when unknown.
    pub overhead_ticks: u64,
}

impl CostHeader {
    /// A header for `processor_count` merged tables.
    #[must_use]
    pub const fn new(processor_count: u32, flags: u32, counter_hz: u64, overhead_ticks: u64) -> Self {
        #[allow(clippy::cast_possible_truncation, reason = "SOURCE_COUNT <= 64")]
        let source_count = SOURCE_COUNT as u32;
        Self {
            version: PROTOCOL_VERSION,
            source_count,
            processor_count,
            flags,
            counter_hz,
            overhead_ticks,
        }
    }
}

/// `IOCTL_KCB_QUERY_COST` output: per source, the time spent in its
/// notify routines, merged over the processors.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CostResponse {
    /// Version, processors, counter frequency.
    pub header: CostHeader,
    /// Per-source histograms, indexed by [`SourceId`](crate::SourceId).
    pub sources: [CostHistogram; SOURCE_COUNT],
}

impl CostResponse {
    /// A response with no call and no processor.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            header: CostHeader::new(0, 0, 0, 0),
            sources: [CostHistogram::ZERO; SOURCE_COUNT],
        }
    }
}

impl Default for CostResponse {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes a [`CostResponse`] into `out` one histogram at a time
/// (`histogram(i)` for source `i`), so the driver never holds the whole
/// response on its stack.
///
/// # Errors
/// [`RequestError::TooSmall`] (writing nothing) if `out` cannot hold a
/// [`CostResponse`].
pub fn write_cost(
    out: &mut [u8],
    header: &CostHeader,
    mut histogram: impl FnMut(usize) -> CostHistogram,
) -> Result<usize, RequestError> {
    let size = size_of::<CostResponse>();
    let out = out.get_mut(..size).ok_or(RequestError::TooSmall)?;
    let (head, mut rest) = out.split_at_mut(size_of::<CostHeader>());
    write_pod(header, head).ok_or(RequestError::TooSmall)?;
    for source in 0..SOURCE_COUNT {
        let written = write_pod(&histogram(source), rest).ok_or(RequestError::TooSmall)?;
        rest = &mut rest[written..];
    }
    Ok(size)
}

impl Response for CostResponse {
    /// Version, source count, flags, and per source: a histogram with
    /// calls has a maximum at least as long as its longest bucket's
    /// shortest duration (the driver raises the maximum before counting).
    fn check(&self) -> Result<(), DecodeError> {
        let header = &self.header;
        check_version(header.version)?;
        if usize::try_from(header.source_count).ok() != Some(SOURCE_COUNT) {
            return Err(DecodeError::InvalidField("source_count"));
        }
        if header.flags & !COST_VALID_FLAGS != 0 {
            return Err(DecodeError::InvalidField("flags"));
        }
        let measuring = header.flags & COST_FLAG_MEASURING != 0;
        if measuring != (header.processor_count != 0) {
            return Err(DecodeError::InvalidField("processor_count"));
        }
        for histogram in &self.sources {
            if let Some(bucket) = histogram.highest_bucket()
                && histogram.max < bucket_bounds(bucket).0
            {
                return Err(DecodeError::InvalidField("max"));
            }
        }
        Ok(())
    }
}

const _: () = {
    assert!(size_of::<CostHistogram>() == 8 * (COST_BUCKETS + 2));
    assert!(size_of::<AtomicCostHistogram>() == size_of::<CostHistogram>());
    assert!(size_of::<CostHeader>() == 32);
    assert!(size_of::<CostResponse>() == 32 + size_of::<CostHistogram>() * SOURCE_COUNT);
};

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::vec::Vec;

    use super::*;

    use crate::ioctl::replies::wire::decode_response;
    use crate::pod::bytes_of;

    #[test]
    fn buckets_are_log2() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 1);
        assert_eq!(bucket_of(2), 2);
        assert_eq!(bucket_of(3), 2);
        assert_eq!(bucket_of(4), 3);
        assert_eq!(bucket_of(1023), 10);
        assert_eq!(bucket_of(1024), 11);
        assert_eq!(bucket_of(1 << 61), 62);
        assert_eq!(bucket_of((1 << 62) - 1), 62);
        assert_eq!(bucket_of(1 << 62), 63);
        assert_eq!(bucket_of(u64::MAX), 63);
        for bucket in 0..COST_BUCKETS {
            let (low, high) = bucket_bounds(bucket);
            assert!(low <= high);
            assert_eq!(bucket_of(low), bucket, "low of {bucket}");
            assert_eq!(bucket_of(high), bucket, "high of {bucket}");
            if bucket + 1 < COST_BUCKETS {
                assert_eq!(
                    bucket_bounds(bucket + 1).0,
                    high + 1,
                    "buckets {bucket} and next touch"
                );
            }
        }
        assert_eq!(bucket_bounds(11), (1024, 2047));
    }

    #[test]
    fn record_counts_max_and_total() {
        let mut h = CostHistogram::ZERO;
        assert_eq!(h.calls(), 0);
        assert_eq!(h.percentile(50), None);
        assert_eq!(h.mean(), None);
        for ticks in [100, 200, 300, 5000] {
            h.record(ticks);
        }
        assert_eq!(h.calls(), 4);
        assert_eq!(h.max, 5000);
        assert_eq!(h.total, 5600);
        assert_eq!(h.mean(), Some(1400));
        assert_eq!(h.buckets[bucket_of(100)], 1);
        assert_eq!(h.buckets[bucket_of(200)], 1);
        assert_eq!(h.buckets[bucket_of(300)], 1);
    }

    #[test]
    fn percentiles_are_bucket_upper_bounds_capped_by_max() {
        let mut h = CostHistogram::ZERO;
        // 90 calls of 100 ticks ([64, 127]), 9 of 1000 ([512, 1023]), 1 of 70000.
        (0..90).for_each(|_| h.record(100));
        (0..9).for_each(|_| h.record(1000));
        h.record(70_000);
        assert_eq!(h.calls(), 100);
        assert_eq!(h.percentile(1), Some(127));
        assert_eq!(h.percentile(50), Some(127));
        assert_eq!(h.percentile(90), Some(127));
        assert_eq!(h.percentile(91), Some(1023));
        assert_eq!(h.percentile(99), Some(1023));
        // The top call's bucket is [65536, 131071], capped by the maximum.
        assert_eq!(h.percentile(100), Some(70_000));
        assert_eq!(h.percentile(0), None);
        assert_eq!(h.percentile(101), None);
        // One call: every percentile is that call's bucket, capped by it.
        let mut one = CostHistogram::ZERO;
        one.record(3000);
        assert_eq!(one.percentile(50), Some(3000));
        assert_eq!(one.percentile(99), Some(3000));
        // p99 of 1000 calls needs the 990th: 989 fast ones are not enough.
        let mut tail = CostHistogram::ZERO;
        (0..989).for_each(|_| tail.record(10));
        (0..11).for_each(|_| tail.record(10_000));
        assert_eq!(tail.percentile(98), Some(15));
        assert_eq!(tail.percentile(99), Some(10_000));
    }

    #[test]
    fn merge_adds_and_saturates() {
        let mut a = CostHistogram::ZERO;
        let mut b = CostHistogram::ZERO;
        a.record(10);
        b.record(10);
        b.record(4000);
        a.merge(&b);
        assert_eq!(a.calls(), 3);
        assert_eq!(a.max, 4000);
        assert_eq!(a.total, 4020);
        let mut full = CostHistogram::ZERO;
        full.buckets[3] = u64::MAX;
        full.merge(&b);
        full.buckets[3] = full.buckets[3].saturating_add(1);
        assert_eq!(full.buckets[3], u64::MAX);
        assert_eq!(full.calls(), u64::MAX);
    }

    #[test]
    fn atomic_histogram_matches_plain() {
        let atomic = AtomicCostHistogram::new();
        let mut plain = CostHistogram::ZERO;
        for ticks in [0, 1, 7, 64, 65, 1 << 40, u64::MAX, 12_345] {
            atomic.record(ticks);
            plain.record(ticks);
        }
        let mut out = CostHistogram::ZERO;
        atomic.add_to(&mut out);
        assert_eq!(out, plain);
        // add_to adds: twice gives double counts.
        atomic.add_to(&mut out);
        assert_eq!(out.calls(), 2 * plain.calls());
    }

    #[test]
    fn zeroed_bytes_are_an_empty_table() {
        // The driver takes its tables from zeroed pool memory.
        let table: std::boxed::Box<core::mem::MaybeUninit<CostTable>> = std::boxed::Box::new_zeroed();
        // SAFETY: all-zero bytes are a valid CostTable (atomics of zero).
        let table = unsafe { table.assume_init() };
        let mut out = [CostHistogram::ZERO; SOURCE_COUNT];
        table.add_to(&mut out);
        assert!(out.iter().all(|h| *h == CostHistogram::ZERO));
        table.record(SOURCE_COUNT, 5);
        table.record(usize::MAX, 5);
        table.add_to(&mut out);
        assert!(
            out.iter().all(|h| h.calls() == 0),
            "out-of-range sources are ignored"
        );
        table.record(2, 5);
        let mut one = CostHistogram::ZERO;
        table.add_source_to(2, &mut one);
        table.add_source_to(SOURCE_COUNT, &mut one);
        assert_eq!(one.calls(), 1);
    }

    #[test]
    fn per_processor_tables_are_isolated_and_merge_exactly() {
        // One table per "processor"; each thread writes only its own, as
        // the driver does; the reader merges.
        const PROCESSORS: usize = 4;
        // Miri runs these tests too (`cargo xtask miri`): fewer calls there.
        const CALLS: u64 = if cfg!(miri) { 100 } else { 20_000 };
        let tables: Arc<Vec<CostTable>> = Arc::new((0..PROCESSORS).map(|_| CostTable::new()).collect());
        let threads: Vec<_> = (0..PROCESSORS)
            .map(|cpu| {
                let tables = Arc::clone(&tables);
                std::thread::spawn(move || {
                    for i in 0..CALLS {
                        tables[cpu].record(cpu + 1, i % 1000 + 1);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        for (cpu, table) in tables.iter().enumerate() {
            let mut out = [CostHistogram::ZERO; SOURCE_COUNT];
            table.add_to(&mut out);
            for (source, histogram) in out.iter().enumerate() {
                let expected = if source == cpu + 1 { CALLS } else { 0 };
                assert_eq!(histogram.calls(), expected, "cpu {cpu} source {source}");
            }
        }
        let mut merged = [CostHistogram::ZERO; SOURCE_COUNT];
        tables.iter().for_each(|t| t.add_to(&mut merged));
        for cpu in 0..PROCESSORS {
            assert_eq!(merged[cpu + 1].calls(), CALLS);
            assert_eq!(merged[cpu + 1].max, CALLS.min(1000));
            assert_eq!(
                merged[cpu + 1].total,
                (0..CALLS).map(|i| i % 1000 + 1).sum::<u64>()
            );
        }
    }

    #[test]
    fn nested_updates_on_one_table_lose_nothing() {
        // Stands for an interrupt/NMI recording into the histogram of the
        // processor it interrupted: several writers on one table.
        const WRITERS: u64 = 4;
        const CALLS: u64 = if cfg!(miri) { 100 } else { 25_000 };
        let table = Arc::new(CostTable::new());
        let threads: Vec<_> = (0..WRITERS)
            .map(|w| {
                let table = Arc::clone(&table);
                std::thread::spawn(move || (0..CALLS).for_each(|i| table.record(1, (i + w) % 100)))
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let mut out = [CostHistogram::ZERO; SOURCE_COUNT];
        table.add_to(&mut out);
        assert_eq!(out[1].calls(), WRITERS * CALLS);
        assert_eq!(out[1].max, 99);
    }

    #[test]
    fn response_validation() {
        let mut response = CostResponse::new();
        assert_eq!(decode_response::<CostResponse>(bytes_of(&response)), Ok(response));
        let short = &bytes_of(&response)[..size_of::<CostResponse>() - 1];
        assert!(matches!(
            decode_response::<CostResponse>(short),
            Err(DecodeError::TooShort { .. })
        ));
        response.header.flags = COST_FLAG_MEASURING | COST_FLAG_TSC;
        response.header.processor_count = 2;
        response.sources[1].record(900);
        assert_eq!(decode_response::<CostResponse>(bytes_of(&response)), Ok(response));

        let mut bad = response;
        bad.header.version = 2;
        assert_eq!(
            decode_response::<CostResponse>(bytes_of(&bad)),
            Err(DecodeError::UnsupportedVersion(2))
        );
        let mut bad = response;
        bad.header.source_count = 22;
        assert_eq!(
            decode_response::<CostResponse>(bytes_of(&bad)),
            Err(DecodeError::InvalidField("source_count"))
        );
        let mut bad = response;
        bad.header.flags |= 4;
        assert_eq!(
            decode_response::<CostResponse>(bytes_of(&bad)),
            Err(DecodeError::InvalidField("flags"))
        );
        let mut bad = response;
        bad.header.processor_count = 0;
        assert_eq!(
            decode_response::<CostResponse>(bytes_of(&bad)),
            Err(DecodeError::InvalidField("processor_count"))
        );
        let mut bad = response;
        bad.sources[1].max = 511;
        assert_eq!(
            decode_response::<CostResponse>(bytes_of(&bad)),
            Err(DecodeError::InvalidField("max"))
        );
    }

    #[test]
    fn write_cost_writes_what_decodes() {
        let header = CostHeader::new(3, COST_FLAG_MEASURING, 2_000_000_000, 40);
        let mut out = std::vec![0xAAu8; size_of::<CostResponse>() + 8];
        let written = write_cost(&mut out, &header, |source| {
            let mut h = CostHistogram::ZERO;
            (0..source).for_each(|i| h.record(100 * i as u64 + 1));
            h
        })
        .unwrap();
        assert_eq!(written, size_of::<CostResponse>());
        assert_eq!(out[written], 0xAA, "nothing written past the response");
        let response = decode_response::<CostResponse>(&out[..written]).unwrap();
        assert_eq!(response.header, header);
        for (source, histogram) in response.sources.iter().enumerate() {
            assert_eq!(histogram.calls(), source as u64);
        }
        let mut small = std::vec![0u8; size_of::<CostResponse>() - 1];
        assert_eq!(
            write_cost(&mut small, &header, |_| CostHistogram::ZERO),
            Err(RequestError::TooSmall)
        );
        assert!(small.iter().all(|&b| b == 0), "nothing written when too small");
    }

    #[test]
    fn nanoseconds() {
        assert_eq!(ticks_to_ns(3000, 0), None);
        assert_eq!(ticks_to_ns(3000, 3_000_000_000), Some(1000));
        assert_eq!(ticks_to_ns(1, 10_000_000), Some(100));
        assert_eq!(ticks_to_ns(u64::MAX, 1), Some(u64::MAX));
    }
}
