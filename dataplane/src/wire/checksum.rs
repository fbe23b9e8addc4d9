//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Used for the IPv4 header checksum we build on encap and check on decap, and by the
//! gateway when it decrements a TTL: rewriting one 16-bit word must not cost a pass over
//! the header.

/// Adds `data` as big-endian 16-bit words to a one's-complement accumulator (an odd last
/// byte is padded with zero, as RFC 1071 says). Returns the sum folded to 16 bits.
///
/// The words are summed 32 bits at a time into 64 bits, with no fold inside the loop
/// (RFC 1071 section 2 (B): the sum is independent of the unit; a 64-bit accumulator
/// cannot overflow below 2^32 words), so the adds are independent and pipeline: a 20-byte
/// header is five adds instead of a chain of ten add-and-folds, which the gateway pays on
/// every IPv4 packet it checks.
#[inline]
pub fn sum(acc: u32, data: &[u8]) -> u32 {
    let mut a = u64::from(acc);
    let mut quads = data.chunks_exact(4);
    for q in &mut quads {
        a += u64::from(u32::from_be_bytes([q[0], q[1], q[2], q[3]]));
    }
    match *quads.remainder() {
        [x, y, z] => a += u64::from(u16::from_be_bytes([x, y])) + (u64::from(z) << 8),
        [x, y] => a += u64::from(u16::from_be_bytes([x, y])),
        [x] => a += u64::from(x) << 8,
        _ => {}
    }
    while a > 0xffff {
        a = (a & 0xffff) + (a >> 16);
    }
    a as u32
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

    proptest::proptest! {
        /// The 32-bit-at-a-time sum equals RFC 1071's 16-bit words, folded as it goes.
        #[test]
        fn wide_sum_equals_the_word_by_word_sum(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            acc in 0u32..=0x1_fffe,
        ) {
            let mut want = acc;
            for w in data.chunks(2) {
                want += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
                want = (want & 0xffff) + (want >> 16);
            }
            proptest::prop_assert_eq!(finish(sum(acc, &data)), finish(want));
            proptest::prop_assert!(sum(acc, &data) <= 0xffff);
        }
    }
}
