//! The demo's timed steps, run from the main loop every tick: the scheduled rekeys (A and
//! B in turn, paused around the desync), the injection of the desync once no exchange is
//! under way, and the tracking of its detection and of the moment traffic is back.

use super::{REKEY_QUIET, Show, table};
use crate::ctl::proto::Request;

/// Where the desync stands.
#[derive(Debug, Default)]
pub(super) struct DesyncState {
    /// Rekeys paused for it.
    pub(super) paused: bool,
    /// When the forget-sa command started (seconds since sending began).
    pub(super) injected: Option<f64>,
    /// The SPI A forgot.
    pub(super) spi: Option<u32>,
    /// A's unknown-SPI drops before the injection.
    pub(super) unknown_before: u64,
    /// When and how the detection was seen.
    pub(super) detected: Option<(f64, String)>,
    /// When B -> A packets were seen arriving again (live figures; the summary's time
    /// comes from the generator's timeline).
    pub(super) recovered_live: Option<f64>,
    /// B's new outbound SPI, once its statistics show it.
    pub(super) replaced_by: Option<u32>,
    /// Why the desync could not be injected.
    pub(super) failed: Option<String>,
}

impl Show<'_> {
    /// Scheduled rekeys, A and B in turn, except around the desync.
    pub(super) fn rekeys(&mut self, t: f64) {
        let every = self.opts.rekey_every_ms as f64 / 1000.0;
        if every == 0.0 || t < self.next_rekey || !self.live.sending {
            return;
        }
        // Catch up by skipping, never by a burst of requests.
        self.next_rekey = (self.next_rekey + every).max(t + every * 0.5);
        let near_desync =
            self.opts.desync_at.is_some_and(|d| t >= d - REKEY_QUIET - every.min(1.0))
                && self.desync.recovered_live.is_none_or(|r| t < r + REKEY_QUIET);
        if near_desync {
            if !self.desync.paused {
                self.desync.paused = true;
                eprintln!("{}", table::event(t, "scheduled rekeys paused around the desync"));
            }
            return;
        }
        if self.desync.paused {
            self.desync.paused = false;
            eprintln!("{}", table::event(t, "scheduled rekeys resume"));
        }
        let side = (self.rekeys_requested % 2) as usize;
        self.rekeys_requested += 1;
        // In process (what `qfp ctl rekey all` sends): a request every few ms is cheap.
        let asked = crate::ctl::client::ask(&self.plan.ctl[side], &Request::Rekey { peer: None });
        let refused = match asked {
            Ok(r) if r.ok => None,
            Ok(r) => Some(r.error.unwrap_or_else(|| "refused".into())),
            Err(e) => Some(e.message),
        };
        if let Some(e) = refused {
            self.rekey_failures += 1;
            if self.rekey_failures == 1 {
                let who = ["A", "B"][side];
                eprintln!("{}", table::event(t, &format!("rekey request to {who} failed: {e}")));
            }
        }
    }

    /// Injects the desync when its time has come.
    pub(super) fn desync_step(&mut self, t: f64) {
        let Some(at) = self.opts.desync_at else { return };
        if t < at || self.desync.injected.is_some() || self.desync.failed.is_some() {
            return;
        }
        // The SA B sends on, which A must have, with no exchange under way on either side
        // (an exchange finishing after the injection would repair or blur the desync):
        // B's statistics are at most one interval old, and no rekey was asked lately.
        let (a, b) = (&self.gws[0], &self.gws[1]);
        let steady = a.idle() && b.idle() && a.out_spi.is_some_and(|s| b.in_spis.contains(&s));
        let Some(spi) = b.out_spi.filter(|s| steady && a.in_spis.contains(s)) else {
            if t > at + 10.0 {
                self.desync.failed =
                    Some("the gateways never settled on one SA pair (exchanges under way)".into());
                eprintln!(
                    "{}",
                    table::event(
                        t,
                        "desync NOT injected: the gateways never settled on one SA pair"
                    )
                );
            }
            return;
        };
        let before = self.gws[0].unknown_spi;
        // The SA goes while the command runs: from its start on, A may log the SPI.
        let t = self.t();
        match self.ctl(0, &["debug", "forget-sa", &format!("{spi:#x}")]) {
            Ok(_) => {
                self.desync.injected = Some(t);
                self.desync.spi = Some(spi);
                self.desync.unknown_before = before;
                eprintln!(
                    "{}",
                    table::event(
                        t,
                        &format!(
                            "desync: A forgot inbound SA {spi:#x} (qfp ctl debug forget-sa); B still sends on it"
                        )
                    )
                );
            }
            Err(e) => {
                eprintln!("{}", table::event(t, &format!("desync NOT injected: {e}")));
                self.desync.failed = Some(e);
            }
        }
    }

    /// Detection by A's unknown-SPI counter (if its log line has not come first), and the
    /// moment B -> A traffic flows again.
    pub(super) fn track_desync(&mut self, t: f64) {
        let Some(inj) = self.desync.injected else { return };
        if self.desync.detected.is_none() && self.gws[0].unknown_spi > self.desync.unknown_before {
            self.desync.detected = Some((t, "IN_US_V4_PKT_SA_NOT_FOUND_SPI counted".into()));
            eprintln!(
                "{}",
                table::event(
                    t,
                    &format!(
                        "A drops B's packets: unknown SPI ({} so far)",
                        self.gws[0].unknown_spi
                    )
                )
            );
        }
        let Some((det, _)) = self.desync.detected else { return };
        // A live interval that began after the detection and still saw B -> A packets.
        let interval = 0.1;
        let cut = self.live.stream(crate::demo::summary::CUT_STREAM);
        if self.desync.recovered_live.is_none()
            && self.live.t_s - interval > det.max(inj)
            && cut.rx_pps > 0.0
        {
            let at = self.live.t_s - interval;
            self.desync.recovered_live = Some(at);
            eprintln!("{}", table::event(at, "recovered: B -> A traffic flows again"));
        }
        if self.desync.replaced_by.is_none()
            && let Some(new) = self.gws[1].out_spi.filter(|s| Some(*s) != self.desync.spi)
        {
            self.desync.replaced_by = Some(new);
            eprintln!(
                "{}",
                table::event(
                    t,
                    &format!("B's outbound SA is now {new:#x} (was the forgotten one)")
                )
            );
        }
    }
}
