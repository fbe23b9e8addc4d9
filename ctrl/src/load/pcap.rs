//! `qfp pcap`: the capture files that drive a gateway configured by a qfp.toml.
//!
//! For each size it writes `plain-<size>.pcap` (what the protected LAN sends: inner
//! sources in our LAN, destinations in the tunnel's selectors) and `esp-<size>.pcap` (what
//! the tunnel's peer sends: the same kind of traffic the other way, encrypted with the
//! peer's outbound keys, which are our inbound SA's, with fresh sequence numbers from
//! `--start-seq`). `--peer-side` writes the mirror set, what the *peer's* gateway would be
//! fed: plain traffic from the peer's networks (exactly the inner packets of our
//! `esp-*.pcap`) and ESP encrypted with our outbound keys (exactly our `plain-*.pcap`
//! encapsulated, what this gateway sends the peer). So one config gives a test both roles.
//!
//! Streams: 0 = from our LAN towards the tunnel, 1 = from the peer's networks to our LAN
//! (the stream id is in each packet's load header, see `perf::payload`).
//!
//! MACs: the gateway's ports are given the locally administered `02:51:46:00:00:<port>`
//! as destination (the gateway runs promiscuous, so any would do; this one is easy to
//! spot); plain frames come from the LAN router (the `next_hop_mac` of the route that
//! covers the LAN prefix, or `02:51:46:00:01:fe` if none), ESP frames from the tunnel's
//! `next_hop_mac` (the WAN router). The peer side uses `02:51:46:00:01:<port>` for the
//! peer's ports, and its ESP frames look exactly as this gateway sends them (source our
//! unprotected port's address, destination the tunnel's next hop).

/// `println!` that does not panic when stdout is a closed pipe (`qfp pcap ... | head`):
/// the report lines are a courtesy; the files are the output.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use dataplane::sa::{Lifetime, seq_limit};
use dataplane::selector::Prefix;
use dataplane::{Sa, SaConfig, SaDirection};
use perf::payload::FrameSize;
use perf::pcapgen::{self, StreamSpec};
use perf::traffic::FlowSet;

use super::Failure;
use crate::config::{self, Config, Tunnel};
use crate::sa_build::{self, KeyMaterial, SaTemplate, Side};

/// `qfp pcap`.
#[derive(Debug, Clone, Args)]
pub struct PcapArgs {
    /// Gateway configuration the traffic is for (tunnels, keys, routes).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: PathBuf,
    /// Directory to write the files into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Ethernet frame sizes in bytes, FCS included (64..=1518), or imix (7:4:1 of 64/570/1500;
    /// its 1500-byte frames need a tunnel mtu of at least 1536, 1564 with IPv6 and NAT-T).
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "64,512,1400")]
    pub sizes: Vec<FrameSize>,
    /// Frames per file. Keep it small for pcap replay with infinite_rx=1: DPDK's net_pcap
    /// copies the whole file into mbufs of the receiving process's pool.
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub count: u64,
    /// Write what the tunnel's peer gateway would be fed instead (ESP with our outbound keys).
    #[arg(long = "peer-side")]
    pub peer_side: bool,
    /// The tunnel (default: the first in the config).
    #[arg(long, value_name = "NAME", conflicts_with = "all_tunnels")]
    pub tunnel: Option<String>,
    /// Every tunnel of the config, interleaved: frame i belongs to tunnel i mod T (config
    /// order), encrypted with that tunnel's first inbound SA (its outbound SA with
    /// --peer-side), so consecutive frames use different SAs (the scale benchmark).
    #[arg(long = "all-tunnels", conflicts_with = "spi")]
    pub all_tunnels: bool,
    /// Number of flows (addresses and UDP ports vary, so RSS spreads them).
    #[arg(long, value_name = "K", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub flows: u32,
    /// First ESP sequence number of every ESP file.
    #[arg(long = "start-seq", value_name = "S", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub start_seq: u64,
    /// Our protected LAN prefix (default: the first route that is not a default route and
    /// overlaps no selector of the tunnel; else 198.18.0.0/15 or 2001:2::/48, RFC 2544/5180).
    #[arg(long, value_name = "PREFIX")]
    pub lan: Option<Prefix>,
    /// Inner IP version (default: the family of the tunnel's first selector).
    #[arg(long, value_name = "4|6")]
    pub ip: Option<IpVersionArg>,
    /// SPI of the SA whose keys encrypt the ESP files (default: the tunnel's first inbound
    /// SA, or its outbound SA with --peer-side).
    #[arg(long, value_name = "SPI", value_parser = parse_spi)]
    pub spi: Option<u32>,
}

