//! Hostile input: forged, damaged, truncated, replayed, misrouted and garbage datagrams
//! change nothing and are each counted under exactly one reason. The same message, intact,
//! is then shown to act, so that these tests would notice a check that lets it through.

use rand::{Rng, RngExt, SeedableRng, rngs::StdRng};

use super::sim::*;
use crate::peer::PeerStats;
use crate::peer::auth::MacKey;
use crate::peer::msg::{
    AddrPair, Body, Delete, DeleteEntry, Hello, InvalidSpi, Message, RekeyDone, RekeyInit, SpiSide,
    TunnelId,
};
use crate::peer::{Aead, ExchangeState};

/// Everything a rejected datagram must leave alone.
#[derive(Debug, PartialEq)]
struct Snapshot {
    outbound: Option<u32>,
    inbound: Vec<u32>,
    exchange: ExchangeState,
    trace_len: usize,
    accepted: u64,
    sent: u64,
}

fn snapshot(sim: &Sim, i: usize) -> Snapshot {
    let p = &sim.nodes[i].peer;
    Snapshot {
        outbound: p.outbound_spi(),
        inbound: p.inbound_spis(),
        exchange: p.exchange_state(),
        trace_len: sim.nodes[i].trace.len(),
        accepted: p.stats().rx_accepted,
        sent: p.stats().tx_messages,
    }
}

fn rejected(s: &PeerStats) -> u64 {
    s.rx_forged + s.rx_malformed + s.rx_replayed + s.rx_wrong_tunnel
}

/// Messages that would each do damage if B accepted them.
fn harmful(sim: &Sim) -> Vec<Body> {
    let (a, b) = (sim.nodes[0].addr, sim.nodes[1].addr);
    vec![
        Body::Delete(Delete {
            entries: vec![
                DeleteEntry { side: SpiSide::Sender, spi: INITIAL_B_TO_A },
                DeleteEntry { side: SpiSide::Receiver, spi: INITIAL_A_TO_B },
            ],
        }),
        Body::InvalidSpi(InvalidSpi { spi: INITIAL_B_TO_A, addrs: AddrPair::new(a, b).unwrap() }),
        Body::RekeyInit(RekeyInit {
            nonce: [7; 32],
            public: [9; 32],
            spi: 0x4444,
            aead: Aead::Aes128Gcm,
            esn: true,
        }),
        Body::RekeyDone(RekeyDone { spi_i: 0x4444, spi_r: 0x5555 }),
        Body::Hello(Hello { epoch: u64::MAX / 2 }),
    ]
}

fn fresh_id(sim: &Sim) -> u64 {
    // Far above anything A sent: a forgery's best chance, and it must not move the window.
    sim.nodes[0].peer.stats().tx_messages + WALL_BASE + 1_000_000
}

