//! qfpctl against the real binary: a `qfp run -c` with one tunnel that has a PSK (its peer
//! is nowhere: nothing answers on the wire) and one static tunnel, on a net_null protected
//! port and a net_pcap unprotected port whose transmissions are captured. Every command of
//! design section 9, as text and `--json`, through `qfp ctl` and the `qfpctl` binary; bad
//! commands exit 2 with one line; `rekey` towards an unreachable peer starts an exchange
//! whose REKEY_INIT leaves on the wire and is retransmitted.
#![forbid(unsafe_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use qfp_tests::{EalArgs, Outcome, Qfp, TempDir, exclusive, pcap, qfpctl_bin};
use serde_json::Value;

const CFG: &str = r#"
[gateway]
protected_port = 0
unprotected_port = 1
local = "172.16.1.5"

[[tunnel]]
name = "branch-1"
peer = "172.16.2.5"
next_hop_mac = "02:00:00:00:01:01"
selectors = ["192.168.105.0/24"]
psk = "a shared secret of the pair"
[[tunnel.sa]]
dir = "out"
spi = 0x1001
aead = "aes-128-gcm"
key = "00112233445566778899aabbccddeeff"
salt = "01020304"
[[tunnel.sa]]
dir = "in"
spi = 0x2001
aead = "aes-128-gcm"
key = "ffeeddccbbaa99887766554433221100"
salt = "05060708"

[[tunnel]]
name = "static-2"
peer = "172.16.3.5"
next_hop_mac = "02:00:00:00:01:02"
selectors = ["192.168.106.0/24"]
[[tunnel.sa]]
dir = "out"
spi = 0x1002
aead = "aes-256-gcm"
key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
salt = "0a0b0c0d"
[[tunnel.sa]]
dir = "in"
spi = 0x2002
aead = "aes-256-gcm"
key = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"
salt = "0e0f1011"

[[route]]
dst = "192.168.115.0/24"
next_hop_mac = "02:00:00:00:00:01"
"#;

/// `qfp ctl --ctrl-socket S <args>`.
fn ctl(sock: &Path, args: &[&str]) -> Outcome {
    let mut all = vec!["ctl", "--ctrl-socket"];
    let s = sock.display().to_string();
    all.push(&s);
    all.extend_from_slice(args);
    Qfp::new(all).timeout(Duration::from_secs(20)).output()
}

