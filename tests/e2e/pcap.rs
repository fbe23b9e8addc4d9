//! `qfp pcap`: the capture files that drive a gateway, checked by independent decoders.
//!
//! For a config, the gateway's set (`plain-*`, `esp-*`) and the peer's mirror set
//! (`--peer-side`) are written; scapy then decrypts each ESP capture with the keys from the
//! config and must find, frame for frame, exactly the IP packets of the other set's plain
//! capture (our `esp-*` is what the peer's LAN sends, our `plain-*` is what we send the
//! peer), with the sequence numbers counting from `--start-seq`; it also checks every plain
//! frame's checksums, addresses, port and load header. tshark reads every file, decrypts
//! the non-ESN tunnel's ESP (its SA table has no ESN field) and checks the ICVs. Bad
//! arguments exit 2 with one line and write nothing.
#![forbid(unsafe_code)]

use std::path::Path;
use std::process::Command;

use qfp_tests::python::scapy_python;
use qfp_tests::{Qfp, TempDir, pcap};

/// Two tunnels: IPv4 outer with ESN and AES-128 (first), IPv6 outer with NAT-T, no ESN,
/// AES-256 and inner IPv6 (second). MTU 9000 so that IMIX's 1500-byte frames fit.
const CONFIG: &str = r#"
[gateway]
protected_port = 0
unprotected_port = 1
local = ["172.16.1.5", "2001:db8:16::5"]

[[tunnel]]
name = "branch-1"
peer = "172.16.2.5"
next_hop_mac = "02:00:00:00:01:01"
selectors = ["192.168.105.0/24"]
esn = true
mtu = 9000
[[tunnel.sa]]
dir = "out"
spi = 0x1001
aead = "aes-128-gcm"
key = "00112233445566778899aabbccddeeff"
salt = "c0ffee01"
[[tunnel.sa]]
dir = "in"
spi = 0x2001
aead = "aes-128-gcm"
key = "ffeeddccbbaa99887766554433221100"
salt = "c0ffee02"

[[tunnel]]
name = "branch-2"
peer = "2001:db8:26::5"
next_hop_mac = "02:00:00:00:01:02"
selectors = ["2001:db8:106::/48"]
esn = false
natt = true
mtu = 9000
[[tunnel.sa]]
dir = "out"
spi = 0x1002
aead = "aes-256-gcm"
key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
salt = "0badcafe"
[[tunnel.sa]]
dir = "in"
spi = 0x2002
aead = "aes-256-gcm"
key = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"
salt = "deadbeef"

[[route]]
dst = "192.168.115.0/24"
next_hop_mac = "02:00:00:00:00:01"

[[route]]
dst = "2001:db8:115::/48"
next_hop_mac = "02:00:00:00:00:01"
"#;

struct Tunnel {
    name: &'static str,
    ip: &'static str,
    sizes: &'static [&'static str],
    lan: &'static str,
    remote: &'static str,
    esn: bool,
    /// (SPI, key, salt) of our outbound and inbound SA.
    out: (u32, &'static str, &'static str),
    inb: (u32, &'static str, &'static str),
}

const BRANCH1: Tunnel = Tunnel {
    name: "branch-1",
    ip: "4",
    sizes: &["64", "512", "1400", "imix"],
    lan: "192.168.115.0/24",
    remote: "192.168.105.0/24",
    esn: true,
    out: (0x1001, "00112233445566778899aabbccddeeff", "c0ffee01"),
    inb: (0x2001, "ffeeddccbbaa99887766554433221100", "c0ffee02"),
};

const BRANCH2: Tunnel = Tunnel {
    name: "branch-2",
    ip: "6",
    sizes: &["84", "1400", "imix"],
    lan: "2001:db8:115::/48",
    remote: "2001:db8:106::/48",
    esn: false,
    out: (0x1002, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "0badcafe"),
    inb: (0x2002, "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100", "deadbeef"),
};

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// Writes both sets for `t` into `dir/ours` and `dir/peer`.
fn write_sets(dir: &TempDir, t: &Tunnel, count: u64, start_seq: u64) {
    let cfg = dir.join("qfp.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    for (sub, peer) in [("ours", false), ("peer", true)] {
        let mut args: Vec<String> = vec!["pcap".into(), "-c".into(), p(&cfg), "--dir".into()];
        args.extend([p(&dir.join(sub)), "--sizes".into(), t.sizes.join(",")]);
        args.extend(["--count".into(), count.to_string(), "--tunnel".into(), t.name.into()]);
        args.extend(["--ip".into(), t.ip.into(), "--flows".into(), "7".into()]);
        args.extend(["--start-seq".into(), start_seq.to_string()]);
        if peer {
            args.push("--peer-side".into());
        }
        let out = Qfp::new(args).output();
        out.assert_success();
        // One line per file, naming it.
        for s in t.sizes {
            assert!(out.stdout.contains(&format!("plain-{s}.pcap")), "{}", out.stdout);
        }
    }
}

