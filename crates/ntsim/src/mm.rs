//! Resident memory, as `MmIsAddressValid` answers for it.
//!
//! `MmIsAddressValid` (ntddk/nf-ntddk-mmisaddressvalid): `<= DISPATCH_LEVEL`;
//! TRUE if reading the address would not page-fault. The model cannot know
//! about arbitrary host memory, so it answers TRUE for the memory it owns
//! and knows to be resident: callback object bodies, registration blocks
//! and live pool blocks; FALSE for anything else, and for a range a test
//! marked paged out ([`set_paged_out`]).

#![allow(non_snake_case)]

use std::collections::BTreeMap;
use std::sync::Mutex;

use wdk_sys::{BOOLEAN, PVOID};

use crate::{ddi, sync};

/// Memory the model owns and knows to be resident: start -> length.
static RESIDENT: Mutex<BTreeMap<usize, usize>> = Mutex::new(BTreeMap::new());
/// Ranges a test marked paged out: start -> length.
static PAGED_OUT: Mutex<BTreeMap<usize, usize>> = Mutex::new(BTreeMap::new());

pub(crate) fn make_resident(start: usize, length: usize) {
    sync::lock(&RESIDENT).insert(start, length);
}

pub(crate) fn evict(start: usize) {
    sync::lock(&RESIDENT).remove(&start);
    sync::lock(&PAGED_OUT).remove(&start);
}

fn contains(map: &BTreeMap<usize, usize>, address: usize) -> bool {
    map.range(..=address)
        .next_back()
        .is_some_and(|(start, length)| address - start < *length)
}

/// Whether reading `address` would not fault, as `MmIsAddressValid` answers.
#[must_use]
pub fn is_resident(address: usize) -> bool {
    if contains(&sync::lock(&PAGED_OUT), address) {
        return false;
    }
    if contains(&sync::lock(&RESIDENT), address) {
        return true;
    }
    crate::pool::outstanding()
        .iter()
        .any(|a| address >= a.address && address - a.address < a.size.max(1))
}

/// Marks the model-owned range that starts at `start` (a callback object
/// body or a registration block) paged out (`MmIsAddressValid` says FALSE
/// for it) or resident again.
///
/// # Panics
/// If `start` does not start such a range.
pub fn set_paged_out(start: usize, paged_out: bool) {
    let (from, to) = if paged_out {
        (&RESIDENT, &PAGED_OUT)
    } else {
        (&PAGED_OUT, &RESIDENT)
    };
    let length = sync::lock(from)
        .remove(&start)
        .unwrap_or_else(|| panic!("{start:#x} does not start a model range to move"));
    sync::lock(to).insert(start, length);
}

/// `MmIsAddressValid` (ntddk/nf-ntddk-mmisaddressvalid): `<= DISPATCH_LEVEL`.
/// See the module docs for what the model knows to be resident.
///
/// # Safety
/// None beyond the C ABI: the address is only looked up, never read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn MmIsAddressValid(virtual_address: PVOID) -> BOOLEAN {
    ddi::enter(&ddi::MM_IS_ADDRESS_VALID);
    u8::from(is_resident(virtual_address as usize))
}

pub(crate) fn reset() {
    sync::lock(&RESIDENT).clear();
    sync::lock(&PAGED_OUT).clear();
}
