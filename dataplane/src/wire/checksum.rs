//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Used for the IPv4 header checksum we build on encap and check on decap, and by the
//! gateway when it decrements a TTL: rewriting one 16-bit word must not cost a pass over
//! the header.

/// Adds `data` as big-endian 16-bit words to a 32-bit one's-complement accumulator (an odd
/// last byte is padded with zero, as RFC 1071 says).
pub fn sum(mut acc: u32, data: &[u8]) -> u32 {
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        acc = acc.wrapping_add(u32::from(u16::from_be_bytes([w[0], w[1]])));
        // Fold early enough that the accumulator never overflows on any packet size.
        acc = (acc & 0xffff) + (acc >> 16);
    }
    if let [last] = words.remainder() {
        acc = acc.wrapping_add(u32::from(*last) << 8);
    }
    acc
}

/// Folds an accumulator to 16 bits and complements it: the value to put in the header.
pub fn finish(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The checksum of `data` (for a header whose checksum field is zero).
pub fn of(data: &[u8]) -> u16 {
    finish(sum(0, data))
}

/// True when `data` (checksum field included) sums to all ones, i.e. the checksum is right.
pub fn verify(data: &[u8]) -> bool {
    finish(sum(0, data)) == 0
}

/// The new checksum after one 16-bit word of the covered data changed from `old` to `new`
/// (RFC 1624 equation 3: HC' = ~(~HC + ~m + m')).
pub fn update(checksum: u16, old: u16, new: u16) -> u16 {
    let acc = u32::from(!checksum) + u32::from(!old) + u32::from(new);
    finish(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (before complement).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(of(&data), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(of(&[0x12]), of(&[0x12, 0x00]));
    }

    #[test]
    fn incremental_matches_full_recompute() {
        let mut hdr = [
            0x45, 0x00, 0x00, 0x54, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x01, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let c = of(&hdr);
        hdr[10..12].copy_from_slice(&c.to_be_bytes());
        assert!(verify(&hdr));
        for ttl in [0x3fu8, 0x01, 0x00] {
            let old = u16::from_be_bytes([hdr[8], hdr[9]]);
            hdr[8] = ttl;
            let new = u16::from_be_bytes([hdr[8], hdr[9]]);
            let inc = update(u16::from_be_bytes([hdr[10], hdr[11]]), old, new);
            hdr[10..12].copy_from_slice(&inc.to_be_bytes());
            assert!(verify(&hdr), "ttl {ttl}");
        }
    }
}
