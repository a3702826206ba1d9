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
//! | `ObAltitude` | `REG_SZ`, 1-31 chars | altitude of the `ObRegisterCallbacks` registration |
//! | `CmAltitude` | `REG_SZ`, 1-31 chars | altitude of the `CmRegisterCallbackEx` registration |
//! | `DenyImages` | `REG_MULTI_SZ`, up to 8 names of up to 63 chars | policy: deny process creation for these image file names (off when absent) |
//! | `EnableRegistrationWalk` | `REG_DWORD` 0 or 1 | opt-in: list the routines registered on each callback object by walking its undocumented layout (`IOCTL_KCB_LIST_REGISTRATIONS`) |
//! | `ProtectPids` | `REG_MULTI_SZ`, up to 16 decimal process ids | policy: strip terminate / VM-write / VM-operation access to these processes (off when absent) |
//! | `EnableEtw` | `REG_DWORD` 0 or 1 | register the ETW `TraceLogging` provider `kcallbacks` (default 1; unavailable where `EtwRegister` is not exported) |
//! | `RingKiBPerProcessor` | `REG_DWORD`, a power of two from 4 to 1024 | size of each processor's event ring (and of the client queue) in KiB; default 64 |
//!
//! `<Source>` is a [`SourceId`] name (`LoadImage`, `ProcessCreate`, ...).

use core::fmt;

use crate::{ConfigOrigin, SOURCE_COUNT, SourceId};

/// `REG_DWORD` (winnt.h).
pub const REG_DWORD: u32 = 4;
/// `REG_SZ` (winnt.h).
pub const REG_SZ: u32 = 1;
/// `REG_MULTI_SZ` (winnt.h).
pub const REG_MULTI_SZ: u32 = 7;

/// Longest altitude string, in UTF-16 units.
pub const MAX_ALTITUDE: usize = 31;
/// Most image names in `DenyImages`.
pub const MAX_DENY_IMAGES: usize = 8;
/// Longest image name in `DenyImages`, in UTF-16 units.
pub const MAX_IMAGE_NAME: usize = 63;
/// Most process ids in `ProtectPids`.
pub const MAX_PROTECTED_PIDS: usize = 16;
/// Longest decimal process id in `ProtectPids`, in digits (`u64::MAX`).
pub const MAX_PID_DIGITS: usize = 20;

/// The largest value data any setting accepts, in bytes.
///
/// That is `DenyImages` at its maximum (8 names of 63 units, each
/// NUL-terminated, and the empty string that ends a `REG_MULTI_SZ`), larger
/// than `ProtectPids` at its maximum and than any altitude. The driver reads every value whose data
/// is at most this large whole; a larger value cannot be a valid setting
/// and is reported invalid ([`Settings::reject_oversized`]).
pub const MAX_VALUE_DATA: usize = {
    let deny = (MAX_DENY_IMAGES * (MAX_IMAGE_NAME + 1) + 1) * 2;
    let pids = (MAX_PROTECTED_PIDS * (MAX_PID_DIGITS + 1) + 1) * 2;
    let altitude = (MAX_ALTITUDE + 1) * 2;
    assert!(deny >= pids && deny >= altitude);
    deny
};

/// Default `RingKiBPerProcessor`.
pub const DEFAULT_RING_KIB: u32 = 64;
/// Smallest `RingKiBPerProcessor`.
pub const MIN_RING_KIB: u32 = 4;
/// Largest `RingKiBPerProcessor`.
pub const MAX_RING_KIB: u32 = 1024;

/// Default `ObRegisterCallbacks` altitude.
///
/// No Microsoft-assigned range exists for object callbacks; this one avoids
/// the round numbers other drivers tend to pick. On `STATUS_FLT_INSTANCE_ALTITUDE_COLLISION` the
/// driver retries with the fractional part incremented (see the README).
pub const DEFAULT_OB_ALTITUDE: &str = "371942.7193";
/// Default `CmRegisterCallbackEx` altitude (same fallback rule).
pub const DEFAULT_CM_ALTITUDE: &str = "371942.7194";

