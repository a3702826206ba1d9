//! Callback objects: `ExCreateCallback`, `ExRegisterCallback`,
//! `ExUnregisterCallback`, `ExNotifyCallback` and the `\Callback` directory
//! (kernel-semantics.md §1).
//!
//! The routines a driver needs to inspect them are in their own files and
//! re-exported here: `KeAcquireSpinLockRaiseToDpc`/`KeReleaseSpinLock`
//! ([`crate::spinlock`]), `MmIsAddressValid` ([`crate::mm`]) and
//! `ZwQuerySystemInformation(SystemModuleInformation)` ([`crate::sysinfo`]).
//!
//! Files: `object` (the objects, their memory and the `Ex`/`Ob`
//! routines), `inspect` (objects as tests see them, and what a driver
//! left). This file only re-exports: the public paths stay
//! `ntsim::excallback::...`.
//!
//! Memory layout, as `seeds/callback-object-internals.md` describes the
//! Windows 11 24H2 implementation: the object body starts with the
//! signature `'Call'` (0x6C6C6143), then a spin lock (offset 0x08), the list
//! head of registrations (0x10) and the AllowMultipleCallbacks byte (0x20).
//! A registration handle is a 0x30-byte block: list entry (0x00), object
//! (0x10), function (0x18), context (0x20), busy count (0x28) and an
//! "unregister waiting" byte (0x2C). The model keeps the list in that memory
//! (FIFO: new registrations at the tail, notification from the head), and
//! reference counts, names and permanence in a side table (the object
//! header, which drivers do not see). As the internals note says of
//! `ExRegisterCallback` and `ExNotifyCallback`, every change to the list and
//! every notification's pass over it holds the object's spin lock (the
//! KSPIN_LOCK at 0x08, taken as `KeAcquireSpinLockRaiseToDpc` takes it), so
//! a driver that takes the same lock sees a list that does not change under
//! it.
//!
//! Rules:
//! * `ExCreateCallback` (wdm/nf-wdm-excreatecallback): opens the named
//!   object or, with `Create`, creates it; `AllowMultipleCallbacks` is
//!   ignored when an existing object is opened. No name:
//!   `STATUS_UNSUCCESSFUL` (documented). Missing name with `Create = FALSE`:
//!   SILENT; `STATUS_OBJECT_NAME_NOT_FOUND` chosen (the object manager's
//!   status). The returned pointer carries a reference the caller must drop
//!   with `ObDereferenceObject`. `OBJ_PERMANENT` keeps the object when the
//!   last reference goes. [`set_success_without_object`] makes it behave as
//!   Wine's stub does: `STATUS_SUCCESS` without writing an object.
//! * `ExRegisterCallback` (wdm/nf-wdm-exregistercallback): NULL on error,
//!   and when the object allows one callback and has one. The registration
//!   holds a reference to the object (kernel/using-a-driver-defined-callback-object:
//!   unregistering removes "its reference to the callback object").
//! * `ExUnregisterCallback`: whether it waits for running callbacks is
//!   SILENT (kernel-semantics §1, ExUnregisterCallback.3). The model waits
//!   (configurable, [`set_unregister_waits`]) because (1) the registration
//!   block has a busy count and an "unregister waiting" byte, which exist
//!   only if the kernel waits for calls in flight, (2) the removal routines
//!   whose documentation does speak (`PsSetCreateProcessNotifyRoutineEx`
//!   with Remove, `PsRemoveLoadImageNotifyRoutine`, ...) all wait, and (3) a
//!   removal that did not wait would let a driver unload under its own
//!   running callback, which the model reports as a leftover at unload. A
//!   stale or unknown handle is SILENT: recorded as an NSIM violation,
//!   nothing else happens. As in the kernel (WRK and ReactOS
//!   `ex/callback.c`), a registration with a call in flight stays linked
//!   with its "unregister waiting" byte set until the call returns, and
//!   `ExNotifyCallback` skips it: no call of a registration starts once its
//!   unregistration has begun (one unlinked during a notification is not
//!   called by it either).
//! * `ExNotifyCallback` (wdm/nf-wdm-exnotifycallback): `<= DISPATCH_LEVEL`;
//!   every callback runs at the caller's IRQL, in registration order. Called
//!   above DISPATCH_LEVEL it is a 0xC4/0xE5 violation and nothing is called.
//!   "Drivers must never call it on system-defined objects": an NSIM
//!   violation (the notification is not delivered).
//! * System objects (created at boot, permanent): `\Callback\SetSystemTime`,
//!   `\Callback\PowerState`, `\Callback\ProcessorAdd` (documented), and the
//!   others the internals note lists as created by the kernel at boot.
//!   `\Callback\PowerPort` is the one it marks as not allowing multiple
//!   callbacks; the model registers its owner (`PopUmpoMessageCallback`,
//!   at [`POWER_PORT_OWNER`] in the model's `ntoskrnl.exe`) at boot, so a
//!   driver's `ExRegisterCallback` on it returns NULL. Registrations the
//!   model makes for the system are listed in
//!   [`CallbackObjectInfo::system_callbacks`], not in `callbacks`.
//!

mod inspect;
mod object;

pub use crate::mm::{MmIsAddressValid, is_resident, set_paged_out};
pub use crate::spinlock::{KeAcquireSpinLockRaiseToDpc, KeReleaseSpinLock};
pub use crate::sysinfo::{
    HAL_BASE, HAL_SIZE, MODULES_OFFSET, Module, NTOSKRNL_BASE, NTOSKRNL_SIZE, RtlProcessModuleInformation,
    SYSTEM_MODULE_INFORMATION, ZwQuerySystemInformation, add_module, modules,
};
pub(crate) use inspect::leftovers;
pub use inspect::{CallbackObjectInfo, corrupt, object, objects};
pub(crate) use object::reset;
pub use object::{
    CALLBACK_SIGNATURE, CallbackObjectBody, CallbackRegistration, ExCreateCallback, ExNotifyCallback,
    ExRegisterCallback, ExUnregisterCallback, ObMakeTemporaryObject, ObfDereferenceObject,
    ObfReferenceObject, POWER_PORT_OWNER, SYSTEM_OBJECTS, create_object, notify, set_success_without_object,
    set_unregister_waits,
};
