//! The command line of `qfp` (design section 9), parsed with clap.
//!
//! Every flag of design section 9 is built. Flags that only the gateway understands are
//! refused without `-c FILE` (see [`RunArgs::gateway_only`]). Bad values are refused here,
//! by clap, with a one-line message that names the flag and exit status 2.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Largest `--burst` (the capacity of a `dpdk_sys::Burst`).
pub const MAX_BURST: u16 = dpdk_sys::Burst::CAPACITY as u16;

/// qfp: an IPsec ESP forwarding processor on DPDK, after Cisco's QFP.
#[derive(Debug, Parser)]
#[command(name = "qfp", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the forwarding processor on DPDK ports (EAL arguments after `--`).
    #[command(long_about = crate::help::RUN_DESCRIPTION, after_long_help = crate::help::RUN_AFTER)]
    Run(RunArgs),
    /// Query and steer a running `qfp run -c` through its control socket (also installed
    /// as `qfpctl`): show drops/sa/stats/workers/invalid-spi, clear sa, rekey, debug.
    #[command(long_about = crate::help::CTL_DESCRIPTION, after_long_help = crate::help::CTL_AFTER)]
    Ctl(crate::ctl::CtlArgs),
    /// Write the capture files that drive a gateway configured by a qfp.toml: plain
    /// traffic for its protected port, ESP from its peer for its unprotected port.
    #[command(long_about = crate::help::PCAP_DESCRIPTION, after_long_help = crate::help::PCAP_AFTER)]
    Pcap(crate::load::pcap::PcapArgs),
    /// Generate traffic on DPDK ports and count it back: loss, reordering, latency.
    #[command(long_about = crate::help::GEN_DESCRIPTION, after_long_help = crate::help::GEN_AFTER)]
    Gen(Box<crate::load::generator::GenArgs>),
    /// The self-contained showcase: two gateways joined by net_memif, a generator counting
    /// every packet both ways, rekeys, an injected desync and its recovery, a live table
    /// and a summary.
    #[command(long_about = crate::help::DEMO_DESCRIPTION, after_long_help = crate::help::DEMO_AFTER)]
    Demo(Box<crate::demo::DemoArgs>),
}

/// Arguments of a subcommand that is not built yet: anything is accepted, then refused.
#[derive(Debug, Args)]
pub struct PassArgs {
    /// Arguments (ignored for now).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<OsString>,
}

/// How idle workers wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Poll {
    /// Poll without pause: lowest latency, one full CPU per worker (benchmarks, production).
    Busy,
    /// After empty polls, pause, then sleep briefly: lets processes share a small machine.
    Adaptive,
}

/// Rekey orders (design section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RekeyOrder {
    /// Publish the new inbound SA before anyone sends on it (lossless).
    MakeBeforeBreak,
    /// Switch outbound first, the CSCty30063 order (loses packets; for comparison).
    OutboundFirst,
}

