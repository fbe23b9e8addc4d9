//! The peer channel and the rekey state machine, as a pure protocol module (quinn style):
//! no I/O, no clock, no DPDK. Time is passed in (u64 ns of one monotonic clock), randomness
//! comes from an RNG given at construction, SPIs from an allocator lent to each call.
//!
//! One [`Peer`] per tunnel that has a PSK. The control core drives it:
//!
//! ```text
//! create     Peer::new(PeerConfig, InitialSas, now, wall_clock_ns, rng)
//! feed       peer.handle_datagram(now, udp_payload, &mut spis)   // from the punt ring
//!            peer.handle_timeout(now, &mut spis)                 // when poll_timeout() passed
//!            peer.rekey_now(now, reason, &mut spis)              // qfpctl rekey, --rekey-every,
//!                                                                //   sequence exhaustion
//!            peer.rekey_jittered(now, RekeyReason::SoftLifetime) // soft lifetimes
//!            peer.invalid_spi_seen(now, spi, src, dst)           // punted unknown-SPI event
//!            peer.clear(now, &mut spis)                          // qfpctl clear sa peer
//! drain      while let Some(a) = peer.poll_action() { carry out a, in order }
//! sleep      until peer.poll_timeout() (or the next datagram / command)
//! ```
//!
//! Actions: [`Action::Send`] a datagram to the peer, [`Action::PublishInbound`],
//! [`Action::SwitchOutbound`], [`Action::RemoveOutbound`], [`Action::UnpublishInbound`],
//! [`Action::PeerDead`] / [`Action::PeerAlive`] and [`Action::Log`]. Retiring old inbound SAs
//! after the overlap is a timer inside the `Peer`; it shows up as `UnpublishInbound`.
//!
//! Files: `msg` (wire format), `auth` (keys, HMAC, anti-replay), `kdf` (X25519 + HKDF
//! child-SA keys), `state` (the `Peer`: state, inputs, timers), `rekey` (the exchange), `liveness` (HELLO, DELETE,
//! INVALID_SPI, clear), `requests` (retransmission), `config`, `action`. The design and the
//! byte-by-byte format are in `docs/peer-channel.md`.

pub mod action;
pub mod auth;
pub mod config;
pub mod kdf;
mod liveness;
pub mod msg;
mod rekey;
mod requests;
mod state;

#[cfg(test)]
mod tests;

pub use action::{
    Action, Event, ExchangeState, InitialSas, InvalidSpiOutcome, PeerStats, RejectKind,
    RekeyReason, Role, SaParams, SpiAllocator,
};
pub use config::{ConfigError, PeerConfig, RekeyOrder};
pub use kdf::{Aead, SaKeys};
pub use msg::{DEFAULT_PORT, TunnelId};
pub use state::Peer;
