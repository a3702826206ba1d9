//! Kernel callbacks: bug check and bug check reason callbacks, NMI
//! callbacks, bound callbacks and processor change callbacks
//! (kernel-semantics.md §7-§11).
//!
//! * `KeRegisterBugCheckCallback` / `KeDeregisterBugCheckCallback`
//!   (wdm/nf-wdm-keregisterbugcheckcallback): any IRQL; TRUE/FALSE.
//!   The record must be initialised (`KeInitializeCallbackRecord` sets
//!   `State = BufferEmpty`); registering a record that is already registered
//!   is SILENT: FALSE (the record's `State` is not `BufferEmpty`).
//!   Deregistering a record not registered gives FALSE. Callbacks run at
//!   HIGH_LEVEL (wdm/nc-wdm-kbugcheck_callback_routine); the order is
//!   SILENT (registration order chosen). The record's `State` goes
//!   `BufferInserted` -> `BufferStarted` -> `BufferFinished`.
//! * Reason callbacks (wdm/nf-wdm-keregisterbugcheckreasoncallback): the
//!   same rules; `KbCallbackInvalid` and the reserved reasons are refused
//!   (SILENT which way: FALSE). `KbCallbackSecondaryDumpData` is delivered
//!   as documented (kernel/writing-a-bug-check-callback-routine): a size
//!   query with `OutBuffer == NULL`, then a data request with
//!   `OutBuffer == InBuffer` unless the routine supplied its own buffer.
//!   `KbCallbackAddPages` (same page): called with `Context = NULL` first,
//!   `Context` preserved between calls, again while the routine sets
//!   `KB_ADD_PAGES_FLAG_ADDITIONAL_RANGES_EXIST`; a range with both or
//!   neither of the VIRTUAL/PHYSICAL flags is an NSIM `InvalidParameter`.
//!   `KbCallbackDumpIo` (same page): every write of the dump, `Header`,
//!   then `Body`, then each `SecondaryData` block, `Offset` -1 for the
//!   sequential writes, and a final `KbDumpIoComplete` call with
//!   `Buffer = NULL`, `BufferLength = 0`. The other reasons
//!   (MultiPart, RemovePages, TriageDumpData) are not delivered.
//! * `KeRegisterNmiCallback` (wdm/nf-wdm-keregisternmicallback): `<= APC_LEVEL`,
//!   rule IrqlKeApcLte2; a handle or NULL. `KeDeregisterNmiCallback`:
//!   `STATUS_SUCCESS` or `STATUS_INVALID_HANDLE`. NMI callbacks run at
//!   HIGH_LEVEL in reverse registration order; the first gets
//!   `Handled = FALSE`, later ones TRUE once any returned TRUE. Whether
//!   deregistration waits is SILENT (it waits).
//! * `KeRegisterBoundCallback` (wdm/nf-wdm-keregisterboundcallback): IRQL
//!   SILENT (any); a handle or NULL; deregistration `STATUS_SUCCESS` or
//!   `STATUS_INVALID_HANDLE`. The model calls bound callbacks at
//!   PASSIVE_LEVEL in the faulting process (SILENT; user-mode exception
//!   dispatch), in registration order, until one does not return
//!   `BoundExceptionContinueSearch`.
//! * `KeRegisterProcessorChangeCallback` (wdm/nf-wdm-keregisterprocessorchangecallback):
//!   PASSIVE_LEVEL; with `KE_PROCESSOR_CHANGE_ADD_EXISTING` the callback is
//!   called synchronously with StartNotify for every active processor, then
//!   CompleteNotify for each; if a StartNotify fails no further processor
//!   is started and FailureNotify goes to the ones already started except
//!   the failing one. Writing `*OperationStatus` in any other state than
//!   StartNotify is an NSIM `InvalidParameter` (the write is ignored). The
//!   return value is AMBIG (page vs sample): the model
//!   follows the page, a handle whenever registration succeeded.
//!   `KeDeregisterProcessorChangeCallback`: PASSIVE_LEVEL; an unknown handle
//!   is an NSIM violation.

#![allow(non_snake_case)]

use std::sync::Mutex;

use wdk_sys::{
    _KBUGCHECK_BUFFER_DUMP_STATE::{BufferEmpty, BufferFinished, BufferInserted, BufferStarted},
    _KBUGCHECK_CALLBACK_REASON::{
        KbCallbackAddPages, KbCallbackDumpIo, KbCallbackInvalid, KbCallbackSecondaryDumpData,
    },
    _KBUGCHECK_DUMP_IO_TYPE::{KbDumpIoBody, KbDumpIoComplete, KbDumpIoHeader, KbDumpIoSecondaryData},
    _KE_PROCESSOR_CHANGE_NOTIFY_STATE::{
        KeProcessorAddCompleteNotify, KeProcessorAddFailureNotify, KeProcessorAddStartNotify,
    },
    BOOLEAN, GUID, KB_ADD_PAGES_FLAG_ADDITIONAL_RANGES_EXIST, KB_ADD_PAGES_FLAG_PHYSICAL_ADDRESS,
    KB_ADD_PAGES_FLAG_VIRTUAL_ADDRESS, KBUGCHECK_ADD_PAGES, KBUGCHECK_CALLBACK_REASON, KBUGCHECK_DUMP_IO,
    KBUGCHECK_SECONDARY_DUMP_DATA, KE_PROCESSOR_CHANGE_ADD_EXISTING, KE_PROCESSOR_CHANGE_NOTIFY_CONTEXT,
    NTSTATUS, PBOUND_CALLBACK, PKBUGCHECK_CALLBACK_RECORD, PKBUGCHECK_CALLBACK_ROUTINE,
    PKBUGCHECK_REASON_CALLBACK_RECORD, PKBUGCHECK_REASON_CALLBACK_ROUTINE, PNMI_CALLBACK,
    PPROCESSOR_CALLBACK_FUNCTION, PROCESSOR_NUMBER, PUCHAR, PVOID, STATUS_INVALID_HANDLE, STATUS_SUCCESS,
    ULONG,
};

