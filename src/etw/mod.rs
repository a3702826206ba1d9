//! The ETW TraceLogging provider `kcallbacks`: every record the drain moves
//! is also written as one TraceLogging event, so WPR/WPA, `logman`,
//! `tracerpt` and any ETW consumer can read the driver's events.
//!
//! * Provider `kcallbacks`, GUID `{cf65554e-5b35-55b9-8db0-183ef862fd74}`:
//!   the one TraceLogging derives from the name ([`tracelogging::Guid::from_name`],
//!   checked by `tests/kernel_model/etw.rs`).
//! * One event per record source, named after it (`LoadImage`, ...), with
//!   the field names of `kcbctl events --json`; a keyword per source family
//!   and a level per event ([`encode::class`]).
//! * Written from the drain thread at PASSIVE_LEVEL ([`write`]), never from
//!   a notify routine. When no session listens, the cost is one
//!   enabled-check per record.
//! * Registered at `DriverEntry` as a guarded registration ([`EtwProvider`],
//!   report line `EtwRegister(kcallbacks)`, `Parameters` switch
//!   `EnableEtw`, default on); unregistered at unload.
//!
//! # Why the `tracelogging` crate's own ETW layer is off
//! Microsoft's `tracelogging` crate (1.2.4) gives the TraceLogging encoding:
//! the in/out types, levels, channel, `EVENT_DESCRIPTOR` and
//! `EVENT_DATA_DESCRIPTOR` ([`tracelogging::_internal`]) and the GUID from
//! a name. Its `etw` + `kernel_mode` features would make it call
//! `EtwRegister`, `EtwSetInformation`, `EtwWriteTransfer` and
//! `EtwUnregister` through a plain `extern "system"` block: hard imports
//! from `ntoskrnl.exe`. Wine's `ntoskrnl.exe` exports none of them, so an
//! image importing them does not load there (and on a Windows without a
//! routine, no image with a missing import loads). The driver therefore
//! uses the crate with `default-features = false` (no native layer: the
//! crate's `Provider` is then inert) and calls the four routines itself,
//! resolved with `MmGetSystemRoutineAddress` like every optional routine
//! ([`crate::kernel::dynamic::DynamicRoutine`]): where `EtwRegister` does not
//! resolve, the report says "unavailable (not exported by this system)".
//! Its `write_event!` macro is not used either: it needs each event's
//! fields at compile time, while a record's fields come from its payload
//! visitor at run time ([`encode`]); it also writes through the inert
//! `Provider`.

pub mod encode;

use core::{
    ffi::c_void,
    ptr,
    sync::atomic::{AtomicI32, AtomicU64, Ordering},
};

use kcb_proto::EventRecord;
use tracelogging::{
    _internal::{EventDataDescriptor, EventDescriptor},
    Channel, Guid, Level, Opcode,
};

use crate::{
    dynamic_fn,
    kernel::dynamic::DynamicRoutine,
    kprintln,
    registrations::{
        guard::{Failure, RegistrationOps, check},
        report::Api,
    },
};

/// The provider name.
pub const PROVIDER_NAME: &str = "kcallbacks";

/// The provider GUID TraceLogging derives from [`PROVIDER_NAME`]
/// (`{cf65554e-5b35-55b9-8db0-183ef862fd74}`).
pub static PROVIDER_ID: Guid = Guid::from_u128(&0xcf65_554e_5b35_55b9_8db0_183e_f862_fd74);

/// `EVENT_DATA_DESCRIPTOR_TYPE_EVENT_METADATA` (evntprov.h).
pub const DESCRIPTOR_TYPE_EVENT_METADATA: u32 = 1;
/// `EVENT_DATA_DESCRIPTOR_TYPE_PROVIDER_METADATA` (evntprov.h).
pub const DESCRIPTOR_TYPE_PROVIDER_METADATA: u32 = 2;
/// `EventProviderSetTraits` (`EVENT_INFO_CLASS`, evntprov.h).
pub const EVENT_PROVIDER_SET_TRAITS: i32 = 2;
/// `EVENT_CONTROL_CODE_DISABLE_PROVIDER` (evntprov.h).
pub const CONTROL_DISABLE: u32 = 0;
/// `EVENT_CONTROL_CODE_ENABLE_PROVIDER` (evntprov.h).
pub const CONTROL_ENABLE: u32 = 1;

/// The provider traits block: `UINT16 size`, then the provider name (UTF-8,
/// NUL-terminated); no further traits.
pub static PROVIDER_TRAITS: [u8; PROVIDER_NAME.len() + 3] = {
    let mut traits = [0_u8; PROVIDER_NAME.len() + 3];
    #[allow(clippy::cast_possible_truncation, reason = "13 bytes")]
    let size = (traits.len() as u16).to_le_bytes();
    traits[0] = size[0];
    traits[1] = size[1];
    let name = PROVIDER_NAME.as_bytes();
    let mut i = 0;
    while i < name.len() {
        traits[2 + i] = name[i];
        i += 1;
    }
    traits
};

