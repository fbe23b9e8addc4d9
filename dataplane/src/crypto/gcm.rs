//! AES-GCM (NIST SP 800-38D) with a 96-bit nonce and a 128-bit tag, in place, over the
//! `aes` block cipher and the `ghash` universal hash.
//!
//! This is qfp's reference implementation, kept forever: any faster one (multi-buffer,
//! stitched AES+GHASH, VAES) must agree with it on every vector and on random inputs.
//! Per key, the AES key schedule and the GHASH key H = E_K(0^128) are computed once in
//! [`AesGcm::new`]; per packet, only counters, keystream and the hash run.
//!
//! Decryption verifies first: GHASH runs over the ciphertext, the tag is compared in
//! constant time (`subtle`), and only if it matches is the ciphertext decrypted in place. A
//! forged packet therefore never yields a single byte of plaintext in the buffer.
//!
//! Key material (round keys, H and its powers) is zeroized on drop by the `aes` and `ghash`
//! crates' `zeroize` features.

use aes::cipher::consts::U16;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use aes::{Aes128Enc, Aes192Enc, Aes256Enc};
use ghash::GHash;
use ghash::universal_hash::UniversalHash;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// Nonce length: the only one ESP uses (salt 4 + IV 8).
pub const NONCE_LEN: usize = 12;
/// Tag length.
pub const TAG_LEN: usize = 16;

/// Blocks of keystream produced per AES call: enough to keep the AES-NI/VAES pipelines
/// full.
const BATCH: usize = 8;

type Block = Array<u8, U16>;

/// The AES key size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeySize {
    /// AES-128.
    Aes128,
    /// AES-192 (not offered by the config, but RFC 4106 allows it and vectors use it).
    Aes192,
    /// AES-256.
    Aes256,
}

impl KeySize {
    /// Key length in bytes.
    pub const fn key_len(self) -> usize {
        match self {
            KeySize::Aes128 => 16,
            KeySize::Aes192 => 24,
            KeySize::Aes256 => 32,
        }
    }

    /// The size for a key of `len` bytes.
    pub const fn from_len(len: usize) -> Option<KeySize> {
        match len {
            16 => Some(KeySize::Aes128),
            24 => Some(KeySize::Aes192),
            32 => Some(KeySize::Aes256),
            _ => None,
        }
    }
}

/// A key that is not 16, 24 or 32 bytes long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidKeyLength(pub usize);

impl core::fmt::Display for InvalidKeyLength {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "AES key of {} bytes (must be 16, 24 or 32)", self.0)
    }
}

impl std::error::Error for InvalidKeyLength {}

/// The tag did not verify; the buffer is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagMismatch;

impl core::fmt::Display for TagMismatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AES-GCM tag mismatch")
    }
}

impl std::error::Error for TagMismatch {}

enum Cipher {
    A128(Aes128Enc),
    A192(Aes192Enc),
    A256(Aes256Enc),
}

/// An AES-GCM key: the expanded AES key and the GHASH state keyed with H.
pub struct AesGcm {
    cipher: Cipher,
    /// GHASH keyed with H and an empty accumulator; cloned for every message.
    ghash: GHash,
}

impl core::fmt::Debug for AesGcm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AesGcm").field("key_size", &self.key_size()).finish_non_exhaustive()
    }
}

impl AesGcm {
    /// Expands `key` (16, 24 or 32 bytes) and precomputes the GHASH key.
    pub fn new(key: &[u8]) -> Result<AesGcm, InvalidKeyLength> {
        let err = InvalidKeyLength(key.len());
        let cipher = match KeySize::from_len(key.len()).ok_or(err)? {
            KeySize::Aes128 => Cipher::A128(Aes128Enc::new_from_slice(key).map_err(|_| err)?),
            KeySize::Aes192 => Cipher::A192(Aes192Enc::new_from_slice(key).map_err(|_| err)?),
            KeySize::Aes256 => Cipher::A256(Aes256Enc::new_from_slice(key).map_err(|_| err)?),
        };
        let mut h = Block::default();
        match &cipher {
            Cipher::A128(c) => c.encrypt_block(&mut h),
            Cipher::A192(c) => c.encrypt_block(&mut h),
            Cipher::A256(c) => c.encrypt_block(&mut h),
        }
        let ghash = GHash::new(&h);
        h.as_mut_slice().zeroize();
        Ok(AesGcm { cipher, ghash })
    }

