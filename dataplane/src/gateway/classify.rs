//! Classification at the door: what a received frame is, before any SA is looked at.
//!
//! **Ethernet and VLANs.** qfp's ports are untagged access ports. A frame is accepted when
//! it is Ethernet II carrying IPv4 or IPv6, either untagged or with an 802.1Q *priority*
//! tag (VLAN id 0, which 802.1p senders add to carry a priority only); the tag is stripped
//! with the rest of the header and what qfp sends is untagged. A frame tagged with a real
//! VLAN id, a QinQ frame, ARP, LLDP, any other EtherType and a runt is `UnknownL2`.
//!
//! **The unprotected port** ([`inbound`]). Only traffic addressed to one of our outer
//! addresses is ours: ESP (protocol 50), UDP to one of our NAT-T ports (ESP in UDP,
//! NAT-keepalives, IKE), and UDP to the peer-channel port. Everything else addressed to us
//! is `ForUsUnhandled`; anything not addressed to us is `NotForUs`. Only the header is
//! read here; [`crate::pipeline::decap`] checks the rest (checksum, fragments, lengths), so
//! a malformed ESP packet gets decap's precise reason.

use crate::gateway::tables::Fixed;
use crate::wire::eth::{self, Frame, ethertype};
use crate::wire::{IpVersion, ip_proto, ipv4, ipv6};

/// The Ethernet header of an accepted frame: its length (14 or 18) and the IP version the
/// EtherType announces. `None`: `UnknownL2`.
#[inline]
pub fn ethernet(frame: &[u8]) -> Option<(usize, IpVersion)> {
    let f = Frame::new_checked(frame).ok()?;
    if let Some(tci) = f.vlan_tci()
        && tci & 0x0fff != 0
    {
        return None;
    }
    let v = match f.ethertype() {
        ethertype::IPV4 => IpVersion::V4,
        ethertype::IPV6 => IpVersion::V6,
        _ => return None,
    };
    Some((f.header_len(), v))
}

/// The EtherType for an IP version.
#[inline]
pub const fn ethertype_of(v: IpVersion) -> u16 {
    match v {
        IpVersion::V4 => ethertype::IPV4,
        IpVersion::V6 => ethertype::IPV6,
    }
}

/// Writes a 14-byte untagged Ethernet header at the start of `buf`.
#[inline]
pub fn write_ethernet(buf: &mut [u8], dst: eth::MacAddr, src: eth::MacAddr, v: IpVersion) {
    buf[0..6].copy_from_slice(&dst);
    buf[6..12].copy_from_slice(&src);
    buf[12..14].copy_from_slice(&ethertype_of(v).to_be_bytes());
}

/// What an IP packet on the unprotected port is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inbound {
    /// The outer IP header does not parse: `IN_PKT_IPVER_INVALID`.
    Malformed,
    /// Not addressed to one of our outer addresses.
    NotForUs,
    /// ESP, plain or in UDP, for decap. `spi` is the SPI when the header is there to read
    /// (the owner check needs it); `None` sends the packet to decap as it is, which then
    /// names what is wrong or what it is (fragment, keepalive, IKE, truncated).
    Esp {
        /// The SPI, if readable.
        spi: Option<u32>,
        /// Whether the sender is a configured peer (decides where IKE on a NAT-T port goes);
        /// only looked up for UDP, false for plain ESP (which is never IKE).
        from_peer: bool,
    },
    /// UDP to the peer-channel port; `from_peer` if the source is a configured peer.
    PeerChannel {
        /// Whether the sender is a configured peer.
        from_peer: bool,
    },
    /// Addressed to us, but none of the above.
    Other,
}

#[inline]
fn be32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

