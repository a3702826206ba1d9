//! Blocks of nonpaged pool the driver owns, freed on drop.
//!
//! `ExAllocatePool2` (Windows 10 2004 and later; zeroes the block) where the
//! system exports it, else the documented fallback `ExAllocatePoolWithTag`
//! with `NonPagedPoolNx` (which Wine has; the block is zeroed here). Both
//! give no-execute memory.

use core::{ffi::c_void, ptr::NonNull};

use wdk_sys::{POOL_FLAG_NON_PAGED, ntddk::ExFreePoolWithTag};

use crate::{dynamic_fn, kernel::DynamicRoutine};

#[cfg_attr(
    target_os = "windows",
    link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")
)]
unsafe extern "C" {
    /// `ExAllocatePoolWithTag` (wdm/nf-wdm-exallocatepoolwithtag): the
    /// fallback where `ExAllocatePool2` is not exported.
    fn ExAllocatePoolWithTag(pool_type: i32, number_of_bytes: usize, tag: u32) -> *mut c_void;
}

/// `NonPagedPoolNx` (`POOL_TYPE`, wdm.h).
const NON_PAGED_POOL_NX: i32 = 512;

static EX_ALLOCATE_POOL2: DynamicRoutine = DynamicRoutine::new("ExAllocatePool2");
type AllocatePool2 = unsafe extern "C" fn(u64, usize, u32) -> *mut c_void;

/// A zeroed block of nonpaged, no-execute pool (16-byte aligned, as every
/// pool block on 64-bit Windows).
pub struct PoolBlock {
    block: NonNull<u8>,
    tag: u32,
}

// SAFETY: the block is plain memory owned by this value; sharing it is up to
// the owner, which documents how its contents are accessed.
unsafe impl Send for PoolBlock {}
// SAFETY: as above.
unsafe impl Sync for PoolBlock {}

impl PoolBlock {
    /// Allocates `size` zeroed bytes tagged `tag`; `None` when the pool
    /// cannot provide them.
    ///
    /// # IRQL
    /// PASSIVE_LEVEL (it resolves `ExAllocatePool2` by name).
    #[must_use]
    pub fn non_paged_zeroed(size: usize, tag: u32) -> Option<Self> {
        let pool2 = if EX_ALLOCATE_POOL2.resolve() {
            dynamic_fn!(EX_ALLOCATE_POOL2 => AllocatePool2)
        } else {
            None
        };
        let block = pool2.map_or_else(
            || {
                // SAFETY: a plain allocation at PASSIVE_LEVEL.
                let block = unsafe { ExAllocatePoolWithTag(NON_PAGED_POOL_NX, size, tag) }.cast::<u8>();
                if !block.is_null() {
                    // SAFETY: a fresh block of `size` bytes, not zeroed by this routine.
                    unsafe { block.write_bytes(0, size) };
                }
                block
            },
            // SAFETY: ExAllocatePool2's documented prototype; it zeroes the block.
            |allocate2| unsafe { allocate2(POOL_FLAG_NON_PAGED, size, tag) }.cast::<u8>(),
        );
        NonNull::new(block).map(|block| Self { block, tag })
    }

    /// The start of the block.
    #[must_use]
    pub const fn as_ptr(&self) -> *mut u8 {
        self.block.as_ptr()
    }
}

impl Drop for PoolBlock {
    fn drop(&mut self) {
        // SAFETY: our pool block, freed once, with the tag it was allocated with.
        unsafe { ExFreePoolWithTag(self.block.as_ptr().cast(), self.tag) };
    }
}
