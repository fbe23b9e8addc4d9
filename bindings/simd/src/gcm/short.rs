//! Short texts (at most [`MAX_LEN`] bytes, AAD at most 16): the 64-byte-frame case of ESP,
//! whose payload is three blocks.
//!
//! The general kernels pay, per call, for steps that only amortise over long texts: E_K(J0)
//! encrypted alone before the counter blocks, the AAD hashed and reduced as a group of its
//! own, the keystream and the hash of the tail block by block (or pair by pair), partial
//! blocks moved through `memcpy`. For a few blocks that is most of the time. Here:
//!
//! - J0 and every counter block go through AES together, one independent pipeline each
//!   (4 or 8 blocks: the AES latency is paid once, not once per block);
//! - AAD, ciphertext and length block form one GHASH group, one reduction;
//! - a partial last block is loaded and stored with fixed-size moves (no library call), and
//!   its keystream bytes past the end are masked off before hashing.
//!
//! 128-bit AES-NI on 4-8 independent blocks is as fast as VAES here (the rounds are
//! latency-bound), so both SIMD backends use this kernel for short texts.

use core::arch::x86_64::*;

use super::field::{self, Wide};
use super::schedule::{Schedule, first_power};

/// Most blocks of text handled here.
const MAX_BLOCKS: usize = 7;
/// Longest text handled here.
pub(crate) const MAX_LEN: usize = 16 * MAX_BLOCKS;
/// Longest AAD handled here (ESP's is 8 or 12 bytes).
pub(crate) const MAX_AAD: usize = 16;

/// Whether this kernel takes `aad` and `text`.
#[inline]
pub(crate) fn fits(aad: &[u8], text: &[u8]) -> bool {
    aad.len() <= MAX_AAD && text.len() <= MAX_LEN
}

/// Writes the first `dst.len()` (< 16) bytes of `b` to `dst`, with fixed-size moves only.
#[inline(always)]
fn store_part(dst: &mut [u8], b: &[u8; 16]) {
    let n = dst.len();
    let mut i = 0;
    if n & 8 != 0 {
        dst[..8].copy_from_slice(&b[..8]);
        i = 8;
    }
    if n & 4 != 0 {
        dst[i..i + 4].copy_from_slice(&b[i..i + 4]);
        i += 4;
    }
    if n & 2 != 0 {
        dst[i..i + 2].copy_from_slice(&b[i..i + 2]);
        i += 2;
    }
    if n & 1 != 0 {
        dst[i] = b[i];
    }
}

/// Ones in the first `n` (< 16) bytes: keeps a partial block's ciphertext, drops the
/// keystream bytes past its end.
#[inline]
#[target_feature(enable = "sse2")]
fn byte_mask(n: usize) -> __m128i {
    const ONES_THEN_ZEROS: [u8; 32] = {
        let mut m = [0u8; 32];
        let mut i = 0;
        while i < 16 {
            m[i] = 0xff;
            i += 1;
        }
        m
    };
    let at = 16 - n.min(16);
    let mut b = [0u8; 16];
    b.copy_from_slice(&ONES_THEN_ZEROS[at..at + 16]);
    field::load(&b)
}

/// E_K(J0) and the keystream blocks E_K(J0 + 1) .. E_K(J0 + NB), all in one pass of the
/// rounds. The counter of block k is J0's last byte (1) plus k: no carry for NB < 255.
#[inline]
#[target_feature(enable = "aes,sse2,sse4.1")]
fn keystream<const NR: usize, const NB: usize>(
    s: &Schedule,
    nonce: &[u8; 12],
) -> (__m128i, [__m128i; NB]) {
    const { assert!(NB < 255) };
    let j0 = field::j0_block(nonce);
    let mut ek_j0 = _mm_xor_si128(j0, s.rk[0]);
    let mut st = [_mm_setzero_si128(); NB];
    for (k, b) in st.iter_mut().enumerate() {
        // Byte 15 is the top byte of dword 3: adding (k + 1) << 24 adds k + 1 to it.
        let ctr = _mm_add_epi32(j0, _mm_set_epi32(((k as i32) + 1) << 24, 0, 0, 0));
        *b = _mm_xor_si128(ctr, s.rk[0]);
    }
    for rk in &s.rk[1..NR] {
        ek_j0 = _mm_aesenc_si128(ek_j0, *rk);
        for b in &mut st {
            *b = _mm_aesenc_si128(*b, *rk);
        }
    }
    ek_j0 = _mm_aesenclast_si128(ek_j0, s.rk[NR]);
    for b in &mut st {
        *b = _mm_aesenclast_si128(*b, s.rk[NR]);
    }
    (ek_j0, st)
}

