//! The malformed-traffic table through the real binary: `tests/py/gw_malformed.py` (run as
//! `gw_peer.py malformed`) builds every kind of broken, odd or hostile frame a gateway
//! meets on either port (runts, bad IPv4 header lengths and checksums, IPv6 extension
//! headers, ESP in fragments, UDP 4500 keepalives, non-ESP markers and short payloads,
//! wrong outer destinations, VLAN tags, jumbo frames, zero-length payloads, truncated and
//! badly padded ESP, authenticated but wrong inner packets, unknown SPIs), each with the
//! one outcome qfp must give it. `qfp run -c` eats them all on net_pcap ports; then every
//! drop reason must hold exactly the cases that expect it, the events theirs, what was
//! forwarded must be exactly the good packets (scapy decrypts and compares them), and
//! frames in = forwarded + counted drops + consumed, nothing else. The cases
//! `tests/e2e/gateway.rs` already sends (one of each) are not repeated.
//!
//! Counting per outcome over one run cannot tell two cases that swapped reasons apart, so
//! the one-worker test also attributes each case: forwarded ones by their contents (scapy's
//! `verify`), the counted ones (drops and events) by a few more runs over groups of them,
//! group j being the cases whose number has bit j set: any two cases differ in some group,
//! so a swap, or one case counted under a wrong reason, shows in that group's counts.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::Path;

use qfp_tests::gateway::{GatewayDef, run_peer};
use qfp_tests::stats::Stats;
use qfp_tests::{EalArgs, Qfp, TempDir, exclusive};
use serde_json::Value;

