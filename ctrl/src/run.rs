//! `qfp run`: the DPDK runtime glue. Reads and checks the config (`-c FILE`) before
//! anything starts, builds the EAL arguments, starts the EAL, and runs one of two modes:
//!
//! - with `-c FILE`, the IPsec gateway (`crate::gateway`);
//! - without, the L2 cross-connect of ports 0 and 1 ([`cross_connect`]): every packet of
//!   one port leaves on the other, the I/O ceiling the gateway is measured against.
//!
//! Either way the main lcore becomes the control core (`crate::control`): every
//! `--stats-interval` it aggregates the counters, writes `--stats-json` and prints the live
//! line, until `--duration` runs out or SIGINT/SIGTERM arrives. Then it stops the workers,
//! reads the final counters, stops and closes the ports (net_pcap flushes its tx file on
//! close) and writes the final statistics.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context;
use dpdk_sys::{
    DEFAULT_DATA_ROOM, Eal, Mempool, Port, PortConfig, PortInfo, RxQueue, SOCKET_ANY, TxQueue,
};

use dataplane::gateway::{PortRole, WorkerStats};

use crate::cli::RunArgs;
use crate::config::{self, Config, Overrides};
use crate::control::{self, Hooks, Signals, StopReason};
use crate::ctl::server::CtlServer;
use crate::eal_args::{self, Host};
use crate::forward::{self, Lane, QueuePlan};
use crate::stats::{self, Snapshot};

/// Why `qfp run` failed, and so its exit status.
#[derive(Debug)]
pub enum Failure {
    /// Bad flags or EAL arguments: exit status 2, nothing (or nothing more) started.
    Usage(String),
    /// Something failed while running: exit status 1.
    Runtime(anyhow::Error),
}

impl Failure {
    /// The process exit status for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Runtime(_) => 1,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Usage(m) => f.write_str(m),
            // `{:#}` prints the context chain on one line: "a: b: c".
            Failure::Runtime(e) => write!(f, "{e:#}"),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Runtime(e)
    }
}

impl From<dpdk_sys::Error> for Failure {
    fn from(e: dpdk_sys::Error) -> Self {
        Failure::Runtime(e.into())
    }
}

/// A usage failure (exit status 2) with this message.
pub(crate) fn usage(msg: impl Into<String>) -> Failure {
    Failure::Usage(msg.into())
}

/// EINVAL: what rte_eal_init reports for arguments it does not accept.
const EINVAL: i32 = 22;

/// Sets the flag when dropped: the workers stop however the control loop ends (a panic
/// included), so the wait for them in `Eal::scope` always returns.
pub(crate) struct StopOnDrop<'a>(pub(crate) &'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Removes a directory when dropped: declared before the `Eal`, it outlives it, so the
/// EAL runtime directory of a prefix qfp chose is removed after `rte_eal_cleanup` however
/// `run` returns (DPDK leaves it behind, one per process otherwise).
struct RemoveDirOnDrop(Option<std::path::PathBuf>);

