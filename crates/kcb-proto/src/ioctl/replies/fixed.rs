//! The fixed-size replies.
//!
//! `IOCTL_KCB_GET_STATS` ([`StatsResponse`]), `IOCTL_KCB_GET_CONFIG`
//! ([`ConfigResponse`]) and `IOCTL_KCB_FLOOD` ([`FloodResponse`]), decoded
//! with [`decode_response`](super::wire::decode_response).

use core::mem::size_of;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::wire::{Response, check_version, wire_enum};
use crate::error::DecodeError;
use crate::ioctl::codes::PROTOCOL_VERSION;
use crate::pod::zeroed;
use crate::source::SOURCE_COUNT;

/// Implements `new` (zeroed, `version` and `source_count` set), `Default`
/// and the [`Response`] check for the replies that carry one slot per
/// source.
macro_rules! per_source_response {
    ($($ty:ident),*) => {
        $(
            impl $ty {
                /// A zeroed response with `version` and `source_count` set.
                #[must_use]
                pub const fn new() -> Self {
                    let mut r: Self = zeroed();
                    r.version = PROTOCOL_VERSION;
                    #[allow(clippy::cast_possible_truncation, reason = "SOURCE_COUNT <= 64")]
                    let count = SOURCE_COUNT as u32;
                    r.source_count = count;
                    r
                }
            }

            impl Default for $ty {
                fn default() -> Self {
                    Self::new()
                }
            }

            impl Response for $ty {
                fn check(&self) -> Result<(), DecodeError> {
                    check_version(self.version)?;
                    if usize::try_from(self.source_count).ok() != Some(SOURCE_COUNT) {
                        return Err(DecodeError::InvalidField("source_count"));
                    }
                    Ok(())
                }
            }
        )*
    };
}

per_source_response!(StatsResponse, ConfigResponse);

// --- GET_STATS ------------------------------------------------------------

/// Counters of one source.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SourceStats {
    /// Callbacks that fired (events seen).
    pub seen: u64,
    /// Events pushed into the ring.
    pub recorded: u64,
    /// Events dropped (ring full, contention, or the source disabled at runtime).
    pub dropped: u64,
}

/// `IOCTL_KCB_GET_STATS` output.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct StatsResponse {
    /// [`PROTOCOL_VERSION`].
    pub version: u32,
    /// [`SOURCE_COUNT`].
    pub source_count: u32,
    /// Capacity in bytes of every processor's ring and the client queue
    /// together (records take their real size: header + used payload).
    pub ring_capacity: u32,
    /// Bytes currently in use in them (approximate).
    pub ring_occupancy: u32,
    /// Sum of `seen` over all sources.
    pub total_seen: u64,
    /// Sum of `dropped` over all sources.
    pub total_dropped: u64,
    /// Per-source counters, indexed by [`SourceId`](crate::SourceId).
    pub sources: [SourceStats; SOURCE_COUNT],
}

// --- GET_CONFIG -----------------------------------------------------------

/// Width of the per-source arrays in [`ConfigResponse`] (the bitmap width).
pub const MAX_SOURCES: usize = 64;

wire_enum! {
    /// Where a source's enabled/disabled setting came from.
    pub enum ConfigOrigin: u8, from_u8 {
        /// Built-in default.
        Default = 0 => "default",
        /// Read from the registry.
        Registry = 1 => "registry",
        /// The registry value was invalid; the default was used.
        InvalidRegistryValue = 2 => "invalid-registry-value",
    }
}

/// `IOCTL_KCB_GET_CONFIG` output.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ConfigResponse {
    /// [`PROTOCOL_VERSION`].
    pub version: u32,
    /// [`SOURCE_COUNT`].
    pub source_count: u32,
    /// Bit `i` set = source `i` enabled.
    pub enabled_mask: u64,
    /// Capacity in bytes of every processor's ring and the client queue.
    pub ring_capacity: u32,
    /// Driver-defined configuration flags.
    pub flags: u32,
    /// Raw [`ConfigOrigin`] per source (first `source_count` used).
    pub origins: [u8; MAX_SOURCES],
}

impl ConfigResponse {
    /// Whether `source` is enabled.
    #[must_use]
    pub const fn is_enabled(&self, source: crate::SourceId) -> bool {
        self.enabled_mask & source.bit() != 0
    }

    /// Where `source`'s setting came from, if the raw value is known.
    #[must_use]
    pub const fn origin(&self, source: crate::SourceId) -> Option<ConfigOrigin> {
        ConfigOrigin::from_u8(self.origins[source.index()])
    }
}

// --- FLOOD ----------------------------------------------------------------

/// `IOCTL_KCB_FLOOD` output.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct FloodResponse {
    /// Records requested.
    pub requested: u32,
    /// Records pushed into the ring.
    pub recorded: u32,
    /// Records dropped.
    pub dropped: u32,
    /// Reserved, zero.
    pub reserved: u32,
}

impl Response for FloodResponse {}

const _: () = {
    assert!(size_of::<SourceStats>() == 24);
    assert!(size_of::<StatsResponse>() == 32 + 24 * SOURCE_COUNT);
    assert!(size_of::<ConfigResponse>() == 88);
    assert!(size_of::<FloodResponse>() == 16);
};
