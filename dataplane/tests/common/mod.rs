//! Helpers shared by the integration tests: hex, vector files, SAs and inner packets.
#![allow(dead_code)]

use dataplane::sa::{Endpoints, Lifetime, NattPorts, Tunnel};
use dataplane::selector::Selectors;
use dataplane::wire::checksum;
use dataplane::{Sa, SaConfig, SaDirection};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Lower-case hex without separators to bytes (panics on bad test data).
pub fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

/// Bytes to lower-case hex.
pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A vector file from `tests/vectors/`.
pub fn vectors(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A string field of a JSON object.
pub fn s<'a>(v: &'a serde_json::Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("field {k} missing in {v}"))
}

/// A hex field of a JSON object.
pub fn h(v: &serde_json::Value, k: &str) -> Vec<u8> {
    hex(s(v, k))
}

pub const V4_LOCAL: Ipv4Addr = Ipv4Addr::new(172, 16, 1, 5);
pub const V4_REMOTE: Ipv4Addr = Ipv4Addr::new(172, 16, 2, 5);

pub fn v6_local() -> Ipv6Addr {
    "2001:db8:1::5".parse().unwrap()
}

pub fn v6_remote() -> Ipv6Addr {
    "2001:db8:2::5".parse().unwrap()
}

/// Outer family of a test tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outer {
    V4,
    V6,
}

/// The tunnel as seen from one side (`mirror` swaps local and remote, for the peer).
pub fn tunnel(outer: Outer, natt: bool, mtu: u16, mirror: bool) -> Tunnel {
    let endpoints = match (outer, mirror) {
        (Outer::V4, false) => Endpoints::V4 { local: V4_LOCAL, remote: V4_REMOTE },
        (Outer::V4, true) => Endpoints::V4 { local: V4_REMOTE, remote: V4_LOCAL },
        (Outer::V6, false) => Endpoints::V6 { local: v6_local(), remote: v6_remote() },
        (Outer::V6, true) => Endpoints::V6 { local: v6_remote(), remote: v6_local() },
    };
    Tunnel { endpoints, natt: natt.then(NattPorts::default), mtu }
}

/// Parameters of a test SA pair.
#[derive(Debug, Clone)]
pub struct Spec {
    pub spi: u32,
    pub key: Vec<u8>,
    pub salt: [u8; 4],
    pub esn: bool,
    pub outer: Outer,
    pub natt: bool,
    pub mtu: u16,
    pub window: u32,
    pub initial_seq: u64,
    pub selectors: Selectors,
    pub lifetime: Lifetime,
}

impl Spec {
    pub fn new(key_len: usize, esn: bool, outer: Outer, natt: bool) -> Spec {
        Spec {
            spi: 0x1001,
            key: (0..key_len as u8).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect(),
            salt: [0xca, 0xfe, 0xba, 0xbe],
            esn,
            outer,
            natt,
            mtu: 9000,
            window: 1024,
            initial_seq: 0,
            selectors: Selectors::any(),
            lifetime: Lifetime::UNLIMITED,
        }
    }

    fn cfg(&self, direction: SaDirection, mirror: bool) -> SaConfig<'_> {
        SaConfig {
            spi: self.spi,
            direction,
            key: &self.key,
            salt: self.salt,
            esn: self.esn,
            tunnel: tunnel(self.outer, self.natt, self.mtu, mirror),
            selectors: self.selectors.clone(),
            lifetime: self.lifetime,
            replay_window: self.window,
            created_ns: 0,
            initial_seq: self.initial_seq,
        }
    }

    /// Our outbound SA.
    pub fn outbound(&self) -> Sa {
        Sa::new(self.cfg(SaDirection::Outbound, false)).expect("outbound SA")
    }

    /// The peer's inbound SA for what our outbound SA sends.
    pub fn inbound(&self) -> Sa {
        Sa::new(self.cfg(SaDirection::Inbound, true)).expect("inbound SA")
    }
}

/// An IPv4 UDP packet of `total` bytes (>= 28) with a valid header checksum.
pub fn inner_v4(total: usize, tos: u8, df: bool, fill: u8) -> Vec<u8> {
    assert!(total >= 28);
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[1] = tos;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    p[6] = if df { 0x40 } else { 0 };
    p[8] = 63;
    p[9] = 17;
    p[12..16].copy_from_slice(&[192, 168, 105, 7]);
    p[16..20].copy_from_slice(&[192, 168, 115, 9]);
    let c = checksum::of(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20..22].copy_from_slice(&1234u16.to_be_bytes());
    p[22..24].copy_from_slice(&5678u16.to_be_bytes());
    p[24..26].copy_from_slice(&((total - 20) as u16).to_be_bytes());
    for (i, b) in p[28..].iter_mut().enumerate() {
        *b = fill.wrapping_add(i as u8);
    }
    p
}