impl Drop for RemoveDirOnDrop {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Mbufs that rings, bursts and per-lcore caches can hold at once.
fn mbufs_needed(qp: &QueuePlan, args: &RunArgs, workers: usize, cache: u32) -> u64 {
    let rings: u64 = (0..2)
        .map(|p| {
            u64::from(qp.rx_queues[p]) * u64::from(args.rx_desc)
                + u64::from(qp.tx_queues[p]) * u64::from(args.tx_desc)
        })
        .sum();
    rings + workers as u64 * u64::from(args.burst) + (workers as u64 + 1) * u64::from(cache) * 3 / 2
}

/// Per-lcore mempool cache: 256, or less for a small pool (DPDK wants cache*1.5 <= n).
pub(crate) fn cache_for(n: u32) -> u32 {
    256.min(n * 2 / 3)
}

/// Pool size when `--mbufs` is not given: twice what can be held, at least 8191, of the
/// form 2^k - 1 (DPDK's ring needs 2^k slots).
pub(crate) fn default_mbufs(need: u64) -> u32 {
    let n = (need * 2 + 1).next_power_of_two() - 1;
    n.clamp(8191, 16_777_215) as u32
}

/// `--mbufs`, or the default for a set-up that holds up to `need` at once.
pub(crate) fn pool_size(args: &RunArgs, need: u64) -> Result<u32, Failure> {
    match args.mbufs {
        Some(n) if u64::from(n) < need => Err(usage(format!(
            "--mbufs {n} is too few: the rings, bursts and caches of this set-up hold up to {need}"
        ))),
        Some(n) => Ok(n),
        None => Ok(default_mbufs(need)),
    }
}

/// Prints the one line that says what a started port is.
pub(crate) fn describe_port(port: &Port<'_>, role: &str) -> Result<(), Failure> {
    let link = port.link()?;
    eprintln!(
        "qfp: port {}{role} = {} ({}), {} rx / {} tx queue(s){}, MAC {}, link {}",
        port.id(),
        port.info().name,
        port.info().driver,
        port.rx_queue_count(),
        port.tx_queue_count(),
        if port.rss_enabled() { " with RSS" } else { "" },
        stats::mac_str(port.mac()?),
        match (link.up, link.speed_mbps) {
            (false, _) => "down".to_owned(),
            (true, Some(s)) => format!("up {s} Mb/s"),
            (true, None) => "up".to_owned(),
        }
    );
    Ok(())
}

/// Closes the ports (net_pcap flushes its files here); the errors, one string each.
pub(crate) fn close_ports(ports: Vec<Port<'_>>) -> Vec<String> {
    let mut errors = Vec::new();
    for port in ports {
        let id = port.id();
        if let Err(e) = port.close() {
            errors.push(format!("port {id}: {e}"));
        }
    }
    errors
}

/// After the workers stopped: writes the final document, prints the summary, and turns
/// how the run ended into `run`'s result.
pub(crate) fn finish(
    args: &RunArgs,
    final_snap: &Snapshot,
    scoped: dpdk_sys::Result<Result<StopReason, Failure>>,
    close_errors: Vec<String>,
) -> Result<(), Failure> {
    if let Some(path) = &args.stats_json {
        stats::write_json(path, final_snap)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let reason = match scoped {
        Ok(r) => r?,
        Err(e) => {
            control::summary(final_snap, "a worker failure");
            return Err(anyhow::Error::new(e).context("forwarding").into());
        }
    };
    control::summary(
        final_snap,
        &match reason {
            StopReason::Duration => format!("--duration {}", args.duration),
            StopReason::Signal(s) => s.to_owned(),
        },
    );
    if !close_errors.is_empty() {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "closing ports: {}",
            close_errors.join("; ")
        )));
    }
    Ok(())
}

/// Reads `-c FILE` and applies the overrides; a bad file or flag is a usage failure.
fn load_config(args: &RunArgs) -> Result<Option<Config>, Failure> {
    let Some(path) = &args.config else {
        if let Some(flag) = args.gateway_only() {
            return Err(usage(format!(
                "{flag}: only the IPsec gateway has SAs to rekey or check: give -c FILE"
            )));
        }
        return Ok(None);
    };
    let mut cfg = config::load(path).map_err(|e| usage(e.to_string()))?;
    cfg.apply_overrides(&Overrides { replay_window: args.replay_window })
        .map_err(|e| usage(e.to_string()))?;
    Ok(Some(cfg))
}

/// Checks that `--stats-json FILE` can be written, before anything starts.
fn check_writable(path: &Path) -> Result<(), Failure> {
    let mut probe = path.file_name().unwrap_or_default().to_os_string();
    probe.push(format!(".probe.{}", std::process::id()));
    let probe = path.with_file_name(probe);
    std::fs::File::create(&probe)
        .and_then(|_| std::fs::remove_file(&probe))
        .map_err(|e| usage(format!("--stats-json {}: cannot write there: {e}", path.display())))
}

/// Runs `qfp run` to completion.
pub fn run(args: &RunArgs) -> Result<(), Failure> {
    if let Some(flag) = args.not_yet() {
        return Err(usage(format!("`{flag}` is not implemented yet")));
    }
    // The config is read and checked before anything starts.
    let config = load_config(args)?;
    if let Some(p) = &args.stats_json {
        check_writable(p)?;
    }
    if config.is_none() {
        eprintln!(
            "qfp: no -c FILE: running the L2 cross-connect (port 0 <-> port 1, no IPsec), \
             the I/O ceiling; give -c FILE for the gateway"
        );
    }
    let plan = eal_args::build(&args.eal, args.workers, &Host::probe());
    for note in &plan.notes {
        eprintln!("qfp: {note}");
    }
    let signals = Signals::install()?;
    let mut ctl = control_socket(args, &plan.args)?;

    let mut runtime_dir = RemoveDirOnDrop(None);
    let eal = Eal::init(&plan.args).map_err(|e| match e.errno() {
        Some(EINVAL) => {
            usage(format!("DPDK refused the EAL arguments ({e}); see its message above"))
        }
        _ => Failure::Runtime(anyhow::Error::new(e).context("starting the DPDK EAL")),
    })?;
    if plan.chose_prefix {
        runtime_dir.0 = Some(eal.runtime_dir());
    }
    let lcores = worker_lcores(&eal, &plan, args)?;
    match &config {
        Some(cfg) => crate::gateway::run(args, cfg, &eal, &lcores, &signals, ctl.as_mut()),
        None => cross_connect(args, &eal, &lcores, &signals, ctl.as_mut()),
    }
}

