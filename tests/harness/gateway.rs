//! A gateway for the end-to-end tests: tunnels with their keys, routes and addresses in one
//! table, written out both as the `qfp run -c` config and as the spec the scapy peer
//! (`tests/py/gw_peer.py`) builds its traffic from, so the two can never disagree.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::python::scapy_python;

/// Keys of one SA.
#[derive(Debug, Clone)]
pub struct Keys {
    /// SPI.
    pub spi: u32,
    /// AES key, hex.
    pub key: String,
    /// RFC 4106 salt, hex.
    pub salt: String,
}

impl Keys {
    /// Deterministic keys of `len` bytes for `spi`, different for every SPI.
    pub fn new(spi: u32, len: usize) -> Keys {
        // xorshift64 seeded by the SPI: deterministic, and no two SPIs share a key.
        let mut x = u64::from(spi) ^ 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        };
        let key: String = (0..len).map(|_| format!("{:02x}", next())).collect();
        let salt: String = (0..4).map(|_| format!("{:02x}", next())).collect();
        Keys { spi, key, salt }
    }

    fn aead(&self) -> &'static str {
        if self.key.len() == 64 { "aes-256-gcm" } else { "aes-128-gcm" }
    }

    fn json(&self) -> Value {
        json!({"spi": self.spi, "key": self.key, "salt": self.salt})
    }
}

/// One tunnel.
#[derive(Debug, Clone)]
pub struct TunnelDef {
    /// Name.
    pub name: &'static str,
    /// Our outer address.
    pub local: &'static str,
    /// The peer's.
    pub peer: &'static str,
    /// NAT-T (UDP 4500).
    pub natt: bool,
    /// Extended sequence numbers.
    pub esn: bool,
    /// Next-hop MAC towards the peer.
    pub next_hop_mac: &'static str,
    /// Inner prefixes behind the peer.
    pub selectors: Vec<&'static str>,
    /// Our outbound SA (the peer's inbound).
    pub out: Keys,
    /// Our inbound SA (the peer's outbound).
    pub inb: Keys,
}

/// A whole gateway.
#[derive(Debug, Clone)]
pub struct GatewayDef {
    /// Tunnels.
    pub tunnels: Vec<TunnelDef>,
    /// Routes: destination prefix and next-hop MAC.
    pub routes: Vec<(&'static str, &'static str)>,
    /// Our outer addresses.
    pub locals: Vec<&'static str>,
}

impl GatewayDef {
    /// Three tunnels covering the matrix: IPv4 outer plain ESP AES-128 (IPv4 inner); IPv6
    /// outer NAT-T ESN AES-256 (IPv4 and IPv6 inner); IPv6 outer plain ESP AES-256 (IPv6
    /// inner). Routes to the LAN for one IPv4 and one IPv6 prefix, no default route.
    pub fn standard() -> GatewayDef {
        GatewayDef {
            tunnels: vec![
                TunnelDef {
                    name: "branch-1",
                    local: "172.16.1.5",
                    peer: "172.16.2.5",
                    natt: false,
                    esn: false,
                    next_hop_mac: "02:00:00:00:01:01",
                    selectors: vec!["192.168.105.0/24"],
                    out: Keys::new(0x1001, 16),
                    inb: Keys::new(0x2001, 16),
                },
                TunnelDef {
                    name: "branch-2",
                    local: "2001:db8:16::5",
                    peer: "2001:db8:26::5",
                    natt: true,
                    esn: true,
                    next_hop_mac: "02:00:00:00:01:02",
                    selectors: vec!["192.168.106.0/24", "2001:db8:106::/48"],
                    out: Keys::new(0x1002, 32),
                    inb: Keys::new(0x2002, 32),
                },
                TunnelDef {
                    name: "branch-3",
                    local: "2001:db8:16::5",
                    peer: "2001:db8:36::5",
                    natt: false,
                    esn: false,
                    next_hop_mac: "02:00:00:00:01:03",
                    selectors: vec!["2001:db8:107::/48"],
                    out: Keys::new(0x1003, 32),
                    inb: Keys::new(0x2003, 32),
                },
            ],
            routes: vec![
                ("192.168.115.0/24", "02:00:00:00:00:01"),
                ("2001:db8:115::/48", "02:00:00:00:00:01"),
            ],
            locals: vec!["172.16.1.5", "2001:db8:16::5"],
        }
    }

    /// One tunnel, IPv4 outer, AES-128, IPv4 inner: LAN 192.168.115.0/24 here,
    /// 192.168.105.0/24 behind the peer.
    pub fn single() -> GatewayDef {
        let mut g = GatewayDef::standard();
        g.tunnels.truncate(1);
        g.routes.truncate(1);
        g.locals.truncate(1);
        g
    }

