//! Out-of-sync repair in the simulated pair: INVALID_SPI notifies, `clear sa peer`, a peer
//! that restarts or becomes unreachable. Every data packet counted; losses must stay inside
//! the window between the fault and the repair, measured in simulated time.

use super::sim::*;
use crate::peer::{Event, InvalidSpiOutcome, RekeyReason};
use std::net::IpAddr;

/// Asserts that every packet lost to SA state in flow `f` was lost within `[from, to]`.
fn losses_within(f: &Flow, from: u64, to: u64) {
    for &t in &f.sa_loss_times {
        assert!((from..=to).contains(&t), "packet lost at {t} ns, outside [{from}, {to}]: {f:?}");
    }
}

fn addrs(sim: &Sim, from: usize, to: usize) -> (IpAddr, IpAddr) {
    (sim.nodes[from].addr, sim.nodes[to].addr)
}

#[test]
fn invalid_spi_notify_makes_the_sender_drop_its_stale_sa_and_rekey() {
    let mut sim = Sim::new(Params::default());
    sim.run_until(S);
    // Inject the desync: B forgets the inbound SA A sends with, without telling A.
    sim.with_peer(1, |p, a, _| assert!(p.debug_forget_inbound(INITIAL_A_TO_B, a)));
    let t_fault = sim.now;
    sim.run_until(4 * S);

    let (a, b) = (sim.nodes[0].peer.stats(), sim.nodes[1].peer.stats());
    assert!(b.invalid_spi_sent >= 1);
    assert_eq!(a.invalid_spi_acted, 1);
    assert_eq!(a.rekeys_initiated, 1);
    assert_eq!(
        sim.count_events(0, |e| matches!(
            e,
            Event::RekeyStarted { reason: RekeyReason::InvalidSpi, .. }
        )),
        1
    );
    // A->B lost packets from the fault until the new pair was up, a few control-core
    // round trips (here ~6 ms of simulated time), then nothing; B->A never lost any.
    let ab = &sim.flows[0];
    assert!(ab.lost_no_sa > 0, "the desync did black-hole packets: {ab:?}");
    losses_within(ab, t_fault, t_fault + 20 * MS);
    assert_eq!(sim.flows[1].sa_lost(), 0);
    assert_ne!(sim.nodes[0].peer.outbound_spi(), Some(INITIAL_A_TO_B));
    sim.check_consistent().unwrap();
    for n in &sim.nodes {
        assert_eq!(n.peer.inbound_spis().len(), 1);
    }
}

#[test]
fn invalid_spi_notify_for_an_spi_we_do_not_send_with_is_ignored() {
    let mut sim = Sim::new(Params::default());
    sim.run_until(S);
    let (src, dst) = addrs(&sim, 0, 1);
    sim.with_peer(1, |p, _, now| assert!(p.invalid_spi_seen(now, 0xdead_beef, src, dst)));
    // A second sighting within the holdoff sends nothing more.
    sim.with_peer(1, |p, _, now| assert!(!p.invalid_spi_seen(now, 0xdead_beef, src, dst)));
    sim.run_until(2 * S);
    let (a, b) = (sim.nodes[0].peer.stats(), sim.nodes[1].peer.stats());
    assert_eq!(b.invalid_spi_sent, 1);
    assert_eq!(b.invalid_spi_suppressed, 1);
    assert_eq!(a.invalid_spi_not_ours, 1);
    assert_eq!(a.invalid_spi_acted + a.rekeys_initiated + a.rekeys_responded, 0);
    assert_eq!(sim.nodes[0].peer.outbound_spi(), Some(INITIAL_A_TO_B));
    assert_eq!(
        sim.count_events(0, |e| matches!(
            e,
            Event::InvalidSpiReceived { spi: 0xdead_beef, outcome: InvalidSpiOutcome::NotOurs }
        )),
        1
    );
    for f in &sim.flows {
        assert_eq!(f.sa_lost(), 0);
    }
}

/// A notify naming the SA we switched to a moment ago is a rekey transient (the peer's
/// control core saw our first packets just before it installed the SA): ignored.
#[test]
fn invalid_spi_notify_right_after_a_switch_is_a_transient() {
    let mut sim = Sim::new(Params::default());
    sim.run_until(S);
    sim.rekey(0);
    sim.run_until(S + 50 * MS);
    let out = sim.nodes[0].peer.outbound_spi().unwrap();
    assert_ne!(out, INITIAL_A_TO_B);
    let (src, dst) = addrs(&sim, 0, 1);
    sim.with_peer(1, |p, _, now| assert!(p.invalid_spi_seen(now, out, src, dst)));
    sim.run_until(2 * S + 100 * MS); // past the notifier's 1 s holdoff
    let a = sim.nodes[0].peer.stats();
    assert_eq!((a.invalid_spi_transient, a.invalid_spi_acted), (1, 0));
    assert_eq!(a.rekeys_initiated, 1);
    assert_eq!(sim.nodes[0].peer.outbound_spi(), Some(out));
    // The same notify once the SA is older than the grace period is acted on.
    let (src, dst) = addrs(&sim, 0, 1);
    sim.with_peer(1, |p, _, now| assert!(p.invalid_spi_seen(now, out, src, dst)));
    sim.run_until(3 * S);
    let a = sim.nodes[0].peer.stats();
    assert_eq!(a.invalid_spi_acted, 1);
    assert_eq!(a.rekeys_initiated, 2);
    assert_ne!(sim.nodes[0].peer.outbound_spi(), Some(out));
    sim.check_consistent().unwrap();
}

