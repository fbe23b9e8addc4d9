//! Observability of a running gateway: `qfp run -c --prometheus ADDR:PORT` scraped over
//! HTTP and parsed strictly (`qfp_tests::prom`), and the DPDK telemetry socket spoken to
//! directly (`qfp_tests::telemetry`), both during a run of the gateway against the scapy
//! peer's traffic (every kind of bad packet, so most drop reasons are non-zero), and both
//! checked value by value against the `--stats-json` document of the same moment (the
//! traffic is over, so the counters stand still).
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use qfp_tests::gateway::{GatewayDef, run_peer};
use qfp_tests::prom::{self, Exposition};
use qfp_tests::stats::Stats;
use qfp_tests::telemetry::Telemetry;
use qfp_tests::{EalArgs, Qfp, TempDir, exclusive};
use serde_json::Value;

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// A TCP port free right now on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `GET path` over HTTP/1.0: status line, headers (lower-case names), body.
fn http_get(port: u16, path: &str) -> (u16, Vec<(String, String)>, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting to --prometheus");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("reading the HTTP response");
    let (head, body) =
        raw.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no header end: {raw:?}"));
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

/// The metric `name` with `labels` equals `want` (a JSON number).
fn eq(e: &Exposition, name: &str, labels: &[(&str, &str)], want: &Value) {
    let want = want.as_f64().unwrap_or_else(|| panic!("{name}{labels:?}: JSON has {want}"));
    assert_eq!(e.value(name, labels), want, "{name}{labels:?}");
}

/// Every figure of the stats JSON appears in the scrape with the same value.
fn prometheus_matches(e: &Exposition, doc: &Value) {
    let drops = doc["drops"].as_object().unwrap();
    assert_eq!(e.find("qfp_drops_total", &[]).len(), drops.len(), "one sample per reason");
    assert!(drops.values().filter(|n| n.as_u64() > Some(0)).count() >= 10, "bad traffic counted");
    for (reason, n) in drops {
        eq(e, "qfp_drops_total", &[("reason", reason)], n);
        let s = &e.find("qfp_drops_total", &[("reason", reason)])[0];
        assert!(s.labels["id"].parse::<u16>().is_ok(), "{reason}: the QFP id as a label: {s:?}");
        assert!(
            ["inbound", "outbound", "global"].contains(&s.labels["direction"].as_str()),
            "{s:?}"
        );
    }
    assert_eq!(e.types["qfp_drops_total"], "counter");
    for (k, n) in doc["global"].as_object().unwrap() {
        eq(e, "qfp_global_drops_total", &[("counter", k)], n);
    }
    for (k, n) in doc["events"].as_object().unwrap() {
        eq(e, "qfp_events_total", &[("event", k)], n);
    }
    for port in doc["ports"].as_array().unwrap() {
        let id = port["port"].to_string();
        for f in ["rx", "tx", "missed", "rx_nombuf"] {
            eq(e, &format!("qfp_port_{f}_total"), &[("port", &id)], &port[f]);
        }
        let role = e.find("qfp_port_rx_total", &[("port", &id)])[0].labels["role"].clone();
        assert_eq!(Some(role.as_str()), port["role"].as_str());
    }
    for w in doc["workers"].as_array().unwrap() {
        let l = w["lcore"].to_string();
        for f in ["rx", "tx", "drops", "handed_off", "handoff_received"] {
            eq(e, &format!("qfp_worker_{f}_total"), &[("lcore", &l)], &w[f]);
        }
    }
    let mut sas = 0;
    for t in doc["tunnels"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        eq(e, "qfp_tunnel_rekeys_total", &[("name", name)], &t["rekeys"]);
        for sa in t["sa"].as_array().unwrap() {
            let spi = sa["spi"].to_string();
            let l = [("tunnel", name), ("spi", spi.as_str()), ("dir", sa["dir"].as_str().unwrap())];
            for f in ["packets", "bytes", "replay_failed", "verify_failed"] {
                eq(e, &format!("qfp_sa_{f}_total"), &l, &sa[f]);
            }
            eq(e, "qfp_sa_seq", &l, &sa["seq"]);
            let info = e.find("qfp_sa_info", &l);
            assert_eq!(info.len(), 1, "{l:?}");
            assert_eq!(Some(info[0].labels["state"].as_str()), sa["state"].as_str());
            sas += 1;
        }
    }
    assert_eq!(sas, 6, "three tunnels, two SAs each");
    eq(e, "qfp_inbound_decrypted_total", &[], &doc["inbound"]["decrypted"]);
    eq(e, "qfp_outbound_encrypted_total", &[], &doc["outbound"]["encrypted"]);
    for (k, n) in doc["control"].as_object().unwrap() {
        let name = format!("qfp_control_{k}");
        let name = if e.types.contains_key(&name) { name } else { format!("{name}_total") };
        eq(e, &name, &[], n);
    }
    assert_eq!(e.value("qfp_stats_final", &[]), 0.0);
    assert_eq!(e.value("qfp_up", &[]), 1.0);
    assert!(e.value("qfp_uptime_seconds", &[]) > 0.0);
    // Every family is typed and described; counters end in _total.
    for s in &e.samples {
        let t = e.types.get(&s.name).unwrap_or_else(|| panic!("{} has no TYPE", s.name));
        assert!(e.help.contains_key(&s.name), "{} has no HELP", s.name);
        assert_eq!(t == "counter", s.name.ends_with("_total"), "{}: {t}", s.name);
    }
}

/// A telemetry key as qfp writes it (DPDK allows letters, digits, `_` and `/`).
fn key(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '/' { c } else { '_' })
        .collect()
}

