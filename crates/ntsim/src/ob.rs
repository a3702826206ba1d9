//! A simple object-manager namespace: directories, device objects, symbolic
//! links and callback objects, looked up case-insensitively by full path.
//!
//! Boot creates `\`, `\Device`, `\Driver`, `\Callback`, `\??`, `\GLOBAL??`
//! and the link `\DosDevices` -> `\??`. Intermediate components that are
//! symbolic links are followed (so `\DosDevices\X` names `\??\X`).

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
    if parts.iter().any(|p| p.is_empty()) { None } else { Some(parts) }
}

fn join(parent: &str, leaf: &str) -> String {
    if parent == "\\" { format!("\\{leaf}") } else { format!("{parent}\\{leaf}") }
}

/// Resolves every component but the last; returns the resolved parent
/// directory and the leaf name.
pub(crate) fn resolve_parent(path: &str) -> Result<(String, String), NTSTATUS> {
    let parts = components(path).ok_or(STATUS_OBJECT_NAME_INVALID)?;
    let Some((leaf, dirs)) = parts.split_last() else { return Err(STATUS_OBJECT_NAME_INVALID) };
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
    namespace.insert(key(&full), Named { path: full.clone(), object });
    Ok(full)
}

/// Removes the name at `path` (the last component is not followed).
pub(crate) fn remove(path: &str) -> NTSTATUS {
    let Ok((parent, leaf)) = resolve_parent(path) else { return STATUS_OBJECT_NAME_NOT_FOUND };
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
            match namespace.get(&key(&candidate)).map(|n| (n.path.clone(), n.object.clone())) {
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
    lock(&NAMESPACE).values().map(|n| (n.path.clone(), n.object.clone())).collect()
}

pub(crate) fn reset() {
    let mut namespace = lock(&NAMESPACE);
    namespace.clear();
    for dir in ["\\", "\\Device", "\\Driver", "\\Callback", "\\??", "\\GLOBAL??", "\\ObjectTypes"] {
        namespace.insert(key(dir), Named { path: dir.to_owned(), object: Object::Directory });
    }
    namespace.insert(
        key("\\DosDevices"),
        Named { path: "\\DosDevices".to_owned(), object: Object::SymbolicLink("\\??".to_owned()) },
    );
}
