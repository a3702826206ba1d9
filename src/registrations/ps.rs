//! Process-manager notify routines: process, thread and image-load.
//!
//! The newest variant of each is resolved at run time and the older one
//! used where it is missing (Windows versions, Wine):
//!
//! | family | preferred (resolved) | fallback (imported) | removal |
//! |---|---|---|---|
//! | process | `PsSetCreateProcessNotifyRoutineEx2(PsCreateProcessNotifySubsystems)` | `PsSetCreateProcessNotifyRoutineEx` | same routine, `Remove = TRUE` (waits for running callbacks) |
//! | thread | `PsSetCreateThreadNotifyRoutineEx(PsCreateThreadNotifyNonSystem)` | `PsSetCreateThreadNotifyRoutine` | `PsRemoveCreateThreadNotifyRoutine` (waits) |
//! | image | `PsSetLoadImageNotifyRoutineEx(PS_IMAGE_NOTIFY_CONFLICTING_ARCHITECTURE)` | `PsSetLoadImageNotifyRoutine` | `PsRemoveLoadImageNotifyRoutine` (waits) |
//!
//! Every callback runs at PASSIVE_LEVEL (APC_LEVEL possible for threads)
//! and does bounded work: fill a record (names copied, truncated, into the
//! record — no allocation), push it, return.

use core::{
    ffi::c_void,
    sync::atomic::{AtomicBool, Ordering},
};

use kcb_proto::SourceId;
use kcb_proto::{
    EventRecord, IMAGE_FLAG_EXTENDED_INFO, IMAGE_FLAG_SYSTEM_MODE, ImageLoadPayload,
    PROCESS_FLAG_DENIED_BY_POLICY, PROCESS_FLAG_FILE_OPEN_NAME_AVAILABLE, PROCESS_FLAG_SUBSYSTEM,
    ProcessPayload, THREAD_FLAG_CREATOR_CONTEXT, THREAD_FLAG_REMOTE, ThreadPayload, kind,
};
use wdk_sys::{
    _PSCREATEPROCESSNOTIFYTYPE::PsCreateProcessNotifySubsystems,
    _PSCREATETHREADNOTIFYTYPE::PsCreateThreadNotifyNonSystem,
    BOOLEAN, HANDLE, NTSTATUS, PEPROCESS, PIMAGE_INFO, PLOAD_IMAGE_NOTIFY_ROUTINE, PPS_CREATE_NOTIFY_INFO,
    PS_IMAGE_NOTIFY_CONFLICTING_ARCHITECTURE, PSCREATEPROCESSNOTIFYTYPE, PSCREATETHREADNOTIFYTYPE,
    PUNICODE_STRING, STATUS_ACCESS_DENIED,
    ntddk::{
        PsGetCurrentProcessId, PsGetCurrentThreadId, PsRemoveCreateThreadNotifyRoutine,
        PsRemoveLoadImageNotifyRoutine, PsSetCreateProcessNotifyRoutineEx, PsSetCreateThreadNotifyRoutine,
        PsSetLoadImageNotifyRoutine,
    },
};

use crate::{
    config::settings,
    dynamic_fn,
    kernel::dynamic::DynamicRoutine,
    kernel::unicode::units_of,
    pipeline::events,
    registrations::catalog::Slot,
    registrations::guard::{Failure, RegistrationOps, check},
    registrations::report::Api,
};

static PROCESS_EX2: DynamicRoutine = DynamicRoutine::new("PsSetCreateProcessNotifyRoutineEx2");
static THREAD_EX: DynamicRoutine = DynamicRoutine::new("PsSetCreateThreadNotifyRoutineEx");
static IMAGE_EX: DynamicRoutine = DynamicRoutine::new("PsSetLoadImageNotifyRoutineEx");
static PROCESS_EXIT_STATUS: DynamicRoutine = DynamicRoutine::new("PsGetProcessExitStatus");

