//! Callback objects: `ExCreateCallback`, `ExRegisterCallback`,
//! `ExUnregisterCallback`, `ExNotifyCallback` and the `\Callback` directory
//! (kernel-semantics.md §1).
//!
//! Also the routines a driver needs to inspect them:
//! `KeAcquireSpinLockRaiseToDpc`/`KeReleaseSpinLock`, `MmIsAddressValid` and
//! `ZwQuerySystemInformation(SystemModuleInformation)`.
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
//! Inspection routines:
//! * `KeAcquireSpinLockRaiseToDpc` (wdm/nf-wdm-keacquirespinlockraisetodpc):
//!   `<= DISPATCH_LEVEL`, raises to DISPATCH_LEVEL and returns the previous
//!   IRQL. `KeReleaseSpinLock` (wdm/nf-wdm-kereleasespinlock): at
//!   DISPATCH_LEVEL, restores the IRQL it is given. Acquiring a lock the
//!   thread holds (a deadlock on a real system) or releasing one it does not
//!   hold is an NSIM violation.
//! * `MmIsAddressValid` (ntddk/nf-ntddk-mmisaddressvalid): `<= DISPATCH_LEVEL`;
//!   TRUE if reading the address would not page-fault. The model cannot know
//!   about arbitrary host memory, so it answers TRUE for the memory it owns
//!   and knows to be resident: callback object bodies, registration blocks
//!   and live pool blocks; FALSE for anything else, and for a range a test
//!   marked paged out ([`set_paged_out`]).
//! * `ZwQuerySystemInformation` (win32/sysinfo/zwquerysysteminformation for
//!   the prototype and `STATUS_INFO_LENGTH_MISMATCH`): PASSIVE_LEVEL (a Zw
//!   routine). Only `SystemModuleInformation` (11) is modeled; its output
//!   (`RTL_PROCESS_MODULES`) is not documented by Microsoft: the model uses
//!   the commonly published layout (e.g. Process Hacker's `ntldr.h`): a
//!   ULONG count, then 0x128-byte entries from offset 8. Other classes:
//!   `STATUS_INVALID_INFO_CLASS` (the model's choice). The list starts with
//!   `ntoskrnl.exe` and `hal.dll` at synthetic kernel addresses; a test adds
//!   modules with [`add_module`].

#![allow(non_snake_case)]

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use wdk_sys::{
    BOOLEAN, KIRQL, LIST_ENTRY, NTSTATUS, OBJ_PERMANENT, PCALLBACK_FUNCTION, PCALLBACK_OBJECT, PKSPIN_LOCK,
    POBJECT_ATTRIBUTES, PULONG, PVOID, STATUS_INFO_LENGTH_MISMATCH, STATUS_INVALID_INFO_CLASS,
    STATUS_INVALID_PARAMETER, STATUS_NOT_IMPLEMENTED, STATUS_OBJECT_NAME_NOT_FOUND,
    STATUS_OBJECT_TYPE_MISMATCH, STATUS_SUCCESS, STATUS_UNSUCCESSFUL, ULONG,
};

use crate::context::{ContextScope, Phase};
use crate::irql::{DISPATCH_LEVEL, IrqlScope};
use crate::verifier::{self, ModelRule, codes};
use crate::{ddi, irql, ob, sync};

/// `'Call'`, the first four bytes of a callback object body.
pub const CALLBACK_SIGNATURE: u32 = u32::from_le_bytes(*b"Call");

/// A callback object body, as laid out in memory.
#[repr(C)]
pub struct CallbackObjectBody {
    /// `'Call'`.
    pub signature: u32,
    _pad: u32,
    /// The KSPIN_LOCK guarding the list (0 = free, 1 = held).
    pub lock: AtomicU64,
    /// Head of the registration list.
    pub registrations: LIST_ENTRY,
    /// `AllowMultipleCallbacks`.
    pub allow_multiple: u8,
    _pad2: [u8; 7],
}

/// A registration handle (what `ExRegisterCallback` returns), as laid out in memory.
#[repr(C)]
pub struct CallbackRegistration {
    /// Link in the object's list.
    pub link: LIST_ENTRY,
    /// The callback object.
    pub object: *mut CallbackObjectBody,
    /// The callback routine.
    pub function: PCALLBACK_FUNCTION,
    /// Its context.
    pub context: PVOID,
    /// Calls in flight.
    pub busy: u32,
    /// Set while an unregister waits for `busy` to drop to 0.
    pub unregister_waiting: u8,
    _pad: [u8; 3],
}

const _: () = {
    assert!(std::mem::offset_of!(CallbackObjectBody, lock) == 0x08);
    assert!(std::mem::offset_of!(CallbackObjectBody, registrations) == 0x10);
    assert!(std::mem::offset_of!(CallbackObjectBody, allow_multiple) == 0x20);
    assert!(std::mem::size_of::<CallbackObjectBody>() == 0x28);
    assert!(std::mem::offset_of!(CallbackRegistration, object) == 0x10);
    assert!(std::mem::offset_of!(CallbackRegistration, function) == 0x18);
    assert!(std::mem::offset_of!(CallbackRegistration, context) == 0x20);
    assert!(std::mem::offset_of!(CallbackRegistration, busy) == 0x28);
    assert!(std::mem::offset_of!(CallbackRegistration, unregister_waiting) == 0x2C);
    assert!(std::mem::size_of::<CallbackRegistration>() == 0x30);
};

/// The system callback objects created at boot: (name, AllowMultipleCallbacks).
pub const SYSTEM_OBJECTS: &[(&str, bool)] = &[
    ("\\Callback\\EnlightenmentState", true),
    ("\\Callback\\SetSystemTime", true),
    ("\\Callback\\SetSystemState", true),
    ("\\Callback\\Phase1InitComplete", true),
    ("\\Callback\\SeImageVerificationDriverInfo", true),
    ("\\Callback\\SeImageVerificationBlockInfo", true),
    ("\\Callback\\PowerState", true),
    ("\\Callback\\SoftRestart", true),
    ("\\Callback\\BootDriver", true),
    ("\\Callback\\ProcessorAdd", true),
    ("\\Callback\\LicensingData", true),
    ("\\Callback\\IoSessionNotifications", true),
    ("\\Callback\\IoExternalDmaUnblock", true),
    ("\\Callback\\PowerPort", false),
    ("\\Callback\\PowerMonitorPort", true),
    ("\\Callback\\SleepstudyControlPort", true),
];

