//! In-memory ports for tests and benchmarks: [`HeapPort`] holds per-queue rx and tx queues
//! of [`HeapBuf`] frames that a test fills and drains from its own thread, and [`HeapIo`]
//! is one worker's [`PortIo`] over queue `i` of both ports. Lock-free (crossbeam
//! `SegQueue`) so that a test can feed workers that run in their own threads.

use crate::buf::HeapBuf;
use crate::gateway::io::{Batch, PortIo};
use crate::gateway::tables::PortRole;
use crossbeam::queue::SegQueue;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// An in-memory port with `queues` rx and tx queues.
#[derive(Debug)]
pub struct HeapPort {
    rx: Box<[SegQueue<HeapBuf>]>,
    tx: Box<[SegQueue<HeapBuf>]>,
    /// At most this many packets are taken per tx call (`usize::MAX`: all), to provoke
    /// `TxFull`.
    tx_limit: AtomicUsize,
    /// Places left in the tx queues (`usize::MAX`: unbounded), shared by every tx call
    /// until the test frees more: a NIC ring that the wire drains at the test's pace.
    tx_room: AtomicUsize,
}

impl HeapPort {
    /// A port with `queues` queues each way.
    pub fn new(queues: usize) -> Arc<HeapPort> {
        HeapPort::with_queues(queues, queues)
    }

    /// A port with `rx` receive and `tx` transmit queues (a worker without an rx queue
    /// still transmits what is handed to it).
    pub fn with_queues(rx: usize, tx: usize) -> Arc<HeapPort> {
        Arc::new(HeapPort {
            rx: (0..rx).map(|_| SegQueue::new()).collect(),
            tx: (0..tx).map(|_| SegQueue::new()).collect(),
            tx_limit: AtomicUsize::new(usize::MAX),
            tx_room: AtomicUsize::new(usize::MAX),
        })
    }

    /// Queues `frame` for reception on rx queue `q` (with mbuf-like head- and tailroom).
    pub fn inject(&self, q: usize, frame: &[u8]) {
        self.rx[q].push(HeapBuf::new(frame));
    }

    /// Frames waiting on rx queue `q`.
    pub fn rx_pending(&self, q: usize) -> usize {
        self.rx[q].len()
    }

    /// Every frame sent on tx queue `q` so far, taken out.
    pub fn take_sent(&self, q: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(b) = self.tx[q].pop() {
            out.push(crate::buf::PacketBuf::data(&b).to_vec());
        }
        out
    }

    /// Every frame sent on any tx queue so far, queue by queue.
    pub fn take_all_sent(&self) -> Vec<Vec<u8>> {
        (0..self.tx.len()).flat_map(|q| self.take_sent(q)).collect()
    }

    /// Limits how many packets one tx call takes.
    pub fn set_tx_limit(&self, n: usize) {
        self.tx_limit.store(n, Ordering::Relaxed);
    }

    /// Makes the tx queues hold `n` more packets in all, whatever the number of tx calls,
    /// until the next call (`usize::MAX`: unbounded again): a full NIC ring that the wire
    /// frees `n` places of.
    pub fn set_tx_room(&self, n: usize) {
        self.tx_room.store(n, Ordering::Relaxed);
    }

    /// How many of `want` packets one tx call takes (the per-call limit and the room left),
    /// taking that room.
    fn take_room(&self, want: usize) -> usize {
        let room = self.tx_room.load(Ordering::Relaxed);
        let n = want.min(self.tx_limit.load(Ordering::Relaxed)).min(room);
        if room != usize::MAX {
            self.tx_room.store(room - n, Ordering::Relaxed);
        }
        n
    }

    /// Number of rx queues.
    pub fn rx_queues(&self) -> usize {
        self.rx.len()
    }
}

/// One worker's queues on the two in-memory ports.
#[derive(Debug, Clone)]
pub struct HeapIo {
    ports: [Arc<HeapPort>; 2],
    queue: usize,
}

impl HeapIo {
    /// Queue `queue` of `protected` and `unprotected`.
    pub fn new(protected: Arc<HeapPort>, unprotected: Arc<HeapPort>, queue: usize) -> HeapIo {
        HeapIo { ports: [protected, unprotected], queue }
    }
}

impl PortIo for HeapIo {
    type Pkt = HeapBuf;

    fn rx(&mut self, port: PortRole, out: &mut Batch<HeapBuf>, max: usize) -> usize {
        let Some(q) = self.ports[port.index()].rx.get(self.queue) else { return 0 };
        let mut n = 0;
        while n < max && !out.is_full() {
            let Some(b) = q.pop() else { break };
            if out.push(b).is_err() {
                unreachable!("room checked above");
            }
            n += 1;
        }
        n
    }

    fn tx(&mut self, port: PortRole, pkts: &mut Batch<HeapBuf>) -> usize {
        let p = &self.ports[port.index()];
        let take = p.take_room(pkts.len());
        for b in pkts.drain_front(take) {
            p.tx[self.queue].push(b);
        }
        pkts.clear();
        take
    }

    fn tx_keep(&mut self, port: PortRole, pkts: &mut Batch<HeapBuf>) -> usize {
        let p = &self.ports[port.index()];
        let take = p.take_room(pkts.len());
        for b in pkts.drain_front(take) {
            p.tx[self.queue].push(b);
        }
        take
    }

    fn has_rx(&self, port: PortRole) -> bool {
        self.queue < self.ports[port.index()].rx.len()
    }
}
