//! The per-packet paths of a worker: a frame from the unprotected port (classify, owner
//! check, decap, route) and a frame from the protected port (policy, TTL, owner check,
//! encap). Each ends with the packet queued for a port, handed to another worker, punted
//! to the control core, or dropped under exactly one reason. See `worker` for the loop.

use crate::buf::PacketBuf;
use crate::drops::{DropReason, Event};
use crate::gateway::classify::{self, Inbound};
use crate::gateway::io::PortIo;
use crate::gateway::rings::{Job, PuntKind};
use crate::gateway::tables::{PortRole, Tables, TunnelId};
use crate::gateway::worker::{Lane, SpiCache};
use crate::pipeline::{DecapDrop, Decapped, SaAccum, decap_one, encap_one};
use crate::sa::Sa;
use crate::wire::{IpVersion, esp, eth, ipv4, ipv6};
use qfp_epoch::Guard;

impl<'s, I: PortIo> Lane<'s, I> {
    /// A frame from the unprotected port.
    #[inline]
    pub(super) fn on_unprotected<'g>(
        &mut self,
        t: &'g Tables,
        mut pkt: I::Pkt,
        now: u64,
        acc: &mut SaAccum<'g>,
        cache: &mut SpiCache<'g>,
    ) {
        let Some((hlen, v)) = classify::ethernet(pkt.data()) else {
            return self.drop_pkt(pkt, DropReason::UnknownL2);
        };
        if !pkt.is_contiguous() {
            return self
                .drop_pkt(pkt, too_big(v, DropReason::InLenTooBigV4, DropReason::InLenTooBigV6));
        }
        if pkt.adj(hlen).is_err() {
            return self.drop_pkt(pkt, DropReason::UnknownL2);
        }
        self.on_inbound_ip(t, pkt, now, acc, Some(cache));
    }

    /// An IP packet from the unprotected port. `cache` is `None` for a handed-off packet:
    /// its sender checked the owner already, and this worker is it.
    #[inline]
    pub(super) fn on_inbound_ip<'g>(
        &mut self,
        t: &'g Tables,
        mut pkt: I::Pkt,
        now: u64,
        acc: &mut SaAccum<'g>,
        cache: Option<&mut SpiCache<'g>>,
    ) {
        let (spi, from_peer) = match classify::inbound(pkt.data(), &t.fixed) {
            Inbound::Esp { spi, from_peer } => (spi, from_peer),
            Inbound::Malformed => return self.drop_pkt(pkt, DropReason::IpVersion),
            Inbound::NotForUs => return self.drop_pkt(pkt, DropReason::NotForUs),
            Inbound::Other => return self.drop_pkt(pkt, DropReason::ForUsUnhandled),
            Inbound::PeerChannel { from_peer: true } => {
                return self.punt(pkt, PuntKind::PeerChannel);
            }
            Inbound::PeerChannel { from_peer: false } => {
                return self.drop_pkt(pkt, DropReason::PeerChannelDeny);
            }
        };
        let entry = match (spi, cache) {
            (Some(spi), Some(cache)) => cache.get(spi, t),
            (Some(spi), None) => t.inbound.get(spi),
            (None, _) => None,
        };
        if let Some(e) = entry
            && e.owner != self.id
        {
            return self.handoff(pkt, e.owner, Job::Decap);
        }
        // decap looks the SPI up again: answer with the entry the owner check found.
        let found: Option<&'g Sa> = entry.map(|e| &*e.sa);
        let lookup = |s: u32| found.filter(|sa| sa.spi() == s);
        let natt = |p: u16| t.fixed.is_natt_port(p);
        match decap_one(&mut pkt, lookup, now, acc, natt) {
            Ok(Decapped::Inner { version, .. }) => {
                self.stats.counters.count_event(Event::Decrypted);
                self.route(t, pkt, version);
            }
            Ok(Decapped::NattKeepalive) => {
                self.stats.counters.count_event(Event::NattKeepalive);
            }
            Ok(Decapped::NonEsp) if from_peer => self.punt(pkt, PuntKind::Ike),
            Ok(Decapped::NonEsp) => self.drop_pkt(pkt, DropReason::PeerChannelDeny),
            Ok(Decapped::NotEsp) => self.drop_pkt(pkt, DropReason::ForUsUnhandled),
            Err(DecapDrop { reason, invalid_spi }) => {
                self.drop_pkt(pkt, reason);
                if let Some(e) = invalid_spi {
                    self.report(e, now);
                }
            }
        }
    }

    /// A decapsulated packet: route, TTL, Ethernet, protected port.
    #[inline]
    fn route(&mut self, t: &Tables, mut pkt: I::Pkt, v: IpVersion) {
        let fixed = &t.fixed;
        let data = pkt.data_mut();
        let (route, alive) = match v {
            IpVersion::V4 => {
                let mut p = ipv4::Packet::new_unchecked(&mut data[..]);
                let r = fixed.routes.lookup_v4(p.dst_bytes());
                (r, r.is_none() || p.decrement_ttl().is_some())
            }
            IpVersion::V6 => {
                let mut p = ipv6::Packet::new_unchecked(&mut data[..]);
                let r = fixed.routes.lookup_v6(p.dst_bytes());
                (r, r.is_none() || p.decrement_hop_limit().is_some())
            }
        };
        let Some(r) = route else { return self.drop_pkt(pkt, DropReason::NoRoute) };
        if !alive {
            return self.drop_pkt(pkt, DropReason::TtlExceeded);
        }
        if pkt.prepend(eth::HEADER_LEN).is_err() {
            return self.drop_pkt(pkt, DropReason::NoBuffer);
        }
        let src = fixed.port_macs[PortRole::Protected.index()];
        classify::write_ethernet(pkt.data_mut(), fixed.route_macs[r as usize], src, v);
        self.send(PortRole::Protected, pkt);
    }

    /// A frame from the protected port: policy, TTL, then encap here or on the owner.
    #[inline]
    pub(super) fn on_protected<'g>(
        &mut self,
        t: &'g Tables,
        guard: &'g Guard,
        mut pkt: I::Pkt,
        now: u64,
        acc: &mut SaAccum<'g>,
    ) {
        let Some((hlen, v)) = classify::ethernet(pkt.data()) else {
            return self.drop_pkt(pkt, DropReason::UnknownL2);
        };
        if !pkt.is_contiguous() {
            return self
                .drop_pkt(pkt, too_big(v, DropReason::LenTooBig, DropReason::OutLenTooBigV6));
        }
        if pkt.adj(hlen).is_err() {
            return self.drop_pkt(pkt, DropReason::UnknownL2);
        }
        let fixed = &t.fixed;
        let checksum_done = pkt.ip_checksum_verified();
        let data = pkt.data_mut();
        let tunnel = match IpVersion::of_packet(data) {
            Some(IpVersion::V4) => {
                let Ok(mut p) = ipv4::Packet::new_checked(&mut data[..]) else {
                    return self.drop_pkt(pkt, DropReason::UnknownL2);
                };
                if !checksum_done && !p.verify_checksum() {
                    return self.drop_pkt(pkt, DropReason::BadIpChecksum);
                }
                let Some(tunnel) = fixed.policy.lookup_v4(p.dst_bytes()) else {
                    return self.drop_pkt(pkt, DropReason::DenyV4);
                };
                if p.decrement_ttl().is_none() {
                    return self.drop_pkt(pkt, DropReason::TtlExceeded);
                }
                tunnel
            }
            Some(IpVersion::V6) => {
                let Ok(mut p) = ipv6::Packet::new_checked(&mut data[..]) else {
                    return self.drop_pkt(pkt, DropReason::UnknownL2);
                };
                let Some(tunnel) = fixed.policy.lookup_v6(p.dst_bytes()) else {
                    return self.drop_pkt(pkt, DropReason::DenyV6);
                };
                if p.decrement_hop_limit().is_none() {
                    return self.drop_pkt(pkt, DropReason::TtlExceeded);
                }
                tunnel
            }
            None => return self.drop_pkt(pkt, DropReason::UnknownL2),
        };
        let owner = fixed.tunnels[tunnel as usize].owner;
        if owner != self.id {
            return self.handoff(pkt, owner, Job::Encap(tunnel));
        }
        self.encap(t, guard, pkt, tunnel, now, acc);
    }

    /// Encrypts with the tunnel's outbound SA (this worker owns it) and sends.
    #[inline]
    pub(super) fn encap<'g>(
        &mut self,
        t: &'g Tables,
        guard: &'g Guard,
        mut pkt: I::Pkt,
        tunnel: TunnelId,
        now: u64,
        acc: &mut SaAccum<'g>,
    ) {
        let fixed = &t.fixed;
        let Some(tun) = fixed.tunnels.get(tunnel as usize) else {
            return self.drop_pkt(pkt, DropReason::DenyV4);
        };
        let Some(sa) = tun.outbound(guard) else {
            let r = match IpVersion::of_packet(pkt.data()) {
                Some(IpVersion::V6) => DropReason::OutSaNotFoundV6,
                _ => DropReason::OutSaNotFoundV4,
            };
            return self.drop_pkt(pkt, r);
        };
        // Room for the Ethernet header too, checked before the SA spends a sequence number.
        let head = sa.outer_header_len() + esp::HEADER_LEN + esp::IV_LEN + eth::HEADER_LEN;
        if pkt.headroom() < head {
            return self.drop_pkt(pkt, DropReason::NoBuffer);
        }
        if let Err(r) = encap_one(&mut pkt, sa, now, acc) {
            return self.drop_pkt(pkt, r);
        }
        self.stats.counters.count_event(Event::Encrypted);
        if pkt.prepend(eth::HEADER_LEN).is_err() {
            return self.drop_pkt(pkt, DropReason::NoBuffer);
        }
        let src = fixed.port_macs[PortRole::Unprotected.index()];
        classify::write_ethernet(pkt.data_mut(), tun.next_hop_mac, src, tun.outer);
        self.send(PortRole::Unprotected, pkt);
    }
}

/// The reason for a frame longer than one buffer (a chained mbuf: a jumbo beyond the data
/// room, which is sized for the largest tunnel MTU), by the IP version its EtherType says.
/// Only the first segment would be parsed, so it is dropped before anything reads past it.
#[inline]
fn too_big(v: IpVersion, v4: DropReason, v6: DropReason) -> DropReason {
    match v {
        IpVersion::V4 => v4,
        IpVersion::V6 => v6,
    }
}
