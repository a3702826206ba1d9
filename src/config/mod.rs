//! Configuration, one way: [`registry`] (the PASSIVE_LEVEL reader of
//! `Parameters`) builds one value that [`settings`] publishes once and
//! every consumer reads at any IRQL.

pub mod registry;
pub mod settings;
