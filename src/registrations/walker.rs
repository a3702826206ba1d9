//! "Who is registered where": the routines registered on each callback
//! object, with the module and offset each one lies at.
//!
//! No documented routine lists the registrations of a callback object, so
//! this walks the object's registration list as
//! `seeds/callback-object-internals.md` describes it (Windows 11 24H2):
//!
//! | object offset | field |
//! |---|---|
//! | 0x00 | signature `'Call'` (0x6C6C6143) |
//! | 0x08 | KSPIN_LOCK guarding the list |
//! | 0x10 / 0x18 | list head (`Flink` / `Blink`) |
//! | 0x20 | `AllowMultipleCallbacks` (BOOLEAN) |
//!
//! and each registration block (what `ExRegisterCallback` returns, linked
//! into that list at its offset 0): list entry (0x00), object (0x10),
//! routine (0x18), context (0x20).
//!
//! The layout is undocumented and may differ on another build, so nothing is
//! reported unless every check passes; a failed check gives one "layout not
//! recognised" entry naming the check, never a guess:
//! * the object and each block are pointer-aligned, and `MmIsAddressValid`
//!   says every page of the bytes about to be read is valid, before they are
//!   read (it may be called at DISPATCH_LEVEL, under the lock);
//! * the signature is `'Call'` and the AllowMultipleCallbacks byte is 0 or 1;
//! * for each entry, `Blink` is the entry before it, the block's object
//!   pointer is the object, and the routine is not NULL;
//! * the list comes back to its head within [`MAX_REGISTRATIONS_PER_OBJECT`]
//!   entries, with the head's `Blink` on the last entry;
//! * an object that allows a single callback lists at most one.
//!
//! The lock: blocks are freed by `ExUnregisterCallback`, so without the lock
//! a block could be freed between the validity check and the read. The
//! internals note says `ExRegisterCallback` and `ExNotifyCallback` take the
//! lock at 0x08 with `KeAcquireSpinLockRaiseToDpc`; the walk takes it the
//! same way, only after the signature and flag checks passed, holds it only
//! while it reads the list (no allocation, no other lock, no call but
//! `MmIsAddressValid`), and takes one object's lock at a time. Acquiring
//! and releasing write to the word at 0x08, so two more guards keep a
//! build where that word is something else from being corrupted:
//! * the walk runs only on Windows builds on which the layout was verified
//!   ([`VERIFIED_BUILDS`], from `RtlGetVersion`, resolved at run time);
//!   elsewhere the request is answered with one
//!   `registration_status::BUILD_NOT_VERIFIED` entry (the build number in
//!   `detail`) and a debug line, and no object is opened or read;
//! * the word must hold a plausible spin-lock value before it is acquired:
//!   0 (free) or 1 (held; x64 `KeAcquireSpinLockRaiseToDpc` sets bit 0),
//!   else `layout_check::LOCK_VALUE` and it is left untouched. The check
//!   errs on the side of refusing: any other value, even one some variant
//!   of a held lock might leave, is reported, never acquired.
//!
//! The residual risk, a build on the list whose word at 0x08 holds 0 or 1
//! without being the lock, is why the walk stays opt-in.
//!
//! Modules come from `ZwQuerySystemInformation(SystemModuleInformation)`
//! at PASSIVE_LEVEL, into a paged pool buffer that is freed before the
//! request completes (`ExAllocatePool2` when the system exports it, else
//! `ExAllocatePoolWithTag`, which Wine has). Microsoft does not document
//! that class's output; the layout used is the commonly published one (see
//! [`module_field`]).
//!
//! Opt-in: `IOCTL_KCB_LIST_REGISTRATIONS` is refused unless
//! [`crate::config::settings::registration_walk`] (the
//! `EnableRegistrationWalk` value of `Parameters`, REG_DWORD, default 0).

use kcb_proto::{
    MAX_REGISTRATION_ENTRIES, PROTOCOL_VERSION, RegistrationEntry, RegistrationListHeader, RequestError,
    WStr, layout_check, registration_status, write_pod,
};
use wdk_sys::{
    KIRQL, PKSPIN_LOCK, STATUS_INFO_LENGTH_MISMATCH, STATUS_INSUFFICIENT_RESOURCES, UNICODE_STRING,
    ntddk::{KeAcquireSpinLockRaiseToDpc, KeReleaseSpinLock, MmIsAddressValid},
};

