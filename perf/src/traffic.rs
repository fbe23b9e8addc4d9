//! Flows and the packets that carry them: IPv4 or IPv6 UDP with the load header
//! ([`crate::payload`]), in an Ethernet frame. Shared by `qfp pcap` (whole packets, written
//! once) and `qfp gen` (templates patched per packet with [`patch_header`]).
//!
//! A [`FlowSet`] spreads `flows` flows over a source and a destination prefix: flow `i`
//! takes the `i`-th usable host of each prefix (wrapping) and source port `1024 + i`
//! (wrapping below 65536), destination port [`DST_PORT`]. Addresses and ports both vary, so
//! RSS over IP addresses or over the 5-tuple spreads the flows over queues.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use dataplane::selector::Prefix;
use dataplane::wire::{checksum, eth, ipv4, ipv6, udp};

use crate::payload::{self, ETH_OVERHEAD, FCS_LEN, HEADER_LEN, Header};

/// UDP destination port of every flow: 9, the discard service.
pub const DST_PORT: u16 = 9;
/// UDP source port of flow 0.
pub const FIRST_SRC_PORT: u16 = 1024;
/// IPv4 TTL and IPv6 hop limit of generated packets.
pub const TTL: u8 = 64;

/// One flow's addresses and ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// UDP source port.
    pub sport: u16,
    /// UDP destination port.
    pub dport: u16,
}

/// `flows` flows from hosts of `src` to hosts of `dst` (same family).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowSet {
    /// Where sources come from.
    pub src: Prefix,
    /// Where destinations come from.
    pub dst: Prefix,
    /// Number of flows, at least 1.
    pub flows: u32,
}

/// The `n`-th usable host of `p`, wrapping: the network address (and the IPv4 broadcast
/// address) are skipped when the prefix has more than two addresses.
pub fn host(p: &Prefix, n: u64) -> IpAddr {
    match *p {
        Prefix::V4 { net, len, .. } => {
            let size = 1u64 << (32 - u32::from(len));
            let (first, usable) = if size <= 2 { (0, size) } else { (1, size - 2) };
            IpAddr::V4(Ipv4Addr::from(net + (first + n % usable) as u32))
        }
        Prefix::V6 { net, len, .. } => {
            let bits = 128 - u32::from(len);
            // Beyond 2^63 hosts, the first 2^63 are plenty.
            let size = if bits >= 63 { 1u64 << 63 } else { 1u64 << bits };
            let (first, usable) = if size <= 2 { (0, size) } else { (1, size - 1) };
            IpAddr::V6(Ipv6Addr::from(net + u128::from(first + n % usable)))
        }
    }
}

/// True for an IPv6 prefix.
pub fn is_v6(p: &Prefix) -> bool {
    matches!(p, Prefix::V6 { .. })
}

impl FlowSet {
    /// A flow set; `None` if the prefixes are of different families or `flows` is 0.
    pub fn new(src: Prefix, dst: Prefix, flows: u32) -> Option<FlowSet> {
        (is_v6(&src) == is_v6(&dst) && flows > 0).then_some(FlowSet { src, dst, flows })
    }

    /// True when the flows are IPv6.
    pub fn is_v6(&self) -> bool {
        is_v6(&self.src)
    }

    /// The same flows, the other way round (sources and destinations swapped).
    pub fn reversed(&self) -> FlowSet {
        FlowSet { src: self.dst, dst: self.src, flows: self.flows }
    }

    /// Flow `i` (taken modulo the number of flows).
    pub fn flow(&self, i: u64) -> Flow {
        let f = i % u64::from(self.flows);
        Flow {
            src: host(&self.src, f),
            dst: host(&self.dst, f),
            sport: FIRST_SRC_PORT + (f % u64::from(u16::MAX - FIRST_SRC_PORT)) as u16,
            dport: DST_PORT,
        }
    }
}

/// IP header length of the family.
pub fn ip_header_len(v6: bool) -> usize {
    if v6 { ipv6::HEADER_LEN } else { ipv4::HEADER_LEN }
}

/// Offset of the load header inside the IP packet.
pub fn header_offset(v6: bool) -> usize {
    ip_header_len(v6) + udp::HEADER_LEN
}

