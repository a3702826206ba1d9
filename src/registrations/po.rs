//! Power-setting callbacks.
//!
//! `PoRegisterPowerSettingCallback` for the monitor power, lid switch, AC/DC
//! power source and console display state settings. Windows calls the routine once right after registration with
//! the current value (wdm/nf-wdm-poregisterpowersettingcallback), then on
//! every change.

use core::{ffi::c_void, ptr};

use kcb_proto::SourceId;
use kcb_proto::{EventRecord, PowerSettingPayload, kind};
use wdk_sys::{GUID, NTSTATUS, PDEVICE_OBJECT, STATUS_SUCCESS};

use crate::{
    dynamic_fn,
    kernel::dynamic::DynamicRoutine,
    pipeline::events,
    registrations::catalog::Slot,
    registrations::guard::{Failure, RegistrationOps, check, non_null},
    registrations::io::guid_bytes,
    registrations::report::Api,
};

static REGISTER: DynamicRoutine = DynamicRoutine::new("PoRegisterPowerSettingCallback");
static UNREGISTER: DynamicRoutine = DynamicRoutine::new("PoUnregisterPowerSettingCallback");

type Callback = unsafe extern "C" fn(*const GUID, *mut c_void, u32, *mut c_void) -> NTSTATUS;
/// The prototype of `PoRegisterPowerSettingCallback`, resolved at run time (checked against
/// windows-sys by `tests/windows_sys_conformance.rs`).
pub type RegisterFn = unsafe extern "C" fn(
    PDEVICE_OBJECT,
    *const GUID,
    Option<Callback>,
    *mut c_void,
    *mut *mut c_void,
) -> NTSTATUS;
/// The prototype of `PoUnregisterPowerSettingCallback`, resolved at run time (checked against
/// windows-sys by `tests/windows_sys_conformance.rs`).
pub type UnregisterFn = unsafe extern "C" fn(*mut c_void) -> NTSTATUS;

/// Resolves the routines (Wine lacks them).
///
/// # IRQL
/// PASSIVE_LEVEL.
pub fn resolve() {
    REGISTER.resolve();
    UNREGISTER.resolve();
}

/// The settings watched, with their report slots.
pub static SETTINGS: [(Api, GUID); 4] = [
    // GUID_MONITOR_POWER_ON {02731015-4510-4526-99E6-E5A17EBD1AEA}
    (
        Api::PowerSettingMonitor,
        GUID {
            Data1: 0x0273_1015,
            Data2: 0x4510,
            Data3: 0x4526,
            Data4: [0x99, 0xE6, 0xE5, 0xA1, 0x7E, 0xBD, 0x1A, 0xEA],
        },
    ),
    // GUID_LIDSWITCH_STATE_CHANGE {BA3E0F4D-B817-4094-A2D1-D56379E6A0F3}
    (
        Api::PowerSettingLid,
        GUID {
            Data1: 0xBA3E_0F4D,
            Data2: 0xB817,
            Data3: 0x4094,
            Data4: [0xA2, 0xD1, 0xD5, 0x63, 0x79, 0xE6, 0xA0, 0xF3],
        },
    ),
    // GUID_ACDC_POWER_SOURCE {5D3E9A59-E9D5-4B00-A6BD-FF34FF516548}
    (
        Api::PowerSettingAcDc,
        GUID {
            Data1: 0x5D3E_9A59,
            Data2: 0xE9D5,
            Data3: 0x4B00,
            Data4: [0xA6, 0xBD, 0xFF, 0x34, 0xFF, 0x51, 0x65, 0x48],
        },
    ),
    // GUID_CONSOLE_DISPLAY_STATE {6FE69556-704A-47A0-8F24-C28D936FDA47}
    (
        Api::PowerSettingConsoleDisplay,
        GUID {
            Data1: 0x6FE6_9556,
            Data2: 0x704A,
            Data3: 0x47A0,
            Data4: [0x8F, 0x24, 0xC2, 0x8D, 0x93, 0x6F, 0xDA, 0x47],
        },
    ),
];

/// One `PoRegisterPowerSettingCallback`.
pub struct PowerSetting;

/// The registration handle.
pub struct PowerHandle(*mut c_void);

impl RegistrationOps for PowerSetting {
    type Args = &'static (Api, GUID);
    type Token = PowerHandle;
    const SOURCE: Option<SourceId> = Some(SourceId::PowerSetting);
    const API: Api = Api::PowerSettingMonitor;

    /// Each variant reports under its own name.
    fn slot(setting: &&'static (Api, GUID)) -> Slot {
        Slot::Api(setting.0)
    }

    /// PASSIVE_LEVEL. `STATUS_INSUFFICIENT_RESOURCES` on failure.
    fn register((_, setting): &'static (Api, GUID)) -> Result<PowerHandle, Failure> {
        let register = Failure::with_removal(dynamic_fn!(REGISTER => RegisterFn), &UNREGISTER)?;
        let mut handle: *mut c_void = ptr::null_mut();
        // SAFETY: documented prototype; the GUID and routine are 'static.
        let status = unsafe {
            register(
                ptr::null_mut(),
                setting,
                Some(on_setting),
                ptr::null_mut(),
                &raw mut handle,
            )
        };
        check(status)?;
        Ok(PowerHandle(non_null(handle)?))
    }

    unsafe fn unregister(token: PowerHandle) {
        if let Some(unregister) = dynamic_fn!(UNREGISTER => UnregisterFn) {
            // SAFETY: our handle, unregistered once, in unload.
            let _ = unsafe { unregister(token.0) };
        }
    }
}

/// `POWER_SETTING_CALLBACK`: PASSIVE_LEVEL. Records the GUID and up to 16
/// bytes of the value.
unsafe extern "C" fn on_setting(
    setting: *const GUID,
    value: *mut c_void,
    length: u32,
    _context: *mut c_void,
) -> NTSTATUS {
    let _cost = crate::pipeline::cost::Span::start(kcb_proto::SourceId::PowerSetting);
    let record = EventRecord::build(kind::NONE, |payload: &mut PowerSettingPayload| {
        if !setting.is_null() {
            // SAFETY: the setting GUID, valid during the callback.
            payload.setting = guid_bytes(unsafe { &*setting });
        }
        payload.value_length = length;
        if !value.is_null() {
            let n = (length as usize).min(payload.value.len());
            // SAFETY: the value buffer holds `length` bytes during the callback.
            let bytes = unsafe { core::slice::from_raw_parts(value.cast::<u8>(), n) };
            payload.value[..n].copy_from_slice(bytes);
        }
    });
    events::record(record);
    STATUS_SUCCESS
}
