//! Packet-buffer pools (`rte_pktmbuf_pool_create`).
//!
//! A pool lives until the EAL is cleaned up: DPDK frees pool memory in `rte_eal_cleanup`,
//! and freeing it earlier would be sound only if no mbuf from it could still exist, in a
//! port's rings included. Tying every mbuf to the `Eal` borrow instead keeps the types
//! simple and the guarantee total; qfp creates its pools once per run.

use std::ffi::CString;
use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::burst::Burst;
use crate::eal::Eal;
use crate::error::{Error, Result};
use crate::ffi;
use crate::mbuf::Mbuf;

/// Any NUMA socket (`SOCKET_ID_ANY`).
pub const SOCKET_ANY: i32 = -1;

/// Default data room of a packet mbuf: 2048 bytes of packet plus the 128-byte headroom.
pub const DEFAULT_DATA_ROOM: u16 = ffi::RTE_MBUF_DEFAULT_BUF_SIZE as u16;

/// A pool of packet mbufs.
#[derive(Debug)]
pub struct Mempool<'eal> {
    raw: NonNull<ffi::rte_mempool>,
    _eal: PhantomData<&'eal Eal>,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer (the default ring ops) and may be
// used from any thread, EAL lcore or not; the handle is only a pointer to shared state.
unsafe impl Send for Mempool<'_> {}
// SAFETY: as above: every operation on a pool is thread-safe.
unsafe impl Sync for Mempool<'_> {}

impl<'eal> Mempool<'eal> {
    /// Creates a pool of `n` packet mbufs named `name` (unique in the process), with a
    /// per-lcore cache of `cache_size` mbufs, `data_room` bytes of buffer per mbuf
    /// (headroom included; see [`DEFAULT_DATA_ROOM`]), on NUMA `socket` ([`SOCKET_ANY`]).
    ///
    /// A pool size of `2^k - 1` is the most memory-efficient (DPDK's ring needs `2^k`).
    pub fn pktmbuf(
        _eal: &'eal Eal,
        name: &str,
        n: u32,
        cache_size: u32,
        data_room: u16,
        socket: i32,
    ) -> Result<Self> {
        let cname = CString::new(name)
            .map_err(|_| Error::InvalidArgument(format!("mempool name {name:?} contains NUL")))?;
        if cache_size > ffi::RTE_MEMPOOL_CACHE_MAX_SIZE
            || u64::from(cache_size) * 3 > u64::from(n) * 2
        {
            return Err(Error::InvalidArgument(format!(
                "mempool {name}: cache of {cache_size} mbufs is too large for {n} mbufs \
                 (at most {} and n/1.5)",
                ffi::RTE_MEMPOOL_CACHE_MAX_SIZE
            )));
        }
        // SAFETY: the EAL is initialised (we hold a borrow of it); cname is a valid C string
        // that DPDK copies; the remaining arguments are plain values it validates.
        let raw = unsafe {
            ffi::rte_pktmbuf_pool_create(cname.as_ptr(), n, cache_size, 0, data_room, socket)
        };
        NonNull::new(raw).map(|raw| Mempool { raw, _eal: PhantomData }).ok_or_else(|| {
            Error::from_rte_errno(format!("rte_pktmbuf_pool_create({name}, {n} mbufs)"))
        })
    }

    /// Takes one mbuf (empty, default headroom), or `None` if the pool is exhausted.
    #[inline]
    pub fn alloc(&self) -> Option<Mbuf<'eal>> {
        // SAFETY: self.raw is a live packet-mbuf pool; the shim returns NULL or a freshly
        // reset mbuf that nobody else references.
        let m = unsafe { ffi::qfp_pktmbuf_alloc(self.raw.as_ptr()) };
        // SAFETY: a non-NULL result is an mbuf we now own exclusively, from a pool that
        // lives as long as the EAL borrow 'eal.
        NonNull::new(m).map(|m| unsafe { Mbuf::from_raw(m) })
    }

    /// Fills `burst` with `n` fresh mbufs, all or nothing. Returns false (and leaves the
    /// burst unchanged) if the pool has fewer than `n` or the burst has no room for them.
    pub fn alloc_bulk(&self, burst: &mut Burst<'eal>, n: usize) -> bool {
        if n > burst.room() {
            return false;
        }
        let spare = burst.spare_ptr();
        // SAFETY: spare points to at least `room() >= n` writable mbuf-pointer slots;
        // the shim writes n valid mbuf pointers there on success (returns 0), none on error.
        let ret = unsafe { ffi::qfp_pktmbuf_alloc_bulk(self.raw.as_ptr(), spare, n as u32) };
        if ret != 0 {
            return false;
        }
        // SAFETY: the n slots after len now hold mbufs we own exclusively.
        unsafe { burst.assume_filled(n) };
        true
    }

    /// Mbufs currently in the pool (not in use).
    pub fn available(&self) -> u32 {
        // SAFETY: self.raw is a live pool; a read-only count.
        unsafe { ffi::rte_mempool_avail_count(self.raw.as_ptr()) }
    }

    /// Mbufs currently taken from the pool (in rings, in flight or held by the program).
    pub fn in_use(&self) -> u32 {
        // SAFETY: self.raw is a live pool; a read-only count.
        unsafe { ffi::rte_mempool_in_use_count(self.raw.as_ptr()) }
    }

    /// The raw pool, for DPDK calls this crate does not wrap.
    pub fn as_ptr(&self) -> *mut ffi::rte_mempool {
        self.raw.as_ptr()
    }
}
