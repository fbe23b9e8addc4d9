//! Key derivation for new child SAs: a fresh X25519 exchange per rekey, then HKDF-SHA256.
//!
//! ```text
//! shared = X25519(own ephemeral secret, peer's public value)      (rejected if all zero)
//! OKM    = HKDF-SHA256(salt = PSK-derived kdf salt, IKM = shared,
//!                      info = "qfp child sa v1" || Ni || Nr || SPIi || SPIr || aead)
//!        = key_i→r | salt_i→r | key_r→i | salt_r→i          (key length per AEAD, 4-byte salts)
//! ```
//!
//! SPIi is the initiator's new inbound SPI (traffic r→i), SPIr the responder's (traffic i→r).
//! Keys never cross the wire; the fresh ephemeral pair gives forward secrecy, the PSK-derived
//! salt binds the result to the tunnel's key, the nonces and SPIs bind it to the exchange.
//! This is IKEv2's KEYMAT = prf+(SK_d, g^ir | Ni | Nr) for a CREATE_CHILD_SA with PFS, with
//! HKDF in place of prf+. Every secret here is zeroized when dropped. The secret comes from
//! an RNG passed in, so tests are deterministic.

use hkdf::Hkdf;
use rand::CryptoRng;
use sha2::Sha256;
use x25519_dalek::{EphemeralSecret, PublicKey, SharedSecret};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::auth::KdfSalt;
use super::msg::NONCE_LEN;

/// Info label of the child-SA derivation.
pub const CHILD_LABEL: &[u8] = b"qfp child sa v1";

/// The AEADs a child SA can use (RFC 4106 AES-GCM with a 16-byte ICV).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Aead {
    Aes128Gcm,
    Aes256Gcm,
}

impl Aead {
    pub fn key_len(self) -> usize {
        match self {
            Aead::Aes128Gcm => 16,
            Aead::Aes256Gcm => 32,
        }
    }
    /// Code on the wire and in the derivation's info.
    pub fn code(self) -> u8 {
        match self {
            Aead::Aes128Gcm => 1,
            Aead::Aes256Gcm => 2,
        }
    }
    pub fn from_code(c: u8) -> Option<Aead> {
        match c {
            1 => Some(Aead::Aes128Gcm),
            2 => Some(Aead::Aes256Gcm),
            _ => None,
        }
    }
    /// The name used in the config file.
    pub fn name(self) -> &'static str {
        match self {
            Aead::Aes128Gcm => "aes-128-gcm",
            Aead::Aes256Gcm => "aes-256-gcm",
        }
    }
}

/// Key and salt of one SA direction. Zeroized on drop; `Debug` shows no secret.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SaKeys {
    #[zeroize(skip)]
    aead: Aead,
    key: [u8; 32],
    salt: [u8; 4],
}

impl core::fmt::Debug for SaKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SaKeys({}, ..)", self.aead.name())
    }
}

impl SaKeys {
    /// Builds keys from raw parts; `None` if `key` does not have the AEAD's length.
    pub fn new(aead: Aead, key: &[u8], salt: [u8; 4]) -> Option<SaKeys> {
        if key.len() != aead.key_len() {
            return None;
        }
        let mut k = [0u8; 32];
        k[..key.len()].copy_from_slice(key);
        Some(SaKeys { aead, key: k, salt })
    }
    pub fn aead(&self) -> Aead {
        self.aead
    }
    /// The AES key: 16 or 32 bytes.
    pub fn key(&self) -> &[u8] {
        &self.key[..self.aead.key_len()]
    }
    /// The 4-byte salt (RFC 4106 nonce prefix).
    pub fn salt(&self) -> [u8; 4] {
        self.salt
    }
}

/// Both directions of a new SA pair.
#[derive(Debug)]
pub struct ChildKeys {
    /// Initiator → responder: the initiator's outbound, the responder's inbound (SPIr).
    pub i_to_r: SaKeys,
    /// Responder → initiator: the responder's outbound, the initiator's inbound (SPIi).
    pub r_to_i: SaKeys,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KdfError {
    /// The peer's public value is a low-order point: the shared secret would be all zero
    /// (known to anyone), so the exchange is refused.
    #[error("peer's X25519 public value is of low order (shared secret all zero)")]
    NonContributory,
}

/// One side's fresh X25519 pair for one exchange; the secret is used once and zeroized.
pub struct Ephemeral {
    secret: EphemeralSecret,
    public: [u8; 32],
}

impl core::fmt::Debug for Ephemeral {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Ephemeral(..)")
    }
}

