//! The fuzz harness (`fuzz/src/harness.rs` and `parsers.rs`, included here) in the default suite: every
//! committed seed and every saved crash in `fuzz/regressions/` is replayed through the
//! same targets libFuzzer runs, and the committed seeds must be exactly what this file
//! generates from the vectors (so they stay valid packets for the harness's SAs).
//!
//! To regenerate the seeds after changing the harness or the generator:
//! `QFP_WRITE_FUZZ_SEEDS=1 cargo test -p dataplane --test fuzz_corpus`.

mod common;
#[path = "../../fuzz/src/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "../../fuzz/src/parsers.rs"]
mod parsers;

use common::{h, s, vectors};
use dataplane::selector::Selectors;
use dataplane::{Decapped, HeapBuf, PacketBuf, SaDirection, decap, encap};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Seeds per target: name -> bytes.
fn generate() -> BTreeMap<&'static str, BTreeMap<String, Vec<u8>>> {
    let mut decap_seeds = BTreeMap::new();
    let mut parse_seeds = BTreeMap::new();
    let cases = vectors("rfc4106_esp.json");
    let cases = cases.as_array().unwrap();

    // Mode 0: the DPDK tunnel-mode packets, with their own SAs (configs 0..=4).
    let dpdk: Vec<_> = cases.iter().filter(|c| c.get("full_packet").is_some()).collect();
    assert_eq!(dpdk.len(), 5);
    for (i, c) in dpdk.iter().enumerate() {
        let cfg = &harness::CONFIGS[i];
        assert_eq!(cfg.key, &h(c, "key")[..], "config {i} is {}", s(c, "name"));
        let full = h(c, "full_packet");
        let mut seed = vec![i as u8];
        seed.extend_from_slice(&full);
        decap_seeds.insert(format!("dpdk-{i}-packet"), seed);
        // Mode 2: its plaintext, sealed by the harness.
        let mut seed = vec![0x20 | i as u8];
        seed.extend_from_slice(&h(c, "plaintext"));
        decap_seeds.insert(format!("dpdk-{i}-plaintext"), seed);
        parse_seeds.insert(format!("dpdk-{i}"), full.clone());
        let mut frame = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        frame.extend_from_slice(if full[0] >> 4 == 4 { &[0x08, 0x00] } else { &[0x86, 0xdd] });
        frame.extend_from_slice(&full);
        parse_seeds.insert(format!("dpdk-{i}-frame"), frame);
    }

    // Inner packets: every vector's ip_packet; mode 3 and, encapsulated by our own SAs
    // (configs 5..=8), mode 0.
    let inners: Vec<Vec<u8>> =
        cases.iter().filter(|c| c.get("ip_packet").is_some()).map(|c| h(c, "ip_packet")).collect();
    for (j, inner) in inners.iter().enumerate() {
        let k = 5 + j % 4;
        let cfg = &harness::CONFIGS[k];
        let mut seed = vec![0x30 | k as u8];
        seed.extend_from_slice(inner);
        decap_seeds.insert(format!("inner-{j}-encap"), seed);
        let out = harness::sa(cfg, SaDirection::Outbound, Selectors::any());
        let mut b = HeapBuf::new(inner);
        encap(&mut b, &out, 1).unwrap();
        let mut seed = vec![k as u8 | if j % 2 == 1 { 0x40 } else { 0 }];
        seed.extend_from_slice(b.data());
        decap_seeds.insert(format!("inner-{j}-esp"), seed);
        parse_seeds.insert(format!("inner-{j}-esp"), b.data().to_vec());
    }

    // NAT-T control packets and refusals (config 5 is IPv4 + NAT-T).
    let natt = harness::seal_raw(&harness::CONFIGS[5], (1 << 32) | 1, &[0, 4]);
    let mut ka = natt[..28].to_vec();
    ka.push(0xff);
    ka[2..4].copy_from_slice(&29u16.to_be_bytes());
    ka[24..26].copy_from_slice(&9u16.to_be_bytes());
    ka[10..12].copy_from_slice(&[0, 0]);
    let c = dataplane::wire::checksum::of(&ka[..20]);
    ka[10..12].copy_from_slice(&c.to_be_bytes());
    decap_seeds.insert("natt-keepalive".into(), [&[5u8][..], &ka].concat());
    let mut ike = natt.clone();
    ike[28..32].copy_from_slice(&[0, 0, 0, 0]);
    decap_seeds.insert("natt-non-esp-marker".into(), [&[5u8][..], &ike].concat());
    decap_seeds.insert("natt-empty-plaintext".into(), [&[5u8][..], &natt].concat());

    let mut out = BTreeMap::new();
    out.insert("decap", decap_seeds);
    out.insert("parse", parse_seeds);
    out
}

fn files(dir: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if name != "README.md" && e.file_type().unwrap().is_file() {
                m.insert(name, std::fs::read(e.path()).unwrap());
            }
        }
    }
    m
}

