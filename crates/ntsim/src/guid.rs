//! `GUID` values: building one from its documented parts and comparing two
//! (the bindings' `GUID` has no `PartialEq`).

use wdk_sys::GUID;

/// The `GUID` `{data1-data2-data3-data4}`, as the headers' `DEFINE_GUID`
/// spells it.
pub(crate) const fn guid(data1: u32, data2: u16, data3: u16, data4: [u8; 8]) -> GUID {
    GUID {
        Data1: data1,
        Data2: data2,
        Data3: data3,
        Data4: data4,
    }
}

/// Whether `a` and `b` are the same `GUID` (`IsEqualGUID`).
pub(crate) const fn guid_eq(a: &GUID, b: &GUID) -> bool {
    a.Data1 == b.Data1
        && a.Data2 == b.Data2
        && a.Data3 == b.Data3
        && u64::from_ne_bytes(a.Data4) == u64::from_ne_bytes(b.Data4)
}
