//! The worker loop: poll, classify, decap or encap, route, transmit — run to completion,
//! one burst at a time, with no lock, no allocation and no wait.
//!
//! One iteration ([`Worker::poll`]) pins the epoch once, loads the published [`Tables`] once,
//! and then:
//!
//! 1. takes up to a burst from each handoff ring addressed to it (packets whose SA it
//!    owns, received by another worker), and, on worker 0, sends the control core's frames
//!    (the peer channel) on the unprotected port in a tx burst of their own, before any
//!    data: see [`Lane::take_injected`];
//! 2. receives a burst on the unprotected port: each frame is classified
//!    ([`super::classify`]); ESP for an SA this worker owns is decapsulated, routed (longest
//!    prefix on the inner destination), its TTL / hop limit decremented, given a fresh
//!    Ethernet header (our protected port's MAC → the route's next hop) and queued for the
//!    protected port; ESP for an SA another worker owns is handed to it; peer-channel
//!    datagrams from a configured peer are punted to the control core; unknown SPIs are
//!    dropped and reported to the control core (rate-limited);
//! 3. receives a burst on the protected port: each plain packet is matched against the
//!    tunnels' selectors, its TTL decremented, and encrypted with its tunnel's outbound SA
//!    (handed to the tunnel's owner worker first if that is not this one), then framed
//!    (our unprotected port's MAC → the tunnel's next hop) and queued for the unprotected
//!    port;
//! 4. sends both tx batches; what a tx queue does not take is `TxFull`.
//!
//! Every packet that does not leave is counted under exactly one drop reason, by the worker
//! that drops it; consumed packets (NAT-keepalives, punts) are events. Per-SA packet and
//! byte counts are summed over the burst and written once per SA change (VPP style).
//!
//! **Stopping cleanly.** [`RunState::stop`] asks the workers to stop receiving. Each worker
//! then still drains its handoff rings (and worker 0 the inject ring) and exits only once
//! every worker has stopped receiving and its rings are empty, so no packet is in flight
//! inside qfp when the workers return: received = sent + dropped + consumed, exactly.

use crate::buf::PacketBuf;
use crate::drops::{DropReason, Event};
use crate::gateway::counters::WorkerStats;
use crate::gateway::io::{Batch, PortIo};
use crate::gateway::rings::{
    ControlRings, Handoff, InvalidSpiReport, Job, Mesh, Punt, PuntKind, ReportLimit,
};
use crate::gateway::tables::{InboundEntry, PortRole, Tables, WorkerId};
use crate::pipeline::SaAccum;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use qfp_epoch::{Guard, Published};
use std::sync::Arc;

/// Per-worker settings.
#[derive(Debug, Clone, Copy)]
pub struct WorkerConf {
    /// Most packets per rx burst (and per handoff ring per iteration).
    pub burst: usize,
    /// Most unknown-SPI reports per second this worker sends to the control core.
    pub invalid_spi_per_sec: u32,
}

impl Default for WorkerConf {
    fn default() -> Self {
        WorkerConf { burst: 32, invalid_spi_per_sec: 5 }
    }
}

/// The stop protocol shared by the control core and the workers.
#[derive(Debug)]
pub struct RunState {
    stop: AtomicBool,
    quiet: AtomicUsize,
    workers: usize,
}

impl RunState {
    /// For `workers` workers.
    pub fn new(workers: usize) -> RunState {
        RunState { stop: AtomicBool::new(false), quiet: AtomicUsize::new(0), workers }
    }

    /// Asks the workers to stop receiving, drain the rings between them and return.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Whether a stop was asked.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Counts `n` workers that will never run (their launch failed) as stopped, so that
    /// the others do not wait for them when they drain.
    pub fn never_started(&self, n: usize) {
        self.quiet.fetch_add(n, Ordering::AcqRel);
    }

    /// Workers that have stopped receiving.
    pub fn quiet_workers(&self) -> usize {
        self.quiet.load(Ordering::Acquire)
    }
}

/// Marks a worker as no longer receiving, once, at the latest when dropped.
struct QuietOnDrop<'a> {
    run: &'a RunState,
    done: bool,
}