/// `PETWENABLECALLBACK` (wdm.h).
pub type EnableCallback =
    Option<unsafe extern "C" fn(*const Guid, u32, u8, u64, u64, *mut c_void, *mut c_void)>;
/// `EtwRegister` (wdm/nf-wdm-etwregister).
pub type RegisterFn = unsafe extern "C" fn(*const Guid, EnableCallback, *mut c_void, *mut u64) -> i32;
/// `EtwSetInformation` (wdm/nf-wdm-etwsetinformation).
pub type SetInformationFn = unsafe extern "C" fn(u64, i32, *const c_void, u32) -> i32;
/// `EtwWriteTransfer` (wdm/nf-wdm-etwwritetransfer).
pub type WriteTransferFn = unsafe extern "C" fn(
    u64,
    *const EventDescriptor,
    *const Guid,
    *const Guid,
    u32,
    *const EventDataDescriptor<'static>,
) -> i32;
/// `EtwUnregister` (wdm/nf-wdm-etwunregister).
pub type UnregisterFn = unsafe extern "C" fn(u64) -> i32;

static ETW_REGISTER: DynamicRoutine = DynamicRoutine::new("EtwRegister");
static ETW_SET_INFORMATION: DynamicRoutine = DynamicRoutine::new("EtwSetInformation");
static ETW_WRITE_TRANSFER: DynamicRoutine = DynamicRoutine::new("EtwWriteTransfer");
static ETW_UNREGISTER: DynamicRoutine = DynamicRoutine::new("EtwUnregister");

/// The registration handle while registered, else 0.
static HANDLE: AtomicU64 = AtomicU64::new(0);
/// The level the sessions enabled (-1: disabled).
static ENABLED_LEVEL: AtomicI32 = AtomicI32::new(-1);
static MATCH_ANY: AtomicU64 = AtomicU64::new(0);
static MATCH_ALL: AtomicU64 = AtomicU64::new(0);

/// Events `EtwWriteTransfer` accepted.
pub static WRITTEN: AtomicU64 = AtomicU64::new(0);
/// Events `EtwWriteTransfer` refused (its status was an error: no buffer in
/// a session, ...), or too large to encode: counted, not lost silently.
pub static NOT_WRITTEN: AtomicU64 = AtomicU64::new(0);

/// Whether a session listens for events of `level` and `keyword`: the
/// check of evntprov.h's `McGenLevelKeywordEnabled` (a session level of 0
/// takes every level; keyword 0 matches every session).
///
/// # IRQL
/// Any.
#[must_use]
pub fn enabled(level: Level, keyword: u64) -> bool {
    let enabled_level = ENABLED_LEVEL.load(Ordering::Acquire);
    if enabled_level < 0 {
        return false;
    }
    let level_ok = enabled_level == 0 || i32::from(level.as_int()) <= enabled_level;
    let all = MATCH_ALL.load(Ordering::Relaxed);
    let keyword_ok =
        keyword == 0 || (keyword & MATCH_ANY.load(Ordering::Relaxed) != 0 && keyword & all == all);
    level_ok && keyword_ok
}

/// The provider's `PETWENABLECALLBACK`: remembers what the sessions asked for.
unsafe extern "C" fn enable_callback(
    _source_id: *const Guid,
    control_code: u32,
    level: u8,
    match_any: u64,
    match_all: u64,
    _filter: *mut c_void,
    _context: *mut c_void,
) {
    match control_code {
        CONTROL_DISABLE => ENABLED_LEVEL.store(-1, Ordering::Release),
        CONTROL_ENABLE => {
            MATCH_ANY.store(match_any, Ordering::Relaxed);
            MATCH_ALL.store(match_all, Ordering::Relaxed);
            ENABLED_LEVEL.store(i32::from(level), Ordering::Release);
        }
        // EVENT_CONTROL_CODE_CAPTURE_STATE: the provider has no state to dump.
        _ => {}
    }
}

