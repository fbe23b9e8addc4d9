//! The run of the demo: starts the children in order, watches them (the generator's live
//! figures, the gateways' statistics and log lines), drives the rekeys and the desync,
//! prints the live table, stops everything in order and writes the summary.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::process::Signal;

use super::child::{Child, Line, run_short};
use super::setup::{self, Layout, Plan, Secrets};
use super::summary::{Desync, Observed, Summary};
use super::watch::{GenFinal, GenLive, GwView};
use super::{DemoArgs, Options, table};
use crate::cli::RekeyOrder;
use crate::eal_args::Host;
use crate::load::Failure;
use steps::DesyncState;

/// How often the demo looks at its children.
const TICK: Duration = Duration::from_millis(50);
/// Longest wait for a gateway to listen, or for the generator to start sending.
const START_LIMIT: Duration = Duration::from_secs(60);
/// Longest wait for a child to stop after SIGINT (then it is killed).
const STOP_LIMIT: Duration = Duration::from_secs(20);
/// Scheduled rekeys stop this long before the desync (so that no exchange is in flight
/// when the SA goes), and resume this long after traffic is back.
const REKEY_QUIET: f64 = 0.5;

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// The working directory: `--dir`, or a temporary one removed after a successful run.
struct WorkDir {
    path: PathBuf,
    temporary: bool,
    keep: bool,
}

impl WorkDir {
    fn new(given: Option<&PathBuf>) -> Result<WorkDir, Failure> {
        let (path, temporary) = match given {
            Some(p) => (p.clone(), false),
            None => (std::env::temp_dir().join(format!("qfp-demo-{}", std::process::id())), true),
        };
        if temporary {
            let _ = std::fs::remove_dir_all(&path);
        }
        std::fs::create_dir_all(&path)
            .map_err(|e| Failure::usage(format!("--dir {}: {e}", path.display())))?;
        // net_memif refuses relative socket paths ("Invalid socket directory"): every path
        // handed to the children is made absolute here.
        let path = std::fs::canonicalize(&path)
            .map_err(|e| Failure::usage(format!("--dir {}: {e}", path.display())))?;
        // Sockets of an earlier run in the same --dir would look like listeners.
        for s in ["a-lan.sock", "wan.sock", "b-lan.sock", "a.ctl", "b.ctl", "gen-live.json"] {
            let _ = std::fs::remove_file(path.join(s));
        }
        Ok(WorkDir { path, temporary, keep: false })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.temporary && !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// SIGINT/SIGTERM counted by a thread (signal-hook's iterator: no unsafe handler here).
fn count_signals() -> Result<Arc<AtomicU32>, Failure> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let n = Arc::new(AtomicU32::new(0));
    let mut sigs = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| Failure::runtime(format!("installing signal handlers: {e}")))?;
    let seen = Arc::clone(&n);
    std::thread::spawn(move || {
        for _ in sigs.forever() {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    Ok(n)
}

struct Show<'a> {
    args: &'a DemoArgs,
    opts: &'a Options,
    plan: Plan,
    exe: PathBuf,
    lines: Receiver<Line>,
    signals: Arc<AtomicU32>,
    /// Gateways A and B, then the generator.
    children: Vec<Child>,
    /// Unix time of the demo's `Instant` zero.
    clock: (Instant, f64),
    /// Unix time the generator started sending: the demo's t = 0.
    t0: Option<f64>,
    live: GenLive,
    /// The generator's figures at the last row.
    shown: GenLive,
    gws: [GwView; 2],
    next_row: f64,
    next_rekey: f64,
    rekeys_requested: u64,
    rekey_failures: u64,
    desync: DesyncState,
    stopping: bool,
}

mod steps;

/// Runs the demo with checked options.
pub fn run(args: &DemoArgs, opts: &Options) -> Result<(), Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::runtime(format!("cannot find the qfp binary itself: {e}")))?;
    let mut dir = WorkDir::new(args.dir.as_ref())?;
    let secrets = Secrets::random();
    for (side, name) in [(0, "a.toml"), (1, "b.toml")] {
        let p = dir.path.join(name);
        std::fs::write(&p, setup::config_toml(side, &secrets))
            .map_err(|e| Failure::runtime(format!("writing {}: {e}", p.display())))?;
    }
    let layout = Layout::for_cpus(&Host::probe().cpus);
    let plan = Plan::new(&dir.path, &opts.child, layout);
    let signals = count_signals()?;
    let (tx, rx) = channel();
    let mut show = Show {
        args,
        opts,
        plan,
        exe,
        lines: rx,
        signals,
        children: Vec::new(),
        clock: (Instant::now(), unix_now()),
        t0: None,
        live: GenLive::default(),
        shown: GenLive::default(),
        gws: [GwView::default(), GwView::default()],
        next_row: 1.0,
        next_rekey: opts.rekey_every_ms as f64 / 1000.0,
        rekeys_requested: 0,
        rekey_failures: 0,
        desync: DesyncState::default(),
        stopping: false,
    };
    let result = show.run(tx);
    // Whatever happened, every child is stopped and reaped before we return.
    show.children.clear();
    if result.is_err() {
        dir.keep = true;
        eprintln!("qfp demo: configs and logs kept in {}", dir.path.display());
    }
    result
}