/// Synthetic base of the model's `ntoskrnl.exe` (no host code lives there).
pub const NTOSKRNL_BASE: usize = 0xFFFF_F800_0A00_0000;
/// Size of the model's `ntoskrnl.exe`.
pub const NTOSKRNL_SIZE: u32 = 0x0110_0000;
/// Synthetic base of the model's `hal.dll`.
pub const HAL_BASE: usize = 0xFFFF_F800_0980_0000;
/// Size of the model's `hal.dll`.
pub const HAL_SIZE: u32 = 0x0008_0000;
/// The routine the system registers on `\Callback\PowerPort`
/// (`PopUmpoMessageCallback` in the internals note's table).
///
/// This is the address the registration block holds: inside the model's
/// `ntoskrnl.exe`. It is
/// never called through that address (the model runs its own stand-in).
pub const POWER_PORT_OWNER: usize = NTOSKRNL_BASE + 0x003C_5A10;

/// A model-side routine that stands in for a system registration's routine.
type SystemRoutine = fn(PVOID, PVOID);

struct ObjectInfo {
    name: String,
    body: Box<CallbackObjectBody>,
    /// Pointer count (the object header's).
    references: i64,
    /// References taken through DDIs (ExCreateCallback, ObfReferenceObject)
    /// and not yet dropped through ObfDereferenceObject by the driver under
    /// test (another driver's, [`crate::context::other_image`], are not
    /// counted here: they are that driver's to drop).
    driver_references: i64,
    permanent: bool,
    system: bool,
    deleted: bool,
}

struct RegistrationInfo {
    block: Box<CallbackRegistration>,
    object: usize,
    removed: bool,
    /// The other driver that registered it ([`crate::context::other_image`]);
    /// `None`: the driver under test.
    owner: Option<usize>,
    /// Set for registrations the model makes as the system: what runs
    /// instead of the (synthetic) address in the block.
    system_routine: Option<SystemRoutine>,
}

#[derive(Default)]
struct State {
    objects: HashMap<usize, ObjectInfo>,
    registrations: HashMap<usize, RegistrationInfo>,
}

// SAFETY: the raw pointers inside the blocks point into blocks owned by this
// state; they are only followed with the state's lock held (or, for a
// notification in flight, while the block's busy count keeps it alive).
unsafe impl Send for State {}

static STATE: Mutex<Option<State>> = Mutex::new(None);
static DONE: Condvar = Condvar::new();
static UNREGISTER_WAITS: AtomicBool = AtomicBool::new(true);
static SUCCESS_WITHOUT_OBJECT: AtomicBool = AtomicBool::new(false);

/// How long a spin lock may be waited for before the model gives up (the
/// test would hang otherwise).
const SPIN_WATCHDOG: Duration = Duration::from_secs(30);

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut guard = sync::lock(&STATE);
    f(guard.get_or_insert_with(State::default))
}

/// Whether `ExUnregisterCallback` waits for running callbacks (default: yes).
pub fn set_unregister_waits(wait: bool) {
    UNREGISTER_WAITS.store(wait, Ordering::SeqCst);
}

/// Makes `ExCreateCallback` behave as Wine's stub does (default: off): it
/// returns `STATUS_SUCCESS` and writes no object pointer.
pub fn set_success_without_object(on: bool) {
    SUCCESS_WITHOUT_OBJECT.store(on, Ordering::SeqCst);
}

// --- Resident memory (MmIsAddressValid) ------------------------------------

/// Memory the model owns and knows to be resident: start -> length.
static RESIDENT: Mutex<BTreeMap<usize, usize>> = Mutex::new(BTreeMap::new());
/// Ranges a test marked paged out: start -> length.
static PAGED_OUT: Mutex<BTreeMap<usize, usize>> = Mutex::new(BTreeMap::new());

fn make_resident(start: usize, length: usize) {
    sync::lock(&RESIDENT).insert(start, length);
}

fn evict(start: usize) {
    sync::lock(&RESIDENT).remove(&start);
    sync::lock(&PAGED_OUT).remove(&start);
}

fn contains(map: &BTreeMap<usize, usize>, address: usize) -> bool {
    map.range(..=address)
        .next_back()
        .is_some_and(|(start, length)| address - start < *length)
}

/// Whether reading `address` would not fault, as `MmIsAddressValid` answers.
#[must_use]
pub fn is_resident(address: usize) -> bool {
    if contains(&sync::lock(&PAGED_OUT), address) {
        return false;
    }
    if contains(&sync::lock(&RESIDENT), address) {
        return true;
    }
    crate::pool::outstanding()
        .iter()
        .any(|a| address >= a.address && address - a.address < a.size.max(1))
}

/// Marks the model-owned range that starts at `start` (a callback object
/// body or a registration block) paged out (`MmIsAddressValid` says FALSE
/// for it) or resident again.
///
/// # Panics
/// If `start` does not start such a range.
pub fn set_paged_out(start: usize, paged_out: bool) {
    let (from, to) = if paged_out {
        (&RESIDENT, &PAGED_OUT)
    } else {
        (&PAGED_OUT, &RESIDENT)
    };
    let length = sync::lock(from)
        .remove(&start)
        .unwrap_or_else(|| panic!("{start:#x} does not start a model range to move"));
    sync::lock(to).insert(start, length);
}

// --- The object's spin lock ----------------------------------------------------

