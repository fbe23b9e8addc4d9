//! The `Peer`: per-tunnel state of the peer channel and the rekey state machine, its
//! construction, its inputs and timers (quinn style: `handle_datagram`, `handle_timeout`,
//! `poll_timeout`, `poll_action`), and the effects every handler uses (publish, switch,
//! send, request). The handlers themselves live in `rekey.rs` (the exchange) and
//! `liveness.rs` (HELLO, DELETE, INVALID_SPI, clear).
//!
//! What the `Peer` remembers of the SAs is SPIs and their order, never keys: keys leave in
//! the actions the moment they are derived (the responder's future outbound keys excepted,
//! held until REKEY_DONE). Old inbound SAs are ordered by a generation number rather than by
//! "the previous SA", so that superseded half-open SAs and several overlapping rekeys retire
//! correctly: an exchange that completes retires every inbound SA published before its own.

use std::collections::VecDeque;

use rand::CryptoRng;

use super::action::{
    Action, Event, ExchangeState, InitialSas, PeerStats, RejectKind, RekeyReason, Role, SaParams,
    SpiAllocator,
};
use super::auth::{self, KdfSalt, MacKey, Reject, ReplayWindow, derive_channel_keys};
use super::config::{ConfigError, PeerConfig};
use super::kdf::{Ephemeral, SaKeys};
use super::msg::{
    Ack, AckStatus, Body, Delete, DeleteEntry, Message, MsgType, NONCE_LEN, TunnelId,
};
use super::requests::{Backoff, Due, ReqId, ReqKind, Requests};

const MS: u64 = 1_000_000;
/// Completed responder exchanges remembered to answer late REKEY_INIT copies identically.
pub(super) const RECENT_RESPONSES: usize = 4;
/// Nonces of REKEY_INITs that lost a collision against ours (their copies are ignored).
pub(super) const BEATEN_NONCES: usize = 8;
/// Message ids of our abandoned REKEY_INIT transmissions (answers to them get a DELETE).
pub(super) const ABANDONED_IDS: usize = 32;
/// SPIs 1..=255 are reserved (RFC 4303 §2.1), 0 is never an SPI.
pub(super) const MIN_SPI: u32 = 256;

pub(super) struct Timing {
    pub overlap: u64,
    pub hello: u64,
    pub grace: u64,
    pub holdoff: u64,
    pub soft_jitter: u64,
    pub repair_delay: u64,
    pub reject_log: u64,
    /// How long a responder waits for REKEY_DONE before forgetting the exchange: twice
    /// the initiator's whole retransmission budget.
    pub half_open: u64,
    pub backoff: Backoff,
}

