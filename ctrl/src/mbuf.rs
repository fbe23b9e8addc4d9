//! DPDK mbufs as the pipeline's packet buffer: `dataplane::buf::PacketBuf` for a newtype
//! around `dpdk_sys::Mbuf` (the orphan rule forbids implementing the trait on the foreign
//! type directly). Every method forwards to the mbuf's own, zero-copy.

use dataplane::buf::{NoRoom, PacketBuf};
use dpdk_sys::Mbuf;

/// An owned mbuf, as a [`PacketBuf`].
#[derive(Debug)]
#[repr(transparent)]
pub struct MbufPacket<'a>(pub Mbuf<'a>);

impl<'a> From<Mbuf<'a>> for MbufPacket<'a> {
    fn from(m: Mbuf<'a>) -> Self {
        MbufPacket(m)
    }
}

impl<'a> MbufPacket<'a> {
    /// The mbuf back (to transmit it).
    pub fn into_inner(self) -> Mbuf<'a> {
        self.0
    }
}

impl PacketBuf for MbufPacket<'_> {
    #[inline]
    fn data(&self) -> &[u8] {
        self.0.data()
    }
    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        self.0.data_mut()
    }
    #[inline]
    fn headroom(&self) -> usize {
        self.0.headroom()
    }
    #[inline]
    fn tailroom(&self) -> usize {
        self.0.tailroom()
    }
    #[inline]
    fn prepend(&mut self, n: usize) -> Result<(), NoRoom> {
        self.0.prepend(n).map_err(|_| NoRoom)
    }
    #[inline]
    fn adj(&mut self, n: usize) -> Result<(), NoRoom> {
        self.0.adj(n).map_err(|_| NoRoom)
    }
    #[inline]
    fn append(&mut self, n: usize) -> Result<(), NoRoom> {
        self.0.append(n).map_err(|_| NoRoom)
    }
    #[inline]
    fn trim(&mut self, n: usize) -> Result<(), NoRoom> {
        self.0.trim(n).map_err(|_| NoRoom)
    }
    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }
    #[inline]
    fn prefetch(&self) {
        self.0.prefetch()
    }
    #[inline]
    fn ip_checksum_verified(&self) -> bool {
        self.0.ip_checksum_good()
    }
    #[inline]
    fn is_contiguous(&self) -> bool {
        self.0.is_contiguous()
    }
}
