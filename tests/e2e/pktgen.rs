//! The pktgen material (`scripts/pktgen/`): its no-drop search, tested against fakes and
//! against a real pcap replay through the real gateway.
//!
//! pktgen-dpdk has no Debian package, so what pktgen would do is played by a shim of its
//! Lua API (`tests/pktgen/pktgen_shim.lua`): each pktgen port is a veth whose peer a
//! `qfp run -c` polls through DPDK's `net_af_packet`; `start` replays the port's `qfp
//! pcap` capture into the veth with `tcpreplay --pps`, `portStats` reads the veths'
//! kernel counters. The shipped `scripts/pktgen/qfp-nodrop.lua` runs unchanged on top
//! (through `tests/pktgen/run_real.lua`, which also writes every trial down), reading the
//! gateway's `--stats-json`. The checks are exact, never timing: each trial's verdict
//! follows from its counts; qfp's port counters (DPDK) and the veths' (kernel) agree
//! frame for frame on what came back; a passing trial had every frame reach qfp; a
//! gateway with the wrong inbound key fails every trial and the table names qfp's drop
//! reason.
//!
//! Needs root (veth pairs), `lua5.4` and `tcpreplay` (`scripts/setup --test` installs
//! both; `./scripts/test` runs it).
#![forbid(unsafe_code)]

use std::path::Path;
use std::process::Command;

use qfp_tests::bin::workspace_root;
use qfp_tests::{EalArgs, Qfp, TempDir, exclusive};
use rustix::process::Signal;

fn lua() -> &'static str {
    let ok = Command::new("lua5.4").arg("-v").output().is_ok_and(|o| o.status.success());
    assert!(ok, "lua5.4 is missing: run ./scripts/test (scripts/setup --test installs it)");
    "lua5.4"
}

#[test]
fn search_logic_passes_its_lua_tests_against_fakes() {
    let out = Command::new(lua())
        .arg(workspace_root().join("tests/pktgen/test_nodrop.lua"))
        .output()
        .expect("running lua5.4");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let summary = text.lines().last().unwrap_or_default();
    let (n, rest) = summary.split_once(" checks, ").expect("summary line");
    assert_eq!(rest, "0 failed", "{text}");
    assert!(n.parse::<u32>().unwrap() >= 18, "{text}");
}

/// Two veth pairs (generator end, gateway end) for pktgen ports 0 (protected side) and 1
/// (unprotected side), IPv6 off so that the kernel sends nothing of its own on them;
/// deleted on drop.
struct Veths {
    gen_ends: [String; 2],
    dut_ends: [String; 2],
}

impl Veths {
    fn new() -> Veths {
        let id = std::process::id() % 100_000;
        let v = Veths {
            gen_ends: [format!("qg{id}p"), format!("qg{id}u")],
            dut_ends: [format!("qd{id}p"), format!("qd{id}u")],
        };
        for i in 0..2 {
            let (g, d) = (&v.gen_ends[i], &v.dut_ends[i]);
            run("ip", &["link", "add", g, "type", "veth", "peer", "name", d]);
            for end in [g, d] {
                run("sysctl", &["-qw", &format!("net.ipv6.conf.{end}.disable_ipv6=1")]);
                run("ip", &["link", "set", end, "up"]);
            }
        }
        v
    }
}

impl Drop for Veths {
    fn drop(&mut self) {
        for g in &self.gen_ends {
            let _ = Command::new("ip").args(["link", "del", g]).output();
        }
    }
}

