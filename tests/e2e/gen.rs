//! `qfp gen`, the traffic generator and sink, end to end on DPDK virtual devices and
//! without a gateway: its own loopback (`net_ring`), a `qfp run` cross-connect in another
//! process over `net_memif`, and a `net_pcap` sink that keeps what it is sent (injected
//! loss: nothing comes back from it). Every test checks exact counts from the JSON report
//! and that the timeline adds up to them; none depends on timing (rates are low and the
//! memif rings deep, so a loaded machine slows the tests down without changing results).
#![forbid(unsafe_code)]

use std::path::Path;
use std::time::Duration;

use qfp_tests::{EalArgs, Qfp, TempDir, exclusive, pcap};
use rustix::process::Signal;
use serde_json::Value;

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// `qfp gen <args> -- <eal>` (the EAL runtime directories removed afterwards).
fn gen_cmd(args: &[&str], eal: &EalArgs) -> Qfp {
    let mut all: Vec<String> = vec!["gen".into()];
    all.extend(args.iter().map(|s| s.to_string()));
    all.push("--".into());
    all.extend(eal.build());
    Qfp::new(all).cleanup_after(eal.runtime_dirs()).timeout(Duration::from_secs(120))
}

fn report(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

fn u(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no integer {key} in {v}"))
}

/// Checks a stream's books: `sent`, `received`, `lost` as given, nothing else odd, and the
/// timeline's columns add up to the totals.
fn assert_stream(s: &Value, sent: u64, received: u64, lost: u64) {
    assert_eq!((u(s, "sent"), u(s, "received"), u(s, "lost")), (sent, received, lost), "{s}");
    for k in ["duplicated", "late", "unexpected", "corrupt"] {
        assert_eq!(u(s, k), 0, "{k}: {s}");
    }
    let sum = |k: &str| -> u64 {
        s["timeline"][k].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).sum()
    };
    assert_eq!((sum("sent"), sum("received"), sum("lost")), (sent, received, lost), "{s}");
    assert_eq!(u(&s["latency_us"], "count"), received, "one latency per packet: {s}");
}

#[test]
fn net_ring_loopback_counts_every_packet() {
    let _one = exclusive();
    let dir = TempDir::new("gen-ring");
    for (extra, count) in [
        (&["--rate", "100000", "--size", "64"][..], 50_000u64),
        (&["--rate", "max", "--size", "1400", "--flows", "3"], 100_000),
        (&["--rate", "50000", "--size", "imix", "--ip", "6", "--flows", "100"], 20_000),
    ] {
        let json = dir.join("g.json");
        let count_s = count.to_string();
        let mut args = vec!["--count", &count_s, "--json", json.to_str().unwrap(), "-q"];
        args.extend(extra);
        let out = gen_cmd(&args, &EalArgs::new().vdev("net_ring0")).output();
        out.assert_success();
        let r = report(&json);
        assert_eq!(r["stopped_by"], "count", "{extra:?}");
        let streams = r["streams"].as_array().unwrap();
        assert_eq!(streams.len(), 1);
        assert_stream(&streams[0], count, count, 0);
        assert_eq!(u(&r["ports"][0], "rx"), count, "DPDK's own counter agrees");
        assert_eq!(u(&r["ports"][0], "foreign"), 0);
        // The table on stdout has the same totals.
        let total = out.stdout.lines().find(|l| l.starts_with("total")).expect("total line");
        let nums: Vec<&str> = total.split_whitespace().collect();
        assert_eq!(&nums[1..4], &[count_s.as_str(), count_s.as_str(), "0"], "{}", out.stdout);
    }
}

/// The frames a sink received, read back: (stream, sequence number) of each, by parsing
/// Ethernet/IPv4/UDP and the load header here, independently of `perf`.
fn load_headers(frames: &[Vec<u8>]) -> Vec<(u8, u64)> {
    frames
        .iter()
        .map(|f| {
            assert_eq!(&f[12..14], &[0x08, 0x00], "IPv4");
            let ihl = usize::from(f[14] & 0x0f) * 4;
            assert_eq!(f[14 + 9], 17, "UDP");
            let pl = &f[14 + ihl + 8..];
            assert_eq!(&pl[..2], b"QF");
            let mut seq = [0u8; 8];
            seq[2..].copy_from_slice(&pl[4..10]);
            assert!(pl[18..].iter().enumerate().all(|(k, &b)| b == k as u8), "pattern");
            (pl[2], u64::from_be_bytes(seq))
        })
        .collect()
}

