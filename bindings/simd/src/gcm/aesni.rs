//! The 128-bit kernel (AES-NI + PCLMULQDQ): AES-CTR over 8 blocks at once, stitched with an
//! 8-block GHASH reduced once per 8 blocks.
//!
//! This is the kernel for x86-64 CPUs without VAES/VPCLMULQDQ (and the one tests force to
//! check both paths). Eight independent AES pipelines hide the `aesenc` latency; the GHASH of
//! the same eight blocks is independent of the next iteration's AES, so the out-of-order core
//! overlaps them. The tail (< 128 bytes) goes block by block, a partial last block through a
//! zero-padded copy, and its GHASH group ends with the length block, so a short packet costs
//! one reduction for its data.
//!
//! Entry points are safe `#[target_feature]` functions: only [`super::GcmKey`], holding an
//! [`crate::cpu::AesClmul`] token, calls them.

use core::arch::x86_64::*;

use super::field;
use super::ghash;
use super::schedule::{Schedule, encrypt_block, first_power};

/// Blocks per main-loop iteration.
const W: usize = 8;

/// The counter block J0 in reflected form (its 32-bit counter is dword 0, a native integer),
/// and E_K(J0), which masks the tag.
#[inline]
#[target_feature(enable = "aes,sse2,ssse3,sse4.1")]
fn start<const NR: usize>(s: &Schedule, nonce: &[u8; 12]) -> (__m128i, __m128i) {
    let j0 = field::j0_block(nonce);
    (field::reflect(j0, field::bswap_mask()), encrypt_block::<NR>(&s.rk, j0))
}

/// W keystream blocks from counter `ctr` (reflected form), advancing it.
#[inline]
#[target_feature(enable = "aes,sse2,ssse3")]
fn keystream<const NR: usize>(s: &Schedule, ctr: &mut __m128i) -> [__m128i; W] {
    let mask = field::bswap_mask();
    let one = _mm_set_epi32(0, 0, 0, 1);
    let mut st = [_mm_setzero_si128(); W];
    for b in &mut st {
        *b = _mm_xor_si128(field::reflect(*ctr, mask), s.rk[0]);
        *ctr = _mm_add_epi32(*ctr, one);
    }
    for k in &s.rk[1..NR] {
        for b in &mut st {
            *b = _mm_aesenc_si128(*b, *k);
        }
    }
    for b in &mut st {
        *b = _mm_aesenclast_si128(*b, s.rk[NR]);
    }
    st
}

/// W keystream blocks from `ctr` (advancing it) with the GHASH of the ciphertext blocks `c`
/// folded into `x`, stitched: one GHASH multiply after each of the first AES rounds.
#[inline]
#[target_feature(enable = "aes,sse2,ssse3,pclmulqdq")]
fn keystream_ghash<const NR: usize>(
    s: &Schedule,
    ctr: &mut __m128i,
    x: &mut __m128i,
    c: &[__m128i; W],
) -> [__m128i; W] {
    const { assert!(NR > W) };
    let mask = field::bswap_mask();
    let one = _mm_set_epi32(0, 0, 0, 1);
    let p = first_power(W);
    let mut st = [_mm_setzero_si128(); W];
    for b in &mut st {
        *b = _mm_xor_si128(field::reflect(*ctr, mask), s.rk[0]);
        *ctr = _mm_add_epi32(*ctr, one);
    }
    let mut w = field::mul_wide(field::xor(field::reflect(c[0], mask), *x), s.hp[p], s.hk[p]);
    for (r, k) in s.rk[1..NR].iter().enumerate() {
        for b in &mut st {
            *b = _mm_aesenc_si128(*b, *k);
        }
        if (1..W).contains(&r) {
            field::mul_acc(&mut w, field::reflect(c[r], mask), s.hp[p + r], s.hk[p + r]);
        }
    }
    for b in &mut st {
        *b = _mm_aesenclast_si128(*b, s.rk[NR]);
    }
    *x = field::reduce(w);
    st
}

/// One keystream block from `ctr`, advancing it.
#[inline]
#[target_feature(enable = "aes,sse2,ssse3")]
fn keystream1<const NR: usize>(s: &Schedule, ctr: &mut __m128i) -> __m128i {
    let b = field::reflect(*ctr, field::bswap_mask());
    *ctr = _mm_add_epi32(*ctr, _mm_set_epi32(0, 0, 0, 1));
    encrypt_block::<NR>(&s.rk, b)
}

/// `x` updated with W ciphertext blocks `c` (GCM byte order), one reduction.
#[inline]
#[target_feature(enable = "sse2,ssse3,pclmulqdq")]
fn ghash_w(s: &Schedule, x: __m128i, c: &[__m128i; W]) -> __m128i {
    let mask = field::bswap_mask();
    let p = first_power(W);
    let mut w = field::mul_wide(field::xor(field::reflect(c[0], mask), x), s.hp[p], s.hk[p]);
    for (k, v) in c.iter().enumerate().skip(1) {
        field::mul_acc(&mut w, field::reflect(*v, mask), s.hp[p + k], s.hk[p + k]);
    }
    field::reduce(w)
}

#[inline]
#[target_feature(enable = "sse2")]
fn xor_w(a: [__m128i; W], b: &[__m128i; W]) -> [__m128i; W] {
    let mut out = a;
    for (o, v) in out.iter_mut().zip(b) {
        *o = _mm_xor_si128(*o, *v);
    }
    out
}