thread_local! {
    /// Spin locks the current thread holds (through the DDIs).
    static HELD: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Spins until `lock` is ours. Returns `false` if the watchdog expired.
fn spin_acquire(lock: &AtomicU64) -> bool {
    let started = Instant::now();
    loop {
        if lock
            .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return true;
        }
        if started.elapsed() > SPIN_WATCHDOG {
            verifier::model_rule(
                ModelRule::WatchdogExpired,
                std::ptr::from_ref(lock) as u64,
                format!("spin lock {lock:p} held for more than {SPIN_WATCHDOG:?}"),
            );
            return false;
        }
        std::hint::spin_loop();
        std::thread::yield_now();
    }
}

/// The model holding an object's spin lock (inside `ExRegisterCallback`,
/// `ExUnregisterCallback`, `ExNotifyCallback`).
struct BodyLock<'a> {
    lock: &'a AtomicU64,
    held: bool,
}

impl<'a> BodyLock<'a> {
    fn acquire(lock: &'a AtomicU64) -> Self {
        let held = spin_acquire(lock);
        Self { lock, held }
    }
}

impl Drop for BodyLock<'_> {
    fn drop(&mut self) {
        if self.held {
            self.lock.store(0, Ordering::Release);
        }
    }
}

/// `KeAcquireSpinLockRaiseToDpc` (wdm/nf-wdm-keacquirespinlockraisetodpc):
/// `<= DISPATCH_LEVEL`; raises to DISPATCH_LEVEL, spins until the lock is
/// free and takes it; returns the previous IRQL.
///
/// # Safety
/// `spin_lock` points to a KSPIN_LOCK (8-byte aligned) that every other
/// user also accesses through the spin-lock routines.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeAcquireSpinLockRaiseToDpc(spin_lock: PKSPIN_LOCK) -> KIRQL {
    let entry = ddi::enter(&ddi::KE_ACQUIRE_SPIN_LOCK_RAISE_TO_DPC);
    let previous = entry.irql;
    let address = spin_lock as usize;
    if spin_lock.is_null() || !address.is_multiple_of(8) {
        verifier::model_rule(
            ModelRule::InvalidParameter,
            address as u64,
            format!("KeAcquireSpinLockRaiseToDpc({spin_lock:p}): not an aligned KSPIN_LOCK"),
        );
        return previous;
    }
    if HELD.with(|held| held.borrow().contains(&address)) {
        verifier::model_rule(
            ModelRule::InvalidParameter,
            address as u64,
            format!("KeAcquireSpinLockRaiseToDpc({spin_lock:p}): this thread already holds it (deadlock)"),
        );
        return previous;
    }
    irql::set(previous.max(DISPATCH_LEVEL));
    // SAFETY: aligned and non-null (checked); every user of the lock goes
    // through atomic accesses (the caller's contract and the model's own
    // CallbackObjectBody::lock).
    let lock = unsafe { AtomicU64::from_ptr(spin_lock) };
    if spin_acquire(lock) {
        HELD.with(|held| held.borrow_mut().push(address));
    }
    previous
}

/// `KeReleaseSpinLock` (wdm/nf-wdm-kereleasespinlock): at DISPATCH_LEVEL;
/// releases the lock and restores `new_irql` (what the acquire returned).
///
/// # Safety
/// `spin_lock` was acquired by this thread with `KeAcquireSpinLockRaiseToDpc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeReleaseSpinLock(spin_lock: PKSPIN_LOCK, new_irql: KIRQL) {
    let entry = ddi::enter(&ddi::KE_RELEASE_SPIN_LOCK);
    if entry.irql != DISPATCH_LEVEL {
        verifier::wrong_irql("KeReleaseSpinLock", entry.irql, "DISPATCH_LEVEL");
    }
    let address = spin_lock as usize;
    let held = HELD.with(|held| {
        let mut held = held.borrow_mut();
        let position = held.iter().rposition(|&a| a == address);
        position.map(|i| held.remove(i)).is_some()
    });
    if !held {
        verifier::model_rule(
            ModelRule::DoubleRelease,
            address as u64,
            format!("KeReleaseSpinLock({spin_lock:p}): this thread does not hold it"),
        );
        return;
    }
    // SAFETY: the lock was acquired through KeAcquireSpinLockRaiseToDpc,
    // which checked it is a non-null aligned KSPIN_LOCK.
    let lock = unsafe { AtomicU64::from_ptr(spin_lock) };
    lock.store(0, Ordering::Release);
    if new_irql > entry.irql {
        verifier::model_rule(
            ModelRule::InvalidParameter,
            u64::from(new_irql),
            format!(
                "KeReleaseSpinLock: NewIrql {new_irql} is above the current IRQL {}",
                entry.irql
            ),
        );
    } else {
        irql::set(new_irql);
    }
}

/// `MmIsAddressValid` (ntddk/nf-ntddk-mmisaddressvalid): `<= DISPATCH_LEVEL`.
/// See the module docs for what the model knows to be resident.
///
/// # Safety
/// None beyond the C ABI: the address is only looked up, never read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn MmIsAddressValid(virtual_address: PVOID) -> BOOLEAN {
    ddi::enter(&ddi::MM_IS_ADDRESS_VALID);
    u8::from(is_resident(virtual_address as usize))
}

// --- SystemModuleInformation ---------------------------------------------------

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
    let entry = ddi::zw_passive(&ddi::ZW_QUERY_SYSTEM_INFORMATION);
    if let Some(status) = entry.fault {
        return status;
    }
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

// --- Objects as tests see them ----------------------------------------------

/// A callback object as the test sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackObjectInfo {
    /// Its address (the `PCALLBACK_OBJECT`).
    pub address: usize,
    /// Its name.
    pub name: String,
    /// Pointer count.
    pub references: i64,
    /// References the driver holds.
    pub driver_references: i64,
    /// `AllowMultipleCallbacks`.
    pub allow_multiple: bool,
    /// Created with `OBJ_PERMANENT` (or a system object).
    pub permanent: bool,
    /// A system-defined object.
    pub system: bool,
    /// Callback functions registered through `ExRegisterCallback` (drivers
    /// and tests), in list order.
    pub callbacks: Vec<usize>,
    /// Routines the model registered as the system (their block addresses'
    /// function field), in list order.
    pub system_callbacks: Vec<usize>,
    /// Every registration block (the handle `ExRegisterCallback` returned),
    /// in list order, the system's included.
    pub registrations: Vec<usize>,
}

