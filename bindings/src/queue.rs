//! Rx and tx queues: the fast path. One queue belongs to one lcore (it is `Send`, and
//! bursting needs `&mut`), so no lock is ever taken; a burst moves up to
//! [`Burst::CAPACITY`] mbufs with one call and no allocation.

use std::marker::PhantomData;

use crate::burst::Burst;
use crate::ffi;

/// Receive queue `queue` of port `port`, borrowed from its started [`crate::Port`].
#[derive(Debug)]
pub struct RxQueue<'p> {
    port: u16,
    queue: u16,
    /// A net_memif queue: bursts pass the gate of [`crate::gate`].
    gated: bool,
    _port: PhantomData<&'p ()>,
}

/// Transmit queue `queue` of port `port`, borrowed from its started [`crate::Port`].
#[derive(Debug)]
pub struct TxQueue<'p> {
    port: u16,
    queue: u16,
    /// A net_memif queue: bursts pass the gate of [`crate::gate`].
    gated: bool,
    _port: PhantomData<&'p ()>,
}

impl<'p> RxQueue<'p> {
    /// Only `Port::queues` creates queues: once per index per start.
    pub(crate) fn new(port: u16, queue: u16, gated: bool) -> Self {
        RxQueue { port, queue, gated, _port: PhantomData }
    }

    /// Port id.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Queue index.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Receives up to `max` packets (capped by the burst's free room) into `burst`, after
    /// those it already holds. Returns how many arrived.
    #[inline]
    pub fn rx_burst(&mut self, burst: &mut Burst<'p>, max: usize) -> usize {
        let n = max.min(burst.room()).min(usize::from(u16::MAX)) as u16;
        if n == 0 {
            return 0;
        }
        let _pass = self.gated.then(crate::gate::enter);
        // The port is started and cannot stop while this queue borrows it; this queue index
        // is used by no other thread (one RxQueue per index, &mut self).
        // SAFETY: started port, exclusive queue; spare_ptr has room for the n mbufs DPDK writes.
        let got = unsafe { ffi::qfp_eth_rx_burst(self.port, self.queue, burst.spare_ptr(), n) };
        // SAFETY: DPDK wrote `got` (<= n) valid mbufs that we now own.
        unsafe { burst.assume_filled(usize::from(got)) };
        usize::from(got)
    }
}

impl<'p> TxQueue<'p> {
    /// Only `Port::queues` creates queues: once per index per start.
    pub(crate) fn new(port: u16, queue: u16, gated: bool) -> Self {
        TxQueue { port, queue, gated, _port: PhantomData }
    }

    /// Port id.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Queue index.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Hands the burst's mbufs, in order, to the device. Returns how many it took; the
    /// rest (the ring was full) stay in `burst`, moved to its front, so the caller can
    /// retry or free them and count them as a drop.
    #[inline]
    pub fn tx_burst(&mut self, burst: &mut Burst<'p>) -> usize {
        let n = burst.len() as u16; // len <= CAPACITY (512)
        if n == 0 {
            return 0;
        }
        let _pass = self.gated.then(crate::gate::enter);
        // SAFETY: the port is started and cannot stop while this queue borrows it; this
        // queue index is used by no other thread; the first n slots are owned mbufs.
        let sent = unsafe { ffi::qfp_eth_tx_burst(self.port, self.queue, burst.base_ptr(), n) };
        // SAFETY: the device now owns the first `sent` mbufs (it frees them after sending).
        unsafe { burst.consume_front(usize::from(sent)) };
        usize::from(sent)
    }

    /// Sends the burst and frees what the device did not take. Returns (sent, unsent):
    /// count the unsent ones as a drop (`TxFull`).
    #[inline]
    pub fn tx_burst_or_free(&mut self, burst: &mut Burst<'p>) -> (usize, usize) {
        let sent = self.tx_burst(burst);
        (sent, burst.clear())
    }
}
