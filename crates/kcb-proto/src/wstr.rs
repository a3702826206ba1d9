//! Fixed-capacity inline UTF-16 strings.

use core::char::{REPLACEMENT_CHARACTER, decode_utf16};
use core::fmt;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A UTF-16 string stored inline in a record: `len` code units of `units`
/// are meaningful, the rest are zero.
///
/// The layout is `#[repr(C)] { len: u16, truncated: u16, units: [u16; N] }`
/// (`4 + 2 * N` bytes, alignment 2, no padding). `U` is always `u16` (its
/// default; every method is implemented for it alone): it is a type
/// parameter only so that `zerocopy`'s `IntoBytes` derive can prove the
/// absence of padding for every `N` (all fields of one type parameter),
/// which it cannot do for a struct generic over `N` alone.
///
/// Values decoded from untrusted bytes may have `len > N`; every accessor
/// clamps, and [`EventRecord::from_bytes`](crate::EventRecord::from_bytes)
/// rejects such records.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct WStr<const N: usize, U = u16> {
    /// Number of meaningful code units in `units`.
    pub len: U,
    /// 1 if the source string was longer than `N` and got cut, else 0.
    pub truncated: U,
    /// The code units (not NUL-terminated).
    pub units: [U; N],
}

impl<const N: usize> WStr<N> {
    /// The empty string.
    pub const EMPTY: Self = Self {
        len: 0,
        truncated: 0,
        units: [0; N],
    };

    /// Capacity in UTF-16 code units.
    pub const CAPACITY: usize = {
        assert!(N <= u16::MAX as usize, "WStr capacity must fit in u16");
        N
    };

    /// Returns an empty string.
    #[must_use]
    pub const fn new() -> Self {
        Self::EMPTY
    }

    /// Builds a string from UTF-16 code units (see [`set_from_utf16`](Self::set_from_utf16)).
    #[must_use]
    pub fn from_utf16(src: &[u16]) -> Self {
        let mut s = Self::EMPTY;
        s.set_from_utf16(src);
        s
    }

    /// Builds a string from a Rust string, truncating like
    /// [`set_from_utf16`](Self::set_from_utf16).
    #[must_use]
    pub fn from_str_truncating(src: &str) -> Self {
        let mut s = Self::EMPTY;
        s.set_from_str(src);
        s
    }

    /// Replaces the contents with `src`, keeping at most `N` code units.
    ///
    /// When `src` does not fit, the kept prefix is cut before a surrogate
    /// pair that would be split, `truncated` is set to 1 and `true` is
    /// returned. Unused units are zeroed.
    pub fn set_from_utf16(&mut self, src: &[u16]) -> bool {
        let mut keep = src.len().min(Self::CAPACITY);
        let truncated = keep < src.len();
        if truncated && keep > 0 && is_high_surrogate(src[keep - 1]) {
            keep -= 1;
        }
        self.units[..keep].copy_from_slice(&src[..keep]);
        self.units[keep..].fill(0);
        self.set_len(keep, truncated);
        truncated
    }

    /// Replaces the contents with the concatenation of `parts`, keeping at
    /// most `N` code units (never splitting a surrogate pair, as
    /// [`set_from_utf16`](Self::set_from_utf16)). Returns `true` and sets
    /// `truncated` if it did not fit. Does not allocate.
    pub fn set_from_parts(&mut self, parts: &[&[u16]]) -> bool {
        let mut keep = 0;
        let mut truncated = false;
        for part in parts {
            let room = Self::CAPACITY - keep;
            let mut take = part.len().min(room);
            if take < part.len() {
                truncated = true;
                if take > 0 && is_high_surrogate(part[take - 1]) {
                    take -= 1;
                }
            }
            self.units[keep..keep + take].copy_from_slice(&part[..take]);
            keep += take;
            if truncated {
                break;
            }
        }
        self.units[keep..].fill(0);
        self.set_len(keep, truncated);
        truncated
    }

