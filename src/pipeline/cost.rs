//! What the driver costs the system: the time spent inside every notify
//! routine, per source, in per-processor log2 histograms
//! ([`kcb_proto::cost`]), answered by `IOCTL_KCB_QUERY_COST`.
//!
//! Every callback entry point starts with
//! `let _cost = cost::Span::start(SourceId::...);`: the guard reads the
//! counter at entry and, when the routine returns (any path), reads it again
//! and counts the difference into the histogram of the processor it returns
//! on.
//!
//! # Counter
//! On x64 the processor's time-stamp counter (`rdtsc`: one unprivileged
//! instruction, any IRQL, no call into the kernel). Elsewhere
//! `KeQueryPerformanceCounter` (any IRQL, documented). `rdtsc` is not
//! serializing: a duration may be off by the few instructions the processor
//! reorders around it. A PASSIVE_LEVEL routine can move to another
//! processor between entry and return; where the processors' counters are
//! not synchronized that call is measured short or long (a counter behind
//! the entry value counts as 0, never as a huge duration). A routine preempted at PASSIVE_LEVEL or
//! interrupted counts the time it was off the processor too: the figure is
//! the delay the routine adds to the thread that called it.
//!
//! # Frequency
//! The TSC's frequency is not documented to drivers; it is calibrated
//! against `KeQueryPerformanceCounter` (which reports its own frequency):
//! both are read at DriverEntry and at each query, and
//! `hz = dTSC * qpc_frequency / dQPC`, reported once at least 10 ms of
//! counter time have passed (0, "unknown", before that).
//!
//! # Storage
//! One [`CostTable`] (`SOURCE_COUNT` x 528 bytes, 12,144 bytes) per
//! processor the system can ever have
//! (`KeQueryMaximumProcessorCountEx(ALL_PROCESSOR_GROUPS)`, which counts
//! processors that may be hot-added), in one block of zeroed nonpaged pool
//! allocated at DriverEntry (before any registration) and freed after the
//! last one is removed: 48 KiB on a 4-processor machine, 760 KiB on 64.
//! Indexed by `KeGetCurrentProcessorNumberEx`, so each processor writes
//! its own table: no cache line is shared between processors unless a
//! thread migrates between reading its processor number and updating.
//! That rare case, and an interrupt or NMI nesting an update on the same
//! processor, stay exact because every update is one atomic instruction
//! (see [`kcb_proto::cost::AtomicCostHistogram::record`]). If the block
//! cannot be allocated, the driver loads without measuring and the reply
//! says so.
//!
//! # Cost of the measurement
//! Two counter reads, `KeGetCurrentProcessorNumberEx` and three atomic
//! updates of memory the processor owns. The driver times that sequence at
//! load (the smallest of [`OVERHEAD_RUNS`]) and reports it with the figures
//! (`overhead_ticks`).

use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

use kcb_proto::{
    CostHeader, CostHistogram, RequestError, SOURCE_COUNT, SourceId,
    cost::{AtomicCostHistogram, COST_FLAG_MEASURING, COST_FLAG_TSC, CostTable},
    write_cost,
};
use wdk_sys::{
    LARGE_INTEGER,
    ntddk::{KeGetCurrentProcessorNumberEx, KeQueryMaximumProcessorCountEx, KeQueryPerformanceCounter},
};

use crate::{
    kernel::pool::{Pool, PoolBlock},
    kprintln,
};

/// `ALL_PROCESSOR_GROUPS` (wdm.h).
const ALL_PROCESSOR_GROUPS: u16 = 0xFFFF;

/// Pool tag of the tables (one block, held from DriverEntry to unload).
pub const POOL_TAG: u32 = u32::from_le_bytes(*b"kcbC");

/// Times the measurement is timed at load.
pub const OVERHEAD_RUNS: u32 = 16;

/// Least counter time between calibration points before a frequency is
/// reported: 1/100 s.
const CALIBRATION_DIVISOR: u64 = 100;

/// The tables (`TABLE_COUNT` of them), or null.
static TABLES: AtomicPtr<CostTable> = AtomicPtr::new(core::ptr::null_mut());
/// How many tables [`TABLES`] holds; 0 while not measuring. Published after
/// the pointer and cleared before it.
static TABLE_COUNT: AtomicU32 = AtomicU32::new(0);

