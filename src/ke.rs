//! Processor and exception callbacks: NMI, BOUND, bug check (with a summary
//! buffer), bug-check reason (the crash-dump flight recorder) and processor
//! change.
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

use kcb_proto::{
    BoundExceptionPayload, BugCheckPayload, BugCheckReasonPayload, EventRecord, NmiPayload,
    ProcessorChangePayload, RECORD_SIZE,
    flight::{FLIGHT_GUID, FLIGHT_HEADER_SIZE, FlightHeader, flight_header, records_within},
    kind,
};
use wdk_sys::{
    _BOUND_CALLBACK_STATUS::BoundExceptionContinueSearch,
    _KBUGCHECK_CALLBACK_REASON::KbCallbackSecondaryDumpData,
    BOOLEAN, BOUND_CALLBACK_STATUS, GUID, KBUGCHECK_CALLBACK_REASON, KBUGCHECK_CALLBACK_RECORD,
    KBUGCHECK_REASON_CALLBACK_RECORD, KBUGCHECK_SECONDARY_DUMP_DATA, KE_PROCESSOR_CHANGE_ADD_EXISTING,
    PKE_PROCESSOR_CHANGE_NOTIFY_CONTEXT, STATUS_UNSUCCESSFUL,
    ntddk::{
        KeDeregisterBugCheckCallback, KeDeregisterBugCheckReasonCallback, KeRegisterBugCheckCallback,
        KeRegisterBugCheckReasonCallback,
    },
};

