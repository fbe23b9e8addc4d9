//! A burst: up to [`Burst::CAPACITY`] owned mbufs in a fixed array, filled by rx and
//! drained by tx without allocating.
//!
//! The array is laid out exactly as DPDK's `struct rte_mbuf *pkts[]`, so rx writes into
//! the free slots directly and tx reads from the front. Slots `0..len` are always owned
//! mbufs; dropping the burst frees them (in one `rte_pktmbuf_free_bulk`).

use std::mem::MaybeUninit;

use crate::ffi;
use crate::mbuf::Mbuf;

/// A fixed-capacity array of owned mbufs.
pub struct Burst<'a> {
    len: usize,
    slots: [MaybeUninit<Mbuf<'a>>; Burst::CAPACITY],
}

impl std::fmt::Debug for Burst<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Burst").field("len", &self.len).finish()
    }
}

impl Default for Burst<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Burst<'a> {
    /// Largest number of mbufs a burst holds (and so the largest rx/tx burst size).
    pub const CAPACITY: usize = 512;

    /// An empty burst.
    pub const fn new() -> Self {
        Burst { len: 0, slots: [const { MaybeUninit::uninit() }; Burst::CAPACITY] }
    }

    /// Mbufs held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the burst holds no mbuf.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Free slots.
    #[inline]
    pub fn room(&self) -> usize {
        Self::CAPACITY - self.len
    }

    /// The mbufs, in order.
    #[inline]
    pub fn as_slice(&self) -> &[Mbuf<'a>] {
        // SAFETY: slots 0..len are initialised mbufs; MaybeUninit<T> has T's layout.
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr().cast::<Mbuf<'a>>(), self.len) }
    }

    /// The mbufs, in order, writable (to edit packets in place).
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [Mbuf<'a>] {
        // SAFETY: as in as_slice; &mut self makes the view exclusive.
        unsafe {
            std::slice::from_raw_parts_mut(self.slots.as_mut_ptr().cast::<Mbuf<'a>>(), self.len)
        }
    }

    /// Iterates over the mbufs.
    pub fn iter(&self) -> std::slice::Iter<'_, Mbuf<'a>> {
        self.as_slice().iter()
    }

    /// Iterates over the mbufs, writable.
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Mbuf<'a>> {
        self.as_mut_slice().iter_mut()
    }

    /// Appends `m`; gives it back if the burst is full.
    #[inline]
    pub fn push(&mut self, m: Mbuf<'a>) -> Result<(), Mbuf<'a>> {
        if self.len == Self::CAPACITY {
            return Err(m);
        }
        self.slots[self.len].write(m);
        self.len += 1;
        Ok(())
    }

    /// Removes and returns the last mbuf.
    #[inline]
    pub fn pop(&mut self) -> Option<Mbuf<'a>> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: slot len was initialised and is now outside 0..len, so it is read once.
        Some(unsafe { self.slots[self.len].assume_init_read() })
    }

    /// Moves every mbuf out, in order; the burst is empty afterwards. Mbufs the iterator
    /// does not yield (dropped early) are freed.
    pub fn drain(&mut self) -> Drain<'_, 'a> {
        let end = self.len;
        // Leaking the Drain (mem::forget) then leaks mbufs instead of freeing them twice.
        self.len = 0;
        Drain { burst: self, next: 0, end }
    }

    /// Frees every mbuf; returns how many there were.
    #[inline]
    pub fn clear(&mut self) -> usize {
        let n = self.len;
        if n > 0 {
            self.len = 0;
            // SAFETY: slots 0..n are owned mbufs laid out as `struct rte_mbuf *[]`; after
            // this call they are outside 0..len and never touched again.
            unsafe { ffi::qfp_pktmbuf_free_bulk(self.slots.as_mut_ptr().cast(), n as u32) };
        }
        n
    }

    /// Pointer to the first free slot, as DPDK's `struct rte_mbuf **`.
    #[inline]
    pub(crate) fn spare_ptr(&mut self) -> *mut *mut ffi::rte_mbuf {
        self.slots[self.len..].as_mut_ptr().cast()
    }

    /// Pointer to the first slot, as DPDK's `struct rte_mbuf **`.
    #[inline]
    pub(crate) fn base_ptr(&mut self) -> *mut *mut ffi::rte_mbuf {
        self.slots.as_mut_ptr().cast()
    }

    /// Marks `n` more slots (after `len`) as holding owned mbufs.
    ///
    /// # Safety
    ///
    /// Slots `len..len + n` must hold valid, exclusively owned mbufs (DPDK just wrote them)
    /// and `len + n <= CAPACITY`.
    #[inline]
    pub(crate) unsafe fn assume_filled(&mut self, n: usize) {
        debug_assert!(self.len + n <= Self::CAPACITY);
        self.len += n;
    }

    /// Forgets the first `n` mbufs (DPDK took them) and moves the rest to the front.
    ///
    /// # Safety
    ///
    /// `n <= len`, and ownership of the first `n` mbufs has passed to someone else.
    #[inline]
    pub(crate) unsafe fn consume_front(&mut self, n: usize) {
        debug_assert!(n <= self.len);
        let rest = self.len - n;
        if rest > 0 && n > 0 {
            let base = self.slots.as_mut_ptr();
            // SAFETY: both ranges lie inside the array (n + rest = len <= CAPACITY);
            // ptr::copy handles the overlap; the moved-from slots become spare.
            unsafe { std::ptr::copy(base.add(n), base, rest) };
        }
        self.len = rest;
    }
}

impl Drop for Burst<'_> {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Iterator returned by [`Burst::drain`].
pub struct Drain<'b, 'a> {
    burst: &'b mut Burst<'a>,
    next: usize,
    end: usize,
}

impl<'a> Iterator for Drain<'_, 'a> {
    type Item = Mbuf<'a>;

    #[inline]
    fn next(&mut self) -> Option<Mbuf<'a>> {
        if self.next == self.end {
            return None;
        }
        // SAFETY: slots next..end are initialised mbufs that only this Drain may read,
        // each once (next advances past it).
        let m = unsafe { self.burst.slots[self.next].assume_init_read() };
        self.next += 1;
        Some(m)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end - self.next;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Drain<'_, '_> {}

impl Drop for Drain<'_, '_> {
    fn drop(&mut self) {
        let n = self.end - self.next;
        if n > 0 {
            // SAFETY: slots next..end are owned mbufs not yet yielded; they are freed once
            // and, the burst's len being 0, never read again.
            unsafe {
                ffi::qfp_pktmbuf_free_bulk(
                    self.burst.slots[self.next..].as_mut_ptr().cast(),
                    n as u32,
                )
            };
        }
    }
}
