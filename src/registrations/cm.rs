//! Registry callbacks: `CmRegisterCallbackEx` (resolved at run time; the
//! legacy `CmRegisterCallback` where it is missing), every `REG_NOTIFY_CLASS`
//! decoded, pre and post.
//!
//! The routine never blocks or changes an operation: it records the class,
//! the key path (`CmCallbackGetKeyObjectIDEx` at PASSIVE_LEVEL, released with
//! `CmCallbackReleaseKeyObjectIDEx`; the legacy `CmCallbackGetKeyObjectID`
//! where Ex is missing), the value name and the data type and size, and
//! returns `STATUS_SUCCESS`. The key object is not passed to any routine in
//! close and cleanup notifications, where its reference count is 0
//! (kernel/invalid-key-object-pointers-in-registry-notifications), nor in
//! post create/open notifications that failed.
//!
//! Altitude: `CmAltitude` from `Parameters`, else
//! [`DEFAULT_CM_ALTITUDE`]; on `STATUS_FLT_INSTANCE_ALTITUDE_COLLISION` the
//! driver retries with one digit appended, as for object callbacks.

use core::{ffi::c_void, ptr};

use kcb_proto::SourceId;
use kcb_proto::{
    EventRecord, RegistryPayload, kind,
    params::{DEFAULT_CM_ALTITUDE, InlineName, MAX_ALTITUDE, altitude_attempt},
};
use wdk_sys::{
    LARGE_INTEGER, NTSTATUS, PCUNICODE_STRING, PEX_CALLBACK_FUNCTION, REG_CREATE_KEY_INFORMATION,
    REG_DELETE_VALUE_KEY_INFORMATION, REG_POST_CREATE_KEY_INFORMATION, REG_POST_OPERATION_INFORMATION,
    REG_PRE_CREATE_KEY_INFORMATION, REG_SET_VALUE_KEY_INFORMATION, STATUS_FLT_INSTANCE_ALTITUDE_COLLISION,
    STATUS_SUCCESS, UNICODE_STRING,
    ntddk::{CmRegisterCallback, CmUnRegisterCallback},
};

use crate::{
    config::settings,
    dynamic_fn,
    kernel::cell::KernelCell,
    kernel::dynamic::DynamicRoutine,
    kernel::unicode::{Utf16Display, units_of},
    kprintln,
    pipeline::events,
    registrations::catalog::Slot,
    registrations::guard::{Failure, RegistrationOps},
    registrations::ob::ALTITUDE_RETRIES,
    registrations::report::Api,
};

static REGISTER_EX: DynamicRoutine = DynamicRoutine::new("CmRegisterCallbackEx");
static GET_KEY_ID_EX: DynamicRoutine = DynamicRoutine::new("CmCallbackGetKeyObjectIDEx");
static RELEASE_KEY_ID_EX: DynamicRoutine = DynamicRoutine::new("CmCallbackReleaseKeyObjectIDEx");
static GET_KEY_ID: DynamicRoutine = DynamicRoutine::new("CmCallbackGetKeyObjectID");

/// The prototype of `CmRegisterCallbackEx`, resolved at run time (checked against
/// windows-sys by `tests/windows_sys_conformance.rs`).
pub type RegisterExFn = unsafe extern "C" fn(
    PEX_CALLBACK_FUNCTION,
    PCUNICODE_STRING,
    *mut c_void,
    *mut c_void,
    *mut LARGE_INTEGER,
    *mut c_void,
) -> NTSTATUS;
/// The prototype of `CmCallbackGetKeyObjectIDEx`, resolved at run time (checked against
/// windows-sys by `tests/windows_sys_conformance.rs`).
pub type GetKeyIdExFn =
    unsafe extern "C" fn(*mut LARGE_INTEGER, *mut c_void, *mut usize, *mut PCUNICODE_STRING, u32) -> NTSTATUS;
/// The prototype of `CmCallbackReleaseKeyObjectIDEx`, resolved at run time (checked against
/// windows-sys by `tests/windows_sys_conformance.rs`).
pub type ReleaseKeyIdExFn = unsafe extern "C" fn(PCUNICODE_STRING);
/// The prototype of `CmCallbackGetKeyObjectID`, resolved at run time (checked against
/// windows-sys by `tests/windows_sys_conformance.rs`).
pub type GetKeyIdFn =
    unsafe extern "C" fn(*mut LARGE_INTEGER, *mut c_void, *mut usize, *mut PCUNICODE_STRING) -> NTSTATUS;

/// Which registration routine is available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// `CmRegisterCallbackEx` (with altitude).
    Ex,
    /// The legacy `CmRegisterCallback`.
    Legacy,
}