/// The prototype of `PsSetCreateProcessNotifyRoutineEx2`, resolved at run time (checked against
/// windows-sys by `tests/windows_sys_conformance.rs`).
pub type ProcessEx2Fn = unsafe extern "C" fn(PSCREATEPROCESSNOTIFYTYPE, *mut c_void, BOOLEAN) -> NTSTATUS;
/// The prototype of `PsSetCreateThreadNotifyRoutineEx`, resolved at run time (checked against
/// windows-sys by `tests/windows_sys_conformance.rs`).
pub type ThreadExFn = unsafe extern "C" fn(PSCREATETHREADNOTIFYTYPE, *mut c_void) -> NTSTATUS;
/// The prototype of `PsSetLoadImageNotifyRoutineEx`, resolved at run time (checked against
/// windows-sys by `tests/windows_sys_conformance.rs`).
pub type ImageExFn = unsafe extern "C" fn(PLOAD_IMAGE_NOTIFY_ROUTINE, usize) -> NTSTATUS;
/// The prototype of `PsGetProcessExitStatus`, resolved at run time (checked against
/// windows-sys by `tests/windows_sys_conformance.rs`).
pub type ExitStatusFn = unsafe extern "C" fn(PEPROCESS) -> NTSTATUS;

/// Which variant of a routine the driver uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The newer routine (resolved at run time).
    Newer,
    /// The older, always-exported routine.
    Older,
}

/// Resolves the newer Ps routines; returns the variant of each family
/// (process, thread, image).
///
/// # IRQL
/// PASSIVE_LEVEL.
pub fn resolve() -> (Variant, Variant, Variant) {
    let pick = |found: bool| {
        if found { Variant::Newer } else { Variant::Older }
    };
    PROCESS_EXIT_STATUS.resolve();
    (
        pick(PROCESS_EX2.resolve()),
        pick(THREAD_EX.resolve()),
        pick(IMAGE_EX.resolve()),
    )
}

// ---------------------------------------------------------------- process

/// Process creation/exit notification (Ex2, or Ex).
pub struct ProcessNotify;

impl ProcessNotify {
    /// The report slot for a variant.
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub const fn api(variant: Variant) -> Api {
        match variant {
            Variant::Newer => Api::ProcessNotifyEx2,
            Variant::Older => Api::ProcessNotifyEx,
        }
    }
}

fn set_process_routine(variant: Variant, remove: bool) -> NTSTATUS {
    match (variant, dynamic_fn!(PROCESS_EX2 => ProcessEx2Fn)) {
        (Variant::Newer, Some(ex2)) => {
            // SAFETY: the documented prototype; the routine is 'static code in
            // this image, removed before unload.
            unsafe {
                ex2(
                    PsCreateProcessNotifySubsystems,
                    on_process as *mut c_void,
                    u8::from(remove),
                )
            }
        }
        // SAFETY: as above; PsSetCreateProcessNotifyRoutineEx needs the image
        // linked /INTEGRITYCHECK (it is), else STATUS_ACCESS_DENIED.
        _ => unsafe { PsSetCreateProcessNotifyRoutineEx(Some(on_process), u8::from(remove)) },
    }
}

impl RegistrationOps for ProcessNotify {
    type Args = Variant;
    type Token = Variant;
    const SOURCE: Option<SourceId> = Some(SourceId::ProcessCreate);
    const API: Api = Api::ProcessNotifyEx;

    /// Each variant reports under its own name.
    fn slot(variant: &Variant) -> Slot {
        Slot::Api(Self::api(*variant))
    }

    /// PASSIVE_LEVEL. `STATUS_INVALID_PARAMETER` if already registered or
    /// the 64-routine limit is reached; `STATUS_ACCESS_DENIED` without
    /// FORCE_INTEGRITY.
    fn register(variant: Variant) -> Result<Variant, Failure> {
        check(set_process_routine(variant, false))?;
        Ok(variant)
    }

    unsafe fn unregister(variant: Variant) {
        // Remove = TRUE waits for callbacks in flight
        // (ntddk/nf-ntddk-pssetcreateprocessnotifyroutineex).
        let _ = set_process_routine(variant, true);
    }
}