impl QuietOnDrop<'_> {
    fn mark(&mut self) {
        if !self.done {
            self.done = true;
            self.run.quiet.fetch_add(1, Ordering::AcqRel);
        }
    }
}

impl Drop for QuietOnDrop<'_> {
    fn drop(&mut self) {
        self.mark();
    }
}

/// Everything the workers share, built once by the control side.
#[derive(Debug)]
pub struct Shared<P> {
    /// The published tables.
    pub tables: Arc<Published<Tables>>,
    /// Worker → worker handoff rings.
    pub mesh: Mesh<P>,
    /// Worker ↔ control core rings.
    pub ctrl: ControlRings<P>,
    /// One counter block per worker.
    pub stats: Box<[WorkerStats]>,
    /// The stop protocol.
    pub run: RunState,
}

impl<P> Shared<P> {
    /// Rings and counters for `workers` workers over `tables`, with handoff rings of
    /// `handoff_capacity` packets and control rings of `ctrl_capacity` entries.
    pub fn new(
        tables: Arc<Published<Tables>>,
        workers: usize,
        handoff_capacity: usize,
        ctrl_capacity: usize,
    ) -> Shared<P> {
        Shared {
            tables,
            mesh: Mesh::new(workers, handoff_capacity),
            ctrl: ControlRings::new(workers, ctrl_capacity, ctrl_capacity, ctrl_capacity),
            stats: (0..workers).map(|_| WorkerStats::new()).collect(),
            run: RunState::new(workers),
        }
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.stats.len()
    }
}

/// Looks up the SAs of a received burst before any of its packets is processed and asks the
/// CPU to load what their decap reads. With thousands of tunnels a packet's SA (its fields,
/// key schedule, selectors, replay window) is not in the core's caches; fetched here, the
/// misses of the whole burst overlap instead of stalling each packet in turn (scale
/// benchmark, 1000 tunnels). A run of packets of one SA costs a compare per packet.
#[inline]
fn prefetch_sas<P: PacketBuf>(t: &Tables, burst: &[P]) {
    let mut last = 0;
    for pkt in burst {
        let Some(spi) = crate::gateway::classify::esp_spi_hint(pkt.data()) else { continue };
        if spi == last {
            continue;
        }
        last = spi;
        if let Some(e) = t.inbound.get(spi) {
            e.sa.prefetch();
        }
    }
}

/// The last SPI looked up in this iteration (bursts are mostly one SA).
pub(super) struct SpiCache<'g> {
    spi: u32,
    entry: Option<&'g InboundEntry>,
}

impl<'g> SpiCache<'g> {
    #[inline]
    pub(super) fn get(&mut self, spi: u32, t: &'g Tables) -> Option<&'g InboundEntry> {
        if spi != self.spi || spi == 0 {
            self.spi = spi;
            self.entry = t.inbound.get(spi);
        }
        self.entry
    }
}

/// Everything a worker writes to, apart from its rx batch.
pub(super) struct Lane<'s, I: PortIo> {
    pub(super) id: WorkerId,
    io: I,
    shared: &'s Shared<I::Pkt>,
    pub(super) stats: &'s WorkerStats,
    tx: [Batch<I::Pkt>; 2],
    /// Worker 0: injected frames taken off the inject ring that the unprotected port has
    /// not taken yet (oldest first), retried on the next poll.
    held: Batch<I::Pkt>,
    limit: ReportLimit,
}

/// One worker: its queues (through `I`), its batches, its counters.
pub struct Worker<'s, I: PortIo> {
    conf: WorkerConf,
    rx: Batch<I::Pkt>,
    lane: Lane<'s, I>,
}

impl<I: PortIo> core::fmt::Debug for Worker<'_, I> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Worker").field("id", &self.lane.id).finish()
    }
}

impl<'s, I: PortIo> Worker<'s, I> {
    /// Worker `id` over `io`. Allocates its batches now, never afterwards.
    pub fn new(id: WorkerId, io: I, shared: &'s Shared<I::Pkt>, conf: WorkerConf) -> Self {
        let burst = conf.burst.max(1);
        Worker {
            conf: WorkerConf { burst, ..conf },
            rx: Batch::with_capacity(burst),
            lane: Lane {
                id,
                io,
                shared,
                stats: &shared.stats[usize::from(id)],
                tx: [Batch::with_capacity(2 * burst), Batch::with_capacity(2 * burst)],
                held: Batch::with_capacity(if id == 0 { burst } else { 0 }),
                limit: ReportLimit::new(conf.invalid_spi_per_sec),
            },
        }
    }

