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

/// Reads a header field with one load of exactly its width.
///
/// LLVM is free to widen a 16-bit load to 32 bits (`data_len` together with `vlan_tci`),
/// and did in `prepend`. The CPU cannot forward a load from a narrower store: when the
/// field was just written (by the previous `adj`/`trim`/`prepend`, or by the PMD field by
/// field) the widened load waits until that store retires. That wait was 3% of the
/// gateway's decap time at 64 bytes. A volatile read is never widened.
#[inline(always)]
fn rd<T: Copy>(field: &T) -> T {
    // SAFETY: `field` is a reference, so it is valid, aligned and initialised for a read.
    unsafe { std::ptr::read_volatile(field) }
}

impl<'a> Mbuf<'a> {
    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    ///
    /// `raw` must be a valid direct packet mbuf with reference count 1 that nothing else
    /// will use or free, from a pool that stays alive for `'a`.
    #[inline]
    pub unsafe fn from_raw(raw: NonNull<ffi::rte_mbuf>) -> Self {
        Mbuf { raw, _eal: PhantomData }
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

    /// The mbuf header, for the field accessors below.
    #[inline(always)]
    fn hdr(&self) -> &ffi::rte_mbuf {
        // SAFETY: raw is a valid mbuf we own; the header is plain data that nobody else
        // writes while we own the mbuf.
        unsafe { self.raw.as_ref() }
    }

    #[inline(always)]
    fn hdr_mut(&mut self) -> &mut ffi::rte_mbuf {
        // SAFETY: as in hdr(); &mut self makes the access exclusive.
        unsafe { self.raw.as_mut() }
    }

    /// The packet bytes of the first segment (the whole packet when contiguous).
    ///
    /// The hot accessors read and write the mbuf header's fields directly, as DPDK's
    /// static-inline functions do (`rte_pktmbuf_mtod`, `_prepend`, `_adj`, ...): through
    /// the C shim each would be a call that LTO cannot inline, about a tenth of the
    /// gateway's per-packet time at 64 bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        let h = self.hdr();
        // SAFETY: buf_addr + data_off .. + data_len lies inside the mbuf's buffer (DPDK's
        // invariant, kept by every method here) and is initialised; we own the mbuf.
        unsafe {
            let p = h.buf_addr.cast::<u8>().add(usize::from(rd(&h.data_off)));
            std::slice::from_raw_parts(p, usize::from(rd(&h.data_len)))
        }
    }

