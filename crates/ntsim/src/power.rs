//! Power setting callbacks, WHEA page-offline notification and the HAL
//! dispatch table (kernel-semantics.md §16, §17, §19).
//!
//! * `PoRegisterPowerSettingCallback` (wdm/nf-wdm-poregisterpowersettingcallback):
//!   PASSIVE_LEVEL; the callback is called with the setting's current value
//!   before the call returns (documented); `STATUS_SUCCESS` or
//!   `STATUS_INSUFFICIENT_RESOURCES`. `PoUnregisterPowerSettingCallback`:
//!   `STATUS_INVALID_PARAMETER` for a bad handle; whether it waits is SILENT
//!   (it waits). Callbacks run at PASSIVE_LEVEL. Current values default to
//!   a 4-byte value: monitor on (1), lid open (1), AC power (0 =
//!   `PoAc`), console display on (1); other settings 0.
//! * `WheaRegisterInUsePageOfflineNotification` and its unregister routine
//!   are undocumented (header-only): the model accepts a routine once
//!   (a second registration of the same routine: `STATUS_INVALID_PARAMETER`),
//!   unregistering an unknown routine gives `STATUS_INVALID_PARAMETER`, and
//!   [`page_offline`] calls the routines at PASSIVE_LEVEL (all choices).
//! * `HalDispatchTable`: `Version` `HAL_DISPATCH_VERSION`, then
//!   `HalQuerySystemInformation` and `HalSetSystemInformation`.
//!   `HalProfileSourceInterruptHandler` is "reserved for internal use"
//!   (undocumented): the model stores the handler pointer passed in a
//!   pointer-sized buffer (NULL clears it) and [`profile_interrupt`] calls it
//!   at PROFILE_LEVEL; other classes return `STATUS_NOT_IMPLEMENTED`.
//! * `HalRegisterErrataCallbacks` has no documented prototype. The model has
//!   a routine of that name that is not exported by default (a test can
//!   [`crate::exports::expose`] it, as a HAL that exports it); calling it is
//!   NSIM `InvalidParameter` (nobody can call it correctly).

#![allow(non_snake_case, non_upper_case_globals)]

use std::sync::Mutex;

use wdk_sys::{
    _HAL_SET_INFORMATION_CLASS::HalProfileSourceInterruptHandler, BOOLEAN, GUID, HAL_DISPATCH_VERSION,
    HAL_QUERY_INFORMATION_CLASS, HAL_SET_INFORMATION_CLASS, LPCGUID, NTSTATUS, PDEVICE_OBJECT,
    PFN_IN_USE_PAGE_OFFLINE_NOTIFY, PPOWER_SETTING_CALLBACK, PULONG, PVOID, STATUS_INVALID_PARAMETER,
    STATUS_NOT_IMPLEMENTED, STATUS_SUCCESS, ULONG,
};

use crate::guid::{guid, guid_eq};
use crate::irql::{IrqlScope, PASSIVE_LEVEL, PROFILE_LEVEL};
use crate::notify::Registry;
use crate::opaque::OpaqueHandles;
use crate::{ddi, sync::lock};

/// `GUID_MONITOR_POWER_ON`.
pub const GUID_MONITOR_POWER_ON: GUID = guid(0x0273_1015_4510_4526_99E6_E5A1_7EBD_1AEA);
/// `GUID_LIDSWITCH_STATE_CHANGE`.
pub const GUID_LIDSWITCH_STATE_CHANGE: GUID = guid(0xBA3E_0F4D_B817_4094_A2D1_D563_79E6_A0F3);
/// `GUID_ACDC_POWER_SOURCE`.
pub const GUID_ACDC_POWER_SOURCE: GUID = guid(0x5D3E_9A59_E9D5_4B00_A6BD_FF34_FF51_6548);
/// `GUID_CONSOLE_DISPLAY_STATE`.
pub const GUID_CONSOLE_DISPLAY_STATE: GUID = guid(0x6FE6_9556_704A_47A0_8F24_C28D_936F_DA47);