impl Show<'_> {
    fn say(&self, text: &str) {
        eprintln!("qfp demo: {text}");
    }

    /// Seconds since the generator started sending, of a moment.
    fn t_at(&self, at: Instant) -> f64 {
        let unix = self.clock.1 + at.saturating_duration_since(self.clock.0).as_secs_f64();
        unix - self.t0.unwrap_or(unix)
    }

    fn t(&self) -> f64 {
        self.t_at(Instant::now())
    }

    fn run(&mut self, tx: std::sync::mpsc::Sender<Line>) -> Result<(), Failure> {
        self.intro();
        let names = ["gateway A", "gateway B"];
        for side in 0..2 {
            let log = self.plan.dir.join(format!("{}.log", ["a", "b"][side]));
            let c = Child::spawn(
                names[side],
                &self.exe,
                &self.plan.gateway_args[side],
                &log,
                tx.clone(),
            )
            .map_err(Failure::runtime)?;
            self.children.push(c);
            let socks = self.plan.listening[side].clone();
            self.wait_for(&format!("{} to listen on its memif sockets", names[side]), |_| {
                socks.iter().all(|s| s.exists())
            })?;
        }
        let log = self.plan.dir.join("gen.log");
        let g = Child::spawn("qfp gen", &self.exe, &self.plan.gen_args, &log, tx)
            .map_err(Failure::runtime)?;
        self.children.push(g);
        self.wait_for("the generator to start sending", |s| {
            if let Some(l) = GenLive::read(&s.plan.gen_live) {
                s.t0 = Some(l.start_unix_s);
                s.live = l;
            }
            s.t0.is_some()
        })?;
        eprintln!("{}", table::header());
        let gen_status = self.watch()?;
        self.finish(gen_status)
    }

    fn intro(&self) {
        let o = &self.opts.child;
        self.say(&format!(
            "gateway A ({}, LAN {}) and gateway B ({}, LAN {}): two `qfp run` processes joined by \
             net_memif; `qfp gen` on both LANs counts every packet",
            setup::A_LOCAL,
            setup::A_LAN,
            setup::B_LOCAL,
            setup::B_LAN
        ));
        let order = order_name(o.order);
        let rekeys = if self.opts.rekey_every_ms == 0 {
            "no scheduled rekeys".to_string()
        } else {
            format!(
                "a rekey every {} ms ({order}), started by A and B in turn",
                self.opts.rekey_every_ms
            )
        };
        self.say(&format!(
            "{:.0} s at {} pps each way, 64-byte frames; {rekeys}",
            o.duration, o.rate
        ));
        match self.opts.desync_at {
            Some(d) => self.say(&format!(
                "at {d:.1} s gateway A forgets the inbound SA B sends on (invalid-SPI recovery {})",
                if o.recovery { "on" } else { "off: --no-recovery" }
            )),
            None => self.say("no desync (--desync-at 0)"),
        }
        self.say(&self.plan.layout.describe());
        self.say(&format!("configs, logs and reports in {}", self.plan.dir.display()));
    }

    /// Waits (watching children and signals) until `ready`, at most [`START_LIMIT`].
    fn wait_for(
        &mut self,
        what: &str,
        mut ready: impl FnMut(&mut Self) -> bool,
    ) -> Result<(), Failure> {
        let since = Instant::now();
        loop {
            self.drain_lines();
            if ready(self) {
                return Ok(());
            }
            self.check_children()?;
            if self.signals.load(Ordering::SeqCst) > 0 {
                return Err(Failure::runtime(format!("interrupted while waiting for {what}")));
            }
            if since.elapsed() > START_LIMIT {
                let last = self
                    .children
                    .last()
                    .map(|c| c.failure("is still starting"))
                    .unwrap_or_default();
                return Err(Failure::runtime(format!(
                    "gave up waiting for {what} after {START_LIMIT:?}\n{last}"
                )));
            }
            std::thread::sleep(TICK);
        }
    }

    /// A child that exited before its time fails the demo, with its last lines.
    fn check_children(&mut self) -> Result<(), Failure> {
        for c in &mut self.children {
            let gen_done = c.name() == "qfp gen";
            if let Some(st) = c.exited()
                && !gen_done
            {
                return Err(Failure::runtime(c.failure(&format!("exited during the demo ({st})"))));
            }
            if gen_done
                && let Some(st) = c.exited()
                && !st.success()
            {
                return Err(Failure::runtime(c.failure(&format!("failed ({st})"))));
            }
        }
        Ok(())
    }

    fn drain_lines(&mut self) {
        while let Ok(l) = self.lines.try_recv() {
            self.on_line(&l);
        }
    }

    /// Gateway log lines worth showing (IOS-style `%FACILITY-N-MNEMONIC`), and the
    /// detection of the desync by A's log line.
    fn on_line(&mut self, l: &Line) {
        if !l.who.starts_with("gateway") || !l.text.contains('%') {
            return;
        }
        let t = self.t_at(l.at);
        let side = if l.who.ends_with('A') { "A" } else { "B" };
        eprintln!(
            "{}",
            table::event(t, &format!("{side}: {}", l.text.trim_start_matches("qfp: ")))
        );
        // The line for the forgotten SPI (not one of a rekey's transients).
        let about_it =
            self.desync.spi.is_some_and(|spi| l.text.contains(&format!("spi=0x{spi:08X}")));
        if side == "A"
            && l.text.contains("RECVD_PKT_INV_SPI")
            && about_it
            && self.desync.detected.as_ref().is_none_or(|(d, _)| t < *d)
        {
            self.desync.detected = Some((t, "%CRYPTO-4-RECVD_PKT_INV_SPI logged".into()));
        }
    }

    /// The main loop: until the generator has sent, drained and reported.
    fn watch(&mut self) -> Result<std::process::ExitStatus, Failure> {
        loop {
            self.drain_lines();
            let signals = self.signals.load(Ordering::SeqCst);
            if signals >= 2 {
                self.children.clear();
                return Err(Failure::runtime("stopped by a second signal: children killed"));
            }
            if signals == 1 && !self.stopping {
                self.stopping = true;
                self.say("signal received: stopping the generator (it drains and reports), then the gateways");
                if let Some(g) = self.children.get_mut(2) {
                    g.signal(Signal::INT);
                }
            }
            if let Some(st) = self.children.get_mut(2).and_then(Child::exited) {
                self.drain_lines();
                return Ok(st);
            }
            self.check_children()?;
            if let Some(l) = GenLive::read(&self.plan.gen_live) {
                self.live = l;
            }
            for side in 0..2 {
                if let Some(v) = GwView::read(&self.plan.stats[side]) {
                    self.gws[side] = v;
                }
            }
            let t = self.t();
            if !self.stopping {
                self.rekeys(t);
                self.desync_step(t);
            }
            self.track_desync(t);
            if self.live.t_s >= self.next_row {
                eprintln!("{}", table::row(&self.live, &self.shown, [&self.gws[0], &self.gws[1]]));
                self.shown = self.live.clone();
                self.next_row = self.live.t_s.floor() + 1.0;
            }
            std::thread::sleep(TICK);
        }
    }

    /// `qfp ctl --ctrl-socket <side's socket> <args>`: Ok(stdout) or Err(one line).
    fn ctl(&self, side: usize, args: &[&str]) -> Result<String, String> {
        let mut all = vec![
            "ctl".to_string(),
            "--ctrl-socket".into(),
            self.plan.ctl[side].display().to_string(),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        match run_short(&self.exe, &all, Duration::from_secs(10))? {
            (Some(0), out, _) => Ok(out),
            (code, _, err) => Err(format!(
                "`qfp {}` {}: {}",
                all.join(" "),
                code.map_or("timed out".to_string(), |c| format!("exited with {c}")),
                err.lines().last().unwrap_or("").trim()
            )),
        }
    }

    /// The end: the generator's report, the gateways stopped in order, the summary.
    fn finish(&mut self, gen_status: std::process::ExitStatus) -> Result<(), Failure> {
        if !gen_status.success() {
            return Err(Failure::runtime(
                self.children[2].failure(&format!("failed ({gen_status})")),
            ));
        }
        let traffic = GenFinal::read(&self.plan.gen_report).map_err(Failure::runtime)?;
        let mut failures = Vec::new();
        for side in 0..2 {
            let c = &mut self.children[side];
            let (st, killed) = c.stop(Signal::INT, STOP_LIMIT);
            if killed || !st.success() {
                failures.push(c.failure(&if killed {
                    format!("did not stop within {STOP_LIMIT:?} of SIGINT: killed")
                } else {
                    format!("stopped with {st}")
                }));
            }
        }
        self.drain_lines();
        for side in 0..2 {
            if let Some(v) = GwView::read(&self.plan.stats[side]) {
                self.gws[side] = v;
            }
        }
        let d = &self.desync;
        let seen = Observed {
            desync: Desync {
                injected_s: d.injected,
                detected_s: d.detected.as_ref().map(|x| x.0),
                detected_by: d.detected.as_ref().map(|x| x.1.clone()),
                spi: d.spi,
                recovery: self.opts.child.recovery,
                ..Desync::default()
            },
            rekeys_requested: self.rekeys_requested,
        };
        let s = Summary::new(
            &traffic,
            [&self.gws[0], &self.gws[1]],
            &seen,
            order_name(self.opts.child.order),
            self.opts.rekey_every_ms,
            self.opts.child.rate,
        );
        print!("{}", s.text());
        if let Some(p) = &self.args.json {
            write_json(p, &s)
                .map_err(|e| Failure::runtime(format!("writing {}: {e}", p.display())))?;
        }
        if let Some(e) = &self.desync.failed {
            failures.push(format!("the desync could not be injected: {e}"));
        }
        if self.rekey_failures > 0 {
            failures.push(format!(
                "{} of {} rekey requests failed",
                self.rekey_failures, self.rekeys_requested
            ));
        }
        if failures.is_empty() { Ok(()) } else { Err(Failure::runtime(failures.join("\n"))) }
    }
}

fn order_name(o: RekeyOrder) -> &'static str {
    match o {
        RekeyOrder::MakeBeforeBreak => "make-before-break",
        RekeyOrder::OutboundFirst => "outbound-first",
    }
}

fn write_json(path: &Path, s: &Summary) -> std::io::Result<()> {
    let mut text = serde_json::to_string_pretty(s).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(path, text)
}
