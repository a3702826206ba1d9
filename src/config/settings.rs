//! The effective configuration, published once.
//!
//! One immutable [`Settings`] value, built by
//! the registry reader ([`crate::config::registry`]) at DriverEntry,
//! published once, and read by every consumer (registrations, policies, the
//! walker, the control device) at any IRQL.
//!
//! Configuration flows one way: the reader builds the value and hands it to
//! [`publish`]; nothing pushes a setting anywhere else, and no consumer
//! calls back into the reader. Before [`publish`] (and after [`retract`])
//! readers see the compiled-in defaults.

use core::sync::atomic::{AtomicU8, Ordering};

use kcb_proto::{SourceId, params::Settings};

use crate::kernel::cell::KernelCell;

/// Nothing published: readers see [`DEFAULTS`].
const EMPTY: u8 = 0;
/// [`publish`] is writing the value.
const WRITING: u8 = 1;
/// The value is complete and never written again until [`retract`].
const READY: u8 = 2;

/// The compiled-in defaults.
static DEFAULTS: Settings = Settings::defaults();

/// The published value. Protocol: written only by [`publish`], and only
/// after it moved [`STATE`] from `EMPTY` to `WRITING` (so by one caller);
/// read only through [`get`], and only once [`STATE`] is `READY` (Acquire,
/// pairing with the Release that ends the write). [`retract`] returns it to
/// `EMPTY` when no reference from [`get`] is in use any more.
static VALUE: KernelCell<Settings> = KernelCell::new(Settings::defaults());
/// `EMPTY`, `WRITING` or `READY`.
static STATE: AtomicU8 = AtomicU8::new(EMPTY);

/// A value is already published (it is not replaced: what consumers read
/// never changes under them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlreadyPublished;

/// Publishes `settings`, once per load; returns the published value.
///
/// # Errors
/// [`AlreadyPublished`] when a value is already published.
///
/// # IRQL
/// Any (DriverEntry calls it at PASSIVE_LEVEL).
pub fn publish(settings: Settings) -> Result<&'static Settings, AlreadyPublished> {
    if STATE
        .compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return Err(AlreadyPublished);
    }
    // SAFETY: the compare-exchange above made this the only writer, and no
    // reader dereferences VALUE before STATE is READY (VALUE's protocol).
    unsafe { *VALUE.get() = settings };
    #[cfg(not(target_os = "windows"))]
    test_seam::clear();
    STATE.store(READY, Ordering::Release);
    Ok(get())
}

/// The published settings, or the compiled-in defaults before
/// [`publish`].
///
/// # IRQL
/// Any: one atomic load, no lock.
#[must_use]
pub fn get() -> &'static Settings {
    if STATE.load(Ordering::Acquire) == READY {
        // SAFETY: READY: the value is complete and no writer runs until
        // retract, whose caller guarantees no reference is in use.
        unsafe { &*VALUE.get() }
    } else {
        &DEFAULTS
    }
}

/// Forgets the published value, so the next load publishes its own.
///
/// # Safety
/// No reference returned by [`get`] is in use or will be used: every
/// registration that reads the settings is removed and no request is in
/// flight (DriverUnload, or a failed DriverEntry after cleanup).
///
/// # IRQL
/// Any.
pub unsafe fn retract() {
    STATE.store(EMPTY, Ordering::Release);
}

/// Whether `source` is enabled.
///
/// # IRQL
/// Any.
#[must_use]
pub fn is_enabled(source: SourceId) -> bool {
    get().is_enabled(source)
}

/// Whether `IOCTL_KCB_LIST_REGISTRATIONS` is served
/// (`EnableRegistrationWalk` = 1 in `Parameters`; off by default).
///
/// # IRQL
/// Any.
#[must_use]
pub fn registration_walk() -> bool {
    #[cfg(not(target_os = "windows"))]
    if let Some(on) = test_seam::walk_override() {
        return on;
    }
    get().registration_walk
}

/// Host builds only: the kernel-model tests switch the registration walk
/// on and off inside one load. The Windows image has no such switch; there
/// the published value is the only source.
#[cfg(not(target_os = "windows"))]
pub mod test_seam {
    use core::sync::atomic::{AtomicU8, Ordering};

    /// 0: no override; 1: off; 2: on.
    static WALK: AtomicU8 = AtomicU8::new(0);

    /// Overrides the published `registration_walk` (tests only).
    ///
    /// # IRQL
    /// Any.
    pub fn set_walk_enabled(on: bool) {
        WALK.store(if on { 2 } else { 1 }, Ordering::Release);
    }

    /// Back to the published value (each load starts without an override).
    ///
    /// # IRQL
    /// Any.
    pub(super) fn clear() {
        WALK.store(0, Ordering::Release);
    }

    /// The override, if any.
    ///
    /// # IRQL
    /// Any.
    pub(super) fn walk_override() -> Option<bool> {
        match WALK.load(Ordering::Acquire) {
            1 => Some(false),
            2 => Some(true),
            _ => None,
        }
    }
}
