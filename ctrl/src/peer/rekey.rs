//! The rekey exchange (design sections 5 and 12): REKEY_INIT / REKEY_RESP / REKEY_DONE and
//! their ACK, collisions, retransmission give-ups.
//!
//! A rekey, with I the initiator and R the responder:
//!
//! 1. I allocates its new inbound SPI `a`, a nonce and an X25519 pair; sends REKEY_INIT.
//! 2. R allocates `b`, derives the keys, publishes inbound `b`, answers REKEY_RESP and keeps
//!    its old outbound SA (with `OutboundFirst` it switches to `a` here: CSCty30063).
//! 3. I derives the keys, publishes inbound `a`, switches outbound to `b`, sends REKEY_DONE.
//! 4. R switches outbound to `a` and acknowledges.
//! 5. Each side retires the inbound SAs older than the new one `rekey_overlap_ms` after the
//!    exchange completed for it (R: on REKEY_DONE, I: on its ACK, when R has switched).
//!
//! Only one exchange of our own is under way at a time: a new rekey request while
//! REKEY_DONE is still unacknowledged waits for the ACK, since the peer must have switched
//! before we replace what it switched to. Collisions follow RFC 7296 §2.8.1 in spirit (the
//! lower nonce loses) but are decided as soon as both REKEY_INITs are seen, on the two
//! initiator nonces, so the losing exchange never publishes an SA.

use rand::CryptoRng;

use super::action::{Action, Event, RekeyReason, Role, SpiAllocator};
use super::config::RekeyOrder;
use super::kdf::{ChildKeys, Ephemeral, ExchangeParams, derive_child_keys};
use super::msg::{
    Ack, AckStatus, Body, DeleteEntry, MsgType, NONCE_LEN, RekeyDone, RekeyInit, RekeyResp, SpiSide,
};
use super::requests::ReqKind;
use super::state::{
    ABANDONED_IDS, BEATEN_NONCES, InitPhase, Initiator, MIN_SPI, Peer, RECENT_RESPONSES, Recent,
    Responder, push_bounded,
};

impl<R: CryptoRng> Peer<R> {
    /// Starts a rekey now (`qfpctl rekey`, `--rekey-every`, sequence-number exhaustion). If
    /// an exchange is under way it already brings a new pair and the request is folded into
    /// it; if ours is finishing, the new one starts when the peer has acknowledged.
    pub fn rekey_now(&mut self, now: u64, reason: RekeyReason, spis: &mut dyn SpiAllocator) {
        self.rekey_at = None;
        match &self.initiator {
            Some(Initiator { phase: InitPhase::AwaitResp { .. }, .. }) => {
                self.stats.rekeys_coalesced += 1;
                return;
            }
            Some(Initiator { phase: InitPhase::AwaitDoneAck { .. }, .. }) => {
                self.deferred_rekey = Some(reason);
                return;
            }
            None => {}
        }
        if self.responder.is_some() {
            self.stats.rekeys_coalesced += 1;
            return;
        }
        let Some(a) = spis.allocate() else {
            self.log(Event::NoFreeSpi);
            self.rekey_at = Some((now + self.t.backoff.max, reason));
            return;
        };
        let eph = Ephemeral::generate(&mut self.rng);
        let mut ni = [0u8; NONCE_LEN];
        self.rng.fill_bytes(&mut ni);
        let body = Body::RekeyInit(RekeyInit {
            nonce: ni,
            public: eph.public(),
            spi: a,
            aead: self.cfg.aead,
            esn: self.cfg.esn,
        });
        let req = self.request(now, ReqKind::RekeyInit, body);
        self.initiator = Some(Initiator { ni, spi_a: a, phase: InitPhase::AwaitResp { eph, req } });
        self.stats.rekeys_initiated += 1;
        self.log(Event::RekeyStarted { reason, new_inbound: a });
    }

    /// Schedules a rekey after a random delay in `0..=soft_jitter_ms` (soft lifetimes), or
    /// keeps an earlier one already scheduled.
    pub fn rekey_jittered(&mut self, now: u64, reason: RekeyReason) {
        let at = now + self.jitter(self.t.soft_jitter);
        if self.rekey_at.is_none_or(|(t, _)| at < t) {
            self.rekey_at = Some((at, reason));
        }
    }

