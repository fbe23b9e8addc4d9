//! The packet buffer abstraction the pipeline is written against.
//!
//! A buffer holds one contiguous packet (`data`) with spare room before it (headroom, for
//! outer headers) and after it (tailroom, for the ESP trailer and ICV). DPDK's mbuf is the
//! production implementation (in `ctrl`, over `dpdk-sys`); [`HeapBuf`] is the one for tests
//! and benchmarks. All operations are O(1) and never copy the payload.

/// Not enough headroom or tailroom, or a shrink larger than the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoRoom;

/// A packet in a buffer with headroom and tailroom, edited in place.
pub trait PacketBuf {
    /// The packet bytes.
    fn data(&self) -> &[u8];
    /// The packet bytes, writable.
    fn data_mut(&mut self) -> &mut [u8];
    /// Bytes free before the packet.
    fn headroom(&self) -> usize;
    /// Bytes free after the packet.
    fn tailroom(&self) -> usize;
    /// Grows the packet by `n` bytes at the front (contents of the new bytes unspecified).
    fn prepend(&mut self, n: usize) -> Result<(), NoRoom>;
    /// Removes `n` bytes from the front.
    fn adj(&mut self, n: usize) -> Result<(), NoRoom>;
    /// Grows the packet by `n` bytes at the end (contents of the new bytes unspecified).
    fn append(&mut self, n: usize) -> Result<(), NoRoom>;
    /// Removes `n` bytes from the end.
    fn trim(&mut self, n: usize) -> Result<(), NoRoom>;
    /// Packet length in bytes.
    fn len(&self) -> usize {
        self.data().len()
    }
    /// True when the packet has no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// True when the NIC has already verified the checksum of the IPv4 header at the start
    /// of the packet (DPDK's `RTE_MBUF_F_RX_IP_CKSUM_GOOD`), so decap need not redo it.
    /// Only a buffer that knows says true; the default makes decap check in software.
    fn ip_checksum_verified(&self) -> bool {
        false
    }
    /// True when [`data`](Self::data) is the whole packet. A DPDK mbuf chain (a frame
    /// longer than one mbuf's data room, such as a 9000-byte jumbo) says false: `data` is
    /// then only its first segment, and the gateway drops the frame as too big rather
    /// than parse a part of it. The default (one buffer, like [`HeapBuf`]) says true.
    #[inline(always)]
    fn is_contiguous(&self) -> bool {
        true
    }
    /// Asks the CPU to start loading the packet's first bytes (a hint; the default does
    /// nothing). The gateway calls it for a whole rx burst before touching any packet.
    #[inline(always)]
    fn prefetch(&self) {}
}

/// A heap-allocated [`PacketBuf`] for tests and benchmarks (allocates once, at creation).
#[derive(Clone, Debug)]
pub struct HeapBuf {
    mem: Box<[u8]>,
    start: usize,
    end: usize,
}

impl HeapBuf {
    /// Default headroom, the same as DPDK's `RTE_PKTMBUF_HEADROOM`.
    pub const HEADROOM: usize = 128;

    /// A buffer holding `pkt`, with `headroom` bytes before it and `tailroom` after it.
    pub fn with_room(pkt: &[u8], headroom: usize, tailroom: usize) -> Self {
        let mut mem = vec![0u8; headroom + pkt.len() + tailroom].into_boxed_slice();
        mem[headroom..headroom + pkt.len()].copy_from_slice(pkt);
        HeapBuf { mem, start: headroom, end: headroom + pkt.len() }
    }

    /// A buffer holding `pkt` with mbuf-like room: 128 bytes before, enough for a
    /// 2048-byte data room after.
    pub fn new(pkt: &[u8]) -> Self {
        let tail = 2048usize.saturating_sub(pkt.len()).max(64);
        Self::with_room(pkt, Self::HEADROOM, tail)
    }

    /// Refills the buffer with `pkt`, keeping the allocation (for benchmarks: no allocation
    /// per packet). Fails if `pkt` does not fit with the original headroom.
    pub fn reset(&mut self, pkt: &[u8], headroom: usize) -> Result<(), NoRoom> {
        if headroom + pkt.len() > self.mem.len() {
            return Err(NoRoom);
        }
        self.start = headroom;
        self.end = headroom + pkt.len();
        self.mem[self.start..self.end].copy_from_slice(pkt);
        Ok(())
    }
}

impl PacketBuf for HeapBuf {
    fn data(&self) -> &[u8] {
        &self.mem[self.start..self.end]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.mem[self.start..self.end]
    }
    fn headroom(&self) -> usize {
        self.start
    }
    fn tailroom(&self) -> usize {
        self.mem.len() - self.end
    }
    fn prepend(&mut self, n: usize) -> Result<(), NoRoom> {
        self.start = self.start.checked_sub(n).ok_or(NoRoom)?;
        Ok(())
    }
    fn adj(&mut self, n: usize) -> Result<(), NoRoom> {
        if n > self.end - self.start {
            return Err(NoRoom);
        }
        self.start += n;
        Ok(())
    }
    fn append(&mut self, n: usize) -> Result<(), NoRoom> {
        if n > self.tailroom() {
            return Err(NoRoom);
        }
        self.end += n;
        Ok(())
    }
    fn trim(&mut self, n: usize) -> Result<(), NoRoom> {
        if n > self.end - self.start {
            return Err(NoRoom);
        }
        self.end -= n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grow_and_shrink_both_ends() {
        let mut b = HeapBuf::with_room(&[1, 2, 3], 4, 2);
        assert_eq!((b.headroom(), b.tailroom()), (4, 2));
        b.prepend(4).unwrap();
        assert_eq!(b.prepend(1), Err(NoRoom));
        b.data_mut()[..4].copy_from_slice(&[9, 9, 9, 9]);
        b.append(2).unwrap();
        assert_eq!(b.append(1), Err(NoRoom));
        assert_eq!(b.len(), 9);
        assert_eq!(&b.data()[..7], &[9, 9, 9, 9, 1, 2, 3]);
        b.adj(4).unwrap();
        b.trim(2).unwrap();
        assert_eq!(b.data(), &[1, 2, 3]);
        assert_eq!(b.trim(4), Err(NoRoom));
        assert_eq!(b.adj(4), Err(NoRoom));
    }

    #[test]
    fn reset_keeps_allocation() {
        let mut b = HeapBuf::with_room(&[0; 10], 8, 8);
        b.reset(&[7; 12], 4).unwrap();
        assert_eq!(b.data(), &[7; 12]);
        assert_eq!(b.headroom(), 4);
        assert_eq!(b.reset(&[0; 30], 4), Err(NoRoom));
    }
}
