//! The PASSIVE_LEVEL registry reader of `Parameters`.
//!
//! Compiled-in defaults overridden by the service key's `Parameters`
//! subkey, read once at `DriverEntry` into one [`Settings`] value
//! (published by [`crate::config::settings`]).
//!
//! The rules for each value live in [`kcb_proto::params`] (pure, fuzzed);
//! this module only walks the registry key and reports. An invalid value is
//! reported in the debug output and its default stays.

use core::ptr;

use kcb_proto::params::{Applied, MAX_VALUE_DATA, ParamError, Settings};
use wdk_sys::{
    _KEY_VALUE_INFORMATION_CLASS::KeyValueFullInformation,
    HANDLE, KEY_READ, KEY_VALUE_FULL_INFORMATION, PCUNICODE_STRING, STATUS_BUFFER_OVERFLOW,
    STATUS_BUFFER_TOO_SMALL, STATUS_NO_MORE_ENTRIES, UNICODE_STRING,
    ntddk::{ZwEnumerateValueKey, ZwOpenKey},
};

use crate::{
    kernel::{
        object::{KernelHandle, ObjectAttributes},
        unicode::{Utf16Display, units_of},
    },
    kprintln,
};

/// Longest registry path (in UTF-16 units) the driver builds.
const MAX_PATH_UNITS: usize = 512;
/// Room for one value's KEY_VALUE_FULL_INFORMATION: the fixed part, the
/// longest name the driver looks at and the largest data any setting
/// accepts ([`MAX_VALUE_DATA`]), so every value that can be valid is read
/// whole; a larger one is reported invalid by name, never skipped silently.
const VALUE_BUFFER_SIZE: usize =
    (core::mem::offset_of!(KEY_VALUE_FULL_INFORMATION, Name) + 2 * MAX_NAME_UNITS + MAX_VALUE_DATA + 7) & !7;
/// [`VALUE_BUFFER_SIZE`] as the `ULONG` the registry routines take.
#[allow(clippy::cast_possible_truncation, reason = "about 1.3 KiB")]
const VALUE_BUFFER_LEN: u32 = VALUE_BUFFER_SIZE as u32;

/// `\Parameters`.
const PARAMETERS_SUFFIX: &str = "\\Parameters";

/// Reads `<registry_path>\Parameters`, reports every value it applied or
/// rejected, and returns the result (DriverEntry publishes it through
/// [`crate::config::settings::publish`]).
///
/// # Safety
/// `registry_path` is the service key path passed to `DriverEntry`.
///
/// # IRQL
/// PASSIVE_LEVEL.
#[must_use]
pub unsafe fn load(registry_path: PCUNICODE_STRING) -> Settings {
    let mut settings = Settings::defaults();
    // SAFETY: DriverEntry's registry path is a valid UNICODE_STRING.
    let service_key = unsafe { units_of(registry_path) };
    match open_parameters(service_key) {
        Ok(Some(key)) => {
            read_values(&key, &mut |name, value_type, data| match data {
                Ok(data) => report(settings.apply(name, value_type, data), name),
                Err(size) => report(Err(settings.reject_oversized(name, size)), name),
            });
        }
        Ok(None) => kprintln!("config: no Parameters key; compiled-in defaults"),
        Err(status) => kprintln!(
            "config: cannot open Parameters (status={:#010X}); compiled-in defaults",
            status.cast_unsigned()
        ),
    }
    kprintln!("config: enabled sources mask={:#x}", settings.enabled_mask);
    settings
}

/// The service's `Start` value (0 = boot start), if readable.
///
/// # Safety
/// `registry_path` is the service key path passed to `DriverEntry`.
///
/// # IRQL
/// PASSIVE_LEVEL.
#[must_use]
pub unsafe fn service_start_type(registry_path: PCUNICODE_STRING) -> Option<u32> {
    // SAFETY: DriverEntry's registry path is a valid UNICODE_STRING.
    let service_key = unsafe { units_of(registry_path) };
    let key = open_key(service_key, "").ok()??;
    let mut start = None;
    read_values(&key, &mut |name, value_type, data| {
        if let Ok(data) = data
            && eq_ascii_ignore_case(name, "Start")
            && value_type == kcb_proto::params::REG_DWORD
        {
            start = data.try_into().ok().map(u32::from_le_bytes);
        }
    });
    start
}

fn eq_ascii_ignore_case(units: &[u16], text: &str) -> bool {
    units.len() == text.len()
        && units
            .iter()
            .zip(text.bytes())
            .all(|(&u, b)| u8::try_from(u).is_ok_and(|u| u.eq_ignore_ascii_case(&b)))
}

