//! The demo's summary: every packet the generator sent, received or lost, split into the
//! packets lost to the injected desync and the rest (`lost_in_rekeys`), the rekeys, and
//! when the desync was injected, detected and repaired — as text and as the `--json`
//! document of design section 9:
//!
//! `{"sent","received","lost","lost_in_rekeys","rekeys","desync":{"injected_s",
//! "detected_s","recovered_s","lost"}}` (more keys are added; none of these renamed).
//!
//! All times are seconds since the generator started sending. The desync's loss comes from
//! the generator's timeline (packets lost by the time they were sent): the run of lossy
//! buckets of the stream the desync cuts (B -> A: A forgot its inbound SA) that starts at
//! the injection. Its end is when traffic got through again, `recovered_s`; a run that
//! lasts until sending stopped was never repaired (`recovered_s` null). Every packet lost
//! in that window, either way, is the desync's; every other lost packet is
//! `lost_in_rekeys`.

use serde::Serialize;

use super::watch::{GenFinal, GwView, StreamFinal};

/// The stream the desync cuts: B -> A (generator port 1 into B, out of A).
pub const CUT_STREAM: u8 = 1;

/// The desync part of the summary.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Desync {
    /// When `debug forget-sa` returned.
    pub injected_s: Option<f64>,
    /// When gateway A reported the unknown SPI.
    pub detected_s: Option<f64>,
    /// When packets got through again (from the generator's timeline).
    pub recovered_s: Option<f64>,
    /// Packets lost in the desync window (both directions).
    pub lost: u64,
    /// The SPI gateway A forgot.
    pub spi: Option<u32>,
    /// How the demo saw the detection (the log line, or the drop counter).
    pub detected_by: Option<String>,
    /// Invalid-SPI recovery was on.
    pub recovery: bool,
}

/// One direction.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Direction {
    /// "A->B" or "B->A".
    pub name: &'static str,
    /// Sent.
    pub sent: u64,
    /// Received.
    pub received: u64,
    /// Lost.
    pub lost: u64,
}

/// A gateway's part.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GatewaySummary {
    /// Rekeys it counted.
    pub rekeys: u64,
    /// Non-zero drop reasons.
    pub drops: std::collections::BTreeMap<String, u64>,
}

/// The summary.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// Packets sent, both directions.
    pub sent: u64,
    /// Packets received.
    pub received: u64,
    /// Packets lost (`sent - received`).
    pub lost: u64,
    /// Packets lost outside the desync window: in rekeys (outbound-first), or to
    /// congestion (a gateway's full tx ring, counted by it as `TxFull`).
    pub lost_in_rekeys: u64,
    /// Rekeys completed (the larger of the two gateways' counts: each counts every exchange
    /// of the tunnel, whichever side started it).
    pub rekeys: u64,
    /// The injected desync.
    pub desync: Desync,
    /// Per direction.
    pub directions: Vec<Direction>,
    /// Gateways A and B.
    pub gateways: Vec<GatewaySummary>,
    /// The rekey order.
    pub rekey_order: String,
    /// Rekey period in ms (0: none).
    pub rekey_every_ms: u64,
    /// Rekeys the demo asked for.
    pub rekeys_requested: u64,
    /// Packets per second per direction asked for.
    pub rate_pps: u32,
    /// Packets per second per direction sent (the generator's sends are refused, and
    /// retried, when a gateway falls behind: on a small shared machine, less than asked).
    pub sent_pps: f64,
    /// Seconds of sending.
    pub duration_s: f64,
    /// Why sending stopped ("duration", "signal").
    pub stopped_by: String,
}

