//! The AEAD of ESP: AES-GCM as RFC 4106 uses it.
//!
//! [`gcm::AesGcm`] is generic AES-GCM (the reference implementation); [`EspAead`] adds what
//! ESP fixes around it: the 4-byte salt from the key material, the nonce `salt || IV`, and
//! the AAD `SPI || Sequence Number` (`SPI || seq_hi || seq_lo` with ESN, RFC 4303 appendix
//! A / RFC 4106 section 5).

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

/// The AES-GCM key and salt of one SA.
pub struct EspAead {
    gcm: AesGcm,
    salt: [u8; SALT_LEN],
}

impl core::fmt::Debug for EspAead {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EspAead").field("key_size", &self.gcm.key_size()).finish_non_exhaustive()
    }
}

impl Drop for EspAead {
    fn drop(&mut self) {
        // The AES round keys and H are wiped by their own crates; the salt is ours.
        self.salt.zeroize();
    }
}

impl EspAead {
    /// A key of 16, 24 or 32 bytes and its salt.
    pub fn new(key: &[u8], salt: [u8; SALT_LEN]) -> Result<EspAead, InvalidKeyLength> {
        Ok(EspAead { gcm: AesGcm::new(key)?, salt })
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

    /// The AES key size.
    pub fn key_size(&self) -> KeySize {
        self.gcm.key_size()
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
        self.gcm.seal_in_place(&self.nonce(iv), aad.as_bytes(), buf)
    }

    /// Verifies the ICV and only then decrypts `buf` in place.
    pub fn open(
        &self,
        iv: &[u8; IV_LEN],
        aad: &Aad,
        buf: &mut [u8],
        icv: &[u8; TAG_LEN],
    ) -> Result<(), TagMismatch> {
        self.gcm.open_in_place(&self.nonce(iv), aad.as_bytes(), buf, icv)
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
}