use crate::context::{ContextScope, PROCESSOR_COUNT};
use crate::irql::{HIGH_LEVEL, IrqlScope, PASSIVE_LEVEL};
use crate::notify::Registry;
use crate::opaque::OpaqueHandles;
use crate::verifier::{self, ModelRule};
use crate::{context, ddi, sync::lock};

pub(crate) static BUGCHECK: Registry = Registry::new("bug check callback");
pub(crate) static BUGCHECK_REASON: Registry = Registry::new("bug check reason callback");
pub(crate) static NMI: Registry = Registry::new("NMI callback");
pub(crate) static BOUND: Registry = Registry::new("bound callback");
pub(crate) static PROCESSOR: Registry = Registry::new("processor change callback");

#[derive(Default)]
struct State {
    /// (record address, slot).
    records: Vec<(usize, u64)>,
    reason_records: Vec<(usize, u64)>,
    /// (handle, slot, routine, context).
    nmi: Vec<(usize, u64, usize, usize)>,
    bound: Vec<(usize, u64, usize)>,
    processor: Vec<(usize, u64, usize, usize)>,
    handles: OpaqueHandles,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut guard = lock(&STATE);
    f(guard.get_or_insert_with(State::default))
}

/// Deregisters the registration `handle` of the list `pick` selects (as
/// [`remove_keyed`]) from `registry` too, waiting for its running calls as
/// `ddi` does; `STATUS_INVALID_HANDLE` if `handle` is not registered.
fn deregister_handle<E>(
    ddi: &'static str,
    registry: &Registry,
    handle: PVOID,
    pick: impl FnOnce(&mut State) -> &mut Vec<E>,
    parts: impl Fn(&E) -> (usize, u64),
) -> NTSTATUS {
    let Some(slot) = remove_keyed(handle as usize, pick, parts) else {
        return STATUS_INVALID_HANDLE;
    };
    registry.remove(ddi, true, |s| s.id == slot);
    STATUS_SUCCESS
}

/// Removes the entry of the list `pick` selects whose key (first field) is
/// `key`; returns its slot (second field), or `None` if none has that key.
fn remove_keyed<E>(
    key: usize,
    pick: impl FnOnce(&mut State) -> &mut Vec<E>,
    parts: impl Fn(&E) -> (usize, u64),
) -> Option<u64> {
    with_state(|s| {
        let list = pick(s);
        let position = list.iter().position(|e| parts(e).0 == key)?;
        Some(parts(&list.remove(position)).1)
    })
}

// --- Bug check callbacks ---------------------------------------------------------------

/// `KeRegisterBugCheckCallback` (wdm/nf-wdm-keregisterbugcheckcallback).
///
/// # Safety
/// `callback_record` is a resident, initialised record; the routine, buffer
/// and component stay valid until deregistered.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeRegisterBugCheckCallback(
    callback_record: PKBUGCHECK_CALLBACK_RECORD,
    callback_routine: PKBUGCHECK_CALLBACK_ROUTINE,
    buffer: PVOID,
    length: ULONG,
    component: PUCHAR,
) -> BOOLEAN {
    let entry = ddi::enter(&ddi::KE_REGISTER_BUG_CHECK_CALLBACK);
    if entry.fault.is_some() {
        return 0;
    }
    let Some(routine) = callback_routine else {
        return 0;
    };
    if callback_record.is_null() {
        return 0;
    }
    // SAFETY: a writable record per the caller.
    let record = unsafe { &mut *callback_record };
    if u32::from(record.State) != BufferEmpty.cast_unsigned() {
        return 0;
    }
    record.CallbackRoutine = callback_routine;
    record.Buffer = buffer;
    record.Length = length;
    record.Component = component;
    record.Checksum = (routine as usize as u64)
        .wrapping_add(buffer as u64)
        .wrapping_add(u64::from(length))
        .wrapping_add(component as u64);
    record.State = u8::try_from(BufferInserted).unwrap_or(1);
    let slot = BUGCHECK.add(routine as usize, 0, 0);
    with_state(|s| s.records.push((callback_record as usize, slot)));
    1
}

