//! `qfp run -c FILE`: the IPsec gateway on DPDK ports.
//!
//! The config has been read and checked before the EAL started; here the ports it names
//! are checked against what DPDK found (a missing port, too few tx queues for the workers,
//! a tunnel MTU the device or the mbufs cannot carry: exit 2 with the config line), set up
//! (promiscuous, one tx queue per worker, one rx queue per worker as far as the device
//! has them, RSS with a round-robin redirection table when it has several), and the
//! gateway is assembled: tables and their writer (`dataplane::gateway`), the rings between
//! cores, the static SAs of the config, and one `dataplane::gateway::Worker` per worker
//! lcore over its DPDK queues ([`io::DpdkIo`]). The main lcore runs the control loop with
//! [`control::GatewayControl`] until the duration is over or a signal arrives, then asks the
//! workers to stop, waits until they have drained the rings between them (nothing left in
//! flight), and writes the final statistics. `docs/gateway.md` describes the design.

pub mod answers;
pub mod build;
pub mod commands;
pub mod control;
pub mod core;
pub mod invalid_spi;
pub mod io;
pub mod shard;
pub mod spi;

use std::time::Instant;

use anyhow::Context;
use dataplane::gateway::{RunState, Shared, Worker, WorkerConf};
use dpdk_sys::{Eal, Mbuf, Mempool, Port, PortConfig, PortInfo, SOCKET_ANY};

use crate::cli::RunArgs;
use crate::config::Config;
use crate::control::{Hooks, Signals, StopReason, control_loop, port_stats};
use crate::ctl::proto::{Request, Response};
use crate::forward;
use crate::mbuf::MbufPacket;
use crate::run::{Failure, cache_for, close_ports, describe_port, finish, pool_size, usage};
use crate::stats::Snapshot;
use control::GatewayControl;
use core::{ControlCore, CoreSettings, LogSink};
use invalid_spi::InvalidSpiSettings;
use io::DpdkIo;
use shard::Sharding;

/// Packets each handoff ring (one per ordered pair of workers) holds.
pub const HANDOFF_RING: usize = 1024;
/// Entries of each punt, unknown-SPI report and inject ring.
pub const CTRL_RING: usize = 256;
/// Replaced tables and SAs waiting for the control core to drop them.
pub const RECLAIM_QUEUE: usize = 1024;
/// Unknown-SPI reports per second and worker (design.md section 8: "a few").
pub const INVALID_SPI_PER_SEC: u32 = 5;

/// Asks the workers to stop when dropped: they stop however the control loop ends.
struct StopWorkers<'a>(&'a RunState);

impl Drop for StopWorkers<'_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Mbufs that must exist (the devices' rings and the workers' bursts), and that can be held
/// at once (those, the handoff and control rings, the caches): `--mbufs` between the two
/// runs, and counts what the pool could not give under load (see `run::pool_size`).
fn mbufs_needed(plan: &build::PortPlan, args: &RunArgs, workers: u64, cache: u32) -> (u64, u64) {
    let rings: u64 = plan
        .rx_queues
        .iter()
        .map(|&q| {
            u64::from(q) * u64::from(args.rx_desc)
                + u64::from(plan.tx_queues) * u64::from(args.tx_desc)
        })
        .sum();
    let bursts = workers * u64::from(args.burst) * 5;
    let between = workers * workers * HANDOFF_RING as u64 + (workers + 1) * CTRL_RING as u64;
    (rings + bursts, rings + bursts + between + (workers + 1) * u64::from(cache) * 3 / 2)
}

/// The control loop's hooks for the gateway: the control core ticks, answers qfpctl and
/// completes the statistics.
struct GatewayHooks<'c, 's, 'p> {
    control: &'c mut GatewayControl<'s, MbufPacket<'p>>,
    core: &'c mut ControlCore,
    ports: &'c [Port<'p>],
    lcores: &'c [u32],
    shared: &'s Shared<MbufPacket<'p>>,
}

/// The statistics document of the gateway now.
fn gateway_snapshot(
    control: &GatewayControl<'_, MbufPacket<'_>>,
    core: &ControlCore,
    ports: &[Port<'_>],
    lcores: &[u32],
    shared: &Shared<MbufPacket<'_>>,
    uptime_s: f64,
    is_final: bool,
) -> Snapshot {
    let ports: Vec<&Port<'_>> = ports.iter().collect();
    let workers: Vec<_> =
        lcores.iter().zip(shared.stats.iter()).map(|(&l, c)| (l, c.snapshot())).collect();
    let mut snap = Snapshot::new(
        uptime_s,
        port_stats(&ports, Some(["protected", "unprotected"])),
        &workers,
        control.tunnels_json(),
        Some(control.control_json()),
        is_final,
    );
    answers::decorate(core, control, control.now_ns(), &mut snap);
    snap
}

impl Hooks for GatewayHooks<'_, '_, '_> {
    fn tick(&mut self) {
        let now = self.control.now_ns();
        self.core.tick(self.control, now);
    }

    fn tick_period(&self) -> std::time::Duration {
        if self.core.has_peers() { PEER_TICK } else { crate::control::TICK }
    }

    fn snapshot(&mut self, uptime_s: f64, is_final: bool) -> Snapshot {
        gateway_snapshot(
            self.control,
            self.core,
            self.ports,
            self.lcores,
            self.shared,
            uptime_s,
            is_final,
        )
    }

    fn ctl(&mut self, req: &Request, uptime_s: f64) -> Response {
        let now = self.control.now_ns();
        let (ports, lcores, shared) = (self.ports, self.lcores, self.shared);
        answers::answer(self.core, self.control, now, req, |core, control| {
            gateway_snapshot(control, core, ports, lcores, shared, uptime_s, false)
        })
    }
}

