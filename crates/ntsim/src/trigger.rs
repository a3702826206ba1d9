//! Event triggers: make the kernel fire the registered callbacks of one
//! family, in the documented context (IRQL, process, thread), with real
//! argument structures. Each trigger runs the callbacks synchronously on the
//! calling thread and returns what the family returns (how many routines
//! ran, or the status the callbacks produced).
//!
//! Families: image load, process create/exit, thread create/exit, the
//! system callback objects (`SetSystemTime`, `PowerState`, `ProcessorAdd`,
//! or any callback object by name), registry operations, and, re-exported
//! from their modules, handle operations ([`HandleOperation`]), shutdown,
//! Plug and Play, file systems, bug checks, NMIs, bound exceptions, power
//! settings, WHEA page offlining, profile interrupts and device interrupts
//! ([`interrupt`]). A new family slots
//! in as a function (or builder) here over the registry of its module.

use std::ffi::c_void;

use wdk_sys::{
    _KE_PROCESSOR_CHANGE_NOTIFY_STATE::{
        KeProcessorAddCompleteNotify, KeProcessorAddFailureNotify, KeProcessorAddStartNotify,
    },
    CLIENT_ID, FILE_OBJECT, HANDLE, IMAGE_INFO, IMAGE_INFO_EX, IO_TYPE_FILE,
    KE_PROCESSOR_CHANGE_NOTIFY_CONTEXT, KIRQL, NTSTATUS, PCREATE_PROCESS_NOTIFY_ROUTINE,
    PCREATE_PROCESS_NOTIFY_ROUTINE_EX, PCREATE_THREAD_NOTIFY_ROUTINE, PLOAD_IMAGE_NOTIFY_ROUTINE,
    PROCESSOR_NUMBER, PS_CREATE_NOTIFY_INFO, STATUS_SUCCESS,
};

use crate::context::{self, ContextScope, Phase, SYSTEM_PID};
use crate::irql::{APC_LEVEL, DISPATCH_LEVEL, IrqlScope, PASSIVE_LEVEL};
use crate::ps::{self, variant};
use crate::unicode::OwnedUnicode;
use crate::verifier::{self, ModelRule};
use crate::{clock, excallback, objects, registry};

pub use crate::interrupt::interrupt;
pub use crate::ioreg::{
    device_interface_arrival, device_interface_removal, file_system_registered, file_system_unregistered,
    hardware_profile_change,
};
pub use crate::ioreg::{hardware_profile_query_change, target_device_query_remove};
pub use crate::kecb::{AddedPages, DumpIoCall};
pub use crate::kecb::{
    BugCheckOptions, BugCheckReport, CallbackBuffer, SecondaryDump, bound_exception, bug_check,
    bug_check_with, nmi,
};
pub use crate::obcallbacks::{HandleOperation, Target};
pub use crate::power::{page_offline, power_setting_change, profile_interrupt};
pub use crate::registry::{KeyOperation, RegistryOperation, RegistryOutcome};

/// Shuts the system down as far as drivers see it: one `IRP_MJ_SHUTDOWN`
/// per normal registration, then one per last-chance registration, each at
/// PASSIVE_LEVEL from a System thread. Returns the statuses, in order.
#[must_use = "the statuses the shutdown IRPs completed with"]
pub fn shutdown() -> Vec<NTSTATUS> {
    crate::shutdown::delivery_order()
        .into_iter()
        .map(|device| crate::io::send_system_irp(device, wdk_sys::IRP_MJ_SHUTDOWN))
        .collect()
}

fn require_passive(trigger: &str) {
    assert_eq!(
        crate::irql::current(),
        PASSIVE_LEVEL,
        "trigger::{trigger} must be called at PASSIVE_LEVEL (the kernel raises the IRQL itself where documented)"
    );
}

fn file_object(name: &OwnedUnicode) -> Box<FILE_OBJECT> {
    // SAFETY: FILE_OBJECT is plain data; all-zero is a valid value.
    let mut file: Box<FILE_OBJECT> = Box::new(unsafe { std::mem::zeroed() });
    file.Type = IO_TYPE_FILE as i16;
    file.Size = i16::try_from(std::mem::size_of::<FILE_OBJECT>()).unwrap_or(i16::MAX);
    file.FileName = name.descriptor();
    file
}

