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
//!
//! **Where old values die.** crossbeam-epoch runs deferred destructors in whichever thread
//! happens to collect garbage, and every `pin()` collects a little (every 128th pin of a
//! thread tries to advance the epoch and runs up to a few bags of deferred functions). For
//! qfp that could be a worker, and an old SA table or an SA (whose key schedule is zeroized
//! on drop) is not something a worker should spend its burst on. A [`Published`] built with
//! [`Published::with_reclaimer`] therefore defers only a cheap hand-back: once no reader can
//! hold the old value, the collecting thread pushes it (a pointer move, no allocation, no
//! lock) into the [`Reclaimer`]'s bounded queue, and the writer (the control core) drops it
//! later with [`Reclaimer::drain`]. Should the queue be full, the value is dropped in place
//! and counted ([`ReclaimStats::dropped_in_place`]), so nothing leaks and nothing blocks.
//! crossbeam-epoch's own bookkeeping in `pin()` (epoch advance, moving bags) still runs on
//! whichever thread pins: that is small, bounded work, and it is what makes the scheme
//! lock-free.
#![deny(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering};
use crossbeam::queue::ArrayQueue;
use crossbeam_epoch::{Atomic, Owned};
use std::sync::Arc;

pub use crossbeam_epoch::{Guard, pin};

/// Where replaced values go to be dropped by the writer's thread (see the crate doc).
/// Cloning gives another handle to the same queue.
#[derive(Clone)]
pub struct Reclaimer {
    inner: Arc<ReclaimInner>,
}

struct ReclaimInner {
    queue: ArrayQueue<Box<dyn Send>>,
    handed_back: AtomicU64,
    dropped_in_place: AtomicU64,
    drained: AtomicU64,
}

/// Counters of a [`Reclaimer`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReclaimStats {
    /// Values handed back through the queue.
    pub handed_back: u64,
    /// Values dropped where the collector ran because the queue was full.
    pub dropped_in_place: u64,
    /// Values dropped by [`Reclaimer::drain`].
    pub drained: u64,
    /// Values waiting in the queue now.
    pub queued: u64,
}

impl core::fmt::Debug for Reclaimer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Reclaimer").field("stats", &self.stats()).finish()
    }
}

impl Reclaimer {
    /// A reclaimer whose queue holds up to `capacity` values (at least 1).
    pub fn new(capacity: usize) -> Reclaimer {
        Reclaimer {
            inner: Arc::new(ReclaimInner {
                queue: ArrayQueue::new(capacity.max(1)),
                handed_back: AtomicU64::new(0),
                dropped_in_place: AtomicU64::new(0),
                drained: AtomicU64::new(0),
            }),
        }
    }

    /// Hands `value` back, or drops it here if the queue is full. Runs in the collecting
    /// thread: a queue push, no allocation (the box already exists).
    fn hand_back(&self, value: Box<dyn Send>) {
        match self.inner.queue.push(value) {
            Ok(()) => {
                self.inner.handed_back.fetch_add(1, Ordering::Relaxed);
            }
            Err(value) => {
                self.inner.dropped_in_place.fetch_add(1, Ordering::Relaxed);
                drop(value);
            }
        }
    }

    /// Drops every value waiting in the queue, on the calling thread (the writer's).
    /// Returns how many were dropped.
    pub fn drain(&self) -> usize {
        let mut n = 0;
        while let Some(v) = self.inner.queue.pop() {
            drop(v);
            n += 1;
        }
        self.inner.drained.fetch_add(n as u64, Ordering::Relaxed);
        n
    }

    /// Counters now.
    pub fn stats(&self) -> ReclaimStats {
        ReclaimStats {
            handed_back: self.inner.handed_back.load(Ordering::Relaxed),
            dropped_in_place: self.inner.dropped_in_place.load(Ordering::Relaxed),
            drained: self.inner.drained.load(Ordering::Relaxed),
            queued: self.inner.queue.len() as u64,
        }
    }
}

/// Drives the epoch collector from the calling thread: pins and flushes `rounds` times,
/// which lets the global epoch advance and runs deferred functions that are due. The
/// writer calls it before [`Reclaimer::drain`] so that values it replaced a moment ago
/// reach the queue even when the readers pin rarely (idle workers).
pub fn collect(rounds: usize) {
    for _ in 0..rounds {
        pin().flush();
    }
}

/// A value that readers load without locking and a writer replaces atomically.
pub struct Published<T: Send + Sync + 'static> {
    ptr: Atomic<T>,
    reclaim: Option<Reclaimer>,
}