impl Timing {
    fn new(c: &PeerConfig) -> Timing {
        let backoff = Backoff {
            initial: c.retransmit_initial_ms * MS,
            max: c.retransmit_max_ms * MS,
            max_transmissions: c.max_transmissions,
        };
        let mut budget = 0u64;
        let mut rto = backoff.initial;
        for _ in 0..c.max_transmissions {
            budget = budget.saturating_add(rto);
            rto = rto.saturating_mul(2).min(backoff.max);
        }
        Timing {
            overlap: c.rekey_overlap_ms * MS,
            hello: c.hello_interval_ms * MS,
            grace: c.invalid_spi_grace_ms * MS,
            holdoff: c.notify_holdoff_ms * MS,
            soft_jitter: c.soft_jitter_ms * MS,
            repair_delay: c.repair_delay_ms * MS,
            reject_log: c.reject_log_interval_ms * MS,
            half_open: budget.saturating_mul(2),
            backoff,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) struct OutSa {
    pub spi: u32,
    /// When we switched to it (for the INVALID_SPI grace period).
    pub since: u64,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct InSa {
    pub spi: u32,
    /// Publication order: an exchange retires every inbound SA older than its own.
    pub generation: u64,
    pub retire_at: Option<u64>,
}

pub(super) enum InitPhase {
    AwaitResp {
        eph: Ephemeral,
        req: ReqId,
    },
    AwaitDoneAck {
        spi_r: u32,
        generation: u64,
        req: ReqId,
        /// Message id of the REKEY_RESP (tells which run of the peer answered).
        resp_msg_id: u64,
    },
}

/// Our own exchange.
pub(super) struct Initiator {
    pub ni: [u8; NONCE_LEN],
    pub spi_a: u32,
    pub phase: InitPhase,
}

/// The peer's exchange we answered, until its REKEY_DONE.
pub(super) struct Responder {
    pub ni: [u8; NONCE_LEN],
    pub nr: [u8; NONCE_LEN],
    pub public: [u8; 32],
    pub spi_a: u32,
    pub spi_b: u32,
    pub generation: u64,
    /// Message id of the REKEY_INIT (tells which run of the peer started it).
    pub init_msg_id: u64,
    /// Our new outbound SA's keys, held until REKEY_DONE (`None` once switched early).
    pub out_keys: Option<SaKeys>,
    pub expires_at: u64,
}

/// A completed responder exchange, to answer late copies of its REKEY_INIT identically.
pub(super) struct Recent {
    pub ni: [u8; NONCE_LEN],
    pub nr: [u8; NONCE_LEN],
    pub public: [u8; 32],
    pub spi_a: u32,
    pub spi_b: u32,
    pub until: u64,
}

/// Rate limit of rejection logs, per kind.
#[derive(Default)]
pub(super) struct RejectLog {
    last: [Option<u64>; 4],
    suppressed: [u64; 4],
}

/// The peer channel and rekey state machine of one tunnel. No I/O, no clock: feed it
/// datagrams, timer ticks and commands; carry out its actions. See the module docs of
/// `ctrl::peer` for how the control core drives it.
pub struct Peer<R> {
    pub(super) tunnel: TunnelId,
    pub(super) cfg: PeerConfig,
    pub(super) t: Timing,
    pub(super) mac: MacKey,
    pub(super) kdf_salt: KdfSalt,
    pub(super) rng: R,
    pub(super) next_msg_id: u64,
    pub(super) window: ReplayWindow,
    pub(super) actions: VecDeque<Action>,
    pub(super) stats: PeerStats,
    pub(super) outbound: Option<OutSa>,
    pub(super) inbound: Vec<InSa>,
    pub(super) next_generation: u64,
    pub(super) initiator: Option<Initiator>,
    pub(super) responder: Option<Responder>,
    pub(super) recent: VecDeque<Recent>,
    pub(super) beaten: VecDeque<[u8; NONCE_LEN]>,
    pub(super) abandoned_ids: VecDeque<u64>,
    pub(super) requests: Requests,
    pub(super) rekey_at: Option<(u64, RekeyReason)>,
    pub(super) deferred_rekey: Option<RekeyReason>,
    pub(super) alive: bool,
    pub(super) last_rx: u64,
    pub(super) last_hello: u64,
    /// Our epoch (the first message id of this run), carried in every HELLO.
    pub(super) epoch: u64,
    /// The latest epoch of the peer seen in a HELLO.
    pub(super) peer_epoch: Option<u64>,
    pub(super) notify_holdoff: VecDeque<(u32, u64)>,
    pub(super) reject_log: RejectLog,
}

impl<R> core::fmt::Debug for Peer<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Peer")
            .field("tunnel", &self.tunnel)
            .field("outbound", &self.outbound)
            .field("inbound", &self.inbound)
            .field("alive", &self.alive)
            .finish_non_exhaustive()
    }
}

impl<R: CryptoRng> Peer<R> {
    /// Creates the state machine of one tunnel.
    ///
    /// - `now`: the control core's monotonic clock, in ns (the same clock for every call);
    /// - `msg_id_base`: the first message id, which must exceed every id an earlier run of
    ///   this gateway sent on this tunnel: pass the wall clock (UNIX time) in ns;
    /// - `initial`: the static SAs from the config file, if any. Without an outbound SA a
    ///   rekey starts at once (after a small random delay, to make a collision with the
    ///   peer, which is resolved anyway, less likely).
    ///
    /// A HELLO carrying our epoch (`msg_id_base`) is queued, so that a peer still holding
    /// SAs of our previous run learns at once that we restarted.
    pub fn new(
        cfg: PeerConfig,
        initial: InitialSas,
        now: u64,
        msg_id_base: u64,
        rng: R,
    ) -> Result<Peer<R>, ConfigError> {
        cfg.validate()?;
        let (mac, kdf_salt) = derive_channel_keys(&cfg.psk, cfg.tunnel_id);
        let t = Timing::new(&cfg);
        let mut p = Peer {
            tunnel: cfg.tunnel_id,
            cfg,
            t,
            mac,
            kdf_salt,
            rng,
            next_msg_id: msg_id_base,
            window: ReplayWindow::default(),
            actions: VecDeque::new(),
            stats: PeerStats::default(),
            outbound: initial.outbound.map(|spi| OutSa { spi, since: now }),
            inbound: Vec::new(),
            next_generation: 0,
            initiator: None,
            responder: None,
            recent: VecDeque::new(),
            beaten: VecDeque::new(),
            abandoned_ids: VecDeque::new(),
            requests: Requests::default(),
            rekey_at: None,
            deferred_rekey: None,
            alive: true,
            last_rx: now,
            last_hello: now,
            epoch: msg_id_base,
            peer_epoch: None,
            notify_holdoff: VecDeque::new(),
            reject_log: RejectLog::default(),
        };
        for spi in initial.inbound {
            let generation = p.bump_generation();
            p.inbound.push(InSa { spi, generation, retire_at: None });
        }
        p.send_hello(now);
        if p.outbound.is_none() {
            let jitter = p.jitter(p.t.backoff.initial);
            p.rekey_at = Some((now + jitter, RekeyReason::NoSa));
        }
        Ok(p)
    }

