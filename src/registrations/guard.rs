//! The one registration pattern every wrapped API follows.
//!
//! A registration is a value: constructing a [`Registration`] registers and
//! records the outcome in the [`REPORT`](crate::registrations::report::REPORT); dropping it
//! unregisters and records the removal. A failed registration leaves nothing
//! behind. Whatever the kernel keeps a pointer to (routine, context) is
//! `'static`, so it outlives the registration by construction.
//!
//! # Invariants
//! A `Registration<R>` holds the token `R::register` returned, and `Drop`
//! hands it to `R::unregister` exactly once.

use kcb_proto::RegistrationState;

use crate::{
    kernel::dynamic::DynamicRoutine,
    registrations::report::{Api, REPORT},
};

/// NTSTATUS values as the `i32` the kernel returns.
pub type NtStatus = i32;

/// `Ok(())` for a success or informational status, `Err(status)` otherwise
/// (`NT_SUCCESS`).
///
/// # Errors
/// `status` when it is an error or warning code.
pub const fn check(status: NtStatus) -> Result<(), NtStatus> {
    if status < 0 { Err(status) } else { Ok(()) }
}

/// Why a registration is not in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// The status the routine returned (or the wrapper chose, documented per
    /// implementation).
    pub status: NtStatus,
    /// `Failed`, or `NotAvailable` when the system does not offer it.
    pub state: RegistrationState,
    /// A [`kcb_proto::report_detail`] value.
    pub detail: u32,
}

impl Failure {
    /// The system does not offer this registration (not exported, no such
    /// object, ...): reported as "unavailable", not as a failure.
    #[must_use]
    pub const fn unavailable(status: NtStatus, detail: u32) -> Self {
        Self {
            status,
            state: RegistrationState::NotAvailable,
            detail,
        }
    }
}

impl Failure {
    /// A routine resolved at run time that this system does not export
    /// (`STATUS_PROCEDURE_NOT_FOUND`, reported as unavailable).
    #[must_use]
    pub const fn not_exported() -> Self {
        Self::unavailable(
            wdk_sys::STATUS_PROCEDURE_NOT_FOUND,
            kcb_proto::report_detail::NOT_EXPORTED,
        )
    }

    /// `Ok` if the system exports `routine`, else [`not_exported`](Self::not_exported)
    /// (used for removal routines: what cannot be removed is not registered).
    ///
    /// # Errors
    /// [`Failure::not_exported`].
    ///
    /// # IRQL
    /// Any.
    pub fn require(routine: &DynamicRoutine) -> Result<(), Self> {
        routine.address().map(|_| ()).ok_or_else(Self::not_exported)
    }
}

/// A registration routine's handle: NULL means failure (reported as
/// `STATUS_UNSUCCESSFUL`, the routines return no status).
///
/// # Errors
/// NULL.
pub fn non_null<T>(handle: *mut T) -> Result<*mut T, Failure> {
    if handle.is_null() {
        Err(wdk_sys::STATUS_UNSUCCESSFUL.into())
    } else {
        Ok(handle)
    }
}

impl From<NtStatus> for Failure {
    fn from(status: NtStatus) -> Self {
        Self {
            status,
            state: RegistrationState::Failed,
            detail: kcb_proto::report_detail::NONE,
        }
    }
}

/// How to make and undo one kind of registration.
pub trait RegistrationOps {
    /// What the registration needs (device object, flags, ...).
    type Args;
    /// What the kernel hands back and unregistering needs (cookie, handle).
    type Token;
    /// The report slot.
    const API: Api;

    /// Registers.
    ///
    /// # Errors
    /// The NTSTATUS the kernel returned (or one the wrapper chose for a
    /// failure reported without a status, documented per implementation),
    /// and whether it is a failure or the system not offering the API.
    fn register(args: Self::Args) -> Result<Self::Token, Failure>;

    /// Undoes a successful [`register`](Self::register).
    ///
    /// # Safety
    /// `token` came from `register` of the same implementation and is
    /// unregistered only once.
    unsafe fn unregister(token: Self::Token);
}

/// A live registration; dropping it unregisters.
#[must_use = "dropping a Registration unregisters it at once"]
pub struct Registration<R: RegistrationOps> {
    token: Option<R::Token>,
    api: Api,
}

impl<R: RegistrationOps> Registration<R> {
    /// Registers and reports the outcome.
    ///
    /// # Errors
    /// The failure (already reported).
    ///
    /// # IRQL
    /// That of `R::register` (PASSIVE_LEVEL for every API the driver makes at
    /// DriverEntry).
    pub fn new(args: R::Args) -> Result<Self, Failure> {
        Self::new_as(R::API, args)
    }

    /// As [`new`](Self::new), reported under `api` instead of `R::API`: for
    /// operations registered once per instance (one observer per callback
    /// object, say).
    ///
    /// # Errors
    /// The failure (already reported).
    pub fn new_as(api: Api, args: R::Args) -> Result<Self, Failure> {
        match R::register(args) {
            Ok(token) => {
                REPORT.set(api, RegistrationState::Registered, 0);
                Ok(Self {
                    token: Some(token),
                    api,
                })
            }
            Err(failure) => {
                REPORT.set_detailed(api, failure.state, failure.status, failure.detail);
                Err(failure)
            }
        }
    }

    /// The token, for APIs that need it while registered (e.g. the device
    /// object).
    #[must_use]
    pub fn token(&self) -> &R::Token {
        // The Option is only None inside Drop.
        self.token.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl<R: RegistrationOps> Drop for Registration<R> {
    fn drop(&mut self) {
        if let Some(token) = self.token.take() {
            // SAFETY: the token came from R::register (type invariant) and the
            // Option's take() guarantees this runs once.
            unsafe { R::unregister(token) };
            REPORT.set(self.api, RegistrationState::Removed, 0);
        }
    }
}