use crate::{
    dynamic_fn,
    kernel::dynamic::DynamicRoutine,
    kernel::imports::ZwQuerySystemInformation,
    kernel::pool::{Pool, PoolBlock},
    kprintln,
    registrations::callback_map,
    registrations::catalog::CATALOG,
    registrations::ex::{CallbackObject, System},
};

/// Most registrations read from one object's list before it is declared
/// not recognised.
pub const MAX_REGISTRATIONS_PER_OBJECT: usize = 64;

/// Windows builds on which the layout above was verified: 26100 (Windows 11
/// 24H2 / Server 2025, `seeds/callback-object-internals.md`).
pub const VERIFIED_BUILDS: &[u32] = &[26100];

static RTL_GET_VERSION: DynamicRoutine = DynamicRoutine::new("RtlGetVersion");
type GetVersionFn = unsafe extern "C" fn(*mut OsVersionInfo) -> i32;

/// `RTL_OSVERSIONINFOW` (wdm/ns-wdm-_osversioninfow).
#[repr(C)]
struct OsVersionInfo {
    size: u32,
    major: u32,
    minor: u32,
    build: u32,
    platform: u32,
    csd_version: [u16; 128],
}

/// The running build (`RtlGetVersion`), if it can be read.
///
/// # IRQL
/// PASSIVE_LEVEL.
fn running_build() -> Option<u32> {
    if !RTL_GET_VERSION.resolve() {
        return None;
    }
    let get = dynamic_fn!(RTL_GET_VERSION => GetVersionFn)?;
    let mut info = OsVersionInfo {
        #[allow(clippy::cast_possible_truncation, reason = "276 bytes")]
        size: size_of::<OsVersionInfo>() as u32,
        major: 0,
        minor: 0,
        build: 0,
        platform: 0,
        csd_version: [0; 128],
    };
    // SAFETY: RtlGetVersion's documented prototype; a writable
    // RTL_OSVERSIONINFOW whose size field is set. PASSIVE_LEVEL.
    let status = unsafe { get(&raw mut info) };
    (status >= 0).then_some(info.build)
}

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

