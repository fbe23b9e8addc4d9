//! Out-of-sync SAs and the operator's commands: `debug forget-sa` with and without
//! invalid-SPI recovery, `clear sa peer`, and forged or replayed peer messages.

use ctrl::gateway::core::CoreSettings;
use ctrl::gateway::invalid_spi::InvalidSpiSettings;
use dataplane::DropReason;

use crate::sim::*;

fn with_recovery(on: bool) -> Params {
    let s = CoreSettings {
        invalid_spi: InvalidSpiSettings { recovery: on, ..InvalidSpiSettings::default() },
        ..CoreSettings::default()
    };
    Params { settings: [s.clone(), s], ..Params::default() }
}

fn ios_lines(log: &[String]) -> Vec<&String> {
    log.iter().filter(|l| l.starts_with("%CRYPTO-4-RECVD_PKT_INV_SPI:")).collect()
}

/// A forgets its inbound SA (B's outbound) at 1 s, without telling B.
fn forget_at_1s(sim: &mut Sim) -> u64 {
    sim.run_until(S);
    let forgotten = sim.nodes[1].outbound_spi().unwrap();
    let msg = sim.with(0, |core, gw, now| core.forget_sa(gw, now, forgotten)).unwrap();
    assert!(msg.contains("forgotten"), "{msg}");
    assert!(!sim.nodes[0].inbound_spis().contains(&forgotten));
    sim.flows[1].sent
}

#[test]
fn a_forgotten_sa_is_repaired_by_invalid_spi_recovery() {
    forgotten_sa_repaired(false);
}

#[test]
fn a_forgotten_sa_is_repaired_over_nat_t_too() {
    forgotten_sa_repaired(true);
}

/// `tunnels[].rekeys` counts every exchange that installed a new outbound SA, as the peer
/// channel's `rekeys_completed` does, also when a clear or a repair had removed the SA
/// (before, those were not counted: no SA was replaced), and at least one happened.
fn assert_rekeys_are_the_exchanges(sim: &Sim) {
    for (i, n) in sim.nodes.iter().enumerate() {
        let done = n.core.peer(0).unwrap().stats().rekeys_completed;
        assert!(done >= 1, "node {i}: an exchange completed");
        assert_eq!(n.gw.tunnels()[0].rekeys, done, "node {i}");
    }
}

fn forgotten_sa_repaired(natt: bool) {
    let mut sim = Sim::new(Params { natt, ..with_recovery(true) });
    let from = forget_at_1s(&mut sim);
    let forgotten = sim.nodes[1].outbound_spi().unwrap();
    sim.run_until(6 * S);
    sim.drain();
    sim.report("desync with recovery");
    let (a, b) = (&sim.nodes[0], &sim.nodes[1]);
    // Detected and logged once, in the IOS form, naming the SPI and the flow.
    let lines = ios_lines(a.log());
    assert_eq!(lines.len(), 1, "{:?}", a.log());
    let spi = format!("spi=0x{forgotten:08X}({forgotten})");
    assert!(
        lines[0].contains(&spi)
            && lines[0].contains("destaddr=172.16.1.5, prot=50")
            && lines[0].ends_with("srcaddr=172.16.2.5"),
        "{}",
        lines[0]
    );
    // Repaired: A told B, B dropped the stale SA and rekeyed; the flow is back.
    assert!(a.core.peer(0).unwrap().stats().invalid_spi_sent >= 1);
    assert_eq!(b.core.peer(0).unwrap().stats().invalid_spi_acted, 1);
    assert_ne!(b.outbound_spi(), Some(forgotten));
    assert_rekeys_are_the_exchanges(&sim);
    let f = &sim.flows[1];
    // Packets already on the wire under the forgotten SPI count too (1 ms of them).
    let lost = f.lost_from(from - 20);
    assert!(lost > 0 && lost == f.lost(), "only the desync lost packets: {f:?}");
    // Repaired within the first notify's round trip plus the rekey: well under a second
    // of traffic (5000 packets at one per 200 µs).
    assert!(lost < 5000, "{lost} lost");
    assert!(f.whole_from() < from + 5000, "every packet from then on arrived: {f:?}");
    // Lost at A as an unknown SPI until B heard of it, then at B without an outbound SA
    // until the new pair was up.
    assert_eq!(a.drops(DropReason::SaNotFoundV4) + b.drops(DropReason::OutSaNotFoundV4), f.lost());
    assert_eq!(sim.flows[0].lost(), 0, "the other direction never noticed");
    let j = a.core.invalid_spi().json(sim.now);
    assert_eq!(j.flows.len(), 1);
    assert_eq!(j.flows[0].udp_encap, natt);
    assert_eq!(j.flows[0].state, "transient", "repaired before it could become a black hole");
    assert!(j.flows[0].notifies >= 1);
}