/// `IMAGE_ADDRESSING_MODE_32BIT`: ntddk/ns-ntddk-_image_info says
/// `ImageAddressingMode` is always set to it.
pub const IMAGE_ADDRESSING_MODE_32BIT: u32 = 3;

/// An image load, as the kernel reports it to load-image notify routines
/// (ntddk/nc-ntddk-pload_image_notify_routine, ntddk/ns-ntddk-_image_info).
#[derive(Clone, Debug)]
pub struct LoadImage {
    /// `FullImageName` (`None` passes NULL, which the docs allow).
    pub full_name: Option<String>,
    /// The process the image maps into (`ProcessId`; drivers get 0, per the docs, whatever this says).
    pub pid: u64,
    /// `ImageBase`.
    pub base: u64,
    /// `ImageSize`.
    pub size: u64,
    /// `SystemModeImage` (set for drivers).
    pub system_mode: bool,
    /// `ImageMappedToAllPids`.
    pub mapped_to_all_pids: bool,
    /// `MachineTypeMismatch`.
    pub machine_type_mismatch: bool,
    /// `ImageSignatureLevel` (4 bits).
    pub signature_level: u8,
    /// `ImageSignatureType` (3 bits).
    pub signature_type: u8,
}

impl LoadImage {
    /// A user-mode image mapped into `pid`.
    #[must_use]
    pub fn new(full_name: &str, pid: u64) -> Self {
        Self {
            full_name: Some(full_name.to_owned()),
            pid,
            base: 0x7FF6_0000_0000,
            size: 0x1_0000,
            system_mode: false,
            mapped_to_all_pids: false,
            machine_type_mismatch: false,
            signature_level: 0,
            signature_type: 0,
        }
    }

    /// `IMAGE_INFO.Properties`: ImageAddressingMode:8, SystemModeImage:1,
    /// ImageMappedToAllPids:1, ExtendedInfoPresent:1, MachineTypeMismatch:1,
    /// ImageSignatureLevel:4, ImageSignatureType:3, Reserved:14. The kernel
    /// always passes an `IMAGE_INFO_EX` (ExtendedInfoPresent = 1, Vista+).
    #[must_use]
    pub fn properties(&self) -> u32 {
        IMAGE_ADDRESSING_MODE_32BIT
            | (u32::from(self.system_mode) << 8)
            | (u32::from(self.mapped_to_all_pids) << 9)
            | (1 << 10)
            | (u32::from(self.machine_type_mismatch) << 11)
            | (u32::from(self.signature_level & 0xF) << 12)
            | (u32::from(self.signature_type & 0x7) << 16)
    }