fn run(prog: &str, args: &[&str]) {
    let out = Command::new(prog).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {prog}: {e} (run ./scripts/test: scripts/setup --test installs it)")
    });
    assert!(
        out.status.success(),
        "{prog} {} failed (this test needs root for veth pairs): {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One trial as `run_real.lua` writes it.
#[derive(Debug)]
struct Trial {
    rate: f64,
    sent: i64,
    received: i64,
    lost: i64,
    qfp_drops: i64,
    qfp_missed: i64,
    qfp_rx: i64,
    qfp_tx: i64,
    passed: bool,
    reasons: String,
}

fn trials(path: &Path) -> Vec<Trial> {
    std::fs::read_to_string(path)
        .expect("trials file")
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let n = |i: usize| f[i].parse::<i64>().unwrap();
            Trial {
                rate: f[0].parse().unwrap(),
                sent: n(1),
                received: n(2),
                lost: n(3),
                qfp_drops: n(4),
                qfp_missed: n(5),
                qfp_rx: n(6),
                qfp_tx: n(7),
                passed: f[8] == "true",
                reasons: f.get(9).unwrap_or(&"").to_string(),
            }
        })
        .collect()
}

/// What one search run left: the trials, the printed table, the summary line.
struct Search {
    trials: Vec<Trial>,
    table: String,
    summary: String,
}