/// The lossy run of `s` around the injection at `from_s`, as (first bucket, last bucket,
/// recovered_s): the first lossy bucket from the one before the injection on (within 2 s,
/// or the loss is something else), extended over the lossy buckets right before it
/// (packets sent before the injection but still queued when the SA went). Recovery time:
/// the start of the last lossy bucket plus the share of it that was lost (loss comes first
/// in it); none if the run lasts until sending stopped.
pub fn outage(s: &StreamFinal, bucket_s: f64, from_s: f64) -> Option<(usize, usize, Option<f64>)> {
    if bucket_s <= 0.0 {
        return None;
    }
    let start = ((from_s / bucket_s).floor() as usize).saturating_sub(1);
    let (lost, sent) = (&s.lost_by_bucket, &s.sent_by_bucket);
    let mut first = (start..lost.len()).find(|&i| lost[i] > 0)?;
    if (first as f64) * bucket_s > from_s + 2.0 {
        return None;
    }
    // Buckets in which nothing was sent (the generator descheduled) neither end the run
    // nor belong to it.
    let empty = |i: usize| sent.get(i).is_some_and(|&n| n == 0);
    let mut i = first;
    while i > 0 && (lost[i - 1] > 0 || empty(i - 1)) {
        i -= 1;
        if lost[i] > 0 {
            first = i;
        }
    }
    let (mut last, mut i) = (first, first);
    while i + 1 < lost.len() && (lost[i + 1] > 0 || empty(i + 1)) {
        i += 1;
        if lost[i] > 0 {
            last = i;
        }
    }
    // Buckets after the last one with anything sent are empty: a run reaching the last
    // sending bucket was never repaired.
    let last_sending = sent.iter().rposition(|&n| n > 0).unwrap_or(0);
    let recovered = (last < last_sending).then(|| {
        let share = match sent.get(last) {
            Some(&n) if n > 0 => (lost[last] as f64 / n as f64).min(1.0),
            _ => 1.0,
        };
        (last as f64 + share) * bucket_s
    });
    Some((first, last, recovered))
}

/// Inputs of [`Summary::new`] that the demo gathered while it ran.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Desync: injected, detected (and how), SPI.
    pub desync: Desync,
    /// Rekeys requested.
    pub rekeys_requested: u64,
}

impl Summary {
    /// The summary of a finished run.
    pub fn new(
        traffic: &GenFinal,
        gws: [&GwView; 2],
        seen: &Observed,
        order: &str,
        rekey_every_ms: u64,
        rate_pps: u32,
    ) -> Summary {
        let names = ["A->B", "B->A"];
        let directions: Vec<Direction> = (0..2u8)
            .map(|id| {
                let s = traffic.stream(id);
                Direction {
                    name: names[usize::from(id)],
                    sent: s.sent,
                    received: s.received,
                    lost: s.lost,
                }
            })
            .collect();
        let sent = directions.iter().map(|d| d.sent).sum();
        let received = directions.iter().map(|d| d.received).sum();
        let lost = directions.iter().map(|d| d.lost).sum();
        let mut desync = seen.desync.clone();
        let mut desync_lost = 0;
        if let Some(inj) = desync.injected_s {
            match outage(&traffic.stream(CUT_STREAM), traffic.bucket_s, inj) {
                Some((first, last, recovered)) => {
                    desync_lost = traffic
                        .streams
                        .iter()
                        .map(|s| {
                            s.lost_by_bucket.iter().skip(first).take(last - first + 1).sum::<u64>()
                        })
                        .sum();
                    // By send time, packets queued on a busy machine can be sent before
                    // the detection and still arrive after the repair: the repair itself
                    // cannot come before the gateway noticed.
                    desync.recovered_s = recovered.map(|r| r.max(desync.detected_s.unwrap_or(r)));
                }
                // Nothing was lost: the sink never saw the desync.
                None => desync.recovered_s = desync.detected_s.or(Some(inj)),
            }
        }
        desync.lost = desync_lost;
        // Milliseconds are what the clocks can tell apart.
        let ms = |x: Option<f64>| x.map(|v| (v * 1000.0).round() / 1000.0);
        desync.injected_s = ms(desync.injected_s);
        desync.detected_s = ms(desync.detected_s);
        desync.recovered_s = ms(desync.recovered_s);
        Summary {
            sent,
            received,
            lost,
            lost_in_rekeys: lost - desync_lost.min(lost),
            rekeys: gws[0].rekeys.max(gws[1].rekeys),
            desync,
            directions,
            gateways: gws
                .iter()
                .map(|g| GatewaySummary {
                    rekeys: g.rekeys,
                    drops: g.drop_reasons.iter().cloned().collect(),
                })
                .collect(),
            rekey_order: order.to_string(),
            rekey_every_ms,
            rekeys_requested: seen.rekeys_requested,
            rate_pps,
            sent_pps: if traffic.duration_s > 0.0 {
                (sent as f64 / 2.0 / traffic.duration_s).round()
            } else {
                0.0
            },
            duration_s: (traffic.duration_s * 1000.0).round() / 1000.0,
            stopped_by: traffic.stopped_by.clone(),
        }
    }

