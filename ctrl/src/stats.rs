//! Statistics: per-worker counters written by their worker alone, and the snapshot the
//! control core publishes every `--stats-interval` (the `--stats-json` document of design
//! section 9, and the live line on stderr).
//!
//! Counters are cache-line padded and updated with a relaxed load and a relaxed store —
//! never a read-modify-write: each has exactly one writer, and the control core only
//! reads. Atomics (rather than plain u64) let it read them in safe code; on x86-64
//! relaxed loads and stores are plain moves.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Adds `n` to a counter that only the calling thread writes.
#[inline]
pub fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// One worker's counters, on a cache line of their own.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct WorkerCounters {
    /// Packets received on any of the worker's rx queues.
    pub rx: AtomicU64,
    /// Packets the tx queues took.
    pub tx: AtomicU64,
    /// Packets a tx queue did not take (ring full): drop `TxFull`.
    pub tx_full: AtomicU64,
}

impl WorkerCounters {
    /// A consistent-enough copy (each counter read once, relaxed).
    pub fn read(&self) -> WorkerTotals {
        WorkerTotals {
            rx: self.rx.load(Ordering::Relaxed),
            tx: self.tx.load(Ordering::Relaxed),
            tx_full: self.tx_full.load(Ordering::Relaxed),
        }
    }
}

/// Values of [`WorkerCounters`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerTotals {
    /// See [`WorkerCounters::rx`].
    pub rx: u64,
    /// See [`WorkerCounters::tx`].
    pub tx: u64,
    /// See [`WorkerCounters::tx_full`].
    pub tx_full: u64,
}

impl WorkerTotals {
    /// Every packet this worker received and did not send.
    pub fn drops(&self) -> u64 {
        self.tx_full
    }
}

/// One port in the stats JSON.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PortJson {
    /// Port id.
    pub port: u16,
    /// Packets received.
    pub rx: u64,
    /// Packets sent.
    pub tx: u64,
    /// Packets the NIC dropped for lack of rx descriptors (`imissed`).
    pub missed: u64,
}

/// One worker in the stats JSON.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WorkerJson {
    /// Its lcore.
    pub lcore: u32,
    /// Packets received.
    pub rx: u64,
    /// Packets sent.
    pub tx: u64,
    /// Packets dropped (all reasons).
    pub drops: u64,
}

/// `inbound` of the stats JSON.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Inbound {
    /// ESP packets decrypted.
    pub decrypted: u64,
}

/// `outbound` of the stats JSON.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Outbound {
    /// Packets encrypted into ESP.
    pub encrypted: u64,
}

/// The stats JSON document (design section 9). Fields are added, never renamed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Snapshot {
    /// Seconds since forwarding started.
    pub uptime_s: f64,
    /// Port counters.
    pub ports: Vec<PortJson>,
    /// Worker counters.
    pub workers: Vec<WorkerJson>,
    /// Drops by reason, summed over workers (only reasons this stage counts).
    pub drops: BTreeMap<&'static str, u64>,
    /// Tunnels and their SAs (none before the ESP stage).
    pub tunnels: Vec<serde_json::Value>,
    /// Inbound ESP totals.
    pub inbound: Inbound,
    /// Outbound ESP totals.
    pub outbound: Outbound,
    /// True in the last document, written after the workers stopped.
    #[serde(rename = "final")]
    pub is_final: bool,
}

impl Snapshot {
    /// Builds the document from port counters and `(lcore, totals)` per worker.
    pub fn new(
        uptime_s: f64,
        ports: Vec<PortJson>,
        workers: &[(u32, WorkerTotals)],
        is_final: bool,
    ) -> Self {
        let tx_full = workers.iter().map(|(_, w)| w.tx_full).sum();
        Snapshot {
            uptime_s: (uptime_s * 1000.0).round() / 1000.0,
            ports,
            workers: workers
                .iter()
                .map(|&(lcore, w)| WorkerJson {
                    lcore,
                    rx: w.rx,
                    tx: w.tx,
                    drops: w.drops(),
                })
                .collect(),
            drops: BTreeMap::from([("TxFull", tx_full)]),
            tunnels: Vec::new(),
            inbound: Inbound::default(),
            outbound: Outbound::default(),
            is_final,
        }
    }

    /// Sum of all drops.
    pub fn total_drops(&self) -> u64 {
        self.drops.values().sum()
    }
}

