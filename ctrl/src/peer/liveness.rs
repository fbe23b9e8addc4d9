//! The messages that keep a tunnel's SAs in step outside a rekey: HELLO (dead-peer
//! detection and restart detection), INVALID_SPI (out-of-sync repair), DELETE, and the
//! operator's `clear sa peer`.
//!
//! The rule they share: whenever we end up without an outbound SA, a new pair is on its way
//! (an exchange under way or a rekey scheduled). That is what makes the SD-WAN failure, a
//! cleared SA that nothing regenerates, impossible here.

use std::net::IpAddr;

use rand::CryptoRng;

use super::action::{Event, InvalidSpiOutcome, RekeyReason, Role, SpiAllocator};
use super::msg::{
    AckStatus, AddrPair, Body, Delete, DeleteEntry, Hello, InvalidSpi, MsgType, SpiSide,
};
use super::requests::ReqKind;
use super::state::{InitPhase, Initiator, Peer};

/// At most this many INVALID_SPI notifies outstanding at once (a peer spraying unknown
/// SPIs must not make us flood it back).
const MAX_NOTIFIES_IN_FLIGHT: usize = 4;
/// At most this many SPIs under notify holdoff are remembered.
const HOLDOFF_ENTRIES: usize = 16;

impl<R: CryptoRng> Peer<R> {
    /// The data plane received ESP from this tunnel's peer with an SPI it has no SA for
    /// (the control core saw the punted event and, with invalid-SPI recovery on, decided to
    /// tell the peer). Sends an INVALID_SPI notify, at most once per SPI per
    /// `notify_holdoff_ms`. Returns whether a notify was sent.
    pub fn invalid_spi_seen(&mut self, now: u64, spi: u32, src: IpAddr, dst: IpAddr) -> bool {
        self.notify_holdoff.retain(|&(_, until)| until > now);
        let Some(addrs) = AddrPair::new(src, dst) else {
            return false;
        };
        let in_flight = self.requests.count(|k| matches!(k, ReqKind::InvalidSpi(_)));
        if self.notify_holdoff.iter().any(|&(s, _)| s == spi) || in_flight >= MAX_NOTIFIES_IN_FLIGHT
        {
            self.stats.invalid_spi_suppressed += 1;
            return false;
        }
        super::state::push_bounded(
            &mut self.notify_holdoff,
            (spi, now + self.t.holdoff),
            HOLDOFF_ENTRIES,
        );
        self.request(now, ReqKind::InvalidSpi(spi), Body::InvalidSpi(InvalidSpi { spi, addrs }));
        self.stats.invalid_spi_sent += 1;
        self.log(Event::InvalidSpiSent { spi });
        true
    }

    /// `clear sa peer`: unpublishes every inbound SA and drops the outbound one, tells the
    /// peer with DELETE, and starts a new pair at once.
    pub fn clear(&mut self, now: u64, spis: &mut dyn SpiAllocator) {
        self.abandon_initiator(spis);
        self.responder = None;
        self.rekey_at = None;
        self.deferred_rekey = None;
        let mut entries: Vec<DeleteEntry> = self
            .inbound
            .iter()
            .map(|s| DeleteEntry { side: SpiSide::Sender, spi: s.spi })
            .collect();
        let n_in = entries.len();
        for spi in self.inbound_spis() {
            self.unpublish(spi, spis);
        }
        let had_out = self.outbound.is_some();
        if let Some(o) = self.outbound {
            entries.push(DeleteEntry { side: SpiSide::Receiver, spi: o.spi });
            self.remove_outbound();
        }
        self.send_delete(now, entries);
        self.stats.clears += 1;
        self.log(Event::Cleared { inbound: n_in, outbound: had_out });
        self.rekey_now(now, RekeyReason::Cleared, spis);
    }

    /// Test hook (`qfpctl debug forget-sa`): unpublishes one inbound SA without telling the
    /// peer, to inject the out-of-sync state. Returns whether the SPI was ours.
    pub fn debug_forget_inbound(&mut self, spi: u32, spis: &mut dyn SpiAllocator) -> bool {
        self.unpublish(spi, spis)
    }