/// `SystemModuleInformation`.
const SYSTEM_MODULE_INFORMATION: u32 = 11;
/// Pool tag of the module-list buffer.
const POOL_TAG: u32 = u32::from_le_bytes(*b"kcbW");
/// Largest module list accepted (a few hundred modules need ~100 KB).
const MAX_MODULE_BUFFER: usize = 4 << 20;

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
struct Walked {
    allow_multiple: bool,
    routines: [u64; MAX_REGISTRATIONS_PER_OBJECT],
    count: usize,
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
unsafe fn walk_object(object: *const u8) -> Result<Walked, u32> {
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

// --- Modules -------------------------------------------------------------

/// `RTL_PROCESS_MODULES` / `RTL_PROCESS_MODULE_INFORMATION`: not documented
/// by Microsoft; this is the layout commonly published for x64 (e.g.
/// Process Hacker's `ntldr.h`): a ULONG `NumberOfModules`, then from offset
/// 8 entries of 0x128 bytes: `Section`, `MappedBase`, `ImageBase`
/// (pointers), `ImageSize`, `Flags` (ULONG), `LoadOrderIndex`,
/// `InitOrderIndex`, `LoadCount`, `OffsetToFileName` (USHORT),
/// `FullPathName[256]` (ANSI).
mod module_field {
    pub const FIRST: usize = 8;
    pub const SIZE: usize = 0x128;
    pub const IMAGE_BASE: usize = 0x10;
    pub const IMAGE_SIZE: usize = 0x18;
    pub const OFFSET_TO_FILE_NAME: usize = 0x26;
    pub const FULL_PATH_NAME: usize = 0x28;
    pub const FULL_PATH_LEN: usize = 256;
}

/// The system's module list, in a paged-pool block freed on drop.
struct ModuleList {
    block: PoolBlock,
}

impl ModuleList {
    /// Queries the module list.
    ///
    /// # Errors
    /// The failing status.
    ///
    /// # IRQL
    /// PASSIVE_LEVEL.
    fn query() -> Result<Self, i32> {
        let mut needed = 0_u32;
        // SAFETY: a size query: no buffer, `needed` receives the size.
        let mut status = unsafe {
            ZwQuerySystemInformation(
                SYSTEM_MODULE_INFORMATION,
                core::ptr::null_mut(),
                0,
                &raw mut needed,
            )
        };
        for _ in 0..4 {
            if status >= 0 || status != STATUS_INFO_LENGTH_MISMATCH {
                break;
            }
            // Room for modules loaded meanwhile.
            let size = (needed as usize).saturating_add(4 * module_field::SIZE);
            if needed == 0 || size > MAX_MODULE_BUFFER {
                return Err(STATUS_INFO_LENGTH_MISMATCH);
            }
            let Some(block) = PoolBlock::zeroed(Pool::Paged, size, POOL_TAG) else {
                return Err(STATUS_INSUFFICIENT_RESOURCES);
            };
            let buffer = block.as_ptr();
            let list = Self { block };
            #[allow(clippy::cast_possible_truncation, reason = "at most MAX_MODULE_BUFFER")]
            let length = size as u32;
            // SAFETY: the buffer is writable for `size` bytes.
            status = unsafe {
                ZwQuerySystemInformation(SYSTEM_MODULE_INFORMATION, buffer.cast(), length, &raw mut needed)
            };
            if status >= 0 {
                return Ok(list);
            }
        }
        Err(status)
    }

    const fn bytes(&self) -> &[u8] {
        // SAFETY: the block was written (by ZwQuerySystemInformation) before
        // the list was returned; nothing writes it afterwards.
        unsafe { self.block.bytes() }
    }

    /// The module containing `routine`: its file name and the offset.
    fn find(&self, routine: u64) -> Option<([u8; 32], u64)> {
        let bytes = self.bytes();
        let count = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
        let fits = (bytes.len() - module_field::FIRST) / module_field::SIZE;
        (0..count.min(fits)).find_map(|index| {
            let start = module_field::FIRST + index * module_field::SIZE;
            let entry = bytes.get(start..start + module_field::SIZE)?;
            let field = |at: usize, n: usize| entry.get(at..at + n);
            let base = u64::from_le_bytes(field(module_field::IMAGE_BASE, 8)?.try_into().ok()?);
            let size = u32::from_le_bytes(field(module_field::IMAGE_SIZE, 4)?.try_into().ok()?);
            let offset = routine.checked_sub(base).filter(|o| *o < u64::from(size))?;
            let name_at = usize::from(u16::from_le_bytes(
                field(module_field::OFFSET_TO_FILE_NAME, 2)?.try_into().ok()?,
            ));
            let path = field(module_field::FULL_PATH_NAME, module_field::FULL_PATH_LEN)?;
            let file = path.get(name_at..).unwrap_or(path);
            let mut name = [0u8; 32];
            for (slot, &b) in name.iter_mut().zip(file.iter().take_while(|&&b| b != 0)) {
                *slot = if b.is_ascii_graphic() || b == b' ' {
                    b
                } else {
                    b'?'
                };
            }
            Some((name, offset))
        })
    }
}

// --- The reply -----------------------------------------------------------

struct EntryWriter<'a> {
    out: &'a mut [u8],
    count: u32,
    returned: u32,
}

impl EntryWriter<'_> {
    fn push(&mut self, entry: &RegistrationEntry) {
        self.count = self.count.saturating_add(1);
        if self.returned as usize >= MAX_REGISTRATION_ENTRIES {
            return;
        }
        let offset =
            size_of::<RegistrationListHeader>() + self.returned as usize * size_of::<RegistrationEntry>();
        if let Some(rest) = self.out.get_mut(offset..)
            && write_pod(entry, rest).is_some()
        {
            self.returned += 1;
        }
    }

    fn finish(self, objects: u32) -> usize {
        let header = RegistrationListHeader {
            version: PROTOCOL_VERSION,
            count: self.count,
            returned: self.returned,
            objects,
        };
        let _ = write_pod(&header, self.out);
        size_of::<RegistrationListHeader>() + self.returned as usize * size_of::<RegistrationEntry>()
    }
}

/// Totals for the debug line.
#[derive(Default)]
struct Totals {
    objects: u32,
    registrations: u32,
    unrecognised: u32,
    unavailable: u32,
}

fn entry_for(index: u32, name: &[u16], status: u32, detail: u32) -> RegistrationEntry {
    let mut object = WStr::default();
    object.set_from_utf16(name);
    RegistrationEntry {
        object_index: index,
        status,
        detail,
        allow_multiple: u32::MAX,
        routine: 0,
        offset: 0,
        module: [0; 32],
        object,
        reserved: [0; 2],
    }
}

