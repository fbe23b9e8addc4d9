//! The AEAD of ESP: AES-GCM as RFC 4106 uses it.
//!
//! [`gcm::AesGcm`] is generic AES-GCM over the `aes` + `ghash` crates: the reference
//! implementation, kept forever. [`EspAead`] adds what ESP fixes around it: the 4-byte salt
//! from the key material, the nonce `salt || IV`, and the AAD `SPI || Sequence Number`
//! (`SPI || seq_hi || seq_lo` with ESN, RFC 4303 appendix A / RFC 4106 section 5).
//!
//! An SA encrypts with the fastest engine the CPU runs: `qfp_simd`'s stitched AES-GCM
//! (VAES/VPCLMULQDQ or AES-NI/PCLMULQDQ, chosen at run time), which is tested against this
//! reference on every external vector and on 10^5 random cases. AES-192 (which only the
//! published vectors use) and callers that ask for it ([`Engine::Reference`]) get the
//! reference. Both leave the buffer exactly as it was when the tag does not verify.

pub mod gcm;

pub use gcm::{AesGcm, InvalidKeyLength, KeySize, NONCE_LEN, TAG_LEN, TagMismatch};

use zeroize::Zeroize;

/// Salt length (RFC 4106 section 4).
pub const SALT_LEN: usize = 4;
/// Explicit IV length.
pub const IV_LEN: usize = 8;

/// The additional authenticated data of one ESP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aad {
    bytes: [u8; 12],
    len: u8,
}

impl Aad {
    /// The AAD for `spi` and the full 64-bit sequence number; with `esn` the high half goes
    /// in too (it is never sent, but it is authenticated).
    pub fn new(spi: u32, seq: u64, esn: bool) -> Aad {
        let mut bytes = [0u8; 12];
        bytes[..4].copy_from_slice(&spi.to_be_bytes());
        if esn {
            bytes[4..12].copy_from_slice(&seq.to_be_bytes());
            Aad { bytes, len: 12 }
        } else {
            bytes[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
            Aad { bytes, len: 8 }
        }
    }

    /// The AAD bytes (8 or 12).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Which AES-GCM implementation an [`EspAead`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The fastest one this CPU runs (qfp-simd), falling back to the reference for key
    /// sizes it does not offer.
    Fast,
    /// The `aes` + `ghash` reference, whatever the key size.
    Reference,
}

enum Gcm {
    Fast(qfp_simd::gcm::GcmKey),
    Reference(AesGcm),
}

/// The AES-GCM key and salt of one SA.
pub struct EspAead {
    gcm: Gcm,
    salt: [u8; SALT_LEN],
}

impl core::fmt::Debug for EspAead {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EspAead")
            .field("key_size", &self.key_size())
            .field("engine", &self.engine_name())
            .finish_non_exhaustive()
    }
}

impl Drop for EspAead {
    fn drop(&mut self) {
        // The AES round keys and H are wiped by their own crates; the salt is ours.
        self.salt.zeroize();
    }
}

impl EspAead {
    /// A key of 16, 24 or 32 bytes and its salt, on the fastest engine.
    pub fn new(key: &[u8], salt: [u8; SALT_LEN]) -> Result<EspAead, InvalidKeyLength> {
        EspAead::with_engine(key, salt, Engine::Fast)
    }

    /// A key of 16, 24 or 32 bytes and its salt, on the given engine.
    pub fn with_engine(
        key: &[u8],
        salt: [u8; SALT_LEN],
        engine: Engine,
    ) -> Result<EspAead, InvalidKeyLength> {
        KeySize::from_len(key.len()).ok_or(InvalidKeyLength(key.len()))?;
        let gcm = match engine {
            Engine::Fast => match qfp_simd::gcm::GcmKey::new(key) {
                Ok(k) => Gcm::Fast(k),
                // AES-192: qfp-simd does not offer it.
                Err(_) => Gcm::Reference(AesGcm::new(key)?),
            },
            Engine::Reference => Gcm::Reference(AesGcm::new(key)?),
        };
        Ok(EspAead { gcm, salt })
    }

