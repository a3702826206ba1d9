//! The drain: a system thread that empties the event ring at PASSIVE_LEVEL,
//! prints each event with `DbgPrintEx` (rate-limited) and moves it on to the
//! user-mode client's queue.
//!
//! Formatting and printing happen here, never in a notify routine. The
//! thread wakes every [`TICK_MS`] ms, or at once when signalled at unload.

use core::{
    fmt::Write,
    mem::MaybeUninit,
    ptr,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
};

use kcb_proto::{EventRecord, RECORD_SIZE, write_text};
use wdk_sys::{
    _EVENT_TYPE::SynchronizationEvent,
    _KWAIT_REASON::Executive,
    HANDLE, KEVENT, LARGE_INTEGER, OBJ_KERNEL_HANDLE, OBJECT_ATTRIBUTES, STATUS_SUCCESS, THREAD_ALL_ACCESS,
    ntddk::{
        KeInitializeEvent, KeSetEvent, KeWaitForSingleObject, PsCreateSystemThread, PsTerminateSystemThread,
        ZwClose, ZwWaitForSingleObject,
    },
};

use crate::{
    guard::{Failure, RegistrationOps, check},
    kernel::{KERNEL_MODE, KernelCell},
    log::{self, LineBuffer},
    report::Api,
    rings::{self, RingSet},
};

/// Wake-up period of the drain thread.
pub const TICK_MS: i64 = 100;

/// Debug lines printed per tick at most; the rest is counted and reported
/// as "N lines suppressed" (DbgPrint is slow and DbgView drops floods).
pub const LINES_PER_TICK: u32 = 32;

/// Event the drain thread waits on (nonpaged: static in the image). Only
/// touched through Ke* routines, which synchronise internally; initialised
/// before the thread that waits on it starts.
static WAKE: KernelCell<MaybeUninit<KEVENT>> = KernelCell::new(MaybeUninit::zeroed());
static STOP: AtomicBool = AtomicBool::new(false);
/// Lines not printed because of the rate limit, in total.
pub static SUPPRESSED_LINES: AtomicU64 = AtomicU64::new(0);

fn wake_event() -> *mut KEVENT {
    WAKE.get().cast()
}

/// The drain system thread.
pub struct DrainThread;

/// Kernel handle of the running drain thread.
pub struct ThreadHandle(HANDLE);

impl RegistrationOps for DrainThread {
    type Args = ();
    type Token = ThreadHandle;
    const API: Api = Api::DrainThread;

    /// `PsCreateSystemThread`. PASSIVE_LEVEL.
    fn register((): ()) -> Result<ThreadHandle, Failure> {
        STOP.store(false, Ordering::Release);
        // SAFETY: the static event is not in use (no drain thread runs).
        unsafe { KeInitializeEvent(wake_event(), SynchronizationEvent, 0) };
        let mut attributes = OBJECT_ATTRIBUTES {
            #[allow(clippy::cast_possible_truncation, reason = "48 bytes")]
            Length: size_of::<OBJECT_ATTRIBUTES>() as u32,
            Attributes: OBJ_KERNEL_HANDLE,
            ..OBJECT_ATTRIBUTES::default()
        };
        let mut handle: HANDLE = ptr::null_mut();
        // SAFETY: valid out-pointer and attributes; the start routine is a
        // 'static function that lives until the thread has exited (unregister
        // waits for it).
        let status = unsafe {
            PsCreateSystemThread(
                &raw mut handle,
                THREAD_ALL_ACCESS,
                &raw mut attributes,
                ptr::null_mut(),
                ptr::null_mut(),
                Some(drain_main),
                ptr::null_mut(),
            )
        };
        check(status)?;
        Ok(ThreadHandle(handle))
    }

    unsafe fn unregister(token: ThreadHandle) {
        STOP.store(true, Ordering::Release);
        // SAFETY: the event was initialised in register.
        let _ = unsafe { KeSetEvent(wake_event(), 0, 0) };
        // SAFETY: a kernel handle to our thread; waiting at PASSIVE_LEVEL with
        // no timeout until it exits (it exits promptly once STOP is seen).
        let _ = unsafe { ZwWaitForSingleObject(token.0, 0, ptr::null_mut()) };
        // SAFETY: closing our own kernel handle once.
        let _ = unsafe { ZwClose(token.0) };
    }
}

