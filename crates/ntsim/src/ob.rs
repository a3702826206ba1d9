//! A simple object-manager namespace: directories, device objects, symbolic
//! links and callback objects, looked up case-insensitively by full path.
//!
//! Boot creates `\`, `\Device`, `\Driver`, `\Callback`, `\??`, `\GLOBAL??`
//! and the link `\DosDevices` -> `\??`. Intermediate components that are
//! symbolic links are followed (so `\DosDevices\X` names `\??\X`).

#![allow(non_snake_case)]

use std::collections::BTreeMap;
use std::sync::Mutex;

use wdk_sys::{
    NTSTATUS, STATUS_OBJECT_NAME_COLLISION, STATUS_OBJECT_NAME_INVALID, STATUS_OBJECT_NAME_NOT_FOUND,
    STATUS_OBJECT_PATH_NOT_FOUND, STATUS_SUCCESS,
};

use crate::sync::lock;

/// What a name refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Object {
    /// An object directory.
    Directory,
    /// A device object (its address).
    Device(usize),
    /// A symbolic link and its target path.
    SymbolicLink(String),
    /// A callback object (its address).
    Callback(usize),
}

struct Named {
    path: String,
    object: Object,
}

static NAMESPACE: Mutex<BTreeMap<String, Named>> = Mutex::new(BTreeMap::new());

fn key(path: &str) -> String {
    path.to_uppercase()
}

/// Splits a full path into components; `None` if it is not a valid full path.
fn components(path: &str) -> Option<Vec<&str>> {
    let rest = path.strip_prefix('\\')?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    let parts: Vec<&str> = rest.split('\\').collect();
    if parts.iter().any(|p| p.is_empty()) {
        None
    } else {
        Some(parts)
    }
}

fn join(parent: &str, leaf: &str) -> String {
    if parent == "\\" {
        format!("\\{leaf}")
    } else {
        format!("{parent}\\{leaf}")
    }
}

/// Resolves every component but the last; returns the resolved parent
/// directory and the leaf name.
pub(crate) fn resolve_parent(path: &str) -> Result<(String, String), NTSTATUS> {
    let parts = components(path).ok_or(STATUS_OBJECT_NAME_INVALID)?;
    let Some((leaf, dirs)) = parts.split_last() else {
        return Err(STATUS_OBJECT_NAME_INVALID);
    };
    let namespace = lock(&NAMESPACE);
    let mut current = String::from("\\");
    for dir in dirs {
        current = follow(&namespace, &join(&current, dir), 0)?;
    }
    Ok((current, (*leaf).to_owned()))
}

/// Follows `path` to a directory (through links).
fn follow(namespace: &BTreeMap<String, Named>, path: &str, depth: u32) -> Result<String, NTSTATUS> {
    if depth > 32 {
        return Err(STATUS_OBJECT_PATH_NOT_FOUND);
    }
    match namespace.get(&key(path)).map(|n| (&n.path, &n.object)) {
        Some((canonical, Object::Directory)) => Ok(canonical.clone()),
        Some((_, Object::SymbolicLink(target))) => {
            let parts = components(target).ok_or(STATUS_OBJECT_PATH_NOT_FOUND)?;
            let mut current = String::from("\\");
            for part in parts {
                current = follow(namespace, &join(&current, part), depth + 1)?;
            }
            Ok(current)
        }
        _ => Err(STATUS_OBJECT_PATH_NOT_FOUND),
    }
}

/// Inserts `object` at `path` (whose parent must exist). Returns the
/// canonical path it was inserted at.
pub(crate) fn insert(path: &str, object: Object) -> Result<String, NTSTATUS> {
    let (parent, leaf) = resolve_parent(path)?;
    let full = join(&parent, &leaf);
    let mut namespace = lock(&NAMESPACE);
    if namespace.contains_key(&key(&full)) {
        return Err(STATUS_OBJECT_NAME_COLLISION);
    }
    namespace.insert(
        key(&full),
        Named {
            path: full.clone(),
            object,
        },
    );
    Ok(full)
}