    /// This worker's id.
    pub fn id(&self) -> WorkerId {
        self.lane.id
    }

    /// One iteration at time `now` (ns): handoffs, injections, and (if `receive`) one rx
    /// burst per port. Returns how many packets it handled.
    pub fn poll(&mut self, now: u64, receive: bool) -> usize {
        let guard = qfp_epoch::pin();
        let t = self.lane.shared.tables.load(&guard);
        let mut acc = SaAccum::new();
        let mut cache = SpiCache { spi: 0, entry: None };
        let mut work = self.lane.take_handoffs(t, &guard, now, &mut acc, self.conf.burst);
        if self.lane.id == 0 {
            work += self.lane.take_injected(!receive);
        }
        if receive {
            for port in [PortRole::Unprotected, PortRole::Protected] {
                if !self.lane.io.has_rx(port) {
                    continue;
                }
                let n = self.lane.io.rx(port, &mut self.rx, self.conf.burst);
                if n == 0 {
                    continue;
                }
                self.lane.stats.add_rx(port, n as u64);
                work += n;
                // No prefetch of the packets: measured on net_pcap (the data is already in
                // cache, just copied by the PMD) it cost 1-2 %; on a NIC that DMAs into
                // memory it may pay off: PacketBuf::prefetch is there to try it. The SAs
                // are another matter (see prefetch_sas).
                if port == PortRole::Unprotected {
                    prefetch_sas(t, self.rx.as_slice());
                }
                for pkt in self.rx.drain() {
                    match port {
                        PortRole::Unprotected => {
                            self.lane.on_unprotected(t, pkt, now, &mut acc, &mut cache)
                        }
                        PortRole::Protected => {
                            self.lane.on_protected(t, &guard, pkt, now, &mut acc)
                        }
                    }
                }
            }
        }
        acc.flush();
        self.lane.flush(PortRole::Protected);
        self.lane.flush(PortRole::Unprotected);
        work
    }

    /// Whether nothing waits for this worker in the rings.
    fn rings_empty(&self) -> bool {
        let s = self.lane.shared;
        s.mesh.pending_for(self.lane.id) == 0
            && (self.lane.id != 0 || (s.ctrl.inject_pending() == 0 && self.lane.held.is_empty()))
    }

    /// Polls until [`RunState::stop`], then drains (see the module doc) and returns.
    /// `clock` gives `now` in ns (one call per iteration); `idle` is called with the number
    /// of consecutive empty iterations, to pause or sleep as the poll mode wants.
    pub fn run(&mut self, mut clock: impl FnMut() -> u64, mut idle: impl FnMut(u32)) {
        let run = &self.lane.shared.run;
        // Counts this worker as stopped however run ends: should it panic, the others
        // still finish their drain and return instead of waiting for it forever.
        let mut quiet = QuietOnDrop { run, done: false };
        let mut empty: u32 = 0;
        loop {
            if !quiet.done && run.stopping() {
                quiet.mark();
            }
            let quiet_now = quiet.done;
            // Read before polling: if every worker had stopped receiving by now, nothing
            // can enter our rings after this poll has looked at them.
            let all_quiet = quiet_now && run.quiet_workers() == run.workers;
            let n = self.poll(clock(), !quiet_now);
            if all_quiet && n == 0 && self.rings_empty() {
                return;
            }
            if n == 0 {
                empty = empty.saturating_add(1);
                if !quiet_now {
                    idle(empty);
                }
            } else {
                empty = 0;
            }
        }
    }
}

impl<'s, I: PortIo> Lane<'s, I> {
    #[inline]
    pub(super) fn drop_pkt(&self, pkt: I::Pkt, r: DropReason) {
        self.stats.counters.count_drop(r);
        drop(pkt);
    }