    /// The one-line form (also the last line the demo prints).
    pub fn line(&self) -> String {
        let t = |x: Option<f64>| x.map_or("never".to_string(), |v| format!("{v:.2} s"));
        let desync = match self.desync.injected_s {
            None => "no desync injected".to_string(),
            Some(i) => format!(
                "desync at {i:.2} s, detected {}, recovered {}, {} lost",
                t(self.desync.detected_s),
                t(self.desync.recovered_s),
                self.desync.lost
            ),
        };
        format!(
            "qfp demo: sent {} received {} lost {} ({} outside the desync) | {} rekeys {} | {desync}",
            self.sent, self.received, self.lost, self.lost_in_rekeys, self.rekeys, self.rekey_order
        )
    }

    /// The text summary (several lines, the last one [`Summary::line`]).
    pub fn text(&self) -> String {
        let mut s = format!(
            "\nqfp demo: summary ({:.1} s of traffic, {:.0} pps each way sent of {} asked, stopped by {})\n",
            self.duration_s, self.sent_pps, self.rate_pps, self.stopped_by
        );
        for d in &self.directions {
            s += &format!(
                "  {:<6}  sent {:>9}  received {:>9}  lost {:>7}\n",
                d.name, d.sent, d.received, d.lost
            );
        }
        s += &format!(
            "  total   sent {:>9}  received {:>9}  lost {:>7}  ({} in the desync, {} outside it)\n",
            self.sent, self.received, self.lost, self.desync.lost, self.lost_in_rekeys
        );
        let every = if self.rekey_every_ms == 0 {
            "none asked".to_string()
        } else {
            format!("every {} ms", self.rekey_every_ms)
        };
        s += &format!(
            "  rekeys  {} completed ({}, {}; A counted {}, B {})\n",
            self.rekeys, self.rekey_order, every, self.gateways[0].rekeys, self.gateways[1].rekeys
        );
        let t = |x: Option<f64>| x.map_or("never".to_string(), |v| format!("at {v:.2} s"));
        match (self.desync.injected_s, self.desync.spi) {
            (Some(i), spi) => {
                let spi = spi.map_or(String::new(), |x| format!(" SA {x:#x}"));
                s += &format!(
                    "  desync  A forgot{spi} at {i:.2} s; detected {}{}; {} ({}); {} packets lost\n",
                    t(self.desync.detected_s),
                    self.desync.detected_by.as_deref().map_or(String::new(), |b| format!(" ({b})")),
                    match self.desync.recovered_s {
                        Some(r) => format!("traffic back at {r:.2} s"),
                        None => "never recovered: black-holed until the end".to_string(),
                    },
                    if self.desync.recovery { "invalid-SPI recovery on" } else { "--no-recovery" },
                    self.desync.lost
                );
            }
            (None, _) => s += "  desync  none injected\n",
        }
        for (name, g) in ["A", "B"].iter().zip(&self.gateways) {
            let d: Vec<String> = g.drops.iter().map(|(k, v)| format!("{k} {v}")).collect();
            s += &format!(
                "  drops {name} {}\n",
                if d.is_empty() { "none".into() } else { d.join(", ") }
            );
        }
        s += &self.line();
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(id: u8, lost: &[u64]) -> StreamFinal {
        StreamFinal {
            id,
            sent: 100 * lost.len() as u64,
            received: 100 * lost.len() as u64 - lost.iter().sum::<u64>(),
            lost: lost.iter().sum(),
            lost_by_bucket: lost.to_vec(),
            sent_by_bucket: vec![100; lost.len()],
        }
    }

    fn report(a: &[u64], b: &[u64]) -> GenFinal {
        GenFinal {
            start_unix_s: 0.0,
            duration_s: 1.0,
            bucket_s: 0.1,
            stopped_by: "duration".into(),
            streams: vec![stream(0, a), stream(1, b)],
            foreign: 0,
        }
    }

    fn observed(injected: f64) -> Observed {
        Observed {
            desync: Desync {
                injected_s: Some(injected),
                detected_s: Some(injected + 0.02),
                ..Desync::default()
            },
            rekeys_requested: 3,
        }
    }

    #[test]
    fn the_desync_window_is_the_lossy_run_from_the_injection() {
        // B -> A loses from 0.4 s, all of 0.5-0.6 s, a quarter of 0.6-0.7 s; A -> B loses
        // 2 in the window (a rekey at recovery) and 5 long before (a rekey, outbound-first).
        let g = report(&[5, 0, 0, 0, 0, 2, 0, 0, 0, 0], &[0, 0, 0, 0, 40, 100, 25, 0, 0, 0]);
        let (a, b) =
            (GwView { rekeys: 7, ..GwView::default() }, GwView { rekeys: 6, ..GwView::default() });
        let s = Summary::new(&g, [&a, &b], &observed(0.45), "outbound-first", 100, 1000);
        assert_eq!((s.sent, s.received, s.lost), (2000, 1828, 172));
        assert_eq!((s.desync.lost, s.lost_in_rekeys, s.rekeys), (167, 5, 7));
        let r = s.desync.recovered_s.unwrap();
        assert!((r - 0.625).abs() < 1e-9, "{r}");
        assert_eq!(s.sent, s.received + s.lost);
        let v: serde_json::Value = serde_json::to_value(&s).unwrap();
        for k in ["sent", "received", "lost", "lost_in_rekeys", "rekeys"] {
            assert!(v[k].is_u64(), "{k}: {v}");
        }
        for k in ["injected_s", "detected_s", "recovered_s"] {
            assert!(v["desync"][k].is_f64(), "{k}: {v}");
        }
        assert!(v["desync"]["lost"].is_u64());
        assert!(s.text().ends_with(&format!("{}\n", s.line())));
    }

    #[test]
    fn packets_queued_before_the_injection_belong_to_the_desync() {
        let g = report(&[0; 10], &[0, 0, 0, 30, 100, 100, 10, 0, 0, 0]);
        let s = Summary::new(
            &g,
            [&GwView::default(), &GwView::default()],
            &observed(0.58),
            "make-before-break",
            0,
            1000,
        );
        assert_eq!((s.desync.lost, s.lost_in_rekeys), (240, 0));
        assert_eq!(s.desync.recovered_s, Some(0.61));
    }

    #[test]
    fn buckets_where_nothing_was_sent_do_not_cut_the_run() {
        let mut g = report(&[0; 10], &[0, 0, 0, 50, 0, 100, 0, 100, 100, 100]);
        g.streams[1].sent_by_bucket = vec![100, 100, 100, 100, 0, 100, 0, 100, 100, 100];
        let s = Summary::new(
            &g,
            [&GwView::default(), &GwView::default()],
            &observed(0.35),
            "x",
            0,
            1000,
        );
        assert_eq!((s.desync.lost, s.lost_in_rekeys, s.desync.recovered_s), (450, 0, None));
    }

    #[test]
    fn a_desync_that_lasts_to_the_end_never_recovered() {
        let g = report(&[0; 10], &[0, 0, 0, 0, 0, 0, 30, 100, 100, 100]);
        let s = Summary::new(
            &g,
            [&GwView::default(), &GwView::default()],
            &observed(0.62),
            "make-before-break",
            0,
            1000,
        );
        assert_eq!((s.desync.recovered_s, s.desync.lost, s.lost_in_rekeys), (None, 330, 0));
        assert!(s.text().contains("never recovered"), "{}", s.text());
    }

    #[test]
    fn loss_far_from_the_injection_is_not_the_desync() {
        let g = report(&[0; 10], &[9, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let s = Summary::new(
            &g,
            [&GwView::default(), &GwView::default()],
            &observed(0.5),
            "make-before-break",
            0,
            1000,
        );
        assert_eq!((s.desync.lost, s.lost_in_rekeys), (0, 9));
        assert_eq!(s.desync.recovered_s, s.desync.detected_s);
        let none = Summary::new(
            &g,
            [&GwView::default(), &GwView::default()],
            &Observed::default(),
            "x",
            0,
            1,
        );
        assert_eq!((none.desync.injected_s, none.lost_in_rekeys), (None, 9));
        assert!(none.line().contains("no desync"));
    }
}
