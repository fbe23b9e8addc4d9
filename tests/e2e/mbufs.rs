//! The mbuf pool exhausted under load (`--mbufs` small): what the ports could not receive
//! is counted (`rx_nombuf`), nothing is lost silently, and the gateway forwards again once
//! the load has passed.
//!
//! Two workers, one rx queue per port (virtual devices): worker 0 receives everything.
//! The unprotected port's capture holds, in order,
//!
//! 1. the load: ESP for branch-1, whose inbound SA worker 1 owns, so worker 0 hands every
//!    packet over and worker 1 decrypts them; the pool (1023 mbufs, fewer than a handoff
//!    ring holds) runs dry while they wait, and net_pcap counts each frame it read but
//!    could not put in an mbuf as `rx_nombuf`;
//! 2. a pause: frames worker 0 drops at once (ARP: `UnknownL2`), long enough for worker 1
//!    to catch up and the mbufs to come back;
//! 3. after the load: ESP for branch-2, whose inbound SA worker 0 owns — every packet must
//!    be decrypted and forwarded.
//!
//! Accounting: frames in the file = received + `rx_nombuf`; received = decrypted + drops.
#![forbid(unsafe_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use qfp_tests::gateway::GatewayDef;
use qfp_tests::stats::Stats;
use qfp_tests::{EalArgs, Qfp, TempDir, exclusive, pcap};

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// `qfp pcap` ESP for `tunnel` (its inbound SA), `count` frames of `size` bytes.
fn esp_frames(dir: &TempDir, config: &Path, tunnel: &str, size: u32, count: u32) -> Vec<Vec<u8>> {
    let out = dir.join(&format!("pcap-{tunnel}"));
    Qfp::new([
        "pcap",
        "-c",
        &p(config),
        "--dir",
        &p(&out),
        "--tunnel",
        tunnel,
        "--sizes",
        &size.to_string(),
        "--count",
        &count.to_string(),
    ])
    .output()
    .assert_success();
    let frames = pcap::read(&out.join(format!("esp-{size}.pcap")));
    assert_eq!(frames.len(), count as usize);
    frames
}

#[test]
fn mbuf_pool_exhaustion_is_counted_and_the_gateway_recovers() {
    let _one_at_a_time = exclusive();
    let dir = TempDir::new("mbufs");
    let gw = GatewayDef::standard();
    let config = dir.join("gw.toml");
    std::fs::write(&config, gw.config_toml(1024)).unwrap();
    const LOAD: u32 = 20_000;
    const PAUSE: usize = 300_000;
    const AFTER: u32 = 2_000;
    let mut wan = esp_frames(&dir, &config, "branch-1", 1400, LOAD);
    let arp: Vec<u8> = [&[0xff; 6][..], &[2, 0, 0, 0, 0x0e, 1], &[0x08, 0x06], &[0; 46]].concat();
    wan.extend(std::iter::repeat_n(arp, PAUSE));
    wan.extend(esp_frames(&dir, &config, "branch-2", 512, AFTER));
    let total = wan.len() as u64;
    pcap::write(&dir.join("wan.pcap"), &wan);
    drop(wan);
    pcap::write(&dir.join("lan.pcap"), &[]);

    let vdev = |name: &str, side: &str| {
        format!(
            "{name},rx_pcap={},tx_pcap={},tx_pcap={}",
            p(&dir.join(&format!("{side}.pcap"))),
            p(&dir.join(&format!("out-{side}-0.pcap"))),
            p(&dir.join(&format!("out-{side}-1.pcap")))
        )
    };
    let eal = EalArgs::new().vdev(vdev("net_pcap0", "lan")).vdev(vdev("net_pcap1", "wan"));
    let stats = dir.join("s.json");
    let running = Qfp::run(
        [
            "-c",
            &p(&config),
            "--workers",
            "2",
            "--mbufs",
            "1023",
            "--rx-desc",
            "64",
            "--tx-desc",
            "64",
            "--stats-interval",
            "0.1",
            "--stats-json",
            &p(&stats),
        ],
        &eal,
    )
    .timeout(Duration::from_secs(120))
    .spawn();
    // Until every frame of the file is received or counted, and nothing is in flight.
    let t0 = Instant::now();
    loop {
        if stats.exists() {
            let s = Stats::read(&stats);
            if s.port(1).rx + s.port(1).rx_nombuf == total && s.in_flight() == 0 {
                break;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(90), "the capture was never consumed");
        std::thread::sleep(Duration::from_millis(50));
    }
    running.signal(rustix::process::Signal::INT);
    let out = running.wait();
    out.assert_success();
    assert!(
        out.qfp_lines().iter().any(|l| l.contains("--mbufs 1023 is below")),
        "the small pool is said: {}",
        out.stderr
    );
    let s = Stats::read(&stats);
    assert!(s.is_final);

    // Who owns what (the sharding is deterministic; the test relies on it).
    let (load_sa, after_sa) = (s.sa(0x2001), s.sa(0x2002));
    assert_eq!(
        (load_sa["owner"].as_u64(), after_sa["owner"].as_u64()),
        (Some(1), Some(0)),
        "branch-1's inbound SA must belong to worker 1 and branch-2's to worker 0"
    );

    let wan = s.port(1);
    let lost = wan.rx_nombuf;
    println!(
        "{total} frames ({LOAD} ESP load, {PAUSE} pause, {AFTER} ESP after): received {}, \
         no mbuf {lost}, decrypted {}, handed off {}",
        wan.rx,
        s.inbound.decrypted,
        s.event("handed_off")
    );
    assert!(lost > 0, "the pool never ran dry: the test did not exhaust it");
    assert_eq!(wan.rx + lost, total, "every frame is received or counted");
    assert_eq!(s.in_flight(), 0, "received = sent + dropped");
    let nonzero: Vec<_> = s.drops.iter().filter(|(_, n)| **n > 0).collect();
    assert!(
        nonzero.iter().all(|(k, _)| k.as_str() == "UnknownL2"),
        "only the pause's ARP frames are drops: {nonzero:?}"
    );
    assert_eq!(s.inbound.decrypted + s.total_drops(), wan.rx);
    assert_eq!(s.port(0).tx, s.inbound.decrypted, "every decrypted packet was forwarded");
    assert_eq!(
        load_sa["packets"].as_u64().unwrap() + after_sa["packets"].as_u64().unwrap(),
        s.inbound.decrypted
    );
    // After the load: everything forwarded again.
    assert_eq!(
        after_sa["packets"].as_u64(),
        Some(u64::from(AFTER)),
        "after the load, nothing lost"
    );
}
