//! `qfp gen`: the traffic generator and sink of `perf::generator` on DPDK ports, with the
//! EAL set up the way `qfp run` sets it up (no hugepages: `--no-huge -m 1024`, a file
//! prefix of its own), one lcore, SIGINT/SIGTERM to stop sending (a second one ends the
//! drain), a live line every second on stderr, the summary table on stdout and the whole
//! report as JSON with `--json FILE`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::{Args, ValueEnum};
use dataplane::selector::Prefix;
use dpdk_sys::Eal;
use perf::generator::{self, Config, Poll};
use perf::payload::FrameSize;

use super::Failure;
use super::pcap::IpVersionArg;
use crate::eal_args::{self, Host};

/// `qfp gen`.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Packets per second per sending port, or max (as fast as the port takes them).
    #[arg(long, value_name = "PPS|max", default_value = "100000", value_parser = parse_rate)]
    pub rate: Rate,
    /// Ethernet frame size in bytes, FCS included (64..=1518), or imix (7:4:1 of 64/570/1500).
    #[arg(long, value_name = "BYTES|imix", default_value = "64")]
    pub size: FrameSize,
    /// Seconds to send (default: until --count is reached, or SIGINT/SIGTERM).
    #[arg(long, value_name = "S", value_parser = parse_secs)]
    pub duration: Option<f64>,
    /// Packets to send per sending port.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Flows per stream (addresses and UDP ports vary).
    #[arg(long, value_name = "K", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=16384))]
    pub flows: u32,
    /// Inner IP version of the default --net0/--net1 (198.18.0.0/16 and 198.19.0.0/16, or
    /// 2001:2::/64 and 2001:2:0:1::/64).
    #[arg(long, value_name = "4|6")]
    pub ip: Option<IpVersionArg>,
    /// Hosts behind the first port (sources of its stream, destinations of the other).
    #[arg(long, value_name = "PREFIX")]
    pub net0: Option<Prefix>,
    /// Hosts behind the second port.
    #[arg(long, value_name = "PREFIX")]
    pub net1: Option<Prefix>,
    /// DPDK port ids to use, one or two (default: every port DPDK found).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub ports: Vec<u16>,
    /// Ports that send (default: all used ports; the others only receive).
    #[arg(long = "tx-ports", value_name = "LIST", value_delimiter = ',')]
    pub tx_ports: Vec<u16>,
    /// Source MAC per port, or one for all (default: the port's own).
    #[arg(long = "src-mac", value_name = "MAC[,MAC]", value_delimiter = ',', value_parser = parse_mac)]
    pub src_mac: Vec<[u8; 6]>,
    /// Destination MAC per port, or one for all (default: 02:51:46:00:00:<port index>).
    #[arg(long = "dst-mac", value_name = "MAC[,MAC]", value_delimiter = ',', value_parser = parse_mac)]
    pub dst_mac: Vec<[u8; 6]>,
    /// After sending, keep receiving this long for packets in flight before counting loss
    /// (less if every packet has arrived).
    #[arg(long = "drain-ms", value_name = "MS", default_value_t = 500)]
    pub drain_ms: u64,
    /// How the loop waits when idle.
    #[arg(long, value_name = "MODE", default_value = "adaptive")]
    pub poll: PollArg,
    /// Packets per burst.
    #[arg(long, value_name = "N", default_value_t = 32,
          value_parser = clap::value_parser!(u16).range(1..=512))]
    pub burst: u16,
    /// Timeline bucket (loss by send time) in milliseconds.
    #[arg(long = "bucket-ms", value_name = "MS", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub bucket_ms: u64,
    /// Rx descriptors per port.
    #[arg(long = "rx-desc", value_name = "N", default_value_t = 1024,
          value_parser = clap::value_parser!(u16).range(16..=32768))]
    pub rx_desc: u16,
    /// Tx descriptors per port.
    #[arg(long = "tx-desc", value_name = "N", default_value_t = 1024,
          value_parser = clap::value_parser!(u16).range(16..=32768))]
    pub tx_desc: u16,
    /// Mbufs in the pool.
    #[arg(long, value_name = "N", default_value_t = 16383,
          value_parser = clap::value_parser!(u32).range(1023..=16_777_215))]
    pub mbufs: u32,
    /// Seconds to wait for the links to come up (net_memif: for the peer to connect).
    #[arg(long = "link-wait", value_name = "S", default_value = "10", value_parser = parse_secs)]
    pub link_wait: f64,
    /// After the links are up, wait this long before sending (the peers over net_memif
    /// may notice their links later and not poll yet).
    #[arg(long = "start-delay-ms", value_name = "MS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub start_delay_ms: u64,
    /// Do not check the payload pattern of received frames.
    #[arg(long = "no-pattern-check")]
    pub no_pattern_check: bool,
    /// Write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the live figures (totals and per stream) as JSON to FILE at every live
    /// interval, atomically (for a program watching the run: `qfp demo`).
    #[arg(long = "live-json", value_name = "FILE")]
    pub live_json: Option<PathBuf>,
    /// Live interval in milliseconds (the line on stderr and --live-json).
    #[arg(long = "live-ms", value_name = "MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub live_ms: u64,
    /// No live line on stderr.
    #[arg(short, long)]
    pub quiet: bool,
    /// EAL arguments, passed to rte_eal_init untouched (after `--`).
    #[arg(last = true, value_name = "EAL ARGS")]
    pub eal: Vec<String>,
}

