//! The 256-bit kernel (VAES + VPCLMULQDQ on AVX2 registers): two blocks per register, AES-CTR
//! over 16 blocks (8 registers) at once, stitched with a 16-block GHASH reduced once per 16
//! blocks.
//!
//! Each 128-bit lane of a `__m256i` is an independent block for `vaesenc` and
//! `vpclmulqdq`, so one instruction does the work of two AES-NI/PCLMULQDQ ones. GHASH
//! products are summed per lane and the two lanes folded before the one reduction (the
//! reduction is linear, so that is the same as reducing each). The tail (< 256 bytes) runs
//! in whole pairs, a partial last pair through a zero-padded copy; its GHASH group ends with
//! the length block.
//!
//! Entry points are safe `#[target_feature]` functions: only [`super::GcmKey`], holding a
//! [`crate::cpu::VaesClmul`] token, calls them.

use core::arch::x86_64::*;

use super::field::{self, Wide};
use super::ghash;
use super::schedule::{NP, Schedule, encrypt_block, first_power};

/// Registers (block pairs) per main-loop iteration.
const R: usize = 8;
/// Bytes per main-loop iteration.
const CHUNK: usize = 32 * R;

/// Three 256-bit partial-product sums; each lane is an independent [`Wide`].
#[derive(Clone, Copy)]
struct Wide2 {
    lo: __m256i,
    mid: __m256i,
    hi: __m256i,
}

/// Per-call constants: round keys broadcast to both lanes, the byte-reversal mask.
struct Keys {
    rk: [__m256i; 15],
    mask: __m256i,
}

#[inline]
#[target_feature(enable = "avx2")]
fn keys(s: &Schedule) -> Keys {
    let mut rk = [_mm256_setzero_si256(); 15];
    for (d, k) in rk.iter_mut().zip(&s.rk) {
        *d = _mm256_broadcastsi128_si256(*k);
    }
    Keys { rk, mask: _mm256_broadcastsi128_si256(field::bswap_mask()) }
}

#[inline]
fn load2(b: &[u8; 32]) -> __m256i {
    bytemuck::must_cast(*b)
}

/// Two adjacent stored powers as one register.
#[inline]
fn powers2(s: &Schedule, i: usize) -> __m256i {
    bytemuck::must_cast([s.hp[i], s.hp[i + 1]])
}

/// Two adjacent Karatsuba helpers as one register.
#[inline]
fn helpers2(s: &Schedule, i: usize) -> __m256i {
    bytemuck::must_cast([s.hk[i], s.hk[i + 1]])
}

/// `w += a * h` per lane, Karatsuba: three `vpclmulqdq` (see [`field::Wide`]); `hk` is
/// the helper of `h`.
#[inline]
#[target_feature(enable = "avx2,vpclmulqdq")]
fn mul_acc2(w: &mut Wide2, a: __m256i, h: __m256i, hk: __m256i) {
    w.lo = _mm256_xor_si256(w.lo, _mm256_clmulepi64_epi128::<0x00>(a, h));
    w.hi = _mm256_xor_si256(w.hi, _mm256_clmulepi64_epi128::<0x11>(a, h));
    let af = _mm256_xor_si256(a, _mm256_shuffle_epi32::<0x4e>(a));
    w.mid = _mm256_xor_si256(w.mid, _mm256_clmulepi64_epi128::<0x00>(af, hk));
}

#[inline]
#[target_feature(enable = "avx2")]
fn wide2_zero() -> Wide2 {
    Wide2 { lo: _mm256_setzero_si256(), mid: _mm256_setzero_si256(), hi: _mm256_setzero_si256() }
}