/// Binds the control socket for `qfp ctl`: `--ctrl-socket` (a failure is a usage error),
/// else the default path for this EAL file prefix (a failure is a warning: the gateway
/// runs without one). Says where it is.
fn control_socket(args: &RunArgs, eal_args: &[String]) -> Result<Option<CtlServer>, Failure> {
    let (path, given) = match &args.ctrl_socket {
        Some(p) => (p.clone(), true),
        None => {
            let prefix = crate::ctl::path::file_prefix(eal_args);
            (crate::ctl::path::default_socket(&prefix), false)
        }
    };
    match CtlServer::bind(&path) {
        Ok(s) => {
            eprintln!(
                "qfp: control socket {} (qfp ctl --ctrl-socket {} show stats)",
                path.display(),
                path.display()
            );
            Ok(Some(s))
        }
        Err(e) if given => Err(usage(e)),
        Err(e) => {
            eprintln!("qfp: no control socket: {e}");
            Ok(None)
        }
    }
}

/// The worker lcores to use: `--workers` of the EAL's, or all of them.
fn worker_lcores(eal: &Eal, plan: &eal_args::EalPlan, args: &RunArgs) -> Result<Vec<u32>, Failure> {
    let all_workers = eal.worker_lcores();
    let nworkers = match (plan.chose_lcores, args.workers) {
        (false, Some(w)) if usize::from(w) > all_workers.len() => {
            return Err(usage(format!(
                "--workers {w}: the EAL lcore list has only {} worker lcore(s)",
                all_workers.len()
            )));
        }
        (false, Some(w)) => usize::from(w),
        _ => all_workers.len(),
    };
    if nworkers == 0 {
        return Err(usage(
            "the EAL lcore list has no worker lcore: give at least two lcores (e.g. -l 0-1)",
        ));
    }
    Ok(all_workers[..nworkers].to_vec())
}

/// The cross-connect's statistics: port and worker counters, nothing else.
struct CrossConnect<'a, 'p> {
    ports: &'a [Port<'p>],
    lcores: &'a [u32],
    counters: &'a [WorkerStats],
}

impl Hooks for CrossConnect<'_, '_> {
    fn tick(&mut self) {}

    fn snapshot(&mut self, uptime_s: f64, is_final: bool) -> Snapshot {
        let ports: Vec<&Port<'_>> = self.ports.iter().collect();
        let workers: Vec<_> =
            self.lcores.iter().zip(self.counters).map(|(&l, c)| (l, c.snapshot())).collect();
        Snapshot::new(
            uptime_s,
            control::port_stats(&ports, None),
            &workers,
            Vec::new(),
            None,
            is_final,
        )
    }
}

