//! The load tools of the `qfp` binary: `qfp pcap` (capture files that drive a gateway
//! configured by a qfp.toml) and `qfp gen` (a traffic generator and sink on DPDK ports).
//!
//! The packet building, the generator loop and the accounting live in the `perf` crate;
//! this module turns command lines and config files into its inputs, so `perf` never
//! depends on `ctrl` (the dependency goes one way: `ctrl` → `perf` → `dataplane`,
//! `dpdk-sys`).

pub mod generator;
pub mod pcap;

/// A failed load-tool command: one line for stderr and the exit status (2: bad flags or
/// config, nothing done; 1: failure while running).
#[derive(Debug)]
pub struct Failure {
    /// The exit status.
    pub code: u8,
    /// The message, one line.
    pub message: String,
}

impl Failure {
    /// Bad flags or config: exit status 2.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure { code: 2, message: message.into() }
    }

    /// A failure at run time: exit status 1.
    pub fn runtime(message: impl Into<String>) -> Failure {
        Failure { code: 1, message: message.into() }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
