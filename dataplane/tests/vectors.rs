//! Every external vector in `tests/vectors/` (see its README for sources): the RFC 4106
//! ESP packet vectors (draft-mcgrew-gcm-test-01 and DPDK), the McGrew-Viega GCM cases with
//! a 96-bit IV, and every 96-bit-IV Wycheproof AES-GCM test. Each test counts the cases it
//! ran, so a vector file that lost entries fails too.

mod common;

use common::{h, hex, s, vectors};
use dataplane::crypto::{Aad, AesGcm, EspAead};
use dataplane::replay::ReplayWindow;
use dataplane::sa::{Endpoints, Lifetime, Tunnel};
use dataplane::selector::Selectors;
use dataplane::wire::{IpVersion, esp, ipv4, ipv6};
use dataplane::{Decapped, HeapBuf, PacketBuf, Sa, SaConfig, SaDirection, decap};

fn arr<const N: usize>(v: &[u8]) -> [u8; N] {
    v.try_into().unwrap_or_else(|_| panic!("expected {N} bytes, got {}", v.len()))
}

fn u32_hex(v: &serde_json::Value, k: &str) -> u32 {
    u32::from_str_radix(s(v, k), 16).unwrap()
}

/// The full 64-bit sequence number of an RFC 4106 case.
fn seq64(c: &serde_json::Value) -> u64 {
    let lo = u64::from(u32_hex(c, "seq"));
    if c["esn"].as_bool().unwrap() { u64::from(u32_hex(c, "esn_high")) << 32 | lo } else { lo }
}

#[test]
fn rfc4106_esp_seal_open_and_trailer() {
    let cases = vectors("rfc4106_esp.json");
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), 21);
    let mut esn_cases = 0;
    for c in cases {
        let name = s(c, "name");
        let (key, salt, iv) = (h(c, "key"), arr::<4>(&h(c, "salt")), arr::<8>(&h(c, "iv")));
        let (spi, esn, seq) = (u32_hex(c, "spi"), c["esn"].as_bool().unwrap(), seq64(c));
        assert_eq!(key.len() * 8, c["key_bits"].as_u64().unwrap() as usize, "{name}");
        let aead = EspAead::new(&key, salt).unwrap();
        assert_eq!(aead.nonce(&iv).to_vec(), h(c, "nonce"), "{name}: nonce = salt || iv");
        let aad = Aad::new(spi, seq, esn);
        assert_eq!(aad.as_bytes(), h(c, "aad"), "{name}: AAD");

        // Seal the plaintext: exactly the published ciphertext and ICV.
        let (pt, ct, tag) = (h(c, "plaintext"), h(c, "ciphertext"), arr::<16>(&h(c, "tag")));
        let mut buf = pt.clone();
        assert_eq!(aead.seal(&iv, &aad, &mut buf), tag, "{name}: tag");
        assert_eq!(buf, ct, "{name}: ciphertext");

        // The published ESP packet parses to the same fields.
        let pkt = h(c, "esp_packet");
        let e = esp::Packet::new_checked(&pkt[..]).unwrap();
        assert_eq!((e.spi(), u64::from(e.seq())), (spi, seq & 0xffff_ffff), "{name}");
        assert_eq!(&pkt[8..16], &iv, "{name}: IV on the wire");
        assert_eq!(&pkt[pkt.len() - 16..], &tag, "{name}: ICV on the wire");

        // With ESN the receiver infers the high half from its window (RFC 4303 appendix A):
        // one packet behind on the window's top, the low half alone gives the full number.
        if esn {
            esn_cases += 1;
            let w = ReplayWindow::new(64, true, seq - 1).unwrap();
            assert_eq!(w.check(e.seq()), Ok(seq), "{name}: ESN inference");
        }

        // Open it back, from the packet, with the AAD of the inferred number.
        let mut body = pkt[16..pkt.len() - 16].to_vec();
        aead.open(&iv, &aad, &mut body, &tag).unwrap();
        assert_eq!(body, pt, "{name}: decrypts to the plaintext");

        // A flipped ICV bit or a wrong sequence number (AAD) must fail and release nothing.
        let mut bad = pkt[16..pkt.len() - 16].to_vec();
        let mut t2 = tag;
        t2[0] ^= 1;
        assert!(aead.open(&iv, &aad, &mut bad, &t2).is_err(), "{name}: bad tag");
        assert!(aead.open(&iv, &Aad::new(spi, seq ^ 1, esn), &mut bad, &tag).is_err(), "{name}");
        if esn {
            let wrong_hi = Aad::new(spi, seq ^ (1 << 32), true);
            assert!(aead.open(&iv, &wrong_hi, &mut bad, &tag).is_err(), "{name}: seq_hi matters");
        }
        assert_eq!(bad, ct, "{name}: ciphertext untouched after a failed open");

        // The RFC 4303 trailer.
        let t = esp::Trailer::parse(&pt).unwrap_or_else(|_| panic!("{name}: trailer"));
        assert_eq!(u64::from(t.pad_len), c["pad_len"].as_u64().unwrap(), "{name}");
        assert_eq!(u64::from(t.next_header), c["next_header"].as_u64().unwrap(), "{name}");
        let payload = &pt[..t.payload_len(pt.len())];
        if c.get("payload").is_some() {
            assert_eq!(payload, &h(c, "payload")[..], "{name}: payload");
        }
        if c.get("ip_packet").is_some() {
            assert_eq!(payload, &h(c, "ip_packet")[..], "{name}: inner IP packet");
        }
        assert!(c.get("payload").is_some() || c.get("ip_packet").is_some(), "{name}");
    }
    assert_eq!(esn_cases, 11, "draft ESN cases 1, 5, 6, 8, 9, 10, 11, 13, 14, 16, 17");
}

