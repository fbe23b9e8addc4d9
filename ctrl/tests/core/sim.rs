//! Two gateways in memory, each the real thing minus DPDK: tables and `GatewayControl`
//! built from a config, two workers over heap-buffer ports, and the `ControlCore` of
//! `qfp run -c`. Their unprotected ports are joined by a simulated wire; each protected
//! port gets one numbered packet every `data_interval` for the other side, and every
//! packet that comes out of the other side's protected port is counted by its number.
//!
//! Time is simulated (ns) and everything random is seeded: a run is reproducible. The wire
//! delays data packets by a fixed `delay` (never loses them: every data loss is the
//! gateways'), and peer-channel datagrams by `delay + uniform(0..=jitter)` (so they
//! reorder), losing each with probability `loss` and duplicating it with `dup`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Instant;

use ctrl::config::{self, Config};
use ctrl::gateway::build;
use ctrl::gateway::control::GatewayControl;
use ctrl::gateway::core::{ControlCore, CoreSettings, LogSink};
use ctrl::gateway::shard::Sharding;
use ctrl::gateway::spi::SpiPool;
use dataplane::gateway::heap_io::{HeapIo, HeapPort};
use dataplane::gateway::{Shared, Worker, WorkerConf, WorkerSnapshot};
use dataplane::{DropReason, HeapBuf};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

pub const US: u64 = 1_000;
pub const MS: u64 = 1_000_000;
pub const S: u64 = 1_000_000_000;

/// The peer-channel part of the wire.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    pub delay: u64,
    pub jitter: u64,
    pub loss: f64,
    pub dup: f64,
}

impl Link {
    pub fn clean() -> Link {
        Link { delay: MS, jitter: 0, loss: 0.0, dup: 0.0 }
    }
}

/// How a run is set up.
#[derive(Debug, Clone)]
pub struct Params {
    pub link: Link,
    pub data_interval: u64,
    /// Control-core tick (the binary uses 2 ms with a PSK tunnel).
    pub tick: u64,
    pub settings: [CoreSettings; 2],
    /// Extra `[tunnel.lifetime]` lines, both sides.
    pub lifetime: &'static str,
    pub psk: bool,
    /// ESP in UDP 4500 (NAT-T) instead of plain ESP.
    pub natt: bool,
    pub seed: u64,
    /// `(n, k)`: every `k` steps the unprotected tx queue has `n` places again, and none
    /// in between (`None`: unbounded): with `flood`, a tx queue kept full by data, which
    /// the wire drains in bursts.
    pub tx_room: Option<(usize, u64)>,
    /// Data packets each side sends per step (a flood when above `tx_room`).
    pub flood: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            link: Link::clean(),
            data_interval: 200 * US,
            tick: 2 * MS,
            settings: [CoreSettings::default(), CoreSettings::default()],
            lifetime: "",
            psk: true,
            natt: false,
            seed: 1,
            tx_room: None,
            flood: 1,
        }
    }
}

const KEY_AB: &str = "00112233445566778899aabbccddeeff";
const SALT_AB: &str = "01020304";
const KEY_BA: &str = "ffeeddccbbaa99887766554433221100";
const SALT_BA: &str = "05060708";
pub const ADDR: [&str; 2] = ["172.16.1.5", "172.16.2.5"];
/// Inner networks behind A and B.
const LAN: [[u8; 2]; 2] = [[10, 1], [10, 2]];
/// The static SPIs: A encrypts with 0x1001 (B's inbound), B with 0x2001 (A's inbound).
pub const STATIC_OUT: [u32; 2] = [0x1001, 0x2001];

