//! A traffic generator and sink on DPDK ports, behind `qfp gen`.
//!
//! Every sending port sends one stream (its id is the port's index in the port list) of
//! IPv4 or IPv6 UDP frames carrying the load header ([`crate::payload`]): stream id, a
//! sequence number counting from 0 and the TSC when the frame was built. With two ports the
//! streams cross (port 0's goes from `nets[0]` to `nets[1]`, port 1's the other way), as
//! they would through a gateway between two networks. Every port also receives; whichever
//! port a frame comes back on, its header says which stream it is, and the stream's
//! [`seq::SeqTracker`] counts it received, reordered, duplicated, or late, while the
//! numbers that never arrive are lost, attributed to their send time in the
//! [`timeline::Timeline`]. Latency is the TSC difference, in an HdrHistogram.
//!
//! One thread does it all, on the EAL main lcore: per iteration, each sending port fills
//! and sends at most one burst (paced by a token bucket on the TSC, or flat out), then
//! every port is received. That keeps the generator on one core, which on a small machine
//! leaves the others to the gateway, and makes "a packet cannot arrive before it was sent"
//! a fact the accounting relies on. Frames are copied from per-flow templates and only the
//! load header (and the UDP checksum, incrementally) is written per packet. Packets the
//! tx queue does not take stay first in line and are retried, never counted as sent.
//!
//! After sending ends (`duration`, `count`, or the stop flag), the generator keeps
//! receiving for `drain` (or until every packet sent is accounted for) and then reports.

pub mod report;
pub mod seq;
pub mod timeline;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dataplane::selector::Prefix;
use dpdk_sys::{
    Burst, DEFAULT_DATA_ROOM, Eal, Mempool, Port, PortConfig, RxQueue, SOCKET_ANY, TxQueue, rdtsc,
};
use hdrhistogram::Histogram;

use crate::payload::{FrameSize, Header};
use crate::traffic::{self, FlowSet};
use report::{Latency, Live, PortReport, Report, StreamLive, StreamReport};
use seq::SeqTracker;
use timeline::Timeline;

/// How the loop waits when it has nothing to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Never wait: lowest latency, one full CPU.
    Busy,
    /// After empty polls pause, then sleep [`IDLE_SLEEP`]: shares a small machine.
    Adaptive,
}

/// Empty polls before pausing, and before sleeping (adaptive polling), as `qfp run`.
const SPIN_POLLS: u32 = 64;
const PAUSE_POLLS: u32 = 4096;
/// The idle sleep of adaptive polling.
pub const IDLE_SLEEP: Duration = Duration::from_micros(50);

/// What to generate.
#[derive(Debug, Clone)]
pub struct Config {
    /// DPDK port ids, one or two; stream `i` is sent on `ports[i]`.
    pub ports: Vec<u16>,
    /// Which of `ports` send (the others only receive).
    pub tx_ports: Vec<u16>,
    /// Packets per second per sending port; `None`: as fast as the port takes them.
    pub rate_pps: Option<f64>,
    /// Frame size.
    pub size: FrameSize,
    /// Stop sending after this long (`None`: after `count`, or when stopped).
    pub duration: Option<Duration>,
    /// Stop sending after this many packets per sending port.
    pub count: Option<u64>,
    /// Flows per stream.
    pub flows: u32,
    /// Hosts behind `ports[0]` and `ports[1]` (same family).
    pub nets: [Prefix; 2],
    /// Source MAC per port (None: the port's own address).
    pub src_macs: Vec<Option<[u8; 6]>>,
    /// Destination MAC per port.
    pub dst_macs: Vec<[u8; 6]>,
    /// Receive this long after sending ends (less if every packet is accounted for).
    pub drain: Duration,
    /// Idle behaviour.
    pub poll: Poll,
    /// Packets per rx/tx burst.
    pub burst: usize,
    /// Timeline bucket.
    pub bucket: Duration,
    /// Rx and tx descriptors per queue.
    pub rx_desc: u16,
    /// See `rx_desc`.
    pub tx_desc: u16,
    /// Mbufs in the pool.
    pub mbufs: u32,
    /// Check the payload pattern of every received frame.
    pub check_pattern: bool,
    /// How long to wait for the ports' links (net_memif: for the peer to connect).
    pub link_wait: Duration,
    /// How long to wait after the links came up before sending: the processes at the
    /// other end (gateways over net_memif) notice their links a moment later and may
    /// not be polling yet.
    pub start_delay: Duration,
    /// Interval of the live callback (None: never).
    pub live_interval: Option<Duration>,
}

