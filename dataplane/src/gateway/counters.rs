//! One worker's counters: packets received and sent per port, and the drop and event
//! table of [`crate::drops`]. Written by the worker alone with relaxed load + store (no
//! read-modify-write), read by the control core at any time.

use crate::drops::{Counters, Snapshot};
use crate::gateway::tables::PortRole;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use crossbeam::utils::CachePadded;

/// A worker's counters.
#[derive(Debug, Default)]
pub struct WorkerStats {
    io: CachePadded<[AtomicU64; 4]>,
    /// Drops by reason and events.
    pub counters: Counters,
}

/// Values of [`WorkerStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerSnapshot {
    /// Packets received, by port ([`PortRole`] index).
    pub rx: [u64; 2],
    /// Packets the tx queues took, by port.
    pub tx: [u64; 2],
    /// Drops and events.
    pub counters: Snapshot,
}

impl WorkerSnapshot {
    /// Packets received on both ports.
    pub fn rx_total(&self) -> u64 {
        self.rx[0] + self.rx[1]
    }

    /// Packets sent on both ports.
    pub fn tx_total(&self) -> u64 {
        self.tx[0] + self.tx[1]
    }
}

impl core::ops::AddAssign<&WorkerSnapshot> for WorkerSnapshot {
    fn add_assign(&mut self, o: &WorkerSnapshot) {
        for i in 0..2 {
            self.rx[i] += o.rx[i];
            self.tx[i] += o.tx[i];
        }
        self.counters += &o.counters;
    }
}

impl WorkerStats {
    /// All zero.
    pub fn new() -> WorkerStats {
        WorkerStats::default()
    }

    #[inline(always)]
    fn add(&self, i: usize, n: u64) {
        let c = &self.io[i];
        c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Counts `n` packets received on `port`. Owner worker only.
    #[inline(always)]
    pub fn add_rx(&self, port: PortRole, n: u64) {
        self.add(port.index(), n);
    }

    /// Counts `n` packets sent on `port`. Owner worker only.
    #[inline(always)]
    pub fn add_tx(&self, port: PortRole, n: u64) {
        self.add(2 + port.index(), n);
    }

    /// A copy of the counters (any thread).
    pub fn snapshot(&self) -> WorkerSnapshot {
        WorkerSnapshot {
            rx: [self.io[0].load(Relaxed), self.io[1].load(Relaxed)],
            tx: [self.io[2].load(Relaxed), self.io[3].load(Relaxed)],
            counters: self.counters.snapshot(),
        }
    }
}
