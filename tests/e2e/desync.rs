//! SAs that fall out of step, through the real binaries (two gateways over net_memif,
//! `qfp gen` counting every packet both ways; tests/harness/pair.rs):
//!
//! - a desync injected with `qfp ctl debug forget-sa` on A (B keeps sending on the SA A
//!   forgot): with invalid-SPI recovery, A logs `%CRYPTO-4-RECVD_PKT_INV_SPI` once, tells
//!   B, B rekeys, traffic flows again, and the loss is one run, counted by the gateways;
//!   with `--invalid-spi-recovery off` it stays black-holed and A calls it out-of-sync;
//! - `qfp ctl clear sa peer`: a new pair at once, traffic resumes by itself;
//! - the peer process killed: the survivor reports it dead; restarted (with the config's
//!   SAs, which the survivor replaced long ago), the tunnel comes back by itself.
//!
//! Waits for states are bounded (generously); nothing asserts how fast anything was, except
//! the "back within 5 s" of the desync, a bound twenty times the measured time.
#![forbid(unsafe_code)]

use std::time::Duration;

use qfp_tests::pair::{self, Pair, Report};
use qfp_tests::{TempDir, exclusive};
use serde_json::Value;

const NOT_FOUND: &str = "IN_US_V4_PKT_SA_NOT_FOUND_SPI";

/// Data packets lost between `sender` and `receiver` (both stats documents; `base` are
/// earlier documents of the same processes whose counts are subtracted).
fn lost_drops(receiver: &Value, sender: &Value, base: Option<(&Value, &Value)>) -> u64 {
    let count = |r: &Value, s: &Value| {
        pair::drop_count(r, NOT_FOUND)
            + pair::drop_count(r, "IN_V4_PKT_HIT_INVALID_SA")
            + pair::drop_count(s, "OUT_IPV4_SA_NOT_FOUND")
    };
    count(receiver, sender) - base.map_or(0, |(r, s)| count(r, s))
}

/// The lossy buckets of stream `id`: (first, last) of the only run, asserting there is
/// exactly one (no loss before or after it).
fn one_loss_run(r: &Report, id: u64) -> Option<(usize, usize)> {
    let lost = r.timeline(id, "lost");
    let lossy: Vec<usize> = (0..lost.len()).filter(|&i| lost[i] > 0).collect();
    let (&first, &last) = (lossy.first()?, lossy.last()?);
    assert_eq!(
        lossy.len(),
        last - first + 1,
        "stream {id}: one run of loss, not several: {lost:?}"
    );
    Some((first, last))
}

/// The last bucket in which stream `id` sent anything.
fn last_sending(r: &Report, id: u64) -> usize {
    r.timeline(id, "sent").iter().rposition(|&n| n > 0).expect("something was sent")
}

/// Starts traffic, waits until it flows, makes A forget the SA that B sends on; returns
/// the running generator and the SPI.
fn inject(p: &Pair, seconds: &str) -> (qfp_tests::Running, u64) {
    let traffic = p.generator(&["--rate", "10000", "--duration", seconds]).spawn();
    p.wait_stats(0, "B's traffic decrypted", Duration::from_secs(60), |v| {
        v["inbound"]["decrypted"].as_u64().unwrap_or(0) > 10_000
    });
    let b = p.stats(1);
    let spi = pair::out_spi(&b).expect("B has an outbound SA");
    assert!(pair::in_spis(&p.stats(0)).contains(&spi), "A decrypts B's SA {spi:#x}");
    p.ctl(0, &["debug", "forget-sa", &format!("{spi:#x}")]).assert_success();
    (traffic, spi)
}

