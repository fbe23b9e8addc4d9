//! qfpctl: query and steer a running `qfp run -c` through its control socket.
//!
//! `qfp ctl [--ctrl-socket PATH] [--json] <command>` and the `qfpctl` binary (the same
//! code) send one request over a unix socket and print the answer as an IOS-like table, or
//! as JSON with `--json`. Commands (design section 9):
//!
//! ```text
//! show drops [all]        show sa [peer A]        show stats
//! show workers            show invalid-spi        clear sa peer A
//! rekey [peer A | all]    debug forget-sa SPI
//! ```
//!
//! `A` is a peer's outer address or a tunnel's name; `SPI` is hex (`0x1001`) or decimal.
//! Exit status: 0 answered; 2 a bad command, an unknown peer or SPI, or an ambiguous
//! socket; 1 no gateway at the socket (missing, refused) or a failure of the gateway.
//!
//! - [`proto`]: the request/response protocol (one JSON line each way);
//! - [`answer`]: the answers any mode gives from its statistics (stats, drops, workers);
//! - [`server`]: the socket thread of `qfp run` and its channel to the control core;
//! - [`client`]: connecting, asking and printing; [`render`]: the text tables;
//! - [`path`]: where sockets live by default.

pub mod answer;
pub mod client;
pub mod path;
pub mod proto;
pub mod render;
pub mod server;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use proto::Request;

/// `qfp ctl` / `qfpctl` arguments.
#[derive(Debug, Args)]
pub struct CtlArgs {
    /// Control socket of the `qfp run` to talk to (default: $QFP_CTRL_SOCKET, else the one
    /// socket in /run/qfp, $XDG_RUNTIME_DIR/qfp or /tmp/qfp).
    #[arg(long = "ctrl-socket", value_name = "PATH", global = true)]
    pub ctrl_socket: Option<PathBuf>,
    /// Print the answer as JSON (every command).
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Show tables: drops [all], sa [peer A], stats, workers, invalid-spi.
    Show {
        /// What to show.
        #[command(subcommand)]
        what: ShowCmd,
    },
    /// Clear a peer's SAs: `clear sa peer A` (tells the peer and brings up a new pair at once).
    Clear {
        /// What to clear.
        #[command(subcommand)]
        what: ClearCmd,
    },
    /// Rekey now: `rekey` or `rekey all` (every tunnel with a PSK), `rekey peer A`.
    Rekey {
        /// `all`, or `peer A` (A: peer address or tunnel name).
        #[arg(value_name = "all | peer A", num_args = 0..=2)]
        target: Vec<String>,
    },
    /// Test hooks.
    Debug {
        /// Which.
        #[command(subcommand)]
        what: DebugCmd,
    },
}

/// `show ...`.
#[derive(Debug, Subcommand)]
pub enum ShowCmd {
    /// The IPsec datapath drop table (non-zero rows; `all`: every row) and the global
    /// Ipsec* counters.
    Drops {
        /// Every row of the catalog, zeros included.
        #[arg(value_name = "all", value_parser = ["all"])]
        all: Option<String>,
    },
    /// Tunnels and their SAs, like `show crypto ipsec sa` (`peer A` for one).
    Sa {
        /// `peer A` (A: peer address or tunnel name).
        #[arg(value_name = "peer A", num_args = 0..=2)]
        peer: Vec<String>,
    },
    /// Everything the statistics document has, now.
    Stats,
    /// Per-worker counters and owned SAs.
    Workers,
    /// Unknown-SPI flows (%CRYPTO-4-RECVD_PKT_INV_SPI): first/last seen, transient or
    /// out-of-sync.
    InvalidSpi,
}

/// `clear ...`.
#[derive(Debug, Subcommand)]
pub enum ClearCmd {
    /// `clear sa peer A`: delete the peer's SAs, tell it, and bring up a new pair at once.
    Sa {
        /// `peer A`.
        #[arg(value_name = "peer A", num_args = 2)]
        peer: Vec<String>,
    },
}

/// `debug ...`.
#[derive(Debug, Subcommand)]
pub enum DebugCmd {
    /// Delete inbound SA SPI without telling the peer (injects an out-of-sync SA; tests).
    ForgetSa {
        /// The inbound SPI: hex (0x1001) or decimal.
        #[arg(value_name = "SPI")]
        spi: String,
    },
}

/// The `qfpctl` binary's command line (the same arguments as `qfp ctl`).
#[derive(Debug, Parser)]
#[command(name = "qfpctl", version, about = "Query and steer a running `qfp run -c` (same as `qfp ctl`).",
          long_about = crate::help::CTL_DESCRIPTION, after_long_help = crate::help::CTL_AFTER)]
pub struct QfpctlCli {
    /// The arguments.
    #[command(flatten)]
    pub args: CtlArgs,
}

/// `peer A` → `A`; anything else is a one-line usage error.
fn peer_words(words: &[String], what: &str) -> Result<Option<String>, String> {
    match words {
        [] => Ok(None),
        [kw, a] if kw == "peer" => Ok(Some(a.clone())),
        _ => Err(format!(
            "`{what} {}`: expected `{what} peer A` (A: a peer address or tunnel name)",
            words.join(" ")
        )),
    }
}