/// `--rate`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// Packets per second.
    Pps(f64),
    /// As fast as possible.
    Max,
}

/// `--poll`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PollArg {
    /// Poll without pause.
    Busy,
    /// Pause, then sleep briefly when idle.
    Adaptive,
}

fn parse_rate(s: &str) -> Result<Rate, String> {
    if s.trim().eq_ignore_ascii_case("max") {
        return Ok(Rate::Max);
    }
    match s.trim().parse::<f64>() {
        Ok(v) if (1.0..=1e9).contains(&v) => Ok(Rate::Pps(v)),
        _ => Err(format!("'{s}' is not a rate (packets per second, 1..=1e9, or max)")),
    }
}

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=1e7).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not a number of seconds (0..=1e7)")),
    }
}

fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = s.trim().split(':').collect();
    let mut m = [0u8; 6];
    if parts.len() != 6 {
        return Err(format!("'{s}' is not a MAC address (xx:xx:xx:xx:xx:xx)"));
    }
    for (b, p) in m.iter_mut().zip(parts) {
        *b = u8::from_str_radix(p, 16)
            .ok()
            .filter(|_| p.len() == 2)
            .ok_or_else(|| format!("'{s}' is not a MAC address (xx:xx:xx:xx:xx:xx)"))?;
    }
    Ok(m)
}

/// Removes a directory when dropped (the EAL runtime directory of a prefix we chose; it
/// must outlive the `Eal`, so it is declared first).
struct RemoveDirOnDrop(Option<PathBuf>);

impl Drop for RemoveDirOnDrop {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Per-port list from a flag: empty = default, one = for every port, else one per port.
fn per_port<T: Copy>(v: &[T], n: usize, flag: &str) -> Result<Vec<Option<T>>, Failure> {
    match v.len() {
        0 => Ok(vec![None; n]),
        1 => Ok(vec![Some(v[0]); n]),
        k if k == n => Ok(v.iter().map(|x| Some(*x)).collect()),
        k => Err(Failure::usage(format!(
            "{flag}: {k} values for {n} ports (give one, or one per port)"
        ))),
    }
}

/// The nets: given, or the benchmarking defaults of the chosen family.
fn nets(args: &GenArgs) -> Result<[Prefix; 2], Failure> {
    let v6 = match (args.ip, args.net0, args.net1) {
        (Some(v), _, _) => v == IpVersionArg::V6,
        (None, Some(p), _) | (None, None, Some(p)) => matches!(p, Prefix::V6 { .. }),
        (None, None, None) => false,
    };
    let def = |i: usize| -> Prefix {
        let s = match (v6, i) {
            (false, 0) => "198.18.0.0/16",
            (false, _) => "198.19.0.0/16",
            (true, 0) => "2001:2::/64",
            (true, _) => "2001:2:0:1::/64",
        };
        s.parse().expect("default prefix")
    };
    let n = [args.net0.unwrap_or_else(|| def(0)), args.net1.unwrap_or_else(|| def(1))];
    for (flag, p) in [("--net0", n[0]), ("--net1", n[1])] {
        if matches!(p, Prefix::V6 { .. }) != v6 {
            return Err(Failure::usage(format!(
                "{flag} {p}: the traffic is IPv{} (--ip, --net0 and --net1 must agree)",
                if v6 { 6 } else { 4 }
            )));
        }
    }
    Ok(n)
}

fn write_json(path: &Path, report: &impl serde::Serialize) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, text + "\n")?;
    std::fs::rename(&tmp, path)
}

