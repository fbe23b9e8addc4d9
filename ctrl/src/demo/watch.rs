//! What the demo reads from its children while they run, and after: the generator's live
//! figures (`qfp gen --live-json`), its final report (`--json`) and each gateway's
//! statistics document (`--stats-json`, design section 9). Each is parsed here into just
//! what the demo shows, independently of the writers' types (they are other processes'
//! files: a field that is missing reads as absent, never as a crash).

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

/// The unknown-SPI drop of the stats' `drops` table (IPv4 outer: the demo's tunnel).
pub const UNKNOWN_SPI: &str = "IN_US_V4_PKT_SA_NOT_FOUND_SPI";

/// One stream of the generator's live figures.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct StreamLive {
    /// Stream id (0: A -> B, 1: B -> A).
    pub id: u8,
    /// Packets received per second over the last interval.
    #[serde(default)]
    pub rx_pps: f64,
    /// Sent so far.
    pub sent: u64,
    /// Received so far.
    pub received: u64,
    /// Not (yet) arrived below the highest received.
    #[serde(default)]
    pub missing: u64,
}

/// The generator's live figures.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct GenLive {
    /// Seconds since sending started.
    pub t_s: f64,
    /// When sending started (Unix seconds): the demo's time zero.
    pub start_unix_s: f64,
    /// Still sending (else draining).
    pub sending: bool,
    /// Sent, all streams.
    pub sent: u64,
    /// Received, all streams.
    pub received: u64,
    /// Missing, all streams.
    pub missing: u64,
    /// Per stream.
    pub streams: Vec<StreamLive>,
}

impl GenLive {
    /// Reads the file; None while it does not exist or is not complete JSON.
    pub fn read(path: &Path) -> Option<GenLive> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Stream `id`'s figures (zeros if absent).
    pub fn stream(&self, id: u8) -> StreamLive {
        self.streams.iter().find(|s| s.id == id).cloned().unwrap_or_default()
    }
}

/// What the demo shows of one gateway's statistics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GwView {
    /// Seconds since it started.
    pub uptime_s: f64,
    /// Completed rekeys of the demo tunnel.
    pub rekeys: u64,
    /// The active outbound SPI.
    pub out_spi: Option<u32>,
    /// Inbound SPIs (several during a rekey overlap).
    pub in_spis: Vec<u32>,
    /// Packets dropped for an unknown SPI.
    pub unknown_spi: u64,
    /// Every drop.
    pub drops: u64,
    /// Non-zero drop reasons.
    pub drop_reasons: Vec<(String, u64)>,
    /// Unknown-SPI flows and their classification ("transient", "out-of-sync"), if the
    /// gateway publishes them.
    pub invalid_spi: Vec<(u32, String)>,
    /// The peer's state as the gateway publishes it ("alive", "dead"...), if it does.
    pub peer_state: Option<String>,
    /// The rekey exchange under way ("idle" when none), if the gateway publishes it.
    pub exchange: Option<String>,
    /// The final document (written at exit).
    pub is_final: bool,
}

impl GwView {
    /// No rekey exchange under way (or the gateway does not say).
    pub fn idle(&self) -> bool {
        self.exchange.as_deref().is_none_or(|e| e == "idle")
    }
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

impl GwView {
    /// Reads a stats document; None while it does not exist or is not complete JSON.
    pub fn read(path: &Path) -> Option<GwView> {
        let text = std::fs::read_to_string(path).ok()?;
        let v: Value = serde_json::from_str(&text).ok()?;
        Some(GwView::from_json(&v))
    }