pub(crate) static POWER_SETTINGS: Registry = Registry::new("power setting callback");
pub(crate) static PAGE_OFFLINE: Registry = Registry::new("page offline notification");

#[derive(Clone, Copy)]
struct PowerRegistration {
    handle: usize,
    slot: u64,
    setting: GUID,
    routine: usize,
    context: usize,
}

#[derive(Default)]
struct State {
    power: Vec<PowerRegistration>,
    values: Vec<(GUID, Vec<u8>)>,
    handles: OpaqueHandles,
    whea: Vec<(u64, usize, usize)>,
    profile_handler: usize,
}

// SAFETY: plain addresses and values.
unsafe impl Send for State {}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut guard = lock(&STATE);
    f(guard.get_or_insert_with(|| State {
        values: vec![
            (GUID_MONITOR_POWER_ON, 1u32.to_le_bytes().to_vec()),
            (GUID_LIDSWITCH_STATE_CHANGE, 1u32.to_le_bytes().to_vec()),
            (GUID_ACDC_POWER_SOURCE, 0u32.to_le_bytes().to_vec()),
            (GUID_CONSOLE_DISPLAY_STATE, 1u32.to_le_bytes().to_vec()),
        ],
        ..State::default()
    }))
}

fn current_value(setting: &GUID) -> Vec<u8> {
    with_state(|s| {
        s.values
            .iter()
            .find(|(g, _)| guid_eq(g, setting))
            .map_or_else(|| vec![0; 4], |(_, v)| v.clone())
    })
}

fn call_power(registration: &PowerRegistration, value: &[u8]) -> Option<NTSTATUS> {
    // SAFETY: stored as a PPOWER_SETTING_CALLBACK.
    let routine = unsafe { std::mem::transmute::<usize, PPOWER_SETTING_CALLBACK>(registration.routine) }?;
    let mut value = value.to_vec();
    let length = u32::try_from(value.len()).unwrap_or(0);
    let setting = registration.setting;
    let _irql = IrqlScope::enter(PASSIVE_LEVEL);
    POWER_SETTINGS.invoke(registration.slot, || {
        // SAFETY: the registered routine with a GUID and value valid for the call.
        unsafe {
            routine(
                &raw const setting,
                value.as_mut_ptr().cast(),
                length,
                registration.context as PVOID,
            )
        }
    })
}

/// `PoRegisterPowerSettingCallback` (wdm/nf-wdm-poregisterpowersettingcallback).
///
/// # Safety
/// `setting_guid` is a valid GUID; the callback stays callable until
/// unregistered; `handle` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PoRegisterPowerSettingCallback(
    _device_object: PDEVICE_OBJECT,
    setting_guid: LPCGUID,
    callback: PPOWER_SETTING_CALLBACK,
    context: PVOID,
    handle: *mut PVOID,
) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::PO_REGISTER_POWER_SETTING_CALLBACK));
    let Some(routine) = callback else {
        return STATUS_INVALID_PARAMETER;
    };
    if setting_guid.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: a valid GUID per the caller.
    let setting = unsafe { setting_guid.read_unaligned() };
    let slot = POWER_SETTINGS.add(routine as usize, 0, 0);
    let registration = with_state(|s| {
        let handle = s.handles.issue(u64::from_le_bytes(*b"PoSetCb\0"));
        let registration = PowerRegistration {
            handle,
            slot,
            setting,
            routine: routine as usize,
            context: context as usize,
        };
        s.power.push(registration);
        registration
    });
    if !handle.is_null() {
        // SAFETY: writable per the caller.
        unsafe { handle.write(registration.handle as PVOID) };
    }
    let _ = call_power(&registration, &current_value(&setting));
    STATUS_SUCCESS
}

