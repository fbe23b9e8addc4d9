//! IPv6 fixed headers (RFC 8200).
//!
//! qfp parses only the 40-byte fixed header. It does not walk extension headers yet, but it
//! must never mistake one for a payload: [`is_extension_header`] tells the caller that the
//! Next Header names an extension header (so the bytes after the fixed header are *not* ESP
//! or UDP), and the caller refuses the packet instead of misparsing it.

use super::{Error, Result, ip_proto};
use core::net::Ipv6Addr;

mod field {
    use core::ops::Range;
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;
/// Default hop limit of the outer headers qfp builds.
pub const DEFAULT_HOP_LIMIT: u8 = 64;

/// True when `next_header` is an IPv6 extension header (IANA "IPv6 Extension Header Types")
/// other than ESP: Hop-by-Hop, Routing, Fragment, Destination Options, AH, Mobility, HIP,
/// Shim6 and the two experimental values. ESP is left out on purpose: it is the payload qfp
/// terminates.
pub const fn is_extension_header(next_header: u8) -> bool {
    matches!(
        next_header,
        ip_proto::HOPOPT
            | ip_proto::IPV6_ROUTE
            | ip_proto::IPV6_FRAG
            | ip_proto::AH
            | ip_proto::IPV6_OPTS
            | 135
            | 139
            | 140
            | 253
            | 254
    )
}

/// A read/write view of an IPv6 packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it (for headers we build).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a received buffer after [`check`](Self::check).
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_unchecked(buffer);
        p.check()?;
        Ok(p)
    }

    /// Checks version 6 and 40 + Payload Length <= buffer length. The buffer may be longer
    /// (Ethernet padding): `payload` ends where Payload Length says.
    pub fn check(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN || b[0] >> 4 != 6 {
            return Err(Error);
        }
        if HEADER_LEN + usize::from(self.payload_len()) > b.len() {
            return Err(Error);
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn ver_tc_flow(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Version field (6 once checked).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// Traffic Class (DSCP and ECN).
    pub fn traffic_class(&self) -> u8 {
        (self.ver_tc_flow() >> 20) as u8
    }

    /// Explicit Congestion Notification bits.
    pub fn ecn(&self) -> u8 {
        self.traffic_class() & 0x03
    }

    /// Flow Label (20 bits).
    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & 0x000f_ffff
    }

    /// Payload Length (everything after the fixed header, extension headers included).
    pub fn payload_len(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[field::LENGTH.start], b[field::LENGTH.start + 1]])
    }

    /// Total length: 40 + Payload Length.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.payload_len())
    }

    /// Next Header: an upper-layer protocol, or an extension header (see
    /// [`is_extension_header`]).
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    /// Hop Limit.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address as bytes.
    pub fn src_bytes(&self) -> [u8; 16] {
        let mut a = [0; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC]);
        a
    }

    /// Destination address as bytes.
    pub fn dst_bytes(&self) -> [u8; 16] {
        let mut a = [0; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST]);
        a
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.src_bytes())
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.dst_bytes())
    }

    /// The bytes after the fixed header, up to Payload Length.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.total_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_ver_tc_flow(&mut self, v: u32) {
        self.buffer.as_mut()[field::VER_TC_FLOW].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets version 6, the Traffic Class and the Flow Label in one write.
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        self.set_ver_tc_flow(
            0x6000_0000 | (u32::from(traffic_class) << 20) | (flow_label & 0xf_ffff),
        );
    }

    /// Rewrites the ECN bits of the Traffic Class (IPv6 has no header checksum).
    pub fn set_ecn(&mut self, ecn: u8) {
        let tc = (self.traffic_class() & !0x03) | (ecn & 0x03);
        let flow = self.flow_label();
        self.set_version_tc_flow(tc, flow);
    }

    /// Sets Payload Length.
    pub fn set_payload_len(&mut self, len: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&len.to_be_bytes());
    }

    /// Sets Next Header.
    pub fn set_next_header(&mut self, nh: u8) {
        self.buffer.as_mut()[field::NXT_HDR] = nh;
    }

    /// Sets Hop Limit.
    pub fn set_hop_limit(&mut self, h: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = h;
    }

    /// Forwarding's hop-limit decrement. Returns the new value, or `None` (packet untouched)
    /// when it would reach 0.
    pub fn decrement_hop_limit(&mut self) -> Option<u8> {
        let h = self.hop_limit();
        if h <= 1 {
            return None;
        }
        self.set_hop_limit(h - 1);
        Some(h - 1)
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.octets());
    }

    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let t = self.total_len();
        &mut self.buffer.as_mut()[HEADER_LEN..t]
    }
}

/// An IPv6 fixed header as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Next Header.
    pub next_header: u8,
    /// Payload Length.
    pub payload_len: usize,
    /// Hop Limit.
    pub hop_limit: u8,
    /// Traffic Class.
    pub traffic_class: u8,
    /// Flow Label.
    pub flow_label: u32,
}