/// `KeDeregisterBugCheckCallback` (wdm/nf-wdm-kederegisterbugcheckcallback).
///
/// # Safety
/// `callback_record` is a record.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeDeregisterBugCheckCallback(
    callback_record: PKBUGCHECK_CALLBACK_RECORD,
) -> BOOLEAN {
    ddi::enter(&ddi::KE_DEREGISTER_BUG_CHECK_CALLBACK);
    let slot = remove_keyed(callback_record as usize, |s| &mut s.records, |e| *e);
    let Some(slot) = slot else { return 0 };
    BUGCHECK.remove("KeDeregisterBugCheckCallback", true, |s| s.id == slot);
    // SAFETY: a registered (hence valid) record.
    unsafe { (*callback_record).State = u8::try_from(BufferEmpty).unwrap_or(0) };
    1
}

/// `KeRegisterBugCheckReasonCallback` (wdm/nf-wdm-keregisterbugcheckreasoncallback).
///
/// # Safety
/// As [`KeRegisterBugCheckCallback`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeRegisterBugCheckReasonCallback(
    callback_record: PKBUGCHECK_REASON_CALLBACK_RECORD,
    callback_routine: PKBUGCHECK_REASON_CALLBACK_ROUTINE,
    reason: KBUGCHECK_CALLBACK_REASON,
    component: PUCHAR,
) -> BOOLEAN {
    let entry = ddi::enter(&ddi::KE_REGISTER_BUG_CHECK_REASON_CALLBACK);
    if entry.fault.is_some() {
        return 0;
    }
    let Some(routine) = callback_routine else {
        return 0;
    };
    // wdm/ne-wdm-_kbugcheck_callback_reason: Invalid and the reserved values must not be used.
    if callback_record.is_null() || reason == KbCallbackInvalid || reason == 1 || reason > 7 {
        return 0;
    }
    // SAFETY: a writable record per the caller.
    let record = unsafe { &mut *callback_record };
    if u32::from(record.State) != BufferEmpty.cast_unsigned() {
        return 0;
    }
    record.CallbackRoutine = callback_routine;
    record.Component = component;
    record.Reason = reason;
    record.Checksum = (routine as usize as u64)
        .wrapping_add(u64::from(reason.cast_unsigned()))
        .wrapping_add(component as u64);
    record.State = u8::try_from(BufferInserted).unwrap_or(1);
    let slot = BUGCHECK_REASON.add(routine as usize, reason.cast_unsigned(), 0);
    with_state(|s| s.reason_records.push((callback_record as usize, slot)));
    1
}

/// `KeDeregisterBugCheckReasonCallback` (wdm/nf-wdm-kederegisterbugcheckreasoncallback).
///
/// # Safety
/// `callback_record` is a record.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeDeregisterBugCheckReasonCallback(
    callback_record: PKBUGCHECK_REASON_CALLBACK_RECORD,
) -> BOOLEAN {
    ddi::enter(&ddi::KE_DEREGISTER_BUG_CHECK_REASON_CALLBACK);
    let slot = remove_keyed(callback_record as usize, |s| &mut s.reason_records, |e| *e);
    let Some(slot) = slot else { return 0 };
    BUGCHECK_REASON.remove("KeDeregisterBugCheckReasonCallback", true, |s| s.id == slot);
    // SAFETY: a registered (hence valid) record.
    unsafe { (*callback_record).State = u8::try_from(BufferEmpty).unwrap_or(0) };
    1
}

/// Secondary dump data one reason callback produced.
#[derive(Clone, Debug)]
pub struct SecondaryDump {
    /// The GUID the routine tagged the data with.
    pub guid: GUID,
    /// The bytes (at most `MaximumAllowed` of them).
    pub data: Vec<u8>,
    /// `OutBufferLength` as the routine set it in the size query.
    pub size_query_length: u32,
    /// `OutBufferLength` as the routine set it in the data request.
    pub out_buffer_length: u32,
    /// Whether the routine supplied its own buffer (`OutBuffer != InBuffer`).
    pub own_buffer: bool,
    /// The `MaximumAllowed` the system passed.
    pub maximum_allowed: u32,
}

/// A bug check callback's buffer, as it was after the callback returned.
#[derive(Clone, Debug)]
pub struct CallbackBuffer {
    /// The record's `Component` string (NULL: `None`).
    pub component: Option<String>,
    /// The buffer's address.
    pub address: usize,
    /// Its `Length`.
    pub length: u32,
    /// Its bytes (with [`BugCheckOptions::copy_callback_buffers`]).
    pub data: Vec<u8>,
}

/// How the system offers secondary dump data space to
/// `KbCallbackSecondaryDumpData` routines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BugCheckOptions {
    /// `InBufferLength`: the system's own buffer.
    pub in_buffer_length: u32,
    /// `MaximumAllowed`: the most a routine may provide.
    pub maximum_allowed: u32,
    /// Copy each bug check callback's buffer into the report (the buffer
    /// must then be real, resident memory of `Length` bytes, as the
    /// documentation requires; off by default so a test may register a
    /// dummy pointer).
    pub copy_callback_buffers: bool,
}

