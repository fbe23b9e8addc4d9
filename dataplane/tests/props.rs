//! Property tests: encap then decap returns the input for random inner packets of every
//! size up to 1500 bytes, in every SA shape; the parsers and the whole decap/encap path never
//! panic on arbitrary bytes; AES-GCM opens what it sealed and nothing else.

mod common;

use common::{Outer, Spec};
use dataplane::crypto::AesGcm;
use dataplane::wire::{checksum, esp, eth, ipv4, ipv6, udp};
use dataplane::{Decapped, HeapBuf, PacketBuf, decap, encap};
use proptest::prelude::*;

/// An inner IPv4 packet of `total` bytes (>= 20) with random payload and header fields.
fn inner4(total: usize, tos: u8, df: bool, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[1] = tos;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[6] = if df { 0x40 } else { 0 };
    p[8] = 64;
    p[9] = 253;
    p[12..16].copy_from_slice(&[10, 0, 0, 1]);
    p[16..20].copy_from_slice(&[10, 0, 0, 2]);
    let c = checksum::of(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    for (d, s) in p[20..].iter_mut().zip(payload.iter().cycle()) {
        *d = *s;
    }
    p
}

/// An inner IPv6 packet of `total` bytes (>= 40).
fn inner6(total: usize, tc: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; total];
    p[0..4].copy_from_slice(&(0x6000_0000u32 | u32::from(tc) << 20).to_be_bytes());
    p[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
    p[6] = 253;
    p[7] = 64;
    p[23] = 1;
    p[39] = 2;
    for (d, s) in p[40..].iter_mut().zip(payload.iter().cycle()) {
        *d = *s;
    }
    p
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn encap_then_decap_returns_the_input(
        v6_inner in any::<bool>(),
        size in 0usize..=1500,
        key in prop_oneof![Just(16usize), Just(32usize)],
        esn in any::<bool>(),
        natt in any::<bool>(),
        v6_outer in any::<bool>(),
        tos in any::<u8>(),
        df in any::<bool>(),
        start in prop_oneof![Just(0u64), 0u64..u64::from(u32::MAX) - 10, Just(0xffff_fff0u64)],
        payload in proptest::collection::vec(any::<u8>(), 1..64),
    ) {
        let outer = if v6_outer { Outer::V6 } else { Outer::V4 };
        let spec = Spec { initial_seq: start, ..Spec::new(key, esn, outer, natt) };
        // The receiver's window a little behind the sender, as in a running tunnel.
        let rx = Spec { initial_seq: start.saturating_sub(3), ..spec.clone() };
        let inner = if v6_inner { inner6(size.max(40), tos, &payload) } else { inner4(size.max(20), tos, df, &payload) };
        let mut b = HeapBuf::new(&inner);
        let out = spec.outbound();
        let sent = encap(&mut b, &out, 7);
        if !esn && start + 1 > u64::from(u32::MAX) {
            prop_assert!(sent.is_err());
            return Ok(());
        }
        prop_assert_eq!(sent, Ok(()));
        let sas = [rx.inbound()];
        match decap(&mut b, &sas[..], 8) {
            Ok(Decapped::Inner { seq, .. }) => prop_assert_eq!(seq, start + 1),
            other => prop_assert!(false, "decap: {:?}", other),
        }
        prop_assert_eq!(b.data(), &inner[..]);
    }

    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let b = &bytes[..];
        if let Ok(f) = eth::Frame::new_checked(b) {
            let _ = (f.dst_addr(), f.src_addr(), f.vlan_tci(), f.ethertype(), f.payload().len());
            let _ = eth::Repr::parse(&f);
        }
        if let Ok(p) = ipv4::Packet::new_checked(b) {
            let _ = (p.header_len(), p.tos(), p.total_len(), p.ident(), p.dont_frag(), p.more_frags());
            let _ = (p.frag_offset(), p.is_fragment(), p.ttl(), p.protocol(), p.checksum());
            let _ = (p.src_addr(), p.dst_addr(), p.verify_checksum(), p.options().len(), p.payload().len());
            let _ = ipv4::Repr::parse(&p);
        }
        if let Ok(p) = ipv6::Packet::new_checked(b) {
            let _ = (p.traffic_class(), p.flow_label(), p.payload_len(), p.next_header(), p.hop_limit());
            let _ = (p.src_addr(), p.dst_addr(), p.payload().len());
            let _ = ipv6::Repr::parse(&p);
        }
        if let Ok(p) = udp::Packet::new_checked(b) {
            let _ = (p.src_port(), p.dst_port(), p.len(), p.checksum(), p.payload().len());
            let _ = p.verify_checksum_v4([1, 2, 3, 4].into(), [5, 6, 7, 8].into());
            let _ = p.verify_checksum_v6(std::net::Ipv6Addr::LOCALHOST, std::net::Ipv6Addr::LOCALHOST);
            let _ = udp::Repr::parse(&p);
        }
        if let Ok(p) = esp::Packet::new_checked(b) {
            let _ = (p.spi(), p.seq(), p.payload().len());
        }
        let _ = esp::Trailer::parse(b);
        let _ = udp::natt_classify(b);
    }

    /// Arbitrary bytes, and arbitrary bytes behind a valid outer header with our SPI, never
    /// panic decap; arbitrary bytes never panic encap, and what encap accepts decaps back.
    #[test]
    fn pipeline_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), natt in any::<bool>(), v6 in any::<bool>()) {
        let outer = if v6 { Outer::V6 } else { Outer::V4 };
        let spec = Spec::new(16, false, outer, natt);
        let sas = [spec.inbound()];
        let mut b = HeapBuf::new(&bytes);
        let _ = decap(&mut b, &sas[..], 1);
        // Behind a real header with our SPI: reaches the crypto, fails the ICV.
        let real = common::seal_packet(&spec.outbound(), &common::inner_v4(40, 0, true, 0));
        let hdr = if v6 { 40 } else { 20 } + if natt { 8 } else { 0 };
        let mut forged = real[..hdr + 4].to_vec();
        forged.extend_from_slice(&bytes);
        let mut b = HeapBuf::new(&forged);
        let _ = decap(&mut b, &sas[..], 1);
        let mut b = HeapBuf::new(&bytes);
        let out = spec.outbound();
        if encap(&mut b, &out, 1).is_ok() {
            match decap(&mut b, &sas[..], 1) {
                Ok(Decapped::Inner { .. }) => {}
                other => prop_assert!(false, "encap accepted what decap refuses: {:?}", other),
            }
        }
    }

    #[test]
    fn gcm_opens_what_it_sealed_and_nothing_else(
        key in proptest::collection::vec(any::<u8>(), 32),
        long in any::<bool>(),
        nonce in any::<[u8; 12]>(),
        aad in proptest::collection::vec(any::<u8>(), 0..40),
        msg in proptest::collection::vec(any::<u8>(), 0..600),
        flip in any::<usize>(),
    ) {
        let g = AesGcm::new(if long { &key[..] } else { &key[..16] }).unwrap();
        let mut buf = msg.clone();
        let tag = g.seal_in_place(&nonce, &aad, &mut buf);
        let ct = buf.clone();
        // Any single flipped bit in ciphertext or tag fails and releases nothing.
        let total = (ct.len() + 16) * 8;
        let bit = flip % total;
        let (mut c2, mut t2) = (ct.clone(), tag);
        if bit / 8 < ct.len() { c2[bit / 8] ^= 1 << (bit % 8) } else { t2[bit / 8 - ct.len()] ^= 1 << (bit % 8) }
        let before = c2.clone();
        prop_assert!(g.open_in_place(&nonce, &aad, &mut c2, &t2).is_err());
        prop_assert_eq!(&c2, &before);
        prop_assert!(g.open_in_place(&nonce, &aad, &mut buf, &tag).is_ok());
        prop_assert_eq!(buf, msg);
    }
}
