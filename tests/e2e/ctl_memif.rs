//! The control core between two real gateways: two `qfp run -c` with a PSK tunnel, joined
//! by net_memif; A rekeys every 50 ms (`--rekey-every`), every exchange crossing the peer
//! channel in band, and B's operator clears the tunnel's SAs half way (`qfp ctl clear sa
//! peer`): B deletes, tells A, and the pair comes back by itself.
//!
//! No data traffic here: a source that saturates the memif link makes the peer channel's
//! datagrams compete with data for tx slots (they are retransmitted, but a ring that is
//! never drained starves them). The packet-by-packet account of rekeys under traffic is
//! `ctrl/tests/core/` (in memory) and `qfp demo`'s tests (rate-limited generator).
#![forbid(unsafe_code)]

use std::path::Path;
use std::time::Duration;

use qfp_tests::gateway::GatewayDef;
use qfp_tests::stats::Stats;
use qfp_tests::{EalArgs, Qfp, TempDir, exclusive};

fn p(path: &Path) -> String {
    path.display().to_string()
}

fn with_psk(toml: String) -> String {
    toml.replace("natt = false\n", "natt = false\npsk = \"a shared secret of the pair\"\n")
}

#[test]
fn two_gateways_rekey_over_the_peer_channel_and_recover_from_clear() {
    let _one = exclusive();
    let dir = TempDir::new("ctl-memif");
    let a = GatewayDef::single();
    let b = a.mirror();
    std::fs::write(dir.join("a.toml"), with_psk(a.config_toml(1024))).unwrap();
    std::fs::write(dir.join("b.toml"), with_psk(b.config_toml(1024))).unwrap();
    let socket = dir.join("memif.sock");
    let gateway = |side: &str, role: &str, extra: &[&str]| {
        let wan = format!("net_memif1,role={role},socket={},id=0", p(&socket));
        let eal = EalArgs::new().vdev("net_null0,no-rx=1").vdev(wan);
        let mut args: Vec<String> = [
            "-c",
            &p(&dir.join(&format!("{side}.toml"))),
            "--duration",
            "5",
            "--stats-json",
            &p(&dir.join(&format!("{side}.json"))),
            "--ctrl-socket",
            &p(&dir.join(&format!("{side}.sock"))),
            "-q",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        Qfp::run(args, &eal).spawn()
    };
    let ra = gateway("a", "server", &["--rekey-every", "50"]);
    std::thread::sleep(Duration::from_millis(300));
    let rb = gateway("b", "client", &[]);
    std::thread::sleep(Duration::from_millis(2500));
    let b_sock = p(&dir.join("b.sock"));
    let clear =
        Qfp::new(["ctl", "--ctrl-socket", &b_sock, "clear", "sa", "peer", "172.16.1.5"]).output();
    clear.assert_success();
    assert!(clear.stdout.contains("new pair requested"), "{}", clear.stdout);
    let (oa, ob) = (ra.wait(), rb.wait());
    oa.assert_success();
    ob.assert_success();
    let (sa, sb) = (Stats::read(&dir.join("a.json")), Stats::read(&dir.join("b.json")));
    let (ta, tb) = (&sa.tunnels[0], &sb.tunnels[0]);
    let both = format!("A:\n{}\nB:\n{}", oa.stderr, ob.stderr);
    for (side, t) in [("a", ta), ("b", tb)] {
        assert_eq!(t["peer_state"], "alive", "{side}: {t}\n{both}");
        assert!(t["rekeys"].as_u64().unwrap() >= 20, "{side}: {t}\n{both}");
        let pc = &t["peer_channel"];
        assert_eq!((pc["rx_forged"].as_u64(), pc["rx_malformed"].as_u64()), (Some(0), Some(0)));
        assert!(!t["outbound_spi"].is_null(), "{side}: a pair after the clear: {t}");
    }
    assert!(ta["peer_channel"]["rekeys_initiated"].as_u64().unwrap() >= 20, "{ta}");
    assert!(tb["peer_channel"]["rekeys_responded"].as_u64().unwrap() >= 20, "{tb}");
    assert_eq!(tb["rekey_triggers"]["cleared"], 1);
    assert_eq!(ta["peer_channel"]["deletes_received"], 1, "{ta}");
    // Each encrypts with an SPI the other decrypts, none of them a static one.
    let spis = |t: &serde_json::Value, dir: &str| -> Vec<u64> {
        t["sa"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["dir"] == dir)
            .map(|s| s["spi"].as_u64().unwrap())
            .collect()
    };
    let (a_out, b_out) =
        (ta["outbound_spi"].as_u64().unwrap(), tb["outbound_spi"].as_u64().unwrap());
    assert!(spis(tb, "in").contains(&a_out), "{tb}");
    assert!(spis(ta, "in").contains(&b_out), "{ta}");
    assert!(![0x1001, 0x2001].contains(&a_out) && ![0x1001, 0x2001].contains(&b_out));
}