/// Builds the altitude string for registration attempt `attempt` into `out`
/// and returns its length in UTF-16 units, or `None` when no such attempt
/// exists.
///
/// Attempt 0 is `base` as configured, all of it (up to [`MAX_ALTITUDE`]
/// units). Attempt `k` (1-9) appends one digit `k` to the fraction, adding
/// the decimal point first when `base` has none: `371942` gives
/// `371942.1` ... `371942.9`, `371942.7193` gives `371942.71931` ...
/// `371942.71939`. Every retry is therefore strictly greater than the
/// requested altitude (a digit 1-9 appended to a fraction raises it) and
/// strictly below the next integer (the integer part is unchanged), so the
/// registration stays in the band that was asked for. Altitudes are
/// compared as decimal numbers ("an infinite-precision string interpreted
/// as a decimal number", kernel/load-order-groups-and-altitudes-for-minifilter-drivers);
/// Microsoft documents no maximum length, so [`MAX_ALTITUDE`] is this
/// driver's own bound: a retry that would not fit in it is not made
/// (`None`), nor is one for `attempt > 9`.
#[must_use]
pub fn altitude_attempt(base: &[u16], attempt: usize, out: &mut [u16; MAX_ALTITUDE]) -> Option<usize> {
    if base.is_empty() || base.len() > MAX_ALTITUDE || attempt > 9 {
        return None;
    }
    out[..base.len()].copy_from_slice(base);
    if attempt == 0 {
        return Some(base.len());
    }
    let dot = u16::from(b'.');
    let mut len = base.len();
    if !base.contains(&dot) {
        *out.get_mut(len)? = dot;
        len += 1;
    }
    #[allow(clippy::cast_possible_truncation, reason = "attempt <= 9")]
    let digit = u16::from(b'0' + attempt as u8);
    *out.get_mut(len)? = digit;
    Some(len + 1)
}

/// A short UTF-16 string stored inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InlineName<const N: usize> {
    units: [u16; N],
    len: u8,
}

impl<const N: usize> InlineName<N> {
    /// An empty name.
    #[must_use]
    pub const fn empty() -> Self {
        Self {
            units: [0; N],
            len: 0,
        }
    }

    /// From ASCII text (at most `N` bytes).
    ///
    /// # Panics
    /// If `text` is longer than `N` or `N > 255` (used on constants).
    #[must_use]
    pub const fn from_ascii(text: &str) -> Self {
        let bytes = text.as_bytes();
        assert!(bytes.len() <= N && N <= 255);
        let mut units = [0u16; N];
        let mut i = 0;
        while i < bytes.len() {
            units[i] = bytes[i] as u16;
            i += 1;
        }
        #[allow(clippy::cast_possible_truncation, reason = "asserted <= 255")]
        let len = bytes.len() as u8;
        Self { units, len }
    }

    /// From UTF-16 units; `None` if longer than `N`.
    #[must_use]
    pub fn from_units(src: &[u16]) -> Option<Self> {
        if src.len() > N {
            return None;
        }
        let mut name = Self::empty();
        name.units[..src.len()].copy_from_slice(src);
        name.len = u8::try_from(src.len()).ok()?;
        Some(name)
    }

    /// The units.
    #[must_use]
    pub fn units(&self) -> &[u16] {
        &self.units[..usize::from(self.len)]
    }
}

/// Policy lists and altitudes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicySettings {
    /// `ObAltitude`.
    pub ob_altitude: InlineName<MAX_ALTITUDE>,
    /// `CmAltitude`.
    pub cm_altitude: InlineName<MAX_ALTITUDE>,
    /// `DenyImages` (first `deny_count` used).
    pub deny_images: [InlineName<MAX_IMAGE_NAME>; MAX_DENY_IMAGES],
    /// Entries of `deny_images` in use.
    pub deny_count: usize,
    /// `ProtectPids` (first `protect_count` used).
    pub protect_pids: [u64; MAX_PROTECTED_PIDS],
    /// Entries of `protect_pids` in use.
    pub protect_count: usize,
}

impl PolicySettings {
    /// Defaults: both policies off, default altitudes.
    #[must_use]
    pub const fn defaults() -> Self {
        Self {
            ob_altitude: InlineName::from_ascii(DEFAULT_OB_ALTITUDE),
            cm_altitude: InlineName::from_ascii(DEFAULT_CM_ALTITUDE),
            deny_images: [InlineName::empty(); MAX_DENY_IMAGES],
            deny_count: 0,
            protect_pids: [0; MAX_PROTECTED_PIDS],
            protect_count: 0,
        }
    }

    /// Whether the image-deny policy is on.
    #[must_use]
    pub const fn deny_policy_active(&self) -> bool {
        self.deny_count > 0
    }

