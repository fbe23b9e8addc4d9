//! tshark (Wireshark's dissector, with libgcrypt's AES-GCM) as a second, independent
//! decoder: packets we encapsulate, written to a pcap, must be recognised as ESP (plain
//! and NAT-T, IPv4 and IPv6 outer), verify their ICV, and decrypt to exactly our inner
//! packet with the padding length and next header we wrote.
//!
//! tshark 4.0 is given the SAs on the command line (`uat:esp_sa`); ESN SAs are covered by
//! scapy (`scapy_peer.rs`), since that table has no field for the high half here.
//! `QFP_TSHARK` names the binary (default `tshark`); without one the test fails and says to
//! run `./scripts/test`, which installs it.

mod common;

use common::{Outer, Spec, inner_v4, inner_v6, seal_packet, to_hex};
use std::process::Command;

fn tshark() -> String {
    let t = std::env::var("QFP_TSHARK").unwrap_or_else(|_| "tshark".to_string());
    let ok =
        Command::new(&t).arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(ok, "`{t} --version` failed: install tshark (./scripts/test does) or set QFP_TSHARK");
    t
}

/// A classic pcap (Ethernet link type) of `frames`.
fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut f = Vec::new();
    for v in [
        0xa1b2_c3d4u32.to_le_bytes(),
        [2, 0, 4, 0],
        [0; 4],
        [0; 4],
        65535u32.to_le_bytes(),
        1u32.to_le_bytes(),
    ] {
        f.extend_from_slice(&v);
    }
    for (i, p) in frames.iter().enumerate() {
        let ethertype: [u8; 2] = if p[0] >> 4 == 4 { [0x08, 0x00] } else { [0x86, 0xdd] };
        let len = (p.len() + 14) as u32;
        f.extend_from_slice(&(i as u32).to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes());
        f.extend_from_slice(&len.to_le_bytes());
        f.extend_from_slice(&len.to_le_bytes());
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
        f.extend_from_slice(&ethertype);
        f.extend_from_slice(p);
    }
    f
}

#[test]
fn tshark_decrypts_what_we_encapsulate() {
    let t = tshark();
    let mut frames = Vec::new();
    let mut expected = Vec::new();
    let mut uat = Vec::new();
    let mut spi = 0x7000u32;
    for key in [16usize, 32] {
        for outer in [Outer::V4, Outer::V6] {
            for natt in [false, true] {
                spi += 1;
                let spec = Spec { spi, ..Spec::new(key, false, outer, natt) };
                let family = if outer == Outer::V4 { "IPv4" } else { "IPv6" };
                let keymat = format!("0x{}{}", to_hex(&spec.key), to_hex(&spec.salt));
                uat.push(format!(
                    "uat:esp_sa:\"{family}\",\"*\",\"*\",\"0x{spi:08x}\",\"AES-GCM with 16 octet ICV [RFC4106]\",\"{keymat}\",\"NULL\",\"\""
                ));
                let out = spec.outbound();
                for inner in
                    [inner_v4(29, 0x10, true, 1), inner_v6(333, 0, 2), inner_v4(1200, 0, false, 3)]
                {
                    frames.push(seal_packet(&out, &inner));
                    let pad = dataplane::wire::esp::pad_len_for(inner.len());
                    let nh: u8 = if inner[0] >> 4 == 4 { 4 } else { 41 };
                    expected.push((spi, to_hex(&inner), pad, nh));
                }
            }
        }
    }
    let path = std::env::temp_dir().join(format!("qfp-tshark-{}.pcap", std::process::id()));
    std::fs::write(&path, pcap(&frames)).unwrap();
    let mut cmd = Command::new(&t);
    cmd.arg("-r").arg(&path).args(["-o", "esp.enable_encryption_decode:TRUE"]);
    cmd.args(["-o", "esp.enable_authentication_check:TRUE"]);
    for u in &uat {
        cmd.args(["-o", u]);
    }
    cmd.args(["-T", "fields", "-E", "separator=|"]);
    for f in ["esp.spi", "esp.icv_good", "esp.contained_data", "esp.pad_len", "esp.protocol"] {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), expected.len(), "one line per packet:\n{text}");
    for (i, (line, (spi, inner, pad, nh))) in lines.iter().zip(&expected).enumerate() {
        let f: Vec<&str> = line.split('|').collect();
        assert_eq!(f.len(), 5, "packet {i}: {line}");
        assert_eq!(
            u32::from_str_radix(f[0].trim_start_matches("0x"), 16).ok(),
            Some(*spi),
            "packet {i}: SPI"
        );
        assert!(
            f[1] == "1" || f[1].eq_ignore_ascii_case("true"),
            "packet {i}: ICV not good: {line}"
        );
        assert_eq!(f[2].replace(':', ""), *inner, "packet {i}: decrypted inner packet");
        assert_eq!(f[3], pad.to_string(), "packet {i}: pad length");
        let got_nh = u8::from_str_radix(f[4].trim_start_matches("0x"), 16).ok();
        assert_eq!(got_nh, Some(*nh), "packet {i}: next header");
    }
}
