//! Statistics: the document the control core publishes every `--stats-interval` and at
//! exit (the `--stats-json` contract of design section 9), and the live line on stderr.
//!
//! The counters themselves live with their writers: one `dataplane::gateway::WorkerStats`
//! per worker (rx/tx per port, the drop table and the events, written with relaxed load +
//! store by that worker alone) and the SAs' own counters. The control core reads them at
//! any time and sums them here. Every drop reason of the table appears in `drops`, zeros
//! included, so a reader never has to know which reasons exist.
//!
//! Fields of the contract (never renamed): `uptime_s`, `ports[] {port, rx, tx, missed}`,
//! `workers[] {lcore, rx, tx, drops}`, `drops {NAME: n}`, `tunnels[] {name, rekeys, sa[]
//! {spi, dir, state, packets, bytes}}`, `inbound {decrypted}`, `outbound {encrypted}`.
//! Added: `global` (the QFP's derived `Ipsec*` counters), `events` (natt_keepalive,
//! punted, handoffs, unknown-SPI reports, injections), per-port `mac`/`role`, per-worker
//! handoffs, per-SA sequence number, replay and ICV failures and owner, the gateway's
//! control-side counters (`control`), and `final`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use dataplane::drops::{Counters, Derived, DropReason, Event};
use dataplane::gateway::WorkerSnapshot;
use serde::Serialize;

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
    /// Packets the device could not receive because the mbuf pool was empty
    /// (`rx_nombuf`; see `--mbufs`).
    pub rx_nombuf: u64,
    /// "protected" or "unprotected" (gateway), absent for the cross-connect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    /// The port's MAC address (the source of what qfp sends on it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

/// One worker in the stats JSON.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WorkerJson {
    /// Its lcore.
    pub lcore: u32,
    /// Packets received (both ports).
    pub rx: u64,
    /// Packets sent (both ports).
    pub tx: u64,
    /// Packets dropped by this worker (all reasons).
    pub drops: u64,
    /// Packets it handed to another worker (their SA's owner).
    pub handed_off: u64,
    /// Packets it received from other workers' handoffs.
    pub handoff_received: u64,
    /// SAs it owns (inbound SAs and tunnels' outbound SAs; gateway only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sas: Option<u32>,
}

/// One SA in the stats JSON.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SaJson {
    /// SPI.
    pub spi: u32,
    /// "in" or "out".
    pub dir: &'static str,
    /// "active", "soft-expired", "expired" or "invalid" (later: "retiring").
    pub state: &'static str,
    /// Packets protected.
    pub packets: u64,
    /// Inner bytes protected.
    pub bytes: u64,
    /// Outbound: last sequence number sent; inbound: highest accepted.
    pub seq: u64,
    /// Inbound: packets the replay window refused.
    pub replay_failed: u64,
    /// Inbound: packets whose ICV did not verify.
    pub verify_failed: u64,
    /// The worker that owns it.
    pub owner: u16,
}

/// One tunnel in the stats JSON.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TunnelJson {
    /// Its name.
    pub name: String,
    /// Rekeys since start: completed exchanges that installed a new outbound SA, one per
    /// exchange whatever started it (lifetime, schedule, qfpctl, a clear, an INVALID_SPI
    /// repair).
    pub rekeys: u64,
    /// The worker that encrypts for it.
    pub owner: u16,
    /// Its SAs: the outbound one first, then the inbound ones.
    pub sa: Vec<SaJson>,
    /// The peer's outer address (gateway control core).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// "alive", "dead" (the peer channel gets no answer) or "static" (no PSK).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_state: Option<&'static str>,
    /// The rekey exchange under way: "idle", "initiating", ... (tunnels with a PSK).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchange: Option<&'static str>,
    /// The SPI it encrypts with now, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound_spi: Option<u32>,
    /// Why it was rekeyed (tunnels with a PSK).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rekey_triggers: Option<crate::gateway::core::Triggers>,
    /// Its peer channel's counters (tunnels with a PSK).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_channel: Option<crate::peer::PeerStats>,
}

/// `inbound` of the stats JSON.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Inbound {
    /// ESP packets decrypted.
    pub decrypted: u64,
    /// Replay-window refusals, all SAs.
    pub replay_failed: u64,
    /// ICV failures, all SAs.
    pub verify_failed: u64,
}

/// `outbound` of the stats JSON.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Outbound {
    /// Packets encrypted into ESP.
    pub encrypted: u64,
}