/// `PCREATE_PROCESS_NOTIFY_ROUTINE_EX`: PASSIVE_LEVEL, critical region.
/// Applies the deny policy when configured.
unsafe extern "C" fn on_process(process: PEPROCESS, process_id: HANDLE, create_info: PPS_CREATE_NOTIFY_INFO) {
    let _cost = crate::pipeline::cost::Span::start(kcb_proto::SourceId::ProcessCreate);
    let pid = process_id as u64;
    let record = if create_info.is_null() {
        let exit_status = dynamic_fn!(PROCESS_EXIT_STATUS => ExitStatusFn).map_or(0, |exit_status| {
            // SAFETY: the exiting process object, valid during the callback.
            unsafe { exit_status(process) }
        });
        EventRecord::build(kind::EXIT, |payload: &mut ProcessPayload| {
            payload.exit_status = exit_status;
        })
    } else {
        // SAFETY: non-null create info, valid and writable during the callback.
        let info = unsafe { &mut *create_info };
        // SAFETY: every bit pattern of the Flags union is a valid u32.
        let raw_flags = unsafe { info.__bindgen_anon_1.Flags };
        // SAFETY: the kernel's strings (or null), valid during the callback.
        let image = unsafe { units_of(info.ImageFileName) };
        // SAFETY: as above.
        let command_line = unsafe { units_of(info.CommandLine) };
        let mut flags = 0;
        // Flags: FileOpenNameAvailable:1, IsSubsystemProcess:1 (ntddk/ns-ntddk-_ps_create_notify_info).
        if raw_flags & 1 != 0 {
            flags |= PROCESS_FLAG_FILE_OPEN_NAME_AVAILABLE;
        }
        if raw_flags & 2 != 0 {
            flags |= PROCESS_FLAG_SUBSYSTEM;
        }
        if settings::get().policy.deny_policy_active() && settings::get().policy.denies_image(image) {
            info.CreationStatus = STATUS_ACCESS_DENIED;
            flags |= PROCESS_FLAG_DENIED_BY_POLICY;
        }
        EventRecord::build(kind::CREATE, |payload: &mut ProcessPayload| {
            payload.parent_pid = info.ParentProcessId as u64;
            payload.creating_pid = info.CreatingThreadId.UniqueProcess as u64;
            payload.creating_tid = info.CreatingThreadId.UniqueThread as u64;
            payload.flags = flags;
            payload.image_name.set_from_utf16(image);
            payload.command_line.set_from_utf16(command_line);
        })
    };
    events::record_for_process(record, pid);
}

// ----------------------------------------------------------------- thread

/// Whether the thread routine runs in the creator's context (plain variant).
static THREAD_CREATOR_CONTEXT: AtomicBool = AtomicBool::new(false);

/// Thread creation/exit notification (Ex with NonSystem, or plain).
pub struct ThreadNotify;

impl ThreadNotify {
    /// The report slot for a variant.
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub const fn api(variant: Variant) -> Api {
        match variant {
            Variant::Newer => Api::ThreadNotifyEx,
            Variant::Older => Api::ThreadNotify,
        }
    }
}

impl RegistrationOps for ThreadNotify {
    type Args = Variant;
    type Token = ();
    const SOURCE: Option<SourceId> = Some(SourceId::ThreadCreate);
    const API: Api = Api::ThreadNotify;

    /// Each variant reports under its own name.
    fn slot(variant: &Variant) -> Slot {
        Slot::Api(Self::api(*variant))
    }

    /// PASSIVE_LEVEL. `STATUS_INSUFFICIENT_RESOURCES` on any failure.
    fn register(variant: Variant) -> Result<(), Failure> {
        let (status, creator_context) = match (variant, dynamic_fn!(THREAD_EX => ThreadExFn)) {
            (Variant::Newer, Some(ex)) => {
                // SAFETY: documented prototype; 'static routine removed before unload.
                (
                    unsafe { ex(PsCreateThreadNotifyNonSystem, on_thread as *mut c_void) },
                    false,
                )
            }
            // SAFETY: as above.
            _ => (unsafe { PsSetCreateThreadNotifyRoutine(Some(on_thread)) }, true),
        };
        THREAD_CREATOR_CONTEXT.store(creator_context, Ordering::Release);
        Ok(check(status)?)
    }

    unsafe fn unregister((): ()) {
        // SAFETY: registered by `register` (either variant); waits for a
        // running callback (ntddk/nf-ntddk-psremovecreatethreadnotifyroutine).
        let _ = unsafe { PsRemoveCreateThreadNotifyRoutine(Some(on_thread)) };
    }
}

/// `PCREATE_THREAD_NOTIFY_ROUTINE`: PASSIVE or APC_LEVEL.
#[allow(clippy::similar_names, reason = "pid/tid pairs")]
unsafe extern "C" fn on_thread(process_id: HANDLE, thread_id: HANDLE, create: BOOLEAN) {
    let _cost = crate::pipeline::cost::Span::start(kcb_proto::SourceId::ThreadCreate);
    // SAFETY: callable at any IRQL.
    let creator_pid = unsafe { PsGetCurrentProcessId() } as u64;
    // SAFETY: as above.
    let creator_tid = unsafe { PsGetCurrentThreadId() } as u64;
    let target_pid = process_id as u64;
    let creator_context = THREAD_CREATOR_CONTEXT.load(Ordering::Acquire);
    let mut flags = 0;
    if creator_context {
        flags |= THREAD_FLAG_CREATOR_CONTEXT;
        if create != 0 && creator_pid != target_pid {
            flags |= THREAD_FLAG_REMOTE;
        }
    }
    let kind = if create != 0 { kind::CREATE } else { kind::EXIT };
    let record = EventRecord::build(kind, |payload: &mut ThreadPayload| {
        payload.target_pid = target_pid;
        payload.target_tid = thread_id as u64;
        payload.creator_pid = creator_pid;
        payload.creator_tid = creator_tid;
        payload.flags = flags;
    });
    events::record_for_process(record, target_pid);
}

