//! Atomics and `UnsafeCell`, from `core` normally and from `loom` under
//! `--cfg loom`, behind one API (loom's closure-based `UnsafeCell`).
//!
//! Under loom the atomics are thin wrappers that can run every `load` as an
//! equivalent read-modify-write (`fetch_add(0)` / `fetch_or(false)`); see
//! [`set_rmw_loads`] for why.

#[cfg(not(loom))]
pub use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

#[cfg(loom)]
pub use loom::cell::UnsafeCell;
#[cfg(loom)]
pub use loom::sync::atomic::Ordering;
#[cfg(loom)]
pub use loom_atomics::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, set_rmw_loads};

/// `core::cell::UnsafeCell` with loom's access API.
#[cfg(not(loom))]
#[derive(Debug)]
#[repr(transparent)]
pub struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a shared raw pointer to the contents.
    #[inline]
    pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` with a mutable raw pointer to the contents.
    #[inline]
    pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(loom)]
mod loom_atomics {
    extern crate std;

    use core::cell::Cell;

    use loom::sync::atomic::Ordering;

    std::thread_local! {
        static RMW_LOADS: Cell<bool> = const { Cell::new(false) };
    }

    /// Makes every `load` (and `store`) of the ring's atomics a
    /// read-modify-write (on the calling OS thread, which runs all of a loom
    /// model's threads).
    ///
    /// loom 0.7's partial-order reduction remembers one "last access" per
    /// atomic: when a thread loads an atomic and then writes it (the
    /// producer's `load tail; CAS tail`, or `load stamp; ...; store stamp`),
    /// its own load hides another thread's earlier load, so loom never
    /// schedules the write before that load and silently skips those
    /// interleavings. RMW loads are never hidden that way (every access is a
    /// write), at the price of always reading the newest value. Stores become
    /// `swap`s too, because loom 0.7 can also order an RMW inconsistently
    /// against a concurrent plain store (a known loom issue). The model
    /// tests therefore run twice: plain loads (stale reads explored, some
    /// interleavings missed) and RMW loads (all interleavings, no stale
    /// reads).
    pub fn set_rmw_loads(on: bool) {
        RMW_LOADS.with(|c| c.set(on));
    }

    fn rmw_loads() -> bool {
        RMW_LOADS.with(Cell::get)
    }

    macro_rules! wrapper {
        ($name:ident, $inner:ty, $int:ty, $zero:expr, $rmw_load:ident) => {
            #[derive(Debug)]
            pub struct $name($inner);

            #[allow(dead_code, reason = "not every wrapper uses every operation")]
            impl $name {
                pub fn new(value: $int) -> Self {
                    Self(<$inner>::new(value))
                }

                pub fn load(&self, order: Ordering) -> $int {
                    if rmw_loads() {
                        self.0.$rmw_load($zero, order)
                    } else {
                        self.0.load(order)
                    }
                }

                pub fn store(&self, value: $int, order: Ordering) {
                    if rmw_loads() {
                        let _ = self.0.swap(value, order);
                    } else {
                        self.0.store(value, order);
                    }
                }

                pub fn compare_exchange(
                    &self,
                    current: $int,
                    new: $int,
                    success: Ordering,
                    failure: Ordering,
                ) -> Result<$int, $int> {
                    self.0.compare_exchange(current, new, success, failure)
                }
            }
        };
    }

    wrapper!(AtomicUsize, loom::sync::atomic::AtomicUsize, usize, 0, fetch_add);
    wrapper!(AtomicU64, loom::sync::atomic::AtomicU64, u64, 0, fetch_add);
    wrapper!(AtomicU32, loom::sync::atomic::AtomicU32, u32, 0, fetch_add);
    wrapper!(AtomicBool, loom::sync::atomic::AtomicBool, bool, false, fetch_or);

    #[allow(dead_code, reason = "kept for symmetry with AtomicU64")]
    impl AtomicUsize {
        pub fn fetch_add(&self, value: usize, order: Ordering) -> usize {
            self.0.fetch_add(value, order)
        }
    }

    impl AtomicU64 {
        pub fn fetch_add(&self, value: u64, order: Ordering) -> u64 {
            self.0.fetch_add(value, order)
        }
    }
}
