//! A deterministic in-memory pair: two `Peer`s joined by a simulated link, each with a
//! simulated control core and data plane, so that tests can count every data packet.
//!
//! - Time is simulated (ns); everything random comes from seeded RNGs.
//! - The link delays each datagram by `delay + uniform(0..=jitter)` (so it reorders), loses
//!   it with probability `loss` and duplicates it with probability `dup`. It carries both
//!   peer-channel datagrams and data packets.
//! - The control core calls its `Peer` when a datagram arrives, a timer is due or a test
//!   issues a command, and carries out the returned actions `ctrl_delay` later, in order
//!   (the punt → control core → table-store latency of the real gateway). That latency is
//!   what makes `OutboundFirst` lose packets, as CSCty30063 does on real routers.
//! - The data plane holds the published inbound SAs (SPI → key) and the outbound SA. Every
//!   `data_interval` each side sends one packet with its current outbound SPI and key; on
//!   arrival it decrypts only if the receiver has that SPI with the same key. Unknown SPIs
//!   are punted: with `recovery` on, the control core calls `invalid_spi_seen`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};

use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};

use crate::peer::msg::{Message, MsgType};
use crate::peer::{
    Action, Event, InitialSas, Peer, PeerConfig, RekeyOrder, RekeyReason, SpiAllocator, TunnelId,
};

pub const US: u64 = 1_000;
pub const MS: u64 = 1_000_000;
pub const S: u64 = 1_000_000_000;
/// The simulated wall clock at time 0 (message-id bases).
pub const WALL_BASE: u64 = 1_700_000_000 * S;
pub const PSK: &[u8] = b"qfp simulation psk";
pub const TUNNEL: TunnelId = TunnelId(0x5146_5031);
/// Static SPIs both sides start with (A's outbound = B's inbound and vice versa).
pub const INITIAL_A_TO_B: u32 = 0x1001;
pub const INITIAL_B_TO_A: u32 = 0x2001;

#[derive(Clone, Copy, Debug)]
pub struct Link {
    pub delay: u64,
    pub jitter: u64,
    pub loss: f64,
    pub dup: f64,
}

impl Link {
    pub fn clean(delay: u64) -> Link {
        Link { delay, jitter: 0, loss: 0.0, dup: 0.0 }
    }
}

#[derive(Clone, Debug)]
pub struct Params {
    pub seed: u64,
    pub link: Link,
    pub ctrl_delay: u64,
    /// One data packet each way every this many ns (`None`: no data).
    pub data_interval: Option<u64>,
    pub recovery: bool,
    pub order: RekeyOrder,
    /// Start with the static pair (`INITIAL_*`) rather than no SA at all.
    pub static_sas: bool,
    /// Adjusts node `i`'s config.
    pub tweak: fn(usize, &mut PeerConfig),
}

impl Default for Params {
    fn default() -> Params {
        Params {
            seed: 1,
            link: Link::clean(MS),
            ctrl_delay: 500 * US,
            data_interval: Some(100 * US),
            recovery: true,
            order: RekeyOrder::MakeBeforeBreak,
            static_sas: true,
            tweak: |_, _| {},
        }
    }
}

/// Per-direction packet accounting. Every packet the sender's application offered ends in
/// exactly one of: `no_outbound`, `link_lost`, `lost_down`, `lost_no_sa`, `lost_bad_key`,
/// `received` (duplicates made by the link are counted apart).
#[derive(Clone, Debug, Default)]
pub struct Flow {
    pub offered: u64,
    /// The sender had no outbound SA.
    pub no_outbound: u64,
    /// Dropped by the simulated link (its loss rate, or a cut).
    pub link_lost: u64,
    /// The receiver was down (restarting).
    pub lost_down: u64,
    /// Arrived under an SPI the receiver had not published: the rekey losses.
    pub lost_no_sa: u64,
    /// Arrived under a known SPI but with another key: a derivation bug.
    pub lost_bad_key: u64,
    pub received: u64,
    pub duplicates: u64,
    /// Send times of packets lost to SA state (no outbound, unknown SPI, wrong key).
    pub sa_loss_times: Vec<u64>,
}

