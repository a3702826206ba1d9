//! Reading one callback object's registration list, under its lock, with
//! every check of the module docs of [`crate::registrations::walker`].

use kcb_proto::layout_check;
use wdk_sys::{
    KIRQL, PKSPIN_LOCK,
    ntddk::{KeAcquireSpinLockRaiseToDpc, KeReleaseSpinLock, MmIsAddressValid},
};

/// Most registrations read from one object's list before it is declared
/// not recognised.
pub const MAX_REGISTRATIONS_PER_OBJECT: usize = 64;

/// `'Call'`.
const SIGNATURE: u32 = u32::from_le_bytes(*b"Call");
const LOCK_OFFSET: usize = 0x08;
const HEAD_OFFSET: usize = 0x10;
const ALLOW_MULTIPLE_OFFSET: usize = 0x20;
/// Bytes of the object read: up to and including the AllowMultiple byte.
const OBJECT_READ_SIZE: usize = ALLOW_MULTIPLE_OFFSET + 1;
const FLINK_OFFSET: usize = 0x00;
const BLINK_OFFSET: usize = 0x08;
const BLOCK_OBJECT_OFFSET: usize = 0x10;
const BLOCK_ROUTINE_OFFSET: usize = 0x18;
/// Bytes of a registration block read: list entry, object, routine.
const BLOCK_READ_SIZE: usize = BLOCK_ROUTINE_OFFSET + 8;
const PAGE_SIZE: usize = 0x1000;

// --- Reading the object --------------------------------------------------

/// Whether `MmIsAddressValid` says the page of `address` is valid.
fn page_valid(address: *const u8) -> bool {
    // SAFETY: MmIsAddressValid only probes the address (<= DISPATCH_LEVEL).
    unsafe { MmIsAddressValid(address.cast_mut().cast()) != 0 }
}

/// Whether `length` bytes at `address` are pointer-aligned and on valid
/// pages (each page touched is checked; `length` is far below a page).
fn readable(address: *const u8, length: usize) -> bool {
    if address.is_null() || !address.addr().is_multiple_of(8) {
        return false;
    }
    let last = address.wrapping_add(length - 1);
    page_valid(address) && (address.addr() / PAGE_SIZE == last.addr() / PAGE_SIZE || page_valid(last))
}

/// Reads a `T` at `base + offset`.
///
/// # Safety
/// The bytes were checked with [`readable`] and stay valid (the object is
/// referenced; list blocks are read under the object's lock); the offset is
/// aligned for `T` (`base` is 8-aligned).
unsafe fn read<T: Copy>(base: *const u8, offset: usize) -> T {
    #[allow(
        clippy::cast_ptr_alignment,
        reason = "base is 8-aligned and offsets are aligned for T"
    )]
    let field = base.wrapping_add(offset).cast::<T>();
    // SAFETY: per the function's contract.
    unsafe { field.read_volatile() }
}

/// What one object's list held.
pub struct Walked {
    pub allow_multiple: bool,
    pub routines: [u64; MAX_REGISTRATIONS_PER_OBJECT],
    pub count: usize,
}

/// Validates and walks the registration list of `object`.
///
/// # Errors
/// The [`layout_check`] that failed.
///
/// # Safety
/// `object` is a callback object pointer this driver holds a reference to.
///
/// # IRQL
/// `<= APC_LEVEL` (raises to DISPATCH_LEVEL while it holds the lock).
pub unsafe fn walk_object(object: *const u8) -> Result<Walked, u32> {
    if !readable(object, OBJECT_READ_SIZE) {
        return Err(layout_check::UNREADABLE);
    }
    // SAFETY: checked readable; offset 0 of an 8-aligned object.
    let signature: u32 = unsafe { read(object, 0) };
    if signature != SIGNATURE {
        return Err(layout_check::SIGNATURE);
    }
    // SAFETY: as above (the AllowMultiple byte is within the checked range).
    let flag: u8 = unsafe { read(object, ALLOW_MULTIPLE_OFFSET) };
    if flag > 1 {
        return Err(layout_check::BAD_FLAG);
    }
    // SAFETY: as above (0x08..0x10 is within the checked range).
    let lock_word: u64 = unsafe { read(object, LOCK_OFFSET) };
    if lock_word > 1 {
        return Err(layout_check::LOCK_VALUE);
    }
    let lock: PKSPIN_LOCK = object.wrapping_add(LOCK_OFFSET).cast_mut().cast();
    // SAFETY: the object's KSPIN_LOCK (signature and flag checked, the
    // object referenced); taken as ExRegisterCallback takes it (module docs).
    let previous: KIRQL = unsafe { KeAcquireSpinLockRaiseToDpc(lock) };
    // SAFETY: the object is referenced and its lock is held, so its list
    // does not change and no block is freed during the walk.
    let walked = unsafe { walk_list(object, flag == 1) };
    // SAFETY: acquired above on this thread; `previous` is what it returned.
    unsafe { KeReleaseSpinLock(lock, previous) };
    walked
}

/// The list walk proper (see the module docs for the checks).
///
/// # Safety
/// As [`walk_object`], with the object's lock held.
unsafe fn walk_list(object: *const u8, allow_multiple: bool) -> Result<Walked, u32> {
    let mut walked = Walked {
        allow_multiple,
        routines: [0; MAX_REGISTRATIONS_PER_OBJECT],
        count: 0,
    };
    let head = object.wrapping_add(HEAD_OFFSET);
    let mut previous = head;
    // SAFETY: the head lies in the object's checked range.
    let mut entry: *const u8 = unsafe { read(head, FLINK_OFFSET) };
    loop {
        if entry.addr() == head.addr() {
            // SAFETY: as above.
            let last: *const u8 = unsafe { read(head, BLINK_OFFSET) };
            if last.addr() != previous.addr() {
                return Err(layout_check::LINK_MISMATCH);
            }
            break;
        }
        if walked.count == MAX_REGISTRATIONS_PER_OBJECT {
            return Err(layout_check::TOO_LONG);
        }
        if !readable(entry, BLOCK_READ_SIZE) {
            return Err(layout_check::UNREADABLE);
        }
        // SAFETY: checked readable just above; the lock keeps it allocated.
        let back: *const u8 = unsafe { read(entry, BLINK_OFFSET) };
        if back.addr() != previous.addr() {
            return Err(layout_check::LINK_MISMATCH);
        }
        // SAFETY: as above.
        let owner: *const u8 = unsafe { read(entry, BLOCK_OBJECT_OFFSET) };
        if owner.addr() != object.addr() {
            return Err(layout_check::OBJECT_MISMATCH);
        }
        // SAFETY: as above.
        let routine: u64 = unsafe { read(entry, BLOCK_ROUTINE_OFFSET) };
        if routine == 0 {
            return Err(layout_check::NULL_ROUTINE);
        }
        walked.routines[walked.count] = routine;
        walked.count += 1;
        previous = entry;
        // SAFETY: as above.
        entry = unsafe { read(entry, FLINK_OFFSET) };
    }
    if !allow_multiple && walked.count > 1 {
        return Err(layout_check::SINGLE_WITH_MANY);
    }
    Ok(walked)
}
