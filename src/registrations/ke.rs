//! Processor and exception callbacks.
//!
//! NMI, BOUND, bug check (with a summary
//! buffer), bug-check reason (the crash-dump flight recorder) and processor
//! change. The summary and the flight recorder themselves (buffers, filling)
//! are [`crate::pipeline::crash`]; this file registers them.
//!
//! NMI, BOUND and bug-check routines run at HIGH_LEVEL (or in exception
//! context): they only touch the ring, atomics and static buffers — no
//! DbgPrint, no lock, no allocation, no pageable memory. The routines that
//! Wine does not export (NMI, BOUND, processor change) are resolved at run
//! time; the bug-check ones are exported stubs there (calling them aborts the
//! host), so the Wine test disables them through `Parameters`.

use core::{
    ffi::c_void,
    ptr,
    sync::atomic::{AtomicU64, Ordering},
};

use kcb_proto::SourceId;
use kcb_proto::{
    BoundExceptionPayload, BugCheckPayload, BugCheckReasonPayload, EventRecord, NmiPayload,
    ProcessorChangePayload, kind,
};
use wdk_sys::{
    _BOUND_CALLBACK_STATUS::BoundExceptionContinueSearch,
    _KBUGCHECK_CALLBACK_REASON::KbCallbackSecondaryDumpData,
    BOOLEAN, BOUND_CALLBACK_STATUS, KBUGCHECK_CALLBACK_REASON, KBUGCHECK_CALLBACK_RECORD,
    KBUGCHECK_REASON_CALLBACK_RECORD, KBUGCHECK_SECONDARY_DUMP_DATA, KE_PROCESSOR_CHANGE_ADD_EXISTING,
    PKE_PROCESSOR_CHANGE_NOTIFY_CONTEXT, STATUS_UNSUCCESSFUL,
    ntddk::{
        KeDeregisterBugCheckCallback, KeDeregisterBugCheckReasonCallback, KeRegisterBugCheckCallback,
        KeRegisterBugCheckReasonCallback,
    },
};

use crate::{
    dynamic_fn,
    kernel::{cell::KernelCell, dynamic::DynamicRoutine},
    pipeline::{crash, events},
    registrations::{
        guard::{Failure, RegistrationOps, non_null},
        report::Api,
    },
};

static REGISTER_NMI: DynamicRoutine = DynamicRoutine::new("KeRegisterNmiCallback");
static DEREGISTER_NMI: DynamicRoutine = DynamicRoutine::new("KeDeregisterNmiCallback");
static REGISTER_BOUND: DynamicRoutine = DynamicRoutine::new("KeRegisterBoundCallback");
static DEREGISTER_BOUND: DynamicRoutine = DynamicRoutine::new("KeDeregisterBoundCallback");
static REGISTER_PROCESSOR: DynamicRoutine = DynamicRoutine::new("KeRegisterProcessorChangeCallback");
static DEREGISTER_PROCESSOR: DynamicRoutine = DynamicRoutine::new("KeDeregisterProcessorChangeCallback");

type NmiRoutine = unsafe extern "C" fn(*mut c_void, BOOLEAN) -> BOOLEAN;
/// The prototype of `KeRegisterNmiCallback`, resolved at run time (checked against
/// windows-sys by `tests/windows_sys_conformance.rs`).
pub type RegisterNmiFn = unsafe extern "C" fn(Option<NmiRoutine>, *mut c_void) -> *mut c_void;
/// The prototype of `KeDeregisterNmiCallback` and `KeDeregisterBoundCallback`, resolved at run time (checked against
/// windows-sys by `tests/windows_sys_conformance.rs`).
pub type DeregisterFn = unsafe extern "C" fn(*mut c_void) -> i32;
type BoundRoutine = unsafe extern "C" fn() -> BOUND_CALLBACK_STATUS;
/// The prototype of `KeRegisterBoundCallback`, resolved at run time (checked against
/// windows-sys by `tests/windows_sys_conformance.rs`).
pub type RegisterBoundFn = unsafe extern "C" fn(Option<BoundRoutine>) -> *mut c_void;
type ProcessorRoutine = unsafe extern "C" fn(*mut c_void, PKE_PROCESSOR_CHANGE_NOTIFY_CONTEXT, *mut i32);
/// The prototype of `KeRegisterProcessorChangeCallback`, resolved at run time (checked against
/// windows-sys by `tests/windows_sys_conformance.rs`).
pub type RegisterProcessorFn =
    unsafe extern "C" fn(Option<ProcessorRoutine>, *mut c_void, u32) -> *mut c_void;
