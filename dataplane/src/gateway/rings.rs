//! The bounded rings between cores: worker → worker handoffs, worker → control core punts
//! and unknown-SPI reports, control core → worker injections.
//!
//! Every ring is a crossbeam `ArrayQueue` created at start with a fixed capacity: a push or
//! pop is a few atomic operations, never a lock, never an allocation, never a wait. Each
//! ring has one producer and one consumer (the queue would take more; qfp never gives it
//! more). A push into a full ring fails at once and the packet is counted as
//! `IpsecTailDrop` by the pusher — back-pressure between cores is a counted drop, as on the
//! QFP, never a stall of the fast path.

use crate::gateway::tables::{TunnelId, WorkerId};
use crate::pipeline::InvalidSpi;
use crossbeam::queue::ArrayQueue;

/// What the receiving worker must do with a handed-off packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Decapsulate (the buffer starts at the outer IP header).
    Decap,
    /// Encapsulate for this tunnel (the buffer starts at the inner IP header, TTL already
    /// decremented).
    Encap(TunnelId),
}

/// A packet on its way to the worker that owns its SA.
#[derive(Debug)]
pub struct Handoff<P> {
    /// The packet.
    pub pkt: P,
    /// What to do with it.
    pub job: Job,
}

/// The handoff rings: one per ordered pair of workers.
#[derive(Debug)]
pub struct Mesh<P> {
    workers: usize,
    rings: Box<[ArrayQueue<Handoff<P>>]>,
}

impl<P> Mesh<P> {
    /// Rings of `capacity` packets between every two of `workers` workers.
    pub fn new(workers: usize, capacity: usize) -> Mesh<P> {
        let rings = (0..workers * workers).map(|_| ArrayQueue::new(capacity.max(1))).collect();
        Mesh { workers, rings }
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The ring from `from` to `to`.
    #[inline]
    pub fn ring(&self, from: WorkerId, to: WorkerId) -> &ArrayQueue<Handoff<P>> {
        &self.rings[usize::from(from) * self.workers + usize::from(to)]
    }

    /// Packets waiting in all rings towards `to`.
    pub fn pending_for(&self, to: WorkerId) -> usize {
        (0..self.workers as WorkerId).map(|f| self.ring(f, to).len()).sum()
    }

    /// Packets waiting anywhere.
    pub fn pending(&self) -> usize {
        self.rings.iter().map(|r| r.len()).sum()
    }

    /// Most packets a ring holds.
    pub fn capacity(&self) -> usize {
        self.rings.first().map_or(0, |r| r.capacity())
    }
}

/// Why a packet was punted to the control core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PuntKind {
    /// UDP to the peer-channel port from a configured peer.
    PeerChannel,
    /// IKE (non-ESP marker) on a NAT-T port from a configured peer.
    Ike,
}

/// A packet for the control core. The buffer starts at the outer IP header.
#[derive(Debug)]
pub struct Punt<P> {
    /// The packet.
    pub pkt: P,
    /// Why.
    pub kind: PuntKind,
    /// The worker that received it.
    pub worker: WorkerId,
}

impl<P: crate::buf::PacketBuf> Punt<P> {
    /// The punted UDP datagram (addresses, ports, payload), if it is a whole one.
    pub fn datagram(&self) -> Option<crate::gateway::datagram::Datagram<'_>> {
        crate::gateway::datagram::parse(self.pkt.data())
    }
}

/// An unknown SPI seen by a worker, for `%CRYPTO-4-RECVD_PKT_INV_SPI` and recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidSpiReport {
    /// The flow and the SPI.
    pub event: InvalidSpi,
    /// The worker that dropped it.
    pub worker: WorkerId,
    /// When (the worker's `now`, ns).
    pub at_ns: u64,
}

/// The rings between the workers and the control core.
#[derive(Debug)]
pub struct ControlRings<P> {
    punts: Box<[ArrayQueue<Punt<P>>]>,
    invalid_spi: Box<[ArrayQueue<InvalidSpiReport>]>,
    inject: ArrayQueue<P>,
}

impl<P> ControlRings<P> {
    /// Rings for `workers` workers: `punt_capacity` packets and `report_capacity` unknown-SPI
    /// reports per worker, `inject_capacity` packets from the control core.
    pub fn new(
        workers: usize,
        punt_capacity: usize,
        report_capacity: usize,
        inject_capacity: usize,
    ) -> ControlRings<P> {
        ControlRings {
            punts: (0..workers).map(|_| ArrayQueue::new(punt_capacity.max(1))).collect(),
            invalid_spi: (0..workers).map(|_| ArrayQueue::new(report_capacity.max(1))).collect(),
            inject: ArrayQueue::new(inject_capacity.max(1)),
        }
    }

    /// Worker side: punts a packet; gives it back if the ring is full.
    #[inline]
    pub(crate) fn punt(&self, p: Punt<P>) -> Result<(), Punt<P>> {
        self.punts[usize::from(p.worker)].push(p)
    }