#[test]
fn loss_into_a_sink_port_is_counted_and_dated() {
    let _one = exclusive();
    let dir = TempDir::new("gen-sink");
    let (json, sink) = (dir.join("g.json"), dir.join("sink.pcap"));
    // Port 0 loops back to itself; port 1 writes what it is sent to a file and returns
    // nothing: stream 1 is lost entirely, stream 0 not at all.
    let eal = EalArgs::new().vdev("net_ring0").vdev(format!("net_pcap1,tx_pcap={}", p(&sink)));
    let out = gen_cmd(
        &[
            "--count",
            "3000",
            "--rate",
            "20000",
            "--size",
            "128",
            "--json",
            &p(&json),
            "-q",
            "--drain-ms",
            "200",
        ],
        &eal,
    )
    .output();
    out.assert_success();
    let r = report(&json);
    let s = r["streams"].as_array().unwrap();
    assert_eq!(s.len(), 2);
    assert_stream(&s[0], 3000, 3000, 0);
    assert_stream(&s[1], 3000, 0, 3000);
    assert_eq!(u(&r["total"], "lost"), 3000);
    // 3000 packets at 20 kpps: sent over about 150 ms, so lost in the first buckets, and
    // every one of them lost in a bucket in which it was sent.
    let sent: Vec<u64> =
        s[1]["timeline"]["sent"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
    let lost: Vec<u64> =
        s[1]["timeline"]["lost"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
    assert_eq!(sent, lost, "stream 1 loses exactly what it sends, bucket by bucket");
    assert!(out.stdout.contains("lost by send time"), "{}", out.stdout);
    // The sink holds every frame of stream 1, in order, with intact payloads.
    let got = load_headers(&pcap::read(&sink));
    let want: Vec<(u8, u64)> = (0..3000).map(|i| (1, i)).collect();
    assert_eq!(got, want);
}

#[test]
fn live_json_follows_the_run_and_agrees_with_the_report() {
    let _one = exclusive();
    let dir = TempDir::new("gen-live");
    let (json, live) = (dir.join("g.json"), dir.join("live.json"));
    let out = gen_cmd(
        &[
            "--count",
            "10000",
            "--rate",
            "20000",
            "--live-json",
            &p(&live),
            "--live-ms",
            "50",
            "--start-delay-ms",
            "300",
            "--json",
            &p(&json),
            "-q",
        ],
        &EalArgs::new().vdev("net_ring0"),
    )
    .output();
    out.assert_success();
    assert!(!out.stderr.contains("qfp gen:   "), "-q: no live line on stderr\n{}", out.stderr);
    let r = report(&json);
    assert_stream(&r["streams"][0], 10_000, 10_000, 0);
    // 10000 packets at 20 kpps take half a second: the live file was written many times;
    // its last state is one of the run's, in the same clock as the report.
    let l = report(&live);
    let start = r["start_unix_s"].as_f64().expect("start_unix_s in the report");
    assert_eq!(l["start_unix_s"].as_f64(), Some(start), "{l}");
    let (sent, received) = (u(&l, "sent"), u(&l, "received"));
    assert!(sent <= 10_000 && received <= sent && sent > 0, "{l}");
    let s0 = &l["streams"][0];
    assert_eq!((u(s0, "id"), u(s0, "sent"), u(s0, "received")), (0, sent, received), "{l}");
    assert!(l["t_s"].as_f64().unwrap() > 0.0 && l["sending"].is_boolean(), "{l}");
    // Sending began after the links came up and the 300 ms delay: after the process began.
    assert!(start > 0.0);
}

#[test]
fn sigint_stops_sending_and_still_reports() {
    let _one = exclusive();
    let dir = TempDir::new("gen-int");
    let (json, live) = (dir.join("g.json"), dir.join("live.json"));
    let run = gen_cmd(
        &["--rate", "10000", "--json", &p(&json), "--live-json", &p(&live), "--live-ms", "50"],
        &EalArgs::new().vdev("net_ring0"),
    )
    .spawn();
    // Signal once packets are on their way, not after a fixed sleep: on a loaded machine
    // the EAL may take longer than any sleep to start, and a SIGINT before sending begins
    // rightly stops the run with nothing sent.
    let started = std::time::Instant::now();
    while !std::fs::read_to_string(&live)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .is_some_and(|l| l["sent"].as_u64().is_some_and(|n| n > 0))
    {
        assert!(started.elapsed() < Duration::from_secs(60), "qfp gen never started sending");
        std::thread::sleep(Duration::from_millis(20));
    }
    run.signal(Signal::INT);
    let out = run.wait();
    out.assert_success();
    assert!(out.stderr.contains("sending until SIGINT/SIGTERM"), "{}", out.stderr);
    let r = report(&json);
    assert_eq!(r["stopped_by"], "signal");
    let s = &r["streams"][0];
    let sent = u(s, "sent");
    assert!(sent > 0, "{s}");
    assert_stream(s, sent, sent, 0);
    assert!(started.elapsed() < Duration::from_secs(100));
}

#[test]
fn both_directions_through_a_qfp_cross_connect_over_memif() {
    let _one = exclusive();
    let dir = TempDir::new("gen-memif");
    let (json, stats) = (dir.join("g.json"), dir.join("s.json"));
    let (a, b) = (p(&dir.join("a.sock")), p(&dir.join("b.sock")));
    // Deep rings (2^14 slots): at 20 kpps they absorb most of a second of a busy CPU.
    // Sockets in the file system (not abstract), so the test can see the server listen.
    let memif = |i: u8, role: &str, sock: &str| {
        format!("net_memif{i},role={role},socket={sock},socket-abstract=no,rsize=14")
    };
    let gw_eal = EalArgs::new().vdev(memif(0, "server", &a)).vdev(memif(1, "server", &b));
    let gw = Qfp::run(
        [
            "--duration",
            "30",
            "--stats-json",
            &p(&stats),
            "--rx-desc",
            "4096",
            "--tx-desc",
            "4096",
            "-q",
        ],
        &gw_eal,
    )
    .spawn();
    let listening = std::time::Instant::now();
    while !(Path::new(&a).exists() && Path::new(&b).exists()) {
        assert!(listening.elapsed() < Duration::from_secs(30), "the cross-connect never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The generator on the first CPU (the cross-connect's worker polls the second).
    let gen_eal = EalArgs::new()
        .arg("--lcores=0@0")
        .vdev(memif(0, "client", &a))
        .vdev(memif(1, "client", &b));
    let out = gen_cmd(
        &[
            "--count",
            "20000",
            "--rate",
            "20000",
            "--json",
            &p(&json),
            "-q",
            "--link-wait",
            "20",
            "--drain-ms",
            "2000",
        ],
        &gen_eal,
    )
    .output();
    gw.signal(Signal::INT);
    let gw = gw.wait();
    out.assert_success();
    gw.assert_success();
    let r = report(&json);
    let s = r["streams"].as_array().unwrap();
    assert_eq!(s.len(), 2);
    // Port 0's stream comes back on port 1 and the other way round, every packet.
    assert_stream(&s[0], 20_000, 20_000, 0);
    assert_stream(&s[1], 20_000, 20_000, 0);
    let st: Value = serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    let w = &st["workers"][0];
    assert_eq!((u(w, "rx"), u(w, "tx"), u(w, "drops")), (40_000, 40_000, 0), "{st}");
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    for (args, needle) in [
        (&["--rate", "0"][..], "--rate"),
        (&["--rate", "fast"], "--rate"),
        (&["--size", "63"], "63"),
        (&["--size", "64", "--ip", "6"], "64"),
        (&["--net0", "10.0.0.0/8", "--net1", "2001:db8::/32"], "--net1"),
        (&["--src-mac", "zz"], "--src-mac"),
        (&["--flows", "0"], "--flows"),
        (&["--count", "0"], "--count"),
        (&["--duration", "x"], "--duration"),
        (&["--poll", "lazy"], "--poll"),
        (&["--live-ms", "5"], "--live-ms"),
        (&["--start-delay-ms", "x"], "--start-delay-ms"),
        (&["--live-json", "/nonexistent-dir/l.json"], "--live-json"),
    ] {
        let out = gen_cmd(args, &EalArgs::new().vdev("net_ring0")).output();
        out.assert_code(2);
        let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.starts_with("For more")).collect();
        assert_eq!(lines.len(), 1, "{args:?}: {}", out.stderr);
        assert!(lines[0].contains(needle), "{args:?}: {}", out.stderr);
    }
    // Errors only DPDK can find: no port, a port that does not exist, a MAC list too long.
    let _one = exclusive();
    for (args, eal, needle) in [
        (&["--count", "1"][..], EalArgs::new(), "found 0"),
        (&["--ports", "3"], EalArgs::new().vdev("net_ring0"), "no port 3"),
        (
            &["--dst-mac", "02:00:00:00:00:01,02:00:00:00:00:02"],
            EalArgs::new().vdev("net_ring0"),
            "--dst-mac",
        ),
        (&["--tx-ports", "1"], EalArgs::new().vdev("net_ring0"), "--tx-ports"),
    ] {
        let out = gen_cmd(args, &eal).output();
        out.assert_code(2);
        let ours: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("qfp gen: ") && !l.contains("adding") && !l.contains("lcore"))
            .collect();
        assert_eq!(ours.len(), 1, "{args:?}: {}", out.stderr);
        assert!(ours[0].contains(needle), "{args:?}: {}", out.stderr);
    }
}