/// Resolves the Cm routines.
///
/// # IRQL
/// PASSIVE_LEVEL.
pub fn resolve() -> Variant {
    GET_KEY_ID_EX.resolve();
    RELEASE_KEY_ID_EX.resolve();
    GET_KEY_ID.resolve();
    if REGISTER_EX.resolve() {
        Variant::Ex
    } else {
        Variant::Legacy
    }
}

/// The report slot of a variant.
///
/// # IRQL
/// Any.
#[must_use]
pub const fn api(variant: Variant) -> Api {
    match variant {
        Variant::Ex => Api::CmRegisterCallbackEx,
        Variant::Legacy => Api::CmRegisterCallback,
    }
}

/// The registration cookie (`CmCallbackGetKeyObjectIDEx` needs it too) and
/// the altitude string: written by `register` at PASSIVE_LEVEL in DriverEntry
/// before the callback can run (registering publishes them), read-only after.
static COOKIE: KernelCell<LARGE_INTEGER> = KernelCell::new(LARGE_INTEGER { QuadPart: 0 });
static ALTITUDE: KernelCell<[u16; MAX_ALTITUDE]> = KernelCell::new([0; MAX_ALTITUDE]);

/// `CmRegisterCallbackEx` / `CmRegisterCallback` and `CmUnRegisterCallback`.
pub struct RegistryCallback;

/// The driver object `CmRegisterCallbackEx` wants.
#[derive(Clone, Copy)]
pub struct RegistryArgs {
    /// Registration routine.
    pub variant: Variant,
    /// `DriverObject` from DriverEntry.
    pub driver: *mut c_void,
}

impl RegistrationOps for RegistryCallback {
    type Args = RegistryArgs;
    type Token = LARGE_INTEGER;
    const SOURCE: Option<SourceId> = Some(SourceId::Registry);
    const API: Api = Api::CmRegisterCallbackEx;

    /// Each variant reports under its own name.
    fn slot(args: &RegistryArgs) -> Slot {
        Slot::Api(api(args.variant))
    }

    /// `<= APC_LEVEL` (rule IrqlExApcLte2). Returns
    /// `STATUS_FLT_INSTANCE_ALTITUDE_COLLISION` after the retries, or
    /// `STATUS_INSUFFICIENT_RESOURCES`; the legacy routine's statuses are
    /// unspecified (Wine: `STATUS_NOT_IMPLEMENTED`).
    fn register(args: RegistryArgs) -> Result<LARGE_INTEGER, Failure> {
        let cookie = COOKIE.get();
        let (Variant::Ex, Some(register_ex)) = (args.variant, dynamic_fn!(REGISTER_EX => RegisterExFn))
        else {
            // SAFETY: 'static routine removed before unload; `cookie` is writable static memory.
            let status = unsafe { CmRegisterCallback(Some(on_registry), ptr::null_mut(), cookie) };
            return if status < 0 {
                Err(status.into())
            } else {
                // SAFETY: written by the call above; no callback writes it.
                Ok(unsafe { *cookie })
            };
        };
        let configured = settings::get().policy.cm_altitude;
        let base = if configured.units().is_empty() {
            InlineName::<MAX_ALTITUDE>::from_ascii(DEFAULT_CM_ALTITUDE)
        } else {
            configured
        };
        let mut last = STATUS_FLT_INSTANCE_ALTITUDE_COLLISION;
        for attempt in 0..=ALTITUDE_RETRIES {
            // SAFETY: DriverEntry, nothing registered: exclusive access.
            let units = unsafe { &mut *ALTITUDE.get() };
            let Some(len) = altitude_attempt(base.units(), attempt, units) else {
                // No retry fits in the longest altitude string.
                break;
            };
            #[allow(clippy::cast_possible_truncation, reason = "at most 62 bytes")]
            let bytes = (len * 2) as u16;
            let altitude = UNICODE_STRING {
                Length: bytes,
                MaximumLength: bytes,
                Buffer: units.as_mut_ptr(),
            };
            // SAFETY: documented prototype; the routine and the altitude
            // string are 'static; `cookie` is writable static memory.
            let status = unsafe {
                register_ex(
                    Some(on_registry),
                    &raw const altitude,
                    args.driver,
                    ptr::null_mut(),
                    cookie,
                    ptr::null_mut(),
                )
            };
            if status == STATUS_FLT_INSTANCE_ALTITUDE_COLLISION {
                last = status;
                continue;
            }
            if status < 0 {
                return Err(status.into());
            }
            kprintln!("CmRegisterCallbackEx altitude {}", Utf16Display(&units[..len]));
            // SAFETY: written by the call above.
            return Ok(unsafe { *cookie });
        }
        Err(last.into())
    }