/// Calibration point taken at DriverEntry: counter, QPC and QPC frequency.
static START_TICKS: AtomicU64 = AtomicU64::new(0);
static START_QPC: AtomicU64 = AtomicU64::new(0);
static QPC_FREQUENCY: AtomicU64 = AtomicU64::new(0);
/// Measured cost of one measurement, in ticks.
static OVERHEAD: AtomicU64 = AtomicU64::new(0);

/// Where the overhead runs record (never reported).
static SCRATCH: AtomicCostHistogram = AtomicCostHistogram::new();

/// Whether the counter is the time-stamp counter.
const USES_TSC: bool = cfg!(target_arch = "x86_64");

/// The counter now.
///
/// # IRQL
/// Any.
#[inline]
fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc reads the time-stamp counter; it is unprivileged
        // unless CR4.TSD is set, which Windows does not do in kernel mode.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        qpc(None)
    }
}

/// `KeQueryPerformanceCounter`, storing the frequency into `frequency`.
///
/// # IRQL
/// Any.
fn qpc(frequency: Option<&mut u64>) -> u64 {
    let mut hz = LARGE_INTEGER::default();
    let hz_ptr = if frequency.is_some() {
        &raw mut hz
    } else {
        core::ptr::null_mut()
    };
    // SAFETY: documented at any IRQL; the frequency pointer is NULL or a
    // writable LARGE_INTEGER.
    let counter = unsafe { KeQueryPerformanceCounter(hz_ptr) };
    if let Some(frequency) = frequency {
        // SAFETY: every bit pattern of the union is a valid i64.
        *frequency = u64::try_from(unsafe { hz.QuadPart }).unwrap_or(0);
    }
    // SAFETY: as above.
    u64::try_from(unsafe { counter.QuadPart }).unwrap_or(0)
}

/// The current processor's index (all groups).
///
/// # IRQL
/// Any.
#[inline]
fn processor() -> usize {
    // SAFETY: callable at any IRQL; NULL asks for the number only.
    (unsafe { KeGetCurrentProcessorNumberEx(core::ptr::null_mut()) }) as usize
}

/// Measures one call of a notify routine: created at entry, counted when
/// dropped (at any return).
#[must_use = "the call is measured until the guard is dropped"]
pub struct Span {
    source: SourceId,
    start: u64,
}

impl Span {
    /// Starts measuring a call of `source`'s routine.
    ///
    /// # IRQL
    /// Any.
    #[inline]
    pub fn start(source: SourceId) -> Self {
        Self {
            source,
            start: ticks(),
        }
    }
}

impl Drop for Span {
    #[inline]
    fn drop(&mut self) {
        finish(self.source, self.start);
    }
}

/// Reads the counter and counts a call of `source` that started at
/// `start` into the current processor's table. One out-of-line copy, not
/// one inlined into every routine (a smaller image; the call costs a few
/// cycles).
///
/// # IRQL
/// Any.
#[inline(never)]
fn finish(source: SourceId, start: u64) {
    // A counter behind the entry value (a thread moved to a processor
    // whose TSC lags) counts as 0, never as a huge duration.
    let elapsed = ticks().saturating_sub(start);
    count(source.index(), elapsed);
}

/// Counts a call of `elapsed` ticks into the current processor's table.
///
/// # IRQL
/// Any.
#[inline]
fn count(source: usize, elapsed: u64) {
    let tables = TABLE_COUNT.load(Ordering::Acquire) as usize;
    let cpu = processor();
    if cpu >= tables {
        // Not measuring (or a processor beyond the documented maximum).
        return;
    }
    let base = TABLES.load(Ordering::Acquire);
    // SAFETY: `cpu < TABLE_COUNT`, published after `TABLES` pointed at that
    // many zero-initialised tables, which stay allocated until every
    // registration is removed (no routine runs any more) and the count is
    // cleared.
    let table = unsafe { &*base.wrapping_add(cpu) };
    table.record(source, elapsed);
}

/// The cost tables: allocated at DriverEntry, freed on drop.
pub struct CostTables {
    _block: PoolBlock,
}