/// Removes the name at `path` (the last component is not followed).
pub(crate) fn remove(path: &str) -> NTSTATUS {
    let Ok((parent, leaf)) = resolve_parent(path) else {
        return STATUS_OBJECT_NAME_NOT_FOUND;
    };
    match lock(&NAMESPACE).remove(&key(&join(&parent, &leaf))) {
        Some(_) => STATUS_SUCCESS,
        None => STATUS_OBJECT_NAME_NOT_FOUND,
    }
}

/// Looks `path` up without following a final symbolic link.
pub(crate) fn lookup(path: &str) -> Result<(String, Object), NTSTATUS> {
    let (parent, leaf) = resolve_parent(path)?;
    let full = join(&parent, &leaf);
    lock(&NAMESPACE)
        .get(&key(&full))
        .map(|n| (n.path.clone(), n.object.clone()))
        .ok_or(STATUS_OBJECT_NAME_NOT_FOUND)
}

/// Resolves `path` for an open: follows links (also a final one) until an
/// object that is not a directory or link is reached, and returns it with
/// the rest of the path (e.g. `\Device\X\more` -> device X and `\more`).
pub(crate) fn resolve_for_open(path: &str) -> Result<(Object, String), NTSTATUS> {
    let mut path = path.to_owned();
    for _ in 0..32 {
        let parts = components(&path).ok_or(STATUS_OBJECT_NAME_INVALID)?;
        let namespace = lock(&NAMESPACE);
        let mut current = String::from("\\");
        let mut next = None;
        for (index, part) in parts.iter().enumerate() {
            let candidate = join(&current, part);
            let rest: String = parts[index + 1..].iter().map(|p| format!("\\{p}")).collect();
            match namespace
                .get(&key(&candidate))
                .map(|n| (n.path.clone(), n.object.clone()))
            {
                Some((canonical, Object::Directory)) => current = canonical,
                Some((_, Object::SymbolicLink(target))) => {
                    next = Some(format!("{target}{rest}"));
                    break;
                }
                Some((_, other)) => return Ok((other, rest)),
                None if index + 1 == parts.len() => return Err(STATUS_OBJECT_NAME_NOT_FOUND),
                None => return Err(STATUS_OBJECT_PATH_NOT_FOUND),
            }
        }
        match next {
            Some(target) => path = target,
            None => return Ok((Object::Directory, String::new())),
        }
    }
    Err(STATUS_OBJECT_PATH_NOT_FOUND)
}

/// Every name in the namespace and what it refers to.
#[must_use]
pub fn names() -> Vec<(String, Object)> {
    lock(&NAMESPACE)
        .values()
        .map(|n| (n.path.clone(), n.object.clone()))
        .collect()
}

pub(crate) fn reset() {
    let mut namespace = lock(&NAMESPACE);
    namespace.clear();
    for dir in [
        "\\",
        "\\Device",
        "\\Driver",
        "\\Callback",
        "\\??",
        "\\GLOBAL??",
        "\\ObjectTypes",
    ] {
        namespace.insert(
            key(dir),
            Named {
                path: dir.to_owned(),
                object: Object::Directory,
            },
        );
    }
    namespace.insert(
        key("\\DosDevices"),
        Named {
            path: "\\DosDevices".to_owned(),
            object: Object::SymbolicLink("\\??".to_owned()),
        },
    );
}

/// `OBJECT_DIRECTORY_INFORMATION` (win32/devnotes/ntquerydirectoryobject):
/// not in the DDK headers the bindings come from.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ObjectDirectoryInformation {
    /// The entry's name.
    pub Name: wdk_sys::UNICODE_STRING,
    /// Its object type's name.
    pub TypeName: wdk_sys::UNICODE_STRING,
}