/// Why the generator could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad setting (exit status 2).
    #[error("{0}")]
    Usage(String),
    /// DPDK refused something.
    #[error("{what}: {source}")]
    Dpdk {
        /// What we were doing.
        what: String,
        /// DPDK's error.
        source: dpdk_sys::Error,
    },
    /// A port's link stayed down.
    #[error("port {0}: link still down after {1:?} (for net_memif: is the peer process running?)")]
    LinkDown(u16, Duration),
}

fn dpdk<T>(what: impl Into<String>, r: dpdk_sys::Result<T>) -> Result<T, Error> {
    r.map_err(|source| Error::Dpdk { what: what.into(), source })
}

/// One sending port's stream: its templates, sender and receiver state.
struct Stream<'p> {
    id: u8,
    port_index: usize,
    v6: bool,
    /// Frame templates, `[flow * sizes + size index]`.
    templates: Vec<Vec<u8>>,
    /// Next sequence number to build.
    next_seq: u64,
    /// Built, not yet taken by the tx queue (their numbers precede `next_seq`).
    pending: Burst<'p>,
    tokens: f64,
    last_tsc: u64,
    sent: u64,
    tracker: SeqTracker,
    corrupt: u64,
    hist: Histogram<u64>,
}

impl Stream<'_> {
    fn done(&self, count: Option<u64>) -> bool {
        count.is_some_and(|c| self.sent >= c)
    }
}

/// Index of the template size for packet `seq`: sizes are `size.distinct()` in order.
fn size_index(size: FrameSize, seq: u64) -> usize {
    match size {
        FrameSize::Fixed(_) => 0,
        FrameSize::Imix => match size.of(seq) {
            64 => 0,
            570 => 1,
            _ => 2,
        },
    }
}