impl Ephemeral {
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Ephemeral {
        let secret = EphemeralSecret::random_from_rng(rng);
        let public = PublicKey::from(&secret).to_bytes();
        Ephemeral { secret, public }
    }

    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    /// X25519 with the peer's public value; consumes (and so zeroizes) the secret.
    pub fn agree(self, peer_public: &[u8; 32]) -> Result<Shared, KdfError> {
        let shared = self.secret.diffie_hellman(&PublicKey::from(*peer_public));
        if !shared.was_contributory() {
            return Err(KdfError::NonContributory);
        }
        Ok(Shared(shared))
    }
}

/// A contributory X25519 shared secret (zeroized on drop by x25519-dalek).
pub struct Shared(SharedSecret);

/// What the derivation binds: both nonces, both new SPIs and the AEAD.
#[derive(Clone, Copy, Debug)]
pub struct ExchangeParams<'a> {
    pub ni: &'a [u8; NONCE_LEN],
    pub nr: &'a [u8; NONCE_LEN],
    /// The initiator's new inbound SPI.
    pub spi_i: u32,
    /// The responder's new inbound SPI.
    pub spi_r: u32,
    pub aead: Aead,
}

/// Derives both directions' keys and salts of the new SA pair.
pub fn derive_child_keys(shared: &Shared, salt: &KdfSalt, p: ExchangeParams<'_>) -> ChildKeys {
    let klen = p.aead.key_len();
    let hk = Hkdf::<Sha256>::new(Some(&salt.0), shared.0.as_bytes());
    let mut okm = [0u8; 2 * (32 + 4)];
    let okm = &mut okm[..2 * (klen + 4)];
    let (si, sr) = (p.spi_i.to_be_bytes(), p.spi_r.to_be_bytes());
    let aead = [p.aead.code()];
    hk.expand_multi_info(&[CHILD_LABEL, p.ni, p.nr, &si, &sr, &aead], okm)
        .expect("at most 72 bytes is a valid HKDF-SHA256 output length");
    let salt_at = |off: usize| [okm[off], okm[off + 1], okm[off + 2], okm[off + 3]];
    let keys = ChildKeys {
        i_to_r: SaKeys::new(p.aead, &okm[..klen], salt_at(klen)).expect("length per aead"),
        r_to_i: SaKeys::new(p.aead, &okm[klen + 4..2 * klen + 4], salt_at(2 * klen + 4))
            .expect("length per aead"),
    };
    okm.zeroize();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::auth::derive_channel_keys;
    use crate::peer::msg::TunnelId;
    use core::convert::Infallible;
    use rand::{SeedableRng, TryCryptoRng, TryRng, rngs::StdRng};

    /// An "RNG" that returns fixed bytes, to inject known X25519 secrets.
    struct Fixed([u8; 32]);
    impl TryRng for Fixed {
        type Error = Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Infallible> {
            unreachable!()
        }
        fn try_next_u64(&mut self) -> Result<u64, Infallible> {
            unreachable!()
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
            dst.copy_from_slice(&self.0[..dst.len()]);
            Ok(())
        }
    }
    impl TryCryptoRng for Fixed {}

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }
    fn arr(s: &str) -> [u8; 32] {
        unhex(s).try_into().unwrap()
    }

    /// Expected values computed by `testdata/kdf_vectors.py` with Python `cryptography`
    /// (OpenSSL), independently of this code; X25519 keys from RFC 7748 §6.1.
    #[test]
    fn derivation_matches_independent_python_vector() {
        let (mac, salt) = derive_channel_keys(b"qfp kdf test vector psk", TunnelId(0x0A0B_0C0D));
        let probe = b"probe";
        let expected_mac =
            MacKeyProbe(arr("1acd45decfdbaaf9a921d54cf3cac3ec8e2797a0bfeb35a6ed155f1dcaa8ea05"));
        assert_eq!(mac.tag(probe), expected_mac.tag(probe));
        assert_eq!(salt.0, arr("4dc62ca90097bed90366fee52ab7f38c796c803bd9860a66c9618d8691b6c0e8"));

        let ni: [u8; 32] = core::array::from_fn(|i| i as u8);
        let nr: [u8; 32] = core::array::from_fn(|i| 0x20 + i as u8);
        let cases = [
            (
                Aead::Aes128Gcm,
                "a1fb5fc9fc8971298d73ce46fe11ad7d",
                "96ad0e06",
                "d69a6287d3f4c1785091155b7874a66a",
                "513f0cae",
            ),
            (
                Aead::Aes256Gcm,
                "ec1b76937d402c4c082d6c1d0d270ab1de3dd35a2b03371c4619d747473e6bbc",
                "2bac0c54",
                "ece3108caf097b6f946f525a001c29391bb8130124c272bc70a4e4b83ac85daa",
                "3b3d2aee",
            ),
        ];
        for (aead, k_ir, s_ir, k_ri, s_ri) in cases {
            let ei = Ephemeral::generate(&mut Fixed(arr(
                "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
            )));
            let er = Ephemeral::generate(&mut Fixed(arr(
                "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
            )));
            assert_eq!(
                ei.public(),
                arr("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
            );
            let (pi, pr) = (ei.public(), er.public());
            let params =
                ExchangeParams { ni: &ni, nr: &nr, spi_i: 0x1000_0001, spi_r: 0x2000_0002, aead };
            let at_i = derive_child_keys(&ei.agree(&pr).unwrap(), &salt, params);
            let at_r = derive_child_keys(&er.agree(&pi).unwrap(), &salt, params);
            for keys in [&at_i, &at_r] {
                assert_eq!(keys.i_to_r.key(), unhex(k_ir).as_slice());
                assert_eq!(keys.i_to_r.salt().as_slice(), unhex(s_ir).as_slice());
                assert_eq!(keys.r_to_i.key(), unhex(k_ri).as_slice());
                assert_eq!(keys.r_to_i.salt().as_slice(), unhex(s_ri).as_slice());
            }
        }
    }

    /// The expected MAC key, checked through its tags (the key bytes are private).
    struct MacKeyProbe([u8; 32]);
    impl MacKeyProbe {
        fn tag(&self, data: &[u8]) -> [u8; 32] {
            use hmac::{Hmac, KeyInit, Mac};
            let mut h = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).unwrap();
            h.update(data);
            h.finalize().into_bytes().into()
        }
    }

    #[test]
    fn every_input_changes_the_keys() {
        let mut rng = StdRng::seed_from_u64(1);
        let (_, salt) = derive_channel_keys(b"psk", TunnelId(1));
        let (_, salt2) = derive_channel_keys(b"psk2", TunnelId(1));
        let ni = [1u8; 32];
        let nr = [2u8; 32];
        let ni2 = [3u8; 32];
        let base = ExchangeParams { ni: &ni, nr: &nr, spi_i: 10, spi_r: 20, aead: Aead::Aes128Gcm };
        let variants = [
            base,
            ExchangeParams { ni: &ni2, ..base },
            ExchangeParams { nr: &ni2, ..base },
            ExchangeParams { spi_i: 11, ..base },
            ExchangeParams { spi_r: 21, ..base },
        ];
        let ei = Ephemeral::generate(&mut rng);
        let er = Ephemeral::generate(&mut rng);
        let shared = ei.agree(&er.public()).unwrap();
        let mut seen: Vec<Vec<u8>> = Vec::new();
        for p in variants {
            seen.push(derive_child_keys(&shared, &salt, p).i_to_r.key().to_vec());
        }
        seen.push(derive_child_keys(&shared, &salt2, base).i_to_r.key().to_vec());
        let k256 =
            derive_child_keys(&shared, &salt, ExchangeParams { aead: Aead::Aes256Gcm, ..base });
        assert_eq!(k256.i_to_r.key().len(), 32);
        seen.push(k256.i_to_r.key()[..16].to_vec());
        for i in 0..seen.len() {
            for j in i + 1..seen.len() {
                assert_ne!(seen[i], seen[j], "variants {i} and {j} gave the same key");
            }
        }
    }

    #[test]
    fn low_order_public_values_are_refused() {
        let mut rng = StdRng::seed_from_u64(2);
        // The all-zero point and the order-8 point 0xe0eb7a7c... (RFC 7748 §7 lists such
        // points); both give an all-zero shared secret.
        let low_order =
            [[0u8; 32], arr("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"), {
                let mut one = [0u8; 32];
                one[0] = 1;
                one
            }];
        for p in low_order {
            assert_eq!(
                Ephemeral::generate(&mut rng).agree(&p).err(),
                Some(KdfError::NonContributory),
                "{p:02x?}"
            );
        }
    }
}
