//! The load header every generated packet carries at the start of its UDP payload, and the
//! frame-size conventions shared by `qfp pcap`, `qfp gen` and the benchmarks.
//!
//! The header must fit the smallest frame: a 64-byte Ethernet frame (FCS included) holds
//! an IPv4/UDP packet of 46 bytes, which leaves 18 bytes of UDP payload. So the header is
//! 18 bytes:
//!
//! ```text
//!  0      2        3       4                10                       18
//!  | "QF" | stream | check | sequence (48 bit) | tx TSC (64 bit)       | pattern 00 01 02 ...
//! ```
//!
//! all big-endian. `check` is a one-byte sum over the other 17 bytes, so a stray packet
//! that happens to start with "QF" is not taken for ours. The sequence number is 48 bits on
//! the wire (2.8 * 10^14 packets: 81 days at 40 Mpps) and a `u64` everywhere else. The TSC
//! is the sender's time-stamp counter when it built the packet (0 in pcaps, which are
//! replayed at unknown times). After the header, byte `k` of the rest of the payload is `k
//! as u8`: easy to recognise in a hex dump, and checked by the tests.

use std::fmt;
use std::str::FromStr;

/// Header length in bytes.
pub const HEADER_LEN: usize = 18;
/// The first two bytes.
pub const MAGIC: [u8; 2] = *b"QF";
/// Largest sequence number the header carries.
pub const MAX_SEQ: u64 = (1 << 48) - 1;

/// Ethernet header (14) plus FCS (4): a frame of `size` bytes carries an IP packet of
/// `size - 18` bytes. Sizes count the FCS, as pktgen, RFC 2544 and the NIC counters do;
/// capture files and mbufs hold `size - 4` bytes (no FCS).
pub const ETH_OVERHEAD: usize = 18;
/// FCS bytes: counted in a frame size, absent from pcaps and mbufs.
pub const FCS_LEN: usize = 4;
/// Smallest Ethernet frame.
pub const MIN_FRAME: u16 = 64;
/// Largest standard Ethernet frame (1500-byte IP packet).
pub const MAX_FRAME: u16 = 1518;
/// Smallest frame that carries an IPv6/UDP packet with the header: 14 + 40 + 8 + 18 + 4.
pub const MIN_FRAME_V6: u16 = 84;

/// Simple IMIX (7:4:1 of 64, 570 and 1500-byte frames), interleaved so that every burst of
/// 12 has the mix; the same order as the pipeline benchmark. Average 352.3 bytes. IPv6
/// traffic uses 84-byte frames in the 64-byte slots (see [`FrameSize::frame`]).
pub const IMIX: [u16; 12] = [64, 570, 64, 64, 570, 64, 1500, 64, 570, 64, 64, 570];

/// The fields of a load header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Which stream (direction) the packet belongs to.
    pub stream: u8,
    /// Sequence number within the stream, from 0 (at most [`MAX_SEQ`]).
    pub seq: u64,
    /// Sender's TSC when the packet was built (0: none).
    pub tsc: u64,
}

fn check_byte(b: &[u8; HEADER_LEN]) -> u8 {
    let s = b.iter().enumerate().filter(|&(i, _)| i != 3).fold(0u8, |a, (_, &x)| a.wrapping_add(x));
    s ^ 0x5a
}

impl Header {
    /// The 18 header bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..2].copy_from_slice(&MAGIC);
        b[2] = self.stream;
        b[4..10].copy_from_slice(&(self.seq & MAX_SEQ).to_be_bytes()[2..]);
        b[10..18].copy_from_slice(&self.tsc.to_be_bytes());
        b[3] = check_byte(&b);
        b
    }

    /// Writes the header at the start of `buf` (at least [`HEADER_LEN`] bytes).
    pub fn emit(&self, buf: &mut [u8]) {
        buf[..HEADER_LEN].copy_from_slice(&self.to_bytes());
    }

    /// Reads a header from the start of a UDP payload; `None` if it is not one of ours.
    pub fn parse(payload: &[u8]) -> Option<Header> {
        let b: &[u8; HEADER_LEN] = payload.get(..HEADER_LEN)?.try_into().ok()?;
        if b[0..2] != MAGIC || b[3] != check_byte(b) {
            return None;
        }
        let mut seq = [0u8; 8];
        seq[2..].copy_from_slice(&b[4..10]);
        Some(Header {
            stream: b[2],
            seq: u64::from_be_bytes(seq),
            tsc: u64::from_be_bytes(b[10..18].try_into().ok()?),
        })
    }
}

/// Fills the payload bytes after the header with the pattern (`k as u8`).
pub fn fill_pattern(after_header: &mut [u8]) {
    for (k, b) in after_header.iter_mut().enumerate() {
        *b = k as u8;
    }
}

/// One period of the pattern.
const PATTERN: [u8; 256] = {
    let mut p = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        p[i] = i as u8;
        i += 1;
    }
    p
};

/// True when the bytes after the header are the pattern (compared 256 bytes at a time:
/// the receiver checks every packet, at line rate).
#[inline]
pub fn pattern_ok(after_header: &[u8]) -> bool {
    after_header.chunks(256).all(|c| c == &PATTERN[..c.len()])
}

/// A frame size: fixed, or the IMIX cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameSize {
    /// Every frame this many bytes (FCS included).
    Fixed(u16),
    /// [`IMIX`], cycled.
    Imix,
}

impl FrameSize {
    /// The size of frame number `i`.
    #[inline]
    pub fn of(&self, i: u64) -> u16 {
        match *self {
            FrameSize::Fixed(s) => s,
            FrameSize::Imix => IMIX[(i % IMIX.len() as u64) as usize],
        }
    }

