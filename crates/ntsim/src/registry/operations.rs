//! Registry operations as filter callbacks see them: [`RegistryOperation`]
//! builds each `REG_NOTIFY_CLASS`'s documented information structure,
//! notifies the callbacks before and after, and applies the operation to
//! the store (see [`crate::registry`]).

#![allow(non_snake_case)]

use wdk_sys::{
    HANDLE, NTSTATUS, PULONG, PVOID, STATUS_NO_MORE_ENTRIES, STATUS_OBJECT_NAME_NOT_FOUND, STATUS_SUCCESS,
    ULONG,
};

use super::cm::{invalid_key_object, key_object, notify, with_cm};
use super::store::{
    KEYS, STATUS_CALLBACK_BYPASS, create_key, delete_key, find_value, key_exists, key_of, set_value,
};
use crate::sync::lock;
use crate::unicode::OwnedUnicode;

/// `STATUS_REPARSE`: a create/open that reached a symbolic link (a success
/// code whose post notification carries no valid key object).
pub const STATUS_REPARSE: NTSTATUS = 0x0000_0104;
/// `STATUS_CANNOT_DELETE`.
pub const STATUS_CANNOT_DELETE: NTSTATUS = 0xC000_0121_u32.cast_signed();
/// `STATUS_OBJECT_NAME_COLLISION`.
pub const STATUS_OBJECT_NAME_COLLISION: NTSTATUS = 0xC000_0035_u32.cast_signed();

/// What a thread does to a registry key; each maps to a pre and a post
/// `REG_NOTIFY_CLASS` (wdm/ne-wdm-_reg_notify_class).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyOperation {
    /// `ZwDeleteKey`: `RegNtPreDeleteKey` (0) / `RegNtPostDeleteKey` (15).
    /// Fails with `STATUS_CANNOT_DELETE` while the key has subkeys.
    DeleteKey,
    /// `ZwSetValueKey`: 1 / 16.
    SetValue {
        /// Value name.
        name: String,
        /// `REG_*` type.
        value_type: u32,
        /// Data.
        data: Vec<u8>,
    },
    /// `ZwDeleteValueKey`: 2 / 17 (`STATUS_OBJECT_NAME_NOT_FOUND` if missing).
    DeleteValue {
        /// Value name.
        name: String,
    },
    /// `ZwSetInformationKey`: 3 / 18.
    SetInformationKey,
    /// `ZwRenameKey`: 4 / 19 (the last path component becomes `new_name`).
    RenameKey {
        /// The new last component.
        new_name: String,
    },
    /// `ZwEnumerateKey`: 5 / 20 (`STATUS_NO_MORE_ENTRIES` past the last subkey).
    EnumerateKey {
        /// Subkey index.
        index: u32,
    },
    /// `ZwEnumerateValueKey`: 6 / 21 (`STATUS_NO_MORE_ENTRIES` past the last value).
    EnumerateValueKey {
        /// Value index.
        index: u32,
    },
    /// `ZwQueryKey`: 7 / 22.
    QueryKey,
    /// `ZwQueryValueKey`: 8 / 23 (`STATUS_OBJECT_NAME_NOT_FOUND` if missing).
    QueryValue {
        /// Value name.
        name: String,
    },
    /// `NtQueryMultipleValueKey`: 9 / 24.
    QueryMultipleValueKey,
    /// Create, as systems before Vista report it: `RegNtPreCreateKey` (10,
    /// `REG_PRE_CREATE_KEY_INFORMATION`) / `RegNtPostCreateKey` (11,
    /// `REG_POST_CREATE_KEY_INFORMATION`).
    CreateKey,
    /// Open, before Vista: 12 / 13 (`STATUS_OBJECT_NAME_NOT_FOUND` if missing).
    OpenKey,
    /// The last handle closes: `RegNtPreKeyHandleClose` (14) /
    /// `RegNtPostKeyHandleClose` (25). The object's reference count is 0:
    /// passing it to `CmCallbackGetKeyObjectID*` is an NSIM violation.
    CloseKey,
    /// `ZwCreateKey` (Vista+): `RegNtPreCreateKeyEx` (26,
    /// `REG_CREATE_KEY_INFORMATION`) / `RegNtPostCreateKeyEx` (27).
    CreateKeyEx,
    /// `ZwOpenKey` (Vista+): 28 / 29.
    OpenKeyEx,
    /// `ZwFlushKey`: 30 / 31.
    FlushKey,
    /// `ZwLoadKey`: 32 / 33 (the key becomes a hive root).
    LoadKey {
        /// The hive file.
        file: String,
    },
    /// `ZwUnloadKey`: 34 / 35 (the key tree goes).
    UnloadKey,
    /// `ZwQuerySecurityObject` on a key: 36 / 37.
    QueryKeySecurity,
    /// `ZwSetSecurityObject` on a key: 38 / 39.
    SetKeySecurity,
    /// `ZwRestoreKey`: 41 / 42.
    RestoreKey,
    /// `ZwSaveKey`: 43 / 44.
    SaveKey,
    /// `ZwReplaceKey`: 45 / 46.
    ReplaceKey {
        /// The new hive file.
        new_file: String,
        /// Where the old one is saved.
        old_file: String,
    },
    /// `NtQueryObject(ObjectNameInformation)` on a key: 47 / 48.
    QueryKeyName,
    /// `ZwSaveMergedKeys`: 49 / 50.
    SaveMergedKey,
    /// `RegNtCallbackObjectContextCleanup` (40) alone: what the kernel sends
    /// a callback for a key object it associated a context with, when the
    /// object goes or the callback unregisters
    /// (wdm/ns-wdm-_reg_callback_context_cleanup_information). No post.
    ContextCleanup,
}

