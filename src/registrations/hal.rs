//! HAL: the profile (PMI) interrupt handler set through
//! `HalSetSystemInformation(HalProfileSourceInterruptHandler)`, and the
//! errata callbacks.
//!
//! `HalProfileSourceInterruptHandler` is "reserved for internal use"
//! (ntddk/ne-ntddk-_hal_set_information_class): the driver uses it only when
//! `EnableProfileInterrupt` = 1 in `Parameters` (off by default). Risks, also
//! in the README: the handler runs at PROFILE_LEVEL on every performance-
//! monitor interrupt; there is one slot system-wide, so installing replaces
//! whatever another component (a profiler, a hypervisor enlightenment) had
//! set; no query class returns the current handler, so it cannot be
//! restored; and the routine is reached only through the HAL dispatch
//! table, whose layout past its first fields is not part of any contract.
//!
//! Unload: while the handler is installed the driver **cannot be unloaded**
//! (DriverEntry leaves `DriverUnload` NULL, so the I/O manager refuses the
//! unload and `sc stop` fails; it goes away at reboot). Clearing the slot
//! at unload is not enough: a PMI already dispatched on another processor
//! may still be running the handler, in this image, after the slot is
//! cleared. Waiting for it would need a rendezvous that provably covers
//! the HAL's delivery path (e.g. `KeIpiGenericCall`, which runs at
//! IPI_LEVEL on every processor, helps only if the HAL calls the handler
//! above IPI_LEVEL for the whole time between reading the slot and
//! returning); that path is undocumented ("reserved for internal use"), so
//! no wait can be shown to cover it, and the driver refuses instead.
//! (Should the state still be dropped, e.g. after a failed DriverEntry, the
//! slot is set back to NULL.)
//!
//! `HalRegisterErrataCallbacks` is resolved at run time and reported; its
//! prototype is undocumented, so it is never called.

use core::{
    ffi::c_void,
    sync::atomic::{AtomicU64, Ordering},
};

use kcb_proto::SourceId;
use kcb_proto::{EventRecord, ProfileInterruptPayload, kind, report_detail};
use wdk_sys::{_HAL_SET_INFORMATION_CLASS::HalProfileSourceInterruptHandler, STATUS_PROCEDURE_NOT_FOUND};

use crate::{
    kernel::dynamic::DynamicRoutine,
    kernel::imports::HalDispatchTable,
    pipeline::events,
    registrations::guard::{Failure, RegistrationOps, check},
    registrations::report::Api,
};

static ERRATA: DynamicRoutine = DynamicRoutine::new("HalRegisterErrataCallbacks");

/// `HalRegisterErrataCallbacks`, never called.
///
/// "Not available on this
/// system" when it is not exported (a correct outcome), else "exported,
/// prototype undocumented". A row of the table so that its report line is
/// written by the guard like every other; it never holds a token.
pub struct HalErrataCallbacks;

impl RegistrationOps for HalErrataCallbacks {
    type Args = ();
    type Token = ();
    const SOURCE: Option<SourceId> = None;
    const API: Api = Api::HalErrataCallbacks;

    /// Resolves the name only (PASSIVE_LEVEL); always "unavailable".
    fn register((): ()) -> Result<(), Failure> {
        let detail = if ERRATA.resolve() {
            report_detail::UNDOCUMENTED_PROTOTYPE
        } else {
            report_detail::NOT_EXPORTED
        };
        Err(Failure::unavailable(STATUS_PROCEDURE_NOT_FOUND, detail))
    }

    unsafe fn unregister((): ()) {}
}

/// What DriverEntry prints when the installed handler makes the driver
/// impossible to unload.
pub const UNLOAD_REFUSED_LINE: &str = "HAL PMI handler installed: unload disabled until reboot (a handler already running on another processor cannot be waited for; EnableProfileInterrupt = 0 and reboot to remove it)";

static PMI_COUNT: AtomicU64 = AtomicU64::new(0);

/// The buffer size of the handler information class: one pointer.
#[allow(clippy::cast_possible_truncation, reason = "8")]
const POINTER_SIZE: u32 = size_of::<*mut c_void>() as u32;

/// The PMI handler slot.
pub struct ProfileInterruptHandler;

/// Calls `HalDispatchTable->HalSetSystemInformation(HalProfileSourceInterruptHandler, handler)`.
fn set_handler(handler: *mut c_void) -> i32 {
    // SAFETY: the exported dispatch table; its first fields are documented
    // (ntddk.h HAL_DISPATCH) and set before drivers load.
    let set = unsafe { HalDispatchTable.set_system_information };
    let Some(set) = set else {
        return STATUS_PROCEDURE_NOT_FOUND;
    };
    let mut handler = handler;
    // SAFETY: the buffer is one pointer, as this information class takes.
    unsafe {
        set(
            HalProfileSourceInterruptHandler,
            POINTER_SIZE,
            (&raw mut handler).cast(),
        )
    }
}

impl RegistrationOps for ProfileInterruptHandler {
    type Args = ();
    type Token = ();
    const SOURCE: Option<SourceId> = Some(SourceId::ProfileInterrupt);
    const API: Api = Api::HalProfileInterrupt;

    /// PASSIVE_LEVEL.
    fn register((): ()) -> Result<(), Failure> {
        Ok(check(set_handler(on_profile_interrupt as *mut c_void))?)
    }

    unsafe fn unregister((): ()) {
        // No query returns a previous handler: the slot goes back to NULL.
        let _ = set_handler(core::ptr::null_mut());
    }
}

/// The PMI handler, at PROFILE_LEVEL: counts and records, nothing else.
unsafe extern "C" fn on_profile_interrupt(_trap_frame: *mut c_void) {
    let _cost = crate::pipeline::cost::Span::start(kcb_proto::SourceId::ProfileInterrupt);
    let count = PMI_COUNT.fetch_add(1, Ordering::Relaxed) + 1;
    events::record(EventRecord::build(
        kind::NONE,
        |payload: &mut ProfileInterruptPayload| payload.count = count,
    ));
}
