//! A small two-tunnel gateway for the in-memory tests of `dataplane::gateway`: its spec,
//! its SAs and their peers' mirrors, and frame builders.
#![allow(dead_code)]

use dataplane::gateway::writer::{GatewaySpec, RouteSpec, TunnelSpec};
use dataplane::gateway::{TableWriter, WorkerId};
use dataplane::sa::{Endpoints, Lifetime, NattPorts, Tunnel};
use dataplane::selector::{Prefix, Selectors};
use dataplane::wire::checksum;
use dataplane::{HeapBuf, PacketBuf, Sa, SaConfig, SaDirection};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

pub const MAC_P: [u8; 6] = [2, 0, 0, 0, 0xaa, 0];
pub const MAC_U: [u8; 6] = [2, 0, 0, 0, 0xaa, 1];
pub const ROUTER: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub const NH0: [u8; 6] = [2, 0, 0, 0, 1, 0];
pub const NH1: [u8; 6] = [2, 0, 0, 0, 1, 1];
pub const LAN_HOST: [u8; 6] = [2, 0, 0, 0, 0, 0x42];

pub const LOCAL4: Ipv4Addr = Ipv4Addr::new(172, 16, 1, 5);
pub const PEER4: Ipv4Addr = Ipv4Addr::new(172, 16, 2, 5);
pub const STRANGER4: Ipv4Addr = Ipv4Addr::new(172, 16, 9, 9);

pub fn local6() -> Ipv6Addr {
    "2001:db8:1::5".parse().unwrap()
}
pub fn peer6() -> Ipv6Addr {
    "2001:db8:2::5".parse().unwrap()
}

pub fn p(s: &str) -> Prefix {
    s.parse().unwrap()
}

/// Keys and SPIs of one direction of one tunnel.
#[derive(Debug, Clone, Copy)]
pub struct Keys {
    pub spi: u32,
    pub key: [u8; 32],
    pub len: usize,
    pub salt: [u8; 4],
}

impl Keys {
    pub fn new(spi: u32, len: usize) -> Keys {
        let mut key = [0u8; 32];
        for (i, k) in key.iter_mut().enumerate() {
            *k = (spi as u8).wrapping_mul(31).wrapping_add(i as u8 * 7);
        }
        Keys { spi, key, len, salt: (spi ^ 0xa5a5_a5a5).to_be_bytes() }
    }
}

/// One tunnel of the test gateway.
#[derive(Debug, Clone)]
pub struct TunnelDef {
    pub name: &'static str,
    pub owner: WorkerId,
    pub ours: Tunnel,
    pub theirs: Tunnel,
    pub selectors: Vec<Prefix>,
    pub next_hop: [u8; 6],
    pub esn: bool,
    pub out: Option<Keys>,
    pub inb: Keys,
    pub inbound_owner: WorkerId,
}

impl TunnelDef {
    fn sa(&self, k: &Keys, dir: SaDirection, tunnel: Tunnel, selectors: Selectors) -> Sa {
        Sa::new(SaConfig {
            spi: k.spi,
            direction: dir,
            key: &k.key[..k.len],
            salt: k.salt,
            esn: self.esn,
            tunnel,
            selectors,
            lifetime: Lifetime::UNLIMITED,
            replay_window: 1024,
            created_ns: 0,
            initial_seq: 0,
        })
        .unwrap()
    }

    /// Our outbound SA.
    pub fn our_out(&self) -> Option<Sa> {
        let k = self.out?;
        Some(self.sa(&k, SaDirection::Outbound, self.ours, Selectors::new(self.selectors.clone())))
    }

    /// Our inbound SA (policy: the peer's networks, i.e. our selectors, as sources).
    pub fn our_in(&self) -> Sa {
        self.sa(&self.inb, SaDirection::Inbound, self.ours, Selectors::new(self.selectors.clone()))
    }

    /// The peer's outbound SA (what it sends us).
    pub fn peer_out(&self) -> Sa {
        self.sa(&self.inb, SaDirection::Outbound, self.theirs, Selectors::any())
    }

    /// The peer's inbound SA (to check what we send).
    pub fn peer_in(&self) -> Option<Sa> {
        let k = self.out?;
        Some(self.sa(&k, SaDirection::Inbound, self.theirs, Selectors::any()))
    }
}

