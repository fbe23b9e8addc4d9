//! ESP tunnel mode on a packet buffer: [`encap`], [`decap`] and their burst forms.
//!
//! Everything happens in place on a [`PacketBuf`](crate::buf::PacketBuf): encap prepends the outer header, ESP
//! header and IV into the headroom and appends padding, trailer and ICV into the tailroom;
//! decap strips them again with `adj`/`trim`. The payload is never copied and nothing is
//! allocated per packet. The functions are generic over the buffer and the SA lookup, so
//! they monomorphise for mbufs and heap buffers alike with no indirect call.
//!
//! **The contract with the gateway.** The caller strips the Ethernet header before either
//! call, so the buffer starts at an IP header; after a successful [`decap`] it holds exactly
//! the inner IP packet (its family is in [`Decapped::Inner`]), and after a successful
//! [`encap`] exactly the outer packet. Routing, TTL decrement, Ethernet rewrite and SA
//! ownership are the gateway's (see `wire::ipv4::Packet::decrement_ttl`). Every refusal is
//! exactly one [`DropReason`]; the single-packet functions only return it, the burst
//! functions also count it.
//!
//! Time is passed in (`now`, monotonic nanoseconds, the same clock as
//! `SaConfig::created_ns`): the data plane never reads a clock.

mod burst;
mod decap;
mod encap;

pub use burst::{decap_burst, encap_burst};
pub use decap::decap;
pub(crate) use decap::decap_one;
pub use encap::encap;
pub(crate) use encap::encap_one;

use crate::drops::DropReason;
use crate::sa::Sa;
use crate::wire::IpVersion;
use core::net::IpAddr;

/// Finds the inbound SA for an SPI. Implemented by the gateway's sharded, epoch-published
/// table (the returned reference lives as long as the guard the implementor holds), and by
/// plain maps in tests.
pub trait SaLookup {
    /// The SA for `spi`, if one is published.
    fn lookup(&self, spi: u32) -> Option<&Sa>;
}

/// A slice of SAs searched linearly: handy for tests and tools.
impl SaLookup for [Sa] {
    fn lookup(&self, spi: u32) -> Option<&Sa> {
        self.iter().find(|s| s.spi() == spi)
    }
}

/// A slice of SA references searched linearly.
impl SaLookup for [&Sa] {
    fn lookup(&self, spi: u32) -> Option<&Sa> {
        self.iter().copied().find(|s| s.spi() == spi)
    }
}

impl SaLookup for std::collections::HashMap<u32, Sa> {
    fn lookup(&self, spi: u32) -> Option<&Sa> {
        self.get(&spi)
    }
}

/// What decap did with a packet it did not drop.
#[derive(Debug, Clone, Copy)]
pub enum Decapped<'a> {
    /// ESP decrypted and verified; the buffer now holds exactly the inner packet.
    Inner {
        /// The SA that decrypted it (for per-tunnel routing and counters).
        sa: &'a Sa,
        /// Inner IP version (the buffer starts at that header).
        version: IpVersion,
        /// The full 64-bit sequence number of the packet.
        seq: u64,
    },
    /// A NAT-keepalive (UDP 4500, one byte 0xff): consumed; free the buffer. Counted as the
    /// `natt_keepalive` event, not a drop.
    NattKeepalive,
    /// UDP 4500 with the non-ESP marker: IKE for the control core. The buffer is unchanged
    /// (it starts at the outer IP header); the caller punts it and counts `punted`.
    NonEsp,
    /// Neither ESP nor UDP 4500 (e.g. the peer channel on UDP 500, ICMP): the buffer is
    /// unchanged; the caller classifies it.
    NotEsp,
}

/// What the control core needs to report an unknown SPI (`%CRYPTO-4-RECVD_PKT_INV_SPI`)
/// and to tell the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidSpi {
    /// Outer source address.
    pub src: IpAddr,
    /// Outer destination address.
    pub dst: IpAddr,
    /// The SPI nobody knows.
    pub spi: u32,
    /// ESP-in-UDP (NAT-T) or plain ESP (protocol 50).
    pub udp_encap: bool,
}

/// A decap refusal: exactly one reason, and for an unknown SPI the event to punt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecapDrop {
    /// The one reason the packet is dropped.
    pub reason: DropReason,
    /// Set for `IN_US_V4/V6_PKT_SA_NOT_FOUND_SPI` only.
    pub invalid_spi: Option<InvalidSpi>,
}

impl From<DropReason> for DecapDrop {
    fn from(reason: DropReason) -> Self {
        DecapDrop { reason, invalid_spi: None }
    }
}

impl core::fmt::Display for DecapDrop {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match &self.invalid_spi {
            Some(i) => write!(f, "{} (spi {:#x}, {} -> {})", self.reason, i.spi, i.src, i.dst),
            None => write!(f, "{}", self.reason),
        }
    }
}

/// Per-SA packet and byte counts summed in locals over a burst and written to the SA when
/// the SA changes or the burst ends (VPP style): one load+store pair per SA per burst
/// instead of per packet.
pub(crate) struct SaAccum<'a> {
    sa: Option<&'a Sa>,
    packets: u64,
    bytes: u64,
}

impl<'a> SaAccum<'a> {
    pub(crate) const fn new() -> Self {
        SaAccum { sa: None, packets: 0, bytes: 0 }
    }

    /// Unflushed packets and bytes for `sa` (zero if another SA is accumulating).
    #[inline]
    pub(crate) fn pending(&self, sa: &Sa) -> (u64, u64) {
        match self.sa {
            Some(cur) if core::ptr::eq(cur, sa) => (self.packets, self.bytes),
            _ => (0, 0),
        }
    }

    /// Counts one packet of `bytes` for `sa`, flushing the previous SA if it differs.
    #[inline]
    pub(crate) fn add(&mut self, sa: &'a Sa, bytes: usize) {
        match self.sa {
            Some(cur) if core::ptr::eq(cur, sa) => {}
            _ => {
                self.flush();
                self.sa = Some(sa);
            }
        }
        self.packets += 1;
        self.bytes += bytes as u64;
    }

    /// Writes the accumulated counts to the SA.
    #[inline]
    pub(crate) fn flush(&mut self) {
        if let Some(sa) = self.sa.take()
            && self.packets != 0
        {
            sa.add_counts(self.packets, self.bytes);
        }
        self.packets = 0;
        self.bytes = 0;
    }
}

impl Drop for SaAccum<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}
