//! What goes in and out of a `Peer` besides datagrams: the actions the control core must
//! carry out, the log events, the counters, and the SPI allocator it lends the state machine.

use core::fmt;

use super::kdf::{Aead, SaKeys};
use super::msg::MsgType;

/// Hands out inbound SPIs. Owned by the control core and shared by every tunnel, because
/// an inbound SPI must be unique on the gateway (and chosen so that RSS lands it on the
/// worker that will own the SA). Lent to each `Peer` call that may need it.
pub trait SpiAllocator {
    /// A free SPI (>= 256, never 0), now reserved; `None` if none is available.
    fn allocate(&mut self) -> Option<u32>;
    /// Gives back an SPI this tunnel no longer uses. The `Peer` releases every inbound SPI
    /// it unpublishes, including the initial ones it was given at creation, and every SPI
    /// it allocated for an exchange that was abandoned before publication.
    fn release(&mut self, spi: u32);
}

/// Everything needed to build one SA of a new pair.
#[derive(Debug)]
pub struct SaParams {
    pub spi: u32,
    pub aead: Aead,
    pub esn: bool,
    /// Key and salt; zeroized when dropped.
    pub keys: SaKeys,
}

/// An instruction for the control core, drained with `Peer::poll_action` and carried out in
/// order: a `SwitchOutbound` must take effect before a later `Send`, since the datagram
/// tells the peer the switch happened.
#[derive(Debug)]
pub enum Action {
    /// Send this UDP payload to the peer's channel address and port.
    Send(Vec<u8>),
    /// Publish a new inbound SA (decrypts from now on).
    PublishInbound(SaParams),
    /// Replace the tunnel's outbound SA by this one (one atomic store; fresh sequence
    /// counter).
    SwitchOutbound(SaParams),
    /// Stop using the outbound SA with this SPI; the tunnel has none until the next
    /// `SwitchOutbound` (packets are dropped and counted as no-SA meanwhile).
    RemoveOutbound { spi: u32 },
    /// Unpublish this inbound SA (after its overlap, or at once on DELETE/clear). The SPI
    /// has already been released to the allocator.
    UnpublishInbound { spi: u32 },
    /// The peer stopped answering (a request went unanswered `max_transmissions` times).
    PeerDead,
    /// The peer answers again after `PeerDead`; a rekey has been started.
    PeerAlive,
    /// Something worth a log line; the control core formats and rate-limits it further.
    Log(Event),
}

/// Why a rekey was started (for logs and counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RekeyReason {
    /// `qfpctl rekey`.
    Manual,
    /// `--rekey-every`.
    Periodic,
    /// A soft lifetime (time, bytes, packets) was reached.
    SoftLifetime,
    /// The outbound sequence number is about to run out (a hard limit).
    SeqExhausted,
    /// The peer told us it does not know our outbound SPI.
    InvalidSpi,
    /// `clear sa peer`.
    Cleared,
    /// The peer answers again after being dead.
    PeerAlive,
    /// The peer restarted (HELLO with initial contact).
    PeerRestarted,
    /// We have no outbound SA (start-up without static SAs, or the peer deleted ours).
    NoSa,
    /// The peer could not serve our last attempt, or had lost the exchange; trying again.
    Retry,
}

/// Which part we played in an exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Initiator,
    Responder,
}

/// Kinds of refused datagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectKind {
    Malformed,
    WrongTunnel,
    Forged,
    Replayed,
}

/// What we did with an INVALID_SPI notify from the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidSpiOutcome {
    /// It named our outbound SA: dropped it and rekeyed.
    Acted,
    /// It named the outbound SA we switched to within the grace period: ignored.
    Transient,
    /// It named an SPI we do not send with: ignored.
    NotOurs,
}