    /// The AES key size.
    pub fn key_size(&self) -> KeySize {
        match self.cipher {
            Cipher::A128(_) => KeySize::Aes128,
            Cipher::A192(_) => KeySize::Aes192,
            Cipher::A256(_) => KeySize::Aes256,
        }
    }

    /// Encrypts `buf` in place and returns the tag over `aad` and the ciphertext.
    pub fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> [u8; TAG_LEN] {
        match &self.cipher {
            Cipher::A128(c) => seal(c, &self.ghash, nonce, aad, buf),
            Cipher::A192(c) => seal(c, &self.ghash, nonce, aad, buf),
            Cipher::A256(c) => seal(c, &self.ghash, nonce, aad, buf),
        }
    }

    /// Verifies `tag` over `aad` and the ciphertext in `buf`, in constant time, and only
    /// then decrypts `buf` in place. On a mismatch `buf` is left as it was.
    pub fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), TagMismatch> {
        match &self.cipher {
            Cipher::A128(c) => open(c, &self.ghash, nonce, aad, buf, tag),
            Cipher::A192(c) => open(c, &self.ghash, nonce, aad, buf, tag),
            Cipher::A256(c) => open(c, &self.ghash, nonce, aad, buf, tag),
        }
    }
}

/// The counter block for `ctr` (J0 has ctr = 1; the payload starts at 2).
#[inline(always)]
fn counter_block(nonce: &[u8; NONCE_LEN], ctr: u32) -> Block {
    let mut b = Block::default();
    b[..NONCE_LEN].copy_from_slice(nonce);
    b[NONCE_LEN..].copy_from_slice(&ctr.to_be_bytes());
    b
}

/// XORs the keystream for counters `ctr..` into `chunk` (at most BATCH blocks long).
#[inline(always)]
fn ctr_xor<C: BlockCipherEncrypt<BlockSize = U16>>(
    c: &C,
    nonce: &[u8; NONCE_LEN],
    ctr: u32,
    chunk: &mut [u8],
) {
    let mut ks: [Block; BATCH] = Default::default();
    let nblocks = chunk.len().div_ceil(16);
    for (i, b) in ks[..nblocks].iter_mut().enumerate() {
        *b = counter_block(nonce, ctr.wrapping_add(i as u32));
    }
    c.encrypt_blocks(&mut ks[..nblocks]);
    for (d, k) in chunk.chunks_mut(16).zip(ks.iter()) {
        for (x, y) in d.iter_mut().zip(k.iter()) {
            *x ^= y;
        }
    }
}

/// The final GHASH block: bit lengths of AAD and ciphertext.
#[inline(always)]
fn lengths_block(aad_len: usize, ct_len: usize) -> Block {
    let mut b = Block::default();
    b[..8].copy_from_slice(&((aad_len as u64) * 8).to_be_bytes());
    b[8..].copy_from_slice(&((ct_len as u64) * 8).to_be_bytes());
    b
}

/// E_K(J0) XOR GHASH: the tag.
#[inline(always)]
fn finish_tag<C: BlockCipherEncrypt<BlockSize = U16>>(
    c: &C,
    nonce: &[u8; NONCE_LEN],
    mut gh: GHash,
    aad_len: usize,
    ct_len: usize,
) -> [u8; TAG_LEN] {
    gh.update(&[lengths_block(aad_len, ct_len)]);
    let s = gh.finalize();
    let mut j0 = counter_block(nonce, 1);
    c.encrypt_block(&mut j0);
    let mut tag = [0u8; TAG_LEN];
    for (t, (a, b)) in tag.iter_mut().zip(s.iter().zip(j0.iter())) {
        *t = a ^ b;
    }
    tag
}