/// `/qfp/drops`, `/qfp/sa`, `/qfp/workers`, `/qfp/stats` agree with the stats JSON.
fn telemetry_matches(t: &mut Telemetry, doc: &Value) {
    let list = t.query("/");
    for cmd in ["/qfp/drops", "/qfp/sa", "/qfp/stats", "/qfp/workers"] {
        assert!(list.as_array().unwrap().iter().any(|c| c == cmd), "{cmd} not registered: {list}");
    }
    let drops = t.query("/qfp/drops");
    assert_eq!(&drops, &doc["drops"], "/qfp/drops is the drop table, zeros included");
    let nonzero = t.query("/qfp/drops,nonzero");
    let want: serde_json::Map<String, Value> = doc["drops"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, n)| n.as_u64() > Some(0))
        .map(|(k, n)| (k.clone(), n.clone()))
        .collect();
    assert_eq!(nonzero, Value::Object(want));

    let sa = t.query("/qfp/sa");
    let mut seen = 0;
    for tun in doc["tunnels"].as_array().unwrap() {
        let name = tun["name"].as_str().unwrap();
        assert_eq!(sa[format!("{}/rekeys", key(name))], tun["rekeys"], "{name}");
        for s in tun["sa"].as_array().unwrap() {
            let base = format!("{}/{:#x}", key(name), s["spi"].as_u64().unwrap());
            for f in ["packets", "bytes", "seq", "replay_failed", "verify_failed", "owner"] {
                assert_eq!(sa[format!("{base}/{f}")], s[f], "/qfp/sa {base}/{f}");
            }
            for f in ["dir", "state"] {
                assert_eq!(sa[format!("{base}/{f}")], s[f], "/qfp/sa {base}/{f}");
            }
            seen += 1;
        }
        // One tunnel by name: only its keys.
        let one = t.query(&format!("/qfp/sa,{name}"));
        let keys: Vec<&String> = one.as_object().unwrap().keys().collect();
        assert!(
            !keys.is_empty() && keys.iter().all(|k| k.starts_with(&format!("{}/", key(name)))),
            "{keys:?}"
        );
    }
    assert_eq!(seen, 6);
    let spi = doc["tunnels"][1]["sa"][1]["spi"].as_u64().unwrap();
    let one = t.query(&format!("/qfp/sa,{spi:#x}"));
    assert_eq!(one.as_object().unwrap().len(), 9, "one SA, nine fields: {one}");

    let workers = t.query("/qfp/workers");
    for w in doc["workers"].as_array().unwrap() {
        for f in ["rx", "tx", "drops", "handed_off", "handoff_received"] {
            let k = format!("lcore{}/{f}", w["lcore"]);
            assert_eq!(workers[&k], w[f], "/qfp/workers {k}");
        }
    }
    let stats = t.query("/qfp/stats");
    for port in doc["ports"].as_array().unwrap() {
        for f in ["rx", "tx", "missed", "rx_nombuf"] {
            let k = format!("ports/port{}/{f}", port["port"]);
            assert_eq!(stats[&k], port[f], "/qfp/stats {k}");
        }
    }
    for section in ["global", "events", "inbound", "outbound", "control"] {
        for (k, v) in doc[section].as_object().unwrap() {
            assert_eq!(stats[format!("{section}/{k}")], *v, "/qfp/stats {section}/{k}");
        }
    }
    assert_eq!(stats["final"], 0);
    assert!(stats["uptime_s"].as_str().and_then(|s| s.parse::<f64>().ok()).is_some(), "{stats}");
}