/// Writes into `buf` (exactly the IP packet length: `frame size - 18` bytes, at least
/// [`header_offset`] + [`HEADER_LEN`]) an IP/UDP packet of `flow` carrying `hdr` and the
/// pattern, with every checksum right. `ident` is the IPv4 Identification (DF is set).
pub fn emit_ip(buf: &mut [u8], flow: &Flow, hdr: &Header, ident: u16) {
    let total = buf.len();
    let off = match (flow.src, flow.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            ipv4::Repr {
                src,
                dst,
                protocol: 17,
                payload_len: total - ipv4::HEADER_LEN,
                tos: 0,
                ident,
                dont_frag: true,
                ttl: TTL,
            }
            .emit(buf);
            ipv4::HEADER_LEN
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            ipv6::Repr {
                src,
                dst,
                next_header: 17,
                payload_len: total - ipv6::HEADER_LEN,
                hop_limit: TTL,
                traffic_class: 0,
                flow_label: 0,
            }
            .emit(buf);
            ipv6::HEADER_LEN
        }
        _ => unreachable!("FlowSet keeps one family"),
    };
    let dgram = &mut buf[off..];
    udp::Repr { src_port: flow.sport, dst_port: flow.dport, payload_len: dgram.len() - 8 }
        .emit(dgram);
    hdr.emit(&mut dgram[udp::HEADER_LEN..]);
    payload::fill_pattern(&mut dgram[udp::HEADER_LEN + HEADER_LEN..]);
    let mut p = udp::Packet::new_unchecked(dgram);
    match (flow.src, flow.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => p.fill_checksum_v4(s, d),
        (IpAddr::V6(s), IpAddr::V6(d)) => p.fill_checksum_v6(s, d),
        _ => unreachable!(),
    }
}

/// The IP packet of flow `flow` in a frame of `frame_size` bytes (FCS included).
pub fn ip_packet(flow: &Flow, frame_size: u16, hdr: &Header, ident: u16) -> Vec<u8> {
    let mut p = vec![0u8; usize::from(frame_size) - ETH_OVERHEAD];
    emit_ip(&mut p, flow, hdr, ident);
    p
}

/// An Ethernet frame (no FCS) around the IP packet `ip`.
pub fn ethernet(dst: [u8; 6], src: [u8; 6], ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; eth::HEADER_LEN + ip.len()];
    let ethertype = match ip.first().map(|b| b >> 4) {
        Some(6) => eth::ethertype::IPV6,
        _ => eth::ethertype::IPV4,
    };
    eth::Repr { src, dst, vlan_tci: None, ethertype }.emit(&mut f);
    f[eth::HEADER_LEN..].copy_from_slice(ip);
    f
}

/// A whole frame (no FCS: `frame_size - 4` bytes) of flow `flow`.
pub fn frame(
    dst: [u8; 6],
    src: [u8; 6],
    flow: &Flow,
    frame_size: u16,
    hdr: &Header,
    ident: u16,
) -> Vec<u8> {
    let f = ethernet(dst, src, &ip_packet(flow, frame_size, hdr, ident));
    debug_assert_eq!(f.len(), usize::from(frame_size) - FCS_LEN);
    f
}

/// Replaces the load header of the IP/UDP packet `ip` (built by [`emit_ip`]) with `hdr`,
/// updating the UDP checksum incrementally (RFC 1624): 9 words in, 9 out, no pass over
/// the payload. The IPv4 header does not change.
#[inline]
pub fn patch_header(ip: &mut [u8], v6: bool, hdr: &Header) {
    let off = header_offset(v6);
    let new = hdr.to_bytes();
    let csum_at = ip_header_len(v6) + 6;
    let old_csum = u16::from_be_bytes([ip[csum_at], ip[csum_at + 1]]);
    let mut acc = u32::from(!old_csum);
    for k in (0..HEADER_LEN).step_by(2) {
        let old = u16::from_be_bytes([ip[off + k], ip[off + k + 1]]);
        let new = u16::from_be_bytes([new[k], new[k + 1]]);
        acc += u32::from(!old) + u32::from(new);
    }
    ip[off..off + HEADER_LEN].copy_from_slice(&new);
    let mut c = checksum::finish(acc);
    if c == 0 {
        // A computed UDP checksum of 0 is sent as all ones (0 means "none").
        c = 0xffff;
    }
    ip[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
}

/// What a received frame carried, if it is one of ours: the load header and whether the
/// pattern after it is intact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// The load header.
    pub header: Header,
    /// The pattern after the header was intact.
    pub pattern_ok: bool,
}

