//! `GUID` values: building one from its documented parts and comparing two
//! (the bindings' `GUID` has no `PartialEq`).

use wdk_sys::GUID;

/// The `GUID` whose registry-format spelling
/// `{aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee}` reads as the hexadecimal number
/// `value` (`0xaaaaaaaa_bbbb_cccc_dddd_eeeeeeeeeeee`).
pub const fn guid(value: u128) -> GUID {
    let b = value.to_be_bytes();
    GUID {
        Data1: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        Data2: u16::from_be_bytes([b[4], b[5]]),
        Data3: u16::from_be_bytes([b[6], b[7]]),
        Data4: [b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]],
    }
}

/// Whether `a` and `b` are the same `GUID` (`IsEqualGUID`).
pub const fn guid_eq(a: &GUID, b: &GUID) -> bool {
    a.Data1 == b.Data1
        && a.Data2 == b.Data2
        && a.Data3 == b.Data3
        && u64::from_ne_bytes(a.Data4) == u64::from_ne_bytes(b.Data4)
}