/// GHASH of (AAD zero-padded, the ciphertext blocks `c` in GCM byte order, the length
/// block of `text_len` bytes) as one group: at most 1 + 7 + 1 blocks, one reduction.
#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1,pclmulqdq")]
fn ghash(s: &Schedule, aad: &[u8], c: &[__m128i], text_len: usize) -> __m128i {
    let mask = field::bswap_mask();
    let a = usize::from(!aad.is_empty());
    let mut k = first_power(a + c.len() + 1);
    let z = field::zero();
    let mut w = Wide { lo: z, mid: z, hi: z };
    if a == 1 {
        let v = field::reflect(field::load_short(aad), mask);
        field::mul_acc(&mut w, v, s.hp[k], s.hk[k]);
        k += 1;
    }
    for v in c {
        field::mul_acc(&mut w, field::reflect(*v, mask), s.hp[k], s.hk[k]);
        k += 1;
    }
    // The length block reflected is the 128-bit integer (AAD bits, text bits): no shuffle.
    let v = _mm_set_epi64x((aad.len() as i64) * 8, (text_len as i64) * 8);
    field::mul_acc(&mut w, v, s.hp[k], s.hk[k]);
    field::reduce(w)
}

#[inline]
#[target_feature(enable = "sse2,ssse3")]
fn tag(x: __m128i, ek_j0: __m128i) -> [u8; 16] {
    field::to_bytes(field::xor(field::reflect(x, field::bswap_mask()), ek_j0))
}

#[inline]
#[target_feature(enable = "aes,pclmulqdq,sse2,ssse3,sse4.1")]
fn seal_n<const NR: usize, const NB: usize>(
    s: &Schedule,
    nonce: &[u8; 12],
    aad: &[u8],
    buf: &mut [u8],
) -> [u8; 16] {
    let text_len = buf.len();
    let (ek_j0, ks) = keystream::<NR, NB>(s, nonce);
    let mut c = [field::zero(); NB];
    let (blocks, part) = buf.as_chunks_mut::<16>();
    let whole = blocks.len();
    for ((b, ci), k) in blocks.iter_mut().zip(c.iter_mut()).zip(&ks) {
        *ci = field::xor(field::load(b), *k);
        *b = field::to_bytes(*ci);
    }
    let n = if part.is_empty() {
        whole
    } else {
        let p = field::load_short(part);
        let ct = field::xor(p, ks[whole]);
        store_part(part, &field::to_bytes(ct));
        c[whole] = _mm_and_si128(ct, byte_mask(part.len()));
        whole + 1
    };
    tag(ghash(s, aad, &c[..n], text_len), ek_j0)
}

#[inline]
#[target_feature(enable = "aes,pclmulqdq,sse2,ssse3,sse4.1")]
fn open_n<const NR: usize, const NB: usize>(
    s: &Schedule,
    nonce: &[u8; 12],
    aad: &[u8],
    buf: &mut [u8],
) -> [u8; 16] {
    let text_len = buf.len();
    let (ek_j0, ks) = keystream::<NR, NB>(s, nonce);
    let mut c = [field::zero(); NB];
    let (blocks, part) = buf.as_chunks_mut::<16>();
    let whole = blocks.len();
    for (b, ci) in blocks.iter().zip(c.iter_mut()) {
        *ci = field::load(b);
    }
    let n = if part.is_empty() {
        whole
    } else {
        c[whole] = field::load_short(part);
        whole + 1
    };
    let x = ghash(s, aad, &c[..n], text_len);
    for ((b, ci), k) in blocks.iter_mut().zip(&c).zip(&ks) {
        *b = field::to_bytes(field::xor(*ci, *k));
    }
    if !part.is_empty() {
        store_part(part, &field::to_bytes(field::xor(c[whole], ks[whole])));
    }
    tag(x, ek_j0)
}

/// Encrypts `buf` (at most [`MAX_LEN`] bytes; AAD at most [`MAX_AAD`]) in place and
/// returns the tag.
#[target_feature(enable = "aes,pclmulqdq,sse2,ssse3,sse4.1")]
pub(crate) fn seal<const NR: usize>(
    s: &Schedule,
    nonce: &[u8; 12],
    aad: &[u8],
    buf: &mut [u8],
) -> [u8; 16] {
    assert!(
        fits(aad, buf),
        "short GCM kernel called with {} bytes of AAD and {} of text",
        aad.len(),
        buf.len()
    );
    if buf.len() <= 48 {
        seal_n::<NR, 3>(s, nonce, aad, buf)
    } else {
        seal_n::<NR, MAX_BLOCKS>(s, nonce, aad, buf)
    }
}

/// Decrypts `buf` (as for [`seal`]) in place and returns the tag computed over its
/// ciphertext; the caller compares it and restores the ciphertext on a mismatch.
#[target_feature(enable = "aes,pclmulqdq,sse2,ssse3,sse4.1")]
pub(crate) fn open<const NR: usize>(
    s: &Schedule,
    nonce: &[u8; 12],
    aad: &[u8],
    buf: &mut [u8],
) -> [u8; 16] {
    assert!(
        fits(aad, buf),
        "short GCM kernel called with {} bytes of AAD and {} of text",
        aad.len(),
        buf.len()
    );
    if buf.len() <= 48 {
        open_n::<NR, 3>(s, nonce, aad, buf)
    } else {
        open_n::<NR, MAX_BLOCKS>(s, nonce, aad, buf)
    }
}