/// An IPv6 UDP packet of `total` bytes (>= 48).
pub fn inner_v6(total: usize, tc: u8, fill: u8) -> Vec<u8> {
    assert!(total >= 48);
    let mut p = vec![0u8; total];
    let w = 0x6000_0000u32 | (u32::from(tc) << 20) | 0x12345;
    p[0..4].copy_from_slice(&w.to_be_bytes());
    p[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
    p[6] = 17;
    p[7] = 63;
    p[8..24].copy_from_slice(&"fd00:105::7".parse::<Ipv6Addr>().unwrap().octets());
    p[24..40].copy_from_slice(&"fd00:115::9".parse::<Ipv6Addr>().unwrap().octets());
    p[40..42].copy_from_slice(&1234u16.to_be_bytes());
    p[42..44].copy_from_slice(&5678u16.to_be_bytes());
    p[44..46].copy_from_slice(&((total - 40) as u16).to_be_bytes());
    for (i, b) in p[48..].iter_mut().enumerate() {
        *b = fill.wrapping_add(i as u8);
    }
    p
}

/// An ESP packet built by hand around an arbitrary plaintext (payload, padding, pad length
/// and next header exactly as given), sealed with `spec`'s key: for the trailer and
/// next-header refusals that a correct sender never produces.
pub fn craft_esp(spec: &Spec, seq: u64, plaintext: &[u8]) -> Vec<u8> {
    use dataplane::crypto::{Aad, EspAead};
    use dataplane::wire::{ip_proto, ipv4, ipv6, udp};
    let aead = EspAead::new(&spec.key, spec.salt).unwrap();
    let iv = seq.to_be_bytes();
    let mut body = plaintext.to_vec();
    let icv = aead.seal(&iv, &Aad::new(spec.spi, seq, spec.esn), &mut body);
    let mut esp = Vec::new();
    esp.extend_from_slice(&spec.spi.to_be_bytes());
    esp.extend_from_slice(&(seq as u32).to_be_bytes());
    esp.extend_from_slice(&iv);
    esp.extend_from_slice(&body);
    esp.extend_from_slice(&icv);
    let mut l4 = Vec::new();
    if spec.natt {
        let mut u = vec![0u8; 8];
        udp::Repr { src_port: 4500, dst_port: 4500, payload_len: esp.len() }.emit(&mut u);
        l4.extend_from_slice(&u);
    }
    l4.extend_from_slice(&esp);
    let proto = if spec.natt { ip_proto::UDP } else { ip_proto::ESP };
    let mut out = match spec.outer {
        Outer::V4 => {
            let mut hdr = vec![0u8; 20];
            ipv4::Repr {
                src: V4_REMOTE,
                dst: V4_LOCAL,
                protocol: proto,
                payload_len: l4.len(),
                tos: 0,
                ident: 7,
                dont_frag: true,
                ttl: 64,
            }
            .emit(&mut hdr);
            hdr
        }
        Outer::V6 => {
            let mut hdr = vec![0u8; 40];
            ipv6::Repr {
                src: v6_remote(),
                dst: v6_local(),
                next_header: proto,
                payload_len: l4.len(),
                hop_limit: 64,
                traffic_class: 0,
                flow_label: 0,
            }
            .emit(&mut hdr);
            hdr
        }
    };
    out.extend_from_slice(&l4);
    out
}

/// `payload`, default padding to 4 bytes, and the trailer with `nh`.
pub fn with_trailer(payload: &[u8], nh: u8) -> Vec<u8> {
    let pad = dataplane::wire::esp::pad_len_for(payload.len());
    let mut v = payload.to_vec();
    v.extend((1..=pad as u8).collect::<Vec<_>>());
    v.push(pad as u8);
    v.push(nh);
    v
}

/// Encapsulates `inner` with `sa` into a fresh heap buffer and returns the outer packet.
pub fn seal_packet(sa: &Sa, inner: &[u8]) -> Vec<u8> {
    use dataplane::PacketBuf;
    let mut b = dataplane::HeapBuf::new(inner);
    dataplane::encap(&mut b, sa, 1).expect("encap");
    b.data().to_vec()
}