    /// Runs every registered load-image routine, in registration order, at
    /// PASSIVE_LEVEL, in the context of the process the image maps into
    /// (the System process for drivers), with a real `UNICODE_STRING` and an
    /// `IMAGE_INFO_EX`. Routines registered with the Ex variant without
    /// `PS_IMAGE_NOTIFY_CONFLICTING_ARCHITECTURE` are not called for an image
    /// whose machine type does not match the system
    /// (ntddk/nf-ntddk-pssetloadimagenotifyroutineex). Returns how many ran.
    ///
    /// # Panics
    /// If called above PASSIVE_LEVEL.
    #[must_use = "the number of routines that ran"]
    pub fn fire(&self) -> usize {
        require_passive("load_image");
        let mut name = self.full_name.as_deref().map(OwnedUnicode::new);
        let mut file_name = OwnedUnicode::new(self.full_name.as_deref().unwrap_or(""));
        let file = file_object(&file_name);
        let mut image_info = IMAGE_INFO {
            ImageBase: self.base as *mut c_void,
            ImageSelector: 0,
            ImageSize: self.size,
            ImageSectionNumber: 0,
            ..Default::default()
        };
        image_info.__bindgen_anon_1.Properties = self.properties();
        let mut info = IMAGE_INFO_EX {
            Size: std::mem::size_of::<IMAGE_INFO_EX>() as u64,
            ImageInfo: image_info,
            FileObject: Box::into_raw(file),
        };
        let pid = if self.system_mode { SYSTEM_PID } else { self.pid };
        // "ProcessId: 0 if the newly loaded image is a driver" (ntddk/nc-ntddk-pload_image_notify_routine).
        let process_id = if self.system_mode { 0 } else { self.pid };
        let _context = ContextScope::enter(pid, None, Phase::Other);
        let _irql = IrqlScope::enter(PASSIVE_LEVEL);
        let _critical_region = ps::CriticalRegion::enter();
        let mut ran = 0;
        for slot in ps::LOAD_IMAGE.live() {
            if slot.variant == variant::EX
                && self.machine_type_mismatch
                && slot.data & ps::PS_IMAGE_NOTIFY_CONFLICTING_ARCHITECTURE == 0
            {
                continue;
            }
            // SAFETY: the registry stores PLOAD_IMAGE_NOTIFY_ROUTINE addresses.
            let routine: PLOAD_IMAGE_NOTIFY_ROUTINE =
                unsafe { std::mem::transmute::<usize, PLOAD_IMAGE_NOTIFY_ROUTINE>(slot.routine) };
            let Some(routine) = routine else { continue };
            let name_ptr = name.as_mut().map_or(std::ptr::null_mut(), OwnedUnicode::as_ptr);
            // The kernel passes &IMAGE_INFO_EX.ImageInfo; drivers reach the
            // extension with CONTAINING_RECORD when ExtendedInfoPresent is set.
            let info_ptr = &raw mut info.ImageInfo;
            let called = ps::invoke(&ps::LOAD_IMAGE, slot.id, slot.routine, || {
                // SAFETY: a registered routine with valid arguments that live for the call.
                unsafe { routine(name_ptr, process_id as HANDLE, info_ptr) };
            });
            ran += usize::from(called.is_some());
        }
        let _ = file_name.as_ptr();
        // SAFETY: created by Box::into_raw above and not freed since.
        drop(unsafe { Box::from_raw(info.FileObject) });
        ran
    }
}

/// Fires one image load (see [`LoadImage::fire`]): `full_name` mapped into
/// `pid` at `base`/`size`; `system_mode` for a driver image (whose
/// `ProcessId` the docs say is 0). Returns how many routines ran.
#[must_use = "the number of routines that ran"]
pub fn load_image(full_name: &str, pid: u64, base: u64, size: u64, system_mode: bool) -> usize {
    LoadImage {
        base,
        size,
        system_mode,
        ..LoadImage::new(full_name, pid)
    }
    .fire()
}

/// A process creation (ntddk/nc-ntddk-pcreate_process_notify_routine_ex,
/// ntddk/ns-ntddk-_ps_create_notify_info).
#[derive(Clone, Debug)]
pub struct ProcessCreate {
    /// The new process id.
    pub pid: u64,
    /// Its parent.
    pub parent_pid: u64,
    /// The creating thread's process.
    pub creating_pid: u64,
    /// The creating thread.
    pub creating_tid: u64,
    /// `ImageFileName`.
    pub image_file_name: Option<String>,
    /// `CommandLine`.
    pub command_line: Option<String>,
    /// `IsSubsystemProcess` (only Ex2 registrations see these).
    pub subsystem: bool,
    /// `FileOpenNameAvailable`.
    pub file_open_name_available: bool,
}

impl ProcessCreate {
    /// A Win32 process `pid` created by `parent_pid` (whose thread creates it).
    #[must_use]
    pub fn new(pid: u64, parent_pid: u64, image: &str) -> Self {
        Self {
            pid,
            parent_pid,
            creating_pid: parent_pid,
            creating_tid: context::new_tid(),
            image_file_name: Some(image.to_owned()),
            command_line: Some(format!("\"{image}\"")),
            subsystem: false,
            file_open_name_available: true,
        }
    }

