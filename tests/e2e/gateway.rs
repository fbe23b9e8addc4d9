//! `qfp run -c` as an IPsec gateway between two net_pcap ports, against scapy as the
//! peers and the LAN (`tests/py/gw_peer.py`): three tunnels (IPv4 outer; IPv6 outer with
//! NAT-T, ESN and AES-256 carrying IPv4 and IPv6; IPv6 outer carrying IPv6), good traffic
//! both ways and every kind of bad packet. scapy decrypts every ESP frame qfp sent and
//! compares it with what the LAN sent; every decapsulated frame is compared with what the
//! peer encrypted; the stats JSON must count every bad packet exactly, under its reason,
//! and account for every packet received. tshark decodes the ESP output as well.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use qfp_tests::gateway::{GatewayDef, run_peer};
use qfp_tests::stats::Stats;
use qfp_tests::{EalArgs, Qfp, TempDir, exclusive};
use serde_json::Value;

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// Builds the traffic, runs the gateway with `workers` workers on net_pcap ports with that
/// many queues each, verifies with scapy, and returns the stats and the expectations.
fn run_gateway(tag: &str, workers: usize, good: usize) -> (TempDir, Stats, Value, GatewayDef) {
    let dir = TempDir::new(tag);
    let gw = GatewayDef::standard();
    std::fs::write(dir.join("gw.toml"), gw.config_toml(1024)).unwrap();
    let queues = workers.to_string();
    let good = good.to_string();
    run_peer("build", &gw.spec(None), dir.path(), &["--queues", &queues, "--good", &good]);
    let expect: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expect.json")).unwrap()).unwrap();
    let vdev = |name: &str, side: &str| {
        let mut v = name.to_owned();
        for q in 0..workers {
            v += &format!(
                ",rx_pcap={},tx_pcap={}",
                p(&dir.join(&format!("{side}-{q}.pcap"))),
                p(&dir.join(&format!("out-{side}-{q}.pcap")))
            );
        }
        v
    };
    let eal = EalArgs::new().vdev(vdev("net_pcap0", "lan")).vdev(vdev("net_pcap1", "wan"));
    let stats = dir.join("s.json");
    let w = workers.to_string();
    let run = Qfp::run(
        [
            "-c",
            &p(&dir.join("gw.toml")),
            "--workers",
            &w,
            "--duration",
            "2",
            "--stats-json",
            &p(&stats),
        ],
        &eal,
    )
    .output();
    run.assert_success();
    let s = Stats::read(&stats);
    assert!(s.is_final);
    let (mp, mu) = (s.port(0).mac.clone().unwrap(), s.port(1).mac.clone().unwrap());
    assert_eq!(
        (s.port(0).role.as_deref(), s.port(1).role.as_deref()),
        (Some("protected"), Some("unprotected"))
    );
    let report = run_peer("verify", &gw.spec(Some((&mp, &mu))), dir.path(), &[]);
    assert_eq!(report["error_count"], 0, "scapy found problems: {report}\n--- qfp\n{}", run.stderr);
    (dir, s, expect, gw)
}

/// The drop reasons `docs/drops.md` lists (its generated tables, kept true by a test).
fn documented_reasons() -> Vec<String> {
    let path = qfp_tests::bin::workspace_root().join("docs/drops.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let names: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let numeric = cells.get(1)?.parse::<u16>().is_ok();
            if numeric { Some(cells.get(2)?.trim_matches('`').to_owned()) } else { None }
        })
        .collect();
    assert!(names.len() >= 35, "{}: the drop tables", path.display());
    names
}

