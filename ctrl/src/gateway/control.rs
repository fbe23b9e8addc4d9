//! The control core's side of the gateway: the one writer of the tables, the owner of the
//! SPI pool and of the owner assignment, the consumer of the punt and unknown-SPI rings,
//! and the source of the tunnels' statistics.
//!
//! [`GatewayControl`] is what the peer channel and qfpctl (issue 6) drive. Its API:
//!
//! - [`GatewayControl::publish_inbound`] / [`GatewayControl::unpublish_inbound`]: an
//!   inbound SA starts / stops decrypting at the workers' next burst (the owner worker is
//!   chosen here: the one whose rx queue receives the SA when RSS tells, else the least
//!   loaded);
//! - [`GatewayControl::switch_outbound`]: a tunnel's outbound SA is replaced (or removed)
//!   with one atomic pointer store; [`GatewayControl::rekey_outbound`] does it for a rekey
//!   exchange's new SA and counts it (with or without an SA to replace);
//! - [`GatewayControl::spis`]: an `ctrl::peer::SpiAllocator` for one tunnel (fresh random
//!   SPIs that land on the wanted worker);
//! - [`GatewayControl::send_to_peer`] / [`GatewayControl::inject`]: a peer-channel
//!   datagram (or any frame), sent by worker 0 on the unprotected port;
//! - [`GatewayControl::tick`]: every control-loop slice; takes the punted packets and the
//!   unknown-SPI reports off the rings (handing them to the closures given, or counting and
//!   freeing them) and drops what the workers can no longer reference.
//!
//! Generic over the packet type, so the same code runs over mbufs and, in tests, over
//! heap buffers with in-memory workers.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use dataplane::buf::PacketBuf;
use dataplane::gateway::{
    InboundEntry, InvalidSpiReport, Punt, Shared, TableError, TableWriter, TunnelId, WorkerId,
};
use dataplane::sa::{Expiry, Sa, SaDirection};
use rand::rngs::StdRng;

use crate::gateway::shard::Sharding;
use crate::gateway::spi::{SpiPool, TunnelSpis};
use crate::sa_build::SaTemplate;
use crate::stats::{ControlJson, SaJson, TunnelJson};

/// What the control core keeps about a tunnel.
#[derive(Debug)]
pub struct TunnelState {
    /// Its name.
    pub name: String,
    /// How to build its SAs (endpoints, NAT-T, selectors, lifetimes, ESN).
    pub template: SaTemplate,
    /// Its index in the config's `tunnel` list.
    pub config_index: usize,
    /// Rekeys: completed exchanges that installed a new outbound SA, one per exchange
    /// whatever started it (lifetime, schedule, qfpctl, `clear sa peer`, an INVALID_SPI
    /// repair), counted by [`GatewayControl::rekey_outbound`], including when no outbound
    /// SA was left to replace.
    pub rekeys: u64,
}

/// Why a frame could not be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    /// No mbuf, or the frame does not fit one.
    #[error("no buffer for the frame")]
    NoBuffer,
    /// The inject ring is full.
    #[error("the inject ring is full")]
    RingFull,
}

/// Makes a packet buffer holding a frame (an mbuf from the pool, in production).
pub type Alloc<'s, P> = Box<dyn Fn(&[u8]) -> Option<P> + 's>;

/// Recent unknown-SPI reports kept for the control core's consumers (issue 6's log and
/// per-flow classification read them); older ones are dropped.
pub const RECENT_INVALID_SPI: usize = 1024;

/// The control core's handle on the running gateway.
pub struct GatewayControl<'s, P> {
    writer: TableWriter,
    shared: &'s Shared<P>,
    sharding: Sharding,
    spis: SpiPool<StdRng>,
    tunnels: Vec<TunnelState>,
    alloc: Alloc<'s, P>,
    clock: Instant,
    counts: ControlJson,
    recent_invalid_spi: VecDeque<InvalidSpiReport>,
}

impl<P> core::fmt::Debug for GatewayControl<'_, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GatewayControl").field("tunnels", &self.tunnels.len()).finish()
    }
}

fn state_of(sa: &Sa) -> &'static str {
    if !sa.is_valid() {
        return "invalid";
    }
    match sa.expiry() {
        Expiry::Live => "active",
        Expiry::Soft => "soft-expired",
        Expiry::Hard => "expired",
    }
}

fn sa_json(sa: &Sa, owner: WorkerId) -> SaJson {
    let s = sa.stats();
    SaJson {
        spi: sa.spi(),
        dir: match sa.direction() {
            SaDirection::Inbound => "in",
            SaDirection::Outbound => "out",
        },
        state: state_of(sa),
        packets: s.packets,
        bytes: s.bytes,
        seq: s.seq,
        replay_failed: s.replay_failed,
        verify_failed: s.verify_failed,
        owner,
    }
}

