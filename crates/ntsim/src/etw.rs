//! Event Tracing for Windows as a kernel-mode provider sees it, and one
//! simulated trace session.
//!
//! * `EtwRegister` (wdm/nf-wdm-etwregister): PASSIVE_LEVEL. Registers a
//!   provider GUID with an optional `PETWENABLECALLBACK` and context and
//!   returns a non-zero `REGHANDLE`; `STATUS_INVALID_PARAMETER` for a NULL
//!   GUID or handle pointer. If a session already enables the provider, the
//!   callback runs before `EtwRegister` returns (with
//!   `EVENT_CONTROL_CODE_ENABLE_PROVIDER` and the session's level and
//!   keywords); the model calls it before it stores `*RegHandle` (the
//!   documentation does not order the two; a provider must cope with both).
//! * `EtwSetInformation` (wdm/nf-wdm-etwsetinformation): PASSIVE_LEVEL
//!   (the model's choice: providers call it right after `EtwRegister`).
//!   `EventProviderSetTraits` (2) stores the provider traits block, whose
//!   leading `UINT16` must equal the length given
//!   (`STATUS_INVALID_PARAMETER` otherwise); other classes:
//!   `STATUS_NOT_SUPPORTED`; an unknown handle: `STATUS_INVALID_HANDLE`.
//! * `EtwWriteTransfer` (wdm/nf-wdm-etwwritetransfer): `<= HIGH_LEVEL`.
//!   Copies the event: the `EVENT_DESCRIPTOR`, the activity ids and every
//!   `EVENT_DATA_DESCRIPTOR`'s bytes with its type
//!   (`EVENT_DATA_DESCRIPTOR_TYPE_*`). The session keeps the event when it
//!   enables the provider and the event passes its filter (level: the
//!   event's level <= the session's, or the session's is 0; keyword: the
//!   event's keyword is 0, or it shares a bit with `MatchAnyKeyword` and has
//!   every bit of `MatchAllKeyword`); otherwise ETW drops it. Either way the
//!   status is `STATUS_SUCCESS` (an unknown handle: `STATUS_INVALID_HANDLE`).
//! * `EtwUnregister` (wdm/nf-wdm-etwunregister): PASSIVE_LEVEL;
//!   `STATUS_INVALID_HANDLE` for an unknown handle. No callback runs after
//!   it returns. A provider still registered when its driver unloads is
//!   0xCE (the enable callback would run in an unloaded image).
//! * The session ([`enable_session`], [`disable_session`]) is one trace
//!   session at a time (the model's limit): enabling calls the registered
//!   provider's callback with `EVENT_CONTROL_CODE_ENABLE_PROVIDER`,
//!   disabling with `EVENT_CONTROL_CODE_DISABLE_PROVIDER`, at PASSIVE_LEVEL.

#![allow(non_snake_case)]

use std::ffi::c_void;
use std::sync::Mutex;

use wdk_sys::{
    GUID, KIRQL, NTSTATUS, STATUS_INVALID_HANDLE, STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED,
    STATUS_SUCCESS,
};

use crate::irql::{IrqlScope, PASSIVE_LEVEL};
use crate::verifier::{self, codes};
use crate::{ddi, sync::lock};

/// `EVENT_CONTROL_CODE_DISABLE_PROVIDER`.
pub const CONTROL_DISABLE: u32 = 0;
/// `EVENT_CONTROL_CODE_ENABLE_PROVIDER`.
pub const CONTROL_ENABLE: u32 = 1;
/// `EventProviderSetTraits`.
pub const EVENT_PROVIDER_SET_TRAITS: i32 = 2;

/// `EVENT_DESCRIPTOR` (evntprov.h).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventDescriptor {
    /// `Id`.
    pub id: u16,
    /// `Version`.
    pub version: u8,
    /// `Channel`.
    pub channel: u8,
    /// `Level`.
    pub level: u8,
    /// `Opcode`.
    pub opcode: u8,
    /// `Task`.
    pub task: u16,
    /// `Keyword`.
    pub keyword: u64,
}