/// The stats account for every packet and count every bad one under its reason.
fn check_counts(s: &Stats, expect: &Value, gw: &GatewayDef, good: u64) {
    assert_eq!(s.in_flight(), 0, "received = sent + dropped + consumed");
    let want: BTreeMap<String, u64> = serde_json::from_value(expect["drops"].clone()).unwrap();
    let nonzero: BTreeMap<String, u64> =
        s.drops.iter().filter(|(_, n)| **n > 0).map(|(k, n)| (k.clone(), *n)).collect();
    assert_eq!(nonzero, want, "drops by reason");
    for name in documented_reasons() {
        assert!(s.drops.contains_key(&name), "{name} (docs/drops.md) missing from the stats");
    }
    for (name, n) in expect["events"].as_object().unwrap() {
        assert_eq!(s.event(name), n.as_u64().unwrap(), "event {name}");
    }
    let wan = expect["wan_frames"].as_u64().unwrap();
    let lan = expect["lan_frames"].as_u64().unwrap();
    assert_eq!((s.port(0).rx, s.port(1).rx), (lan, wan), "every frame was received");
    let decap = expect["decapsulated"].as_array().unwrap().len() as u64;
    let encap: u64 = expect["encapsulated"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_array().unwrap().len() as u64)
        .sum();
    assert_eq!((s.port(0).tx, s.port(1).tx), (decap, encap), "every good packet was sent");
    let ipsec_in: u64 = s
        .drops
        .iter()
        .filter(|(k, _)| k.starts_with("IN_") || k.starts_with("CD_IN"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(s.global["IpsecInput"], ipsec_in);
    // Per SA: every good packet, plus the two that failed after decryption (TTL, no route)
    // in; the good ones out; one replay and one bad ICV per inbound SA.
    for t in &gw.tunnels {
        let inb = s.sa(u64::from(t.inb.spi));
        assert_eq!(inb["packets"], good + 2, "{}: inbound packets", t.name);
        assert_eq!(
            (inb["replay_failed"].as_u64(), inb["verify_failed"].as_u64()),
            (Some(1), Some(1)),
            "{}",
            t.name
        );
        assert_eq!(inb["dir"], "in");
        let out = s.sa(u64::from(t.out.spi));
        assert_eq!(
            (out["packets"].as_u64(), out["seq"].as_u64()),
            (Some(good), Some(good)),
            "{}",
            t.name
        );
        assert_eq!((out["dir"].as_str(), out["state"].as_str()), (Some("out"), Some("active")));
    }
    assert_eq!(s.inbound.decrypted, (good + 2) * gw.tunnels.len() as u64);
    assert_eq!(s.outbound.encrypted, good * gw.tunnels.len() as u64);
    let control = s.control.as_ref().expect("gateway control counters");
    assert_eq!(control["handoff_pending"], 0);
    assert_eq!(control["punts_received"], s.event("punted"));
    assert_eq!(control["invalid_spi_reports"], s.event("invalid_spi_punted"));
}

/// tshark decodes every ESP frame of the non-ESN SAs with our keys: ICV good, no errors.
fn tshark_decodes(dir: &Path, gw: &GatewayDef) {
    let tshark = std::env::var("QFP_TSHARK").unwrap_or_else(|_| "tshark".into());
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("out-wan") {
            continue;
        }
        let mut cmd = Command::new(&tshark);
        cmd.arg("-r").arg(&path).args(["-o", "esp.enable_encryption_decode:TRUE"]);
        cmd.args(["-o", "esp.enable_authentication_check:TRUE"]);
        // The inner datagrams carry test bytes: no application dissector guesses at them.
        cmd.args(["-d", "udp.port==45678,data"]);
        for u in gw.tshark_sas() {
            cmd.args(["-o", &u]);
        }
        cmd.args([
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "esp.spi",
            "-e",
            "esp.icv_good",
            "-e",
            "_ws.expert",
            "-e",
            "_ws.malformed",
        ]);
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("{tshark}: {e} (./scripts/test installs tshark)"));
        assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let f: Vec<&str> = line.split('|').collect();
            let spi = u32::from_str_radix(f[0].trim_start_matches("0x"), 16).unwrap_or(0);
            if !gw.tunnels.iter().any(|t| !t.esn && t.out.spi == spi) {
                continue;
            }
            assert!(
                f[1] == "1" || f[1].eq_ignore_ascii_case("true"),
                "{name}: ICV not good: {line}"
            );
            assert!(f[2].is_empty() && f[3].is_empty(), "{name}: tshark complains: {line}");
            checked += 1;
        }
    }
    assert!(checked > 0, "tshark saw no ESP frame of a non-ESN SA");
}

#[test]
fn one_worker_against_the_scapy_peer() {
    let _one_at_a_time = exclusive();
    let (dir, s, expect, gw) = run_gateway("gw1", 1, 20);
    check_counts(&s, &expect, &gw, 20);
    assert_eq!(s.workers.len(), 1);
    assert_eq!(s.event("handed_off"), 0, "one worker owns everything");
    tshark_decodes(dir.path(), &gw);
}

/// Two workers, each with its own rx queue (its own pcap file) on both ports: the peers'
/// and the LAN's packets are dealt over both, so about half land on the worker that does
/// not own their SA and are handed off. Same results, nothing lost.
#[test]
fn two_workers_hand_off_and_lose_nothing() {
    let _one_at_a_time = exclusive();
    let (_dir, s, expect, gw) = run_gateway("gw2", 2, 20);
    check_counts(&s, &expect, &gw, 20);
    assert_eq!(s.workers.len(), 2);
    let handed: u64 = s.workers.iter().map(|w| w.handed_off).sum();
    let received: u64 = s.workers.iter().map(|w| w.handoff_received).sum();
    assert!(handed > 20, "packets were handed off: {:?}", s.workers);
    assert_eq!(handed, received, "every handoff arrived");
    assert!(s.workers.iter().all(|w| w.rx > 0), "both workers received: {:?}", s.workers);
}

/// SIGINT stops the gateway cleanly: exit 0, the final document written, nothing in
/// flight (the same path as the end of --duration, which the tests above take).
#[test]
fn sigint_stops_the_gateway_cleanly() {
    let _one_at_a_time = exclusive();
    let dir = TempDir::new("gwsig");
    let gw = GatewayDef::standard();
    std::fs::write(dir.join("gw.toml"), gw.config_toml(1024)).unwrap();
    run_peer("build", &gw.spec(None), dir.path(), &["--good", "5"]);
    let eal = EalArgs::new()
        .vdev(format!(
            "net_pcap0,rx_pcap={},tx_pcap={}",
            p(&dir.join("lan-0.pcap")),
            p(&dir.join("out-lan-0.pcap"))
        ))
        .vdev(format!(
            "net_pcap1,rx_pcap={},tx_pcap={}",
            p(&dir.join("wan-0.pcap")),
            p(&dir.join("out-wan-0.pcap"))
        ));
    let stats = dir.join("s.json");
    let running = Qfp::run(
        ["-c", &p(&dir.join("gw.toml")), "--stats-interval", "0.1", "--stats-json", &p(&stats)],
        &eal,
    )
    .spawn();
    // The first document says the gateway is up; then interrupt it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !stats.exists() {
        assert!(std::time::Instant::now() < deadline, "no stats document after 30 s");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    running.signal(rustix::process::Signal::INT);
    let out = running.wait();
    out.assert_success();
    assert!(out.qfp_lines().iter().any(|l| l.contains("stopped by SIGINT")), "{}", out.stderr);
    let s = Stats::read(&stats);
    assert!(s.is_final, "the final document");
    assert_eq!(s.in_flight(), 0);
    assert!(s.inbound.decrypted > 0 && s.outbound.encrypted > 0, "it forwarded before the signal");
}