    /// Replaces the contents with `src` encoded as UTF-16, keeping at most
    /// `N` code units (never splitting a surrogate pair). Returns `true` if
    /// it was truncated.
    pub fn set_from_str(&mut self, src: &str) -> bool {
        let mut keep = 0;
        let mut truncated = false;
        let mut buf = [0u16; 2];
        for c in src.chars() {
            let enc = c.encode_utf16(&mut buf);
            if keep + enc.len() > Self::CAPACITY {
                truncated = true;
                break;
            }
            self.units[keep..keep + enc.len()].copy_from_slice(enc);
            keep += enc.len();
        }
        self.units[keep..].fill(0);
        self.set_len(keep, truncated);
        truncated
    }

    fn set_len(&mut self, keep: usize, truncated: bool) {
        // `keep <= CAPACITY <= u16::MAX` (asserted when CAPACITY is evaluated).
        self.len = u16::try_from(keep).unwrap_or(u16::MAX);
        self.truncated = u16::from(truncated);
    }

    /// The meaningful code units (clamped to the capacity).
    #[must_use]
    pub fn as_units(&self) -> &[u16] {
        let len = usize::from(self.len).min(N);
        &self.units[..len]
    }

    /// Number of meaningful code units (clamped to the capacity).
    #[must_use]
    pub fn len(&self) -> usize {
        usize::from(self.len).min(N)
    }

    /// Whether the string is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the source string was cut to fit.
    #[must_use]
    pub const fn is_truncated(&self) -> bool {
        self.truncated != 0
    }

    /// Iterates the characters, replacing unpaired surrogates with U+FFFD.
    /// Does not allocate.
    pub fn chars(&self) -> impl Iterator<Item = char> + '_ {
        decode_utf16(self.as_units().iter().copied()).map(|r| r.unwrap_or(REPLACEMENT_CHARACTER))
    }

    /// A capacity-erased view of this string.
    #[must_use]
    pub const fn view(&self) -> WStrView<'_> {
        WStrView {
            len: self.len,
            truncated: self.truncated,
            units: &self.units,
        }
    }

    /// Whether the contents equal `s` (compared as characters).
    #[must_use]
    pub fn eq_str(&self, s: &str) -> bool {
        self.chars().eq(s.chars())
    }
}

impl<const N: usize> Default for WStr<N> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl<const N: usize> fmt::Display for WStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.view(), f)
    }
}

impl<const N: usize> fmt::Debug for WStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.view(), f)
    }
}

/// A borrowed, capacity-erased view of a [`WStr`], possibly not yet
/// validated (`len` may exceed `units.len()`).
#[derive(Clone, Copy)]
pub struct WStrView<'a> {
    /// Raw length field.
    pub len: u16,
    /// Raw truncation flag.
    pub truncated: u16,
    /// The whole inline buffer.
    pub units: &'a [u16],
}

impl<'a> WStrView<'a> {
    /// The meaningful code units (clamped to the buffer).
    #[must_use]
    pub fn as_units(&self) -> &'a [u16] {
        let len = usize::from(self.len).min(self.units.len());
        &self.units[..len]
    }

    /// Whether the raw fields are consistent (`len` within the buffer,
    /// `truncated` 0 or 1).
    #[must_use]
    pub fn is_valid(&self) -> bool {
        usize::from(self.len) <= self.units.len() && self.truncated <= 1
    }

    /// Whether the source string was cut to fit.
    #[must_use]
    pub const fn is_truncated(&self) -> bool {
        self.truncated != 0
    }

    /// Iterates the characters, replacing unpaired surrogates with U+FFFD.
    pub fn chars(&self) -> impl Iterator<Item = char> + 'a {
        decode_utf16(self.as_units().iter().copied()).map(|r| r.unwrap_or(REPLACEMENT_CHARACTER))
    }
}

impl fmt::Display for WStrView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write as _;
        for c in self.chars() {
            f.write_char(c)?;
        }
        Ok(())
    }
}

