//! The tables every worker reads on every burst, and how they are shared.
//!
//! [`Tables`] is one immutable snapshot, published by the control core in a
//! `qfp_epoch::Published<Tables>` and loaded by a worker once per burst inside its epoch pin:
//!
//! - `inbound`: SPI → [`InboundEntry`] (the `Arc<Sa>`, its owner worker, its tunnel), an
//!   open-addressing [`SpiMap`] rebuilt copy-on-write when SAs are added or removed. The
//!   `Arc<Sa>`s are shared between the old and the new map, so an SA that survives a
//!   rebuild keeps its replay window, counters and lifetime state untouched.
//! - `fixed`: everything that does not change while the gateway runs, behind one `Arc` that
//!   every snapshot shares: the tunnels ([`TunnelRt`]), the policy (inner destination →
//!   tunnel, longest prefix over the selectors), the routes (inner destination → next-hop
//!   MAC), our outer addresses, the configured peers' addresses, the peer-channel and NAT-T
//!   ports and the ports' MAC addresses.
//!
//! A tunnel's outbound SA is *not* in the snapshot: each [`TunnelRt`] has its own
//! `Published<Option<Arc<Sa>>>` slot, so switching a tunnel to a new outbound SA is one
//! atomic pointer store, whatever the number of tunnels and without rebuilding anything.
//! A worker that loaded the old SA a moment before finishes its packet with it (a whole,
//! valid SA); the next load sees the new one.

use crate::gateway::lpm::PrefixTable;
use crate::gateway::spimap::SpiMap;
use crate::sa::Sa;
use crate::wire::IpVersion;
use crate::wire::eth::MacAddr;
use core::net::IpAddr;
use qfp_epoch::{Guard, Published};
use std::sync::Arc;

/// A worker's index (0-based; worker i polls rx queue i of each port).
pub type WorkerId = u16;

/// A tunnel's index in [`Fixed::tunnels`] (stable for the life of the gateway).
pub type TunnelId = u32;

/// The two ports of the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortRole {
    /// The plain (LAN) side.
    Protected = 0,
    /// The ESP (WAN) side.
    Unprotected = 1,
}

impl PortRole {
    /// Both, in index order.
    pub const BOTH: [PortRole; 2] = [PortRole::Protected, PortRole::Unprotected];

    /// 0 or 1.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// "protected" / "unprotected".
    pub const fn name(self) -> &'static str {
        match self {
            PortRole::Protected => "protected",
            PortRole::Unprotected => "unprotected",
        }
    }
}

/// One published inbound SA.
#[derive(Debug, Clone)]
pub struct InboundEntry {
    /// The SA (shared with every other snapshot that holds it).
    pub sa: Arc<Sa>,
    /// The only worker that decrypts with it (its replay window is single-writer).
    pub owner: WorkerId,
    /// The tunnel it belongs to.
    pub tunnel: TunnelId,
}

/// A tunnel as the workers see it.
#[derive(Debug)]
pub struct TunnelRt {
    /// Its name (stats, logs).
    pub name: String,
    /// The only worker that encrypts for this tunnel (its outbound SA's sequence counter is
    /// single-writer). Fixed for the tunnel's life: two workers must never hold the same
    /// outbound SA as owner, even for a moment.
    pub owner: WorkerId,
    /// Destination MAC of the ESP frames towards the peer.
    pub next_hop_mac: MacAddr,
    /// Outer IP version (the peer's family).
    pub outer: IpVersion,
    /// The peer's outer address.
    pub peer: IpAddr,
    /// Our outer address on this tunnel.
    pub local: IpAddr,
    /// The active outbound SA, switched with one atomic store.
    pub(crate) outbound: Published<Option<Arc<Sa>>>,
}

impl TunnelRt {
    /// The outbound SA now, valid while `guard` lives.
    #[inline]
    pub fn outbound<'g>(&'g self, guard: &'g Guard) -> Option<&'g Sa> {
        self.outbound.load(guard).as_deref()
    }
}

/// A set of addresses: sorted, searched linearly while it is a handful (our own
/// addresses; a few peers), by bisection when it is large (one peer per tunnel, thousands
/// of tunnels: a linear scan there cost 5x the whole decap path at 1000 tunnels).
#[derive(Debug, Clone, Default)]
pub struct AddrSet {
    v4: Box<[[u8; 4]]>,
    v6: Box<[[u8; 16]]>,
}

