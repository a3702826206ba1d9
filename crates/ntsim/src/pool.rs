//! Pool allocation: real host memory, every block recorded with its IRQL,
//! tag, size, pool kind and call site.
//!
//! The exported routines are thin C wrappers (`csrc/shims.c`) that pass
//! their return address, so [`Allocation::caller`] is the address of the
//! instruction after the driver's call: `#[track_caller]` does not cross
//! an `extern "C"` boundary, and a backtrace per allocation would be slow.
//! The tag identifies the code path the way pool tools do.
//!
//! Checks (debugger/bug-check-0xc4--driver-verifier-detected-violation,
//! debugger/bug-check-0xc2--bad-pool-caller):
//! * allocating zero bytes: 0xC4/0x00; paged pool above `APC_LEVEL`:
//!   0xC4/0x01; nonpaged pool above `DISPATCH_LEVEL`: 0xC4/0x02 (the call
//!   returns NULL);
//! * freeing an address no allocation returned: 0xC4/0x10; paged pool
//!   above `APC_LEVEL`: 0xC4/0x11; nonpaged above `DISPATCH_LEVEL`: 0xC4/0x12;
//! * freeing a block twice: **0xC2/0x07** (BAD_POOL_CALLER, "attempted to
//!   free the pool, which was already freed"; P3 the pool header contents
//!   (here: the tag), P4 the address). Chosen over Verifier's 0xC4/0x13
//!   because it is the check the kernel itself makes, with or without
//!   Verifier, and it names the block's address;
//! * freeing with the wrong tag (`ExFreePoolWithTag`): 0xC2/0x0A;
//! * `ExAllocatePoolWithTag` with tag 0: 0xC2/0x9B;
//! * leaks at unload: 0xC4/0x62 (raised by [`crate::Kernel::unload_driver`]).
//!
//! `ExAllocatePool2` (wdm/nf-wdm-exallocatepool2) zeroes the block unless
//! `POOL_FLAG_UNINITIALIZED`, returns NULL for tag 0 or invalid flags, and
//! with `POOL_FLAG_RAISE_ON_FAILURE` raises instead of returning NULL (the
//! model records 0x1E KMODE_EXCEPTION_NOT_HANDLED: a Rust driver has no SEH
//! handler). `ExAllocatePoolWithTag` does not zero: uninitialized blocks are
//! filled with [`UNINITIALIZED_FILL`] so code that relies on zeroing shows.

use std::alloc::Layout;
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::ffi::c_void;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use wdk_sys::{
    KIRQL, POOL_FLAG_CACHE_ALIGNED, POOL_FLAG_NON_PAGED, POOL_FLAG_NON_PAGED_EXECUTE, POOL_FLAG_PAGED,
    POOL_FLAG_RAISE_ON_FAILURE, POOL_FLAG_SESSION, POOL_FLAG_UNINITIALIZED, POOL_FLAG_USE_QUOTA,
    STATUS_INSUFFICIENT_RESOURCES,
};

use crate::irql::{APC_LEVEL, DISPATCH_LEVEL};
use crate::verifier::{self, codes};
use crate::{context, ddi, irql, sync::lock};

/// Byte written into blocks the allocator does not zero.
pub const UNINITIALIZED_FILL: u8 = 0xCD;

/// Which pool a block came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// Nonpaged, not executable.
    NonPaged,
    /// Nonpaged, executable (`NonPagedPool`, `POOL_FLAG_NON_PAGED_EXECUTE`).
    NonPagedExecute,
    /// Paged.
    Paged,
}

impl PoolKind {
    const fn max_irql(self) -> KIRQL {
        match self {
            Self::Paged => APC_LEVEL,
            Self::NonPaged | Self::NonPagedExecute => DISPATCH_LEVEL,
        }
    }

    /// The `POOL_TYPE` value the bug check parameters report.
    const fn pool_type(self) -> u64 {
        match self {
            Self::NonPagedExecute => 0,
            Self::Paged => 1,
            Self::NonPaged => 512,
        }
    }
}

