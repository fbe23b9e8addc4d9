//! The control core of `qfp run`: the main lcore, while the workers forward. It wakes at
//! least every [`Hooks::tick_period`] to run the mode's [`Hooks::tick`] (the gateway runs
//! its control core there: punts, the peer channel and its timers, lifetimes, rekeys,
//! unknown-SPI reports, reclaim) and to answer the control socket's requests
//! ([`Hooks::ctl`]), publishes statistics every `--stats-interval` (the `--stats-json`
//! document and the live line), and returns when `--duration` is over or SIGINT/SIGTERM
//! arrived.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use dpdk_sys::Port;

use crate::cli::RunArgs;
use crate::ctl::answer;
use crate::ctl::proto::{Request, Response};
use crate::ctl::server::CtlServer;
use crate::stats::{self, PortJson, Snapshot};

/// Why forwarding stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `--duration` ran out.
    Duration,
    /// This signal arrived.
    Signal(&'static str),
}

/// SIGINT and SIGTERM, each turned into a flag the control core polls. A second signal of
/// the same kind exits at once (status 130 / 143), for a stop that hangs.
pub struct Signals {
    int: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
}

impl Signals {
    /// Installs the handlers.
    pub fn install() -> anyhow::Result<Signals> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let s = Signals { int: Arc::default(), term: Arc::default() };
        for (sig, flag, code) in [(SIGINT, &s.int, 130), (SIGTERM, &s.term, 143)] {
            signal_hook::flag::register_conditional_shutdown(sig, code, Arc::clone(flag))
                .and_then(|_| signal_hook::flag::register(sig, Arc::clone(flag)))
                .context("installing signal handlers")?;
        }
        Ok(s)
    }

    /// The signal received, if any.
    pub fn received(&self) -> Option<&'static str> {
        if self.int.load(Ordering::Relaxed) {
            Some("SIGINT")
        } else if self.term.load(Ordering::Relaxed) {
            Some("SIGTERM")
        } else {
            None
        }
    }
}

/// What the control loop calls: the mode's periodic work and its statistics.
pub trait Hooks {
    /// Called at least every [`Hooks::tick_period`]: the gateway's control core runs here.
    fn tick(&mut self);
    /// The stats document for this moment.
    fn snapshot(&mut self, uptime_s: f64, is_final: bool) -> Snapshot;
    /// Longest sleep between two ticks.
    fn tick_period(&self) -> Duration {
        TICK
    }
    /// Answers a control-socket request. By default: what the statistics document can
    /// answer (show stats, drops, workers); other commands need the gateway.
    fn ctl(&mut self, req: &Request, uptime_s: f64) -> Response {
        let snap = self.snapshot(uptime_s, false);
        answer::from_snapshot(req, &snap).unwrap_or_else(|| {
            Response::refused(format!(
                "`{}`: this qfp runs the L2 cross-connect (no -c FILE): it has no SAs",
                req.describe()
            ))
        })
    }
}

/// Longest sleep of the control core between two [`Hooks::tick`]s.
pub const TICK: Duration = Duration::from_millis(10);

/// Port counters in the stats document's shape. `roles` names the ports (gateway).
pub fn port_stats(ports: &[&Port<'_>], roles: Option<[&'static str; 2]>) -> Vec<PortJson> {
    ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            // A device that cannot report counters shows zeros rather than stopping qfp.
            let s = p.stats().unwrap_or_default();
            PortJson {
                port: p.id(),
                rx: s.rx_packets,
                tx: s.tx_packets,
                missed: s.rx_missed,
                role: roles.map(|r| r[i.min(1)]),
                mac: p.mac().ok().map(stats::mac_str),
            }
        })
        .collect()
}

/// The control core: ticks, publishes statistics every interval, and returns when the
/// duration is over or a signal arrived.
pub fn control_loop(
    args: &RunArgs,
    started: Instant,
    signals: &Signals,
    hooks: &mut impl Hooks,
    mut ctl: Option<&mut CtlServer>,
) -> StopReason {
    let interval = Duration::from_secs_f64(args.stats_interval);
    let deadline = (args.duration > 0.0).then(|| started + Duration::from_secs_f64(args.duration));
    let mut next = started + interval;
    let mut prev: Option<Snapshot> = None;
    let mut json_failed = false;
    let tick = hooks.tick_period();
    loop {
        hooks.tick();
        if let Some(server) = ctl.as_deref_mut() {
            server.poll(|req| hooks.ctl(req, started.elapsed().as_secs_f64()));
        }
        if let Some(sig) = signals.received() {
            return StopReason::Signal(sig);
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return StopReason::Duration;
        }
        if now >= next {
            let snap = hooks.snapshot(started.elapsed().as_secs_f64(), false);
            if let Some(path) = &args.stats_json
                && let Err(e) = stats::write_json(path, &snap)
                && !json_failed
            {
                eprintln!("qfp: writing {}: {e} (will retry every interval)", path.display());
                json_failed = true;
            }
            if !args.quiet {
                eprintln!("qfp: {}", stats::live_line(&snap, prev.as_ref()));
            }
            prev = Some(snap);
            next += interval;
        }
        let mut wake = next.min(now + tick);
        if let Some(d) = deadline {
            wake = wake.min(d);
        }
        std::thread::sleep(wake.saturating_duration_since(Instant::now()));
    }
}

/// The one-line account printed at exit.
pub fn summary(s: &Snapshot, why: &str) {
    let ports: Vec<String> = s
        .ports
        .iter()
        .map(|p| format!("port {} rx {} tx {} missed {}", p.port, p.rx, p.tx, p.missed))
        .collect();
    let drops: Vec<String> =
        s.drops.iter().filter(|(_, v)| **v > 0).map(|(k, v)| format!("{k} {v}")).collect();
    eprintln!(
        "qfp: stopped by {why} after {:.1} s: {} | drops: {}",
        s.uptime_s,
        ports.join(", "),
        if drops.is_empty() { "none".to_owned() } else { drops.join(", ") }
    );
}