#[test]
fn desync_with_recovery_is_detected_repaired_and_counted() {
    let _one = exclusive();
    let dir = TempDir::new("desync-recovery");
    let mut p = Pair::start(&dir, [&[], &[]]);
    let (traffic, spi) = inject(&p, "8");
    traffic.wait().assert_success();
    let r = p.report();
    let fin = p.finish();
    let (_, _, lost0) = r.counts(0);
    let (_, _, lost1) = r.counts(1);
    assert_eq!(lost0, 0, "A -> B is not touched by A forgetting an inbound SA");
    assert!(lost1 > 0, "B -> A lost packets until the repair");
    assert_eq!(
        lost1,
        lost_drops(&fin[0], &fin[1], None),
        "every lost packet counted: A {:?}, B {:?}",
        pair::drops(&fin[0]),
        pair::drops(&fin[1])
    );
    // One outage, over before sending stopped, within the 5 s.
    let (first, last) = one_loss_run(&r, 1).unwrap();
    assert!(last < last_sending(&r, 1), "traffic flows again before the end");
    assert!(
        (last - first + 1) as f64 * r.bucket_s() <= 5.0,
        "back within 5 s: buckets {first}..={last}"
    );
    // Detected and logged once, in the IOS form, and B now sends on another SA.
    let log = &p.ended[0][0].stderr;
    let lines: Vec<&str> =
        log.lines().filter(|l| l.contains("%CRYPTO-4-RECVD_PKT_INV_SPI")).collect();
    assert_eq!(lines.len(), 1, "logged once:\n{log}");
    assert!(
        lines[0].contains(&format!("spi=0x{spi:08X}")) && lines[0].contains("srcaddr=172.16.2.5"),
        "{}",
        lines[0]
    );
    let b_out = pair::out_spi(&fin[1]).expect("B has an outbound SA");
    assert_ne!(b_out, spi, "B dropped the stale SA");
    assert!(pair::in_spis(&fin[0]).contains(&b_out), "A decrypts B's new SA");
    let flow = fin[0]["invalid_spi"]["flows"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["spi"].as_u64() == Some(spi)).cloned())
        .unwrap_or_else(|| panic!("A recorded the flow: {}", fin[0]["invalid_spi"]));
    assert!(flow["notifies"].as_u64().unwrap_or(0) >= 1, "A told B: {flow}");
}

#[test]
fn desync_without_recovery_stays_black_holed_and_is_out_of_sync() {
    let _one = exclusive();
    let dir = TempDir::new("desync-none");
    let off: &[&str] = &["--invalid-spi-recovery", "off"];
    let mut p = Pair::start(&dir, [off, off]);
    let (traffic, spi) = inject(&p, "8");
    // Seen in consecutive intervals: classified out of sync (qfp ctl and the statistics).
    p.wait_stats(0, "the flow classified out-of-sync", Duration::from_secs(30), |v| {
        v["invalid_spi"]["flows"].as_array().is_some_and(|f| {
            f.iter().any(|f| f["spi"].as_u64() == Some(spi) && f["state"] == "out-of-sync")
        })
    });
    let shown = p.ctl_json(0, &["show", "invalid-spi"]);
    assert!(shown.to_string().contains("out-of-sync"), "{shown:#}");
    let text = p.ctl(0, &["show", "invalid-spi"]);
    text.assert_success();
    assert!(text.stdout.contains("out-of-sync"), "{}", text.stdout);
    traffic.wait().assert_success();
    let r = p.report();
    let fin = p.finish();
    let (_, _, lost0) = r.counts(0);
    let (_, _, lost1) = r.counts(1);
    assert_eq!(lost0, 0);
    assert_eq!(lost1, pair::drop_count(&fin[0], NOT_FOUND), "every lost packet counted by A");
    // From the outage on, everything B sent was lost, to the end.
    let (first, last) = one_loss_run(&r, 1).unwrap();
    let end = last_sending(&r, 1);
    assert_eq!(last, end, "still black-holed when sending stopped");
    let (sent, lost) = (r.timeline(1, "sent"), r.timeline(1, "lost"));
    assert!((first + 1..=end).all(|i| lost[i] == sent[i]), "nothing got through after the desync");
    assert_eq!(pair::out_spi(&fin[1]), Some(spi), "B still sends on the SA A forgot");
    assert_eq!(
        fin[0]["invalid_spi"]["counts"]["notifies"].as_u64(),
        Some(0),
        "recovery off: no notify"
    );
}

