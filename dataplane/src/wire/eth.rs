//! Ethernet II frames, with at most one IEEE 802.1Q VLAN tag.
//!
//! The gateway strips this header before decap/encap and writes a fresh one after routing.
//! A frame whose EtherType (after one optional tag) is not IPv4 or IPv6 is the caller's
//! `UnknownL2`; a second tag (QinQ) shows up as EtherType 0x8100/0x88a8 and ends there too.

use super::{Error, Result};

/// A 48-bit MAC address.
pub type MacAddr = [u8; 6];

/// EtherType values qfp recognises.
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// IEEE 802.1Q VLAN tag (TPID).
    pub const VLAN: u16 = 0x8100;
    /// IEEE 802.1ad service tag (QinQ outer TPID).
    pub const QINQ: u16 = 0x88a8;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
}

mod field {
    use core::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    /// With a tag: Tag Control Information (PCP, DEI, VLAN id) then the real EtherType.
    pub const TCI: Range<usize> = 14..16;
    pub const INNER_ETHERTYPE: Range<usize> = 16..18;
}

/// Header length without a tag.
pub const HEADER_LEN: usize = 14;
/// Length of one 802.1Q tag.
pub const VLAN_TAG_LEN: usize = 4;

/// A read/write view of an Ethernet frame.
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking it (for frames we build).
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wraps a received buffer, checking that the header (and the tag, if any) is there.
    pub fn new_checked(buffer: T) -> Result<Frame<T>> {
        let f = Frame::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// Checks that the buffer holds the whole header, tag included.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || (self.has_vlan_tag() && len < HEADER_LEN + VLAN_TAG_LEN) {
            return Err(Error);
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn outer_ethertype(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[field::ETHERTYPE.start], b[field::ETHERTYPE.start + 1]])
    }

    fn has_vlan_tag(&self) -> bool {
        let b = self.buffer.as_ref();
        b.len() >= HEADER_LEN && self.outer_ethertype() == ethertype::VLAN
    }

    /// Destination MAC.
    pub fn dst_addr(&self) -> MacAddr {
        let mut a = [0; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST]);
        a
    }

    /// Source MAC.
    pub fn src_addr(&self) -> MacAddr {
        let mut a = [0; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC]);
        a
    }

    /// The 802.1Q Tag Control Information (PCP, DEI, 12-bit VLAN id), if tagged.
    pub fn vlan_tci(&self) -> Option<u16> {
        if !self.has_vlan_tag() {
            return None;
        }
        let b = self.buffer.as_ref();
        Some(u16::from_be_bytes([b[field::TCI.start], b[field::TCI.start + 1]]))
    }

    /// The EtherType of the payload (after the tag, if any).
    pub fn ethertype(&self) -> u16 {
        if self.has_vlan_tag() {
            let b = self.buffer.as_ref();
            u16::from_be_bytes([
                b[field::INNER_ETHERTYPE.start],
                b[field::INNER_ETHERTYPE.start + 1],
            ])
        } else {
            self.outer_ethertype()
        }
    }

    /// Header length: 14, or 18 with a tag.
    pub fn header_len(&self) -> usize {
        if self.has_vlan_tag() { HEADER_LEN + VLAN_TAG_LEN } else { HEADER_LEN }
    }

    /// The payload (the IP packet, for IPv4/IPv6 frames).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Sets the destination MAC.
    pub fn set_dst_addr(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a);
    }

    /// Sets the source MAC.
    pub fn set_src_addr(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a);
    }

    /// Sets the payload EtherType (after the tag, if the frame has one).
    pub fn set_ethertype(&mut self, t: u16) {
        let r = if self.has_vlan_tag() { field::INNER_ETHERTYPE } else { field::ETHERTYPE };
        self.buffer.as_mut()[r].copy_from_slice(&t.to_be_bytes());
    }

    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let h = self.header_len();
        &mut self.buffer.as_mut()[h..]
    }
}

/// An Ethernet header as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source MAC.
    pub src: MacAddr,
    /// Destination MAC.
    pub dst: MacAddr,
    /// 802.1Q Tag Control Information, if the frame carries a tag.
    pub vlan_tci: Option<u16>,
    /// EtherType of the payload.
    pub ethertype: u16,
}

impl Repr {
    /// Reads the header of a checked frame.
    pub fn parse<T: AsRef<[u8]>>(f: &Frame<T>) -> Result<Repr> {
        f.check_len()?;
        Ok(Repr {
            src: f.src_addr(),
            dst: f.dst_addr(),
            vlan_tci: f.vlan_tci(),
            ethertype: f.ethertype(),
        })
    }