/// Thread body: drain every tick until told to stop, then drain once more.
unsafe extern "C" fn drain_main(_context: *mut core::ffi::c_void) {
    loop {
        let stopping = STOP.load(Ordering::Acquire);
        let more = drain_once();
        if stopping {
            break;
        }
        if more {
            continue;
        }
        let mut timeout = LARGE_INTEGER {
            QuadPart: -TICK_MS * 10_000,
        };
        // SAFETY: initialised event; relative timeout; PASSIVE_LEVEL thread.
        let _ = unsafe {
            KeWaitForSingleObject(wake_event().cast(), Executive, KERNEL_MODE, 0, &raw mut timeout)
        };
    }
    // SAFETY: a system thread ends itself this way.
    let _ = unsafe { PsTerminateSystemThread(STATUS_SUCCESS) };
}

/// Records the drain moves per tick at most (bounded work; the rest waits
/// for the next tick, which starts at once when this one hit the bound).
pub const RECORDS_PER_TICK: usize = 4096;

/// Byte offset of the header's timestamp in a record.
const TIMESTAMP_OFFSET: usize = core::mem::offset_of!(kcb_proto::EventHeader, timestamp);

/// The head record of processor ring `index`, if published: (timestamp, index).
fn head_timestamp(set: &RingSet, index: usize) -> Option<u64> {
    let consumer = set.per_processor()[index].ring.consumer()?;
    let head = consumer.peek()?;
    let mut stamp = [0_u8; 8];
    (consumer.read(&head, TIMESTAMP_OFFSET, &mut stamp) == 8).then(|| u64::from_le_bytes(stamp))
}

/// Moves up to [`RECORDS_PER_TICK`] records from the per-processor rings
/// to the client queue; returns whether the bound stopped it.
///
/// Oldest timestamp first across processors (within one processor, ring
/// order), printing at most [`LINES_PER_TICK`] of them.
///
/// Each record is copied into the client queue *before* it leaves its
/// processor ring, so a crash dump taken at any point finds it in one of
/// them (briefly in both: the dump readers drop the duplicate).
///
/// # IRQL
/// PASSIVE_LEVEL (prints).
pub fn drain_once() -> bool {
    let Some(set) = rings::get() else {
        return false;
    };
    let mut printed = 0;
    let mut suppressed = 0_u64;
    // The newest records of this pass, for the bug-check summary.
    let mut recent = [EventRecord::ZERO; crate::ke::SUMMARY_EVENTS];
    let mut taken = 0_usize;
    let processors = set.per_processor().len();
    while taken < RECORDS_PER_TICK {
        let oldest = (0..processors)
            .filter_map(|index| head_timestamp(set, index).map(|stamp| (stamp, index)))
            .min();
        let Some((_, index)) = oldest else {
            break;
        };
        let Some(record) = move_one(set, index) else {
            break;
        };
        crate::etw::write(&record);
        recent[taken % recent.len()] = record;
        taken += 1;
        if printed < LINES_PER_TICK {
            let mut line = LineBuffer::new();
            let _ = line.write_str("kcallbacks: event ");
            let _ = write_text(&record, &mut line);
            log::emit(&mut line);
            printed += 1;
        } else {
            suppressed += 1;
        }
    }
    if suppressed > 0 {
        SUPPRESSED_LINES.fetch_add(suppressed, Ordering::Relaxed);
        crate::kprintln!("{suppressed} lines suppressed");
    }
    // Keep the bug-check summary recent: Windows runs the bug-check
    // callback after the dump is written.
    let n = taken.min(recent.len());
    recent.rotate_left(taken % crate::ke::SUMMARY_EVENTS);
    // SAFETY: the drain (thread, or DriverUnload after it stopped) is the only
    // writer outside a bug check, and never runs during one.
    unsafe { crate::ke::refresh_summary(false, &recent[recent.len() - n..]) };
    taken == RECORDS_PER_TICK
}

/// Copies the head record of ring `index` into the client queue (its
/// sequence written into the header), then consumes it; a full client
/// queue turns it from recorded into dropped.
fn move_one(set: &RingSet, index: usize) -> Option<EventRecord> {
    let ring = &set.per_processor()[index];
    let mut consumer = ring.ring.consumer()?;
    let head = consumer.peek()?;
    let mut bytes = [0_u8; RECORD_SIZE];
    let len = consumer.read(&head, 0, &mut bytes);
    let mut record = EventRecord::from_prefix(&bytes[..len]);
    record.header.sequence = head.sequence;
    let used = record.used_len();
    if set.client().push(&record.as_bytes()[..used]).is_err() {
        // The client has not read for a while: the record was recorded but
        // cannot be delivered; count it as dropped so nothing is lost
        // silently.
        #[allow(clippy::cast_possible_truncation, reason = "processor indexes are u32")]
        rings::reclassify_as_dropped(index as u32, usize::from(record.header.source));
    }
    consumer.consume(&head);
    Some(record)
}
