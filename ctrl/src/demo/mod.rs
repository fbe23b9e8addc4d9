//! `qfp demo`: the self-contained showcase (design section 9). Two gateways — two
//! `qfp run -c` processes joined by net_memif on their unprotected ports, configs written
//! for the run with matching SAs and a shared random PSK — and `qfp gen` on their
//! protected ports counting every packet both ways. While traffic flows the demo asks the
//! gateways to rekey every `--rekey-every` ms (A and B in turn, through their control
//! sockets), then at `--desync-at` makes gateway A forget the inbound SA that B is sending
//! on (`qfp ctl debug forget-sa SPI`): B's traffic hits an unknown SPI, A logs
//! `%CRYPTO-4-RECVD_PKT_INV_SPI` and, with invalid-SPI recovery on, tells B, which drops
//! its stale SA and rekeys at once. Scheduled rekeys pause from just before the desync
//! until traffic is back, so that what repairs the tunnel is the recovery and nothing else
//! (with `--no-recovery` it stays black-holed to the end).
//!
//! A live table on stderr every second, event lines as they happen, and at the end the
//! summary (stdout; `--json FILE` writes it, see [`summary`]). The children are stopped in
//! order at the end or on SIGINT/SIGTERM (the generator first, so that it still counts
//! what is in flight, then the gateways, which write their final statistics); a second
//! signal kills them at once. A child that fails ends the demo with its last lines.
//!
//! - [`setup`]: configs, sockets, CPU layout, command lines;
//! - [`child`]: child processes (own process group, output, stop, kill on drop);
//! - [`watch`]: reading the children's JSON; [`table`]: the live table;
//! - [`summary`]: the accounting at the end; [`run`](self::run) and `show` (with its
//!   timed steps: rekeys, the desync) the rest.

pub mod child;
pub mod setup;
mod show;
pub mod summary;
pub mod table;
pub mod watch;

use std::path::PathBuf;

use clap::Args;

use crate::cli::RekeyOrder;
use crate::load::Failure;

/// `qfp demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Seconds of traffic (the whole show takes a few seconds more: start-up and drain).
    #[arg(long, value_name = "S", default_value_t = 20.0, value_parser = parse_duration)]
    pub duration: f64,
    /// Packets per second in each direction (64-byte frames).
    #[arg(long, value_name = "PPS", default_value_t = 20_000,
          value_parser = clap::value_parser!(u32).range(1..=2_000_000))]
    pub rate: u32,
    /// Ask for a rekey every MS milliseconds, started by A and B in turn (0: none).
    #[arg(long = "rekey-every", value_name = "MS", default_value_t = 1000, value_parser = parse_rekey_every)]
    pub rekey_every: u64,
    /// Rekey order of both gateways: make-before-break (lossless) or outbound-first (the
    /// CSCty30063 order, which loses packets at every rekey).
    #[arg(long = "rekey-order", value_name = "ORDER", default_value = "make-before-break")]
    pub rekey_order: RekeyOrder,
    /// Seconds into the traffic at which gateway A forgets the inbound SA B sends on
    /// (default: 60% of --duration; 0: no desync).
    #[arg(long = "desync-at", value_name = "S", value_parser = parse_secs, allow_negative_numbers = true)]
    pub desync_at: Option<f64>,
    /// Run the gateways with --invalid-spi-recovery off: the desync is detected and
    /// reported, never repaired.
    #[arg(long = "no-recovery")]
    pub no_recovery: bool,
    /// Write the summary as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Keep the configs, logs and reports in DIR (default: a temporary directory, removed
    /// after a successful run).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("'{s}' is not a number of seconds >= 0")),
    }
}

fn parse_duration(s: &str) -> Result<f64, String> {
    let v = parse_secs(s)?;
    if !(2.0..=3600.0).contains(&v) {
        return Err(format!("{s} is outside 2..=3600 seconds"));
    }
    Ok(v)
}