/// Opens the Parameters subkey; `Ok(None)` if it does not exist.
fn open_parameters(service_key: &[u16]) -> Result<Option<KernelHandle>, i32> {
    open_key(service_key, PARAMETERS_SUFFIX)
}

/// Opens `service_key` + `suffix`; `Ok(None)` if it does not exist.
fn open_key(service_key: &[u16], suffix: &str) -> Result<Option<KernelHandle>, i32> {
    let mut path = [0u16; MAX_PATH_UNITS];
    let suffix_len = suffix.len();
    let total = service_key.len() + suffix_len;
    if service_key.is_empty() || total > MAX_PATH_UNITS {
        return Err(wdk_sys::STATUS_NAME_TOO_LONG);
    }
    path[..service_key.len()].copy_from_slice(service_key);
    for (slot, byte) in path[service_key.len()..total].iter_mut().zip(suffix.bytes()) {
        *slot = u16::from(byte);
    }
    let byte_len = u16::try_from(total * 2).map_err(|_| wdk_sys::STATUS_NAME_TOO_LONG)?;
    let mut name = UNICODE_STRING {
        Length: byte_len,
        MaximumLength: byte_len,
        Buffer: path.as_mut_ptr(),
    };
    let mut attributes = ObjectAttributes::named(&mut name, 0);
    let mut key: HANDLE = ptr::null_mut();
    // SAFETY: valid attributes naming a stack buffer that outlives the call.
    let status = unsafe { ZwOpenKey(&raw mut key, KEY_READ, attributes.as_mut_ptr()) };
    match status {
        // SAFETY: ZwOpenKey succeeded: an open kernel handle, ours.
        s if s >= 0 => Ok(Some(unsafe { KernelHandle::from_raw(key) })),
        wdk_sys::STATUS_OBJECT_NAME_NOT_FOUND => Ok(None),
        s => Err(s),
    }
}

/// Storage for one KEY_VALUE_FULL_INFORMATION, aligned for it.
#[repr(C, align(8))]
struct ValueBuffer([u8; VALUE_BUFFER_SIZE]);

/// What [`read_values`] calls per value: name, `REG_*` type, and the data,
/// or `Err(size)` for data larger than [`MAX_VALUE_DATA`] (not read).
type ValueVisitor<'a> = dyn FnMut(&[u16], u32, Result<&[u8], usize>) + 'a;

/// Enumerates every value of the key, calling `visit(name, type, data)`.
///
/// The buffer holds any value whose name is at most [`MAX_NAME_UNITS`]
/// long and whose data is at most [`MAX_VALUE_DATA`] bytes, so those are
/// read whole in one call. For a larger one the call returns
/// `STATUS_BUFFER_OVERFLOW` with the fixed part and as much of the rest as
/// fits (wdm/nf-wdm-zwenumeratevaluekey): its name (when it fits) and data
/// size are taken from there and it is reported as too large.
fn read_values(key: &KernelHandle, visit: &mut ValueVisitor<'_>) {
    let mut buffer = ValueBuffer([0; VALUE_BUFFER_SIZE]);
    for index in 0..256_u32 {
        let mut returned = 0_u32;
        // SAFETY: `key` is open; the buffer is writable for its full length.
        let status = unsafe {
            ZwEnumerateValueKey(
                key.as_raw(),
                index,
                KeyValueFullInformation,
                buffer.0.as_mut_ptr().cast(),
                VALUE_BUFFER_LEN,
                &raw mut returned,
            )
        };
        if status == STATUS_NO_MORE_ENTRIES {
            return;
        }
        if status == STATUS_BUFFER_OVERFLOW {
            match split_oversized(&buffer.0) {
                Some((name, value_type, size)) => visit(name.units(), value_type, Err(size)),
                None => kprintln!(
                    "config: value #{index} has a name longer than {MAX_NAME_UNITS} characters (no setting has); ignored"
                ),
            }
            continue;
        }
        if status == STATUS_BUFFER_TOO_SMALL {
            // Not expected: the buffer is larger than the fixed part.
            kprintln!("config: value #{index} could not be read (STATUS_BUFFER_TOO_SMALL); ignored");
            continue;
        }
        if status < 0 {
            kprintln!(
                "config: enumerating values failed: status={:#010X}",
                status.cast_unsigned()
            );
            return;
        }
        let valid = (returned as usize).min(VALUE_BUFFER_SIZE);
        match split_value(&buffer.0[..valid]) {
            Some((name, value_type, data)) if data.len() > MAX_VALUE_DATA => {
                visit(name.units(), value_type, Err(data.len()));
            }
            Some((name, value_type, data)) => visit(name.units(), value_type, Ok(data)),
            None => kprintln!("config: value #{index} has an inconsistent layout; ignored"),
        }
    }
}