/// `EVENT_DATA_DESCRIPTOR` (evntprov.h): `Ptr`, `Size`, and `Reserved`,
/// which holds the descriptor type (`Type`, `Reserved1`, `Reserved2` in a
/// union).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventDataDescriptor {
    /// `Ptr`.
    pub ptr: u64,
    /// `Size`.
    pub size: u32,
    /// `Reserved` (the low byte is `Type`).
    pub reserved: u32,
}

/// `PETWENABLECALLBACK` (wdm.h).
pub type EnableCallback =
    Option<unsafe extern "C" fn(*const GUID, u32, u8, u64, u64, *mut c_void, *mut c_void)>;

/// One event as `EtwWriteTransfer` received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Captured {
    /// The provider GUID (Windows memory layout).
    pub provider: [u8; 16],
    /// The event descriptor.
    pub descriptor: EventDescriptor,
    /// `ActivityId`, if one was passed.
    pub activity_id: Option<[u8; 16]>,
    /// `RelatedActivityId`, if one was passed.
    pub related_activity_id: Option<[u8; 16]>,
    /// Each data descriptor: (type, bytes).
    pub data: Vec<(u32, Vec<u8>)>,
    /// The IRQL of the call.
    pub irql: KIRQL,
}

/// A registered provider.
#[derive(Clone, Debug)]
pub struct Provider {
    /// Its `REGHANDLE`.
    pub handle: u64,
    /// Its GUID.
    pub guid: [u8; 16],
    /// The traits block set with `EventProviderSetTraits`.
    pub traits: Option<Vec<u8>>,
    callback: EnableCallback,
    context: usize,
}

#[derive(Clone, Copy)]
struct Session {
    guid: [u8; 16],
    level: u8,
    match_any: u64,
    match_all: u64,
}

struct State {
    providers: Vec<Provider>,
    next_handle: u64,
    session: Option<Session>,
    captured: Vec<Captured>,
    write_calls: u64,
}

static STATE: Mutex<State> = Mutex::new(State {
    providers: Vec::new(),
    next_handle: 1,
    session: None,
    captured: Vec::new(),
    write_calls: 0,
});

pub(crate) fn reset() {
    let mut state = lock(&STATE);
    state.providers.clear();
    state.next_handle = 1;
    state.session = None;
    state.captured.clear();
    state.write_calls = 0;
}

/// The GUID's 16 bytes as Windows keeps them.
#[must_use]
pub fn guid_bytes(guid: &GUID) -> [u8; 16] {
    let mut bytes = [0; 16];
    bytes[..4].copy_from_slice(&guid.Data1.to_le_bytes());
    bytes[4..6].copy_from_slice(&guid.Data2.to_le_bytes());
    bytes[6..8].copy_from_slice(&guid.Data3.to_le_bytes());
    bytes[8..].copy_from_slice(&guid.Data4);
    bytes
}

/// Calls `provider`'s enable callback at PASSIVE_LEVEL (no lock held).
fn notify(provider: &Provider, control: u32, session: Session) {
    let Some(callback) = provider.callback else {
        return;
    };
    let guid = GUID {
        Data1: u32::from_le_bytes([session.guid[0], session.guid[1], session.guid[2], session.guid[3]]),
        Data2: u16::from_le_bytes([session.guid[4], session.guid[5]]),
        Data3: u16::from_le_bytes([session.guid[6], session.guid[7]]),
        Data4: session.guid[8..].try_into().unwrap_or_default(),
    };
    let _irql = IrqlScope::enter(PASSIVE_LEVEL);
    // SAFETY: the callback and context the provider registered, with the
    // documented arguments; the provider is registered (it is unregistered
    // only by EtwUnregister, which the caller's thread is not inside).
    unsafe {
        callback(
            &raw const guid,
            control,
            session.level,
            session.match_any,
            session.match_all,
            std::ptr::null_mut(),
            provider.context as *mut c_void,
        );
    }
}