/// The final GHASH group: the tail's whole blocks, its zero-padded partial block and the
/// length block. `tail` holds ciphertext.
#[inline]
#[target_feature(enable = "sse2,ssse3,pclmulqdq")]
fn ghash_tail(s: &Schedule, x: __m128i, tail: &[u8], len_block: [u8; 16]) -> __m128i {
    let (blocks, part) = tail.as_chunks::<16>();
    let mut extra = [[0u8; 16]; 2];
    let mut n = 0;
    if !part.is_empty() {
        extra[0][..part.len()].copy_from_slice(part);
        n = 1;
    }
    extra[n] = len_block;
    ghash::group(x, s, blocks, &extra[..n + 1])
}

/// XORs the keystream from `ctr` over `tail` (< W blocks), a partial last block included.
#[inline]
#[target_feature(enable = "aes,sse2,ssse3")]
fn ctr_tail<const NR: usize>(s: &Schedule, mut ctr: __m128i, tail: &mut [u8]) {
    let (blocks, part) = tail.as_chunks_mut::<16>();
    for b in blocks {
        *b = field::to_bytes(field::xor(field::load(b), keystream1::<NR>(s, &mut ctr)));
    }
    if !part.is_empty() {
        let mut pad = [0u8; 16];
        pad[..part.len()].copy_from_slice(part);
        pad = field::to_bytes(field::xor(field::load(&pad), keystream1::<NR>(s, &mut ctr)));
        part.copy_from_slice(&pad[..part.len()]);
    }
}

/// The tag from the final GHASH state.
#[inline]
#[target_feature(enable = "sse2,ssse3")]
fn tag(x: __m128i, ek_j0: __m128i) -> [u8; 16] {
    field::to_bytes(field::xor(field::reflect(x, field::bswap_mask()), ek_j0))
}

/// Encrypts `buf` in place and returns the tag.
#[target_feature(enable = "aes,pclmulqdq,sse2,ssse3,sse4.1")]
pub(crate) fn seal<const NR: usize>(
    s: &Schedule,
    nonce: &[u8; 12],
    aad: &[u8],
    buf: &mut [u8],
) -> [u8; 16] {
    let len_block = field::length_block(aad.len(), buf.len());
    let (j0, ek_j0) = start::<NR>(s, nonce);
    let mut ctr = _mm_add_epi32(j0, _mm_set_epi32(0, 0, 0, 1));
    let mut x = ghash::bytes(field::zero(), s, aad);
    let (chunks, tail) = buf.as_chunks_mut::<{ 16 * W }>();
    // Not software-pipelined: GHASH-ing chunk i-1 during chunk i's AES measured no faster
    // (vaes) or 7-13% slower (aesni) on Zen 3; the out-of-order core already overlaps this
    // chunk's GHASH with the next chunk's AES, which does not depend on it.
    for chunk in chunks {
        let ks = keystream::<NR>(s, &mut ctr);
        let c = xor_w(bytemuck::must_cast(*chunk), &ks);
        *chunk = bytemuck::must_cast(c);
        x = ghash_w(s, x, &c);
    }
    ctr_tail::<NR>(s, ctr, tail);
    x = ghash_tail(s, x, tail, len_block);
    tag(x, ek_j0)
}

/// Decrypts `buf` in place and returns the tag computed over its ciphertext; the caller
/// compares it with the received one and calls [`ctr`] to restore the ciphertext on mismatch.
#[target_feature(enable = "aes,pclmulqdq,sse2,ssse3,sse4.1")]
pub(crate) fn open<const NR: usize>(
    s: &Schedule,
    nonce: &[u8; 12],
    aad: &[u8],
    buf: &mut [u8],
) -> [u8; 16] {
    let len_block = field::length_block(aad.len(), buf.len());
    let (j0, ek_j0) = start::<NR>(s, nonce);
    let mut ctr = _mm_add_epi32(j0, _mm_set_epi32(0, 0, 0, 1));
    let mut x = ghash::bytes(field::zero(), s, aad);
    let (chunks, tail) = buf.as_chunks_mut::<{ 16 * W }>();
    for chunk in chunks {
        let c: [__m128i; W] = bytemuck::must_cast(*chunk);
        let ks = keystream_ghash::<NR>(s, &mut ctr, &mut x, &c);
        *chunk = bytemuck::must_cast(xor_w(c, &ks));
    }
    x = ghash_tail(s, x, tail, len_block);
    ctr_tail::<NR>(s, ctr, tail);
    tag(x, ek_j0)
}

/// XORs the GCM keystream for `nonce` over `buf` (counter 2 onwards): undoes [`open`]'s
/// decryption when the tag did not match.
#[target_feature(enable = "aes,sse2,ssse3,sse4.1")]
pub(crate) fn ctr<const NR: usize>(s: &Schedule, nonce: &[u8; 12], buf: &mut [u8]) {
    let (j0, _) = start::<NR>(s, nonce);
    let mut ctr = _mm_add_epi32(j0, _mm_set_epi32(0, 0, 0, 1));
    let (chunks, tail) = buf.as_chunks_mut::<{ 16 * W }>();
    for chunk in chunks {
        let ks = keystream::<NR>(s, &mut ctr);
        *chunk = bytemuck::must_cast(xor_w(bytemuck::must_cast(*chunk), &ks));
    }
    ctr_tail::<NR>(s, ctr, tail);
}
