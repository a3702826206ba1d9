//! The driver's configuration: compiled-in defaults, overridden per value
//! from the service key's `Parameters` subkey.
//!
//! This is the pure part: the driver enumerates the registry values at
//! `DriverEntry` and hands each one (name, type, data) to
//! [`Settings::apply`], which validates it. An invalid value leaves the
//! default in place and is reported; nothing here allocates or panics, so it
//! is fuzzed directly.
//!
//! Value names (case-insensitive, as the registry compares them):
//!
//! | value | type | meaning |
//! |---|---|---|
//! | `Enable<Source>` (e.g. `EnableLoadImage`) | `REG_DWORD` 0 or 1 | register that source's callback |
//! | `EnableFlood` | `REG_DWORD` 0 or 1 | allow `IOCTL_KCB_FLOOD` (a test switch, off by default) |
//!
//! `<Source>` is a [`SourceId`] name (`LoadImage`, `ProcessCreate`, ...).

use core::fmt;

use crate::{ConfigOrigin, SOURCE_COUNT, SourceId};

/// `REG_DWORD` (winnt.h).
pub const REG_DWORD: u32 = 4;
/// `REG_SZ` (winnt.h).
pub const REG_SZ: u32 = 1;

/// Prefix of the per-source enable values.
pub const ENABLE_PREFIX: &str = "Enable";

/// Sources registered when the registry says nothing.
pub const DEFAULT_ENABLED: u64 = SourceId::LoadImage.bit();

/// The effective configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Bit `i` set = source `i` enabled.
    pub enabled_mask: u64,
    /// Where each source's setting came from.
    pub origins: [ConfigOrigin; SOURCE_COUNT],
}

/// Why a registry value was not applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamError {
    /// No setting has this name.
    UnknownName,
    /// The value has the wrong registry type (the expected type is given).
    WrongType {
        /// The type the setting needs.
        expected: u32,
        /// The type found.
        found: u32,
    },
    /// The data is shorter or longer than the type requires.
    BadLength,
    /// The value is out of range (e.g. an enable flag other than 0 or 1).
    OutOfRange(u32),
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::UnknownName => f.write_str("unknown value name"),
            Self::WrongType { expected, found } => {
                write!(f, "wrong type {found} (expected {expected})")
            }
            Self::BadLength => f.write_str("bad data length"),
            Self::OutOfRange(v) => write!(f, "value {v} out of range (0 or 1)"),
        }
    }
}

/// What [`Settings::apply`] changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The source whose setting the value addressed.
    pub source: SourceId,
    /// The new state.
    pub enabled: bool,
}

impl Settings {
    /// The compiled-in defaults.
    #[must_use]
    pub const fn defaults() -> Self {
        Self { enabled_mask: DEFAULT_ENABLED, origins: [ConfigOrigin::Default; SOURCE_COUNT] }
    }

    /// Whether `source` is enabled.
    #[must_use]
    pub const fn is_enabled(&self, source: SourceId) -> bool {
        self.enabled_mask & source.bit() != 0
    }

    /// Applies one registry value. `name` is the value name in UTF-16 as the
    /// registry returns it (no NUL), `value_type` its `REG_*` type and `data`
    /// its bytes.
    ///
    /// # Errors
    /// Why the value was not applied; for a value that names a source, that
    /// source's origin becomes [`ConfigOrigin::InvalidRegistryValue`] and its
    /// default stays.
    pub fn apply(&mut self, name: &[u16], value_type: u32, data: &[u8]) -> Result<Applied, ParamError> {
        let source = source_of(name).ok_or(ParamError::UnknownName)?;
        match parse_flag(value_type, data) {
            Ok(enabled) => {
                if enabled {
                    self.enabled_mask |= source.bit();
                } else {
                    self.enabled_mask &= !source.bit();
                }
                self.origins[source.index()] = ConfigOrigin::Registry;
                Ok(Applied { source, enabled })
            }
            Err(error) => {
                self.origins[source.index()] = ConfigOrigin::InvalidRegistryValue;
                Err(error)
            }
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self::defaults()
    }
}

/// The source an `Enable<Source>` value name addresses (case-insensitive).
#[must_use]
pub fn source_of(name: &[u16]) -> Option<SourceId> {
    let prefix_len = ENABLE_PREFIX.len();
    if name.len() <= prefix_len || !eq_ignore_ascii_case(&name[..prefix_len], ENABLE_PREFIX) {
        return None;
    }
    let rest = &name[prefix_len..];
    SourceId::ALL.iter().copied().find(|s| eq_ignore_ascii_case(rest, s.name()))
}

fn eq_ignore_ascii_case(units: &[u16], text: &str) -> bool {
    units.len() == text.len()
        && units.iter().zip(text.bytes()).all(|(&u, b)| {
            u8::try_from(u).is_ok_and(|u| u.eq_ignore_ascii_case(&b))
        })
}

fn parse_flag(value_type: u32, data: &[u8]) -> Result<bool, ParamError> {
    if value_type != REG_DWORD {
        return Err(ParamError::WrongType { expected: REG_DWORD, found: value_type });
    }
    let bytes: [u8; 4] = data.try_into().map_err(|_| ParamError::BadLength)?;
    match u32::from_le_bytes(bytes) {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(ParamError::OutOfRange(other)),
    }
}

#[cfg(test)]
mod tests {
    use std::vec::Vec;

    use super::*;

    fn w(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    #[test]
    fn defaults_enable_load_image_only() {
        let s = Settings::defaults();
        assert!(s.is_enabled(SourceId::LoadImage));
        assert!(!s.is_enabled(SourceId::Flood));
        assert!(s.origins.iter().all(|o| *o == ConfigOrigin::Default));
    }

    #[test]
    fn applies_enable_values_case_insensitively() {
        let mut s = Settings::defaults();
        assert_eq!(
            s.apply(&w("enableflood"), REG_DWORD, &1u32.to_le_bytes()),
            Ok(Applied { source: SourceId::Flood, enabled: true })
        );
        assert!(s.is_enabled(SourceId::Flood));
        assert_eq!(s.origins[SourceId::Flood.index()], ConfigOrigin::Registry);
        s.apply(&w("EnableLoadImage"), REG_DWORD, &0u32.to_le_bytes()).unwrap();
        assert!(!s.is_enabled(SourceId::LoadImage));
    }

    #[test]
    fn invalid_values_keep_the_default_and_are_marked() {
        let mut s = Settings::defaults();
        assert_eq!(
            s.apply(&w("EnableLoadImage"), REG_DWORD, &7u32.to_le_bytes()),
            Err(ParamError::OutOfRange(7))
        );
        assert!(s.is_enabled(SourceId::LoadImage));
        assert_eq!(s.origins[SourceId::LoadImage.index()], ConfigOrigin::InvalidRegistryValue);
        assert_eq!(
            s.apply(&w("EnableLoadImage"), REG_SZ, b"1\0"),
            Err(ParamError::WrongType { expected: REG_DWORD, found: REG_SZ })
        );
        assert_eq!(s.apply(&w("EnableLoadImage"), REG_DWORD, &[1, 0]), Err(ParamError::BadLength));
        assert_eq!(s.apply(&w("EnableNothing"), REG_DWORD, &[1, 0, 0, 0]), Err(ParamError::UnknownName));
        assert_eq!(s.apply(&w("Enable"), REG_DWORD, &[1, 0, 0, 0]), Err(ParamError::UnknownName));
        assert_eq!(s.apply(&[0xD800, 0x41], REG_DWORD, &[1, 0, 0, 0]), Err(ParamError::UnknownName));
        assert!(s.is_enabled(SourceId::LoadImage));
    }
}
