//! `UNICODE_STRING` helpers.

use wdk_sys::UNICODE_STRING;

/// Reads a `UNICODE_STRING` into a `String` (lossy). `None` for a null
/// pointer or a malformed string (odd length, `Length > MaximumLength`,
/// null buffer with a non-zero length).
///
/// # Safety
/// `string` is null or points to a readable `UNICODE_STRING` whose buffer
/// holds `Length` bytes.
#[must_use]
pub unsafe fn read(string: *const UNICODE_STRING) -> Option<String> {
    if string.is_null() {
        return None;
    }
    // SAFETY: non-null and readable per the caller.
    let s = unsafe { &*string };
    if s.Length % 2 != 0 || s.Length > s.MaximumLength {
        return None;
    }
    if s.Length == 0 {
        return Some(String::new());
    }
    if s.Buffer.is_null() {
        return None;
    }
    // SAFETY: the buffer holds Length bytes (Length / 2 units) per the caller.
    let units = unsafe { std::slice::from_raw_parts(s.Buffer, usize::from(s.Length / 2)) };
    Some(String::from_utf16_lossy(units))
}

/// An owned UTF-16 string with a `UNICODE_STRING` describing it. The
/// descriptor points into the owned buffer, so keep this value alive (and
/// unmoved: the buffer is on the heap, the descriptor is rebuilt by
/// [`OwnedUnicode::as_ptr`]) while the kernel-side consumer runs.
pub struct OwnedUnicode {
    units: Vec<u16>,
    descriptor: UNICODE_STRING,
}

impl OwnedUnicode {
    /// Encodes `text`.
    ///
    /// # Panics
    /// If `text` is longer than a `UNICODE_STRING` can describe (32767 units).
    #[must_use]
    pub fn new(text: &str) -> Self {
        let mut units: Vec<u16> = text.encode_utf16().collect();
        let length = u16::try_from(units.len() * 2).expect("string too long for a UNICODE_STRING");
        units.push(0);
        let descriptor = UNICODE_STRING {
            Length: length,
            MaximumLength: length + 2,
            Buffer: units.as_mut_ptr(),
        };
        Self { units, descriptor }
    }

    /// The descriptor (valid while `self` lives).
    pub const fn as_ptr(&mut self) -> *mut UNICODE_STRING {
        self.descriptor.Buffer = self.units.as_mut_ptr();
        &raw mut self.descriptor
    }

    /// The descriptor by value (its buffer points into `self`).
    #[must_use]
    pub const fn descriptor(&self) -> UNICODE_STRING {
        UNICODE_STRING {
            Buffer: self.units.as_ptr().cast_mut(),
            ..self.descriptor
        }
    }
}

impl std::fmt::Debug for OwnedUnicode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.units.len().saturating_sub(1);
        write!(f, "{:?}", String::from_utf16_lossy(&self.units[..len]))
    }
}

// SAFETY: the buffer is owned and only read through the descriptor.
unsafe impl Send for OwnedUnicode {}