    /// The gateway at the other end of a one-tunnel gateway: addresses and keys swapped,
    /// its selectors our routes (our LAN) and its routes our selectors (its LAN).
    pub fn mirror(&self) -> GatewayDef {
        assert_eq!(self.tunnels.len(), 1, "mirror() is for one-tunnel gateways");
        let t = &self.tunnels[0];
        let next_hop: &'static str = "02:00:00:00:02:01";
        GatewayDef {
            tunnels: vec![TunnelDef {
                name: t.name,
                local: t.peer,
                peer: t.local,
                natt: t.natt,
                esn: t.esn,
                next_hop_mac: next_hop,
                selectors: self.routes.iter().map(|(d, _)| *d).collect(),
                out: t.inb.clone(),
                inb: t.out.clone(),
            }],
            routes: t.selectors.iter().map(|d| (*d, "02:00:00:00:00:02")).collect(),
            locals: vec![t.peer],
        }
    }

    /// The `qfp run -c` config (protected port 0, unprotected port 1).
    pub fn config_toml(&self, replay_window: u32) -> String {
        self.config_toml_with(replay_window, None)
    }

    /// The config, with `psk` on every tunnel if given (rekeys through the peer channel).
    pub fn config_toml_with(&self, replay_window: u32, psk: Option<&str>) -> String {
        let list = |v: &[&str]| v.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ");
        let mut s = format!(
            "[gateway]\nprotected_port = 0\nunprotected_port = 1\nlocal = [{}]\nreplay_window = {replay_window}\n",
            list(&self.locals)
        );
        for t in &self.tunnels {
            s += &format!(
                "\n[[tunnel]]\nname = \"{}\"\npeer = \"{}\"\nlocal = \"{}\"\nnext_hop_mac = \"{}\"\n\
                 selectors = [{}]\nesn = {}\nnatt = {}\n",
                t.name,
                t.peer,
                t.local,
                t.next_hop_mac,
                list(&t.selectors),
                t.esn,
                t.natt
            );
            if let Some(k) = psk {
                s += &format!("psk = \"{k}\"\n");
            }
            for (dir, k) in [("out", &t.out), ("in", &t.inb)] {
                s += &format!(
                    "[[tunnel.sa]]\ndir = \"{dir}\"\nspi = {:#x}\naead = \"{}\"\nkey = \"{}\"\nsalt = \"{}\"\n",
                    k.spi,
                    k.aead(),
                    k.key,
                    k.salt
                );
            }
        }
        for (dst, mac) in &self.routes {
            s += &format!("\n[[route]]\ndst = \"{dst}\"\nnext_hop_mac = \"{mac}\"\n");
        }
        s
    }

    /// The scapy peer's spec; `macs` (protected, unprotected) are needed to verify.
    pub fn spec(&self, macs: Option<(&str, &str)>) -> Value {
        let tunnels: Vec<Value> = self
            .tunnels
            .iter()
            .map(|t| {
                json!({
                    "name": t.name, "outer": if t.peer.contains(':') { 6 } else { 4 },
                    "local": t.local, "peer": t.peer, "natt": t.natt, "esn": t.esn,
                    "next_hop_mac": t.next_hop_mac, "selectors": t.selectors,
                    "out": t.out.json(), "in": t.inb.json(),
                })
            })
            .collect();
        let routes: Vec<Value> =
            self.routes.iter().map(|(d, m)| json!({"dst": d, "mac": m})).collect();
        let mut v = json!({"tunnels": tunnels, "routes": routes});
        if let Some((p, u)) = macs {
            v["macs"] = json!({"protected": p, "unprotected": u});
        }
        v
    }

    /// tshark `-o uat:esp_sa:...` entries for our outbound SAs without ESN (tshark 4.0's
    /// table has no ESN field).
    pub fn tshark_sas(&self) -> Vec<String> {
        self.tunnels
            .iter()
            .filter(|t| !t.esn)
            .map(|t| {
                let family = if t.peer.contains(':') { "IPv6" } else { "IPv4" };
                format!(
                    "uat:esp_sa:\"{family}\",\"*\",\"*\",\"0x{:08x}\",\"AES-GCM with 16 octet ICV [RFC4106]\",\"0x{}{}\",\"NULL\",\"\"",
                    t.out.spi, t.out.key, t.out.salt
                )
            })
            .collect()
    }
}

/// `tests/py/gw_peer.py`.
pub fn peer_script() -> PathBuf {
    crate::bin::workspace_root().join("tests/py/gw_peer.py")
}

/// Runs the scapy peer (`build` or `verify`) on `spec` in `dir`; its stdout is JSON.
pub fn run_peer(mode: &str, spec: &Value, dir: &Path, extra: &[&str]) -> Value {
    let spec_path = dir.join(format!("spec-{mode}.json"));
    std::fs::write(&spec_path, spec.to_string()).expect("writing the spec");
    let py = scapy_python();
    let out = Command::new(&py)
        .arg(peer_script())
        .arg(mode)
        .arg(&spec_path)
        .arg(dir)
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", py.display()));
    assert!(
        out.status.success(),
        "gw_peer.py {mode} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("gw_peer.py {mode}: not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout))
    })
}