/// Writes `record` as a TraceLogging event if a session listens for its
/// source's keyword and level; otherwise costs one check.
///
/// # IRQL
/// PASSIVE_LEVEL (the drain thread; `EtwWriteTransfer` itself allows
/// `<= HIGH_LEVEL`, but the encoding is not for a notify routine's budget).
pub fn write(record: &EventRecord) {
    let Some(source) = record.source() else {
        return;
    };
    let (keyword, level) = encode::class(source);
    if !enabled(level, keyword) {
        return;
    }
    let handle = HANDLE.load(Ordering::Acquire);
    let Some(write_transfer) = dynamic_fn!(ETW_WRITE_TRANSFER => WriteTransferFn) else {
        return;
    };
    if handle == 0 {
        return;
    }
    let mut event = encode::Event::new();
    if event.encode(record, source).is_err() {
        NOT_WRITTEN.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let descriptor =
        EventDescriptor::from_parts(0, 0, Channel::TraceLogging, level, Opcode::Info, 0, keyword);
    let data = [
        EventDataDescriptor::from_raw_bytes(&PROVIDER_TRAITS, DESCRIPTOR_TYPE_PROVIDER_METADATA),
        EventDataDescriptor::from_raw_bytes(event.metadata(), DESCRIPTOR_TYPE_EVENT_METADATA),
        EventDataDescriptor::from_raw_bytes(event.data(), 0),
    ];
    #[allow(clippy::cast_possible_truncation, reason = "3 descriptors")]
    let count = data.len() as u32;
    // SAFETY: EtwWriteTransfer's documented prototype; a registration
    // handle from EtwRegister; the descriptor and the data it points to
    // live on this stack until the call returns (ETW copies them).
    let status = unsafe {
        write_transfer(
            handle,
            &raw const descriptor,
            ptr::null(),
            ptr::null(),
            count,
            data.as_ptr().cast(),
        )
    };
    if check(status).is_ok() {
        WRITTEN.fetch_add(1, Ordering::Relaxed);
    } else {
        NOT_WRITTEN.fetch_add(1, Ordering::Relaxed);
    }
}

/// The provider registration (`EtwRegister` / `EtwUnregister`).
pub struct EtwProvider;

/// A registration handle (`REGHANDLE`).
pub struct RegHandle(u64);

impl RegistrationOps for EtwProvider {
    type Args = ();
    type Token = RegHandle;
    /// No record source: the provider is switched by `EnableEtw`
    /// ([`enabled`](Self::enabled)).
    const SOURCE: Option<kcb_proto::SourceId> = None;
    const API: Api = Api::EtwProvider;

    /// `EnableEtw` (default on).
    fn enabled(settings: &kcb_proto::params::Settings, (): &()) -> Result<(), u32> {
        if settings.etw {
            Ok(())
        } else {
            Err(kcb_proto::report_detail::NONE)
        }
    }

    /// Resolves the four routines (unavailable when `EtwRegister`,
    /// `EtwWriteTransfer` or `EtwUnregister` is not exported;
    /// `EtwSetInformation` is optional: the traits also travel with every
    /// event), registers and sets the provider traits. PASSIVE_LEVEL.
    fn register((): ()) -> Result<RegHandle, Failure> {
        ENABLED_LEVEL.store(-1, Ordering::Release);
        WRITTEN.store(0, Ordering::Relaxed);
        NOT_WRITTEN.store(0, Ordering::Relaxed);
        let resolved = [&ETW_REGISTER, &ETW_WRITE_TRANSFER, &ETW_UNREGISTER].map(DynamicRoutine::resolve);
        if resolved.contains(&false) {
            return Err(Failure::not_exported());
        }
        let _ = ETW_SET_INFORMATION.resolve();
        let register = dynamic_fn!(ETW_REGISTER => RegisterFn).ok_or_else(Failure::not_exported)?;
        let mut handle = 0_u64;
        // SAFETY: EtwRegister's documented prototype at PASSIVE_LEVEL; the
        // GUID is static and the callback a 'static function, unregistered
        // (EtwUnregister) before the image goes.
        let status = unsafe {
            register(
                &raw const PROVIDER_ID,
                Some(enable_callback),
                ptr::null_mut(),
                &raw mut handle,
            )
        };
        check(status)?;
        if let Some(set_information) = dynamic_fn!(ETW_SET_INFORMATION => SetInformationFn) {
            #[allow(clippy::cast_possible_truncation, reason = "13 bytes")]
            let len = PROVIDER_TRAITS.len() as u32;
            // SAFETY: EtwSetInformation's documented prototype; our handle;
            // a static traits block of `len` bytes.
            let _ = unsafe {
                set_information(
                    handle,
                    EVENT_PROVIDER_SET_TRAITS,
                    PROVIDER_TRAITS.as_ptr().cast(),
                    len,
                )
            };
        }
        HANDLE.store(handle, Ordering::Release);
        Ok(RegHandle(handle))
    }

    unsafe fn unregister(token: RegHandle) {
        HANDLE.store(0, Ordering::Release);
        ENABLED_LEVEL.store(-1, Ordering::Release);
        if let Some(unregister) = dynamic_fn!(ETW_UNREGISTER => UnregisterFn) {
            // SAFETY: EtwUnregister's documented prototype at PASSIVE_LEVEL,
            // with our handle, once.
            let _ = unsafe { unregister(token.0) };
        }
        kprintln!(
            "etw: {} events written, {} not written",
            WRITTEN.load(Ordering::Relaxed),
            NOT_WRITTEN.load(Ordering::Relaxed)
        );
    }
}
