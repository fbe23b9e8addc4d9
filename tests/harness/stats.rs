//! The `--stats-json` document (design section 9), parsed on its own terms: these types
//! are the contract as a reader sees it, independent of the code in `ctrl` that writes it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// One port.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct PortStats {
    /// Port id.
    pub port: u16,
    /// Packets received.
    pub rx: u64,
    /// Packets sent.
    pub tx: u64,
    /// Packets the device missed.
    pub missed: u64,
}

/// One worker.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct WorkerStats {
    /// Its lcore.
    pub lcore: u32,
    /// Packets received.
    pub rx: u64,
    /// Packets sent.
    pub tx: u64,
    /// Packets dropped.
    pub drops: u64,
}

/// `inbound`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Inbound {
    /// ESP packets decrypted.
    pub decrypted: u64,
}

/// `outbound`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Outbound {
    /// Packets encrypted.
    pub encrypted: u64,
}

/// The whole document.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Stats {
    /// Seconds of forwarding.
    pub uptime_s: f64,
    /// Ports.
    pub ports: Vec<PortStats>,
    /// Workers.
    pub workers: Vec<WorkerStats>,
    /// Drops by reason.
    pub drops: BTreeMap<String, u64>,
    /// Tunnels (free-form until the ESP stage).
    #[serde(default)]
    pub tunnels: Vec<serde_json::Value>,
    /// Inbound totals.
    pub inbound: Inbound,
    /// Outbound totals.
    pub outbound: Outbound,
    /// True in the document written at exit.
    #[serde(rename = "final", default)]
    pub is_final: bool,
}

impl Stats {
    /// Reads and parses `path`, failing the test with the text if it does not parse.
    pub fn read(path: &Path) -> Stats {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not the stats JSON ({e}):\n{text}", path.display()))
    }

    /// The port with id `id`.
    pub fn port(&self, id: u16) -> &PortStats {
        self.ports
            .iter()
            .find(|p| p.port == id)
            .unwrap_or_else(|| panic!("no port {id} in {:?}", self.ports))
    }

    /// Sum of all drop reasons.
    pub fn total_drops(&self) -> u64 {
        self.drops.values().sum()
    }
}
