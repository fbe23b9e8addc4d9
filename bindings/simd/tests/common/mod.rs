//! Shared by the integration tests: an independent reference GCM over the `aes` and `ghash`
//! crates (RustCrypto, the project's crypto reference), hex decoding, vector loading, and the
//! list of backends this CPU runs.
#![allow(dead_code)]

use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use ghash::GHash;
use ghash::universal_hash::UniversalHash;
use qfp_simd::gcm::Backend;

/// AES-GCM with a 96-bit nonce, block by block, straight from SP 800-38D.
type BlockFn = Box<dyn Fn(&mut [u8; 16])>;

pub struct Reference {
    enc: BlockFn,
}

impl Reference {
    pub fn new(key: &[u8]) -> Reference {
        let enc: BlockFn = match key.len() {
            16 => {
                let c = aes::Aes128::new_from_slice(key).unwrap();
                Box::new(move |b| {
                    let mut a = Array::from(*b);
                    c.encrypt_block(&mut a);
                    *b = a.into();
                })
            }
            24 => {
                let c = aes::Aes192::new_from_slice(key).unwrap();
                Box::new(move |b| {
                    let mut a = Array::from(*b);
                    c.encrypt_block(&mut a);
                    *b = a.into();
                })
            }
            32 => {
                let c = aes::Aes256::new_from_slice(key).unwrap();
                Box::new(move |b| {
                    let mut a = Array::from(*b);
                    c.encrypt_block(&mut a);
                    *b = a.into();
                })
            }
            n => panic!("reference: bad key length {n}"),
        };
        Reference { enc }
    }

    fn counter_block(nonce: &[u8; 12], i: u32) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..12].copy_from_slice(nonce);
        b[12..].copy_from_slice(&i.to_be_bytes());
        b
    }

    fn ctr(&self, nonce: &[u8; 12], data: &mut [u8]) {
        for (i, chunk) in data.chunks_mut(16).enumerate() {
            let mut ks = Self::counter_block(nonce, 2 + i as u32);
            (self.enc)(&mut ks);
            for (d, k) in chunk.iter_mut().zip(ks) {
                *d ^= k;
            }
        }
    }

    fn tag(&self, nonce: &[u8; 12], aad: &[u8], ct: &[u8]) -> [u8; 16] {
        let mut h = [0u8; 16];
        (self.enc)(&mut h);
        let mut g = GHash::new(&Array::from(h));
        g.update_padded(aad);
        g.update_padded(ct);
        let mut lens = [0u8; 16];
        lens[..8].copy_from_slice(&(aad.len() as u64 * 8).to_be_bytes());
        lens[8..].copy_from_slice(&(ct.len() as u64 * 8).to_be_bytes());
        g.update(&[Array::from(lens)]);
        let s: [u8; 16] = g.finalize().into();
        let mut mask = Self::counter_block(nonce, 1);
        (self.enc)(&mut mask);
        let mut t = [0u8; 16];
        for i in 0..16 {
            t[i] = s[i] ^ mask[i];
        }
        t
    }

    /// Ciphertext and tag.
    pub fn seal(&self, nonce: &[u8; 12], aad: &[u8], pt: &[u8]) -> (Vec<u8>, [u8; 16]) {
        let mut ct = pt.to_vec();
        self.ctr(nonce, &mut ct);
        let tag = self.tag(nonce, aad, &ct);
        (ct, tag)
    }

    /// The plaintext, or `None` if the tag is wrong.
    pub fn open(&self, nonce: &[u8; 12], aad: &[u8], ct: &[u8], tag: &[u8; 16]) -> Option<Vec<u8>> {
        if self.tag(nonce, aad, ct) != *tag {
            return None;
        }
        let mut pt = ct.to_vec();
        self.ctr(nonce, &mut pt);
        Some(pt)
    }
}

pub fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length: {s}");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

pub fn load_json(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn field(case: &serde_json::Value, name: &str) -> Vec<u8> {
    hex(case[name].as_str().unwrap_or_else(|| panic!("missing field {name} in {case}")))
}

/// The backends this CPU runs (the vaes one is checked against /proc/cpuinfo elsewhere).
pub fn backends() -> Vec<Backend> {
    let v: Vec<Backend> = Backend::ALL.into_iter().filter(|b| b.is_available()).collect();
    eprintln!("backends under test: {v:?}");
    v
}
