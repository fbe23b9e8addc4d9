//! Good configs parse to exactly the values written, with the documented defaults; the
//! shipped example loads; no key material ever shows in `Debug`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ctrl::config::{self, Aead, Config, ConfigError, Lifetimes, Limits, NatT, Overrides, Prefix};

fn parse(text: &str) -> Config {
    config::parse(text, "qfp.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn pfx(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

const V4: &str = r#"
[gateway]
protected_port = 0
unprotected_port = 1
local = "172.16.1.5"

[[tunnel]]
name = "branch-1"
peer = "172.16.2.5"
next_hop_mac = "02:00:00:00:00:02"
selectors = ["192.168.105.0/24", "192.168.205.7"]
[[tunnel.sa]]
dir = "out"
spi = 0x1001
aead = "aes-128-gcm"
key = "00112233445566778899aabbccddeeff"
salt = "01020304"
[[tunnel.sa]]
dir = "in"
spi = 0x2001
aead = "aes-128-gcm"
key = "0XFFEEDDCCBBAA99887766554433221100"
salt = "0x0A0B0C0D"
[[tunnel.sa]]
dir = "in"
spi = 8194
aead = "aes-128-gcm"
key = "0102030405060708090a0b0c0d0e0f10"
salt = "05060708"

[[route]]
dst = "192.168.115.0/24"
port = 0
next_hop_mac = "02:00:00:00:00:01"
"#;

#[test]
fn ipv4_static_tunnel_with_defaults() {
    let c = parse(V4);
    assert_eq!(c.file(), "qfp.toml");
    let g = &c.gateway;
    assert_eq!((g.protected_port, g.unprotected_port), (0, 1));
    assert_eq!(g.local_v4, Some(Ipv4Addr::new(172, 16, 1, 5)));
    assert_eq!(g.local_v6, None);
    assert_eq!(g.replay_window, 1024);
    assert_eq!(g.peer_port, 500);

    assert_eq!(c.tunnels.len(), 1);
    let t = &c.tunnels[0];
    assert_eq!(t.name, "branch-1");
    assert_eq!(t.peer, ip("172.16.2.5"));
    assert_eq!(t.local, ip("172.16.1.5"));
    assert_eq!(t.next_hop_mac, [2, 0, 0, 0, 0, 2]);
    assert_eq!(t.selectors, vec![pfx("192.168.105.0/24"), pfx("192.168.205.7/32")]);
    assert!(!t.esn);
    assert_eq!(t.natt, None);
    assert!(t.psk.is_none() && t.is_static());
    assert_eq!(t.mtu, 1500);
    // Static SAs are never rekeyed, so no lifetime unless one is written.
    assert_eq!(t.lifetime, Lifetimes::default());

    assert_eq!(t.outbound.spi, 0x1001);
    assert_eq!(t.outbound.aead, Aead::Aes128Gcm);
    assert_eq!(t.outbound.key.expose(), &unhex("00112233445566778899aabbccddeeff"));
    assert_eq!(t.outbound.salt.expose(), &[1, 2, 3, 4]);
    assert_eq!(t.inbound.len(), 2);
    assert_eq!(t.inbound[0].spi, 0x2001);
    assert_eq!(t.inbound[0].key.expose(), &unhex("ffeeddccbbaa99887766554433221100"));
    assert_eq!(t.inbound[0].salt.expose(), &[0x0a, 0x0b, 0x0c, 0x0d]);
    assert_eq!(t.inbound[1].spi, 8194);

    assert_eq!(c.routes.len(), 1);
    assert_eq!(c.routes[0].dst, pfx("192.168.115.0/24"));
    assert_eq!(c.routes[0].port, 0);
    assert_eq!(c.routes[0].next_hop_mac, [2, 0, 0, 0, 0, 1]);

    assert_eq!(c.local_addrs(), vec![ip("172.16.1.5")]);
    assert_eq!(c.tunnel_for(ip("192.168.105.9")).map(|t| t.name.as_str()), Some("branch-1"));
    assert_eq!(c.tunnel_for(ip("192.168.205.7")).map(|t| t.name.as_str()), Some("branch-1"));
    assert!(c.tunnel_for(ip("192.168.205.8")).is_none());
}

#[test]
fn lines_of_fields_are_kept_for_later_errors() {
    let c = parse(V4);
    assert_eq!(c.line_of("gateway.protected_port"), Some(3));
    assert_eq!(c.line_of("tunnel[0].sa[1].spi"), Some(20));
    assert_eq!(c.line_of("route[0].port"), Some(33));
    assert_eq!(c.line_of("tunnel[0].mtu"), None, "mtu was not written");
    let e = c.error("gateway.unprotected_port", "port 1 does not exist (1 port probed)");
    assert_eq!(
        e.to_string(),
        "qfp.toml:4: gateway.unprotected_port: port 1 does not exist (1 port probed)"
    );
    // A field not written falls back to its table's line.
    let e = c.error("tunnel[0].mtu", "too big for port 1");
    assert_eq!(e.to_string(), "qfp.toml:7: tunnel[0].mtu: too big for port 1");
}

const V6_NATT_ESN_256: &str = r#"
[gateway]
protected_port = 3
unprotected_port = 2
local = ["2001:db8:16::5", "172.16.1.5"]
replay_window = 0
peer_port = 7500

[[tunnel]]
name = "v6.branch_2"
peer = "2001:db8:26::5"
next_hop_mac = "02-00-00-00-01-0A"
selectors = ["2001:db8:106::/48", "192.168.106.0/24", "2001:db8:107::/48"]
esn = true
natt = true
natt_peer_port = 61234
mtu = 1280
[[tunnel.sa]]
dir = "in"
spi = 0xFFFFFFFF
aead = "aes-256-gcm"
key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
salt = "deadbeef"
[[tunnel.sa]]
dir = "out"
spi = 256
aead = "aes-256-gcm"
key = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"
salt = "cafebabe"

[[route]]
dst = "2001:db8:115::/48"
next_hop_mac = "02:00:00:00:00:01"
[[route]]
dst = "2001:db8::/32"
next_hop_mac = "02:00:00:00:00:03"
"#;

#[test]
fn ipv6_outer_and_inner_natt_esn_aes256() {
    let c = parse(V6_NATT_ESN_256);
    let g = &c.gateway;
    assert_eq!((g.protected_port, g.unprotected_port), (3, 2));
    assert_eq!(g.local_v6, Some("2001:db8:16::5".parse::<Ipv6Addr>().unwrap()));
    assert_eq!(g.local_v4, Some(Ipv4Addr::new(172, 16, 1, 5)));
    assert_eq!(g.replay_window, 0, "0 turns anti-replay off");
    assert_eq!(g.peer_port, 7500);

    let t = &c.tunnels[0];
    assert_eq!(t.name, "v6.branch_2");
    assert_eq!(t.peer, ip("2001:db8:26::5"));
    assert_eq!(t.local, ip("2001:db8:16::5"), "outer family follows the peer");
    assert_eq!(t.next_hop_mac, [2, 0, 0, 0, 1, 0x0a]);
    assert_eq!(
        t.selectors,
        vec![pfx("2001:db8:106::/48"), pfx("192.168.106.0/24"), pfx("2001:db8:107::/48")]
    );
    assert!(t.esn);
    assert_eq!(t.natt, Some(NatT { local_port: 4500, peer_port: 61234 }));
    assert_eq!(t.mtu, 1280);
    assert_eq!(t.outbound.spi, 256);
    assert_eq!(t.outbound.aead, Aead::Aes256Gcm);
    assert_eq!(t.outbound.key.len(), 32);
    assert_eq!(t.outbound.key.expose(), &(0u8..32).rev().collect::<Vec<_>>());
    assert_eq!(t.outbound.salt.expose(), &[0xca, 0xfe, 0xba, 0xbe]);
    assert_eq!(t.inbound.len(), 1);
    assert_eq!(t.inbound[0].spi, u32::MAX);
    assert_eq!(t.inbound[0].key.expose(), &(0u8..32).collect::<Vec<_>>());

    // Longest prefix wins among routes.
    assert_eq!(c.route_for(ip("2001:db8:115::1")).map(|r| r.next_hop_mac[5]), Some(1));
    assert_eq!(c.route_for(ip("2001:db8:999::1")).map(|r| r.next_hop_mac[5]), Some(3));
    assert!(c.route_for(ip("10.0.0.1")).is_none());
    assert_eq!(c.routes[0].port, 3, "route port defaults to the protected port");
}

/// Three tunnels: IPv4 with a hex PSK and explicit lifetimes, IPv6 with a text PSK and
/// the default lifetimes, IPv4 with its own local address and a PSK file.
fn several(psk_file: &str) -> String {
    format!(
        r#"
[gateway]
protected_port = 0
unprotected_port = 1
local = ["172.16.1.5", "2001:db8:16::5"]

[[tunnel]]
name = "hex"
peer = "172.16.2.5"
next_hop_mac = "02:00:00:00:00:02"
selectors = ["10.2.0.0/16"]
psk = "0x000102030405060708090a0b0c0d0e0f1011"
[tunnel.lifetime]
hard_seconds = 600
soft_bytes = 1000
hard_bytes = 0
hard_packets = 1000000
soft_packets = 0
[[tunnel.sa]]
dir = "out"
spi = 0x1002
aead = "aes-128-gcm"
key = "02020202020202020202020202020202"
salt = "02020202"
[[tunnel.sa]]
dir = "in"
spi = 0x2002
aead = "aes-128-gcm"
key = "12121212121212121212121212121212"
salt = "12121212"

[[tunnel]]
name = "text"
peer = "2001:db8:26::5"
next_hop_mac = "02:00:00:00:00:03"
selectors = ["10.3.0.0/16", "2001:db8:3::/48"]
psk = "correct horse battery staple"
[[tunnel.sa]]
dir = "out"
spi = 0x1003
aead = "aes-256-gcm"
key = "0303030303030303030303030303030303030303030303030303030303030303"
salt = "03030303"
[[tunnel.sa]]
dir = "in"
spi = 0x2003
aead = "aes-256-gcm"
key = "1313131313131313131313131313131313131313131313131313131313131313"
salt = "13131313"

[[tunnel]]
name = "file"
peer = "172.16.4.5"
local = "172.16.1.6"
next_hop_mac = "02:00:00:00:00:04"
selectors = ["10.4.0.0/16"]
psk_file = "{psk_file}"
[[tunnel.sa]]
dir = "out"
spi = 0x1002
aead = "aes-128-gcm"
key = "04040404040404040404040404040404"
salt = "04040404"
[[tunnel.sa]]
dir = "in"
spi = 0x2004
aead = "aes-128-gcm"
key = "14141414141414141414141414141414"
salt = "14141414"

[[route]]
dst = "0.0.0.0/0"
next_hop_mac = "02:00:00:00:00:01"
[[route]]
dst = "10.0.0.0/8"
next_hop_mac = "02:00:00:00:00:09"
"#
    )
}

/// A fresh directory for one test's files, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("qfp-cfg-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn several_tunnels_psks_lifetimes_and_psk_file() {
    let dir = TempDir::new("several");
    // A text PSK with its trailing newline, as an editor leaves it.
    std::fs::write(dir.0.join("file.psk"), "a passphrase from a file\r\n").unwrap();
    let cfg_path = dir.0.join("qfp.toml");
    // Relative psk_file: taken from the config file's directory, not the cwd.
    std::fs::write(&cfg_path, several("file.psk")).unwrap();
    let c = config::load(&cfg_path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.file(), cfg_path.display().to_string());
    assert_eq!(c.tunnels.len(), 3);
    let names: Vec<&str> = c.tunnels.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["hex", "text", "file"]);

    let hex = &c.tunnels[0];
    assert_eq!(hex.psk.as_ref().unwrap().expose(), &(0u8..18).collect::<Vec<_>>());
    assert!(!hex.is_static());
    assert_eq!(
        hex.lifetime,
        Lifetimes {
            // soft seconds: 90% of the hard 600; soft bytes as written (hard unlimited);
            // soft packets explicitly unlimited.
            soft: Limits { seconds: Some(540), bytes: Some(1000), packets: None },
            hard: Limits { seconds: Some(600), bytes: None, packets: Some(1_000_000) },
        }
    );

    let text = &c.tunnels[1];
    assert_eq!(text.psk.as_ref().unwrap().expose(), b"correct horse battery staple");
    assert_eq!(text.local, ip("2001:db8:16::5"));
    assert_eq!(
        text.lifetime,
        Lifetimes {
            soft: Limits { seconds: Some(3240), bytes: Some(4_246_732_800), packets: None },
            hard: Limits { seconds: Some(3600), bytes: Some(4_718_592_000), packets: None },
        },
        "IOS defaults for a tunnel that rekeys"
    );
    assert_eq!(text.outbound.aead, Aead::Aes256Gcm);

    let file = &c.tunnels[2];
    assert_eq!(file.psk.as_ref().unwrap().expose(), b"a passphrase from a file");
    assert_eq!(file.local, ip("172.16.1.6"));
    // Outbound SPIs are the peers' choice: the same one towards two peers is fine.
    assert_eq!(file.outbound.spi, hex.outbound.spi);

    assert_eq!(c.local_addrs(), vec![ip("172.16.1.5"), ip("2001:db8:16::5"), ip("172.16.1.6")]);
    assert_eq!(c.tunnel_for(ip("10.3.1.1")).unwrap().name, "text");
    assert_eq!(c.tunnel_for(ip("2001:db8:3::1")).unwrap().name, "text");
    assert_eq!(c.tunnel_for(ip("10.4.0.1")).unwrap().name, "file");
    // A route may cover selectors (default route, 10/8): more specific policy wins for
    // plain traffic, the route only serves decapsulated packets.
    assert_eq!(c.route_for(ip("10.9.9.9")).unwrap().next_hop_mac[5], 9);
    assert_eq!(c.route_for(ip("8.8.8.8")).unwrap().next_hop_mac[5], 1);
}