impl KeyOperation {
    /// The (pre, post) notification classes.
    #[must_use]
    pub const fn classes(&self) -> (u32, Option<u32>) {
        match self {
            Self::DeleteKey => (0, Some(15)),
            Self::SetValue { .. } => (1, Some(16)),
            Self::DeleteValue { .. } => (2, Some(17)),
            Self::SetInformationKey => (3, Some(18)),
            Self::RenameKey { .. } => (4, Some(19)),
            Self::EnumerateKey { .. } => (5, Some(20)),
            Self::EnumerateValueKey { .. } => (6, Some(21)),
            Self::QueryKey => (7, Some(22)),
            Self::QueryValue { .. } => (8, Some(23)),
            Self::QueryMultipleValueKey => (9, Some(24)),
            Self::CreateKey => (10, Some(11)),
            Self::OpenKey => (12, Some(13)),
            Self::CloseKey => (14, Some(25)),
            Self::CreateKeyEx => (26, Some(27)),
            Self::OpenKeyEx => (28, Some(29)),
            Self::FlushKey => (30, Some(31)),
            Self::LoadKey { .. } => (32, Some(33)),
            Self::UnloadKey => (34, Some(35)),
            Self::QueryKeySecurity => (36, Some(37)),
            Self::SetKeySecurity => (38, Some(39)),
            Self::ContextCleanup => (40, None),
            Self::RestoreKey => (41, Some(42)),
            Self::SaveKey => (43, Some(44)),
            Self::ReplaceKey { .. } => (45, Some(46)),
            Self::QueryKeyName => (47, Some(48)),
            Self::SaveMergedKey => (49, Some(50)),
        }
    }

    /// Whether the pre notification names the key by its complete name
    /// rather than a key object (create and open).
    #[must_use]
    pub const fn names_the_key(&self) -> bool {
        matches!(
            self,
            Self::CreateKey | Self::OpenKey | Self::CreateKeyEx | Self::OpenKeyEx
        )
    }
}