// ------------------------------------------------------------------ image

/// Image-load notification (Ex with all architectures, or plain).
pub struct LoadImageNotify;

impl LoadImageNotify {
    /// The report slot for a variant.
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub const fn api(variant: Variant) -> Api {
        match variant {
            Variant::Newer => Api::LoadImageNotifyEx,
            Variant::Older => Api::LoadImageNotify,
        }
    }
}

impl RegistrationOps for LoadImageNotify {
    type Args = Variant;
    type Token = ();
    const SOURCE: Option<SourceId> = Some(SourceId::LoadImage);
    const API: Api = Api::LoadImageNotify;

    /// Each variant reports under its own name.
    fn slot(variant: &Variant) -> Slot {
        Slot::Api(Self::api(*variant))
    }

    /// PASSIVE_LEVEL. `STATUS_INSUFFICIENT_RESOURCES` when the system's
    /// routine limit is reached.
    fn register(variant: Variant) -> Result<(), Failure> {
        let status = match (variant, dynamic_fn!(IMAGE_EX => ImageExFn)) {
            (Variant::Newer, Some(ex)) => {
                // SAFETY: documented prototype; 'static routine removed before unload.
                unsafe {
                    ex(
                        Some(on_load_image),
                        PS_IMAGE_NOTIFY_CONFLICTING_ARCHITECTURE as usize,
                    )
                }
            }
            // SAFETY: as above.
            _ => unsafe { PsSetLoadImageNotifyRoutine(Some(on_load_image)) },
        };
        Ok(check(status)?)
    }

    unsafe fn unregister((): ()) {
        // SAFETY: registered by `register`; PsRemove waits for running
        // callbacks before returning (ntddk/nf-ntddk-psremoveloadimagenotifyroutine).
        let _ = unsafe { PsRemoveLoadImageNotifyRoutine(Some(on_load_image)) };
    }
}

/// `PLOAD_IMAGE_NOTIFY_ROUTINE`. Called at PASSIVE_LEVEL after the image is
/// mapped and before its entry point runs.
unsafe extern "C" fn on_load_image(
    full_image_name: PUNICODE_STRING,
    process_id: HANDLE,
    image_info: PIMAGE_INFO,
) {
    let _cost = crate::pipeline::cost::Span::start(kcb_proto::SourceId::LoadImage);
    let record = EventRecord::build(kind::NONE, |payload: &mut ImageLoadPayload| {
        // SAFETY: the kernel passes a valid (or null) UNICODE_STRING that lives
        // for the duration of the callback.
        let name = unsafe { units_of(full_image_name) };
        payload.name.set_from_utf16(name);
        if !image_info.is_null() {
            // SAFETY: non-null IMAGE_INFO from the kernel, valid during the callback.
            let info = unsafe { &*image_info };
            payload.image_base = info.ImageBase as u64;
            payload.image_size = info.ImageSize;
            // SAFETY: every bit pattern of the Properties union is a valid u32.
            let properties = unsafe { info.__bindgen_anon_1.Properties };
            payload.properties = properties;
            // IMAGE_INFO bit fields: ImageAddressingMode:8, SystemModeImage:1,
            // ImageMappedToAllPids:1, ExtendedInfoPresent:1, MachineTypeMismatch:1,
            // ImageSignatureLevel:4, ImageSignatureType:3 (ntddk/ns-ntddk-_image_info).
            let mut flags = 0;
            if properties & (1 << 8) != 0 {
                flags |= IMAGE_FLAG_SYSTEM_MODE;
            }
            if properties & (1 << 10) != 0 {
                flags |= IMAGE_FLAG_EXTENDED_INFO;
            }
            payload.flags = flags;
            payload.signature_level = ((properties >> 12) & 0xF) as u8;
            payload.signature_type = ((properties >> 16) & 0x7) as u8;
        }
    });
    events::record_for_process(record, process_id as u64);
}