/// Opens object `name`, walks it and writes its entries.
fn walk_named(name: &[u16], modules: Option<&ModuleList>, writer: &mut EntryWriter<'_>, totals: &mut Totals) {
    let index = totals.objects;
    totals.objects += 1;
    let Ok(length) = u16::try_from(name.len() * 2) else {
        return;
    };
    let unicode = UNICODE_STRING {
        Length: length,
        MaximumLength: length,
        Buffer: name.as_ptr().cast_mut(),
    };
    let object = match CallbackObject::<System>::open(&unicode) {
        Ok(object) => object,
        Err(failure) => {
            totals.unavailable += 1;
            writer.push(&entry_for(
                index,
                name,
                registration_status::OBJECT_UNAVAILABLE,
                failure.status.cast_unsigned(),
            ));
            return;
        }
    };
    // SAFETY: `object` holds a reference until it drops, after the walk.
    let walked = unsafe { walk_object(object.as_ptr().cast_const().cast()) };
    drop(object);
    let walked = match walked {
        Ok(walked) => walked,
        Err(check) => {
            totals.unrecognised += 1;
            writer.push(&entry_for(
                index,
                name,
                registration_status::LAYOUT_NOT_RECOGNISED,
                check,
            ));
            return;
        }
    };
    let mut entry = entry_for(index, name, registration_status::NO_REGISTRATIONS, 0);
    entry.allow_multiple = u32::from(walked.allow_multiple);
    if walked.count == 0 {
        writer.push(&entry);
        return;
    }
    for &routine in &walked.routines[..walked.count] {
        totals.registrations += 1;
        entry.routine = routine;
        (entry.status, entry.module, entry.offset) = match modules.map(|m| m.find(routine)) {
            Some(Some((module, offset))) => (registration_status::IN_MODULE, module, offset),
            Some(None) => (registration_status::NO_MODULE, [0; 32], 0),
            None => (registration_status::MODULES_UNAVAILABLE, [0; 32], 0),
        };
        writer.push(&entry);
    }
}

/// `IOCTL_KCB_LIST_REGISTRATIONS`: every object of the `\Callback`
/// directory (the catalog's names if the directory cannot be read) with the
/// routines registered on it. The caller checks
/// [`crate::config::settings::registration_walk`].
///
/// # Errors
/// [`RequestError::TooSmall`] if `out` cannot hold the header.
///
/// # IRQL
/// PASSIVE_LEVEL.
pub fn write_registrations(out: &mut [u8]) -> Result<usize, RequestError> {
    if out.len() < size_of::<RegistrationListHeader>() {
        return Err(RequestError::TooSmall);
    }
    let build = running_build();
    if !build.is_some_and(|b| VERIFIED_BUILDS.contains(&b)) {
        let build = build.unwrap_or(0);
        kprintln!(
            "registration walk: refused: the callback-object layout was not verified on Windows build {build} (verified: {:?}); nothing read",
            VERIFIED_BUILDS
        );
        let mut writer = EntryWriter {
            out,
            count: 0,
            returned: 0,
        };
        writer.push(&entry_for(
            0,
            callback_map::CALLBACK_DIRECTORY.units(),
            registration_status::BUILD_NOT_VERIFIED,
            build,
        ));
        return Ok(writer.finish(0));
    }
    let modules = match ModuleList::query() {
        Ok(list) => Some(list),
        Err(status) => {
            kprintln!(
                "registration walk: module list unavailable: status={:#010X}",
                status.cast_unsigned()
            );
            None
        }
    };
    let mut writer = EntryWriter {
        out,
        count: 0,
        returned: 0,
    };
    let mut totals = Totals::default();
    let _ = callback_map::walk_directory(|name| walk_named(name, modules.as_ref(), &mut writer, &mut totals));
    if totals.objects == 0 {
        for entry in &CATALOG {
            walk_named(entry.name.units(), modules.as_ref(), &mut writer, &mut totals);
        }
    }
    drop(modules);
    kprintln!(
        "registration walk: {} objects, {} registrations, {} layouts not recognised, {} unavailable",
        totals.objects,
        totals.registrations,
        totals.unrecognised,
        totals.unavailable
    );
    Ok(writer.finish(totals.objects))
}
