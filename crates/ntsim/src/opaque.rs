//! Opaque handles: small blocks the model owns whose stable, unique
//! addresses it hands out as handles (registration handles, notification
//! entries, interrupt objects). Each block holds a tag naming its kind.

/// The blocks behind the handles one family handed out. A block lives as
/// long as its owner (the family's state), so a handle is never reused while
/// the state that issued it is alive.
#[derive(Default)]
pub struct OpaqueHandles(
    #[allow(
        clippy::vec_box,
        reason = "each box is a stable, unique address handed out as an opaque handle"
    )]
    Vec<Box<u64>>,
);

impl OpaqueHandles {
    /// No handles yet (usable in a `static` initializer).
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// A new handle: the address of a fresh block holding `tag`.
    pub fn issue(&mut self, tag: u64) -> usize {
        let mut block = Box::new(tag);
        let handle = std::ptr::from_mut::<u64>(&mut block) as usize;
        self.0.push(block);
        handle
    }

    /// Stops tracking every block without freeing it: handles a caller still
    /// holds stay valid addresses and are never handed out again.
    pub fn forget_all(&mut self) {
        std::mem::forget(std::mem::take(&mut self.0));
    }
}