#[test]
fn psk_file_in_hex_and_errors_name_the_file() {
    let dir = TempDir::new("pskfile");
    let key = dir.0.join("hex.psk");
    std::fs::write(&key, "0x00112233445566778899aabbccddeeff\n").unwrap();
    let text = several(&key.display().to_string());
    let c = config::parse(&text, "qfp.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.tunnels[2].psk.as_ref().unwrap().expose(),
        &unhex("00112233445566778899aabbccddeeff")
    );

    std::fs::write(&key, "too short\n").unwrap();
    let e = config::parse(&text, "qfp.toml").unwrap_err().to_string();
    let want = format!("tunnel[2].psk_file: {}: too short: 9 bytes", key.display());
    assert!(e.contains(&want), "{e}");
    assert!(e.starts_with("qfp.toml:"), "{e}");
}

#[test]
fn replay_window_override() {
    let mut c = parse(V4);
    c.apply_overrides(&Overrides::default()).unwrap();
    assert_eq!(c.gateway.replay_window, 1024);
    c.apply_overrides(&Overrides { replay_window: Some(0) }).unwrap();
    assert_eq!(c.gateway.replay_window, 0);
    c.apply_overrides(&Overrides { replay_window: Some(65536) }).unwrap();
    assert_eq!(c.gateway.replay_window, 65536);
    let e = c.apply_overrides(&Overrides { replay_window: Some(100) }).unwrap_err();
    assert!(matches!(e, ConfigError::Flag { .. }));
    assert_eq!(
        e.to_string(),
        "--replay-window: expected 0 (anti-replay off) or a power of two from 32 to 65536, got 100"
    );
    assert_eq!(c.gateway.replay_window, 65536, "a refused override changes nothing");

    assert_eq!(config::parse_replay_window("64"), Ok(64));
    assert_eq!(config::parse_replay_window("0"), Ok(0));
    assert!(config::parse_replay_window("63").is_err());
    assert!(config::parse_replay_window("lots").unwrap_err().contains("expected a number"));
}

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/qfp.toml")
}