impl Default for BugCheckOptions {
    fn default() -> Self {
        Self {
            in_buffer_length: 4096,
            maximum_allowed: 4096,
            copy_callback_buffers: false,
        }
    }
}

/// What a simulated bug check collected.
#[derive(Clone, Debug, Default)]
pub struct BugCheckReport {
    /// The bug check callbacks' buffers, in call order.
    pub callback_buffers: Vec<CallbackBuffer>,
    /// The secondary dump data, in call order.
    pub secondary: Vec<SecondaryDump>,
    /// The ranges `KbCallbackAddPages` routines added, in call order.
    pub added_pages: Vec<AddedPages>,
    /// The writes `KbCallbackDumpIo` routines were told about, in call order.
    pub dump_io: Vec<DumpIoCall>,
}

/// One range a `KbCallbackAddPages` routine added to the dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddedPages {
    /// `Flags` as the routine set them.
    pub flags: u32,
    /// `Address` (virtual or physical, per `flags`).
    pub address: u64,
    /// `Count` (pages).
    pub count: u64,
    /// `Context` as the routine left it (handed back on its next call).
    pub context: usize,
}

/// One `KbCallbackDumpIo` call: what the dump writer was writing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DumpIoCall {
    /// `Type` (`KbDumpIoHeader` .. `KbDumpIoComplete`).
    pub kind: i32,
    /// `Offset` (`u64::MAX`, i.e. -1, for sequential writes).
    pub offset: u64,
    /// `BufferLength`.
    pub length: u32,
    /// Whether `Buffer` was NULL.
    pub null_buffer: bool,
}

/// How often an AddPages routine may ask to be called again before the
/// model stops (a routine that always sets ADDITIONAL_RANGES_EXIST would
/// loop forever).
const ADD_PAGES_CALLS: usize = 256;

/// The machine crashes with `code`: every bug check callback runs at
/// HIGH_LEVEL with its buffer, then every `KbCallbackSecondaryDumpData`
/// reason callback (size query, then data request). Returns the secondary
/// dump data collected. The model goes on afterwards (a test is not a crash).
#[must_use = "the secondary dump data collected"]
pub fn bug_check(code: u32) -> Vec<SecondaryDump> {
    bug_check_with(code, BugCheckOptions::default()).secondary
}

/// As [`bug_check`], with the secondary-data space in `options`, returning
/// the callbacks' buffers too.
///
/// As `KeBugCheckEx` does, the other processors are stopped first (every
/// other thread of the model parks at its next DDI call or wait until this
/// returns; [`crate::ke`]), so the callbacks run alone, as
/// kernel/writing-a-bug-check-callback-routine assumes (no locks). Then:
/// * each bug check callback (wdm/nc-wdm-kbugcheck_callback_routine) runs
///   at HIGH_LEVEL with its `Buffer` and `Length`; the buffer is copied out
///   after the call if `options` ask for it;
/// * each `KbCallbackSecondaryDumpData` routine gets a
///   `KBUGCHECK_SECONDARY_DUMP_DATA` with `InBuffer`/`InBufferLength`/
///   `MaximumAllowed` filled and `OutBuffer == NULL` (size query); if it set
///   `OutBuffer` or `OutBufferLength`, it is called again with `OutBuffer`
///   = its own buffer, or `InBuffer` if it set none (data request).
///   Enforcement of `MaximumAllowed` is SILENT in the documentation: the
///   model records NSIM `InvalidParameter` when a routine reports more than
///   `MaximumAllowed` (or, in `InBuffer`, more than `InBufferLength`), and
///   keeps only `MaximumAllowed` bytes.
#[must_use = "what the bug check collected"]
pub fn bug_check_with(code: u32, options: BugCheckOptions) -> BugCheckReport {
    let _frozen = crate::thread::freeze_other_processors();
    let _irql = IrqlScope::enter(HIGH_LEVEL);
    let mut report = BugCheckReport::default();
    let records = with_state(|s| s.records.clone());
    for (record, slot) in records {
        let record = record as PKBUGCHECK_CALLBACK_RECORD;
        // SAFETY: a registered record (resident, per the registration contract).
        let registered = unsafe { &*record };
        let (routine, buffer, length, component) = (
            registered.CallbackRoutine,
            registered.Buffer,
            registered.Length,
            registered.Component,
        );
        let Some(routine) = routine else { continue };
        // SAFETY: as above.
        unsafe { (*record).State = u8::try_from(BufferStarted).unwrap_or(2) };
        let called = BUGCHECK.invoke(slot, || {
            // SAFETY: the registered routine with its own buffer.
            unsafe { routine(buffer, length) };
        });
        // SAFETY: as above.
        unsafe { (*record).State = u8::try_from(BufferFinished).unwrap_or(3) };
        if called.is_none() {
            continue;
        }
        let data = if !options.copy_callback_buffers || buffer.is_null() || length == 0 {
            Vec::new()
        } else {
            // SAFETY: the resident buffer of `Length` bytes the driver registered.
            unsafe { std::slice::from_raw_parts(buffer.cast::<u8>(), length as usize) }.to_vec()
        };
        let component = (!component.is_null()).then(|| {
            // SAFETY: the NUL-terminated component string the driver registered.
            unsafe { std::ffi::CStr::from_ptr(component.cast()) }
                .to_string_lossy()
                .into_owned()
        });
        report.callback_buffers.push(CallbackBuffer {
            component,
            address: buffer as usize,
            length,
            data,
        });
    }
    let reason_records = with_state(|s| s.reason_records.clone());
    let of_reason = |wanted: KBUGCHECK_CALLBACK_REASON| {
        reason_records.iter().filter_map(move |&(record, slot)| {
            let record = record as PKBUGCHECK_REASON_CALLBACK_RECORD;
            // SAFETY: a registered record (resident, per the registration contract).
            let registered = unsafe { &*record };
            (registered.Reason == wanted)
                .then_some(registered.CallbackRoutine)
                .flatten()
                .map(|routine| (record, slot, routine))
        })
    };
    for (record, slot, routine) in of_reason(KbCallbackAddPages) {
        add_pages(code, slot, routine, record, &mut report.added_pages);
    }
    for (record, slot, routine) in of_reason(KbCallbackSecondaryDumpData) {
        if let Some(dump) = secondary_dump(slot, Some(routine), KbCallbackSecondaryDumpData, record, options)
        {
            report.secondary.push(dump);
        }
    }
    let dump_io: Vec<_> = of_reason(KbCallbackDumpIo).collect();
    if !dump_io.is_empty() {
        write_dump(&dump_io, &report.secondary, &mut report.dump_io);
    }
    report
}

