//! scapy (`scapy.layers.ipsec`) as the independent peer, both ways.
//!
//! `tests/peer/esp_peer.py gen` builds inner packets and encrypts them with scapy for every
//! combination of inner IPv4/IPv6, outer IPv4/IPv6, ESN, NAT-T and AES-128/256, including
//! ESN sequences across the wrap of the low 32 bits, delivered out of order. We decrypt each
//! to the exact inner packet, and our own encap of the same inner packet at the same
//! sequence number must equal scapy's packet byte for byte (the IV is the sequence number
//! on both sides). Then we encrypt packets of our own and `esp_peer.py check` decrypts them
//! with scapy and checks the outer headers.
//!
//! The interpreter: `QFP_PYTHON` if set, else the first of `python3`, `/usr/bin/python3` that
//! can import `scapy.layers.ipsec`. Without one the tests fail (never skip): run
//! `./scripts/test`, which installs scapy. `QFP_SCAPY_SEED` picks another case set.

mod common;

use common::{h, inner_v4, inner_v6, s};
use dataplane::sa::{Endpoints, Lifetime, NattPorts, Tunnel};
use dataplane::selector::Selectors;
use dataplane::{
    Decapped, DropReason, HeapBuf, PacketBuf, Sa, SaConfig, SaDirection, decap, encap,
};
use serde_json::{Value, json};
use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};