fn list_order(body: &CallbackObjectBody) -> Vec<*mut CallbackRegistration> {
    let head = std::ptr::from_ref(&body.registrations).cast_mut();
    let mut list = Vec::new();
    let mut entry = body.registrations.Flink;
    while !entry.is_null() && entry != head && list.len() < 4096 {
        list.push(entry.cast::<CallbackRegistration>());
        // SAFETY: the list links registration blocks owned by the state table.
        entry = unsafe { (*entry).Flink };
    }
    list
}

fn object_info(state: &State, address: usize, info: &ObjectInfo) -> CallbackObjectInfo {
    let mut callbacks = Vec::new();
    let mut system_callbacks = Vec::new();
    let mut registrations = Vec::new();
    for block in list_order(&info.body) {
        // SAFETY: blocks in the list are live.
        let function = unsafe { (*block).function }.map_or(0, |f| f as usize);
        let system = state
            .registrations
            .get(&(block as usize))
            .is_some_and(|r| r.system_routine.is_some());
        if system {
            system_callbacks.push(function);
        } else {
            callbacks.push(function);
        }
        registrations.push(block as usize);
    }
    CallbackObjectInfo {
        address,
        name: info.name.clone(),
        references: info.references,
        driver_references: info.driver_references,
        allow_multiple: info.body.allow_multiple != 0,
        permanent: info.permanent,
        system: info.system,
        callbacks,
        system_callbacks,
        registrations,
    }
}

/// Every callback object that exists.
#[must_use]
pub fn objects() -> Vec<CallbackObjectInfo> {
    let mut list: Vec<_> = with_state(|s| {
        s.objects
            .iter()
            .filter(|(_, o)| !o.deleted)
            .map(|(a, o)| object_info(s, *a, o))
            .collect()
    });
    list.sort_by(|a, b| a.name.cmp(&b.name));
    list
}

/// The callback object named `name` (case-insensitive).
#[must_use]
pub fn object(name: &str) -> Option<CallbackObjectInfo> {
    objects().into_iter().find(|o| o.name.eq_ignore_ascii_case(name))
}

/// Overwrites the pointer-sized word at `address` and returns the old value.
///
/// `address` must lie inside a live callback object body or registration
/// block: this corrupts the layout a driver walks (and restores it after).
///
/// While a list is corrupted, the model's own list walks ([`objects`],
/// `ExRegisterCallback` on a single-callback object) must not run on it.
///
/// # Panics
/// If `address` is misaligned or not inside such memory.
#[allow(clippy::must_use_candidate, reason = "restoring is optional")]
pub fn corrupt(address: usize, value: usize) -> usize {
    assert!(address.is_multiple_of(8), "{address:#x} is not pointer-aligned");
    with_state(|state| {
        let word = std::mem::size_of::<usize>();
        let bodies = state.objects.values_mut().map(|o| {
            (
                (&raw mut *o.body).cast::<u8>(),
                std::mem::size_of::<CallbackObjectBody>(),
            )
        });
        let blocks = state.registrations.values_mut().map(|r| {
            (
                (&raw mut *r.block).cast::<u8>(),
                std::mem::size_of::<CallbackRegistration>(),
            )
        });
        let target = bodies
            .chain(blocks)
            .find_map(|(start, length)| {
                let offset = address.checked_sub(start as usize)?;
                (offset + word <= length).then(|| start.wrapping_add(offset))
            })
            .unwrap_or_else(|| panic!("{address:#x} is not model callback memory"));
        // An aligned word inside a live body or block owned by the state
        // (provenance from the owning Box), with the state locked.
        #[allow(clippy::cast_ptr_alignment, reason = "`address` is 8-aligned (asserted)")]
        let target = target.cast::<usize>();
        // SAFETY: an aligned word inside a live body or block owned by the
        // state (provenance from the owning Box), with the state locked.
        unsafe { target.replace(value) }
    })
}

// --- Objects -------------------------------------------------------------

fn new_body(allow_multiple: bool) -> Box<CallbackObjectBody> {
    let mut body = Box::new(CallbackObjectBody {
        signature: CALLBACK_SIGNATURE,
        _pad: 0,
        lock: AtomicU64::new(0),
        registrations: LIST_ENTRY {
            Flink: std::ptr::null_mut(),
            Blink: std::ptr::null_mut(),
        },
        allow_multiple: u8::from(allow_multiple),
        _pad2: [0; 7],
    });
    let head: *mut LIST_ENTRY = &raw mut body.registrations;
    body.registrations = LIST_ENTRY {
        Flink: head,
        Blink: head,
    };
    body
}

fn create_object_in(
    state: &mut State,
    name: &str,
    allow_multiple: bool,
    permanent: bool,
    system: bool,
) -> Result<usize, NTSTATUS> {
    let mut body = new_body(allow_multiple);
    let address = std::ptr::from_mut::<CallbackObjectBody>(&mut body) as usize;
    let canonical = ob::insert(name, ob::Object::Callback(address))?;
    make_resident(address, std::mem::size_of::<CallbackObjectBody>());
    state.objects.insert(
        address,
        ObjectInfo {
            name: canonical,
            body,
            references: 1,
            driver_references: 0,
            permanent,
            system,
            deleted: false,
        },
    );
    Ok(address)
}

fn delete(info: &mut ObjectInfo, address: usize) {
    info.deleted = true;
    let _ = ob::remove(&info.name);
    evict(address);
}

/// Drops one reference; deletes a temporary object at zero. Returns the new count.
fn dereference(state: &mut State, address: usize) -> Option<i64> {
    let info = state.objects.get_mut(&address)?;
    info.references -= 1;
    let count = info.references;
    if count <= 0 && !info.permanent && !info.deleted {
        delete(info, address);
    }
    Some(count)
}