    pub(super) fn on_invalid_spi(
        &mut self,
        now: u64,
        m: u64,
        n: InvalidSpi,
        spis: &mut dyn SpiAllocator,
    ) {
        self.ack(m, MsgType::InvalidSpi, AckStatus::Ok);
        let outcome = match self.outbound {
            Some(o) if o.spi == n.spi => {
                if now.saturating_sub(o.since) < self.t.grace {
                    self.stats.invalid_spi_transient += 1;
                    InvalidSpiOutcome::Transient
                } else {
                    self.stats.invalid_spi_acted += 1;
                    InvalidSpiOutcome::Acted
                }
            }
            _ => {
                self.stats.invalid_spi_not_ours += 1;
                InvalidSpiOutcome::NotOurs
            }
        };
        self.log(Event::InvalidSpiReceived { spi: n.spi, outcome });
        if outcome == InvalidSpiOutcome::Acted {
            // Sending into a black hole helps no one: drop the SA and bring up a new pair.
            self.remove_outbound();
            self.rekey_now(now, RekeyReason::InvalidSpi, spis);
        }
    }

    pub(super) fn on_delete(&mut self, now: u64, m: u64, d: Delete, spis: &mut dyn SpiAllocator) {
        self.ack(m, MsgType::Delete, AckStatus::Ok);
        self.stats.deletes_received += 1;
        self.log(Event::DeleteReceived { entries: d.entries.len() });
        for e in d.entries {
            match e.side {
                SpiSide::Sender => {
                    // The peer no longer decrypts `spi`: stop sending to it.
                    if self.outbound_spi() == Some(e.spi) {
                        self.remove_outbound();
                    }
                    if self.responder.as_ref().is_some_and(|r| r.spi_a == e.spi) {
                        if let Some(r) = self.responder.take() {
                            self.unpublish(r.spi_b, spis);
                        }
                        self.log(Event::ExchangeAbandoned {
                            role: Role::Responder,
                            why: "deleted",
                        });
                    }
                }
                SpiSide::Receiver => {
                    // The peer will never send to our `spi`.
                    if self.responder.as_ref().is_some_and(|r| r.spi_b == e.spi) {
                        self.responder = None;
                        self.log(Event::ExchangeAbandoned {
                            role: Role::Responder,
                            why: "deleted",
                        });
                    }
                    if matches!(&self.initiator, Some(Initiator { spi_a, phase: InitPhase::AwaitDoneAck { .. }, .. }) if *spi_a == e.spi)
                    {
                        self.abandon_initiator(spis);
                    }
                    self.unpublish(e.spi, spis);
                }
            }
        }
        if self.outbound.is_none()
            && self.initiator.is_none()
            && self.responder.is_none()
            && self.rekey_at.is_none()
        {
            // Leave the peer the first move (its `clear` starts a pair right after the
            // DELETE), then repair ourselves.
            let j = self.jitter(self.t.repair_delay);
            self.rekey_at = Some((now + self.t.repair_delay + j, RekeyReason::NoSa));
        }
    }

    pub(super) fn on_hello(&mut self, now: u64, m: u64, h: Hello, spis: &mut dyn SpiAllocator) {
        self.ack(m, MsgType::Hello, AckStatus::Ok);
        let known = self.peer_epoch.replace(h.epoch.max(self.peer_epoch.unwrap_or(0)));
        // A restart matters only if we hold state from an earlier run of the peer: not the
        // first time we hear of it at all (e.g. both started together with the same static
        // SAs), nor a HELLO of the run we already know (retransmissions, reordering).
        if known.is_none_or(|k| h.epoch <= k) {
            return;
        }
        self.stats.peer_restarts += 1;
        self.log(Event::PeerRestarted);
        // Exchanges with the earlier run are dead; those the new run started or answered
        // (message ids at or above its epoch) go on.
        if self.responder.as_ref().is_some_and(|r| r.init_msg_id < h.epoch) {
            self.responder = None;
            self.log(Event::ExchangeAbandoned { role: Role::Responder, why: "peer restarted" });
        }
        if matches!(&self.initiator, Some(Initiator {
            phase: InitPhase::AwaitDoneAck { resp_msg_id, .. }, ..
        }) if *resp_msg_id < h.epoch)
        {
            self.abandon_initiator(spis);
        }
        // Our REKEY_INIT, if one is out, is answered by the new run; otherwise start one.
        self.rekey_now(now, RekeyReason::PeerRestarted, spis);
    }

    pub(super) fn send_hello(&mut self, now: u64) {
        self.last_hello = now;
        let h = Hello { epoch: self.epoch };
        self.request(now, ReqKind::Hello, Body::Hello(h));
    }

    /// When a HELLO is due: after `hello_interval` without hearing from the peer or sending
    /// one, and only while no request of ours is outstanding (any request probes the peer).
    pub(super) fn hello_deadline(&self) -> Option<u64> {
        if !self.requests.is_empty() {
            return None;
        }
        Some(self.last_rx.max(self.last_hello) + self.t.hello)
    }
}
