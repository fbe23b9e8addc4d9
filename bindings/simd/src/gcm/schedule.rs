//! Per-key state of the SIMD kernels: AES round keys and the GHASH key powers, computed once
//! per key (once per SA) and wiped on drop.
//!
//! The powers are stored in *descending* order with a zero at the end,
//! `hp = [H^17, H^16, .., H^1, 0]` (each in the `H~` form of [`super::field`]), so that a group
//! of n blocks hashed with one reduction multiplies block k by `hp[NP - 1 - n + k] = H^(n-k)`:
//! a contiguous run, which the 256-bit kernel loads two at a time. The trailing zero lets a
//! group be padded to an even number of blocks with a block that contributes nothing.

use core::arch::x86_64::*;

use zeroize::Zeroize;

use super::field;

/// Number of stored power slots: H^17..H^1 and the zero pad. The largest groups are the
/// 256-bit kernel's tail (14 whole blocks, 2 partial-buffer blocks and the length block) and
/// an AAD group (16 whole blocks and a padded one): 17.
pub(crate) const NP: usize = 18;

/// Round keys and hash-key powers (816 bytes), aligned so no 256-bit load splits a line.
#[derive(Clone)]
#[repr(C, align(32))]
pub(crate) struct Schedule {
    /// AES round keys; AES-128 uses the first 11, AES-256 all 15.
    pub rk: [__m128i; 15],
    /// `hp[i] = H~^(NP - 1 - i)` for `i < NP - 1`, and `hp[NP - 1] = 0`.
    pub hp: [__m128i; NP],
    /// Karatsuba helpers: `hk[i]` holds `hp[i].lo ^ hp[i].hi` in both halves.
    pub hk: [__m128i; NP],
}

impl Drop for Schedule {
    fn drop(&mut self) {
        self.rk.zeroize();
        self.hp.zeroize();
        self.hk.zeroize();
    }
}

/// The first power index of a group of `n` blocks (block k uses `hp[first_power(n) + k]`).
#[inline]
pub(crate) const fn first_power(n: usize) -> usize {
    NP - 1 - n
}

/// One AES key-expansion step for the words of `prev`: the running XOR of its four words
/// with `t` (the broadcast `SubWord(RotWord)` / `SubWord` word) added to each.
#[inline]
#[target_feature(enable = "sse2")]
fn expand_step(prev: __m128i, t: __m128i) -> __m128i {
    let mut k = prev;
    k = _mm_xor_si128(k, _mm_slli_si128::<4>(k));
    k = _mm_xor_si128(k, _mm_slli_si128::<4>(k));
    k = _mm_xor_si128(k, _mm_slli_si128::<4>(k));
    _mm_xor_si128(k, t)
}

#[target_feature(enable = "aes,sse2")]
fn expand128(key: &[u8; 16]) -> [__m128i; 15] {
    let mut rk = [_mm_setzero_si128(); 15];
    rk[0] = field::load(key);
    macro_rules! round {
        ($i:literal, $rcon:literal) => {
            let t = _mm_shuffle_epi32::<0xff>(_mm_aeskeygenassist_si128::<$rcon>(rk[$i - 1]));
            rk[$i] = expand_step(rk[$i - 1], t);
        };
    }
    round!(1, 0x01);
    round!(2, 0x02);
    round!(3, 0x04);
    round!(4, 0x08);
    round!(5, 0x10);
    round!(6, 0x20);
    round!(7, 0x40);
    round!(8, 0x80);
    round!(9, 0x1b);
    round!(10, 0x36);
    rk
}

#[target_feature(enable = "aes,sse2")]
fn expand256(key: &[u8; 32]) -> [__m128i; 15] {
    let mut rk = [_mm_setzero_si128(); 15];
    let (lo, hi) = key.split_at(16);
    rk[0] = field::load(lo.try_into().expect("16 bytes"));
    rk[1] = field::load(hi.try_into().expect("16 bytes"));
    // Even round keys take RotWord+SubWord+Rcon of the previous key's last word (0xff
    // shuffle); odd ones only SubWord of it (0xaa shuffle).
    macro_rules! even {
        ($i:literal, $rcon:literal) => {
            let t = _mm_shuffle_epi32::<0xff>(_mm_aeskeygenassist_si128::<$rcon>(rk[$i - 1]));
            rk[$i] = expand_step(rk[$i - 2], t);
        };
    }
    macro_rules! odd {
        ($i:literal) => {
            let t = _mm_shuffle_epi32::<0xaa>(_mm_aeskeygenassist_si128::<0x00>(rk[$i - 1]));
            rk[$i] = expand_step(rk[$i - 2], t);
        };
    }
    even!(2, 0x01);
    odd!(3);
    even!(4, 0x02);
    odd!(5);
    even!(6, 0x04);
    odd!(7);
    even!(8, 0x08);
    odd!(9);
    even!(10, 0x10);
    odd!(11);
    even!(12, 0x20);
    odd!(13);
    even!(14, 0x40);
    rk
}

/// Encrypts one block with `NR` rounds (10: AES-128, 14: AES-256).
#[inline]
#[target_feature(enable = "aes,sse2")]
pub(crate) fn encrypt_block<const NR: usize>(rk: &[__m128i; 15], block: __m128i) -> __m128i {
    let mut s = _mm_xor_si128(block, rk[0]);
    for k in &rk[1..NR] {
        s = _mm_aesenc_si128(s, *k);
    }
    _mm_aesenclast_si128(s, rk[NR])
}

impl Schedule {
    /// Expands a 16- or 32-byte key (the caller has checked the length) and precomputes the
    /// hash-key powers.
    #[target_feature(enable = "aes,pclmulqdq,sse2")]
    pub(crate) fn new(key: &[u8]) -> Schedule {
        let rk = match key.len() {
            16 => expand128(key.try_into().expect("16 bytes")),
            _ => expand256(key.try_into().expect("32 bytes")),
        };
        let zero = _mm_setzero_si128();
        let h = match key.len() {
            16 => encrypt_block::<10>(&rk, zero),
            _ => encrypt_block::<14>(&rk, zero),
        };
        let mut hp = [zero; NP];
        let h1 = field::h_tilde(field::to_bytes(h));
        hp[NP - 2] = h1;
        for k in 2..NP {
            hp[NP - 1 - k] = field::mul(hp[NP - k], h1);
        }
        let mut hk = [zero; NP];
        for (k, h) in hk.iter_mut().zip(&hp) {
            *k = field::helper(*h);
        }
        Schedule { rk, hp, hk }
    }
}
