//! ESP headers and trailers (RFC 4303) with the AES-GCM sizes of RFC 4106.
//!
//! On the wire an ESP packet is `SPI | Sequence Number | IV (8) | ciphertext | ICV (16)`,
//! and the plaintext under the ciphertext is `payload | padding | Pad Length | Next Header`.
//! [`Packet`] is the clear-text header, [`Trailer`] the end of the decrypted plaintext.
//! Padding is RFC 4303's default (bytes 1, 2, 3, ...), just enough to end on 4 bytes: GCM is
//! a stream mode, so nothing more is needed.

use super::{Error, Result};

mod field {
    use core::ops::Range;
    pub const SPI: Range<usize> = 0..4;
    pub const SEQ: Range<usize> = 4..8;
}

/// SPI and Sequence Number.
pub const HEADER_LEN: usize = 8;
/// Explicit IV of AES-GCM-ESP (RFC 4106 section 3.1).
pub const IV_LEN: usize = 8;
/// ICV of AES-GCM-ESP with a 16-byte tag (RFC 4106 section 6).
pub const ICV_LEN: usize = 16;
/// Pad Length and Next Header.
pub const TRAILER_LEN: usize = 2;
/// The shortest ESP packet that can be valid: header, IV, an empty payload's trailer, ICV.
pub const MIN_LEN: usize = HEADER_LEN + IV_LEN + TRAILER_LEN + ICV_LEN;
/// The largest padding RFC 4303 allows.
pub const MAX_PAD: usize = 255;

/// A read/write view of an ESP header (and what follows it).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it (for headers we build).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a received buffer holding at least the SPI and Sequence Number.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that SPI and Sequence Number are there.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN { Err(Error) } else { Ok(()) }
    }

    /// Security Parameters Index.
    pub fn spi(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Sequence Number (the low 32 bits with ESN).
    pub fn seq(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([b[4], b[5], b[6], b[7]])
    }

    /// Everything after the header: IV, ciphertext and ICV.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the SPI.
    pub fn set_spi(&mut self, spi: u32) {
        self.buffer.as_mut()[field::SPI].copy_from_slice(&spi.to_be_bytes());
    }

    /// Sets the Sequence Number field.
    pub fn set_seq(&mut self, seq: u32) {
        self.buffer.as_mut()[field::SEQ].copy_from_slice(&seq.to_be_bytes());
    }
}

/// An ESP header as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Security Parameters Index.
    pub spi: u32,
    /// Sequence Number field.
    pub seq: u32,
}

impl Repr {
    /// Reads a checked header.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        p.check_len()?;
        Ok(Repr { spi: p.spi(), seq: p.seq() })
    }

    /// Header length.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header at the start of `buf` (>= 8 bytes).
    pub fn emit(&self, buf: &mut [u8]) {
        let mut p = Packet::new_unchecked(&mut buf[..HEADER_LEN]);
        p.set_spi(self.spi);
        p.set_seq(self.seq);
    }
}

/// Padding needed after a payload of `payload_len` bytes so that payload, padding and the
/// two trailer bytes end on a 4-byte boundary (RFC 4303 section 2.4).
pub const fn pad_len_for(payload_len: usize) -> usize {
    (4 - (payload_len + TRAILER_LEN) % 4) % 4
}

/// The ESP trailer at the end of a decrypted plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    /// Pad Length.
    pub pad_len: u8,
    /// Next Header: 4 (IPv4) or 41 (IPv6) in tunnel mode, 59 for a dummy packet.
    pub next_header: u8,
}

impl Trailer {
    /// Reads the trailer at the end of `plaintext` and checks that there is room for the
    /// padding and that the padding is RFC 4303's default 1, 2, 3, ... (section 2.4: the
    /// receiver should inspect it; qfp always does, as a cheap integrity check on the
    /// sender).
    pub fn parse(plaintext: &[u8]) -> Result<Trailer> {
        let n = plaintext.len();
        if n < TRAILER_LEN {
            return Err(Error);
        }
        let t = Trailer { pad_len: plaintext[n - 2], next_header: plaintext[n - 1] };
        let pad = usize::from(t.pad_len);
        if pad + TRAILER_LEN > n {
            return Err(Error);
        }
        let padding = &plaintext[n - TRAILER_LEN - pad..n - TRAILER_LEN];
        // Fold the comparison so the time does not depend on where a mismatch is (this runs
        // on authenticated data, but it costs nothing).
        let bad = padding.iter().enumerate().fold(0u8, |acc, (i, &b)| acc | (b ^ (i as u8 + 1)));
        if bad != 0 {
            return Err(Error);
        }
        Ok(t)
    }

    /// Length of the payload in front of padding and trailer.
    pub const fn payload_len(&self, plaintext_len: usize) -> usize {
        plaintext_len - self.pad_len as usize - TRAILER_LEN
    }

