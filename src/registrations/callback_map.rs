//! The live map of `\Callback`.
//!
//! Every object in the directory with the
//! state of the driver's observer on it, printed at load and served by
//! `IOCTL_KCB_LIST_CALLBACK_OBJECTS`; [`walk_directory`] also feeds the
//! registration walker.

use core::sync::atomic::Ordering;

use kcb_proto::{
    CallbackObjectEntry, CallbackObjectListHeader, PROTOCOL_VERSION, RequestError, WStr, write_pod,
};
use wdk_sys::{
    DIRECTORY_QUERY, HANDLE, STATUS_NO_MORE_ENTRIES, UNICODE_STRING,
    ntddk::{ZwOpenDirectoryObject, ZwQueryDirectoryObject},
};

use crate::{
    kernel::{
        object::{KernelHandle, ObjectAttributes},
        unicode::{Utf16Display, WideName, units_of},
    },
    kprintln,
    registrations::{
        catalog::{CATALOG, CatalogEntry},
        report::outcome_word,
    },
};

/// Writes the `\Callback` map (`IOCTL_KCB_LIST_CALLBACK_OBJECTS`).
///
/// Every object in the live directory, and each catalog object, with the
/// observer's state. Entries are written one at a time (no large stack or
/// heap buffer).
///
/// # Errors
/// [`RequestError::TooSmall`] if `out` cannot hold the header.
///
/// # IRQL
/// PASSIVE_LEVEL.
pub fn write_map(out: &mut [u8]) -> Result<usize, RequestError> {
    let header_size = size_of::<CallbackObjectListHeader>();
    if out.len() < header_size {
        return Err(RequestError::TooSmall);
    }
    let mut writer = MapWriter {
        out,
        count: 0,
        returned: 0,
    };
    let listed = walk_directory(|name| writer.push_name(name));
    // Catalog objects the directory did not show (or all, if it could not
    // be read): their state is still worth reporting.
    for entry in &CATALOG {
        if !listed.contains(entry.name.units()) {
            writer.push_name(entry.name.units());
        }
    }
    Ok(writer.finish())
}

struct MapWriter<'a> {
    out: &'a mut [u8],
    count: u32,
    returned: u32,
}

impl MapWriter<'_> {
    fn push_name(&mut self, name: &[u16]) {
        let mut entry = CallbackObjectEntry {
            index: u32::MAX,
            state: 0,
            status: 0,
            reserved: 0,
            fired: 0,
            name: WStr::default(),
            reserved2: [0; 2],
        };
        entry.name.set_from_utf16(name);
        if let Some((index, known)) = CATALOG
            .iter()
            .enumerate()
            .find(|(_, e)| eq_ignore_case(e.name.units(), name))
        {
            entry.index = u32::try_from(index).unwrap_or(u32::MAX);
            entry.state = known.state.load(Ordering::Acquire);
            entry.status = known.status.load(Ordering::Relaxed);
            entry.fired = known.fired.load(Ordering::Relaxed);
        }
        let offset =
            size_of::<CallbackObjectListHeader>() + self.returned as usize * size_of::<CallbackObjectEntry>();
        self.count += 1;
        if let Some(rest) = self.out.get_mut(offset..)
            && write_pod(&entry, rest).is_some()
        {
            self.returned += 1;
        }
    }

    fn finish(self) -> usize {
        let header = CallbackObjectListHeader {
            version: PROTOCOL_VERSION,
            count: self.count,
            returned: self.returned,
            reserved: 0,
        };
        let _ = write_pod(&header, self.out);
        size_of::<CallbackObjectListHeader>() + self.returned as usize * size_of::<CallbackObjectEntry>()
    }
}

fn eq_ignore_case(a: &[u16], b: &[u16]) -> bool {
    let lower = |u: u16| {
        if (u16::from(b'A')..=u16::from(b'Z')).contains(&u) {
            u + 32
        } else {
            u
        }
    };
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| lower(x) == lower(y))
}

/// Names of catalog objects seen in the directory walk (a bitmap over the
/// catalog: no allocation).
pub(crate) struct Listed(u64);

impl Listed {
    fn contains(&self, name: &[u16]) -> bool {
        CATALOG
            .iter()
            .position(|e| eq_ignore_case(e.name.units(), name))
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }
}

/// Room for one OBJECT_DIRECTORY_INFORMATION and its names.
const DIRECTORY_BUFFER_SIZE: usize = 1024;
#[allow(clippy::cast_possible_truncation, reason = "1024")]
const DIRECTORY_BUFFER_LEN: u32 = DIRECTORY_BUFFER_SIZE as u32;

