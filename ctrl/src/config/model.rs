//! The validated configuration: plain typed data, ready to become data-plane SAs.
//!
//! Nothing here can be wrong in the ways `validate` checks: addresses are parsed, ports
//! differ, SPIs are legal and unique, keys have the length their AEAD needs, lifetimes
//! have soft below hard. Defaults are already filled in and named here as constants so
//! that `docs/config.md`, the example file and the tests agree with the code.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Deserialize;

use super::error::ConfigError;
use super::prefix::Prefix;
use super::secret::Secret;

/// `gateway.replay_window` when absent (RFC 4303 asks for at least 32; IOS uses 64, VPP
/// and strongSwan large windows; 1024 absorbs the reordering of several worker queues).
pub const DEFAULT_REPLAY_WINDOW: u32 = 1024;
/// Largest accepted anti-replay window, in packets.
pub const MAX_REPLAY_WINDOW: u32 = 65536;
/// Smallest non-zero anti-replay window (RFC 4303 §3.4.3: "a minimum window size of 32").
pub const MIN_REPLAY_WINDOW: u32 = 32;
/// `gateway.peer_port` when absent: the peer channel's UDP port (IKE's, design §12).
pub const DEFAULT_PEER_PORT: u16 = 500;
/// NAT-T UDP port on both sides when not given (RFC 3948).
pub const DEFAULT_NATT_PORT: u16 = 4500;
/// `tunnel.mtu` when absent, and its bounds (IPv6 outer needs at least 1280, RFC 8200).
pub const DEFAULT_MTU: u16 = 1500;
pub const MIN_MTU: u16 = 576;
pub const MIN_MTU_IPV6: u16 = 1280;
pub const MAX_MTU: u16 = 9216;
/// Hard lifetimes of a tunnel with a PSK, as IOS's `crypto ipsec security-association
/// lifetime` defaults: 3600 seconds and 4,608,000 kilobytes.
pub const DEFAULT_HARD_SECONDS: u64 = 3600;
pub const DEFAULT_HARD_BYTES: u64 = 4_608_000 * 1024;
/// A soft lifetime not given is this percentage of its hard lifetime (IOS rekeys at
/// about 90% too).
pub const DEFAULT_SOFT_PERCENT: u64 = 90;
/// PSK length bounds, in bytes after decoding. 16 bytes keeps a text passphrase out of
/// easy dictionary range; the PSK authenticates every rekey.
pub const MIN_PSK_LEN: usize = 16;
pub const MAX_PSK_LEN: usize = 1024;
/// SPIs 0..=255 are reserved by IANA (RFC 4303 §2.1).
pub const MIN_SPI: u32 = 256;

/// The whole validated config of one `qfp run`.
#[derive(Clone, Debug)]
pub struct Config {
    pub gateway: Gateway,
    /// In file order; at least one.
    pub tunnels: Vec<Tunnel>,
    /// In file order; routes for decapsulated traffic, longest prefix wins.
    pub routes: Vec<Route>,
    pub(crate) source: Source,
}

/// Where the config came from, so later checks (a port that does not exist once EAL has
/// started) can report in the same `file:line: field: message` form.
#[derive(Clone, Debug, Default)]
pub(crate) struct Source {
    pub file: String,
    pub lines: BTreeMap<String, usize>,
}

impl Config {
    /// The file name as given to `load` or `parse`.
    pub fn file(&self) -> &str {
        &self.source.file
    }

    /// The line of a field path as the errors spell it (`gateway.protected_port`,
    /// `tunnel[1].sa[0].spi`, `route[2].dst`), if it was written in the file.
    pub fn line_of(&self, field: &str) -> Option<usize> {
        self.source.lines.get(field).copied()
    }

    /// An error about `field` in the config's own format, for checks that can only be
    /// made later (e.g. "port 3 does not exist" after DPDK probed the ports). Points at
    /// the field's line, or its table's, or line 1.
    pub fn error(&self, field: &str, message: impl fmt::Display) -> ConfigError {
        let mut probe = field;
        let line = loop {
            if let Some(l) = self.line_of(probe) {
                break l;
            }
            match probe.rfind(['.', '[']) {
                Some(i) => probe = &probe[..i],
                None => break 1,
            }
        };
        ConfigError::invalid(&self.source.file, line, field, message)
    }

    /// Every address this gateway answers on at the outer layer: `gateway.local` and
    /// every `tunnel.local`, without repeats.
    pub fn local_addrs(&self) -> Vec<IpAddr> {
        let mut all: Vec<IpAddr> = Vec::new();
        let gw = [self.gateway.local_v4.map(IpAddr::V4), self.gateway.local_v6.map(IpAddr::V6)];
        for a in gw.into_iter().flatten().chain(self.tunnels.iter().map(|t| t.local)) {
            if !all.contains(&a) {
                all.push(a);
            }
        }
        all
    }

    /// The tunnel whose selectors contain `dst` (selectors never overlap, so at most one).
    pub fn tunnel_for(&self, dst: IpAddr) -> Option<&Tunnel> {
        self.tunnels.iter().find(|t| t.selectors.iter().any(|p| p.contains(dst)))
    }

