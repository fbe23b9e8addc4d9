//! `qfp run` as an L2 cross-connect: every frame that enters port 0 leaves port 1 and
//! vice versa, byte for byte and in order, and the stats JSON counts each of them.
//! net_pcap devices read the input files and write what qfp sends.
#![forbid(unsafe_code)]

use std::path::Path;

use qfp_tests::stats::Stats;
use qfp_tests::{EalArgs, Qfp, TempDir, exclusive, frames, pcap};

/// Fails with the first differing frame rather than two walls of bytes.
fn assert_same_frames(got: &[Vec<u8>], want: &[Vec<u8>], what: &str) {
    if let Some(i) = (0..got.len().min(want.len())).find(|&i| got[i] != want[i]) {
        panic!(
            "{what}: frame {i} differs (got {} bytes, want {}):\n got  {:02x?}\n want {:02x?}",
            got[i].len(),
            want[i].len(),
            &got[i][..got[i].len().min(64)],
            &want[i][..want[i].len().min(64)]
        );
    }
    assert_eq!(got.len(), want.len(), "{what}: {} frames out, {} in", got.len(), want.len());
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn one_worker_forwards_both_directions_byte_for_byte() {
    let _one_at_a_time = exclusive();
    let dir = TempDir::new("fwd1");
    let (in0, in1) =
        (frames::varied(400), frames::varied(250).into_iter().rev().collect::<Vec<_>>());
    pcap::write(&dir.join("in0.pcap"), &in0);
    pcap::write(&dir.join("in1.pcap"), &in1);
    let eal = EalArgs::new()
        .vdev(format!(
            "net_pcap0,rx_pcap={},tx_pcap={}",
            p(&dir.join("in0.pcap")),
            p(&dir.join("out0.pcap"))
        ))
        .vdev(format!(
            "net_pcap1,rx_pcap={},tx_pcap={}",
            p(&dir.join("in1.pcap")),
            p(&dir.join("out1.pcap"))
        ));
    let stats = dir.join("s.json");
    let run = Qfp::run(["--duration", "1", "--stats-json", &p(&stats)], &eal).output();
    run.assert_success();

    assert_same_frames(&pcap::read(&dir.join("out1.pcap")), &in0, "port 0 -> port 1");
    assert_same_frames(&pcap::read(&dir.join("out0.pcap")), &in1, "port 1 -> port 0");
    let s = Stats::read(&stats);
    assert!(s.is_final, "the last document is the final one");
    assert_eq!((s.port(0).rx, s.port(0).tx, s.port(0).missed), (400, 250, 0));
    assert_eq!((s.port(1).rx, s.port(1).tx, s.port(1).missed), (250, 400, 0));
    assert_eq!(s.workers.len(), 1);
    assert_eq!((s.workers[0].rx, s.workers[0].tx, s.workers[0].drops), (650, 650, 0));
    assert_eq!(s.total_drops(), 0, "{:?}", s.drops);
    assert_eq!((s.inbound.decrypted, s.outbound.encrypted), (0, 0));
    assert!(s.uptime_s >= 1.0, "ran for --duration 1: {}", s.uptime_s);
    assert!(
        run.qfp_lines().iter().any(|l| l.contains("stopped by --duration 1")),
        "summary line missing:\n{}",
        run.stderr
    );
}

/// The issue's own example: a pcap into port 0, a net_null sink on port 1 (with `no-rx=1`,
/// or net_null would flood port 0 and out.pcap with generated packets).
#[test]
fn pcap_to_null_sink_counts_every_frame() {
    let _one_at_a_time = exclusive();
    let dir = TempDir::new("fwdnull");
    let input = frames::varied(300);
    pcap::write(&dir.join("in.pcap"), &input);
    let eal = EalArgs::new()
        .vdev(format!(
            "net_pcap0,rx_pcap={},tx_pcap={}",
            p(&dir.join("in.pcap")),
            p(&dir.join("out.pcap"))
        ))
        .vdev("net_null1,no-rx=1");
    let stats = dir.join("s.json");
    Qfp::run(["--duration", "1", "--stats-json", &p(&stats), "--poll", "busy"], &eal)
        .output()
        .assert_success();
    let s = Stats::read(&stats);
    assert_eq!((s.port(0).rx, s.port(1).tx), (300, 300));
    assert_eq!((s.port(1).rx, s.port(0).tx), (0, 0));
    assert!(pcap::read(&dir.join("out.pcap")).is_empty(), "nothing came back from the sink");
}

/// Two workers: worker i owns rx queue i of port 0 and tx queue i of port 1, so each
/// input file (one per rx queue) comes out, in order, in the tx file of the same index.
#[test]
fn two_workers_each_forward_their_queue() {
    let _one_at_a_time = exclusive();
    let dir = TempDir::new("fwd2");
    let all = frames::varied(500);
    let (q0, q1) = (all[..200].to_vec(), all[200..].to_vec());
    pcap::write(&dir.join("in0.pcap"), &q0);
    pcap::write(&dir.join("in1.pcap"), &q1);
    let eal = EalArgs::new()
        .vdev(format!(
            "net_pcap0,rx_pcap={},rx_pcap={}",
            p(&dir.join("in0.pcap")),
            p(&dir.join("in1.pcap"))
        ))
        .vdev(format!(
            "net_pcap1,tx_pcap={},tx_pcap={}",
            p(&dir.join("out0.pcap")),
            p(&dir.join("out1.pcap"))
        ));
    let stats = dir.join("s.json");
    let run =
        Qfp::run(["--workers", "2", "--duration", "1", "--stats-json", &p(&stats)], &eal).output();
    run.assert_success();

    assert_same_frames(&pcap::read(&dir.join("out0.pcap")), &q0, "queue 0");
    assert_same_frames(&pcap::read(&dir.join("out1.pcap")), &q1, "queue 1");
    let s = Stats::read(&stats);
    assert_eq!((s.port(0).rx, s.port(1).tx), (500, 500));
    let mut w: Vec<_> = s.workers.iter().map(|w| (w.lcore, w.rx, w.tx, w.drops)).collect();
    w.sort();
    assert_eq!(w, vec![(1, 200, 200, 0), (2, 300, 300, 0)], "worker i served queue i");
    assert!(
        run.qfp_lines().iter().any(|l| l.contains("2 rx / 2 tx queue(s)")),
        "port 0 set up with two queues:\n{}",
        run.stderr
    );
}

/// With one-queue devices and two workers, the second worker has nothing to poll: qfp
/// says so and still forwards everything with the first.
#[test]
fn extra_workers_without_queues_are_reported() {
    let _one_at_a_time = exclusive();
    let dir = TempDir::new("fwdidle");
    let input = frames::varied(100);
    pcap::write(&dir.join("in.pcap"), &input);
    let eal = EalArgs::new()
        .vdev(format!("net_pcap0,rx_pcap={}", p(&dir.join("in.pcap"))))
        .vdev(format!("net_pcap1,tx_pcap={}", p(&dir.join("out.pcap"))));
    let stats = dir.join("s.json");
    let run =
        Qfp::run(["--workers", "2", "--duration", "1", "--stats-json", &p(&stats)], &eal).output();
    run.assert_success();
    assert_same_frames(&pcap::read(&dir.join("out.pcap")), &input, "port 0 -> port 1");
    assert!(
        run.qfp_lines().iter().any(|l| l.contains("worker lcore 2 has no queue to poll")),
        "{}",
        run.stderr
    );
    let s = Stats::read(&stats);
    assert_eq!(s.workers.iter().map(|w| w.rx).sum::<u64>(), 100);
}
