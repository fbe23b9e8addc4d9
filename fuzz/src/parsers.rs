//! One fuzz target per wire parser (Ethernet with and without an 802.1Q tag, IPv4, IPv6,
//! UDP, ESP header and trailer) and one for encap, shared by the cargo-fuzz targets and the
//! default test suite (`dataplane/tests/fuzz_corpus.rs` includes this file beside
//! `harness.rs`, so every saved finding is replayed by `cargo test`).
//!
//! `harness::parse_target` runs every parser over the same bytes; these targets each give
//! libFuzzer one parser to itself (its coverage feedback then steers one parser at a time)
//! and check more than "no panic": whatever a parser accepts, its `Repr` emits bytes that
//! parse back to the same `Repr`, and accessors stay inside the buffer.

use dataplane::selector::Selectors;
use dataplane::wire::{esp, eth, ipv4, ipv6, udp};
use dataplane::{Decapped, HeapBuf, PacketBuf, SaDirection, decap, encap};

use crate::harness::{CONFIGS, sa};

/// Ethernet, untagged and 802.1Q-tagged: header length, payload bounds and the `Repr`
/// round trip (a tag survives, its TCI and inner EtherType too).
pub fn eth_target(data: &[u8]) {
    let Ok(f) = eth::Frame::new_checked(data) else {
        assert!(data.len() < eth::HEADER_LEN + eth::VLAN_TAG_LEN, "refused a long frame");
        return;
    };
    let hl = f.header_len();
    assert!(hl == eth::HEADER_LEN || hl == eth::HEADER_LEN + eth::VLAN_TAG_LEN);
    assert_eq!(f.payload().len(), data.len() - hl);
    assert_eq!(f.vlan_tci().is_some(), hl != eth::HEADER_LEN);
    let r = eth::Repr::parse(&f).expect("a checked frame has a header");
    let mut out = vec![0u8; r.buffer_len()];
    r.emit(&mut out);
    assert_eq!(out.len(), hl, "emitted header length");
    let back = eth::Frame::new_checked(&out[..]).expect("an emitted header parses");
    assert_eq!(eth::Repr::parse(&back).expect("repr"), r, "eth repr round trip");
    // A QinQ outer tag (0x88a8) is not a tag to qfp: the frame must read as untagged.
    if data[12..14] == eth::ethertype::QINQ.to_be_bytes() {
        assert_eq!(f.vlan_tci(), None);
    }
}

/// 802.1Q: the input with a VLAN EtherType forced in at bytes 12..14, so every input
/// exercises the tagged path (tag present, TCI and inner EtherType read past byte 14).
pub fn vlan_target(data: &[u8]) {
    let cut = data.len().min(12);
    let mut frame = data[..cut].to_vec();
    frame.extend_from_slice(&eth::ethertype::VLAN.to_be_bytes());
    frame.extend_from_slice(&data[cut..]);
    match eth::Frame::new_checked(&frame[..]) {
        Ok(f) => {
            assert_eq!(f.header_len(), eth::HEADER_LEN + eth::VLAN_TAG_LEN, "tagged");
            assert_eq!(f.vlan_tci(), Some(u16::from_be_bytes([frame[14], frame[15]])));
            assert_eq!(f.ethertype(), u16::from_be_bytes([frame[16], frame[17]]));
        }
        Err(_) => assert!(frame.len() < eth::HEADER_LEN + eth::VLAN_TAG_LEN),
    }
    eth_target(&frame);
}

/// IPv4: checked accessors, options inside the header, payload inside Total Length, the
/// `Repr` round trip and incremental checksum updates that keep a valid header valid.
pub fn ipv4_target(data: &[u8]) {
    let Ok(p) = ipv4::Packet::new_checked(data) else { return };
    let hl = p.header_len();
    assert!(hl >= ipv4::HEADER_LEN && hl <= data.len());
    assert_eq!(p.options().len(), hl - ipv4::HEADER_LEN);
    assert!(usize::from(p.total_len()) <= data.len());
    assert_eq!(p.payload().len(), usize::from(p.total_len()) - hl);
    let _ = (p.tos(), p.dscp(), p.ecn(), p.ident(), p.more_frags(), p.frag_offset());
    if let Ok(r) = ipv4::Repr::parse(&p) {
        assert!(!p.is_fragment() && p.verify_checksum());
        let mut out = vec![0u8; ipv4::HEADER_LEN + r.payload_len];
        r.emit(&mut out);
        let back = ipv4::Packet::new_checked(&out[..]).expect("an emitted header parses");
        assert!(back.verify_checksum(), "emit fills the checksum");
        let mut again = ipv4::Repr::parse(&back).expect("an emitted header is a repr");
        // Options are dropped by emit; nothing else may change.
        again.payload_len = r.payload_len;
        assert_eq!(again, r, "ipv4 repr round trip");
    }
    let mut copy = data.to_vec();
    let mut m = ipv4::Packet::new_checked(&mut copy[..]).expect("same bytes");
    let had = m.verify_checksum();
    let ttl = m.ttl();
    match m.decrement_ttl() {
        Some(t) => assert_eq!(t, ttl - 1),
        None => assert!(ttl <= 1),
    }
    m.set_ecn_update_checksum(3);
    assert_eq!(m.ecn(), 3);
    assert_eq!(m.verify_checksum(), had, "incremental updates keep validity");
}

