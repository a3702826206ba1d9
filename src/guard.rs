//! The one registration pattern every wrapped API follows.
//!
//! A registration is a value: constructing a [`Registration`] registers and
//! records the outcome in the [`REPORT`](crate::report::REPORT); dropping it
//! unregisters and records the removal. A failed registration leaves nothing
//! behind. Whatever the kernel keeps a pointer to (routine, context) is
//! `'static`, so it outlives the registration by construction.
//!
//! # Invariants
//! A `Registration<R>` holds the token `R::register` returned, and `Drop`
//! hands it to `R::unregister` exactly once.

use kcb_proto::RegistrationState;

use crate::report::{Api, REPORT};

/// NTSTATUS values as the `i32` the kernel returns.
pub type NtStatus = i32;

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
    /// The NTSTATUS the kernel returned, or one the wrapper chose for a
    /// failure reported without a status (documented per implementation).
    fn register(args: Self::Args) -> Result<Self::Token, NtStatus>;

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
}

impl<R: RegistrationOps> Registration<R> {
    /// Registers and reports the outcome.
    ///
    /// # Errors
    /// The failure status (already reported).
    ///
    /// # IRQL
    /// That of `R::register` (PASSIVE_LEVEL for every API the driver makes at
    /// DriverEntry).
    pub fn new(args: R::Args) -> Result<Self, NtStatus> {
        match R::register(args) {
            Ok(token) => {
                REPORT.set(R::API, RegistrationState::Registered, 0);
                Ok(Self { token: Some(token) })
            }
            Err(status) => {
                REPORT.set(R::API, RegistrationState::Failed, status);
                Err(status)
            }
        }
    }

    /// Registers only if `enabled`; otherwise reports "disabled by
    /// configuration". A failure is reported and yields `None`: the driver
    /// runs on with the rest.
    pub fn optional(enabled: bool, args: R::Args) -> Option<Self> {
        if enabled {
            Self::new(args).ok()
        } else {
            REPORT.set(R::API, RegistrationState::DisabledByConfig, 0);
            None
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
            REPORT.set(R::API, RegistrationState::Removed, 0);
        }
    }
}