/// The direct children of directory `path`: (name, object-type name), in
/// name order.
#[must_use]
pub fn children(path: &str) -> Vec<(String, &'static str)> {
    let prefix = if path == "\\" {
        String::from("\\")
    } else {
        format!("{}\\", path.trim_end_matches('\\'))
    };
    let prefix_key = key(&prefix);
    lock(&NAMESPACE)
        .iter()
        .filter(|(k, _)| {
            k.starts_with(&prefix_key) && k.len() > prefix_key.len() && !k[prefix_key.len()..].contains('\\')
        })
        .map(|(_, n)| {
            let type_name = match n.object {
                Object::Directory => "Directory",
                Object::Device(_) => "Device",
                Object::SymbolicLink(_) => "SymbolicLink",
                Object::Callback(_) => "Callback",
            };
            (n.path[prefix.len()..].to_owned(), type_name)
        })
        .collect()
}

/// `ZwOpenDirectoryObject` (wdm/nf-wdm-zwopendirectoryobject): PASSIVE_LEVEL.
/// A missing name gives `STATUS_OBJECT_NAME_NOT_FOUND`, a name that is not a
/// directory `STATUS_OBJECT_TYPE_MISMATCH`.
///
/// # Safety
/// `directory_handle` is writable; `object_attributes` is valid.
#[allow(non_snake_case)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ZwOpenDirectoryObject(
    directory_handle: wdk_sys::PHANDLE,
    _desired_access: wdk_sys::ACCESS_MASK,
    object_attributes: wdk_sys::POBJECT_ATTRIBUTES,
) -> NTSTATUS {
    crate::ddi::unless_faulted!(crate::ddi::zw_passive(&crate::ddi::ZW_OPEN_DIRECTORY_OBJECT));
    if directory_handle.is_null() || object_attributes.is_null() {
        return wdk_sys::STATUS_INVALID_PARAMETER;
    }
    // SAFETY: valid per the caller.
    let object_name = unsafe { (*object_attributes).ObjectName };
    // SAFETY: ObjectName is null or a valid UNICODE_STRING per the caller.
    let Some(name) = (unsafe { crate::unicode::read(object_name) }) else {
        return STATUS_OBJECT_NAME_INVALID;
    };
    let target = if name == "\\" {
        Ok((String::from("\\"), Object::Directory))
    } else {
        lookup(&name).and_then(|(canonical, object)| match object {
            Object::SymbolicLink(_) => resolve_for_open(&canonical).map(|(o, _)| (canonical, o)),
            other => Ok((canonical, other)),
        })
    };
    match target {
        Ok((canonical, Object::Directory)) => {
            let handle = crate::thread::open_handle(crate::thread::HandleObject::Directory(canonical));
            // SAFETY: writable per the caller.
            unsafe { directory_handle.write(handle) };
            STATUS_SUCCESS
        }
        Ok(_) => wdk_sys::STATUS_OBJECT_TYPE_MISMATCH,
        Err(status) => status,
    }
}

