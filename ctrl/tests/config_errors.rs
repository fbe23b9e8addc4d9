//! Bad configs, one table: each case edits a known-good config, and the error must be
//! one line naming the file, the expected line and field, with the expected words.
//! The good base is checked first, so every case fails only because of its own edit.

use ctrl::config::{self, ConfigError};

/// The good config every case starts from. Line numbers are fixed; keep them so.
const BASE: &str = r#"[gateway]
protected_port = 0
unprotected_port = 1
local = "172.16.1.5"

[[tunnel]]
name = "t1"
peer = "172.16.2.5"
next_hop_mac = "02:00:00:00:00:02"
selectors = ["192.168.105.0/24"]

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
key = "ffeeddccbbaa99887766554433221100"
salt = "05060708"

[[route]]
dst = "192.168.115.0/24"
next_hop_mac = "02:00:00:00:00:01"
"#;
// Line map:  1 [gateway]  2 protected_port  3 unprotected_port  4 local  6 [[tunnel]]
// 7 name  8 peer  9 next_hop_mac  10 selectors  12 [[tunnel.sa]] (out)  13 dir  14 spi
// 15 aead  16 key  17 salt  19 [[tunnel.sa]] (in)  20 dir  21 spi  22 aead  23 key
// 24 salt  26 [[route]]  27 dst  28 next_hop_mac; `append` starts at line 29.

/// A second tunnel, appended after the route: its line k is line 28 + k of the whole
/// text (name 30, peer 31, selectors 33, out key 39, in spi 44, in key 46).
const T2: &str = r#"[[tunnel]]
name = "t2"
peer = "172.16.3.5"
next_hop_mac = "02:00:00:00:00:03"
selectors = ["10.0.0.0/8"]

[[tunnel.sa]]
dir = "out"
spi = 0x1002
aead = "aes-128-gcm"
key = "0f0e0d0c0b0a09080706050403020100"
salt = "01020304"

[[tunnel.sa]]
dir = "in"
spi = 0x2002
aead = "aes-128-gcm"
key = "000102030405060708090a0b0c0d0e0f"
salt = "05060708"
"#;

struct Case {
    name: &'static str,
    text: String,
    line: usize,
    field: &'static str,
    msg: &'static str,
}

/// `text` with some of its lines (1-based) replaced; a replacement may be empty or
/// several lines, and must change something.
fn edit(text: &str, edits: &[(usize, &str)]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for &(n, new) in edits {
        assert!(n >= 1 && n <= lines.len(), "edit of line {n} outside the text");
        assert!(lines[n - 1] != new, "edit of line {n} changes nothing");
        lines[n - 1] = new.to_owned();
    }
    lines.join("\n") + "\n"
}

/// BASE with edits.
fn base(edits: &[(usize, &str)]) -> String {
    edit(BASE, edits)
}

/// BASE followed by `more` (which starts at line 29).
fn plus(more: &str) -> String {
    format!("{BASE}{more}")
}

/// BASE followed by T2 with edits.
fn with_t2(edits: &[(usize, &str)]) -> String {
    plus(&edit(T2, edits))
}