    // ---- inputs --------------------------------------------------------------------------

    /// A UDP payload received from the peer's channel address. Refused datagrams are
    /// counted (and logged at a rate limit) and change nothing else.
    pub fn handle_datagram(&mut self, now: u64, buf: &[u8], spis: &mut dyn SpiAllocator) {
        let msg = match auth::open(buf, self.tunnel, &self.mac, &mut self.window) {
            Ok(m) => m,
            Err(r) => return self.count_reject(now, r),
        };
        self.stats.rx_accepted += 1;
        self.last_rx = now;
        let m = msg.msg_id;
        match msg.body {
            Body::RekeyInit(b) => self.on_rekey_init(now, m, b, spis),
            Body::RekeyResp(b) => self.on_rekey_resp(now, m, b, spis),
            Body::RekeyDone(b) => self.on_rekey_done(now, m, b),
            Body::Ack(b) => self.on_ack(now, b, spis),
            Body::Delete(b) => self.on_delete(now, m, b, spis),
            Body::InvalidSpi(b) => self.on_invalid_spi(now, m, b, spis),
            Body::Hello(b) => self.on_hello(now, m, b, spis),
        }
        if !self.alive {
            self.alive = true;
            self.actions.push_back(Action::PeerAlive);
            self.rekey_now(now, RekeyReason::PeerAlive, spis);
        }
    }