    /// Whether the access-strip policy is on.
    #[must_use]
    pub const fn protect_policy_active(&self) -> bool {
        self.protect_count > 0
    }

    /// Whether `pid` is protected.
    #[must_use]
    pub fn is_protected(&self, pid: u64) -> bool {
        self.protect_pids[..self.protect_count].contains(&pid)
    }

    /// Whether an image path's final component matches a `DenyImages`
    /// entry (ASCII case-insensitive).
    #[must_use]
    pub fn denies_image(&self, path: &[u16]) -> bool {
        let file = path
            .rsplit(|&u| u == u16::from(b'\\') || u == u16::from(b'/'))
            .next()
            .unwrap_or(path);
        self.deny_images[..self.deny_count]
            .iter()
            .any(|name| units_eq_ignore_ascii_case(name.units(), file))
    }
}

fn units_eq_ignore_ascii_case(a: &[u16], b: &[u16]) -> bool {
    let lower = |u: u16| {
        if (u16::from(b'A')..=u16::from(b'Z')).contains(&u) {
            u + 32
        } else {
            u
        }
    };
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| lower(x) == lower(y))
}

/// Prefix of the per-source enable values.
pub const ENABLE_PREFIX: &str = "Enable";

/// Sources registered when the registry says nothing.
///
/// Everything but the opt-in sources: `ProfileInterrupt` (an undocumented
/// HAL slot), `Flood` (a test switch) and `Interrupt` (kcallbacks owns no
/// interrupt), and `Driver` (not a callback).
pub const DEFAULT_ENABLED: u64 = {
    let mut mask = 0;
    let mut i = 0;
    while i < SourceId::ALL.len() {
        let source = SourceId::ALL[i];
        if !matches!(
            source,
            SourceId::ProfileInterrupt | SourceId::Flood | SourceId::Interrupt | SourceId::Driver
        ) {
            mask |= source.bit();
        }
        i += 1;
    }
    mask
};

/// The effective configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Bit `i` set = source `i` enabled.
    pub enabled_mask: u64,
    /// Where each source's setting came from.
    pub origins: [ConfigOrigin; SOURCE_COUNT],
    /// Altitudes and policies.
    pub policy: PolicySettings,
    /// `EnableRegistrationWalk`: the opt-in walk of callback objects'
    /// registration lists (reads undocumented layout).
    pub registration_walk: bool,
    /// `EnableEtw`: register the ETW `TraceLogging` provider.
    pub etw: bool,
    /// `RingKiBPerProcessor`: KiB of each processor's event ring.
    pub ring_kib: u32,
}

/// Why a registry value was not applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamError {
    /// No setting has this name.
    UnknownName,
    /// A list or string has too many entries or characters, or an entry is
    /// malformed (e.g. a process id that is not a decimal number).
    BadEntry,
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
    /// A `DenyImages` entry is a path (has `\`, `/` or `:`): only file
    /// names are compared, so it could never match.
    PathEntry,
    /// The data is larger than any valid setting ([`MAX_VALUE_DATA`]).
    TooLarge(usize),
    /// A size outside its bounds, or not a power of two.
    BadSize {
        /// The value found.
        value: u32,
        /// Smallest allowed.
        min: u32,
        /// Largest allowed.
        max: u32,
    },
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::UnknownName => f.write_str("unknown value name"),
            Self::BadEntry => f.write_str("too long, too many entries, or a malformed entry"),
            Self::WrongType { expected, found } => {
                write!(f, "wrong type {found} (expected {expected})")
            }
            Self::BadLength => f.write_str("bad data length"),
            Self::OutOfRange(v) => write!(f, "value {v} out of range (0 or 1)"),
            Self::PathEntry => f.write_str(
                "an entry is a path; DenyImages compares file names only (e.g. evil.exe), so it could never match",
            ),
            Self::TooLarge(size) => write!(f, "{size} bytes of data, more than the {MAX_VALUE_DATA} any setting takes"),
            Self::BadSize { value, min, max } => {
                write!(f, "value {value} is not a power of two from {min} to {max}")
            }
        }
    }
}