impl fmt::Debug for WStrView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write as _;
        f.write_char('"')?;
        for c in self.chars() {
            for e in c.escape_debug() {
                f.write_char(e)?;
            }
        }
        f.write_char('"')?;
        if self.is_truncated() {
            f.write_str("...")?;
        }
        Ok(())
    }
}

const fn is_high_surrogate(u: u16) -> bool {
    matches!(u, 0xD800..=0xDBFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    fn utf16(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    #[test]
    fn set_and_read_back() {
        let mut w = WStr::<8>::new();
        assert!(!w.set_from_utf16(&utf16("abc")));
        assert_eq!(w.len(), 3);
        assert!(!w.is_truncated());
        assert!(w.eq_str("abc"));
        assert_eq!(w.units[3..], [0; 5]);
        assert_eq!(std::format!("{w}"), "abc");
        assert_eq!(std::format!("{w:?}"), "\"abc\"");
    }

    #[test]
    fn truncation_sets_flag_and_zeroes_tail() {
        let mut w = WStr::<4>::from_utf16(&utf16("abcdef"));
        assert!(w.is_truncated());
        assert!(w.eq_str("abcd"));
        assert!(!w.set_from_utf16(&utf16("x")));
        assert!(!w.is_truncated());
        assert_eq!(w.units, [u16::from(b'x'), 0, 0, 0]);
        // exactly full is not truncated
        assert!(!w.set_from_utf16(&utf16("wxyz")));
        assert!(w.eq_str("wxyz"));
    }

    #[test]
    fn truncation_does_not_split_surrogate_pairs() {
        // "ab" + U+1F600 (two units) + "c": cutting at 3 would split the pair.
        let src = utf16("ab\u{1F600}c");
        assert_eq!(src.len(), 5);
        let w = WStr::<3>::from_utf16(&src);
        assert!(w.is_truncated());
        assert_eq!(w.len(), 2);
        assert!(w.eq_str("ab"));
        let w = WStr::<4>::from_utf16(&src);
        assert!(w.eq_str("ab\u{1F600}"));
        let w = WStr::<3>::from_str_truncating("ab\u{1F600}c");
        assert!(w.is_truncated());
        assert!(w.eq_str("ab"));
        let w = WStr::<2>::from_str_truncating("\u{e9}\u{e9}\u{e9}");
        assert!(w.eq_str("\u{e9}\u{e9}"));
    }

    #[test]
    fn parts_are_joined_and_cut_like_one_string() {
        let mut w = WStr::<8>::new();
        assert!(!w.set_from_parts(&[&utf16("\\A"), &utf16("\\"), &utf16("bc")]));
        assert!(w.eq_str("\\A\\bc"));
        assert!(!w.is_truncated());
        assert!(w.set_from_parts(&[&utf16("abcdef"), &utf16("\\"), &utf16("ghi")]));
        assert!(w.eq_str("abcdef\\g"));
        assert!(w.is_truncated());
        assert!(!w.set_from_parts(&[&utf16("x"), &[]]));
        assert_eq!(w.units, [u16::from(b'x'), 0, 0, 0, 0, 0, 0, 0]);
        let mut w = WStr::<3>::new();
        assert!(w.set_from_parts(&[&utf16("ab"), &utf16("\u{1F600}")]));
        assert!(w.eq_str("ab"), "the pair is not split");
        assert!(!w.set_from_parts(&[&utf16("abc"), &[]]), "exactly full");
    }

    #[test]
    fn unpaired_surrogates_become_replacement() {
        let w = WStr::<4>::from_utf16(&[u16::from(b'a'), 0xD800, u16::from(b'b'), 0xDC00]);
        let s: String = w.chars().collect();
        assert_eq!(s, "a\u{FFFD}b\u{FFFD}");
    }

    #[test]
    fn invalid_len_is_clamped() {
        let mut w = WStr::<2>::from_str_truncating("hi");
        w.len = 500;
        w.truncated = 7;
        assert_eq!(w.len(), 2);
        assert!(w.eq_str("hi"));
        assert!(!w.view().is_valid());
        assert_eq!(core::mem::size_of::<WStr<10>>(), 24);
    }
}