use crate::{
    driver::VERSION,
    dynamic_fn, events,
    guard::{Failure, RegistrationOps, non_null},
    held,
    kernel::{DynamicRoutine, KernelCell},
    report::Api,
    rings,
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

// -------------------------------------------------------------------- NMI

static NMI_COUNT: AtomicU64 = AtomicU64::new(0);

/// `KeRegisterNmiCallback` / `KeDeregisterNmiCallback`.
pub struct NmiCallback;

impl RegistrationOps for NmiCallback {
    type Args = ();
    type Token = Handle;
    const API: Api = Api::NmiCallback;

    /// `<= APC_LEVEL` (rule IrqlKeApcLte2). NULL means failure.
    fn register((): ()) -> Result<Handle, Failure> {
        let register = dynamic_fn!(REGISTER_NMI => RegisterNmiFn).ok_or_else(Failure::not_exported)?;
        DEREGISTER_NMI.require()?;
        // SAFETY: documented prototype; 'static routine removed before unload.
        let handle = unsafe { register(Some(on_nmi), ptr::null_mut()) };
        Ok(Handle(non_null(handle)?))
    }

    unsafe fn unregister(token: Handle) {
        if let Some(deregister) = dynamic_fn!(DEREGISTER_NMI => DeregisterFn) {
            // SAFETY: the handle KeRegisterNmiCallback returned, removed once.
            let _ = unsafe { deregister(token.0) };
        }
    }
}

/// `NMI_CALLBACK` at HIGH_LEVEL: records the NMI and returns FALSE (not
/// handled) so other handlers and the system's default run as before.
unsafe extern "C" fn on_nmi(_context: *mut c_void, handled: BOOLEAN) -> BOOLEAN {
    let _cost = crate::cost::Span::start(kcb_proto::SourceId::Nmi);
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
    const API: Api = Api::BoundCallback;

    /// IRQL undocumented; called at PASSIVE_LEVEL. NULL means failure.
    fn register((): ()) -> Result<Handle, Failure> {
        let register = dynamic_fn!(REGISTER_BOUND => RegisterBoundFn).ok_or_else(Failure::not_exported)?;
        DEREGISTER_BOUND.require()?;
        // SAFETY: documented prototype; 'static routine removed before unload.
        let handle = unsafe { register(Some(on_bound)) };
        Ok(Handle(non_null(handle)?))
    }

    unsafe fn unregister(token: Handle) {
        if let Some(deregister) = dynamic_fn!(DEREGISTER_BOUND => DeregisterFn) {
            // SAFETY: the handle KeRegisterBoundCallback returned, removed once.
            let _ = unsafe { deregister(token.0) };
        }
    }
}

/// `BOUND_CALLBACK`: a user-mode BOUND exception. Records it and lets the
/// search continue.
unsafe extern "C" fn on_bound() -> BOUND_CALLBACK_STATUS {
    let _cost = crate::cost::Span::start(kcb_proto::SourceId::BoundException);
    let count = BOUND_COUNT.fetch_add(1, Ordering::Relaxed) + 1;
    events::record(EventRecord::build(
        kind::NONE,
        |payload: &mut BoundExceptionPayload| payload.count = count,
    ));
    BoundExceptionContinueSearch
}

// -------------------------------------------------------------- bug check

/// Newest events in each half of the bug-check summary.
pub const SUMMARY_EVENTS: usize = (4096 - 128) / RECORD_SIZE;

/// One complete summary: counters and the newest events.
#[repr(C, align(8))]
pub struct SummaryHalf {
    /// Refreshes so far (the half with the larger one is the newer).
    generation: u64,
    total_seen: u64,
    total_recorded: u64,
    total_dropped: u64,
    bugcheck_count: u64,
    event_count: u64,
    reserved: [u8; 16],
    events: [EventRecord; SUMMARY_EVENTS],
}

/// The bug-check summary: `KCBSUM02`, version, the complete half's index,
/// then two halves.
///
/// The bug-check callback writes it, and the drain refreshes it so a dump
/// written before the callback runs still holds a recent one. Double-buffered (issue #12 item 9): a writer fills the half that
/// is *not* active and then flips `active` with one store, so a dump taken
/// at any instant holds one consistent snapshot, the active half.
#[repr(C, align(8))]
pub struct Summary {
    magic: [u8; 8],
    version: [u8; 16],
    /// 0 or 1: the half that is complete.
    active: AtomicU64,
    reserved: [u8; 32],
    halves: [SummaryHalf; 2],
}

/// Size of the bug-check summary buffer.
pub const SUMMARY_SIZE: usize = size_of::<Summary>();
const _: () = assert!(SUMMARY_SIZE <= 8192);
#[allow(clippy::cast_possible_truncation, reason = "asserted <= 8192")]
const SUMMARY_LEN: u32 = SUMMARY_SIZE as u32;

const EMPTY_HALF: SummaryHalf = SummaryHalf {
    generation: 0,
    total_seen: 0,
    total_recorded: 0,
    total_dropped: 0,
    bugcheck_count: 0,
    event_count: 0,
    reserved: [0; 16],
    events: [EventRecord::ZERO; SUMMARY_EVENTS],
};

static BUGCHECK_RECORD: KernelCell<KBUGCHECK_CALLBACK_RECORD> =
    // SAFETY: all-zero is the state KeInitializeCallbackRecord sets (BufferEmpty).
    KernelCell::new(unsafe { core::mem::zeroed() });
/// Zero-initialised (no room in the image file); the first refresh, at
/// registration, writes the magic.
static SUMMARY: KernelCell<Summary> = KernelCell::new(Summary {
    magic: [0; 8],
    version: [0; 16],
    active: AtomicU64::new(0),
    reserved: [0; 32],
    halves: [EMPTY_HALF, EMPTY_HALF],
});
static COMPONENT: &[u8] = b"kcallbacks\0";

/// Fills the inactive half of the summary from the counters and the
/// events, then makes it the active one (no lock, no allocation: safe at
/// HIGH_LEVEL once other processors are frozen).
///
/// # Safety
/// No other writer of the summary runs concurrently (the drain thread and
/// the bug-check callback never overlap: at bug check the other processors
/// are frozen for good, and a drain frozen in mid-write only ever wrote the
/// inactive half; the drain is the only writer otherwise).
pub unsafe fn refresh_summary(at_bugcheck: bool, drained: &[EventRecord]) {
    let summary = SUMMARY.get();
    // SAFETY: exclusive writer (caller's contract); `active` is atomic.
    let current = usize::from(unsafe { (*summary).active.load(Ordering::Acquire) } & 1 == 1);
    let next = current ^ 1;
    // SAFETY: exclusive writer; the inactive half is not what a dump shows.
    let (previous, half) = unsafe {
        let halves = &mut (*summary).halves;
        let (a, b) = halves.split_at_mut(1);
        if next == 1 {
            (&a[0], &mut b[0])
        } else {
            (&b[0], &mut a[0])
        }
    };
    // SAFETY: exclusive writer.
    let header = unsafe { &mut *summary };
    header.magic = *b"KCBSUM02";
    let version = VERSION.as_bytes();
    let n = version.len().min(header.version.len());
    header.version[..n].copy_from_slice(&version[..n]);
    half.generation = previous.generation.wrapping_add(1);
    let totals = rings::totals();
    half.total_seen = totals.seen;
    half.total_recorded = totals.recorded;
    half.total_dropped = totals.dropped;
    half.bugcheck_count = previous.bugcheck_count + u64::from(at_bugcheck);
    half.events = previous.events;
    half.event_count = previous.event_count;
    if at_bugcheck {
        // SAFETY: at bug check the consumers of every ring are frozen for
        // good (other processors stopped) or interrupted on this one.
        let copied = unsafe { held::newest_held(&mut half.events) };
        if copied > 0 {
            half.event_count = copied as u64;
        }
        // Else keep the history the drain left: it is the newest there is.
    } else {
        // The drain's newest records join the history (oldest first).
        let keep = drained.len().min(SUMMARY_EVENTS);
        if keep > 0 {
            half.events.copy_within(keep.., 0);
            half.events[SUMMARY_EVENTS - keep..].copy_from_slice(&drained[drained.len() - keep..]);
            #[allow(clippy::cast_possible_truncation, reason = "at most SUMMARY_EVENTS")]
            let held = half.event_count as usize;
            half.event_count = (held + keep).min(SUMMARY_EVENTS) as u64;
        }
    }
    // Publish: the half is complete before it becomes the active one.
    header.active.store(next as u64, Ordering::Release);
}

/// The active half of the summary (what a dump shows).
///
/// # Safety
/// No writer runs concurrently.
unsafe fn active_half() -> &'static SummaryHalf {
    // SAFETY: the caller's contract (no writer runs); a static.
    let summary = unsafe { &*SUMMARY.get() };
    &summary.halves[usize::from(summary.active.load(Ordering::Acquire) & 1 == 1)]
}