/// Adds the two lanes and reduces.
#[inline]
#[target_feature(enable = "avx2,pclmulqdq")]
fn fold_reduce(w: Wide2) -> __m128i {
    let fold =
        |v: __m256i| _mm_xor_si128(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    field::reduce(Wide { lo: fold(w.lo), mid: fold(w.mid), hi: fold(w.hi) })
}

/// `x` as the low lane of a register (to be XORed into the first block of a group).
#[inline]
#[target_feature(enable = "avx2")]
fn low_lane(x: __m128i) -> __m256i {
    _mm256_set_m128i(_mm_setzero_si128(), x)
}

/// The counter for the first data block (2), as the pair (2, 3) in reflected form, and
/// E_K(J0).
#[inline]
#[target_feature(enable = "aes,avx2,sse4.1")]
fn start<const NR: usize>(s: &Schedule, nonce: &[u8; 12]) -> (__m256i, __m128i) {
    let j0 = field::j0_block(nonce);
    let jr = field::reflect(j0, field::bswap_mask());
    let ctr =
        _mm256_add_epi32(_mm256_broadcastsi128_si256(jr), _mm256_set_epi32(0, 0, 0, 2, 0, 0, 0, 1));
    (ctr, encrypt_block::<NR>(&s.rk, j0))
}

/// `N` keystream pairs from the counter pair `ctr`, advancing it.
#[inline]
#[target_feature(enable = "avx2,vaes")]
fn keystream<const NR: usize, const N: usize>(k: &Keys, ctr: &mut __m256i) -> [__m256i; N] {
    let two = _mm256_set_epi32(0, 0, 0, 2, 0, 0, 0, 2);
    let mut st = [_mm256_setzero_si256(); N];
    for b in &mut st {
        *b = _mm256_xor_si256(_mm256_shuffle_epi8(*ctr, k.mask), k.rk[0]);
        *ctr = _mm256_add_epi32(*ctr, two);
    }
    for rk in &k.rk[1..NR] {
        for b in &mut st {
            *b = _mm256_aesenc_epi128(*b, *rk);
        }
    }
    for b in &mut st {
        *b = _mm256_aesenclast_epi128(*b, k.rk[NR]);
    }
    st
}

#[inline]
#[target_feature(enable = "avx2")]
fn xor_r<const N: usize>(a: [__m256i; N], b: &[__m256i; N]) -> [__m256i; N] {
    let mut out = a;
    for (o, v) in out.iter_mut().zip(b) {
        *o = _mm256_xor_si256(*o, *v);
    }
    out
}

/// `x` updated with one main-loop chunk of ciphertext, one reduction.
#[inline]
#[target_feature(enable = "avx2,pclmulqdq,vpclmulqdq")]
fn ghash_chunk(s: &Schedule, k: &Keys, x: __m128i, c: &[__m256i; R]) -> __m128i {
    let p = first_power(2 * R);
    let mut w = wide2_zero();
    for (i, v) in c.iter().enumerate() {
        let mut v = _mm256_shuffle_epi8(*v, k.mask);
        if i == 0 {
            v = _mm256_xor_si256(v, low_lane(x));
        }
        mul_acc2(&mut w, v, powers2(s, p + 2 * i), helpers2(s, p + 2 * i));
    }
    fold_reduce(w)
}

/// One chunk of keystream from `ctr` (advancing it) with the GHASH of the ciphertext chunk
/// `c` folded into `x`, stitched: one GHASH step after each of the first AES rounds, so the
/// multiplier runs while the AES units are busy.
#[inline]
#[target_feature(enable = "avx2,pclmulqdq,vaes,vpclmulqdq")]
fn keystream_ghash<const NR: usize>(
    s: &Schedule,
    k: &Keys,
    ctr: &mut __m256i,
    x: &mut __m128i,
    c: &[__m256i; R],
) -> [__m256i; R] {
    const { assert!(NR > R) };
    let two = _mm256_set_epi32(0, 0, 0, 2, 0, 0, 0, 2);
    let p = first_power(2 * R);
    let mut st = [_mm256_setzero_si256(); R];
    for b in &mut st {
        *b = _mm256_xor_si256(_mm256_shuffle_epi8(*ctr, k.mask), k.rk[0]);
        *ctr = _mm256_add_epi32(*ctr, two);
    }
    let mut w = wide2_zero();
    for (r, rk) in k.rk[1..NR].iter().enumerate() {
        for b in &mut st {
            *b = _mm256_aesenc_epi128(*b, *rk);
        }
        if r < R {
            let mut v = _mm256_shuffle_epi8(c[r], k.mask);
            if r == 0 {
                v = _mm256_xor_si256(v, low_lane(*x));
            }
            mul_acc2(&mut w, v, powers2(s, p + 2 * r), helpers2(s, p + 2 * r));
        }
    }
    for b in &mut st {
        *b = _mm256_aesenclast_epi128(*b, k.rk[NR]);
    }
    *x = fold_reduce(w);
    st
}

/// `x` updated with the pairs in `a` then the blocks in `b` (at most [`ghash::MAX_GROUP`]
/// blocks), one reduction. An odd `b` is padded with a zero block, which meets the zero
/// power slot.
#[inline]
#[target_feature(enable = "avx2,pclmulqdq,vpclmulqdq")]
fn group(s: &Schedule, k: &Keys, x: __m128i, a: &[[u8; 32]], b: &[[u8; 16]]) -> __m128i {
    let n = 2 * a.len() + b.len();
    assert!(n <= ghash::MAX_GROUP, "GHASH group of {n} blocks");
    let p = first_power(n);
    let mut w = wide2_zero();
    let mut carry = low_lane(x);
    let zero = [0u8; 16];
    let pairs = a.iter().copied().chain(b.chunks(2).map(|c| {
        bytemuck::must_cast::<[[u8; 16]; 2], [u8; 32]>([c[0], *c.get(1).unwrap_or(&zero)])
    }));
    for (i, pair) in pairs.enumerate() {
        let v = _mm256_xor_si256(_mm256_shuffle_epi8(load2(&pair), k.mask), carry);
        carry = _mm256_setzero_si256();
        mul_acc2(&mut w, v, powers2(s, p + 2 * i), helpers2(s, p + 2 * i));
    }
    fold_reduce(w)
}

/// The final GHASH group over ciphertext `tail` (< one chunk): its whole pairs, its
/// zero-padded rest (up to two blocks) and the length block.
#[inline]
#[target_feature(enable = "avx2,pclmulqdq,vpclmulqdq")]
fn ghash_tail(s: &Schedule, k: &Keys, x: __m128i, tail: &[u8], len_block: [u8; 16]) -> __m128i {
    let (pairs, part) = tail.as_chunks::<32>();
    let mut extra = [[0u8; 16]; 3];
    let nb = part.len().div_ceil(16);
    bytemuck::must_cast_slice_mut::<[u8; 16], u8>(&mut extra)[..part.len()].copy_from_slice(part);
    extra[nb] = len_block;
    group(s, k, x, pairs, &extra[..nb + 1])
}

/// XORs the keystream from `ctr` over `tail` (< one chunk).
#[inline]
#[target_feature(enable = "avx2,vaes")]
fn ctr_tail<const NR: usize>(k: &Keys, mut ctr: __m256i, tail: &mut [u8]) {
    let (pairs, part) = tail.as_chunks_mut::<32>();
    for pair in pairs {
        let [ks] = keystream::<NR, 1>(k, &mut ctr);
        *pair = bytemuck::must_cast(_mm256_xor_si256(load2(pair), ks));
    }
    if !part.is_empty() {
        let mut pad = [0u8; 32];
        pad[..part.len()].copy_from_slice(part);
        let [ks] = keystream::<NR, 1>(k, &mut ctr);
        pad = bytemuck::must_cast(_mm256_xor_si256(load2(&pad), ks));
        part.copy_from_slice(&pad[..part.len()]);
    }
}

#[inline]
#[target_feature(enable = "sse2,ssse3")]
fn tag(x: __m128i, ek_j0: __m128i) -> [u8; 16] {
    field::to_bytes(field::xor(field::reflect(x, field::bswap_mask()), ek_j0))
}

/// Encrypts `buf` in place and returns the tag.
#[target_feature(enable = "aes,pclmulqdq,sse2,ssse3,sse4.1,avx,avx2,vaes,vpclmulqdq")]
pub(crate) fn seal<const NR: usize>(
    s: &Schedule,
    nonce: &[u8; 12],
    aad: &[u8],
    buf: &mut [u8],
) -> [u8; 16] {
    let len_block = field::length_block(aad.len(), buf.len());
    let k = keys(s);
    let (mut ctr, ek_j0) = start::<NR>(s, nonce);
    let mut x = ghash::bytes(field::zero(), s, aad);
    let (chunks, tail) = buf.as_chunks_mut::<CHUNK>();
    // Not software-pipelined: GHASH-ing chunk i-1 during chunk i's AES measured no faster
    // (vaes) or 7-13% slower (aesni) on Zen 3; the out-of-order core already overlaps this
    // chunk's GHASH with the next chunk's AES, which does not depend on it.
    for chunk in chunks {
        let ks = keystream::<NR, R>(&k, &mut ctr);
        let c = xor_r(bytemuck::must_cast(*chunk), &ks);
        *chunk = bytemuck::must_cast(c);
        x = ghash_chunk(s, &k, x, &c);
    }
    ctr_tail::<NR>(&k, ctr, tail);
    x = ghash_tail(s, &k, x, tail, len_block);
    tag(x, ek_j0)
}

/// Decrypts `buf` in place and returns the tag computed over its ciphertext (see
/// [`super::aesni::open`]).
#[target_feature(enable = "aes,pclmulqdq,sse2,ssse3,sse4.1,avx,avx2,vaes,vpclmulqdq")]
pub(crate) fn open<const NR: usize>(
    s: &Schedule,
    nonce: &[u8; 12],
    aad: &[u8],
    buf: &mut [u8],
) -> [u8; 16] {
    let len_block = field::length_block(aad.len(), buf.len());
    let k = keys(s);
    let (mut ctr, ek_j0) = start::<NR>(s, nonce);
    let mut x = ghash::bytes(field::zero(), s, aad);
    let (chunks, tail) = buf.as_chunks_mut::<CHUNK>();
    for chunk in chunks {
        let c: [__m256i; R] = bytemuck::must_cast(*chunk);
        let ks = keystream_ghash::<NR>(s, &k, &mut ctr, &mut x, &c);
        *chunk = bytemuck::must_cast(xor_r(c, &ks));
    }
    x = ghash_tail(s, &k, x, tail, len_block);
    ctr_tail::<NR>(&k, ctr, tail);
    tag(x, ek_j0)
}

/// XORs the GCM keystream for `nonce` over `buf` (undoes [`open`] on a tag mismatch).
#[target_feature(enable = "aes,sse2,ssse3,sse4.1,avx,avx2,vaes")]
pub(crate) fn ctr<const NR: usize>(s: &Schedule, nonce: &[u8; 12], buf: &mut [u8]) {
    let k = keys(s);
    let (mut ctr, _) = start::<NR>(s, nonce);
    let (chunks, tail) = buf.as_chunks_mut::<CHUNK>();
    for chunk in chunks {
        let ks = keystream::<NR, R>(&k, &mut ctr);
        *chunk = bytemuck::must_cast(xor_r(bytemuck::must_cast(*chunk), &ks));
    }
    ctr_tail::<NR>(&k, ctr, tail);
}

const _: () = assert!(2 * R < NP);