/// Log events. `Display` gives a one-line text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    RekeyStarted {
        reason: RekeyReason,
        new_inbound: u32,
    },
    /// We answered a REKEY_INIT and published `new_inbound`.
    RekeyResponded {
        new_inbound: u32,
        peer_inbound: u32,
    },
    /// An exchange finished: `inbound` decrypts, `outbound` encrypts.
    RekeyCompleted {
        role: Role,
        inbound: u32,
        outbound: u32,
    },
    /// Both sides started a rekey at once; the lower nonce's exchange was abandoned.
    Collision {
        we_won: bool,
    },
    /// Our exchange was given up, rejected or superseded.
    ExchangeAbandoned {
        role: Role,
        why: &'static str,
    },
    Rejected {
        kind: RejectKind,
        suppressed: u64,
    },
    GaveUp {
        request: MsgType,
    },
    InvalidSpiSent {
        spi: u32,
    },
    InvalidSpiReceived {
        spi: u32,
        outcome: InvalidSpiOutcome,
    },
    DeleteReceived {
        entries: usize,
    },
    /// A HELLO from a new run of the peer (a later epoch): it holds no state from before.
    PeerRestarted,
    Cleared {
        inbound: usize,
        outbound: bool,
    },
    NoFreeSpi,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::RekeyStarted { reason, new_inbound } => {
                write!(f, "rekey started ({reason:?}), new inbound SPI {new_inbound:#010x}")
            }
            Event::RekeyResponded { new_inbound, peer_inbound } => write!(
                f,
                "rekey answered: published inbound {new_inbound:#010x}, peer's {peer_inbound:#010x}"
            ),
            Event::RekeyCompleted { role, inbound, outbound } => write!(
                f,
                "rekey completed as {role:?}: inbound {inbound:#010x}, outbound {outbound:#010x}"
            ),
            Event::Collision { we_won } => {
                write!(
                    f,
                    "simultaneous rekey: {}",
                    if *we_won { "ours kept" } else { "ours abandoned" }
                )
            }
            Event::ExchangeAbandoned { role, why } => {
                write!(f, "{role:?} exchange abandoned: {why}")
            }
            Event::Rejected { kind, suppressed } => {
                write!(f, "refused {kind:?} peer message ({suppressed} more not logged)")
            }
            Event::GaveUp { request } => {
                write!(f, "{} unanswered after all retransmissions", request.name())
            }
            Event::InvalidSpiSent { spi } => write!(f, "sent INVALID_SPI for {spi:#010x}"),
            Event::InvalidSpiReceived { spi, outcome } => {
                write!(f, "peer reports invalid SPI {spi:#010x}: {outcome:?}")
            }
            Event::DeleteReceived { entries } => write!(f, "peer deleted {entries} SA(s)"),
            Event::PeerRestarted => f.write_str("peer restarted (HELLO with a new epoch)"),
            Event::Cleared { inbound, outbound } => write!(
                f,
                "cleared {inbound} inbound SA(s){}, new pair requested",
                if *outbound { " and the outbound SA" } else { "" }
            ),
            Event::NoFreeSpi => f.write_str("no free SPI for a new SA"),
        }
    }
}

/// Counters of one tunnel's peer channel (plain fields, as in quinn).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PeerStats {
    /// Authentic, fresh, well-formed messages.
    pub rx_accepted: u64,
    /// Bad framing, or a bad payload inside an authentic message.
    pub rx_malformed: u64,
    /// Framed for another tunnel id.
    pub rx_wrong_tunnel: u64,
    /// Tag did not verify.
    pub rx_forged: u64,
    /// Message id already seen or older than the window.
    pub rx_replayed: u64,
    /// Authentic responses that match nothing outstanding (late duplicates, answers to
    /// given-up requests).
    pub rx_unexpected: u64,
    pub tx_messages: u64,
    pub tx_retransmits: u64,
    pub rekeys_initiated: u64,
    /// Rekey requests folded into an exchange already under way.
    pub rekeys_coalesced: u64,
    pub rekeys_responded: u64,
    /// Exchanges finished in either role (initiator: REKEY_DONE acknowledged; responder:
    /// REKEY_DONE received).
    pub rekeys_completed: u64,
    pub collisions_won: u64,
    pub collisions_lost: u64,
    /// REKEY_INITs refused by us (proposal, SPI, low-order public value, no free SPI).
    pub inits_refused: u64,
    /// Our REKEY_INITs refused by the peer.
    pub inits_refused_by_peer: u64,
    pub requests_given_up: u64,
    pub peer_dead: u64,
    pub invalid_spi_sent: u64,
    pub invalid_spi_suppressed: u64,
    pub invalid_spi_acted: u64,
    pub invalid_spi_transient: u64,
    pub invalid_spi_not_ours: u64,
    pub deletes_sent: u64,
    pub deletes_received: u64,
    pub clears: u64,
    /// HELLOs showing a new run of the peer.
    pub peer_restarts: u64,
}

/// The SAs a tunnel starts with (from the config file), if any.
#[derive(Clone, Debug, Default)]
pub struct InitialSas {
    pub outbound: Option<u32>,
    pub inbound: Vec<u32>,
}

/// Where the tunnel's rekey exchanges stand (for `show sa` and tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExchangeState {
    Idle,
    /// Our REKEY_INIT is out, waiting for REKEY_RESP.
    Initiating,
    /// We switched and sent REKEY_DONE, waiting for its ACK.
    Finishing,
    /// We answered the peer's REKEY_INIT, waiting for REKEY_DONE.
    Responding,
}