    /// Runs every process notify routine (all variants, registration order)
    /// at PASSIVE_LEVEL in the creating thread's context. Legacy routines get
    /// `(ParentId, ProcessId, TRUE)`; Ex/Ex2 routines a `PS_CREATE_NOTIFY_INFO`
    /// whose `CreationStatus` they may set to deny the creation; subsystem
    /// processes reach Ex2 routines only. Returns the final `CreationStatus`.
    ///
    /// # Panics
    /// If called above PASSIVE_LEVEL.
    #[must_use = "the creation status the callbacks produced"]
    pub fn fire(&self) -> NTSTATUS {
        require_passive("ProcessCreate::fire");
        let mut image = self.image_file_name.as_deref().map(OwnedUnicode::new);
        let mut command_line = self.command_line.as_deref().map(OwnedUnicode::new);
        let file_name = OwnedUnicode::new(self.image_file_name.as_deref().unwrap_or(""));
        let file = file_object(&file_name);
        let file_ptr = Box::into_raw(file);
        let flags = u32::from(self.file_open_name_available) | (u32::from(self.subsystem) << 1);
        // SAFETY: PS_CREATE_NOTIFY_INFO is plain data; all-zero is valid.
        let mut info: PS_CREATE_NOTIFY_INFO = unsafe { std::mem::zeroed() };
        info.Size = std::mem::size_of::<PS_CREATE_NOTIFY_INFO>() as u64;
        info.__bindgen_anon_1.Flags = flags;
        info.ParentProcessId = self.parent_pid as HANDLE;
        info.CreatingThreadId = CLIENT_ID {
            UniqueProcess: self.creating_pid as HANDLE,
            UniqueThread: self.creating_tid as HANDLE,
        };
        info.FileObject = file_ptr;
        info.ImageFileName = image
            .as_mut()
            .map_or(std::ptr::null(), |u| u.as_ptr().cast_const());
        info.CommandLine = command_line
            .as_mut()
            .map_or(std::ptr::null(), |u| u.as_ptr().cast_const());
        info.CreationStatus = STATUS_SUCCESS;
        let _context = ContextScope::enter(self.creating_pid, Some(self.creating_tid), Phase::Other);
        let _irql = IrqlScope::enter(PASSIVE_LEVEL);
        let _critical_region = ps::CriticalRegion::enter();
        let process = objects::process(self.pid);
        for slot in ps::PROCESS.live() {
            match slot.variant {
                variant::LEGACY if !self.subsystem => {
                    // SAFETY: the registry stores routines of the variant's type.
                    let routine =
                        unsafe { std::mem::transmute::<usize, PCREATE_PROCESS_NOTIFY_ROUTINE>(slot.routine) };
                    if let Some(routine) = routine {
                        ps::invoke(&ps::PROCESS, slot.id, slot.routine, || {
                            // SAFETY: a registered routine with valid arguments.
                            unsafe { routine(self.parent_pid as HANDLE, self.pid as HANDLE, 1) };
                        });
                    }
                }
                variant::EX | variant::EX2 if !self.subsystem || slot.variant == variant::EX2 => {
                    // SAFETY: as above.
                    let routine = unsafe {
                        std::mem::transmute::<usize, PCREATE_PROCESS_NOTIFY_ROUTINE_EX>(slot.routine)
                    };
                    if let Some(routine) = routine {
                        let info_ptr = &raw mut info;
                        ps::invoke(&ps::PROCESS, slot.id, slot.routine, || {
                            // SAFETY: as above; `info` outlives the call.
                            unsafe { routine(process, self.pid as HANDLE, info_ptr) };
                        });
                    }
                }
                _ => {}
            }
        }
        // SAFETY: created by Box::into_raw above.
        drop(unsafe { Box::from_raw(file_ptr) });
        info.CreationStatus
    }
}

/// Process `pid` exits: every process notify routine runs with
/// `Create = FALSE` / `CreateInfo = NULL`, at PASSIVE_LEVEL in the context of
/// the exiting process's last thread (ntddk/nc-ntddk-pcreate_process_notify_routine).
/// Returns how many ran.
///
/// # Panics
/// If called above PASSIVE_LEVEL.
#[must_use = "the number of routines that ran"]
pub fn process_exit(pid: u64, parent_pid: u64) -> usize {
    process_exit_with_status(pid, parent_pid, STATUS_SUCCESS)
}