    /// The size of frame number `i` of IPv4 (`v6` false) or IPv6 traffic: IMIX's 64-byte
    /// slots become [`MIN_FRAME_V6`] for IPv6, the smallest frame that carries it.
    #[inline]
    pub fn frame(&self, i: u64, v6: bool) -> u16 {
        let s = self.of(i);
        if v6 && *self == FrameSize::Imix { s.max(MIN_FRAME_V6) } else { s }
    }

    /// The largest frame.
    pub fn max(&self) -> u16 {
        match *self {
            FrameSize::Fixed(s) => s,
            FrameSize::Imix => 1500,
        }
    }

    /// The smallest frame.
    pub fn min(&self) -> u16 {
        match *self {
            FrameSize::Fixed(s) => s,
            FrameSize::Imix => 64,
        }
    }

    /// Every distinct size, ascending.
    pub fn distinct(&self) -> Vec<u16> {
        match *self {
            FrameSize::Fixed(s) => vec![s],
            FrameSize::Imix => vec![64, 570, 1500],
        }
    }

    /// Average frame size in bytes (FCS included), for Gbps figures.
    pub fn average(&self, v6: bool) -> f64 {
        let n = IMIX.len() as u64;
        (0..n).map(|i| f64::from(self.frame(i, v6))).sum::<f64>() / n as f64
    }

    /// Checks the size against the Ethernet limits and the IP family (`v6`: IPv6 inner).
    pub fn check(&self, v6: bool) -> Result<(), String> {
        let min = if v6 { MIN_FRAME_V6 } else { MIN_FRAME };
        for s in self
            .distinct()
            .into_iter()
            .map(|s| if v6 && *self == FrameSize::Imix { s.max(min) } else { s })
        {
            if s < min || s > MAX_FRAME {
                return Err(format!(
                    "frame size {s} is outside {min}..={MAX_FRAME} bytes (Ethernet frame with FCS{})",
                    if v6 { ", IPv6/UDP with the 18-byte load header" } else { "" }
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Display for FrameSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameSize::Fixed(s) => write!(f, "{s}"),
            FrameSize::Imix => f.write_str("imix"),
        }
    }
}

impl FromStr for FrameSize {
    type Err = String;

    /// `imix` or a number of bytes (range checked by [`FrameSize::check`]).
    fn from_str(s: &str) -> Result<FrameSize, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("imix") {
            return Ok(FrameSize::Imix);
        }
        t.parse::<u16>()
            .map(FrameSize::Fixed)
            .map_err(|_| format!("'{s}' is not a frame size (bytes, e.g. 64, or imix)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_fits_a_64_byte_frame() {
        // 64 - 4 FCS - 14 Ethernet - 20 IPv4 - 8 UDP = 18.
        assert_eq!(64 - FCS_LEN - 14 - 20 - 8, HEADER_LEN);
        for h in [
            Header { stream: 0, seq: 0, tsc: 0 },
            Header { stream: 7, seq: 123_456_789, tsc: u64::MAX - 5 },
            Header { stream: 255, seq: MAX_SEQ, tsc: 1 },
        ] {
            let b = h.to_bytes();
            assert_eq!(&b[..2], b"QF");
            assert_eq!(Header::parse(&b), Some(h));
            let mut longer = b.to_vec();
            longer.extend_from_slice(&[0, 1, 2]);
            assert_eq!(Header::parse(&longer), Some(h));
        }
    }

    #[test]
    fn foreign_and_damaged_payloads_are_refused() {
        let b = Header { stream: 1, seq: 42, tsc: 99 }.to_bytes();
        assert_eq!(Header::parse(&b[..17]), None, "too short");
        for i in 0..HEADER_LEN {
            let mut d = b;
            d[i] ^= 0x10;
            assert_eq!(Header::parse(&d), None, "byte {i} flipped");
        }
        assert_eq!(Header::parse(&[0u8; 32]), None);
    }

    #[test]
    fn pattern() {
        let mut p = [0xffu8; 300];
        fill_pattern(&mut p);
        assert_eq!((p[0], p[1], p[255], p[256], p[299]), (0, 1, 255, 0, 43));
        assert!(pattern_ok(&p));
        p[100] ^= 1;
        assert!(!pattern_ok(&p));
    }

    #[test]
    fn sizes() {
        assert_eq!("imix".parse::<FrameSize>(), Ok(FrameSize::Imix));
        assert_eq!(" 512 ".parse::<FrameSize>(), Ok(FrameSize::Fixed(512)));
        assert!("big".parse::<FrameSize>().is_err());
        assert!(FrameSize::Fixed(63).check(false).is_err());
        assert!(FrameSize::Fixed(64).check(false).is_ok());
        assert!(FrameSize::Fixed(64).check(true).is_err());
        assert!(FrameSize::Fixed(84).check(true).is_ok());
        assert!(FrameSize::Fixed(1519).check(false).is_err());
        assert!(FrameSize::Imix.check(false).is_ok());
        let counts = (0..12).fold([0; 3], |mut c, i| {
            match FrameSize::Imix.of(i) {
                64 => c[0] += 1,
                570 => c[1] += 1,
                1500 => c[2] += 1,
                s => panic!("{s}"),
            }
            c
        });
        assert_eq!(counts, [7, 4, 1]);
        assert!((FrameSize::Imix.average(false) - 352.33).abs() < 0.01);
        assert!(FrameSize::Imix.check(true).is_ok());
        assert_eq!((FrameSize::Imix.frame(0, true), FrameSize::Imix.frame(1, true)), (84, 570));
        assert_eq!(FrameSize::Fixed(64).frame(0, true), 64);
    }
}