    /// Runs every timer due at `now`: retransmissions, give-ups, retirement of old inbound
    /// SAs, scheduled rekeys, HELLO. Call it when `poll_timeout` has passed (calling it
    /// early is harmless).
    pub fn handle_timeout(&mut self, now: u64, spis: &mut dyn SpiAllocator) {
        while let Some(due) = self.requests.poll_due(now, &self.t.backoff) {
            match due {
                Due::Retransmit(id, body) => {
                    let msg_id = self.send(body);
                    self.requests.record_retransmission(id, msg_id);
                    self.stats.tx_retransmits += 1;
                }
                Due::GaveUp(req) => self.on_give_up(now, req.kind, &req.msg_ids, spis),
            }
        }
        let due: Vec<u32> = self
            .inbound
            .iter()
            .filter(|s| s.retire_at.is_some_and(|t| t <= now))
            .map(|s| s.spi)
            .collect();
        for spi in due {
            self.unpublish(spi, spis);
        }
        if self.responder.as_ref().is_some_and(|r| r.expires_at <= now) {
            // The initiator gave up (or switched and lost every REKEY_DONE, which only a
            // dead link does). Keep the published SA: it is retired with the other old
            // ones when the next exchange completes; only the state is dropped here.
            self.responder = None;
            self.log(Event::ExchangeAbandoned { role: Role::Responder, why: "no REKEY_DONE" });
        }
        if let Some((at, reason)) = self.rekey_at
            && at <= now
        {
            self.rekey_now(now, reason, spis);
        }
        if self.hello_deadline().is_some_and(|t| t <= now) {
            self.send_hello(now);
        }
        self.recent.retain(|r| r.until > now);
        self.notify_holdoff.retain(|&(_, until)| until > now);
    }