#[derive(serde::Deserialize, Debug)]
struct Check {
    esp: u64,
    plain: u64,
    errors: Vec<String>,
}

fn scapy_check(
    esp: &Path,
    plain: &Path,
    sa: (u32, &str, &str),
    esn: bool,
    start: u64,
    src: &str,
    dst: &str,
) -> Check {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/pcap_check.py");
    let out = Command::new(scapy_python())
        .arg(&script)
        .args([p(esp), p(plain), sa.1.into(), sa.2.into(), format!("{:#x}", sa.0)])
        .args([esn.to_string(), start.to_string(), src.into(), dst.into()])
        .output()
        .expect("running pcap_check.py");
    assert!(out.status.success(), "pcap_check.py: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Both directions of `t`: our ESP decrypts (inbound keys) to the peer's plain frames, the
/// peer's ESP (our outbound keys) to our plain frames.
fn check_tunnel(t: &Tunnel, count: u64, start: u64) {
    let dir = TempDir::new(&format!("pcap-{}", t.name));
    write_sets(&dir, t, count, start);
    for size in t.sizes {
        let f = |set: &str, kind: &str| dir.join(set).join(format!("{kind}-{size}.pcap"));
        for (esp, plain, sa, src, dst) in [
            (f("ours", "esp"), f("peer", "plain"), t.inb, t.remote, t.lan),
            (f("peer", "esp"), f("ours", "plain"), t.out, t.lan, t.remote),
        ] {
            let c = scapy_check(&esp, &plain, sa, t.esn, start, src, dst);
            assert!(
                c.errors.is_empty(),
                "{} vs {}: {:?}",
                esp.display(),
                plain.display(),
                c.errors
            );
            assert_eq!((c.esp, c.plain), (count, count), "{}", esp.display());
        }
        // Frame sizes: what was asked for, without the FCS.
        let plain = pcap::read(&f("ours", "plain"));
        let want: Vec<usize> = (0..count as usize)
            .map(|i| match *size {
                // IPv6 traffic fills IMIX's 64-byte slots with 84-byte frames.
                "imix" => {
                    let s = [64, 570, 64, 64, 570, 64, 1500, 64, 570, 64, 64, 570][i % 12];
                    if t.ip == "6" { s.max(84) - 4 } else { s - 4 }
                }
                s => s.parse::<usize>().unwrap() - 4,
            })
            .collect();
        assert_eq!(plain.iter().map(Vec::len).collect::<Vec<_>>(), want, "{size}");
        // MACs: to the gateway's protected port 0 from the LAN route's next hop; ESP to
        // its unprotected port 1 from the tunnel's next hop.
        assert_eq!(&plain[0][..12], &[2, 0x51, 0x46, 0, 0, 0, 2, 0, 0, 0, 0, 1]);
        let esp = pcap::read(&f("ours", "esp"));
        assert_eq!(&esp[0][..6], &[2, 0x51, 0x46, 0, 0, 1]);
        let nh = if t.name == "branch-1" { 1 } else { 2 };
        assert_eq!(&esp[0][6..12], &[2, 0, 0, 0, 1, nh]);
    }
}

#[test]
fn esp_decrypts_to_the_mirror_plain_frames_ipv4_esn() {
    // Sequence numbers cross 2^32: the ESN high half must change mid-file.
    check_tunnel(&BRANCH1, 40, (1 << 32) - 20);
}

#[test]
fn esp_decrypts_to_the_mirror_plain_frames_ipv6_natt_aes256() {
    check_tunnel(&BRANCH2, 30, 1);
}

fn tshark() -> String {
    let t = std::env::var("QFP_TSHARK").unwrap_or_else(|_| "tshark".to_string());
    let ok = Command::new(&t).arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(ok, "`{t} --version` failed: install tshark (./scripts/test does) or set QFP_TSHARK");
    t
}

/// tshark's fields of every frame of `file`, one line each; fails on any complaint.
fn tshark_fields(file: &Path, opts: &[String], fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new(tshark());
    cmd.arg("-r").arg(file).args(opts).args(["-T", "fields", "-E", "separator=|"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let complaints: Vec<&str> = err.lines().filter(|l| !l.starts_with("Running as user")).collect();
    assert!(out.status.success() && complaints.is_empty(), "tshark -r {}: {err}", file.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('|').map(str::to_owned).collect())
        .collect()
}

#[test]
fn tshark_reads_every_capture_and_decrypts_the_non_esn_tunnel() {
    let dir = TempDir::new("pcap-tshark");
    let count = 24u64;
    write_sets(&dir, &BRANCH1, count, 1);
    for size in BRANCH1.sizes {
        let plain = dir.join("ours").join(format!("plain-{size}.pcap"));
        let rows = tshark_fields(
            &plain,
            &[
                "-o".into(),
                "udp.check_checksum:TRUE".into(),
                "-o".into(),
                "ip.check_checksum:TRUE".into(),
            ],
            &["udp.checksum.status", "ip.checksum.status", "udp.dstport", "frame.len"],
        );
        assert_eq!(rows.len() as u64, count, "{}", plain.display());
        for r in &rows {
            assert_eq!(&r[..3], &["1", "1", "9"], "{}: {r:?}", plain.display());
        }
        let esp = dir.join("ours").join(format!("esp-{size}.pcap"));
        let rows = tshark_fields(&esp, &[], &["esp.spi", "esp.sequence"]);
        let want: Vec<Vec<String>> =
            (1..=count).map(|s| vec!["0x00002001".to_string(), s.to_string()]).collect();
        assert_eq!(rows, want, "{}", esp.display());
    }

    // branch-2 (no ESN): tshark decrypts with the config's keys and checks every ICV.
    let dir = TempDir::new("pcap-tshark6");
    write_sets(&dir, &BRANCH2, count, 7);
    for size in BRANCH2.sizes {
        for (esp, plain, (spi, key, salt)) in
            [("ours", "peer", BRANCH2.inb), ("peer", "ours", BRANCH2.out)]
        {
            let esp = dir.join(esp).join(format!("esp-{size}.pcap"));
            let plain = pcap::read(&dir.join(plain).join(format!("plain-{size}.pcap")));
            let uat = format!(
                "uat:esp_sa:\"IPv6\",\"*\",\"*\",\"0x{spi:08x}\",\"AES-GCM with 16 octet ICV [RFC4106]\",\"0x{key}{salt}\",\"NULL\",\"\""
            );
            let opts: Vec<String> = [
                "-o",
                "esp.enable_encryption_decode:TRUE",
                "-o",
                "esp.enable_authentication_check:TRUE",
                "-o",
                &uat,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            let rows =
                tshark_fields(&esp, &opts, &["esp.sequence", "esp.icv_good", "esp.contained_data"]);
            assert_eq!(rows.len() as u64, count, "{}", esp.display());
            for (i, r) in rows.iter().enumerate() {
                assert_eq!(r[0], (7 + i).to_string(), "{} frame {i}", esp.display());
                assert!(
                    r[1] == "1" || r[1].eq_ignore_ascii_case("true"),
                    "{} frame {i}: {r:?}",
                    esp.display()
                );
                let inner: String = plain[i][14..].iter().map(|b| format!("{b:02x}")).collect();
                assert_eq!(r[2].replace(':', ""), inner, "{} frame {i}", esp.display());
            }
        }
    }
}

#[test]
fn bad_arguments_exit_2_with_one_line_and_write_nothing() {
    let dir = TempDir::new("pcap-bad");
    let cfg = dir.join("qfp.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let small_mtu = dir.join("mtu.toml");
    std::fs::write(&small_mtu, CONFIG.replace("mtu = 9000", "mtu = 1500")).unwrap();
    let (c, m, out) = (p(&cfg), p(&small_mtu), p(&dir.join("out")));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--dir", &out], "--config"),
        (vec!["-c", &c], "--dir"),
        (vec!["-c", "/nonexistent/qfp.toml", "--dir", &out], "/nonexistent/qfp.toml"),
        (vec!["-c", &c, "--dir", &out, "--sizes", "64,big"], "--sizes"),
        (vec!["-c", &c, "--dir", &out, "--sizes", "63"], "63"),
        (vec!["-c", &c, "--dir", &out, "--sizes", "1519"], "1519"),
        (vec!["-c", &c, "--dir", &out, "--count", "0"], "--count"),
        (vec!["-c", &c, "--dir", &out, "--flows", "0"], "--flows"),
        (vec!["-c", &c, "--dir", &out, "--start-seq", "0"], "--start-seq"),
        (vec!["-c", &c, "--dir", &out, "--tunnel", "nosuch"], "nosuch"),
        (vec!["-c", &c, "--dir", &out, "--ip", "5"], "--ip"),
        (vec!["-c", &c, "--dir", &out, "--ip", "6"], "no IPv6 selector"),
        (vec!["-c", &c, "--dir", &out, "--lan", "192.168.105.128/25"], "overlaps"),
        (vec!["-c", &c, "--dir", &out, "--lan", "2001:db8::/32"], "--lan"),
        (vec!["-c", &c, "--dir", &out, "--lan", "10.0.0.0/99"], "--lan"),
        (vec!["-c", &c, "--dir", &out, "--spi", "0x9999"], "--spi"),
        (vec!["-c", &m, "--dir", &out, "--sizes", "imix"], "mtu"),
        (vec!["-c", &c, "--dir", &out, "--tunnel", "branch-2", "--ip", "6", "--sizes", "64"], "64"),
        (
            vec![
                "-c",
                &c,
                "--dir",
                &out,
                "--tunnel",
                "branch-2",
                "--ip",
                "6",
                "--sizes",
                "84",
                "--start-seq",
                "4294967290",
                "--count",
                "10",
            ],
            "esn = false",
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec!["pcap"];
        all.extend(&args);
        let o = Qfp::new(all).output();
        o.assert_code(2);
        let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.starts_with("For more")).collect();
        assert_eq!(lines.len(), 1, "{args:?}: {}", o.stderr);
        assert!(lines[0].contains(needle), "{args:?}: {}", o.stderr);
        assert!(o.stdout.is_empty(), "{args:?}: {}", o.stdout);
        assert!(!dir.join("out").exists(), "{args:?} wrote files");
    }
}

/// `--all-tunnels` (the scale benchmark's captures): frame i belongs to tunnel i mod 2, so
/// the ESP file alternates the two tunnels' inbound SPIs (plain ESP over IPv4, then ESP in
/// UDP over IPv6), each tunnel numbering its own frames from --start-seq; the plain file
/// alternates the two tunnels' remote networks.
#[test]
fn all_tunnels_interleaves_every_tunnel_with_its_own_sequence() {
    let dir = TempDir::new("pcap-all");
    let cfg = dir.join("qfp.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let out_dir = dir.join("out");
    let out = Qfp::new(vec![
        "pcap".into(),
        "-c".into(),
        p(&cfg),
        "--dir".into(),
        p(&out_dir),
        "--sizes".into(),
        "128".into(),
        "--count".into(),
        "7".into(),
        "--start-seq".into(),
        "5".into(),
        "--all-tunnels".into(),
    ])
    .output();
    out.assert_success();
    assert!(out.stdout.contains("2 tunnels interleaved"), "{}", out.stdout);
    let esp = pcap::read(&out_dir.join("esp-128.pcap"));
    assert_eq!(esp.len(), 7);
    for (i, f) in esp.iter().enumerate() {
        // (SPI, sequence number) at the ESP header: after Ethernet + IPv4 (20), or after
        // Ethernet + IPv6 (40) + UDP (8) for the NAT-T tunnel.
        let at = if i % 2 == 0 { 14 + 20 } else { 14 + 40 + 8 };
        let spi = u32::from_be_bytes(f[at..at + 4].try_into().unwrap());
        let seq = u32::from_be_bytes(f[at + 4..at + 8].try_into().unwrap());
        let want_spi = if i % 2 == 0 { 0x2001 } else { 0x2002 };
        assert_eq!((spi, seq), (want_spi, 5 + (i / 2) as u32), "frame {i}");
        let ethertype = u16::from_be_bytes([f[12], f[13]]);
        assert_eq!(ethertype, if i % 2 == 0 { 0x0800 } else { 0x86dd }, "frame {i}");
    }
    let plain = pcap::read(&out_dir.join("plain-128.pcap"));
    assert_eq!(plain.len(), 7);
    for (i, f) in plain.iter().enumerate() {
        if i % 2 == 0 {
            assert_eq!(&f[14 + 16..14 + 19], &[192, 168, 105], "frame {i}: IPv4 into branch-1");
        } else {
            let dst = &f[14 + 24..14 + 30];
            assert_eq!(dst, &[0x20, 0x01, 0x0d, 0xb8, 0x01, 0x06], "frame {i}: IPv6 into branch-2");
        }
    }
    // --all-tunnels picks every tunnel and the first inbound SA of each: no --tunnel, --spi.
    for extra in [["--tunnel", "branch-1"], ["--spi", "0x2001"]] {
        let mut args: Vec<String> = vec!["pcap".into(), "-c".into(), p(&cfg), "--dir".into()];
        args.extend([p(&out_dir), "--all-tunnels".into(), extra[0].into(), extra[1].into()]);
        let o = Qfp::new(args).output();
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", o.stderr);
    }
}