/// What [`Settings::apply`] changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// A source was enabled or disabled.
    Source {
        /// The source whose setting the value addressed.
        source: SourceId,
        /// The new state.
        enabled: bool,
    },
    /// `ObAltitude` or `CmAltitude` was set.
    Altitude,
    /// `DenyImages` was set, with this many names.
    DenyImages(usize),
    /// `ProtectPids` was set, with this many ids.
    ProtectPids(usize),
    /// `EnableRegistrationWalk` was set.
    RegistrationWalk(bool),
    /// `RingKiBPerProcessor` was set to this many KiB.
    RingKiB(u32),
    /// `EnableEtw` was set.
    Etw(bool),
}

impl Settings {
    /// The compiled-in defaults.
    #[must_use]
    pub const fn defaults() -> Self {
        Self {
            enabled_mask: DEFAULT_ENABLED,
            origins: [ConfigOrigin::Default; SOURCE_COUNT],
            policy: PolicySettings::defaults(),
            registration_walk: false,
            etw: true,
            ring_kib: DEFAULT_RING_KIB,
        }
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
        if eq_ignore_ascii_case(name, "ObAltitude") {
            self.policy.ob_altitude = parse_altitude(value_type, data)?;
            return Ok(Applied::Altitude);
        }
        if eq_ignore_ascii_case(name, "CmAltitude") {
            self.policy.cm_altitude = parse_altitude(value_type, data)?;
            return Ok(Applied::Altitude);
        }
        if eq_ignore_ascii_case(name, "EnableRegistrationWalk") {
            let enabled = parse_flag(value_type, data)?;
            self.registration_walk = enabled;
            return Ok(Applied::RegistrationWalk(enabled));
        }
        if eq_ignore_ascii_case(name, "EnableEtw") {
            let enabled = parse_flag(value_type, data)?;
            self.etw = enabled;
            return Ok(Applied::Etw(enabled));
        }
        if eq_ignore_ascii_case(name, "RingKiBPerProcessor") {
            let value = parse_dword(value_type, data)?;
            if !(MIN_RING_KIB..=MAX_RING_KIB).contains(&value) || !value.is_power_of_two() {
                return Err(ParamError::BadSize {
                    value,
                    min: MIN_RING_KIB,
                    max: MAX_RING_KIB,
                });
            }
            self.ring_kib = value;
            return Ok(Applied::RingKiB(value));
        }
        if eq_ignore_ascii_case(name, "DenyImages") {
            let mut images = [InlineName::empty(); MAX_DENY_IMAGES];
            let count = parse_multi_sz(value_type, data, |i, entry| {
                if entry
                    .iter()
                    .any(|&u| u == u16::from(b'\\') || u == u16::from(b'/') || u == u16::from(b':'))
                {
                    return Err(ParamError::PathEntry);
                }
                *images.get_mut(i).ok_or(ParamError::BadEntry)? =
                    InlineName::from_units(entry).ok_or(ParamError::BadEntry)?;
                Ok(())
            })?;
            self.policy.deny_images = images;
            self.policy.deny_count = count;
            return Ok(Applied::DenyImages(count));
        }
        if eq_ignore_ascii_case(name, "ProtectPids") {
            let mut pids = [0_u64; MAX_PROTECTED_PIDS];
            let count = parse_multi_sz(value_type, data, |i, entry| {
                *pids.get_mut(i).ok_or(ParamError::BadEntry)? =
                    parse_decimal(entry).ok_or(ParamError::BadEntry)?;
                Ok(())
            })?;
            self.policy.protect_pids = pids;
            self.policy.protect_count = count;
            return Ok(Applied::ProtectPids(count));
        }
        let source = source_of(name).ok_or(ParamError::UnknownName)?;
        match parse_flag(value_type, data) {
            Ok(enabled) => {
                if enabled {
                    self.enabled_mask |= source.bit();
                } else {
                    self.enabled_mask &= !source.bit();
                }
                self.origins[source.index()] = ConfigOrigin::Registry;
                Ok(Applied::Source { source, enabled })
            }
            Err(error) => {
                self.origins[source.index()] = ConfigOrigin::InvalidRegistryValue;
                Err(error)
            }
        }
    }
}