    /// The route for a decapsulated packet to `dst`: the longest matching prefix.
    pub fn route_for(&self, dst: IpAddr) -> Option<&Route> {
        self.routes.iter().filter(|r| r.dst.contains(dst)).max_by_key(|r| r.dst.prefix_len())
    }
}

/// `[gateway]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gateway {
    /// DPDK port id of the plain (LAN) side.
    pub protected_port: u16,
    /// DPDK port id of the ESP (WAN) side.
    pub unprotected_port: u16,
    /// Outer source address for IPv4 peers (from `local`).
    pub local_v4: Option<Ipv4Addr>,
    /// Outer source address for IPv6 peers (from `local`).
    pub local_v6: Option<Ipv6Addr>,
    /// Anti-replay window in packets; 0 turns anti-replay off.
    pub replay_window: u32,
    /// UDP port of the peer channel, on both sides.
    pub peer_port: u16,
}

impl Gateway {
    /// The gateway-wide local address of `peer`'s family.
    pub fn local_for(&self, peer: IpAddr) -> Option<IpAddr> {
        match peer {
            IpAddr::V4(_) => self.local_v4.map(IpAddr::V4),
            IpAddr::V6(_) => self.local_v6.map(IpAddr::V6),
        }
    }
}

/// One `[[tunnel]]`: this gateway and one peer, the traffic between them, its SAs.
#[derive(Clone, Debug)]
pub struct Tunnel {
    /// Unique; letters, digits, `-`, `_`, `.`; at most 64 characters.
    pub name: String,
    /// The peer's outer address; its family is the tunnel's outer family.
    pub peer: IpAddr,
    /// Our outer address for this tunnel, same family as `peer` (from `tunnel.local` or
    /// the gateway's `local` of that family).
    pub local: IpAddr,
    /// Destination MAC of the ESP frames sent to this peer.
    pub next_hop_mac: [u8; 6],
    /// Inner destinations sent through this tunnel (IPv4 and/or IPv6); never empty, never
    /// overlapping another tunnel's.
    pub selectors: Vec<Prefix>,
    /// 64-bit extended sequence numbers (RFC 4303 appendix A).
    pub esn: bool,
    /// UDP encapsulation (RFC 3948) and its ports, or plain ESP.
    pub natt: Option<NatT>,
    /// Peer-channel key; `None` means static SAs that are never rekeyed.
    pub psk: Option<Secret<Vec<u8>>>,
    /// Path MTU of the outer packets, in bytes.
    pub mtu: u16,
    pub lifetime: Lifetimes,
    /// The one active outbound SA.
    pub outbound: SaConfig,
    /// The inbound SAs (one or more), in file order.
    pub inbound: Vec<SaConfig>,
}

impl Tunnel {
    /// True when the tunnel has no PSK: its SAs are static and never rekeyed.
    pub fn is_static(&self) -> bool {
        self.psk.is_none()
    }
}

/// NAT-T UDP ports: ESP-in-UDP is sent from `local_port` to the peer's `peer_port`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatT {
    pub local_port: u16,
    pub peer_port: u16,
}

/// The AEAD of an SA (RFC 4106: 8-byte IV, 16-byte ICV, 4-byte salt).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
pub enum Aead {
    #[serde(rename = "aes-128-gcm")]
    Aes128Gcm,
    #[serde(rename = "aes-256-gcm")]
    Aes256Gcm,
}

impl Aead {
    /// Key length in bytes (the salt is separate).
    pub fn key_len(self) -> usize {
        match self {
            Aead::Aes128Gcm => 16,
            Aead::Aes256Gcm => 32,
        }
    }

    /// The name as written in the config file.
    pub fn name(self) -> &'static str {
        match self {
            Aead::Aes128Gcm => "aes-128-gcm",
            Aead::Aes256Gcm => "aes-256-gcm",
        }
    }
}

impl fmt::Display for Aead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One `[[tunnel.sa]]` (its direction is where it sits in `Tunnel`).
#[derive(Clone, Debug)]
pub struct SaConfig {
    /// 256..=u32::MAX.
    pub spi: u32,
    pub aead: Aead,
    /// Exactly `aead.key_len()` bytes.
    pub key: Secret<Vec<u8>>,
    /// The RFC 4106 salt: the first 4 bytes of every nonce.
    pub salt: Secret<[u8; 4]>,
}

/// Soft (start a rekey) and hard (stop using the SA) lifetimes of a tunnel's SAs.
/// Whatever these say, a sequence number never wraps (2^32 - 1 packets without ESN):
/// that limit is hard and enforced by the data plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Lifetimes {
    pub soft: Limits,
    pub hard: Limits,
}

/// One set of limits; `None` is unlimited. Each soft limit is below its hard one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Limits {
    pub seconds: Option<u64>,
    pub bytes: Option<u64>,
    pub packets: Option<u64>,
}

/// One `[[route]]`: where decapsulated packets to `dst` go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub dst: Prefix,
    /// Always the protected port (see `docs/config.md`).
    pub port: u16,
    pub next_hop_mac: [u8; 6],
}