/// on | off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// `qfp run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Gateway configuration (TOML: tunnels, SAs, routes).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Worker lcores (default: 1, or every worker lcore of an EAL `-l`/`--lcores` list).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=127))]
    pub workers: Option<u16>,
    /// Packets per rx/tx burst.
    #[arg(long, value_name = "N", default_value_t = 32,
          value_parser = clap::value_parser!(u16).range(1..=i64::from(MAX_BURST)))]
    pub burst: u16,
    /// Rx descriptors per queue (the driver may round it).
    #[arg(long = "rx-desc", value_name = "N", default_value_t = 1024,
          value_parser = clap::value_parser!(u16).range(16..=32768))]
    pub rx_desc: u16,
    /// Tx descriptors per queue (the driver may round it).
    #[arg(long = "tx-desc", value_name = "N", default_value_t = 1024,
          value_parser = clap::value_parser!(u16).range(16..=32768))]
    pub tx_desc: u16,
    /// Mbufs in the packet pool (default: enough for every ring, at least 8191).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1023..=16_777_215))]
    pub mbufs: Option<u32>,
    /// Stop after SECS seconds (0: run until SIGINT/SIGTERM).
    #[arg(long, value_name = "SECS", default_value_t = 0.0, value_parser = parse_duration,
          allow_negative_numbers = true)]
    pub duration: f64,
    /// Seconds between statistics updates (live line, --stats-json).
    #[arg(long = "stats-interval", value_name = "SECS", default_value_t = 1.0, value_parser = parse_interval,
          allow_negative_numbers = true)]
    pub stats_interval: f64,
    /// Write statistics as JSON to FILE at every interval and at exit (atomically).
    #[arg(long = "stats-json", value_name = "FILE")]
    pub stats_json: Option<PathBuf>,
    /// Control socket for `qfp ctl` / `qfpctl` (default: /run/qfp/<EAL file prefix>.sock,
    /// or $XDG_RUNTIME_DIR/qfp/ or /tmp/qfp/ when /run/qfp is not writable; printed at start).
    #[arg(long = "ctrl-socket", value_name = "PATH")]
    pub ctrl_socket: Option<PathBuf>,
    /// Anti-replay window in packets (0: off; else a power of two, 32..=65536), overriding
    /// the config.
    #[arg(long = "replay-window", value_name = "N", value_parser = crate::config::parse_replay_window)]
    pub replay_window: Option<u32>,
    /// How long an old inbound SA keeps decrypting after the rekey that replaced it
    /// completed [default: 2000].
    #[arg(long = "rekey-overlap-ms", value_name = "MS", allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub rekey_overlap_ms: Option<u64>,
    /// Rekey order: make-before-break (lossless) or outbound-first (the CSCty30063 order,
    /// loses packets; for comparison) [default: make-before-break].
    #[arg(long = "rekey-order", value_name = "ORDER")]
    pub rekey_order: Option<RekeyOrder>,
    /// Also rekey every tunnel that has a PSK every MS milliseconds (stress tests, demos).
    #[arg(long = "rekey-every", value_name = "MS",
          value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    pub rekey_every: Option<u64>,
    /// On an unknown SPI from a tunnel's peer, tell the peer (authenticated INVALID_SPI) so
    /// that it drops its stale SA and rekeys at once [default: on].
    #[arg(long = "invalid-spi-recovery", value_name = "on|off")]
    pub invalid_spi_recovery: Option<OnOff>,
    /// Log %CRYPTO-4-RECVD_PKT_INV_SPI at most once per SECS per flow (src, dst, SPI); 0
    /// logs every report the workers send [default: 60].
    #[arg(long = "invalid-spi-log-interval", value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub invalid_spi_log_interval: Option<u64>,
    /// An unknown-SPI flow seen in N consecutive intervals is out of sync (not a rekey
    /// transient) [default: 3].
    #[arg(long = "invalid-spi-out-of-sync", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub invalid_spi_out_of_sync: Option<u32>,
    /// How idle workers wait.
    #[arg(long, value_name = "MODE", default_value = "adaptive")]
    pub poll: Poll,
    /// Serve Prometheus text metrics on ADDR:PORT.
    #[arg(long, value_name = "ADDR:PORT")]
    pub prometheus: Option<SocketAddr>,
    /// No live line on stderr.
    #[arg(short, long)]
    pub quiet: bool,
    /// EAL arguments, passed to rte_eal_init untouched (after `--`).
    #[arg(last = true, value_name = "EAL ARGS")]
    pub eal: Vec<String>,
}

impl RunArgs {
    /// The first given flag that only the gateway (`-c FILE`) understands.
    pub fn gateway_only(&self) -> Option<&'static str> {
        [
            (self.replay_window.is_some(), "--replay-window"),
            (self.rekey_overlap_ms.is_some(), "--rekey-overlap-ms"),
            (self.rekey_order.is_some(), "--rekey-order"),
            (self.rekey_every.is_some(), "--rekey-every"),
            (self.invalid_spi_recovery.is_some(), "--invalid-spi-recovery"),
            (self.invalid_spi_log_interval.is_some(), "--invalid-spi-log-interval"),
            (self.invalid_spi_out_of_sync.is_some(), "--invalid-spi-out-of-sync"),
        ]
        .into_iter()
        .find_map(|(given, name)| given.then_some(name))
    }
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("'{s}' is not a number of seconds >= 0"));
    }
    Ok(v)
}

fn parse_duration(s: &str) -> Result<f64, String> {
    let v = parse_seconds(s)?;
    if v > 1e9 {
        return Err(format!("{s} seconds is too long (use 0 to run until stopped)"));
    }
    Ok(v)
}

fn parse_interval(s: &str) -> Result<f64, String> {
    let v = parse_seconds(s)?;
    if !(0.05..=86_400.0).contains(&v) {
        return Err(format!("{s} is outside 0.05..=86400 seconds"));
    }
    Ok(v)
}

/// What parsing decided.
#[derive(Debug)]
pub enum Parsed {
    /// Run this.
    Command(Cli),
    /// Print this and exit with this status (help, version: 0; errors: 2). Errors are
    /// one line naming the flag, plus clap's one-line hint.
    Exit(String, i32),
}

