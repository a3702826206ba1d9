//! The processor-local claim (`ByteRing::new_processor_local`, an unlocked
//! `cmpxchg` on x86-64) against real nesting: a signal handler is the
//! host's interrupt. It runs on the interrupted thread, at an instruction
//! boundary, and completes before the thread resumes, exactly as an
//! interrupt or NMI nests inside a push on one processor.
//!
//! One thread pushes records into a processor-local ring (and drains it when
//! full); a second thread keeps sending it `SIGUSR1`, whose handler pushes
//! records of its own into the same ring. Afterwards every record must come
//! out whole (its bytes are a function of its id), every id exactly once,
//! sequences strictly increasing, and the ring's counters (bumped with the
//! same processor-local instructions) must match what each side did. A claim
//! that an interrupt could split (load, then store) would hand the same
//! space to the interrupted push and the handler's: torn or duplicated
//! records, or a sequence seen twice.

#![cfg(all(unix, not(any(loom, miri))))]
#![allow(clippy::cast_possible_truncation, reason = "test sizes")]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::thread;

use kcb_ring::{ByteRing, ProcessorLocal, SourceCounters, Word, record_bytes};

/// Ids of the handler's records have this bit set; the thread's do not.
const HANDLER_BIT: u64 = 1 << 63;
/// Signals the sender delivers.
const SIGNALS: u64 = 20_000;

/// The ring the handler pushes into (null outside the test's window).
static RING: AtomicPtr<ByteRing<'static, ProcessorLocal>> = AtomicPtr::new(core::ptr::null_mut());
static HANDLER_PUSHED: AtomicU64 = AtomicU64::new(0);
static HANDLER_REFUSED: AtomicU64 = AtomicU64::new(0);
static HANDLED: AtomicU64 = AtomicU64::new(0);
/// The ring's counters (bumped by `record_bytes` with the ring's
/// processor-local adds): source 0 = the thread, 1 = the handler.
static COUNTERS: SourceCounters<2> = SourceCounters::new();

/// The record of id `id`: its id, then bytes derived from it; 8 to 76 bytes.
fn record(id: u64, out: &mut [u8; 80]) -> usize {
    let len = 8 + (id % 10) as usize * 7;
    out[..8].copy_from_slice(&id.to_le_bytes());
    for (i, byte) in out[8..len].iter_mut().enumerate() {
        *byte = (id as u8).wrapping_mul(31).wrapping_add(i as u8);
    }
    len
}

