//! Turning validated configuration into runtime SAs of the data plane.
//!
//! One place converts `config::Tunnel` + key material into `dataplane::Sa`, for every user:
//! the gateway's static SAs at start, the SAs the peer channel derives at each rekey (same
//! tunnel, new SPI and keys), and `qfp pcap`, which plays the *peer* of a configured tunnel
//! (our inbound SA is the peer's outbound one, with the endpoints and NAT-T ports swapped).

use crate::config::{self, Prefix as CfgPrefix};
use dataplane::sa::{Endpoints, Lifetime, Limits, NattPorts, Tunnel as SaTunnel};
use dataplane::selector::{Prefix, Selectors};
use dataplane::{Sa, SaConfig, SaDirection};
use std::net::IpAddr;

pub use dataplane::sa::SaError;

/// Which end of the tunnel an SA is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// This gateway, as configured.
    Local,
    /// The configured peer: endpoints and NAT-T ports swapped, selectors replaced by the
    /// given ones (the peer's remote networks are our protected side).
    Peer,
}

/// The key material of one SA, wherever it came from (config or the peer channel's KDF).
#[derive(Debug, Clone, Copy)]
pub struct KeyMaterial<'k> {
    /// SPI.
    pub spi: u32,
    /// AES key, 16 or 32 bytes.
    pub key: &'k [u8],
    /// RFC 4106 salt.
    pub salt: [u8; 4],
}

impl<'k> From<&'k config::SaConfig> for KeyMaterial<'k> {
    fn from(sa: &'k config::SaConfig) -> Self {
        KeyMaterial { spi: sa.spi, key: sa.key.expose(), salt: *sa.salt.expose() }
    }
}

/// Everything but the keys that an SA of `tunnel` needs, from `side`'s point of view.
#[derive(Debug, Clone)]
pub struct SaTemplate {
    /// Outer endpoints, NAT-T and MTU.
    pub tunnel: SaTunnel,
    /// Inner prefixes the inbound post-decryption policy accepts as sources.
    pub selectors: Selectors,
    /// Soft and hard lifetimes.
    pub lifetime: Lifetime,
    /// Extended sequence numbers.
    pub esn: bool,
}

impl SaTemplate {
    /// The template of `tunnel` for this gateway (`Side::Local`) or for its peer
    /// (`Side::Peer`, whose inbound policy accepts `peer_selectors` as sources: the
    /// networks behind this gateway).
    pub fn new(tunnel: &config::Tunnel, side: Side, peer_selectors: &[CfgPrefix]) -> SaTemplate {
        let (local, remote) = match side {
            Side::Local => (tunnel.local, tunnel.peer),
            Side::Peer => (tunnel.peer, tunnel.local),
        };
        let endpoints = match (local, remote) {
            (IpAddr::V4(local), IpAddr::V4(remote)) => Endpoints::V4 { local, remote },
            (IpAddr::V6(local), IpAddr::V6(remote)) => Endpoints::V6 { local, remote },
            // config validation guarantees one family per tunnel
            _ => unreachable!("config::Tunnel with mixed outer families"),
        };
        let natt = tunnel.natt.map(|n| match side {
            Side::Local => NattPorts { local: n.local_port, remote: n.peer_port },
            Side::Peer => NattPorts { local: n.peer_port, remote: n.local_port },
        });
        let selectors = match side {
            Side::Local => selectors(&tunnel.selectors),
            Side::Peer => selectors(peer_selectors),
        };
        SaTemplate {
            tunnel: SaTunnel { endpoints, natt, mtu: tunnel.mtu },
            selectors,
            lifetime: lifetime(&tunnel.lifetime),
            esn: tunnel.esn,
        }
    }

    /// Builds the runtime SA with `keys`, created at `now_ns`.
    pub fn build(
        &self,
        keys: KeyMaterial<'_>,
        direction: SaDirection,
        replay_window: u32,
        now_ns: u64,
    ) -> Result<Sa, SaError> {
        Sa::new(SaConfig {
            spi: keys.spi,
            direction,
            key: keys.key,
            salt: keys.salt,
            esn: self.esn,
            tunnel: self.tunnel,
            selectors: self.selectors.clone(),
            lifetime: self.lifetime,
            replay_window,
            created_ns: now_ns,
            initial_seq: 0,
        })
    }
}

/// Config prefixes as data-plane selectors.
pub fn selectors(prefixes: &[CfgPrefix]) -> Selectors {
    Selectors::new(prefixes.iter().map(|p| prefix(*p)).collect())
}