/// The `KbCallbackAddPages` calls of one routine (see the module docs).
fn add_pages(
    code: u32,
    slot: u64,
    routine: unsafe extern "C" fn(KBUGCHECK_CALLBACK_REASON, PKBUGCHECK_REASON_CALLBACK_RECORD, PVOID, ULONG),
    record: PKBUGCHECK_REASON_CALLBACK_RECORD,
    added: &mut Vec<AddedPages>,
) {
    let size = u32::try_from(std::mem::size_of::<KBUGCHECK_ADD_PAGES>()).unwrap_or(0);
    // Context is NULL before the first call and preserved between calls.
    let mut context: PVOID = std::ptr::null_mut();
    for _ in 0..ADD_PAGES_CALLS {
        let mut pages = KBUGCHECK_ADD_PAGES {
            Context: context,
            Flags: 0,
            BugCheckCode: code,
            Address: 0,
            Count: 0,
        };
        let called = BUGCHECK_REASON.invoke(slot, || {
            // SAFETY: the registered routine with a valid add-pages structure.
            unsafe { routine(KbCallbackAddPages, record, (&raw mut pages).cast(), size) };
        });
        if called.is_none() {
            return;
        }
        context = pages.Context;
        let kind = pages.Flags & (KB_ADD_PAGES_FLAG_VIRTUAL_ADDRESS | KB_ADD_PAGES_FLAG_PHYSICAL_ADDRESS);
        if kind == KB_ADD_PAGES_FLAG_VIRTUAL_ADDRESS || kind == KB_ADD_PAGES_FLAG_PHYSICAL_ADDRESS {
            added.push(AddedPages {
                flags: pages.Flags,
                address: pages.Address,
                count: pages.Count,
                context: context as usize,
            });
        } else if kind != 0 || pages.Count != 0 {
            verifier::model_rule(
                ModelRule::InvalidParameter,
                u64::from(pages.Flags),
                format!(
                    "KbCallbackAddPages: Flags {:#x} must have exactly one of KB_ADD_PAGES_FLAG_VIRTUAL_ADDRESS and KB_ADD_PAGES_FLAG_PHYSICAL_ADDRESS",
                    pages.Flags
                ),
            );
        }
        if pages.Flags & KB_ADD_PAGES_FLAG_ADDITIONAL_RANGES_EXIST == 0 {
            return;
        }
    }
    verifier::model_rule(
        ModelRule::InvalidParameter,
        ADD_PAGES_CALLS as u64,
        format!(
            "KbCallbackAddPages: still asking for more calls (ADDITIONAL_RANGES_EXIST) after {ADD_PAGES_CALLS}"
        ),
    );
}

