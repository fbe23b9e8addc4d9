//! UDP headers (RFC 768), as used by ESP-in-UDP NAT traversal (RFC 3948).
//!
//! On port 4500 the first bytes of the UDP payload say what follows: one byte `0xff` is a
//! NAT-keepalive, four zero bytes (the non-ESP marker) announce IKE, anything else is ESP
//! starting at the SPI. [`natt_classify`] makes that decision.

use super::{Error, Result, checksum};
use core::net::{Ipv4Addr, Ipv6Addr};

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// UDP header length.
pub const HEADER_LEN: usize = 8;
/// The IKE / ESP-in-UDP NAT traversal port (RFC 3948).
pub const NATT_PORT: u16 = 4500;
/// The IKE port.
pub const IKE_PORT: u16 = 500;

/// A read/write view of a UDP datagram.
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

    /// Checks 8 <= Length <= buffer length.
    pub fn check(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error);
        }
        let l = usize::from(self.len());
        if l < HEADER_LEN || l > b.len() {
            return Err(Error);
        }
        Ok(())
    }

    fn u16_at(&self, at: usize) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[at], b[at + 1]])
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT.start)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT.start)
    }

    /// Length field: header plus payload.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        self.u16_at(field::LENGTH.start)
    }

    /// Checksum field (0 = none, legal for IPv4 and for RFC 3948 NAT-T).
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM.start)
    }

    /// The payload, up to the Length field.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }

    /// True when the checksum is zero (not computed) or right for an IPv4 pseudo-header.
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.checksum() == 0 || checksum::finish(self.sum_v4(src, dst)) == 0
    }

    /// True when the checksum is right for an IPv6 pseudo-header (zero is not accepted).
    pub fn verify_checksum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        checksum::finish(self.sum_v6(src, dst)) == 0
    }

    fn sum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u32 {
        let d = &self.buffer.as_ref()[..usize::from(self.len())];
        let mut acc = checksum::sum(0, &src.octets());
        acc = checksum::sum(acc, &dst.octets());
        acc += u32::from(super::ip_proto::UDP) + u32::from(self.len());
        checksum::sum(acc, d)
    }

    fn sum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> u32 {
        let d = &self.buffer.as_ref()[..usize::from(self.len())];
        let mut acc = checksum::sum(0, &src.octets());
        acc = checksum::sum(acc, &dst.octets());
        acc += u32::from(super::ip_proto::UDP) + u32::from(self.len());
        checksum::sum(acc, d)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, p: u16) {
        self.buffer.as_mut()[field::SRC_PORT].copy_from_slice(&p.to_be_bytes());
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, p: u16) {
        self.buffer.as_mut()[field::DST_PORT].copy_from_slice(&p.to_be_bytes());
    }

    /// Sets the Length field.
    pub fn set_len(&mut self, l: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&l.to_be_bytes());
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, c: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    /// Computes the checksum over an IPv4 pseudo-header (0 is sent as 0xffff).
    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let c = checksum::finish(self.sum_v4(src, dst));
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }

    /// Computes the checksum over an IPv6 pseudo-header (0 is sent as 0xffff).
    pub fn fill_checksum_v6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let c = checksum::finish(self.sum_v6(src, dst));
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }
}

/// A UDP header as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload length.
    pub payload_len: usize,
}

impl Repr {
    /// Reads a checked header.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        p.check()?;
        Ok(Repr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            payload_len: usize::from(p.len()) - HEADER_LEN,
        })
    }

    /// Header length.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header with checksum 0 (what RFC 3948 NAT-T senders do) at the start of
    /// `buf` (>= 8 bytes).
    pub fn emit(&self, buf: &mut [u8]) {
        let mut p = Packet::new_unchecked(&mut buf[..HEADER_LEN]);
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_len((HEADER_LEN + self.payload_len) as u16);
        p.set_checksum(0);
    }
}

/// What a UDP payload on port 4500 carries (RFC 3948 section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NattPayload {
    /// One byte 0xff: a NAT-keepalive, to be consumed.
    Keepalive,
    /// Starts with the four-byte non-ESP marker: IKE, for the control plane.
    NonEsp,
    /// An ESP packet (SPI first).
    Esp,
    /// None of the above (shorter than an ESP header and not a keepalive).
    Malformed,
}

