//! A config with as many tunnels as a large head-end has loads: validation must not
//! compare every tunnel with every earlier one (it once did, and 100k tunnels never
//! finished loading). No timing threshold: a quadratic check would make this test take
//! many minutes instead of a few seconds, which the suite's run time shows.

use std::fmt::Write;

use ctrl::config;

/// `n` tunnels laid out like `scripts/bench.d/scale.py` writes them: one peer, one /28
/// selector, one SA each way, distinct SPIs and keys.
fn big_config(n: u32) -> String {
    let mut s = String::from(
        "[gateway]\nprotected_port = 0\nunprotected_port = 1\nlocal = \"192.0.2.1\"\n",
    );
    for i in 0..n {
        let peer = std::net::Ipv4Addr::from(0xac10_0001 + i); // 172.16.0.1 + i
        let sel = std::net::Ipv4Addr::from(0x0a00_0000 + 16 * i); // 10.0.0.0 + 16 i
        let k = format!("{i:08x}");
        write!(
            s,
            "[[tunnel]]\nname = \"t{i}\"\npeer = \"{peer}\"\nnext_hop_mac = \"02:00:00:00:01:01\"\n\
             selectors = [\"{sel}/28\"]\n\
             [[tunnel.sa]]\ndir = \"out\"\nspi = {out:#x}\naead = \"aes-128-gcm\"\n\
             key = \"{k}0011223344556677{k}\"\nsalt = \"c0ffee01\"\n\
             [[tunnel.sa]]\ndir = \"in\"\nspi = {inb:#x}\naead = \"aes-128-gcm\"\n\
             key = \"{k}8899aabbccddeeff{k}\"\nsalt = \"c0ffee02\"\n",
            out = 0x10_0000 + i,
            inb = 0x20_0000 + i,
        )
        .unwrap();
    }
    s.push_str(
        "[[route]]\ndst = \"198.18.0.0/15\"\nport = 0\nnext_hop_mac = \"02:00:00:00:00:01\"\n",
    );
    s
}

/// 20k tunnels here (a few seconds in a debug build, most of it TOML parsing); the
/// 100k case is `a_100k_tunnel_config_validates`, ignored by default only for its time in
/// debug builds (run it with `--ignored`, or in release).
#[test]
fn a_20k_tunnel_config_validates() {
    validates(20_000);
}

#[test]
#[ignore = "about 10 s in a debug build; run with --ignored"]
fn a_100k_tunnel_config_validates() {
    validates(100_000);
}

fn validates(n: u32) {
    let cfg = config::parse(&big_config(n), "big.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.tunnels.len(), n as usize);
    let last = &cfg.tunnels[n as usize - 1];
    assert_eq!(last.name, format!("t{}", n - 1));
    assert_eq!(last.inbound[0].spi, 0x20_0000 + n - 1);
    assert_eq!(cfg.routes.len(), 1);
}

/// The indexes still find conflicts at the far end of a big config, with the same
/// message a pairwise scan gave.
#[test]
fn conflicts_are_found_among_many_tunnels() {
    let n = 3_000;
    let base = big_config(n);
    let extra = |body: &str| format!("{base}{body}");
    let tunnel = |name: &str, peer: &str, sel: &str, spi_in: u32, k: &str| {
        format!(
            "[[tunnel]]\nname = \"{name}\"\npeer = \"{peer}\"\nnext_hop_mac = \"02:00:00:00:01:01\"\n\
             selectors = [\"{sel}\"]\n\
             [[tunnel.sa]]\ndir = \"out\"\nspi = 0x300000\naead = \"aes-128-gcm\"\n\
             key = \"{k}\"\nsalt = \"c0ffee01\"\n\
             [[tunnel.sa]]\ndir = \"in\"\nspi = {spi_in:#x}\naead = \"aes-128-gcm\"\n\
             key = \"ffeeddccbbaa99887766554433221100\"\nsalt = \"c0ffee02\"\n"
        )
    };
    let fresh_key = "0123456789abcdef0123456789abcdef";
    let cases = [
        (
            tunnel("t2321", "198.51.100.1", "11.0.0.0/8", 0x400000, fresh_key),
            "duplicate tunnel name \"t2321\"",
        ),
        (
            tunnel("new", "172.16.8.1", "11.0.0.0/8", 0x400000, fresh_key),
            "peer 172.16.8.1 already has tunnel \"t2048\"",
        ),
        // 10.0.0.0/16 covers the selectors of t0..t2999: the first one is named.
        (
            tunnel("new", "198.51.100.1", "10.0.0.0/16", 0x400000, fresh_key),
            "10.0.0.0/16 overlaps 10.0.0.0/28 of tunnel \"t0\"",
        ),
        (
            tunnel("new", "198.51.100.1", "10.0.78.5", 0x400000, fresh_key),
            "10.0.78.5/32 overlaps 10.0.78.0/28 of tunnel \"t1248\"",
        ),
        (
            tunnel("new", "198.51.100.1", "11.0.0.0/8", 0x200010, fresh_key),
            "inbound SPI 0x200010 is already used by tunnel[16].sa[1]",
        ),
        (
            tunnel(
                "new",
                "198.51.100.1",
                "11.0.0.0/8",
                0x400000,
                "00000abc001122334455667700000abc",
            ),
            "same key as tunnel[2748].sa[0]",
        ),
    ];
    for (body, want) in cases {
        let e = parse_err(&extra(&body));
        assert!(e.contains(want), "want {want:?} in {e}");
    }
    let route =
        "[[route]]\ndst = \"10.0.1.0/29\"\nport = 0\nnext_hop_mac = \"02:00:00:00:00:01\"\n";
    let e = parse_err(&extra(route));
    assert!(e.contains("10.0.1.0/29 is inside selector 10.0.1.0/28 of tunnel \"t16\""), "{e}");
}

/// The error `text` gives (without dumping a config of thousands of tunnels if none).
fn parse_err(text: &str) -> String {
    match config::parse(text, "big.toml") {
        Ok(c) => panic!("accepted ({} tunnels, {} routes)", c.tunnels.len(), c.routes.len()),
        Err(e) => e.to_string(),
    }
}
