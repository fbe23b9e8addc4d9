//! Unknown-SPI flows (design section 8): what the control core makes of the workers'
//! unknown-SPI reports.
//!
//! A worker that drops ESP for an SPI it has no SA for (`IN_US_V4/V6_PKT_SA_NOT_FOUND_SPI`)
//! reports the flow (outer source, destination, SPI, NAT-T or not) through its report ring,
//! at most a few times a second and never the same flow twice within a second. Here each
//! flow gets a record, and:
//!
//! - `%CRYPTO-4-RECVD_PKT_INV_SPI` is logged in the IOS form, at most once per flow per
//!   `--invalid-spi-log-interval` (default 60 s, IOS's own rate; 0 logs every report), for
//!   plain ESP and ESP in UDP 4500 alike (IOS prints `prot=50` for both: the SPI is ESP's);
//! - the flow is classified. Reports of one flow that follow each other within two
//!   classification intervals (the interval is one second, the workers' per-flow report
//!   period; two absorb the drift of that period) form a *streak*; a streak spanning
//!   `--invalid-spi-out-of-sync` intervals (default 3) is an **out-of-sync** SA, a shorter
//!   one a **transient** (what a rekey can leave behind: a few packets in flight under an
//!   SPI just retired, or just not yet published). A flow with no report for two intervals
//!   is no longer `active`; its last classification stays for `show invalid-spi`.
//!
//! Whether to tell the peer (INVALID_SPI notify) is decided by the control core
//! (`core.rs`), with `--invalid-spi-recovery`; this module only counts the notifies.
//! The table is bounded ([`MAX_FLOWS`]): the flow seen least recently makes room.

use std::net::IpAddr;

use dataplane::gateway::InvalidSpiReport;
use serde::Serialize;

const S: u64 = 1_000_000_000;
/// Flows remembered; the least recently seen one is forgotten to make room.
pub const MAX_FLOWS: usize = 256;
/// The classification interval: the workers report one flow at most once per second.
pub const INTERVAL_NS: u64 = S;

/// Settings, from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidSpiSettings {
    /// Log a flow at most once per this many ns (0: every report).
    pub log_interval_ns: u64,
    /// A streak of this many intervals is out of sync.
    pub out_of_sync_after: u32,
    /// Whether the control core notifies peers (shown in `show invalid-spi`).
    pub recovery: bool,
}

impl Default for InvalidSpiSettings {
    fn default() -> Self {
        InvalidSpiSettings { log_interval_ns: 60 * S, out_of_sync_after: 3, recovery: true }
    }
}

/// How a flow is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlowState {
    /// Seen for fewer than `out_of_sync_after` consecutive intervals.
    Transient,
    /// Seen for at least `out_of_sync_after` consecutive intervals: a black hole.
    OutOfSync,
}

impl FlowState {
    /// As shown.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowState::Transient => "transient",
            FlowState::OutOfSync => "out-of-sync",
        }
    }
}

/// One flow's record.
#[derive(Debug, Clone)]
struct Flow {
    src: IpAddr,
    dst: IpAddr,
    spi: u32,
    udp_encap: bool,
    first_seen: u64,
    last_seen: u64,
    streak_start: u64,
    intervals: u32,
    max_intervals: u32,
    reports: u64,
    notifies: u64,
    logged_at: Option<u64>,
    logs: u64,
    state: FlowState,
    tunnel: Option<String>,
}

/// What became of one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The log line to print, if the rate limit lets it through.
    pub log: Option<String>,
    /// The flow's classification after this report.
    pub state: FlowState,
    /// This report turned a transient streak into an out-of-sync one.
    pub became_out_of_sync: bool,
}

/// Counters of the whole table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InvalidSpiCounts {
    /// Reports taken from the workers.
    pub reports: u64,
    /// `%CRYPTO-4-RECVD_PKT_INV_SPI` lines logged.
    pub logged: u64,
    /// Lines not logged (rate limit).
    pub log_suppressed: u64,
    /// Streaks that reached out-of-sync.
    pub out_of_sync: u64,
    /// INVALID_SPI notifies sent to peers.
    pub notifies: u64,
    /// Flows forgotten to make room.
    pub evicted: u64,
}

