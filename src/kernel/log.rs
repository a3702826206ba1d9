//! Heap-free kernel debug output through `DbgPrintEx`.
//!
//! Lines go to component `DPFLTR_IHVDRIVER_ID` at `DPFLTR_ERROR_LEVEL`: the
//! one level the default Debug Print Filter lets through for that component,
//! so DbgView ("Capture Kernel") and WinDbg show them without registry
//! changes. Text is formatted into a fixed stack buffer and passed as the
//! argument of a constant `"%s\n"` format, so nothing in the text is ever
//! interpreted by `DbgPrintEx` and nothing is allocated.

use core::fmt::{self, Write};

use wdk_sys::{_DPFLTR_TYPE::DPFLTR_IHVDRIVER_ID, DPFLTR_ERROR_LEVEL, ntddk::DbgPrintEx};

/// Capacity of one output line, including the terminating NUL. `DbgPrintEx`
/// transmits at most 512 bytes per call.
pub const LINE_CAPACITY: usize = 512;

/// A fixed-capacity, NUL-terminated text buffer that truncates (marking the
/// cut with `...`) instead of failing or allocating.
pub struct LineBuffer {
    bytes: [u8; LINE_CAPACITY],
    len: usize,
    truncated: bool,
}

impl LineBuffer {
    /// An empty line.
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            bytes: [0; LINE_CAPACITY],
            len: 0,
            truncated: false,
        }
    }

    /// The text written so far (without the NUL).
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The text as `&str` (the buffer only ever holds whole UTF-8 characters).
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("<invalid utf-8>")
    }

    /// Whether text was cut off.
    ///
    /// # IRQL
    /// Any.
    #[must_use]
    pub const fn truncated(&self) -> bool {
        self.truncated
    }

    /// Pointer to the NUL-terminated text, valid while `self` lives.
    fn as_c_ptr(&mut self) -> *const u8 {
        let end = self.len.min(LINE_CAPACITY - 1);
        self.bytes[end] = 0;
        self.bytes.as_ptr()
    }
}

impl Default for LineBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for LineBuffer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        const MARK: &[u8] = b"...";
        if self.truncated {
            return Ok(());
        }
        // Keep room for the NUL.
        let room = LINE_CAPACITY - 1 - self.len;
        if s.len() <= room {
            self.bytes[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
            return Ok(());
        }
        // Cut at a character boundary, leaving room for the mark.
        let mut cut = room.saturating_sub(MARK.len());
        while cut > 0 && !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.bytes[self.len..self.len + cut].copy_from_slice(&s.as_bytes()[..cut]);
        self.len += cut;
        let mark = MARK.len().min(LINE_CAPACITY - 1 - self.len);
        self.bytes[self.len..self.len + mark].copy_from_slice(&MARK[..mark]);
        self.len += mark;
        self.truncated = true;
        Ok(())
    }
}

/// Prints one formatted line with the `kcallbacks: ` prefix.
///
/// # IRQL
/// `<= DISPATCH_LEVEL` (the project's rule; `DbgPrintEx` itself allows up to
/// DIRQL, but never call it from HIGH_LEVEL callbacks: they only record).
pub fn print_line(args: fmt::Arguments<'_>) {
    let mut line = LineBuffer::new();
    // Writing to a LineBuffer never fails; a Display impl that fails just
    // leaves a shorter line.
    let _ = line.write_str("kcallbacks: ");
    let _ = line.write_fmt(args);
    emit(&mut line);
}

/// Sends a prepared line to `DbgPrintEx`.
///
/// # IRQL
/// `<= DISPATCH_LEVEL`.
pub fn emit(line: &mut LineBuffer) {
    let text = line.as_c_ptr();
    // SAFETY: the format is a constant NUL-terminated string with exactly one
    // `%s`, and `text` is a NUL-terminated buffer that outlives the call.
    unsafe {
        DbgPrintEx(
            DPFLTR_IHVDRIVER_ID as u32,
            DPFLTR_ERROR_LEVEL,
            c"%s\n".as_ptr().cast(),
            text,
        );
    }
}

/// `kprintln!("...", args)`: one `kcallbacks: `-prefixed line to the kernel
/// debugger. IRQL `<= DISPATCH_LEVEL`.
#[macro_export]
macro_rules! kprintln {
    ($($arg:tt)*) => {
        $crate::kernel::log::print_line(format_args!($($arg)*))
    };
}
