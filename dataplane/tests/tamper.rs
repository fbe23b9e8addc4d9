//! Every single-bit flip of valid ESP packets (IPv4 and IPv6 outer, plain and NAT-T, with
//! and without ESN, both AES sizes), each decapsulated with a fresh SA.
//!
//! Inside the ESP packet (SPI to ICV) every flip must be refused with exactly the reason
//! the position implies. In the outer headers, the IPv4 checksum catches every flip; what
//! IPv6 and UDP leave unprotected (traffic class, flow label, hop limit, addresses, UDP
//! source port and checksum: RFC 4303 does not cover the outer header, and NATs rewrite
//! some of it) may be accepted, but then must still yield exactly the original inner
//! packet. Nothing may panic.

mod common;

use common::{Outer, Spec, inner_v4, inner_v6, seal_packet};
use dataplane::{DecapDrop, Decapped, DropReason, HeapBuf, PacketBuf, decap};

#[derive(Debug)]
enum Outcome {
    Inner(Vec<u8>),
    NotEsp,
    #[allow(dead_code)] // read through Debug in failure messages
    Other(String),
    Drop(DropReason),
}

fn run(spec: &Spec, pkt: &[u8]) -> Outcome {
    let sas = [spec.inbound()];
    let mut b = HeapBuf::new(pkt);
    match decap(&mut b, &sas[..], 1) {
        Ok(Decapped::Inner { .. }) => Outcome::Inner(b.data().to_vec()),
        Ok(Decapped::NotEsp) => Outcome::NotEsp,
        Ok(other) => Outcome::Other(format!("{other:?}")),
        Err(DecapDrop { reason, .. }) => Outcome::Drop(reason),
    }
}

fn flip_all(spec: &Spec, inner: &[u8]) -> usize {
    let pkt = seal_packet(&spec.outbound(), inner);
    assert!(
        matches!(run(spec, &pkt), Outcome::Inner(ref i) if i == inner),
        "unmodified packet decaps"
    );
    let ip_len = match spec.outer {
        Outer::V4 => 20,
        Outer::V6 => 40,
    };
    let esp_start = ip_len + if spec.natt { 8 } else { 0 };
    let seq_lo = u32::from_be_bytes(pkt[esp_start + 4..esp_start + 8].try_into().unwrap());
    let mut flips = 0;
    for byte in 0..pkt.len() {
        for bit in 0..8 {
            let mut t = pkt.clone();
            t[byte] ^= 1 << bit;
            let got = run(spec, &t);
            let at = format!(
                "{:?} natt {} esn {}: byte {byte} bit {bit}",
                spec.outer, spec.natt, spec.esn
            );
            if byte >= esp_start {
                // The ESP packet itself: one exact reason per position.
                let off = byte - esp_start;
                let want = if off < 4 {
                    DropReason::SaNotFoundV4
                } else if off < 8 && (seq_lo ^ (1 << (bit + 8 * (7 - off as u32)))) == 0 {
                    DropReason::OutOfWindow
                } else {
                    DropReason::MacException
                };
                let want = match (want, spec.outer) {
                    (DropReason::SaNotFoundV4, Outer::V6) => DropReason::SaNotFoundV6,
                    (w, _) => w,
                };
                assert!(
                    matches!(got, Outcome::Drop(r) if r == want),
                    "{at}: {got:?}, want {want:?}"
                );
            } else if byte >= ip_len {
                // The UDP header of NAT-T.
                let field = (byte - ip_len) / 2;
                match field {
                    // Source port, checksum: not protected, not checked.
                    0 | 3 => {
                        assert!(matches!(got, Outcome::Inner(ref i) if i == inner), "{at}: {got:?}")
                    }
                    // Destination port: no longer 4500, not ours to judge.
                    1 => assert!(matches!(got, Outcome::NotEsp), "{at}: {got:?}"),
                    // Length: beyond the datagram, or cutting the ESP packet short.
                    _ => assert!(
                        matches!(
                            got,
                            Outcome::Drop(
                                DropReason::NatDemux
                                    | DropReason::MacException
                                    | DropReason::HeadPadLen
                            )
                        ),
                        "{at}: {got:?}"
                    ),
                }
            } else {
                match spec.outer {
                    Outer::V4 => assert!(
                        matches!(got, Outcome::Drop(DropReason::BadIpChecksum | DropReason::IpVersion))
                            // 4 -> 6 in the version nibble: parsed as IPv6, whose next header
                            // (the IPv4 flags byte) is no ESP.
                            || (byte == 0 && bit == 5 && matches!(got, Outcome::NotEsp)),
                        "{at}: {got:?}"
                    ),
                    Outer::V6 => match byte {
                        0 if bit >= 4 => assert!(
                            matches!(got, Outcome::Drop(DropReason::IpVersion)),
                            "{at}: {got:?}"
                        ),
                        // Payload length: truncates the ESP packet or overruns the buffer.
                        4 | 5 => assert!(
                            matches!(
                                got,
                                Outcome::Drop(
                                    DropReason::IpVersion
                                        | DropReason::MacException
                                        | DropReason::HeadPadLen
                                        | DropReason::NatDemux
                                )
                            ),
                            "{at}: {got:?}"
                        ),
                        // Next header: another protocol, or an extension header.
                        6 => assert!(
                            matches!(got, Outcome::NotEsp | Outcome::Drop(DropReason::IpVersion)),
                            "{at}: {got:?}"
                        ),
                        // Traffic class, flow label, hop limit, addresses: unprotected.
                        _ => assert!(
                            matches!(got, Outcome::Inner(ref i) if i == inner),
                            "{at}: {got:?}"
                        ),
                    },
                }
            }
            flips += 1;
        }
    }
    flips
}

#[test]
fn every_bit_flip_v4() {
    let n = flip_all(&Spec::new(16, false, Outer::V4, false), &inner_v4(64, 0, true, 1));
    assert_eq!(n, (20 + 16 + 64 + 2 + 2 + 16) * 8);
}

#[test]
fn every_bit_flip_v6_aes256() {
    flip_all(&Spec::new(32, false, Outer::V6, false), &inner_v6(70, 0x10, 2));
}

#[test]
fn every_bit_flip_v4_natt_esn() {
    flip_all(&Spec::new(16, true, Outer::V4, true), &inner_v6(57, 0, 3));
}

#[test]
fn every_bit_flip_v6_natt() {
    flip_all(&Spec::new(32, true, Outer::V6, true), &inner_v4(45, 0, false, 4));
}

/// Every truncation of a valid packet is refused, never accepted.
#[test]
fn every_truncation() {
    for spec in [Spec::new(16, false, Outer::V4, true), Spec::new(32, true, Outer::V6, false)] {
        let pkt = seal_packet(&spec.outbound(), &inner_v4(64, 0, true, 1));
        for n in 0..pkt.len() {
            match run(&spec, &pkt[..n]) {
                Outcome::Drop(_) => {}
                other => panic!("truncated to {n}: {other:?}"),
            }
        }
    }
}