/// A registry operation by a thread of process `pid` on key `key`.
#[derive(Clone, Debug)]
pub struct RegistryOperation {
    /// The process doing it (the callbacks run in its thread).
    pub pid: u64,
    /// The thread (a fresh id when `None`).
    pub tid: Option<u64>,
    /// The key's full path (`\Registry\Machine\...`).
    pub key: String,
    /// What is done.
    pub operation: KeyOperation,
    /// Completes with this status instead of what the model's registry
    /// gives, without changing the registry (e.g. [`STATUS_REPARSE`] for
    /// an open that reached a symbolic link).
    pub completes_with: Option<NTSTATUS>,
    /// `CreateKeyEx` / `OpenKeyEx` only: the key is opened relative to this
    /// one (its full path), as `ZwCreateKey`/`ZwOpenKey` with a
    /// `RootDirectory` handle do. `key` is then the relative path (no
    /// leading `\`): `REG_CREATE_KEY_INFORMATION.CompleteName` carries it
    /// and `RootObject` is this key's object ("the path can be absolute or
    /// relative ... relative to the key that is specified by the RootObject
    /// member", wdm/ns-wdm-_reg_create_key_information).
    pub relative_to: Option<String>,
}

/// What a registry operation produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegistryOutcome {
    /// The status the caller gets.
    pub status: NTSTATUS,
    /// What the pre notification returned (`STATUS_SUCCESS`: every
    /// callback let it through).
    pub pre_status: NTSTATUS,
    /// The status the registry itself produced (`None` if the operation was
    /// blocked or bypassed before it ran).
    pub registry_status: Option<NTSTATUS>,
    /// Whether the post notification was sent.
    pub post_notified: bool,
    /// Whether a callback wrote into the pre-operation information.
    pub pre_information_changed: bool,
    /// Whether a callback wrote into the post-operation information.
    pub post_information_changed: bool,
}

/// The information structure of `REG_QUERY_KEY_NAME` (RegNtPreQueryKeyName;
/// wdm.h, not in the mingw-w64 headers).
#[repr(C)]
struct QueryKeyNameInformation {
    object: PVOID,
    object_name_info: PVOID,
    length: ULONG,
    return_length: PULONG,
    call_context: PVOID,
    object_context: PVOID,
    reserved: PVOID,
}

/// `REG_SAVE_MERGED_KEY_INFORMATION` (wdm.h, not in the mingw-w64 headers).
#[repr(C)]
struct SaveMergedKeyInformation {
    object: PVOID,
    file_handle: HANDLE,
    high_key_object: PVOID,
    low_key_object: PVOID,
    call_context: PVOID,
    object_context: PVOID,
    reserved: PVOID,
}

/// `REG_FLUSH_KEY_INFORMATION` (wdm.h, not in the mingw-w64 headers).
#[repr(C)]
struct FlushKeyInformation {
    object: PVOID,
    call_context: PVOID,
    object_context: PVOID,
    reserved: PVOID,
}

/// An information structure in 8-byte-aligned storage, so the callbacks
/// get a pointer to the documented layout and the model can compare its
/// bytes before and after.
struct InfoBlock(Box<[u64]>);

impl InfoBlock {
    fn new<T>(value: T) -> Self {
        let words = std::mem::size_of::<T>().div_ceil(8);
        let mut storage = vec![0_u64; words].into_boxed_slice();
        // SAFETY: the storage holds size_of::<T>() bytes, 8-byte aligned
        // (every information structure is at most 8-byte aligned).
        unsafe { storage.as_mut_ptr().cast::<T>().write(value) };
        Self(storage)
    }

    fn as_ptr(&mut self) -> PVOID {
        self.0.as_mut_ptr().cast()
    }

    fn snapshot(&self) -> Vec<u64> {
        self.0.to_vec()
    }

    fn changed_since(&self, before: &[u64]) -> bool {
        *self.0 != *before
    }
}

fn subkey_count(path: &str) -> usize {
    let prefix = format!("{}\\", key_of(path));
    lock(&KEYS)
        .keys()
        .filter(|k| k.starts_with(&prefix) && !k[prefix.len()..].contains('\\'))
        .count()
}

fn rename_key(path: &str, new_name: &str) -> NTSTATUS {
    let trimmed = path.trim_end_matches('\\');
    let parent = trimmed.rsplit_once('\\').map_or("", |(p, _)| p);
    let new_path = format!("{parent}\\{new_name}");
    let mut keys = lock(&KEYS);
    if keys.contains_key(&key_of(&new_path)) {
        return STATUS_OBJECT_NAME_COLLISION;
    }
    let old = key_of(trimmed);
    let prefix = format!("{old}\\");
    let moved: Vec<String> = keys
        .keys()
        .filter(|k| **k == old || k.starts_with(&prefix))
        .cloned()
        .collect();
    for upper in moved {
        if let Some(mut key) = keys.remove(&upper) {
            key.path = format!("{new_path}{}", &key.path[trimmed.len()..]);
            keys.insert(key_of(&key.path), key);
        }
    }
    STATUS_SUCCESS
}