/// Longest value name (UTF-16 units) the driver looks at; the longest
/// setting name is far shorter.
const MAX_NAME_UNITS: usize = 128;

/// A value name copied out of the information buffer (UTF-16, no NUL).
struct ValueName {
    buf: [u16; MAX_NAME_UNITS],
    len: usize,
}

impl ValueName {
    /// Decodes little-endian UTF-16 bytes; `None` if odd-sized or too long.
    fn from_le_bytes(bytes: &[u8]) -> Option<Self> {
        let len = bytes.len() / 2;
        if len > MAX_NAME_UNITS || !bytes.len().is_multiple_of(2) {
            return None;
        }
        let mut buf = [0u16; MAX_NAME_UNITS];
        for (unit, pair) in buf.iter_mut().zip(bytes.chunks_exact(2)) {
            *unit = u16::from_le_bytes([pair[0], pair[1]]);
        }
        Some(Self { buf, len })
    }

    fn units(&self) -> &[u16] {
        &self.buf[..self.len]
    }
}

/// The fixed part and the name of a KEY_VALUE_FULL_INFORMATION: (name,
/// type, data offset, data length), every offset checked against `info`.
fn split_header(info: &[u8]) -> Option<(ValueName, u32, usize, usize)> {
    let header = core::mem::offset_of!(KEY_VALUE_FULL_INFORMATION, Name);
    let field = |offset: usize| -> Option<u32> {
        let bytes = info.get(offset..offset + 4)?;
        Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    };
    let value_type = field(core::mem::offset_of!(KEY_VALUE_FULL_INFORMATION, Type))?;
    let data_offset = field(core::mem::offset_of!(KEY_VALUE_FULL_INFORMATION, DataOffset))? as usize;
    let data_length = field(core::mem::offset_of!(KEY_VALUE_FULL_INFORMATION, DataLength))? as usize;
    let name_length = field(core::mem::offset_of!(KEY_VALUE_FULL_INFORMATION, NameLength))? as usize;
    let name_bytes = info.get(header..header.checked_add(name_length)?)?;
    Some((
        ValueName::from_le_bytes(name_bytes)?,
        value_type,
        data_offset,
        data_length,
    ))
}

/// Splits a KEY_VALUE_FULL_INFORMATION into (name, type, data), checking
/// every offset against what the kernel returned.
fn split_value(info: &[u8]) -> Option<(ValueName, u32, &[u8])> {
    let (name, value_type, data_offset, data_length) = split_header(info)?;
    let data = info.get(data_offset..data_offset.checked_add(data_length)?)?;
    Some((name, value_type, data))
}

/// The name, type and data size of a value the buffer could not hold (the
/// fixed part and, when it fits, the name of a partial
/// KEY_VALUE_FULL_INFORMATION).
fn split_oversized(info: &[u8]) -> Option<(ValueName, u32, usize)> {
    let (name, value_type, _, data_length) = split_header(info)?;
    Some((name, value_type, data_length))
}

/// Prints what applying one value did.
fn report(result: Result<Applied, ParamError>, name: &[u16]) {
    let name = Utf16Display(name);
    match result {
        Ok(Applied::Source { source, enabled }) => kprintln!(
            "config: {name} = {} ({} {})",
            u8::from(enabled),
            source.name(),
            if enabled { "enabled" } else { "disabled" }
        ),
        Ok(Applied::Altitude) => kprintln!("config: {name} set"),
        Ok(Applied::DenyImages(n)) => kprintln!("config: {name}: {n} image names (deny policy on)"),
        Ok(Applied::ProtectPids(n)) => {
            kprintln!("config: {name}: {n} process ids (protect policy on)");
        }
        Ok(Applied::RegistrationWalk(on)) => kprintln!(
            "config: {name} = {} (registration walk {})",
            u8::from(on),
            if on { "on" } else { "off" }
        ),
        Ok(Applied::RingKiB(kib)) => kprintln!("config: {name} = {kib} KiB per processor"),
        Ok(Applied::Etw(on)) => kprintln!(
            "config: {name} = {} (ETW provider {})",
            u8::from(on),
            if on { "on" } else { "off" }
        ),
        Err(ParamError::UnknownName) => kprintln!("config: unknown value {name}; ignored"),
        Err(error) => kprintln!("config: invalid value {name}: {error}; default used"),
    }
}
