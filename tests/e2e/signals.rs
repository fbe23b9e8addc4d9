//! SIGINT and SIGTERM stop `qfp run` cleanly: workers stop, ports close (net_pcap flushes
//! its tx file), the final statistics are written, and the exit status is 0 — for the
//! cross-connect after a known amount of traffic, and for the gateway at random moments
//! during endless traffic.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use qfp_tests::stats::Stats;
use qfp_tests::{EalArgs, Qfp, TempDir, exclusive, frames, pcap};
use rustix::process::Signal;

fn stop_with(sig: Signal, name: &str) {
    let _one_at_a_time = exclusive();
    let dir = TempDir::new(name);
    let input = frames::varied(200);
    pcap::write(&dir.join("in.pcap"), &input);
    let eal = EalArgs::new()
        .vdev(format!("net_pcap0,rx_pcap={}", dir.join("in.pcap").display()))
        .vdev(format!("net_pcap1,tx_pcap={}", dir.join("out.pcap").display()));
    let stats = dir.join("s.json");
    let stats_arg = stats.display().to_string();
    // No --duration: runs until the signal.
    let mut child = Qfp::run(["--stats-interval", "0.1", "--stats-json", &stats_arg], &eal)
        .timeout(Duration::from_secs(60))
        .spawn();

    // Wait until every frame went through (the periodic document says so), then signal.
    let t0 = Instant::now();
    loop {
        assert!(child.is_running(), "qfp exited before the signal");
        if stats.exists() && Stats::read(&stats).port(1).tx == 200 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the 200 frames never showed in {}",
            stats.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!Stats::read(&stats).is_final, "periodic documents are not final");
    child.signal(sig);
    let out = child.wait();
    out.assert_success();

    let s = Stats::read(&stats);
    assert!(s.is_final, "the final document was written after the {name}");
    assert_eq!((s.port(0).rx, s.port(1).tx, s.total_drops()), (200, 200, 0));
    assert_eq!(pcap::read(&dir.join("out.pcap")), input, "tx file flushed on close");
    assert!(
        out.qfp_lines().iter().any(|l| l.contains(&format!("stopped by {name}"))),
        "no summary naming {name}:\n{}",
        out.stderr
    );
}

#[test]
fn sigint_stops_cleanly_with_final_stats() {
    stop_with(Signal::INT, "SIGINT");
}

#[test]
fn sigterm_stops_cleanly_with_final_stats() {
    stop_with(Signal::TERM, "SIGTERM");
}

/// A small deterministic generator (xorshift64*) for the signal moments: the seed is
/// printed, and `QFP_SIGNAL_SEED` replays a run.
struct Moments(u64);

impl Moments {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// SIGINT and SIGTERM at random moments while the gateway forwards endless traffic (the
/// scapy peer's good and bad packets, replayed with `infinite_rx`, anti-replay off): every
/// run must exit 0 with a final statistics document that is complete (every section, every
/// drop reason, every tunnel and SA) and accounts for every packet received.
#[test]
fn signals_at_random_moments_during_gateway_traffic_leave_complete_final_stats() {
    use qfp_tests::gateway::{GatewayDef, run_peer};

    let _one_at_a_time = exclusive();
    let dir = TempDir::new("randsig");
    let gw = GatewayDef::standard();
    std::fs::write(dir.join("gw.toml"), gw.config_toml(1024)).unwrap();
    run_peer("build", &gw.spec(None), dir.path(), &["--good", "50"]);
    let seed =
        std::env::var("QFP_SIGNAL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
            t.as_nanos() as u64 | 1
        });
    println!("signal moments: QFP_SIGNAL_SEED={seed}");
    let mut moments = Moments(seed);
    let (runs, mut rows) = (6, Vec::new());
    for run in 0..runs {
        let (sig, name) =
            if run % 2 == 0 { (Signal::INT, "SIGINT") } else { (Signal::TERM, "SIGTERM") };
        // 0 to 1.5 s after the first statistics document (traffic flows by then).
        let delay = Duration::from_millis(if run == 0 { 0 } else { moments.next() % 1500 });
        // Half the runs with two workers: what is in the handoff rings at the signal must
        // be drained and counted too.
        let workers = if run < runs / 2 { 1 } else { 2 };
        let vdev = |name: &str, side: &str| {
            let rx = dir.join(&format!("{side}-0.pcap"));
            format!("{name},rx_pcap={},infinite_rx=1", rx.display())
                + &",tx_pcap=/dev/null".repeat(workers)
        };
        let eal = EalArgs::new().vdev(vdev("net_pcap0", "lan")).vdev(vdev("net_pcap1", "wan"));
        let stats = dir.join(&format!("s{run}.json"));
        let running = Qfp::run(
            [
                "-c",
                &dir.join("gw.toml").display().to_string(),
                "--replay-window",
                "0",
                "--workers",
                &workers.to_string(),
                "--stats-interval",
                "0.05",
                "--stats-json",
                &stats.display().to_string(),
            ],
            &eal,
        )
        .timeout(Duration::from_secs(60))
        .spawn();
        let t0 = Instant::now();
        while !stats.exists() {
            assert!(t0.elapsed() < Duration::from_secs(30), "run {run}: no statistics after 30 s");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(delay);
        running.signal(sig);
        let out = running.wait();
        out.assert_success();
        assert!(
            out.qfp_lines().iter().any(|l| l.contains(&format!("stopped by {name}"))),
            "run {run}: no summary naming {name}:\n{}",
            out.stderr
        );
        // Complete: every section of the contract and of the gateway, every reason, SA.
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
        for key in [
            "uptime_s", "ports", "workers", "drops", "global", "events", "tunnels", "inbound",
            "outbound", "control",
        ] {
            assert!(doc.get(key).is_some(), "run {run}: final document without {key}: {doc}");
        }
        let s = Stats::read(&stats);
        assert!(s.is_final, "run {run}: the final document");
        assert_eq!(s.ports.len(), 2);
        assert_eq!(s.workers.len(), workers);
        assert!(s.drops.len() >= 35, "run {run}: every drop reason: {:?}", s.drops);
        assert_eq!(s.tunnels.len(), 3);
        assert!(s.tunnels.iter().all(|t| t["sa"].as_array().map(Vec::len) == Some(2)));
        assert_eq!(s.in_flight(), 0, "run {run}: received = sent + dropped + consumed");
        assert!(s.port(1).rx > 0 && s.inbound.decrypted > 0, "run {run}: traffic flowed");
        rows.push(format!(
            "{run:>3}  {workers}  {name:<7} {:>6} ms  {:>6.2} s  rx {:>9}  tx {:>9}  drops {:>8}  handed off {:>8}",
            delay.as_millis(),
            s.uptime_s,
            s.port(0).rx + s.port(1).rx,
            s.port(0).tx + s.port(1).tx,
            s.total_drops(),
            s.event("handed_off")
        ));
    }
    println!(
        "run  workers  signal  after first stats  uptime  (final document, exit 0 every time)"
    );
    for r in rows {
        println!("{r}");
    }
}
