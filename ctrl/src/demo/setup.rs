//! What the demo starts, written down before anything runs: the two gateways' configs
//! (one tunnel, matching SAs with fresh random keys, one fresh random PSK), the net_memif
//! sockets that join the three processes, where each polling thread runs, and the command
//! lines of `qfp run` (gateways A and B) and `qfp gen` (the generator/sink on both LANs).
//!
//! The wiring:
//!
//! ```text
//!   qfp gen port 0 ==a-lan.sock== A port 0 (LAN 198.18.0.0/16)
//!                                 A port 1 (172.16.1.5) ==wan.sock== B port 1 (172.16.2.5)
//!   qfp gen port 1 ==b-lan.sock== B port 0 (LAN 198.19.0.0/16)
//! ```
//!
//! Stream 0 of the generator goes A -> B, stream 1 B -> A. Two memif peers must not poll
//! on the same CPU if it can be helped (they would crawl): with three CPUs or more the
//! generator and each gateway's worker get one each; on two, the generator (and every
//! control lcore, mostly asleep) takes the first and both gateways' workers the second,
//! with adaptive polling so that they share it (the generator's LAN links, the busiest
//! pairs with it, never share a CPU).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rand::Rng;

use crate::cli::RekeyOrder;

/// Gateway A's outer address, LAN and initial SPIs (B mirrors them).
pub const A_LOCAL: &str = "172.16.1.5";
/// Gateway B's outer address.
pub const B_LOCAL: &str = "172.16.2.5";
/// The LAN behind A (the generator's `--net0`).
pub const A_LAN: &str = "198.18.0.0/16";
/// The LAN behind B (`--net1`).
pub const B_LAN: &str = "198.19.0.0/16";
/// The tunnel's name on both gateways.
pub const TUNNEL: &str = "demo";
/// A's initial outbound SPI (B's inbound).
pub const SPI_A_TO_B: u32 = 0x1001;
/// B's initial outbound SPI (A's inbound).
pub const SPI_B_TO_A: u32 = 0x2001;

/// Which CPU runs what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The generator's only lcore, and the gateways' control lcores.
    pub traffic: usize,
    /// Gateway A's worker.
    pub a: usize,
    /// Gateway B's worker.
    pub b: usize,
}

impl Layout {
    /// The layout for the CPUs this process may use (see the module doc).
    pub fn for_cpus(cpus: &[usize]) -> Layout {
        match cpus {
            [] => Layout { traffic: 0, a: 0, b: 0 },
            [one] => Layout { traffic: *one, a: *one, b: *one },
            [g, w] => Layout { traffic: *g, a: *w, b: *w },
            [g, a, b, ..] => Layout { traffic: *g, a: *a, b: *b },
        }
    }

    /// One line for the header.
    pub fn describe(&self) -> String {
        let workers = if self.a == self.b {
            format!("CPU {}: both gateways' workers (adaptive polling)", self.a)
        } else {
            format!("CPU {}: A's worker, CPU {}: B's worker", self.a, self.b)
        };
        format!("CPU {}: qfp gen and the gateways' control lcores; {workers}", self.traffic)
    }
}

/// What the demo was asked for, as far as the children care.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seconds of traffic.
    pub duration: f64,
    /// Packets per second in each direction.
    pub rate: u32,
    /// Rekey order of both gateways.
    pub order: RekeyOrder,
    /// Invalid-SPI recovery on both gateways.
    pub recovery: bool,
}

/// The files and command lines of one demo run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The working directory (configs, sockets, logs, reports).
    pub dir: PathBuf,
    /// `qfp run ...` of A and B, without the program.
    pub gateway_args: [Vec<String>; 2],
    /// `qfp gen ...`.
    pub gen_args: Vec<String>,
    /// Control sockets of A and B.
    pub ctl: [PathBuf; 2],
    /// Stats JSON files of A and B.
    pub stats: [PathBuf; 2],
    /// The generator's live and final reports.
    pub gen_live: PathBuf,
    /// The generator's final report.
    pub gen_report: PathBuf,
    /// The memif sockets each gateway listens on (the demo waits for them).
    pub listening: [Vec<PathBuf>; 2],
    /// Where the processes run.
    pub layout: Layout,
}

/// Random key material for one run.
#[derive(Debug, Clone)]
pub struct Secrets {
    /// SA key and salt, A -> B.
    pub a_to_b: ([u8; 16], [u8; 4]),
    /// SA key and salt, B -> A.
    pub b_to_a: ([u8; 16], [u8; 4]),
    /// The peer-channel PSK.
    pub psk: [u8; 32],
}

