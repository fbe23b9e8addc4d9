//! SIGINT and SIGTERM stop `qfp run` cleanly: workers stop, ports close (net_pcap flushes
//! its tx file), the final statistics are written, and the exit status is 0.
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
        .vdev(format!(
            "net_pcap0,rx_pcap={}",
            dir.join("in.pcap").display()
        ))
        .vdev(format!(
            "net_pcap1,tx_pcap={}",
            dir.join("out.pcap").display()
        ));
    let stats = dir.join("s.json");
    let stats_arg = stats.display().to_string();
    // No --duration: runs until the signal.
    let mut child = Qfp::run(
        ["--stats-interval", "0.1", "--stats-json", &stats_arg],
        &eal,
    )
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
    assert!(
        !Stats::read(&stats).is_final,
        "periodic documents are not final"
    );
    child.signal(sig);
    let out = child.wait();
    out.assert_success();

    let s = Stats::read(&stats);
    assert!(
        s.is_final,
        "the final document was written after the {name}"
    );
    assert_eq!((s.port(0).rx, s.port(1).tx, s.total_drops()), (200, 200, 0));
    assert_eq!(
        pcap::read(&dir.join("out.pcap")),
        input,
        "tx file flushed on close"
    );
    assert!(
        out.qfp_lines()
            .iter()
            .any(|l| l.contains(&format!("stopped by {name}"))),
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