    // ---- the exchange --------------------------------------------------------------------

    pub(super) fn on_rekey_init(
        &mut self,
        now: u64,
        m: u64,
        init: RekeyInit,
        spis: &mut dyn SpiAllocator,
    ) {
        if self.beaten.contains(&init.nonce) {
            // A copy of an exchange that lost a collision against ours: its initiator has
            // abandoned it.
            self.stats.rx_unexpected += 1;
            return;
        }
        if let Some(r) = self.responder.as_ref().filter(|r| r.ni == init.nonce) {
            let body = resp_body(m, r.nr, r.public, r.spi_b);
            self.send(body);
            return;
        }
        if let Some(r) = self.recent.iter().find(|r| r.ni == init.nonce) {
            let body = resp_body(m, r.nr, r.public, r.spi_b);
            self.send(body);
            return;
        }
        if init.aead != self.cfg.aead || init.esn != self.cfg.esn || init.spi < MIN_SPI {
            self.stats.inits_refused += 1;
            self.log(Event::ExchangeAbandoned { role: Role::Responder, why: "proposal refused" });
            return self.ack(m, MsgType::RekeyInit, AckStatus::Rejected);
        }
        if let Some(Initiator { ni, phase: InitPhase::AwaitResp { .. }, .. }) = &self.initiator {
            match ni.cmp(&init.nonce) {
                core::cmp::Ordering::Greater => {
                    self.stats.collisions_won += 1;
                    push_bounded(&mut self.beaten, init.nonce, BEATEN_NONCES);
                    self.log(Event::Collision { we_won: true });
                    return;
                }
                core::cmp::Ordering::Less => {
                    self.stats.collisions_lost += 1;
                    self.abandon_initiator(spis);
                    self.log(Event::Collision { we_won: false });
                }
                core::cmp::Ordering::Equal => {
                    // 2^-256: both sides abandon and retry with fresh nonces.
                    self.abandon_initiator(spis);
                    push_bounded(&mut self.beaten, init.nonce, BEATEN_NONCES);
                    let j = self.jitter(self.t.backoff.initial);
                    self.rekey_at = Some((now + j, RekeyReason::Retry));
                    return;
                }
            }
        }
        if self.responder.take().is_some() {
            // A new exchange from the initiator means it gave up the one we answered. Its
            // SA stays published (the initiator may have switched to it) and is retired
            // when this exchange completes.
            self.log(Event::ExchangeAbandoned { role: Role::Responder, why: "superseded" });
        }
        let Some(b) = spis.allocate() else {
            self.stats.inits_refused += 1;
            self.log(Event::NoFreeSpi);
            return self.ack(m, MsgType::RekeyInit, AckStatus::TemporaryFailure);
        };
        let eph = Ephemeral::generate(&mut self.rng);
        let public = eph.public();
        let Ok(shared) = eph.agree(&init.public) else {
            spis.release(b);
            self.stats.inits_refused += 1;
            self.log(Event::ExchangeAbandoned { role: Role::Responder, why: "low-order public" });
            return self.ack(m, MsgType::RekeyInit, AckStatus::Rejected);
        };
        let mut nr = [0u8; NONCE_LEN];
        self.rng.fill_bytes(&mut nr);
        let params = ExchangeParams {
            ni: &init.nonce,
            nr: &nr,
            spi_i: init.spi,
            spi_r: b,
            aead: self.cfg.aead,
        };
        let ChildKeys { i_to_r, r_to_i } = derive_child_keys(&shared, &self.kdf_salt, params);
        let mut out_keys = Some(r_to_i);
        if self.cfg.rekey_order == RekeyOrder::OutboundFirst
            && let Some(k) = out_keys.take()
        {
            self.switch_outbound(now, init.spi, k);
        }
        let generation = self.publish_inbound(b, i_to_r);
        self.send(resp_body(m, nr, public, b));
        self.responder = Some(Responder {
            ni: init.nonce,
            nr,
            public,
            spi_a: init.spi,
            spi_b: b,
            generation,
            init_msg_id: m,
            out_keys,
            expires_at: now + self.t.half_open,
        });
        // Whatever rekey we were about to start, this exchange brings the new pair.
        self.rekey_at = None;
        self.deferred_rekey = None;
        self.stats.rekeys_responded += 1;
        self.log(Event::RekeyResponded { new_inbound: b, peer_inbound: init.spi });
    }

