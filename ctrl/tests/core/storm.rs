//! Rekey storms: both gateways rekey every 10 ms (`--rekey-every`) for 4 s of simulated
//! time, traffic both ways, every packet counted. Make-before-break loses none;
//! outbound-first (CSCty30063) loses some; a lossy, duplicating, reordering peer link
//! slows the exchanges but loses no data packet and the tunnel converges.

use ctrl::gateway::core::CoreSettings;
use ctrl::peer::RekeyOrder;
use dataplane::DropReason;

use crate::sim::*;

fn settings(order: RekeyOrder) -> CoreSettings {
    CoreSettings { rekey_order: order, rekey_every_ms: Some(10), ..CoreSettings::default() }
}

/// Runs the storm, then stops the rekeys and lets the overlaps run out.
fn storm(order: RekeyOrder, link: Link, seed: u64) -> Sim {
    let s = settings(order);
    let mut sim = Sim::new(Params { link, settings: [s.clone(), s], seed, ..Params::default() });
    sim.run_until(4 * S);
    for i in 0..2 {
        sim.with(i, |core, _, _| core.set_rekey_every(None));
    }
    // Traffic goes on while the last exchanges finish and the old SAs retire.
    sim.run_until(7 * S);
    sim.drain();
    sim
}

/// Both sides idle with one SA pair: each encrypts with the SPI the other decrypts.
fn assert_converged(sim: &Sim) {
    for i in 0..2 {
        let (me, other) = (&sim.nodes[i], &sim.nodes[1 - i]);
        let p = me.core.peer(0).unwrap();
        assert!(p.is_idle(), "node {i} still busy: {:?}", p.exchange_state());
        assert_eq!(me.inbound_spis().len(), 1, "node {i}: old SAs retired after the overlap");
        let out = me.outbound_spi().expect("an outbound SA");
        assert_eq!(
            other.inbound_spis(),
            vec![out],
            "node {i} encrypts for what node {} decrypts",
            1 - i
        );
        assert_ne!(out, STATIC_OUT[i], "node {i} was rekeyed");
    }
}

#[test]
fn rekey_storm_make_before_break_loses_no_packet() {
    let sim = storm(RekeyOrder::MakeBeforeBreak, Link::clean(), 1);
    sim.report("make-before-break");
    for (i, f) in sim.flows.iter().enumerate() {
        assert!(f.sent >= 30_000, "{f:?}");
        assert_eq!(f.lost(), 0, "flow {i}: {f:?}");
        assert_eq!(f.duplicates, 0);
    }
    let mut rekeys = 0;
    for n in &sim.nodes {
        assert_eq!(n.drops(DropReason::SaNotFoundV4), 0);
        assert_eq!(n.drops(DropReason::OutSaNotFoundV4), 0);
        assert_eq!(n.totals().counters.total_drops(), 0, "no drop of any kind");
        let s = n.core.peer(0).unwrap().stats();
        assert_eq!(s.rx_forged + s.rx_replayed + s.rx_malformed, 0);
        assert_eq!(s.invalid_spi_sent, 0, "no unknown SPI ever seen");
        rekeys += n.gw.tunnels()[0].rekeys;
    }
    assert!(rekeys >= 400, "rekeys kept completing: {rekeys}");
    assert_converged(&sim);
}

#[test]
fn rekey_storm_outbound_first_loses_packets() {
    let sim = storm(RekeyOrder::OutboundFirst, Link::clean(), 1);
    sim.report("outbound-first");
    let lost: u64 = sim.flows.iter().map(Flow::lost).sum();
    assert!(lost > 0, "CSCty30063: the responder switched before the initiator published");
    // Every loss is an unknown SPI at the receiver: the SA was not there yet.
    let no_spi: u64 = sim.nodes.iter().map(|n| n.drops(DropReason::SaNotFoundV4)).sum();
    assert_eq!(no_spi, lost);
    assert!(sim.flows.iter().all(|f| f.duplicates == 0));
    assert_converged(&sim);
}

#[test]
fn rekey_storm_over_a_lossy_duplicating_reordering_peer_link() {
    let link = Link { delay: MS, jitter: 3 * MS, loss: 0.1, dup: 0.1 };
    let sim = storm(RekeyOrder::MakeBeforeBreak, link, 7);
    sim.report("lossy link");
    for (i, f) in sim.flows.iter().enumerate() {
        assert_eq!(f.lost(), 0, "flow {i}: {f:?}");
    }
    let mut completed = 0;
    let mut replayed = 0;
    for n in &sim.nodes {
        let s = n.core.peer(0).unwrap().stats();
        completed += s.rekeys_completed;
        replayed += s.rx_replayed;
        assert!(s.tx_retransmits > 0, "lost messages were retransmitted");
    }
    assert!(replayed > 0, "duplicated messages were refused as replays");
    // Lost messages wait for their retransmission (200 ms, doubling): fewer complete.
    assert!(completed >= 40, "rekeys kept completing: {completed}");
    assert_converged(&sim);
}

/// A data flood that keeps both unprotected tx queues full (8 packets a step each way; the
/// wire frees 16 places every 4 steps, none in between) does not stall the rekeys: worker 0 sends the peer-channel frames first and
/// keeps the refused ones, so every exchange completes, no request is given up, and every
/// lost data packet is a `TxFull` of its sender. (Before, the peer-channel frames died as
/// `TxFull` with the data and the rekeys stalled.)
#[test]
fn rekeys_complete_under_a_data_flood_that_fills_the_tx_queue() {
    let s = CoreSettings { rekey_every_ms: Some(50), ..CoreSettings::default() };
    let mut sim = Sim::new(Params {
        settings: [s.clone(), s],
        tx_room: Some((16, 4)),
        flood: 8,
        ..Params::default()
    });
    sim.run_until(2 * S);
    for i in 0..2 {
        sim.with(i, |core, _, _| core.set_rekey_every(None));
    }
    sim.run_until(3 * S);
    sim.drain();
    sim.report("flood");
    for i in 0..2 {
        let n = &sim.nodes[i];
        let st = n.core.peer(0).unwrap().stats();
        assert!(st.rekeys_completed >= 20, "node {i}: {st:?}");
        assert_eq!(st.requests_given_up, 0, "node {i}: {st:?}");
        assert_eq!(n.gw.tunnels()[0].rekeys, st.rekeys_completed, "node {i}");
        let f = &sim.flows[i];
        assert!(f.lost() > f.sent / 4, "the data did overflow: {f:?}");
        assert_eq!(f.lost(), n.drops(DropReason::TxFull), "flow {i}: every loss is TxFull");
    }
}