/// `KeRegisterBugCheckCallback` with the summary buffer.
pub struct BugCheckCallback;

impl RegistrationOps for BugCheckCallback {
    type Args = ();
    type Token = ();
    const API: Api = Api::BugCheckCallback;

    /// Any IRQL. FALSE means failure (reported as `STATUS_UNSUCCESSFUL`).
    fn register((): ()) -> Result<(), Failure> {
        // SAFETY: DriverEntry: nothing else uses the summary yet.
        unsafe { refresh_summary(false, &[]) };
        // SAFETY: the record and buffer are resident static memory that
        // outlives the registration; the component string is static.
        let ok = unsafe {
            KeRegisterBugCheckCallback(
                BUGCHECK_RECORD.get(),
                Some(on_bugcheck),
                SUMMARY.get().cast(),
                SUMMARY_LEN,
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
    let _cost = crate::cost::Span::start(kcb_proto::SourceId::BugCheck);
    // SAFETY: at bug check the other processors are frozen; nothing else writes.
    unsafe { refresh_summary(true, &[]) };
    events::record(EventRecord::build(kind::NONE, |payload: &mut BugCheckPayload| {
        payload.buffer = SUMMARY.get() as u64;
        payload.buffer_length = SUMMARY_SIZE as u64;
        // SAFETY: just written above by this processor; no other writer.
        payload.records_saved = unsafe { active_half() }.event_count;
    }));
}

/// Records in the flight recorder at most.
pub const FLIGHT_RECORDS: usize = 120;

/// The flight recorder's blob: header + newest records, resident. The
/// records are gathered as 512-byte images, then re-encoded in place as
/// wire records (format v2, [`kcb_proto::stream`]).
#[repr(C, align(8))]
struct FlightBlob {
    header: FlightHeader,
    records: [EventRecord; FLIGHT_RECORDS],
}

static FLIGHT_RECORD: KernelCell<KBUGCHECK_REASON_CALLBACK_RECORD> =
    // SAFETY: all-zero is a valid, unregistered record.
    KernelCell::new(unsafe { core::mem::zeroed() });
/// Zero-initialised (so it takes no room in the image file: it lands in
/// the zero-fill part of `.data`); the header is written with each data
/// request, before the system reads the blob.
static FLIGHT: KernelCell<FlightBlob> = KernelCell::new(FlightBlob {
    // SAFETY: all-zero bytes are a valid `FlightHeader` (plain integers).
    header: unsafe { core::mem::zeroed() },
    records: [EventRecord::ZERO; FLIGHT_RECORDS],
});

/// `KeRegisterBugCheckReasonCallback(KbCallbackSecondaryDumpData)`: the
/// flight recorder.
pub struct FlightRecorder;

impl RegistrationOps for FlightRecorder {
    type Args = ();
    type Token = ();
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
    let _cost = crate::cost::Span::start(kcb_proto::SourceId::BugCheckReason);
    if reason != KbCallbackSecondaryDumpData
        || data.is_null()
        || (length as usize) < size_of::<KBUGCHECK_SECONDARY_DUMP_DATA>()
    {
        return;
    }
    // SAFETY: for this reason the system passes a KBUGCHECK_SECONDARY_DUMP_DATA
    // of `length` bytes (checked above), ours during the call.
    let dump = unsafe { &mut *data.cast::<KBUGCHECK_SECONDARY_DUMP_DATA>() };
    if (dump.MaximumAllowed as usize) < FLIGHT_HEADER_SIZE {
        // Not even the header fits: provide nothing (OutBuffer stays as the
        // system set it, length 0).
        dump.OutBufferLength = 0;
        return;
    }
    let count = records_within(dump.MaximumAllowed as usize).min(FLIGHT_RECORDS);
    let bytes = kcb_proto::flight::flight_size(count);
    let blob = FLIGHT.get();
    if dump.OutBuffer.is_null() {
        // Size query.
        dump.OutBuffer = blob.cast();
        dump.OutBufferLength = u32::try_from(bytes).unwrap_or(0);
        dump.Guid = flight_guid();
        return;
    }
    // Data request: fill our blob (the OutBuffer we gave) with the newest records.
    // SAFETY: at bug check the other processors are frozen; this is the only writer.
    let blob = unsafe { &mut *blob };
    // SAFETY: the consumers of every ring are frozen at bug check.
    let copied = unsafe { held::newest_held(&mut blob.records[..count]) };
    // Wire format v2: the records at their real size, back to back, in
    // place (no second buffer at HIGH_LEVEL).
    let length = kcb_proto::stream::compact_in_place(&mut blob.records[..copied]);
    blob.header = flight_header(
        u32::try_from(copied).unwrap_or(0),
        u32::try_from(length).unwrap_or(0),
    );
    dump.OutBuffer = ptr::from_mut(blob).cast();
    dump.OutBufferLength = u32::try_from(FLIGHT_HEADER_SIZE + length).unwrap_or(0);
    dump.Guid = flight_guid();
    events::record(EventRecord::build(
        kind::NONE,
        |payload: &mut BugCheckReasonPayload| {
            payload.reason = u32::try_from(reason).unwrap_or(0);
            payload.data_length = u64::from(dump.OutBufferLength);
        },
    ));
}

const fn flight_guid() -> GUID {
    let b = FLIGHT_GUID;
    GUID {
        Data1: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        Data2: u16::from_le_bytes([b[4], b[5]]),
        Data3: u16::from_le_bytes([b[6], b[7]]),
        Data4: [b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]],
    }
}

// ------------------------------------------------------- processor change

/// `KeRegisterProcessorChangeCallback(KE_PROCESSOR_CHANGE_ADD_EXISTING)`.
pub struct ProcessorChange;

impl RegistrationOps for ProcessorChange {
    type Args = ();
    type Token = Handle;
    const API: Api = Api::ProcessorChangeCallback;

    /// PASSIVE_LEVEL. With ADD_EXISTING the callback runs for every active
    /// processor before this returns. NULL means failure.
    fn register((): ()) -> Result<Handle, Failure> {
        let register =
            dynamic_fn!(REGISTER_PROCESSOR => RegisterProcessorFn).ok_or_else(Failure::not_exported)?;
        DEREGISTER_PROCESSOR.require()?;
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
    let _cost = crate::cost::Span::start(kcb_proto::SourceId::ProcessorChange);
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
