//! `UNICODE_STRING`s over static memory, built at compile time.

use wdk_sys::UNICODE_STRING;

/// Reads a `UNICODE_STRING` the kernel handed to a callback as UTF-16 units.
///
/// # Safety
/// `string` is null or points to a valid `UNICODE_STRING` whose buffer holds
/// `Length` bytes, both valid for the returned lifetime.
///
/// # IRQL
/// Any at which the string is resident (callbacks pass resident strings).
#[must_use]
pub unsafe fn units_of<'a>(string: *const UNICODE_STRING) -> &'a [u16] {
    if string.is_null() {
        return &[];
    }
    // SAFETY: non-null and valid per the caller.
    let s = unsafe { &*string };
    if s.Buffer.is_null() || s.Length == 0 {
        return &[];
    }
    // SAFETY: the caller guarantees Buffer holds Length bytes (Length / 2 units).
    unsafe { core::slice::from_raw_parts(s.Buffer, usize::from(s.Length / 2)) }
}

/// Longest name a [`WideName`] holds, in UTF-16 units.
pub const WIDE_NAME_CAPACITY: usize = 64;

/// An object name of up to [`WIDE_NAME_CAPACITY`] ASCII characters, widened
/// at compile time, so names of different lengths fit in one static table.
pub struct WideName {
    units: [u16; WIDE_NAME_CAPACITY],
    len: usize,
}

impl WideName {
    /// Widens `ascii`.
    ///
    /// # Panics
    /// At compile time for non-ASCII or overlong input.
    ///
    /// # IRQL
    /// Any (const).
    #[must_use]
    pub const fn new(ascii: &str) -> Self {
        let bytes = ascii.as_bytes();
        assert!(bytes.len() <= WIDE_NAME_CAPACITY, "name too long");
        let mut units = [0u16; WIDE_NAME_CAPACITY];
        let mut i = 0;
        while i < bytes.len() {
            assert!(bytes[i].is_ascii(), "ASCII only");
            units[i] = bytes[i] as u16;
            i += 1;
        }
        Self {
            units,
            len: bytes.len(),
        }
    }

    /// The UTF-16 units.
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub fn units(&self) -> &[u16] {
        &self.units[..self.len]
    }

    /// A `UNICODE_STRING` over the static name (the kernel only reads it).
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    #[allow(clippy::cast_possible_truncation, reason = "at most 128 bytes")]
    pub const fn as_unicode_string(&'static self) -> UNICODE_STRING {
        UNICODE_STRING {
            Length: (self.len * 2) as u16,
            MaximumLength: (self.len * 2) as u16,
            Buffer: self.units.as_ptr().cast_mut(),
        }
    }
}

/// Displays UTF-16 as text, replacing invalid sequences.
pub struct Utf16Display<'a>(pub &'a [u16]);

impl core::fmt::Display for Utf16Display<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for c in char::decode_utf16(self.0.iter().copied()) {
            core::fmt::Write::write_char(f, c.unwrap_or(char::REPLACEMENT_CHARACTER))?;
        }
        Ok(())
    }
}
