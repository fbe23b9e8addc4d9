//! Single exchanges in the simulated pair: order of actions, matching keys, retirement after
//! the overlap, idempotent duplicates, simultaneous rekeys (collisions).

use super::sim::*;
use crate::peer::msg::{Body, MsgType};
use crate::peer::{Event, Role};

fn time_of(sim: &Sim, i: usize, t: &Trace) -> u64 {
    sim.nodes[i].trace.iter().find(|(_, x)| x == t).unwrap_or_else(|| panic!("{t:?} on node {i}")).0
}

fn completed_at(sim: &Sim, i: usize, role: Role) -> Vec<u64> {
    let mut v = Vec::new();
    for (t, e) in &sim.nodes[i].events {
        if matches!(e, Event::RekeyCompleted { role: r, .. } if *r == role) {
            v.push(*t);
        }
    }
    v
}

#[test]
fn single_rekey_converges_with_matching_keys_and_retires_old_sas_after_overlap() {
    let mut sim = Sim::new(Params::default());
    sim.run_until(100 * MS);
    sim.check_consistent().unwrap();
    sim.rekey(0);
    sim.run_until(200 * MS);
    sim.check_consistent().unwrap();

    let (a_in_new, b_in_new) = (
        sim.nodes[1].peer.outbound_spi().unwrap(), // B sends to A's new inbound `a`
        sim.nodes[0].peer.outbound_spi().unwrap(), // A sends to B's new inbound `b`
    );
    assert_ne!(a_in_new, INITIAL_B_TO_A);
    assert_ne!(b_in_new, INITIAL_A_TO_B);
    // I's outbound key is R's inbound key for the same SPI, and vice versa.
    let (a, b) = (&sim.nodes[0].dp, &sim.nodes[1].dp);
    assert_eq!(a.outbound.as_ref().unwrap().1, b.inbound[&b_in_new]);
    assert_eq!(b.outbound.as_ref().unwrap().1, a.inbound[&a_in_new]);
    // The two directions have different keys, and the new keys are not the old ones.
    assert_ne!(a.outbound.as_ref().unwrap().1, b.outbound.as_ref().unwrap().1);
    assert_ne!(a.inbound[&a_in_new], a.inbound[&INITIAL_B_TO_A]);

    // Make before break: A publishes `a` before switching to `b` and only then says DONE;
    // B publishes `b` before it answers and switches to `a` only after A published it.
    let a_pub = time_of(&sim, 0, &Trace::Publish(a_in_new));
    let a_switch = time_of(&sim, 0, &Trace::Switch(b_in_new));
    let b_pub = time_of(&sim, 1, &Trace::Publish(b_in_new));
    let b_switch = time_of(&sim, 1, &Trace::Switch(a_in_new));
    let t = &sim.nodes[0].trace;
    let pos = |x: &Trace| t.iter().position(|(_, y)| y == x).unwrap();
    assert!(pos(&Trace::Publish(a_in_new)) < pos(&Trace::Switch(b_in_new)));
    assert!(pos(&Trace::Switch(b_in_new)) < pos(&Trace::Sent(MsgType::RekeyDone)));
    assert!(b_pub < a_switch, "B published b at {b_pub}, A switched at {a_switch}");
    assert!(a_pub < b_switch, "A published a at {a_pub}, B switched at {b_switch}");

    // Old inbound SAs live exactly `overlap` past each side's completion.
    let overlap = 2 * S;
    let done_b = completed_at(&sim, 1, Role::Responder);
    let done_a = completed_at(&sim, 0, Role::Initiator);
    assert_eq!((done_a.len(), done_b.len()), (1, 1));
    sim.run_until(done_a[0].min(done_b[0]) + overlap - MS);
    assert!(sim.nodes[0].dp.inbound.contains_key(&INITIAL_B_TO_A));
    assert!(sim.nodes[1].dp.inbound.contains_key(&INITIAL_A_TO_B));
    sim.run_until(done_a[0].max(done_b[0]) + overlap + MS);
    assert_eq!(time_of(&sim, 0, &Trace::Unpublish(INITIAL_B_TO_A)), done_a[0] + overlap);
    assert_eq!(time_of(&sim, 1, &Trace::Unpublish(INITIAL_A_TO_B)), done_b[0] + overlap);
    assert_eq!(sim.nodes[0].peer.inbound_spis(), vec![a_in_new]);
    assert_eq!(sim.nodes[1].peer.inbound_spis(), vec![b_in_new]);
    sim.check_consistent().unwrap();

    for f in &sim.flows {
        assert_eq!(f.sa_lost(), 0, "{f:?}");
        assert_eq!(f.link_lost, 0);
        assert!(f.offered - f.accounted() <= 11, "{f:?}");
    }
    assert!(sim.nodes.iter().all(|n| n.peer.is_idle()));
}