extern "C" fn on_signal(_: libc::c_int) {
    let ring = RING.load(Ordering::Acquire);
    if ring.is_null() {
        return;
    }
    let id = HANDLER_BIT | HANDLED.fetch_add(1, Ordering::Relaxed);
    let mut bytes = [0; 80];
    let len = record(id, &mut bytes);
    // SAFETY: the ring outlives the window in which RING is non-null (the
    // test clears it, and stops the sender, before the ring goes away).
    let ring = unsafe { &*ring };
    if record_bytes(ring, &COUNTERS, 1, &bytes[..len]) {
        HANDLER_PUSHED.fetch_add(1, Ordering::Relaxed);
    } else {
        HANDLER_REFUSED.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the consumer saw.
#[derive(Default)]
struct Seen {
    ids: HashSet<u64>,
    last_sequence: u64,
}

impl Seen {
    fn drain(&mut self, ring: &ByteRing<'_, ProcessorLocal>) {
        let Some(mut consumer) = ring.consumer() else {
            panic!("the only consumer");
        };
        let mut out = [0; 80];
        while let Some(popped) = consumer.pop(&mut out) {
            let info = popped.expect("records are at most 80 bytes");
            assert!(
                info.sequence > self.last_sequence,
                "sequence {} after {}",
                info.sequence,
                self.last_sequence
            );
            self.last_sequence = info.sequence;
            assert!(info.len >= 8, "record of {} bytes", info.len);
            let id = u64::from_le_bytes(out[..8].try_into().expect("8 bytes"));
            let mut expected = [0; 80];
            let len = record(id, &mut expected);
            assert_eq!(&out[..info.len], &expected[..len], "record {id:#x} is torn");
            assert!(self.ids.insert(id), "record {id:#x} popped twice");
        }
    }
}

#[test]
fn handler_pushes_nested_in_thread_pushes_tear_and_lose_nothing() {
    let storage: Vec<Word> = (0..4096).map(|_| Word::new(0)).collect();
    // SAFETY: only this test's thread pushes, and the signal handler, which
    // runs on that thread (the signal is sent to it alone) and nests.
    let ring: &'static ByteRing<'static, ProcessorLocal> = Box::leak(Box::new(unsafe {
        ByteRing::new_processor_local(Box::leak(storage.into_boxed_slice()))
    }));

    // SAFETY: all-zero bytes are a valid `sigaction` (integers, a mask and
    // a handler field that is an integer, not a reference).
    let mut action: libc::sigaction = unsafe { core::mem::zeroed() };
    action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: `action` is initialised; the handler is an `extern "C"
    // fn(c_int)`, as `sa_sigaction` expects without SA_SIGINFO, and only
    // uses async-signal-safe operations (atomics and the ring's push).
    let installed = unsafe { libc::sigaction(libc::SIGUSR1, &raw const action, core::ptr::null_mut()) };
    assert_eq!(installed, 0, "sigaction");
    RING.store(core::ptr::from_ref(ring).cast_mut(), Ordering::Release);

    // SAFETY: the calling thread's own handle.
    let target = unsafe { libc::pthread_self() };
    let done = AtomicBool::new(false);
    let mut seen = Seen::default();
    let (mut pushed, mut refused) = (0_u64, 0_u64);
    thread::scope(|s| {
        s.spawn(|| {
            for signal in 0..SIGNALS {
                // SAFETY: `target` is alive until `done` is set (the scope
                // joins this thread before the test thread returns).
                let sent = unsafe { libc::pthread_kill(target, libc::SIGUSR1) };
                assert_eq!(sent, 0, "pthread_kill");
                // A pending signal is not queued twice: wait until this one
                // ran before sending the next.
                while HANDLED.load(Ordering::Relaxed) <= signal {
                    std::hint::spin_loop();
                }
            }
            done.store(true, Ordering::Release);
        });
        let mut bytes = [0; 80];
        let mut id = 0;
        while !done.load(Ordering::Acquire) {
            let len = record(id, &mut bytes);
            if record_bytes(ring, &COUNTERS, 0, &bytes[..len]) {
                pushed += 1;
                id += 1;
            } else {
                refused += 1;
                seen.drain(ring);
            }
        }
    });
    RING.store(core::ptr::null_mut(), Ordering::Release);
    seen.drain(ring);
    // One last record, so that the last sequence popped is the number of
    // pushes attempted, whatever the last one before it did.
    let mut bytes = [0; 80];
    let len = record(u64::from(u32::MAX), &mut bytes);
    assert!(
        record_bytes(ring, &COUNTERS, 0, &bytes[..len]),
        "the drained ring has room"
    );
    pushed += 1;
    seen.drain(ring);

    let handled = HANDLED.load(Ordering::Relaxed);
    let handler_pushed = HANDLER_PUSHED.load(Ordering::Relaxed);
    let handler_refused = HANDLER_REFUSED.load(Ordering::Relaxed);
    println!(
        "nested_signals: {pushed} thread pushes ({refused} refused), {handled} handler runs \
         ({handler_pushed} pushed, {handler_refused} refused)"
    );
    assert!(
        handled > 1000,
        "signals must actually nest into the pushes ({handled} handled)"
    );
    assert_eq!(handled, handler_pushed + handler_refused);
    assert_eq!(
        seen.ids.len() as u64,
        pushed + handler_pushed,
        "every stored record popped once"
    );
    let [from_thread, from_handler] = COUNTERS.snapshot();
    assert_eq!(
        (from_thread.seen, from_thread.recorded, from_thread.dropped),
        (pushed + refused, pushed, refused)
    );
    assert_eq!(
        (from_handler.seen, from_handler.recorded, from_handler.dropped),
        (handled, handler_pushed, handler_refused)
    );
    let attempts = pushed + refused + handled;
    assert_eq!(
        seen.last_sequence, attempts,
        "the sequence counts every push, stored or refused"
    );
}
