//! Randomised equivalence with the reference (the `aes` + `ghash` crates): 10^5 cases per
//! SIMD backend with sizes 0..=9000, random AES-128/256 keys, nonces and AAD lengths 0..=64
//! (8 and 12, ESP's, favoured), each sealed, opened and tampered with; and every length
//! 0..=300 at every buffer alignment.
//!
//! The seed is random per run and printed in every failure message; set `QFP_SIMD_SEED` to
//! replay a run.

mod common;

use common::Reference;
use qfp_simd::gcm::{Backend, GcmKey, TagMismatch};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};

fn seed() -> u64 {
    match std::env::var("QFP_SIMD_SEED") {
        Ok(s) => s.parse().expect("QFP_SIMD_SEED must be a u64"),
        Err(_) => {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
                as u64
        }
    }
}

fn random_aad_len(rng: &mut StdRng) -> usize {
    match rng.random_range(0..6) {
        0 | 1 => 8,
        2 => 12,
        _ => rng.random_range(0..=64),
    }
}

fn random_text_len(rng: &mut StdRng) -> usize {
    if rng.random_range(0..5) == 0 {
        // Around the kernels' chunk and block boundaries.
        (rng.random_range(0..=560usize) * 16)
            .saturating_add_signed(rng.random_range(-2i64..=2) as isize)
            .min(9000)
    } else {
        rng.random_range(0..=9000)
    }
}

/// `cases` random cases on `backend`; panics with the seed on the first mismatch.
fn run(backend: Backend, cases: usize) {
    if !backend.is_available() {
        // `detection_matches_proc_cpuinfo` (vectors.rs) fails if this is wrong.
        eprintln!("{backend} backend not available on this CPU: not tested");
        return;
    }
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut pt = vec![0u8; 9000];
    let mut buf = Vec::with_capacity(9000);
    let mut total = 0usize;
    for i in 0..cases {
        let ctx = format!("{backend}, QFP_SIMD_SEED={seed}, case {i}");
        let key_len = if rng.random() { 16 } else { 32 };
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key[..key_len]);
        let key = &key[..key_len];
        let mut nonce = [0u8; 12];
        rng.fill_bytes(&mut nonce);
        let mut aad = [0u8; 64];
        let aad = &mut aad[..random_aad_len(&mut rng)];
        rng.fill_bytes(aad);
        let pt = &mut pt[..random_text_len(&mut rng)];
        rng.fill_bytes(pt);
        let ctx = format!("{ctx} (key {key_len} B, aad {} B, text {} B)", aad.len(), pt.len());
        total += pt.len();

        let (ct, tag) = Reference::new(key).seal(&nonce, aad, pt);
        let k = GcmKey::with_backend(key, backend).unwrap();
        buf.clear();
        buf.extend_from_slice(pt);
        let t = k.seal_in_place(&nonce, aad, &mut buf);
        assert!(buf == ct, "{ctx}: ciphertext differs from the reference");
        assert_eq!(t, tag, "{ctx}: tag differs from the reference");
        assert_eq!(k.open_in_place(&nonce, aad, &mut buf, &tag), Ok(()), "{ctx}: open failed");
        assert!(buf == pt, "{ctx}: opened plaintext differs");

        // One tampering per case: tag, ciphertext or AAD, a random bit.
        buf.clear();
        buf.extend_from_slice(&ct);
        let mut bad_tag = tag;
        let bit = 1u8 << rng.random_range(0..8);
        match rng.random_range(0..3) {
            0 => bad_tag[rng.random_range(0..16)] ^= bit,
            1 if !buf.is_empty() => {
                let j = rng.random_range(0..buf.len());
                buf[j] ^= bit;
            }
            _ if !aad.is_empty() => aad[rng.random_range(0..aad.len())] ^= bit,
            _ => bad_tag[0] ^= bit,
        }
        let before = buf.clone();
        assert_eq!(
            k.open_in_place(&nonce, aad, &mut buf, &bad_tag),
            Err(TagMismatch),
            "{ctx}: tampered input accepted"
        );
        assert!(
            buf == before,
            "{ctx}: buffer not restored to the ciphertext after a rejected open"
        );
    }
    eprintln!(
        "{backend}: {cases} random cases, {total} bytes, seed {seed}: all match the reference"
    );
}