/// Runs `qfp gen`.
pub fn run(args: &GenArgs) -> Result<(), Failure> {
    let nets = nets(args)?;
    let v6 = matches!(nets[0], Prefix::V6 { .. });
    args.size.check(v6).map_err(|e| Failure::usage(format!("--size: {e}")))?;
    for (flag, path) in [("--json", &args.json), ("--live-json", &args.live_json)] {
        if let Some(p) = path {
            std::fs::File::create(p).and_then(|_| std::fs::remove_file(p)).map_err(|e| {
                Failure::usage(format!("{flag} {}: cannot write there: {e}", p.display()))
            })?;
        }
    }
    let plan = eal_args::build(&args.eal, Some(0), &Host::probe());
    for note in &plan.notes {
        if plan.chose_lcores && note.starts_with("lcores:") {
            // One lcore, no workers: say it our way.
            if let Some(l) = plan.args.iter().find_map(|a| a.strip_prefix("--lcores=")) {
                eprintln!("qfp gen: one lcore: {l} (lcore@cpu)");
            }
            continue;
        }
        eprintln!("qfp gen: {note}");
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| Failure::runtime(format!("installing signal handlers: {e}")))?;
    }
    let mut runtime_dir = RemoveDirOnDrop(None);
    let eal = Eal::init(&plan.args).map_err(|e| match e.errno() {
        Some(22) => {
            Failure::usage(format!("DPDK refused the EAL arguments ({e}); see its message above"))
        }
        _ => Failure::runtime(format!("starting the DPDK EAL: {e}")),
    })?;
    if plan.chose_prefix {
        runtime_dir.0 = Some(eal.runtime_dir());
    }
    let found = eal.port_ids();
    let ports = if args.ports.is_empty() { found.clone() } else { args.ports.clone() };
    if let Some(p) = ports.iter().find(|p| !found.contains(p)) {
        return Err(Failure::usage(format!(
            "--ports: DPDK has no port {p} (ports: {found:?}; give --vdev=... after `--`)"
        )));
    }
    if ports.is_empty() || ports.len() > 2 {
        return Err(Failure::usage(format!(
            "qfp gen needs one or two ports, DPDK found {} (pick them with --ports; e.g. -- --vdev=net_ring0 \
             for a loopback)",
            ports.len()
        )));
    }
    let tx_ports = if args.tx_ports.is_empty() { ports.clone() } else { args.tx_ports.clone() };
    let src = per_port(&args.src_mac, ports.len(), "--src-mac")?;
    let dst = per_port(&args.dst_mac, ports.len(), "--dst-mac")?;
    let cfg = Config {
        ports,
        tx_ports,
        rate_pps: match args.rate {
            Rate::Pps(r) => Some(r),
            Rate::Max => None,
        },
        size: args.size,
        duration: args.duration.map(Duration::from_secs_f64),
        count: args.count,
        flows: args.flows,
        nets,
        src_macs: src,
        dst_macs: dst
            .iter()
            .enumerate()
            .map(|(i, m)| m.unwrap_or([0x02, 0x51, 0x46, 0, 0, i as u8]))
            .collect(),
        drain: Duration::from_millis(args.drain_ms),
        poll: match args.poll {
            PollArg::Busy => Poll::Busy,
            PollArg::Adaptive => Poll::Adaptive,
        },
        burst: usize::from(args.burst),
        bucket: Duration::from_millis(args.bucket_ms),
        rx_desc: args.rx_desc,
        tx_desc: args.tx_desc,
        mbufs: args.mbufs,
        check_pattern: !args.no_pattern_check,
        link_wait: Duration::from_secs_f64(args.link_wait),
        start_delay: Duration::from_millis(args.start_delay_ms),
        live_interval: (!args.quiet || args.live_json.is_some())
            .then_some(Duration::from_millis(args.live_ms)),
    };
    let usage = |e: generator::Error| match e {
        generator::Error::Usage(m) => Failure::usage(m),
        other => Failure::runtime(other.to_string()),
    };
    generator::validate(&cfg).map_err(usage)?;
    if cfg.duration.is_none() && cfg.count.is_none() {
        eprintln!(
            "qfp gen: sending until SIGINT/SIGTERM (give --duration or --count to stop by itself)"
        );
    }
    let mut live_failed = false;
    let on_live = |l: &generator::report::Live| {
        if !args.quiet {
            eprintln!("{}", l.line());
        }
        if let Some(p) = &args.live_json
            && let Err(e) = write_json(p, l)
            && !live_failed
        {
            eprintln!("qfp gen: writing {}: {e} (will retry every interval)", p.display());
            live_failed = true;
        }
    };
    let report = generator::run(&eal, &cfg, &stop, on_live).map_err(usage)?;
    drop(eal);
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), report.table().as_bytes());
    if let Some(p) = &args.json {
        write_json(p, &report)
            .map_err(|e| Failure::runtime(format!("writing {}: {e}", p.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(parse_rate("max"), Ok(Rate::Max));
        assert_eq!(parse_rate("2.5e5"), Ok(Rate::Pps(250_000.0)));
        assert!(parse_rate("0").is_err() && parse_rate("fast").is_err());
        assert_eq!(parse_mac("02:51:46:00:00:0a"), Ok([2, 0x51, 0x46, 0, 0, 10]));
        assert!(parse_mac("02:51:46:00:00").is_err() && parse_mac("2:51:46:00:00:0a").is_err());
        assert!(parse_secs("-1").is_err() && parse_secs("1.5") == Ok(1.5));
        assert_eq!(per_port(&[1u8], 2, "x").unwrap(), vec![Some(1), Some(1)]);
        assert!(per_port(&[1u8, 2, 3], 2, "x").is_err());
    }
}