/// The dump writer: tells every `KbCallbackDumpIo` routine about each write
/// (header, body, each secondary data block, then completion).
fn write_dump(
    routines: &[(
        PKBUGCHECK_REASON_CALLBACK_RECORD,
        u64,
        unsafe extern "C" fn(KBUGCHECK_CALLBACK_REASON, PKBUGCHECK_REASON_CALLBACK_RECORD, PVOID, ULONG),
    )],
    secondary: &[SecondaryDump],
    calls: &mut Vec<DumpIoCall>,
) {
    const SEQUENTIAL: u64 = u64::MAX;
    let mut header = vec![0u8; 0x1000];
    header[..8].copy_from_slice(b"PAGEDU64");
    let mut body = vec![0u8; 0x1000];
    let mut blocks: Vec<Vec<u8>> = secondary.iter().map(|d| d.data.clone()).collect();
    let mut writes: Vec<(i32, u64, PVOID, u32)> = vec![
        (KbDumpIoHeader, 0, header.as_mut_ptr().cast(), 0x1000),
        (KbDumpIoBody, SEQUENTIAL, body.as_mut_ptr().cast(), 0x1000),
    ];
    for block in &mut blocks {
        let length = u32::try_from(block.len()).unwrap_or(u32::MAX);
        writes.push((
            KbDumpIoSecondaryData,
            SEQUENTIAL,
            block.as_mut_ptr().cast(),
            length,
        ));
    }
    writes.push((KbDumpIoComplete, SEQUENTIAL, std::ptr::null_mut(), 0));
    let size = u32::try_from(std::mem::size_of::<KBUGCHECK_DUMP_IO>()).unwrap_or(0);
    for (kind, offset, buffer, length) in writes {
        for &(record, slot, routine) in routines {
            let mut io = KBUGCHECK_DUMP_IO {
                Offset: offset,
                Buffer: buffer,
                BufferLength: length,
                Type: kind,
            };
            let called = BUGCHECK_REASON.invoke(slot, || {
                // SAFETY: the registered routine with a valid dump-I/O structure.
                unsafe { routine(KbCallbackDumpIo, record, (&raw mut io).cast(), size) };
            });
            if called.is_some() {
                calls.push(DumpIoCall {
                    kind,
                    offset,
                    length,
                    null_buffer: buffer.is_null(),
                });
            }
        }
    }
}

fn secondary_dump(
    slot: u64,
    routine: PKBUGCHECK_REASON_CALLBACK_ROUTINE,
    reason: KBUGCHECK_CALLBACK_REASON,
    record: PKBUGCHECK_REASON_CALLBACK_RECORD,
    options: BugCheckOptions,
) -> Option<SecondaryDump> {
    let routine = routine?;
    let mut in_buffer = vec![0u8; options.in_buffer_length as usize];
    // SAFETY: plain data; zeroed is valid.
    let mut data: KBUGCHECK_SECONDARY_DUMP_DATA = unsafe { std::mem::zeroed() };
    data.InBuffer = in_buffer.as_mut_ptr().cast();
    data.InBufferLength = options.in_buffer_length;
    data.MaximumAllowed = options.maximum_allowed;
    let size = u32::try_from(std::mem::size_of::<KBUGCHECK_SECONDARY_DUMP_DATA>()).unwrap_or(0);
    let call = |data: &mut KBUGCHECK_SECONDARY_DUMP_DATA| {
        BUGCHECK_REASON.invoke(slot, || {
            // SAFETY: the registered routine with a valid dump-data structure.
            unsafe { routine(reason, record, std::ptr::from_mut(data).cast(), size) };
        })
    };
    call(&mut data)?;
    let size_query_length = data.OutBufferLength;
    check_length("size query", &data, options);
    if data.OutBuffer.is_null() && data.OutBufferLength == 0 {
        return None;
    }
    if data.OutBuffer.is_null() {
        data.OutBuffer = data.InBuffer;
    }
    call(&mut data)?;
    check_length("data request", &data, options);
    let own_buffer = data.OutBuffer != data.InBuffer;
    let length = (data.OutBufferLength as usize).min(data.MaximumAllowed as usize);
    let bytes = if !data.OutBuffer.is_null() && length > 0 {
        // SAFETY: the routine's output buffer of OutBufferLength bytes (capped).
        unsafe { std::slice::from_raw_parts(data.OutBuffer.cast::<u8>(), length) }.to_vec()
    } else {
        Vec::new()
    };
    drop(in_buffer);
    Some(SecondaryDump {
        guid: data.Guid,
        data: bytes,
        size_query_length,
        out_buffer_length: data.OutBufferLength,
        own_buffer,
        maximum_allowed: options.maximum_allowed,
    })
}

/// The NSIM checks of a secondary-dump-data answer (see [`bug_check_with`]).
fn check_length(step: &str, data: &KBUGCHECK_SECONDARY_DUMP_DATA, options: BugCheckOptions) {
    if data.OutBufferLength > options.maximum_allowed {
        verifier::model_rule(
            ModelRule::InvalidParameter,
            u64::from(data.OutBufferLength),
            format!(
                "KbCallbackSecondaryDumpData {step}: OutBufferLength {} exceeds MaximumAllowed {}",
                data.OutBufferLength, options.maximum_allowed
            ),
        );
    } else if data.OutBuffer == data.InBuffer
        && !data.OutBuffer.is_null()
        && data.OutBufferLength > options.in_buffer_length
    {
        verifier::model_rule(
            ModelRule::InvalidParameter,
            u64::from(data.OutBufferLength),
            format!(
                "KbCallbackSecondaryDumpData {step}: OutBufferLength {} in InBuffer exceeds InBufferLength {}",
                data.OutBufferLength, options.in_buffer_length
            ),
        );
    }
}

// --- NMI ------------------------------------------------------------------------------