/// One live (or leaked) allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// Sequence number since boot.
    pub id: u64,
    /// The block's address.
    pub address: usize,
    /// Bytes requested.
    pub size: usize,
    /// The pool tag (as the driver passed it: `u32::from_le_bytes(*b"Tag1")` reads "Tag1").
    pub tag: u32,
    /// The pool.
    pub kind: PoolKind,
    /// The IRQL at allocation.
    pub irql: KIRQL,
    /// The return address of the allocating call (the driver's call site).
    pub caller: usize,
    /// The simulated thread id of the caller.
    pub tid: u64,
    /// The routine that allocated it.
    pub api: &'static str,
}

impl fmt::Display for Allocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} bytes tag '{}' ({:?}) at {:#x} by {} from {:#x} at IRQL {}",
            self.size,
            tag_text(self.tag),
            self.kind,
            self.address,
            self.api,
            self.caller,
            self.irql
        )
    }
}

/// A pool tag as text (its bytes in memory order, as pool tools print it).
#[must_use]
pub fn tag_text(tag: u32) -> String {
    tag.to_le_bytes()
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '.'
            }
        })
        .collect()
}

#[derive(Default)]
struct Pool {
    live: HashMap<usize, (Allocation, Layout)>,
    freed: HashSet<usize>,
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static TOTAL: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static THREAD_ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn with_pool<R>(f: impl FnOnce(&mut Pool) -> R) -> R {
    let mut guard = lock(&POOL);
    f(guard.get_or_insert_with(Pool::default))
}

/// Decodes an `ExAllocatePool2` flags value.
const fn kind_from_flags(flags: u64) -> Option<PoolKind> {
    let known = POOL_FLAG_USE_QUOTA
        | POOL_FLAG_UNINITIALIZED
        | POOL_FLAG_SESSION
        | POOL_FLAG_CACHE_ALIGNED
        | POOL_FLAG_RAISE_ON_FAILURE
        | POOL_FLAG_NON_PAGED
        | POOL_FLAG_NON_PAGED_EXECUTE
        | POOL_FLAG_PAGED;
    if flags & !known != 0 {
        return None;
    }
    // wdm/ne-wdm-pool_flags: exactly one of the required pool-type flags.
    match flags & (POOL_FLAG_NON_PAGED | POOL_FLAG_NON_PAGED_EXECUTE | POOL_FLAG_PAGED) {
        POOL_FLAG_NON_PAGED => Some(PoolKind::NonPaged),
        POOL_FLAG_NON_PAGED_EXECUTE => Some(PoolKind::NonPagedExecute),
        POOL_FLAG_PAGED => Some(PoolKind::Paged),
        _ => None,
    }
}

/// Decodes a `POOL_TYPE` (wdm/ne-wdm-_pool_type): paged types are odd.
const fn kind_from_type(pool_type: u64) -> PoolKind {
    if pool_type & 1 == 1 {
        PoolKind::Paged
    } else if pool_type & 512 != 0 {
        PoolKind::NonPaged
    } else {
        PoolKind::NonPagedExecute
    }
}

fn layout_for(size: usize) -> Option<Layout> {
    // wdm/nf-wdm-exallocatepool2: 16-byte aligned on 64-bit systems; page
    // aligned from PAGE_SIZE on.
    let align = if size >= 4096 { 4096 } else { 16 };
    Layout::from_size_align(size, align).ok()
}

/// Called by the C wrappers of `ExAllocatePool2` (api 0),
/// `ExAllocatePoolWithTag` (1) and `ExAllocatePool` (2).
///
/// # Safety
/// None beyond the C ABI.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ntsim_pool_allocate(
    api: u32,
    kind: u64,
    bytes: usize,
    tag: u32,
    caller: *const c_void,
) -> *mut c_void {
    let (ddi, pool2) = match api {
        0 => (&ddi::EX_ALLOCATE_POOL2, true),
        1 => (&ddi::EX_ALLOCATE_POOL_WITH_TAG, false),
        _ => (&ddi::EX_ALLOCATE_POOL, false),
    };
    let entry = ddi::enter(ddi);
    let raise = pool2 && kind & POOL_FLAG_RAISE_ON_FAILURE != 0;
    let fail = |status: i32, why: &str| -> *mut c_void {
        if raise {
            verifier::bugcheck(
                codes::KMODE_EXCEPTION_NOT_HANDLED,
                [u64::from(status.cast_unsigned()), caller as u64, 0, 0],
                format!(
                    "{}: POOL_FLAG_RAISE_ON_FAILURE raised {status:#X} ({why}) and nothing handled it",
                    ddi.name
                ),
            );
        }
        std::ptr::null_mut()
    };
    let pool_kind = if pool2 {
        match kind_from_flags(kind) {
            Some(k) => k,
            None => return fail(STATUS_INSUFFICIENT_RESOURCES, "invalid POOL_FLAGS"),
        }
    } else {
        kind_from_type(kind)
    };
    if entry.irql > pool_kind.max_irql() {
        let p1 = if pool_kind == PoolKind::Paged { 0x01 } else { 0x02 };
        verifier::bugcheck(
            codes::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [p1, u64::from(entry.irql), pool_kind.pool_type(), bytes as u64],
            format!(
                "{} of {bytes} bytes of {pool_kind:?} pool at {} ({}); allowed up to {}",
                ddi.name,
                irql::name(entry.irql),
                entry.irql,
                irql::name(pool_kind.max_irql())
            ),
        );
        return std::ptr::null_mut();
    }
    if bytes == 0 {
        verifier::bugcheck(
            codes::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [0x00, u64::from(entry.irql), pool_kind.pool_type(), 0],
            format!("{}: zero-byte pool allocation", ddi.name),
        );
        return std::ptr::null_mut();
    }
    if tag == 0 {
        if pool2 {
            // wdm/nf-wdm-exallocatepool2: "Tag is set to 0" -> NULL.
            return fail(STATUS_INSUFFICIENT_RESOURCES, "tag 0");
        }
        verifier::bugcheck(
            codes::BAD_POOL_CALLER,
            [0x9B, pool_kind.pool_type(), bytes as u64, caller as u64],
            format!("{}: pool tag 0", ddi.name),
        );
    }
    if let Some(status) = entry.fault {
        return fail(status, "injected fault");
    }
    let Some(layout) = layout_for(bytes) else {
        return fail(STATUS_INSUFFICIENT_RESOURCES, "size");
    };
    let zeroed = pool2 && kind & POOL_FLAG_UNINITIALIZED == 0;
    let block = if zeroed {
        // SAFETY: the layout has a non-zero size (checked above).
        unsafe { std::alloc::alloc_zeroed(layout) }
    } else {
        // SAFETY: as above.
        let block = unsafe { std::alloc::alloc(layout) };
        if !block.is_null() {
            // SAFETY: `block` is a fresh allocation of `bytes` bytes.
            unsafe { block.write_bytes(UNINITIALIZED_FILL, bytes) };
        }
        block
    };
    if block.is_null() {
        return fail(STATUS_INSUFFICIENT_RESOURCES, "host allocation failed");
    }
    let address = block as usize;
    let allocation = Allocation {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        address,
        size: bytes,
        tag,
        kind: pool_kind,
        irql: entry.irql,
        caller: caller as usize,
        tid: context::current_tid(),
        api: ddi.name,
    };
    with_pool(|pool| {
        pool.freed.remove(&address);
        pool.live.insert(address, (allocation, layout));
    });
    TOTAL.fetch_add(1, Ordering::Relaxed);
    THREAD_ALLOCATIONS.with(|n| n.set(n.get() + 1));
    block.cast()
}

