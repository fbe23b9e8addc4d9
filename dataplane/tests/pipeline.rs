//! The ESP pipeline end to end on heap buffers: layouts, header fields, every drop reason
//! decap and encap can return (each with the exact reason), lifetimes, counters and bursts.

mod common;

use common::{Outer, Spec, craft_esp, inner_v4, inner_v6, seal_packet, with_trailer};
use dataplane::sa::{Expiry, Limits, NattPorts, flow_label_for};
use dataplane::selector::Selectors;
use dataplane::wire::{checksum, ip_proto, ipv4, ipv6, udp};
use dataplane::{
    Counters, DecapDrop, Decapped, DropReason, Event, HeapBuf, InvalidSpi, PacketBuf, Sa, decap,
    decap_burst, encap, encap_burst,
};

fn decap_err(pkt: &[u8], sas: &[Sa]) -> DecapDrop {
    let mut b = HeapBuf::new(pkt);
    match decap(&mut b, sas, 1) {
        Err(e) => e,
        Ok(d) => panic!("expected a drop, got {d:?}"),
    }
}

fn decap_ok(pkt: &[u8], sas: &[Sa]) -> Vec<u8> {
    let mut b = HeapBuf::new(pkt);
    match decap(&mut b, sas, 1) {
        Ok(Decapped::Inner { .. }) => b.data().to_vec(),
        other => panic!("expected an inner packet, got {other:?}"),
    }
}

#[test]
fn encap_layout_and_outer_fields_v4() {
    let spec = Spec::new(16, false, Outer::V4, false);
    let out = spec.outbound();
    let inner = inner_v4(100, 0xb9, true, 1); // DSCP 46, ECN CE
    let pkt = seal_packet(&out, &inner);
    // 20 outer + 8 ESP + 8 IV + 100 + pad 2 + 2 trailer + 16 ICV.
    assert_eq!(pkt.len(), 20 + 8 + 8 + 100 + 2 + 2 + 16);
    let p = ipv4::Packet::new_checked(&pkt[..]).unwrap();
    assert!(p.verify_checksum());
    assert_eq!(p.total_len() as usize, pkt.len());
    assert_eq!((p.ttl(), p.protocol(), p.tos()), (64, ip_proto::ESP, 0xb9));
    assert!(p.dont_frag() && !p.is_fragment());
    assert_eq!(p.ident(), 1, "ID = low bits of the sequence number");
    assert_eq!((p.src_addr(), p.dst_addr()), (common::V4_LOCAL, common::V4_REMOTE));
    assert_eq!(&pkt[20..24], &0x1001u32.to_be_bytes(), "SPI");
    assert_eq!(&pkt[24..28], &1u32.to_be_bytes(), "first sequence number is 1");
    assert_eq!(&pkt[28..36], &1u64.to_be_bytes(), "IV = 64-bit sequence number");
    // DF follows the inner packet.
    let pkt = seal_packet(&out, &inner_v4(100, 0, false, 1));
    let p = ipv4::Packet::new_checked(&pkt[..]).unwrap();
    assert!(!p.dont_frag() && p.verify_checksum());
    assert_eq!(p.ident(), 2);
    // Inner IPv6 is always DF, TC copied.
    let pkt = seal_packet(&out, &inner_v6(120, 0x2a, 3));
    let p = ipv4::Packet::new_checked(&pkt[..]).unwrap();
    assert!(p.dont_frag() && p.verify_checksum());
    assert_eq!(p.tos(), 0x2a);
    assert_eq!(out.stats().packets, 3);
    assert_eq!(out.stats().bytes, 320);
    assert_eq!(out.stats().seq, 3);
}

