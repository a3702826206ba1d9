//! The drain system thread (`PsCreateSystemThread`) as a registration: it
//! runs [`drain_once`] every [`TICK_MS`] ms, or at once when signalled at
//! unload, until its guard is dropped.

use core::{
    mem::MaybeUninit,
    ptr,
    sync::atomic::{AtomicBool, Ordering},
};

use kcb_proto::SourceId;
use wdk_sys::{
    _EVENT_TYPE::SynchronizationEvent,
    _KWAIT_REASON::Executive,
    HANDLE, KEVENT, LARGE_INTEGER, STATUS_SUCCESS, THREAD_ALL_ACCESS,
    ntddk::{
        KeInitializeEvent, KeSetEvent, KeWaitForSingleObject, PsCreateSystemThread, PsTerminateSystemThread,
        ZwWaitForSingleObject,
    },
};

use crate::{
    kernel::{
        cell::KernelCell,
        object::{KERNEL_MODE, KernelHandle, ObjectAttributes},
    },
    pipeline::drain::{TICK_MS, drain_once},
    registrations::{
        guard::{Failure, RegistrationOps, check},
        report::Api,
    },
};

/// Event the drain thread waits on (nonpaged: static in the image). Only
/// touched through Ke* routines, which synchronise internally; initialised
/// before the thread that waits on it starts.
static WAKE: KernelCell<MaybeUninit<KEVENT>> = KernelCell::new(MaybeUninit::zeroed());
/// Set by `unregister`; the thread drains once more and exits.
static STOP: AtomicBool = AtomicBool::new(false);

fn wake_event() -> *mut KEVENT {
    WAKE.get().cast()
}

/// The drain system thread.
pub struct DrainThread;

impl RegistrationOps for DrainThread {
    type Args = ();
    type Token = KernelHandle;
    const SOURCE: Option<SourceId> = None;
    const API: Api = Api::DrainThread;

    /// `PsCreateSystemThread`. PASSIVE_LEVEL.
    fn register((): ()) -> Result<KernelHandle, Failure> {
        STOP.store(false, Ordering::Release);
        // SAFETY: the static event is not in use (no drain thread runs).
        unsafe { KeInitializeEvent(wake_event(), SynchronizationEvent, 0) };
        let mut attributes = ObjectAttributes::unnamed();
        let mut handle: HANDLE = ptr::null_mut();
        // SAFETY: valid out-pointer and attributes; the start routine is a
        // 'static function that lives until the thread has exited (unregister
        // waits for it).
        let status = unsafe {
            PsCreateSystemThread(
                &raw mut handle,
                THREAD_ALL_ACCESS,
                attributes.as_mut_ptr(),
                ptr::null_mut(),
                ptr::null_mut(),
                Some(drain_main),
                ptr::null_mut(),
            )
        };
        check(status)?;
        // SAFETY: PsCreateSystemThread succeeded: `handle` is a kernel
        // handle to the new thread, owned here.
        Ok(unsafe { KernelHandle::from_raw(handle) })
    }

    unsafe fn unregister(token: KernelHandle) {
        STOP.store(true, Ordering::Release);
        // SAFETY: the event was initialised in register.
        let _ = unsafe { KeSetEvent(wake_event(), 0, 0) };
        // SAFETY: a kernel handle to our thread; waiting at PASSIVE_LEVEL with
        // no timeout until it exits (it exits promptly once STOP is seen).
        let _ = unsafe { ZwWaitForSingleObject(token.as_raw(), 0, ptr::null_mut()) };
        drop(token);
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
