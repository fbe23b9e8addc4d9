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
    /// Packets the device could not receive for want of an mbuf.
    #[serde(default)]
    pub rx_nombuf: u64,
    /// "protected" / "unprotected" (gateway only).
    #[serde(default)]
    pub role: Option<String>,
    /// The port's MAC address.
    #[serde(default)]
    pub mac: Option<String>,
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
    /// Packets handed to another worker.
    #[serde(default)]
    pub handed_off: u64,
    /// Packets received from other workers.
    #[serde(default)]
    pub handoff_received: u64,
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
    /// The QFP's derived global counters.
    #[serde(default)]
    pub global: BTreeMap<String, u64>,
    /// Events (not drops): natt_keepalive, punted, handoffs, reports, injections.
    #[serde(default)]
    pub events: BTreeMap<String, u64>,
    /// Tunnels and their SAs.
    #[serde(default)]
    pub tunnels: Vec<serde_json::Value>,
    /// The gateway's control core.
    #[serde(default)]
    pub control: Option<serde_json::Value>,
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

    /// An event count (0 if absent).
    pub fn event(&self, name: &str) -> u64 {
        self.events.get(name).copied().unwrap_or(0)
    }

    /// The SA `spi` of any tunnel, as JSON.
    pub fn sa(&self, spi: u64) -> &serde_json::Value {
        self.tunnels
            .iter()
            .flat_map(|t| t["sa"].as_array().into_iter().flatten())
            .find(|s| s["spi"].as_u64() == Some(spi))
            .unwrap_or_else(|| panic!("no SA {spi:#x} in {:?}", self.tunnels))
    }

    /// The accounting identity, from the document's own fields: what the workers received
    /// (plus frames the control core injected) is what they sent, dropped or consumed.
    /// Returns the packets unaccounted for (0 after a clean stop).
    pub fn in_flight(&self) -> i128 {
        let rx: u64 = self.workers.iter().map(|w| w.rx).sum();
        let tx: u64 = self.workers.iter().map(|w| w.tx).sum();
        let consumed = self.event("natt_keepalive") + self.event("punted");
        i128::from(rx) + i128::from(self.event("injected"))
            - i128::from(tx)
            - i128::from(self.total_drops())
            - i128::from(consumed)
    }
}