    pub(super) fn on_rekey_resp(
        &mut self,
        now: u64,
        m: u64,
        resp: RekeyResp,
        spis: &mut dyn SpiAllocator,
    ) {
        let req = match self.requests.find_by_echo(resp.echo) {
            Some(r) if r.kind == ReqKind::RekeyInit => r.id,
            _ => {
                if self.abandoned_ids.contains(&resp.echo) && resp.spi >= MIN_SPI {
                    // The peer answered an exchange we abandoned in a collision it did not
                    // see as one: ask it to unpublish the SA it created for it.
                    self.send_delete(
                        now,
                        vec![DeleteEntry { side: SpiSide::Receiver, spi: resp.spi }],
                    );
                } else {
                    self.stats.rx_unexpected += 1;
                }
                return;
            }
        };
        let Some(init) = self.initiator.take() else {
            self.stats.rx_unexpected += 1;
            return;
        };
        let InitPhase::AwaitResp { eph, req: ours } = init.phase else {
            self.initiator = Some(init);
            self.stats.rx_unexpected += 1;
            return;
        };
        if ours != req {
            self.initiator =
                Some(Initiator { phase: InitPhase::AwaitResp { eph, req: ours }, ..init });
            self.stats.rx_unexpected += 1;
            return;
        }
        self.requests.remove(req);
        let a = init.spi_a;
        let shared = match eph.agree(&resp.public) {
            Ok(s) if resp.spi >= MIN_SPI => s,
            _ => {
                spis.release(a);
                self.stats.inits_refused_by_peer += 1;
                self.log(Event::ExchangeAbandoned { role: Role::Initiator, why: "bad REKEY_RESP" });
                return;
            }
        };
        let params = ExchangeParams {
            ni: &init.ni,
            nr: &resp.nonce,
            spi_i: a,
            spi_r: resp.spi,
            aead: self.cfg.aead,
        };
        let ChildKeys { i_to_r, r_to_i } = derive_child_keys(&shared, &self.kdf_salt, params);
        let generation = self.publish_inbound(a, r_to_i);
        self.switch_outbound(now, resp.spi, i_to_r);
        let done = Body::RekeyDone(RekeyDone { spi_i: a, spi_r: resp.spi });
        let req = self.request(now, ReqKind::RekeyDone, done);
        self.initiator = Some(Initiator {
            ni: init.ni,
            spi_a: a,
            phase: InitPhase::AwaitDoneAck { spi_r: resp.spi, generation, req, resp_msg_id: m },
        });
    }

    pub(super) fn on_rekey_done(&mut self, now: u64, m: u64, done: RekeyDone) {
        let matches = |r: &Responder| r.spi_a == done.spi_i && r.spi_b == done.spi_r;
        if let Some(r) = self.responder.take_if(|r| matches(r)) {
            if let Some(k) = r.out_keys {
                self.switch_outbound(now, r.spi_a, k);
            }
            self.retire_older_than(now, r.generation);
            let recent = Recent {
                ni: r.ni,
                nr: r.nr,
                public: r.public,
                spi_a: r.spi_a,
                spi_b: r.spi_b,
                until: now + self.t.half_open,
            };
            push_bounded(&mut self.recent, recent, RECENT_RESPONSES);
            self.stats.rekeys_completed += 1;
            self.log(Event::RekeyCompleted {
                role: Role::Responder,
                inbound: r.spi_b,
                outbound: r.spi_a,
            });
            self.ack(m, MsgType::RekeyDone, AckStatus::Ok);
        } else if self.recent.iter().any(|r| r.spi_a == done.spi_i && r.spi_b == done.spi_r) {
            self.ack(m, MsgType::RekeyDone, AckStatus::Ok);
        } else {
            self.stats.rx_unexpected += 1;
            self.ack(m, MsgType::RekeyDone, AckStatus::Unknown);
        }
    }

