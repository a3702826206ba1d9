//! The one registration pattern every wrapped API follows.
//!
//! A registration is a value: constructing a [`Registration`] registers and
//! records the outcome in its [`Slot`] (the report, or the callback-object
//! catalog); dropping it unregisters and records the removal. Nothing else
//! writes an outcome. A failed registration leaves nothing
//! behind. Whatever the kernel keeps a pointer to (routine, context) is
//! `'static`, so it outlives the registration by construction.
//!
//! # Invariants
//! A `Registration<R>` holds the token `R::register` returned, and `Drop`
//! hands it to `R::unregister` exactly once.

use kcb_proto::{RegistrationState, SourceId, params::Settings};

use crate::{
    kernel::dynamic::DynamicRoutine,
    registrations::{catalog::Slot, report::Api},
};

/// NTSTATUS values as the `i32` the kernel returns.
pub type NtStatus = i32;

/// `Ok(())` for a success or informational status, `Err(status)` otherwise
/// (`NT_SUCCESS`).
///
/// # Errors
/// `status` when it is an error or warning code.
///
/// # IRQL
/// Any.
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
    ///
    /// # IRQL
    /// Any.
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
    ///
    /// # IRQL
    /// Any.
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

    /// The resolved registration routine `register`, provided the removal
    /// routine `remove` is exported too (what cannot be removed is not
    /// registered).
    ///
    /// # Errors
    /// [`Failure::not_exported`] when either is missing.
    ///
    /// # IRQL
    /// Any.
    pub fn with_removal<F>(register: Option<F>, remove: &DynamicRoutine) -> Result<F, Self> {
        let register = register.ok_or_else(Self::not_exported)?;
        Self::require(remove)?;
        Ok(register)
    }
}

/// A registration routine's handle: NULL means failure (reported as
/// `STATUS_UNSUCCESSFUL`, the routines return no status).
///
/// # Errors
/// NULL.
///
/// # IRQL
/// Any.
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

/// How to make and undo one kind of registration, and what it is: the
/// event source it feeds (its `Parameters` switch) and the slot its outcome
/// is recorded in.
pub trait RegistrationOps {
    /// What the registration needs (device object, flags, ...).
    type Args;
    /// What the kernel hands back and unregistering needs (cookie, handle).
    type Token;
    /// The event source this registration feeds: its `Parameters` value is
    /// `SourceId::name` (`Enable<name>`), its default
    /// `kcb_proto::params::DEFAULT_ENABLED`. `None` for what the driver
    /// cannot run without and always makes (device, link, drain thread).
    const SOURCE: Option<SourceId>;
    /// The report slot (of every instance, unless [`slot`](Self::slot) says
    /// otherwise).
    const API: Api;

    /// Where the outcome of registering with `args` is recorded: [`Self::API`]
    /// unless the arguments name a variant with its own slot.
    #[must_use]
    fn slot(_args: &Self::Args) -> Slot {
        Slot::Api(Self::API)
    }

    /// Whether to register with `args`: `Err(detail)` records it as
    /// disabled, with that `report_detail`. By default the source's switch
    /// in `settings` ([`source_enabled`]).
    ///
    /// # Errors
    /// The detail to report with "disabled".
    fn enabled(settings: &Settings, _args: &Self::Args) -> Result<(), u32> {
        source_enabled::<Self>(settings)
    }

    /// Registers.
    ///
    /// # Errors
    /// The NTSTATUS the kernel returned (or one the wrapper chose for a
    /// failure reported without a status, documented per implementation),
    /// and whether it is a failure or the system not offering the API.
    fn register(args: Self::Args) -> Result<Self::Token, Failure>;

    /// Runs once the success has been recorded: registrations that depend
    /// on this one (the observers of a callback object) are made here, so
    /// their lines follow its line. Nothing by default.
    fn registered(_token: &mut Self::Token) {}

    /// Undoes a successful [`register`](Self::register).
    ///
    /// # Safety
    /// `token` came from `register` of the same implementation and is
    /// unregistered only once.
    unsafe fn unregister(token: Self::Token);
}

/// `Ok` when `settings` enable `R`'s source, or `R` has none (the default
/// of [`RegistrationOps::enabled`]).
///
/// # Errors
/// `report_detail::NONE`: switched off in `Parameters` (or by default).
///
/// # IRQL
/// Any.
pub fn source_enabled<R: RegistrationOps + ?Sized>(settings: &Settings) -> Result<(), u32> {
    if R::SOURCE.is_none_or(|source| settings.is_enabled(source)) {
        Ok(())
    } else {
        Err(kcb_proto::report_detail::NONE)
    }
}

/// A live registration; dropping it unregisters. The guard is the only
/// writer of registration outcomes: registered, failed, disabled, removed.
#[must_use = "dropping a Registration unregisters it at once"]
pub struct Registration<R: RegistrationOps> {
    token: Option<R::Token>,
    slot: Slot,
}

impl<R: RegistrationOps> Registration<R> {
    /// Registers and records the outcome.
    ///
    /// # Errors
    /// The failure (already recorded).
    ///
    /// # IRQL
    /// That of `R::register` (PASSIVE_LEVEL for every API the driver makes at
    /// DriverEntry).
    pub fn new(args: R::Args) -> Result<Self, Failure> {
        let slot = R::slot(&args);
        match R::register(args) {
            Ok(token) => {
                slot.set(RegistrationState::Registered, 0, kcb_proto::report_detail::NONE);
                let mut this = Self {
                    token: Some(token),
                    slot,
                };
                if let Some(token) = this.token.as_mut() {
                    R::registered(token);
                }
                Ok(this)
            }
            Err(failure) => {
                slot.set(failure.state, failure.status, failure.detail);
                Err(failure)
            }
        }
    }

    /// Registers if [`R::enabled`](RegistrationOps::enabled) (by default:
    /// `settings` enable its source, or it has none); else records it as
    /// disabled.
    ///
    /// # IRQL
    /// As [`new`](Self::new).
    #[must_use]
    pub fn if_enabled(settings: &Settings, args: R::Args) -> Option<Self> {
        match R::enabled(settings, &args) {
            Ok(()) => Self::new(args).ok(),
            Err(detail) => {
                R::slot(&args).set(RegistrationState::DisabledByConfig, 0, detail);
                None
            }
        }
    }

    /// The token, for APIs that need it while registered (e.g. the device
    /// object).
    ///
    /// # IRQL
    /// Any.
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
            self.slot
                .set(RegistrationState::Removed, 0, kcb_proto::report_detail::NONE);
        }
    }
}