/// The control core's tick when a tunnel has a peer channel: each leg of a rekey waits for
/// the receiving control core's next tick, so this bounds a rekey to a few ms.
pub const PEER_TICK: std::time::Duration = std::time::Duration::from_millis(2);

/// The control core's settings from the command line and the config.
pub fn core_settings(args: &RunArgs, cfg: &Config) -> CoreSettings {
    let defaults = InvalidSpiSettings::default();
    CoreSettings {
        rekey_order: match args.rekey_order {
            Some(crate::cli::RekeyOrder::OutboundFirst) => crate::peer::RekeyOrder::OutboundFirst,
            _ => crate::peer::RekeyOrder::MakeBeforeBreak,
        },
        rekey_overlap_ms: args.rekey_overlap_ms.unwrap_or(2000),
        rekey_every_ms: args.rekey_every,
        invalid_spi: InvalidSpiSettings {
            log_interval_ns: args
                .invalid_spi_log_interval
                .map_or(defaults.log_interval_ns, |s| s * 1_000_000_000),
            out_of_sync_after: args.invalid_spi_out_of_sync.unwrap_or(defaults.out_of_sync_after),
            recovery: args.invalid_spi_recovery != Some(crate::cli::OnOff::Off),
        },
        replay_window: cfg.gateway.replay_window,
        tune: None,
    }
}