#[test]
fn clear_sa_peer_brings_up_a_new_pair_at_once() {
    let _one = exclusive();
    let dir = TempDir::new("clear-sa");
    let mut p = Pair::start(&dir, [&[], &[]]);
    let traffic = p.generator(&["--rate", "10000", "--duration", "8"]).spawn();
    let before = p.wait_stats(0, "traffic", Duration::from_secs(60), |v| {
        v["inbound"]["decrypted"].as_u64().unwrap_or(0) > 10_000
    });
    let (a_out, b_out) = (pair::out_spi(&before).unwrap(), pair::out_spi(&p.stats(1)).unwrap());
    p.ctl(0, &["clear", "sa", "peer", pair::LOCALS[1]]).assert_success();
    // A new pair, on both sides, without anyone asking again.
    p.wait_stats(0, "a new outbound SA", Duration::from_secs(30), |v| {
        pair::out_spi(v).is_some_and(|s| s != a_out)
    });
    p.wait_stats(1, "a new outbound SA", Duration::from_secs(30), |v| {
        pair::out_spi(v).is_some_and(|s| s != b_out)
    });
    traffic.wait().assert_success();
    let r = p.report();
    let fin = p.finish();
    for id in 0..2u64 {
        let (_, _, lost) = r.counts(id);
        let (rx, tx) = if id == 0 { (&fin[1], &fin[0]) } else { (&fin[0], &fin[1]) };
        assert_eq!(lost, lost_drops(rx, tx, None), "stream {id}: every lost packet counted");
        // Whatever the clear cost, traffic flows again well before the end.
        if let Some((_, last)) = one_loss_run(&r, id) {
            assert!(last < last_sending(&r, id), "stream {id} flows again");
        }
    }
    // The exchange that brought the new pair is a rekey on both sides, although the clear
    // had left no outbound SA to replace (`rekeys` counts every exchange that installs one).
    for (s, v) in fin.iter().enumerate() {
        let done = pair::tunnel(v)["peer_channel"]["rekeys_completed"].as_u64().unwrap_or(0);
        assert!(done >= 1, "gateway {}: {}", pair::NAMES[s], pair::tunnel(v));
        assert!(pair::rekeys(v) >= 1, "gateway {}: {}", pair::NAMES[s], pair::tunnel(v));
    }
    assert_eq!(pair::tunnel(&fin[0])["rekey_triggers"]["cleared"].as_u64(), Some(1));
}

#[test]
fn a_killed_peer_is_detected_and_after_its_restart_the_tunnel_comes_back() {
    let _one = exclusive();
    let dir = TempDir::new("peer-restart");
    // A rekeys every second: its SAs soon differ from the config's, which a restarted B
    // comes back with; and its requests find out quickly that B is gone.
    let mut p = Pair::start(&dir, [&["--rekey-every", "1000"], &[]]);
    let out = p.generator(&["--rate", "5000", "--duration", "3"]).output();
    out.assert_success();
    let r = p.report();
    assert_eq!((r.counts(0).2, r.counts(1).2), (0, 0), "before the kill: no loss");
    p.wait_stats(0, "a rekey", Duration::from_secs(30), |v| pair::rekeys(v) >= 1);
    p.kill(1);
    p.wait_stats(0, "peer reported dead", Duration::from_secs(90), |v| {
        pair::tunnel(v)["peer_state"] == "dead"
    });
    p.start_side(1);
    p.wait_stats(0, "peer alive again", Duration::from_secs(90), |v| {
        pair::tunnel(v)["peer_state"] == "alive"
    });
    let base = [p.stats(0), p.stats(1)];
    let out = p.generator(&["--rate", "5000", "--duration", "6"]).output();
    out.assert_success();
    let r = p.report();
    let fin = p.finish();
    for id in 0..2u64 {
        let (_, received, lost) = r.counts(id);
        assert!(received > 0, "stream {id} flows after the restart");
        let (rx, tx) = if id == 0 { (1, 0) } else { (0, 1) };
        assert_eq!(
            lost,
            lost_drops(&fin[rx], &fin[tx], Some((&base[rx], &base[tx]))),
            "stream {id}: every lost packet counted"
        );
        if let Some((_, last)) = one_loss_run(&r, id) {
            assert!(
                last < last_sending(&r, id),
                "stream {id}: the tunnel came back before the end"
            );
        }
    }
    // A noticed the restart (or the unknown SPIs) and the pair was renewed.
    assert_ne!(pair::out_spi(&fin[1]), Some(0x2001), "B no longer sends on the config's SA");
}
