//! The fuzz harness, shared by the cargo-fuzz targets and by the default test suite
//! (`dataplane/tests/fuzz_corpus.rs` includes this file), so that every committed seed and
//! every input that ever crashed is replayed by `cargo test` without libFuzzer.
//!
//! Input format of [`decap_target`]: byte 0 picks the SA set (low nibble, modulo
//! [`CONFIGS`]) and the mode (bits 4-5); the rest is the data:
//! - mode 0, 1: the data is a received outer packet, decapsulated with a fresh inbound SA;
//! - mode 2: the data is an ESP plaintext (payload, padding, trailer) that the harness
//!   seals with the SA's key into a valid packet, so the fuzzer reaches everything after
//!   the ICV check (trailer, next header, inner header, policy);
//! - mode 3: the data is an inner packet: if encap accepts it, decap must give it back.
//!
//! Invariants checked beyond "no panic": a decapsulated buffer starts with an IP header of
//! the reported version and exactly its length; encap then decap is the identity.

use dataplane::crypto::{Aad, EspAead};
use dataplane::sa::{Endpoints, Lifetime, NattPorts, Tunnel};
use dataplane::selector::Selectors;
use dataplane::wire::{IpVersion, esp, eth, ip_proto, ipv4, ipv6, udp};
use dataplane::{Decapped, HeapBuf, PacketBuf, Sa, SaConfig, SaDirection, decap, encap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One SA set: the keys of the DPDK tunnel-mode vectors, and qfp's own shapes.
pub struct Config {
    pub spi: u32,
    pub key: &'static [u8],
    pub salt: [u8; 4],
    pub esn: bool,
    pub v6: bool,
    pub natt: bool,
}

const K128: &[u8] = &[
    0xfe, 0xff, 0xe9, 0x92, 0x86, 0x65, 0x73, 0x1c, 0x6d, 0x6a, 0x8f, 0x94, 0x67, 0x30, 0x83, 0x08,
];
const K192: &[u8] = &[
    0xfe, 0xff, 0xe9, 0x92, 0x86, 0x65, 0x73, 0x1c, 0x6d, 0x6a, 0x8f, 0x94, 0x67, 0x30, 0x83, 0x08,
    0xfe, 0xff, 0xe9, 0x92, 0x86, 0x65, 0x73, 0x1c,
];
const K256: &[u8] = &[
    0xab, 0xbc, 0xcd, 0xde, 0xf0, 0x01, 0x12, 0x23, 0x34, 0x45, 0x56, 0x67, 0x78, 0x89, 0x9a, 0xab,
    0xab, 0xbc, 0xcd, 0xde, 0xf0, 0x01, 0x12, 0x23, 0x34, 0x45, 0x56, 0x67, 0x78, 0x89, 0x9a, 0xab,
];
const K256_V6: &[u8] = &[
    0xde, 0x12, 0xbe, 0x56, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef,
    0x12, 0x78, 0xbe, 0x34, 0x01, 0x02, 0x03, 0x07, 0xaa, 0xbb, 0xcc, 0xf1, 0x08, 0x07, 0x06, 0x05,
];
const KFRAG: &[u8] = &[
    0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef,
];
const KOWN: &[u8] = &[7; 32];
const KOWN16: &[u8] = &[7; 16];

/// The SA sets, indexed by the low nibble of byte 0 (modulo the length).
pub const CONFIGS: &[Config] = &[
    Config {
        spi: 0xa5f8,
        key: K128,
        salt: [0xca, 0xfe, 0xba, 0xbe],
        esn: false,
        v6: false,
        natt: false,
    },
    Config {
        spi: 0xa5f8,
        key: K192,
        salt: [0xca, 0xfe, 0xba, 0xbe],
        esn: false,
        v6: false,
        natt: false,
    },
    Config {
        spi: 0x4a2c_bfe3,
        key: K256,
        salt: [0x11, 0x22, 0x33, 0x44],
        esn: false,
        v6: false,
        natt: false,
    },
    Config {
        spi: 0x34,
        key: K256_V6,
        salt: [0x11, 0x22, 0x33, 0x44],
        esn: false,
        v6: true,
        natt: false,
    },
    Config {
        spi: 0x34,
        key: KFRAG,
        salt: [0xde, 0xad, 0xbe, 0xef],
        esn: false,
        v6: false,
        natt: false,
    },
    Config { spi: 0x1001, key: KOWN16, salt: [1, 2, 3, 4], esn: true, v6: false, natt: true },
    Config { spi: 0x1002, key: KOWN, salt: [1, 2, 3, 4], esn: true, v6: true, natt: true },
    Config { spi: 0x1003, key: KOWN16, salt: [1, 2, 3, 4], esn: false, v6: true, natt: false },
    Config { spi: 0x1004, key: KOWN, salt: [1, 2, 3, 4], esn: true, v6: false, natt: false },
];

const A4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

/// The SA of a config. The receiver's window sits at 0x1_0000_0000 with ESN (so sequence
/// inference has both sub-spaces to choose from) and at 0 without.
pub fn sa(c: &Config, dir: SaDirection, selectors: Selectors) -> Sa {
    let endpoints = match (c.v6, dir) {
        (false, SaDirection::Outbound) => Endpoints::V4 { local: A4, remote: B4 },
        (false, SaDirection::Inbound) => Endpoints::V4 { local: B4, remote: A4 },
        (true, SaDirection::Outbound) => Endpoints::V6 { local: A6, remote: B6 },
        (true, SaDirection::Inbound) => Endpoints::V6 { local: B6, remote: A6 },
    };
    Sa::new(SaConfig {
        spi: c.spi,
        direction: dir,
        key: c.key,
        salt: c.salt,
        esn: c.esn,
        tunnel: Tunnel { endpoints, natt: c.natt.then(NattPorts::default), mtu: 9000 },
        selectors,
        lifetime: Lifetime::UNLIMITED,
        replay_window: 64,
        created_ns: 0,
        initial_seq: if c.esn { 1 << 32 } else { 0 },
    })
    .expect("fuzz SA")
}

/// Checks what a successful decap left in the buffer.
fn check_inner(b: &HeapBuf, version: IpVersion) {
    let d = b.data();
    match version {
        IpVersion::V4 => {
            let p = ipv4::Packet::new_checked(d).expect("decap output is IPv4");
            assert_eq!(
                usize::from(p.total_len()),
                d.len(),
                "decap output is exactly the inner packet"
            );
        }
        IpVersion::V6 => {
            let p = ipv6::Packet::new_checked(d).expect("decap output is IPv6");
            assert_eq!(p.total_len(), d.len(), "decap output is exactly the inner packet");
        }
    }
}

/// An outer packet carrying ESP `payload` sealed around `plaintext` with sequence number
/// `seq` (what a correct sender would build, whatever the plaintext says).
pub fn seal_raw(c: &Config, seq: u64, plaintext: &[u8]) -> Vec<u8> {
    let aead = EspAead::new(c.key, c.salt).expect("key");
    let iv = seq.to_be_bytes();
    let mut body = plaintext.to_vec();
    let icv = aead.seal(&iv, &Aad::new(c.spi, seq, c.esn), &mut body);
    let mut l4 = Vec::with_capacity(body.len() + 40);
    if c.natt {
        let mut u = [0u8; udp::HEADER_LEN];
        udp::Repr {
            src_port: 4500,
            dst_port: 4500,
            payload_len: esp::HEADER_LEN + 8 + body.len() + 16,
        }
        .emit(&mut u);
        l4.extend_from_slice(&u);
    }
    l4.extend_from_slice(&c.spi.to_be_bytes());
    l4.extend_from_slice(&(seq as u32).to_be_bytes());
    l4.extend_from_slice(&iv);
    l4.extend_from_slice(&body);
    l4.extend_from_slice(&icv);
    let proto = if c.natt { ip_proto::UDP } else { ip_proto::ESP };
    let mut out = if c.v6 {
        let mut h = vec![0u8; ipv6::HEADER_LEN];
        ipv6::Repr {
            src: A6,
            dst: B6,
            next_header: proto,
            payload_len: l4.len(),
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
        }
        .emit(&mut h);
        h
    } else {
        let mut h = vec![0u8; ipv4::HEADER_LEN];
        ipv4::Repr {
            src: A4,
            dst: B4,
            protocol: proto,
            payload_len: l4.len(),
            tos: 0,
            ident: 1,
            dont_frag: true,
            ttl: 64,
        }
        .emit(&mut h);
        h
    };
    out.extend_from_slice(&l4);
    out
}

/// The decap/encap target (see the module doc for the input format).
pub fn decap_target(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else { return };
    let c = &CONFIGS[usize::from(sel & 0x0f) % CONFIGS.len()];
    let mode = (sel >> 4) & 3;
    // The policy check is exercised with a selector list that excludes part of the space.
    let selectors = if sel & 0x40 != 0 {
        Selectors::new(vec![IpAddrPrefix::v4(), IpAddrPrefix::v6()])
    } else {
        Selectors::any()
    };
    match mode {
        0 | 1 => {
            let sas = [sa(c, SaDirection::Inbound, selectors)];
            let mut b = HeapBuf::new(rest);
            if let Ok(Decapped::Inner { version, .. }) = decap(&mut b, &sas[..], 1) {
                check_inner(&b, version);
            }
        }
        2 => {
            if rest.len() > 4000 {
                return;
            }
            let seq = if c.esn { (1 << 32) | 7 } else { 7 };
            let pkt = seal_raw(c, seq, rest);
            let sas = [sa(c, SaDirection::Inbound, selectors)];
            let mut b = HeapBuf::new(&pkt);
            match decap(&mut b, &sas[..], 1) {
                Ok(Decapped::Inner { version, seq: got, .. }) => {
                    assert_eq!(got, seq);
                    check_inner(&b, version);
                    assert!(
                        rest.starts_with(b.data()),
                        "inner packet is the front of the plaintext"
                    );
                }
                Ok(other) => panic!("a sealed ESP packet decapsulated as {other:?}"),
                Err(e) => assert!(e.invalid_spi.is_none(), "the SA exists"),
            }
        }
        _ => {
            let out = sa(c, SaDirection::Outbound, Selectors::any());
            let mut b = HeapBuf::new(rest);
            if encap(&mut b, &out, 1).is_ok() {
                let sas = [sa(c, SaDirection::Inbound, Selectors::any())];
                match decap(&mut b, &sas[..], 1) {
                    Ok(Decapped::Inner { version, .. }) => {
                        check_inner(&b, version);
                        assert!(rest.starts_with(b.data()), "decap(encap(p)) == p");
                    }
                    other => panic!("decap refused what encap built: {other:?}"),
                }
            }
        }
    }
}

/// Prefixes that cover half of each family (so the policy check both passes and fails).
struct IpAddrPrefix;

impl IpAddrPrefix {
    fn v4() -> dataplane::selector::Prefix {
        dataplane::selector::Prefix::new(IpAddr::V4(Ipv4Addr::new(0, 0, 0, 0)), 1).expect("prefix")
    }
    fn v6() -> dataplane::selector::Prefix {
        dataplane::selector::Prefix::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 1).expect("prefix")
    }
}