/// `OBJECT_DIRECTORY_INFORMATION` (wdm/nf-wdm-zwquerydirectoryobject): not
/// in the DDK headers the bindings come from.
#[repr(C)]
struct ObjectDirectoryInformation {
    name: UNICODE_STRING,
    type_name: UNICODE_STRING,
}

#[repr(C, align(8))]
struct DirectoryBuffer([u8; DIRECTORY_BUFFER_SIZE]);

/// `\Callback`.
pub static CALLBACK_DIRECTORY: WideName = WideName::new("\\Callback");

/// Calls `visit` with the full name (`\Callback\X`) of every object in the
/// `\Callback` directory, one entry at a time. Returns which catalog names
/// were seen. A failure to open or read the directory is printed.
///
/// # IRQL
/// PASSIVE_LEVEL.
pub(crate) fn walk_directory(mut visit: impl FnMut(&[u16])) -> Listed {
    let mut listed = Listed(0);
    let mut name = CALLBACK_DIRECTORY.as_unicode_string();
    let mut attributes = ObjectAttributes::named(&mut name, 0);
    let mut directory: HANDLE = core::ptr::null_mut();
    // SAFETY: valid attributes; PASSIVE_LEVEL.
    let status =
        unsafe { ZwOpenDirectoryObject(&raw mut directory, DIRECTORY_QUERY, attributes.as_mut_ptr()) };
    if status < 0 {
        kprintln!(
            "callback map: cannot open \\Callback: status={:#010X}",
            status.cast_unsigned()
        );
        return listed;
    }
    // SAFETY: ZwOpenDirectoryObject succeeded: an open kernel handle, ours.
    let directory = unsafe { KernelHandle::from_raw(directory) };
    let mut buffer = DirectoryBuffer([0; DIRECTORY_BUFFER_SIZE]);
    let mut context = 0_u32;
    let mut full = [0u16; 128];
    let prefix = CALLBACK_DIRECTORY.units();
    full[..prefix.len()].copy_from_slice(prefix);
    full[prefix.len()] = u16::from(b'\\');
    for _ in 0..1024 {
        let mut returned = 0_u32;
        // SAFETY: open directory handle; the buffer is writable for its
        // length; one entry per call, restarting only on the first.
        let status = unsafe {
            ZwQueryDirectoryObject(
                directory.as_raw(),
                buffer.0.as_mut_ptr().cast(),
                DIRECTORY_BUFFER_LEN,
                1,
                u8::from(context == 0),
                &raw mut context,
                &raw mut returned,
            )
        };
        if status == STATUS_NO_MORE_ENTRIES {
            break;
        }
        if status < 0 {
            kprintln!(
                "callback map: cannot read \\Callback: status={:#010X}",
                status.cast_unsigned()
            );
            break;
        }
        #[allow(clippy::cast_ptr_alignment, reason = "DirectoryBuffer is 8-byte aligned")]
        let first = buffer.0.as_ptr().cast::<ObjectDirectoryInformation>();
        // SAFETY: on success the buffer starts with an
        // OBJECT_DIRECTORY_INFORMATION whose names point into the buffer.
        let info = unsafe { &*first };
        // SAFETY: the name is a valid UNICODE_STRING filled by the kernel.
        let short = unsafe { units_of(&raw const info.name) };
        let start = prefix.len() + 1;
        let Some(slot) = full.get_mut(start..start + short.len()) else {
            continue;
        };
        slot.copy_from_slice(short);
        let name = &full[..start + short.len()];
        if let Some(i) = CATALOG.iter().position(|e| eq_ignore_case(e.name.units(), name)) {
            listed.0 |= 1 << i;
        }
        visit(name);
    }
    drop(directory);
    listed
}

/// Prints the `\Callback` map: each object and whether an observer is
/// attached (at load, after registering).
///
/// # IRQL
/// PASSIVE_LEVEL.
pub fn print_map() {
    let mut objects = 0_u32;
    walk_directory(|name| {
        objects += 1;
        let state = CATALOG
            .iter()
            .find(|e| eq_ignore_case(e.name.units(), name))
            .and_then(CatalogEntry::state)
            .map_or("not observed", outcome_word);
        kprintln!("callback map: {} observer={state}", Utf16Display(name));
    });
    kprintln!("callback map: {objects} objects in \\Callback");
}