fn case(
    name: &'static str,
    text: String,
    line: usize,
    field: &'static str,
    msg: &'static str,
) -> Case {
    Case { name, text, line, field, msg }
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        // TOML syntax and shape.
        case("unquoted string", base(&[(7, "name = t1")]), 7, "tunnel[0].name", "invalid TOML"),
        case("duplicate key", base(&[(3, "unprotected_port = 1\nprotected_port = 2")]), 4, "gateway.protected_port", "invalid TOML: duplicate key"),
        case("unknown gateway field", base(&[(4, "local = \"172.16.1.5\"\nlocl = \"x\"")]), 5, "gateway.locl", "unknown field `locl`"),
        case("unknown sa field", base(&[(17, "salt = \"01020304\"\nsalt2 = \"00\"")]), 18, "tunnel[0].sa[0].salt2", "unknown field `salt2`"),
        case("unknown route field", base(&[(28, "next_hop_mac = \"02:00:00:00:00:01\"\nmetric = 1")]), 29, "route[0].metric", "unknown field `metric`"),
        case("unknown table", plus("[extra]\nx = 1\n"), 29, "extra", "unknown field `extra`"),
        case("unknown lifetime field", base(&[(10, "selectors = [\"192.168.105.0/24\"]\nlifetime = { hard_kilobytes = 1 }")]), 11, "tunnel[0].lifetime.hard_kilobytes", "unknown field `hard_kilobytes`"),
        case("missing peer", base(&[(8, "")]), 6, "tunnel[0].peer", "missing (required in [tunnel[0]])"),
        case("missing gateway.local", base(&[(4, "")]), 1, "gateway.local", "missing"),
        case("missing sa key", base(&[(23, "")]), 19, "tunnel[0].sa[1].key", "missing"),
        case("misspelt table", base(&[(1, "[gw]")]), 1, "gw", "unknown field `gw`, expected one of `gateway`, `tunnel`, `route`"),
        case("no gateway", base(&[(1, ""), (2, ""), (3, ""), (4, "")]), 1, "gateway", "missing (required in the top level)"),
        case("tunnel not an array", base(&[(6, "[tunnel]"), (12, ""), (13, ""), (14, ""), (15, ""), (16, ""), (17, ""), (19, ""), (20, ""), (21, ""), (22, ""), (23, ""), (24, "")]), 6, "tunnel", "invalid type: table, expected an array of tables"),
        case("port as string", base(&[(2, "protected_port = \"0\"")]), 2, "gateway.protected_port", "invalid type: string \"0\", expected an integer"),
        case("esn not a bool", base(&[(10, "selectors = [\"192.168.105.0/24\"]\nesn = \"yes\"")]), 11, "tunnel[0].esn", "expected a boolean"),
        case("spi as string", base(&[(14, "spi = \"0x1001\"")]), 14, "tunnel[0].sa[0].spi", "invalid type: string \"0x1001\", expected an integer (write numbers without quotes"),
        case("bad dir", base(&[(20, "dir = \"inbound\"")]), 20, "tunnel[0].sa[1].dir", "unknown variant `inbound`, expected `in` or `out`"),
        case("bad aead", base(&[(15, "aead = \"aes-128-cbc\"")]), 15, "tunnel[0].sa[0].aead", "unknown variant `aes-128-cbc`"),
        // Keys, salts, SPIs.
        case("bad hex", base(&[(16, "key = \"00112233445566778899aabbccddeezz\"")]), 16, "tunnel[0].sa[0].key", "not hex: 'z' at digit 31"),
        case("short key", base(&[(23, "key = \"ffeeddccbbaa998877665544332211\"")]), 23, "tunnel[0].sa[1].key", "expected 32 hex digits (16 bytes for aes-128-gcm), got 30"),
        case("key vs aead", base(&[(15, "aead = \"aes-256-gcm\"")]), 16, "tunnel[0].sa[0].key", "expected 64 hex digits (32 bytes for aes-256-gcm), got 32"),
        case("bad salt", base(&[(17, "salt = \"010203\"")]), 17, "tunnel[0].sa[0].salt", "expected 8 hex digits (4 bytes), got 6"),
        case("salt not hex", base(&[(24, "salt = \"0506070g\"")]), 24, "tunnel[0].sa[1].salt", "not hex"),
        case("spi 0", base(&[(14, "spi = 0")]), 14, "tunnel[0].sa[0].spi", "SPI 0 is reserved"),
        case("spi reserved", base(&[(21, "spi = 255")]), 21, "tunnel[0].sa[1].spi", "SPI 255 is reserved"),
        case("spi over 32 bits", base(&[(21, "spi = 0x100000000")]), 21, "tunnel[0].sa[1].spi", "expected an SPI (32 bits) 256..=4294967295, got 4294967296"),
        case("spi negative", base(&[(14, "spi = -5")]), 14, "tunnel[0].sa[0].spi", "got -5"),
        case("inbound spi twice in a tunnel", plus("[[tunnel.sa]]\ndir = \"in\"\nspi = 0x2001\naead = \"aes-128-gcm\"\nkey = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\nsalt = \"00000000\"\n"), 31, "tunnel[0].sa[2].spi", "inbound SPI 0x2001 is already used by tunnel[0].sa[1] (line 21)"),
        case("no out sa", base(&[(13, "dir = \"in\"")]), 6, "tunnel[0].sa", "no SA with dir = \"out\""),
        case("two out sas", base(&[(20, "dir = \"out\"")]), 20, "tunnel[0].sa[1].dir", "a second outbound SA (the first is on line 13)"),
        case("no in sa", base(&[(19, ""), (20, ""), (21, ""), (22, ""), (23, ""), (24, "")]), 6, "tunnel[0].sa", "no SA with dir = \"in\""),
        case("key reused", base(&[(23, "key = \"00112233445566778899AABBCCDDEEFF\"")]), 23, "tunnel[0].sa[1].key", "same key as tunnel[0].sa[0] (line 16)"),
        // Addresses, prefixes, MACs.
        case("bad peer address", base(&[(8, "peer = \"172.16.2\"")]), 8, "tunnel[0].peer", "expected an IPv4 or IPv6 address, got \"172.16.2\""),
        case("multicast peer", base(&[(8, "peer = \"224.0.0.5\"")]), 8, "tunnel[0].peer", "not a unicast address"),
        case("peer is local", base(&[(8, "peer = \"172.16.1.5\"")]), 8, "tunnel[0].peer", "this gateway's own address"),
        case("bad local", base(&[(4, "local = \"172.16.1.500\"")]), 4, "gateway.local", "expected an IPv4 or IPv6 address"),
        case("two ipv4 locals", base(&[(4, "local = [\"172.16.1.5\",\n  \"172.16.1.6\"]")]), 5, "gateway.local[1]", "a second IPv4 address (the first is on line 4)"),
        case("empty local", base(&[(4, "local = []")]), 4, "gateway.local", "empty"),
        case("ipv6 peer without ipv6 local", base(&[(8, "peer = \"2001:db8::2\"")]), 8, "tunnel[0].peer", "peer 2001:db8::2 is IPv6 but gateway.local has no IPv6 address"),
        case("tunnel local of wrong family", base(&[(8, "peer = \"172.16.2.5\"\nlocal = \"2001:db8::1\"")]), 9, "tunnel[0].local", "2001:db8::1 is IPv6 but peer 172.16.2.5 is IPv4"),
        case("host bits set", base(&[(10, "selectors = [\"192.168.105.1/24\"]")]), 10, "tunnel[0].selectors[0]", "host bits set in 192.168.105.1/24: did you mean 192.168.105.0/24?"),
        case("prefix too long", base(&[(10, "selectors = [\"192.168.105.0/24\", \"2001:db8::/129\"]")]), 10, "tunnel[0].selectors[1]", "prefix length 129 is too long for IPv6"),
        case("empty selectors", base(&[(10, "selectors = []")]), 10, "tunnel[0].selectors", "empty"),
        case("selectors overlap in a tunnel", base(&[(10, "selectors = [\"192.168.0.0/16\",\n  \"192.168.105.0/24\"]")]), 11, "tunnel[0].selectors[1]", "192.168.105.0/24 overlaps 192.168.0.0/16 of the same tunnel (line 10)"),
        case("selectors overlap between tunnels", with_t2(&[(5, "selectors = [\"10.0.0.0/8\", \"192.168.0.0/16\"]")]), 33, "tunnel[1].selectors[1]", "192.168.0.0/16 overlaps 192.168.105.0/24 of tunnel \"t1\" (line 10)"),
        case("bad mac", base(&[(9, "next_hop_mac = \"02:00:00:00:02\"")]), 9, "tunnel[0].next_hop_mac", "expected a MAC address like"),
        case("multicast mac", base(&[(28, "next_hop_mac = \"01:00:5e:00:00:01\"")]), 28, "route[0].next_hop_mac", "multicast"),
        case("bad tunnel name", base(&[(7, "name = \"branch 1\"")]), 7, "tunnel[0].name", "expected 1 to 64 letters"),
        // Tunnels against each other.
        case("duplicate tunnel name", with_t2(&[(2, "name = \"t1\"")]), 30, "tunnel[1].name", "duplicate tunnel name \"t1\" (first on line 7)"),
        case("inbound spi in two tunnels", with_t2(&[(16, "spi = 0x2001")]), 44, "tunnel[1].sa[1].spi", "inbound SPI 0x2001 is already used by tunnel[0].sa[1] (line 21); inbound SPIs must be unique across the gateway"),
        case("key reused across tunnels", with_t2(&[(11, "key = \"00112233445566778899aabbccddeeff\"")]), 39, "tunnel[1].sa[0].key", "same key as tunnel[0].sa[0] (line 16)"),
        case("ipv6 selectors overlap between tunnels", {
            let t = base(&[(10, "selectors = [\"192.168.105.0/24\", \"2001:db8:105::/48\"]")]);
            t + &edit(T2, &[(5, "selectors = [\"2001:db8::/32\"]")])
        }, 33, "tunnel[1].selectors[0]", "2001:db8::/32 overlaps 2001:db8:105::/48 of tunnel \"t1\" (line 10)"),
        case("peer is another tunnel's local", {
            let t = base(&[(8, "peer = \"172.16.2.5\"\nlocal = \"172.16.1.6\"")]);
            t + &edit(T2, &[(3, "peer = \"172.16.1.6\"")])
        }, 32, "tunnel[1].peer", "172.16.1.6 is this gateway's own address"),
        case("local is another tunnel's peer", with_t2(&[(3, "peer = \"172.16.3.5\"\nlocal = \"172.16.2.5\"")]), 32, "tunnel[1].local", "local address 172.16.2.5 is the peer of tunnel \"t1\""),
        case("duplicate peer", with_t2(&[(3, "peer = \"172.16.2.5\"")]), 31, "tunnel[1].peer", "peer 172.16.2.5 already has tunnel \"t1\" (line 8)"),
        // Ports, MTU, replay window, NAT-T.
        case("ports equal", base(&[(3, "unprotected_port = 0")]), 3, "gateway.unprotected_port", "same port as protected_port (0)"),
        case("port out of range", base(&[(2, "protected_port = 70000")]), 2, "gateway.protected_port", "expected a DPDK port id 0..=65535, got 70000"),
        case("peer_port 0", base(&[(4, "local = \"172.16.1.5\"\npeer_port = 0")]), 5, "gateway.peer_port", "expected a UDP port 1..=65535, got 0"),
        case("mtu too small", base(&[(10, "selectors = [\"192.168.105.0/24\"]\nmtu = 500")]), 11, "tunnel[0].mtu", "expected an MTU 576..=9216, got 500"),
        case("mtu too big", base(&[(10, "selectors = [\"192.168.105.0/24\"]\nmtu = 9217")]), 11, "tunnel[0].mtu", "got 9217"),
        case("mtu below ipv6 minimum", base(&[(4, "local = [\"172.16.1.5\", \"2001:db8::1\"]"), (8, "peer = \"2001:db8::2\"\nmtu = 1200")]), 9, "tunnel[0].mtu", "at least 1280"),
        case("replay window not a power of two", base(&[(4, "local = \"172.16.1.5\"\nreplay_window = 1000")]), 5, "gateway.replay_window", "power of two from 32 to 65536, got 1000"),
        case("replay window too big", base(&[(4, "local = \"172.16.1.5\"\nreplay_window = 131072")]), 5, "gateway.replay_window", "got 131072"),
        case("replay window too small", base(&[(4, "local = \"172.16.1.5\"\nreplay_window = 16")]), 5, "gateway.replay_window", "got 16"),
        case("natt port without natt", base(&[(10, "selectors = [\"192.168.105.0/24\"]\nnatt_peer_port = 4501")]), 11, "tunnel[0].natt_peer_port", "set but natt is not true"),
        case("natt port is peer port", base(&[(4, "local = \"172.16.1.5\"\npeer_port = 4500"), (10, "selectors = [\"192.168.105.0/24\"]\nnatt = true")]), 12, "tunnel[0].natt_local_port", "NAT-T port 4500 is also gateway.peer_port"),
        case("natt port out of range", base(&[(10, "selectors = [\"192.168.105.0/24\"]\nnatt = true\nnatt_local_port = 65536")]), 12, "tunnel[0].natt_local_port", "expected a UDP port 1..=65535, got 65536"),
        // PSK and lifetimes.
        case("psk and psk_file", base(&[(10, "selectors = [\"192.168.105.0/24\"]\npsk = \"a long enough passphrase\"\npsk_file = \"k.psk\"")]), 12, "tunnel[0].psk_file", "psk and psk_file are both set"),
        case("psk_file unreadable", base(&[(10, "selectors = [\"192.168.105.0/24\"]\npsk_file = \"/nonexistent/qfp/k.psk\"")]), 11, "tunnel[0].psk_file", "cannot read /nonexistent/qfp/k.psk"),
        // Never an endless read (found while writing the config fuzz target).
        case("psk_file endless", base(&[(10, "selectors = [\"192.168.105.0/24\"]\npsk_file = \"/dev/zero\"")]), 11, "tunnel[0].psk_file", "/dev/zero is larger than 2052 bytes: not a key file"),
        case("psk too short", base(&[(10, "selectors = [\"192.168.105.0/24\"]\npsk = \"secret\"")]), 11, "tunnel[0].psk", "too short: 6 bytes, at least 16"),
        case("psk bad hex", base(&[(10, "selectors = [\"192.168.105.0/24\"]\npsk = \"0x00112233445566778899aabbccddeeff0\"")]), 11, "tunnel[0].psk", "odd number of digits"),
        case("soft >= hard", base(&[(10, "selectors = [\"192.168.105.0/24\"]\n[tunnel.lifetime]\nhard_seconds = 600\nsoft_seconds = 600")]), 13, "tunnel[0].lifetime.soft_seconds", "soft_seconds 600 must be below hard_seconds 600"),
        case("soft >= default hard", base(&[(10, "selectors = [\"192.168.105.0/24\"]\npsk = \"a long enough passphrase\"\n[tunnel.lifetime]\nsoft_bytes = 5000000000")]), 13, "tunnel[0].lifetime.soft_bytes", "below hard_bytes 4718592000 (the default)"),
        case("negative lifetime", base(&[(10, "selectors = [\"192.168.105.0/24\"]\n[tunnel.lifetime]\nhard_packets = -1")]), 12, "tunnel[0].lifetime.hard_packets", "expected 0 (unlimited) or a positive number of packets, got -1"),
        // Routes.
        case("duplicate route", plus("[[route]]\ndst = \"192.168.115.0/24\"\nnext_hop_mac = \"02:00:00:00:00:01\"\n"), 30, "route[1].dst", "duplicate route to 192.168.115.0/24 (first on line 27)"),
        case("route inside a selector", base(&[(27, "dst = \"192.168.105.128/25\"")]), 27, "route[0].dst", "is inside selector 192.168.105.0/24 of tunnel \"t1\" (line 10)"),
        case("route to the unprotected port", base(&[(27, "dst = \"192.168.115.0/24\"\nport = 1")]), 28, "route[0].port", "expected protected_port 0, got 1"),
        case("route host bits", base(&[(27, "dst = \"192.168.115.1/24\"")]), 27, "route[0].dst", "did you mean 192.168.115.0/24?"),
        // Whole-file.
        case("no tunnel", base(&[(6, ""), (7, ""), (8, ""), (9, ""), (10, ""), (12, ""), (13, ""), (14, ""), (15, ""), (16, ""), (17, ""), (19, ""), (20, ""), (21, ""), (22, ""), (23, ""), (24, ""), (26, ""), (27, ""), (28, "")]), 29, "tunnel", "no [[tunnel]]"),
    ]
}

