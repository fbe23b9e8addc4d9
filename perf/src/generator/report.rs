//! What the generator reports: per stream counts and latency percentiles, per port DPDK
//! counters, the loss timeline; as a table for people and as JSON for scripts (the JSON
//! field names are a contract: the demo, the benchmarks and the tests read them).

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::seq::SeqCounts;
use super::timeline::StreamTimeline;

/// Latency percentiles in microseconds (from TSC stamps in the payload).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Packets with a usable timestamp.
    pub count: u64,
    /// Smallest.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Latency {
    /// Percentiles of a histogram recorded in nanoseconds.
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Latency {
            count: h.len(),
            min: us(h.min()),
            p50: us(h.value_at_quantile(0.5)),
            p90: us(h.value_at_quantile(0.9)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// One stream: the packets one port sent and whichever port received them.
#[derive(Debug, Clone, Serialize)]
pub struct StreamReport {
    /// Stream id (the index of the sending port in the port list).
    pub id: u8,
    /// DPDK port id it was sent on.
    pub tx_port: u16,
    /// Packets sent (accepted by the tx queue).
    pub sent: u64,
    /// Receiver counts (received, lost, reordered, duplicated, late, unexpected).
    #[serde(flatten)]
    pub counts: SeqCounts,
    /// Received packets whose payload pattern was damaged (counted received too).
    pub corrupt: u64,
    /// Sent packets per second over the sending time.
    pub tx_pps: f64,
    /// Latency of the received packets.
    pub latency_us: Latency,
    /// Per-bucket sent/received/lost.
    pub timeline: StreamTimeline,
}

/// One port's DPDK counters.
#[derive(Debug, Clone, Serialize)]
pub struct PortReport {
    /// DPDK port id.
    pub port: u16,
    /// Device name.
    pub name: String,
    /// Frames received.
    pub rx: u64,
    /// Frames sent.
    pub tx: u64,
    /// Frames the device dropped for lack of rx descriptors (we did not keep up).
    pub missed: u64,
    /// Rx failures for lack of an mbuf.
    pub rx_nombuf: u64,
    /// Received frames that were not ours (no load header, or an unknown stream).
    pub foreign: u64,
}

/// Totals over the streams.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Totals {
    /// Sent.
    pub sent: u64,
    /// Received (distinct).
    pub received: u64,
    /// Lost.
    pub lost: u64,
    /// Reordered.
    pub reordered: u64,
    /// Duplicated.
    pub duplicated: u64,
    /// Late.
    pub late: u64,
    /// Unexpected.
    pub unexpected: u64,
    /// Corrupt.
    pub corrupt: u64,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Seconds spent sending.
    pub duration_s: f64,
    /// Seconds spent draining (receiving only) afterwards.
    pub drain_s: f64,
    /// Target rate per sending port (None: as fast as possible).
    pub rate_pps: Option<f64>,
    /// Frame size ("64", "imix").
    pub size: String,
    /// Average frame size in bytes, FCS included.
    pub avg_frame_bytes: f64,
    /// Flows per stream.
    pub flows: u32,
    /// Timeline bucket length.
    pub bucket_ms: f64,
    /// The streams.
    pub streams: Vec<StreamReport>,
    /// Sums over the streams.
    pub total: Totals,
    /// Latency over all streams.
    pub latency_us: Latency,
    /// The ports.
    pub ports: Vec<PortReport>,
    /// Why sending stopped: "duration", "count" or "signal".
    pub stopped_by: String,
    /// Wall-clock time (Unix seconds) when sending started, i.e. the start of timeline
    /// bucket 0: lines the timeline up with other processes' clocks (the demo's events).
    pub start_unix_s: f64,
}

impl Report {
    /// Sums the streams into `total`.
    pub fn totals(streams: &[StreamReport]) -> Totals {
        streams.iter().fold(Totals::default(), |mut t, s| {
            t.sent += s.sent;
            t.received += s.counts.received;
            t.lost += s.counts.lost;
            t.reordered += s.counts.reordered;
            t.duplicated += s.counts.duplicated;
            t.late += s.counts.late;
            t.unexpected += s.counts.unexpected;
            t.corrupt += s.corrupt;
            t
        })
    }

    /// The summary table.
    pub fn table(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "# qfp gen: {} frames, {} flows, {:.2} s sending + {:.2} s drain, rate {} per port, stopped by {}",
            self.size,
            self.flows,
            self.duration_s,
            self.drain_s,
            self.rate_pps.map_or("max".to_string(), |r| format!("{r:.0} pps")),
            self.stopped_by
        );
        let _ = writeln!(
            o,
            "{:<7} {:>4} {:>12} {:>12} {:>10} {:>8} {:>6} {:>6} {:>8} {:>9} {:>9} {:>9} {:>9}",
            "stream",
            "port",
            "sent",
            "received",
            "lost",
            "reorder",
            "dup",
            "late",
            "tx Mpps",
            "p50 us",
            "p99 us",
            "p99.9 us",
            "max us"
        );
        for s in &self.streams {
            let l = &s.latency_us;
            let _ = writeln!(
                o,
                "{:<7} {:>4} {:>12} {:>12} {:>10} {:>8} {:>6} {:>6} {:>8.3} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
                s.id,
                s.tx_port,
                s.sent,
                s.counts.received,
                s.counts.lost,
                s.counts.reordered,
                s.counts.duplicated,
                s.counts.late,
                s.tx_pps / 1e6,
                l.p50,
                l.p99,
                l.p999,
                l.max
            );
        }
        let t = &self.total;
        let _ = writeln!(
            o,
            "{:<7} {:>4} {:>12} {:>12} {:>10} {:>8} {:>6} {:>6}",
            "total", "", t.sent, t.received, t.lost, t.reordered, t.duplicated, t.late
        );
        if t.unexpected + t.corrupt > 0 {
            let _ = writeln!(
                o,
                "unexpected {} (never sent), corrupt payload {}",
                t.unexpected, t.corrupt
            );
        }
        for p in &self.ports {
            if p.missed + p.rx_nombuf + p.foreign > 0 {
                let _ = writeln!(
                    o,
                    "port {} ({}): missed {}, rx_nombuf {}, foreign frames {}",
                    p.port, p.name, p.missed, p.rx_nombuf, p.foreign
                );
            }
        }
        if t.lost > 0 {
            let _ = writeln!(o, "{}", self.loss_line(16));
        }
        o
    }

    /// "lost by send time: 1.2 s: 57, 1.3 s: 4, ..." (non-empty buckets, at most `max`).
    pub fn loss_line(&self, max: usize) -> String {
        let n = self.streams.iter().map(|s| s.timeline.lost.len()).max().unwrap_or(0);
        let per_bucket: Vec<u64> = (0..n)
            .map(|b| {
                self.streams.iter().map(|s| s.timeline.lost.get(b).copied().unwrap_or(0)).sum()
            })
            .collect();
        let nz: Vec<String> = per_bucket
            .iter()
            .enumerate()
            .filter(|&(_, &l)| l > 0)
            .map(|(b, l)| format!("{:.1} s: {l}", b as f64 * self.bucket_ms / 1000.0))
            .collect();
        let more =
            if nz.len() > max { format!(", ... ({} buckets)", nz.len()) } else { String::new() };
        format!(
            "lost by send time ({:.0} ms buckets): {}{more}",
            self.bucket_ms,
            nz.iter().take(max).cloned().collect::<Vec<_>>().join(", ")
        )
    }
}

