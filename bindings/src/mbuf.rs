//! One owned packet buffer (`rte_mbuf`): freed on drop, its bytes viewed in place.
//!
//! An `Mbuf` is the sole owner of a direct, single-reference mbuf — what `rte_pktmbuf_alloc`
//! and a PMD's rx return. qfp never clones or chains mbufs, so [`Mbuf::data`] (the first
//! segment) is the whole packet whenever [`Mbuf::is_contiguous`] holds; the pipeline drops
//! the others. The lifetime ties it to the EAL that owns its pool (see `mempool`).

use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::ffi;
use crate::mempool::Mempool;

/// Not enough headroom or tailroom, or a shrink longer than the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoRoom;

impl std::fmt::Display for NoRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not enough room in the mbuf")
    }
}

impl std::error::Error for NoRoom {}

/// An owned packet mbuf. `#[repr(transparent)]` over the raw pointer, so a slice of
/// `Mbuf` is an array of `struct rte_mbuf *` as DPDK's burst functions take it.
#[repr(transparent)]
#[derive(Debug)]
pub struct Mbuf<'a> {
    raw: NonNull<ffi::rte_mbuf>,
    _eal: PhantomData<&'a ()>,
}

// SAFETY: an Mbuf is the only handle to its buffer; moving it to another thread moves the
// ownership, and freeing it from any thread is allowed (pools are thread-safe).
unsafe impl Send for Mbuf<'_> {}
// SAFETY: &Mbuf only reads the buffer; there is no interior mutability.
unsafe impl Sync for Mbuf<'_> {}

impl<'a> Mbuf<'a> {
    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    ///
    /// `raw` must be a valid direct packet mbuf with reference count 1 that nothing else
    /// will use or free, from a pool that stays alive for `'a`.
    #[inline]
    pub unsafe fn from_raw(raw: NonNull<ffi::rte_mbuf>) -> Self {
        Mbuf {
            raw,
            _eal: PhantomData,
        }
    }

    /// Gives up ownership without freeing; the caller must free or transmit the pointer.
    #[inline]
    pub fn into_raw(self) -> NonNull<ffi::rte_mbuf> {
        let raw = self.raw;
        std::mem::forget(self);
        raw
    }

    /// The raw mbuf (still owned by `self`).
    #[inline]
    pub fn as_ptr(&self) -> *mut ffi::rte_mbuf {
        self.raw.as_ptr()
    }

    /// A new mbuf from `pool` holding a copy of `bytes`; `None` if the pool is empty or
    /// `bytes` does not fit in one mbuf.
    pub fn from_slice(pool: &Mempool<'a>, bytes: &[u8]) -> Option<Self> {
        let mut m = pool.alloc()?;
        m.append(bytes.len()).ok()?;
        m.data_mut().copy_from_slice(bytes);
        Some(m)
    }

    /// The packet bytes of the first segment (the whole packet when contiguous).
    #[inline]
    pub fn data(&self) -> &[u8] {
        // SAFETY: mtod + data_len describe initialised bytes inside the mbuf's buffer, which
        // we own exclusively for as long as the borrow of self.
        unsafe {
            let p = ffi::qfp_pktmbuf_mtod(self.raw.as_ptr()).cast::<u8>();
            std::slice::from_raw_parts(p, usize::from(ffi::qfp_pktmbuf_data_len(self.raw.as_ptr())))
        }
    }