    /// Bytes that padding and trailer take.
    pub const fn buffer_len(&self) -> usize {
        self.pad_len as usize + TRAILER_LEN
    }

    /// Writes default padding, Pad Length and Next Header into `buf`, which must be exactly
    /// `buffer_len()` bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        let pad = usize::from(self.pad_len);
        for (i, b) in buf[..pad].iter_mut().enumerate() {
            *b = i as u8 + 1;
        }
        buf[pad] = self.pad_len;
        buf[pad + 1] = self.next_header;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ESP part of a published tunnel-mode packet: DPDK's `pkt_aes_128_gcm`
    /// (app/test/test_cryptodev_security_ipsec_test_vectors.h), after its 20-byte outer
    /// IPv4 header. SPI 0xa5f8, sequence 1, IV facedbaddecaf888.
    const ESP: [u8; 96] = [
        0x00, 0x00, 0xa5, 0xf8, 0x00, 0x00, 0x00, 0x01, 0xfa, 0xce, 0xdb, 0xad, 0xde, 0xca, 0xf8,
        0x88, 0xde, 0xb2, 0x2c, 0xd9, 0xb0, 0x7c, 0x72, 0xc1, 0x6e, 0x3a, 0x65, 0xbe, 0xeb, 0x8d,
        0xf3, 0x04, 0xa5, 0xa5, 0x89, 0x7d, 0x33, 0xae, 0x53, 0x0f, 0x1b, 0xa7, 0x6d, 0x5d, 0x11,
        0x4d, 0x2a, 0x5c, 0x3d, 0xe8, 0x18, 0x27, 0xc1, 0x0e, 0x9a, 0x4f, 0x51, 0x33, 0x0d, 0x0e,
        0xec, 0x41, 0x66, 0x42, 0xcf, 0xbb, 0x85, 0xa5, 0xb4, 0x7e, 0x48, 0xa4, 0xec, 0x3b, 0x9b,
        0xa9, 0x5d, 0x91, 0x8b, 0xd4, 0x29, 0xc7, 0x37, 0x57, 0x9f, 0xf1, 0x9e, 0x58, 0xcf, 0xfc,
        0x60, 0x7a, 0x3b, 0xce, 0x89, 0x94,
    ];

    #[test]
    fn published_packet_header() {
        let p = Packet::new_checked(&ESP[..]).unwrap();
        assert_eq!((p.spi(), p.seq()), (0xa5f8, 1));
        assert_eq!(&p.payload()[..IV_LEN], &[0xfa, 0xce, 0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88]);
        // 62 bytes of plaintext (a 60-byte inner IPv4 packet, no padding, trailer).
        assert_eq!(ESP.len() - HEADER_LEN - IV_LEN - ICV_LEN, 64);
        let r = Repr::parse(&p).unwrap();
        let mut out = [0u8; 8];
        r.emit(&mut out);
        assert_eq!(out, ESP[..8]);
        for n in 0..HEADER_LEN {
            assert!(Packet::new_checked(&ESP[..n]).is_err());
        }
    }

    #[test]
    fn trailer_of_the_published_plaintext() {
        // The last bytes of that packet's plaintext: DNS payload end, pad length 0, NH 4.
        let tail = [0x00, 0x01, 0x00, 0x01, 0x00, 0x04];
        let t = Trailer::parse(&tail).unwrap();
        assert_eq!(t, Trailer { pad_len: 0, next_header: 4 });
        assert_eq!(t.payload_len(tail.len()), 4);
    }

    #[test]
    fn padding_is_checked() {
        let ok = [0xaa, 1, 2, 3, 3, 41];
        let t = Trailer::parse(&ok).unwrap();
        assert_eq!((t.pad_len, t.next_header, t.payload_len(6)), (3, 41, 1));
        assert!(Trailer::parse(&[0xaa, 1, 9, 3, 3, 41]).is_err(), "wrong padding byte");
        assert!(Trailer::parse(&[1, 2, 3, 4, 41]).is_err(), "pad longer than the data");
        assert!(Trailer::parse(&[4]).is_err());
        assert!(Trailer::parse(&[]).is_err());
        assert_eq!(Trailer::parse(&[0, 4]).unwrap().payload_len(2), 0);
    }

    #[test]
    fn emit_round_trips_and_aligns() {
        for len in 0..40usize {
            let pad = pad_len_for(len);
            assert_eq!((len + pad + TRAILER_LEN) % 4, 0);
            assert!(pad < 4);
            let t = Trailer { pad_len: pad as u8, next_header: 4 };
            let mut pt = vec![0x5a; len + t.buffer_len()];
            t.emit(&mut pt[len..]);
            assert_eq!(Trailer::parse(&pt).unwrap(), t);
        }
    }
}