/// One stream's figures in the live report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StreamLive {
    /// Stream id.
    pub id: u8,
    /// Packets sent in the last interval, per second.
    pub tx_pps: f64,
    /// Packets received in the last interval, per second.
    pub rx_pps: f64,
    /// Sent so far.
    pub sent: u64,
    /// Received so far (distinct).
    pub received: u64,
    /// Sequence numbers below the highest received that have not arrived.
    pub missing: u64,
}

/// What the live line shows, once a second (and `qfp gen --live-json` writes).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Live {
    /// Seconds since sending started.
    pub t_s: f64,
    /// Wall-clock time (Unix seconds) when sending started.
    pub start_unix_s: f64,
    /// True while sending (false while draining).
    pub sending: bool,
    /// Packets sent in the last interval, per second.
    pub tx_pps: f64,
    /// Packets received in the last interval, per second.
    pub rx_pps: f64,
    /// Sent so far.
    pub sent: u64,
    /// Received so far.
    pub received: u64,
    /// Sequence numbers below the highest received that have not arrived (lost, or
    /// reordered and still on their way).
    pub missing: u64,
    /// The same figures per stream.
    pub streams: Vec<StreamLive>,
}

impl Live {
    /// The one-line form.
    pub fn line(&self) -> String {
        format!(
            "qfp gen: {:6.1} s {} tx {:8.3} Mpps  rx {:8.3} Mpps  sent {}  received {}  missing {}",
            self.t_s,
            if self.sending { "     " } else { "drain" },
            self.tx_pps / 1e6,
            self.rx_pps / 1e6,
            self.sent,
            self.received,
            self.missing
        )
    }
}