/// `--ip 4|6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IpVersionArg {
    /// IPv4.
    #[value(name = "4")]
    V4,
    /// IPv6.
    #[value(name = "6")]
    V6,
}

fn parse_spi(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => t.parse(),
    };
    v.map_err(|_| format!("'{s}' is not an SPI (decimal or 0x hex)"))
}

/// Locally administered MAC of port `port` of the gateway (`side` 0) or its peer (1).
pub fn port_mac(side: u8, port: u16) -> [u8; 6] {
    [0x02, 0x51, 0x46, 0x00, side, port as u8]
}

/// The LAN router's MAC when no route names one.
pub const LAN_ROUTER_MAC: [u8; 6] = [0x02, 0x51, 0x46, 0x00, 0x01, 0xfe];

/// RFC 2544 (IPv4) and RFC 5180 (IPv6) benchmarking prefixes: the LAN when the config has
/// only default routes.
const BENCH_V4: &str = "198.18.0.0/15";
const BENCH_V6: &str = "2001:2::/48";

fn is_v6(p: &Prefix) -> bool {
    matches!(p, Prefix::V6 { .. })
}

fn overlaps(a: &Prefix, b: &Prefix) -> bool {
    let first = |p: &Prefix| perf::traffic::host(p, 0);
    let (Prefix::V4 { len: la, .. } | Prefix::V6 { len: la, .. }) = *a;
    let (Prefix::V4 { len: lb, .. } | Prefix::V6 { len: lb, .. }) = *b;
    is_v6(a) == is_v6(b) && if la <= lb { a.contains(first(b)) } else { b.contains(first(a)) }
}

/// What `qfp pcap` works out from the config before writing anything.
#[derive(Debug)]
pub struct Plan {
    /// The tunnel.
    pub tunnel: String,
    /// Our LAN prefix.
    pub lan: Prefix,
    /// The peer's protected prefix (the tunnel's selector).
    pub remote: Prefix,
    /// Stream 0: LAN → remote, as the gateway's protected port receives it.
    pub plain: StreamSpec<'static>,
    /// The MACs of the ESP frames (dst, src).
    pub esp_macs: ([u8; 6], [u8; 6]),
    /// ESP stream flows.
    pub esp_flows: FlowSet,
    /// ESP stream id.
    pub esp_stream: u8,
}

fn pick_tunnel<'c>(cfg: &'c Config, name: Option<&str>) -> Result<&'c Tunnel, Failure> {
    match name {
        None => Ok(&cfg.tunnels[0]),
        Some(n) => cfg.tunnels.iter().find(|t| t.name == n).ok_or_else(|| {
            let names: Vec<&str> = cfg.tunnels.iter().map(|t| t.name.as_str()).collect();
            Failure::usage(format!(
                "--tunnel {n}: {} has no such tunnel (tunnels: {})",
                cfg.file(),
                names.join(", ")
            ))
        }),
    }
}