/// Every parser over the same bytes, as a frame and as an IP packet.
pub fn parse_target(data: &[u8]) {
    if let Ok(f) = eth::Frame::new_checked(data) {
        let _ = (f.dst_addr(), f.src_addr(), f.vlan_tci(), f.ethertype(), f.header_len());
        let _ = eth::Repr::parse(&f);
        parse_ip(f.payload());
    }
    parse_ip(data);
    let _ = esp::Trailer::parse(data);
    let _ = udp::natt_classify(data);
}

fn parse_ip(data: &[u8]) {
    if let Ok(p) = ipv4::Packet::new_checked(data) {
        let _ = (p.header_len(), p.tos(), p.total_len(), p.ident(), p.dont_frag(), p.more_frags());
        let _ =
            (p.frag_offset(), p.is_fragment(), p.ttl(), p.protocol(), p.checksum(), p.options());
        let _ = (p.src_addr(), p.dst_addr(), p.verify_checksum());
        if let Ok(r) = ipv4::Repr::parse(&p) {
            assert_eq!(r.payload_len, p.payload().len());
        }
        parse_l4(p.protocol(), p.payload());
        let mut copy = data.to_vec();
        if let Ok(mut m) = ipv4::Packet::new_checked(&mut copy[..]) {
            let had = m.verify_checksum();
            let _ = m.decrement_ttl();
            m.set_ecn_update_checksum(3);
            assert_eq!(m.verify_checksum(), had, "incremental checksum updates keep validity");
        }
    }
    if let Ok(p) = ipv6::Packet::new_checked(data) {
        let _ =
            (p.traffic_class(), p.flow_label(), p.payload_len(), p.next_header(), p.hop_limit());
        let _ = (p.src_addr(), p.dst_addr(), ipv6::is_extension_header(p.next_header()));
        let _ = ipv6::Repr::parse(&p);
        parse_l4(p.next_header(), p.payload());
    }
}

fn parse_l4(proto: u8, data: &[u8]) {
    match proto {
        ip_proto::UDP => {
            if let Ok(u) = udp::Packet::new_checked(data) {
                let _ = (u.src_port(), u.dst_port(), u.len(), u.checksum());
                let _ = udp::Repr::parse(&u);
                let _ = udp::natt_classify(u.payload());
                parse_l4(ip_proto::ESP, u.payload());
            }
        }
        ip_proto::ESP => {
            if let Ok(e) = esp::Packet::new_checked(data) {
                let _ = (e.spi(), e.seq(), e.payload().len());
                let _ = esp::Repr::parse(&e);
            }
        }
        _ => {}
    }
}