/// Tunnel 0: IPv4 outer, plain ESP, AES-128, inner v4 and v6, owned by worker 0, inbound
/// SA owned by worker 1. Tunnel 1: IPv6 outer, NAT-T, ESN, AES-256, inner v4, owned by
/// worker 1, inbound SA owned by worker 0. Tunnel 2: IPv4 outer to a second peer, no
/// outbound SA yet.
pub fn tunnels() -> Vec<TunnelDef> {
    let v4 = |mirror: bool| Tunnel {
        endpoints: if mirror {
            Endpoints::V4 { local: PEER4, remote: LOCAL4 }
        } else {
            Endpoints::V4 { local: LOCAL4, remote: PEER4 }
        },
        natt: None,
        mtu: 1500,
    };
    let v6 = |mirror: bool| Tunnel {
        endpoints: if mirror {
            Endpoints::V6 { local: peer6(), remote: local6() }
        } else {
            Endpoints::V6 { local: local6(), remote: peer6() }
        },
        natt: Some(NattPorts::default()),
        mtu: 1500,
    };
    let other = |mirror: bool| {
        let (a, b) = (LOCAL4, Ipv4Addr::new(172, 16, 3, 5));
        Tunnel {
            endpoints: if mirror {
                Endpoints::V4 { local: b, remote: a }
            } else {
                Endpoints::V4 { local: a, remote: b }
            },
            natt: None,
            mtu: 1500,
        }
    };
    vec![
        TunnelDef {
            name: "t0",
            owner: 0,
            ours: v4(false),
            theirs: v4(true),
            selectors: vec![p("192.168.105.0/24"), p("fd00:105::/48")],
            next_hop: NH0,
            esn: false,
            out: Some(Keys::new(0x1001, 16)),
            inb: Keys::new(0x2001, 16),
            inbound_owner: 1,
        },
        TunnelDef {
            name: "t1",
            owner: 1,
            ours: v6(false),
            theirs: v6(true),
            selectors: vec![p("192.168.106.0/24")],
            next_hop: NH1,
            esn: true,
            out: Some(Keys::new(0x1002, 32)),
            inb: Keys::new(0x2002, 32),
            inbound_owner: 0,
        },
        TunnelDef {
            name: "t2",
            owner: 0,
            ours: other(false),
            theirs: other(true),
            selectors: vec![p("192.168.107.0/24")],
            next_hop: NH0,
            esn: false,
            out: None,
            inb: Keys::new(0x2003, 16),
            inbound_owner: 0,
        },
    ]
}

fn ip_of(e: &Endpoints) -> (IpAddr, IpAddr) {
    match *e {
        Endpoints::V4 { local, remote } => (local.into(), remote.into()),
        Endpoints::V6 { local, remote } => (local.into(), remote.into()),
    }
}

/// The spec of the test gateway with `workers` workers (owners are taken modulo).
pub fn spec(defs: &[TunnelDef], workers: u16) -> GatewaySpec {
    GatewaySpec {
        workers,
        tunnels: defs
            .iter()
            .map(|d| {
                let (local, peer) = ip_of(&d.ours.endpoints);
                TunnelSpec {
                    name: d.name.into(),
                    owner: d.owner % workers,
                    next_hop_mac: d.next_hop,
                    peer,
                    local,
                    selectors: d.selectors.clone(),
                }
            })
            .collect(),
        routes: vec![
            RouteSpec { dst: p("192.168.115.0/24"), next_hop_mac: ROUTER },
            RouteSpec { dst: p("fd00:115::/48"), next_hop_mac: ROUTER },
        ],
        locals: vec![LOCAL4.into(), local6().into()],
        peer_port: 500,
        natt_ports: vec![],
        port_macs: [MAC_P, MAC_U],
    }
}

/// The writer, our outbound SA of each tunnel, our inbound SA of each tunnel.
pub type Built = (TableWriter, Vec<Option<Arc<Sa>>>, Vec<Arc<Sa>>);