fn parse_rekey_every(s: &str) -> Result<u64, String> {
    let v: u64 = s.trim().parse().map_err(|_| format!("'{s}' is not a number of milliseconds"))?;
    if v != 0 && !(10..=3_600_000).contains(&v) {
        return Err(format!("{s} is outside 10..=3600000 ms (0: no rekeys)"));
    }
    Ok(v)
}

/// The checked options.
#[derive(Debug, Clone)]
pub struct Options {
    /// What the children need.
    pub child: setup::Options,
    /// Rekey period (0: none).
    pub rekey_every_ms: u64,
    /// When to inject the desync (None: never).
    pub desync_at: Option<f64>,
}

/// Checks what clap cannot: the desync must fall inside the traffic.
pub fn check(args: &DemoArgs) -> Result<Options, Failure> {
    let desync_at = match args.desync_at {
        None => Some((args.duration * 0.6 * 10.0).round() / 10.0),
        Some(0.0) => None,
        Some(d) if d >= 0.5 && d <= args.duration - 0.5 => Some(d),
        Some(d) => {
            return Err(Failure::usage(format!(
                "--desync-at: {d} s is not inside the traffic (0.5..={} s for --duration {}; 0: none)",
                args.duration - 0.5,
                args.duration
            )));
        }
    };
    if let Some(p) = &args.json {
        std::fs::File::create(p).and_then(|_| std::fs::remove_file(p)).map_err(|e| {
            Failure::usage(format!("--json {}: cannot write there: {e}", p.display()))
        })?;
    }
    Ok(Options {
        child: setup::Options {
            duration: args.duration,
            rate: args.rate,
            order: args.rekey_order,
            recovery: !args.no_recovery,
        },
        rekey_every_ms: args.rekey_every,
        desync_at,
    })
}

/// Runs the demo: the show on stderr, the summary on stdout (and `--json`).
pub fn run(args: &DemoArgs) -> Result<(), Failure> {
    let opts = check(args)?;
    show::run(args, &opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Command, Parsed, parse};

    fn demo(args: &[&str]) -> Result<DemoArgs, String> {
        match parse(
            std::iter::once("qfp").chain(std::iter::once("demo")).chain(args.iter().copied()),
        ) {
            Parsed::Command(c) => match c.command {
                Command::Demo(d) => Ok(*d),
                other => Err(format!("{other:?}")),
            },
            Parsed::Exit(text, _) => Err(text),
        }
    }

    #[test]
    fn defaults_make_a_twenty_second_show_with_a_desync() {
        let d = demo(&[]).unwrap();
        assert_eq!((d.duration, d.rate, d.rekey_every), (20.0, 20_000, 1000));
        assert_eq!(d.rekey_order, RekeyOrder::MakeBeforeBreak);
        let o = check(&d).unwrap();
        assert_eq!((o.desync_at, o.child.recovery), (Some(12.0), true));
        let d = demo(&[
            "--duration",
            "10",
            "--desync-at",
            "0",
            "--no-recovery",
            "--rekey-order",
            "outbound-first",
        ])
        .unwrap();
        let o = check(&d).unwrap();
        assert_eq!(
            (o.desync_at, o.child.recovery, o.child.order),
            (None, false, RekeyOrder::OutboundFirst)
        );
    }

    #[test]
    fn bad_values_name_their_flag() {
        for (args, flag) in [
            (&["--duration", "1"][..], "--duration"),
            (&["--rate", "0"], "--rate"),
            (&["--rekey-every", "5"], "--rekey-every"),
            (&["--rekey-order", "sideways"], "--rekey-order"),
            (&["--desync-at", "-1"], "--desync-at"),
        ] {
            let e = demo(args).unwrap_err();
            assert!(e.contains(flag), "{args:?}: {e}");
        }
        let d = demo(&["--duration", "10", "--desync-at", "10"]).unwrap();
        let e = check(&d).unwrap_err();
        assert!(e.code == 2 && e.message.starts_with("--desync-at"), "{e}");
        let d = demo(&["--json", "/nonexistent-dir/x.json"]).unwrap();
        assert!(check(&d).unwrap_err().message.starts_with("--json"));
    }
}