impl<T: Send + Sync + 'static> Published<T> {
    /// Publishes `value`. Replaced values are dropped by the epoch collector, in whichever
    /// thread collects.
    pub fn new(value: T) -> Self {
        Published { ptr: Atomic::new(value), reclaim: None }
    }

    /// Publishes `value`. Replaced values are handed back to `reclaim`, to be dropped by
    /// the thread that calls [`Reclaimer::drain`].
    pub fn with_reclaimer(value: T, reclaim: Reclaimer) -> Self {
        Published { ptr: Atomic::new(value), reclaim: Some(reclaim) }
    }

    /// The current value, valid while both `self` and `guard` are borrowed.
    ///
    /// One acquire load: pairs with the release half of [`Published::replace`], so every
    /// write made to the value before it was published is visible here.
    #[inline]
    pub fn load<'a>(&'a self, guard: &'a Guard) -> &'a T {
        let shared = self.ptr.load(Ordering::Acquire, guard);
        #[allow(unsafe_code)]
        // The pointer is never null: it is set from an `Owned` in `new` and every `replace`
        // stores another `Owned`. The object it points to is only destroyed (a) after
        // `replace` unlinked it, by the collector, which runs only once every guard pinned
        // before the unlink is dropped — `guard` is such a guard and the returned borrow
        // cannot outlive it; or (b) in `Drop`, which needs `&mut self` and so cannot run
        // while this `&'a self` borrow exists. No `&mut T` is ever handed out.
        // SAFETY: non-null, and alive for as long as both borrows (reasons just above).
        unsafe {
            shared.deref()
        }
    }

    /// Replaces the value with `value` (one atomic pointer swap). Once no reader can hold
    /// the old value it is dropped by the epoch collector, or handed back to the reclaimer
    /// if this cell has one.
    pub fn replace(&self, value: T) {
        let guard = pin();
        let old = self.ptr.swap(Owned::new(value), Ordering::AcqRel, &guard);
        match &self.reclaim {
            None => {
                #[allow(unsafe_code)]
                // `old` came out of the swap, so it is no longer reachable through `self`: no
                // reader that pins after this point can load it. Readers pinned earlier may
                // still hold it; `defer_destroy` waits for all of them. `old` is never null
                // (see `load`), and each swap returns a distinct pointer.
                // SAFETY: `old` is unlinked, non-null, and destroyed exactly once, late enough.
                unsafe {
                    guard.defer_destroy(old);
                }
            }
            Some(reclaim) => {
                let reclaim = reclaim.clone();
                #[allow(unsafe_code)]
                // As above, `old` is unlinked exactly once and non-null; the closure runs
                // only after every guard that could have loaded it is gone, so turning it
                // into an `Owned` there gives the one and only owner. The closure captures
                // the pointer (not dereferenced before then) and an `Arc`, both fine to move
                // to the collecting thread: `T: Send`.
                // SAFETY: the closure becomes the sole owner of `old`, after every reader.
                unsafe {
                    guard.defer_unchecked(move || {
                        let boxed: Box<T> = old.into_owned().into_box();
                        reclaim.hand_back(boxed);
                    });
                }
            }
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
        #[allow(unsafe_code)]
        // `&mut self` proves that no `load` borrow is alive (they borrow `self`), and no
        // other thread can reach `self.ptr` any more, so the current value is owned here
        // alone; `unprotected` is sound without concurrent access.
        // SAFETY: exclusive access (reasons just above) and a non-null pointer.
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

    #[test]
    fn replaced_values_come_back_to_the_reclaimer() {
        struct Noted(std::sync::mpsc::Sender<std::thread::ThreadId>);
        impl Drop for Noted {
            fn drop(&mut self) {
                let _ = self.0.send(std::thread::current().id());
            }
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let r = Reclaimer::new(64);
        let p = Published::with_reclaimer(Noted(tx.clone()), r.clone());
        for _ in 0..10 {
            p.replace(Noted(tx.clone()));
        }
        // A reader thread pins a lot: the collector may run our hand-back there.
        std::thread::spawn(|| collect(10_000)).join().unwrap();
        let mut got = 0;
        for _ in 0..10_000 {
            collect(1);
            got += r.drain();
            if got == 10 {
                break;
            }
        }
        assert_eq!(got, 10, "{:?}", r.stats());
        let me = std::thread::current().id();
        let ids: Vec<_> = rx.try_iter().collect();
        assert_eq!(ids.len(), 10);
        assert!(ids.iter().all(|&t| t == me), "dropped on the draining thread only");
        let s = r.stats();
        assert_eq!((s.handed_back, s.drained, s.dropped_in_place, s.queued), (10, 10, 0, 0));
    }

    #[test]
    fn a_full_reclaimer_drops_in_place_and_counts() {
        let drops = Arc::new(AtomicUsize::new(0));
        struct Counted(Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let r = Reclaimer::new(2);
        let p = Published::with_reclaimer(Counted(drops.clone()), r.clone());
        for _ in 0..5 {
            p.replace(Counted(drops.clone()));
        }
        for _ in 0..10_000 {
            collect(1);
            let s = r.stats();
            if s.handed_back + s.dropped_in_place == 5 {
                break;
            }
        }
        let s = r.stats();
        assert_eq!((s.handed_back, s.dropped_in_place, s.queued), (2, 3, 2), "{s:?}");
        assert_eq!(drops.load(Ordering::SeqCst), 3);
        assert_eq!(r.drain(), 2);
        assert_eq!(drops.load(Ordering::SeqCst), 5);
    }
}