#[test]
fn committed_seeds_are_the_generated_ones() {
    let want = generate();
    let write = std::env::var("QFP_WRITE_FUZZ_SEEDS").is_ok_and(|v| v == "1");
    for (target, seeds) in &want {
        let dir = fuzz_dir().join("seeds").join(target);
        if write {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            for (name, bytes) in seeds {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
        let have = files(&dir);
        assert_eq!(
            have.keys().collect::<Vec<_>>(),
            seeds.keys().collect::<Vec<_>>(),
            "fuzz/seeds/{target}: regenerate with QFP_WRITE_FUZZ_SEEDS=1"
        );
        for (name, bytes) in seeds {
            assert_eq!(&have[name], bytes, "fuzz/seeds/{target}/{name} is stale");
        }
    }
}

/// The packet seeds must reach the inner packet: a seed that fails early would only
/// exercise the first checks.
#[test]
fn packet_seeds_decapsulate() {
    let seeds = &generate()["decap"];
    let mut n = 0;
    for (name, seed) in seeds.iter().filter(|(n, _)| n.ends_with("-packet") || n.ends_with("-esp"))
    {
        let cfg = &harness::CONFIGS[usize::from(seed[0] & 0x0f)];
        let sas = [harness::sa(cfg, SaDirection::Inbound, Selectors::any())];
        let mut b = HeapBuf::new(&seed[1..]);
        assert!(
            matches!(decap(&mut b, &sas[..], 1), Ok(Decapped::Inner { .. })),
            "seed {name} does not decapsulate"
        );
        n += 1;
    }
    assert!(n >= 5 + 10, "{n} packet seeds");
}

#[test]
fn seeds_and_saved_crashes_replay_through_the_targets() {
    let mut n = 0;
    for sub in ["seeds", "regressions"] {
        for (name, bytes) in files(&fuzz_dir().join(sub).join("decap")) {
            eprintln!("decap {sub}/{name}");
            harness::decap_target(&bytes);
            n += 1;
        }
        for (name, bytes) in files(&fuzz_dir().join(sub).join("parse")) {
            eprintln!("parse {sub}/{name}");
            harness::parse_target(&bytes);
            n += 1;
        }
    }
    assert!(n > 0, "no seeds found under fuzz/");
}

/// The one-parser targets and encap take the `parse` and `decap` seeds (what
/// `scripts/fuzz` gives them) and their own saved findings.
#[test]
fn per_parser_and_encap_targets_replay_seeds_and_saved_findings() {
    type Target = fn(&[u8]);
    let targets: [(&str, &str, Target); 7] = [
        ("eth", "parse", parsers::eth_target),
        ("vlan", "parse", parsers::vlan_target),
        ("ipv4", "parse", parsers::ipv4_target),
        ("ipv6", "parse", parsers::ipv6_target),
        ("udp", "parse", parsers::udp_target),
        ("esp", "parse", parsers::esp_target),
        ("encap", "decap", parsers::encap_target),
    ];
    let mut n = 0;
    for (target, seeds, run) in targets {
        for (name, bytes) in files(&fuzz_dir().join("seeds").join(seeds)) {
            run(&bytes);
            // The same seed as an IP packet behind an Ethernet header, and as a UDP/ESP
            // payload, so each parser sees its own layer at offset 0 too.
            for cut in [14, 20, 28, 40, 48] {
                if bytes.len() > cut {
                    run(&bytes[cut..]);
                }
            }
            eprintln!("{target} seeds/{seeds}/{name}");
            n += 1;
        }
        for (name, bytes) in files(&fuzz_dir().join("regressions").join(target)) {
            eprintln!("{target} regressions/{target}/{name}");
            run(&bytes);
            n += 1;
        }
    }
    assert!(n >= 7 * 10, "only {n} seeds replayed");
}

/// The invariants the one-parser targets check can fail: an ESP trailer with wrong
/// padding is refused, and encap of a real inner packet reaches the decap identity.
#[test]
fn parser_targets_reach_their_checks() {
    use dataplane::wire::esp;
    assert!(esp::Trailer::parse(&[9, 9, 1, 2, 2, 4]).is_ok());
    assert!(esp::Trailer::parse(&[9, 9, 1, 3, 2, 4]).is_err());
    let seeds = files(&fuzz_dir().join("seeds").join("decap"));
    let inner = seeds.iter().find(|(n, _)| n.ends_with("-encap")).expect("an encap seed").1;
    let c = &harness::CONFIGS[usize::from(inner[0] & 0x0f)];
    let out = harness::sa(c, SaDirection::Outbound, Selectors::any());
    let mut b = HeapBuf::new(&inner[1..]);
    assert!(encap(&mut b, &out, 1).is_ok(), "the encap seeds are accepted by encap");
    parsers::encap_target(inner);
}
