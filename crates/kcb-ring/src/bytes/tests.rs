//! Single-threaded tests of [`ByteRing`]: framing, wrap-around, drops,
//! sequence numbers and the nested (interrupted) push.

#![allow(clippy::cast_possible_truncation, reason = "test byte patterns")]

extern crate std;

use std::vec::Vec;

use super::*;

fn storage(words: usize) -> Vec<AtomicU64> {
    (0..words).map(|_| AtomicU64::new(u64::MAX)).collect()
}

fn payload(id: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| id.wrapping_mul(31).wrapping_add(i as u8))
        .collect()
}

fn pop_all(ring: &ByteRing<'_>) -> Vec<(u64, Vec<u8>)> {
    let mut consumer = ring.consumer().expect("consumer");
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    while let Some(result) = consumer.pop(&mut buf) {
        let info = result.expect("fits");
        out.push((info.sequence, buf[..info.len].to_vec()));
    }
    out
}

#[test]
fn new_zeroes_and_uses_a_power_of_two_prefix() {
    let words = storage(100);
    let ring = ByteRing::new(&words);
    assert_eq!(ring.capacity_bytes(), 64 * 8);
    assert!(words[..64].iter().all(|w| w.load(Ordering::Relaxed) == 0));
    assert!(ring.is_empty());
}

#[test]
fn records_keep_their_exact_length_and_bytes() {
    let words = storage(64);
    let ring = ByteRing::new(&words);
    for (id, len) in [(1u8, 0usize), (2, 1), (3, 7), (4, 8), (5, 9), (6, 64), (7, 100)] {
        ring.push(&payload(id, len)).unwrap();
    }
    let popped = pop_all(&ring);
    let lens: Vec<usize> = popped.iter().map(|(_, p)| p.len()).collect();
    assert_eq!(lens, [0, 1, 7, 8, 9, 64, 100]);
    for ((sequence, bytes), id) in popped.iter().zip(1u8..) {
        assert_eq!(*sequence, u64::from(id));
        assert_eq!(bytes, &payload(id, bytes.len()));
    }
    assert!(ring.is_empty());
}

#[test]
fn a_record_that_does_not_fit_is_refused_whole_and_leaves_a_sequence_gap() {
    let words = storage(16); // 128 bytes
    let ring = ByteRing::new(&words);
    ring.push(&payload(1, 64)).unwrap(); // 9 words
    assert_eq!(ring.push(&payload(2, 64)), Err(ByteRingError::Full));
    assert_eq!(ring.push(&payload(3, 200)), Err(ByteRingError::TooLarge));
    ring.push(&payload(4, 40)).unwrap(); // 6 words: 15 of 16 used
    // The refused records wrote nothing: the consumer sees two whole
    // records, with a gap of two in the sequence.
    let popped = pop_all(&ring);
    assert_eq!(popped.len(), 2);
    assert_eq!((popped[0].0, popped[1].0), (1, 4));
    assert_eq!(popped[0].1, payload(1, 64));
    assert_eq!(popped[1].1, payload(4, 40));
}

#[test]
fn records_wrap_around_the_end_and_freed_words_are_zero() {
    let words = storage(16);
    let ring = ByteRing::new(&words);
    let mut expected_sequence = 0;
    for round in 0..50u8 {
        let len = usize::from(round % 5) * 11 + 3;
        ring.push(&payload(round, len)).unwrap();
        expected_sequence += 1;
        let popped = pop_all(&ring);
        assert_eq!(popped, [(expected_sequence, payload(round, len))]);
        assert!(
            words.iter().all(|w| w.load(Ordering::Relaxed) == 0),
            "round {round}"
        );
    }
}

#[test]
fn a_nested_push_inside_the_window_is_ordered_after_the_interrupted_one() {
    let words = storage(64);
    let ring = ByteRing::new(&words);
    let mut inner_sequence = 0;
    let outer = ring
        .push_with(16, |writer| {
            // An interrupt (or NMI) on this processor, after the claim and
            // before the publish: its push completes first.
            inner_sequence = ring.push(&payload(9, 24)).unwrap();
            // The consumer must not see the inner record before the outer
            // one is published (it would be out of order).
            let consumer = ring.consumer().unwrap();
            assert_eq!(consumer.peek(), None, "unpublished head must block");
            drop(consumer);
            writer.write(0, &payload(8, 16));
        })
        .unwrap();
    assert_eq!((outer, inner_sequence), (1, 2));
    let popped = pop_all(&ring);
    assert_eq!(popped, [(1, payload(8, 16)), (2, payload(9, 24))]);
}

