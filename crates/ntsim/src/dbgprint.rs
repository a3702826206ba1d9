//! `DbgPrint` / `DbgPrintEx` capture.
//!
//! The variadic entry points are in `csrc/shims.c`; they format with
//! `vsnprintf` and call [`ntsim_dbgprint_capture`] with the exact text.
//!
//! Filtering (debugger/reading-and-filtering-debugging-messages): a
//! `Level` of 0-31 stands for the mask `1 << Level`, larger values are masks;
//! a message is shown if its mask shares a bit with the system-wide mask
//! (default: `DPFLTR_ERROR_LEVEL` only, i.e. bit 0) or the component's mask
//! (default 0). Every call is recorded; [`DebugLine::visible`] says whether
//! the default filter shows it. `DbgPrint` is `DbgPrintEx(DPFLTR_DEFAULT_ID,
//! DPFLTR_INFO_LEVEL, ...)` (wdm/nf-wdm-dbgprint), so by default it is hidden.
//! One call transmits at most 512 bytes (wdm/nf-wdm-dbgprintex); longer text
//! is recorded in full and flagged [`DebugLine::over_limit`].

use std::ffi::c_char;
use std::sync::Mutex;

use wdk_sys::{KIRQL, NTSTATUS, STATUS_SUCCESS};

use crate::{context, ddi, irql, sync::lock};

/// Bytes one `DbgPrint(Ex)` call transmits at most.
pub const TRANSMIT_LIMIT: usize = 512;

/// One captured `DbgPrint`/`DbgPrintEx` call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebugLine {
    /// `ComponentId` (`DPFLTR_DEFAULT_ID` for `DbgPrint`).
    pub component: u32,
    /// `Level`.
    pub level: u32,
    /// Exactly what the format produced (lossy UTF-8).
    pub text: String,
    /// Whether the default Debug Print Filter shows it.
    pub visible: bool,
    /// Longer than [`TRANSMIT_LIMIT`] bytes (the kernel would cut it).
    pub over_limit: bool,
    /// The format used a Microsoft-only conversion (`%wZ`, `%ws`, ...) that
    /// the C library does not format like the kernel.
    pub unmodeled_conversion: bool,
    /// The IRQL of the call.
    pub irql: KIRQL,
    /// The simulated thread id of the caller.
    pub tid: u64,
}

static LINES: Mutex<Vec<DebugLine>> = Mutex::new(Vec::new());

const fn level_mask(level: u32) -> u32 {
    if level < 32 { 1 << level } else { level }
}

/// Called by the C shim with the formatted text.
///
/// # Safety
/// `text` is null or points to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ntsim_dbgprint_capture(
    is_ex: i32,
    component: u32,
    level: u32,
    text: *const c_char,
    len: usize,
    flags: u32,
) -> u32 {
    let entry = ddi::enter(if is_ex != 0 {
        &ddi::DBG_PRINT_EX
    } else {
        &ddi::DBG_PRINT
    });
    // An injected failure prints nothing; a call at a forbidden IRQL (above
    // DIRQL: 0xC4/0xE5 recorded by the gate) is still recorded, with its
    // IRQL, so the capture is a complete per-IRQL log of the calls made.
    if let Some(status) = entry.fault.filter(|_| !entry.irql_violation) {
        return status.cast_unsigned();
    }
    let bytes: &[u8] = if text.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the C shim passes the vsnprintf buffer and its length.
        unsafe { std::slice::from_raw_parts(text.cast::<u8>(), len) }
    };
    let line = DebugLine {
        component,
        level,
        text: String::from_utf8_lossy(bytes).into_owned(),
        visible: level_mask(level) & 1 != 0,
        over_limit: len > TRANSMIT_LIMIT,
        unmodeled_conversion: flags & 2 != 0,
        irql: irql::current(),
        tid: context::current_tid(),
    };
    let text = line.text.clone();
    lock(&LINES).push(line);
    let hook = *lock(&HOOK);
    if let Some(hook) = hook {
        hook(&text);
    }
    let status: NTSTATUS = entry.fault.unwrap_or(STATUS_SUCCESS);
    status.cast_unsigned()
}

/// A test hook run in the printing thread after each captured line.
static HOOK: Mutex<Option<fn(&str)>> = Mutex::new(None);

/// Runs `hook` in the printing thread after every debug print, until reset.
///
/// The hook runs at the point the print returns to the driver. A test API:
/// it lets a test act at a precise point of the driver's own thread (e.g.
/// bug-check while the drain is between two steps).
pub fn set_hook(hook: Option<fn(&str)>) {
    *lock(&HOOK) = hook;
}

/// Every captured call since boot.
#[must_use]
pub fn debug_calls() -> Vec<DebugLine> {
    lock(&LINES).clone()
}

/// The captured output as lines: each call's text split at `\n`, a final
/// newline not producing an empty line.
#[must_use]
pub fn debug_output() -> Vec<String> {
    lock(&LINES)
        .iter()
        .flat_map(|line| {
            let text = line.text.strip_suffix('\n').unwrap_or(&line.text);
            text.split('\n').map(str::to_owned).collect::<Vec<_>>()
        })
        .collect()
}

/// Forgets the captured output.
pub fn clear() {
    lock(&LINES).clear();
}

pub(crate) fn reset() {
    clear();
    set_hook(None);
}
