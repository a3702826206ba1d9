//! The generic list reply: the writer the driver fills entry by entry and
//! the decoder every list shares.

use std::vec;

use crate::*;

fn registration(index: u32) -> RegistrationEntry {
    RegistrationEntry {
        object_index: index,
        status: registration_status::IN_MODULE,
        detail: 0,
        allow_multiple: 1,
        routine: 0x1000 + u64::from(index),
        offset: u64::from(index),
        module: ascii_field("ntoskrnl.exe"),
        object: WStr::from_str_truncating("\\Callback\\PowerState"),
        reserved: [0; 2],
    }
}

fn registrations_header(objects: u32) -> RegistrationListHeader {
    RegistrationListHeader {
        version: PROTOCOL_VERSION,
        count: 0,
        returned: 0,
        objects,
    }
}

#[test]
fn writer_stores_up_to_the_limit_and_counts_every_entry() {
    let mut out = vec![0u8; REGISTRATION_BUFFER_SIZE + 4 * size_of::<RegistrationEntry>()];
    let mut writer = ListWriter::<RegistrationListHeader>::new(&mut out).unwrap();
    let extra = 3_u32;
    let max = u32::try_from(MAX_REGISTRATION_ENTRIES).unwrap();
    let stored = (0..max + extra)
        .filter(|i| writer.push(&registration(*i)))
        .count();
    assert_eq!(stored, MAX_REGISTRATION_ENTRIES);
    assert_eq!(writer.returned(), max);
    let len = writer.finish(registrations_header(7));
    assert_eq!(len, REGISTRATION_BUFFER_SIZE);
    let list = decode_registrations(&out[..len]).unwrap();
    assert_eq!(list.header.count, max + extra);
    assert_eq!(list.header.returned, max);
    assert_eq!(list.header.objects, 7, "the header's own fields are kept");
    assert_eq!(list.entries.len(), MAX_REGISTRATION_ENTRIES);
    assert_eq!(list.entries.get(5), Some(registration(5)));
}

#[test]
fn writer_keeps_whole_entries_only_and_refuses_a_buffer_without_room_for_the_header() {
    let header = size_of::<RegistrationListHeader>();
    let entry = size_of::<RegistrationEntry>();
    let mut out = vec![0u8; header + 2 * entry + entry / 2];
    let mut writer = ListWriter::<RegistrationListHeader>::new(&mut out).unwrap();
    let stored: vec::Vec<bool> = (0..4).map(|i| writer.push(&registration(i))).collect();
    assert_eq!(stored, [true, true, false, false]);
    let len = writer.finish(registrations_header(1));
    assert_eq!(len, header + 2 * entry);
    let list = decode_registrations(&out[..len]).unwrap();
    assert_eq!((list.header.count, list.header.returned), (4, 2));
    assert!(matches!(
        ListWriter::<RegistrationListHeader>::new(&mut [0u8; 15]),
        Err(RequestError::TooSmall)
    ));
}

#[test]
fn every_list_is_decoded_by_the_same_checks() {
    let mut out = vec![0u8; REGISTRATION_BUFFER_SIZE];
    let len = write_list(
        &mut out,
        registrations_header(1),
        &[registration(0), registration(1)],
    )
    .unwrap();
    assert_eq!(decode_registrations(&out[..len]).unwrap().entries.len(), 2);
    let mut more_than_total = out[..len].to_vec();
    more_than_total[4..8].copy_from_slice(&1_u32.to_le_bytes());
    assert_eq!(
        decode_registrations(&more_than_total).unwrap_err(),
        DecodeError::InvalidField("returned")
    );
    let mut wrong_version = out[..len].to_vec();
    wrong_version[..4].copy_from_slice(&(PROTOCOL_VERSION + 1).to_le_bytes());
    assert_eq!(
        decode_registrations(&wrong_version).unwrap_err(),
        DecodeError::UnsupportedVersion(PROTOCOL_VERSION + 1)
    );
    assert!(matches!(
        decode_registrations(&out[..len - 1]),
        Err(DecodeError::TooShort { .. })
    ));
}