/// As [`process_exit`], with the process's exit status (what
/// `PsGetProcessExitStatus` reports from then on).
///
/// # Panics
/// If called above PASSIVE_LEVEL.
#[must_use = "the number of routines that ran"]
pub fn process_exit_with_status(pid: u64, parent_pid: u64, exit_status: NTSTATUS) -> usize {
    require_passive("process_exit");
    objects::set_exit_status(pid, exit_status);
    let _context = ContextScope::enter(pid, Some(context::new_tid()), Phase::Other);
    let _irql = IrqlScope::enter(PASSIVE_LEVEL);
    let _critical_region = ps::CriticalRegion::enter();
    let process = objects::process(pid);
    let mut ran = 0;
    for slot in ps::PROCESS.live() {
        let called = if slot.variant == variant::LEGACY {
            // SAFETY: the registry stores routines of the variant's type.
            let routine =
                unsafe { std::mem::transmute::<usize, PCREATE_PROCESS_NOTIFY_ROUTINE>(slot.routine) };
            routine.and_then(|routine| {
                ps::invoke(&ps::PROCESS, slot.id, slot.routine, || {
                    // SAFETY: a registered routine.
                    unsafe { routine(parent_pid as HANDLE, pid as HANDLE, 0) };
                })
            })
        } else {
            // SAFETY: as above.
            let routine =
                unsafe { std::mem::transmute::<usize, PCREATE_PROCESS_NOTIFY_ROUTINE_EX>(slot.routine) };
            routine.and_then(|routine| {
                ps::invoke(&ps::PROCESS, slot.id, slot.routine, || {
                    // SAFETY: a registered routine; NULL CreateInfo means exit.
                    unsafe { routine(process, pid as HANDLE, std::ptr::null_mut()) };
                })
            })
        };
        ran += usize::from(called.is_some());
    }
    ran
}

/// A thread is created in (or exits from) process `pid`: every thread notify
/// routine runs at `level` (PASSIVE_LEVEL or APC_LEVEL, per
/// ntddk/nc-ntddk-pcreate_thread_notify_routine). On create, legacy and
/// `PsCreateThreadNotifySubsystems` routines run in the creating thread's
/// context (`creator_tid` in `creator_pid`), `PsCreateThreadNotifyNonSystem`
/// routines on the new thread (ntddk/nf-ntddk-pssetcreatethreadnotifyroutineex);
/// on exit, all run in the exiting thread. Returns how many ran.
///
/// # Panics
/// If `level` is above APC_LEVEL or the caller is above PASSIVE_LEVEL.
#[must_use = "the number of routines that ran"]
pub fn thread_notify(pid: u64, tid: u64, create: bool, creator: (u64, u64), level: KIRQL) -> usize {
    require_passive("thread_notify");
    assert!(
        level <= APC_LEVEL,
        "thread notify routines run at PASSIVE_LEVEL or APC_LEVEL"
    );
    let mut ran = 0;
    for slot in ps::THREAD.live() {
        let on_new_thread = !create || (slot.variant == variant::EX && slot.data == 0);
        let (context_pid, context_tid) = if on_new_thread { (pid, tid) } else { creator };
        let _context = ContextScope::enter(context_pid, Some(context_tid), Phase::Other);
        let _irql = IrqlScope::enter(level);
        // SAFETY: the registry stores PCREATE_THREAD_NOTIFY_ROUTINE addresses.
        let routine = unsafe { std::mem::transmute::<usize, PCREATE_THREAD_NOTIFY_ROUTINE>(slot.routine) };
        let Some(routine) = routine else { continue };
        let called = ps::invoke(&ps::THREAD, slot.id, slot.routine, || {
            // SAFETY: a registered routine.
            unsafe { routine(pid as HANDLE, tid as HANDLE, u8::from(create)) };
        });
        ran += usize::from(called.is_some());
    }
    ran
}