    /// The packet bytes of the first segment, writable in place.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in data(); &mut self guarantees no other view exists.
        unsafe {
            let p = ffi::qfp_pktmbuf_mtod(self.raw.as_ptr()).cast::<u8>();
            std::slice::from_raw_parts_mut(
                p,
                usize::from(ffi::qfp_pktmbuf_data_len(self.raw.as_ptr())),
            )
        }
    }

    /// Bytes in the first segment (`data_len`).
    #[inline]
    pub fn len(&self) -> usize {
        // SAFETY: reads a field of a valid mbuf we own.
        usize::from(unsafe { ffi::qfp_pktmbuf_data_len(self.raw.as_ptr()) })
    }

    /// True when the first segment holds no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes in the whole packet, all segments (`pkt_len`).
    #[inline]
    pub fn pkt_len(&self) -> usize {
        // SAFETY: reads a field of a valid mbuf we own.
        unsafe { ffi::qfp_pktmbuf_pkt_len(self.raw.as_ptr()) as usize }
    }

    /// Number of segments.
    #[inline]
    pub fn segments(&self) -> u16 {
        // SAFETY: reads a field of a valid mbuf we own.
        unsafe { ffi::qfp_pktmbuf_nb_segs(self.raw.as_ptr()) }
    }

    /// True when the packet is one segment, so [`Mbuf::data`] is all of it.
    #[inline]
    pub fn is_contiguous(&self) -> bool {
        self.segments() == 1
    }

    /// Bytes free before the data.
    #[inline]
    pub fn headroom(&self) -> usize {
        // SAFETY: reads fields of a valid mbuf we own.
        usize::from(unsafe { ffi::qfp_pktmbuf_headroom(self.raw.as_ptr()) })
    }

    /// Bytes free after the data (in the last segment).
    #[inline]
    pub fn tailroom(&self) -> usize {
        // SAFETY: reads fields of a valid mbuf we own.
        usize::from(unsafe { ffi::qfp_pktmbuf_tailroom(self.raw.as_ptr()) })
    }

    /// Grows the packet by `n` bytes at the front (new bytes keep whatever the buffer held).
    #[inline]
    pub fn prepend(&mut self, n: usize) -> Result<(), NoRoom> {
        let n = u16::try_from(n).map_err(|_| NoRoom)?;
        // SAFETY: valid mbuf we own exclusively; DPDK checks the headroom and returns NULL
        // without changing anything when it is short.
        let p = unsafe { ffi::qfp_pktmbuf_prepend(self.raw.as_ptr(), n) };
        if p.is_null() { Err(NoRoom) } else { Ok(()) }
    }

    /// Removes `n` bytes from the front.
    #[inline]
    pub fn adj(&mut self, n: usize) -> Result<(), NoRoom> {
        let n = u16::try_from(n).map_err(|_| NoRoom)?;
        // SAFETY: valid mbuf we own exclusively; DPDK refuses (NULL) when n > data_len.
        let p = unsafe { ffi::qfp_pktmbuf_adj(self.raw.as_ptr(), n) };
        if p.is_null() { Err(NoRoom) } else { Ok(()) }
    }

    /// Grows the packet by `n` bytes at the end (new bytes keep whatever the buffer held).
    #[inline]
    pub fn append(&mut self, n: usize) -> Result<(), NoRoom> {
        let n = u16::try_from(n).map_err(|_| NoRoom)?;
        // SAFETY: valid mbuf we own exclusively; DPDK checks the tailroom and returns NULL
        // without changing anything when it is short.
        let p = unsafe { ffi::qfp_pktmbuf_append(self.raw.as_ptr(), n) };
        if p.is_null() { Err(NoRoom) } else { Ok(()) }
    }

    /// Removes `n` bytes from the end.
    #[inline]
    pub fn trim(&mut self, n: usize) -> Result<(), NoRoom> {
        let n = u16::try_from(n).map_err(|_| NoRoom)?;
        // SAFETY: valid mbuf we own exclusively; DPDK refuses (-1) when n > data_len of
        // the last segment.
        let r = unsafe { ffi::qfp_pktmbuf_trim(self.raw.as_ptr(), n) };
        if r != 0 { Err(NoRoom) } else { Ok(()) }
    }

    /// The port the packet was received on, as the PMD set it (net_ring passes mbufs
    /// through untouched: there it is whatever the sender left, 0xffff for a fresh mbuf).
    #[inline]
    pub fn port(&self) -> u16 {
        // SAFETY: reads a field of a valid mbuf we own.
        unsafe { ffi::qfp_pktmbuf_port(self.raw.as_ptr()) }
    }

    /// The RSS hash the NIC computed, if it delivered one.
    #[inline]
    pub fn rss_hash(&self) -> Option<u32> {
        let mut h = 0u32;
        // SAFETY: reads fields of a valid mbuf we own; writes only to the local h.
        let present = unsafe { ffi::qfp_pktmbuf_rss_hash(self.raw.as_ptr(), &mut h) };
        (present != 0).then_some(h)
    }

    /// Asks the CPU to start loading the packet's first cache line.
    #[inline]
    pub fn prefetch(&self) {
        // SAFETY: a prefetch hint never faults; the address is inside our mbuf's buffer.
        unsafe { ffi::qfp_prefetch0(ffi::qfp_pktmbuf_mtod(self.raw.as_ptr())) }
    }
}

impl Drop for Mbuf<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: we own the mbuf exclusively and its pool is alive for 'a.
        unsafe { ffi::qfp_pktmbuf_free(self.raw.as_ptr()) }
    }
}