#[test]
fn prometheus_and_telemetry_agree_with_the_stats_json_during_a_run() {
    let _one_at_a_time = exclusive();
    let dir = TempDir::new("observe");
    let gw = GatewayDef::standard();
    std::fs::write(dir.join("gw.toml"), gw.config_toml(1024)).unwrap();
    run_peer("build", &gw.spec(None), dir.path(), &["--queues", "2", "--good", "20"]);
    let expect: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expect.json")).unwrap()).unwrap();
    let vdev = |name: &str, side: &str| {
        let mut v = name.to_owned();
        for q in 0..2 {
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
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let running = Qfp::run(
        [
            "-c",
            &p(&dir.join("gw.toml")),
            "--workers",
            "2",
            "--stats-interval",
            "0.1",
            "--stats-json",
            &p(&stats),
            "--prometheus",
            &listen,
        ],
        &eal,
    )
    .timeout(Duration::from_secs(120))
    .spawn();

    // The traffic is over when every frame was received and nothing is in flight.
    let (lan, wan) =
        (expect["lan_frames"].as_u64().unwrap(), expect["wan_frames"].as_u64().unwrap());
    let t0 = Instant::now();
    loop {
        if stats.exists() {
            let s = Stats::read(&stats);
            if (s.port(0).rx, s.port(1).rx) == (lan, wan) && s.in_flight() == 0 {
                break;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "the traffic never finished");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A few more intervals: the published document is one with the final counters.
    std::thread::sleep(Duration::from_millis(400));

    let (status, headers, body) = http_get(port, "/metrics");
    assert_eq!(status, 200, "{body}");
    let ctype = headers.iter().find(|(k, _)| k == "content-type").map(|(_, v)| v.as_str());
    assert_eq!(ctype, Some("text/plain; version=0.0.4; charset=utf-8"));
    let scrape =
        prom::parse(&body).unwrap_or_else(|e| panic!("not the exposition format: {e}\n{body}"));
    let mut tel = Telemetry::connect_within(&eal.runtime_dirs(), Duration::from_secs(10));
    assert_eq!(tel.hello["pid"], running.pid(), "{}", tel.hello);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    prometheus_matches(&scrape, &doc);
    telemetry_matches(&mut tel, &doc);
    let (status, _, _) = http_get(port, "/nothing");
    assert_eq!(status, 404);
    println!(
        "scraped {} samples in {} families; telemetry: /qfp/drops, /qfp/sa, /qfp/stats, /qfp/workers agree",
        scrape.samples.len(),
        scrape.types.len()
    );

    running.signal(rustix::process::Signal::INT);
    let out = running.wait();
    out.assert_success();
    assert!(
        out.qfp_lines().iter().any(|l| l.contains("Prometheus metrics on http://")),
        "{}",
        out.stderr
    );
    let last: Value = serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    assert_eq!(last["final"], true);
    assert_eq!(last["drops"], doc["drops"], "nothing moved after the traffic");
}

/// A busy address is a usage error (exit 2) with nothing started.
#[test]
fn a_busy_prometheus_address_is_refused_before_the_eal_starts() {
    let _one_at_a_time = exclusive();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Qfp::run(["--prometheus", &addr, "--duration", "1"], &EalArgs::new()).output();
    out.assert_code(2);
    let lines = out.qfp_lines();
    assert!(lines.iter().any(|l| l.contains(&format!("--prometheus {addr}"))), "{}", out.stderr);
    assert!(!out.stderr.contains("EAL:"), "the EAL started: {}", out.stderr);
}

/// Before the first statistics document `/metrics` answers 503 (nothing to serve yet, and
/// a scraper must not read zeros as figures); `/` says where the metrics are; only GET and
/// HEAD are served.
#[test]
fn metrics_answer_503_until_the_first_document() {
    let _one_at_a_time = exclusive();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let eal = EalArgs::new().vdev("net_null0").vdev("net_null1");
    // The first document would come after 60 s: the test ends long before.
    let running = Qfp::run(["--stats-interval", "60", "--prometheus", &listen, "-q"], &eal)
        .timeout(Duration::from_secs(60))
        .spawn();
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(20), "--prometheus never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, _, body) = http_get(port, "/metrics");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no statistics yet"), "{body}");
    let (status, _, body) = http_get(port, "/");
    assert_eq!((status, body.contains("/metrics")), (200, true), "{body}");
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.0 405") || raw.starts_with("HTTP/1.1 405"), "{raw}");
    running.signal(rustix::process::Signal::INT);
    running.wait().assert_success();
}

/// A telemetry reply holds at most 256 entries (DPDK's dictionary): with forty tunnels
/// `/qfp/sa` is cut and says so (`truncated: 1`), and the parameter forms still give any
/// one tunnel or SA whole.
#[test]
fn telemetry_replies_longer_than_dpdk_takes_are_cut_and_say_so() {
    use qfp_tests::gateway::{Keys, TunnelDef};

    let _one_at_a_time = exclusive();
    let dir = TempDir::new("observe-many");
    let mut gw = GatewayDef::single();
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    gw.tunnels = (0..40u32)
        .map(|i| TunnelDef {
            name: leak(format!("t{i}")),
            local: "172.16.1.5",
            peer: leak(format!("172.16.3.{}", i + 1)),
            natt: false,
            esn: false,
            next_hop_mac: leak(format!("02:00:00:00:03:{i:02x}")),
            selectors: vec![leak(format!("10.{i}.0.0/16"))],
            out: Keys::new(0x3000 + i, 16),
            inb: Keys::new(0x4000 + i, 16),
        })
        .collect();
    std::fs::write(dir.join("gw.toml"), gw.config_toml(1024)).unwrap();
    qfp_tests::pcap::write(&dir.join("empty.pcap"), &[]);
    let vdev = |name: &str, side: &str| {
        format!(
            "{name},rx_pcap={},tx_pcap={}",
            p(&dir.join("empty.pcap")),
            p(&dir.join(&format!("out-{side}.pcap")))
        )
    };
    let eal = EalArgs::new().vdev(vdev("net_pcap0", "lan")).vdev(vdev("net_pcap1", "wan"));
    let stats = dir.join("s.json");
    let running = Qfp::run(
        ["-c", &p(&dir.join("gw.toml")), "--stats-interval", "0.1", "--stats-json", &p(&stats)],
        &eal,
    )
    .spawn();
    let t0 = Instant::now();
    while !stats.exists() {
        assert!(t0.elapsed() < Duration::from_secs(30), "no statistics after 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut tel = Telemetry::connect_within(&eal.runtime_dirs(), Duration::from_secs(10));
    let all = tel.query("/qfp/sa");
    let all = all.as_object().unwrap();
    assert_eq!(all.len(), 256, "DPDK's dictionary is full");
    assert_eq!(all["truncated"], 1, "and says it was cut: {all:?}");
    let one = tel.query("/qfp/sa,t37");
    let one = one.as_object().unwrap();
    assert_eq!(
        one.len(),
        5 + 2 * 9,
        "rekeys, owner, peer, peer_state, outbound_spi and two SAs of nine fields: {one:?}"
    );
    assert_eq!(one["t37/peer_state"], "static");
    assert_eq!(one["t37/0x4025/dir"], "in");
    assert!(!one.contains_key("truncated"));
    let sa = tel.query("/qfp/sa,0x3025");
    assert_eq!(sa.as_object().unwrap().len(), 9, "{sa}");
    assert_eq!(sa["t37/0x3025/dir"], "out");
    let drops = tel.query("/qfp/drops");
    assert!(drops.as_object().unwrap().len() >= 35 && drops.get("truncated").is_none());
    running.signal(rustix::process::Signal::INT);
    running.wait().assert_success();
}
