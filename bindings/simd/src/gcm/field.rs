//! GHASH arithmetic in GF(2^128) on carry-less multiply, shared by both kernels.
//!
//! GCM numbers the bits of a block from the most significant bit of byte 0 (that bit is the
//! coefficient of x^0) and reduces modulo P = x^128 + x^7 + x^2 + x + 1. Loading a block
//! byte-reversed (one `pshufb`) turns it into the 128-bit integer whose bit j is the
//! coefficient of x^(127-j): the *reflected* polynomial. Carry-less products of reflected
//! values are reflected products, shifted by one bit, and reduce modulo the reflected
//! polynomial Q = x^128 + x^127 + x^126 + x^121 + 1. Writing F(A) for the reflection of A:
//!
//! ```text
//!   F(A) * F(B) = x^127 * F(A*B)   (mod Q)
//! ```
//!
//! so with the hash key stored as `H~ = F(H) * x mod Q` (computed once per key), a Montgomery
//! reduction by x^128 of `clmul(F(A), H~)` is exactly `F(A*H)`: no per-block bit shift. The
//! same identity makes `mont(H~_i * H~_j) = H~_(i+j)`, which is how the key powers are built.
//!
//! The Montgomery reduction folds the low 64-bit word twice with `Q = x^128 + c*x^64 + 1`,
//! c = x^63 + x^62 + x^57 (`0xc2000000_00000000`): two `pclmulqdq` and a few XORs. Sums of
//! products are linear, so n blocks multiplied by H^n..H^1 are added unreduced and reduced
//! once ("aggregated reduction").
//!
//! Every function here is safe: the intrinsics they call are safe inside a function compiled
//! with the matching `#[target_feature]`, and callers can only reach them from kernels that
//! were entered through a CPU-feature token (see the crate documentation).

use core::arch::x86_64::*;

/// The low word of Q without its x^128 and x^0 terms, shifted down by 64: c in the doc above.
const FOLD: i64 = 0xc200_0000_0000_0000_u64 as i64;

/// A 256-bit carry-less product (or a sum of them) in Karatsuba form: `lo = a.lo*h.lo`,
/// `hi = a.hi*h.hi` and the raw middle `mid = (a.lo^a.hi)*(h.lo^h.hi)`; the product is
/// `lo + (mid + lo + hi) * x^64 + hi * x^128`. Parts from many blocks are XORed together
/// and the middle term is corrected once, in [`reduce`].
#[derive(Clone, Copy)]
pub(crate) struct Wide {
    pub lo: __m128i,
    pub mid: __m128i,
    pub hi: __m128i,
}

/// The `pshufb` mask that reverses the 16 bytes of a block (GCM byte order <-> reflected).
#[inline]
#[target_feature(enable = "sse2")]
pub(crate) fn bswap_mask() -> __m128i {
    _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
}

/// A block as GCM bytes -> the reflected field element (and back: the map is an involution).
#[inline]
#[target_feature(enable = "sse2,ssse3")]
pub(crate) fn reflect(block: __m128i, mask: __m128i) -> __m128i {
    _mm_shuffle_epi8(block, mask)
}

/// A 16-byte array as a register (an unaligned load once optimised).
#[inline]
pub(crate) fn load(bytes: &[u8; 16]) -> __m128i {
    bytemuck::must_cast(*bytes)
}

/// A register as a 16-byte array.
#[inline]
pub(crate) fn to_bytes(v: __m128i) -> [u8; 16] {
    bytemuck::must_cast(v)
}

#[inline]
#[target_feature(enable = "sse2")]
pub(crate) fn zero() -> __m128i {
    _mm_setzero_si128()
}

#[inline]
#[target_feature(enable = "sse2")]
pub(crate) fn xor(a: __m128i, b: __m128i) -> __m128i {
    _mm_xor_si128(a, b)
}

/// The Karatsuba helper of a multiplier: `h.lo ^ h.hi` (in both halves).
#[inline]
#[target_feature(enable = "sse2")]
pub(crate) fn helper(h: __m128i) -> __m128i {
    _mm_xor_si128(h, _mm_shuffle_epi32::<0x4e>(h))
}

/// The carry-less product of `a` and `h` (three `pclmulqdq`); `hk` is [`helper`]`(h)`.
#[inline]
#[target_feature(enable = "sse2,pclmulqdq")]
pub(crate) fn mul_wide(a: __m128i, h: __m128i, hk: __m128i) -> Wide {
    Wide {
        lo: _mm_clmulepi64_si128::<0x00>(a, h),
        mid: _mm_clmulepi64_si128::<0x00>(helper(a), hk),
        hi: _mm_clmulepi64_si128::<0x11>(a, h),
    }
}