/// How long the gateway waits for its ports' links before it starts forwarding anyway.
pub const LINK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Waits (up to [`LINK_WAIT`], or a signal) until both links are up, saying so if it has
/// to: a NIC negotiating, or a net_memif waiting for its peer process. Packets sent on a
/// link that is down would only be counted as drops.
fn wait_for_links(ports: &[Port<'_>], signals: &Signals) {
    let start = Instant::now();
    let mut said = false;
    loop {
        let down: Vec<u16> =
            ports.iter().filter(|p| !p.link().is_ok_and(|l| l.up)).map(|p| p.id()).collect();
        if down.is_empty() {
            if said {
                eprintln!("qfp: links up after {:.1} s", start.elapsed().as_secs_f64());
            }
            return;
        }
        if start.elapsed() >= LINK_WAIT || signals.received().is_some() {
            eprintln!(
                "qfp: port(s) {down:?} still down after {:.0} s; forwarding anyway",
                start.elapsed().as_secs_f64()
            );
            return;
        }
        if !said {
            eprintln!(
                "qfp: waiting for the link of port(s) {down:?} (up to {} s)",
                LINK_WAIT.as_secs()
            );
            said = true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The port `id` named by config field `field`, if DPDK found it.
fn port_id(cfg: &Config, eal: &Eal, field: &str, id: u16) -> Result<u16, Failure> {
    let ids = eal.port_ids();
    if ids.contains(&id) {
        return Ok(id);
    }
    let found = if ids.is_empty() {
        "none (bind a NIC to a DPDK driver or give --vdev after `--`)".to_owned()
    } else {
        ids.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
    };
    Err(usage(
        cfg.error(field, format!("port {id} does not exist; DPDK found ports {found}")).to_string(),
    ))
}

/// Runs the gateway to completion.
pub fn run(
    args: &RunArgs,
    cfg: &Config,
    eal: &Eal,
    lcores: &[u32],
    signals: &Signals,
    ctl: Option<&mut crate::ctl::server::CtlServer>,
) -> Result<(), Failure> {
    let workers = lcores.len() as u16;
    let ids = [
        port_id(cfg, eal, "gateway.protected_port", cfg.gateway.protected_port)?,
        port_id(cfg, eal, "gateway.unprotected_port", cfg.gateway.unprotected_port)?,
    ];
    let others = eal.port_ids().len() - 2;
    if others > 0 {
        eprintln!(
            "qfp: ports {} and {} carry the gateway; the other {others} are left alone",
            ids[0], ids[1]
        );
    }
    let infos = [PortInfo::get(eal, ids[0])?, PortInfo::get(eal, ids[1])?];
    let plan = build::plan_ports(cfg, [&infos[0], &infos[1]], workers)?;
    let (floor, need) = mbufs_needed(&plan, args, u64::from(workers), 256);
    let nmbufs = pool_size(args, floor, need)?;
    let socket = infos[1].socket.map_or(SOCKET_ANY, |s| s as i32);
    let pool = Mempool::pktmbuf(eal, "qfp_pkt", nmbufs, cache_for(nmbufs), plan.data_room, socket)
        .context("creating the mbuf pool (try fewer --mbufs, or more memory with -m)")?;

    let mut ports = Vec::with_capacity(2);
    for (i, &id) in ids.iter().enumerate() {
        let conf = PortConfig {
            rx_queues: plan.rx_queues[i],
            tx_queues: plan.tx_queues,
            rx_desc: args.rx_desc,
            tx_desc: args.tx_desc,
            promiscuous: true,
        };
        let mut port = Port::configure_with_mtu(eal, id, &conf, &pool, plan.mtu)?;
        port.start()?;
        port.set_reta_round_robin()?;
        describe_port(&port, [" (protected)", " (unprotected)"][i])?;
        ports.push(port);
    }
    for (w, lcore) in lcores.iter().enumerate() {
        for (i, role) in ["protected", "unprotected"].iter().enumerate() {
            if w as u16 >= plan.rx_queues[i] {
                eprintln!(
                    "qfp: worker lcore {lcore} has no rx queue on the {role} port (it has {}): it \
                     still decrypts and encrypts what the other workers hand it",
                    plan.rx_queues[i]
                );
            }
        }
    }
    wait_for_links(&ports, signals);
    let macs = [ports[0].mac()?, ports[1].mac()?];
    let rss = ports[1].rss_state()?.map(build::rss_conf);
    let mut sharding = Sharding::new(workers, plan.rx_queues[1], rss);
    let (writer, tunnels) = build::tables(cfg, workers, macs, &mut sharding, RECLAIM_QUEUE)?;
    let shared: Shared<MbufPacket<'_>> =
        Shared::new(writer.tables(), usize::from(workers), HANDOFF_RING, CTRL_RING);
    let clock = Instant::now();
    let pool = &pool;
    let alloc = Box::new(move |frame: &[u8]| Mbuf::from_slice(pool, frame).map(MbufPacket));
    let mut gw =
        GatewayControl::new(writer, &shared, sharding, build::spi_pool(cfg), tunnels, clock, alloc);
    let now = gw.now_ns();
    build::publish_static(&mut gw, cfg, now, args.quiet)?;
    let wall_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let settings = core_settings(args, cfg);
    let mut core = ControlCore::new(cfg, settings, now, wall_ns, rand::make_rng(), LogSink::Stderr)
        .map_err(|e| anyhow::anyhow!(e))?;

    let started = Instant::now();
    let scoped = {
        let (mut rx_p, mut tx_p) = ports[0].queues()?;
        let (mut rx_u, mut tx_u) = ports[1].queues()?;
        // Worker w: rx queue w of each port if the port has it, tx queue w of both.
        let mut ios = Vec::new();
        for w in (0..usize::from(workers)).rev() {
            let rx_p = (w < rx_p.len()).then(|| rx_p.remove(w));
            let rx_u = (w < rx_u.len()).then(|| rx_u.remove(w));
            ios.push(DpdkIo::new([rx_p, rx_u], [tx_p.remove(w), tx_u.remove(w)]));
        }
        ios.reverse();
        let (shared, ports, gw, core) = (&shared, &ports, &mut gw, &mut core);
        eal.scope(|s| -> Result<StopReason, Failure> {
            let _stop = StopWorkers(&shared.run);
            let nworkers = ios.len();
            for (w, io) in ios.into_iter().enumerate() {
                let conf = WorkerConf {
                    burst: usize::from(args.burst),
                    invalid_spi_per_sec: INVALID_SPI_PER_SEC,
                };
                let poll = args.poll;
                let launched = s.launch(lcores[w], move || {
                    let mut worker = Worker::new(w as u16, io, shared, conf);
                    worker.run(|| clock.elapsed().as_nanos() as u64, |n| forward::idle(poll, n));
                });
                if let Err(e) = launched {
                    // The ones already running must not wait for the ones that never will.
                    shared.run.never_started(nworkers - w);
                    return Err(e.into());
                }
            }
            let mut hooks = GatewayHooks { control: gw, core, ports, lcores, shared };
            Ok(control_loop(args, started, signals, &mut hooks, ctl))
        })
    };

    // The workers have drained the rings between them and returned: every counter is
    // final and nothing is in flight. Take what was punted, read the ports, close them.
    gw.tick();
    let uptime = started.elapsed().as_secs_f64();
    let final_snap = gateway_snapshot(&gw, &core, &ports, lcores, &shared, uptime, true);
    drop(gw);
    drop(shared);
    let close_errors = close_ports(ports);
    finish(args, &final_snap, scoped, close_errors)
}