/// `qfpctl --ctrl-socket S <args>` (the other binary; the client gives up after 15 s).
fn qfpctl(sock: &Path, args: &[&str]) -> Outcome {
    let started = Instant::now();
    let out = std::process::Command::new(qfpctl_bin())
        .arg("--ctrl-socket")
        .arg(sock)
        .args(args)
        .output()
        .expect("running qfpctl");
    Outcome {
        command: format!("qfpctl {}", args.join(" ")),
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// The JSON a successful command printed.
fn json(o: &Outcome) -> Value {
    o.assert_success();
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", o.stdout))
}

fn one_line_exit_2(o: &Outcome, what: &str) {
    o.assert_code(2);
    let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!((1..=2).contains(&lines.len()), "{what}: {}", o.stderr);
    assert!(o.stdout.is_empty(), "{what}: {}", o.stdout);
}

#[test]
fn every_command_answers_through_the_control_socket() {
    let _one = exclusive();
    let dir = TempDir::new("qfpctl");
    std::fs::write(dir.join("gw.toml"), CFG).unwrap();
    let sock = dir.join("ctl.sock");
    let wan = dir.join("wan.pcap");
    let stats = dir.join("stats.json");
    let eal = EalArgs::new()
        .vdev("net_null0,no-rx=1")
        .vdev(format!("net_pcap1,tx_pcap={}", wan.display()))
        .arg("-l")
        .arg("0-1");
    let p = |x: &Path| x.display().to_string();
    let mut gw = Qfp::run(
        [
            "-c",
            &p(&dir.join("gw.toml")),
            "--ctrl-socket",
            &p(&sock),
            "--stats-json",
            &p(&stats),
            "--stats-interval",
            "0.2",
            "-q",
        ],
        &eal,
    )
    .timeout(Duration::from_secs(90))
    .spawn();
    // Wait for the gateway to answer.
    let start = Instant::now();
    loop {
        assert!(gw.is_running(), "qfp run exited early");
        if sock.exists() && ctl(&sock, &["show", "workers"]).code() == Some(0) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no control socket after 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }

    // show drops [all]: the IOS table, every reason with `all`.
    let all = ctl(&sock, &["show", "drops", "all"]);
    all.assert_success();
    assert!(all.stdout.contains("Drop Type") && all.stdout.contains("Global Drop Stats"));
    for name in ["IN_US_V4_PKT_SA_NOT_FOUND_SPI", "OUT_IPV4_SA_NOT_FOUND", "IpsecTailDrop"] {
        let row = all.stdout.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("{name}"));
        assert!(row.trim_end().ends_with(" 0"), "{row}");
    }
    let d = json(&ctl(&sock, &["--json", "show", "drops", "all"]));
    assert!(d["drops"].as_array().unwrap().len() >= 30);
    assert_eq!(d["drops"][1]["name"], "IN_US_V4_PKT_SA_NOT_FOUND_SPI");
    assert_eq!(d["drops"][1]["id"], 4);
    assert_eq!(d["global"]["IpsecInput"], 0);
    let none = json(&ctl(&sock, &["show", "drops", "--json"]));
    assert_eq!(none["drops"].as_array().unwrap().len(), 0, "only non-zero rows by default");

    // show sa, like show crypto ipsec sa.
    let sa = ctl(&sock, &["show", "sa"]);
    sa.assert_success();
    for want in [
        "tunnel: branch-1",
        "local crypto endpt.: 172.16.1.5, remote crypto endpt.: 172.16.2.5",
        "spi: 0x00002001(8193)  state: active",
        "spi: 0x00001001(4097)  state: active",
        "replay detection support: Y, window 1024",
        "transform: esp-gcm aes-256-gcm",
        "static SAs (no PSK)",
        "sa timing: remaining key lifetime (sec/KB/packets): (",
    ] {
        assert!(sa.stdout.contains(want), "missing `{want}`:\n{}", sa.stdout);
    }
    let one = json(&ctl(&sock, &["--json", "show", "sa", "peer", "172.16.3.5"]));
    let t = &one["tunnels"].as_array().unwrap()[..];
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0]["name"].as_str(), t[0]["rekeying"].as_str()),
        (Some("static-2"), Some("static"))
    );
    assert_eq!(t[0]["outbound_spi"], 0x1002);
    let b1 = json(&ctl(&sock, &["--json", "show", "sa", "peer", "branch-1"]));
    assert_eq!(b1["tunnels"][0]["rekeying"], "peer-channel");
    assert_eq!(b1["tunnels"][0]["exchange"], "idle");

    // show stats: the stats document, now; show workers; show invalid-spi.
    let st = json(&ctl(&sock, &["show", "stats", "--json"]));
    for k in [
        "uptime_s",
        "ports",
        "workers",
        "drops",
        "tunnels",
        "inbound",
        "outbound",
        "core",
        "invalid_spi",
    ] {
        assert!(!st[k].is_null(), "stats lack {k}: {st}");
    }
    assert_eq!(st["tunnels"][0]["peer_state"], "alive");
    assert_eq!(st["tunnels"][1]["peer_state"], "static");
    let text = ctl(&sock, &["show", "stats"]);
    text.assert_success();
    assert!(
        text.stdout.contains("branch-1") && text.stdout.contains("unprotected"),
        "{}",
        text.stdout
    );
    let w = json(&ctl(&sock, &["show", "workers", "--json"]));
    assert_eq!(w["workers"][0]["sas"], 4, "2 tunnels' outbound + 2 inbound SAs on the one worker");
    assert!(ctl(&sock, &["show", "workers"]).stdout.contains("Handed off"));
    let inv = json(&ctl(&sock, &["show", "invalid-spi", "--json"]));
    assert_eq!(
        (inv["recovery"].as_bool(), inv["out_of_sync_after"].as_u64()),
        (Some(true), Some(3))
    );
    assert!(ctl(&sock, &["show", "invalid-spi"]).stdout.contains("%CRYPTO-4-RECVD_PKT_INV_SPI"));

    // The same through the qfpctl binary.
    let q = qfpctl(&sock, &["show", "sa", "peer", "branch-1"]);
    q.assert_success();
    assert!(
        q.stdout.contains("tunnel: branch-1") && !q.stdout.contains("static-2"),
        "{}",
        q.stdout
    );

    // Bad commands and refused requests: one line, exit 2.
    for args in [
        &["show", "everything"][..],
        &["show", "sa", "peer"],
        &["rekey", "some"],
        &["debug", "forget-sa", "0xZZ"],
        &["show", "sa", "peer", "10.9.9.9"],
        &["rekey", "peer", "static-2"],
        &["clear", "sa", "peer", "static-2"],
        &["debug", "forget-sa", "0x9999"],
    ] {
        one_line_exit_2(&ctl(&sock, args), &format!("{args:?}"));
    }
    one_line_exit_2(&qfpctl(&sock, &["reboot"]), "qfpctl reboot");
    // No gateway at the socket: exit 1.
    ctl(&dir.join("nobody.sock"), &["show", "stats"]).assert_code(1);

    // rekey towards a peer that never answers: the exchange starts, the gateway says so,
    // show sa shows it, and REKEY_INIT goes out (and again, retransmitted).
    let r = ctl(&sock, &["rekey", "peer", "172.16.2.5"]);
    r.assert_success();
    assert!(r.stdout.contains("branch-1") && r.stdout.contains("REKEY_INIT sent"), "{}", r.stdout);
    let again = json(&ctl(&sock, &["--json", "rekey"]));
    assert!(again["message"].as_str().unwrap().contains("branch-1"));
    let b1 = json(&ctl(&sock, &["--json", "show", "sa", "peer", "branch-1"]));
    assert_eq!(b1["tunnels"][0]["exchange"].as_str(), Some("initiating (REKEY_INIT sent)"));
    assert_eq!(b1["tunnels"][0]["outbound_spi"], 0x1001, "nothing switched without the peer");
    assert_eq!(b1["tunnels"][0]["rekey_triggers"]["manual"], 2);
    std::thread::sleep(Duration::from_millis(800));

    // debug forget-sa on the static tunnel: gone from show sa.
    let f = ctl(&sock, &["debug", "forget-sa", "0x2002"]);
    f.assert_success();
    assert!(f.stdout.contains("forgotten"), "{}", f.stdout);
    let s2 = json(&ctl(&sock, &["--json", "show", "sa", "peer", "static-2"]));
    assert!(s2["tunnels"][0]["sa"].as_array().unwrap().iter().all(|s| s["spi"] != 0x2002));

    // clear sa peer: SAs deleted at once, a new pair requested from the (absent) peer.
    let c = json(&ctl(&sock, &["--json", "clear", "sa", "peer", "branch-1"]));
    assert!(c["message"].as_str().unwrap().contains("new pair requested"), "{c}");
    let b1 = json(&ctl(&sock, &["--json", "show", "sa", "peer", "branch-1"]));
    assert!(b1["tunnels"][0]["outbound_spi"].is_null(), "{b1}");
    assert_eq!(b1["tunnels"][0]["sa"].as_array().unwrap().len(), 0);

    gw.signal(rustix::process::Signal::INT);
    let out = gw.wait();
    out.assert_success();
    assert!(out.stderr.contains("rekey started (Manual)"), "{}", out.stderr);
    assert!(out.stderr.contains("cleared 1 inbound SA(s)"), "{}", out.stderr);

    // On the wire: UDP 500 from 172.16.1.5 to 172.16.2.5 — HELLO, REKEY_INIT and its
    // retransmissions, DELETE — and nothing to the static tunnel's peer.
    let frames = pcap::read(&wan);
    let to = |addr: [u8; 4]| {
        frames
            .iter()
            .filter(|f| f.len() > 42 && f[23] == 17 && f[30..34] == addr && f[36..38] == [1, 0xf4])
            .count()
    };
    assert!(to([172, 16, 2, 5]) >= 4, "{} peer-channel datagrams", to([172, 16, 2, 5]));
    assert_eq!(to([172, 16, 3, 5]), 0);
    // The final stats document has the control core's view.
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    assert_eq!(doc["final"], true);
    let pc = &doc["tunnels"][0]["peer_channel"];
    assert!(pc["rekeys_initiated"].as_u64().unwrap() >= 2, "{pc}");
    assert!(pc["tx_messages"].as_u64().unwrap() >= 4, "{pc}");
}