impl RegistryOperation {
    /// `operation` on `key` by process `pid`.
    #[must_use]
    pub fn new(pid: u64, key: &str, operation: KeyOperation) -> Self {
        Self {
            pid,
            tid: None,
            key: key.to_owned(),
            operation,
            completes_with: None,
            relative_to: None,
        }
    }

    /// The key's full path (`relative_to` and `key` joined when relative).
    fn full_key(&self) -> String {
        match &self.relative_to {
            Some(root) if !self.key.is_empty() => format!("{}\\{}", root.trim_end_matches('\\'), self.key),
            Some(root) => root.clone(),
            None => self.key.clone(),
        }
    }

    /// What the model's registry does; returns the status.
    fn perform(&self) -> NTSTATUS {
        let full = self.full_key();
        let key = full.as_str();
        match &self.operation {
            KeyOperation::DeleteKey => {
                if subkey_count(key) > 0 {
                    STATUS_CANNOT_DELETE
                } else {
                    delete_key(key);
                    STATUS_SUCCESS
                }
            }
            KeyOperation::SetValue {
                name,
                value_type,
                data,
            } => {
                set_value(key, name, *value_type, data);
                STATUS_SUCCESS
            }
            KeyOperation::DeleteValue { name } => {
                let removed = lock(&KEYS).get_mut(&key_of(key)).is_some_and(|entry| {
                    let before = entry.values.len();
                    entry.values.retain(|v| !v.name.eq_ignore_ascii_case(name));
                    entry.values.len() != before
                });
                if removed {
                    STATUS_SUCCESS
                } else {
                    STATUS_OBJECT_NAME_NOT_FOUND
                }
            }
            KeyOperation::RenameKey { new_name } => rename_key(key, new_name),
            KeyOperation::EnumerateKey { index } => {
                if (*index as usize) < subkey_count(key) {
                    STATUS_SUCCESS
                } else {
                    STATUS_NO_MORE_ENTRIES
                }
            }
            KeyOperation::EnumerateValueKey { index } => match find_value(key, Some(*index as usize), None) {
                Some(Some(_)) => STATUS_SUCCESS,
                _ => STATUS_NO_MORE_ENTRIES,
            },
            KeyOperation::QueryValue { name } => match find_value(key, None, Some(name)) {
                Some(Some(_)) => STATUS_SUCCESS,
                _ => STATUS_OBJECT_NAME_NOT_FOUND,
            },
            KeyOperation::CreateKey | KeyOperation::CreateKeyEx | KeyOperation::LoadKey { .. } => {
                create_key(key);
                STATUS_SUCCESS
            }
            KeyOperation::OpenKey | KeyOperation::OpenKeyEx => {
                if key_exists(key) {
                    STATUS_SUCCESS
                } else {
                    STATUS_OBJECT_NAME_NOT_FOUND
                }
            }
            KeyOperation::UnloadKey => {
                delete_key(key);
                STATUS_SUCCESS
            }
            _ => STATUS_SUCCESS,
        }
    }