/// 1 if a reference taken or dropped now is the driver under test's, 0 if
/// another driver's code runs ([`crate::context::other_image`]).
fn own_reference() -> i64 {
    i64::from(crate::context::other_image().is_none())
}

/// `ExCreateCallback` (wdm/nf-wdm-excreatecallback): see the module docs.
///
/// # Safety
/// `callback_object` is writable; `object_attributes` is valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ExCreateCallback(
    callback_object: *mut PCALLBACK_OBJECT,
    object_attributes: POBJECT_ATTRIBUTES,
    create: BOOLEAN,
    allow_multiple_callbacks: BOOLEAN,
) -> NTSTATUS {
    let entry = ddi::enter(&ddi::EX_CREATE_CALLBACK);
    if let Some(status) = entry.fault {
        return status;
    }
    if SUCCESS_WITHOUT_OBJECT.load(Ordering::SeqCst) {
        // Wine's stub: success, and `*callback_object` is not written.
        return STATUS_SUCCESS;
    }
    if callback_object.is_null() || object_attributes.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: valid per the caller.
    let attributes = unsafe { &*object_attributes };
    crate::handle_attributes::check_kernel_handle("ExCreateCallback", attributes);
    if !attributes.RootDirectory.is_null() {
        return STATUS_NOT_IMPLEMENTED;
    }
    // SAFETY: ObjectName is null or a valid UNICODE_STRING per the caller.
    let Some(name) = (unsafe { crate::unicode::read(attributes.ObjectName) }).filter(|n| !n.is_empty())
    else {
        return STATUS_UNSUCCESSFUL;
    };
    let permanent = attributes.Attributes & OBJ_PERMANENT != 0;
    let result = with_state(|state| match ob::lookup(&name) {
        Ok((_, ob::Object::Callback(address))) => {
            let info = state
                .objects
                .get_mut(&address)
                .ok_or(STATUS_OBJECT_NAME_NOT_FOUND)?;
            info.references += 1;
            info.driver_references += own_reference();
            Ok(address)
        }
        Ok(_) => Err(STATUS_OBJECT_TYPE_MISMATCH),
        Err(_) if create == 0 => Err(STATUS_OBJECT_NAME_NOT_FOUND),
        Err(_) => {
            let address = create_object_in(state, &name, allow_multiple_callbacks != 0, permanent, false)?;
            if let Some(info) = state.objects.get_mut(&address) {
                info.driver_references = own_reference();
            }
            Ok(address)
        }
    });
    match result {
        Ok(address) => {
            // SAFETY: writable per the caller.
            unsafe { callback_object.write(address as PCALLBACK_OBJECT) };
            STATUS_SUCCESS
        }
        Err(status) => status,
    }
}

/// Links a new registration block at the tail of object `address`'s list,
/// under the object's spin lock. `None`: no such live object; `Some(NULL)`:
/// the object allows one callback and has one.
fn register_in(
    state: &mut State,
    address: usize,
    function: PCALLBACK_FUNCTION,
    context: PVOID,
    system_routine: Option<SystemRoutine>,
) -> Option<PVOID> {
    let info = state.objects.get_mut(&address).filter(|o| !o.deleted)?;
    let body: *mut CallbackObjectBody = &raw mut *info.body;
    // SAFETY: `body` is a live callback-object body owned by the state
    // table; the lock field is only accessed atomically.
    let _lock = BodyLock::acquire(unsafe { &(*body).lock });
    // SAFETY: as above; the list is read with its lock held.
    if info.body.allow_multiple == 0 && !list_order(unsafe { &*body }).is_empty() {
        return Some(std::ptr::null_mut());
    }
    let mut block = Box::new(CallbackRegistration {
        link: LIST_ENTRY {
            Flink: std::ptr::null_mut(),
            Blink: std::ptr::null_mut(),
        },
        object: body,
        function,
        context,
        busy: 0,
        unregister_waiting: 0,
        _pad: [0; 3],
    });
    let link: *mut LIST_ENTRY = &raw mut block.link;
    // SAFETY: `body` is live; taking the address of its list head reads nothing.
    let head: *mut LIST_ENTRY = unsafe { &raw mut (*body).registrations };
    make_resident(link as usize, std::mem::size_of::<CallbackRegistration>());
    // SAFETY: the head and the new block are live; inserting at the tail
    // keeps FIFO order; the object's lock is held.
    unsafe { insert_tail(head, link) };
    info.references += 1;
    let handle = link.cast::<c_void>();
    state.registrations.insert(
        handle as usize,
        RegistrationInfo {
            block,
            object: address,
            removed: false,
            owner: crate::context::other_image(),
            system_routine,
        },
    );
    Some(handle)
}

/// `ExRegisterCallback` (wdm/nf-wdm-exregistercallback): `<= APC_LEVEL`,
/// rule IrqlExApcLte2.
///
/// # Safety
/// `callback_object` came from `ExCreateCallback`; the function and context
/// stay valid until unregistered.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ExRegisterCallback(
    callback_object: PCALLBACK_OBJECT,
    callback_function: PCALLBACK_FUNCTION,
    callback_context: PVOID,
) -> PVOID {
    let address = callback_object as usize;
    // An object that allows one callback and has one refuses whatever
    // happens: fault injection could not change the outcome (ddi::enter_decided).
    let refuses = with_state(|state| {
        state
            .objects
            .get(&address)
            .is_some_and(|o| !o.deleted && o.body.allow_multiple == 0 && !list_order(&o.body).is_empty())
    });
    let entry = if refuses {
        ddi::enter_decided(&ddi::EX_REGISTER_CALLBACK)
    } else {
        ddi::enter(&ddi::EX_REGISTER_CALLBACK)
    };
    if entry.fault.is_some() || callback_function.is_none() {
        return std::ptr::null_mut();
    }
    let result = with_state(|state| register_in(state, address, callback_function, callback_context, None));
    result.unwrap_or_else(|| {
        verifier::model_rule(
            ModelRule::UnknownObject,
            address as u64,
            format!("ExRegisterCallback({callback_object:p}): not a callback object"),
        );
        std::ptr::null_mut()
    })
}

