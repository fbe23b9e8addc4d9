//! Known-answer tests: every AES-128/256 case with a 96-bit nonce from the vector files in
//! `tests/vectors/` (see their README for sources), on every backend this CPU runs. AES-192
//! cases, which qfp does not offer, must be refused with `BadKeyLen`.

mod common;

use common::{Reference, backends, field, hex, load_json};
use qfp_simd::gcm::{Backend, BadKeyLen, GcmKey, TagMismatch};

/// Seals and opens one case on `backend`, checks ciphertext, tag and plaintext, and checks
/// that a flipped bit in the tag, the ciphertext or the AAD is rejected with the buffer left
/// as ciphertext.
struct Case<'a> {
    name: &'a str,
    key: &'a [u8],
    nonce: &'a [u8],
    aad: &'a [u8],
    pt: &'a [u8],
    ct: &'a [u8],
    tag: &'a [u8],
}

fn check_case(backend: Backend, c: &Case) {
    let Case { name, key, nonce, aad, pt, ct, tag } = *c;
    let k = GcmKey::with_backend(key, backend).unwrap();
    let nonce: &[u8; 12] = nonce.try_into().unwrap();
    let tag: &[u8; 16] = tag.try_into().unwrap();

    let mut buf = pt.to_vec();
    let t = k.seal_in_place(nonce, aad, &mut buf);
    assert_eq!(buf, ct, "{name} [{backend}]: ciphertext");
    assert_eq!(&t, tag, "{name} [{backend}]: tag");

    let mut buf = ct.to_vec();
    assert_eq!(k.open_in_place(nonce, aad, &mut buf, tag), Ok(()), "{name} [{backend}]: open");
    assert_eq!(buf, pt, "{name} [{backend}]: plaintext");

    let mut bad = *tag;
    bad[15] ^= 0x80;
    let mut buf = ct.to_vec();
    assert_eq!(
        k.open_in_place(nonce, aad, &mut buf, &bad),
        Err(TagMismatch),
        "{name} [{backend}]: bad tag accepted"
    );
    assert_eq!(buf, ct, "{name} [{backend}]: buffer not restored after bad tag");
    if !ct.is_empty() {
        let mut buf = ct.to_vec();
        buf[ct.len() / 2] ^= 1;
        let tampered = buf.clone();
        assert_eq!(
            k.open_in_place(nonce, aad, &mut buf, tag),
            Err(TagMismatch),
            "{name} [{backend}]: bad ciphertext accepted"
        );
        assert_eq!(buf, tampered, "{name} [{backend}]: buffer not restored after bad ciphertext");
    }
    let mut bad_aad = aad.to_vec();
    match bad_aad.last_mut() {
        Some(b) => *b ^= 4,
        None => bad_aad.push(0),
    }
    let mut buf = ct.to_vec();
    assert_eq!(
        k.open_in_place(nonce, &bad_aad, &mut buf, tag),
        Err(TagMismatch),
        "{name} [{backend}]: bad AAD accepted"
    );
    assert_eq!(buf, ct, "{name} [{backend}]: buffer not restored after bad AAD");
}

/// An AES-192 key is refused, and the reference confirms the vector itself is consistent.
fn check_refused_192(c: &Case) {
    let Case { name, key, nonce, aad, pt, ct, tag } = *c;
    assert_eq!(GcmKey::new(key).unwrap_err(), BadKeyLen(24), "{name}");
    let (c, t) = Reference::new(key).seal(nonce.try_into().unwrap(), aad, pt);
    assert_eq!(
        (c.as_slice(), t.as_slice()),
        (ct, tag),
        "{name}: reference disagrees with the vector"
    );
}

#[test]
fn rfc4106_esp_cases() {
    let cases = load_json("rfc4106_esp.json");
    let (mut run, mut refused) = (0, 0);
    for case in cases.as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (key, nonce, aad) = (field(case, "key"), field(case, "nonce"), field(case, "aad"));
        let (pt, ct, tag) =
            (field(case, "plaintext"), field(case, "ciphertext"), field(case, "tag"));
        // The ESP framing the dataplane relies on: nonce = salt || IV, AAD = SPI || [ESN
        // high] || seq, packet = SPI || seq || IV || ciphertext || ICV.
        assert_eq!(nonce, [field(case, "salt"), field(case, "iv")].concat(), "{name}: nonce");
        let esn_high =
            if case["esn"].as_bool().unwrap() { field(case, "esn_high") } else { vec![] };
        assert_eq!(aad, [field(case, "spi"), esn_high, field(case, "seq")].concat(), "{name}: aad");
        let packet =
            [field(case, "spi"), field(case, "seq"), field(case, "iv"), ct.clone(), tag.clone()]
                .concat();
        assert_eq!(packet, field(case, "esp_packet"), "{name}: packet");
        if key.len() == 24 {
            check_refused_192(&Case {
                name,
                key: &key,
                nonce: &nonce,
                aad: &aad,
                pt: &pt,
                ct: &ct,
                tag: &tag,
            });
            refused += 1;
            continue;
        }
        for b in backends() {
            check_case(
                b,
                &Case { name, key: &key, nonce: &nonce, aad: &aad, pt: &pt, ct: &ct, tag: &tag },
            );
        }
        run += 1;
    }
    assert_eq!((run, refused), (19, 2), "case counts changed: check the vector file");
}

