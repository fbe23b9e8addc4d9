//! The control core's side of the tables: build them once from a [`GatewaySpec`], then
//! publish and unpublish inbound SAs and switch outbound SAs while the workers run.
//!
//! [`TableWriter`] is the single writer (it takes `&mut self`, and there is one per gateway,
//! owned by the control core). Every change is visible to a worker at its next burst:
//!
//! - [`TableWriter::publish_inbound`] / [`TableWriter::unpublish_inbound`] rebuild the SPI
//!   map from the writer's own list (copy-on-write; the `Arc<Sa>`s are shared, so the SAs
//!   that stay keep their replay windows and counters) and publish it with one pointer
//!   swap;
//! - [`TableWriter::switch_outbound`] stores the new outbound SA of one tunnel: one atomic
//!   pointer swap in the tunnel's own slot, O(1) whatever the number of tunnels.
//!
//! What is replaced (an old snapshot, an old outbound SA) is freed only when no worker can
//! still hold it, and not by a worker: it comes back through the [`Reclaimer`], and
//! [`TableWriter::reclaim`] drops it on the control core (where an SA's key schedule is
//! zeroized). Call it every control-loop tick.

use crate::gateway::lpm::{DuplicatePrefix, PrefixTable};
use crate::gateway::spimap::{SpiMap, SpiMapError};
use crate::gateway::tables::{AddrSet, Fixed, InboundEntry, Tables, TunnelId, TunnelRt, WorkerId};
use crate::sa::{Sa, SaDirection};
use crate::selector::Prefix;
use crate::wire::IpVersion;
use crate::wire::eth::MacAddr;
use core::net::IpAddr;
use qfp_epoch::{Published, Reclaimer, pin};
use std::sync::Arc;

/// One tunnel, as the control core describes it.
#[derive(Debug, Clone)]
pub struct TunnelSpec {
    /// Name.
    pub name: String,
    /// Owner worker of its outbound SAs.
    pub owner: WorkerId,
    /// Next-hop MAC towards the peer.
    pub next_hop_mac: MacAddr,
    /// The peer's outer address.
    pub peer: IpAddr,
    /// Our outer address.
    pub local: IpAddr,
    /// Inner destinations sent through the tunnel.
    pub selectors: Vec<Prefix>,
}

/// One route for decapsulated packets.
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    /// Destination prefix.
    pub dst: Prefix,
    /// Next-hop MAC on the protected port.
    pub next_hop_mac: MacAddr,
}

/// Everything the tables are built from.
#[derive(Debug, Clone)]
pub struct GatewaySpec {
    /// Number of workers.
    pub workers: u16,
    /// Tunnels (their index is their [`TunnelId`]).
    pub tunnels: Vec<TunnelSpec>,
    /// Routes.
    pub routes: Vec<RouteSpec>,
    /// Our outer addresses (the tunnels' `local`s are added).
    pub locals: Vec<IpAddr>,
    /// UDP port of the peer channel.
    pub peer_port: u16,
    /// Our NAT-T ports besides 4500.
    pub natt_ports: Vec<u16>,
    /// MAC of the protected and the unprotected port.
    pub port_macs: [MacAddr; 2],
}