#[test]
fn base_config_is_valid() {
    let cfg = config::parse(BASE, "qfp.toml").expect("BASE must parse");
    assert_eq!(cfg.tunnels.len(), 1);
    assert_eq!(BASE.lines().count(), 28, "line map above is stale");
    let mut two = BASE.to_owned();
    two.push_str(T2);
    let cfg = config::parse(&two, "qfp.toml").expect("BASE + T2 must parse");
    assert_eq!(cfg.tunnels.len(), 2);
}

#[test]
fn bad_configs_fail_with_file_line_field_and_reason() {
    let cases = cases();
    assert!(cases.len() >= 25);
    let mut failures = Vec::new();
    for c in &cases {
        let err = match config::parse(&c.text, "qfp.toml") {
            Ok(_) => {
                failures.push(format!("{}: accepted", c.name));
                continue;
            }
            Err(e) => e,
        };
        let shown = err.to_string();
        let prefix = format!("qfp.toml:{}: {}: ", c.line, c.field);
        let ok = shown.starts_with(&prefix)
            && shown.contains(c.msg)
            && !shown.contains('\n')
            && err.line() == Some(c.line)
            && err.field() == Some(c.field);
        if !ok {
            failures
                .push(format!("{}:\n    got:  {shown}\n    want: {prefix}...{}...", c.name, c.msg));
        }
        assert!(matches!(err, ConfigError::Invalid { .. }));
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n  {}",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
}

#[test]
fn syntax_error_without_a_key_still_has_file_and_line() {
    let text = "[gateway]\nprotected_port = 0\n[[tunnel]\n";
    let e = config::parse(text, "x.toml").unwrap_err().to_string();
    assert!(e.starts_with("x.toml:3: "), "{e}");
    assert!(e.contains("invalid TOML"), "{e}");
}

#[test]
fn load_reports_unreadable_and_non_utf8_files() {
    let e = config::load(std::path::Path::new("/nonexistent/qfp.toml")).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    assert!(e.to_string().starts_with("/nonexistent/qfp.toml: cannot read config: "), "{e}");

    let dir = std::env::temp_dir().join(format!("qfp-cfg-utf8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, b"[gateway]\nprotected_port = 0\nlocal = \"\xff\"\n").unwrap();
    let e = config::load(&path).unwrap_err().to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(e.ends_with("bad.toml:3: not UTF-8 text"), "{e}");
}
