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
//! `modules::module_field`).
//!
//! Opt-in: `IOCTL_KCB_LIST_REGISTRATIONS` is refused unless
//! [`crate::config::settings::registration_walk`] (the
//! `EnableRegistrationWalk` value of `Parameters`, REG_DWORD, default 0).

mod list;
mod modules;

use kcb_proto::{
    MAX_REGISTRATION_ENTRIES, PROTOCOL_VERSION, RegistrationEntry, RegistrationListHeader, RequestError,
    WStr, registration_status, write_pod,
};
use wdk_sys::UNICODE_STRING;

pub use self::list::MAX_REGISTRATIONS_PER_OBJECT;
use self::{list::walk_object, modules::ModuleList};
use crate::{
    dynamic_fn,
    kernel::dynamic::DynamicRoutine,
    kprintln,
    registrations::{
        callback_map,
        catalog::CATALOG,
        ex::{CallbackObject, System},
    },
};

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

/// `IOCTL_KCB_LIST_REGISTRATIONS`.
///
/// Every object of the `\Callback`
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
