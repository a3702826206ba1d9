//! System information: the loaded module list (`SystemModuleInformation`).
//!
//! `ZwQuerySystemInformation` (win32/sysinfo/zwquerysysteminformation for
//! the prototype and `STATUS_INFO_LENGTH_MISMATCH`): PASSIVE_LEVEL (a Zw
//! routine). Only `SystemModuleInformation` (11) is modeled; its output
//! (`RTL_PROCESS_MODULES`) is not documented by Microsoft: the model uses
//! the commonly published layout (e.g. Process Hacker's `ntldr.h`): a
//! ULONG count, then 0x128-byte entries from offset 8. Other classes:
//! `STATUS_INVALID_INFO_CLASS` (the model's choice). The list starts with
//! `ntoskrnl.exe` and `hal.dll` at synthetic kernel addresses; a test adds
//! modules with [`add_module`].

#![allow(non_snake_case)]

use std::sync::Mutex;

use wdk_sys::{
    NTSTATUS, PULONG, PVOID, STATUS_INFO_LENGTH_MISMATCH, STATUS_INVALID_INFO_CLASS, STATUS_SUCCESS, ULONG,
};

use crate::{ddi, sync};

/// Synthetic base of the model's `ntoskrnl.exe` (no host code lives there).
pub const NTOSKRNL_BASE: usize = 0xFFFF_F800_0A00_0000;
/// Size of the model's `ntoskrnl.exe`.
pub const NTOSKRNL_SIZE: u32 = 0x0110_0000;
/// Synthetic base of the model's `hal.dll`.
pub const HAL_BASE: usize = 0xFFFF_F800_0980_0000;
/// Size of the model's `hal.dll`.
pub const HAL_SIZE: u32 = 0x0008_0000;
/// A loaded module as `SystemModuleInformation` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    /// Full path, e.g. `\SystemRoot\system32\ntoskrnl.exe`.
    pub path: String,
    /// Image base.
    pub base: usize,
    /// Image size.
    pub size: u32,
}

static MODULES: Mutex<Vec<Module>> = Mutex::new(Vec::new());

/// `SystemModuleInformation`.
pub const SYSTEM_MODULE_INFORMATION: u32 = 11;

/// `RTL_PROCESS_MODULE_INFORMATION` (commonly published layout; see the
/// module docs).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct RtlProcessModuleInformation {
    /// `Section` (not filled in).
    pub section: PVOID,
    /// `MappedBase`.
    pub mapped_base: PVOID,
    /// `ImageBase`.
    pub image_base: PVOID,
    /// `ImageSize`.
    pub image_size: u32,
    /// `Flags`.
    pub flags: u32,
    /// `LoadOrderIndex`.
    pub load_order_index: u16,
    /// `InitOrderIndex`.
    pub init_order_index: u16,
    /// `LoadCount`.
    pub load_count: u16,
    /// `OffsetToFileName`: where the file name starts in `full_path_name`.
    pub offset_to_file_name: u16,
    /// `FullPathName`, ANSI, NUL-terminated.
    pub full_path_name: [u8; 256],
}

/// Offset of the first entry in `RTL_PROCESS_MODULES` (a ULONG count, then
/// pointer-aligned entries).
pub const MODULES_OFFSET: usize = 8;

const _: () = assert!(std::mem::size_of::<RtlProcessModuleInformation>() == 0x128);

/// Adds a loaded module to what `SystemModuleInformation` reports.
pub fn add_module(path: &str, base: usize, size: u32) {
    sync::lock(&MODULES).push(Module {
        path: path.to_owned(),
        base,
        size,
    });
}

/// The modules `SystemModuleInformation` reports, in load order.
#[must_use]
pub fn modules() -> Vec<Module> {
    sync::lock(&MODULES).clone()
}

fn module_entry(index: usize, module: &Module) -> RtlProcessModuleInformation {
    let mut full_path_name = [0u8; 256];
    let bytes = module.path.as_bytes();
    let length = bytes.len().min(255);
    full_path_name[..length].copy_from_slice(&bytes[..length]);
    let file_name = module.path[..length].rfind('\\').map_or(0, |i| i + 1);
    RtlProcessModuleInformation {
        section: std::ptr::null_mut(),
        mapped_base: module.base as PVOID,
        image_base: module.base as PVOID,
        image_size: module.size,
        flags: 0,
        load_order_index: u16::try_from(index).unwrap_or(u16::MAX),
        init_order_index: 0,
        load_count: 1,
        offset_to_file_name: u16::try_from(file_name).unwrap_or(0),
        full_path_name,
    }
}

/// `ZwQuerySystemInformation`: PASSIVE_LEVEL. See the module docs.
///
/// # Safety
/// `system_information` is writable for `length` bytes (8-byte aligned);
/// `return_length` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ZwQuerySystemInformation(
    system_information_class: u32,
    system_information: PVOID,
    length: ULONG,
    return_length: PULONG,
) -> NTSTATUS {
    ddi::unless_faulted!(ddi::zw_passive(&ddi::ZW_QUERY_SYSTEM_INFORMATION));
    if system_information_class != SYSTEM_MODULE_INFORMATION {
        return STATUS_INVALID_INFO_CLASS;
    }
    let modules = modules();
    let entry_size = std::mem::size_of::<RtlProcessModuleInformation>();
    let needed = MODULES_OFFSET + modules.len() * entry_size;
    let needed_u32 = u32::try_from(needed).unwrap_or(u32::MAX);
    if !return_length.is_null() {
        // SAFETY: writable per the caller.
        unsafe { return_length.write(needed_u32) };
    }
    if (length as usize) < needed || system_information.is_null() {
        return STATUS_INFO_LENGTH_MISMATCH;
    }
    let base = system_information.cast::<u8>();
    let count = u32::try_from(modules.len()).unwrap_or(u32::MAX);
    // SAFETY: `needed <= length` bytes are writable per the caller.
    unsafe { base.cast::<u32>().write_unaligned(count) };
    for (index, module) in modules.iter().enumerate() {
        // SAFETY: entry `index` ends at or before `needed <= length`.
        unsafe {
            base.wrapping_add(MODULES_OFFSET + index * entry_size)
                .cast::<RtlProcessModuleInformation>()
                .write_unaligned(module_entry(index, module));
        };
    }
    STATUS_SUCCESS
}

/// Restores the module list to `ntoskrnl.exe` and `hal.dll`.
pub(crate) fn reset() {
    let mut modules = sync::lock(&MODULES);
    modules.clear();
    modules.push(Module {
        path: "\\SystemRoot\\system32\\ntoskrnl.exe".to_owned(),
        base: NTOSKRNL_BASE,
        size: NTOSKRNL_SIZE,
    });
    modules.push(Module {
        path: "\\SystemRoot\\system32\\hal.dll".to_owned(),
        base: HAL_BASE,
        size: HAL_SIZE,
    });
}
