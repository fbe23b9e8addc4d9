//! Property tests: the decoder never panics and round-trips every message; a `Peer` fed
//! arbitrary datagrams (unauthenticated or authentic) and commands in any order never
//! panics and never breaks its bookkeeping.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use rand::{SeedableRng, rngs::StdRng};

use super::sim::{Alloc, PSK, TUNNEL};
use crate::peer::auth::{self, MacKey, ReplayWindow};
use crate::peer::msg::{
    Ack, AckStatus, AddrPair, Body, Delete, DeleteEntry, Hello, InvalidSpi, Message, MsgType,
    RekeyDone, RekeyInit, RekeyResp, SpiSide,
};
use crate::peer::{Action, Aead, InitialSas, Peer, PeerConfig, RekeyReason, SpiAllocator};

fn arb_aead() -> impl Strategy<Value = Aead> {
    prop_oneof![Just(Aead::Aes128Gcm), Just(Aead::Aes256Gcm)]
}

fn arb_addrs() -> impl Strategy<Value = AddrPair> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<[u8; 4]>())
            .prop_map(|(s, d)| AddrPair::V4 { src: Ipv4Addr::from(s), dst: Ipv4Addr::from(d) }),
        (any::<[u8; 16]>(), any::<[u8; 16]>())
            .prop_map(|(s, d)| AddrPair::V6 { src: Ipv6Addr::from(s), dst: Ipv6Addr::from(d) }),
    ]
}

/// SPIs from a small set most of the time, so that messages hit SAs the peer has.
fn arb_spi() -> impl Strategy<Value = u32> {
    prop_oneof![3 => (0u32..8).prop_map(|i| 0x1000 + i), 1 => any::<u32>()]
}

fn arb_body() -> impl Strategy<Value = Body> {
    prop_oneof![
        (any::<[u8; 32]>(), any::<[u8; 32]>(), arb_spi(), arb_aead(), any::<bool>()).prop_map(
            |(nonce, public, spi, aead, esn)| Body::RekeyInit(RekeyInit {
                nonce,
                public,
                spi,
                aead,
                esn
            })
        ),
        (any::<u64>(), any::<[u8; 32]>(), any::<[u8; 32]>(), arb_spi()).prop_map(
            |(echo, nonce, public, spi)| Body::RekeyResp(RekeyResp { echo, nonce, public, spi })
        ),
        (arb_spi(), arb_spi())
            .prop_map(|(spi_i, spi_r)| Body::RekeyDone(RekeyDone { spi_i, spi_r })),
        prop::collection::vec((any::<bool>(), arb_spi()), 1..=64).prop_map(|v| {
            Body::Delete(Delete {
                entries: v
                    .into_iter()
                    .map(|(s, spi)| DeleteEntry {
                        side: if s { SpiSide::Sender } else { SpiSide::Receiver },
                        spi,
                    })
                    .collect(),
            })
        }),
        (arb_spi(), arb_addrs())
            .prop_map(|(spi, addrs)| Body::InvalidSpi(InvalidSpi { spi, addrs })),
        any::<u64>().prop_map(|epoch| Body::Hello(Hello { epoch })),
        (
            any::<u64>(),
            prop_oneof![
                Just(MsgType::RekeyInit),
                Just(MsgType::RekeyDone),
                Just(MsgType::Delete),
                Just(MsgType::InvalidSpi),
                Just(MsgType::Hello)
            ],
            prop_oneof![
                Just(AckStatus::Ok),
                Just(AckStatus::Unknown),
                Just(AckStatus::Rejected),
                Just(AckStatus::TemporaryFailure)
            ]
        )
            .prop_map(|(echo, acked, status)| Body::Ack(Ack { echo, acked, status })),
    ]
}

fn arb_message() -> impl Strategy<Value = Message> {
    (any::<u32>(), any::<u64>(), arb_body()).prop_map(|(t, msg_id, body)| Message {
        tunnel_id: crate::peer::TunnelId(t),
        msg_id,
        body,
    })
}

/// One step of a hostile or chaotic environment around a `Peer`.
#[derive(Clone, Debug)]
enum Op {
    /// An authentic message (right key and tunnel) with an arbitrary body and id.
    Authentic(u64, Body),
    /// Arbitrary bytes.
    Raw(Vec<u8>),
    /// Time passes, then timers run.
    Wait(u64),
    Rekey,
    Clear,
    InvalidSpiSeen(u32),
    Forget(u32),
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u64..64, arb_body()).prop_map(|(d, b)| Op::Authentic(d, b)),
        2 => prop::collection::vec(any::<u8>(), 0..120).prop_map(Op::Raw),
        4 => (0u64..5_000_000_000).prop_map(Op::Wait),
        1 => Just(Op::Rekey),
        1 => Just(Op::Clear),
        1 => arb_spi().prop_map(Op::InvalidSpiSeen),
        1 => arb_spi().prop_map(Op::Forget),
    ]
}

/// The data plane as the actions describe it, checked against the peer's own view.
#[derive(Default)]
struct Shadow {
    inbound: BTreeSet<u32>,
    outbound: Option<u32>,
}