    /// The earliest time `handle_timeout` has something to do.
    pub fn poll_timeout(&self) -> Option<u64> {
        [
            self.requests.next_deadline(),
            self.inbound.iter().filter_map(|s| s.retire_at).min(),
            self.responder.as_ref().map(|r| r.expires_at),
            self.rekey_at.map(|(t, _)| t),
            self.hello_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next action to carry out, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    // ---- observers -----------------------------------------------------------------------

    pub fn tunnel_id(&self) -> TunnelId {
        self.tunnel
    }
    pub fn stats(&self) -> &PeerStats {
        &self.stats
    }
    /// The SPI we encrypt with, if any.
    pub fn outbound_spi(&self) -> Option<u32> {
        self.outbound.map(|o| o.spi)
    }
    /// Every inbound SPI we have published and not yet unpublished, oldest first.
    pub fn inbound_spis(&self) -> Vec<u32> {
        self.inbound.iter().map(|s| s.spi).collect()
    }
    /// Inbound SPIs waiting for the end of their overlap, with the time they go.
    pub fn retiring(&self) -> Vec<(u32, u64)> {
        self.inbound.iter().filter_map(|s| Some((s.spi, s.retire_at?))).collect()
    }
    pub fn exchange_state(&self) -> ExchangeState {
        match (&self.initiator, &self.responder) {
            (_, Some(_)) => ExchangeState::Responding,
            (Some(Initiator { phase: InitPhase::AwaitResp { .. }, .. }), None) => {
                ExchangeState::Initiating
            }
            (Some(Initiator { phase: InitPhase::AwaitDoneAck { .. }, .. }), None) => {
                ExchangeState::Finishing
            }
            (None, None) => ExchangeState::Idle,
        }
    }
    /// No exchange under way in either role and none scheduled.
    pub fn is_idle(&self) -> bool {
        self.initiator.is_none()
            && self.responder.is_none()
            && self.rekey_at.is_none()
            && self.deferred_rekey.is_none()
    }
    /// False from a request unanswered after all retransmissions until the peer is heard.
    pub fn is_alive(&self) -> bool {
        self.alive
    }

    // ---- effects -------------------------------------------------------------------------

    pub(super) fn bump_generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    pub(super) fn publish_inbound(&mut self, spi: u32, keys: SaKeys) -> u64 {
        let generation = self.bump_generation();
        self.inbound.push(InSa { spi, generation, retire_at: None });
        let (aead, esn) = (self.cfg.aead, self.cfg.esn);
        self.actions.push_back(Action::PublishInbound(SaParams { spi, aead, esn, keys }));
        generation
    }

    pub(super) fn switch_outbound(&mut self, now: u64, spi: u32, keys: SaKeys) {
        self.outbound = Some(OutSa { spi, since: now });
        let (aead, esn) = (self.cfg.aead, self.cfg.esn);
        self.actions.push_back(Action::SwitchOutbound(SaParams { spi, aead, esn, keys }));
    }

    pub(super) fn remove_outbound(&mut self) {
        if let Some(o) = self.outbound.take() {
            self.actions.push_back(Action::RemoveOutbound { spi: o.spi });
        }
    }

    /// Unpublishes an inbound SA now and gives its SPI back.
    pub(super) fn unpublish(&mut self, spi: u32, spis: &mut dyn SpiAllocator) -> bool {
        let Some(pos) = self.inbound.iter().position(|s| s.spi == spi) else {
            return false;
        };
        self.inbound.remove(pos);
        spis.release(spi);
        self.actions.push_back(Action::UnpublishInbound { spi });
        true
    }

    pub(super) fn retire_older_than(&mut self, now: u64, generation: u64) {
        let at = now + self.t.overlap;
        for s in self.inbound.iter_mut().filter(|s| s.generation < generation) {
            s.retire_at.get_or_insert(at);
        }
    }

    pub(super) fn send(&mut self, body: Body) -> u64 {
        let msg_id = self.next_msg_id;
        self.next_msg_id += 1;
        let bytes = Message { tunnel_id: self.tunnel, msg_id, body }.to_bytes(&self.mac);
        self.actions.push_back(Action::Send(bytes));
        self.stats.tx_messages += 1;
        msg_id
    }

    pub(super) fn request(&mut self, now: u64, kind: ReqKind, body: Body) -> ReqId {
        let msg_id = self.send(body.clone());
        self.requests.push(kind, body, msg_id, now, &self.t.backoff)
    }

    pub(super) fn ack(&mut self, echo: u64, acked: MsgType, status: AckStatus) {
        self.send(Body::Ack(Ack { echo, acked, status }));
    }

    pub(super) fn send_delete(&mut self, now: u64, entries: Vec<DeleteEntry>) {
        for chunk in entries.chunks(super::msg::MAX_DELETE_ENTRIES) {
            self.stats.deletes_sent += 1;
            self.request(now, ReqKind::Delete, Body::Delete(Delete { entries: chunk.to_vec() }));
        }
    }

    pub(super) fn log(&mut self, e: Event) {
        self.actions.push_back(Action::Log(e));
    }

    /// A uniformly random delay in `0..=max` ns.
    pub(super) fn jitter(&mut self, max: u64) -> u64 {
        if max == 0 { 0 } else { self.rng.next_u64() % (max + 1) }
    }

    pub(super) fn count_reject(&mut self, now: u64, r: Reject) {
        let kind = match r {
            Reject::Malformed(_) => {
                self.stats.rx_malformed += 1;
                RejectKind::Malformed
            }
            Reject::WrongTunnel(_) => {
                self.stats.rx_wrong_tunnel += 1;
                RejectKind::WrongTunnel
            }
            Reject::Forged => {
                self.stats.rx_forged += 1;
                RejectKind::Forged
            }
            Reject::Replayed(_) => {
                self.stats.rx_replayed += 1;
                RejectKind::Replayed
            }
        };
        let i = kind as usize;
        let quiet = self.reject_log.last[i].is_some_and(|t| now < t + self.t.reject_log);
        if quiet {
            self.reject_log.suppressed[i] += 1;
        } else {
            let suppressed = core::mem::take(&mut self.reject_log.suppressed[i]);
            self.reject_log.last[i] = Some(now);
            self.log(Event::Rejected { kind, suppressed });
        }
    }
}

pub(super) fn push_bounded<T>(q: &mut VecDeque<T>, v: T, cap: usize) {
    if q.len() == cap {
        q.pop_front();
    }
    q.push_back(v);
}