/// One flow in `show invalid-spi` and the stats document.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FlowJson {
    /// Outer source (the sender of the ESP).
    pub src: String,
    /// Outer destination (ours).
    pub dst: String,
    /// The unknown SPI.
    pub spi: u32,
    /// ESP in UDP (NAT-T).
    pub udp_encap: bool,
    /// The tunnel whose peer sent it, if any.
    pub tunnel: Option<String>,
    /// Seconds since start of the first and the last report.
    pub first_seen_s: f64,
    /// See `first_seen_s`.
    pub last_seen_s: f64,
    /// Consecutive intervals of the current (or last) streak.
    pub intervals: u32,
    /// The longest streak.
    pub max_intervals: u32,
    /// Reports received.
    pub reports: u64,
    /// INVALID_SPI notifies sent for it.
    pub notifies: u64,
    /// Log lines printed for it.
    pub logged: u64,
    /// "transient" or "out-of-sync" (of the current or last streak).
    pub state: &'static str,
    /// Reported within the last two intervals.
    pub active: bool,
}

/// `show invalid-spi` data.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InvalidSpiJson {
    /// Classification interval, seconds.
    pub interval_s: f64,
    /// Intervals that make a streak out of sync.
    pub out_of_sync_after: u32,
    /// Log rate limit per flow, seconds (0: every report).
    pub log_interval_s: f64,
    /// `--invalid-spi-recovery`.
    pub recovery: bool,
    /// Counters.
    pub counts: InvalidSpiCounts,
    /// Flows, most recently seen first.
    pub flows: Vec<FlowJson>,
}

/// The unknown-SPI flows of the gateway.
#[derive(Debug, Clone)]
pub struct InvalidSpiTracker {
    settings: InvalidSpiSettings,
    flows: Vec<Flow>,
    counts: InvalidSpiCounts,
}

/// The IOS message for an unknown SPI (the text of design.md section 1).
pub fn ios_message(src: IpAddr, dst: IpAddr, spi: u32) -> String {
    format!(
        "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for \
         destaddr={dst}, prot=50, spi=0x{spi:08X}({spi}), srcaddr={src}"
    )
}

/// An IOS syslog timestamp (`service timestamps log datetime msec`), UTC: `*Nov 24
/// 03:14:58.123: `.
pub fn ios_timestamp(unix: std::time::Duration) -> String {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = unix.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    format!(
        "*{} {:>2} {:02}:{:02}:{:02}.{:03}: ",
        MONTHS[(month - 1) as usize],
        day,
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        unix.subsec_millis()
    )
}

impl InvalidSpiTracker {
    /// An empty table.
    pub fn new(settings: InvalidSpiSettings) -> InvalidSpiTracker {
        InvalidSpiTracker { settings, flows: Vec::new(), counts: InvalidSpiCounts::default() }
    }

    /// The settings.
    pub fn settings(&self) -> &InvalidSpiSettings {
        &self.settings
    }

    /// The counters.
    pub fn counts(&self) -> &InvalidSpiCounts {
        &self.counts
    }

    /// Takes one report (at the worker's time `r.at_ns`); `tunnel` is the tunnel whose peer
    /// sent it, if any.
    pub fn report(&mut self, r: &InvalidSpiReport, tunnel: Option<&str>) -> Seen {
        let e = &r.event;
        let at = r.at_ns;
        self.counts.reports += 1;
        let idx = match self
            .flows
            .iter()
            .position(|f| f.src == e.src && f.dst == e.dst && f.spi == e.spi)
        {
            Some(i) => i,
            None => {
                if self.flows.len() >= MAX_FLOWS
                    && let Some(old) =
                        (0..self.flows.len()).min_by_key(|&i| self.flows[i].last_seen)
                {
                    self.flows.swap_remove(old);
                    self.counts.evicted += 1;
                }
                self.flows.push(Flow {
                    src: e.src,
                    dst: e.dst,
                    spi: e.spi,
                    udp_encap: e.udp_encap,
                    first_seen: at,
                    last_seen: at,
                    streak_start: at,
                    intervals: 0,
                    max_intervals: 0,
                    reports: 0,
                    notifies: 0,
                    logged_at: None,
                    logs: 0,
                    state: FlowState::Transient,
                    tunnel: tunnel.map(str::to_owned),
                });
                self.flows.len() - 1
            }
        };
        let n = self.settings.out_of_sync_after;
        let f = &mut self.flows[idx];
        let fresh = f.reports == 0 || at.saturating_sub(f.last_seen) > 2 * INTERVAL_NS;
        if fresh {
            f.streak_start = at;
        }
        f.last_seen = f.last_seen.max(at);
        f.reports += 1;
        f.udp_encap = e.udp_encap;
        let intervals = (f.last_seen.saturating_sub(f.streak_start) / INTERVAL_NS + 1) as u32;
        f.intervals = intervals;
        f.max_intervals = f.max_intervals.max(intervals);
        let before = if fresh { FlowState::Transient } else { f.state };
        f.state = if intervals >= n { FlowState::OutOfSync } else { FlowState::Transient };
        let became_out_of_sync = before == FlowState::Transient && f.state == FlowState::OutOfSync;
        if became_out_of_sync {
            self.counts.out_of_sync += 1;
        }
        let log_now = match f.logged_at {
            None => true,
            Some(t) => at.saturating_sub(t) >= self.settings.log_interval_ns,
        };
        let log = if log_now {
            f.logged_at = Some(at);
            f.logs += 1;
            self.counts.logged += 1;
            Some(ios_message(e.src, e.dst, e.spi))
        } else {
            self.counts.log_suppressed += 1;
            None
        };
        Seen { log, state: f.state, became_out_of_sync }
    }