/// Classifies the payload of a UDP datagram to port 4500.
pub fn natt_classify(payload: &[u8]) -> NattPayload {
    match payload {
        [0xff] => NattPayload::Keepalive,
        [0, 0, 0, 0, ..] => NattPayload::NonEsp,
        p if p.len() >= super::esp::HEADER_LEN => NattPayload::Esp,
        _ => NattPayload::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // UDP parts of the captures in ipv4.rs and ipv6.rs (Linux sockets on a veth pair).
    const V4: [u8; 25] = [
        0xd4, 0x41, 0x11, 0x94, 0x00, 0x19, 0xa4, 0x49, 0x71, 0x66, 0x70, 0x20, 0x75, 0x64, 0x70,
        0x20, 0x6f, 0x76, 0x65, 0x72, 0x20, 0x69, 0x70, 0x76, 0x34,
    ];
    const V6: [u8; 25] = [
        0xe1, 0xea, 0x11, 0x94, 0x00, 0x19, 0xae, 0x32, 0x71, 0x66, 0x70, 0x20, 0x75, 0x64, 0x70,
        0x20, 0x6f, 0x76, 0x65, 0x72, 0x20, 0x69, 0x70, 0x76, 0x36,
    ];

    #[test]
    fn captured_v4_datagram_and_checksum() {
        let (s, d) = (Ipv4Addr::new(10, 99, 0, 1), Ipv4Addr::new(10, 99, 0, 2));
        let p = Packet::new_checked(&V4[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port(), p.len()), (54337, NATT_PORT, 25));
        assert!(p.verify_checksum_v4(s, d));
        assert_eq!(p.payload(), b"qfp udp over ipv4");
        let mut c = V4;
        let mut q = Packet::new_checked(&mut c[..]).unwrap();
        q.fill_checksum_v4(s, d);
        assert_eq!(c, V4);
        let r = Repr::parse(&Packet::new_checked(&V4[..]).unwrap()).unwrap();
        let mut out = [0xaau8; 8];
        r.emit(&mut out);
        assert_eq!(out[..6], V4[..6]);
        assert_eq!(out[6..], [0, 0]);
    }

    #[test]
    fn captured_v6_datagram_and_checksum() {
        let s: Ipv6Addr = "fd00:99::1".parse().unwrap();
        let d: Ipv6Addr = "fd00:99::2".parse().unwrap();
        let p = Packet::new_checked(&V6[..]).unwrap();
        assert!(p.verify_checksum_v6(s, d));
        let mut c = V6;
        c[7] ^= 1;
        assert!(!Packet::new_checked(&c[..]).unwrap().verify_checksum_v6(s, d));
        Packet::new_checked(&mut c[..]).unwrap().fill_checksum_v6(s, d);
        assert_eq!(c, V6);
    }

    #[test]
    fn bad_lengths_are_refused() {
        for n in 0..8 {
            assert!(Packet::new_checked(&V4[..n]).is_err());
        }
        let mut c = V4;
        c[5] = 7;
        assert!(Packet::new_checked(&c[..]).is_err(), "length below the header");
        c[5] = 26;
        assert!(Packet::new_checked(&c[..]).is_err(), "length past the buffer");
    }

    #[test]
    fn natt_demultiplexing() {
        assert_eq!(natt_classify(&[0xff]), NattPayload::Keepalive);
        assert_eq!(natt_classify(&[0, 0, 0, 0, 0x25]), NattPayload::NonEsp);
        assert_eq!(natt_classify(&[0, 0, 0, 0]), NattPayload::NonEsp);
        assert_eq!(natt_classify(&V4[8..]), NattPayload::Esp);
        assert_eq!(natt_classify(&[]), NattPayload::Malformed);
        assert_eq!(natt_classify(&[0xff, 0xff]), NattPayload::Malformed);
        assert_eq!(natt_classify(&[1, 2, 3, 4, 5, 6, 7]), NattPayload::Malformed);
    }
}
