//! Two real gateways and a generator, for the control-core tests: gateway A and gateway B
//! (`qfp run -c`, one tunnel with a PSK, [`GatewayDef::single`] and its mirror) joined by
//! net_memif on their unprotected ports, and `qfp gen` on both protected ports (also over
//! net_memif), counting every packet both ways: stream 0 goes A -> B, stream 1 B -> A.
//!
//! Layout on a small machine (as `qfp demo`): the generator and both control lcores on
//! the first CPU, both gateways' workers on the second, adaptive polling; memif rings of
//! 2^14 slots, so that a process descheduled for a moment costs latency, not packets.
//!
//! Each gateway has its own `--stats-json` (every 0.2 s) and `--ctrl-socket`; a side can be
//! stopped by a signal, killed, and started again with the same config and sockets.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::process::Signal;
use serde_json::Value;

use crate::gateway::GatewayDef;
use crate::process::{Outcome, Qfp, Running};
use crate::{EalArgs, TempDir};

/// The tunnel's PSK on both sides.
pub const PSK: &str = "qfp end-to-end test pre-shared key";
/// A's LAN (the generator's `--net0`) and B's (`--net1`).
pub const NETS: [&str; 2] = ["192.168.115.0/24", "192.168.105.0/24"];
/// The gateways' outer addresses.
pub const LOCALS: [&str; 2] = ["172.16.1.5", "172.16.2.5"];
/// Names, for messages.
pub const NAMES: [&str; 2] = ["A", "B"];

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// CPUs for (generator and control lcores, workers): the first two this process may use.
fn cpus() -> (usize, usize) {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    if n >= 2 { (0, 1) } else { (0, 0) }
}

fn memif(i: u8, role: &str, sock: &Path) -> String {
    format!("net_memif{i},role={role},socket={},socket-abstract=no,rsize=14", p(sock))
}

/// Two gateways (and the files they share with the test).
pub struct Pair {
    dir: PathBuf,
    flags: [Vec<String>; 2],
    gw: [Option<Running>; 2],
    /// Every outcome of a side that was stopped or killed, in order.
    pub ended: [Vec<Outcome>; 2],
}

impl Pair {
    /// Writes the configs and starts A then B with their extra `flags` (e.g.
    /// `--rekey-every 20`), each waited for until it listens on its memif sockets.
    pub fn start(dir: &TempDir, flags: [&[&str]; 2]) -> Pair {
        Pair::start_with(dir, flags, "")
    }

    /// [`Pair::start`] with `tunnel_toml` added to both tunnels (e.g. a `[tunnel.lifetime]`
    /// table, placed right after the tunnel's own fields).
    pub fn start_with(dir: &TempDir, flags: [&[&str]; 2], tunnel_toml: &str) -> Pair {
        let a = GatewayDef::single();
        let b = a.mirror();
        let psk_line = format!("psk = \"{PSK}\"\n");
        for (name, g) in [("a.toml", &a), ("b.toml", &b)] {
            let text = g.config_toml_with(1024, Some(PSK));
            let text = text.replacen(&psk_line, &format!("{psk_line}{tunnel_toml}"), 1);
            std::fs::write(dir.join(name), text).unwrap();
        }
        let mut pair = Pair {
            dir: dir.path().to_path_buf(),
            flags: flags.map(|f| f.iter().map(|s| s.to_string()).collect()),
            gw: [None, None],
            ended: [Vec::new(), Vec::new()],
        };
        pair.start_side(0);
        pair.start_side(1);
        pair
    }

    /// A file of the pair's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Side `s`'s stats JSON file.
    pub fn stats_path(&self, s: usize) -> PathBuf {
        self.path(&format!("{}.json", ["a", "b"][s]))
    }

    /// Side `s`'s control socket.
    pub fn socket(&self, s: usize) -> PathBuf {
        self.path(&format!("{}.ctl", ["a", "b"][s]))
    }