impl<'s, P: PacketBuf + Send> GatewayControl<'s, P> {
    /// The control side of a gateway whose tables `writer` holds and whose rings are in
    /// `shared`. `clock` is the epoch of every `now` (workers and SAs use the same);
    /// `alloc` makes a packet buffer holding a frame (for [`Self::inject`]).
    pub fn new(
        writer: TableWriter,
        shared: &'s Shared<P>,
        sharding: Sharding,
        spis: SpiPool<StdRng>,
        tunnels: Vec<TunnelState>,
        clock: Instant,
        alloc: Alloc<'s, P>,
    ) -> Self {
        let handoff_ring = shared.mesh.capacity() as u64;
        GatewayControl {
            writer,
            shared,
            sharding,
            spis,
            tunnels,
            alloc,
            clock,
            counts: ControlJson { handoff_ring, ..ControlJson::default() },
            recent_invalid_spi: VecDeque::new(),
        }
    }

    /// Nanoseconds since the gateway's clock started (the `now` of workers and SAs).
    pub fn now_ns(&self) -> u64 {
        self.clock.elapsed().as_nanos() as u64
    }

    /// The tunnels.
    pub fn tunnels(&self) -> &[TunnelState] {
        &self.tunnels
    }

    /// The tables' writer (read-only access: published SAs, the fixed part).
    pub fn writer(&self) -> &TableWriter {
        &self.writer
    }

    /// The owner assignment.
    pub fn sharding(&self) -> &Sharding {
        &self.sharding
    }

    /// Publishes inbound SA `sa` of `tunnel`; returns the worker that owns it. The SA's
    /// SPI must be reserved in the pool already (from [`Self::spis`] or the config).
    pub fn publish_inbound(&mut self, tunnel: TunnelId, sa: Sa) -> Result<WorkerId, TableError> {
        Ok(self.publish_inbound_many(vec![(tunnel, sa)])?[0])
    }

    /// Publishes many inbound SAs in one snapshot (the config's at start: one at a time
    /// would rebuild the SPI map once per SA, quadratic in the tunnel count); returns each
    /// one's owner worker, in order. On an error nothing is published.
    pub fn publish_inbound_many(
        &mut self,
        sas: Vec<(TunnelId, Sa)>,
    ) -> Result<Vec<WorkerId>, TableError> {
        let owned: Vec<_> = sas
            .into_iter()
            .map(|(tunnel, sa)| {
                let owner = self.sharding.assign_inbound(sa.spi(), sa.tunnel());
                (tunnel, Arc::new(sa), owner)
            })
            .collect();
        let owners: Vec<WorkerId> = owned.iter().map(|(_, _, w)| *w).collect();
        match self.writer.publish_inbound_many(owned) {
            Ok(()) => Ok(owners),
            Err(e) => {
                owners.iter().for_each(|&w| self.sharding.release(w));
                Err(e)
            }
        }
    }

    /// Unpublishes the inbound SA `spi` and releases its SPI to the pool (quarantined).
    pub fn unpublish_inbound(&mut self, spi: u32) -> Option<InboundEntry> {
        let e = self.writer.unpublish_inbound(spi)?;
        self.sharding.release(e.owner);
        self.spis.release(spi);
        Some(e)
    }

    /// Makes `sa` the outbound SA of `tunnel` (`None` removes it): one atomic store.
    /// Returns the previous one. Not a rekey by itself (the config's SAs at start, a
    /// removal): see [`rekey_outbound`](Self::rekey_outbound).
    pub fn switch_outbound(
        &mut self,
        tunnel: TunnelId,
        sa: Option<Sa>,
    ) -> Result<Option<Arc<Sa>>, TableError> {
        self.writer.switch_outbound(tunnel, sa.map(Arc::new))
    }

    /// Installs the outbound SA a rekey exchange brought, counted as one of `tunnel`'s
    /// rekeys whether it replaces an SA or fills a tunnel that had none (after `clear sa
    /// peer` or an INVALID_SPI repair removed it). Returns the previous one.
    pub fn rekey_outbound(
        &mut self,
        tunnel: TunnelId,
        sa: Sa,
    ) -> Result<Option<Arc<Sa>>, TableError> {
        let old = self.switch_outbound(tunnel, Some(sa))?;
        self.tunnels[tunnel as usize].rekeys += 1;
        Ok(old)
    }