/// Insert `link` at the tail of the doubly linked list headed by `head`.
///
/// # Safety
/// `head` heads a well-formed live list; `link` is a live, unlinked entry.
unsafe fn insert_tail(head: *mut LIST_ENTRY, link: *mut LIST_ENTRY) {
    // SAFETY: `head` is live per the contract.
    let tail = unsafe { (*head).Blink };
    // SAFETY: `link` is live per the contract.
    unsafe { (*link).Flink = head };
    // SAFETY: as above.
    unsafe { (*link).Blink = tail };
    // SAFETY: `tail` is an entry (or the head) of the well-formed list.
    unsafe { (*tail).Flink = link };
    // SAFETY: `head` is live.
    unsafe { (*head).Blink = link };
}

fn unlink(block: &mut CallbackRegistration) {
    // SAFETY: the block's object body is live (the registration holds a
    // reference to it); its lock field is only accessed atomically.
    let _lock = BodyLock::acquire(unsafe { &(*block.object).lock });
    let link: *mut LIST_ENTRY = &raw mut block.link;
    let previous = block.link.Blink;
    let next = block.link.Flink;
    // SAFETY: the block is linked into a live list, so its neighbours are live.
    unsafe { (*previous).Flink = next };
    // SAFETY: as above.
    unsafe { (*next).Blink = previous };
    block.link.Flink = link;
    block.link.Blink = link;
}

/// Forgets registration `handle` once nothing runs it any more.
fn drop_registration(state: &mut State, handle: usize) {
    if state.registrations.remove(&handle).is_some() {
        evict(handle);
    }
}

/// Whether `block` is linked into its object's list (an unlinked block's
/// links point to itself).
fn is_linked(block: &CallbackRegistration) -> bool {
    !std::ptr::eq(block.link.Flink, &raw const block.link)
}

/// `ExUnregisterCallback` (wdm/nf-wdm-exunregistercallback): `<= APC_LEVEL`,
/// rule IrqlExApcLte2.
///
/// It waits for calls of this registration in flight (SILENT in the docs;
/// see the module docs for why the model chose so). As the kernel does
/// (WRK `ExUnregisterCallback`, ReactOS `ntoskrnl/ex/callback.c`), a
/// registration with no call in flight leaves the list at once; one with
/// calls in flight gets the "unregister waiting" byte (+0x2C) set under the
/// object's lock and stays linked until its busy count (+0x28) drops to 0,
/// and `ExNotifyCallback` skips it meanwhile: no new call of it starts once
/// its unregistration has begun.
///
/// # Safety
/// `cb_registration` came from `ExRegisterCallback`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ExUnregisterCallback(cb_registration: PVOID) {
    ddi::enter(&ddi::EX_UNREGISTER_CALLBACK);
    let handle = cb_registration as usize;
    let waits = UNREGISTER_WAITS.load(Ordering::SeqCst);
    let known = with_state(|state| {
        let registration = state.registrations.get_mut(&handle).filter(|r| !r.removed)?;
        registration.removed = true;
        let busy = {
            // SAFETY: the block's object body is live (the registration
            // holds a reference to it); its lock is only accessed atomically.
            let _lock = BodyLock::acquire(unsafe { &(*registration.block.object).lock });
            if registration.block.busy > 0 && waits {
                registration.block.unregister_waiting = 1;
            }
            registration.block.busy
        };
        if busy == 0 || !waits {
            unlink(&mut registration.block);
        }
        Some((registration.block.function.map_or(0, |f| f as usize), busy))
    });
    let Some((function, busy)) = known else {
        verifier::model_rule(
            ModelRule::UnknownObject,
            handle as u64,
            format!("ExUnregisterCallback({cb_registration:p}): not a live registration"),
        );
        return;
    };
    if waits && busy > 0 {
        if INSIDE.with(|inside| inside.borrow().contains(&handle)) {
            verifier::model_rule(
                ModelRule::RemovalFromOwnCallback,
                function as u64,
                "ExUnregisterCallback called from inside the callback it removes: it waits for that callback (deadlock)"
                    .to_owned(),
            );
        } else {
            let started = Instant::now();
            let mut guard = sync::lock(&STATE);
            loop {
                let busy = guard
                    .get_or_insert_with(State::default)
                    .registrations
                    .get(&handle)
                    .map_or(0, |r| r.block.busy);
                if busy == 0 || started.elapsed() > Duration::from_secs(30) {
                    break;
                }
                guard = sync::wait_timeout(&DONE, guard, Duration::from_millis(10));
            }
        }
        with_state(|state| {
            if let Some(registration) = state.registrations.get_mut(&handle)
                && is_linked(&registration.block)
            {
                unlink(&mut registration.block);
            }
        });
    }
    with_state(|state| {
        let Some(registration) = state.registrations.get(&handle) else {
            return;
        };
        let object = registration.object;
        if registration.block.busy == 0 {
            drop_registration(state, handle);
        }
        dereference(state, object);
    });
}