/// Finds the load header in an Ethernet frame (IPv4 or IPv6, optional VLAN tag, UDP).
/// Cheap: a few bounds checks and the header's check byte; no checksum is verified.
#[inline]
pub fn parse_frame(frame: &[u8], check_pattern: bool) -> Option<Received> {
    let (mut et, mut off) = (u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]), 14);
    if et == eth::ethertype::VLAN {
        et = u16::from_be_bytes([*frame.get(16)?, *frame.get(17)?]);
        off = 18;
    }
    let ip = frame.get(off..)?;
    let (l4, total) = match et {
        eth::ethertype::IPV4 => {
            let ihl = usize::from(*ip.first()? & 0x0f) * 4;
            if *ip.get(9)? != 17 || ihl < 20 {
                return None;
            }
            let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            (ihl, total)
        }
        eth::ethertype::IPV6 => {
            if *ip.get(6)? != 17 {
                return None;
            }
            let plen = usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
            (ipv6::HEADER_LEN, ipv6::HEADER_LEN + plen)
        }
        _ => return None,
    };
    let payload = ip.get(l4 + udp::HEADER_LEN..total.min(ip.len()))?;
    let header = Header::parse(payload)?;
    let pattern_ok = !check_pattern || payload::pattern_ok(&payload[HEADER_LEN..]);
    Some(Received { header, pattern_ok })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pfx(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn hosts_skip_network_and_broadcast_and_wrap() {
        let p = pfx("10.0.0.0/30");
        let got: Vec<IpAddr> = (0..4).map(|n| host(&p, n)).collect();
        let want: Vec<IpAddr> = ["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.2"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(got, want);
        assert_eq!(host(&pfx("10.0.0.7/32"), 5), "10.0.0.7".parse::<IpAddr>().unwrap());
        assert_eq!(host(&pfx("2001:db8::/64"), 0), "2001:db8::1".parse::<IpAddr>().unwrap());
        assert_eq!(host(&pfx("::/0"), 3), "::4".parse::<IpAddr>().unwrap());
        assert_eq!(host(&pfx("0.0.0.0/0"), 0), "0.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn flows_vary_addresses_and_ports() {
        let fs = FlowSet::new(pfx("192.168.115.0/24"), pfx("192.168.105.0/24"), 4).unwrap();
        let f: Vec<Flow> = (0..5).map(|i| fs.flow(i)).collect();
        assert_eq!(f[0].src, "192.168.115.1".parse::<IpAddr>().unwrap());
        assert_eq!(f[3].dst, "192.168.105.4".parse::<IpAddr>().unwrap());
        assert_eq!((f[0].sport, f[3].sport, f[3].dport), (1024, 1027, 9));
        assert_eq!(f[4], f[0]);
        assert!(FlowSet::new(pfx("10.0.0.0/8"), pfx("2001:db8::/32"), 1).is_none());
        assert!(FlowSet::new(pfx("10.0.0.0/8"), pfx("10.0.0.0/8"), 0).is_none());
        assert_eq!(fs.reversed().flow(1).src, f[1].dst);
    }

    fn udp_checksum_ok(ip: &[u8], v6: bool) -> bool {
        let l4 = &ip[ip_header_len(v6)..];
        let mut acc = checksum::sum(0, l4);
        if v6 {
            acc = checksum::sum(acc, &ip[8..40]);
        } else {
            acc = checksum::sum(acc, &ip[12..20]);
        }
        acc = checksum::sum(acc, &[0, 17]);
        acc = checksum::sum(acc, &(l4.len() as u16).to_be_bytes());
        checksum::finish(acc) == 0
    }

    #[test]
    fn frames_parse_back_and_patching_keeps_checksums_right() {
        for (src, dst, size) in [
            ("192.168.115.0/24", "192.168.105.0/24", 64u16),
            ("192.168.115.0/24", "192.168.105.0/24", 1518),
            ("2001:db8:115::/48", "2001:db8:105::/48", 84),
            ("2001:db8:115::/48", "2001:db8:105::/48", 570),
        ] {
            let fs = FlowSet::new(pfx(src), pfx(dst), 3).unwrap();
            let v6 = fs.is_v6();
            let h = Header { stream: 2, seq: 77, tsc: 0 };
            let mut ip = ip_packet(&fs.flow(2), size, &h, 77);
            assert_eq!(ip.len(), usize::from(size) - 18);
            assert!(udp_checksum_ok(&ip, v6), "{src} {size}");
            if !v6 {
                assert!(checksum::verify(&ip[..20]));
            }
            let f = ethernet([2; 6], [4; 6], &ip);
            assert_eq!(f.len(), usize::from(size) - 4);
            let r = parse_frame(&f, true).unwrap();
            assert_eq!(r, Received { header: h, pattern_ok: true });

            for seq in [0u64, 1, 0xffff, 0x1234_5678_9abc, payload::MAX_SEQ] {
                let h2 = Header { stream: 9, seq, tsc: seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) };
                patch_header(&mut ip, v6, &h2);
                assert!(udp_checksum_ok(&ip, v6), "{src} {size} seq {seq}");
                let f = ethernet([2; 6], [4; 6], &ip);
                assert_eq!(parse_frame(&f, true).unwrap().header, h2);
            }
            // A damaged pattern is noticed when asked for.
            let mut f = ethernet([2; 6], [4; 6], &ip);
            if f.len() > 14 + header_offset(v6) + HEADER_LEN {
                *f.last_mut().unwrap() ^= 0xff;
                assert!(!parse_frame(&f, true).unwrap().pattern_ok);
                assert!(parse_frame(&f, false).unwrap().pattern_ok);
            }
        }
    }

    #[test]
    fn other_frames_are_not_ours() {
        assert_eq!(parse_frame(&[0u8; 10], true), None);
        assert_eq!(parse_frame(&[0u8; 60], true), None);
        // TCP instead of UDP.
        let fs = FlowSet::new(pfx("10.0.0.0/24"), pfx("10.0.1.0/24"), 1).unwrap();
        let mut ip = ip_packet(&fs.flow(0), 128, &Header { stream: 0, seq: 1, tsc: 0 }, 0);
        ip[9] = 6;
        assert_eq!(parse_frame(&ethernet([0; 6], [0; 6], &ip), true), None);
    }
}