/// IPv6 fixed header: payload inside the buffer and the `Repr` round trip.
pub fn ipv6_target(data: &[u8]) {
    let Ok(p) = ipv6::Packet::new_checked(data) else { return };
    assert_eq!(p.version(), 6);
    assert!(p.total_len() <= data.len());
    assert_eq!(p.payload().len(), p.total_len() - ipv6::HEADER_LEN);
    let _ = ipv6::is_extension_header(p.next_header());
    let r = ipv6::Repr::parse(&p).expect("a checked packet is a repr");
    let mut out = vec![0u8; ipv6::HEADER_LEN + r.payload_len];
    r.emit(&mut out);
    let back = ipv6::Packet::new_checked(&out[..]).expect("an emitted header parses");
    assert_eq!(ipv6::Repr::parse(&back).expect("repr"), r, "ipv6 repr round trip");
    let mut copy = data.to_vec();
    let mut m = ipv6::Packet::new_checked(&mut copy[..]).expect("same bytes");
    let h = m.hop_limit();
    match m.decrement_hop_limit() {
        Some(n) => assert_eq!(n, h - 1),
        None => assert!(h <= 1),
    }
}

/// UDP: length field against the buffer, the `Repr` round trip, checksums filled then
/// verified for both families, and the NAT-T classification of the payload.
pub fn udp_target(data: &[u8]) {
    let Ok(p) = udp::Packet::new_checked(data) else { return };
    assert!(usize::from(p.len()) <= data.len());
    assert_eq!(p.payload().len(), usize::from(p.len()) - udp::HEADER_LEN);
    let r = udp::Repr::parse(&p).expect("a checked datagram is a repr");
    let mut out = vec![0u8; udp::HEADER_LEN + r.payload_len];
    r.emit(&mut out);
    out[udp::HEADER_LEN..].copy_from_slice(p.payload());
    let back = udp::Packet::new_checked(&out[..]).expect("an emitted header parses");
    assert_eq!(udp::Repr::parse(&back).expect("repr"), r, "udp repr round trip");
    let (s4, d4) = (std::net::Ipv4Addr::new(192, 0, 2, 1), std::net::Ipv4Addr::new(192, 0, 2, 2));
    let mut m = udp::Packet::new_checked(&mut out[..]).expect("same bytes");
    m.fill_checksum_v4(s4, d4);
    assert!(m.verify_checksum_v4(s4, d4), "a filled v4 checksum verifies");
    let (s6, d6) = (std::net::Ipv6Addr::LOCALHOST, std::net::Ipv6Addr::UNSPECIFIED);
    m.fill_checksum_v6(s6, d6);
    assert!(m.verify_checksum_v6(s6, d6), "a filled v6 checksum verifies");
    let _ = udp::natt_classify(p.payload());
}

/// ESP header and trailer: the header round trip, and a trailer that parses is exactly
/// what `Trailer::emit` writes (default padding 1, 2, 3, ...).
pub fn esp_target(data: &[u8]) {
    if let Ok(p) = esp::Packet::new_checked(data) {
        let r = esp::Repr::parse(&p).expect("a checked header is a repr");
        assert_eq!(p.payload().len(), data.len() - esp::HEADER_LEN);
        let mut out = [0u8; esp::HEADER_LEN];
        r.emit(&mut out);
        assert_eq!(&out[..], &data[..esp::HEADER_LEN], "esp header round trip");
    }
    if let Ok(t) = esp::Trailer::parse(data) {
        let n = t.buffer_len();
        assert!(n <= data.len());
        assert_eq!(t.payload_len(data.len()) + n, data.len());
        let mut out = vec![0u8; n];
        t.emit(&mut out);
        assert_eq!(&out[..], &data[data.len() - n..], "a parsed trailer is what emit writes");
    }
}

/// Encap of an arbitrary inner packet (byte 0 picks the SA set): whatever encap accepts is
/// a well-formed outer packet for the SA's endpoints, with an ESP payload that is a
/// multiple of 4 bytes, and decap gives back exactly the inner packet; two packets in a
/// row carry consecutive sequence numbers.
pub fn encap_target(data: &[u8]) {
    let Some((&sel, inner)) = data.split_first() else { return };
    let c = &CONFIGS[usize::from(sel & 0x0f) % CONFIGS.len()];
    let out = sa(c, SaDirection::Outbound, Selectors::any());
    let inb = [sa(c, SaDirection::Inbound, Selectors::any())];
    let mut seqs = Vec::new();
    for _ in 0..2 {
        let mut b = HeapBuf::new(inner);
        if encap(&mut b, &out, 1).is_err() {
            return;
        }
        let d = b.data();
        let esp_at = if c.v6 {
            let p = ipv6::Packet::new_checked(d).expect("encap builds IPv6");
            assert_eq!(p.total_len(), d.len());
            ipv6::HEADER_LEN
        } else {
            let p = ipv4::Packet::new_checked(d).expect("encap builds IPv4");
            assert!(p.verify_checksum(), "outer checksum");
            assert_eq!(usize::from(p.total_len()), d.len());
            p.header_len()
        } + if c.natt { udp::HEADER_LEN } else { 0 };
        let e = esp::Packet::new_checked(&d[esp_at..]).expect("ESP header");
        assert_eq!(e.spi(), c.spi);
        let body = d.len() - esp_at - esp::HEADER_LEN - esp::IV_LEN - esp::ICV_LEN;
        assert_eq!(body % 4, 0, "RFC 4303 alignment of the encrypted part");
        seqs.push(e.seq());
        match decap(&mut b, &inb[..], 1) {
            Ok(Decapped::Inner { .. }) => {
                assert!(inner.starts_with(b.data()), "decap(encap(p)) == p")
            }
            other => panic!("decap refused what encap built: {other:?}"),
        }
    }
    assert_eq!(seqs[1], seqs[0].wrapping_add(1), "consecutive sequence numbers");
}