/// An SPI as a user types it: hex with `0x`, or decimal.
pub fn parse_spi(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => t.parse::<u32>(),
    };
    v.map_err(|_| format!("`{s}` is not an SPI (hex like 0x1001, or decimal up to 4294967295)"))
}

impl CtlCommand {
    /// The request this command sends, or a one-line usage error (exit status 2).
    pub fn request(&self) -> Result<Request, String> {
        Ok(match self {
            CtlCommand::Show { what } => match what {
                ShowCmd::Drops { all } => Request::ShowDrops { all: all.is_some() },
                ShowCmd::Sa { peer } => Request::ShowSa { peer: peer_words(peer, "show sa")? },
                ShowCmd::Stats => Request::ShowStats,
                ShowCmd::Workers => Request::ShowWorkers,
                ShowCmd::InvalidSpi => Request::ShowInvalidSpi,
            },
            CtlCommand::Clear { what: ClearCmd::Sa { peer } } => Request::ClearSa {
                peer: peer_words(peer, "clear sa")?
                    .ok_or("clear sa: expected `clear sa peer A`")?,
            },
            CtlCommand::Rekey { target } => match target.as_slice() {
                [] => Request::Rekey { peer: None },
                [all] if all == "all" => Request::Rekey { peer: None },
                words => Request::Rekey {
                    peer: peer_words(words, "rekey").map_err(|_| {
                        format!(
                            "`rekey {}`: expected `rekey`, `rekey all` or `rekey peer A`",
                            words.join(" ")
                        )
                    })?,
                },
            },
            CtlCommand::Debug { what: DebugCmd::ForgetSa { spi } } => {
                Request::DebugForgetSa { spi: parse_spi(spi)? }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command, parse_as};

    fn req(args: &[&str]) -> Result<Request, String> {
        let mut all = vec!["qfp", "ctl"];
        all.extend_from_slice(args);
        match parse_as::<Cli, _, _>(all) {
            Ok(Cli { command: Command::Ctl(c) }) => c.command.request(),
            Ok(other) => panic!("{other:?}"),
            Err((m, _)) => Err(m),
        }
    }

    #[test]
    fn every_command_parses_to_its_request() {
        let peer = |s: &str| Some(s.to_owned());
        for (args, want) in [
            (&["show", "drops"][..], Request::ShowDrops { all: false }),
            (&["show", "drops", "all"], Request::ShowDrops { all: true }),
            (&["show", "sa"], Request::ShowSa { peer: None }),
            (&["show", "sa", "peer", "172.16.2.5"], Request::ShowSa { peer: peer("172.16.2.5") }),
            (&["show", "stats", "--json"], Request::ShowStats),
            (&["--json", "show", "workers"], Request::ShowWorkers),
            (&["show", "invalid-spi"], Request::ShowInvalidSpi),
            (&["clear", "sa", "peer", "branch-1"], Request::ClearSa { peer: "branch-1".into() }),
            (&["rekey"], Request::Rekey { peer: None }),
            (&["rekey", "all"], Request::Rekey { peer: None }),
            (&["rekey", "peer", "10.0.0.2"], Request::Rekey { peer: peer("10.0.0.2") }),
            (&["debug", "forget-sa", "0x1001"], Request::DebugForgetSa { spi: 0x1001 }),
            (&["debug", "forget-sa", "8193"], Request::DebugForgetSa { spi: 8193 }),
        ] {
            assert_eq!(req(args), Ok(want), "{args:?}");
        }
    }

    #[test]
    fn bad_commands_are_one_line() {
        for args in [
            &["show", "everything"][..],
            &["show", "drops", "some"],
            &["show", "sa", "pear", "x"],
            &["show", "sa", "peer"],
            &["clear", "sa"],
            &["clear", "sa", "x", "y"],
            &["rekey", "some"],
            &["rekey", "peer"],
            &["debug", "forget-sa", "0xZZ"],
            &["debug", "forget-sa", "-1"],
            &["reboot"],
        ] {
            let e = req(args).expect_err(&format!("{args:?} accepted"));
            assert!(e.lines().count() <= 2, "{args:?}: {e}");
        }
    }

    #[test]
    fn a_missing_subcommand_prints_its_help_and_exits_2() {
        let mut all = vec!["qfp", "ctl", "show"];
        match parse_as::<Cli, _, _>(all.drain(..)) {
            Err((text, 2)) => assert!(text.contains("invalid-spi"), "{text}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn qfpctl_has_the_same_commands() {
        let c = parse_as::<QfpctlCli, _, _>(["qfpctl", "--ctrl-socket", "/x.sock", "show", "sa"])
            .unwrap();
        assert_eq!(c.args.ctrl_socket, Some(PathBuf::from("/x.sock")));
        assert_eq!(c.args.command.request(), Ok(Request::ShowSa { peer: None }));
    }
}