impl Flow {
    pub fn sa_lost(&self) -> u64 {
        self.no_outbound + self.lost_no_sa + self.lost_bad_key
    }
    pub fn accounted(&self) -> u64 {
        self.no_outbound
            + self.link_lost
            + self.lost_down
            + self.lost_no_sa
            + self.lost_bad_key
            + self.received
    }
}

/// The SPI allocator of one simulated gateway: random SPIs, never one in use.
pub struct Alloc {
    rng: StdRng,
    pub in_use: BTreeSet<u32>,
    pub bad_releases: Vec<u32>,
    /// Pretend the SPI space is exhausted.
    pub exhausted: bool,
}

impl Alloc {
    pub fn new(rng: StdRng) -> Alloc {
        Alloc { rng, in_use: BTreeSet::new(), bad_releases: Vec::new(), exhausted: false }
    }
}

impl SpiAllocator for Alloc {
    fn allocate(&mut self) -> Option<u32> {
        if self.exhausted {
            return None;
        }
        loop {
            let spi = self.rng.next_u32();
            if spi >= 256 && self.in_use.insert(spi) {
                return Some(spi);
            }
        }
    }
    fn release(&mut self, spi: u32) {
        if !self.in_use.remove(&spi) {
            self.bad_releases.push(spi);
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaState {
    pub key: Vec<u8>,
    pub salt: [u8; 4],
    /// Stands for key and salt in data packets (FNV-1a; collisions between different keys
    /// are negligible for a test oracle).
    fp: u64,
}

impl SaState {
    pub fn new(key: &[u8], salt: [u8; 4]) -> SaState {
        let mut fp = 0xcbf2_9ce4_8422_2325u64;
        for b in key.iter().chain(salt.iter()) {
            fp = (fp ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        SaState { key: key.to_vec(), salt, fp }
    }
}

#[derive(Default)]
pub struct Dataplane {
    pub inbound: HashMap<u32, SaState>,
    pub outbound: Option<(u32, SaState)>,
    /// PublishInbound for an SPI already present (must never happen).
    pub duplicate_publish: u64,
}

/// A compact record of each action carried out, for order assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trace {
    Publish(u32),
    Switch(u32),
    RemoveOut(u32),
    Unpublish(u32),
    Sent(MsgType),
    Dead,
    Alive,
}

pub struct Node {
    pub peer: Peer<StdRng>,
    pub alloc: Alloc,
    pub dp: Dataplane,
    pub addr: IpAddr,
    pub up: bool,
    pub incarnation: u32,
    pub trace: Vec<(u64, Trace)>,
    pub events: Vec<(u64, Event)>,
}

enum Ev {
    Ctrl { to: usize, bytes: Vec<u8> },
    Apply { node: usize, incarnation: u32, actions: Vec<Action> },
    Data { to: usize, spi: u32, fp: u64, seq: u64 },
}

/// What an interceptor decides for one peer-channel datagram.
pub enum Verdict {
    Pass,
    Drop,
    Delay(u64),
}

pub type Interceptor = Box<dyn FnMut(u64, usize, &Message) -> Verdict>;

pub struct Sim {
    pub now: u64,
    pub params: Params,
    pub nodes: [Node; 2],
    pub flows: [Flow; 2],
    pub link_up: bool,
    /// Every datagram each node sent, in order (for replay tests).
    pub sent_datagrams: [Vec<Vec<u8>>; 2],
    pub intercept: Option<Interceptor>,
    queue: BTreeMap<(u64, u64), Ev>,
    seq: u64,
    /// Each peer's `poll_timeout`, refreshed after every call into it.
    timers: [Option<u64>; 2],
    link_rng: StdRng,
    next_data: u64,
    data_seq: u64,
    seen: [Vec<bool>; 2],
}

pub fn config(p: &Params, i: usize) -> PeerConfig {
    let mut c = PeerConfig::new(TUNNEL, PSK);
    c.rekey_order = p.order;
    (p.tweak)(i, &mut c);
    c
}

fn initial_key(spi: u32) -> SaState {
    SaState::new(&spi.to_be_bytes().repeat(4), [1, 2, 3, 4])
}

impl Sim {
    pub fn new(params: Params) -> Sim {
        let nodes = [0usize, 1].map(|i| Sim::make_node(&params, i, 0, 0, params.static_sas));
        let mut sim = Sim {
            now: 0,
            link_rng: StdRng::seed_from_u64(params.seed ^ 0x1111),
            params,
            nodes,
            flows: Default::default(),
            link_up: true,
            sent_datagrams: Default::default(),
            intercept: None,
            queue: BTreeMap::new(),
            seq: 0,
            timers: [None; 2],
            next_data: 0,
            data_seq: 0,
            seen: Default::default(),
        };
        sim.drain(0);
        sim.drain(1);
        sim
    }

    fn make_node(p: &Params, i: usize, now: u64, incarnation: u32, static_sas: bool) -> Node {
        let seed = p.seed.wrapping_mul(1000).wrapping_add(i as u64 * 100 + u64::from(incarnation));
        let (out, inb) = if i == 0 {
            (INITIAL_A_TO_B, INITIAL_B_TO_A)
        } else {
            (INITIAL_B_TO_A, INITIAL_A_TO_B)
        };
        let mut alloc = Alloc::new(StdRng::seed_from_u64(seed ^ 0xa110c));
        let mut dp = Dataplane::default();
        let initial = if static_sas {
            alloc.in_use.insert(inb);
            dp.inbound.insert(inb, initial_key(inb));
            dp.outbound = Some((out, initial_key(out)));
            InitialSas { outbound: Some(out), inbound: vec![inb] }
        } else {
            InitialSas::default()
        };
        let peer =
            Peer::new(config(p, i), initial, now, WALL_BASE + now, StdRng::seed_from_u64(seed))
                .expect("valid config");
        Node {
            peer,
            alloc,
            dp,
            addr: IpAddr::V4(Ipv4Addr::new(172, 16, 1 + i as u8, 5)),
            up: true,
            incarnation,
            trace: Vec::new(),
            events: Vec::new(),
        }
    }

    fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.insert((at, self.seq), ev);
    }

    /// Collects the actions of node `i`'s peer and schedules them `ctrl_delay` from now.
    fn drain(&mut self, i: usize) {
        self.timers[i] = self.nodes[i].peer.poll_timeout();
        let mut actions = Vec::new();
        while let Some(a) = self.nodes[i].peer.poll_action() {
            actions.push(a);
        }
        if !actions.is_empty() {
            let incarnation = self.nodes[i].incarnation;
            self.push(
                self.now + self.params.ctrl_delay,
                Ev::Apply { node: i, incarnation, actions },
            );
        }
    }

    /// Runs a command against node `i`'s peer now (as the control core would).
    pub fn with_peer(&mut self, i: usize, f: impl FnOnce(&mut Peer<StdRng>, &mut Alloc, u64)) {
        let now = self.now;
        let n = &mut self.nodes[i];
        f(&mut n.peer, &mut n.alloc, now);
        self.drain(i);
    }

    pub fn rekey(&mut self, i: usize) {
        self.with_peer(i, |p, a, now| p.rekey_now(now, RekeyReason::Manual, a));
    }

    /// Delivers raw bytes to node `i`'s peer now, as if received from the other side.
    pub fn inject(&mut self, i: usize, bytes: &[u8]) {
        self.with_peer(i, |p, a, now| p.handle_datagram(now, bytes, a));
    }

    fn transmit(&mut self, from: usize, mut deliver: impl FnMut(&mut Sim, u64)) -> bool {
        let to_up = self.nodes[1 - from].up;
        if !self.link_up || !self.nodes[from].up || !to_up {
            return false;
        }
        let copies = if self.link_rng.random_bool(self.params.link.dup) { 2 } else { 1 };
        let mut any = false;
        for _ in 0..copies {
            if self.link_rng.random_bool(self.params.link.loss) {
                continue;
            }
            let j = if self.params.link.jitter > 0 {
                self.link_rng.random_range(0..=self.params.link.jitter)
            } else {
                0
            };
            deliver(self, self.now + self.params.link.delay + j);
            any = true;
        }
        any
    }

    fn apply(&mut self, i: usize, actions: Vec<Action>) {
        let now = self.now;
        for a in actions {
            let trace = match a {
                Action::Send(bytes) => {
                    let msg =
                        Message::decode_unauthenticated(&bytes).expect("we send valid messages");
                    self.sent_datagrams[i].push(bytes.clone());
                    let verdict = match &mut self.intercept {
                        Some(f) => f(now, i, &msg),
                        None => Verdict::Pass,
                    };
                    let extra = match verdict {
                        Verdict::Pass => Some(0),
                        Verdict::Drop => None,
                        Verdict::Delay(d) => Some(d),
                    };
                    if let Some(extra) = extra {
                        self.transmit(i, |sim, at| {
                            sim.push(at + extra, Ev::Ctrl { to: 1 - i, bytes: bytes.clone() })
                        });
                    }
                    Trace::Sent(msg.body.msg_type())
                }
                Action::PublishInbound(p) => {
                    let dp = &mut self.nodes[i].dp;
                    let sa = SaState::new(p.keys.key(), p.keys.salt());
                    if dp.inbound.insert(p.spi, sa).is_some() {
                        dp.duplicate_publish += 1;
                    }
                    Trace::Publish(p.spi)
                }
                Action::SwitchOutbound(p) => {
                    let sa = SaState::new(p.keys.key(), p.keys.salt());
                    self.nodes[i].dp.outbound = Some((p.spi, sa));
                    Trace::Switch(p.spi)
                }
                Action::RemoveOutbound { spi } => {
                    let dp = &mut self.nodes[i].dp;
                    if dp.outbound.as_ref().is_some_and(|(s, _)| *s == spi) {
                        dp.outbound = None;
                    }
                    Trace::RemoveOut(spi)
                }
                Action::UnpublishInbound { spi } => {
                    self.nodes[i].dp.inbound.remove(&spi);
                    Trace::Unpublish(spi)
                }
                Action::PeerDead => Trace::Dead,
                Action::PeerAlive => Trace::Alive,
                Action::Log(e) => {
                    self.nodes[i].events.push((now, e));
                    continue;
                }
            };
            self.nodes[i].trace.push((now, trace));
        }
    }

    fn send_data(&mut self) {
        self.data_seq += 1;
        let seq = self.data_seq;
        for i in 0..2 {
            if !self.nodes[i].up {
                continue;
            }
            self.flows[i].offered += 1;
            let Some((spi, sa)) = &self.nodes[i].dp.outbound else {
                self.flows[i].no_outbound += 1;
                self.flows[i].sa_loss_times.push(self.now);
                continue;
            };
            let (spi, fp) = (*spi, sa.fp);
            let sent =
                self.transmit(i, |sim, at| sim.push(at, Ev::Data { to: 1 - i, spi, fp, seq }));
            if !sent {
                if self.nodes[1 - i].up {
                    self.flows[i].link_lost += 1;
                } else {
                    self.flows[i].lost_down += 1;
                }
            }
        }
    }

    fn receive_data(&mut self, to: usize, spi: u32, fp: u64, seq: u64) {
        let from = 1 - to;
        let seen = &mut self.seen[from];
        let idx = seq as usize;
        if seen.len() <= idx {
            seen.resize(idx + 1, false);
        }
        if seen[idx] {
            self.flows[from].duplicates += 1;
            return;
        }
        seen[idx] = true;
        let send_time = self.now; // approximate; only used to locate losses
        let flow = &mut self.flows[from];
        if !self.nodes[to].up {
            flow.lost_down += 1;
            return;
        }
        match self.nodes[to].dp.inbound.get(&spi) {
            None => {
                flow.lost_no_sa += 1;
                flow.sa_loss_times.push(send_time);
                if self.params.recovery {
                    let (src, dst) = (self.nodes[from].addr, self.nodes[to].addr);
                    self.with_peer(to, |p, _, now| {
                        p.invalid_spi_seen(now, spi, src, dst);
                    });
                }
            }
            Some(sa) if sa.fp != fp => {
                flow.lost_bad_key += 1;
                flow.sa_loss_times.push(send_time);
            }
            Some(_) => flow.received += 1,
        }
    }

    /// Runs the simulation until `t` (inclusive).
    pub fn run_until(&mut self, t: u64) {
        loop {
            let next_ev = self.queue.keys().next().map(|k| k.0);
            let next_timer =
                (0..2).filter(|&i| self.nodes[i].up).filter_map(|i| self.timers[i]).min();
            let next_data = self.params.data_interval.map(|_| self.next_data);
            let Some(next) = [next_ev, next_timer, next_data].into_iter().flatten().min() else {
                self.now = t;
                return;
            };
            if next > t {
                self.now = t;
                return;
            }
            self.now = next;
            if next_ev == Some(next) {
                let (_, ev) = self.queue.pop_first().expect("peeked");
                match ev {
                    Ev::Ctrl { to, bytes } => {
                        if self.nodes[to].up {
                            self.inject(to, &bytes);
                        }
                    }
                    Ev::Apply { node, incarnation, actions } => {
                        if self.nodes[node].incarnation == incarnation && self.nodes[node].up {
                            self.apply(node, actions);
                        }
                    }
                    Ev::Data { to, spi, fp, seq } => self.receive_data(to, spi, fp, seq),
                }
            } else if next_timer == Some(next) {
                for i in 0..2 {
                    if self.nodes[i].up && self.timers[i].is_some_and(|x| x <= next) {
                        self.with_peer(i, |p, a, now| p.handle_timeout(now, a));
                    }
                }
            } else {
                self.send_data();
                self.next_data += self.params.data_interval.expect("data on");
            }
        }
    }

    /// Stops the data flows (to let a long settling phase run cheaply).
    pub fn stop_data(&mut self) {
        self.params.data_interval = None;
    }

    /// Takes node `i` down now (its process stops: state lost, nothing sent or received).
    pub fn crash(&mut self, i: usize) {
        self.nodes[i].up = false;
    }

    /// Starts a fresh run of node `i` (same PSK and config), with or without static SAs.
    pub fn restart(&mut self, i: usize, static_sas: bool) {
        let inc = self.nodes[i].incarnation + 1;
        self.nodes[i] = Sim::make_node(&self.params, i, self.now, inc, static_sas);
        self.drain(i);
    }

    /// Whether the two sides agree: each side's outbound SPI is published on the other
    /// side with the same key and salt, and each peer's bookkeeping matches its data plane
    /// and its allocator.
    pub fn check_consistent(&self) -> Result<(), String> {
        for i in 0..2 {
            let (me, other) = (&self.nodes[i], &self.nodes[1 - i]);
            let Some((spi, sa)) = &me.dp.outbound else {
                return Err(format!("node {i} has no outbound SA"));
            };
            match other.dp.inbound.get(spi) {
                None => return Err(format!("node {i} sends with {spi:#x}, unknown to the peer")),
                Some(k) if k != sa => return Err(format!("keys of {spi:#x} differ")),
                Some(_) => {}
            }
            if me.peer.outbound_spi() != Some(*spi) {
                return Err(format!("node {i}: peer outbound differs from data plane"));
            }
            let published: BTreeSet<u32> = me.dp.inbound.keys().copied().collect();
            let booked: BTreeSet<u32> = me.peer.inbound_spis().into_iter().collect();
            if published != booked {
                return Err(format!("node {i}: data plane {published:x?} != peer {booked:x?}"));
            }
            if me.alloc.in_use != booked {
                return Err(format!(
                    "node {i}: allocator {:x?} != inbound {booked:x?}",
                    me.alloc.in_use
                ));
            }
            if !me.alloc.bad_releases.is_empty() || me.dp.duplicate_publish != 0 {
                return Err(format!("node {i}: bad releases or duplicate publish"));
            }
        }
        Ok(())
    }

    pub fn count_events(&self, i: usize, f: impl Fn(&Event) -> bool) -> usize {
        self.nodes[i].events.iter().filter(|(_, e)| f(e)).count()
    }

    pub fn count_trace(&self, i: usize, f: impl Fn(&Trace) -> bool) -> usize {
        self.nodes[i].trace.iter().filter(|(_, t)| f(t)).count()
    }

    /// Prints both nodes' traces and events in time order (debugging aid).
    #[allow(dead_code)]
    pub fn dump(&self, from: u64) {
        for i in 0..2 {
            let n = &self.nodes[i];
            let mut all: Vec<(u64, String)> =
                n.trace.iter().map(|(t, x)| (*t, format!("{x:x?}"))).collect();
            all.extend(n.events.iter().map(|(t, e)| (*t, format!("{e}"))));
            all.sort_by_key(|x| x.0);
            for (t, x) in all.into_iter().filter(|x| x.0 >= from) {
                eprintln!("{i} {:>10.3} ms  {x}", t as f64 / 1e6);
            }
        }
    }
}