fn new_histogram() -> Histogram<u64> {
    // 1 ns .. 1 hour, 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

/// Runs the generator on the started EAL until sending ends and the drain is over; `stop`
/// (a signal) ends sending early, a second time the drain too. `live` is called every
/// `live_interval`.
pub fn run(
    eal: &Eal,
    cfg: &Config,
    stop: &AtomicBool,
    mut live: impl FnMut(&Live),
) -> Result<Report, Error> {
    validate(cfg)?;
    let nports = cfg.ports.len();
    let pool = dpdk(
        "creating the mbuf pool (try fewer --mbufs or more memory with -m)",
        Mempool::pktmbuf(
            eal,
            "qfp_gen",
            cfg.mbufs,
            256.min(cfg.mbufs * 2 / 3),
            DEFAULT_DATA_ROOM,
            SOCKET_ANY,
        ),
    )?;
    let mut ports = Vec::with_capacity(nports);
    for &id in &cfg.ports {
        let conf = PortConfig {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: cfg.rx_desc,
            tx_desc: cfg.tx_desc,
            promiscuous: true,
        };
        let mut port =
            dpdk(format!("configuring port {id}"), Port::configure(eal, id, &conf, &pool))?;
        // A net_memif client fails to start while its server is not listening yet: retry
        // for as long as a link is waited for.
        let since = std::time::Instant::now();
        while let Err(e) = port.start() {
            if since.elapsed() >= cfg.link_wait {
                return Err(Error::Dpdk { what: format!("starting port {id}"), source: e });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        ports.push(port);
    }
    wait_for_links(&mut ports, cfg.link_wait)?;
    std::thread::sleep(cfg.start_delay);
    let macs: Vec<[u8; 6]> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| match cfg.src_macs.get(i).copied().flatten() {
            Some(m) => Ok(m),
            None => dpdk(format!("port {}: MAC address", p.id()), p.mac()),
        })
        .collect::<Result<_, _>>()?;

    let result = {
        let mut rxqs: Vec<(usize, RxQueue<'_>)> = Vec::new();
        let mut txqs: Vec<Option<TxQueue<'_>>> = Vec::new();
        for (i, p) in ports.iter().enumerate() {
            let (mut rx, mut tx) = dpdk(format!("port {}: queues", p.id()), p.queues())?;
            rxqs.push((i, rx.remove(0)));
            txqs.push(Some(tx.remove(0)));
        }
        generate(eal, cfg, &pool, &macs, rxqs, txqs, stop, &mut live)
    };
    let mut port_reports = Vec::with_capacity(nports);
    for (i, p) in ports.iter().enumerate() {
        let s = dpdk(format!("port {}: stats", p.id()), p.stats())?;
        port_reports.push(PortReport {
            port: p.id(),
            name: p.info().name.clone(),
            rx: s.rx_packets,
            tx: s.tx_packets,
            missed: s.rx_missed,
            rx_nombuf: s.rx_nombuf,
            foreign: result.as_ref().map_or(0, |r| r.1[i]),
        });
    }
    for p in ports {
        let id = p.id();
        dpdk(format!("closing port {id}"), p.close())?;
    }
    let (mut report, _) = result?;
    report.ports = port_reports;
    Ok(report)
}

/// Checks a config before anything starts ([`run`] checks it too).
pub fn validate(cfg: &Config) -> Result<(), Error> {
    let bad = |m: String| Err(Error::Usage(m));
    if cfg.ports.is_empty() || cfg.ports.len() > 2 {
        return bad(format!("qfp gen uses one or two ports, {} given", cfg.ports.len()));
    }
    if let Some(p) = cfg.tx_ports.iter().find(|p| !cfg.ports.contains(p)) {
        return bad(format!("--tx-ports: port {p} is not one of the ports used ({:?})", cfg.ports));
    }
    let v6 = traffic::is_v6(&cfg.nets[0]);
    if v6 != traffic::is_v6(&cfg.nets[1]) {
        return bad("--net0 and --net1 must be of the same IP version".into());
    }
    cfg.size.check(v6).map_err(|e| Error::Usage(format!("--size: {e}")))?;
    if cfg.burst == 0 || cfg.burst > Burst::CAPACITY {
        return bad(format!("--burst must be 1..={}", Burst::CAPACITY));
    }
    Ok(())
}

/// Waits until every link is up. A port still down after a second is restarted, once a
/// second: a net_memif client connects when its port starts and does not retry, so one
/// started before its server listens would otherwise stay down.
fn wait_for_links(ports: &mut [Port<'_>], wait: Duration) -> Result<(), Error> {
    let start = std::time::Instant::now();
    let mut said = false;
    for p in ports {
        let mut last_restart = std::time::Instant::now();
        loop {
            if dpdk(format!("port {}: link", p.id()), p.link())?.up {
                break;
            }
            if start.elapsed() >= wait {
                return Err(Error::LinkDown(p.id(), wait));
            }
            if !said {
                eprintln!("qfp gen: waiting for the link of port {} ({})", p.id(), p.info().name);
                said = true;
            }
            if last_restart.elapsed() >= Duration::from_secs(1) {
                let id = p.id();
                dpdk(format!("restarting port {id}"), p.stop().and_then(|()| p.start()))?;
                last_restart = std::time::Instant::now();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok(())
}

fn templates(
    cfg: &Config,
    stream: u8,
    flows: &FlowSet,
    src: [u8; 6],
    dst: [u8; 6],
) -> Vec<Vec<u8>> {
    let sizes = cfg.size.distinct();
    let v6 = flows.is_v6();
    let mut out = Vec::with_capacity(cfg.flows as usize * sizes.len());
    for f in 0..u64::from(cfg.flows) {
        for &s in &sizes {
            let s = if v6 && cfg.size == FrameSize::Imix {
                s.max(crate::payload::MIN_FRAME_V6)
            } else {
                s
            };
            let hdr = Header { stream, seq: 0, tsc: 0 };
            out.push(traffic::frame(dst, src, &flows.flow(f), s, &hdr, 0));
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn generate<'p>(
    eal: &Eal,
    cfg: &Config,
    pool: &Mempool<'p>,
    macs: &[[u8; 6]],
    mut rxqs: Vec<(usize, RxQueue<'p>)>,
    mut txqs: Vec<Option<TxQueue<'p>>>,
    stop: &AtomicBool,
    live: &mut impl FnMut(&Live),
) -> Result<(Report, Vec<u64>), Error> {
    let hz = eal.tsc_hz().max(1);
    let ticks = |d: Duration| (d.as_secs_f64() * hz as f64) as u64;
    let ns_per_tick = 1e9 / hz as f64;
    let nsizes = cfg.size.distinct().len();

    let mut streams: Vec<Stream<'p>> = Vec::new();
    let mut slot = [None::<usize>; 256];
    for (i, &port) in cfg.ports.iter().enumerate() {
        if !cfg.tx_ports.contains(&port) {
            continue;
        }
        let flows = FlowSet::new(cfg.nets[i % 2], cfg.nets[(i + 1) % 2], cfg.flows)
            .ok_or_else(|| Error::Usage("bad flows".into()))?;
        let dst = cfg.dst_macs.get(i).copied().unwrap_or([0x02, 0x51, 0x46, 0, 0, i as u8]);
        slot[i] = Some(streams.len());
        streams.push(Stream {
            id: i as u8,
            port_index: i,
            v6: flows.is_v6(),
            templates: templates(cfg, i as u8, &flows, macs[i], dst),
            next_seq: 0,
            pending: Burst::new(),
            tokens: 0.0,
            last_tsc: 0,
            sent: 0,
            tracker: SeqTracker::new(),
            corrupt: 0,
            hist: new_histogram(),
        });
    }
    let mut foreign = vec![0u64; cfg.ports.len()];
    let start = rdtsc();
    let start_unix_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    for s in &mut streams {
        s.last_tsc = start;
    }
    let mut timeline = Timeline::new(cfg.ports.len(), start, ticks(cfg.bucket));
    let send_end = cfg.duration.map(|d| start + ticks(d));
    // The bucket holds 2 ms of tokens: a loop descheduled for a moment (a shared machine)
    // catches up, a burst per iteration, instead of losing rate; longer stalls lose it.
    let token_cap = cfg.rate_pps.map(|r| (r * 0.002).max(cfg.burst as f64));
    let live_ticks = cfg.live_interval.map(ticks);
    let (mut next_live, mut last_live) =
        (start + live_ticks.unwrap_or(u64::MAX / 2), (start, 0u64, 0u64));
    // Per stream: (sent, received) at the last live report.
    let mut last_stream_live = vec![(0u64, 0u64); streams.len()];
    let mut sending = true;
    let mut stopped_by = "duration";
    let mut send_stop_tsc = start;
    let mut drain_end = u64::MAX;
    let mut stops_seen = 0u32;
    let mut empty = 0u32;
    let mut rx = Burst::new();

    loop {
        let now = rdtsc();
        let b = timeline.bucket_of(now);
        let mut work = 0usize;

        if sending {
            let signalled = stop.swap(false, Ordering::Relaxed);
            stops_seen += u32::from(signalled);
            let reason = if signalled {
                Some("signal")
            } else if send_end.is_some_and(|e| now >= e) {
                Some("duration")
            } else if cfg.count.is_some() && streams.iter().all(|s| s.done(cfg.count)) {
                Some("count")
            } else {
                None
            };
            if let Some(r) = reason {
                sending = false;
                stopped_by = r;
                send_stop_tsc = now;
                drain_end = now + ticks(cfg.drain);
                for s in &mut streams {
                    // Built but never taken: not sent, so not counted.
                    s.pending.clear();
                    timeline.at_send(s.id as usize, b, s.sent);
                }
            }
        } else if stop.swap(false, Ordering::Relaxed) {
            stops_seen += 1;
            drain_end = now;
        }

        if sending {
            for s in &mut streams {
                timeline.at_send(s.id as usize, b, s.sent);
                let room = cfg.burst.saturating_sub(s.pending.len());
                let mut want = room as u64;
                if let (Some(rate), Some(cap)) = (cfg.rate_pps, token_cap) {
                    s.tokens = (s.tokens + (now - s.last_tsc) as f64 * rate / hz as f64).min(cap);
                    s.last_tsc = now;
                    want = want.min((s.tokens as u64).saturating_sub(s.pending.len() as u64));
                }
                if let Some(c) = cfg.count {
                    want = want.min(c - s.next_seq);
                }
                let want = want as usize;
                if want > 0 && pool.alloc_bulk(&mut s.pending, want) {
                    let first_new = s.pending.len() - want;
                    let per_flow = nsizes;
                    for m in &mut s.pending.as_mut_slice()[first_new..] {
                        let seq = s.next_seq;
                        s.next_seq += 1;
                        let flow = (seq % u64::from(cfg.flows)) as usize;
                        let tpl = &s.templates[flow * per_flow + size_index(cfg.size, seq)];
                        // A fresh mbuf has room for any standard frame (2048-byte data room).
                        if m.append(tpl.len()).is_ok() {
                            let d = m.data_mut();
                            d.copy_from_slice(tpl);
                            traffic::patch_header(
                                &mut d[14..],
                                s.v6,
                                &Header { stream: s.id, seq, tsc: now },
                            );
                        }
                    }
                }
                if !s.pending.is_empty() {
                    let txq = txqs[s.port_index].as_mut().expect("sending port has a tx queue");
                    let k = txq.tx_burst(&mut s.pending);
                    s.sent += k as u64;
                    if cfg.rate_pps.is_some() {
                        s.tokens -= k as f64;
                    }
                    work += k;
                }
            }
        }

        for (pi, q) in &mut rxqs {
            loop {
                let n = q.rx_burst(&mut rx, cfg.burst);
                if n == 0 {
                    break;
                }
                work += n;
                let now = rdtsc();
                let rb = timeline.bucket_of(now);
                for m in rx.iter() {
                    let Some(r) = traffic::parse_frame(m.data(), cfg.check_pattern) else {
                        foreign[*pi] += 1;
                        continue;
                    };
                    let Some(si) = slot[usize::from(r.header.stream)] else {
                        foreign[*pi] += 1;
                        continue;
                    };
                    let s = &mut streams[si];
                    let id = s.id as usize;
                    let arrival =
                        s.tracker.record(r.header.seq, s.sent, &mut |f, n| timeline.lose(id, f, n));
                    if arrival.is_new() {
                        timeline.at_receive(id, rb);
                        if !r.pattern_ok {
                            s.corrupt += 1;
                        }
                        if r.header.tsc != 0 && now >= r.header.tsc {
                            let ns = ((now - r.header.tsc) as f64 * ns_per_tick) as u64;
                            s.hist.saturating_record(ns.max(1));
                        }
                    }
                }
                rx.clear();
                if n < cfg.burst {
                    break;
                }
            }
        }

        if now >= next_live {
            let (t0, sent0, recv0) = last_live;
            let dt = (now - t0) as f64 / hz as f64;
            let per_stream: Vec<StreamLive> = streams
                .iter()
                .zip(&mut last_stream_live)
                .map(|(s, last)| {
                    let received = s.tracker.counts().received;
                    let l = StreamLive {
                        id: s.id,
                        tx_pps: (s.sent - last.0) as f64 / dt,
                        rx_pps: (received - last.1) as f64 / dt,
                        sent: s.sent,
                        received,
                        missing: s.tracker.missing_so_far(),
                    };
                    *last = (s.sent, received);
                    l
                })
                .collect();
            let sent: u64 = per_stream.iter().map(|s| s.sent).sum();
            let received: u64 = per_stream.iter().map(|s| s.received).sum();
            live(&Live {
                t_s: (now - start) as f64 / hz as f64,
                start_unix_s,
                sending,
                tx_pps: (sent - sent0) as f64 / dt,
                rx_pps: (received - recv0) as f64 / dt,
                sent,
                received,
                missing: per_stream.iter().map(|s| s.missing).sum(),
                streams: per_stream,
            });
            last_live = (now, sent, received);
            next_live = now + live_ticks.unwrap_or(u64::MAX / 2);
        }

        if !sending {
            let accounted = streams.iter().all(|s| s.tracker.counts().received >= s.sent);
            if now >= drain_end || accounted || stops_seen >= 2 {
                break;
            }
        }
        if work > 0 {
            empty = 0;
            continue;
        }
        empty = empty.saturating_add(1);
        match cfg.poll {
            Poll::Busy => {}
            Poll::Adaptive if empty < SPIN_POLLS => {}
            Poll::Adaptive if empty < PAUSE_POLLS => dpdk_sys::pause(),
            Poll::Adaptive => std::thread::sleep(IDLE_SLEEP),
        }
    }

    let end = rdtsc();
    let send_s = (send_stop_tsc - start) as f64 / hz as f64;
    let drain_s = (end - send_stop_tsc) as f64 / hz as f64;
    let mut all = new_histogram();
    let mut reports = Vec::with_capacity(streams.len());
    let n_buckets = timeline.len();
    for s in &mut streams {
        let id = s.id as usize;
        let counts = s.tracker.finish(s.sent, &mut |f, n| timeline.lose(id, f, n));
        let _ = all.add(&s.hist);
        reports.push((
            s.id,
            cfg.ports[s.port_index],
            s.sent,
            counts,
            s.corrupt,
            Latency::of(&s.hist),
        ));
    }
    let n_buckets = n_buckets.max(timeline.len());
    let streams: Vec<StreamReport> = reports
        .into_iter()
        .map(|(id, tx_port, sent, counts, corrupt, latency_us)| StreamReport {
            id,
            tx_port,
            sent,
            counts,
            corrupt,
            tx_pps: if send_s > 0.0 { sent as f64 / send_s } else { 0.0 },
            latency_us,
            timeline: timeline.stream(id as usize, n_buckets, sent),
        })
        .collect();
    let v6 = traffic::is_v6(&cfg.nets[0]);
    let report = Report {
        duration_s: send_s,
        drain_s,
        rate_pps: cfg.rate_pps,
        size: cfg.size.to_string(),
        avg_frame_bytes: cfg.size.average(v6),
        flows: cfg.flows,
        bucket_ms: cfg.bucket.as_secs_f64() * 1000.0,
        total: Report::totals(&streams),
        streams,
        latency_us: Latency::of(&all),
        ports: Vec::new(),
        stopped_by: stopped_by.to_string(),
        start_unix_s,
    };
    Ok((report, foreign))
}
