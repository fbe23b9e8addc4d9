//! Lifetimes trigger rekeys before anything is dropped: a soft packet limit, a soft byte
//! limit, and the outbound sequence number nearing its end.

use dataplane::sa::seq_soft_limit;
use dataplane::{DropReason, Sa, SaConfig, SaDirection};

use crate::sim::*;

fn run_with_lifetime(lifetime: &'static str) -> Sim {
    let mut sim = Sim::new(Params { lifetime, ..Params::default() });
    sim.run_until(6 * S);
    sim.drain();
    sim
}

fn assert_rekeyed_before_hard(sim: &Sim, what: &str) {
    sim.report(what);
    for (i, n) in sim.nodes.iter().enumerate() {
        assert_eq!(n.drops(DropReason::OutHardExpiry), 0, "{what}: node {i}");
        assert_eq!(n.drops(DropReason::InHardExpiry), 0, "{what}: node {i}");
        assert_eq!(n.totals().counters.total_drops(), 0, "{what}: node {i}");
        assert!(n.gw.tunnels()[0].rekeys >= 3, "{what}: node {i} rekeyed several times");
    }
    let soft: u64 = sim.nodes.iter().map(|n| n.core.triggers(0).unwrap().soft_lifetime).sum();
    assert!(soft >= 3, "{what}: soft lifetimes triggered the rekeys ({soft})");
    for f in &sim.flows {
        assert!(f.sent >= 30_000);
        assert_eq!(f.lost(), 0, "{what}: {f:?}");
    }
}

#[test]
fn a_soft_packet_limit_rekeys_before_the_hard_limit_drops_anything() {
    // 5000 packets a second each way: soft every 0.4 s (plus up to 1 s of jitter), hard
    // after 4 s.
    let sim = run_with_lifetime("soft_packets = 2000\nhard_packets = 20000");
    assert_rekeyed_before_hard(&sim, "soft packets");
}

#[test]
fn a_soft_byte_limit_rekeys_before_the_hard_limit_drops_anything() {
    let sim = run_with_lifetime("soft_bytes = 100000\nhard_bytes = 1000000");
    assert_rekeyed_before_hard(&sim, "soft bytes");
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn sequence_exhaustion_rekeys_at_once() {
    let mut sim = Sim::new(Params::default());
    sim.run_until(200 * MS);
    // A's outbound SA, same SPI and keys, but 100 packets short of the point where the
    // sequence space is nearly spent (without ESN: 2^32 - 1 - 2^32/16).
    sim.with(0, |_, gw, now| {
        let t = gw.tunnels()[0].template.clone();
        assert!(!t.esn);
        let key = unhex("00112233445566778899aabbccddeeff");
        let sa = Sa::new(SaConfig {
            spi: STATIC_OUT[0],
            direction: SaDirection::Outbound,
            key: &key,
            salt: [1, 2, 3, 4],
            esn: false,
            tunnel: t.tunnel,
            selectors: t.selectors.clone(),
            lifetime: t.lifetime,
            replay_window: 0,
            created_ns: now,
            initial_seq: seq_soft_limit(false) - 100,
        })
        .unwrap();
        gw.switch_outbound(0, Some(sa)).unwrap();
    });
    sim.run_until(2 * S);
    sim.drain();
    sim.report("sequence exhaustion");
    let a = &sim.nodes[0];
    assert_eq!(a.core.triggers(0).unwrap().seq_exhausted, 1);
    assert_eq!(a.core.triggers(0).unwrap().soft_lifetime, 0);
    assert_ne!(a.outbound_spi(), Some(STATIC_OUT[0]), "rekeyed");
    assert_eq!(a.drops(DropReason::SeqOverflow), 0);
    for f in &sim.flows {
        assert_eq!(f.lost(), 0, "{f:?}");
    }
}