#[test]
fn nested_push_into_a_full_ring_is_a_drop_not_a_wait() {
    let words = storage(8);
    let ring = ByteRing::new(&words);
    ring.push_with(40, |writer| {
        assert_eq!(ring.push(&payload(2, 40)), Err(ByteRingError::Full));
        writer.write(0, &payload(1, 40));
    })
    .unwrap();
    let popped = pop_all(&ring);
    assert_eq!(popped, [(1, payload(1, 40))]);
}

#[test]
fn a_record_larger_than_the_reader_buffer_stays_in_place() {
    let words = storage(64);
    let ring = ByteRing::new(&words);
    ring.push(&payload(1, 100)).unwrap();
    let mut consumer = ring.consumer().unwrap();
    let mut small = [0u8; 10];
    assert_eq!(consumer.pop(&mut small), Some(Err(100)));
    let mut big = [0u8; 100];
    assert!(matches!(consumer.pop(&mut big), Some(Ok(_))));
    assert_eq!(big.to_vec(), payload(1, 100));
}

#[test]
fn one_consumer_at_a_time() {
    let words = storage(8);
    let ring = ByteRing::new(&words);
    let first = ring.consumer();
    assert!(first.is_some());
    assert!(ring.consumer().is_none());
    drop(first);
    assert!(ring.consumer().is_some());
}

#[test]
fn visit_sees_published_records_oldest_first_and_stops_at_a_claim() {
    let words = storage(64);
    let ring = ByteRing::new(&words);
    for id in 1..=3u8 {
        ring.push(&payload(id, 12)).unwrap();
    }
    // Consume one so the visit starts mid-ring with an extended sequence.
    {
        let mut consumer = ring.consumer().unwrap();
        let head = consumer.peek().unwrap();
        consumer.consume(&head);
    }
    let mut seen = Vec::new();
    // SAFETY: no consumer is active.
    let visited = unsafe {
        ring.visit_unsynchronized(|view| {
            let mut buf = [0u8; 12];
            assert_eq!(view.read(0, &mut buf), 12);
            seen.push((view.info().sequence, buf.to_vec()));
        })
    };
    assert_eq!(visited, 2);
    assert_eq!(seen, [(2, payload(2, 12)), (3, payload(3, 12))]);
    // A claim in progress hides what follows it (its length is unknown).
    ring.push_with(8, |_| {
        ring.push(&payload(5, 8)).unwrap();
        // SAFETY: no consumer is active.
        let visited = unsafe { ring.visit_unsynchronized(|_| {}) };
        assert_eq!(visited, 2);
    })
    .unwrap();
}

#[test]
fn sequence_extends_past_32_bits() {
    let words = storage(8);
    let ring = ByteRing::new(&words);
    // Start the ring just below the 32-bit wrap (as after 2^32 - 2 events).
    ring.state.store(u64::from(u32::MAX - 1) << 32, Ordering::Relaxed);
    ring.consumer
        .last_sequence
        .store(u64::from(u32::MAX - 1), Ordering::Relaxed);
    let mut sequences = Vec::new();
    for id in 0..4u8 {
        ring.push(&payload(id, 8)).unwrap();
        sequences.extend(pop_all(&ring).into_iter().map(|(s, _)| s));
    }
    assert_eq!(
        sequences,
        [0xFFFF_FFFF, 0x1_0000_0000, 0x1_0000_0001, 0x1_0000_0002]
    );
}

#[test]
fn a_stale_free_position_never_reads_as_room() {
    // A producer that loads a fresh tail but an older `free` (separate
    // loads; Miri's weak-memory emulation found this) must see the ring as
    // full, not as having 2^32 words of room.
    let words = storage(16);
    let ring = ByteRing::new(&words);
    // Tail 16 words past a `free` of 0 is a full ring...
    ring.state.store(16, Ordering::Relaxed);
    ring.consumer.head.store(16, Ordering::Relaxed);
    // ...and with a stale `free` even further behind, still full.
    ring.state.store(20, Ordering::Relaxed);
    assert_eq!(ring.push(&payload(1, 8)), Err(ByteRingError::Full));
}