/// Writes `snap` to `path` atomically: a reader sees the old or the new document, never
/// half of one (write a temporary file in the same directory, then rename it).
pub fn write_json(path: &Path, snap: &Snapshot) -> std::io::Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let mut f = std::fs::File::create(&tmp)?;
    serde_json::to_writer_pretty(&mut f, snap)?;
    f.write_all(b"\n")?;
    drop(f);
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Packets per second as a short human figure ("0", "950", "12.3k", "4.56M").
pub fn rate(pps: f64) -> String {
    match pps {
        p if p < 0.5 => "0".into(),
        p if p < 1e3 => format!("{p:.0}"),
        p if p < 1e6 => format!("{:.1}k", p / 1e3),
        p => format!("{:.2}M", p / 1e6),
    }
}

/// The live line: uptime, per-port rx/tx rates over the last interval, drops so far.
pub fn live_line(now: &Snapshot, prev: Option<&Snapshot>) -> String {
    let dt = prev
        .map_or(now.uptime_s, |p| now.uptime_s - p.uptime_s)
        .max(1e-9);
    let mut line = format!("{:7.1}s", now.uptime_s);
    for p in &now.ports {
        let before = prev.and_then(|s| s.ports.iter().find(|q| q.port == p.port));
        let (rx0, tx0) = before.map_or((0, 0), |b| (b.rx, b.tx));
        line += &format!(
            " | port{} rx {}pps tx {}pps",
            p.port,
            rate((p.rx.saturating_sub(rx0)) as f64 / dt),
            rate((p.tx.saturating_sub(tx0)) as f64 / dt)
        );
        if p.missed > 0 {
            line += &format!(" missed {}", p.missed);
        }
    }
    line += &format!(" | drops {}", now.total_drops());
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(t: f64, rx0: u64, tx1: u64, full: u64) -> Snapshot {
        Snapshot::new(
            t,
            vec![
                PortJson {
                    port: 0,
                    rx: rx0,
                    tx: 0,
                    missed: 0,
                },
                PortJson {
                    port: 1,
                    rx: 0,
                    tx: tx1,
                    missed: 0,
                },
            ],
            &[(
                1,
                WorkerTotals {
                    rx: rx0,
                    tx: tx1,
                    tx_full: full,
                },
            )],
            false,
        )
    }

    #[test]
    fn bump_adds_from_the_owner() {
        let c = WorkerCounters::default();
        bump(&c.rx, 3);
        bump(&c.rx, 4);
        bump(&c.tx_full, 1);
        assert_eq!(
            c.read(),
            WorkerTotals {
                rx: 7,
                tx: 0,
                tx_full: 1
            }
        );
        assert_eq!(std::mem::align_of::<WorkerCounters>(), 64);
    }

    #[test]
    fn json_has_the_contract_fields() {
        let v: serde_json::Value = serde_json::to_value(snap(2.00049, 300, 298, 2)).unwrap();
        assert_eq!(v["uptime_s"], 2.0);
        assert_eq!(
            v["ports"][0],
            serde_json::json!({"port": 0, "rx": 300, "tx": 0, "missed": 0})
        );
        assert_eq!(
            v["workers"][0],
            serde_json::json!({"lcore": 1, "rx": 300, "tx": 298, "drops": 2})
        );
        assert_eq!(v["drops"]["TxFull"], 2);
        assert_eq!(v["inbound"]["decrypted"], 0);
        assert_eq!(v["outbound"]["encrypted"], 0);
        assert_eq!(v["tunnels"], serde_json::json!([]));
        assert_eq!(v["final"], false);
    }

    #[test]
    fn write_is_atomic_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("qfp-stats-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.json");
        write_json(&path, &snap(1.0, 1, 1, 0)).unwrap();
        write_json(&path, &snap(2.0, 5, 5, 0)).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["ports"][0]["rx"], 5);
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("s.json")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn live_line_shows_rates_over_the_interval() {
        let a = snap(1.0, 1_000_000, 1_000_000, 0);
        let b = snap(2.0, 3_500_000, 3_500_000, 7);
        let line = live_line(&b, Some(&a));
        assert!(line.contains("port0 rx 2.50Mpps tx 0pps"), "{line}");
        assert!(line.contains("port1 rx 0pps tx 2.50Mpps"), "{line}");
        assert!(line.ends_with("drops 7"), "{line}");
        assert_eq!(rate(950.0), "950");
        assert_eq!(rate(12_345.0), "12.3k");
    }
}