impl Shadow {
    fn apply(&mut self, a: Action) -> Result<(), String> {
        match a {
            Action::PublishInbound(p) => {
                if !self.inbound.insert(p.spi) {
                    return Err(format!("published {:#x} twice", p.spi));
                }
                if p.keys.key().len() != p.aead.key_len() {
                    return Err("key length".into());
                }
            }
            Action::UnpublishInbound { spi } => {
                if !self.inbound.remove(&spi) {
                    return Err(format!("unpublished unknown {spi:#x}"));
                }
            }
            Action::SwitchOutbound(p) => self.outbound = Some(p.spi),
            Action::RemoveOutbound { spi } => {
                if self.outbound != Some(spi) {
                    return Err(format!("removed outbound {spi:#x} not in use"));
                }
                self.outbound = None;
            }
            Action::Send(bytes) => {
                Message::decode_unauthenticated(&bytes).map_err(|e| format!("sent bad: {e}"))?;
            }
            Action::PeerDead | Action::PeerAlive | Action::Log(_) => {}
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..700)) {
        let _ = Message::decode_unauthenticated(&bytes);
        let key = MacKey::derive(b"k", TUNNEL);
        let _ = auth::open(&bytes, TUNNEL, &key, &mut ReplayWindow::default());
    }

    #[test]
    fn encode_then_decode_is_identity(m in arb_message()) {
        let key = MacKey::derive(PSK, m.tunnel_id);
        let bytes = m.to_bytes(&key);
        prop_assert_eq!(Message::decode_unauthenticated(&bytes), Ok(m.clone()));
        let opened = auth::open(&bytes, m.tunnel_id, &key, &mut ReplayWindow::default());
        prop_assert_eq!(opened, Ok(m));
    }

    #[test]
    fn damaged_encodings_never_panic_and_never_authenticate(
        m in arb_message(),
        at in any::<prop::sample::Index>(),
        xor in 1u8..=255,
        cut in any::<prop::sample::Index>(),
        extra in prop::collection::vec(any::<u8>(), 1..8),
    ) {
        let key = MacKey::derive(PSK, m.tunnel_id);
        let bytes = m.to_bytes(&key);
        let mut flipped = bytes.clone();
        let i = at.index(bytes.len());
        flipped[i] ^= xor;
        let mut longer = bytes.clone();
        longer.extend_from_slice(&extra);
        for d in [flipped, bytes[..cut.index(bytes.len())].to_vec(), longer] {
            let _ = Message::decode_unauthenticated(&d);
            let r = auth::open(&d, m.tunnel_id, &key, &mut ReplayWindow::default());
            prop_assert!(r.is_err(), "damaged datagram accepted: {:?}", r);
        }
    }

    #[test]
    fn peer_survives_any_sequence_of_inputs(ops in prop::collection::vec(arb_op(), 1..60), seed in any::<u64>()) {
        let cfg = PeerConfig::new(TUNNEL, PSK);
        let initial = InitialSas { outbound: Some(0x1000), inbound: vec![0x1001] };
        let mut alloc = Alloc::seeded(seed);
        alloc.in_use.insert(0x1001);
        let mut now = 1_000;
        let mut peer = Peer::new(cfg, initial, now, 1 << 60, StdRng::seed_from_u64(seed)).unwrap();
        let mut shadow = Shadow { inbound: [0x1001].into(), outbound: Some(0x1000) };
        let key = MacKey::derive(PSK, TUNNEL);
        let mut peer_id = 1u64 << 61;
        for op in ops {
            match op {
                Op::Authentic(back, mut body) => {
                    // Echo one of our own recent message ids, so responses can match.
                    match &mut body {
                        Body::RekeyResp(r) => r.echo = (1 << 60) + r.echo % 128,
                        Body::Ack(a) => a.echo = (1 << 60) + a.echo % 128,
                        _ => {}
                    }
                    // Mostly fresh ids, sometimes old ones (replays of a sort).
                    let id = peer_id - back;
                    peer_id += 1;
                    let bytes = Message { tunnel_id: TUNNEL, msg_id: id, body }.to_bytes(&key);
                    peer.handle_datagram(now, &bytes, &mut alloc);
                }
                Op::Raw(b) => peer.handle_datagram(now, &b, &mut alloc),
                Op::Wait(d) => {
                    now += d;
                    if peer.poll_timeout().is_some_and(|t| t <= now) {
                        peer.handle_timeout(now, &mut alloc);
                    }
                }
                Op::Rekey => peer.rekey_now(now, RekeyReason::Manual, &mut alloc),
                Op::Clear => peer.clear(now, &mut alloc),
                Op::InvalidSpiSeen(spi) => {
                    peer.invalid_spi_seen(now, spi, [10, 0, 0, 1].into(), [10, 0, 0, 2].into());
                }
                Op::Forget(spi) => {
                    peer.debug_forget_inbound(spi, &mut alloc);
                }
            }
            while let Some(a) = peer.poll_action() {
                shadow.apply(a).map_err(TestCaseError::fail)?;
            }
            // The peer's view, the data plane's and the allocator's agree at every step.
            let booked: BTreeSet<u32> = peer.inbound_spis().into_iter().collect();
            prop_assert_eq!(&booked, &shadow.inbound);
            prop_assert_eq!(peer.outbound_spi(), shadow.outbound);
            prop_assert!(alloc.bad_releases.is_empty(), "released SPIs not in use: {:x?}", alloc.bad_releases);
            prop_assert!(booked.is_subset(&alloc.in_use));
            // In use but not published: at most the SPI of our REKEY_INIT in flight.
            prop_assert!(alloc.in_use.len() <= booked.len() + 1);
            prop_assert!(peer.poll_timeout().is_some());
        }
    }
}

impl Alloc {
    fn seeded(seed: u64) -> Alloc {
        Alloc::new(StdRng::seed_from_u64(seed ^ 0xa110c))
    }
}

#[test]
fn allocator_shadow_detects_a_leak() {
    // The invariant checks above can fail: an SPI allocated and never published or
    // released is visible.
    let mut a = Alloc::seeded(1);
    let spi = a.allocate().unwrap();
    assert!(a.in_use.contains(&spi));
    a.release(spi);
    a.release(spi);
    assert_eq!(a.bad_releases, vec![spi]);
}