/// Starts the simulated trace session for provider `guid` with `level`
/// and the keyword masks; a registered provider's callback is told.
///
/// # Panics
/// If a session is already running (the model has one).
pub fn enable_session(guid: &GUID, level: u8, match_any: u64, match_all: u64) {
    let session = Session {
        guid: guid_bytes(guid),
        level,
        match_any,
        match_all,
    };
    let mut state = lock(&STATE);
    assert!(state.session.is_none(), "ntsim::etw models one session at a time");
    state.session = Some(session);
    let providers = providers_of(&state, session.guid);
    drop(state);
    for provider in &providers {
        notify(provider, CONTROL_ENABLE, session);
    }
}

/// Stops the session; a registered provider's callback is told.
pub fn disable_session() {
    let mut state = lock(&STATE);
    let Some(session) = state.session.take() else {
        return;
    };
    let providers = providers_of(&state, session.guid);
    drop(state);
    for provider in &providers {
        notify(provider, CONTROL_DISABLE, session);
    }
}

fn providers_of(state: &State, guid: [u8; 16]) -> Vec<Provider> {
    state
        .providers
        .iter()
        .filter(|p| p.guid == guid)
        .cloned()
        .collect()
}

/// The events the session kept, in order.
#[must_use]
pub fn captured() -> Vec<Captured> {
    lock(&STATE).captured.clone()
}

/// How many times `EtwWriteTransfer` was called (kept or dropped).
#[must_use]
pub fn write_calls() -> u64 {
    lock(&STATE).write_calls
}

/// The registered providers.
#[must_use]
pub fn providers() -> Vec<Provider> {
    lock(&STATE).providers.clone()
}

/// Records 0xCE for each provider still registered at unload.
pub(crate) fn unload_checks() {
    for provider in providers() {
        verifier::bugcheck(
            codes::DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS,
            [provider.handle, 0, 0, 0],
            format!(
                "unload with ETW provider (handle {:#x}) still registered (EtwUnregister missing)",
                provider.handle
            ),
        );
    }
}

/// `EtwRegister` (wdm/nf-wdm-etwregister).
///
/// # Safety
/// `provider_id` and `reg_handle` are valid or NULL; the callback and
/// context stay valid until `EtwUnregister`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn EtwRegister(
    provider_id: *const GUID,
    enable_callback: EnableCallback,
    callback_context: *mut c_void,
    reg_handle: *mut u64,
) -> NTSTATUS {
    let entry = ddi::enter(&ddi::ETW_REGISTER);
    if let Some(status) = entry.fault {
        return status;
    }
    if entry.irql_violation {
        return ddi::REFUSED_AT_WRONG_IRQL;
    }
    if provider_id.is_null() || reg_handle.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: a valid GUID per the caller.
    let guid = guid_bytes(unsafe { &*provider_id });
    let (provider, session) = {
        let mut state = lock(&STATE);
        let handle = state.next_handle;
        state.next_handle += 1;
        let provider = Provider {
            handle,
            guid,
            traits: None,
            callback: enable_callback,
            context: callback_context as usize,
        };
        state.providers.push(provider.clone());
        (provider, state.session.filter(|s| s.guid == guid))
    };
    if let Some(session) = session {
        notify(&provider, CONTROL_ENABLE, session);
    }
    // SAFETY: a valid out-pointer per the caller.
    unsafe { reg_handle.write(provider.handle) };
    STATUS_SUCCESS
}