    /// Sends the pre notification with the operation's documented
    /// information structure, at PASSIVE_LEVEL in the caller's thread
    /// (wdm/nc-wdm-ex_callback_function); unless a callback blocked
    /// (error: the caller gets it, no post) or bypassed it
    /// (`STATUS_CALLBACK_BYPASS`: the caller gets `STATUS_SUCCESS`, no post),
    /// performs it and sends the post notification
    /// (`REG_POST_CREATE_KEY_INFORMATION` for classes 11 and 13,
    /// `REG_POST_OPERATION_INFORMATION` otherwise, whose `Object` is a key
    /// object only when `Status` is `STATUS_SUCCESS`); a post callback
    /// returning `STATUS_CALLBACK_BYPASS` makes `ReturnStatus` the caller's
    /// status (kernel/handling-notifications). Operations other than
    /// create and open act on an existing key (created if missing, as if
    /// the caller had a handle to it).
    ///
    /// # Panics
    /// If called above PASSIVE_LEVEL.
    #[must_use = "the outcome"]
    #[allow(clippy::too_many_lines, reason = "one arm per information structure")]
    pub fn fire(&self) -> RegistryOutcome {
        assert_eq!(
            crate::irql::current(),
            crate::irql::PASSIVE_LEVEL,
            "RegistryOperation::fire must be called at PASSIVE_LEVEL"
        );
        let (pre_class, post_class) = self.operation.classes();
        assert!(
            self.relative_to.is_none()
                || matches!(
                    self.operation,
                    KeyOperation::CreateKeyEx | KeyOperation::OpenKeyEx
                ),
            "only RegNtPreCreateKeyEx / RegNtPreOpenKeyEx carry a RootObject"
        );
        let full_key = self.full_key();
        if !self.operation.names_the_key() && !key_exists(&full_key) {
            create_key(&full_key);
        }
        let root_object = self.relative_to.as_deref().map_or(std::ptr::null_mut(), |root| {
            if !key_exists(root) {
                create_key(root);
            }
            key_object(root)
        });
        let tid = self.tid.unwrap_or_else(crate::context::new_tid);
        let _context = crate::context::ContextScope::enter(self.pid, Some(tid), crate::context::Phase::Other);
        let _irql = crate::irql::IrqlScope::enter(crate::irql::PASSIVE_LEVEL);
        let object = if self.operation.names_the_key() {
            std::ptr::null_mut()
        } else {
            key_object(&full_key)
        };
        let mut complete_name = OwnedUnicode::new(&self.key);
        let mut name_a = OwnedUnicode::new(match &self.operation {
            KeyOperation::SetValue { name, .. }
            | KeyOperation::DeleteValue { name }
            | KeyOperation::QueryValue { name } => name.as_str(),
            KeyOperation::RenameKey { new_name } => new_name.as_str(),
            KeyOperation::LoadKey { file } => file.as_str(),
            KeyOperation::ReplaceKey { new_file, .. } => new_file.as_str(),
            _ => "",
        });
        let mut name_b = OwnedUnicode::new(match &self.operation {
            KeyOperation::ReplaceKey { old_file, .. } => old_file.as_str(),
            _ => "",
        });
        let mut data = match &self.operation {
            KeyOperation::SetValue { data, .. } => data.clone(),
            _ => Vec::new(),
        };
        let mut output = [0_u64; 64];
        let mut result_length: ULONG = 0;
        let mut security_information: u32 = 4; // DACL_SECURITY_INFORMATION
        let mut result_object: PVOID = std::ptr::null_mut();
        let mut disposition: ULONG = 0;
        let output_ptr: PVOID = output.as_mut_ptr().cast();
        let output_len = u32::try_from(std::mem::size_of_val(&output)).unwrap_or(0);
        let mut pre = match &self.operation {
            KeyOperation::DeleteKey => InfoBlock::new(wdk_sys::REG_DELETE_KEY_INFORMATION {
                Object: object,
                ..Default::default()
            }),
            KeyOperation::SetValue { value_type, .. } => {
                InfoBlock::new(wdk_sys::REG_SET_VALUE_KEY_INFORMATION {
                    Object: object,
                    ValueName: name_a.as_ptr(),
                    Type: *value_type,
                    Data: data.as_mut_ptr().cast(),
                    DataSize: u32::try_from(data.len()).unwrap_or(u32::MAX),
                    ..Default::default()
                })
            }
            KeyOperation::DeleteValue { .. } => InfoBlock::new(wdk_sys::REG_DELETE_VALUE_KEY_INFORMATION {
                Object: object,
                ValueName: name_a.as_ptr(),
                ..Default::default()
            }),
            KeyOperation::SetInformationKey => InfoBlock::new(wdk_sys::REG_SET_INFORMATION_KEY_INFORMATION {
                Object: object,
                KeySetInformation: output_ptr,
                KeySetInformationLength: 8,
                ..Default::default()
            }),
            KeyOperation::RenameKey { .. } => InfoBlock::new(wdk_sys::REG_RENAME_KEY_INFORMATION {
                Object: object,
                NewName: name_a.as_ptr(),
                ..Default::default()
            }),
            KeyOperation::EnumerateKey { index } => InfoBlock::new(wdk_sys::REG_ENUMERATE_KEY_INFORMATION {
                Object: object,
                Index: *index,
                KeyInformation: output_ptr,
                Length: output_len,
                ResultLength: &raw mut result_length,
                ..Default::default()
            }),
            KeyOperation::EnumerateValueKey { index } => {
                InfoBlock::new(wdk_sys::REG_ENUMERATE_VALUE_KEY_INFORMATION {
                    Object: object,
                    Index: *index,
                    KeyValueInformation: output_ptr,
                    Length: output_len,
                    ResultLength: &raw mut result_length,
                    ..Default::default()
                })
            }
            KeyOperation::QueryKey => InfoBlock::new(wdk_sys::REG_QUERY_KEY_INFORMATION {
                Object: object,
                KeyInformation: output_ptr,
                Length: output_len,
                ResultLength: &raw mut result_length,
                ..Default::default()
            }),
            KeyOperation::QueryValue { .. } => InfoBlock::new(wdk_sys::REG_QUERY_VALUE_KEY_INFORMATION {
                Object: object,
                ValueName: name_a.as_ptr(),
                KeyValueInformation: output_ptr,
                Length: output_len,
                ResultLength: &raw mut result_length,
                ..Default::default()
            }),
            KeyOperation::QueryMultipleValueKey => {
                InfoBlock::new(wdk_sys::REG_QUERY_MULTIPLE_VALUE_KEY_INFORMATION {
                    Object: object,
                    ValueBuffer: output_ptr,
                    BufferLength: &raw mut result_length,
                    ..Default::default()
                })
            }
            KeyOperation::CreateKey | KeyOperation::OpenKey => {
                InfoBlock::new(wdk_sys::REG_PRE_CREATE_KEY_INFORMATION {
                    CompleteName: complete_name.as_ptr(),
                })
            }
            KeyOperation::CreateKeyEx | KeyOperation::OpenKeyEx => {
                InfoBlock::new(wdk_sys::REG_CREATE_KEY_INFORMATION {
                    CompleteName: complete_name.as_ptr(),
                    RootObject: root_object,
                    DesiredAccess: 0x2_0019, // KEY_READ
                    Disposition: &raw mut disposition,
                    ResultObject: &raw mut result_object,
                    ..Default::default()
                })
            }
            KeyOperation::CloseKey => InfoBlock::new(wdk_sys::REG_KEY_HANDLE_CLOSE_INFORMATION {
                Object: object,
                ..Default::default()
            }),
            KeyOperation::FlushKey => InfoBlock::new(FlushKeyInformation {
                object,
                call_context: std::ptr::null_mut(),
                object_context: std::ptr::null_mut(),
                reserved: std::ptr::null_mut(),
            }),
            KeyOperation::LoadKey { .. } => InfoBlock::new(wdk_sys::REG_LOAD_KEY_INFORMATION {
                Object: object,
                KeyName: complete_name.as_ptr(),
                SourceFile: name_a.as_ptr(),
                DesiredAccess: 0x2_0019,
                ..Default::default()
            }),
            KeyOperation::UnloadKey => InfoBlock::new(wdk_sys::REG_UNLOAD_KEY_INFORMATION {
                Object: object,
                ..Default::default()
            }),
            KeyOperation::QueryKeySecurity => InfoBlock::new(wdk_sys::REG_QUERY_KEY_SECURITY_INFORMATION {
                Object: object,
                SecurityInformation: &raw mut security_information,
                SecurityDescriptor: output_ptr,
                Length: &raw mut result_length,
                ..Default::default()
            }),
            KeyOperation::SetKeySecurity => InfoBlock::new(wdk_sys::REG_SET_KEY_SECURITY_INFORMATION {
                Object: object,
                SecurityInformation: &raw mut security_information,
                SecurityDescriptor: output_ptr,
                ..Default::default()
            }),
            KeyOperation::ContextCleanup => {
                InfoBlock::new(wdk_sys::REG_CALLBACK_CONTEXT_CLEANUP_INFORMATION {
                    Object: object,
                    ..Default::default()
                })
            }
            KeyOperation::RestoreKey => InfoBlock::new(wdk_sys::REG_RESTORE_KEY_INFORMATION {
                Object: object,
                ..Default::default()
            }),
            KeyOperation::SaveKey => InfoBlock::new(wdk_sys::REG_SAVE_KEY_INFORMATION {
                Object: object,
                Format: 1, // REG_STANDARD_FORMAT
                ..Default::default()
            }),
            KeyOperation::ReplaceKey { .. } => InfoBlock::new(wdk_sys::REG_REPLACE_KEY_INFORMATION {
                Object: object,
                OldFileName: name_b.as_ptr(),
                NewFileName: name_a.as_ptr(),
                ..Default::default()
            }),
            KeyOperation::QueryKeyName => InfoBlock::new(QueryKeyNameInformation {
                object,
                object_name_info: output_ptr,
                length: output_len,
                return_length: &raw mut result_length,
                call_context: std::ptr::null_mut(),
                object_context: std::ptr::null_mut(),
                reserved: std::ptr::null_mut(),
            }),
            KeyOperation::SaveMergedKey => InfoBlock::new(SaveMergedKeyInformation {
                object,
                file_handle: std::ptr::null_mut(),
                high_key_object: object,
                low_key_object: object,
                call_context: std::ptr::null_mut(),
                object_context: std::ptr::null_mut(),
                reserved: std::ptr::null_mut(),
            }),
        };
        let closing = matches!(
            self.operation,
            KeyOperation::CloseKey | KeyOperation::ContextCleanup
        );
        if closing {
            with_cm(|cm| cm.closing.insert(object as usize));
        }
        let before = pre.snapshot();
        let pre_status = notify(pre_class, pre.as_ptr(), true);
        let pre_information_changed = pre.changed_since(&before);
        let mut outcome = RegistryOutcome {
            status: STATUS_SUCCESS,
            pre_status,
            registry_status: None,
            post_notified: false,
            pre_information_changed,
            post_information_changed: false,
        };
        let finish = |outcome: RegistryOutcome| {
            if closing {
                with_cm(|cm| cm.closing.remove(&(object as usize)));
            }
            outcome
        };
        if pre_status == STATUS_CALLBACK_BYPASS {
            return finish(outcome);
        }
        if pre_status < 0 {
            outcome.status = pre_status;
            return finish(outcome);
        }
        let status = self.completes_with.unwrap_or_else(|| self.perform());
        outcome.registry_status = Some(status);
        outcome.status = status;
        let Some(post_class) = post_class else {
            return finish(outcome);
        };
        let post_object = if status != STATUS_SUCCESS {
            invalid_key_object()
        } else if self.operation.names_the_key() {
            key_object(&full_key)
        } else {
            object
        };
        let mut post = if matches!(post_class, 11 | 13) {
            InfoBlock::new(wdk_sys::REG_POST_CREATE_KEY_INFORMATION {
                CompleteName: complete_name.as_ptr(),
                Object: post_object,
                Status: status,
            })
        } else {
            InfoBlock::new(wdk_sys::REG_POST_OPERATION_INFORMATION {
                Object: post_object,
                Status: status,
                PreInformation: pre.as_ptr(),
                ReturnStatus: STATUS_SUCCESS,
                ..Default::default()
            })
        };
        let before = post.snapshot();
        let post_status = notify(post_class, post.as_ptr(), false);
        outcome.post_notified = true;
        outcome.post_information_changed = post.changed_since(&before);
        if post_status == STATUS_CALLBACK_BYPASS && !matches!(post_class, 11 | 13) {
            // SAFETY: the block holds a REG_POST_OPERATION_INFORMATION.
            let info = unsafe { &*post.as_ptr().cast::<wdk_sys::REG_POST_OPERATION_INFORMATION>() };
            outcome.status = info.ReturnStatus;
        }
        let _ = (&mut name_b, &mut complete_name);
        finish(outcome)
    }
}