/// `ZwQueryDirectoryObject` (the Zw form of `NtQueryDirectoryObject`,
/// win32/devnotes/ntquerydirectoryobject): PASSIVE_LEVEL. The buffer receives
/// `OBJECT_DIRECTORY_INFORMATION` entries, then an all-zero entry, then the
/// name strings; `Context` is the index of the next entry. No entry left:
/// `STATUS_NO_MORE_ENTRIES`; not even one entry fits:
/// `STATUS_BUFFER_TOO_SMALL` (`*ReturnLength` = size needed); some but not
/// all fit (multi-entry mode): `STATUS_MORE_ENTRIES`.
///
/// # Safety
/// `buffer` is writable for `length` bytes; `context` is readable and
/// writable; `return_length` is null or writable.
#[allow(non_snake_case)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ZwQueryDirectoryObject(
    directory_handle: wdk_sys::HANDLE,
    buffer: wdk_sys::PVOID,
    length: wdk_sys::ULONG,
    return_single_entry: wdk_sys::BOOLEAN,
    restart_scan: wdk_sys::BOOLEAN,
    context: wdk_sys::PULONG,
    return_length: wdk_sys::PULONG,
) -> NTSTATUS {
    crate::ddi::unless_faulted!(crate::ddi::zw_passive(&crate::ddi::ZW_QUERY_DIRECTORY_OBJECT));
    let Some(crate::thread::HandleObject::Directory(path)) = crate::thread::handle_object(directory_handle)
    else {
        return wdk_sys::STATUS_INVALID_HANDLE;
    };
    if context.is_null() {
        return wdk_sys::STATUS_INVALID_PARAMETER;
    }
    let start = if restart_scan != 0 {
        0
    } else {
        // SAFETY: readable per the caller.
        (unsafe { context.read() }) as usize
    };
    let all = children(&path);
    if start >= all.len() {
        return wdk_sys::STATUS_NO_MORE_ENTRIES;
    }
    let entry_size = std::mem::size_of::<ObjectDirectoryInformation>();
    let wanted = if return_single_entry != 0 {
        1
    } else {
        all.len() - start
    };
    let utf16 = |s: &str| -> Vec<u16> { s.encode_utf16().chain(std::iter::once(0)).collect() };
    let size_for = |n: usize| -> usize {
        (n + 1) * entry_size
            + all[start..start + n]
                .iter()
                .map(|(name, kind)| (utf16(name).len() + utf16(kind).len()) * 2)
                .sum::<usize>()
    };
    let mut count = wanted;
    while count > 0 && size_for(count) > length as usize {
        count -= 1;
    }
    if count == 0 {
        if !return_length.is_null() {
            // SAFETY: writable per the caller.
            unsafe { return_length.write(u32::try_from(size_for(1)).unwrap_or(u32::MAX)) };
        }
        return wdk_sys::STATUS_BUFFER_TOO_SMALL;
    }
    let base = buffer.cast::<u8>();
    let mut strings = (count + 1) * entry_size;
    for (index, (name, kind)) in all[start..start + count].iter().enumerate() {
        let mut descriptors = [wdk_sys::UNICODE_STRING::default(); 2];
        for (slot, text) in descriptors.iter_mut().zip([name.as_str(), *kind]) {
            let units = utf16(text);
            let bytes = units.len() * 2;
            // SAFETY: `strings + bytes <= size_for(count) <= length`, inside the caller's buffer.
            unsafe {
                std::ptr::copy_nonoverlapping(units.as_ptr().cast::<u8>(), base.wrapping_add(strings), bytes);
            };
            *slot = wdk_sys::UNICODE_STRING {
                Length: u16::try_from(bytes - 2).unwrap_or(0),
                MaximumLength: u16::try_from(bytes).unwrap_or(0),
                Buffer: base.wrapping_add(strings).cast(),
            };
            strings += bytes;
        }
        let info = ObjectDirectoryInformation {
            Name: descriptors[0],
            TypeName: descriptors[1],
        };
        // SAFETY: entry `index` lies inside the caller's buffer.
        unsafe {
            base.wrapping_add(index * entry_size)
                .cast::<ObjectDirectoryInformation>()
                .write_unaligned(info);
        };
    }
    // SAFETY: the terminating all-zero entry, inside the buffer.
    unsafe {
        base.wrapping_add(count * entry_size).write_bytes(0, entry_size);
    };
    // SAFETY: writable per the caller.
    unsafe { context.write(u32::try_from(start + count).unwrap_or(u32::MAX)) };
    if !return_length.is_null() {
        // SAFETY: writable per the caller.
        unsafe { return_length.write(u32::try_from(strings).unwrap_or(u32::MAX)) };
    }
    if count < wanted { 0x105 } else { STATUS_SUCCESS }
}
