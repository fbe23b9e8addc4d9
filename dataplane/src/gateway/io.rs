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

    /// Whether this worker has an rx queue on `port` (a device may have fewer queues than
    /// there are workers: such a worker still decrypts and encrypts what is handed to it).
    fn has_rx(&self, port: PortRole) -> bool;
}