/// The prototype of `KeDeregisterProcessorChangeCallback`, resolved at run time (checked against
/// windows-sys by `tests/windows_sys_conformance.rs`).
pub type DeregisterProcessorFn = unsafe extern "C" fn(*mut c_void);

/// Resolves the Ke routines Wine (and old systems) may lack.
///
/// # IRQL
/// PASSIVE_LEVEL.
pub fn resolve() {
    for routine in [
        &REGISTER_NMI,
        &DEREGISTER_NMI,
        &REGISTER_BOUND,
        &DEREGISTER_BOUND,
        &REGISTER_PROCESSOR,
        &DEREGISTER_PROCESSOR,
    ] {
        routine.resolve();
    }
}

/// An opaque registration handle.
pub struct Handle(*mut c_void);

/// Removes an NMI or BOUND registration with its `Ke*Deregister*` routine
/// (resolved: `register` required it).
///
/// # Safety
/// `handle` came from the matching register routine and is removed once.
unsafe fn deregister(routine: &DynamicRoutine, handle: &Handle) {
    if let Some(deregister) = dynamic_fn!(routine => DeregisterFn) {
        // SAFETY: the caller's contract; the routine's documented prototype.
        let _ = unsafe { deregister(handle.0) };
    }
}

// -------------------------------------------------------------------- NMI

static NMI_COUNT: AtomicU64 = AtomicU64::new(0);

/// `KeRegisterNmiCallback` / `KeDeregisterNmiCallback`.
pub struct NmiCallback;

impl RegistrationOps for NmiCallback {
    type Args = ();
    type Token = Handle;
    const SOURCE: Option<SourceId> = Some(SourceId::Nmi);
    const API: Api = Api::NmiCallback;

    /// `<= APC_LEVEL` (rule IrqlKeApcLte2). NULL means failure.
    fn register((): ()) -> Result<Handle, Failure> {
        let register = Failure::with_removal(dynamic_fn!(REGISTER_NMI => RegisterNmiFn), &DEREGISTER_NMI)?;
        // SAFETY: documented prototype; 'static routine removed before unload.
        let handle = unsafe { register(Some(on_nmi), ptr::null_mut()) };
        Ok(Handle(non_null(handle)?))
    }

    unsafe fn unregister(token: Handle) {
        // SAFETY: the handle KeRegisterNmiCallback returned, removed once.
        unsafe { deregister(&DEREGISTER_NMI, &token) };
    }
}

/// `NMI_CALLBACK` at HIGH_LEVEL: records the NMI and returns FALSE (not
/// handled) so other handlers and the system's default run as before.
unsafe extern "C" fn on_nmi(_context: *mut c_void, handled: BOOLEAN) -> BOOLEAN {
    let _cost = crate::pipeline::cost::Span::start(kcb_proto::SourceId::Nmi);
    let count = NMI_COUNT.fetch_add(1, Ordering::Relaxed) + 1;
    events::record(EventRecord::build(kind::NONE, |payload: &mut NmiPayload| {
        payload.handled = u32::from(handled);
        payload.count = count;
    }));
    0
}

// ------------------------------------------------------------------ BOUND

static BOUND_COUNT: AtomicU64 = AtomicU64::new(0);

/// `KeRegisterBoundCallback` / `KeDeregisterBoundCallback`.
pub struct BoundCallback;

impl RegistrationOps for BoundCallback {
    type Args = ();
    type Token = Handle;
    const SOURCE: Option<SourceId> = Some(SourceId::BoundException);
    const API: Api = Api::BoundCallback;

    /// IRQL undocumented; called at PASSIVE_LEVEL. NULL means failure.
    fn register((): ()) -> Result<Handle, Failure> {
        let register =
            Failure::with_removal(dynamic_fn!(REGISTER_BOUND => RegisterBoundFn), &DEREGISTER_BOUND)?;
        // SAFETY: documented prototype; 'static routine removed before unload.
        let handle = unsafe { register(Some(on_bound)) };
        Ok(Handle(non_null(handle)?))
    }

    unsafe fn unregister(token: Handle) {
        // SAFETY: the handle KeRegisterBoundCallback returned, removed once.
        unsafe { deregister(&DEREGISTER_BOUND, &token) };
    }
}