fn pick_lan(cfg: &Config, t: &Tunnel, v6: bool, given: Option<Prefix>) -> Result<Prefix, Failure> {
    let selectors: Vec<Prefix> = t.selectors.iter().map(|p| sa_build::prefix(*p)).collect();
    if let Some(lan) = given {
        if is_v6(&lan) != v6 {
            return Err(Failure::usage(format!(
                "--lan {lan}: the inner traffic is IPv{} (use --ip to change it)",
                if v6 { 6 } else { 4 }
            )));
        }
        if let Some(s) = selectors.iter().find(|s| overlaps(s, &lan)) {
            return Err(Failure::usage(format!(
                "--lan {lan} overlaps selector {s} of tunnel {}: the LAN must be outside the tunnel's remote networks",
                t.name
            )));
        }
        return Ok(lan);
    }
    let from_routes = cfg.routes.iter().map(|r| sa_build::prefix(r.dst)).find(|p| {
        is_v6(p) == v6
            && !matches!(p, Prefix::V4 { len: 0, .. } | Prefix::V6 { len: 0, .. })
            && !selectors.iter().any(|s| overlaps(s, p))
    });
    let lan = from_routes.unwrap_or_else(|| {
        (if v6 { BENCH_V6 } else { BENCH_V4 }).parse().expect("benchmark prefix")
    });
    if let Some(s) = selectors.iter().find(|s| overlaps(s, &lan)) {
        return Err(Failure::usage(format!(
            "tunnel {}'s selector {s} overlaps the default LAN {lan}: give the LAN with --lan PREFIX",
            t.name
        )));
    }
    Ok(lan)
}

/// The outbound SA that encrypts the ESP files: the peer's (our inbound keys) or ours
/// (`--peer-side`), numbering from `start_seq`.
fn sealing_sa(args: &PcapArgs, t: &Tunnel, lan: Prefix) -> Result<Sa, Failure> {
    let (side, candidates): (Side, Vec<&config::SaConfig>) = if args.peer_side {
        (Side::Local, vec![&t.outbound])
    } else {
        (Side::Peer, t.inbound.iter().collect())
    };
    let sa = match args.spi {
        None => candidates[0],
        Some(spi) => *candidates.iter().find(|s| s.spi == spi).ok_or_else(|| {
            let spis: Vec<String> = candidates.iter().map(|s| format!("{:#x}", s.spi)).collect();
            Failure::usage(format!(
                "--spi {spi:#x}: tunnel {} has no {} SA with that SPI ({})",
                t.name,
                if args.peer_side { "outbound" } else { "inbound" },
                spis.join(", ")
            ))
        })?,
    };
    let last = args.start_seq - 1 + args.count;
    if last > seq_limit(t.esn) {
        return Err(Failure::usage(format!(
            "--start-seq {} --count {}: the last sequence number {last:#x} does not fit the 32-bit \
             counter of tunnel {} (esn = false)",
            args.start_seq, args.count, t.name
        )));
    }
    let lan_cfg = config::Prefix::new(addr_of(&lan), len_of(&lan)).expect("valid prefix");
    let tpl = SaTemplate::new(t, side, &[lan_cfg]);
    let keys = KeyMaterial::from(sa);
    Sa::new(SaConfig {
        spi: keys.spi,
        direction: SaDirection::Outbound,
        key: keys.key,
        salt: keys.salt,
        esn: tpl.esn,
        tunnel: tpl.tunnel,
        selectors: tpl.selectors,
        // A generator ignores lifetimes: the files are replayed, not a live SA.
        lifetime: Lifetime::UNLIMITED,
        replay_window: 0,
        created_ns: 0,
        initial_seq: args.start_seq - 1,
    })
    .map_err(|e| Failure::usage(format!("tunnel {}: {e}", t.name)))
}

fn addr_of(p: &Prefix) -> IpAddr {
    match *p {
        Prefix::V4 { net, .. } => IpAddr::V4(net.into()),
        Prefix::V6 { net, .. } => IpAddr::V6(net.into()),
    }
}

fn len_of(p: &Prefix) -> u8 {
    match *p {
        Prefix::V4 { len, .. } | Prefix::V6 { len, .. } => len,
    }
}