/// Parses `args` (program name first) into a command or an exit.
pub fn parse<I, T>(args: I) -> Parsed
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match parse_as::<Cli, _, _>(args) {
        Ok(cli) => Parsed::Command(cli),
        Err((text, code)) => Parsed::Exit(text, code),
    }
}

/// Parses `args` as `C` (the `qfp` command line, or `qfpctl`'s). Errors are what to print
/// and the exit status: help and version (0) whole, usage errors (2) as one line naming
/// the flag plus clap's hint.
pub fn parse_as<C, I, T>(args: I) -> Result<C, (String, i32)>
where
    C: Parser,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match C::try_parse_from(args) {
        Ok(c) => Ok(c),
        Err(e) => {
            let code = e.exit_code();
            let text = e.render().to_string();
            if !e.use_stderr()
                || e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            {
                // --help, --version, or no subcommand at all: print it all.
                return Err((text, code));
            }
            // A usage error: clap's first line names the flag; keep its final hint line
            // ("For more information, try '--help'."), drop tips and the usage block.
            let mut lines = text.lines().map(str::trim_end).filter(|l| !l.trim().is_empty());
            let mut first = lines.next().unwrap_or("error: invalid command line").to_owned();
            // "the following required arguments were not provided:" lists them on the
            // next, indented lines: keep them on the one line.
            if first.ends_with(':') {
                for l in lines.take_while(|l| l.starts_with("  ")) {
                    first.push(' ');
                    first.push_str(l.trim());
                }
            }
            let hint = text.lines().rev().find(|l| l.starts_with("For more information"));
            let msg = match hint {
                Some(h) if h != first => format!("{first}\n{h}"),
                _ => first,
            };
            Err((msg, 2))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<RunArgs, (String, i32)> {
        match parse(["qfp", "run"].iter().chain(args)) {
            Parsed::Command(Cli { command: Command::Run(r) }) => Ok(r),
            Parsed::Command(c) => panic!("not run: {c:?}"),
            Parsed::Exit(m, c) => Err((m, c)),
        }
    }

    #[test]
    fn defaults_and_eal_args() {
        let r = run(&["--", "--vdev=net_null0", "-l", "0-1"]).unwrap();
        assert_eq!(
            (r.burst, r.rx_desc, r.tx_desc, r.workers, r.mbufs),
            (32, 1024, 1024, None, None)
        );
        assert_eq!((r.duration, r.stats_interval, r.poll), (0.0, 1.0, Poll::Adaptive));
        assert_eq!(r.eal, vec!["--vdev=net_null0", "-l", "0-1"]);
    }

    #[test]
    fn gateway_flags_parse() {
        let r = run(&["-c", "gw.toml", "--replay-window", "0"]).unwrap();
        assert_eq!((r.config.clone(), r.replay_window), (Some(PathBuf::from("gw.toml")), Some(0)));
        assert_eq!(run(&["--replay-window", "4096"]).unwrap().replay_window, Some(4096));
    }

    #[test]
    fn working_flags_parse() {
        let r = run(&[
            "--workers",
            "2",
            "--burst",
            "64",
            "--rx-desc",
            "512",
            "--tx-desc",
            "2048",
            "--mbufs",
            "16383",
            "--duration",
            "2.5",
            "--stats-interval",
            "0.5",
            "--stats-json",
            "s.json",
            "--poll",
            "busy",
            "-q",
        ])
        .unwrap();
        assert_eq!(
            (r.workers, r.burst, r.rx_desc, r.tx_desc, r.mbufs),
            (Some(2), 64, 512, 2048, Some(16383))
        );
        assert_eq!((r.duration, r.stats_interval, r.poll, r.quiet), (2.5, 0.5, Poll::Busy, true));
        assert_eq!(r.stats_json, Some(PathBuf::from("s.json")));
    }

    #[test]
    fn bad_values_are_one_line_naming_the_flag_and_exit_2() {
        for (args, flag) in [
            (&["--workers", "0"][..], "--workers"),
            (&["--burst", "0"], "--burst"),
            (&["--burst", "100000"], "--burst"),
            (&["--burst", "513"], "--burst"),
            (&["--duration", "abc"], "--duration"),
            (&["--duration", "-1"], "--duration"),
            (&["--stats-interval", "0"], "--stats-interval"),
            (&["--poll", "lazy"], "--poll"),
            (&["--bogus"], "--bogus"),
            (&["--rekey-order", "sideways"], "--rekey-order"),
            (&["--replay-window", "1000"], "--replay-window"),
            (&["--replay-window", "16"], "--replay-window"),
            (&["--replay-window", "x"], "--replay-window"),
        ] {
            let (msg, code) = run(args).unwrap_err();
            assert_eq!(code, 2, "{args:?}");
            let first = msg.lines().next().unwrap();
            assert!(first.starts_with("error: ") && first.contains(flag), "{args:?}: {msg}");
            assert!(msg.lines().count() <= 2, "{args:?}: {msg}");
        }
    }

    #[test]
    fn control_core_flags_parse_and_need_the_gateway() {
        let r = run(&[
            "--ctrl-socket",
            "/tmp/q.sock",
            "--rekey-overlap-ms",
            "500",
            "--rekey-order",
            "outbound-first",
            "--rekey-every",
            "20",
            "--invalid-spi-recovery",
            "off",
            "--invalid-spi-log-interval",
            "0",
            "--invalid-spi-out-of-sync",
            "5",
        ])
        .unwrap();
        assert_eq!(r.ctrl_socket, Some(PathBuf::from("/tmp/q.sock")));
        assert_eq!((r.rekey_overlap_ms, r.rekey_every), (Some(500), Some(20)));
        assert_eq!(r.rekey_order, Some(RekeyOrder::OutboundFirst));
        assert_eq!(r.invalid_spi_recovery, Some(OnOff::Off));
        assert_eq!((r.invalid_spi_log_interval, r.invalid_spi_out_of_sync), (Some(0), Some(5)));
        assert_eq!(r.gateway_only(), Some("--rekey-overlap-ms"));
        assert_eq!(run(&["--ctrl-socket", "/tmp/q"]).unwrap().gateway_only(), None);
        for (args, flag) in [
            (&["--rekey-every", "0"][..], "--rekey-every"),
            (&["--rekey-order", "sideways"], "--rekey-order"),
            (&["--invalid-spi-recovery", "maybe"], "--invalid-spi-recovery"),
            (&["--invalid-spi-out-of-sync", "0"], "--invalid-spi-out-of-sync"),
            (&["--rekey-overlap-ms", "-5"], "--rekey-overlap-ms"),
            (&["--prometheus", "nowhere"], "--prometheus"),
        ] {
            let (msg, code) = run(args).unwrap_err();
            assert!(code == 2 && msg.contains(flag), "{args:?}: {msg}");
        }
    }

    #[test]
    fn no_subcommand_prints_the_help_and_exits_2() {
        match parse(["qfp"]) {
            Parsed::Exit(text, 2) => {
                assert!(text.contains("IPsec") && text.contains("run"), "{text}")
            }
            other => panic!("{other:?}"),
        }
    }

    /// `--help` of `args` (program name first) as parsed by `C`, and its `-h`.
    fn helps<C: Parser + std::fmt::Debug>(args: &[&str]) -> (String, String) {
        let with = |flag: &str| {
            let argv: Vec<&str> = args.iter().copied().chain([flag]).collect();
            match parse_as::<C, _, _>(argv) {
                Err((text, 0)) => text,
                other => panic!("{args:?} {flag}: {other:?}"),
            }
        };
        (with("--help"), with("-h"))
    }

    /// Every section of `sections` starts a line of `long`, in this order.
    fn assert_sections_in_order(what: &str, long: &str, sections: &[&str]) {
        let mut at = 0;
        for section in sections {
            let found = long[at..].find(&format!("\n{section}")).map(|i| i + at);
            at = found
                .unwrap_or_else(|| panic!("{what}: {section} missing or out of order:\n{long}"));
        }
    }

    #[test]
    fn every_long_help_is_a_man_page_and_short_help_stays_short() {
        const SEE: &str = "SEE ALSO";
        // (command line, sections of --help in order, a flag -h must still list)
        let qfp: &[(&[&str], &[&str], &str)] = &[
            (
                &["qfp", "run"],
                &[
                    "DESCRIPTION",
                    "Usage:",
                    "Options:",
                    "EXAMPLES",
                    "SIGNALS",
                    "EXIT STATUS",
                    "FILES",
                    SEE,
                ],
                "--stats-json",
            ),
            (
                &["qfp", "ctl"],
                &[
                    "DESCRIPTION",
                    "Usage:",
                    "Commands:",
                    "Options:",
                    "EXAMPLES",
                    "EXIT STATUS",
                    "ENVIRONMENT",
                    "FILES",
                    SEE,
                ],
                "--ctrl-socket",
            ),
            (
                &["qfp", "pcap"],
                &["DESCRIPTION", "Usage:", "Options:", "EXAMPLES", "EXIT STATUS", "FILES", SEE],
                "--peer-side",
            ),
            (
                &["qfp", "gen"],
                &[
                    "DESCRIPTION",
                    "Usage:",
                    "Options:",
                    "EXAMPLES",
                    "SIGNALS",
                    "EXIT STATUS",
                    "FILES",
                    SEE,
                ],
                "--rate",
            ),
            (
                &["qfp", "demo"],
                &[
                    "DESCRIPTION",
                    "Usage:",
                    "Options:",
                    "EXAMPLES",
                    "SIGNALS",
                    "EXIT STATUS",
                    "FILES",
                    SEE,
                ],
                "--desync-at",
            ),
        ];
        let mut checked = Vec::new();
        for &(args, sections, flag) in qfp {
            let (long, short) = helps::<Cli>(args);
            assert_sections_in_order(&args.join(" "), &long, sections);
            assert!(!short.contains("EXIT STATUS") && !short.contains("EXAMPLES"), "{short}");
            assert!(short.contains(flag) && long.contains(flag), "{args:?}: {short}");
            assert!(short.lines().count() * 2 < long.lines().count(), "{args:?}: {short}");
            checked.push(args[1].to_owned());
        }
        // Every subcommand of `qfp` is checked above (a new one needs its man page).
        let all: Vec<String> = <Cli as clap::CommandFactory>::command()
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .filter(|n| n != "help")
            .collect();
        assert_eq!(all, checked);
        // qfpctl is the same program as qfp ctl: the same man page.
        let (long, short) = helps::<crate::ctl::QfpctlCli>(&["qfpctl"]);
        let (ctl_long, _) = helps::<Cli>(&["qfp", "ctl"]);
        assert_sections_in_order("qfpctl", &long, qfp[1].1);
        assert!(long.contains(crate::help::CTL_AFTER) && ctl_long.contains(crate::help::CTL_AFTER));
        assert!(
            !short.contains("EXIT STATUS") && short.lines().count() * 2 < long.lines().count(),
            "{short}"
        );
    }

    /// `(subcommand, --flag)` of every `qfp SUB ...` / `qfpctl ...` command line in the
    /// EXAMPLES section of `text` (continuation lines joined), up to a bare `--` (EAL
    /// arguments) or a pipe.
    fn example_flags(text: &str) -> Vec<(String, String)> {
        let text = format!("\n{text}");
        let examples = text.split("\nEXAMPLES\n").nth(1).unwrap_or_default();
        let examples =
            examples.split("\n\n").take_while(|p| p.starts_with("    ")).collect::<Vec<_>>();
        let joined = examples.join("\n").replace("\\\n", " ");
        let mut found = Vec::new();
        for line in joined.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            for (i, w) in words.iter().enumerate() {
                let sub = match (*w, words.get(i + 1)) {
                    ("qfpctl", _) => "ctl",
                    ("qfp", Some(s)) => s,
                    _ => continue,
                };
                for tok in words[i + 1..].iter().take_while(|t| !["--", "|", "&"].contains(t)) {
                    if tok.starts_with("--") {
                        found.push((sub.to_owned(), tok.split('=').next().unwrap().to_owned()));
                    }
                }
            }
        }
        found
    }

    #[test]
    fn every_flag_in_the_man_pages_examples_exists() {
        use crate::help::*;
        let cmd = <Cli as clap::CommandFactory>::command();
        let mut checked = 0;
        for after in [RUN_AFTER, CTL_AFTER, PCAP_AFTER, GEN_AFTER, DEMO_AFTER] {
            for (sub, flag) in example_flags(after) {
                let sc = cmd.find_subcommand(&sub).unwrap_or_else(|| panic!("no qfp {sub}"));
                assert!(
                    sc.get_arguments().any(|a| a.get_long() == Some(&flag[2..])),
                    "an example uses `qfp {sub} {flag}`, which does not exist"
                );
                checked += 1;
            }
        }
        // The parser above must find them (a broken one would check nothing).
        assert!(checked >= 30, "only {checked} flags found in the examples");
        assert_eq!(
            example_flags("EXAMPLES\n    qfp gen --bogus 1 \\\n        --rate 2 -- --vdev=x"),
            [("gen".to_owned(), "--bogus".to_owned()), ("gen".to_owned(), "--rate".to_owned())]
        );
    }

    #[test]
    fn help_exits_0_with_the_whole_text() {
        match parse(["qfp", "run", "--help"]) {
            Parsed::Exit(text, 0) => {
                assert!(text.contains("--stats-json") && text.contains("EAL ARGS"))
            }
            other => panic!("{other:?}"),
        }
    }
}