fn has_scapy(python: &str) -> bool {
    Command::new(python)
        .args(["-c", "import scapy.layers.ipsec"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn python() -> String {
    if let Ok(p) = std::env::var("QFP_PYTHON") {
        assert!(
            has_scapy(&p),
            "QFP_PYTHON={p} cannot `import scapy.layers.ipsec`: install python3-scapy for it, \
             or run ./scripts/test (it installs scapy)"
        );
        return p;
    }
    for p in ["python3", "/usr/bin/python3"] {
        if has_scapy(p) {
            return p.to_string();
        }
    }
    panic!(
        "no Python interpreter with scapy found (tried python3, /usr/bin/python3): run \
         ./scripts/test (it installs python3-scapy), or set QFP_PYTHON to one that can \
         `import scapy.layers.ipsec`"
    );
}

fn script() -> String {
    format!("{}/tests/peer/esp_peer.py", env!("CARGO_MANIFEST_DIR"))
}

/// Runs the peer script; `input` goes to its stdin; its stdout is JSON.
fn peer(args: &[&str], input: Option<&str>) -> Value {
    let py = python();
    let mut child = Command::new(&py)
        .arg(script())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{py} {}: {e}", script()));
    let mut stdin = child.stdin.take().unwrap();
    let data = input.unwrap_or("").to_string();
    let writer = std::thread::spawn(move || stdin.write_all(data.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "{py} esp_peer.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("peer output is JSON")
}

fn generated() -> Value {
    let seed = std::env::var("QFP_SCAPY_SEED").unwrap_or_else(|_| "4106".to_string());
    let v = peer(&["gen", "--seed", &seed], None);
    assert_eq!(
        v["cases"].as_array().unwrap().len(),
        32,
        "2 key sizes x ESN x NAT-T x 2 outer x 2 inner"
    );
    v
}

/// The SA of a generated case. `sender` builds it as scapy's side (the packets' source is
/// local), otherwise as ours (the receiver).
fn sa(c: &Value, dir: SaDirection, sender: bool, initial_seq: u64) -> Sa {
    let (a, b): (IpAddr, IpAddr) = (s(c, "src").parse().unwrap(), s(c, "dst").parse().unwrap());
    let (local, remote) = if sender { (a, b) } else { (b, a) };
    let endpoints = match (local, remote) {
        (IpAddr::V4(local), IpAddr::V4(remote)) => Endpoints::V4 { local, remote },
        (IpAddr::V6(local), IpAddr::V6(remote)) => Endpoints::V6 { local, remote },
        _ => unreachable!(),
    };
    let key = h(c, "key");
    Sa::new(SaConfig {
        spi: c["spi"].as_u64().unwrap() as u32,
        direction: dir,
        key: &key,
        salt: h(c, "salt").try_into().unwrap(),
        esn: c["esn"].as_bool().unwrap(),
        tunnel: Tunnel {
            endpoints,
            natt: c["natt"].as_bool().unwrap().then(NattPorts::default),
            mtu: 9000,
        },
        selectors: Selectors::any(),
        lifetime: Lifetime::UNLIMITED,
        replay_window: 1024,
        created_ns: 0,
        initial_seq,
    })
    .unwrap()
}

#[test]
fn scapy_encrypts_we_decrypt_and_build_the_same_bytes() {
    let g = generated();
    let mut n = 0;
    for c in g["cases"].as_array().unwrap() {
        let name = s(c, "name");
        let packets = c["packets"].as_array().unwrap();
        let first = packets.iter().map(|p| p["seq"].as_u64().unwrap()).min().unwrap();
        let sas = [sa(c, SaDirection::Inbound, false, first - 1)];
        for p in packets {
            let (seq, inner, wire) = (p["seq"].as_u64().unwrap(), h(p, "inner"), h(p, "wire"));
            let at = format!("{name} seq {seq:#x} ({} byte inner)", inner.len());
            let mut b = HeapBuf::new(&wire);
            match decap(&mut b, &sas[..], 1) {
                Ok(Decapped::Inner { seq: got, .. }) => assert_eq!(got, seq, "{at}"),
                other => panic!("{at}: {other:?}"),
            }
            assert_eq!(b.data(), &inner[..], "{at}: inner packet");
            // Replayed: refused.
            let mut again = HeapBuf::new(&wire);
            assert_eq!(
                decap(&mut again, &sas[..], 1).unwrap_err().reason,
                DropReason::AntiReplay,
                "{at}"
            );
            // Our encap of the same inner packet at the same sequence number: same bytes.
            let ours = sa(c, SaDirection::Outbound, true, seq - 1);
            let mut e = HeapBuf::new(&inner);
            encap(&mut e, &ours, 1).unwrap_or_else(|r| panic!("{at}: encap {r}"));
            assert_eq!(
                common::to_hex(e.data()),
                common::to_hex(&wire),
                "{at}: our packet differs from scapy's"
            );
            n += 1;
        }
    }
    assert_eq!(n, 32 * 7);
}

#[test]
fn we_encrypt_scapy_decrypts() {
    let g = generated();
    let mut cases = Vec::new();
    for c in g["cases"].as_array().unwrap() {
        let packets = c["packets"].as_array().unwrap();
        let first = packets.iter().map(|p| p["seq"].as_u64().unwrap()).min().unwrap();
        // Start where scapy's sequence started: with ESN, just before the low half wraps.
        let ours = sa(c, SaDirection::Outbound, false, first - 1);
        let mut inners: Vec<Vec<u8>> = packets.iter().map(|p| h(p, "inner")).collect();
        inners.extend([
            inner_v4(28, 0xb8, true, 1),
            inner_v4(1401, 0, false, 2),
            inner_v6(48, 0x01, 3),
            inner_v6(1203, 0, 4),
        ]);
        for (i, inner) in inners.iter().enumerate() {
            let mut b = HeapBuf::new(inner);
            encap(&mut b, &ours, 1).unwrap();
            cases.push(json!({
                "name": format!("{} #{i}", s(c, "name")),
                "key": c["key"], "salt": c["salt"], "spi": c["spi"], "esn": c["esn"],
                "natt": c["natt"], "seq": first + i as u64,
                "wire": common::to_hex(b.data()), "inner": common::to_hex(inner),
            }));
        }
    }
    let input = serde_json::to_string(&cases).unwrap();
    let results = peer(&["check"], Some(&input));
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), cases.len());
    let failed: Vec<String> = results
        .iter()
        .zip(&cases)
        .filter(|(r, _)| r["ok"] != json!(true))
        .map(|(r, c)| format!("{}: {}", s(c, "name"), r["error"]))
        .collect();
    assert!(
        failed.is_empty(),
        "scapy refused {} of {}:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
    assert_eq!(cases.len(), 32 * 11);
}