/// Works out tunnel, prefixes, flows and MACs from the config (no file is written).
pub fn plan(args: &PcapArgs, cfg: &Config) -> Result<Plan, Failure> {
    plan_for(args, cfg, pick_tunnel(cfg, args.tunnel.as_deref())?)
}

/// [`plan`] for tunnel `t`.
fn plan_for(args: &PcapArgs, cfg: &Config, t: &Tunnel) -> Result<Plan, Failure> {
    let selectors: Vec<Prefix> = t.selectors.iter().map(|p| sa_build::prefix(*p)).collect();
    let v6 = match args.ip {
        Some(v) => v == IpVersionArg::V6,
        None => is_v6(&selectors[0]),
    };
    let remote = *selectors.iter().find(|p| is_v6(p) == v6).ok_or_else(|| {
        Failure::usage(format!(
            "--ip {}: tunnel {} has no IPv{} selector",
            if v6 { 6 } else { 4 },
            t.name,
            if v6 { 6 } else { 4 }
        ))
    })?;
    let lan = pick_lan(cfg, t, v6, args.lan)?;
    let lan_mac =
        cfg.route_for(perf::traffic::host(&lan, 0)).map_or(LAN_ROUTER_MAC, |r| r.next_hop_mac);
    let gw = &cfg.gateway;
    let from_lan = FlowSet::new(lan, remote, args.flows).expect("same family, flows > 0");
    let (plain, esp_macs, esp_flows) = if args.peer_side {
        (
            StreamSpec {
                stream: 1,
                flows: from_lan.reversed(),
                dst_mac: port_mac(1, gw.protected_port),
                src_mac: LAN_ROUTER_MAC,
                seal: None,
            },
            (t.next_hop_mac, port_mac(0, gw.unprotected_port)),
            from_lan,
        )
    } else {
        (
            StreamSpec {
                stream: 0,
                flows: from_lan,
                dst_mac: port_mac(0, gw.protected_port),
                src_mac: lan_mac,
                seal: None,
            },
            (port_mac(0, gw.unprotected_port), t.next_hop_mac),
            from_lan.reversed(),
        )
    };
    Ok(Plan {
        tunnel: t.name.clone(),
        lan,
        remote,
        esp_stream: 1 - plain.stream,
        plain,
        esp_macs,
        esp_flows,
    })
}

/// Runs `qfp pcap`.
pub fn run(args: &PcapArgs) -> Result<(), Failure> {
    let cfg = config::load(&args.config).map_err(|e| Failure::usage(e.to_string()))?;
    if args.all_tunnels {
        return run_all(args, &cfg);
    }
    let plan = plan(args, &cfg)?;
    let t = pick_tunnel(&cfg, args.tunnel.as_deref())?;
    // One SA per ESP file, so that every file starts at --start-seq.
    let new_sa = || sealing_sa(args, t, plan.lan);
    let probe = new_sa()?;
    for &size in &args.sizes {
        let esp = StreamSpec {
            stream: plan.esp_stream,
            flows: plan.esp_flows,
            dst_mac: plan.esp_macs.0,
            src_mac: plan.esp_macs.1,
            seal: Some(&probe),
        };
        pcapgen::check(&plan.plain, size)
            .and_then(|()| pcapgen::check(&esp, size))
            .map_err(|e| Failure::usage(format!("size {size}: {e}")))?;
    }
    let spi = probe.spi();
    drop(probe);
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| Failure::runtime(format!("--dir {}: {e}", args.dir.display())))?;
    out!(
        "qfp pcap: tunnel {} ({}), LAN {} <-> remote {}, {} flows, {} frames per file",
        plan.tunnel,
        if args.peer_side {
            "peer side: what the peer gateway is fed"
        } else {
            "this gateway's side"
        },
        plan.lan,
        plan.remote,
        args.flows,
        args.count
    );
    for &size in &args.sizes {
        let sa = new_sa()?;
        let esp = StreamSpec {
            stream: plan.esp_stream,
            flows: plan.esp_flows,
            dst_mac: plan.esp_macs.0,
            src_mac: plan.esp_macs.1,
            seal: Some(&sa),
        };
        for (name, spec) in [("plain", &plan.plain), ("esp", &esp)] {
            let path = args.dir.join(format!("{name}-{size}.pcap"));
            let bytes = pcapgen::write(&path, spec, size, args.count)
                .map_err(|e| Failure::runtime(e.to_string()))?;
            let what = if spec.seal.is_some() {
                format!(
                    "stream {}, SPI {spi:#x}, seq {}..={}",
                    spec.stream,
                    args.start_seq,
                    args.start_seq - 1 + args.count
                )
            } else {
                format!("stream {}", spec.stream)
            };
            out!(
                "  {}  {} frames, {:.1} bytes average (without FCS), {what}",
                path.display(),
                args.count,
                bytes as f64 / args.count as f64
            );
        }
    }
    Ok(())
}

