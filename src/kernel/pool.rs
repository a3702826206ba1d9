//! Pool: the one allocation primitive of the driver ([`allocate`] /
//! [`free`]) and [`PoolBlock`], a zeroed block freed on drop.
//!
//! `ExAllocatePool2` where the system exports it (Windows 10 2004 and later;
//! wdm/nf-wdm-exallocatepool2: `POOL_FLAG_NON_PAGED` is non-executable, and
//! the block is zeroed), else the documented fallback `ExAllocatePoolWithTag`
//! with `NonPagedPoolNx` / `PagedPool` (wdm/ne-wdm-_pool_type), which does
//! not zero the block. `ExAllocatePool2` is resolved at run time, so the
//! image does not import a name older systems (and Wine) lack.

use core::{ffi::c_void, ptr::NonNull};

use wdk_sys::{POOL_FLAG_NON_PAGED, POOL_FLAG_PAGED, ntddk::ExFreePoolWithTag};

use crate::{
    dynamic_fn,
    kernel::{dynamic::DynamicRoutine, imports::ExAllocatePoolWithTag},
};

/// Pool tag of the event rings (`kcbR`).
pub const RING_TAG: u32 = u32::from_le_bytes(*b"kcbR");

/// Which pool a block comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pool {
    /// Non-paged, no-execute: usable at any IRQL (rings, cost tables).
    NonPagedNx,
    /// Paged: PASSIVE/APC_LEVEL only (the walker's module list).
    Paged,
}

impl Pool {
    /// `POOL_TYPE` for `ExAllocatePoolWithTag` (wdm.h: `PagedPool` 1,
    /// `NonPagedPoolNx` 512).
    const fn pool_type(self) -> i32 {
        match self {
            Self::NonPagedNx => 512,
            Self::Paged => 1,
        }
    }

    /// `POOL_FLAGS` for `ExAllocatePool2`.
    const fn flags(self) -> u64 {
        match self {
            Self::NonPagedNx => POOL_FLAG_NON_PAGED,
            Self::Paged => POOL_FLAG_PAGED,
        }
    }
}

static EX_ALLOCATE_POOL2: DynamicRoutine = DynamicRoutine::new("ExAllocatePool2");
/// The prototype of `ExAllocatePool2`, resolved at run time (checked against
/// windows-sys by `tests/windows_sys_conformance.rs`).
pub type AllocatePool2 = unsafe extern "C" fn(u64, usize, u32) -> *mut c_void;

/// Allocates `size` bytes of `pool` tagged `tag`, or NULL. The contents are
/// unspecified (zeroed with `ExAllocatePool2`).
///
/// # IRQL
/// PASSIVE_LEVEL (the resolution of `ExAllocatePool2`).
#[must_use]
pub fn allocate(pool: Pool, size: usize, tag: u32) -> *mut u8 {
    let pool2 = if EX_ALLOCATE_POOL2.resolve() {
        dynamic_fn!(EX_ALLOCATE_POOL2 => AllocatePool2)
    } else {
        None
    };
    pool2
        .map_or_else(
            // SAFETY: a plain allocation at PASSIVE_LEVEL.
            || unsafe { ExAllocatePoolWithTag(pool.pool_type(), size, tag) },
            // SAFETY: ExAllocatePool2's documented prototype; PASSIVE_LEVEL.
            |allocate2| unsafe { allocate2(pool.flags(), size, tag) },
        )
        .cast()
}

/// Frees a block from [`allocate`].
///
/// # Safety
/// `block` came from [`allocate`] with `tag`, is freed once, and
/// nothing uses it any more.
///
/// # IRQL
/// <= DISPATCH_LEVEL.
pub unsafe fn free(block: *mut u8, tag: u32) {
    // SAFETY: the caller's contract.
    unsafe { ExFreePoolWithTag(block.cast(), tag) };
}

/// A zeroed pool block (16-byte aligned, as every pool block on 64-bit
/// Windows), freed on drop.
pub struct PoolBlock {
    block: NonNull<u8>,
    size: usize,
    tag: u32,
}

// SAFETY: invariant (established by `zeroed`, the only constructor): the
// value owns one live pool block, freed once in Drop (ExFreePoolWithTag
// may run on any thread). Plain memory, no thread affinity.
unsafe impl Send for PoolBlock {}
// SAFETY: same invariant; through `&self` only a raw pointer (`as_ptr`,
// whose user documents its access protocol) or, under `bytes`' unsafe
// contract of no concurrent writer, a shared slice is reachable.
unsafe impl Sync for PoolBlock {}

impl PoolBlock {
    /// Allocates `size` zeroed bytes of `pool` tagged `tag`; `None` when
    /// the pool cannot provide them.
    ///
    /// # IRQL
    /// PASSIVE_LEVEL (it resolves `ExAllocatePool2` by name).
    #[must_use]
    pub fn zeroed(pool: Pool, size: usize, tag: u32) -> Option<Self> {
        let block = NonNull::new(allocate(pool, size, tag))?;
        // SAFETY: a fresh block of `size` bytes that nothing else knows yet
        // (the fallback does not zero it; zeroing twice is harmless).
        unsafe { block.as_ptr().write_bytes(0, size) };
        Some(Self { block, size, tag })
    }

    /// The start of the block.
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub const fn as_ptr(&self) -> *mut u8 {
        self.block.as_ptr()
    }

    /// The block's bytes.
    ///
    /// # Safety
    /// Nothing writes the block (through [`Self::as_ptr`]) while the
    /// returned slice is alive.
    ///
    /// # IRQL
    /// Any the pool allows ([`Pool::Paged`]: <= APC_LEVEL).
    #[must_use]
    pub const unsafe fn bytes(&self) -> &[u8] {
        // SAFETY: a live, zero-initialised block of `size` bytes owned by
        // `self`; no writer while the slice lives (the caller's contract).
        unsafe { core::slice::from_raw_parts(self.block.as_ptr(), self.size) }
    }
}

impl Drop for PoolBlock {
    fn drop(&mut self) {
        // SAFETY: our block from `allocate`, freed once, with its tag.
        unsafe { free(self.block.as_ptr(), self.tag) };
    }
}