/// `KeRegisterNmiCallback` (wdm/nf-wdm-keregisternmicallback).
///
/// # Safety
/// The routine stays callable until deregistered.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeRegisterNmiCallback(callback_routine: PNMI_CALLBACK, context: PVOID) -> PVOID {
    let entry = ddi::enter(&ddi::KE_REGISTER_NMI_CALLBACK);
    let Some(routine) = callback_routine.filter(|_| entry.fault.is_none()) else {
        return std::ptr::null_mut();
    };
    let slot = NMI.add(routine as usize, 0, 0);
    with_state(|s| {
        let handle = s.handles.issue(u64::from_le_bytes(*b"NmiCb\0\0\0"));
        s.nmi.push((handle, slot, routine as usize, context as usize));
        handle as PVOID
    })
}

/// `KeDeregisterNmiCallback` (wdm/nf-wdm-kederegisternmicallback).
///
/// # Safety
/// None beyond the C ABI.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeDeregisterNmiCallback(handle: PVOID) -> NTSTATUS {
    ddi::enter(&ddi::KE_DEREGISTER_NMI_CALLBACK);
    deregister_handle(
        "KeDeregisterNmiCallback",
        &NMI,
        handle,
        |s| &mut s.nmi,
        |e| (e.0, e.1),
    )
}

/// A non-maskable interrupt: the NMI callbacks run at HIGH_LEVEL, last
/// registered first. Returns whether one handled it (if none did, the HAL's
/// default handler would normally bug check).
#[must_use = "whether the NMI was handled"]
pub fn nmi() -> bool {
    let _irql = IrqlScope::enter(HIGH_LEVEL);
    let mut handled = false;
    let callbacks = with_state(|s| s.nmi.clone());
    for (_, slot, routine, context) in callbacks.into_iter().rev() {
        // SAFETY: stored as a PNMI_CALLBACK.
        let Some(routine) = (unsafe { std::mem::transmute::<usize, PNMI_CALLBACK>(routine) }) else {
            continue;
        };
        let result = NMI.invoke(slot, || {
            // SAFETY: the registered routine with its context.
            unsafe { routine(context as PVOID, u8::from(handled)) }
        });
        handled |= result.is_some_and(|r| r != 0);
    }
    handled
}

// --- Bound ----------------------------------------------------------------------------

/// `KeRegisterBoundCallback` (wdm/nf-wdm-keregisterboundcallback).
///
/// # Safety
/// The routine stays callable until deregistered.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeRegisterBoundCallback(callback_routine: PBOUND_CALLBACK) -> PVOID {
    let entry = ddi::enter(&ddi::KE_REGISTER_BOUND_CALLBACK);
    let Some(routine) = callback_routine.filter(|_| entry.fault.is_none()) else {
        return std::ptr::null_mut();
    };
    let slot = BOUND.add(routine as usize, 0, 0);
    with_state(|s| {
        let handle = s.handles.issue(u64::from_le_bytes(*b"BoundCb\0"));
        s.bound.push((handle, slot, routine as usize));
        handle as PVOID
    })
}

/// `KeDeregisterBoundCallback` (wdm/nf-wdm-kederegisterboundcallback).
///
/// # Safety
/// None beyond the C ABI.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeDeregisterBoundCallback(handle: PVOID) -> NTSTATUS {
    ddi::enter(&ddi::KE_DEREGISTER_BOUND_CALLBACK);
    deregister_handle(
        "KeDeregisterBoundCallback",
        &BOUND,
        handle,
        |s| &mut s.bound,
        |e| (e.0, e.1),
    )
}

/// A user-mode bound-range-exceeded exception in process `pid`: bound
/// callbacks run until one does not return `BoundExceptionContinueSearch`.
/// Returns that status (or `BoundExceptionContinueSearch`).
#[must_use = "the status the callbacks produced"]
pub fn bound_exception(pid: u64) -> i32 {
    let _context = ContextScope::enter(pid, Some(context::new_tid()), context::phase());
    let _irql = IrqlScope::enter(PASSIVE_LEVEL);
    let callbacks = with_state(|s| s.bound.clone());
    for (_, slot, routine) in callbacks {
        // SAFETY: stored as a PBOUND_CALLBACK.
        let Some(routine) = (unsafe { std::mem::transmute::<usize, PBOUND_CALLBACK>(routine) }) else {
            continue;
        };
        // SAFETY: the registered routine.
        let status = BOUND.invoke(slot, || unsafe { routine() }).unwrap_or(0);
        if status != 0 {
            return status;
        }
    }
    0
}

// --- Processor change -------------------------------------------------------------------

fn processor_context(state: i32, number: u32, status: NTSTATUS) -> KE_PROCESSOR_CHANGE_NOTIFY_CONTEXT {
    KE_PROCESSOR_CHANGE_NOTIFY_CONTEXT {
        State: state,
        NtNumber: number,
        Status: status,
        ProcNumber: PROCESSOR_NUMBER {
            Group: 0,
            Number: u8::try_from(number).unwrap_or(u8::MAX),
            Reserved: 0,
        },
    }
}

