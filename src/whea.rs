//! WHEA: `WheaRegisterInUsePageOfflineNotification`. No DDI page documents
//! it; the prototype is the ntddk.h declaration. The routine records the
//! page frame and lets the offline proceed (never vetoes).

use core::ffi::c_void;

use kcb_proto::{EventRecord, PageOfflinePayload, kind};
use wdk_sys::{BOOLEAN, NTSTATUS, STATUS_SUCCESS};

use crate::{
    dynamic_fn, events,
    guard::{Failure, RegistrationOps, check},
    kernel::DynamicRoutine,
    report::Api,
};

static REGISTER: DynamicRoutine = DynamicRoutine::new("WheaRegisterInUsePageOfflineNotification");
static UNREGISTER: DynamicRoutine = DynamicRoutine::new("WheaUnregisterInUsePageOfflineNotification");

type Callback = unsafe extern "C" fn(u64, BOOLEAN, *mut c_void, *mut NTSTATUS) -> NTSTATUS;
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
    const API: Api = Api::PageOfflineNotification;

    /// PASSIVE_LEVEL (undocumented; called from DriverEntry).
    fn register((): ()) -> Result<(), Failure> {
        let register = dynamic_fn!(REGISTER => RegisterFn).ok_or_else(Failure::not_exported)?;
        UNREGISTER.require()?;
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

/// `PFN_IN_USE_PAGE_OFFLINE_NOTIFY`: records the page and whether it is
/// poisoned; answers STATUS_SUCCESS (no veto).
unsafe extern "C" fn on_page_offline(
    page: u64,
    poisoned: BOOLEAN,
    _context: *mut c_void,
    status: *mut NTSTATUS,
) -> NTSTATUS {
    let _cost = crate::cost::Span::start(kcb_proto::SourceId::PageOffline);
    if !status.is_null() {
        // SAFETY: the caller's out-parameter, valid during the call.
        unsafe { *status = STATUS_SUCCESS };
    }
    events::record(EventRecord::build(
        kind::NONE,
        |payload: &mut PageOfflinePayload| {
            payload.pfn = page;
            payload.decision = 0;
            payload.flags = u32::from(poisoned);
        },
    ));
    STATUS_SUCCESS
}