thread_local! {
    static INSIDE: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// One call a notification makes: (handle, function, context, stand-in).
type PendingCall = (usize, PCALLBACK_FUNCTION, PVOID, Option<SystemRoutine>);

/// One step of a notification's walk over object `address`'s list, under
/// the object's lock: ends the call of `previous` (its busy count drops),
/// then finds the next registration to call after it (or the first one),
/// skipping those whose unregistration is waiting, and counts it busy.
/// `order` is the list as it was when the notification started: where to
/// go on from a block that was unlinked while it ran (a removal that did
/// not wait, or one from inside its own callback).
fn notify_step(address: usize, previous: Option<usize>, order: &[usize]) -> Option<PendingCall> {
    let next = with_state(|state| {
        let State {
            objects,
            registrations,
        } = state;
        let info = objects.get_mut(&address)?;
        let _lock = BodyLock::acquire(&info.body.lock);
        let head: *mut LIST_ENTRY = &raw mut info.body.registrations;
        let mut entry = info.body.registrations.Flink;
        let mut finished = None;
        if let Some(previous) = previous
            && let Some(registration) = registrations.get_mut(&previous)
        {
            registration.block.busy -= 1;
            entry = if is_linked(&registration.block) {
                registration.block.link.Flink
            } else {
                let live = list_order(&info.body);
                order
                    .iter()
                    .skip_while(|&&b| b != previous)
                    .skip(1)
                    .find(|&&b| live.contains(&(b as *mut CallbackRegistration)))
                    .map_or(head, |&b| b as *mut LIST_ENTRY)
            };
            if registration.removed && registration.block.busy == 0 && !is_linked(&registration.block) {
                finished = Some(previous);
            }
        }
        let mut call = None;
        while !entry.is_null() && entry != head {
            let block = entry.cast::<CallbackRegistration>();
            // SAFETY: list entries are live registration blocks.
            let registration = unsafe { &mut *block };
            if registration.unregister_waiting == 0 {
                registration.busy += 1;
                let stand_in = registrations
                    .get(&(block as usize))
                    .and_then(|r| r.system_routine);
                call = Some((
                    block as usize,
                    registration.function,
                    registration.context,
                    stand_in,
                ));
                break;
            }
            entry = registration.link.Flink;
        }
        Some((call, finished))
    });
    let (call, finished) = next?;
    if let Some(handle) = finished {
        with_state(|state| drop_registration(state, handle));
    }
    if previous.is_some() {
        DONE.notify_all();
    }
    call
}

/// Calls every registration of `object` in list order at the current IRQL.
/// Returns how many callbacks ran.
///
/// The walk follows the kernel's `ExNotifyCallback` (WRK
/// `ntos/ex/callback.c`; ReactOS `ntoskrnl/ex/callback.c`): under the
/// object's lock it takes the next registration, skips it if its
/// "unregister waiting" byte is set, else counts it busy, drops the lock
/// for the call, and takes the lock again to count it done and go on to the
/// next. A registration unregistered while an earlier one runs is not
/// called (it left the list, or waits and is skipped).
fn notify_object(address: usize, argument1: PVOID, argument2: PVOID) -> usize {
    let order: Vec<usize> = with_state(|state| {
        state
            .objects
            .get(&address)
            .filter(|o| !o.deleted)
            .map(|info| {
                let _lock = BodyLock::acquire(&info.body.lock);
                list_order(&info.body).into_iter().map(|b| b as usize).collect()
            })
            .unwrap_or_default()
    });
    if order.is_empty() {
        return 0;
    }
    let mut count = 0;
    let mut previous = None;
    while let Some((handle, function, context, stand_in)) = notify_step(address, previous, &order) {
        count += 1;
        let before = irql::current();
        INSIDE.with(|inside| inside.borrow_mut().push(handle));
        if let Some(routine) = stand_in {
            routine(argument1, argument2);
        } else if let Some(function) = function {
            let _phase = ContextScope::phase(Phase::Callback);
            // SAFETY: a registered callback routine with its own context.
            unsafe { function(context, argument1, argument2) };
        }
        INSIDE.with(|inside| {
            inside.borrow_mut().pop();
        });
        let after = irql::current();
        if after != before {
            verifier::model_rule(
                ModelRule::CallbackChangedIrql,
                u64::from(after),
                format!("a callback-object callback returned at IRQL {after}; it was called at {before}"),
            );
            irql::set(before);
        }
        previous = Some(handle);
    }
    count
}

/// `ExNotifyCallback` (wdm/nf-wdm-exnotifycallback): `<= DISPATCH_LEVEL`
/// (above it: 0xC4/0xE5, and nothing is called).
///
/// # Safety
/// `callback_object` came from `ExCreateCallback`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ExNotifyCallback(callback_object: PVOID, argument1: PVOID, argument2: PVOID) {
    let entry = ddi::enter(&ddi::EX_NOTIFY_CALLBACK);
    if entry.irql_violation {
        return;
    }
    let address = callback_object as usize;
    let system = with_state(|state| {
        state
            .objects
            .get(&address)
            .filter(|o| !o.deleted)
            .map(|o| (o.system, o.name.clone()))
    });
    match system {
        None => {
            verifier::model_rule(
                ModelRule::UnknownObject,
                address as u64,
                format!("ExNotifyCallback({callback_object:p}): not a callback object"),
            );
        }
        Some((true, name)) => {
            verifier::model_rule(
                ModelRule::NotifySystemCallbackObject,
                address as u64,
                format!("ExNotifyCallback on the system-defined object {name}: drivers must never do this"),
            );
        }
        Some((false, _)) => {
            notify_object(address, argument1, argument2);
        }
    }
}

/// Notifies the callback object `name` as its system owner would, at
/// `level`. Returns how many callbacks ran.
///
/// # Panics
/// If there is no such object, or `level` is above `DISPATCH_LEVEL`
/// (wdm/nf-wdm-exnotifycallback: callbacks run at <= DISPATCH_LEVEL).
pub fn notify(name: &str, level: KIRQL, argument1: PVOID, argument2: PVOID) -> usize {
    assert!(
        level <= irql::DISPATCH_LEVEL,
        "ExNotifyCallback runs at <= DISPATCH_LEVEL"
    );
    let address = object(name)
        .unwrap_or_else(|| panic!("no callback object {name}"))
        .address;
    let _irql = IrqlScope::enter(level);
    notify_object(address, argument1, argument2)
}

/// `ObfReferenceObject` (wdm/nf-wdm-obfreferenceobject) for the objects the
/// model counts (callback objects): `<= DISPATCH_LEVEL`. Returns the new count.
///
/// # Safety
/// `object` is a referenced object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ObfReferenceObject(object: PVOID) -> isize {
    ddi::enter(&ddi::OBF_REFERENCE_OBJECT);
    let address = object as usize;
    let count = with_state(|state| {
        let info = state.objects.get_mut(&address)?;
        info.references += 1;
        info.driver_references += own_reference();
        Some(info.references)
    });
    count.map_or_else(
        || {
            verifier::model_rule(
                ModelRule::UnknownObject,
                address as u64,
                format!("ObfReferenceObject({object:p})"),
            );
            0
        },
        |c| isize::try_from(c).unwrap_or(isize::MAX),
    )
}