/// Called by the C wrappers of `ExFreePool` (api 0) and `ExFreePoolWithTag` (1).
///
/// # Safety
/// `block` is what the driver passed to the free routine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ntsim_pool_free(api: u32, block: *mut c_void, tag: u32, caller: *const c_void) {
    let ddi = if api == 0 {
        &ddi::EX_FREE_POOL
    } else {
        &ddi::EX_FREE_POOL_WITH_TAG
    };
    let entry = ddi::enter(ddi);
    let address = block as usize;
    let found = with_pool(|pool| pool.live.get(&address).map(|(a, l)| (a.clone(), *l)));
    let Some((allocation, layout)) = found else {
        let double = with_pool(|pool| pool.freed.contains(&address));
        if double {
            verifier::bugcheck(
                codes::BAD_POOL_CALLER,
                [0x07, 0, u64::from(tag), address as u64],
                format!(
                    "{}: block {address:#x} was already freed (caller {:#x})",
                    ddi.name, caller as usize
                ),
            );
        } else {
            verifier::bugcheck(
                codes::DRIVER_VERIFIER_DETECTED_VIOLATION,
                [0x10, address as u64, 0, 0],
                format!(
                    "{}: {address:#x} was not returned by an allocation (caller {:#x})",
                    ddi.name, caller as usize
                ),
            );
        }
        return;
    };
    if entry.irql > allocation.kind.max_irql() {
        let p1 = if allocation.kind == PoolKind::Paged {
            0x11
        } else {
            0x12
        };
        verifier::bugcheck(
            codes::DRIVER_VERIFIER_DETECTED_VIOLATION,
            [
                p1,
                u64::from(entry.irql),
                allocation.kind.pool_type(),
                address as u64,
            ],
            format!(
                "{} of {:?} pool at {} ({})",
                ddi.name,
                allocation.kind,
                irql::name(entry.irql),
                entry.irql
            ),
        );
        return;
    }
    if api == 1 && tag != allocation.tag {
        verifier::bugcheck(
            codes::BAD_POOL_CALLER,
            [0x0A, address as u64, u64::from(allocation.tag), u64::from(tag)],
            format!(
                "ExFreePoolWithTag of {address:#x} with tag '{}'; it was allocated with '{}'",
                tag_text(tag),
                tag_text(allocation.tag)
            ),
        );
        return;
    }
    with_pool(|pool| {
        pool.live.remove(&address);
        pool.freed.insert(address);
    });
    // SAFETY: the block was allocated by ntsim_pool_allocate with this layout
    // and is removed from the live table, so it is freed once.
    unsafe { std::alloc::dealloc(block.cast(), layout) };
}

