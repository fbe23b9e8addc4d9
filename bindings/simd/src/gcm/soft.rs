//! The portable backend: GCM composed from the `aes` and `ghash` crates (RustCrypto).
//!
//! Used when the CPU lacks AES-NI/PCLMULQDQ (or on other architectures), so that
//! [`super::GcmKey`] works everywhere. It is the same construction the tests use as their
//! reference, but this copy lives in the library and is not what the SIMD kernels are
//! checked against (the tests carry their own). Both crates zeroize their state on drop
//! (their `zeroize` feature).

use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use ghash::GHash;
use ghash::universal_hash::UniversalHash;

use super::field::{j0, length_block};

// Both variants are large; boxing would add an allocation per key for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Cipher {
    Aes128(aes::Aes128),
    Aes256(aes::Aes256),
}

/// An expanded key and its GHASH key.
#[derive(Clone)]
pub(crate) struct SoftKey {
    cipher: Cipher,
    ghash: GHash,
}

/// Blocks encrypted per call into the cipher (lets `aes` use its parallel backend).
const BATCH: usize = 8;

impl SoftKey {
    /// `key` is 16 or 32 bytes (checked by the caller).
    pub(crate) fn new(key: &[u8]) -> SoftKey {
        let cipher = match key.len() {
            16 => Cipher::Aes128(aes::Aes128::new_from_slice(key).expect("16-byte key")),
            _ => Cipher::Aes256(aes::Aes256::new_from_slice(key).expect("32-byte key")),
        };
        let mut h = Array::from([0u8; 16]);
        match &cipher {
            Cipher::Aes128(c) => c.encrypt_block(&mut h),
            Cipher::Aes256(c) => c.encrypt_block(&mut h),
        }
        let ghash = GHash::new(&h);
        zeroize::Zeroize::zeroize(h.as_mut_slice());
        SoftKey { cipher, ghash }
    }

    fn encrypt_blocks(&self, blocks: &mut [Array<u8, aes::cipher::consts::U16>]) {
        match &self.cipher {
            Cipher::Aes128(c) => c.encrypt_blocks(blocks),
            Cipher::Aes256(c) => c.encrypt_blocks(blocks),
        }
    }

    /// XORs the keystream from counter 2 over `buf`; returns E_K(J0).
    fn ctr(&self, nonce: &[u8; 12], buf: &mut [u8]) -> [u8; 16] {
        let mut first = [Array::from(j0(nonce))];
        self.encrypt_blocks(&mut first);
        let mut counter: u32 = 2;
        for chunk in buf.chunks_mut(16 * BATCH) {
            let mut ks = [Array::from([0u8; 16]); BATCH];
            for b in &mut ks {
                b[..12].copy_from_slice(nonce);
                b[12..].copy_from_slice(&counter.to_be_bytes());
                counter = counter.wrapping_add(1);
            }
            let n = chunk.len().div_ceil(16);
            self.encrypt_blocks(&mut ks[..n]);
            for (byte, k) in chunk.iter_mut().zip(ks.iter().flat_map(|b| b.iter())) {
                *byte ^= k;
            }
        }
        first[0].into()
    }

    fn tag(&self, aad: &[u8], ciphertext: &[u8], ek_j0: [u8; 16]) -> [u8; 16] {
        let mut g = self.ghash.clone();
        g.update_padded(aad);
        g.update_padded(ciphertext);
        g.update(&[Array::from(length_block(aad.len(), ciphertext.len()))]);
        let mut tag: [u8; 16] = g.finalize().into();
        for (t, m) in tag.iter_mut().zip(ek_j0) {
            *t ^= m;
        }
        tag
    }

    pub(crate) fn seal(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> [u8; 16] {
        let ek_j0 = self.ctr(nonce, buf);
        self.tag(aad, buf, ek_j0)
    }

    /// Returns the tag computed over the ciphertext in `buf` and decrypts it (see
    /// [`super::aesni::open`] for the contract).
    pub(crate) fn open(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> [u8; 16] {
        let mut first = [Array::from(j0(nonce))];
        self.encrypt_blocks(&mut first);
        let tag = self.tag(aad, buf, first[0].into());
        self.ctr(nonce, buf);
        tag
    }

    pub(crate) fn ctr_only(&self, nonce: &[u8; 12], buf: &mut [u8]) {
        self.ctr(nonce, buf);
    }
}