/// `ObfDereferenceObject` (`ObDereferenceObject`, wdm/nf-wdm-obfdereferenceobject):
/// `<= DISPATCH_LEVEL`. Dereferencing an object whose count is already zero
/// is 0xC4/0x3F (P2 the object, P3 -1).
///
/// # Safety
/// `object` is a referenced object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ObfDereferenceObject(object: PVOID) -> isize {
    ddi::enter(&ddi::OBF_DEREFERENCE_OBJECT);
    let address = object as usize;
    let outcome = with_state(|state| {
        let info = state.objects.get_mut(&address)?;
        if info.references <= 0 {
            return Some(Err(()));
        }
        info.driver_references -= own_reference();
        Some(Ok(dereference(state, address).unwrap_or(0)))
    });
    match outcome {
        None => {
            verifier::model_rule(
                ModelRule::UnknownObject,
                address as u64,
                format!("ObfDereferenceObject({object:p})"),
            );
            0
        }
        Some(Err(())) => {
            verifier::bugcheck(
                codes::DRIVER_VERIFIER_DETECTED_VIOLATION,
                [0x3F, address as u64, u64::MAX, 0],
                format!("ObDereferenceObject({object:p}) on an object whose reference count is zero"),
            );
            0
        }
        Some(Ok(count)) => isize::try_from(count).unwrap_or(isize::MAX),
    }
}

/// `ObMakeTemporaryObject` (ntifs/nf-ntifs-obmaketemporaryobject, "reserved
/// for system use"; modeled as its handle twin wdm/nf-wdm-zwmaketemporaryobject):
/// PASSIVE_LEVEL; a permanent object becomes temporary (a temporary one is
/// left alone) and goes away with its last reference.
///
/// # Safety
/// `object` is a referenced object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ObMakeTemporaryObject(object: PVOID) {
    ddi::enter(&ddi::OB_MAKE_TEMPORARY_OBJECT);
    let address = object as usize;
    let known = with_state(|state| {
        let info = state.objects.get_mut(&address)?;
        info.permanent = false;
        if info.references <= 0 && !info.deleted {
            delete(info, address);
        }
        Some(())
    });
    if known.is_none() {
        verifier::model_rule(
            ModelRule::UnknownObject,
            address as u64,
            format!("ObMakeTemporaryObject({object:p})"),
        );
    }
}

/// Creates a permanent callback object `name` as another component would
/// (e.g. one of the objects third-party drivers create at boot). Returns
/// its address.
///
/// # Panics
/// If the name is taken or its directory does not exist.
#[must_use]
pub fn create_object(name: &str, allow_multiple: bool) -> usize {
    with_state(|state| create_object_in(state, name, allow_multiple, true, true))
        .unwrap_or_else(|status| panic!("cannot create {name}: {status:#X}"))
}

/// What the driver left: (objects it holds references to, registrations not
/// removed (function addresses), registrations with calls in flight).
/// Registrations the model made as the system, and those another driver
/// made ([`crate::context::other_image`]), are not the driver's.
pub(crate) fn leftovers() -> (Vec<CallbackObjectInfo>, Vec<(usize, String)>, Vec<usize>) {
    with_state(|state| {
        let held = state
            .objects
            .iter()
            .filter(|(_, o)| o.driver_references > 0)
            .map(|(a, o)| object_info(state, *a, o))
            .collect();
        let registered = state
            .registrations
            .values()
            .filter(|r| !r.removed && r.system_routine.is_none() && r.owner.is_none())
            .map(|r| {
                let name = state
                    .objects
                    .get(&r.object)
                    .map(|o| o.name.clone())
                    .unwrap_or_default();
                (r.block.function.map_or(0, |f| f as usize), name)
            })
            .collect();
        let running = state
            .registrations
            .values()
            .filter(|r| r.block.busy > 0 && r.owner.is_none())
            .map(|r| r.block.function.map_or(0, |f| f as usize))
            .collect();
        (held, registered, running)
    })
}

/// The model's stand-in for `PopUmpoMessageCallback` (the PowerPort owner).
const fn power_port_owner(_argument1: PVOID, _argument2: PVOID) {}

/// The registration block's function field for a system routine at the
/// synthetic address `address` (never called through it).
#[allow(clippy::unnecessary_wraps, reason = "PCALLBACK_FUNCTION is an Option")]
fn synthetic_function(address: usize) -> PCALLBACK_FUNCTION {
    // SAFETY: a non-null address: a valid function-pointer value. It is
    // never called (notify_object runs the stand-in instead).
    Some(unsafe { std::mem::transmute::<usize, unsafe extern "C" fn(PVOID, PVOID, PVOID)>(address) })
}

/// Recreates the `\Callback` objects (with the PowerPort owner registered)
/// and the module list. Blocks of a previous test are leaked (a driver
/// static might still point to them).
pub(crate) fn reset() {
    let old = std::mem::take(&mut *sync::lock(&STATE));
    if let Some(old) = old {
        std::mem::forget(old);
    }
    sync::lock(&RESIDENT).clear();
    sync::lock(&PAGED_OUT).clear();
    set_unregister_waits(true);
    set_success_without_object(false);
    {
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
    with_state(|state| {
        for (name, allow_multiple) in SYSTEM_OBJECTS {
            let Ok(address) = create_object_in(state, name, *allow_multiple, true, true) else {
                continue;
            };
            if name.ends_with("\\PowerPort") {
                let _ = register_in(
                    state,
                    address,
                    synthetic_function(POWER_PORT_OWNER),
                    std::ptr::null_mut(),
                    Some(power_port_owner),
                );
            }
        }
    });
}