fn seal<C: BlockCipherEncrypt<BlockSize = U16>>(
    c: &C,
    ghash: &GHash,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
) -> [u8; TAG_LEN] {
    let mut gh = ghash.clone();
    gh.update_padded(aad);
    // One pass: encrypt a batch, then hash it while it is still in L1. Every chunk but the
    // last is a whole number of blocks, so `update_padded` pads only the very end.
    let mut ctr = 2u32;
    for chunk in buf.chunks_mut(BATCH * 16) {
        ctr_xor(c, nonce, ctr, chunk);
        gh.update_padded(chunk);
        ctr = ctr.wrapping_add(BATCH as u32);
    }
    finish_tag(c, nonce, gh, aad.len(), buf.len())
}

fn open<C: BlockCipherEncrypt<BlockSize = U16>>(
    c: &C,
    ghash: &GHash,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), TagMismatch> {
    let mut gh = ghash.clone();
    gh.update_padded(aad);
    gh.update_padded(buf);
    let expected = finish_tag(c, nonce, gh, aad.len(), buf.len());
    if !bool::from(expected.ct_eq(tag)) {
        return Err(TagMismatch);
    }
    let mut ctr = 2u32;
    for chunk in buf.chunks_mut(BATCH * 16) {
        ctr_xor(c, nonce, ctr, chunk);
        ctr = ctr.wrapping_add(BATCH as u32);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// McGrew-Viega GCM spec test case 4 (AES-128, 60-byte plaintext, 20-byte AAD): the
    /// full set lives in tests/vectors.rs; this one keeps the unit honest on its own.
    #[test]
    fn gcm_spec_case_4() {
        let key = hex("feffe9928665731c6d6a8f9467308308");
        let nonce: [u8; 12] = hex("cafebabefacedbaddecaf888").try_into().unwrap();
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let pt = hex(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let ct = hex(
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
        );
        let tag: [u8; 16] = hex("5bc94fbc3221a5db94fae95ae7121a47").try_into().unwrap();
        let g = AesGcm::new(&key).unwrap();
        let mut buf = pt.clone();
        assert_eq!(g.seal_in_place(&nonce, &aad, &mut buf), tag);
        assert_eq!(buf, ct);
        g.open_in_place(&nonce, &aad, &mut buf, &tag).unwrap();
        assert_eq!(buf, pt);
    }

    #[test]
    fn forged_tag_leaves_the_ciphertext_alone() {
        let g = AesGcm::new(&[7u8; 32]).unwrap();
        let nonce = [1u8; 12];
        let mut buf = vec![0x33u8; 300];
        let mut tag = g.seal_in_place(&nonce, b"aad", &mut buf);
        let ct = buf.clone();
        tag[15] ^= 0x80;
        assert_eq!(g.open_in_place(&nonce, b"aad", &mut buf, &tag), Err(TagMismatch));
        assert_eq!(buf, ct, "no plaintext released on a bad tag");
        tag[15] ^= 0x80;
        assert_eq!(g.open_in_place(&nonce, b"aaD", &mut buf, &tag), Err(TagMismatch));
        g.open_in_place(&nonce, b"aad", &mut buf, &tag).unwrap();
        assert_eq!(buf, vec![0x33u8; 300]);
    }

    #[test]
    fn key_lengths() {
        assert_eq!(AesGcm::new(&[0; 16]).unwrap().key_size(), KeySize::Aes128);
        assert_eq!(AesGcm::new(&[0; 24]).unwrap().key_size(), KeySize::Aes192);
        assert_eq!(AesGcm::new(&[0; 32]).unwrap().key_size(), KeySize::Aes256);
        assert_eq!(AesGcm::new(&[0; 20]).err(), Some(InvalidKeyLength(20)));
    }
}
