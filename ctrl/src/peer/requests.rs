//! Outstanding requests and their retransmission with exponential backoff.
//!
//! Every request (REKEY_INIT, REKEY_DONE, DELETE, INVALID_SPI, HELLO) stays here until its
//! response arrives or it has been sent `max_transmissions` times without one. Each
//! transmission gets a fresh message id (so the receiver's anti-replay window never mistakes
//! a retransmission for a replay) and the ids are remembered, so that a response echoing any
//! of them is matched to the request. Like IKEv2 (RFC 7296 §2.1), only the requester
//! retransmits; responders answer each copy idempotently.

use super::msg::{Body, MsgType};

/// What a request is for; decides what happens on its response or when it gives up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ReqKind {
    RekeyInit,
    RekeyDone,
    Delete,
    InvalidSpi(u32),
    Hello,
}

impl ReqKind {
    pub(super) fn msg_type(self) -> MsgType {
        match self {
            ReqKind::RekeyInit => MsgType::RekeyInit,
            ReqKind::RekeyDone => MsgType::RekeyDone,
            ReqKind::Delete => MsgType::Delete,
            ReqKind::InvalidSpi(_) => MsgType::InvalidSpi,
            ReqKind::Hello => MsgType::Hello,
        }
    }
}

/// Handle of one outstanding request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ReqId(u64);

#[derive(Debug)]
pub(super) struct Request {
    pub id: ReqId,
    pub kind: ReqKind,
    /// The body, re-encoded under a fresh message id at each retransmission.
    pub body: Body,
    /// Message ids of every transmission so far.
    pub msg_ids: Vec<u64>,
    pub next_at: u64,
    rto: u64,
}

/// Retransmission timing (ns).
#[derive(Clone, Copy, Debug)]
pub(super) struct Backoff {
    pub initial: u64,
    pub max: u64,
    pub max_transmissions: u32,
}

#[derive(Debug, Default)]
pub(super) struct Requests {
    list: Vec<Request>,
    next_id: u64,
}

/// What the timer decided for a due request.
pub(super) enum Due {
    /// Send `body` again (the caller assigns the new message id and reports it back).
    Retransmit(ReqId, Body),
    /// Sent the maximum number of times without an answer.
    GaveUp(Request),
}

impl Requests {
    pub(super) fn push(
        &mut self,
        kind: ReqKind,
        body: Body,
        msg_id: u64,
        now: u64,
        b: &Backoff,
    ) -> ReqId {
        let id = ReqId(self.next_id);
        self.next_id += 1;
        self.list.push(Request {
            id,
            kind,
            body,
            msg_ids: vec![msg_id],
            next_at: now.saturating_add(b.initial),
            rto: b.initial,
        });
        id
    }

    /// The request one of whose transmissions had message id `echo`.
    pub(super) fn find_by_echo(&self, echo: u64) -> Option<&Request> {
        self.list.iter().find(|r| r.msg_ids.contains(&echo))
    }

    pub(super) fn remove(&mut self, id: ReqId) -> Option<Request> {
        let pos = self.list.iter().position(|r| r.id == id)?;
        Some(self.list.remove(pos))
    }

    pub(super) fn count(&self, pred: impl Fn(ReqKind) -> bool) -> usize {
        self.list.iter().filter(|r| pred(r.kind)).count()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub(super) fn next_deadline(&self) -> Option<u64> {
        self.list.iter().map(|r| r.next_at).min()
    }

    /// The first request due at `now`, if any: either to be retransmitted (its backoff is
    /// advanced here) or given up (removed here).
    pub(super) fn poll_due(&mut self, now: u64, b: &Backoff) -> Option<Due> {
        let pos = self.list.iter().position(|r| r.next_at <= now)?;
        let r = &mut self.list[pos];
        if r.msg_ids.len() >= b.max_transmissions as usize {
            return Some(Due::GaveUp(self.list.remove(pos)));
        }
        r.rto = r.rto.saturating_mul(2).min(b.max);
        r.next_at = now.saturating_add(r.rto);
        Some(Due::Retransmit(r.id, r.body.clone()))
    }

    /// Records the message id of a retransmission.
    pub(super) fn record_retransmission(&mut self, id: ReqId, msg_id: u64) {
        if let Some(r) = self.list.iter_mut().find(|r| r.id == id) {
            r.msg_ids.push(msg_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::msg::Hello;

    #[test]
    fn backoff_doubles_caps_and_gives_up() {
        let b = Backoff { initial: 100, max: 300, max_transmissions: 4 };
        let mut q = Requests::default();
        let body = Body::Hello(Hello { epoch: 1 });
        let id = q.push(ReqKind::Hello, body, 7, 0, &b);
        let mut sends = vec![0u64];
        let mut now;
        let mut msg_id = 7;
        loop {
            now = q.next_deadline().unwrap();
            match q.poll_due(now, &b).unwrap() {
                Due::Retransmit(rid, _) => {
                    assert_eq!(rid, id);
                    msg_id += 1;
                    q.record_retransmission(rid, msg_id);
                    sends.push(now);
                }
                Due::GaveUp(r) => {
                    assert_eq!(r.msg_ids, vec![7, 8, 9, 10]);
                    break;
                }
            }
        }
        // Sent at 0, 100, 300 (+200), 600 (+300, capped); gave up 300 later.
        assert_eq!(sends, vec![0, 100, 300, 600]);
        assert_eq!(now, 900);
        assert!(q.is_empty());
        assert!(q.find_by_echo(8).is_none());
    }
}