/// One config prefix as a data-plane prefix.
pub fn prefix(p: CfgPrefix) -> Prefix {
    // config::Prefix is validated (length within the family), so this cannot fail.
    Prefix::new(p.addr(), p.prefix_len()).expect("validated prefix")
}

/// Config lifetimes (seconds, `None` = unlimited) as data-plane limits (ns, `u64::MAX`).
pub fn lifetime(l: &config::Lifetimes) -> Lifetime {
    let limits = |l: &config::Limits| Limits {
        time_ns: l.seconds.map_or(u64::MAX, |s| s.saturating_mul(1_000_000_000)),
        bytes: l.bytes.unwrap_or(u64::MAX),
        packets: l.packets.unwrap_or(u64::MAX),
    };
    Lifetime { soft: limits(&l.soft), hard: limits(&l.hard) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::{HeapBuf, PacketBuf, decap, encap};

    const CFG: &str = r#"
[gateway]
protected_port = 0
unprotected_port = 1
local = ["172.16.1.5", "2001:db8:16::5"]

[[tunnel]]
name = "v4"
peer = "172.16.2.5"
next_hop_mac = "02:00:00:00:01:01"
selectors = ["192.168.105.0/24"]
esn = true
natt = true
natt_local_port = 4500
natt_peer_port = 14500
[tunnel.lifetime]
soft_seconds = 10
hard_seconds = 20
hard_packets = 1000
[[tunnel.sa]]
dir = "out"
spi = 0x1001
aead = "aes-128-gcm"
key = "00112233445566778899aabbccddeeff"
salt = "c0ffee01"
[[tunnel.sa]]
dir = "in"
spi = 0x2001
aead = "aes-256-gcm"
key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
salt = "c0ffee02"

[[route]]
dst = "10.9.0.0/16"
port = 0
next_hop_mac = "02:00:00:00:00:01"
"#;

    fn inner_v4(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0];
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&[0x30, 0x39, 0x30, 0x39, 0, 8, 0, 0]);
        let sum = dataplane::wire::checksum::of(&p[..20]);
        p[10..12].copy_from_slice(&sum.to_be_bytes());
        p
    }

    #[test]
    fn local_and_peer_templates_mirror_each_other() {
        let cfg = config::parse(CFG, "t.toml").unwrap();
        let t = &cfg.tunnels[0];
        let ours = SaTemplate::new(t, Side::Local, &[]);
        let lan: CfgPrefix = "10.9.0.0/16".parse().unwrap();
        let theirs = SaTemplate::new(t, Side::Peer, &[lan]);
        assert_eq!(
            ours.tunnel.endpoints,
            Endpoints::V4 { local: [172, 16, 1, 5].into(), remote: [172, 16, 2, 5].into() }
        );
        assert_eq!(
            theirs.tunnel.endpoints,
            Endpoints::V4 { local: [172, 16, 2, 5].into(), remote: [172, 16, 1, 5].into() }
        );
        assert_eq!(ours.tunnel.natt, Some(NattPorts { local: 4500, remote: 14500 }));
        assert_eq!(theirs.tunnel.natt, Some(NattPorts { local: 14500, remote: 4500 }));
        assert_eq!(ours.lifetime.soft.time_ns, 10_000_000_000);
        assert_eq!(ours.lifetime.hard.packets, 1000);
        assert_eq!(ours.lifetime.hard.bytes, u64::MAX);
        assert!(ours.esn && theirs.esn);

        // The peer encrypts with our inbound keys; we decrypt it. A packet from the peer's
        // protected network passes our policy; one from our own LAN prefix does not.
        let inb = &t.inbound[0];
        let peer_out = theirs.build(inb.into(), SaDirection::Outbound, 0, 0).unwrap();
        let our_in = ours.build(inb.into(), SaDirection::Inbound, 64, 0).unwrap();
        let good = inner_v4([192, 168, 105, 7], [10, 9, 0, 1]);
        let mut pkt = HeapBuf::new(&good);
        encap(&mut pkt, &peer_out, 1).unwrap();
        let sas = [our_in];
        assert!(decap(&mut pkt, &sas[..], 2).is_ok());
        assert_eq!(pkt.data(), &good[..]);
        let bad = inner_v4([10, 9, 0, 1], [10, 9, 0, 2]);
        let mut pkt = HeapBuf::new(&bad);
        encap(&mut pkt, &peer_out, 3).unwrap();
        let err = decap(&mut pkt, &sas[..], 4).unwrap_err();
        assert_eq!(err.reason, dataplane::DropReason::PolicyV4);
    }
}