/// `--all-tunnels`: every tunnel's streams interleaved in one pair of files per size.
fn run_all(args: &PcapArgs, cfg: &Config) -> Result<(), Failure> {
    let plans =
        cfg.tunnels.iter().map(|t| plan_for(args, cfg, t)).collect::<Result<Vec<_>, _>>()?;
    let tunnels = plans.len() as u64;
    if args.count < tunnels {
        eprintln!(
            "qfp pcap: --count {} is below the {tunnels} tunnels: only the first {} carry traffic",
            args.count, args.count
        );
    }
    // Each tunnel's ESP stream numbers its own frames from --start-seq.
    let per_tunnel = args.count.div_ceil(tunnels);
    let sub = PcapArgs { count: per_tunnel, ..args.clone() };
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| Failure::runtime(format!("--dir {}: {e}", args.dir.display())))?;
    out!(
        "qfp pcap: {tunnels} tunnels interleaved ({}), LAN {}, {} flows per tunnel, {} frames per file",
        if args.peer_side { "peer side" } else { "this gateway's side" },
        plans[0].lan,
        args.flows,
        args.count
    );
    for &size in &args.sizes {
        let sas = cfg
            .tunnels
            .iter()
            .zip(&plans)
            .map(|(t, p)| sealing_sa(&sub, t, p.lan))
            .collect::<Result<Vec<_>, _>>()?;
        let esp: Vec<StreamSpec<'_>> = plans
            .iter()
            .zip(&sas)
            .map(|(p, sa)| StreamSpec {
                stream: p.esp_stream,
                flows: p.esp_flows,
                dst_mac: p.esp_macs.0,
                src_mac: p.esp_macs.1,
                seal: Some(sa),
            })
            .collect();
        let plain: Vec<StreamSpec<'_>> = plans.iter().map(|p| p.plain).collect();
        for (name, specs) in [("plain", &plain), ("esp", &esp)] {
            let path = args.dir.join(format!("{name}-{size}.pcap"));
            let bytes =
                pcapgen::write_interleaved(&path, specs, size, args.count).map_err(|e| {
                    let usage =
                        matches!(e, pcapgen::Error::Size(_) | pcapgen::Error::TooBig { .. });
                    let m = format!("size {size}: {e}");
                    if usage { Failure::usage(m) } else { Failure::runtime(m) }
                })?;
            out!(
                "  {}  {} frames, {:.1} bytes average (without FCS), {} tunnels{}",
                path.display(),
                args.count,
                bytes as f64 / args.count as f64,
                tunnels.min(args.count),
                if name == "esp" {
                    format!(
                        ", seq {}..={} per tunnel",
                        args.start_seq,
                        args.start_seq - 1 + per_tunnel
                    )
                } else {
                    String::new()
                }
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    const CFG: &str = r#"
[gateway]
protected_port = 0
unprotected_port = 1
local = "172.16.1.5"

[[tunnel]]
name = "a"
peer = "172.16.2.5"
next_hop_mac = "02:00:00:00:01:01"
selectors = ["192.168.105.0/24", "2001:db8:105::/48"]
[[tunnel.sa]]
dir = "out"
spi = 0x1001
aead = "aes-128-gcm"
key = "00112233445566778899aabbccddeeff"
salt = "c0ffee01"
[[tunnel.sa]]
dir = "in"
spi = 0x2001
aead = "aes-128-gcm"
key = "ffeeddccbbaa99887766554433221100"
salt = "c0ffee02"

[[route]]
dst = "0.0.0.0/0"
next_hop_mac = "02:00:00:00:00:fe"
[[route]]
dst = "192.168.0.0/16"
next_hop_mac = "02:00:00:00:00:16"
[[route]]
dst = "10.1.0.0/16"
next_hop_mac = "02:00:00:00:00:01"
"#;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        a: PcapArgs,
    }

    fn args(extra: &[&str]) -> PcapArgs {
        let mut v = vec!["t", "-c", "x.toml", "--dir", "out"];
        v.extend(extra);
        T::try_parse_from(v).unwrap().a
    }

    fn cfg() -> Config {
        config::parse(CFG, "x.toml").unwrap()
    }

    #[test]
    fn lan_is_the_first_specific_route_outside_the_selectors() {
        // 0.0.0.0/0 is a default route, 192.168.0.0/16 covers the selector: 10.1.0.0/16.
        let p = plan(&args(&[]), &cfg()).unwrap();
        assert_eq!(p.lan.to_string(), "10.1.0.0/16");
        assert_eq!(p.remote.to_string(), "192.168.105.0/24");
        assert_eq!(p.plain.src_mac, [2, 0, 0, 0, 0, 1], "the LAN route's next hop");
        assert_eq!(p.plain.dst_mac, port_mac(0, 0));
        assert_eq!(p.esp_macs, (port_mac(0, 1), [2, 0, 0, 0, 1, 1]));
        assert_eq!((p.plain.stream, p.esp_stream), (0, 1));
        assert_eq!(p.esp_flows, p.plain.flows.reversed());
    }

    #[test]
    fn ipv6_without_a_route_uses_the_benchmark_prefix() {
        let p = plan(&args(&["--ip", "6"]), &cfg()).unwrap();
        assert_eq!(p.lan.to_string(), "2001:2::/48");
        assert_eq!(p.remote.to_string(), "2001:db8:105::/48");
        assert_eq!(p.plain.src_mac, LAN_ROUTER_MAC);
    }

    #[test]
    fn peer_side_mirrors_streams_and_macs() {
        let p = plan(&args(&["--peer-side", "--lan", "10.9.0.0/24"]), &cfg()).unwrap();
        assert_eq!(p.lan.to_string(), "10.9.0.0/24");
        assert_eq!((p.plain.stream, p.esp_stream), (1, 0));
        assert_eq!(p.plain.flows.src.to_string(), "192.168.105.0/24");
        assert_eq!(p.esp_flows.src.to_string(), "10.9.0.0/24");
        // ESP as this gateway sends it: from our unprotected port to the tunnel's next hop.
        assert_eq!(p.esp_macs, ([2, 0, 0, 0, 1, 1], port_mac(0, 1)));
    }

    #[test]
    fn lan_inside_a_selector_is_refused() {
        let e = plan(&args(&["--lan", "192.168.105.0/25"]), &cfg()).unwrap_err();
        assert_eq!(e.code, 2);
        assert!(e.message.contains("overlaps selector 192.168.105.0/24"), "{e}");
        let e = plan(&args(&["--lan", "192.0.0.0/8"]), &cfg()).unwrap_err();
        assert!(e.message.contains("overlaps"), "{e}");
    }

    #[test]
    fn spis_parse_in_decimal_and_hex() {
        assert_eq!(parse_spi("0x2001"), Ok(0x2001));
        assert_eq!(parse_spi("8193"), Ok(0x2001));
        assert!(parse_spi("x").is_err());
    }
}