/// Whether sorted `set` holds `a`.
#[inline]
fn find<T: Ord>(set: &[T], a: &T) -> bool {
    if set.len() <= 8 { set.contains(a) } else { set.binary_search(a).is_ok() }
}

impl AddrSet {
    /// The set of `addrs`.
    pub fn new(addrs: &[IpAddr]) -> AddrSet {
        let mut v4: Vec<[u8; 4]> = Vec::new();
        let mut v6: Vec<[u8; 16]> = Vec::new();
        for a in addrs {
            match a {
                IpAddr::V4(a) => v4.push(a.octets()),
                IpAddr::V6(a) => v6.push(a.octets()),
            }
        }
        v4.sort_unstable();
        v4.dedup();
        v6.sort_unstable();
        v6.dedup();
        AddrSet { v4: v4.into(), v6: v6.into() }
    }

    /// Whether the IPv4 address is in the set.
    #[inline]
    pub fn contains_v4(&self, a: [u8; 4]) -> bool {
        find(&self.v4, &a)
    }

    /// Whether the IPv6 address is in the set.
    #[inline]
    pub fn contains_v6(&self, a: [u8; 16]) -> bool {
        find(&self.v6, &a)
    }

    /// Whether `a` is in the set.
    pub fn contains(&self, a: IpAddr) -> bool {
        match a {
            IpAddr::V4(a) => self.contains_v4(a.octets()),
            IpAddr::V6(a) => self.contains_v6(a.octets()),
        }
    }
}

/// What the workers read and the control core never changes while the gateway runs
/// (except through the tunnels' outbound slots).
#[derive(Debug)]
pub struct Fixed {
    /// Number of workers.
    pub workers: u16,
    /// Tunnels, indexed by [`TunnelId`].
    pub tunnels: Box<[TunnelRt]>,
    /// Inner destination → tunnel (the tunnels' selectors; they never overlap).
    pub policy: PrefixTable<TunnelId>,
    /// Inner destination → index in `route_macs` (longest prefix).
    pub routes: PrefixTable<u32>,
    /// Next-hop MAC of each route.
    pub route_macs: Box<[MacAddr]>,
    /// Our outer addresses (ESP and the peer channel are accepted only for these).
    pub locals: AddrSet,
    /// The configured peers' outer addresses (the only senders the peer channel accepts).
    pub peers: AddrSet,
    /// UDP port of the peer channel.
    pub peer_port: u16,
    /// Our NAT-T UDP ports (4500 and any `natt_local_port`).
    pub natt_ports: Box<[u16]>,
    /// MAC address of each port, by [`PortRole`] index (the source of what we send).
    pub port_macs: [MacAddr; 2],
}

impl Fixed {
    /// Whether UDP to `port` is ESP-in-UDP for us.
    #[inline]
    pub fn is_natt_port(&self, port: u16) -> bool {
        self.natt_ports.contains(&port)
    }
}

/// One published snapshot of the tables.
#[derive(Debug)]
pub struct Tables {
    /// SPI → inbound SA.
    pub inbound: SpiMap<InboundEntry>,
    /// The unchanging part, shared by every snapshot.
    pub fixed: Arc<Fixed>,
}

impl crate::pipeline::SaLookup for SpiMap<InboundEntry> {
    fn lookup(&self, spi: u32) -> Option<&Sa> {
        self.get(spi).map(|e| &*e.sa)
    }
}

#[cfg(test)]
mod tests {
    use super::AddrSet;
    use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    /// Small sets are scanned, large ones bisected: both must answer as a linear search.
    #[test]
    fn addr_sets_small_and_large_answer_like_a_linear_search() {
        for n in [0u32, 1, 3, 8, 9, 100, 5000] {
            // Every third address of a range, both families, in scrambled order.
            let members: Vec<IpAddr> = (0..n)
                .map(|i| (i * 7919) % n.max(1))
                .flat_map(|i| {
                    [
                        IpAddr::V4(Ipv4Addr::from(0xac10_0000 + 3 * i)),
                        IpAddr::V6(Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(3 * i))),
                    ]
                })
                .collect();
            let set = AddrSet::new(&members);
            for probe in 0..3 * n + 3 {
                let v4 = IpAddr::V4(Ipv4Addr::from(0xac10_0000 + probe));
                let v6 = IpAddr::V6(Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(probe)));
                assert_eq!(set.contains(v4), members.contains(&v4), "n {n}, {v4}");
                assert_eq!(set.contains(v6), members.contains(&v6), "n {n}, {v6}");
            }
        }
    }
}