/// The DPDK cases are whole tunnel-mode packets: decapsulate them through the pipeline,
/// from the outer header, and get the published inner packet.
#[test]
fn rfc4106_dpdk_tunnel_packets_through_decap() {
    let cases = vectors("rfc4106_esp.json");
    let mut n = 0;
    for c in cases.as_array().unwrap().iter().filter(|c| c.get("full_packet").is_some()) {
        let name = s(c, "name");
        let full = h(c, "full_packet");
        let (src, dst) = match IpVersion::of_packet(&full).unwrap() {
            IpVersion::V4 => {
                let p = ipv4::Packet::new_checked(&full[..]).unwrap();
                (p.src_addr().into(), p.dst_addr().into())
            }
            IpVersion::V6 => {
                let p = ipv6::Packet::new_checked(&full[..]).unwrap();
                (p.src_addr().into(), p.dst_addr().into())
            }
        };
        let endpoints = match (src, dst) {
            (std::net::IpAddr::V4(r), std::net::IpAddr::V4(l)) => {
                Endpoints::V4 { local: l, remote: r }
            }
            (std::net::IpAddr::V6(r), std::net::IpAddr::V6(l)) => {
                Endpoints::V6 { local: l, remote: r }
            }
            _ => unreachable!(),
        };
        let key = h(c, "key");
        let sa = Sa::new(SaConfig {
            spi: u32_hex(c, "spi"),
            direction: SaDirection::Inbound,
            key: &key,
            salt: arr(&h(c, "salt")),
            esn: false,
            tunnel: Tunnel { endpoints, natt: None, mtu: 1500 },
            selectors: Selectors::any(),
            lifetime: Lifetime::UNLIMITED,
            replay_window: 1024,
            created_ns: 0,
            initial_seq: 0,
        })
        .unwrap();
        let sas = [sa];
        let mut buf = HeapBuf::new(&full);
        match decap(&mut buf, &sas[..], 1) {
            Ok(Decapped::Inner { seq, .. }) => assert_eq!(seq, 1, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(buf.data(), &h(c, "ip_packet")[..], "{name}: inner packet");
        assert_eq!(sas[0].stats().packets, 1);
        // The same packet again is a replay.
        let mut again = HeapBuf::new(&full);
        let r = decap(&mut again, &sas[..], 2).unwrap_err();
        assert_eq!(r.reason, dataplane::DropReason::AntiReplay, "{name}");
        n += 1;
    }
    assert_eq!(n, 5, "DPDK tunnel-mode cases");
}

#[test]
fn gcm_spec_cases_with_96_bit_iv() {
    let cases = vectors("gcm_nist.json");
    let mut n = 0;
    for c in cases.as_array().unwrap() {
        let iv = h(c, "iv");
        if iv.len() != 12 {
            continue;
        }
        let name = s(c, "name");
        let g = AesGcm::new(&h(c, "key")).unwrap();
        let (aad, pt, ct, tag) = (h(c, "aad"), h(c, "plaintext"), h(c, "ciphertext"), h(c, "tag"));
        let nonce = arr::<12>(&iv);
        let mut buf = pt.clone();
        assert_eq!(g.seal_in_place(&nonce, &aad, &mut buf).to_vec(), tag, "{name}");
        assert_eq!(buf, ct, "{name}");
        g.open_in_place(&nonce, &aad, &mut buf, &arr(&tag)).unwrap();
        assert_eq!(buf, pt, "{name}");
        n += 1;
    }
    assert_eq!(n, 12, "cases 1-4, 7-10, 13-16");
}

#[test]
fn wycheproof_96_bit_iv() {
    let w = vectors("wycheproof_aes_gcm.json");
    let (mut valid, mut invalid) = (0, 0);
    for g in w["testGroups"].as_array().unwrap() {
        if g["ivSize"].as_u64() != Some(96) {
            continue;
        }
        assert_eq!(g["tagSize"].as_u64(), Some(128));
        for t in g["tests"].as_array().unwrap() {
            let id = t["tcId"].as_u64().unwrap();
            let gcm = AesGcm::new(&h(t, "key")).unwrap();
            let nonce = arr::<12>(&h(t, "iv"));
            let (aad, msg, ct, tag) =
                (h(t, "aad"), h(t, "msg"), h(t, "ct"), arr::<16>(&h(t, "tag")));
            let mut buf = ct.clone();
            let opened = gcm.open_in_place(&nonce, &aad, &mut buf, &tag);
            match s(t, "result") {
                "valid" => {
                    opened.unwrap_or_else(|_| panic!("tcId {id}: valid test rejected"));
                    assert_eq!(buf, msg, "tcId {id}");
                    let mut sealed = msg.clone();
                    assert_eq!(gcm.seal_in_place(&nonce, &aad, &mut sealed), tag, "tcId {id}");
                    assert_eq!(sealed, ct, "tcId {id}");
                    valid += 1;
                }
                "invalid" => {
                    assert!(opened.is_err(), "tcId {id}: invalid test accepted");
                    assert_eq!(buf, ct, "tcId {id}: nothing released");
                    invalid += 1;
                }
                r => panic!("tcId {id}: unexpected result {r}"),
            }
        }
    }
    assert_eq!((valid, invalid), (116, 81));
}

#[test]
fn hex_helper_round_trips() {
    assert_eq!(common::to_hex(&hex("00ff10")), "00ff10");
}