/// `BOUND_CALLBACK`: a user-mode BOUND exception. Records it and lets the
/// search continue.
unsafe extern "C" fn on_bound() -> BOUND_CALLBACK_STATUS {
    let _cost = crate::pipeline::cost::Span::start(kcb_proto::SourceId::BoundException);
    let count = BOUND_COUNT.fetch_add(1, Ordering::Relaxed) + 1;
    events::record(EventRecord::build(
        kind::NONE,
        |payload: &mut BoundExceptionPayload| payload.count = count,
    ));
    BoundExceptionContinueSearch
}

// -------------------------------------------------------------- bug check

/// The record `KeRegisterBugCheckCallback` links into the kernel's list:
/// written by the kernel only (registration, deregistration), never by the
/// driver after its zero initialisation.
static BUGCHECK_RECORD: KernelCell<KBUGCHECK_CALLBACK_RECORD> =
    // SAFETY: all-zero is the state KeInitializeCallbackRecord sets (BufferEmpty).
    KernelCell::new(unsafe { core::mem::zeroed() });
/// The component name both bug-check registrations pass (static, read-only).
static COMPONENT: &[u8] = b"kcallbacks\0";

/// `KeRegisterBugCheckCallback` with the summary buffer.
pub struct BugCheckCallback;

impl RegistrationOps for BugCheckCallback {
    type Args = ();
    type Token = ();
    const SOURCE: Option<SourceId> = Some(SourceId::BugCheck);
    const API: Api = Api::BugCheckCallback;

    /// Any IRQL. FALSE means failure (reported as `STATUS_UNSUCCESSFUL`).
    fn register((): ()) -> Result<(), Failure> {
        // SAFETY: DriverEntry: nothing else uses the summary yet.
        unsafe { crash::refresh_summary(false, &[]) };
        // SAFETY: the record and buffer are resident static memory that
        // outlives the registration; the component string is static.
        let ok = unsafe {
            KeRegisterBugCheckCallback(
                BUGCHECK_RECORD.get(),
                Some(on_bugcheck),
                crash::summary_buffer(),
                crash::SUMMARY_LEN,
                COMPONENT.as_ptr().cast_mut(),
            )
        };
        if ok == 0 {
            Err(STATUS_UNSUCCESSFUL.into())
        } else {
            Ok(())
        }
    }

    unsafe fn unregister((): ()) {
        // SAFETY: our registered record; deregistered once, before unload.
        let _ = unsafe { KeDeregisterBugCheckCallback(BUGCHECK_RECORD.get()) };
    }
}

/// `KBUGCHECK_CALLBACK_ROUTINE` at HIGH_LEVEL: refreshes the summary.
unsafe extern "C" fn on_bugcheck(_buffer: *mut c_void, _length: u32) {
    let _cost = crate::pipeline::cost::Span::start(kcb_proto::SourceId::BugCheck);
    // SAFETY: at bug check the other processors are frozen; nothing else writes.
    unsafe { crash::refresh_summary(true, &[]) };
    events::record(EventRecord::build(kind::NONE, |payload: &mut BugCheckPayload| {
        payload.buffer = crash::summary_buffer() as u64;
        payload.buffer_length = crash::SUMMARY_SIZE as u64;
        // SAFETY: just written above by this processor; no other writer.
        payload.records_saved = unsafe { crash::summary_event_count() };
    }));
}

/// The record `KeRegisterBugCheckReasonCallback` links into the kernel's
/// list: written by the kernel only, never by the driver after its zero
/// initialisation.
static FLIGHT_RECORD: KernelCell<KBUGCHECK_REASON_CALLBACK_RECORD> =
    // SAFETY: all-zero is a valid, unregistered record.
    KernelCell::new(unsafe { core::mem::zeroed() });
/// `KeRegisterBugCheckReasonCallback(KbCallbackSecondaryDumpData)`: the
/// flight recorder.
pub struct FlightRecorder;

impl RegistrationOps for FlightRecorder {
    type Args = ();
    type Token = ();
    const SOURCE: Option<SourceId> = Some(SourceId::BugCheckReason);
    const API: Api = Api::BugCheckReasonCallback;

    /// Any IRQL. FALSE means failure (reported as `STATUS_UNSUCCESSFUL`).
    fn register((): ()) -> Result<(), Failure> {
        // SAFETY: the record is resident static memory that outlives the
        // registration; the component string is static.
        let ok = unsafe {
            KeRegisterBugCheckReasonCallback(
                FLIGHT_RECORD.get(),
                Some(on_bugcheck_reason),
                KbCallbackSecondaryDumpData,
                COMPONENT.as_ptr().cast_mut(),
            )
        };
        if ok == 0 {
            Err(STATUS_UNSUCCESSFUL.into())
        } else {
            Ok(())
        }
    }