/// The config of gateway `i` (0: A, 1: B), mirroring the other.
pub fn config_text(i: usize, p: &Params) -> String {
    let o = 1 - i;
    let (out, inb) = if i == 0 {
        ((0x1001, KEY_AB, SALT_AB), (0x2001, KEY_BA, SALT_BA))
    } else {
        ((0x2001, KEY_BA, SALT_BA), (0x1001, KEY_AB, SALT_AB))
    };
    let psk = if p.psk { "psk = \"a shared secret of the pair\"" } else { "" };
    let lifetime = if p.lifetime.is_empty() {
        String::new()
    } else {
        format!("[tunnel.lifetime]\n{}\n", p.lifetime)
    };
    format!(
        r#"
[gateway]
protected_port = 0
unprotected_port = 1
local = "{local}"

[[tunnel]]
name = "to-{peer_name}"
peer = "{peer}"
next_hop_mac = "02:00:00:00:0{o}:01"
selectors = ["{on0}.{on1}.0.0/16"]
natt = {natt}
{psk}
{lifetime}
[[tunnel.sa]]
dir = "out"
spi = {out_spi}
aead = "aes-128-gcm"
key = "{out_key}"
salt = "{out_salt}"
[[tunnel.sa]]
dir = "in"
spi = {in_spi}
aead = "aes-128-gcm"
key = "{in_key}"
salt = "{in_salt}"

[[route]]
dst = "{mn0}.{mn1}.0.0/16"
next_hop_mac = "02:00:00:00:0{i}:09"
"#,
        local = ADDR[i],
        natt = p.natt,
        peer = ADDR[o],
        peer_name = ["a", "b"][o],
        on0 = LAN[o][0],
        on1 = LAN[o][1],
        mn0 = LAN[i][0],
        mn1 = LAN[i][1],
        out_spi = out.0,
        out_key = out.1,
        out_salt = out.2,
        in_spi = inb.0,
        in_key = inb.1,
        in_salt = inb.2,
    )
}

/// One gateway.
pub struct Node {
    pub cfg: Config,
    pub gw: GatewayControl<'static, HeapBuf>,
    pub core: ControlCore,
    pub shared: &'static Shared<HeapBuf>,
    pub workers: Vec<Worker<'static, HeapIo>>,
    pub lan: Arc<HeapPort>,
    pub wan: Arc<HeapPort>,
}

impl Node {
    pub fn new(i: usize, p: &Params) -> Node {
        const WORKERS: u16 = 2;
        let cfg = config::parse(&config_text(i, p), ["a.toml", "b.toml"][i]).unwrap();
        let macs = [[2, 0, 0, 0, i as u8, 0], [2, 0, 0, 0, i as u8, 1]];
        let mut sharding = Sharding::new(WORKERS, 1, None);
        let (writer, tunnels) = build::tables(&cfg, WORKERS, macs, &mut sharding, 1024).unwrap();
        // The gateway's rings and counters live as long as the test process: workers and
        // the control side borrow them, as in `qfp run` where they live on its stack.
        let shared: &'static Shared<HeapBuf> =
            Box::leak(Box::new(Shared::new(writer.tables(), usize::from(WORKERS), 1024, 256)));
        let mut pool = SpiPool::new(StdRng::seed_from_u64(p.seed ^ (0x5151 + i as u64)));
        for t in &cfg.tunnels {
            for sa in &t.inbound {
                pool.reserve(sa.spi);
            }
        }
        let alloc = Box::new(|f: &[u8]| Some(HeapBuf::new(f)));
        let mut gw =
            GatewayControl::new(writer, shared, sharding, pool, tunnels, Instant::now(), alloc);
        build::publish_static(&mut gw, &cfg, 0, true).unwrap();
        let core = ControlCore::new(
            &cfg,
            p.settings[i].clone(),
            0,
            (i as u64 + 1) * 1_000_000 * S,
            StdRng::seed_from_u64(p.seed ^ (0xc0de + i as u64)),
            LogSink::Capture(Vec::new()),
        )
        .unwrap();
        let (lan, wan) = (HeapPort::new(usize::from(WORKERS)), HeapPort::new(usize::from(WORKERS)));
        let workers = (0..WORKERS)
            .map(|w| {
                let io = HeapIo::new(lan.clone(), wan.clone(), usize::from(w));
                Worker::new(w, io, shared, WorkerConf::default())
            })
            .collect();
        Node { cfg, gw, core, shared, workers, lan, wan }
    }

    /// Drops by reason, summed over workers.
    pub fn drops(&self, r: DropReason) -> u64 {
        self.totals().counters.drops(r)
    }

    pub fn totals(&self) -> WorkerSnapshot {
        let mut t = WorkerSnapshot::default();
        for s in self.shared.stats.iter() {
            t += &s.snapshot();
        }
        t
    }