    /// Worker side: reports an unknown SPI; false if the ring is full.
    #[inline]
    pub(crate) fn report(&self, r: InvalidSpiReport) -> bool {
        self.invalid_spi[usize::from(r.worker)].push(r).is_ok()
    }

    /// Worker side (worker 0): the next packet the control core wants sent.
    #[inline]
    pub(crate) fn next_injected(&self) -> Option<P> {
        self.inject.pop()
    }

    /// Control side: the next punted packet of any worker.
    pub fn pop_punt(&self) -> Option<Punt<P>> {
        self.punts.iter().find_map(|q| q.pop())
    }

    /// Control side: the next unknown-SPI report of any worker.
    pub fn pop_invalid_spi(&self) -> Option<InvalidSpiReport> {
        self.invalid_spi.iter().find_map(|q| q.pop())
    }

    /// Control side: queues a finished frame (Ethernet header included) for worker 0 to
    /// send on the unprotected port; gives it back if the ring is full.
    pub fn inject(&self, frame: P) -> Result<(), P> {
        self.inject.push(frame)
    }

    /// Injected frames not yet taken by the worker.
    pub fn inject_pending(&self) -> usize {
        self.inject.len()
    }
}

/// The per-worker limit on unknown-SPI reports (design.md section 8: "never more than a
/// few per second per worker"): a token bucket, plus suppression of a report for the same
/// flow as the last one within the refill period, so that one noisy flow does not hide the
/// others. Worker-local, no atomics.
#[derive(Debug, Clone)]
pub struct ReportLimit {
    per_sec: u32,
    tokens: u32,
    last_refill_ns: u64,
    last: Option<(InvalidSpi, u64)>,
}

impl ReportLimit {
    /// At most `per_sec` reports per second (burst `per_sec`); 0 disables reports.
    pub fn new(per_sec: u32) -> ReportLimit {
        ReportLimit { per_sec, tokens: per_sec, last_refill_ns: 0, last: None }
    }

    /// Whether to report `e` now.
    pub fn allow(&mut self, e: &InvalidSpi, now: u64) -> bool {
        if self.per_sec == 0 {
            return false;
        }
        let period = 1_000_000_000 / u64::from(self.per_sec);
        if now.saturating_sub(self.last_refill_ns) >= period {
            let add = (now - self.last_refill_ns) / period;
            self.tokens = (u64::from(self.tokens) + add).min(u64::from(self.per_sec)) as u32;
            self.last_refill_ns = now;
        }
        if let Some((last, at)) = &self.last
            && last == e
            && now.saturating_sub(*at) < 1_000_000_000
        {
            return false;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        self.last = Some((*e, now));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(spi: u32) -> InvalidSpi {
        InvalidSpi {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            spi,
            udp_encap: false,
        }
    }

    #[test]
    fn report_limit_is_a_few_per_second_and_skips_repeats() {
        let mut l = ReportLimit::new(4);
        let s = 1_000_000_000u64;
        assert!(l.allow(&ev(1), s));
        assert!(!l.allow(&ev(1), s + 1), "same flow within a second");
        assert!(l.allow(&ev(2), s + 2));
        assert!(l.allow(&ev(3), s + 3));
        assert!(l.allow(&ev(4), s + 4));
        assert!(!l.allow(&ev(5), s + 5), "bucket empty");
        // A quarter second refills one token.
        assert!(l.allow(&ev(5), s + s / 4 + 5));
        assert!(!l.allow(&ev(6), s + s / 4 + 6));
        // The same flow again after a second.
        assert!(l.allow(&ev(1), 3 * s));
        assert!(!ReportLimit::new(0).allow(&ev(1), s));
    }

    #[test]
    fn rings_are_bounded() {
        let m: Mesh<u32> = Mesh::new(2, 2);
        assert!(m.ring(0, 1).push(Handoff { pkt: 1, job: Job::Decap }).is_ok());
        assert!(m.ring(0, 1).push(Handoff { pkt: 2, job: Job::Encap(3) }).is_ok());
        assert!(m.ring(0, 1).push(Handoff { pkt: 3, job: Job::Decap }).is_err());
        assert_eq!((m.pending_for(1), m.pending_for(0), m.pending()), (2, 0, 2));
        let c: ControlRings<u32> = ControlRings::new(2, 1, 1, 1);
        assert!(c.punt(Punt { pkt: 1, kind: PuntKind::PeerChannel, worker: 1 }).is_ok());
        assert!(c.punt(Punt { pkt: 2, kind: PuntKind::Ike, worker: 1 }).is_err());
        assert_eq!(c.pop_punt().map(|p| p.pkt), Some(1));
        assert!(c.inject(7).is_ok() && c.inject(8).is_err());
        assert_eq!(c.next_injected(), Some(7));
    }
}