/// `PoUnregisterPowerSettingCallback` (wdm/nf-wdm-pounregisterpowersettingcallback).
///
/// # Safety
/// None beyond the C ABI.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PoUnregisterPowerSettingCallback(handle: PVOID) -> NTSTATUS {
    ddi::enter(&ddi::PO_UNREGISTER_POWER_SETTING_CALLBACK);
    let slot = with_state(|s| {
        let position = s.power.iter().position(|r| r.handle == handle as usize)?;
        Some(s.power.remove(position).slot)
    });
    let Some(slot) = slot else {
        return STATUS_INVALID_PARAMETER;
    };
    POWER_SETTINGS.remove("PoUnregisterPowerSettingCallback", true, |s| s.id == slot);
    STATUS_SUCCESS
}

/// Changes power setting `setting` to `value` and notifies its callbacks.
/// Returns how many ran.
#[must_use = "the number of callbacks that ran"]
pub fn power_setting_change(setting: GUID, value: &[u8]) -> usize {
    let registrations = with_state(|s| {
        match s.values.iter_mut().find(|(g, _)| guid_eq(g, &setting)) {
            Some((_, v)) => *v = value.to_vec(),
            None => s.values.push((setting, value.to_vec())),
        }
        s.power
            .iter()
            .filter(|r| guid_eq(&r.setting, &setting))
            .copied()
            .collect::<Vec<_>>()
    });
    registrations
        .iter()
        .filter(|r| call_power(r, value).is_some())
        .count()
}

/// `WheaRegisterInUsePageOfflineNotification` (ntddk.h; undocumented).
///
/// # Safety
/// The routine stays callable until unregistered.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn WheaRegisterInUsePageOfflineNotification(
    callback: PFN_IN_USE_PAGE_OFFLINE_NOTIFY,
    context: PVOID,
) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::WHEA_REGISTER_IN_USE_PAGE_OFFLINE_NOTIFICATION));
    let Some(routine) = callback else {
        return STATUS_INVALID_PARAMETER;
    };
    if with_state(|s| s.whea.iter().any(|(_, r, _)| *r == routine as usize)) {
        return STATUS_INVALID_PARAMETER;
    }
    let slot = PAGE_OFFLINE.add(routine as usize, 0, 0);
    with_state(|s| s.whea.push((slot, routine as usize, context as usize)));
    STATUS_SUCCESS
}

/// `WheaUnregisterInUsePageOfflineNotification` (ntddk.h; undocumented).
///
/// # Safety
/// None beyond the C ABI.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn WheaUnregisterInUsePageOfflineNotification(
    callback: PFN_IN_USE_PAGE_OFFLINE_NOTIFY,
) -> NTSTATUS {
    ddi::enter(&ddi::WHEA_UNREGISTER_IN_USE_PAGE_OFFLINE_NOTIFICATION);
    let routine = callback.map_or(0, |r| r as usize);
    let slot = with_state(|s| {
        let position = s.whea.iter().position(|(_, r, _)| *r == routine)?;
        Some(s.whea.remove(position).0)
    });
    let Some(slot) = slot else {
        return STATUS_INVALID_PARAMETER;
    };
    PAGE_OFFLINE.remove("WheaUnregisterInUsePageOfflineNotification", true, |s| {
        s.id == slot
    });
    STATUS_SUCCESS
}

/// WHEA takes page `page` offline: each routine is called, in registration
/// order, with the page, WHEA's `flags` byte (`WHEA_IN_USE_PAGE_NOTIFY_FLAG_*`),
/// `poisoned` and its registration context (the prototype of Microsoft's WDK
/// metadata; the routine is undocumented). Returns each routine's BOOLEAN.
#[must_use = "what the routines returned"]
pub fn page_offline(page: u32, flags: u8, poisoned: bool) -> Vec<BOOLEAN> {
    let routines = with_state(|s| s.whea.clone());
    let _irql = IrqlScope::enter(PASSIVE_LEVEL);
    let mut results = Vec::new();
    for (slot, routine, context) in routines {
        // SAFETY: stored as a PFN_IN_USE_PAGE_OFFLINE_NOTIFY.
        let Some(routine) =
            (unsafe { std::mem::transmute::<usize, PFN_IN_USE_PAGE_OFFLINE_NOTIFY>(routine) })
        else {
            continue;
        };
        let returned = PAGE_OFFLINE.invoke(slot, || {
            // SAFETY: the registered routine with valid arguments.
            unsafe { routine(page, flags, BOOLEAN::from(poisoned), context as PVOID) }
        });
        if let Some(returned) = returned {
            results.push(returned);
        }
    }
    results
}