#[test]
fn shipped_example_loads() {
    let c = config::load(&example_path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.tunnels.len(), 2);
    let (b1, b2) = (&c.tunnels[0], &c.tunnels[1]);
    assert_eq!(b1.name, "branch-1");
    assert_eq!(b1.peer, ip("172.16.2.5"));
    assert!(b1.esn && b1.natt.is_none() && !b1.is_static());
    assert_eq!(b1.outbound.spi, 0x1001);
    assert_eq!(b1.inbound[0].spi, 0x2001);
    assert_eq!(b2.name, "branch-2");
    assert_eq!(b2.local, ip("2001:db8:16::5"));
    assert_eq!(b2.natt, Some(NatT { local_port: 4500, peer_port: 4500 }));
    assert!(b2.is_static());
    assert_eq!(b2.outbound.aead, Aead::Aes256Gcm);
    assert_eq!(c.routes.len(), 3);
}

/// The hex and decimal spellings of `bytes` that a careless Debug would print.
fn spellings(bytes: &[u8]) -> Vec<String> {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let dec = format!("{bytes:?}");
    let dec_inner = dec.trim_start_matches('[').trim_end_matches(']').to_owned();
    let hex_list = format!("{bytes:x?}");
    vec![hex, dec_inner, hex_list.trim_start_matches('[').trim_end_matches(']').to_owned()]
}

#[test]
fn debug_never_prints_keys_salts_or_psks() {
    let c = config::load(&example_path()).unwrap_or_else(|e| panic!("{e}"));
    let shown = format!("{c:?}\n{c:#?}");
    assert!(shown.contains("<redacted, 16 bytes>"), "the secrets must still be visible as such");
    assert!(shown.contains("<redacted, 32 bytes>"));
    assert!(shown.contains("<redacted, 4 bytes>"));
    assert!(shown.contains("branch-1"), "the rest of the config is shown");
    let mut secrets: Vec<Vec<u8>> = Vec::new();
    for t in &c.tunnels {
        for sa in std::iter::once(&t.outbound).chain(&t.inbound) {
            secrets.push(sa.key.expose().clone());
            secrets.push(sa.salt.expose().to_vec());
        }
        if let Some(p) = &t.psk {
            secrets.push(p.expose().clone());
            assert!(!shown.contains(std::str::from_utf8(p.expose()).unwrap()));
        }
    }
    assert_eq!(secrets.len(), 9);
    for s in &secrets {
        for spelled in spellings(s) {
            assert!(!shown.contains(&spelled), "Debug shows secret bytes {spelled}");
        }
    }
}
