//! WHEA: `WheaRegisterInUsePageOfflineNotification`.
//!
//! No DDI page documents it; the prototype is the ntddk.h declaration as Microsoft's WDK metadata
//! carries it (`BOOLEAN (ULONG Page, BOOLEAN Flags, BOOLEAN Poisoned, PVOID
//! Context)`, checked by `tests/windows_sys_conformance.rs`). The routine
//! records the page frame, WHEA's flags and the poisoned bit, and answers
//! FALSE: kcallbacks owns no physical pages, so it claims to have handled
//! (released) none and leaves the offline decision to the kernel.

use core::ffi::c_void;

use kcb_proto::SourceId;
use kcb_proto::{EventRecord, PageOfflinePayload, kind};
use wdk_sys::{BOOLEAN, NTSTATUS, ULONG};

use crate::{
    dynamic_fn,
    kernel::dynamic::DynamicRoutine,
    pipeline::events,
    registrations::guard::{Failure, RegistrationOps, check},
    registrations::report::Api,
};

static REGISTER: DynamicRoutine = DynamicRoutine::new("WheaRegisterInUsePageOfflineNotification");
static UNREGISTER: DynamicRoutine = DynamicRoutine::new("WheaUnregisterInUsePageOfflineNotification");

type Callback = unsafe extern "C" fn(ULONG, BOOLEAN, BOOLEAN, *mut c_void) -> BOOLEAN;
/// The prototype of `WheaRegisterInUsePageOfflineNotification`, resolved at run time (checked against
/// windows-sys by `tests/windows_sys_conformance.rs`).
pub type RegisterFn = unsafe extern "C" fn(Option<Callback>, *mut c_void) -> NTSTATUS;
/// The prototype of `WheaUnregisterInUsePageOfflineNotification`, resolved at run time (checked against
/// windows-sys by `tests/windows_sys_conformance.rs`).
pub type UnregisterFn = unsafe extern "C" fn(Option<Callback>) -> NTSTATUS;

/// Resolves the routines (Wine and older systems lack them).
///
/// # IRQL
/// PASSIVE_LEVEL.
pub fn resolve() {
    REGISTER.resolve();
    UNREGISTER.resolve();
}

/// The page-offline notification.
pub struct PageOfflineNotification;

impl RegistrationOps for PageOfflineNotification {
    type Args = ();
    type Token = ();
    const SOURCE: Option<SourceId> = Some(SourceId::PageOffline);
    const API: Api = Api::PageOfflineNotification;

    /// PASSIVE_LEVEL (undocumented; called from DriverEntry).
    fn register((): ()) -> Result<(), Failure> {
        let register = Failure::with_removal(dynamic_fn!(REGISTER => RegisterFn), &UNREGISTER)?;
        // SAFETY: the header prototype; 'static routine removed before unload.
        Ok(check(unsafe {
            register(Some(on_page_offline), core::ptr::null_mut())
        })?)
    }

    unsafe fn unregister((): ()) {
        if let Some(unregister) = dynamic_fn!(UNREGISTER => UnregisterFn) {
            // SAFETY: the routine registered above, removed once.
            let _ = unsafe { unregister(Some(on_page_offline)) };
        }
    }
}

/// What the routine answers: FALSE, "not handled by this driver" (see the
/// module docs).
const DECISION: BOOLEAN = 0;

/// `PFN_IN_USE_PAGE_OFFLINE_NOTIFY`: records the page, WHEA's flags and
/// whether the page is poisoned; answers [`DECISION`].
///
/// # IRQL
/// Undocumented (no DDI page); the routine is IRQL-agnostic.
unsafe extern "C" fn on_page_offline(
    page: ULONG,
    flags: BOOLEAN,
    poisoned: BOOLEAN,
    _context: *mut c_void,
) -> BOOLEAN {
    let _cost = crate::pipeline::cost::Span::start(kcb_proto::SourceId::PageOffline);
    events::record(EventRecord::build(
        kind::NONE,
        |payload: &mut PageOfflinePayload| {
            payload.pfn = u64::from(page);
            payload.decision = u32::from(DECISION);
            payload.flags = kcb_proto::page_offline_flags(flags, poisoned != 0);
        },
    ));
    DECISION
}