/// Why a change was refused (nothing was changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// No tunnel with this id.
    #[error("no tunnel {0}")]
    NoTunnel(TunnelId),
    /// No worker with this id.
    #[error("no worker {0}")]
    NoWorker(WorkerId),
    /// An outbound SA given as inbound or the other way round.
    #[error("SPI {spi:#x} is an {got:?} SA, {want:?} expected")]
    Direction {
        /// The SA.
        spi: u32,
        /// Its direction.
        got: SaDirection,
        /// The one needed.
        want: SaDirection,
    },
    /// The SA's outer family is not its tunnel's.
    #[error("SPI {spi:#x}: its outer addresses are not those of tunnel {tunnel}")]
    Family {
        /// The SA.
        spi: u32,
        /// The tunnel.
        tunnel: TunnelId,
    },
    /// Duplicate or reserved SPI.
    #[error("{0}")]
    Spi(#[from] SpiMapError),
    /// Duplicate prefix in the selectors or the routes.
    #[error("{0}")]
    Prefix(#[from] DuplicatePrefix),
}

/// The control core's handle on the tables.
#[derive(Debug)]
pub struct TableWriter {
    published: Arc<Published<Tables>>,
    fixed: Arc<Fixed>,
    /// The inbound SAs as published, in publication order.
    inbound: Vec<(u32, InboundEntry)>,
    /// Each tunnel's outbound SA as published (the control core's own references).
    outbound: Vec<Option<Arc<Sa>>>,
    reclaim: Reclaimer,
    generation: u64,
}

fn family(a: IpAddr) -> IpVersion {
    match a {
        IpAddr::V4(_) => IpVersion::V4,
        IpAddr::V6(_) => IpVersion::V6,
    }
}

impl TableWriter {
    /// Builds the tables (no SA yet) and publishes them. Replaced values go to a reclaimer
    /// of `reclaim_capacity` entries.
    pub fn new(spec: &GatewaySpec, reclaim_capacity: usize) -> Result<TableWriter, TableError> {
        let reclaim = Reclaimer::new(reclaim_capacity);
        if spec.workers == 0 {
            return Err(TableError::NoWorker(0));
        }
        let mut policy = Vec::new();
        let mut tunnels = Vec::with_capacity(spec.tunnels.len());
        let mut locals: Vec<IpAddr> = spec.locals.clone();
        let mut peers = Vec::new();
        for (i, t) in spec.tunnels.iter().enumerate() {
            if t.owner >= spec.workers {
                return Err(TableError::NoWorker(t.owner));
            }
            policy.extend(t.selectors.iter().map(|p| (*p, i as TunnelId)));
            locals.push(t.local);
            peers.push(t.peer);
            tunnels.push(TunnelRt {
                name: t.name.clone(),
                owner: t.owner,
                next_hop_mac: t.next_hop_mac,
                outer: family(t.peer),
                peer: t.peer,
                local: t.local,
                outbound: Published::with_reclaimer(None, reclaim.clone()),
            });
        }
        let routes: Vec<(Prefix, u32)> =
            spec.routes.iter().enumerate().map(|(i, r)| (r.dst, i as u32)).collect();
        let mut natt_ports = vec![crate::wire::udp::NATT_PORT];
        natt_ports.extend(spec.natt_ports.iter().copied());
        natt_ports.sort_unstable();
        natt_ports.dedup();
        let fixed = Arc::new(Fixed {
            workers: spec.workers,
            tunnels: tunnels.into_boxed_slice(),
            policy: PrefixTable::build(&policy)?,
            routes: PrefixTable::build(&routes)?,
            route_macs: spec.routes.iter().map(|r| r.next_hop_mac).collect(),
            locals: AddrSet::new(&locals),
            peers: AddrSet::new(&peers),
            peer_port: spec.peer_port,
            natt_ports: natt_ports.into_boxed_slice(),
            port_macs: spec.port_macs,
        });
        let n = fixed.tunnels.len();
        let tables = Tables { inbound: SpiMap::empty(), fixed: fixed.clone() };
        Ok(TableWriter {
            published: Arc::new(Published::with_reclaimer(tables, reclaim.clone())),
            fixed,
            inbound: Vec::new(),
            outbound: vec![None; n],
            reclaim,
            generation: 0,
        })
    }

    /// The published tables, for the workers.
    pub fn tables(&self) -> Arc<Published<Tables>> {
        self.published.clone()
    }

    /// The unchanging part (tunnels, policy, routes, addresses).
    pub fn fixed(&self) -> &Arc<Fixed> {
        &self.fixed
    }

    /// How many snapshots have been published since the first.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn tunnel(&self, id: TunnelId) -> Result<&TunnelRt, TableError> {
        self.fixed.tunnels.get(id as usize).ok_or(TableError::NoTunnel(id))
    }

    fn check_sa(&self, sa: &Sa, tunnel: TunnelId, want: SaDirection) -> Result<(), TableError> {
        let t = self.tunnel(tunnel)?;
        if sa.direction() != want {
            return Err(TableError::Direction { spi: sa.spi(), got: sa.direction(), want });
        }
        if sa.tunnel().endpoints.version() != t.outer {
            return Err(TableError::Family { spi: sa.spi(), tunnel });
        }
        Ok(())
    }

    fn republish(&mut self, inbound: Vec<(u32, InboundEntry)>) -> Result<(), TableError> {
        let map = SpiMap::build(inbound.clone())?;
        self.inbound = inbound;
        self.published.replace(Tables { inbound: map, fixed: self.fixed.clone() });
        self.generation += 1;
        Ok(())
    }

    /// Publishes several inbound SAs at once (one new snapshot): `(tunnel, sa, owner)`.
    pub fn publish_inbound_many(
        &mut self,
        sas: impl IntoIterator<Item = (TunnelId, Arc<Sa>, WorkerId)>,
    ) -> Result<(), TableError> {
        let mut next = self.inbound.clone();
        for (tunnel, sa, owner) in sas {
            self.check_sa(&sa, tunnel, SaDirection::Inbound)?;
            if owner >= self.fixed.workers {
                return Err(TableError::NoWorker(owner));
            }
            next.push((sa.spi(), InboundEntry { sa, owner, tunnel }));
        }
        self.republish(next)
    }

    /// Publishes one inbound SA of `tunnel`, decrypted by worker `owner` from the workers'
    /// next burst on. Its SPI must not be published already.
    pub fn publish_inbound(
        &mut self,
        tunnel: TunnelId,
        sa: Arc<Sa>,
        owner: WorkerId,
    ) -> Result<(), TableError> {
        self.publish_inbound_many([(tunnel, sa, owner)])
    }

    /// Unpublishes the inbound SA `spi` (packets that arrive for it afterwards are unknown
    /// SPIs). Returns its entry, or `None` if it was not published. The SA itself lives on
    /// while anyone (this return value, a worker still in its burst) holds it.
    pub fn unpublish_inbound(&mut self, spi: u32) -> Option<InboundEntry> {
        let i = self.inbound.iter().position(|(s, _)| *s == spi)?;
        let mut next = self.inbound.clone();
        let (_, entry) = next.remove(i);
        // Removing an entry cannot create a duplicate: this rebuild cannot fail.
        self.republish(next).ok()?;
        Some(entry)
    }

    /// Makes `sa` the outbound SA of `tunnel` (or removes it with `None`): one atomic
    /// pointer store. Returns the previous one. The tunnel's owner worker encrypts with it
    /// from its next burst; the sequence counter starts where the SA's own does.
    pub fn switch_outbound(
        &mut self,
        tunnel: TunnelId,
        sa: Option<Arc<Sa>>,
    ) -> Result<Option<Arc<Sa>>, TableError> {
        if let Some(sa) = &sa {
            self.check_sa(sa, tunnel, SaDirection::Outbound)?;
        }
        let t = self.tunnel(tunnel)?;
        t.outbound.replace(sa.clone());
        Ok(std::mem::replace(&mut self.outbound[tunnel as usize], sa))
    }

    /// The published inbound SAs, in publication order.
    pub fn inbound(&self) -> impl Iterator<Item = &InboundEntry> + '_ {
        self.inbound.iter().map(|(_, e)| e)
    }

    /// The published inbound SA `spi`.
    pub fn inbound_sa(&self, spi: u32) -> Option<&InboundEntry> {
        self.inbound.iter().find(|(s, _)| *s == spi).map(|(_, e)| e)
    }

    /// The outbound SA of `tunnel` as published.
    pub fn outbound(&self, tunnel: TunnelId) -> Option<&Arc<Sa>> {
        self.outbound.get(tunnel as usize)?.as_ref()
    }

    /// Drops, on this thread, what the workers can no longer hold (old snapshots, old
    /// outbound SAs). Returns how many values were dropped. Call it every tick.
    pub fn reclaim(&self) -> usize {
        // Let the epoch advance from this side too, so that replaced values become due
        // even while the workers are idle and pin rarely.
        qfp_epoch::collect(2);
        self.reclaim.drain()
    }

    /// The reclaimer's counters.
    pub fn reclaim_stats(&self) -> qfp_epoch::ReclaimStats {
        self.reclaim.stats()
    }

    /// Whether a worker can see `spi` in the current snapshot (for tests and checks).
    pub fn is_published(&self, spi: u32) -> bool {
        let g = pin();
        self.published.load(&g).inbound.get(spi).is_some()
    }
}
