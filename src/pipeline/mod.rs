//! The event pipeline, producer to consumer.
//!
//! [`events`] (stamp + push, any
//! IRQL), [`rings`] (one lock-free ring per processor and the client
//! queue), [`cost`] (time spent in each notify routine), [`drain`] (the
//! PASSIVE_LEVEL pass that prints and forwards), [`held`] + [`crash`] (what
//! a crash dump keeps: the bug-check summary and the flight recorder).
//! Uses only `kernel`; knows nothing of registrations or requests.

pub mod cost;
pub mod crash;
pub mod drain;
pub mod events;
pub mod held;
pub mod rings;
pub mod window;