impl Settings {
    /// Rejects a value whose data (`size` bytes) is larger than
    /// [`MAX_VALUE_DATA`] without looking at it: as [`apply`](Self::apply)
    /// with invalid data (a source named by it gets
    /// [`ConfigOrigin::InvalidRegistryValue`]; everything else keeps its
    /// setting). Returns the error to report: [`ParamError::TooLarge`], or
    /// [`ParamError::UnknownName`] for a name no setting has.
    pub fn reject_oversized(&mut self, name: &[u16], size: usize) -> ParamError {
        const NAMED: [&str; 5] = [
            "ObAltitude",
            "CmAltitude",
            "EnableRegistrationWalk",
            "DenyImages",
            "ProtectPids",
        ];
        if NAMED.iter().any(|n| eq_ignore_ascii_case(name, n)) {
            return ParamError::TooLarge(size);
        }
        match source_of(name) {
            Some(source) => {
                self.origins[source.index()] = ConfigOrigin::InvalidRegistryValue;
                ParamError::TooLarge(size)
            }
            None => ParamError::UnknownName,
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
    SourceId::ALL
        .iter()
        .copied()
        .find(|s| eq_ignore_ascii_case(rest, s.name()))
}

fn eq_ignore_ascii_case(units: &[u16], text: &str) -> bool {
    units.len() == text.len()
        && units
            .iter()
            .zip(text.bytes())
            .all(|(&u, b)| u8::try_from(u).is_ok_and(|u| u.eq_ignore_ascii_case(&b)))
}

/// UTF-16LE units of registry string data (odd trailing byte ignored).
fn units(data: &[u8]) -> impl Iterator<Item = u16> + '_ {
    data.chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
}

fn parse_altitude(value_type: u32, data: &[u8]) -> Result<InlineName<MAX_ALTITUDE>, ParamError> {
    if value_type != REG_SZ {
        return Err(ParamError::WrongType {
            expected: REG_SZ,
            found: value_type,
        });
    }
    let mut name = InlineName::<MAX_ALTITUDE>::empty();
    let mut len = 0;
    let mut dots = 0;
    for unit in units(data).take_while(|&u| u != 0) {
        // Altitudes are decimal numbers with an optional fraction: digits
        // and at most one point.
        if unit == u16::from(b'.') {
            dots += 1;
            if dots > 1 {
                return Err(ParamError::BadEntry);
            }
        } else if !(u16::from(b'0')..=u16::from(b'9')).contains(&unit) {
            return Err(ParamError::BadEntry);
        }
        *name.units.get_mut(len).ok_or(ParamError::BadEntry)? = unit;
        len += 1;
    }
    if len == dots {
        return Err(ParamError::BadEntry);
    }
    name.len = u8::try_from(len).map_err(|_| ParamError::BadEntry)?;
    Ok(name)
}

/// Walks a `REG_MULTI_SZ`, calling `entry(index, units)` for each non-empty
/// string; returns the count.
fn parse_multi_sz(
    value_type: u32,
    data: &[u8],
    mut entry: impl FnMut(usize, &[u16]) -> Result<(), ParamError>,
) -> Result<usize, ParamError> {
    if value_type != REG_MULTI_SZ {
        return Err(ParamError::WrongType {
            expected: REG_MULTI_SZ,
            found: value_type,
        });
    }
    let mut current = [0u16; MAX_IMAGE_NAME + 1];
    let mut len = 0;
    let mut count = 0;
    for unit in units(data).chain(core::iter::once(0)) {
        if unit == 0 {
            if len == 0 {
                // An empty string ends the list.
                break;
            }
            entry(count, &current[..len])?;
            count += 1;
            len = 0;
        } else {
            *current.get_mut(len).ok_or(ParamError::BadEntry)? = unit;
            len += 1;
        }
    }
    Ok(count)
}

fn parse_decimal(units: &[u16]) -> Option<u64> {
    if units.is_empty() || units.len() > 20 {
        return None;
    }
    units.iter().try_fold(0_u64, |acc, &u| {
        let digit = u8::try_from(u).ok().filter(u8::is_ascii_digit)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

fn parse_dword(value_type: u32, data: &[u8]) -> Result<u32, ParamError> {
    if value_type != REG_DWORD {
        return Err(ParamError::WrongType {
            expected: REG_DWORD,
            found: value_type,
        });
    }
    let bytes: [u8; 4] = data.try_into().map_err(|_| ParamError::BadLength)?;
    Ok(u32::from_le_bytes(bytes))
}

fn parse_flag(value_type: u32, data: &[u8]) -> Result<bool, ParamError> {
    match parse_dword(value_type, data)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(ParamError::OutOfRange(other)),
    }
}

#[cfg(test)]
mod tests;
