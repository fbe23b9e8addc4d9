//! The tunnel side of an SA: outer addresses, NAT-T ports, MTU, and the outer header
//! template every packet of the SA starts from (built once, when the SA is built).

use crate::wire::{IpVersion, checksum, ip_proto, ipv4, ipv6, udp};
use core::net::{Ipv4Addr, Ipv6Addr};

/// The tunnel's outer addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoints {
    /// IPv4 outer header.
    V4 {
        /// Our address (outer source when sending).
        local: Ipv4Addr,
        /// The peer's address.
        remote: Ipv4Addr,
    },
    /// IPv6 outer header.
    V6 {
        /// Our address.
        local: Ipv6Addr,
        /// The peer's address.
        remote: Ipv6Addr,
    },
}

impl Endpoints {
    /// The outer IP version.
    pub const fn version(&self) -> IpVersion {
        match self {
            Endpoints::V4 { .. } => IpVersion::V4,
            Endpoints::V6 { .. } => IpVersion::V6,
        }
    }
}

/// UDP ports of ESP-in-UDP (RFC 3948), normally 4500 on both sides (the remote one may be
/// a NAT's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NattPorts {
    /// Our port (outer source port when sending).
    pub local: u16,
    /// The peer's port.
    pub remote: u16,
}

impl Default for NattPorts {
    fn default() -> Self {
        NattPorts { local: udp::NATT_PORT, remote: udp::NATT_PORT }
    }
}

/// The tunnel an SA belongs to, as far as the packet path is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tunnel {
    /// Outer addresses.
    pub endpoints: Endpoints,
    /// ESP-in-UDP encapsulation, if any.
    pub natt: Option<NattPorts>,
    /// Path MTU for the outer packet (config `mtu`); qfp never sends a larger packet.
    pub mtu: u16,
}

/// The IPv6 flow label of an SA's outer packets: a hash of the SPI, never 0. One label per
/// SA keeps an SA on one ECMP path (so its packets stay in order for the peer's replay
/// window) while different SAs spread over paths (RFC 6438 in spirit).
pub const fn flow_label_for(spi: u32) -> u32 {
    let h = spi.wrapping_mul(0x9e37_79b1);
    let l = (h >> 12) & 0xf_ffff;
    if l == 0 { 1 } else { l }
}

/// Longest outer header: IPv6 + UDP.
const MAX_OUTER: usize = ipv6::HEADER_LEN + udp::HEADER_LEN;

/// The outer IP (+ UDP) header of every packet an SA sends, built once. Per packet the
/// encap writes Total Length / Payload Length, ID, DF, TOS / Traffic Class and the IPv4
/// checksum, which starts from `sum` (the template's own one's-complement sum).
#[derive(Debug, Clone)]
pub(crate) struct OuterTemplate {
    pub(crate) bytes: [u8; MAX_OUTER],
    pub(crate) len: usize,
    pub(crate) ip_len: usize,
    pub(crate) sum: u32,
}

impl OuterTemplate {
    pub(crate) fn new(tunnel: &Tunnel, spi: u32) -> OuterTemplate {
        let mut bytes = [0u8; MAX_OUTER];
        let proto = if tunnel.natt.is_some() { ip_proto::UDP } else { ip_proto::ESP };
        let ip_len = match tunnel.endpoints {
            Endpoints::V4 { local, remote } => {
                let r = ipv4::Repr {
                    src: local,
                    dst: remote,
                    protocol: proto,
                    payload_len: 0,
                    tos: 0,
                    ident: 0,
                    dont_frag: false,
                    ttl: ipv4::DEFAULT_TTL,
                };
                r.emit(&mut bytes);
                let mut p = ipv4::Packet::new_unchecked(&mut bytes[..ipv4::HEADER_LEN]);
                p.set_total_len(0);
                p.set_checksum(0);
                ipv4::HEADER_LEN
            }
            Endpoints::V6 { local, remote } => {
                let r = ipv6::Repr {
                    src: local,
                    dst: remote,
                    next_header: proto,
                    payload_len: 0,
                    hop_limit: ipv6::DEFAULT_HOP_LIMIT,
                    traffic_class: 0,
                    flow_label: flow_label_for(spi),
                };
                r.emit(&mut bytes);
                ipv6::HEADER_LEN
            }
        };
        let mut len = ip_len;
        if let Some(n) = tunnel.natt {
            udp::Repr { src_port: n.local, dst_port: n.remote, payload_len: 0 }
                .emit(&mut bytes[ip_len..]);
            let mut u = udp::Packet::new_unchecked(&mut bytes[ip_len..ip_len + udp::HEADER_LEN]);
            u.set_len(0);
            len += udp::HEADER_LEN;
        }
        let sum = checksum::sum(0, &bytes[..ip_len.min(ipv4::HEADER_LEN)]);
        OuterTemplate { bytes, len, ip_len, sum }
    }
}