#[test]
fn retransmitted_rekey_init_gets_the_same_answer_and_one_sa_pair() {
    let mut sim = Sim::new(Params::default());
    sim.run_until(10 * MS);
    let mut dropped = false;
    sim.intercept = Some(Box::new(move |_, from, m| {
        if from == 1 && m.body.msg_type() == MsgType::RekeyResp && !dropped {
            dropped = true;
            return Verdict::Drop;
        }
        Verdict::Pass
    }));
    sim.rekey(0);
    sim.run_until(2 * S);
    sim.check_consistent().unwrap();

    let resps: Vec<_> = sim.sent_datagrams[1]
        .iter()
        .filter_map(|d| match crate::peer::msg::Message::decode_unauthenticated(d).unwrap().body {
            Body::RekeyResp(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(resps.len(), 2, "the REKEY_INIT retransmission is answered again");
    assert_ne!(resps[0].echo, resps[1].echo, "each answer echoes its own request copy");
    assert_eq!(
        (resps[0].nonce, resps[0].public, resps[0].spi),
        (resps[1].nonce, resps[1].public, resps[1].spi)
    );
    let b = &sim.nodes[1];
    assert_eq!(b.peer.stats().rekeys_responded, 1);
    assert_eq!(sim.count_trace(1, |t| matches!(t, Trace::Publish(_))), 1);
    assert_eq!(sim.nodes[0].peer.stats().tx_retransmits, 1);
    for f in &sim.flows {
        assert_eq!(f.sa_lost(), 0);
    }
}

#[test]
fn simultaneous_rekeys_resolve_to_exactly_one_pair() {
    for seed in 0..20 {
        let mut sim = Sim::new(Params { seed, ..Params::default() });
        sim.run_until(50 * MS);
        sim.rekey(0);
        sim.rekey(1);
        sim.run_until(500 * MS);
        sim.stop_data();
        sim.run_until(3 * S);
        let (a, b) = (sim.nodes[0].peer.stats(), sim.nodes[1].peer.stats());
        assert_eq!(a.collisions_won + b.collisions_won, 1, "seed {seed}");
        assert_eq!(a.collisions_lost + b.collisions_lost, 1, "seed {seed}");
        assert_eq!((a.rekeys_completed, b.rekeys_completed), (1, 1), "seed {seed}");
        for i in 0..2 {
            assert_eq!(sim.count_trace(i, |t| matches!(t, Trace::Publish(_))), 1, "seed {seed}");
            assert_eq!(sim.nodes[i].peer.inbound_spis().len(), 1, "seed {seed}");
        }
        sim.check_consistent().unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        for f in &sim.flows {
            assert_eq!(f.sa_lost(), 0, "seed {seed}");
        }
    }
}

#[test]
fn near_simultaneous_rekeys_over_random_links_always_converge_without_loss() {
    use rand::{RngExt, SeedableRng, rngs::StdRng};
    let mut r = StdRng::seed_from_u64(99);
    for seed in 0..40 {
        let link = Link {
            delay: r.random_range(200 * US..=3 * MS),
            jitter: r.random_range(0..=2 * MS),
            loss: if seed % 3 == 0 { 0.1 } else { 0.0 },
            dup: if seed % 4 == 0 { 0.1 } else { 0.0 },
        };
        let data_interval = Some(250 * US);
        let mut sim = Sim::new(Params { seed, link, data_interval, ..Params::default() });
        sim.run_until(50 * MS);
        let skew = r.random_range(0..=4 * MS);
        let first = (seed % 2) as usize;
        sim.rekey(first);
        sim.run_until(50 * MS + skew);
        sim.rekey(1 - first);
        // Data while the exchanges run (retransmissions included), then settle quietly
        // past every retransmission budget and overlap.
        sim.run_until(2 * S);
        sim.stop_data();
        sim.run_until(30 * S);
        sim.check_consistent().unwrap_or_else(|e| panic!("seed {seed} {link:?}: {e}"));
        for i in 0..2 {
            assert_eq!(sim.nodes[i].peer.inbound_spis().len(), 1, "seed {seed}");
            assert!(sim.nodes[i].peer.is_idle(), "seed {seed}");
        }
        for f in &sim.flows {
            assert_eq!(f.sa_lost(), 0, "seed {seed} {link:?}: {f:?}");
        }
    }
}

/// The loser's REKEY_INIT reaches the winner only after the winner's exchange completed:
/// the winner answers it (it cannot know), and the loser deletes the SA so created.
#[test]
fn late_copy_of_a_losing_rekey_init_leaves_no_sa_behind() {
    let (mut a_lost, mut a_won) = (0, 0);
    for seed in 0..16 {
        let mut sim = Sim::new(Params { seed, ..Params::default() });
        sim.run_until(50 * MS);
        let mut delayed = false;
        sim.intercept = Some(Box::new(move |_, from, m| {
            if from == 0 && m.body.msg_type() == MsgType::RekeyInit && !delayed {
                delayed = true;
                return Verdict::Delay(50 * MS);
            }
            Verdict::Pass
        }));
        sim.rekey(0);
        sim.rekey(1);
        sim.run_until(500 * MS);
        sim.stop_data();
        sim.run_until(5 * S);
        sim.check_consistent().unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        for i in 0..2 {
            assert_eq!(sim.nodes[i].peer.inbound_spis().len(), 1, "seed {seed}");
        }
        let (a, b) = (sim.nodes[0].peer.stats(), sim.nodes[1].peer.stats());
        if a.collisions_lost == 1 {
            a_lost += 1;
            // B answered the late copy, A asked it to delete what it published for it.
            assert_eq!(b.rekeys_responded, 1, "seed {seed}");
            assert_eq!(a.deletes_sent, 1, "seed {seed}");
            assert_eq!(b.deletes_received, 1, "seed {seed}");
            assert_eq!(sim.count_trace(1, |t| matches!(t, Trace::Publish(_))), 2, "seed {seed}");
        } else {
            a_won += 1;
            assert_eq!(b.collisions_lost, 1, "seed {seed}");
            assert_eq!(a.deletes_sent, 0, "seed {seed}");
        }
        for f in &sim.flows {
            assert_eq!(f.sa_lost(), 0, "seed {seed}");
        }
    }
    assert!(a_lost > 0 && a_won > 0, "both outcomes exercised: {a_lost} {a_won}");
}

/// A REKEY_INIT proposing another AEAD than the responder's is refused; the initiator
/// gives its SPI back, keeps its SAs and does not retry by itself (a configuration error).
#[test]
fn mismatched_proposal_is_refused_and_changes_nothing() {
    let tweak = |i: usize, c: &mut crate::peer::PeerConfig| {
        if i == 0 {
            c.aead = crate::peer::Aead::Aes256Gcm;
        }
    };
    let mut sim = Sim::new(Params { tweak, ..Params::default() });
    sim.run_until(100 * MS);
    sim.rekey(0);
    sim.run_until(3 * S);
    let (a, b) = (sim.nodes[0].peer.stats(), sim.nodes[1].peer.stats());
    assert_eq!((a.inits_refused_by_peer, b.inits_refused), (1, 1));
    assert_eq!(a.rekeys_completed + b.rekeys_responded, 0);
    assert_eq!(sim.nodes[0].peer.outbound_spi(), Some(INITIAL_A_TO_B));
    assert!(sim.nodes[0].peer.is_idle());
    sim.check_consistent().unwrap();
    for f in &sim.flows {
        assert_eq!(f.sa_lost(), 0);
    }
}

/// A responder out of SPIs answers "temporary failure"; the initiator retries later and
/// succeeds once SPIs are available again.
#[test]
fn responder_without_free_spi_makes_the_initiator_retry_later() {
    let mut sim = Sim::new(Params::default());
    sim.run_until(100 * MS);
    sim.nodes[1].alloc.exhausted = true;
    sim.rekey(0);
    sim.run_until(500 * MS);
    let a = sim.nodes[0].peer.stats();
    assert_eq!(a.inits_refused_by_peer, 1);
    assert_eq!(sim.nodes[0].peer.outbound_spi(), Some(INITIAL_A_TO_B));
    assert!(!sim.nodes[0].peer.is_idle(), "a retry is scheduled");
    sim.nodes[1].alloc.exhausted = false;
    sim.run_until(10 * S);
    let a = sim.nodes[0].peer.stats();
    assert_eq!((a.rekeys_initiated, a.rekeys_completed), (2, 1));
    assert_ne!(sim.nodes[0].peer.outbound_spi(), Some(INITIAL_A_TO_B));
    sim.check_consistent().unwrap();
    for f in &sim.flows {
        assert_eq!(f.sa_lost(), 0);
    }
}

/// Soft-lifetime rekeys start after a random delay within the jitter, and an earlier
/// schedule is kept.
#[test]
fn jittered_rekey_starts_within_the_jitter() {
    let mut starts = Vec::new();
    for seed in 0..8 {
        let mut sim = Sim::new(Params { seed, data_interval: None, ..Params::default() });
        sim.run_until(S);
        sim.with_peer(0, |p, _, now| p.rekey_jittered(now, crate::peer::RekeyReason::SoftLifetime));
        sim.run_until(1500 * MS);
        // A second trigger later must not postpone the first.
        sim.with_peer(0, |p, _, now| p.rekey_jittered(now, crate::peer::RekeyReason::SoftLifetime));
        sim.run_until(3 * S);
        let t = sim.nodes[0]
            .events
            .iter()
            .find(|(_, e)| matches!(e, Event::RekeyStarted { .. }))
            .map(|x| x.0)
            .expect("rekey started");
        // Started within [1 s, 2 s] (+ the control-core delay at which events are logged).
        assert!((S..=2 * S + MS).contains(&t), "seed {seed}: {t}");
        assert_eq!(sim.nodes[0].peer.stats().rekeys_initiated, 1 + u64::from(t < 1500 * MS));
        starts.push(t);
        sim.check_consistent().unwrap();
    }
    starts.sort();
    starts.dedup();
    assert!(starts.len() > 4, "the delay is random: {starts:?}");
}