#[test]
fn without_recovery_a_forgotten_sa_stays_black_holed_and_is_out_of_sync() {
    let mut sim = Sim::new(with_recovery(false));
    let from = forget_at_1s(&mut sim);
    let forgotten = sim.nodes[1].outbound_spi().unwrap();
    sim.run_until(7 * S);
    sim.drain();
    let a = &sim.nodes[0];
    let f = &sim.flows[1];
    assert!(f.received <= from, "nothing arrived after the desync");
    assert!(f.lost_from(from) > 25_000, "{f:?}");
    assert_eq!(sim.nodes[1].outbound_spi(), Some(forgotten), "B still sends into the hole");
    assert_eq!(a.core.peer(0).unwrap().stats().invalid_spi_sent, 0);
    assert_eq!(sim.nodes[1].core.peer(0).unwrap().stats().invalid_spi_acted, 0);
    let j = a.core.invalid_spi().json(sim.now);
    assert_eq!(j.flows.len(), 1);
    let flow = &j.flows[0];
    assert_eq!((flow.state, flow.spi), ("out-of-sync", forgotten));
    assert!(flow.intervals >= 3 && flow.reports >= 5, "{flow:?}");
    assert_eq!(ios_lines(a.log()).len(), 1, "once a minute: one line in 6 s");
    assert!(
        a.log().iter().any(|l| l.contains("out of sync") && l.contains("recovery is off")),
        "{:?}",
        a.log()
    );
    assert_eq!(a.core.invalid_spi().out_of_sync_now(sim.now), 1);
    assert_eq!(sim.flows[0].lost(), 0);
}

#[test]
fn clear_sa_deletes_tells_the_peer_and_brings_a_new_pair_up() {
    let mut sim = Sim::new(Params::default());
    sim.run_until(S);
    let before = [sim.nodes[0].outbound_spi().unwrap(), sim.nodes[1].outbound_spi().unwrap()];
    let from = [sim.flows[0].sent, sim.flows[1].sent];
    let msg = sim.with(0, |core, gw, now| core.clear(gw, now, "172.16.2.5")).unwrap();
    assert!(msg.contains("cleared 1 inbound SA(s) and the outbound SA"), "{msg}");
    assert_eq!(sim.nodes[0].outbound_spi(), None, "deleted at once");
    sim.run_until(3 * S);
    sim.drain();
    sim.report("clear");
    for i in 0..2 {
        let out = sim.nodes[i].outbound_spi().expect("a new outbound SA");
        assert_ne!(out, before[i]);
        assert_eq!(sim.nodes[1 - i].inbound_spis(), vec![out]);
        // The tunnel is back: after a short gap every packet arrives.
        let f = &sim.flows[i];
        assert!(f.whole_from() < from[i] + 500, "flow {i} back within 100 ms: {f:?}");
    }
    assert_eq!(sim.nodes[1].core.peer(0).unwrap().stats().deletes_received, 1);
    assert_rekeys_are_the_exchanges(&sim);
    assert_eq!(sim.with(0, |core, _, _| core.triggers(0).unwrap().cleared), 1);
    // A tunnel nobody has: refused with the names it knows.
    let e = sim.with(0, |core, gw, now| core.clear(gw, now, "9.9.9.9")).unwrap_err();
    assert!(e.contains("to-b (172.16.2.5)"), "{e}");
}