    /// An SPI allocator for new inbound SAs of `tunnel` (for `ctrl::peer::Peer`).
    pub fn spis(&mut self, tunnel: TunnelId) -> TunnelSpis<'_, StdRng> {
        let t = self.tunnels[tunnel as usize].template.tunnel;
        TunnelSpis { pool: &mut self.spis, sharding: &mut self.sharding, tunnel: t }
    }

    /// Sends `payload` to `tunnel`'s peer on the peer channel: UDP from our outer address to
    /// the peer's, port `gateway.peer_port` both ways, framed for the tunnel's next hop and
    /// sent by worker 0 on the unprotected port.
    pub fn send_to_peer(&self, tunnel: TunnelId, payload: &[u8]) -> Result<(), InjectError> {
        let fixed = self.writer.fixed();
        let t = fixed.tunnels.get(tunnel as usize).ok_or(InjectError::NoBuffer)?;
        let src_mac = fixed.port_macs[dataplane::gateway::PortRole::Unprotected.index()];
        let frame = dataplane::gateway::datagram::build(
            src_mac,
            t.next_hop_mac,
            t.local,
            t.peer,
            fixed.peer_port,
            payload,
        )
        .ok_or(InjectError::NoBuffer)?;
        self.inject(&frame)
    }

    /// Queues `frame` (Ethernet header included) for worker 0 to send on the unprotected
    /// port.
    pub fn inject(&self, frame: &[u8]) -> Result<(), InjectError> {
        let p = (self.alloc)(frame).ok_or(InjectError::NoBuffer)?;
        self.shared.ctrl.inject(p).map_err(|_| InjectError::RingFull)
    }

    /// One control-loop slice: takes punts and unknown-SPI reports off the rings (to the
    /// closures), and drops replaced tables and SAs on this thread.
    pub fn tick_with(
        &mut self,
        mut on_punt: impl FnMut(Punt<P>),
        mut on_invalid_spi: impl FnMut(&InvalidSpiReport),
    ) {
        while let Some(p) = self.shared.ctrl.pop_punt() {
            self.counts.punts_received += 1;
            on_punt(p);
        }
        while let Some(r) = self.shared.ctrl.pop_invalid_spi() {
            self.counts.invalid_spi_reports += 1;
            on_invalid_spi(&r);
            if self.recent_invalid_spi.len() == RECENT_INVALID_SPI {
                self.recent_invalid_spi.pop_front();
            }
            self.recent_invalid_spi.push_back(r);
        }
        self.writer.reclaim();
    }

    /// [`Self::tick_with`] for this stage: punts are counted and freed (the peer channel
    /// comes with issue 6), reports are kept in [`Self::recent_invalid_spi`].
    pub fn tick(&mut self) {
        self.tick_with(drop, |_| {});
    }

    /// The latest unknown-SPI reports, oldest first.
    pub fn recent_invalid_spi(&self) -> &VecDeque<InvalidSpiReport> {
        &self.recent_invalid_spi
    }

    /// The tunnels and their SAs, for the stats document.
    pub fn tunnels_json(&self) -> Vec<TunnelJson> {
        let fixed = self.writer.fixed();
        let by_tunnel = self.inbound_by_tunnel();
        self.tunnels
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let owner = fixed.tunnels[i].owner;
                let mut sa = Vec::new();
                if let Some(o) = self.writer.outbound(i as TunnelId) {
                    sa.push(sa_json(o, owner));
                }
                sa.extend(by_tunnel[i].iter().map(|e| sa_json(&e.sa, e.owner)));
                TunnelJson {
                    name: t.name.clone(),
                    rekeys: t.rekeys,
                    owner,
                    sa,
                    ..TunnelJson::default()
                }
            })
            .collect()
    }

    /// The published inbound SAs grouped by tunnel (index = tunnel id), each group in
    /// the writer's order. One pass: filtering every SA for every tunnel made the stats
    /// document quadratic (seconds per write at 10k tunnels).
    pub fn inbound_by_tunnel(&self) -> Vec<Vec<&InboundEntry>> {
        let mut by: Vec<Vec<&InboundEntry>> = vec![Vec::new(); self.tunnels.len()];
        for e in self.writer.inbound() {
            if let Some(g) = by.get_mut(e.tunnel as usize) {
                g.push(e);
            }
        }
        by
    }

    /// The control core's counters, for the stats document.
    pub fn control_json(&self) -> ControlJson {
        let r = self.writer.reclaim_stats();
        ControlJson {
            inbound_sas: self.writer.inbound().count() as u64,
            table_generation: self.writer.generation(),
            reclaimed: r.drained,
            reclaim_dropped_in_place: r.dropped_in_place,
            handoff_pending: self.shared.mesh.pending() as u64,
            ..self.counts.clone()
        }
    }
}