    /// Counts an INVALID_SPI notify sent for the flow (src, dst, spi).
    pub fn notified(&mut self, src: IpAddr, dst: IpAddr, spi: u32) {
        self.counts.notifies += 1;
        if let Some(f) =
            self.flows.iter_mut().find(|f| f.src == src && f.dst == dst && f.spi == spi)
        {
            f.notifies += 1;
        }
    }

    /// Flows that are out of sync and still active at `now`.
    pub fn out_of_sync_now(&self, now: u64) -> usize {
        self.flows
            .iter()
            .filter(|f| f.state == FlowState::OutOfSync && Self::active(f, now))
            .count()
    }

    fn active(f: &Flow, now: u64) -> bool {
        now.saturating_sub(f.last_seen) <= 2 * INTERVAL_NS
    }

    /// The table for `show invalid-spi` and the stats document, at `now`.
    pub fn json(&self, now: u64) -> InvalidSpiJson {
        let mut flows: Vec<&Flow> = self.flows.iter().collect();
        flows.sort_by_key(|f| std::cmp::Reverse(f.last_seen));
        let secs = |ns: u64| (ns as f64 / 1e6).round() / 1e3;
        InvalidSpiJson {
            interval_s: INTERVAL_NS as f64 / 1e9,
            out_of_sync_after: self.settings.out_of_sync_after,
            log_interval_s: self.settings.log_interval_ns as f64 / 1e9,
            recovery: self.settings.recovery,
            counts: self.counts.clone(),
            flows: flows
                .into_iter()
                .map(|f| FlowJson {
                    src: f.src.to_string(),
                    dst: f.dst.to_string(),
                    spi: f.spi,
                    udp_encap: f.udp_encap,
                    tunnel: f.tunnel.clone(),
                    first_seen_s: secs(f.first_seen),
                    last_seen_s: secs(f.last_seen),
                    intervals: f.intervals,
                    max_intervals: f.max_intervals,
                    reports: f.reports,
                    notifies: f.notifies,
                    logged: f.logs,
                    state: f.state.as_str(),
                    active: Self::active(f, now),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::pipeline::InvalidSpi;

    fn rep(spi: u32, at: u64) -> InvalidSpiReport {
        InvalidSpiReport {
            event: InvalidSpi {
                src: "10.1.1.1".parse().unwrap(),
                dst: "20.1.1.2".parse().unwrap(),
                spi,
                udp_encap: false,
            },
            worker: 0,
            at_ns: at,
        }
    }

    #[test]
    fn the_log_line_is_the_ios_text() {
        assert_eq!(
            ios_message("10.1.1.1".parse().unwrap(), "20.1.1.2".parse().unwrap(), 0xB761_863E),
            "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for \
             destaddr=20.1.1.2, prot=50, spi=0xB761863E(3076621886), srcaddr=10.1.1.1"
        );
        // 2026-11-24 03:14:58.123 UTC
        let t = std::time::Duration::from_millis(1_795_490_098_123);
        assert_eq!(ios_timestamp(t), "*Nov 24 03:14:58.123: ");
        assert_eq!(ios_timestamp(std::time::Duration::ZERO), "*Jan  1 00:00:00.000: ");
    }

    #[test]
    fn one_line_per_flow_per_log_interval() {
        let mut t = InvalidSpiTracker::new(InvalidSpiSettings::default());
        let mut lines = 0;
        // One report a second for 3 minutes: 3 lines (t = 0, 60, 120 s).
        for s in 0..180 {
            lines += usize::from(t.report(&rep(7, s * S), None).log.is_some());
        }
        assert_eq!(lines, 3);
        assert_eq!((t.counts().logged, t.counts().log_suppressed), (3, 177));
        // Another SPI is another flow: logged at once.
        assert!(t.report(&rep(8, 180 * S), None).log.is_some());
        let mut every = InvalidSpiTracker::new(InvalidSpiSettings {
            log_interval_ns: 0,
            ..InvalidSpiSettings::default()
        });
        assert!((0..5).all(|i| every.report(&rep(7, i), None).log.is_some()));
    }

    #[test]
    fn esp_in_udp_is_logged_the_same_way() {
        let mut t = InvalidSpiTracker::new(InvalidSpiSettings::default());
        let mut r = rep(0x4242, 5 * S);
        r.event.udp_encap = true;
        r.event.src = "2001:db8::1".parse().unwrap();
        r.event.dst = "2001:db8::2".parse().unwrap();
        let seen = t.report(&r, Some("v6-natt"));
        assert_eq!(
            seen.log.as_deref(),
            Some(
                "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for \
                 destaddr=2001:db8::2, prot=50, spi=0x00004242(16962), srcaddr=2001:db8::1"
            )
        );
        let j = t.json(5 * S);
        assert!(j.flows[0].udp_encap);
        assert_eq!(j.flows[0].tunnel.as_deref(), Some("v6-natt"));
        assert_eq!((j.flows[0].first_seen_s, j.flows[0].reports), (5.0, 1));
    }

    #[test]
    fn a_streak_of_n_intervals_is_out_of_sync_a_short_one_transient() {
        let mut t = InvalidSpiTracker::new(InvalidSpiSettings::default());
        // A rekey transient: two reports within one interval, then silence.
        assert_eq!(t.report(&rep(1, 10 * S), None).state, FlowState::Transient);
        assert_eq!(t.report(&rep(1, 10 * S + S / 2), None).state, FlowState::Transient);
        // A black hole: reported every 1.1 s (the workers' period plus drift).
        let mut states = Vec::new();
        for k in 0..5u64 {
            let s = t.report(&rep(2, 20 * S + k * 1_100_000_000), None);
            states.push((s.state, s.became_out_of_sync));
        }
        assert_eq!(
            states,
            [
                (FlowState::Transient, false),
                (FlowState::Transient, false),
                (FlowState::OutOfSync, true),
                (FlowState::OutOfSync, false),
                (FlowState::OutOfSync, false),
            ]
        );
        assert_eq!(t.counts().out_of_sync, 1);
        assert_eq!(t.out_of_sync_now(25 * S), 1);
        assert_eq!(t.out_of_sync_now(40 * S), 0, "quiet for long: no longer active");
        // After a gap longer than two intervals a new streak starts, transient again.
        assert_eq!(t.report(&rep(2, 40 * S), None).state, FlowState::Transient);
        let j = t.json(40 * S);
        let f = j.flows.iter().find(|f| f.spi == 2).unwrap();
        assert_eq!((f.intervals, f.max_intervals, f.reports, f.state), (1, 5, 6, "transient"));
        assert!(f.active);
        let f1 = j.flows.iter().find(|f| f.spi == 1).unwrap();
        assert!(!f1.active && f1.state == "transient" && f1.max_intervals == 1);
    }

    #[test]
    fn the_table_is_bounded() {
        let mut t = InvalidSpiTracker::new(InvalidSpiSettings::default());
        for spi in 0..(MAX_FLOWS as u32 + 10) {
            t.report(&rep(1000 + spi, u64::from(spi)), None);
        }
        let j = t.json(0);
        assert_eq!(j.flows.len(), MAX_FLOWS);
        assert_eq!(t.counts().evicted, 10);
        assert!(j.flows.iter().all(|f| f.spi >= 1010), "the oldest went first");
    }
}