/// Writes the captures for `tests/pktgen/gw.toml`, starts `qfp run -c <config>` on the
/// veths, runs the shipped search through the shim, stops the gateway.
fn search(tag: &str, config: &str, env: &[(&str, &str)]) -> Search {
    let _one = exclusive();
    let lua = lua();
    let dir = TempDir::new(tag);
    let root = workspace_root();
    let pcap_cfg = root.join("tests/pktgen/gw.toml");
    let (c, d) = (pcap_cfg.to_str().unwrap(), dir.path().to_str().unwrap());
    Qfp::new(["pcap", "-c", c, "--dir", d, "--sizes", "64", "--count", "256"])
        .output()
        .assert_success();
    let cfg = dir.join("gw.toml");
    std::fs::write(&cfg, config).unwrap();
    let veths = Veths::new();
    let stats = dir.join("stats.json");
    let eal = EalArgs::new()
        .vdev(format!("net_af_packet0,iface={}", veths.dut_ends[0]))
        .vdev(format!("net_af_packet1,iface={}", veths.dut_ends[1]));
    let gw = Qfp::run(
        [
            "-c",
            cfg.to_str().unwrap(),
            "--replay-window",
            "0",
            "--stats-json",
            stats.to_str().unwrap(),
            "--stats-interval",
            "1",
            "-q",
        ],
        &eal,
    )
    .timeout(std::time::Duration::from_secs(300))
    .spawn();
    // The stats file appears once the gateway runs.
    let t0 = std::time::Instant::now();
    while !stats.exists() {
        assert!(t0.elapsed().as_secs() < 60, "qfp run wrote no stats in 60 s");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let trials_out = dir.join("trials.tsv");
    let results = dir.join("results.tsv");
    let pcaps =
        format!("{},{}", dir.join("plain-64.pcap").display(), dir.join("esp-64.pcap").display());
    let ifaces = format!("{},{}", veths.gen_ends[0], veths.gen_ends[1]);
    let mut cmd = Command::new(lua);
    cmd.arg(root.join("tests/pktgen/run_real.lua"))
        .env("QFP_SHIM_IFACES", &ifaces)
        .env("QFP_SHIM_PCAPS", &pcaps)
        .env("QFP_STATS", &stats)
        .env("QFP_TRIALS_OUT", &trials_out)
        .env("QFP_RESULTS", &results)
        .env("QFP_LABEL", "64")
        .env("QFP_TRIAL_S", "1")
        .env("QFP_START_MS", "500");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running run_real.lua");
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    gw.signal(Signal::INT);
    let gw = gw.wait();
    assert!(
        out.status.success(),
        "the search failed:\n{table}\n{}\n--- qfp:\n{}",
        String::from_utf8_lossy(&out.stderr),
        gw.stderr
    );
    gw.assert_success();
    let summary = std::fs::read_to_string(&results).expect("results file");
    eprintln!("{table}");
    Search { trials: trials(&trials_out), table, summary: summary.trim_end().to_string() }
}

fn config_text() -> String {
    std::fs::read_to_string(workspace_root().join("tests/pktgen/gw.toml")).unwrap()
}

#[test]
fn no_drop_search_through_qfp_run_agrees_with_both_counters() {
    let s = search(
        "pktgen-real",
        &config_text(),
        &[("QFP_SHIM_LINE_PPS", "20000"), ("QFP_RESOLUTION", "25")],
    );
    assert!(!s.trials.is_empty() && s.trials.len() <= 8, "{} trials", s.trials.len());
    assert_eq!(s.trials[0].rate, 100.0, "RFC 2544 starts at the highest rate");
    for t in &s.trials {
        assert!(t.sent > 0, "trial {t:?} sent nothing");
        assert_eq!(t.lost, t.sent - t.received, "{t:?}");
        // What the generator got back is exactly what qfp says it sent (kernel veth
        // counters against DPDK port counters, read at different moments).
        assert_eq!(t.qfp_tx, t.received, "qfp's tx and the generator's rx disagree: {t:?}");
        assert!(t.qfp_rx <= t.sent, "qfp received more than was sent: {t:?}");
        assert_eq!(t.passed, t.lost == 0 && t.qfp_drops == 0 && t.qfp_missed == 0, "{t:?}");
        if t.passed {
            assert_eq!(t.qfp_rx, t.sent, "a clean trial had every frame reach qfp: {t:?}");
        }
    }
    // The answer is the highest rate at which every trial passed (the search repeats the
    // rate it found once: a rate that passed and then failed its confirmation is not the
    // answer), and the table and summary say so.
    let clean = |r: f64| s.trials.iter().filter(|t| t.rate == r).all(|t| t.passed);
    let best = s
        .trials
        .iter()
        .filter(|t| t.passed && clean(t.rate))
        .map(|t| t.rate)
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
    let line = s.table.lines().find(|l| l.starts_with("no-drop rate:")).expect(&s.table);
    match best {
        Some(r) => {
            let label = format!("{r:.3}").trim_end_matches('0').trim_end_matches('.').to_string();
            assert!(line.starts_with(&format!("no-drop rate: {label}%")), "{line} vs {r}");
            assert!(s.summary.starts_with(&format!("64\t{label}%\t")), "{}", s.summary);
        }
        None => {
            assert!(line.starts_with("no-drop rate: none"), "{line}");
            assert!(s.summary.starts_with("64\tnone\t"), "{}", s.summary);
        }
    }
    assert!(s.table.contains("qfp no-drop rate (RFC 2544 binary search), ports 0,1, 64"));
}

#[test]
fn a_gateway_with_the_wrong_key_fails_every_trial_and_names_the_drop() {
    let wrong = config_text().replace(
        "key = \"ffeeddccbbaa99887766554433221100\"",
        "key = \"0f0e0d0c0b0a09080706050403020100\"",
    );
    assert_ne!(wrong, config_text());
    let s = search(
        "pktgen-wrongkey",
        &wrong,
        &[("QFP_SHIM_LINE_PPS", "2000"), ("QFP_RESOLUTION", "50")],
    );
    assert_eq!(s.trials.len(), 2, "100% then 50%, then the interval is at the resolution");
    for t in &s.trials {
        assert!(!t.passed, "{t:?}");
        assert!(t.qfp_drops > 0 && t.lost > 0, "{t:?}");
        assert!(t.reasons.contains("IN_CD_SW_IPSEC_MAC_EXCEPTION"), "{t:?}");
        // Every ESP frame the gateway received failed its ICV; every plain one went out.
        assert_eq!(t.qfp_drops + t.qfp_tx, t.qfp_rx, "{t:?}");
    }
    assert!(s.table.contains("IN_CD_SW_IPSEC_MAC_EXCEPTION"), "{}", s.table);
    assert!(s.table.contains("no-drop rate: none above 0%"), "{}", s.table);
    assert!(s.summary.starts_with("64\tnone\t-\t2"), "{}", s.summary);
}
