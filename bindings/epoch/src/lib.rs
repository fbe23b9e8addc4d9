//! Lock-free publication of read-mostly objects: one writer replaces, many readers load.
//!
//! qfp's SA tables are written by the control core only and read by every worker on every
//! burst. Readers must never lock, never wait and never see a half-built or freed object;
//! the writer must be able to replace an object at any time with one atomic pointer store.
//! crossbeam-epoch gives exactly that, but dereferencing its pointers is `unsafe`, and qfp
//! keeps every `unsafe` block under `bindings/`. This crate wraps the pattern once, behind a
//! safe API:
//!
//! - [`Published<T>`] always holds a value. [`Published::load`] borrows it for as long as the
//!   reader's epoch [`Guard`] lives (a worker pins once per burst); [`Published::replace`]
//!   swaps in a new value with one `AcqRel` pointer swap and hands the old one to the epoch
//!   collector, which drops it only after every guard that could have seen it is gone.
//! - Values are immutable once published. Anything that must change in place (counters,
//!   replay windows) lives inside `T` behind its own single-writer atomics, so it carries
//!   over unchanged when `T` is shared by the next published value (for example through an
//!   `Arc`).
#![deny(unsafe_code)]

use core::sync::atomic::Ordering;
use crossbeam_epoch::{Atomic, Owned};

pub use crossbeam_epoch::{Guard, pin};

/// A value that readers load without locking and a writer replaces atomically.
pub struct Published<T: Send + Sync + 'static> {
    ptr: Atomic<T>,
}

impl<T: Send + Sync + 'static> Published<T> {
    /// Publishes `value`.
    pub fn new(value: T) -> Self {
        Published { ptr: Atomic::new(value) }
    }

    /// The current value, valid while both `self` and `guard` are borrowed.
    ///
    /// One acquire load: pairs with the release half of [`Published::replace`], so every
    /// write made to the value before it was published is visible here.
    #[inline]
    pub fn load<'a>(&'a self, guard: &'a Guard) -> &'a T {
        let shared = self.ptr.load(Ordering::Acquire, guard);
        // SAFETY: the pointer is never null: it is set from an `Owned` in `new` and every
        // `replace` stores another `Owned`. The object it points to is only destroyed (a) via
        // `defer_destroy` after it has been unlinked by `replace`, which the collector runs
        // only once every guard pinned before the unlink is dropped — `guard` is such a guard
        // and the returned borrow cannot outlive it; or (b) in `Drop`, which needs `&mut self`
        // and so cannot run while this `&'a self` borrow exists. No `&mut T` is ever handed
        // out, so shared access is sound.
        #[allow(unsafe_code)]
        unsafe {
            shared.deref()
        }
    }

    /// Replaces the value with `value` (one atomic pointer swap). The old value is dropped by
    /// the epoch collector once no reader can hold it.
    pub fn replace(&self, value: T) {
        let guard = pin();
        let old = self.ptr.swap(Owned::new(value), Ordering::AcqRel, &guard);
        // SAFETY: `old` came out of the swap, so it is no longer reachable through `self`:
        // no reader that pins after this point can load it. Readers pinned earlier may still
        // hold it; `defer_destroy` waits for all of them. `old` is never null (see `load`),
        // and is unlinked exactly once because each swap returns a distinct pointer.
        #[allow(unsafe_code)]
        unsafe {
            guard.defer_destroy(old);
        }
        // Push the deferred destruction towards the global queue so that a writer that
        // replaces rarely still gets old values freed promptly.
        guard.flush();
    }

    /// Builds a new value from the current one and publishes it (read-copy-update). Meant for
    /// a single writer: two concurrent `update`s would each base their value on the same old
    /// one and the first would be lost.
    pub fn update(&self, f: impl FnOnce(&T) -> T) {
        let guard = pin();
        let next = f(self.load(&guard));
        self.replace(next);
    }
}

impl<T: Send + Sync + 'static> Drop for Published<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self` proves that no `load` borrow is alive (they borrow `self`), and
        // no other thread can reach `self.ptr` any more, so the current value is owned here
        // alone; `unprotected` is sound without concurrent access. The pointer is non-null.
        #[allow(unsafe_code)]
        unsafe {
            let guard = crossbeam_epoch::unprotected();
            drop(self.ptr.load(Ordering::Relaxed, guard).into_owned());
        }
    }
}

impl<T: Send + Sync + 'static + core::fmt::Debug> core::fmt::Debug for Published<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let guard = pin();
        f.debug_tuple("Published").field(self.load(&guard)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn replace_is_seen_and_old_values_are_freed() {
        struct Counted(u32, Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.1.fetch_add(1, Ordering::SeqCst);
            }
        }
        let drops = Arc::new(AtomicUsize::new(0));
        let p = Published::new(Counted(0, drops.clone()));
        for i in 1..=100 {
            p.replace(Counted(i, drops.clone()));
            let g = pin();
            assert_eq!(p.load(&g).0, i);
        }
        p.update(|c| Counted(c.0 + 1, c.1.clone()));
        assert_eq!(p.load(&pin()).0, 101);
        drop(p);
        // The collector frees deferred values eventually; drive it until all 102 are gone.
        for _ in 0..10_000 {
            if drops.load(Ordering::SeqCst) == 102 {
                break;
            }
            pin().flush();
            std::thread::yield_now();
        }
        assert_eq!(drops.load(Ordering::SeqCst), 102);
    }
}
