//! The workers' DPDK queues as `dataplane::gateway::PortIo`: worker i's rx queue i (if the
//! port has one) and tx queue i of each port, and one `dpdk_sys::Burst` as scratch. Moving
//! mbufs between the burst and the worker's batches moves pointers; no packet is copied.

use dataplane::gateway::{Batch, PortIo, PortRole};
use dpdk_sys::{Burst, RxQueue, TxQueue};

use crate::mbuf::MbufPacket;

/// One worker's queues on the protected and the unprotected port.
#[derive(Debug)]
pub struct DpdkIo<'p> {
    rx: [Option<RxQueue<'p>>; 2],
    tx: [TxQueue<'p>; 2],
    scratch: Box<Burst<'p>>,
}

impl<'p> DpdkIo<'p> {
    /// The worker's queues, by [`PortRole`] index.
    pub fn new(rx: [Option<RxQueue<'p>>; 2], tx: [TxQueue<'p>; 2]) -> DpdkIo<'p> {
        DpdkIo { rx, tx, scratch: Box::new(Burst::new()) }
    }
}

impl<'p> PortIo for DpdkIo<'p> {
    type Pkt = MbufPacket<'p>;

    #[inline]
    fn rx(&mut self, port: PortRole, out: &mut Batch<MbufPacket<'p>>, max: usize) -> usize {
        let Some(q) = self.rx[port.index()].as_mut() else { return 0 };
        let n = q.rx_burst(&mut self.scratch, max.min(out.room()));
        for m in self.scratch.drain() {
            // Room was checked: rx_burst took at most out.room() mbufs.
            let _ = out.push(MbufPacket(m));
        }
        n
    }

    #[inline]
    fn tx(&mut self, port: PortRole, pkts: &mut Batch<MbufPacket<'p>>) -> usize {
        let q = &mut self.tx[port.index()];
        let mut sent = 0;
        for p in pkts.drain() {
            if let Err(m) = self.scratch.push(p.0) {
                // The scratch burst is full (batches may exceed its 512): send and go on.
                sent += q.tx_burst_or_free(&mut self.scratch).0;
                let _ = self.scratch.push(m);
            }
        }
        sent + q.tx_burst_or_free(&mut self.scratch).0
    }

    fn tx_keep(&mut self, port: PortRole, pkts: &mut Batch<MbufPacket<'p>>) -> usize {
        // At most one scratch burst per call: what does not fit was not offered, so it
        // stays in `pkts` like what the device refused.
        let k = pkts.len().min(self.scratch.room());
        for p in pkts.drain_front(k) {
            // Room was checked above.
            let _ = self.scratch.push(p.0);
        }
        let sent = self.tx[port.index()].tx_burst(&mut self.scratch);
        // The refused ones go back ahead of the rest: at most k of them, into the k places
        // just freed, so they fit.
        if pkts.push_front(self.scratch.drain().map(MbufPacket)).is_err() {
            unreachable!("the refused mbufs fit where they came from");
        }
        sent
    }

    #[inline]
    fn has_rx(&self, port: PortRole) -> bool {
        self.rx[port.index()].is_some()
    }
}