/// Classifies the IP packet `ip` (Ethernet header removed) received on the unprotected
/// port.
#[inline]
pub fn inbound(ip: &[u8], fixed: &Fixed) -> Inbound {
    // (to us, the source, protocol, layer-4 bytes, fragment or extension header)
    let (to_us, src, proto, l4, odd) = match IpVersion::of_packet(ip) {
        Some(IpVersion::V4) => {
            let Ok(p) = ipv4::Packet::new_checked(ip) else { return Inbound::Malformed };
            (
                fixed.locals.contains_v4(p.dst_bytes()),
                Src::V4(p.src_bytes()),
                p.protocol(),
                &ip[p.header_len()..usize::from(p.total_len())],
                p.is_fragment(),
            )
        }
        Some(IpVersion::V6) => {
            let Ok(p) = ipv6::Packet::new_checked(ip) else { return Inbound::Malformed };
            let nh = p.next_header();
            (
                fixed.locals.contains_v6(p.dst_bytes()),
                Src::V6(p.src_bytes()),
                nh,
                &ip[ipv6::HEADER_LEN..p.total_len()],
                ipv6::is_extension_header(nh),
            )
        }
        None => return Inbound::Malformed,
    };
    if !to_us {
        return Inbound::NotForUs;
    }
    // Whether the sender is a configured peer matters only for UDP (IKE on a NAT-T port,
    // the peer channel): plain ESP, the bulk of the traffic, skips the lookup.
    let from_peer = || match src {
        Src::V4(a) => fixed.peers.contains_v4(a),
        Src::V6(a) => fixed.peers.contains_v6(a),
    };
    match proto {
        ip_proto::ESP => Inbound::Esp { spi: if odd { None } else { be32(l4) }, from_peer: false },
        ip_proto::UDP if odd => Inbound::Esp { spi: None, from_peer: from_peer() },
        ip_proto::UDP => {
            let Some(dport) = l4.get(2..4).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
                return Inbound::Other;
            };
            if fixed.is_natt_port(dport) {
                // SPI 0 is the non-ESP marker (IKE); a keepalive is one byte: decap says.
                Inbound::Esp {
                    spi: l4.get(8..).and_then(be32).filter(|&s| s != 0),
                    from_peer: from_peer(),
                }
            } else if dport == fixed.peer_port {
                Inbound::PeerChannel { from_peer: from_peer() }
            } else {
                Inbound::Other
            }
        }
        // An IPv6 extension header we do not walk: decap names it.
        _ if odd => Inbound::Esp { spi: None, from_peer: false },
        _ => Inbound::Other,
    }
}

/// The SPI of a frame that looks like plain ESP (IPv4 or IPv6, protocol 50), read with
/// bounds checks only: a hint to prefetch its SA before the burst is processed. It decides
/// nothing: every packet is classified by [`inbound`] when its turn comes.
#[inline]
pub fn esp_spi_hint(frame: &[u8]) -> Option<u32> {
    let (hlen, v) = ethernet(frame)?;
    let ip = frame.get(hlen..)?;
    let (proto, l4) = match v {
        IpVersion::V4 => (*ip.get(9)?, usize::from(ip[0] & 0x0f) * 4),
        IpVersion::V6 => (*ip.get(6)?, ipv6::HEADER_LEN),
    };
    if proto != ip_proto::ESP {
        return None;
    }
    be32(ip.get(l4..)?)
}

/// The outer source address, looked up in the peers only when it matters.
#[derive(Clone, Copy)]
enum Src {
    V4([u8; 4]),
    V6([u8; 16]),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ethertype: u16, tag: Option<u16>, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        if let Some(tci) = tag {
            f.extend_from_slice(&0x8100u16.to_be_bytes());
            f.extend_from_slice(&tci.to_be_bytes());
        }
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn ethernet_policy() {
        let p = [0x45u8; 20];
        assert_eq!(ethernet(&frame(0x0800, None, &p)), Some((14, IpVersion::V4)));
        assert_eq!(ethernet(&frame(0x86dd, None, &p)), Some((14, IpVersion::V6)));
        // Priority tag (VLAN 0, PCP 5) accepted; a real VLAN is not ours.
        assert_eq!(ethernet(&frame(0x0800, Some(0xa000), &p)), Some((18, IpVersion::V4)));
        assert_eq!(ethernet(&frame(0x0800, Some(100), &p)), None);
        assert_eq!(ethernet(&frame(0x0806, None, &p)), None, "ARP");
        assert_eq!(ethernet(&frame(0x88cc, None, &p)), None, "LLDP");
        assert_eq!(ethernet(&frame(0x8100, Some(0), &p)), None, "QinQ");
        assert_eq!(ethernet(&[0u8; 10]), None, "runt");
        let mut b = [0u8; 14];
        write_ethernet(&mut b, [1; 6], [2; 6], IpVersion::V6);
        assert_eq!(&b[12..], &[0x86, 0xdd]);
    }
}
