//! The worker's view of the ports: a small trait, implemented over DPDK queues in `ctrl`
//! and over in-memory queues ([`super::heap_io`]) for tests and benchmarks. The worker loop
//! is generic over it and monomorphises: no `dyn`, no indirect call per burst.

use crate::buf::PacketBuf;
use crate::gateway::tables::PortRole;

/// A fixed-capacity vector of packets, allocated once: the worker's rx and tx bursts.
#[derive(Debug)]
pub struct Batch<P> {
    v: Vec<P>,
    cap: usize,
}

impl<P> Batch<P> {
    /// An empty batch that holds up to `cap` packets.
    pub fn with_capacity(cap: usize) -> Batch<P> {
        Batch { v: Vec::with_capacity(cap), cap }
    }

    /// Appends `p`, or gives it back when the batch is full (it never reallocates).
    #[inline]
    pub fn push(&mut self, p: P) -> Result<(), P> {
        if self.v.len() == self.cap {
            return Err(p);
        }
        self.v.push(p);
        Ok(())
    }

    /// Packets held.
    #[inline]
    pub fn len(&self) -> usize {
        self.v.len()
    }

    /// True when empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.v.is_empty()
    }

    /// True when full.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.v.len() == self.cap
    }

    /// Free places.
    #[inline]
    pub fn room(&self) -> usize {
        self.cap - self.v.len()
    }

    /// The capacity.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// The packets.
    #[inline]
    pub fn as_slice(&self) -> &[P] {
        &self.v
    }

    /// The packets, writable.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [P] {
        &mut self.v
    }

    /// Moves every packet out, in order.
    #[inline]
    pub fn drain(&mut self) -> std::vec::Drain<'_, P> {
        self.v.drain(..)
    }

    /// Moves the first `n` packets (at most all) out, in order; the rest stay.
    #[inline]
    pub fn drain_front(&mut self, n: usize) -> std::vec::Drain<'_, P> {
        let n = n.min(self.v.len());
        self.v.drain(..n)
    }

    /// Puts `pkts` back in front of the packets held, in their order (a device's leftovers
    /// returned ahead of what it was never offered). Gives back the first that does not fit.
    /// Appends and rotates in place: no allocation.
    pub fn push_front(&mut self, pkts: impl Iterator<Item = P>) -> Result<(), P> {
        let before = self.v.len();
        let mut res = Ok(());
        for p in pkts {
            if let Err(p) = self.push(p) {
                res = Err(p);
                break;
            }
        }
        let added = self.v.len() - before;
        self.v.rotate_right(added);
        res
    }

    /// Drops every packet; returns how many there were.
    #[inline]
    pub fn clear(&mut self) -> usize {
        let n = self.v.len();
        self.v.clear();
        n
    }
}

/// Receive and transmit bursts on the gateway's two ports, for one worker (its own queues).
pub trait PortIo {
    /// The packet buffer (an mbuf, or a heap buffer in tests).
    type Pkt: PacketBuf + Send;

    /// Appends up to `max` received packets of `port` to `out` (never more than its room);
    /// returns how many.
    fn rx(&mut self, port: PortRole, out: &mut Batch<Self::Pkt>, max: usize) -> usize;

    /// Sends every packet of `pkts`, in order, on `port`, leaving `pkts` empty; returns how
    /// many the device took. The others are freed: the caller counts them as `TxFull`.
    fn tx(&mut self, port: PortRole, pkts: &mut Batch<Self::Pkt>) -> usize;

    /// Sends packets from the front of `pkts`, in order, on `port`; returns how many the
    /// device took. Unlike [`tx`](Self::tx) it frees nothing: the packets the device did not
    /// take stay in `pkts`, in order, for the caller to retry (worker 0 keeps the control
    /// core's frames this way). The default, for devices that cannot keep them, is `tx`:
    /// the caller counts `before - sent - pkts.len()` as freed.
    fn tx_keep(&mut self, port: PortRole, pkts: &mut Batch<Self::Pkt>) -> usize {
        self.tx(port, pkts)
    }

    /// Whether this worker has an rx queue on `port` (a device may have fewer queues than
    /// there are workers: such a worker still decrypts and encrypts what is handed to it).
    fn has_rx(&self, port: PortRole) -> bool;
}

#[cfg(test)]
mod tests {
    use super::Batch;

    #[test]
    fn refused_packets_go_back_in_front_in_order() {
        let mut b = Batch::with_capacity(5);
        for i in 0..5 {
            assert!(b.push(i).is_ok());
        }
        let offered: Vec<i32> = b.drain_front(3).collect();
        assert_eq!((offered.as_slice(), b.as_slice()), (&[0, 1, 2][..], &[3, 4][..]));
        // The device took 0; 1 and 2 come back ahead of 3 and 4.
        assert!(b.push_front(offered.into_iter().skip(1)).is_ok());
        assert_eq!(b.as_slice(), &[1, 2, 3, 4]);
        assert_eq!(b.push_front([7, 8].into_iter()), Err(8), "one place left");
        assert_eq!(b.as_slice(), &[7, 1, 2, 3, 4]);
        assert_eq!(b.drain_front(9).count(), 5);
    }
}