fn p(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn malformed_traffic_table_every_frame_accounted() {
    table(1);
}

/// The counted cases, case by case: the attribution groups (see the module doc), each in
/// its own run. Every group must count exactly what its cases expect.
#[test]
fn malformed_traffic_table_case_by_case() {
    let _one_at_a_time = exclusive();
    let dir = TempDir::new("malformed-cases");
    let gw = GatewayDef::standard();
    std::fs::write(dir.join("gw.toml"), gw.config_toml(1024)).unwrap();
    run_peer("malformed", &gw.spec(None), dir.path(), &[]);
    let expect: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expect.json")).unwrap()).unwrap();
    let cases = expect["cases"].as_array().unwrap();
    let runs = expect["runs"].as_array().unwrap();
    let counted = cases.iter().filter(|c| c["outcome"] != "forwarded").count();
    assert!(
        counted >= 2 && (1usize << runs.len()) >= counted,
        "{} groups for {counted} cases",
        runs.len()
    );
    let mut wrong = Vec::new();
    for (j, members) in runs.iter().enumerate() {
        let members: Vec<usize> =
            members.as_array().unwrap().iter().map(|i| i.as_u64().unwrap() as usize).collect();
        let (s, stderr) = run_table(&dir.join(&format!("runs/{j}")), &dir.join("gw.toml"), 1);
        let mut want: BTreeMap<String, u64> = BTreeMap::new();
        for &i in &members {
            *want.entry(cases[i]["outcome"].as_str().unwrap().to_owned()).or_default() += 1;
        }
        assert_eq!(s.port(0).rx + s.port(1).rx, members.len() as u64, "group {j}: frames received");
        let mut got: BTreeMap<String, u64> =
            s.drops.iter().filter(|(_, n)| **n > 0).map(|(r, n)| (r.clone(), *n)).collect();
        // None of these cases may come out (the forwarded ones are in no group).
        let out = s.port(0).tx + s.port(1).tx;
        if out > 0 {
            got.insert("forwarded".to_owned(), out);
        }
        for ev in ["natt_keepalive", "punted"] {
            if s.event(ev) > 0 {
                got.insert(ev.to_owned(), s.event(ev));
            }
        }
        if got != want {
            let names: Vec<String> = members
                .iter()
                .map(|&i| format!("#{} {} -> {}", i + 1, cases[i]["name"], cases[i]["outcome"]))
                .collect();
            wrong.push(format!(
                "group {j}: expected {want:?}, counted {got:?}\n  cases: {names:#?}\n--- qfp\n{stderr}"
            ));
        }
        println!("group {j}: {} cases, counted as expected: {}", members.len(), got == want);
    }
    assert!(wrong.is_empty(), "cases counted under other outcomes:\n{}", wrong.join("\n"));
}

/// Runs `qfp run -c` over `pcaps`/{lan,wan}-0.pcap with `workers` workers (tx pcaps next
/// to them); returns the final statistics and qfp's stderr.
fn run_table(pcaps: &Path, config: &Path, workers: usize) -> (Stats, String) {
    // One rx queue per port; one tx queue per worker on each (every worker may send).
    let side = |name: &str, s: &str| {
        let mut v = format!("{name},rx_pcap={}", p(&pcaps.join(format!("{s}-0.pcap"))));
        for q in 0..workers {
            v += &format!(",tx_pcap={}", p(&pcaps.join(format!("out-{s}-{q}.pcap"))));
        }
        v
    };
    let eal = EalArgs::new().vdev(side("net_pcap0", "lan")).vdev(side("net_pcap1", "wan"));
    let stats = pcaps.join("s.json");
    let run = Qfp::run(
        [
            "-c",
            &p(config),
            "--workers",
            &workers.to_string(),
            "--duration",
            "2",
            "--stats-json",
            &p(&stats),
        ],
        &eal,
    )
    .output();
    run.assert_success(); // no crash, clean stop
    let s = Stats::read(&stats);
    assert!(s.is_final);
    (s, run.stderr)
}

/// The same table with two workers: one rx queue per port, so worker 0 receives every
/// frame and hands what belongs to worker 1's SAs and tunnels over before any check of
/// the ESP itself; the owner classifies again and must reach the same outcome.
#[test]
fn malformed_traffic_table_through_handoffs() {
    let s = table(2);
    assert!(s.event("handed_off") > 0, "frames crossed the handoff rings");
    assert_eq!(s.event("handed_off"), s.event("handoff_received"));
}

/// Runs the table through `workers` workers; returns the final statistics.
fn table(workers: usize) -> Stats {
    let _one_at_a_time = exclusive();
    let dir = TempDir::new("malformed");
    let gw = GatewayDef::standard();
    std::fs::write(dir.join("gw.toml"), gw.config_toml(1024)).unwrap();
    run_peer("malformed", &gw.spec(None), dir.path(), &[]);
    let expect: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expect.json")).unwrap()).unwrap();
    let (s, stderr) = run_table(dir.path(), &dir.join("gw.toml"), workers);

    let cases = expect["cases"].as_array().unwrap();
    let (lan, wan) =
        (expect["lan_frames"].as_u64().unwrap(), expect["wan_frames"].as_u64().unwrap());
    assert_eq!(cases.len() as u64, lan + wan);
    assert_eq!((s.port(0).rx, s.port(1).rx), (lan, wan), "every frame was received");

    // Outcome by outcome: what the cases expect, and what qfp counted.
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for c in cases {
        *want.entry(c["outcome"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    let decap = expect["decapsulated"].as_array().unwrap().len() as u64;
    let encap: u64 = expect["encapsulated"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_array().unwrap().len() as u64)
        .sum();
    let forwarded = s.port(0).tx + s.port(1).tx;
    let counted = |outcome: &str| match outcome {
        "forwarded" => forwarded,
        "natt_keepalive" | "punted" => s.event(outcome),
        reason => *s.drops.get(reason).unwrap_or_else(|| panic!("{reason}: no such drop reason")),
    };

    println!(
        "\nmalformed-traffic table, {workers} worker(s) ({} cases: {lan} on the protected port, \
         {wan} on the unprotected port)",
        cases.len()
    );
    println!("{:<4} {:<4} {:<70} must be", "#", "port", "case");
    for (i, c) in cases.iter().enumerate() {
        println!(
            "{:<4} {:<4} {:<70} {}",
            i + 1,
            c["side"].as_str().unwrap(),
            c["name"].as_str().unwrap(),
            c["outcome"].as_str().unwrap()
        );
    }
    println!("\n{:<36} {:>8} {:>8}", "outcome", "cases", "counted");
    let mut wrong = Vec::new();
    for (outcome, n) in &want {
        let got = counted(outcome);
        println!("{outcome:<36} {n:>8} {got:>8}{}", if got == *n { "" } else { "  <-- differs" });
        if got != *n {
            wrong.push(format!("{outcome}: {n} cases, {got} counted"));
        }
    }
    // Nothing counted that no case asked for.
    for (reason, n) in s.drops.iter().filter(|(_, n)| **n > 0) {
        if !want.contains_key(reason) {
            println!("{reason:<36} {:>8} {n:>8}  <-- no case expects it", 0);
            wrong.push(format!("{reason}: {n} counted, no case"));
        }
    }
    assert!(wrong.is_empty(), "outcomes differ: {wrong:?}\n--- qfp\n{stderr}");
    assert_eq!(want.get("forwarded").copied().unwrap_or(0), decap + encap);
    assert_eq!((s.port(0).tx, s.port(1).tx), (decap, encap), "decapsulated, encapsulated");

    // Total in = forwarded + counted drops + consumed, nothing else lost.
    let consumed = s.event("natt_keepalive") + s.event("punted");
    assert_eq!(
        lan + wan,
        forwarded + s.total_drops() + consumed,
        "frames in = out + drops + consumed"
    );
    assert_eq!(s.in_flight(), 0);
    // Each unknown SPI is either reported to the control core or suppressed by the rate limit.
    let unknown =
        s.drops["IN_US_V4_PKT_SA_NOT_FOUND_SPI"] + s.drops["IN_US_V6_PKT_SA_NOT_FOUND_SPI"];
    assert_eq!(s.event("invalid_spi_punted") + s.event("invalid_spi_suppressed"), unknown);
    assert!(s.event("invalid_spi_suppressed") > 0, "a flood of unknown SPIs is rate-limited");

    // What came out is exactly the good packets, as scapy decrypts and compares them.
    let (mp, mu) = (s.port(0).mac.clone().unwrap(), s.port(1).mac.clone().unwrap());
    let report = run_peer("verify", &gw.spec(Some((&mp, &mu))), dir.path(), &[]);
    assert_eq!(report["error_count"], 0, "scapy found problems: {report}");
    println!(
        "\n{} cases tried: every one counted under its outcome; {forwarded} forwarded and verified by scapy",
        cases.len()
    );
    s
}