impl CostTables {
    /// Allocates one table per possible processor, takes the first
    /// calibration point and times the measurement itself; prints what it
    /// did. `None` (printed) when the pool cannot provide the tables: the
    /// driver then runs without measuring.
    ///
    /// # IRQL
    /// PASSIVE_LEVEL (DriverEntry, before any registration).
    #[must_use]
    pub fn allocate() -> Option<Self> {
        // SAFETY: callable at any IRQL.
        let processors = unsafe { KeQueryMaximumProcessorCountEx(ALL_PROCESSOR_GROUPS) };
        let bytes = (processors as usize).saturating_mul(size_of::<CostTable>());
        let block = if processors == 0 {
            None
        } else {
            PoolBlock::zeroed(Pool::NonPagedNx, bytes, POOL_TAG)
        };
        let Some(block) = block else {
            kprintln!(
                "cost: cannot allocate {bytes} bytes for {processors} processors; notify routines not measured"
            );
            return None;
        };
        let mut frequency = 0;
        START_QPC.store(qpc(Some(&mut frequency)), Ordering::Relaxed);
        START_TICKS.store(ticks(), Ordering::Relaxed);
        QPC_FREQUENCY.store(frequency, Ordering::Relaxed);
        let overhead = measure_overhead();
        OVERHEAD.store(overhead, Ordering::Relaxed);
        // All-zero bytes are valid, empty tables (kcb_proto::cost::CostTable).
        TABLES.store(block.as_ptr().cast(), Ordering::Release);
        TABLE_COUNT.store(processors, Ordering::Release);
        kprintln!(
            "cost: measuring notify routines on up to {processors} processors ({bytes} bytes of nonpaged pool); \
             counter {}, measurement overhead {overhead} ticks",
            if USES_TSC { "TSC" } else { "QPC" }
        );
        Some(Self { _block: block })
    }
}

impl Drop for CostTables {
    fn drop(&mut self) {
        TABLE_COUNT.store(0, Ordering::Release);
        TABLES.store(core::ptr::null_mut(), Ordering::Release);
    }
}

/// The smallest time of [`OVERHEAD_RUNS`] measurements of nothing (what a
/// [`Span`] adds to a call), into a scratch histogram.
fn measure_overhead() -> u64 {
    (0..OVERHEAD_RUNS)
        .map(|_| {
            let before = ticks();
            let start = ticks();
            let _ = processor();
            SCRATCH.record(ticks().saturating_sub(start));
            ticks().saturating_sub(before)
        })
        .min()
        .unwrap_or(0)
}

/// The counter's frequency in ticks per second, 0 while unknown.
///
/// # IRQL
/// Any.
fn counter_hz() -> u64 {
    let mut frequency = 0;
    // Counter read on both sides of the QPC read: use the midpoint.
    let before = ticks();
    let now_qpc = qpc(Some(&mut frequency));
    let after = ticks();
    if !USES_TSC {
        return frequency;
    }
    let now_ticks = before + after.saturating_sub(before) / 2;
    let elapsed_qpc = now_qpc.saturating_sub(START_QPC.load(Ordering::Relaxed));
    let elapsed_ticks = now_ticks.saturating_sub(START_TICKS.load(Ordering::Relaxed));
    let start_frequency = QPC_FREQUENCY.load(Ordering::Relaxed);
    if frequency == 0 || frequency != start_frequency || elapsed_qpc < frequency / CALIBRATION_DIVISOR {
        return 0;
    }
    let hz = u128::from(elapsed_ticks) * u128::from(frequency) / u128::from(elapsed_qpc);
    u64::try_from(hz).unwrap_or(0)
}

/// `IOCTL_KCB_QUERY_COST`: every source's histogram merged over the
/// processors, written straight into `out`.
///
/// # Errors
/// [`RequestError::TooSmall`] if `out` cannot hold a `CostResponse`.
///
/// # IRQL
/// <= DISPATCH_LEVEL (any, in fact; called from the dispatch routine).
pub fn write_response(out: &mut [u8]) -> Result<usize, RequestError> {
    let tables = TABLE_COUNT.load(Ordering::Acquire);
    let base = TABLES.load(Ordering::Acquire);
    let mut flags = if USES_TSC { COST_FLAG_TSC } else { 0 };
    let (processors, hz) = if tables == 0 || base.is_null() {
        (0, 0)
    } else {
        flags |= COST_FLAG_MEASURING;
        (tables, counter_hz())
    };
    let header = CostHeader::new(processors, flags, hz, OVERHEAD.load(Ordering::Relaxed));
    write_cost(out, &header, |source| {
        let mut merged = CostHistogram::ZERO;
        for cpu in 0..processors as usize {
            // SAFETY: `cpu < TABLE_COUNT` (see `count`); the tables outlive
            // the control device, which is deleted before they are freed.
            let table = unsafe { &*base.wrapping_add(cpu) };
            table.add_source_to(source, &mut merged);
        }
        merged
    })
}

const _: () = assert!(SOURCE_COUNT == SourceId::ALL.len());