#[test]
fn clear_deletes_both_sides_and_brings_up_a_new_pair_by_itself() {
    let mut sim = Sim::new(Params::default());
    sim.run_until(S);
    sim.with_peer(0, |p, a, now| p.clear(now, a));
    let t_clear = sim.now;
    sim.run_until(2 * S);

    let (a, b) = (sim.nodes[0].peer.stats(), sim.nodes[1].peer.stats());
    assert_eq!((a.clears, b.deletes_received), (1, 1));
    assert_eq!(
        sim.count_events(0, |e| matches!(
            e,
            Event::RekeyStarted { reason: RekeyReason::Cleared, .. }
        )),
        1
    );
    // The cleared SAs went at once (no overlap), on both sides.
    assert!(sim.count_trace(0, |t| *t == Trace::Unpublish(INITIAL_B_TO_A)) == 1);
    assert!(sim.count_trace(1, |t| *t == Trace::Unpublish(INITIAL_A_TO_B)) == 1);
    assert!(sim.count_trace(1, |t| *t == Trace::RemoveOut(INITIAL_B_TO_A)) == 1);
    assert_ne!(sim.nodes[0].peer.outbound_spi(), Some(INITIAL_A_TO_B));
    assert_ne!(sim.nodes[1].peer.outbound_spi(), Some(INITIAL_B_TO_A));
    sim.check_consistent().unwrap();
    for n in &sim.nodes {
        assert_eq!(n.peer.inbound_spis().len(), 1);
    }
    for f in &sim.flows {
        losses_within(f, t_clear, t_clear + 20 * MS);
    }
}

/// `clear` while the peer cannot be reached: nothing regenerates the pair until the peer
/// answers again, and then it comes back without any command.
#[test]
fn clear_while_the_peer_is_unreachable_recovers_when_it_answers_again() {
    let mut sim = Sim::new(Params::default());
    sim.run_until(S);
    sim.link_up = false;
    sim.with_peer(0, |p, a, now| p.clear(now, a));
    sim.run_until(30 * S);
    assert!(sim.count_trace(0, |t| *t == Trace::Dead) == 1, "A reported the peer dead");
    assert!(!sim.nodes[0].peer.is_alive());
    sim.link_up = true;
    let t_up = sim.now;
    sim.run_until(45 * S);
    assert!(sim.count_trace(0, |t| *t == Trace::Alive) == 1, "A reported the peer back");
    sim.check_consistent().unwrap();
    for f in &sim.flows {
        // The peer is heard within one HELLO interval (5 s), the pair follows in ms.
        losses_within(f, S, t_up + 5 * S + 100 * MS);
    }
    for n in &sim.nodes {
        assert!(n.peer.is_alive());
        assert_eq!(n.peer.inbound_spis().len(), 1);
    }
}

/// A gateway that restarts (fresh `Peer`, same PSK, state lost) after a long outage: the
/// survivor reports it dead, then alive, and the tunnel comes back by itself.
#[test]
fn peer_restart_after_long_outage_is_detected_and_the_tunnel_comes_back() {
    for static_sas in [false, true] {
        let mut sim = Sim::new(Params::default());
        sim.run_until(S);
        sim.rekey(0); // so that the static SAs are stale after the restart
        sim.run_until(4 * S);
        sim.crash(1);
        sim.run_until(30 * S);
        assert_eq!(sim.count_trace(0, |t| *t == Trace::Dead), 1, "static {static_sas}");
        sim.restart(1, static_sas);
        let t_restart = sim.now;
        sim.run_until(40 * S);
        assert_eq!(sim.count_trace(0, |t| *t == Trace::Alive), 1, "static {static_sas}");
        assert_eq!(sim.nodes[0].peer.stats().peer_restarts, 1, "static {static_sas}");
        sim.check_consistent().unwrap_or_else(|e| panic!("static {static_sas}: {e}"));
        for f in &sim.flows {
            losses_within(f, t_restart, t_restart + 500 * MS);
        }
        for n in &sim.nodes {
            assert_eq!(n.peer.inbound_spis().len(), 1, "static {static_sas}");
        }
    }
}

/// A quick restart (no outage long enough to be noticed): the new run's HELLO carries a
/// later epoch, which the survivor takes as "forget what you had with me" and rekeys.
#[test]
fn quick_peer_restart_is_detected_by_its_new_epoch() {
    let mut sim = Sim::new(Params::default());
    sim.run_until(S);
    sim.rekey(0);
    sim.run_until(4 * S);
    sim.crash(1);
    sim.run_until(4 * S + 50 * MS);
    sim.restart(1, true);
    let t_restart = sim.now;
    sim.run_until(10 * S);
    assert_eq!(sim.count_trace(0, |t| *t == Trace::Dead), 0);
    assert_eq!(sim.nodes[0].peer.stats().peer_restarts, 1);
    assert_eq!(sim.count_events(0, |e| *e == Event::PeerRestarted), 1);
    sim.check_consistent().unwrap();
    for f in &sim.flows {
        losses_within(f, 4 * S, t_restart + 500 * MS);
    }
}