impl Repr {
    /// Reads a checked fixed header.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        p.check()?;
        Ok(Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            next_header: p.next_header(),
            payload_len: usize::from(p.payload_len()),
            hop_limit: p.hop_limit(),
            traffic_class: p.traffic_class(),
            flow_label: p.flow_label(),
        })
    }

    /// Header length.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the fixed header at the start of `buf` (>= 40 bytes).
    pub fn emit(&self, buf: &mut [u8]) {
        let mut p = Packet::new_unchecked(&mut buf[..HEADER_LEN]);
        p.set_version_tc_flow(self.traffic_class, self.flow_label);
        p.set_payload_len(self.payload_len as u16);
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src_addr(self.src);
        p.set_dst_addr(self.dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured on a veth pair on the build machine (tshark, tx checksum offload off),
    // Ethernet header removed.

    /// UDP [fd00:99::1]:57834 -> [fd00:99::2]:4500 from a Linux socket, flow label 0xb771e,
    /// "qfp udp over ipv6".
    const UDP: [u8; 65] = [
        0x60, 0x0b, 0x77, 0x1e, 0x00, 0x19, 0x11, 0x40, 0xfd, 0x00, 0x00, 0x99, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x00, 0x99, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xe1, 0xea, 0x11, 0x94, 0x00,
        0x19, 0xae, 0x32, 0x71, 0x66, 0x70, 0x20, 0x75, 0x64, 0x70, 0x20, 0x6f, 0x76, 0x65, 0x72,
        0x20, 0x69, 0x70, 0x76, 0x36,
    ];

    /// The kernel's MLDv2 report: a Hop-by-Hop Options header (Router Alert) before ICMPv6.
    const MLD_WITH_HOP_BY_HOP: [u8; 96] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0x38, 0x00, 0x01, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x88, 0x2e, 0xc2, 0xff, 0xfe, 0x7a, 0xd3, 0xf1, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x16, 0x3a, 0x00, 0x05, 0x02, 0x00,
        0x00, 0x01, 0x00, 0x8f, 0x00, 0x7c, 0xe6, 0x00, 0x00, 0x00, 0x02, 0x04, 0x00, 0x00, 0x00,
        0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00,
        0x02, 0x04, 0x00, 0x00, 0x00, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x01, 0xff, 0x7a, 0xd3, 0xf1,
    ];

    #[test]
    fn captured_udp() {
        let p = Packet::new_checked(&UDP[..]).unwrap();
        assert_eq!(p.traffic_class(), 0);
        assert_eq!(p.flow_label(), 0xb771e);
        assert_eq!((p.payload_len(), p.next_header(), p.hop_limit()), (25, 17, 64));
        assert_eq!(p.src_addr(), "fd00:99::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.dst_addr(), "fd00:99::2".parse::<Ipv6Addr>().unwrap());
        assert!(!is_extension_header(p.next_header()));
        let r = Repr::parse(&p).unwrap();
        let mut out = [0u8; 40];
        r.emit(&mut out);
        assert_eq!(out, UDP[..40]);
    }

    #[test]
    fn captured_extension_header_is_recognised() {
        let p = Packet::new_checked(&MLD_WITH_HOP_BY_HOP[..]).unwrap();
        assert_eq!(p.next_header(), ip_proto::HOPOPT);
        assert!(is_extension_header(p.next_header()));
        // The Hop-by-Hop header says ICMPv6 follows: exactly what a parser that ignored the
        // extension header would have misread as the payload.
        assert_eq!(p.payload()[0], ip_proto::ICMPV6);
    }

    #[test]
    fn esp_is_not_an_extension_header_here() {
        assert!(!is_extension_header(ip_proto::ESP));
        assert!(!is_extension_header(ip_proto::UDP));
        for nh in [0u8, 43, 44, 51, 60, 135, 139, 140, 253, 254] {
            assert!(is_extension_header(nh), "{nh}");
        }
    }

    #[test]
    fn bad_headers_are_refused() {
        for n in 0..UDP.len() {
            assert!(Packet::new_checked(&UDP[..n]).is_err(), "truncated to {n}");
        }
        let mut v = UDP;
        v[0] = 0x40;
        assert!(Packet::new_checked(&v[..]).is_err());
    }

    #[test]
    fn setters_round_trip() {
        let mut v = UDP;
        let mut p = Packet::new_checked(&mut v[..]).unwrap();
        p.set_ecn(3);
        assert_eq!((p.ecn(), p.flow_label()), (3, 0xb771e));
        assert_eq!(p.decrement_hop_limit(), Some(63));
        p.set_hop_limit(1);
        assert_eq!(p.decrement_hop_limit(), None);
    }
}