impl Secrets {
    /// Fresh from the OS's generator: a demo never ships fixed keys.
    pub fn random() -> Secrets {
        let mut rng = rand::rng();
        let mut s = Secrets { a_to_b: ([0; 16], [0; 4]), b_to_a: ([0; 16], [0; 4]), psk: [0; 32] };
        rng.fill_bytes(&mut s.a_to_b.0);
        rng.fill_bytes(&mut s.a_to_b.1);
        rng.fill_bytes(&mut s.b_to_a.0);
        rng.fill_bytes(&mut s.b_to_a.1);
        rng.fill_bytes(&mut s.psk);
        s
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// The config of gateway A (`side` 0) or B (1).
pub fn config_toml(side: usize, secrets: &Secrets) -> String {
    let (local, peer, lan, remote) =
        if side == 0 { (A_LOCAL, B_LOCAL, A_LAN, B_LAN) } else { (B_LOCAL, A_LOCAL, B_LAN, A_LAN) };
    let (out, inb) = if side == 0 {
        ((SPI_A_TO_B, &secrets.a_to_b), (SPI_B_TO_A, &secrets.b_to_a))
    } else {
        ((SPI_B_TO_A, &secrets.b_to_a), (SPI_A_TO_B, &secrets.a_to_b))
    };
    let name = ["A", "B"][side];
    let mut s = format!(
        "# Gateway {name} of `qfp demo`, written for this run (random keys and PSK).\n\
         [gateway]\nprotected_port = 0\nunprotected_port = 1\nlocal = \"{local}\"\n\
         replay_window = 1024\n\n\
         [[tunnel]]\nname = \"{TUNNEL}\"\npeer = \"{peer}\"\n\
         next_hop_mac = \"02:51:46:00:01:01\"\nselectors = [\"{remote}\"]\nesn = true\n\
         natt = false\npsk = \"0x{}\"\nmtu = 1500\n",
        hex(&secrets.psk)
    );
    for (dir, (spi, (key, salt))) in [("out", out), ("in", inb)] {
        let _ = write!(
            s,
            "\n[[tunnel.sa]]\ndir = \"{dir}\"\nspi = {spi:#x}\naead = \"aes-128-gcm\"\n\
             key = \"{}\"\nsalt = \"{}\"\n",
            hex(key),
            hex(salt)
        );
    }
    let _ =
        write!(s, "\n[[route]]\ndst = \"{lan}\"\nport = 0\nnext_hop_mac = \"02:51:46:00:01:fe\"\n");
    s
}

fn memif(i: u8, role: &str, sock: &Path) -> String {
    // Deep rings (2^14 slots): a process descheduled for a moment on a shared CPU must not
    // turn into loss at these rates (docs/load-tools.md).
    format!("--vdev=net_memif{i},role={role},socket={},socket-abstract=no,rsize=14", sock.display())
}

fn eal_base(cpus: &str) -> Vec<String> {
    ["--no-huge", "-m", "1024", "--no-pci", "--log-level=*:warning", cpus]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

impl Plan {
    /// The plan for a run in `dir` (which exists) with `opts` on `layout`.
    pub fn new(dir: &Path, opts: &Options, layout: Layout) -> Plan {
        let f = |n: &str| dir.join(n);
        let (a_lan, wan, b_lan) = (f("a-lan.sock"), f("wan.sock"), f("b-lan.sock"));
        let order = match opts.order {
            RekeyOrder::MakeBeforeBreak => "make-before-break",
            RekeyOrder::OutboundFirst => "outbound-first",
        };
        let gateway = |side: usize, vdevs: [String; 2], worker: usize| -> Vec<String> {
            let name = ["a", "b"][side];
            let mut v: Vec<String> = [
                "run",
                "-c",
                &f(&format!("{name}.toml")).display().to_string(),
                "--workers",
                "1",
                "--poll",
                "adaptive",
                "--rx-desc",
                "4096",
                "--tx-desc",
                "4096",
                "--stats-interval",
                "0.25",
                "--stats-json",
                &f(&format!("{name}-stats.json")).display().to_string(),
                "--ctrl-socket",
                &f(&format!("{name}.ctl")).display().to_string(),
                "--rekey-order",
                order,
                "--invalid-spi-recovery",
                if opts.recovery { "on" } else { "off" },
                // A safety net: should the demo die without stopping it, it still ends.
                "--duration",
                &format!("{:.0}", opts.duration + 120.0),
                "-q",
                "--",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            v.extend(eal_base(&format!("--lcores=0@{},1@{worker}", layout.traffic)));
            v.extend(vdevs);
            v
        };
        let a = gateway(0, [memif(0, "server", &a_lan), memif(1, "server", &wan)], layout.a);
        let b = gateway(1, [memif(0, "server", &b_lan), memif(1, "client", &wan)], layout.b);
        let mut g: Vec<String> = [
            "gen",
            "--rate",
            &opts.rate.to_string(),
            "--duration",
            &format!("{}", opts.duration),
            "--size",
            "64",
            "--flows",
            "16",
            "--net0",
            A_LAN,
            "--net1",
            B_LAN,
            "--poll",
            "adaptive",
            "--rx-desc",
            "4096",
            "--tx-desc",
            "4096",
            "--link-wait",
            "30",
            // The gateways see their links a moment after the generator does.
            "--start-delay-ms",
            "1000",
            "--drain-ms",
            "2000",
            "--bucket-ms",
            "50",
            "--live-ms",
            "100",
            "--live-json",
            &f("gen-live.json").display().to_string(),
            "--json",
            &f("gen.json").display().to_string(),
            "-q",
            "--",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        g.extend(eal_base(&format!("--lcores=0@{}", layout.traffic)));
        g.extend([memif(0, "client", &a_lan), memif(1, "client", &b_lan)]);
        Plan {
            dir: dir.to_path_buf(),
            gateway_args: [a, b],
            gen_args: g,
            ctl: [f("a.ctl"), f("b.ctl")],
            stats: [f("a-stats.json"), f("b-stats.json")],
            gen_live: f("gen-live.json"),
            gen_report: f("gen.json"),
            listening: [vec![a_lan, wan], vec![b_lan]],
            layout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    #[test]
    fn layouts_keep_memif_peers_apart_where_cpus_allow() {
        assert_eq!(Layout::for_cpus(&[0, 1]), Layout { traffic: 0, a: 1, b: 1 });
        assert_eq!(Layout::for_cpus(&[2, 5, 7, 9]), Layout { traffic: 2, a: 5, b: 7 });
        assert_eq!(Layout::for_cpus(&[3]), Layout { traffic: 3, a: 3, b: 3 });
    }

    #[test]
    fn the_two_configs_parse_and_mirror_each_other() {
        let s = Secrets::random();
        let dir = std::env::temp_dir().join(format!("qfp-demo-setup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cfgs = Vec::new();
        for side in 0..2 {
            let p = dir.join(format!("{side}.toml"));
            std::fs::write(&p, config_toml(side, &s)).unwrap();
            cfgs.push(config::load(&p).unwrap_or_else(|e| panic!("{e}")));
        }
        let (a, b) = (&cfgs[0].tunnels[0], &cfgs[1].tunnels[0]);
        assert_eq!(a.inbound.len(), 1);
        let (ao, ai, bo, bi) = (&a.outbound, &a.inbound[0], &b.outbound, &b.inbound[0]);
        let k = |s: &config::SaConfig| (s.spi, s.key.expose().clone(), *s.salt.expose());
        assert_eq!((ao.spi, ai.spi), (SPI_A_TO_B, SPI_B_TO_A));
        assert_eq!(k(ao), k(bi));
        assert_eq!(k(ai), k(bo));
        assert_ne!(ao.key.expose(), ai.key.expose(), "one key per direction");
        assert_eq!(a.psk.as_ref().map(|k| k.expose().clone()), Some(s.psk.to_vec()));
        assert_eq!(b.psk.as_ref().map(|k| k.expose().clone()), Some(s.psk.to_vec()));
        assert_eq!((a.peer.to_string(), b.peer.to_string()), (B_LOCAL.into(), A_LOCAL.into()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn gateways_are_wired_to_each_other_and_to_the_generator() {
        let opts = Options {
            duration: 20.0,
            rate: 1000,
            order: RekeyOrder::OutboundFirst,
            recovery: false,
        };
        let p = Plan::new(Path::new("/d"), &opts, Layout::for_cpus(&[0, 1]));
        let [a, b] = &p.gateway_args;
        let has = |v: &[String], s: &str| v.iter().any(|x| x == s);
        assert!(has(
            a,
            "--vdev=net_memif1,role=server,socket=/d/wan.sock,socket-abstract=no,rsize=14"
        ));
        assert!(has(
            b,
            "--vdev=net_memif1,role=client,socket=/d/wan.sock,socket-abstract=no,rsize=14"
        ));
        assert!(has(
            &p.gen_args,
            "--vdev=net_memif1,role=client,socket=/d/b-lan.sock,socket-abstract=no,rsize=14"
        ));
        assert!(has(a, "outbound-first") && has(b, "off") && has(a, "--lcores=0@0,1@1"));
        assert!(has(&p.gen_args, "--lcores=0@0") && has(&p.gen_args, "1000"));
    }
}