/// `EtwSetInformation` (wdm/nf-wdm-etwsetinformation).
///
/// # Safety
/// `information` points to `length` readable bytes (or is NULL with 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn EtwSetInformation(
    reg_handle: u64,
    information_class: i32,
    information: *const c_void,
    length: u32,
) -> NTSTATUS {
    let entry = ddi::enter(&ddi::ETW_SET_INFORMATION);
    if let Some(status) = entry.fault {
        return status;
    }
    if entry.irql_violation {
        return ddi::REFUSED_AT_WRONG_IRQL;
    }
    if information_class != EVENT_PROVIDER_SET_TRAITS {
        return STATUS_NOT_SUPPORTED;
    }
    if information.is_null() || length < 2 {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: `length` readable bytes per the caller.
    let bytes = unsafe { std::slice::from_raw_parts(information.cast::<u8>(), length as usize) };
    if usize::from(u16::from_le_bytes([bytes[0], bytes[1]])) != bytes.len() {
        return STATUS_INVALID_PARAMETER;
    }
    let set = lock(&STATE)
        .providers
        .iter_mut()
        .find(|p| p.handle == reg_handle)
        .map(|provider| provider.traits = Some(bytes.to_vec()));
    if set.is_some() {
        STATUS_SUCCESS
    } else {
        STATUS_INVALID_HANDLE
    }
}

/// Whether `session` keeps an event of `descriptor`.
const fn passes(session: &Session, descriptor: &EventDescriptor) -> bool {
    let level = session.level == 0 || descriptor.level <= session.level;
    let keyword = descriptor.keyword == 0
        || (descriptor.keyword & session.match_any != 0
            && descriptor.keyword & session.match_all == session.match_all);
    level && keyword
}

/// Reads 16 bytes at `guid`, if not NULL.
///
/// # Safety
/// `guid` is NULL or valid for 16 bytes.
unsafe fn optional_guid(guid: *const GUID) -> Option<[u8; 16]> {
    // SAFETY: the caller's contract.
    (!guid.is_null()).then(|| guid_bytes(unsafe { &*guid }))
}

/// `EtwWriteTransfer` (wdm/nf-wdm-etwwritetransfer).
///
/// # Safety
/// `descriptor` is valid; the ids are valid or NULL; `user_data` points to
/// `count` descriptors whose `ptr`/`size` are readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn EtwWriteTransfer(
    reg_handle: u64,
    descriptor: *const EventDescriptor,
    activity_id: *const GUID,
    related_activity_id: *const GUID,
    count: u32,
    user_data: *const EventDataDescriptor,
) -> NTSTATUS {
    let entry = ddi::enter(&ddi::ETW_WRITE_TRANSFER);
    if let Some(status) = entry.fault {
        return status;
    }
    if descriptor.is_null() || (count > 0 && user_data.is_null()) {
        return STATUS_INVALID_PARAMETER;
    }
    let mut state = lock(&STATE);
    state.write_calls += 1;
    let Some(provider) = state.providers.iter().find(|p| p.handle == reg_handle) else {
        return STATUS_INVALID_HANDLE;
    };
    let guid = provider.guid;
    // SAFETY: valid per the caller.
    let descriptor = unsafe { *descriptor };
    if !state
        .session
        .is_some_and(|s| s.guid == guid && passes(&s, &descriptor))
    {
        return STATUS_SUCCESS;
    }
    let data = (0..count as usize)
        .map(|i| {
            // SAFETY: `count` descriptors per the caller: `i` is in bounds.
            let at = unsafe { user_data.add(i) };
            // SAFETY: as above, a readable descriptor.
            let d = unsafe { *at };
            let address = usize::try_from(d.ptr).unwrap_or_else(|_| unreachable!("a 64-bit host"));
            let bytes = if d.size == 0 {
                Vec::new()
            } else {
                // SAFETY: `size` readable bytes at `ptr` per the caller.
                unsafe { std::slice::from_raw_parts(address as *const u8, d.size as usize) }.to_vec()
            };
            (d.reserved & 0xFF, bytes)
        })
        .collect();
    let captured = Captured {
        provider: guid,
        descriptor,
        // SAFETY: valid or NULL per the caller.
        activity_id: unsafe { optional_guid(activity_id) },
        // SAFETY: as above.
        related_activity_id: unsafe { optional_guid(related_activity_id) },
        data,
        irql: entry.irql,
    };
    state.captured.push(captured);
    STATUS_SUCCESS
}

/// `EtwUnregister` (wdm/nf-wdm-etwunregister).
///
/// # Safety
/// None beyond the documented contract (any handle value is checked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn EtwUnregister(reg_handle: u64) -> NTSTATUS {
    let entry = ddi::enter(&ddi::ETW_UNREGISTER);
    if entry.irql_violation {
        return ddi::REFUSED_AT_WRONG_IRQL;
    }
    let mut state = lock(&STATE);
    let before = state.providers.len();
    state.providers.retain(|p| p.handle != reg_handle);
    if state.providers.len() == before {
        STATUS_INVALID_HANDLE
    } else {
        STATUS_SUCCESS
    }
}