    pub(super) fn on_ack(&mut self, now: u64, ack: Ack, spis: &mut dyn SpiAllocator) {
        let Some(req) = self.requests.find_by_echo(ack.echo) else {
            self.stats.rx_unexpected += 1;
            return;
        };
        let (id, kind) = (req.id, req.kind);
        if kind.msg_type() != ack.acked {
            self.stats.rx_unexpected += 1;
            return;
        }
        self.requests.remove(id);
        match kind {
            ReqKind::RekeyInit => {
                // REKEY_RESP is the successful answer; an ACK means refused.
                self.abandon_initiator(spis);
                self.stats.inits_refused_by_peer += 1;
                self.log(Event::ExchangeAbandoned {
                    role: Role::Initiator,
                    why: "refused by peer",
                });
                if ack.status == AckStatus::TemporaryFailure {
                    let j = self.jitter(self.t.backoff.max);
                    self.rekey_at = Some((now + self.t.backoff.max + j, RekeyReason::Retry));
                }
            }
            ReqKind::RekeyDone => self.finish_initiator(now, ack.status, spis),
            ReqKind::Hello | ReqKind::Delete | ReqKind::InvalidSpi(_) => {}
        }
    }

    /// REKEY_DONE acknowledged: the peer has switched to our new inbound SA.
    fn finish_initiator(&mut self, now: u64, status: AckStatus, spis: &mut dyn SpiAllocator) {
        let Some(Initiator {
            spi_a, phase: InitPhase::AwaitDoneAck { spi_r, generation, .. }, ..
        }) = self.initiator.take()
        else {
            return;
        };
        if status == AckStatus::Ok {
            self.retire_older_than(now, generation);
            self.stats.rekeys_completed += 1;
            self.log(Event::RekeyCompleted {
                role: Role::Initiator,
                inbound: spi_a,
                outbound: spi_r,
            });
        } else {
            // The peer had forgotten the exchange (restart, or it timed out): it does not
            // hold the SA we now send with. Stop using it and start again.
            if self.outbound_spi() == Some(spi_r) {
                self.remove_outbound();
            }
            self.log(Event::ExchangeAbandoned { role: Role::Initiator, why: "peer lost exchange" });
            self.deferred_rekey = None;
            return self.rekey_now(now, RekeyReason::Retry, spis);
        }
        if let Some(reason) = self.deferred_rekey.take() {
            self.rekey_now(now, reason, spis);
        }
    }

    pub(super) fn on_give_up(
        &mut self,
        now: u64,
        kind: ReqKind,
        msg_ids: &[u64],
        spis: &mut dyn SpiAllocator,
    ) {
        self.stats.requests_given_up += 1;
        self.log(Event::GaveUp { request: kind.msg_type() });
        match kind {
            ReqKind::RekeyInit => {
                for &id in msg_ids {
                    push_bounded(&mut self.abandoned_ids, id, ABANDONED_IDS);
                }
                if let Some(Initiator { spi_a, phase: InitPhase::AwaitResp { .. }, .. }) =
                    self.initiator.take()
                {
                    spis.release(spi_a);
                }
            }
            ReqKind::RekeyDone => {
                // We switched; the peer may not have. Keep every old inbound SA: the next
                // completed exchange (started when the peer is heard again) retires them.
                self.initiator = None;
                self.deferred_rekey = None;
            }
            ReqKind::Hello | ReqKind::Delete | ReqKind::InvalidSpi(_) => {}
        }
        if self.alive {
            self.alive = false;
            self.stats.peer_dead += 1;
            self.actions.push_back(Action::PeerDead);
        }
        self.last_hello = now;
    }

    /// Drops our exchange before publication (collision lost, refused, cleared).
    pub(super) fn abandon_initiator(&mut self, spis: &mut dyn SpiAllocator) {
        let Some(init) = self.initiator.take() else {
            return;
        };
        match init.phase {
            InitPhase::AwaitResp { req, .. } => {
                if let Some(r) = self.requests.remove(req) {
                    for id in r.msg_ids {
                        push_bounded(&mut self.abandoned_ids, id, ABANDONED_IDS);
                    }
                }
                spis.release(init.spi_a);
            }
            InitPhase::AwaitDoneAck { req, .. } => {
                // `a` is published: whoever abandons here also unpublishes it (clear,
                // DELETE) or lets it retire with the old SAs.
                self.requests.remove(req);
            }
        }
    }
}

fn resp_body(echo: u64, nonce: [u8; NONCE_LEN], public: [u8; 32], spi: u32) -> Body {
    Body::RekeyResp(RekeyResp { echo, nonce, public, spi })
}