#[test]
fn gcm_spec_96_bit_iv_cases() {
    let cases = load_json("gcm_nist.json");
    let (mut run, mut refused, mut other_iv) = (0, 0, 0);
    for case in cases.as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (key, iv, aad) = (field(case, "key"), field(case, "iv"), field(case, "aad"));
        let (pt, ct, tag) =
            (field(case, "plaintext"), field(case, "ciphertext"), field(case, "tag"));
        if iv.len() != 12 {
            other_iv += 1; // GHASH-derived counters: not ESP
        } else if key.len() == 24 {
            check_refused_192(&Case {
                name,
                key: &key,
                nonce: &iv,
                aad: &aad,
                pt: &pt,
                ct: &ct,
                tag: &tag,
            });
            refused += 1;
        } else {
            for b in backends() {
                check_case(
                    b,
                    &Case { name, key: &key, nonce: &iv, aad: &aad, pt: &pt, ct: &ct, tag: &tag },
                );
            }
            run += 1;
        }
    }
    assert_eq!((run, refused, other_iv), (8, 4, 6), "case counts changed: check the vector file");
}

#[test]
fn wycheproof_96_bit_iv_cases() {
    let file = load_json("wycheproof_aes_gcm.json");
    let (mut valid, mut invalid, mut refused) = (0, 0, 0);
    let backends = backends();
    for group in file["testGroups"].as_array().unwrap() {
        if group["ivSize"].as_u64() != Some(96) {
            continue;
        }
        assert_eq!(group["tagSize"].as_u64(), Some(128));
        for t in group["tests"].as_array().unwrap() {
            let name =
                format!("wycheproof tcId {} ({})", t["tcId"], t["comment"].as_str().unwrap());
            let (key, iv, aad) = (field(t, "key"), field(t, "iv"), field(t, "aad"));
            let (msg, ct, tag) = (field(t, "msg"), field(t, "ct"), field(t, "tag"));
            let is_valid = match t["result"].as_str().unwrap() {
                "valid" => true,
                "invalid" => false,
                other => panic!("{name}: unexpected result {other}"),
            };
            if key.len() == 24 {
                assert_eq!(GcmKey::new(&key).unwrap_err(), BadKeyLen(24), "{name}");
                refused += 1;
                continue;
            }
            for &b in &backends {
                if is_valid {
                    check_case(
                        b,
                        &Case {
                            name: &name,
                            key: &key,
                            nonce: &iv,
                            aad: &aad,
                            pt: &msg,
                            ct: &ct,
                            tag: &tag,
                        },
                    );
                } else {
                    let k = GcmKey::with_backend(&key, b).unwrap();
                    let mut buf = ct.clone();
                    let r = k.open_in_place(
                        iv.as_slice().try_into().unwrap(),
                        &aad,
                        &mut buf,
                        tag.as_slice().try_into().unwrap(),
                    );
                    assert_eq!(r, Err(TagMismatch), "{name} [{b}]: invalid case accepted");
                    assert_eq!(buf, ct, "{name} [{b}]: buffer not restored");
                }
            }
            if is_valid { valid += 1 } else { invalid += 1 }
        }
    }
    assert_eq!(
        (valid, invalid, refused),
        (79, 54, 64),
        "case counts changed: check the vector file"
    );
}

/// The reference itself must reproduce a vector, or the random tests would prove nothing.
#[test]
fn reference_reproduces_gcm_spec_case_4() {
    let key = hex("feffe9928665731c6d6a8f9467308308");
    let iv: [u8; 12] = hex("cafebabefacedbaddecaf888").try_into().unwrap();
    let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let pt = hex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    );
    let (ct, tag) = Reference::new(&key).seal(&iv, &aad, &pt);
    assert_eq!(
        ct,
        hex(
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
        )
    );
    assert_eq!(tag.to_vec(), hex("5bc94fbc3221a5db94fae95ae7121a47"));
}

/// Runtime detection agrees with what the kernel reports, so the vaes backend is never
/// silently left untested on a CPU that has it.
#[test]
fn detection_matches_proc_cpuinfo() {
    let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
        eprintln!("no /proc/cpuinfo: detection not cross-checked");
        return;
    };
    let flags: Vec<&str> =
        info.lines().find(|l| l.starts_with("flags")).unwrap().split_whitespace().collect();
    let has = |f: &str| flags.contains(&f);
    assert_eq!(
        Backend::AesniPclmul.is_available(),
        has("aes") && has("pclmulqdq") && has("ssse3") && has("sse4_1")
    );
    assert_eq!(
        Backend::VaesAvx2.is_available(),
        Backend::AesniPclmul.is_available() && has("avx2") && has("vaes") && has("vpclmulqdq")
    );
    assert_eq!(GcmKey::new(&[0; 16]).unwrap().backend(), Backend::best());
}