    /// Bytes the header takes.
    pub const fn buffer_len(&self) -> usize {
        if self.vlan_tci.is_some() { HEADER_LEN + VLAN_TAG_LEN } else { HEADER_LEN }
    }

    /// Writes the header at the start of `buf` (at least `buffer_len()` bytes).
    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::DST].copy_from_slice(&self.dst);
        buf[field::SRC].copy_from_slice(&self.src);
        match self.vlan_tci {
            Some(tci) => {
                buf[field::ETHERTYPE].copy_from_slice(&ethertype::VLAN.to_be_bytes());
                buf[field::TCI].copy_from_slice(&tci.to_be_bytes());
                buf[field::INNER_ETHERTYPE].copy_from_slice(&self.ethertype.to_be_bytes());
            }
            None => buf[field::ETHERTYPE].copy_from_slice(&self.ethertype.to_be_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured on a veth pair on the build machine (tshark, tx checksum offload off so the
    /// checksums are final): a UDP datagram from a Linux
    /// socket, 10.99.0.1:54337 -> 10.99.0.2:4500, payload "qfp udp over ipv4".
    const FRAME: [u8; 59] = [
        0x8a, 0x2e, 0xc2, 0x7a, 0xd3, 0xf1, 0x96, 0xc4, 0x8f, 0xab, 0x5b, 0x73, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x2d, 0x36, 0x49, 0x40, 0x00, 0x40, 0x11, 0xef, 0xae, 0x0a, 0x63, 0x00, 0x01,
        0x0a, 0x63, 0x00, 0x02, 0xd4, 0x41, 0x11, 0x94, 0x00, 0x19, 0xa4, 0x49, 0x71, 0x66, 0x70,
        0x20, 0x75, 0x64, 0x70, 0x20, 0x6f, 0x76, 0x65, 0x72, 0x20, 0x69, 0x70, 0x76, 0x34,
    ];

    #[test]
    fn captured_untagged_frame() {
        let f = Frame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(f.dst_addr(), [0x8a, 0x2e, 0xc2, 0x7a, 0xd3, 0xf1]);
        assert_eq!(f.src_addr(), [0x96, 0xc4, 0x8f, 0xab, 0x5b, 0x73]);
        assert_eq!(f.vlan_tci(), None);
        assert_eq!(f.ethertype(), ethertype::IPV4);
        assert_eq!(f.header_len(), 14);
        assert_eq!(f.payload()[0], 0x45);
        let r = Repr::parse(&f).unwrap();
        let mut out = [0u8; 14];
        r.emit(&mut out);
        assert_eq!(out, FRAME[..14]);
    }

    /// The captured frame with an 802.1Q tag (PCP 5, VLAN 10) inserted after the MACs: the
    /// kernel on the build machine has no 8021q module, so it could not emit a tagged frame.
    #[test]
    fn tagged_frame() {
        let mut tagged = Vec::from(&FRAME[..12]);
        tagged.extend_from_slice(&[0x81, 0x00, 0xa0, 0x0a]);
        tagged.extend_from_slice(&FRAME[12..]);
        let f = Frame::new_checked(&tagged[..]).unwrap();
        assert_eq!(f.vlan_tci(), Some(0xa00a));
        assert_eq!(f.vlan_tci().unwrap() & 0x0fff, 10);
        assert_eq!(f.ethertype(), ethertype::IPV4);
        assert_eq!(f.header_len(), 18);
        assert_eq!(f.payload(), &FRAME[14..]);
        let r = Repr::parse(&f).unwrap();
        assert_eq!(r.buffer_len(), 18);
        let mut out = [0u8; 18];
        r.emit(&mut out);
        assert_eq!(out, tagged[..18]);
    }

    #[test]
    fn truncated_frames_are_refused() {
        for n in 0..14 {
            assert_eq!(Frame::new_checked(&FRAME[..n]).err(), Some(Error));
        }
        // A tag announced but cut short.
        let t = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0x00, 0x00, 0x0a, 0x08];
        assert!(Frame::new_checked(&t[..]).is_err());
    }

    #[test]
    fn setters_round_trip() {
        let mut buf = FRAME;
        let mut f = Frame::new_checked(&mut buf[..]).unwrap();
        f.set_dst_addr([1, 2, 3, 4, 5, 6]);
        f.set_src_addr([7, 8, 9, 10, 11, 12]);
        f.set_ethertype(ethertype::IPV6);
        assert_eq!(f.dst_addr(), [1, 2, 3, 4, 5, 6]);
        assert_eq!(f.src_addr(), [7, 8, 9, 10, 11, 12]);
        assert_eq!(f.ethertype(), ethertype::IPV6);
        f.payload_mut()[0] = 0x60;
        assert_eq!(buf[14], 0x60);
    }
}