    /// Starts side `s` (again), and waits until it listens on its memif sockets.
    pub fn start_side(&mut self, s: usize) {
        assert!(self.gw[s].is_none(), "gateway {} already runs", NAMES[s]);
        let (gen_cpu, worker_cpu) = cpus();
        let name = ["a", "b"][s];
        let lan = self.path(&format!("{name}-lan.sock"));
        let wan = self.path("wan.sock");
        let _ = std::fs::remove_file(&lan);
        let _ = std::fs::remove_file(self.stats_path(s));
        if s == 0 {
            let _ = std::fs::remove_file(&wan);
        }
        let eal = EalArgs::new()
            .arg(format!("--lcores=0@{gen_cpu},1@{worker_cpu}"))
            .vdev(memif(0, "server", &lan))
            .vdev(memif(1, if s == 0 { "server" } else { "client" }, &wan));
        let mut args: Vec<String> = [
            "-c",
            &p(&self.path(&format!("{name}.toml"))),
            "--workers",
            "1",
            "--poll",
            "adaptive",
            "--rx-desc",
            "4096",
            "--tx-desc",
            "4096",
            "--stats-interval",
            "0.2",
            "--stats-json",
            &p(&self.stats_path(s)),
            "--ctrl-socket",
            &p(&self.socket(s)),
            "--duration",
            "300",
            "-q",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect();
        args.extend(self.flags[s].iter().cloned());
        let run = Qfp::run(args, &eal).timeout(Duration::from_secs(400)).spawn();
        self.gw[s] = Some(run);
        let mut socks = vec![lan];
        if s == 0 {
            socks.push(wan);
        }
        let since = Instant::now();
        while !socks.iter().all(|x| x.exists()) {
            if !self.gw[s].as_mut().unwrap().is_running() {
                let out = self.gw[s].take().unwrap().wait();
                panic!("gateway {} exited at start:\n{}", NAMES[s], out.stderr);
            }
            assert!(
                since.elapsed() < Duration::from_secs(60),
                "gateway {} never listened",
                NAMES[s]
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `qfp gen` on both LANs: `args` plus the pair's defaults (16 flows, 64-byte frames,
    /// 50 ms timeline buckets, drain 2 s, report in `gen.json`), sending both ways.
    pub fn generator(&self, args: &[&str]) -> Qfp {
        let (gen_cpu, _) = cpus();
        let eal = EalArgs::new()
            .arg(format!("--lcores=0@{gen_cpu}"))
            .vdev(memif(0, "client", &self.path("a-lan.sock")))
            .vdev(memif(1, "client", &self.path("b-lan.sock")));
        let _ = std::fs::remove_file(self.path("gen.json"));
        let mut all: Vec<String> = vec!["gen".into()];
        all.extend(args.iter().map(|s| s.to_string()));
        for (k, v) in [
            ("--net0", NETS[0]),
            ("--net1", NETS[1]),
            ("--link-wait", "30"),
            ("--start-delay-ms", "1000"),
            ("--drain-ms", "2000"),
            ("--bucket-ms", "50"),
            ("--rx-desc", "4096"),
            ("--tx-desc", "4096"),
        ] {
            all.push(k.into());
            all.push(v.into());
        }
        all.extend(["--json".to_string(), p(&self.path("gen.json")), "-q".into(), "--".into()]);
        all.extend(eal.build());
        Qfp::new(all).cleanup_after(eal.runtime_dirs()).timeout(Duration::from_secs(300))
    }

    /// The generator's report of its last run.
    pub fn report(&self) -> Report {
        let path = self.path("gen.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Report(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
    }

    /// `qfp ctl --ctrl-socket <side s> args...`, run to its end.
    pub fn ctl(&self, s: usize, args: &[&str]) -> Outcome {
        let mut all = vec!["ctl".to_string(), "--ctrl-socket".into(), p(&self.socket(s))];
        all.extend(args.iter().map(|x| x.to_string()));
        Qfp::new(all).timeout(Duration::from_secs(30)).output()
    }

    /// `qfp ctl --json args...` on side `s`, which must succeed: its answer.
    pub fn ctl_json(&self, s: usize, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend(args);
        let out = self.ctl(s, &all);
        out.assert_success();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", out.command, out.stdout))
    }

    /// Side `s`'s latest statistics document (waits for a complete one).
    pub fn stats(&self, s: usize) -> Value {
        let path = self.stats_path(s);
        let since = Instant::now();
        loop {
            if let Some(v) =
                std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok())
            {
                return v;
            }
            assert!(
                since.elapsed() < Duration::from_secs(30),
                "no stats from {} in {}",
                NAMES[s],
                path.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls side `s`'s statistics until `pred` holds (at most `limit`, then panics with
    /// `what` and the last document): a bounded wait for a state, not a timing assertion.
    pub fn wait_stats(
        &self,
        s: usize,
        what: &str,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let since = Instant::now();
        loop {
            let v = self.stats(s);
            if pred(&v) {
                return v;
            }
            assert!(
                since.elapsed() < limit,
                "gateway {}: {what} did not happen within {limit:?}:\n{v:#}",
                NAMES[s]
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Side `s`'s running child (to send it a signal).
    pub fn running(&mut self, s: usize) -> &mut Running {
        self.gw[s].as_mut().unwrap_or_else(|| panic!("gateway {} does not run", NAMES[s]))
    }

    /// Stops side `s` with `sig` and waits for it; its outcome is also kept in `ended`.
    pub fn stop(&mut self, s: usize, sig: Signal) -> &Outcome {
        let run = self.gw[s].take().unwrap_or_else(|| panic!("gateway {} does not run", NAMES[s]));
        run.signal(sig);
        self.ended[s].push(run.wait());
        self.ended[s].last().unwrap()
    }

    /// Kills side `s` (SIGKILL: no final statistics, no goodbye to the peer).
    pub fn kill(&mut self, s: usize) {
        let run = self.gw[s].take().unwrap_or_else(|| panic!("gateway {} does not run", NAMES[s]));
        run.signal(Signal::KILL);
        self.ended[s].push(run.wait());
    }

    /// Stops both with SIGINT and checks they stopped cleanly (exit 0, final statistics);
    /// returns their final documents.
    pub fn finish(&mut self) -> [Value; 2] {
        for s in 0..2 {
            if self.gw[s].is_some() {
                self.stop(s, Signal::INT).assert_success();
            }
        }
        [0, 1].map(|s| {
            let v = self.stats(s);
            assert_eq!(v["final"], true, "gateway {}: final statistics written", NAMES[s]);
            v
        })
    }
}

/// The generator's report.
pub struct Report(pub Value);

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("no integer {k} in {v}"))
}

impl Report {
    /// Stream `id` (0: A -> B, 1: B -> A).
    pub fn stream(&self, id: u64) -> &Value {
        self.0["streams"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["id"].as_u64() == Some(id)))
            .unwrap_or_else(|| panic!("no stream {id} in {}", self.0))
    }

    /// (sent, received, lost) of stream `id`, checked to add up, with nothing odd (no
    /// duplicates, corrupt or unexpected frames).
    pub fn counts(&self, id: u64) -> (u64, u64, u64) {
        let s = self.stream(id);
        let (sent, received, lost) = (n(s, "sent"), n(s, "received"), n(s, "lost"));
        assert_eq!(sent, received + lost, "every packet counted: {s}");
        for k in ["duplicated", "corrupt", "unexpected"] {
            assert_eq!(n(s, k), 0, "{k} in stream {id}");
        }
        assert!(sent > 0, "stream {id} sent nothing");
        (sent, received, lost)
    }

    /// Stream `id`'s timeline column `k` ("sent", "received", "lost").
    pub fn timeline(&self, id: u64, k: &str) -> Vec<u64> {
        self.stream(id)["timeline"][k]
            .as_array()
            .unwrap_or_else(|| panic!("no timeline {k}"))
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect()
    }

    /// Timeline bucket, seconds.
    pub fn bucket_s(&self) -> f64 {
        self.0["bucket_ms"].as_f64().unwrap() / 1000.0
    }
}

/// A drop counter of a stats document (0 when absent).
pub fn drop_count(stats: &Value, reason: &str) -> u64 {
    stats["drops"][reason].as_u64().unwrap_or(0)
}

/// Every non-zero drop of a stats document, for messages.
pub fn drops(stats: &Value) -> Vec<(String, u64)> {
    stats["drops"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_u64().filter(|x| *x > 0).map(|x| (k.clone(), x)))
                .collect()
        })
        .unwrap_or_default()
}

/// The demo tunnel's entry of a stats document.
pub fn tunnel(stats: &Value) -> &Value {
    &stats["tunnels"][0]
}

/// The tunnel's active outbound SPI.
pub fn out_spi(stats: &Value) -> Option<u64> {
    let t = tunnel(stats);
    t["outbound_spi"].as_u64().or_else(|| {
        t["sa"].as_array()?.iter().find(|s| s["dir"] == "out" && s["state"] == "active")?["spi"]
            .as_u64()
    })
}

/// The tunnel's inbound SPIs that still decrypt.
pub fn in_spis(stats: &Value) -> Vec<u64> {
    tunnel(stats)["sa"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|s| s["dir"] == "in" && s["state"] != "invalid" && s["state"] != "expired")
                .filter_map(|s| s["spi"].as_u64())
                .collect()
        })
        .unwrap_or_default()
}

/// The tunnel's rekey count.
pub fn rekeys(stats: &Value) -> u64 {
    tunnel(stats)["rekeys"].as_u64().unwrap_or(0)
}