/// `acc += a * h`, unreduced.
#[inline]
#[target_feature(enable = "sse2,pclmulqdq")]
pub(crate) fn mul_acc(acc: &mut Wide, a: __m128i, h: __m128i, hk: __m128i) {
    let p = mul_wide(a, h, hk);
    acc.lo = _mm_xor_si128(acc.lo, p.lo);
    acc.mid = _mm_xor_si128(acc.mid, p.mid);
    acc.hi = _mm_xor_si128(acc.hi, p.hi);
}

/// The Montgomery reduction: `w * x^-128 mod Q`, a reduced reflected element.
#[inline]
#[target_feature(enable = "sse2,pclmulqdq")]
pub(crate) fn reduce(w: Wide) -> __m128i {
    let mid = _mm_xor_si128(w.mid, _mm_xor_si128(w.lo, w.hi));
    let lo = _mm_xor_si128(w.lo, _mm_slli_si128::<8>(mid));
    let hi = _mm_xor_si128(w.hi, _mm_srli_si128::<8>(mid));
    let c = _mm_set_epi64x(0, FOLD);
    // Cancel the lowest 64-bit word with (word * Q), then drop it (swap halves): twice.
    let t = _mm_clmulepi64_si128::<0x00>(lo, c);
    let lo = _mm_xor_si128(_mm_shuffle_epi32::<0x4e>(lo), t);
    let t = _mm_clmulepi64_si128::<0x00>(lo, c);
    let lo = _mm_xor_si128(_mm_shuffle_epi32::<0x4e>(lo), t);
    _mm_xor_si128(lo, hi)
}

/// The field product of two reflected elements, one of them in the `H~` form.
#[inline]
#[target_feature(enable = "sse2,pclmulqdq")]
pub(crate) fn mul(a: __m128i, b: __m128i) -> __m128i {
    reduce(mul_wide(a, b, helper(b)))
}

/// `H~ = F(H) * x mod Q` from the hash key H = AES_K(0^128) as GCM bytes.
pub(crate) fn h_tilde(h: [u8; 16]) -> __m128i {
    // Reflected load = the block read as a big-endian integer.
    let v = u128::from_be_bytes(h);
    // Multiply by x: shift left; an x^128 that falls out is x^127 + x^126 + x^121 + 1 mod Q.
    // Branch-free, the key is secret.
    let carry = 0u128.wrapping_sub(v >> 127);
    let t = (v << 1) ^ (carry & 0xc200_0000_0000_0000_0000_0000_0000_0001);
    bytemuck::must_cast(t)
}

/// `src` (fewer than 4 bytes), zero-extended, little-endian.
#[inline(always)]
fn tail_u32(src: &[u8]) -> u32 {
    match *src {
        [a] => u32::from(a),
        [a, b] => u32::from(u16::from_le_bytes([a, b])),
        [a, b, c] => u32::from(u16::from_le_bytes([a, b])) | u32::from(c) << 16,
        _ => 0,
    }
}

/// `src` (at most 16 bytes) zero-padded to a block, as a register, assembled from 4-byte
/// (and smaller) loads. A caller that has just written `src` on the stack in small pieces
/// (ESP's AAD is SPI then sequence number, its nonce salt then IV) would stall a 16-byte
/// load until those stores retire (no store-to-load forwarding across several stores);
/// loads no wider than each store forward. No library call either.
#[inline]
#[target_feature(enable = "sse2,sse4.1")]
pub(crate) fn load_short(src: &[u8]) -> __m128i {
    let n = src.len();
    let word = |i: usize| -> i32 {
        let at = 4 * i;
        let w = match src.get(at..at + 4) {
            Some(w) => u32::from_le_bytes([w[0], w[1], w[2], w[3]]),
            None if at < n => tail_u32(&src[at..]),
            None => 0,
        };
        w as i32
    };
    _mm_set_epi32(word(3), word(2), word(1), word(0))
}

/// J0 = nonce || 00000001 as a register, assembled from 4-byte loads (see [`load_short`]).
#[inline]
#[target_feature(enable = "sse2,sse4.1")]
pub(crate) fn j0_block(nonce: &[u8; 12]) -> __m128i {
    _mm_insert_epi8::<15>(load_short(nonce), 1)
}

/// The 12-byte nonce as GCM's first counter block J0 = nonce || 00000001.
#[inline]
pub(crate) fn j0(nonce: &[u8; 12]) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..12].copy_from_slice(nonce);
    b[15] = 1;
    b
}

/// GHASH's final block: the bit lengths of the AAD and of the ciphertext, big-endian.
#[inline]
pub(crate) fn length_block(aad_len: usize, text_len: usize) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&((aad_len as u64) * 8).to_be_bytes());
    b[8..].copy_from_slice(&((text_len as u64) * 8).to_be_bytes());
    b
}