#[test]
fn encap_layout_v6_natt() {
    let spec = Spec::new(32, true, Outer::V6, true);
    let out = spec.outbound();
    let inner = inner_v4(61, 0x03, true, 9);
    let pkt = seal_packet(&out, &inner);
    let pad = 1; // 61 + 1 + 2 = 64
    assert_eq!(pkt.len(), 40 + 8 + 8 + 8 + 61 + pad + 2 + 16);
    let p = ipv6::Packet::new_checked(&pkt[..]).unwrap();
    assert_eq!(p.total_len(), pkt.len());
    assert_eq!((p.next_header(), p.hop_limit(), p.traffic_class()), (ip_proto::UDP, 64, 0x03));
    assert_eq!(p.flow_label(), flow_label_for(0x1001));
    let u = udp::Packet::new_checked(p.payload()).unwrap();
    assert_eq!((u.src_port(), u.dst_port(), u.checksum()), (4500, 4500, 0));
    assert_eq!(u.len() as usize, pkt.len() - 40);
    assert_eq!(&pkt[48..52], &0x1001u32.to_be_bytes());
}

#[test]
fn round_trip_all_shapes_and_ethernet_padding() {
    for key in [16, 24, 32] {
        for esn in [false, true] {
            for outer in [Outer::V4, Outer::V6] {
                for natt in [false, true] {
                    let spec = Spec::new(key, esn, outer, natt);
                    let (out, inb) = (spec.outbound(), spec.inbound());
                    let sas = [inb];
                    for inner in [
                        inner_v4(28, 0, true, 0),
                        inner_v4(1000, 4, false, 5),
                        inner_v6(48, 0, 1),
                        inner_v6(777, 8, 2),
                    ] {
                        // A short frame arrives with Ethernet padding behind the IP packet:
                        // encap must carry the IP packet only.
                        let mut padded = inner.clone();
                        padded.extend_from_slice(&[0xee; 20]);
                        let pkt = seal_packet(&out, &padded);
                        assert_eq!(
                            decap_ok(&pkt, &sas),
                            inner,
                            "key {key} esn {esn} {outer:?} natt {natt}"
                        );
                        // And trailing bytes after the outer packet are ignored on decap.
                        let mut tail = pkt.clone();
                        tail.extend_from_slice(&[0; 7]);
                        let r = decap_err(&tail, &sas);
                        assert_eq!(r.reason, DropReason::AntiReplay);
                    }
                }
            }
        }
    }
}

#[test]
fn natt_demultiplexing_outcomes() {
    let spec = Spec::new(16, false, Outer::V4, true);
    let sas = [spec.inbound()];
    let esp = craft_esp(&spec, 1, &with_trailer(&inner_v4(40, 0, true, 0), 4));
    // Keepalive: IPv4 + UDP + 0xff.
    let mut ka = esp[..28].to_vec();
    ka.push(0xff);
    fix_lengths_v4(&mut ka);
    let mut b = HeapBuf::new(&ka);
    assert!(matches!(decap(&mut b, &sas[..], 1), Ok(Decapped::NattKeepalive)));
    assert_eq!(b.data(), &ka[..], "untouched");
    // Non-ESP marker: IKE.
    let mut ike = esp[..28].to_vec();
    ike.extend_from_slice(&[0, 0, 0, 0, 0x11, 0x22, 0x33]);
    fix_lengths_v4(&mut ike);
    let mut b = HeapBuf::new(&ike);
    assert!(matches!(decap(&mut b, &sas[..], 1), Ok(Decapped::NonEsp)));
    assert_eq!(b.data(), &ike[..]);
    // Five bytes: neither.
    let mut junk = esp[..28].to_vec();
    junk.extend_from_slice(&[1, 2, 3, 4, 5]);
    fix_lengths_v4(&mut junk);
    assert_eq!(decap_err(&junk, &sas).reason, DropReason::NatDemux);
    // UDP length beyond the IP payload.
    let mut bad = esp.clone();
    bad[24..26].copy_from_slice(&0xfff0u16.to_be_bytes());
    assert_eq!(decap_err(&bad, &sas).reason, DropReason::NatDemux);
    // Another UDP port is not ours to judge.
    let mut other = esp.clone();
    other[22..24].copy_from_slice(&500u16.to_be_bytes());
    let mut b = HeapBuf::new(&other);
    assert!(matches!(decap(&mut b, &sas[..], 1), Ok(Decapped::NotEsp)));
    // ICMP neither.
    let mut icmp = inner_v4(40, 0, false, 0);
    icmp[9] = ip_proto::ICMP;
    fix_lengths_v4(&mut icmp);
    let mut b = HeapBuf::new(&icmp);
    assert!(matches!(decap(&mut b, &sas[..], 1), Ok(Decapped::NotEsp)));
    // The real one still decrypts.
    assert_eq!(decap_ok(&esp, &sas), inner_v4(40, 0, true, 0));
}