    unsafe fn unregister((): ()) {
        // SAFETY: our registered record; deregistered once, before unload.
        let _ = unsafe { KeDeregisterBugCheckReasonCallback(FLIGHT_RECORD.get()) };
    }
}

/// `KBUGCHECK_REASON_CALLBACK_ROUTINE` at HIGH_LEVEL.
///
/// Size query (`OutBuffer == NULL`): points `OutBuffer` at the resident blob
/// and sets its length, at most `MaximumAllowed`. Data request: fills the
/// blob with the newest records that fit in `MaximumAllowed`
/// (kernel/writing-a-bug-check-callback-routine).
unsafe extern "C" fn on_bugcheck_reason(
    reason: KBUGCHECK_CALLBACK_REASON,
    _record: *mut KBUGCHECK_REASON_CALLBACK_RECORD,
    data: *mut c_void,
    length: u32,
) {
    let _cost = crate::pipeline::cost::Span::start(kcb_proto::SourceId::BugCheckReason);
    if reason != KbCallbackSecondaryDumpData
        || data.is_null()
        || (length as usize) < size_of::<KBUGCHECK_SECONDARY_DUMP_DATA>()
    {
        return;
    }
    // SAFETY: for this reason the system passes a KBUGCHECK_SECONDARY_DUMP_DATA
    // of `length` bytes (checked above), ours during the call.
    let dump = unsafe { &mut *data.cast::<KBUGCHECK_SECONDARY_DUMP_DATA>() };
    // SAFETY: at bug check the other processors are frozen; this callback
    // is the only writer of the flight recorder and the only ring reader.
    if !unsafe { crash::answer_secondary_dump(dump) } {
        return;
    }
    events::record(EventRecord::build(
        kind::NONE,
        |payload: &mut BugCheckReasonPayload| {
            payload.reason = u32::try_from(reason).unwrap_or(0);
            payload.data_length = u64::from(dump.OutBufferLength);
        },
    ));
}

// ------------------------------------------------------- processor change

/// `KeRegisterProcessorChangeCallback(KE_PROCESSOR_CHANGE_ADD_EXISTING)`.
pub struct ProcessorChange;

impl RegistrationOps for ProcessorChange {
    type Args = ();
    type Token = Handle;
    const SOURCE: Option<SourceId> = Some(SourceId::ProcessorChange);
    const API: Api = Api::ProcessorChangeCallback;

    /// PASSIVE_LEVEL. With ADD_EXISTING the callback runs for every active
    /// processor before this returns. NULL means failure.
    fn register((): ()) -> Result<Handle, Failure> {
        let register = Failure::with_removal(
            dynamic_fn!(REGISTER_PROCESSOR => RegisterProcessorFn),
            &DEREGISTER_PROCESSOR,
        )?;
        // SAFETY: documented prototype; 'static routine removed before unload.
        let handle = unsafe {
            register(
                Some(on_processor_change),
                ptr::null_mut(),
                KE_PROCESSOR_CHANGE_ADD_EXISTING,
            )
        };
        Ok(Handle(non_null(handle)?))
    }

    unsafe fn unregister(token: Handle) {
        if let Some(deregister) = dynamic_fn!(DEREGISTER_PROCESSOR => DeregisterProcessorFn) {
            // SAFETY: the handle KeRegisterProcessorChangeCallback returned, once.
            unsafe { deregister(token.0) };
        }
    }
}

/// `PROCESSOR_CALLBACK_FUNCTION` at PASSIVE_LEVEL: records the state and
/// processor; never fails an add (leaves `OperationStatus` alone).
unsafe extern "C" fn on_processor_change(
    _context: *mut c_void,
    change: PKE_PROCESSOR_CHANGE_NOTIFY_CONTEXT,
    _status: *mut i32,
) {
    let _cost = crate::pipeline::cost::Span::start(kcb_proto::SourceId::ProcessorChange);
    if change.is_null() {
        return;
    }
    // SAFETY: the system's read-only notify context, valid during the call.
    let change = unsafe { &*change };
    events::record(EventRecord::build(
        kind::NONE,
        |payload: &mut ProcessorChangePayload| {
            payload.state = u32::try_from(change.State).unwrap_or(u32::MAX);
            payload.processor_number = change.NtNumber;
            payload.status = change.Status;
            payload.group = change.ProcNumber.Group;
            payload.group_index = change.ProcNumber.Number;
        },
    ));
}