#[test]
fn random_vaes_matches_reference() {
    run(Backend::VaesAvx2, 100_000);
}

#[test]
fn random_aesni_matches_reference() {
    run(Backend::AesniPclmul, 100_000);
}

#[test]
fn random_soft_matches_reference() {
    run(Backend::Soft, 10_000);
}

/// Every length 0..=300 at every alignment 0..16 of the buffer, with ESP's AAD sizes and
/// a few odd ones, both key sizes, every backend.
#[test]
fn every_length_and_alignment() {
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut backing = vec![0u8; 300 + 16];
    for backend in Backend::ALL.into_iter().filter(|b| b.is_available()) {
        for key_len in [16, 32] {
            let mut key = [0u8; 32];
            rng.fill_bytes(&mut key[..key_len]);
            let r = Reference::new(&key[..key_len]);
            let k = GcmKey::with_backend(&key[..key_len], backend).unwrap();
            for len in 0..=300 {
                for align in 0..16 {
                    let aad_len = [0, 8, 12, 16, 17, 33][(len + align) % 6];
                    let ctx = format!(
                        "{backend}, QFP_SIMD_SEED={seed}, key {key_len} B, len {len}, align {align}, aad {aad_len} B"
                    );
                    let mut nonce = [0u8; 12];
                    rng.fill_bytes(&mut nonce);
                    let mut aad = [0u8; 33];
                    rng.fill_bytes(&mut aad);
                    let aad = &aad[..aad_len];
                    let buf = &mut backing[align..align + len];
                    rng.fill_bytes(buf);
                    let pt = buf.to_vec();
                    let (ct, tag) = r.seal(&nonce, aad, &pt);
                    let t = k.seal_in_place(&nonce, aad, buf);
                    assert_eq!(buf, &ct[..], "{ctx}: ciphertext");
                    assert_eq!(t, tag, "{ctx}: tag");
                    assert_eq!(k.open_in_place(&nonce, aad, buf, &tag), Ok(()), "{ctx}: open");
                    assert_eq!(buf, &pt[..], "{ctx}: plaintext");
                }
            }
        }
    }
}

/// Short texts (the 64-byte-frame kernel takes up to 112 bytes with up to 16 bytes of AAD):
/// every text length 0..=130 with every AAD length 0..=20, both key sizes, every backend,
/// sealed, opened, and opened with a flipped tag bit (which must leave the ciphertext).
#[test]
fn short_texts_every_length_and_aad_length() {
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    for backend in Backend::ALL.into_iter().filter(|b| b.is_available()) {
        for key_len in [16, 32] {
            let mut key = [0u8; 32];
            rng.fill_bytes(&mut key[..key_len]);
            let r = Reference::new(&key[..key_len]);
            let k = GcmKey::with_backend(&key[..key_len], backend).unwrap();
            for len in 0..=130 {
                for aad_len in 0..=20 {
                    let ctx = format!(
                        "{backend}, QFP_SIMD_SEED={seed}, key {key_len} B, len {len}, aad {aad_len} B"
                    );
                    let mut nonce = [0u8; 12];
                    rng.fill_bytes(&mut nonce);
                    let mut aad = [0u8; 20];
                    rng.fill_bytes(&mut aad);
                    let aad = &aad[..aad_len];
                    let mut buf = vec![0u8; len];
                    rng.fill_bytes(&mut buf);
                    let pt = buf.clone();
                    let (ct, tag) = r.seal(&nonce, aad, &pt);
                    assert_eq!(k.seal_in_place(&nonce, aad, &mut buf), tag, "{ctx}: tag");
                    assert_eq!(buf, ct, "{ctx}: ciphertext");
                    let mut bad = tag;
                    bad[len % 16] ^= 0x80;
                    assert_eq!(
                        k.open_in_place(&nonce, aad, &mut buf, &bad),
                        Err(TagMismatch),
                        "{ctx}: forged tag accepted"
                    );
                    assert_eq!(buf, ct, "{ctx}: ciphertext not restored after a rejected open");
                    assert_eq!(k.open_in_place(&nonce, aad, &mut buf, &tag), Ok(()), "{ctx}: open");
                    assert_eq!(buf, pt, "{ctx}: plaintext");
                }
            }
        }
    }
}