/// Rewrites IPv4 Total Length, UDP Length (if UDP) and the header checksum.
fn fix_lengths_v4(p: &mut [u8]) {
    let n = p.len() as u16;
    p[2..4].copy_from_slice(&n.to_be_bytes());
    if p[9] == ip_proto::UDP && p.len() >= 28 {
        p[24..26].copy_from_slice(&(n - 20).to_be_bytes());
    }
    p[10..12].copy_from_slice(&[0, 0]);
    let c = checksum::of(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

#[test]
fn outer_header_refusals() {
    let spec = Spec::new(16, false, Outer::V4, false);
    let sas = [spec.inbound()];
    let good = seal_packet(&spec.outbound(), &inner_v4(60, 0, true, 0));
    assert_eq!(decap_err(&[], &sas).reason, DropReason::IpVersion);
    assert_eq!(decap_err(&[0x55; 40], &sas).reason, DropReason::IpVersion);
    assert_eq!(decap_err(&good[..19], &sas).reason, DropReason::IpVersion);
    assert_eq!(decap_err(&good[..good.len() - 1], &sas).reason, DropReason::IpVersion, "truncated");
    let mut c = good.clone();
    c[10] ^= 0x40;
    assert_eq!(decap_err(&c, &sas).reason, DropReason::BadIpChecksum);
    for frag in [0x2000u16, 0x0001, 0x2010] {
        let mut f = good.clone();
        f[6..8].copy_from_slice(&frag.to_be_bytes());
        fix_lengths_v4(&mut f);
        assert_eq!(decap_err(&f, &sas).reason, DropReason::FragV4, "flags/offset {frag:#x}");
    }
    // ESP shorter than header + IV + trailer + ICV.
    let mut short = good[..20 + 33].to_vec();
    fix_lengths_v4(&mut short);
    assert_eq!(decap_err(&short, &sas).reason, DropReason::HeadPadLen);

    // IPv6: fragment header and other extension headers are refused, not misread.
    let spec6 = Spec::new(16, false, Outer::V6, false);
    let sas6 = [spec6.inbound()];
    let good6 = seal_packet(&spec6.outbound(), &inner_v4(60, 0, true, 0));
    for (nh, want) in [
        (44u8, DropReason::FragV4),
        (0, DropReason::IpVersion),
        (60, DropReason::IpVersion),
        (43, DropReason::IpVersion),
        (51, DropReason::IpVersion),
    ] {
        let mut e = good6.clone();
        e[6] = nh;
        assert_eq!(decap_err(&e, &sas6).reason, want, "next header {nh}");
    }
    assert_eq!(decap_ok(&good6, &sas6), inner_v4(60, 0, true, 0));
}

#[test]
fn unknown_spi_reports_the_flow() {
    for (outer, natt, want) in [
        (Outer::V4, false, DropReason::SaNotFoundV4),
        (Outer::V4, true, DropReason::SaNotFoundV4),
        (Outer::V6, false, DropReason::SaNotFoundV6),
        (Outer::V6, true, DropReason::SaNotFoundV6),
    ] {
        let spec = Spec::new(16, false, outer, natt);
        let pkt = seal_packet(&spec.outbound(), &inner_v4(60, 0, true, 0));
        let other = Spec { spi: 0x2002, ..spec.clone() };
        let e = decap_err(&pkt, &[other.inbound()]);
        let (src, dst) = match outer {
            Outer::V4 => (common::V4_LOCAL.into(), common::V4_REMOTE.into()),
            Outer::V6 => (common::v6_local().into(), common::v6_remote().into()),
        };
        assert_eq!(e.reason, want);
        assert_eq!(e.invalid_spi, Some(InvalidSpi { src, dst, spi: 0x1001, udp_encap: natt }));
        assert!(e.to_string().contains("spi 0x1001"), "{e}");
    }
}

#[test]
fn sa_state_refusals() {
    let spec = Spec::new(16, false, Outer::V4, false);
    let out = spec.outbound();
    let pkt = seal_packet(&out, &inner_v4(60, 0, true, 0));
    // An invalidated inbound SA.
    let inb = spec.inbound();
    inb.invalidate();
    assert_eq!(decap_err(&pkt, &[inb]).reason, DropReason::HitInvalidSaV4);
    // An outbound SA found by the inbound lookup is not usable either.
    assert_eq!(decap_err(&pkt, &[spec.outbound()]).reason, DropReason::HitInvalidSaV4);
    let spec6 = Spec::new(16, false, Outer::V6, false);
    let pkt6 = seal_packet(&spec6.outbound(), &inner_v6(60, 0, 0));
    let inb6 = spec6.inbound();
    inb6.invalidate();
    assert_eq!(decap_err(&pkt6, &[inb6]).reason, DropReason::HitInvalidSaV6);

    // Hard lifetime by packets, inbound: two accepted, the third refused.
    let mut lim = spec.clone();
    lim.lifetime.hard = Limits { packets: 2, ..Limits::UNLIMITED };
    let sender = spec.outbound();
    let pkts: Vec<_> = (0..3).map(|_| seal_packet(&sender, &inner_v4(60, 0, true, 0))).collect();
    let sas = [lim.inbound()];
    decap_ok(&pkts[0], &sas);
    decap_ok(&pkts[1], &sas);
    assert_eq!(decap_err(&pkts[2], &sas).reason, DropReason::InHardExpiry);
    assert_eq!(sas[0].expiry(), Expiry::Hard);
    // ... and outbound.
    let limited = lim.outbound();
    seal_packet(&limited, &inner_v4(60, 0, true, 0));
    seal_packet(&limited, &inner_v4(60, 0, true, 0));
    let mut b = HeapBuf::new(&inner_v4(60, 0, true, 0));
    assert_eq!(encap(&mut b, &limited, 1), Err(DropReason::OutHardExpiry));
    // Bytes: the packet that crosses the limit passes, the next one does not.
    let mut by = spec.clone();
    by.lifetime.hard = Limits { bytes: 100, ..Limits::UNLIMITED };
    let o = by.outbound();
    seal_packet(&o, &inner_v4(60, 0, true, 0));
    seal_packet(&o, &inner_v4(60, 0, true, 0));
    let mut b = HeapBuf::new(&inner_v4(60, 0, true, 0));
    assert_eq!(encap(&mut b, &o, 1), Err(DropReason::OutHardExpiry));
    // Hard lifetime by time, and soft by time raises the flag.
    let mut t = spec.clone();
    t.lifetime.soft.time_ns = 1_000;
    t.lifetime.hard.time_ns = 2_000;
    let o = t.outbound();
    let mut b = HeapBuf::new(&inner_v4(60, 0, true, 0));
    encap(&mut b, &o, 999).unwrap();
    assert_eq!(o.expiry(), Expiry::Live);
    let mut b = HeapBuf::new(&inner_v4(60, 0, true, 0));
    encap(&mut b, &o, 1_000).unwrap();
    assert_eq!(o.expiry(), Expiry::Soft);
    let mut b = HeapBuf::new(&inner_v4(60, 0, true, 0));
    assert_eq!(encap(&mut b, &o, 2_000), Err(DropReason::OutHardExpiry));
    // Invalid outbound SA, per inner family; inbound SA used for encap.
    let o = spec.outbound();
    o.invalidate();
    let mut b = HeapBuf::new(&inner_v4(60, 0, true, 0));
    assert_eq!(encap(&mut b, &o, 1), Err(DropReason::OutHitInvalidSaV4));
    let mut b = HeapBuf::new(&inner_v6(60, 0, 0));
    assert_eq!(encap(&mut b, &o, 1), Err(DropReason::OutHitInvalidSaV6));
    let mut b = HeapBuf::new(&inner_v6(60, 0, 0));
    assert_eq!(encap(&mut b, &spec.inbound(), 1), Err(DropReason::OutHitInvalidSaV6));
}

#[test]
fn sequence_overflow_is_a_drop_and_a_rekey_signal() {
    for (esn, last) in [(false, u64::from(u32::MAX)), (true, u64::MAX)] {
        let spec = Spec { initial_seq: last - 1, ..Spec::new(16, esn, Outer::V4, false) };
        let out = spec.outbound();
        let inner = inner_v4(60, 0, true, 0);
        let pkt = seal_packet(&out, &inner);
        assert_eq!(&pkt[24..28], &(last as u32).to_be_bytes());
        assert_eq!(out.expiry(), Expiry::Soft, "rekey signal before the end");
        let mut b = HeapBuf::new(&inner);
        assert_eq!(encap(&mut b, &out, 1), Err(DropReason::SeqOverflow));
        assert_eq!(b.data(), &inner[..], "refused packet untouched");
        assert_eq!(out.expiry(), Expiry::Hard);
        assert_eq!(out.stats().seq, last, "never wraps");
        // The last packet is still valid for the peer.
        let inb = Spec { initial_seq: last - 1, ..spec.clone() }.inbound();
        assert_eq!(decap_ok(&pkt, &[inb]), inner);
    }
}

#[test]
fn mtu_and_buffer_room() {
    let spec = Spec { mtu: 1500, ..Spec::new(16, false, Outer::V4, false) };
    let out = spec.outbound();
    let max = out.max_inner_len();
    assert_eq!(max, 1446);
    let fits = inner_v4(max, 0, true, 0);
    assert_eq!(seal_packet(&out, &fits).len(), 1500);
    let mut b = HeapBuf::new(&inner_v4(max + 1, 0, true, 0));
    assert_eq!(encap(&mut b, &out, 1), Err(DropReason::CannotFragDf));
    let mut b = HeapBuf::new(&inner_v4(max + 1, 0, false, 0));
    assert_eq!(encap(&mut b, &out, 1), Err(DropReason::LenTooBig));
    let mut b = HeapBuf::new(&inner_v6(max + 1, 0, 0));
    assert_eq!(encap(&mut b, &out, 1), Err(DropReason::CannotFragDf), "IPv6 is never fragmented");
    // No headroom, no tailroom.
    let inner = inner_v4(100, 0, true, 0);
    let mut b = HeapBuf::with_room(&inner, 35, 64);
    assert_eq!(encap(&mut b, &out, 1), Err(DropReason::NoBuffer));
    assert_eq!(b.data(), &inner[..]);
    let mut b = HeapBuf::with_room(&inner, 36, 19);
    assert_eq!(encap(&mut b, &out, 1), Err(DropReason::NoBuffer));
    let mut b = HeapBuf::with_room(&inner, 36, 20);
    encap(&mut b, &out, 1).unwrap();
    assert_eq!((b.headroom(), b.tailroom()), (0, 0));
    // Not an IP packet at all.
    let mut b = HeapBuf::new(&[0x00; 64]);
    assert_eq!(encap(&mut b, &out, 1), Err(DropReason::UnknownL2));
    let mut b = HeapBuf::new(&inner[..30]);
    assert_eq!(encap(&mut b, &out, 1), Err(DropReason::UnknownL2), "truncated inner");
    assert_eq!(out.stats().packets, 2, "refused packets consume no sequence number");
    assert_eq!(out.stats().seq, 2);
}

#[test]
fn authenticated_but_malformed_plaintext() {
    let spec = Spec::new(16, false, Outer::V4, false);
    let sas = [spec.inbound()];
    let inner = inner_v4(40, 0, true, 0);
    let mut seq = 0u64;
    let mut next = || {
        seq += 1;
        seq
    };
    // Bad padding bytes.
    let mut pt = with_trailer(&inner[..39], 4);
    assert_eq!(pt[39], 1);
    pt[39] = 9;
    assert_eq!(decap_err(&craft_esp(&spec, next(), &pt), &sas).reason, DropReason::HeadPadLen);
    // Pad length longer than the plaintext.
    let mut pt = with_trailer(&inner, 4);
    let n = pt.len();
    pt[n - 2] = 200;
    assert_eq!(decap_err(&craft_esp(&spec, next(), &pt), &sas).reason, DropReason::HeadPadLen);
    // Next header neither 4 nor 41 (ICMP, and 59: a dummy packet).
    for nh in [1u8, 59, 6] {
        let pt = with_trailer(&inner, nh);
        assert_eq!(
            decap_err(&craft_esp(&spec, next(), &pt), &sas).reason,
            DropReason::NextHeaderMismatch
        );
    }
    // NH says IPv6 but an IPv4 header follows, and the reverse.
    assert_eq!(
        decap_err(&craft_esp(&spec, next(), &with_trailer(&inner, 41)), &sas).reason,
        DropReason::NextHeaderMismatch
    );
    let v6 = inner_v6(60, 0, 0);
    assert_eq!(
        decap_err(&craft_esp(&spec, next(), &with_trailer(&v6, 4)), &sas).reason,
        DropReason::NextHeaderMismatch
    );
    // Inner length field past the plaintext.
    let mut long = inner.clone();
    long[2..4].copy_from_slice(&41u16.to_be_bytes());
    assert_eq!(
        decap_err(&craft_esp(&spec, next(), &with_trailer(&long, 4)), &sas).reason,
        DropReason::NextHeaderMismatch
    );
    // Empty payload (just a trailer).
    assert_eq!(
        decap_err(&craft_esp(&spec, next(), &[0, 4]), &sas).reason,
        DropReason::NextHeaderMismatch
    );
    // TFC padding after the inner packet (RFC 4303 section 2.7) is stripped.
    let mut tfc = inner.clone();
    tfc.extend_from_slice(&[0u8; 23]);
    assert_eq!(decap_ok(&craft_esp(&spec, next(), &with_trailer(&tfc, 4)), &sas), inner);
    // Every one of those advanced the window: they were authentic.
    assert_eq!(sas[0].stats().seq, seq);
    assert_eq!(sas[0].stats().packets, 1);
}

/// Authentic ESP whose inner IPv4 header checksum is wrong: the ICV does not make the
/// header sound, and a router must check it before forwarding (RFC 1812 5.2.2).
#[test]
fn inner_ipv4_with_a_bad_header_checksum_is_dropped() {
    let spec = Spec::new(16, false, Outer::V4, false);
    let out = spec.outbound();
    let sas = [spec.inbound()];
    let good = inner_v4(60, 0, true, 0);
    assert_eq!(decap_ok(&seal_packet(&out, &good), &sas), good);
    for flip in [0x01u8, 0xff] {
        let mut bad = good.clone();
        bad[10] ^= flip;
        let e = decap_err(&seal_packet(&out, &bad), &sas);
        assert_eq!(e.reason, DropReason::BadIpChecksum, "checksum byte ^ {flip:#x}");
    }
    // A checksum of zero is not "no checksum" in IPv4.
    assert_ne!(good[10..12], [0, 0]);
    let mut zero = good.clone();
    zero[10..12].copy_from_slice(&[0, 0]);
    assert_eq!(decap_err(&seal_packet(&out, &zero), &sas).reason, DropReason::BadIpChecksum);
    // The packets were authentic: the window moved for each.
    assert_eq!(sas[0].stats().packets, 1);
}

#[test]
fn post_input_policy_checks_the_inner_source() {
    let mut spec = Spec::new(16, false, Outer::V4, false);
    // Inner sources of inner_v4 / inner_v6 are 192.168.105.7 / fd00:105::7.
    spec.selectors =
        Selectors::new(vec!["192.168.105.0/24".parse().unwrap(), "fd00:105::/32".parse().unwrap()]);
    let out = spec.outbound();
    let sas = [spec.inbound()];
    decap_ok(&seal_packet(&out, &inner_v4(60, 0, true, 0)), &sas);
    decap_ok(&seal_packet(&out, &inner_v6(60, 0, 0)), &sas);
    let mut foreign = inner_v4(60, 0, true, 0);
    foreign[12] = 10; // source 10.168.105.7
    foreign[10..12].copy_from_slice(&[0, 0]);
    let c = checksum::of(&foreign[..20]);
    foreign[10..12].copy_from_slice(&c.to_be_bytes());
    assert_eq!(decap_err(&seal_packet(&out, &foreign), &sas).reason, DropReason::PolicyV4);
    let mut foreign6 = inner_v6(60, 0, 0);
    foreign6[9] = 0x99;
    assert_eq!(decap_err(&seal_packet(&out, &foreign6), &sas).reason, DropReason::PolicyV6);
    // The destination does not matter (it is one of ours).
    let mut dst = inner_v4(60, 0, true, 0);
    dst[16] = 8;
    dst[10..12].copy_from_slice(&[0, 0]);
    let c = checksum::of(&dst[..20]);
    dst[10..12].copy_from_slice(&c.to_be_bytes());
    decap_ok(&seal_packet(&out, &dst), &sas);
    // No selectors: nothing passes.
    let none = Spec { selectors: Selectors::default(), ..spec.clone() };
    assert_eq!(
        decap_err(&seal_packet(&none.outbound(), &inner_v4(60, 0, true, 0)), &[none.inbound()])
            .reason,
        DropReason::PolicyV4
    );
}

#[test]
fn ecn_congestion_mark_crosses_the_tunnel() {
    let spec = Spec::new(16, false, Outer::V4, false);
    let out = spec.outbound();
    let sas = [spec.inbound()];
    // Inner ECT(0): a router marks the outer header CE on the way.
    let inner = inner_v4(80, 0x02, true, 0);
    let mut pkt = seal_packet(&out, &inner);
    assert_eq!(pkt[1] & 3, 2, "ECN copied to the outer header");
    pkt[1] |= 3;
    fix_lengths_v4(&mut pkt);
    let got = decap_ok(&pkt, &sas);
    let p = ipv4::Packet::new_checked(&got[..]).unwrap();
    assert_eq!(p.ecn(), 3, "CE carried inward");
    assert!(p.verify_checksum());
    // Not-ECT inner stays Not-ECT.
    let mut pkt = seal_packet(&out, &inner_v4(80, 0, true, 0));
    pkt[1] |= 3;
    fix_lengths_v4(&mut pkt);
    assert_eq!(decap_ok(&pkt, &sas), inner_v4(80, 0, true, 0));
}

#[test]
fn bursts_count_every_outcome_once() {
    let spec = Spec::new(16, false, Outer::V4, true);
    let other = Spec { spi: 0x3003, ..spec.clone() };
    let (out_a, out_b) = (spec.outbound(), other.outbound());
    let counters = Counters::new();
    let inners: Vec<Vec<u8>> = (0..8).map(|i| inner_v4(100 + i, 0, true, i as u8)).collect();
    let mut bufs: Vec<HeapBuf> = inners.iter().map(|p| HeapBuf::new(p)).collect();
    bufs.push(HeapBuf::new(&[1, 2, 3])); // not IP: UnknownL2
    let sas: Vec<&Sa> = (0..9).map(|i| if i % 3 == 0 { &out_b } else { &out_a }).collect();
    let mut results = Vec::new();
    encap_burst(&mut bufs, &sas, 5, &counters, |i, _, r| results.push((i, r)));
    assert_eq!(results.len(), 9);
    assert_eq!(results[8], (8, Err(DropReason::UnknownL2)));
    let snap = counters.snapshot();
    assert_eq!(snap.events(Event::Encrypted), 8);
    assert_eq!(snap.drops(DropReason::UnknownL2), 1);
    assert_eq!(out_a.stats().packets + out_b.stats().packets, 8);
    assert_eq!(out_b.stats().packets, 3);
    assert_eq!(out_a.stats().bytes, [1, 2, 4, 5, 7].iter().map(|i| 100 + i).sum::<u64>());

    // Decap the burst plus a replayed packet, an unknown SPI, a keepalive and junk.
    let inb = [spec.inbound(), other.inbound()];
    let mut rx: Vec<HeapBuf> = bufs[..8].iter().map(|b| HeapBuf::new(b.data())).collect();
    rx.push(HeapBuf::new(bufs[1].data()));
    rx.push(HeapBuf::new(&seal_packet(
        &Spec { spi: 0x4004, ..spec.clone() }.outbound(),
        &inners[0],
    )));
    let mut ka = bufs[0].data()[..28].to_vec();
    ka.push(0xff);
    fix_lengths_v4(&mut ka);
    rx.push(HeapBuf::new(&ka));
    rx.push(HeapBuf::new(&[0x45, 0, 0]));
    let dc = Counters::new();
    let mut got = Vec::new();
    let mut invalid = Vec::new();
    decap_burst(&mut rx, &inb[..], 6, &dc, |i, b, r| match r {
        Ok(Decapped::Inner { sa, .. }) => got.push((i, sa.spi(), b.data().to_vec())),
        Ok(other) => got.push((i, 0, format!("{other:?}").into_bytes())),
        Err(e) => invalid.push((i, e)),
    });
    for (i, spi, data) in &got[..8] {
        assert_eq!(data, &inners[*i], "packet {i}");
        assert_eq!(*spi, if i % 3 == 0 { 0x3003 } else { 0x1001 });
    }
    assert_eq!(got[8].2, b"NattKeepalive");
    let reasons: Vec<_> = invalid.iter().map(|(i, e)| (*i, e.reason)).collect();
    assert_eq!(
        reasons,
        vec![
            (8, DropReason::AntiReplay),
            (9, DropReason::SaNotFoundV4),
            (11, DropReason::IpVersion)
        ]
    );
    let s = dc.snapshot();
    assert_eq!(s.events(Event::Decrypted), 8);
    assert_eq!(s.events(Event::NattKeepalive), 1);
    assert_eq!(s.total_drops(), 3);
    assert_eq!(inb[0].stats().packets, 5);
    assert_eq!(inb[1].stats().packets, 3);
    assert_eq!(inb[0].stats().replay_failed, 1);
}

#[test]
fn natt_ports_are_configurable() {
    let mut spec = Spec::new(16, false, Outer::V4, true);
    spec.natt = true;
    let mut t = common::tunnel(Outer::V4, true, 1500, false);
    t.natt = Some(NattPorts { local: 4500, remote: 61000 });
    let sa = Sa::new(dataplane::SaConfig {
        spi: 0x5005,
        direction: dataplane::SaDirection::Outbound,
        key: &spec.key,
        salt: spec.salt,
        esn: false,
        tunnel: t,
        selectors: Selectors::any(),
        lifetime: dataplane::sa::Lifetime::UNLIMITED,
        replay_window: 0,
        created_ns: 0,
        initial_seq: 0,
    })
    .unwrap();
    let pkt = seal_packet(&sa, &inner_v4(60, 0, true, 0));
    assert_eq!(&pkt[20..24], &[0x11, 0x94, 0xee, 0x48]);
}