/// The control core's own counters (gateway only).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ControlJson {
    /// Inbound SAs published now.
    pub inbound_sas: u64,
    /// Tables published since start.
    pub table_generation: u64,
    /// Punted packets the control core took from the workers.
    pub punts_received: u64,
    /// Unknown-SPI reports the control core took from the workers.
    pub invalid_spi_reports: u64,
    /// Replaced tables and SAs handed back to the control core and dropped there.
    pub reclaimed: u64,
    /// Replaced values dropped where the epoch collector ran (reclaim queue full).
    pub reclaim_dropped_in_place: u64,
    /// Packets waiting in the handoff rings now (0 in the final document).
    pub handoff_pending: u64,
    /// Capacity of each handoff ring.
    pub handoff_ring: u64,
}

/// The control core's summary (gateway only).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CoreJson {
    /// Rekeys since start (as `tunnels[].rekeys`), all tunnels.
    pub rekeys: u64,
    /// Tunnels whose peer answers.
    pub peers_alive: u64,
    /// Tunnels whose peer does not answer.
    pub peers_dead: u64,
    /// Tunnels without PSK.
    pub static_tunnels: u64,
    /// Unknown-SPI flows out of sync now.
    pub out_of_sync_flows: u64,
    /// The control core's counters.
    #[serde(flatten)]
    pub counts: crate::gateway::core::CoreCounts,
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
    /// Drops by reason, summed over workers: every reason of the table, zeros included.
    pub drops: BTreeMap<&'static str, u64>,
    /// The QFP's global counters derived from the drops (`IpsecInput`, ...).
    pub global: BTreeMap<&'static str, u64>,
    /// Counted outcomes that are not drops (`natt_keepalive`, `punted`, ...).
    pub events: BTreeMap<&'static str, u64>,
    /// Tunnels and their SAs (none for the cross-connect).
    pub tunnels: Vec<TunnelJson>,
    /// Inbound ESP totals.
    pub inbound: Inbound,
    /// Outbound ESP totals.
    pub outbound: Outbound,
    /// The gateway's control core.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control: Option<ControlJson>,
    /// The gateway's rekeys and peers (control core).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub core: Option<CoreJson>,
    /// Unknown-SPI flows and their classification (gateway).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid_spi: Option<crate::gateway::invalid_spi::InvalidSpiJson>,
    /// True in the last document, written after the workers stopped.
    #[serde(rename = "final")]
    pub is_final: bool,
}

impl Snapshot {
    /// Builds the document from port counters, `(lcore, counters)` per worker and tunnels.
    pub fn new(
        uptime_s: f64,
        ports: Vec<PortJson>,
        workers: &[(u32, WorkerSnapshot)],
        tunnels: Vec<TunnelJson>,
        control: Option<ControlJson>,
        is_final: bool,
    ) -> Self {
        let mut sum = WorkerSnapshot::default();
        for (_, w) in workers {
            sum += w;
        }
        let c = &sum.counters;
        let (replay_failed, verify_failed) = tunnels
            .iter()
            .flat_map(|t| &t.sa)
            .fold((0, 0), |(r, v), s| (r + s.replay_failed, v + s.verify_failed));
        Snapshot {
            uptime_s: (uptime_s * 1000.0).round() / 1000.0,
            ports,
            workers: workers
                .iter()
                .map(|(lcore, w)| WorkerJson {
                    lcore: *lcore,
                    rx: w.rx_total(),
                    tx: w.tx_total(),
                    drops: w.counters.total_drops(),
                    handed_off: w.counters.events(Event::HandedOff),
                    handoff_received: w.counters.events(Event::HandoffReceived),
                    sas: None,
                })
                .collect(),
            drops: c.iter_drops().map(|(r, n)| (r.name(), n)).collect(),
            global: Derived::ALL.iter().map(|&d| (d.name(), c.derived(d))).collect(),
            events: c.iter_events().map(|(e, n)| (e.name(), n)).collect(),
            tunnels,
            inbound: Inbound {
                decrypted: c.events(Event::Decrypted),
                replay_failed,
                verify_failed,
            },
            outbound: Outbound { encrypted: c.events(Event::Encrypted) },
            control,
            core: None,
            invalid_spi: None,
            is_final,
        }
    }

    /// Sum of all drops.
    pub fn total_drops(&self) -> u64 {
        self.drops.values().sum()
    }
}

/// A worker snapshot with only rx/tx per port and `TxFull` drops (the cross-connect's
/// counters, in the gateway's shape).
pub fn forward_snapshot(rx: [u64; 2], tx: [u64; 2], tx_full: u64) -> WorkerSnapshot {
    let c = Counters::new();
    c.add_drops(DropReason::TxFull, tx_full);
    WorkerSnapshot { rx, tx, counters: c.snapshot() }
}

