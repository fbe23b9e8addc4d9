//! IPv4 headers (RFC 791): checked view, header checksum, options skipped by IHL, fragments
//! recognised, TTL decrement and ECN rewrite with incremental checksum (RFC 1624).
//!
//! qfp neither builds nor parses options: it steps over them using IHL. It does not
//! reassemble: [`Packet::is_fragment`] lets the caller refuse outer fragments.

use super::{Error, Result, checksum};
use core::net::Ipv4Addr;

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

/// Header length without options.
pub const HEADER_LEN: usize = 20;
/// Default TTL of the outer headers qfp builds.
pub const DEFAULT_TTL: u8 = 64;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A read/write view of an IPv4 packet.
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

    /// Checks version 4, IHL >= 5, and IHL*4 <= Total Length <= buffer length. After this
    /// every getter and [`payload`](Self::payload) are in bounds. The buffer may be longer
    /// than Total Length (Ethernet padding): `payload` ends at Total Length.
    pub fn check(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN || b[field::VER_IHL] >> 4 != 4 {
            return Err(Error);
        }
        let hl = self.header_len();
        let tl = usize::from(self.total_len());
        if hl < HEADER_LEN || hl > tl || tl > b.len() {
            return Err(Error);
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version field (4 once checked).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL * 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The whole Type of Service byte (DSCP and ECN).
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    /// Differentiated Services Code Point.
    pub fn dscp(&self) -> u8 {
        self.tos() >> 2
    }

    /// Explicit Congestion Notification bits.
    pub fn ecn(&self) -> u8 {
        self.tos() & 0x03
    }

    /// Total Length: header plus payload.
    pub fn total_len(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[field::LENGTH.start], b[field::LENGTH.start + 1]])
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[field::IDENT.start], b[field::IDENT.start + 1]])
    }

    fn flags_offset(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[field::FLG_OFF.start], b[field::FLG_OFF.start + 1]])
    }

    /// Don't Fragment.
    pub fn dont_frag(&self) -> bool {
        self.flags_offset() & FLAG_DF != 0
    }

    /// More Fragments.
    pub fn more_frags(&self) -> bool {
        self.flags_offset() & FLAG_MF != 0
    }

    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (self.flags_offset() & OFFSET_MASK) << 3
    }

    /// True for any fragment of a datagram (first, middle or last).
    pub fn is_fragment(&self) -> bool {
        self.flags_offset() & (FLAG_MF | OFFSET_MASK) != 0
    }

    /// Time To Live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload.
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// Header checksum field.
    pub fn checksum(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[field::CHECKSUM.start], b[field::CHECKSUM.start + 1]])
    }

    /// Source address as bytes.
    pub fn src_bytes(&self) -> [u8; 4] {
        let mut a = [0; 4];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC]);
        a
    }

    /// Destination address as bytes.
    pub fn dst_bytes(&self) -> [u8; 4] {
        let mut a = [0; 4];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST]);
        a
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.src_bytes())
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.dst_bytes())
    }

    /// True when the header checksum (options included) is right.
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(&self.buffer.as_ref()[..self.header_len()])
    }

    /// The options bytes (empty for IHL 5).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The payload: from the end of the header to Total Length.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 4 and the header length in bytes (a multiple of 4, 20..=60).
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }

    /// Sets the Type of Service byte.
    pub fn set_tos(&mut self, tos: u8) {
        self.buffer.as_mut()[field::TOS] = tos;
    }

    /// Sets Total Length.
    pub fn set_total_len(&mut self, len: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&len.to_be_bytes());
    }

    /// Sets Identification.
    pub fn set_ident(&mut self, id: u16) {
        self.buffer.as_mut()[field::IDENT].copy_from_slice(&id.to_be_bytes());
    }

    /// Sets the flags and offset of an unfragmented datagram: DF as given, MF 0, offset 0.
    pub fn set_unfragmented(&mut self, dont_frag: bool) {
        let v: u16 = if dont_frag { FLAG_DF } else { 0 };
        self.buffer.as_mut()[field::FLG_OFF].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets TTL (the checksum is not updated: see [`decrement_ttl`](Self::decrement_ttl)).
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    /// Sets Protocol.
    pub fn set_protocol(&mut self, p: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = p;
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, c: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.octets());
    }

    /// Computes and writes the header checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::of(&self.buffer.as_ref()[..self.header_len()]);
        self.set_checksum(c);
    }

    /// Forwarding's TTL decrement with an incremental checksum update. Returns the new TTL,
    /// or `None` (packet untouched) when the TTL would reach 0: the `Ipv4TtlExceeded` drop.
    pub fn decrement_ttl(&mut self) -> Option<u8> {
        let ttl = self.ttl();
        if ttl <= 1 {
            return None;
        }
        let b = self.buffer.as_mut();
        let old = u16::from_be_bytes([b[field::TTL], b[field::PROTOCOL]]);
        b[field::TTL] = ttl - 1;
        let new = u16::from_be_bytes([b[field::TTL], b[field::PROTOCOL]]);
        let c = u16::from_be_bytes([b[field::CHECKSUM.start], b[field::CHECKSUM.start + 1]]);
        b[field::CHECKSUM].copy_from_slice(&checksum::update(c, old, new).to_be_bytes());
        Some(ttl - 1)
    }

    /// Rewrites the ECN bits with an incremental checksum update (decap's RFC 6040 marking).
    pub fn set_ecn_update_checksum(&mut self, ecn: u8) {
        let b = self.buffer.as_mut();
        let old = u16::from_be_bytes([b[field::VER_IHL], b[field::TOS]]);
        b[field::TOS] = (b[field::TOS] & !0x03) | (ecn & 0x03);
        let new = u16::from_be_bytes([b[field::VER_IHL], b[field::TOS]]);
        let c = u16::from_be_bytes([b[field::CHECKSUM.start], b[field::CHECKSUM.start + 1]]);
        b[field::CHECKSUM].copy_from_slice(&checksum::update(c, old, new).to_be_bytes());
    }

    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (h, t) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[h..t]
    }
}