    unsafe fn unregister(cookie: LARGE_INTEGER) {
        // SAFETY: the cookie of our registration; waits for running callbacks
        // (wdm/nf-wdm-cmunregistercallback: calling it from the callback deadlocks).
        let _ = unsafe { CmUnRegisterCallback(cookie) };
    }
}

/// Notify classes whose information starts with the key `Object` and whose
/// object may be passed to `CmCallbackGetKeyObjectID*` (pre notifications
/// other than create/open and close; wdm/ne-wdm-_reg_notify_class).
const fn pre_with_object(class: u32) -> bool {
    matches!(class, 0..=9 | 30 | 32 | 34 | 36 | 38 | 41 | 43 | 45 | 47 | 49)
}

/// Post notifications carrying `REG_POST_OPERATION_INFORMATION`.
const fn post_operation(class: u32) -> bool {
    matches!(
        class,
        15..=24 | 27 | 29 | 31 | 33 | 35 | 37 | 39 | 42 | 44 | 46 | 48 | 50
    )
}

/// `EX_CALLBACK_FUNCTION`: PASSIVE_LEVEL, in the thread doing the registry
/// operation. Records and returns `STATUS_SUCCESS` (never blocks or alters).
unsafe extern "C" fn on_registry(
    _context: *mut c_void,
    argument1: *mut c_void,
    argument2: *mut c_void,
) -> NTSTATUS {
    let _cost = crate::pipeline::cost::Span::start(kcb_proto::SourceId::Registry);
    #[allow(
        clippy::cast_possible_truncation,
        reason = "REG_NOTIFY_CLASS is a small enum passed as a pointer"
    )]
    let class = argument1 as usize as u32;
    let is_post = matches!(class, 11 | 13 | 25 | 27 | 29) || post_operation(class);
    let record = EventRecord::build(
        if is_post { kind::POST } else { kind::PRE },
        |payload: &mut RegistryPayload| {
            payload.notify_class = class;
            if argument2.is_null() {
                return;
            }
            // SAFETY (whole match): argument2 is the documented information
            // structure of `class`, valid for the duration of the callback.
            match class {
                // RegNtPreSetValueKey
                1 => {
                    // SAFETY: see above.
                    let info = unsafe { &*argument2.cast::<REG_SET_VALUE_KEY_INFORMATION>() };
                    payload.value_type = info.Type;
                    payload.data_size = info.DataSize;
                    // SAFETY: the captured value name, valid during the callback.
                    payload
                        .value_name
                        .set_from_utf16(unsafe { units_of(info.ValueName) });
                    key_path(info.Object, &mut payload.key_path);
                }
                // RegNtPreDeleteValueKey, RegNtPreQueryValueKey (ValueName second).
                2 | 8 => {
                    // SAFETY: both structures start with Object, ValueName.
                    let info = unsafe { &*argument2.cast::<REG_DELETE_VALUE_KEY_INFORMATION>() };
                    // SAFETY: as above.
                    payload
                        .value_name
                        .set_from_utf16(unsafe { units_of(info.ValueName) });
                    key_path(info.Object, &mut payload.key_path);
                }
                // RegNtPreCreateKey / RegNtPreOpenKey: the full name being opened.
                10 | 12 => {
                    // SAFETY: REG_PRE_CREATE_KEY_INFORMATION.
                    let info = unsafe { &*argument2.cast::<REG_PRE_CREATE_KEY_INFORMATION>() };
                    // SAFETY: as above.
                    payload
                        .key_path
                        .set_from_utf16(unsafe { units_of(info.CompleteName) });
                }
                // RegNtPreCreateKeyEx / RegNtPreOpenKeyEx: the name being
                // opened, relative to RootObject unless it starts with `\`.
                26 | 28 => {
                    // SAFETY: REG_CREATE_KEY_INFORMATION (REG_OPEN_KEY_INFORMATION
                    // and the _V1 variants start with the same two members).
                    let info = unsafe { &*argument2.cast::<REG_CREATE_KEY_INFORMATION>() };
                    // SAFETY: as above.
                    let name = unsafe { units_of(info.CompleteName) };
                    complete_name(name, info.RootObject, &mut payload.key_path);
                }
                // RegNtPostCreateKey / RegNtPostOpenKey.
                11 | 13 => {
                    // SAFETY: see above.
                    let info = unsafe { &*argument2.cast::<REG_POST_CREATE_KEY_INFORMATION>() };
                    payload.status = info.Status;
                    // SAFETY: as above.
                    payload
                        .key_path
                        .set_from_utf16(unsafe { units_of(info.CompleteName) });
                }
                // Close (pre and post) and context cleanup: the object must not
                // be passed to any routine.
                14 | 25 | 40 => {}
                class if post_operation(class) => {
                    // SAFETY: see above.
                    let info = unsafe { &*argument2.cast::<REG_POST_OPERATION_INFORMATION>() };
                    payload.status = info.Status;
                    // Object is valid only if Status is STATUS_SUCCESS (not
                    // any success code: a post open with STATUS_REPARSE has no
                    // key object; wdm/ns-wdm-_reg_post_operation_information).
                    if info.Status == STATUS_SUCCESS {
                        key_path(info.Object, &mut payload.key_path);
                    }
                }
                class if pre_with_object(class) => {
                    // SAFETY: these structures all start with the key Object.
                    let object = unsafe { *argument2.cast::<*mut c_void>() };
                    key_path(object, &mut payload.key_path);
                }
                _ => {}
            }
        },
    );
    events::record(record);
    STATUS_SUCCESS
}

