//! The L2 cross-connect of this stage: every packet received on port 0 leaves on port 1
//! and vice versa, by polling workers that run to completion.
//!
//! Worker i owns rx queue i and tx queue i on every port it serves ([`plan`] decides how
//! many queues each port gets when a device has fewer than there are workers). The loop
//! takes no lock and allocates nothing: one [`Burst`] on the stack is filled by rx and
//! drained by tx; what tx does not take is freed and counted as `TxFull`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dataplane::drops::DropReason;
use dataplane::gateway::{PortRole, WorkerStats};
use dpdk_sys::{Burst, RxQueue, TxQueue};

use crate::cli::Poll;

/// Rx queue → tx queue of the other port, owned by one worker.
#[derive(Debug)]
pub struct Lane<'p> {
    /// Where packets come in.
    pub rx: RxQueue<'p>,
    /// Where they leave.
    pub tx: TxQueue<'p>,
    /// The rx port: port 0 counts as [`PortRole::Protected`], port 1 as unprotected.
    pub from: PortRole,
}

/// How many queues each of the two ports gets, and which worker polls what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuePlan {
    /// Rx queues of port 0 and port 1.
    pub rx_queues: [u16; 2],
    /// Tx queues of port 0 and port 1.
    pub tx_queues: [u16; 2],
}

impl QueuePlan {
    /// Rx ports (0, 1) that worker `w` polls: port p if it has an rx queue `w`.
    pub fn rx_ports_of(&self, w: u16) -> Vec<usize> {
        (0..2).filter(|&p| w < self.rx_queues[p]).collect()
    }
}

/// Splits the ports' queues among `workers`: port p gets `min(workers, its max rx,
/// the other port's max tx)` rx queues (every rx queue i needs tx queue i on the other
/// port, so that worker i owns both), and each port as many tx queues as the other has
/// rx queues. With devices of one queue (most vdevs) and several workers, the extra
/// workers have nothing to poll.
pub fn plan(workers: u16, max_rx: [u16; 2], max_tx: [u16; 2]) -> QueuePlan {
    let rx = |p: usize| workers.min(max_rx[p]).min(max_tx[1 - p]).max(1);
    let rx_queues = [rx(0), rx(1)];
    QueuePlan { rx_queues, tx_queues: [rx_queues[1], rx_queues[0]] }
}

/// What an idle worker does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// Poll again at once.
    Spin,
    /// One `pause` instruction, then poll.
    Pause,
    /// Sleep [`IDLE_SLEEP`], then poll.
    Sleep,
}

/// Empty polls before pausing, and before sleeping (adaptive polling).
pub const SPIN_POLLS: u32 = 64;
/// See [`SPIN_POLLS`].
pub const PAUSE_POLLS: u32 = 4096;
/// The idle sleep: short enough that a 1024-descriptor ring does not fill at a few
/// hundred kpps while the worker sleeps.
pub const IDLE_SLEEP: Duration = Duration::from_micros(50);

/// The back-off after `empty` consecutive empty polls.
pub fn backoff(poll: Poll, empty: u32) -> Backoff {
    match poll {
        Poll::Busy => Backoff::Spin,
        Poll::Adaptive if empty < SPIN_POLLS => Backoff::Spin,
        Poll::Adaptive if empty < PAUSE_POLLS => Backoff::Pause,
        Poll::Adaptive => Backoff::Sleep,
    }
}

/// Does what the back-off after `empty` consecutive empty polls says.
#[inline]
pub fn idle(poll: Poll, empty: u32) {
    match backoff(poll, empty) {
        Backoff::Spin => {}
        Backoff::Pause => dpdk_sys::pause(),
        Backoff::Sleep => std::thread::sleep(IDLE_SLEEP),
    }
}

/// Polls `lanes` until `stop` is set: rx a burst, tx it on the lane's tx queue, free and
/// count what did not fit.
pub fn run(
    mut lanes: Vec<Lane<'_>>,
    burst_size: usize,
    poll: Poll,
    stop: &AtomicBool,
    c: &WorkerStats,
) {
    let mut burst = Burst::new();
    let mut empty: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        let mut got = 0;
        for lane in &mut lanes {
            let n = lane.rx.rx_burst(&mut burst, burst_size);
            if n == 0 {
                continue;
            }
            got += n;
            let (sent, unsent) = lane.tx.tx_burst_or_free(&mut burst);
            let to = match lane.from {
                PortRole::Protected => PortRole::Unprotected,
                PortRole::Unprotected => PortRole::Protected,
            };
            c.add_rx(lane.from, n as u64);
            c.add_tx(to, sent as u64);
            if unsent > 0 {
                c.counters.add_drops(DropReason::TxFull, unsent as u64);
            }
        }
        if got > 0 {
            empty = 0;
            continue;
        }
        empty = empty.saturating_add(1);
        idle(poll, empty);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_queue_devices_serve_one_worker() {
        let p = plan(2, [1, 1], [1, 1]);
        assert_eq!(p, QueuePlan { rx_queues: [1, 1], tx_queues: [1, 1] });
        assert_eq!(p.rx_ports_of(0), vec![0, 1]);
        assert!(p.rx_ports_of(1).is_empty());
    }

    #[test]
    fn many_queue_devices_serve_every_worker() {
        let p = plan(4, [1024, 8], [1024, 8]);
        assert_eq!(p, QueuePlan { rx_queues: [4, 4], tx_queues: [4, 4] });
        assert_eq!(p.rx_ports_of(3), vec![0, 1]);
    }

    #[test]
    fn rx_queues_never_exceed_the_other_ports_tx_queues() {
        // Port 0: 2 rx pcap files; port 1 writes one tx file: worker 1 could not send.
        let p = plan(2, [2, 1], [2, 1]);
        assert_eq!(p, QueuePlan { rx_queues: [1, 1], tx_queues: [1, 1] });
        let p = plan(2, [2, 2], [2, 2]);
        assert_eq!(p, QueuePlan { rx_queues: [2, 2], tx_queues: [2, 2] });
        let p = plan(3, [3, 1], [1, 3]);
        assert_eq!(p, QueuePlan { rx_queues: [3, 1], tx_queues: [1, 3] });
        assert_eq!(p.rx_ports_of(2), vec![0]);
    }

    #[test]
    fn busy_never_backs_off_adaptive_escalates() {
        assert_eq!(backoff(Poll::Busy, u32::MAX), Backoff::Spin);
        assert_eq!(backoff(Poll::Adaptive, 0), Backoff::Spin);
        assert_eq!(backoff(Poll::Adaptive, SPIN_POLLS), Backoff::Pause);
        assert_eq!(backoff(Poll::Adaptive, PAUSE_POLLS), Backoff::Sleep);
        assert_eq!(backoff(Poll::Adaptive, u32::MAX), Backoff::Sleep);
    }
}