    /// The SPI the tunnel encrypts with.
    pub fn outbound_spi(&self) -> Option<u32> {
        self.gw.writer().outbound(0).map(|s| s.spi())
    }

    /// The inbound SPIs published.
    pub fn inbound_spis(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.gw.writer().inbound().map(|e| e.sa.spi()).collect();
        v.sort_unstable();
        v
    }

    pub fn log(&self) -> &[String] {
        self.core.captured_log()
    }
}

/// One direction's data packets.
#[derive(Debug, Default, Clone)]
pub struct Flow {
    pub sent: u64,
    seen: Vec<bool>,
    pub received: u64,
    pub duplicates: u64,
}

impl Flow {
    pub fn lost(&self) -> u64 {
        self.sent - self.received
    }

    /// Packets numbered `from..` that did not arrive.
    pub fn lost_from(&self, from: u64) -> u64 {
        (from..self.sent).filter(|&n| !self.seen.get(n as usize).copied().unwrap_or(false)).count()
            as u64
    }

    /// The first number `>= from` from which every packet arrived.
    pub fn whole_from(&self) -> u64 {
        (0..self.sent).rev().find(|&n| !self.seen[n as usize]).map_or(0, |n| n + 1)
    }
}

/// A frame on the wire.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct OnWire {
    at: u64,
    order: u64,
    to: usize,
    frame: Vec<u8>,
}

pub struct Sim {
    pub now: u64,
    pub nodes: [Node; 2],
    /// 0: A to B, 1: B to A.
    pub flows: [Flow; 2],
    pub sending: bool,
    /// The wire is cut: everything put on it is lost (data included).
    pub link_down: bool,
    /// Every peer-channel datagram put on the wire (frames), for replays.
    pub control_frames: Vec<(usize, Vec<u8>)>,
    pub params: Params,
    wire: BinaryHeap<Reverse<OnWire>>,
    order: u64,
    next_tick: u64,
    rng: StdRng,
}

/// Whether a frame is a peer-channel datagram (UDP to port 500; ESP in UDP is to 4500).
pub fn is_control(frame: &[u8]) -> bool {
    frame.len() >= 14 + 28 && frame[14 + 9] == 17 && frame[14 + 22..14 + 24] == [1, 0xf4]
}

fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 =
        b.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// A plain frame from LAN `i` to LAN `1 - i` carrying number `n`.
pub fn plain(i: usize, n: u64) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, i as u8, 0, 2, 0, 0, 0, i as u8, 8, 0x08, 0x00];
    let (src, dst) = (LAN[i], LAN[1 - i]);
    let mut ip = vec![0x45, 0, 0, 44, 0, 0, 0x40, 0, 64, 17, 0, 0];
    ip.extend_from_slice(&[src[0], src[1], 0, 1, dst[0], dst[1], 0, 1]);
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0x30, 0x39, 0x30, 0x39, 0, 24, 0, 0]);
    f.extend_from_slice(b"qfp-core");
    f.extend_from_slice(&n.to_be_bytes());
    f
}

/// The number in a decapsulated frame (None if it is not one of ours).
pub fn number(frame: &[u8]) -> Option<u64> {
    let p = frame.get(14 + 28..14 + 44)?;
    (p[..8] == *b"qfp-core").then(|| u64::from_be_bytes(p[8..16].try_into().unwrap()))
}

impl Sim {
    pub fn new(params: Params) -> Sim {
        let nodes = [Node::new(0, &params), Node::new(1, &params)];
        Sim {
            now: 0,
            nodes,
            flows: [Flow::default(), Flow::default()],
            sending: true,
            link_down: false,
            control_frames: Vec::new(),
            wire: BinaryHeap::new(),
            order: 0,
            next_tick: 0,
            rng: StdRng::seed_from_u64(params.seed ^ 0x11),
            params,
        }
    }

    fn put(&mut self, at: u64, to: usize, frame: Vec<u8>) {
        self.order += 1;
        self.wire.push(Reverse(OnWire { at, order: self.order, to, frame }));
    }

    /// Puts a frame on node `to`'s unprotected port now (forgeries, replays).
    pub fn inject_wan(&mut self, to: usize, frame: Vec<u8>) {
        let at = self.now;
        self.put(at, to, frame);
    }

