//! GHASH over runs of whole blocks with one reduction per group (128-bit registers).
//!
//! Used by the 128-bit kernel everywhere and by both kernels for the AAD, which in ESP is a
//! single block (8 or 12 bytes, zero-padded).

use core::arch::x86_64::*;

use super::field;
use super::schedule::{NP, Schedule, first_power};

/// Most blocks one [`group`] may hash (the powers stored).
pub(crate) const MAX_GROUP: usize = NP - 1;

/// `x` updated with the blocks of `a` then of `b` (at most [`MAX_GROUP`] in all), reduced
/// once: `x' = (x + B_0) H^n + B_1 H^(n-1) + .. + B_(n-1) H`.
#[inline]
#[target_feature(enable = "sse2,ssse3,pclmulqdq")]
pub(crate) fn group(x: __m128i, s: &Schedule, a: &[[u8; 16]], b: &[[u8; 16]]) -> __m128i {
    let n = a.len() + b.len();
    if n == 0 {
        return x;
    }
    assert!(n <= MAX_GROUP, "GHASH group of {n} blocks");
    let mask = field::bswap_mask();
    let p = first_power(n);
    // The running hash joins the first block; the rest are plain (no iterator chain: it
    // costs more than the multiplies on short packets).
    let (first, a, b) = match a.split_first() {
        Some((f, rest)) => (f, rest, b),
        None => (&b[0], a, &b[1..]),
    };
    let v = field::xor(field::reflect(field::load(first), mask), x);
    let mut w = field::mul_wide(v, s.hp[p], s.hk[p]);
    let mut k = p + 1;
    for block in a {
        field::mul_acc(&mut w, field::reflect(field::load(block), mask), s.hp[k], s.hk[k]);
        k += 1;
    }
    for block in b {
        field::mul_acc(&mut w, field::reflect(field::load(block), mask), s.hp[k], s.hk[k]);
        k += 1;
    }
    field::reduce(w)
}

/// `x` updated with `data` zero-padded to whole blocks (the AAD).
#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,pclmulqdq")]
pub(crate) fn bytes(mut x: __m128i, s: &Schedule, data: &[u8]) -> __m128i {
    if data.len() <= 16 {
        // ESP's AAD: one block, assembled in a register (see `field::load_short`).
        if data.is_empty() {
            return x;
        }
        let p = first_power(1);
        let v = field::xor(field::reflect(field::load_short(data), field::bswap_mask()), x);
        return field::reduce(field::mul_wide(v, s.hp[p], s.hk[p]));
    }
    let (blocks, rest) = data.as_chunks::<16>();
    let mut groups = blocks.chunks(16);
    // The padded last block rides with the last whole-block group when there is room.
    let mut pad = [[0u8; 16]; 1];
    let padded: &[[u8; 16]] = if rest.is_empty() {
        &[]
    } else {
        pad[0][..rest.len()].copy_from_slice(rest);
        &pad
    };
    let last = if blocks.len() % 16 == 0 { None } else { groups.next_back() };
    for g in groups {
        x = group(x, s, g, &[]);
    }
    group(x, s, last.unwrap_or(&[]), padded)
}
