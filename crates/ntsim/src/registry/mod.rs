//! The registry: a tree of keys and values the test fills, the `Zw` routines
//! drivers read it with, and registry filtering callbacks
//! (kernel-semantics.md §6).
//!
//! Reading (wdm/nf-wdm-zwopenkey, wdm/nf-wdm-zwenumeratevaluekey,
//! wdm/nf-wdm-zwqueryvaluekey): PASSIVE_LEVEL, rule IrqlZwPassive. A missing
//! key gives `STATUS_OBJECT_NAME_NOT_FOUND`. Enumeration past the last value
//! gives `STATUS_NO_MORE_ENTRIES`; a buffer smaller than the fixed part of
//! the information structure gives `STATUS_BUFFER_TOO_SMALL` (nothing
//! written), one that holds the fixed part but not all of it
//! `STATUS_BUFFER_OVERFLOW` (partial data written); `*ResultLength` is the
//! size needed in both cases. `KEY_VALUE_FULL_INFORMATION.DataOffset` points
//! right after the name ("the data immediately following the Name string").
//!
//! Callbacks:
//! * `CmRegisterCallbackEx` (wdm/nf-wdm-cmregistercallbackex): `<= APC_LEVEL`,
//!   rule IrqlExApcLte2; an altitude already registered by anyone gives
//!   `STATUS_FLT_INSTANCE_ALTITUDE_COLLISION`. A missing altitude is SILENT
//!   (`STATUS_INVALID_PARAMETER` chosen). The limit is SILENT (64 chosen,
//!   `STATUS_INSUFFICIENT_RESOURCES`).
//! * `CmRegisterCallback` (obsolete): same IRQL and rule; statuses unspecified
//!   (the model uses the Ex ones); such callbacks sit "near the top of the
//!   stack, in registration order" (above every altitude).
//! * `CmUnRegisterCallback`: an unknown cookie gives `STATUS_INVALID_PARAMETER`;
//!   it waits for running callbacks (calling it from the callback deadlocks).
//!   Before it returns, the callback gets `RegNtCallbackObjectContextCleanup`
//!   for every key object it set a context on with
//!   `CmSetCallbackObjectContext` (wdm/ns-wdm-_reg_callback_context_cleanup_information).
//! * Notification (kernel/handling-notifications): highest altitude first;
//!   a pre-notification callback that returns an error blocks the operation
//!   (that status goes to the caller, lower callbacks and the post
//!   notification do not run); `STATUS_CALLBACK_BYPASS` on a pre
//!   notification completes it with `STATUS_SUCCESS` without doing it.
//!   Callbacks run at PASSIVE_LEVEL in the thread doing the operation.
//! * `CmCallbackGetKeyObjectID(Ex)`: `<= APC_LEVEL`; the key's full path
//!   and a unique id; the Ex name must be released with
//!   `CmCallbackReleaseKeyObjectIDEx` (the model counts outstanding names,
//!   [`unreleased_names`], and records an NSIM `HandleLeakedAtUnload` when
//!   a registration is removed, normally at unload, with names of it still
//!   held). The names are model memory, not pool: they never count as the
//!   caller's pool allocations. Passing a key object whose reference count
//!   is 0 (close and context-cleanup notifications,
//!   kernel/invalid-key-object-pointers-in-registry-notifications) or the
//!   `Object` of a post notification whose `Status` is not
//!   `STATUS_SUCCESS` (wdm/ns-wdm-_reg_post_operation_information) is an
//!   NSIM `InvalidParameter` violation.
//! * [`RegistryOperation`]: every `REG_NOTIFY_CLASS` 0-50 with its
//!   documented information structure (see [`KeyOperation`]); post
//!   notifications of failed operations carry an invalid `Object`; a post
//!   callback returning `STATUS_CALLBACK_BYPASS` makes `ReturnStatus` the
//!   caller's status.

//!
//! Files: `store` (keys, values, the `Zw` reading routines), `cm` (the
//! callbacks and their routines), `operations` (operations as callbacks
//! see them). This file only re-exports: the public paths stay
//! `ntsim::registry::...`.

mod cm;
mod operations;
mod store;

pub(crate) use cm::{CALLBACKS, notify, object_for, reset};
pub use cm::{
    CmCallbackGetKeyObjectID, CmCallbackGetKeyObjectIDEx, CmCallbackReleaseKeyObjectIDEx, CmRegisterCallback,
    CmRegisterCallbackEx, CmSetCallbackObjectContext, CmUnRegisterCallback, callbacks, object_contexts,
    unreleased_names,
};
pub use operations::{
    KeyOperation, RegistryOperation, RegistryOutcome, STATUS_CANNOT_DELETE, STATUS_OBJECT_NAME_COLLISION,
    STATUS_REPARSE,
};
pub use store::{
    CALLBACK_LIMIT, KeySnapshot, REG_BINARY, REG_DWORD, REG_EXPAND_SZ, REG_MULTI_SZ, REG_QWORD, REG_SZ,
    STATUS_CALLBACK_BYPASS, ZwEnumerateValueKey, ZwOpenKey, ZwQueryValueKey, create_key, delete_key,
    key_exists, set_dword, set_multi_string, set_string, set_value, snapshot, values,
};