    /// The implementation in use: "vaes-avx2", "aesni-pclmul", "soft" (qfp-simd's backends)
    /// or "reference".
    pub fn engine_name(&self) -> &'static str {
        match &self.gcm {
            Gcm::Fast(k) => k.backend().name(),
            Gcm::Reference(_) => "reference",
        }
    }

    /// IKE-style key material: the key followed by the 4-byte salt (RFC 4106 section 8.1).
    pub fn from_keymat(keymat: &[u8]) -> Result<EspAead, InvalidKeyLength> {
        let n = keymat.len().checked_sub(SALT_LEN).ok_or(InvalidKeyLength(keymat.len()))?;
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&keymat[n..]);
        let r = EspAead::new(&keymat[..n], salt);
        salt.zeroize();
        r
    }

    /// Prefetches the key schedule lines a short packet's seal or open reads (a hint).
    #[inline]
    pub fn prefetch(&self) {
        if let Gcm::Fast(k) = &self.gcm {
            k.prefetch();
        }
    }

    /// The AES key size.
    pub fn key_size(&self) -> KeySize {
        match &self.gcm {
            Gcm::Fast(k) if k.key_bits() == 128 => KeySize::Aes128,
            Gcm::Fast(_) => KeySize::Aes256,
            Gcm::Reference(g) => g.key_size(),
        }
    }

    /// The nonce `salt || iv`.
    pub fn nonce(&self, iv: &[u8; IV_LEN]) -> [u8; NONCE_LEN] {
        let mut n = [0u8; NONCE_LEN];
        n[..SALT_LEN].copy_from_slice(&self.salt);
        n[SALT_LEN..].copy_from_slice(iv);
        n
    }

    /// Encrypts `buf` (payload, padding and trailer) in place; returns the ICV.
    pub fn seal(&self, iv: &[u8; IV_LEN], aad: &Aad, buf: &mut [u8]) -> [u8; TAG_LEN] {
        let nonce = self.nonce(iv);
        match &self.gcm {
            Gcm::Fast(k) => k.seal_in_place(&nonce, aad.as_bytes(), buf),
            Gcm::Reference(g) => g.seal_in_place(&nonce, aad.as_bytes(), buf),
        }
    }

    /// Verifies the ICV and decrypts `buf` in place; on a mismatch `buf` is left as it was
    /// and nothing is released.
    pub fn open(
        &self,
        iv: &[u8; IV_LEN],
        aad: &Aad,
        buf: &mut [u8],
        icv: &[u8; TAG_LEN],
    ) -> Result<(), TagMismatch> {
        let nonce = self.nonce(iv);
        match &self.gcm {
            Gcm::Fast(k) => {
                k.open_in_place(&nonce, aad.as_bytes(), buf, icv).map_err(|_| TagMismatch)
            }
            Gcm::Reference(g) => g.open_in_place(&nonce, aad.as_bytes(), buf, icv),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aad_layouts() {
        let a = Aad::new(0x4321_8765, 0x0000_0001_0000_0002, false);
        assert_eq!(a.as_bytes(), &[0x43, 0x21, 0x87, 0x65, 0, 0, 0, 2]);
        let e = Aad::new(0x4321_8765, 0x0000_0001_0000_0002, true);
        assert_eq!(e.as_bytes(), &[0x43, 0x21, 0x87, 0x65, 0, 0, 0, 1, 0, 0, 0, 2]);
    }

    #[test]
    fn keymat_splits_key_and_salt() {
        let mut km = vec![0x11u8; 16];
        km.extend_from_slice(&[0xca, 0xfe, 0xba, 0xbe]);
        let a = EspAead::from_keymat(&km).unwrap();
        assert_eq!(a.key_size(), KeySize::Aes128);
        assert_eq!(&a.nonce(&[9; 8])[..4], &[0xca, 0xfe, 0xba, 0xbe]);
        assert!(EspAead::from_keymat(&[0; 3]).is_err());
        assert!(EspAead::from_keymat(&[0; 21]).is_err());
    }

    #[test]
    fn fast_and_reference_engines_agree_and_refuse_the_same() {
        for key_len in [16, 24, 32] {
            let key: Vec<u8> = (0..key_len as u8).map(|b| b.wrapping_mul(37)).collect();
            let fast = EspAead::new(&key, [1, 2, 3, 4]).unwrap();
            let reference = EspAead::with_engine(&key, [1, 2, 3, 4], Engine::Reference).unwrap();
            assert_eq!(reference.engine_name(), "reference");
            if key_len == 24 {
                assert_eq!(fast.engine_name(), "reference", "AES-192 has no fast engine");
            } else {
                assert_ne!(fast.engine_name(), "reference");
            }
            assert_eq!(fast.key_size(), reference.key_size());
            for len in [0usize, 1, 15, 16, 17, 64, 255, 1500] {
                let plain: Vec<u8> = (0..len).map(|i| (i * 7 + key_len) as u8).collect();
                let aad = Aad::new(0x1234_5678, 42 + len as u64, len % 2 == 0);
                let iv = (len as u64).to_be_bytes();
                let (mut a, mut b) = (plain.clone(), plain.clone());
                let ta = fast.seal(&iv, &aad, &mut a);
                let tb = reference.seal(&iv, &aad, &mut b);
                assert_eq!((&a, ta), (&b, tb), "seal differs at {key_len}/{len}");
                let mut bad = ta;
                bad[len % 16] ^= 1;
                assert!(fast.open(&iv, &aad, &mut a, &bad).is_err());
                assert_eq!(a, b, "failed open must leave the ciphertext");
                fast.open(&iv, &aad, &mut a, &ta).unwrap();
                reference.open(&iv, &aad, &mut b, &tb).unwrap();
                assert_eq!((&a, &b), (&plain, &plain));
            }
        }
    }
}