/// A MAC address as text.
pub fn mac_str(m: [u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// Writes `snap` to `path` atomically: a reader sees the old or the new document, never
/// half of one (write a temporary file in the same directory, then rename it).
pub fn write_json(path: &Path, snap: &Snapshot) -> std::io::Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    // Buffered: serde_json writes token by token, which unbuffered is a system call per
    // token (about a million of them for 10k tunnels).
    let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    serde_json::to_writer_pretty(&mut f, snap)?;
    f.write_all(b"\n")?;
    f.into_inner().map_err(|e| e.into_error())?;
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
    let dt = prev.map_or(now.uptime_s, |p| now.uptime_s - p.uptime_s).max(1e-9);
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
        if p.rx_nombuf > 0 {
            line += &format!(" no-mbuf {}", p.rx_nombuf);
        }
    }
    line += &format!(" | drops {}", now.total_drops());
    if let Some(c) = &now.core {
        line += &format!(" | rekeys {}", c.rekeys);
        if c.peers_dead > 0 {
            line += &format!(" | peers dead {}", c.peers_dead);
        }
        if c.out_of_sync_flows > 0 {
            line += &format!(" | out-of-sync flows {}", c.out_of_sync_flows);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(port: u16, rx: u64, tx: u64) -> PortJson {
        PortJson { port, rx, tx, missed: 0, rx_nombuf: 0, role: None, mac: None }
    }

    fn snap(t: f64, rx0: u64, tx1: u64, full: u64) -> Snapshot {
        Snapshot::new(
            t,
            vec![port(0, rx0, 0), port(1, 0, tx1)],
            &[(1, forward_snapshot([rx0, 0], [0, tx1], full))],
            Vec::new(),
            None,
            false,
        )
    }

    #[test]
    fn live_line_has_the_control_core_when_there_is_one() {
        let mut s = snap(1.0, 10, 10, 0);
        assert!(!live_line(&s, None).contains("rekeys"));
        s.core = Some(CoreJson { rekeys: 7, peers_dead: 1, ..CoreJson::default() });
        let l = live_line(&s, None);
        assert!(l.ends_with("| rekeys 7 | peers dead 1"), "{l}");
    }

    #[test]
    fn json_has_the_contract_fields() {
        let v: serde_json::Value = serde_json::to_value(snap(2.00049, 300, 298, 2)).unwrap();
        assert_eq!(v["uptime_s"], 2.0);
        assert_eq!(
            v["ports"][0],
            serde_json::json!({"port": 0, "rx": 300, "tx": 0, "missed": 0, "rx_nombuf": 0})
        );
        assert_eq!(v["workers"][0]["lcore"], 1);
        assert_eq!(
            (v["workers"][0]["rx"].as_u64(), v["workers"][0]["tx"].as_u64()),
            (Some(300), Some(298))
        );
        assert_eq!(v["workers"][0]["drops"], 2);
        assert_eq!(v["drops"]["TxFull"], 2);
        // Every reason of the table is there, zeros included.
        let drops = v["drops"].as_object().unwrap();
        assert_eq!(drops.len(), DropReason::COUNT);
        assert_eq!(drops["IN_US_V4_PKT_SA_NOT_FOUND_SPI"], 0);
        assert_eq!(v["global"]["IpsecInput"], 0);
        assert_eq!(v["events"]["natt_keepalive"], 0);
        assert_eq!(v["events"]["punted"], 0);
        assert_eq!(v["inbound"]["decrypted"], 0);
        assert_eq!(v["outbound"]["encrypted"], 0);
        assert_eq!(v["tunnels"], serde_json::json!([]));
        assert_eq!(v["final"], false);
        assert!(v.get("control").is_none());
    }

    #[test]
    fn tunnels_and_sa_failures_add_up() {
        let sa = |spi, dir, replay, icv| SaJson {
            spi,
            dir,
            state: "active",
            packets: 5,
            bytes: 500,
            seq: 5,
            replay_failed: replay,
            verify_failed: icv,
            owner: 0,
        };
        let t = TunnelJson {
            name: "b1".into(),
            rekeys: 0,
            owner: 1,
            sa: vec![sa(0x1001, "out", 0, 0), sa(0x2001, "in", 3, 2), sa(0x2002, "in", 1, 0)],
            ..TunnelJson::default()
        };
        let s = Snapshot::new(1.0, vec![], &[], vec![t], Some(ControlJson::default()), true);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!((s.inbound.replay_failed, s.inbound.verify_failed), (4, 2));
        assert_eq!(v["tunnels"][0]["sa"][1]["spi"], 0x2001);
        assert_eq!(v["tunnels"][0]["sa"][1]["dir"], "in");
        assert_eq!(v["control"]["handoff_pending"], 0);
        assert_eq!(v["final"], true);
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
        let names: Vec<_> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
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
        assert_eq!(mac_str([2, 0, 0, 0, 0, 0xab]), "02:00:00:00:00:ab");
    }
}