    /// Runs until `t` (ns).
    pub fn run_until(&mut self, t: u64) {
        let step = self.params.data_interval;
        while self.now + step <= t {
            self.now += step;
            let now = self.now;
            if self.sending {
                for i in 0..2 {
                    for _ in 0..self.params.flood {
                        let n = self.flows[i].sent;
                        self.flows[i].sent += 1;
                        self.flows[i].seen.push(false);
                        self.nodes[i].lan.inject(0, &plain(i, n));
                    }
                }
            }
            if let Some((room, every)) = self.params.tx_room {
                let room = if (now / step) % every == 0 { room } else { 0 };
                for node in &self.nodes {
                    node.wan.set_tx_room(room);
                }
            }
            while self.wire.peek().is_some_and(|w| w.0.at <= now) {
                let Reverse(w) = self.wire.pop().unwrap();
                self.nodes[w.to].wan.inject(0, &w.frame);
            }
            for node in &mut self.nodes {
                // Twice: the second poll takes what the first handed to the other worker.
                for _ in 0..2 {
                    for w in &mut node.workers {
                        w.poll(now, true);
                    }
                }
            }
            for i in 0..2 {
                for frame in self.nodes[i].wan.take_all_sent() {
                    let l = self.params.link;
                    if self.link_down {
                        continue;
                    }
                    if is_control(&frame) {
                        self.control_frames.push((1 - i, frame.clone()));
                        if self.rng.random_bool(l.loss) {
                            continue;
                        }
                        let copies = if self.rng.random_bool(l.dup) { 2 } else { 1 };
                        for _ in 0..copies {
                            let at = now + l.delay + self.rng.random_range(0..=l.jitter);
                            self.put(at, 1 - i, frame.clone());
                        }
                    } else {
                        self.put(now + l.delay, 1 - i, frame);
                    }
                }
                // What leaves i's protected port came from the other side: flow 1 - i.
                for frame in self.nodes[i].lan.take_all_sent() {
                    let f = &mut self.flows[1 - i];
                    match number(&frame) {
                        Some(n) if (n as usize) < f.seen.len() => {
                            if f.seen[n as usize] {
                                f.duplicates += 1;
                            } else {
                                f.seen[n as usize] = true;
                                f.received += 1;
                            }
                        }
                        _ => panic!("unexpected frame on the protected port: {frame:02x?}"),
                    }
                }
            }
            if now >= self.next_tick {
                for node in &mut self.nodes {
                    node.core.tick(&mut node.gw, now);
                }
                self.next_tick = now + self.params.tick;
            }
        }
    }

    /// Stops the traffic and runs until everything in flight has arrived.
    pub fn drain(&mut self) {
        self.sending = false;
        let t = self.now + 20 * MS;
        self.run_until(t);
    }

    /// Runs a closure on node `i`'s control core and gateway at the current time.
    pub fn with<T>(
        &mut self,
        i: usize,
        f: impl FnOnce(&mut ControlCore, &mut GatewayControl<'static, HeapBuf>, u64) -> T,
    ) -> T {
        let now = self.now;
        let n = &mut self.nodes[i];
        f(&mut n.core, &mut n.gw, now)
    }

    pub fn report(&self, name: &str) {
        for (i, f) in self.flows.iter().enumerate() {
            let n = &self.nodes[i];
            let s = n.core.peer(0).map(|p| p.stats().clone()).unwrap_or_default();
            eprintln!(
                "{name} {}: sent {} received {} dups {} | sender out-no-SA {} | receiver no-SPI {} | \
                 rekeys {} initiated {} completed {} coalesced {} collisions won {} lost {}",
                ["A->B", "B->A"][i],
                f.sent,
                f.received,
                f.duplicates,
                n.drops(DropReason::OutSaNotFoundV4),
                self.nodes[1 - i].drops(DropReason::SaNotFoundV4),
                n.gw.tunnels()[0].rekeys,
                s.rekeys_initiated,
                s.rekeys_completed,
                s.rekeys_coalesced,
                s.collisions_won,
                s.collisions_lost,
            );
        }
    }
}