/// An option-less, unfragmented IPv4 header as values (what qfp emits as an outer header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: u8,
    /// Payload length (Total Length minus the header).
    pub payload_len: usize,
    /// Type of Service (DSCP and ECN).
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
    /// Time To Live.
    pub ttl: u8,
}

impl Repr {
    /// Reads a checked header. Refuses fragments and a wrong checksum; options are skipped.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        p.check()?;
        if p.is_fragment() || !p.verify_checksum() {
            return Err(Error);
        }
        Ok(Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            protocol: p.protocol(),
            payload_len: usize::from(p.total_len()) - p.header_len(),
            tos: p.tos(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            ttl: p.ttl(),
        })
    }

    /// Header length (no options).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header, checksum included, at the start of `buf` (>= 20 bytes). The
    /// payload length must fit Total Length (the caller checks it against the MTU first).
    pub fn emit(&self, buf: &mut [u8]) {
        let mut p = Packet::new_unchecked(&mut buf[..HEADER_LEN]);
        p.set_version_and_header_len(HEADER_LEN);
        p.set_tos(self.tos);
        p.set_total_len((HEADER_LEN + self.payload_len) as u16);
        p.set_ident(self.ident);
        p.set_unfragmented(self.dont_frag);
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src_addr(self.src);
        p.set_dst_addr(self.dst);
        p.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // All three captured on a veth pair on the build machine (tshark, Linux sockets, tx
    // checksum offload off so the checksums are final), the
    // Ethernet header removed.

    /// UDP 10.99.0.1:54337 -> 10.99.0.2:4500, DF, "qfp udp over ipv4".
    const UDP: [u8; 45] = [
        0x45, 0x00, 0x00, 0x2d, 0x36, 0x49, 0x40, 0x00, 0x40, 0x11, 0xef, 0xae, 0x0a, 0x63, 0x00,
        0x01, 0x0a, 0x63, 0x00, 0x02, 0xd4, 0x41, 0x11, 0x94, 0x00, 0x19, 0xa4, 0x49, 0x71, 0x66,
        0x70, 0x20, 0x75, 0x64, 0x70, 0x20, 0x6f, 0x76, 0x65, 0x72, 0x20, 0x69, 0x70, 0x76, 0x34,
    ];

    /// UDP with a Record Route option (IHL 8), "options".
    const OPTIONS: [u8; 47] = [
        0x48, 0x00, 0x00, 0x2f, 0x36, 0x4b, 0x40, 0x00, 0x40, 0x11, 0x79, 0x95, 0x0a, 0x63, 0x00,
        0x01, 0x0a, 0x63, 0x00, 0x02, 0x07, 0x0b, 0x08, 0x0a, 0x63, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x99, 0x91, 0x00, 0x09, 0x00, 0x0f, 0x8b, 0x24, 0x6f, 0x70, 0x74, 0x69, 0x6f,
        0x6e, 0x73,
    ];

    /// The last fragment (offset 2960) of a 3000-byte UDP datagram.
    const LAST_FRAGMENT_HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x44, 0x36, 0x4a, 0x01, 0x72, 0x40, 0x11, 0x2e, 0x25, 0x0a, 0x63, 0x00,
        0x01, 0x0a, 0x63, 0x00, 0x02,
    ];

    #[test]
    fn captured_udp() {
        let p = Packet::new_checked(&UDP[..]).unwrap();
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 45);
        assert!(p.dont_frag() && !p.is_fragment());
        assert_eq!((p.ttl(), p.protocol(), p.ident()), (64, 17, 0x3649));
        assert_eq!(p.src_addr(), Ipv4Addr::new(10, 99, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(10, 99, 0, 2));
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 25);
        let r = Repr::parse(&p).unwrap();
        let mut out = [0u8; 20];
        r.emit(&mut out);
        assert_eq!(out, UDP[..20]);
    }

    #[test]
    fn captured_options_are_skipped_by_ihl() {
        let p = Packet::new_checked(&OPTIONS[..]).unwrap();
        assert_eq!(p.header_len(), 32);
        assert_eq!(p.options()[0], 7, "record route");
        assert!(p.verify_checksum());
        assert_eq!(&p.payload()[8..], b"options");
        assert_eq!(Repr::parse(&p).unwrap().payload_len, 15);
    }

    #[test]
    fn captured_fragment_is_recognised() {
        let mut pkt = Vec::from(&LAST_FRAGMENT_HEADER[..]);
        pkt.extend_from_slice(&[b'x'; 48]);
        let p = Packet::new_checked(&pkt[..]).unwrap();
        assert!(p.verify_checksum());
        assert!(p.is_fragment() && !p.more_frags());
        assert_eq!(p.frag_offset(), 2960);
        assert!(Repr::parse(&p).is_err(), "Repr refuses fragments");
    }

    #[test]
    fn bad_headers_are_refused() {
        for n in 0..UDP.len() {
            assert!(Packet::new_checked(&UDP[..n]).is_err(), "truncated to {n}");
        }
        let mut v = UDP;
        v[0] = 0x65;
        assert!(Packet::new_checked(&v[..]).is_err(), "version 6");
        v[0] = 0x44;
        assert!(Packet::new_checked(&v[..]).is_err(), "IHL 4");
        v[0] = 0x4f;
        assert!(Packet::new_checked(&v[..]).is_err(), "IHL past total length");
        let mut c = UDP;
        c[11] ^= 1;
        let p = Packet::new_checked(&c[..]).unwrap();
        assert!(!p.verify_checksum());
        assert!(Repr::parse(&p).is_err());
    }

    #[test]
    fn trailing_ethernet_padding_is_not_payload() {
        let mut v = Vec::from(&UDP[..]);
        v.extend_from_slice(&[0; 15]);
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.payload().len(), 25);
    }

    #[test]
    fn ttl_decrement_and_ecn_keep_the_checksum_right() {
        let mut v = UDP;
        let mut p = Packet::new_checked(&mut v[..]).unwrap();
        assert_eq!(p.decrement_ttl(), Some(63));
        assert!(p.verify_checksum());
        p.set_ecn_update_checksum(3);
        assert_eq!(p.ecn(), 3);
        assert!(p.verify_checksum());
        p.set_ttl(1);
        p.fill_checksum();
        assert_eq!(p.decrement_ttl(), None);
        assert_eq!(p.ttl(), 1);
    }
}