/// The full path of a create/open Ex notification's key into `out`:
/// `CompleteName` as is when it is absolute (starts with `\`) or there is
/// no `RootObject`; else `<root key's path>\<CompleteName>` ("for a relative
/// path, the path starts with a character other than \, and is relative
/// to the key that is specified by the RootObject member",
/// wdm/ns-wdm-_reg_create_key_information), joined in place (no
/// allocation) and marked truncated when it does not fit. If the root's
/// name cannot be obtained the relative name is recorded as it is: a
/// recorded path without a leading `\` is one whose root is unknown.
fn complete_name<const N: usize>(name: &[u16], root: *mut c_void, out: &mut kcb_proto::WStr<N>) {
    const SEPARATOR: u16 = b'\\' as u16;
    if root.is_null() || name.first() == Some(&SEPARATOR) {
        out.set_from_utf16(name);
        return;
    }
    let resolved = with_key_name(root, |root_name| {
        let root_name = root_name.strip_suffix(&[SEPARATOR]).unwrap_or(root_name);
        if name.is_empty() {
            out.set_from_utf16(root_name);
        } else {
            out.set_from_parts(&[root_name, &[SEPARATOR], name]);
        }
    });
    if !resolved {
        out.set_from_utf16(name);
    }
}

/// Copies the registry path of a key object into `out` (truncated).
fn key_path<const N: usize>(object: *mut c_void, out: &mut kcb_proto::WStr<N>) {
    with_key_name(object, |name| {
        out.set_from_utf16(name);
    });
}

/// Calls `use_name` with the registry path of a key object while it is
/// valid: from `CmCallbackGetKeyObjectIDEx` (released right after with
/// `CmCallbackReleaseKeyObjectIDEx`), else from the legacy
/// `CmCallbackGetKeyObjectID`, whose name belongs to the system and must
/// not be freed (wdm/nf-wdm-cmcallbackgetkeyobjectid). Returns whether a
/// name was obtained.
fn with_key_name(object: *mut c_void, use_name: impl FnOnce(&[u16])) -> bool {
    if object.is_null() {
        return false;
    }
    let cookie = COOKIE.get();
    let mut id = 0_usize;
    let mut name: PCUNICODE_STRING = ptr::null();
    if let (Some(get), Some(release)) = (
        dynamic_fn!(GET_KEY_ID_EX => GetKeyIdExFn),
        dynamic_fn!(RELEASE_KEY_ID_EX => ReleaseKeyIdExFn),
    ) {
        // SAFETY: documented prototype; our registration cookie; a live key
        // object (callers exclude the notifications where it is not).
        let status = unsafe { get(cookie, object, &raw mut id, &raw mut name, 0) };
        if status >= 0 && !name.is_null() {
            // SAFETY: the name the routine returned, valid until released.
            use_name(unsafe { units_of(name) });
            // SAFETY: releasing the name CmCallbackGetKeyObjectIDEx returned, once.
            unsafe { release(name) };
            return true;
        }
    } else if let Some(get) = dynamic_fn!(GET_KEY_ID => GetKeyIdFn) {
        // SAFETY: as above; the legacy routine's name is owned by the
        // kernel and needs no release (wdm/nf-wdm-cmcallbackgetkeyobjectid).
        let status = unsafe { get(cookie, object, &raw mut id, &raw mut name) };
        if status >= 0 && !name.is_null() {
            // SAFETY: valid kernel-owned name.
            use_name(unsafe { units_of(name) });
            return true;
        }
    }
    false
}