/// The allocations not freed yet, oldest first.
#[must_use]
pub fn outstanding() -> Vec<Allocation> {
    let mut list: Vec<Allocation> = with_pool(|pool| pool.live.values().map(|(a, _)| a.clone()).collect());
    list.sort_by_key(|a| a.id);
    list
}

/// Pool allocations made since boot (all threads).
#[must_use]
pub fn total_allocations() -> u64 {
    TOTAL.load(Ordering::Relaxed)
}

/// Runs `f` and returns how many pool allocations the current thread made
/// meanwhile (through any of the pool routines, successful ones only).
/// Triggers run callbacks on the calling thread, so this counts what a
/// notify routine allocated for one event. Host-heap allocations are not
/// pool allocations: the driver is `no_std` without `alloc` in host builds,
/// and its Windows global allocator goes through `ExAllocatePool2`.
pub fn count_allocations(f: impl FnOnce()) -> usize {
    let before = THREAD_ALLOCATIONS.with(Cell::get);
    f();
    let after = THREAD_ALLOCATIONS.with(Cell::get);
    usize::try_from(after - before).unwrap_or(usize::MAX)
}

/// Forgets every allocation. Leaked blocks are not freed (the driver's
/// statics might still point to them); the host memory stays leaked.
pub(crate) fn reset() {
    *lock(&POOL) = Some(Pool::default());
    TOTAL.store(0, Ordering::Relaxed);
}
