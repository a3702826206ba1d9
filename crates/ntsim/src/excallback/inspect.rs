//! Callback objects as tests see them, and what a driver left in them
//! (see [`crate::excallback`]).

use super::object::{CallbackObjectBody, CallbackRegistration, ObjectInfo, State, list_order, with_state};

/// A callback object as the test sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackObjectInfo {
    /// Its address (the `PCALLBACK_OBJECT`).
    pub address: usize,
    /// Its name.
    pub name: String,
    /// Pointer count.
    pub references: i64,
    /// References the driver holds.
    pub driver_references: i64,
    /// `AllowMultipleCallbacks`.
    pub allow_multiple: bool,
    /// Created with `OBJ_PERMANENT` (or a system object).
    pub permanent: bool,
    /// A system-defined object.
    pub system: bool,
    /// Callback functions registered through `ExRegisterCallback` (drivers
    /// and tests), in list order.
    pub callbacks: Vec<usize>,
    /// Routines the model registered as the system (their block addresses'
    /// function field), in list order.
    pub system_callbacks: Vec<usize>,
    /// Every registration block (the handle `ExRegisterCallback` returned),
    /// in list order, the system's included.
    pub registrations: Vec<usize>,
}

fn object_info(state: &State, address: usize, info: &ObjectInfo) -> CallbackObjectInfo {
    let mut callbacks = Vec::new();
    let mut system_callbacks = Vec::new();
    let mut registrations = Vec::new();
    for block in list_order(&info.body) {
        // SAFETY: blocks in the list are live.
        let function = unsafe { (*block).function }.map_or(0, |f| f as usize);
        let system = state
            .registrations
            .get(&(block as usize))
            .is_some_and(|r| r.system_routine.is_some());
        if system {
            system_callbacks.push(function);
        } else {
            callbacks.push(function);
        }
        registrations.push(block as usize);
    }
    CallbackObjectInfo {
        address,
        name: info.name.clone(),
        references: info.references,
        driver_references: info.driver_references,
        allow_multiple: info.body.allow_multiple != 0,
        permanent: info.permanent,
        system: info.system,
        callbacks,
        system_callbacks,
        registrations,
    }
}

/// Every callback object that exists.
#[must_use]
pub fn objects() -> Vec<CallbackObjectInfo> {
    let mut list: Vec<_> = with_state(|s| {
        s.objects
            .iter()
            .filter(|(_, o)| !o.deleted)
            .map(|(a, o)| object_info(s, *a, o))
            .collect()
    });
    list.sort_by(|a, b| a.name.cmp(&b.name));
    list
}

/// The callback object named `name` (case-insensitive).
#[must_use]
pub fn object(name: &str) -> Option<CallbackObjectInfo> {
    objects().into_iter().find(|o| o.name.eq_ignore_ascii_case(name))
}

/// Overwrites the pointer-sized word at `address` and returns the old value.
///
/// `address` must lie inside a live callback object body or registration
/// block: this corrupts the layout a driver walks (and restores it after).
///
/// While a list is corrupted, the model's own list walks ([`objects`],
/// `ExRegisterCallback` on a single-callback object) must not run on it.
///
/// # Panics
/// If `address` is misaligned or not inside such memory.
#[allow(clippy::must_use_candidate, reason = "restoring is optional")]
pub fn corrupt(address: usize, value: usize) -> usize {
    assert!(address.is_multiple_of(8), "{address:#x} is not pointer-aligned");
    with_state(|state| {
        let word = std::mem::size_of::<usize>();
        let bodies = state.objects.values_mut().map(|o| {
            (
                (&raw mut *o.body).cast::<u8>(),
                std::mem::size_of::<CallbackObjectBody>(),
            )
        });
        let blocks = state.registrations.values_mut().map(|r| {
            (
                (&raw mut *r.block).cast::<u8>(),
                std::mem::size_of::<CallbackRegistration>(),
            )
        });
        let target = bodies
            .chain(blocks)
            .find_map(|(start, length)| {
                let offset = address.checked_sub(start as usize)?;
                (offset + word <= length).then(|| start.wrapping_add(offset))
            })
            .unwrap_or_else(|| panic!("{address:#x} is not model callback memory"));
        // An aligned word inside a live body or block owned by the state
        // (provenance from the owning Box), with the state locked.
        #[allow(clippy::cast_ptr_alignment, reason = "`address` is 8-aligned (asserted)")]
        let target = target.cast::<usize>();
        // SAFETY: an aligned word inside a live body or block owned by the
        // state (provenance from the owning Box), with the state locked.
        unsafe { target.replace(value) }
    })
}

/// What the driver left: (objects it holds references to, registrations not
/// removed (function addresses), registrations with calls in flight).
/// Registrations the model made as the system, and those another driver
/// made ([`crate::context::other_image`]), are not the driver's.
pub fn leftovers() -> (Vec<CallbackObjectInfo>, Vec<(usize, String)>, Vec<usize>) {
    with_state(|state| {
        let held = state
            .objects
            .iter()
            .filter(|(_, o)| o.driver_references > 0)
            .map(|(a, o)| object_info(state, *a, o))
            .collect();
        let registered = state
            .registrations
            .values()
            .filter(|r| !r.removed && r.system_routine.is_none() && r.owner.is_none())
            .map(|r| {
                let name = state
                    .objects
                    .get(&r.object)
                    .map(|o| o.name.clone())
                    .unwrap_or_default();
                (r.block.function.map_or(0, |f| f as usize), name)
            })
            .collect();
        let running = state
            .registrations
            .values()
            .filter(|r| r.block.busy > 0 && r.owner.is_none())
            .map(|r| r.block.function.map_or(0, |f| f as usize))
            .collect();
        (held, registered, running)
    })
}
