//! The event-push probe (issue #11): a push below `DISPATCH_LEVEL` or into
//! another processor's ring is flagged; one at `DISPATCH_LEVEL` or above on
//! the current processor's ring is not.

use ntsim::irql::{APC_LEVEL, DISPATCH_LEVEL, HIGH_LEVEL, PASSIVE_LEVEL, with_irql};
use ntsim::verifier::{self, ModelRule, codes};
use ntsim::{Kernel, context, eventpush};
use wdk_sys::ntddk::KeGetCurrentProcessorNumberEx;

fn push_rule_hits() -> usize {
    verifier::take()
        .iter()
        .filter(|b| b.code == codes::NTSIM_RULE && b.p1() == ModelRule::PushBelowDispatch as u64)
        .count()
}

#[test]
fn a_push_below_dispatch_level_is_flagged() {
    let _kernel = Kernel::boot();
    let me = context::current_processor();
    for level in [PASSIVE_LEVEL, APC_LEVEL] {
        with_irql(level, || eventpush::probe_push(me));
        assert_eq!(push_rule_hits(), 1, "push at IRQL {level} must be flagged");
    }
    for level in [DISPATCH_LEVEL, HIGH_LEVEL] {
        with_irql(level, || eventpush::probe_push(me));
        assert_eq!(push_rule_hits(), 0, "push at IRQL {level} is allowed");
    }
    let counts = eventpush::pushes_by_irql();
    assert_eq!(counts[usize::from(PASSIVE_LEVEL)], 1);
    assert_eq!(counts[usize::from(DISPATCH_LEVEL)], 1);
}

#[test]
fn a_push_into_another_processors_ring_is_flagged() {
    let _kernel = Kernel::boot();
    // SAFETY: NULL asks for the number only.
    let me = unsafe { KeGetCurrentProcessorNumberEx(core::ptr::null_mut()) };
    with_irql(DISPATCH_LEVEL, || {
        eventpush::probe_push((me + 1) % context::PROCESSOR_COUNT)
    });
    assert_eq!(push_rule_hits(), 1);
}

#[test]
fn maximum_processor_count_covers_every_processor_number() {
    let _kernel = Kernel::boot();
    // SAFETY: no preconditions.
    let all = unsafe { wdk_sys::ntddk::KeQueryMaximumProcessorCountEx(0xFFFF) };
    assert_eq!(all, context::PROCESSOR_COUNT);
    assert!(context::current_processor() < all);
}

#[test]
fn the_processor_number_is_stable_per_thread() {
    let _kernel = Kernel::boot();
    // SAFETY: NULL asks for the number only.
    let first = unsafe { KeGetCurrentProcessorNumberEx(core::ptr::null_mut()) };
    for _ in 0..8 {
        // SAFETY: as above.
        let again = unsafe { KeGetCurrentProcessorNumberEx(core::ptr::null_mut()) };
        assert_eq!(again, first);
    }
}