    /// The view of a parsed document.
    pub fn from_json(v: &Value) -> GwView {
        let tunnel = &v["tunnels"][0];
        let sas = tunnel["sa"].as_array().cloned().unwrap_or_default();
        let spi_of = |s: &Value| s["spi"].as_u64().and_then(|x| u32::try_from(x).ok());
        let usable =
            |s: &Value| s["state"].as_str().is_none_or(|st| st != "invalid" && st != "expired");
        let drops = v["drops"].as_object().cloned().unwrap_or_default();
        let mut drop_reasons: Vec<(String, u64)> =
            drops.iter().map(|(k, n)| (k.clone(), u(n))).filter(|(_, n)| *n > 0).collect();
        drop_reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let invalid_spi = v["invalid_spi"]["flows"]
            .as_array()
            .or_else(|| v["invalid_spi"].as_array())
            .map(|flows| {
                flows
                    .iter()
                    // Flows not reported lately are history, not state.
                    .filter(|f| f["active"].as_bool() != Some(false))
                    .filter_map(|f| {
                        let spi = f["spi"].as_u64().and_then(|x| u32::try_from(x).ok())?;
                        let class = f["class"].as_str().or_else(|| f["state"].as_str())?;
                        Some((spi, class.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let peer_state = tunnel["peer"]["state"]
            .as_str()
            .or_else(|| tunnel["peer_state"].as_str())
            .map(str::to_string);
        GwView {
            uptime_s: v["uptime_s"].as_f64().unwrap_or(0.0),
            rekeys: u(&tunnel["rekeys"]),
            out_spi: sas.iter().filter(|s| s["dir"] == "out" && usable(s)).find_map(spi_of),
            in_spis: sas
                .iter()
                .filter(|s| s["dir"] == "in" && usable(s))
                .filter_map(spi_of)
                .collect(),
            unknown_spi: u(&v["drops"][UNKNOWN_SPI]),
            drops: drops.values().map(u).sum(),
            drop_reasons,
            invalid_spi,
            peer_state,
            exchange: tunnel["exchange"].as_str().map(str::to_string),
            is_final: v["final"].as_bool().unwrap_or(false),
        }
    }
}

/// One stream of the generator's final report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamFinal {
    /// Stream id.
    pub id: u8,
    /// Sent.
    pub sent: u64,
    /// Received.
    pub received: u64,
    /// Lost (sent - received).
    pub lost: u64,
    /// Lost per timeline bucket, by the time they were sent.
    pub lost_by_bucket: Vec<u64>,
    /// Sent per timeline bucket.
    pub sent_by_bucket: Vec<u64>,
}

/// The generator's final report, as far as the summary needs it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenFinal {
    /// When sending started (Unix seconds).
    pub start_unix_s: f64,
    /// Seconds of sending.
    pub duration_s: f64,
    /// Timeline bucket in seconds.
    pub bucket_s: f64,
    /// Why sending stopped.
    pub stopped_by: String,
    /// Per stream.
    pub streams: Vec<StreamFinal>,
    /// Frames that were not the generator's, all ports.
    pub foreign: u64,
}

fn column(v: &Value) -> Option<Vec<u64>> {
    Some(v.as_array()?.iter().map(u).collect())
}

impl GenFinal {
    /// Reads the report.
    pub fn read(path: &Path) -> Result<GenFinal, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
        GenFinal::from_json(&v).ok_or_else(|| format!("{}: not a qfp gen report", path.display()))
    }

    /// The report of a parsed document.
    pub fn from_json(v: &Value) -> Option<GenFinal> {
        let streams = v["streams"]
            .as_array()?
            .iter()
            .map(|s| {
                Some(StreamFinal {
                    id: u8::try_from(s["id"].as_u64()?).ok()?,
                    sent: s["sent"].as_u64()?,
                    received: s["received"].as_u64()?,
                    lost: s["lost"].as_u64()?,
                    lost_by_bucket: column(&s["timeline"]["lost"])?,
                    sent_by_bucket: column(&s["timeline"]["sent"])?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(GenFinal {
            start_unix_s: v["start_unix_s"].as_f64().unwrap_or(0.0),
            duration_s: v["duration_s"].as_f64()?,
            bucket_s: v["bucket_ms"].as_f64()? / 1000.0,
            stopped_by: v["stopped_by"].as_str().unwrap_or("").to_string(),
            streams,
            foreign: v["ports"].as_array().map_or(0, |p| p.iter().map(|x| u(&x["foreign"])).sum()),
        })
    }

    /// Stream `id` (empty if absent).
    pub fn stream(&self, id: u8) -> StreamFinal {
        self.streams.iter().find(|s| s.id == id).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_stats_document_reads_as_its_view() {
        let v = json!({
            "uptime_s": 3.5, "final": true,
            "drops": {"IN_US_V4_PKT_SA_NOT_FOUND_SPI": 7, "IpsecTailDrop": 2, "X": 0},
            "tunnels": [{"name": "demo", "rekeys": 4, "sa": [
                {"spi": 4097, "dir": "out", "state": "active", "packets": 1, "bytes": 1},
                {"spi": 300, "dir": "in", "state": "active", "packets": 1, "bytes": 1},
                {"spi": 301, "dir": "in", "state": "retiring", "packets": 1, "bytes": 1},
                {"spi": 302, "dir": "in", "state": "invalid", "packets": 1, "bytes": 1}]}],
            "invalid_spi": {"flows": [{"spi": 8193, "state": "out-of-sync", "active": true},
                                      {"spi": 8194, "state": "transient", "active": false}]}
        });
        let g = GwView::from_json(&v);
        assert_eq!((g.rekeys, g.out_spi, g.in_spis.clone()), (4, Some(4097), vec![300, 301]));
        assert_eq!((g.unknown_spi, g.drops, g.is_final), (7, 9, true));
        assert_eq!(g.drop_reasons[0], ("IN_US_V4_PKT_SA_NOT_FOUND_SPI".to_string(), 7));
        assert_eq!(g.drop_reasons.len(), 2);
        assert_eq!(g.invalid_spi, vec![(8193, "out-of-sync".to_string())]);
        // A document without tunnels (or half a file) reads as zeros, not a crash.
        assert_eq!(GwView::from_json(&json!({})).out_spi, None);
    }

    #[test]
    fn a_generator_report_reads_with_its_timeline() {
        let v = json!({"start_unix_s": 100.5, "duration_s": 2.0, "bucket_ms": 50,
            "stopped_by": "duration", "ports": [{"foreign": 1}, {"foreign": 2}],
            "streams": [{"id": 1, "sent": 10, "received": 7, "lost": 3,
                         "timeline": {"sent": [5, 5], "received": [5, 2], "lost": [0, 3]}}]});
        let g = GenFinal::from_json(&v).unwrap();
        assert_eq!(
            (g.bucket_s, g.foreign, g.stream(1).lost_by_bucket.clone()),
            (0.05, 3, vec![0, 3])
        );
        assert_eq!(g.stream(0), StreamFinal::default());
        assert!(GenFinal::from_json(&json!({"streams": [{"id": 1}]})).is_none());
        let live: GenLive = serde_json::from_value(json!({"t_s": 1.0, "start_unix_s": 5.0,
            "sending": true, "tx_pps": 1.0, "rx_pps": 1.0, "sent": 4, "received": 3, "missing": 1,
            "streams": [{"id": 0, "tx_pps": 1.0, "rx_pps": 2.0, "sent": 4, "received": 3, "missing": 1}]}))
        .unwrap();
        assert_eq!((live.stream(0).received, live.stream(1).sent), (3, 0));
    }
}