/// The L2 cross-connect: ports 0 and 1, every packet to the other port.
fn cross_connect(
    args: &RunArgs,
    eal: &Eal,
    lcores: &[u32],
    signals: &Signals,
    ctl: Option<&mut CtlServer>,
) -> Result<(), Failure> {
    let port_ids = eal.port_ids();
    if port_ids.len() < 2 {
        return Err(usage(format!(
            "qfp run needs 2 ports, DPDK found {}: bind two NICs to a DPDK driver or give two \
             --vdev after `--` (e.g. --vdev=net_pcap0,rx_pcap=in.pcap --vdev=net_pcap1,tx_pcap=out.pcap)",
            port_ids.len()
        )));
    }
    if port_ids.len() > 2 {
        eprintln!(
            "qfp: using ports {} and {}; the other {} are left alone",
            port_ids[0],
            port_ids[1],
            port_ids.len() - 2
        );
    }
    let nworkers = lcores.len();
    let infos = [PortInfo::get(eal, port_ids[0])?, PortInfo::get(eal, port_ids[1])?];
    let qp = forward::plan(
        nworkers as u16,
        [infos[0].max_rx_queues, infos[1].max_rx_queues],
        [infos[0].max_tx_queues, infos[1].max_tx_queues],
    );
    let need = mbufs_needed(&qp, args, nworkers, 256);
    let nmbufs = pool_size(args, need)?;
    let socket = infos[0].socket.map_or(SOCKET_ANY, |s| s as i32);
    let pool =
        Mempool::pktmbuf(eal, "qfp_pkt", nmbufs, cache_for(nmbufs), DEFAULT_DATA_ROOM, socket)
            .context("creating the mbuf pool (try fewer --mbufs, or more memory with -m)")?;

    let mut ports = Vec::with_capacity(2);
    for (p, &id) in port_ids.iter().take(2).enumerate() {
        let conf = PortConfig {
            rx_queues: qp.rx_queues[p],
            tx_queues: qp.tx_queues[p],
            rx_desc: args.rx_desc,
            tx_desc: args.tx_desc,
            promiscuous: true,
        };
        let mut port = Port::configure(eal, id, &conf, &pool)?;
        port.start()?;
        describe_port(&port, "")?;
        ports.push(port);
    }
    for (w, lcore) in lcores.iter().enumerate() {
        if qp.rx_ports_of(w as u16).is_empty() {
            eprintln!(
                "qfp: worker lcore {lcore} has no queue to poll: ports have {} and {} rx queue(s) \
                 (give the vdevs more queues: net_pcap repeats rx_pcap=/tx_pcap=, net_null takes any count)",
                qp.rx_queues[0], qp.rx_queues[1]
            );
        }
    }

    let counters: Vec<WorkerStats> = (0..nworkers).map(|_| WorkerStats::new()).collect();
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let scoped = {
        let (rx0, tx0) = ports[0].queues()?;
        let (rx1, tx1) = ports[1].queues()?;
        let lanes = assign_lanes(nworkers, rx0, tx0, rx1, tx1);
        let (stop, counters, ports) = (&stop, &counters, &ports);
        eal.scope(|s| -> Result<StopReason, Failure> {
            let _stop = StopOnDrop(stop);
            for (w, lanes) in lanes.into_iter().enumerate() {
                if lanes.is_empty() {
                    continue;
                }
                let c = &counters[w];
                let (burst, poll) = (usize::from(args.burst), args.poll);
                s.launch(lcores[w], move || forward::run(lanes, burst, poll, stop, c))?;
            }
            let mut hooks = CrossConnect { ports, lcores, counters };
            Ok(control::control_loop(args, started, signals, &mut hooks, ctl))
        })
    };

    // Workers have stopped: the counters are final. Read the ports before closing them.
    let uptime = started.elapsed().as_secs_f64();
    let final_snap =
        CrossConnect { ports: &ports, lcores, counters: &counters }.snapshot(uptime, true);
    let close_errors = close_ports(ports);
    finish(args, &final_snap, scoped, close_errors)
}

/// Hands rx queue i of each port, with tx queue i of the other port, to worker i.
fn assign_lanes<'p>(
    workers: usize,
    rx0: Vec<RxQueue<'p>>,
    tx0: Vec<TxQueue<'p>>,
    rx1: Vec<RxQueue<'p>>,
    tx1: Vec<TxQueue<'p>>,
) -> Vec<Vec<Lane<'p>>> {
    let mut lanes: Vec<Vec<Lane<'p>>> = (0..workers).map(|_| Vec::new()).collect();
    // forward::plan gives port p as many tx queues as the other port has rx queues.
    for (w, (rx, tx)) in rx0.into_iter().zip(tx1).enumerate() {
        lanes[w].push(Lane { rx, tx, from: PortRole::Protected });
    }
    for (w, (rx, tx)) in rx1.into_iter().zip(tx0).enumerate() {
        lanes[w].push(Lane { rx, tx, from: PortRole::Unprotected });
    }
    lanes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_sizes() {
        assert_eq!(default_mbufs(100), 8191);
        assert_eq!(default_mbufs(4200), 16383);
        assert_eq!(default_mbufs(u64::MAX / 4), 16_777_215);
        assert_eq!(cache_for(1023), 256);
        assert_eq!(cache_for(300), 200);
    }
}