/// Sets the system time and notifies `\Callback\SetSystemTime` (Arg1 and
/// Arg2 unused, wdm/nf-wdm-exregistercallback). The IRQL is SILENT in the
/// docs ("<= DISPATCH_LEVEL"); the model notifies at PASSIVE_LEVEL. Returns
/// how many callbacks ran.
#[must_use = "the number of callbacks that ran"]
pub fn set_system_time(time: i64) -> usize {
    clock::set_system_time(time);
    excallback::notify(
        "\\Callback\\SetSystemTime",
        PASSIVE_LEVEL,
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    )
}

/// Notifies `\Callback\PowerState` with Arg1 = `po_cb` (a `PO_CB_*` value)
/// and Arg2 = `value` (e.g. TRUE = on AC for `PO_CB_AC_STATUS`), at `level`
/// (SILENT in the docs beyond "<= DISPATCH_LEVEL"). Returns how many ran.
#[must_use = "the number of callbacks that ran"]
pub fn power_state(po_cb: u32, value: bool, level: KIRQL) -> usize {
    excallback::notify(
        "\\Callback\\PowerState",
        level,
        po_cb as usize as *mut c_void,
        usize::from(value) as *mut c_void,
    )
}

/// Hot-adds processor `nt_number` through `\Callback\ProcessorAdd`: a
/// `KeProcessorAddStartNotify` notification (Arg1 the read-only
/// `KE_PROCESSOR_CHANGE_NOTIFY_CONTEXT`, Arg2 an `NTSTATUS*` a callback may
/// set to an error to stop the add), then `KeProcessorAddCompleteNotify`, or
/// `KeProcessorAddFailureNotify` if a callback failed it
/// (wdm/nf-wdm-exregistercallback). At DISPATCH_LEVEL (SILENT; chosen).
/// Returns the status the start notification ended with.
#[must_use = "the status the callbacks produced"]
pub fn processor_add(nt_number: u32) -> NTSTATUS {
    let mut context = KE_PROCESSOR_CHANGE_NOTIFY_CONTEXT {
        State: KeProcessorAddStartNotify,
        NtNumber: nt_number,
        Status: STATUS_SUCCESS,
        ProcNumber: PROCESSOR_NUMBER {
            Group: 0,
            Number: u8::try_from(nt_number).unwrap_or(u8::MAX),
            Reserved: 0,
        },
    };
    let mut status: NTSTATUS = STATUS_SUCCESS;
    let name = "\\Callback\\ProcessorAdd";
    let _ = excallback::notify(
        name,
        DISPATCH_LEVEL,
        (&raw mut context).cast(),
        (&raw mut status).cast(),
    );
    context.State = if status >= 0 {
        KeProcessorAddCompleteNotify
    } else {
        KeProcessorAddFailureNotify
    };
    context.Status = status;
    let mut final_status = status;
    let _ = excallback::notify(
        name,
        DISPATCH_LEVEL,
        (&raw mut context).cast(),
        (&raw mut final_status).cast(),
    );
    if final_status != status {
        // wdm/nf-wdm-exregistercallback (\Callback\ProcessorAdd): a callback
        // may write Argument2 only if State is KeProcessorAddStartNotify.
        verifier::model_rule(
            ModelRule::InvalidParameter,
            u64::from(final_status.cast_unsigned()),
            format!(
                "a \\Callback\\ProcessorAdd callback wrote *Argument2 = {:#010X} during state {} (only KeProcessorAddStartNotify may)",
                final_status.cast_unsigned(),
                context.State
            ),
        );
    }
    let processor_change = crate::kecb::processor_added(nt_number);
    if status < 0 { status } else { processor_change }
}