#[test]
fn forged_damaged_truncated_misrouted_and_garbage_datagrams_change_nothing() {
    let mut sim = Sim::new(Params::default());
    sim.run_until(S);
    let before = snapshot(&sim, 1);
    let base = sim.nodes[1].peer.stats().clone();
    assert_eq!(rejected(&base), 0);
    let id = fresh_id(&sim);
    let right = MacKey::derive(PSK, TUNNEL);
    let mut expected = PeerStats { ..base.clone() };

    // Wrong PSK.
    let wrong = MacKey::derive(b"not the psk", TUNNEL);
    for (k, body) in harmful(&sim).into_iter().enumerate() {
        let m = Message { tunnel_id: TUNNEL, msg_id: id + k as u64, body };
        sim.inject(1, &m.to_bytes(&wrong));
        expected.rx_forged += 1;
    }
    // Right key, another tunnel's id (misrouted, or another tunnel sharing the PSK).
    for body in harmful(&sim) {
        let m = Message { tunnel_id: TunnelId(TUNNEL.0 ^ 1), msg_id: id, body };
        sim.inject(1, &m.to_bytes(&right));
        expected.rx_wrong_tunnel += 1;
    }
    // Every single-bit flip and every truncation of a genuine, fresh DELETE.
    let delete = Message { tunnel_id: TUNNEL, msg_id: id, body: harmful(&sim).remove(0) };
    let genuine = delete.to_bytes(&right);
    for bit in 0..genuine.len() * 8 {
        let mut d = genuine.clone();
        d[bit / 8] ^= 1 << (bit % 8);
        sim.inject(1, &d);
    }
    for len in 0..genuine.len() {
        sim.inject(1, &genuine[..len]);
    }
    // Authentic but malformed payload (DELETE with no entry): counted, not acted on.
    let mut bad = Vec::new();
    Message { tunnel_id: TUNNEL, msg_id: id, body: Body::Hello(Hello { epoch: 1 }) }
        .emit_signed_part(&mut bad);
    bad[3] = 4; // type DELETE, payload "00 00 00 00 00 00 00 01": count 0
    let tag = right.tag(&bad);
    bad.extend_from_slice(&tag);
    sim.inject(1, &bad);
    expected.rx_malformed += 1;
    // Garbage.
    let mut rng = StdRng::seed_from_u64(5);
    for _ in 0..2000 {
        let len = rng.random_range(0..200);
        let mut g = vec![0u8; len];
        rng.fill_bytes(&mut g);
        if rng.random_bool(0.5) && len >= 4 {
            g[..4].copy_from_slice(&[b'Q', b'P', 1, rng.random_range(1..=7)]);
        }
        sim.inject(1, &g);
    }
    let garbage = 2000u64;

    sim.run_until(2 * S);
    let after = sim.nodes[1].peer.stats().clone();
    // Nothing changed and B did not send or do anything (not even an ACK).
    assert_eq!(snapshot(&sim, 1), before);
    // Bit flips: magic, version, reserved and length (48 bits) break the framing; the
    // tunnel id (32 bits) misroutes; every other bit breaks the tag. Cuts break the framing.
    let bits = genuine.len() as u64 * 8;
    expected.rx_malformed += 48 + genuine.len() as u64;
    expected.rx_wrong_tunnel += 32;
    expected.rx_forged += bits - 80;
    assert_eq!(after.rx_wrong_tunnel, expected.rx_wrong_tunnel);
    assert_eq!(after.rx_replayed, expected.rx_replayed);
    // Garbage is malformed, or at best forged.
    assert_eq!(
        after.rx_forged + after.rx_malformed,
        expected.rx_forged + expected.rx_malformed + garbage
    );
    assert!(after.rx_malformed >= expected.rx_malformed + garbage - 5, "{after:?}");
    assert_eq!(rejected(&after) - rejected(&base), 10 + bits + genuine.len() as u64 + 1 + garbage);
    let rejects = sim.count_events(1, |e| matches!(e, crate::peer::Event::Rejected { .. }));
    assert!(rejects <= 3, "logs are rate-limited per kind: {rejects}");
    for f in &sim.flows {
        assert_eq!(f.sa_lost(), 0);
    }

    // The intact DELETE does act: B drops the SA pair at once, and the tunnel repairs. (Sent
    // with the id A will use next, not the far one above, which would lock A's own messages
    // out of B's window: A's next message is then refused as a duplicate and retransmitted.)
    let last = sim.sent_datagrams[0].last().unwrap();
    let next = Message::decode_unauthenticated(last).unwrap().msg_id + 1;
    let genuine = Message { msg_id: next, ..delete }.to_bytes(&right);
    sim.inject(1, &genuine);
    sim.run_until(6 * S);
    assert_eq!(sim.nodes[1].peer.stats().deletes_received, 1);
    assert_eq!(sim.count_trace(1, |t| *t == Trace::RemoveOut(INITIAL_B_TO_A)), 1);
    assert_eq!(sim.count_trace(1, |t| *t == Trace::Unpublish(INITIAL_A_TO_B)), 1);
    sim.check_consistent().unwrap();
    assert_ne!(sim.nodes[1].peer.outbound_spi(), Some(INITIAL_B_TO_A));
}

#[test]
fn replayed_copies_of_genuine_messages_change_nothing() {
    let mut sim = Sim::new(Params::default());
    sim.run_until(S);
    // A genuine history: a rekey, an INVALID_SPI for an unknown SPI, a DELETE of nothing.
    sim.rekey(0);
    sim.run_until(2 * S);
    let (src, dst) = (sim.nodes[0].addr, sim.nodes[1].addr);
    sim.with_peer(0, |p, _, now| {
        p.invalid_spi_seen(now, 0x7777, dst, src);
    });
    sim.run_until(5 * S);
    let history = sim.sent_datagrams[0].clone();
    assert!(history.len() >= 5, "INIT, DONE, INVALID_SPI, ACKs, HELLO");
    let before = snapshot(&sim, 1);
    let base = sim.nodes[1].peer.stats().clone();
    for d in &history {
        sim.inject(1, d);
    }
    sim.run_until(6 * S);
    let after = sim.nodes[1].peer.stats();
    assert_eq!(after.rx_replayed - base.rx_replayed, history.len() as u64);
    // Only what A genuinely sent meanwhile (HELLO, ACKs) was accepted.
    let new_genuine = (sim.sent_datagrams[0].len() - history.len()) as u64;
    assert_eq!(after.rx_accepted - base.rx_accepted, new_genuine);
    let now = snapshot(&sim, 1);
    assert_eq!(
        (now.outbound, now.inbound, now.exchange),
        (before.outbound, before.inbound, before.exchange)
    );
    assert_eq!(after.rekeys_responded, base.rekeys_responded);
    assert_eq!(after.rekeys_completed, base.rekeys_completed);
    assert_eq!(after.invalid_spi_not_ours, base.invalid_spi_not_ours);
    assert_eq!(base.invalid_spi_not_ours, 1, "the genuine notify was handled once");
    sim.check_consistent().unwrap();
    for f in &sim.flows {
        assert_eq!(f.sa_lost(), 0);
    }
}