    #[inline]
    pub(super) fn send(&mut self, port: PortRole, pkt: I::Pkt) {
        if let Err(pkt) = self.tx[port.index()].push(pkt) {
            self.flush(port);
            if let Err(pkt) = self.tx[port.index()].push(pkt) {
                unreachable!("a flushed batch has room: {:?}", pkt.len());
            }
        }
    }

    fn flush(&mut self, port: PortRole) {
        let batch = &mut self.tx[port.index()];
        let n = batch.len();
        if n == 0 {
            return;
        }
        let sent = self.io.tx(port, batch);
        self.stats.add_tx(port, sent as u64);
        if sent < n {
            self.stats.counters.add_drops(DropReason::TxFull, (n - sent) as u64);
        }
    }

    #[inline]
    pub(super) fn handoff(&mut self, pkt: I::Pkt, owner: WorkerId, job: Job) {
        match self.shared.mesh.ring(self.id, owner).push(Handoff { pkt, job }) {
            Ok(()) => self.stats.counters.count_event(Event::HandedOff),
            Err(h) => self.drop_pkt(h.pkt, DropReason::TailDrop),
        }
    }

    pub(super) fn punt(&mut self, pkt: I::Pkt, kind: PuntKind) {
        match self.shared.ctrl.punt(Punt { pkt, kind, worker: self.id }) {
            Ok(()) => self.stats.counters.count_event(Event::Punted),
            Err(p) => self.drop_pkt(p.pkt, DropReason::TailDrop),
        }
    }

    #[cold]
    pub(super) fn report(&mut self, event: crate::pipeline::InvalidSpi, now: u64) {
        let sent = self.limit.allow(&event, now)
            && self.shared.ctrl.report(InvalidSpiReport { event, worker: self.id, at_ns: now });
        self.stats.counters.count_event(if sent {
            Event::InvalidSpiPunted
        } else {
            Event::InvalidSpiSuppressed
        });
    }

    fn take_handoffs<'g>(
        &mut self,
        t: &'g Tables,
        guard: &'g Guard,
        now: u64,
        acc: &mut SaAccum<'g>,
        burst: usize,
    ) -> usize {
        let shared = self.shared;
        let mut n = 0;
        for from in 0..shared.workers() as WorkerId {
            if from == self.id {
                continue;
            }
            let ring = shared.mesh.ring(from, self.id);
            for _ in 0..burst {
                let Some(Handoff { pkt, job }) = ring.pop() else { break };
                n += 1;
                self.stats.counters.count_event(Event::HandoffReceived);
                match job {
                    Job::Decap => self.on_inbound_ip(t, pkt, now, acc, None),
                    Job::Encap(tunnel) => self.encap(t, guard, pkt, tunnel, now, acc),
                }
            }
        }
        n
    }

    /// Worker 0: sends the control core's frames (peer-channel messages and their
    /// retransmissions) in a tx burst of their own, before this poll's data, so that a data
    /// flood that keeps the unprotected tx queue full cannot starve the control plane (the
    /// rekeys it carries are what the flood needs least to stall). The frames the queue does
    /// not take stay in `held` (a burst's worth, allocated once) and go first on the next
    /// poll; while it is full, new frames wait in the inject ring, and when that is full the
    /// control core counts its send failure (nothing is built, nothing lost here). A frame
    /// is counted `Injected` when it leaves `held`: sent, or given up as `TxFull` — only
    /// when the workers drain to stop (`give_up`), or if the device freed it. Returns how
    /// many were sent.
    fn take_injected(&mut self, give_up: bool) -> usize {
        while !self.held.is_full() {
            let Some(pkt) = self.shared.ctrl.next_injected() else { break };
            if self.held.push(pkt).is_err() {
                unreachable!("room checked above");
            }
        }
        let n = self.held.len();
        if n == 0 {
            return 0;
        }
        let sent = self.io.tx_keep(PortRole::Unprotected, &mut self.held);
        // A device that cannot keep refused packets frees them (PortIo::tx_keep).
        let mut lost = n - sent - self.held.len();
        if give_up {
            lost += self.held.clear();
        }
        self.stats.add_tx(PortRole::Unprotected, sent as u64);
        self.stats.counters.add_events(Event::Injected, (sent + lost) as u64);
        if lost > 0 {
            self.stats.counters.add_drops(DropReason::TxFull, lost as u64);
        }
        sent
    }
}
