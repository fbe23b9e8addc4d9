//! The peer channel's datagrams, both ways: reading one the workers punted (outer IP and
//! UDP header, checked) and building one the control core sends (Ethernet, IP, UDP with
//! its checksum) for a worker to transmit on the unprotected port.

use crate::gateway::classify::write_ethernet;
use crate::wire::eth::{self, MacAddr};
use crate::wire::{IpVersion, ip_proto, ipv4, ipv6, udp};
use core::net::IpAddr;

/// A UDP datagram as received: addresses, ports and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// Outer source address (the peer).
    pub src: IpAddr,
    /// Outer destination address (ours).
    pub dst: IpAddr,
    /// UDP source port.
    pub src_port: u16,
    /// UDP destination port.
    pub dst_port: u16,
    /// The UDP payload.
    pub payload: &'a [u8],
}

/// Reads the IP + UDP datagram at the start of `ip` (what a punt carries). `None` if it is
/// not a whole, unfragmented UDP datagram.
pub fn parse(ip: &[u8]) -> Option<Datagram<'_>> {
    let (src, dst, l4) = match IpVersion::of_packet(ip)? {
        IpVersion::V4 => {
            let p = ipv4::Packet::new_checked(ip).ok()?;
            if p.protocol() != ip_proto::UDP || p.is_fragment() {
                return None;
            }
            let l4 = &ip[p.header_len()..usize::from(p.total_len())];
            (IpAddr::V4(p.src_addr()), IpAddr::V4(p.dst_addr()), l4)
        }
        IpVersion::V6 => {
            let p = ipv6::Packet::new_checked(ip).ok()?;
            if p.next_header() != ip_proto::UDP {
                return None;
            }
            (
                IpAddr::V6(p.src_addr()),
                IpAddr::V6(p.dst_addr()),
                &ip[ipv6::HEADER_LEN..p.total_len()],
            )
        }
    };
    let u = udp::Packet::new_checked(l4).ok()?;
    let (src_port, dst_port, len) = (u.src_port(), u.dst_port(), usize::from(u.len()));
    let payload = &l4[udp::HEADER_LEN..len];
    Some(Datagram { src, dst, src_port, dst_port, payload })
}

/// An Ethernet frame carrying `payload` in UDP from `src:port` to `dst:port` (one family),
/// from MAC `src_mac` to `dst_mac`; IPv4 with DF, TTL / hop limit 64, UDP checksum filled.
/// `None` when the families differ or the datagram would exceed 65535 bytes.
pub fn build(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: IpAddr,
    dst: IpAddr,
    port: u16,
    payload: &[u8],
) -> Option<Vec<u8>> {
    let udp_len = udp::HEADER_LEN + payload.len();
    let (v, ip_len) = match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => (IpVersion::V4, ipv4::HEADER_LEN),
        (IpAddr::V6(_), IpAddr::V6(_)) => (IpVersion::V6, ipv6::HEADER_LEN),
        _ => return None,
    };
    if ip_len + udp_len > usize::from(u16::MAX) {
        return None;
    }
    let mut f = vec![0u8; eth::HEADER_LEN + ip_len + udp_len];
    write_ethernet(&mut f, dst_mac, src_mac, v);
    let (ip, l4) = f[eth::HEADER_LEN..].split_at_mut(ip_len);
    udp::Repr { src_port: port, dst_port: port, payload_len: payload.len() }.emit(l4);
    l4[udp::HEADER_LEN..].copy_from_slice(payload);
    let mut u = udp::Packet::new_unchecked(&mut l4[..]);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            ipv4::Repr {
                src: s,
                dst: d,
                protocol: ip_proto::UDP,
                payload_len: udp_len,
                tos: 0,
                ident: 0,
                dont_frag: true,
                ttl: ipv4::DEFAULT_TTL,
            }
            .emit(ip);
            u.fill_checksum_v4(s, d);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            ipv6::Repr {
                src: s,
                dst: d,
                next_header: ip_proto::UDP,
                payload_len: udp_len,
                hop_limit: ipv6::DEFAULT_HOP_LIMIT,
                traffic_class: 0,
                flow_label: 0,
            }
            .emit(ip);
            u.fill_checksum_v6(s, d);
        }
        _ => return None,
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_datagrams_parse_back_with_good_checksums() {
        for (s, d) in [("172.16.1.5", "172.16.2.5"), ("2001:db8::1", "2001:db8::2")] {
            let (s, d): (IpAddr, IpAddr) = (s.parse().unwrap(), d.parse().unwrap());
            let f = build([2; 6], [4; 6], s, d, 500, b"rekey-init").unwrap();
            assert_eq!((&f[..6], &f[6..12]), (&[4u8; 6][..], &[2u8; 6][..]));
            let g = parse(&f[14..]).unwrap();
            assert_eq!(
                (g.src, g.dst, g.src_port, g.dst_port, g.payload),
                (s, d, 500, 500, &b"rekey-init"[..])
            );
            let u = udp::Packet::new_checked(&f[14 + if s.is_ipv4() { 20 } else { 40 }..]).unwrap();
            let ok = match (s, d) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    ipv4::Packet::new_checked(&f[14..]).unwrap().verify_checksum()
                        && u.verify_checksum_v4(s, d)
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => u.verify_checksum_v6(s, d),
                _ => false,
            };
            assert!(ok, "checksums");
        }
        assert!(
            build([2; 6], [4; 6], "10.0.0.1".parse().unwrap(), "::1".parse().unwrap(), 500, b"")
                .is_none()
        );
        assert!(parse(&[0x45, 0, 0, 20]).is_none());
    }
}