fn call_processor(
    slot: u64,
    routine: usize,
    context: usize,
    change: &mut KE_PROCESSOR_CHANGE_NOTIFY_CONTEXT,
) -> NTSTATUS {
    // SAFETY: stored as a PPROCESSOR_CALLBACK_FUNCTION.
    let Some(routine) = (unsafe { std::mem::transmute::<usize, PPROCESSOR_CALLBACK_FUNCTION>(routine) })
    else {
        return STATUS_SUCCESS;
    };
    let mut status = STATUS_SUCCESS;
    let _irql = IrqlScope::enter(PASSIVE_LEVEL);
    PROCESSOR.invoke(slot, || {
        // SAFETY: the registered routine with a context and status valid for the call.
        unsafe {
            routine(context as PVOID, std::ptr::from_mut(change), &raw mut status);
        };
    });
    if change.State != KeProcessorAddStartNotify && status != STATUS_SUCCESS {
        // wdm/nf-wdm-keregisterprocessorchangecallback: the callback may set
        // *OperationStatus only while handling KeProcessorAddStartNotify.
        // The write is ignored.
        verifier::model_rule(
            ModelRule::InvalidParameter,
            u64::from(status.cast_unsigned()),
            format!(
                "processor change callback wrote *OperationStatus = {:#010X} during state {} (only KeProcessorAddStartNotify may)",
                status.cast_unsigned(),
                change.State
            ),
        );
        return STATUS_SUCCESS;
    }
    status
}

/// `KeRegisterProcessorChangeCallback` (wdm/nf-wdm-keregisterprocessorchangecallback).
///
/// # Safety
/// The routine stays callable until deregistered.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeRegisterProcessorChangeCallback(
    callback_function: PPROCESSOR_CALLBACK_FUNCTION,
    callback_context: PVOID,
    flags: ULONG,
) -> PVOID {
    let entry = ddi::enter(&ddi::KE_REGISTER_PROCESSOR_CHANGE_CALLBACK);
    let Some(routine) = callback_function.filter(|_| entry.fault.is_none()) else {
        return std::ptr::null_mut();
    };
    let slot = PROCESSOR.add(routine as usize, 0, 0);
    let handle = with_state(|s| {
        let handle = s.handles.issue(u64::from_le_bytes(*b"ProcCb\0\0"));
        s.processor
            .push((handle, slot, routine as usize, callback_context as usize));
        handle
    });
    if flags & KE_PROCESSOR_CHANGE_ADD_EXISTING != 0 {
        let mut started = Vec::new();
        let mut failed = false;
        for number in 0..PROCESSOR_COUNT {
            let mut change = processor_context(KeProcessorAddStartNotify, number, STATUS_SUCCESS);
            let status = call_processor(slot, routine as usize, callback_context as usize, &mut change);
            if status < 0 {
                failed = true;
                break;
            }
            started.push(number);
        }
        let state = if failed {
            KeProcessorAddFailureNotify
        } else {
            KeProcessorAddCompleteNotify
        };
        for number in started {
            let mut change = processor_context(state, number, STATUS_SUCCESS);
            let _ = call_processor(slot, routine as usize, callback_context as usize, &mut change);
        }
    }
    handle as PVOID
}

/// `KeDeregisterProcessorChangeCallback` (wdm/nf-wdm-kederegisterprocessorchangecallback).
///
/// # Safety
/// None beyond the C ABI.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeDeregisterProcessorChangeCallback(callback_handle: PVOID) {
    ddi::enter(&ddi::KE_DEREGISTER_PROCESSOR_CHANGE_CALLBACK);
    let slot = remove_keyed(callback_handle as usize, |s| &mut s.processor, |e| (e.0, e.1));
    match slot {
        Some(slot) => {
            PROCESSOR.remove("KeDeregisterProcessorChangeCallback", true, |s| s.id == slot);
        }
        None => {
            verifier::model_rule(
                ModelRule::UnknownObject,
                callback_handle as u64,
                format!("KeDeregisterProcessorChangeCallback({callback_handle:p}): not a registered handle"),
            );
        }
    }
}

/// Hot-adds processor `number` for the processor change callbacks:
/// StartNotify to each (stopping at the first error), then CompleteNotify
/// to all, or FailureNotify to those started before the failing one.
/// Returns the first error (or `STATUS_SUCCESS`).
pub(crate) fn processor_added(number: u32) -> NTSTATUS {
    let callbacks = with_state(|s| s.processor.clone());
    let mut started = Vec::new();
    let mut failure = STATUS_SUCCESS;
    for (_, slot, routine, context) in &callbacks {
        let mut change = processor_context(KeProcessorAddStartNotify, number, STATUS_SUCCESS);
        let status = call_processor(*slot, *routine, *context, &mut change);
        if status < 0 {
            failure = status;
            break;
        }
        started.push((*slot, *routine, *context));
    }
    let state = if failure < 0 {
        KeProcessorAddFailureNotify
    } else {
        KeProcessorAddCompleteNotify
    };
    for (slot, routine, context) in started {
        let mut change = processor_context(state, number, failure);
        let _ = call_processor(slot, routine, context, &mut change);
    }
    failure
}

pub(crate) fn reset() {
    for registry in [&BUGCHECK, &BUGCHECK_REASON, &NMI, &BOUND, &PROCESSOR] {
        registry.reset();
    }
    let old = lock(&STATE).take();
    std::mem::forget(old);
}
