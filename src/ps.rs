//! Process-manager notify routines (`PsSet*NotifyRoutine*`).
//!
//! For now: image-load notification, the one Ps routine Wine really fires.

use kcb_proto::{
    EventRecord, IMAGE_FLAG_EXTENDED_INFO, IMAGE_FLAG_SYSTEM_MODE, ImageLoadPayload, kind,
};
use wdk_sys::{
    HANDLE, PIMAGE_INFO, PUNICODE_STRING,
    ntddk::{PsRemoveLoadImageNotifyRoutine, PsSetLoadImageNotifyRoutine},
};

use crate::{
    events,
    guard::{NtStatus, RegistrationOps},
    report::Api,
    unicode::units_of,
};

/// `PsSetLoadImageNotifyRoutine` / `PsRemoveLoadImageNotifyRoutine`.
pub struct LoadImageNotify;

impl RegistrationOps for LoadImageNotify {
    type Args = ();
    type Token = ();
    const API: Api = Api::LoadImageNotify;

    /// PASSIVE_LEVEL. Fails with `STATUS_INSUFFICIENT_RESOURCES` when the
    /// system's routine limit is reached.
    fn register((): ()) -> Result<(), NtStatus> {
        // SAFETY: the routine is a 'static function that stays in the image
        // until after unregister.
        let status = unsafe { PsSetLoadImageNotifyRoutine(Some(on_load_image)) };
        if status < 0 { Err(status) } else { Ok(()) }
    }

    unsafe fn unregister((): ()) {
        // SAFETY: registered by `register`; PsRemove waits for running
        // callbacks before returning (ntddk/nf-ntddk-psremoveloadimagenotifyroutine).
        let _ = unsafe { PsRemoveLoadImageNotifyRoutine(Some(on_load_image)) };
    }
}

/// `PLOAD_IMAGE_NOTIFY_ROUTINE`. Called at PASSIVE_LEVEL after the image is
/// mapped and before its entry point runs. Fills a record and pushes it:
/// bounded work, no allocation, no lock.
unsafe extern "C" fn on_load_image(
    full_image_name: PUNICODE_STRING,
    process_id: HANDLE,
    image_info: PIMAGE_INFO,
) {
    let record = EventRecord::build(kind::NONE, |payload: &mut ImageLoadPayload| {
        // SAFETY: the kernel passes a valid (or null) UNICODE_STRING that lives
        // for the duration of the callback.
        let name = unsafe { units_of(full_image_name) };
        payload.name.set_from_utf16(name);
        if !image_info.is_null() {
            // SAFETY: non-null IMAGE_INFO from the kernel, valid during the callback.
            let info = unsafe { &*image_info };
            payload.image_base = info.ImageBase as u64;
            payload.image_size = info.ImageSize;
            // SAFETY: every bit pattern of the Properties union is a valid u32.
            let properties = unsafe { info.__bindgen_anon_1.Properties };
            payload.properties = properties;
            // IMAGE_INFO bit fields: ImageAddressingMode:8, SystemModeImage:1,
            // ImageMappedToAllPids:1, ExtendedInfoPresent:1, MachineTypeMismatch:1,
            // ImageSignatureLevel:4, ImageSignatureType:3 (ntddk/ns-ntddk-_image_info).
            let mut flags = 0;
            if properties & (1 << 8) != 0 {
                flags |= IMAGE_FLAG_SYSTEM_MODE;
            }
            if properties & (1 << 10) != 0 {
                flags |= IMAGE_FLAG_EXTENDED_INFO;
            }
            payload.flags = flags;
            payload.signature_level = ((properties >> 12) & 0xF) as u8;
            payload.signature_type = ((properties >> 16) & 0x7) as u8;
        }
    });
    events::record_for_process(record, process_id as u64);
}