/// A registry value is set by process `pid`: `RegNtPreSetValueKey` with a
/// `REG_SET_VALUE_KEY_INFORMATION`, then (unless a callback blocked or
/// bypassed it) the value is written and `RegNtPostSetValueKey` follows with
/// a `REG_POST_OPERATION_INFORMATION`. Returns the status the caller gets
/// (a post callback returning `STATUS_CALLBACK_BYPASS` makes it the
/// `ReturnStatus` it set).
///
/// # Panics
/// If called above PASSIVE_LEVEL.
#[must_use = "the status the operation completed with"]
pub fn registry_set_value(pid: u64, key: &str, name: &str, value_type: u32, data: &[u8]) -> NTSTATUS {
    require_passive("registry_set_value");
    registry::create_key(key);
    let _context = ContextScope::enter(pid, None, Phase::Other);
    let _irql = IrqlScope::enter(PASSIVE_LEVEL);
    let object = registry::object_for(key);
    let mut value_name = OwnedUnicode::new(name);
    let mut bytes = data.to_vec();
    let mut pre = wdk_sys::REG_SET_VALUE_KEY_INFORMATION {
        Object: object,
        ValueName: value_name.as_ptr(),
        TitleIndex: 0,
        Type: value_type,
        Data: bytes.as_mut_ptr().cast(),
        DataSize: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
        CallContext: std::ptr::null_mut(),
        ObjectContext: std::ptr::null_mut(),
        Reserved: std::ptr::null_mut(),
    };
    let status = registry::notify(1, (&raw mut pre).cast(), true);
    if status == registry::STATUS_CALLBACK_BYPASS {
        return STATUS_SUCCESS;
    }
    if status < 0 {
        return status;
    }
    registry::set_value(key, name, value_type, data);
    let mut post = wdk_sys::REG_POST_OPERATION_INFORMATION {
        Object: object,
        Status: STATUS_SUCCESS,
        PreInformation: (&raw mut pre).cast(),
        ReturnStatus: STATUS_SUCCESS,
        CallContext: std::ptr::null_mut(),
        ObjectContext: std::ptr::null_mut(),
        Reserved: std::ptr::null_mut(),
    };
    if registry::notify(16, (&raw mut post).cast(), false) == registry::STATUS_CALLBACK_BYPASS {
        // A post callback returned STATUS_CALLBACK_BYPASS: ReturnStatus is
        // the caller's status (wdm/ns-wdm-_reg_post_operation_information).
        return post.ReturnStatus;
    }
    STATUS_SUCCESS
}

/// A registry key is opened by process `pid`: `RegNtPreOpenKey` with the
/// complete name, then (unless blocked) `RegNtPostOpenKey` with the key
/// object and status. Returns the status the caller gets
/// (`STATUS_OBJECT_NAME_NOT_FOUND` for a missing key).
///
/// # Panics
/// If called above PASSIVE_LEVEL.
#[must_use = "the status the operation completed with"]
pub fn registry_open_key(pid: u64, key: &str) -> NTSTATUS {
    require_passive("registry_open_key");
    let _context = ContextScope::enter(pid, None, Phase::Other);
    let _irql = IrqlScope::enter(PASSIVE_LEVEL);
    let mut complete_name = OwnedUnicode::new(key);
    let mut pre = wdk_sys::REG_PRE_CREATE_KEY_INFORMATION {
        CompleteName: complete_name.as_ptr(),
    };
    let status = registry::notify(12, (&raw mut pre).cast(), true);
    if status == registry::STATUS_CALLBACK_BYPASS {
        return STATUS_SUCCESS;
    }
    if status < 0 {
        return status;
    }
    let exists = registry::key_exists(key);
    let result = if exists {
        STATUS_SUCCESS
    } else {
        wdk_sys::STATUS_OBJECT_NAME_NOT_FOUND
    };
    let mut post = wdk_sys::REG_POST_CREATE_KEY_INFORMATION {
        CompleteName: complete_name.as_ptr(),
        Object: if exists {
            registry::object_for(key)
        } else {
            std::ptr::null_mut()
        },
        Status: result,
    };
    let _ = registry::notify(13, (&raw mut post).cast(), false);
    result
}

/// Notifies the callback object `name` with two arguments at `level` (as its
/// owner would with `ExNotifyCallback`). Returns how many callbacks ran.
#[must_use = "the number of callbacks that ran"]
pub fn notify_callback_object(name: &str, argument1: usize, argument2: usize, level: KIRQL) -> usize {
    excallback::notify(name, level, argument1 as *mut c_void, argument2 as *mut c_void)
}