#[test]
fn forged_and_replayed_peer_messages_are_counted_and_change_nothing() {
    let mut sim = Sim::new(Params::default());
    sim.run_until(500 * MS);
    sim.with(1, |core, gw, now| core.rekey(gw, now, None)).unwrap();
    sim.run_until(S);
    let spis =
        |sim: &Sim| [0, 1].map(|i| (sim.nodes[i].outbound_spi(), sim.nodes[i].inbound_spis()));
    // Let the rekey's overlap run out so the state is steady.
    sim.run_until(4 * S);
    let steady = spis(&sim);
    let old: Vec<Vec<u8>> =
        sim.control_frames.iter().filter(|(to, _)| *to == 0).map(|(_, f)| f.clone()).collect();
    assert!(old.len() >= 3, "the rekey's messages to A were captured");
    let accepted = sim.nodes[0].core.peer(0).unwrap().stats().rx_accepted;
    // Replays of everything B ever sent A, and forgeries: each message with one bit of
    // its tag flipped, and one of its payload.
    for f in &old {
        sim.inject_wan(0, f.clone());
        let mut tag = f.clone();
        *tag.last_mut().unwrap() ^= 1;
        sim.inject_wan(0, tag);
    }
    sim.run_until(5 * S);
    sim.drain();
    let s = sim.nodes[0].core.peer(0).unwrap().stats().clone();
    assert_eq!(s.rx_replayed, old.len() as u64, "{s:?}");
    assert_eq!(s.rx_forged, old.len() as u64, "{s:?}");
    // HELLOs may have been accepted meanwhile; nothing a forgery or replay would do.
    assert_eq!(s.rekeys_responded, 1);
    assert!(s.rx_accepted >= accepted);
    assert_eq!(spis(&sim), steady, "no SA changed");
    assert!(sim.flows.iter().all(|f| f.lost() == 0));
    assert!(
        sim.nodes[0].log().iter().any(|l| l.contains("refused Forged")),
        "{:?}",
        sim.nodes[0].log()
    );
}

#[test]
fn a_peer_that_stops_answering_is_dead_until_it_answers_and_then_rekeyed() {
    let mut sim = Sim::new(Params { data_interval: MS, ..Params::default() });
    sim.run_until(S);
    sim.link_down = true;
    let msg = sim.with(0, |core, gw, now| core.rekey(gw, now, Some("to-b"))).unwrap();
    assert!(msg.contains("REKEY_INIT sent"), "{msg}");
    // REKEY_INIT goes unanswered 6 times (200 ms doubling to 3.2 s): dead after ~9.4 s.
    sim.run_until(11 * S);
    assert!(!sim.nodes[0].core.peer_alive(0), "{:?}", sim.nodes[0].log());
    assert!(sim.nodes[0].log().iter().any(|l| l.contains("does not answer")));
    assert_eq!(sim.nodes[0].outbound_spi(), Some(STATIC_OUT[0]), "the old SA stays meanwhile");
    let msg = sim.with(0, |core, gw, now| core.rekey(gw, now, None)).unwrap();
    assert!(msg.contains("the peer does not answer"), "{msg}");
    sim.link_down = false;
    let back = [sim.flows[0].sent, sim.flows[1].sent];
    sim.run_until(20 * S);
    sim.drain();
    sim.report("outage");
    for i in 0..2 {
        let n = &sim.nodes[i];
        assert!(n.core.peer_alive(0), "node {i}: {:?}", n.log());
        let out = n.outbound_spi().unwrap();
        assert_ne!(out, STATIC_OUT[i], "node {i}: rekeyed once the peer answered");
        assert_eq!(sim.nodes[1 - i].inbound_spis().last(), Some(&out));
        assert!(sim.flows[i].whole_from() <= back[i] + 10, "flow {i}: {:?}", sim.flows[i]);
    }
    assert!(sim.nodes[0].log().iter().any(|l| l.contains("answers again")));
}