    /// The packet bytes of the first segment, writable in place.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let h = self.hdr();
        // SAFETY: as in data(); &mut self guarantees no other view exists.
        unsafe {
            let p = h.buf_addr.cast::<u8>().add(usize::from(rd(&h.data_off)));
            std::slice::from_raw_parts_mut(p, usize::from(rd(&h.data_len)))
        }
    }

    /// Bytes in the first segment (`data_len`).
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(rd(&self.hdr().data_len))
    }

    /// True when the first segment holds no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes in the whole packet, all segments (`pkt_len`).
    #[inline]
    pub fn pkt_len(&self) -> usize {
        rd(&self.hdr().pkt_len) as usize
    }

    /// Number of segments.
    #[inline]
    pub fn segments(&self) -> u16 {
        self.hdr().nb_segs
    }

    /// True when the packet is one segment, so [`Mbuf::data`] is all of it.
    #[inline]
    pub fn is_contiguous(&self) -> bool {
        self.segments() == 1
    }

    /// Bytes free before the data.
    #[inline]
    pub fn headroom(&self) -> usize {
        usize::from(rd(&self.hdr().data_off))
    }

    /// Bytes free after the data (in the last segment).
    #[inline]
    pub fn tailroom(&self) -> usize {
        if !self.is_contiguous() {
            // SAFETY: reads fields of a valid mbuf chain we own.
            return usize::from(unsafe { ffi::qfp_pktmbuf_tailroom(self.raw.as_ptr()) });
        }
        let h = self.hdr();
        usize::from(rd(&h.buf_len)) - usize::from(rd(&h.data_off)) - usize::from(rd(&h.data_len))
    }

    /// Grows the packet by `n` bytes at the front (new bytes keep whatever the buffer held).
    #[inline]
    pub fn prepend(&mut self, n: usize) -> Result<(), NoRoom> {
        let n = u16::try_from(n).map_err(|_| NoRoom)?;
        let h = self.hdr_mut();
        let (off, len, pkt) = (rd(&h.data_off), rd(&h.data_len), rd(&h.pkt_len));
        if n > off {
            return Err(NoRoom);
        }
        h.data_off = off - n;
        h.data_len = len + n;
        h.pkt_len = pkt + u32::from(n);
        Ok(())
    }

    /// Removes `n` bytes from the front.
    #[inline]
    pub fn adj(&mut self, n: usize) -> Result<(), NoRoom> {
        let n = u16::try_from(n).map_err(|_| NoRoom)?;
        let h = self.hdr_mut();
        let (off, len, pkt) = (rd(&h.data_off), rd(&h.data_len), rd(&h.pkt_len));
        if n > len {
            return Err(NoRoom);
        }
        h.data_off = off + n;
        h.data_len = len - n;
        h.pkt_len = pkt - u32::from(n);
        Ok(())
    }

    /// Grows the packet by `n` bytes at the end (new bytes keep whatever the buffer held).
    #[inline]
    pub fn append(&mut self, n: usize) -> Result<(), NoRoom> {
        let n = u16::try_from(n).map_err(|_| NoRoom)?;
        if !self.is_contiguous() {
            // SAFETY: valid mbuf chain we own exclusively; DPDK checks the tailroom of the
            // last segment and returns NULL without changing anything when it is short.
            let p = unsafe { ffi::qfp_pktmbuf_append(self.raw.as_ptr(), n) };
            return if p.is_null() { Err(NoRoom) } else { Ok(()) };
        }
        if usize::from(n) > self.tailroom() {
            return Err(NoRoom);
        }
        let h = self.hdr_mut();
        h.data_len = rd(&h.data_len) + n;
        h.pkt_len = rd(&h.pkt_len) + u32::from(n);
        Ok(())
    }

    /// Removes `n` bytes from the end.
    #[inline]
    pub fn trim(&mut self, n: usize) -> Result<(), NoRoom> {
        let n = u16::try_from(n).map_err(|_| NoRoom)?;
        if !self.is_contiguous() {
            // SAFETY: valid mbuf chain we own exclusively; DPDK refuses (-1) when n >
            // data_len of the last segment.
            let r = unsafe { ffi::qfp_pktmbuf_trim(self.raw.as_ptr(), n) };
            return if r != 0 { Err(NoRoom) } else { Ok(()) };
        }
        let h = self.hdr_mut();
        let (len, pkt) = (rd(&h.data_len), rd(&h.pkt_len));
        if n > len {
            return Err(NoRoom);
        }
        h.data_len = len - n;
        h.pkt_len = pkt - u32::from(n);
        Ok(())
    }

    /// True when the NIC verified the IPv4 header checksum of the packet as received
    /// (`RTE_MBUF_F_RX_IP_CKSUM_GOOD`; only with the rx IPv4 checksum offload on).
    #[inline]
    pub fn ip_checksum_good(&self) -> bool {
        self.hdr().ol_flags & u64::from(ffi::RTE_MBUF_F_RX_IP_CKSUM_MASK)
            == u64::from(ffi::RTE_MBUF_F_RX_IP_CKSUM_GOOD)
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
        let p = self.data().as_ptr();
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint that never faults, whatever the address; this one
        // is inside our mbuf's buffer anyway. (Inline, unlike the shim's rte_prefetch0.)
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
        }
        #[cfg(not(target_arch = "x86_64"))]
        // SAFETY: as above.
        unsafe {
            ffi::qfp_prefetch0(p.cast())
        }
    }
}

impl Drop for Mbuf<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: we own the mbuf exclusively and its pool is alive for 'a.
        unsafe { ffi::qfp_pktmbuf_free(self.raw.as_ptr()) }
    }
}