/// The start of `HAL_DISPATCH` (ntddk.h) and room for the rest.
#[repr(C)]
pub struct HalDispatch {
    /// `Version`.
    pub version: ULONG,
    /// `HalQuerySystemInformation`.
    pub query_system_information: wdk_sys::pHalQuerySystemInformation,
    /// `HalSetSystemInformation`.
    pub set_system_information: wdk_sys::pHalSetSystemInformation,
    /// The remaining entries (not modeled: NULL).
    pub rest: [usize; 24],
}

/// `HalDispatchTable`: the HAL dispatch table (a data export).
#[unsafe(no_mangle)]
pub static HalDispatchTable: HalDispatch = HalDispatch {
    version: HAL_DISPATCH_VERSION,
    query_system_information: Some(hal_query_system_information),
    set_system_information: Some(hal_set_system_information),
    rest: [0; 24],
};

unsafe extern "C" fn hal_query_system_information(
    _information_class: HAL_QUERY_INFORMATION_CLASS,
    _buffer_size: ULONG,
    _buffer: PVOID,
    _returned_length: PULONG,
) -> NTSTATUS {
    ddi::enter(&ddi::HAL_QUERY_SYSTEM_INFORMATION);
    STATUS_NOT_IMPLEMENTED
}

unsafe extern "C" fn hal_set_system_information(
    information_class: HAL_SET_INFORMATION_CLASS,
    buffer_size: ULONG,
    buffer: PVOID,
) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::HAL_SET_SYSTEM_INFORMATION));
    if information_class != HalProfileSourceInterruptHandler {
        return STATUS_NOT_IMPLEMENTED;
    }
    if buffer.is_null() || buffer_size as usize != std::mem::size_of::<usize>() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: a pointer-sized buffer per the checks above.
    let handler = unsafe { buffer.cast::<usize>().read_unaligned() };
    with_state(|s| s.profile_handler = handler);
    STATUS_SUCCESS
}

/// The model's `HalRegisterErrataCallbacks` (see the module docs): calling
/// it at all is a violation.
///
/// # Safety
/// None: it reads no argument.
pub(crate) unsafe extern "C" fn hal_register_errata_callbacks() -> NTSTATUS {
    crate::verifier::model_rule(
        crate::verifier::ModelRule::InvalidParameter,
        0,
        "HalRegisterErrataCallbacks called: its prototype is undocumented".to_owned(),
    );
    STATUS_NOT_IMPLEMENTED
}

/// The profile interrupt handler set through `HalSetSystemInformation`.
#[must_use]
pub fn profile_handler() -> usize {
    with_state(|s| s.profile_handler)
}

/// A profiling (PMI) interrupt: the handler runs at PROFILE_LEVEL with a
/// zeroed trap frame. Returns whether a handler ran.
#[must_use = "whether a handler ran"]
pub fn profile_interrupt() -> bool {
    let handler = profile_handler();
    if handler == 0 {
        return false;
    }
    // SAFETY: the driver passed a `void (*)(PKTRAP_FRAME)` handler.
    let routine = unsafe { std::mem::transmute::<usize, unsafe extern "C" fn(PVOID)>(handler) };
    let mut frame = vec![0u8; 512];
    let _irql = IrqlScope::enter(PROFILE_LEVEL);
    let _phase = crate::context::ContextScope::phase(crate::context::Phase::Callback);
    // SAFETY: the handler with a trap frame valid for the call.
    unsafe { routine(frame.as_mut_ptr().cast()) };
    true
}

pub(crate) fn reset() {
    POWER_SETTINGS.reset();
    PAGE_OFFLINE.reset();
    let old = lock(&STATE).take();
    std::mem::forget(old);
}