/// Builds the writer and publishes every SA of `defs`. Returns the writer and our SAs
/// (outbound per tunnel, inbound per tunnel).
pub fn gateway(defs: &[TunnelDef], workers: u16) -> Built {
    let mut w = TableWriter::new(&spec(defs, workers), 64).unwrap();
    let ins: Vec<Arc<Sa>> = defs.iter().map(|d| Arc::new(d.our_in())).collect();
    w.publish_inbound_many(
        defs.iter()
            .zip(&ins)
            .enumerate()
            .map(|(i, (d, sa))| (i as u32, sa.clone(), d.inbound_owner % workers)),
    )
    .unwrap();
    let outs: Vec<Option<Arc<Sa>>> = defs.iter().map(|d| d.our_out().map(Arc::new)).collect();
    for (i, o) in outs.iter().enumerate() {
        if let Some(o) = o {
            w.switch_outbound(i as u32, Some(o.clone())).unwrap();
        }
    }
    (w, outs, ins)
}

/// An Ethernet frame.
pub fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An IPv4 header + payload with a right checksum.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut h = vec![0x45, 0, 0, 0, 0, 7, 0x40, 0, ttl, proto, 0, 0];
    h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    let c = checksum::of(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// An IPv6 header + payload.
pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, hlim: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    h.push(nh);
    h.push(hlim);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    h.extend_from_slice(payload);
    h
}

/// A UDP header + payload (checksum 0).
pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

/// An inner IPv4 UDP packet carrying `tag` (so every packet differs).
pub fn inner4(src: [u8; 4], dst: [u8; 4], ttl: u8, tag: u32, len: usize) -> Vec<u8> {
    let mut payload = tag.to_be_bytes().to_vec();
    payload.resize(len.max(4), (tag % 251) as u8);
    ipv4(src.into(), dst.into(), 17, ttl, &udp(1000 + (tag % 1000) as u16, 53, &payload))
}

/// An inner IPv6 UDP packet carrying `tag`.
pub fn inner6(src: &str, dst: &str, hlim: u8, tag: u32, len: usize) -> Vec<u8> {
    let mut payload = tag.to_be_bytes().to_vec();
    payload.resize(len.max(4), (tag % 251) as u8);
    ipv6(src.parse().unwrap(), dst.parse().unwrap(), 17, hlim, &udp(2000, 53, &payload))
}

/// `inner` as forwarded: TTL / hop limit one lower (IPv4 checksum fixed).
pub fn forwarded(inner: &[u8]) -> Vec<u8> {
    let mut v = inner.to_vec();
    if v[0] >> 4 == 4 {
        v[8] -= 1;
        v[10] = 0;
        v[11] = 0;
        let c = checksum::of(&v[..20]);
        v[10..12].copy_from_slice(&c.to_be_bytes());
    } else {
        v[7] -= 1;
    }
    v
}

/// Encrypts `inner` with the peer's SA (its next sequence number): the outer IP packet.
pub fn seal(sa: &Sa, inner: &[u8]) -> Vec<u8> {
    let mut b = HeapBuf::new(inner);
    dataplane::encap(&mut b, sa, 1).expect("peer encap");
    b.data().to_vec()
}

/// The Ethernet frame of an outer IP packet from the peer's router to our unprotected port.
pub fn from_wan(ip: &[u8]) -> Vec<u8> {
    let et = if ip[0] >> 4 == 4 { 0x0800 } else { 0x86dd };
    eth(MAC_U, NH0, et, ip)
}

/// The Ethernet frame of a plain IP packet from the LAN to our protected port.
pub fn from_lan(ip: &[u8]) -> Vec<u8> {
    let et = if ip[0] >> 4 == 4 { 0x0800 } else { 0x86dd };
    eth(MAC_P, LAN_HOST, et, ip)
}

/// Decrypts one ESP frame we sent with the peer's inbound SAs: (SPI, sequence, inner).
pub fn open(frame: &[u8], peer_sas: &[&Sa]) -> (u32, u64, Vec<u8>) {
    let mut b = HeapBuf::new(&frame[14..]);
    match dataplane::decap(&mut b, peer_sas, 2) {
        Ok(dataplane::Decapped::Inner { sa, seq, .. }) => (sa.spi(), seq, b.data().to_vec()),
        other => panic!("our ESP did not decrypt at the peer: {other:?}"),
    }
}
