//! Shutdown notification (kernel-semantics.md §12).
//!
//! `IoRegisterShutdownNotification` / `IoRegisterLastChanceShutdownNotification`
//! (wdm/nf-wdm-ioregistershutdownnotification,
//! wdm/nf-wdm-ioregisterlastchanceshutdownnotification): PASSIVE_LEVEL
//! (rule IrqlIoPassive5 for the first); one `IRP_MJ_SHUTDOWN` per
//! registration at shutdown, normal ones before last-chance ones.
//! `IoUnregisterShutdownNotification` (PASSIVE_LEVEL, IrqlIoPassive5)
//! cancels every registration of the device; for a device never
//! registered (SILENT) it does nothing. Deleting the device drops its
//! registrations (`DO_SHUTDOWN_REGISTERED`).
//!
//! Delivery (one `IRP_MJ_SHUTDOWN` per registration) is
//! [`crate::trigger::shutdown`]: it sends IRPs through [`crate::io`], which
//! itself tells this file when a device is deleted.

#![allow(non_snake_case)]

use std::sync::Mutex;

use wdk_sys::{DO_SHUTDOWN_REGISTERED, NTSTATUS, PDEVICE_OBJECT, STATUS_INVALID_PARAMETER, STATUS_SUCCESS};

use crate::{ddi, sync::lock};

#[derive(Clone, Copy, Debug)]
struct ShutdownRegistration {
    device: usize,
    last_chance: bool,
}

/// The registrations, in registration order.
static SHUTDOWN: Mutex<Vec<ShutdownRegistration>> = Mutex::new(Vec::new());

fn register_shutdown(ddi: &'static ddi::Ddi, device: PDEVICE_OBJECT, last_chance: bool) -> NTSTATUS {
    if let Some(status) = ddi::enter(ddi).fault {
        return status;
    }
    if device.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    lock(&SHUTDOWN).push(ShutdownRegistration {
        device: device as usize,
        last_chance,
    });
    // SAFETY: a live device object per the caller.
    unsafe { (*device).Flags |= DO_SHUTDOWN_REGISTERED };
    STATUS_SUCCESS
}

/// `IoRegisterShutdownNotification` (wdm/nf-wdm-ioregistershutdownnotification).
///
/// # Safety
/// `device_object` is a live device object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IoRegisterShutdownNotification(device_object: PDEVICE_OBJECT) -> NTSTATUS {
    register_shutdown(&ddi::IO_REGISTER_SHUTDOWN_NOTIFICATION, device_object, false)
}

/// `IoRegisterLastChanceShutdownNotification` (wdm/nf-wdm-ioregisterlastchanceshutdownnotification).
///
/// # Safety
/// `device_object` is a live device object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IoRegisterLastChanceShutdownNotification(device_object: PDEVICE_OBJECT) -> NTSTATUS {
    register_shutdown(
        &ddi::IO_REGISTER_LAST_CHANCE_SHUTDOWN_NOTIFICATION,
        device_object,
        true,
    )
}

/// `IoUnregisterShutdownNotification` (wdm/nf-wdm-iounregistershutdownnotification).
///
/// # Safety
/// `device_object` is a device object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IoUnregisterShutdownNotification(device_object: PDEVICE_OBJECT) {
    ddi::enter(&ddi::IO_UNREGISTER_SHUTDOWN_NOTIFICATION);
    device_deleted(device_object as usize);
    if !device_object.is_null() {
        // SAFETY: a device object per the caller.
        unsafe { (*device_object).Flags &= !DO_SHUTDOWN_REGISTERED };
    }
}

pub(crate) fn device_deleted(device: usize) {
    lock(&SHUTDOWN).retain(|r| r.device != device);
}

/// The devices registered for shutdown: (device address, last chance).
#[must_use]
pub fn shutdown_registrations() -> Vec<(usize, bool)> {
    lock(&SHUTDOWN)
        .iter()
        .map(|r| (r.device, r.last_chance))
        .collect()
}

/// The registrations in delivery order: the normal ones, then the
/// last-chance ones, each in registration order.
pub(crate) fn delivery_order() -> Vec<PDEVICE_OBJECT> {
    let registrations = lock(&SHUTDOWN).clone();
    registrations
        .iter()
        .filter(|r| !r.last_chance)
        .chain(registrations.iter().filter(|r| r.last_chance))
        .map(|r| r.device as PDEVICE_OBJECT)
        .collect()
}

pub(crate) fn reset() {
    lock(&SHUTDOWN).clear();
}
