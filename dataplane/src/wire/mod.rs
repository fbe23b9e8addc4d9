//! Packet formats, one file each: Ethernet (with one 802.1Q tag), IPv4, IPv6, UDP and ESP.
//!
//! The shape follows smoltcp's `wire` module. Each format has a `Packet<T: AsRef<[u8]>>`
//! view over borrowed bytes with getters (and setters where `T: AsMut<[u8]>`), and a `Repr`
//! (the header as plain values) with `parse`, `buffer_len` and `emit`.
//!
//! **The rule: call `new_checked` on everything received.** `new_checked` proves once that
//! the buffer is long enough for every fixed field and that the length fields inside the
//! header agree with the buffer; after that no getter can index out of bounds, so nothing in
//! here panics on any input. `new_unchecked` is for buffers we are building ourselves.
//!
//! Errors are the zero-sized [`Error`]: the fast path needs to know *that* a header is bad,
//! and the caller already knows *which* header it asked for, so it maps the failure to the
//! right drop reason itself (see `pipeline`).

pub mod checksum;
pub mod esp;
pub mod eth;
pub mod ipv4;
pub mod ipv6;
pub mod udp;

use core::fmt;

/// A malformed or truncated header. Zero-sized so that `Result<T>` costs nothing extra.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Error;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed or truncated packet header")
    }
}

impl std::error::Error for Error {}

/// Result of a header parse.
pub type Result<T> = core::result::Result<T, Error>;

/// IP version of a packet (outer or inner).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpVersion {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl IpVersion {
    /// The version from the first nibble of an IP header, if it is 4 or 6.
    pub fn of_packet(data: &[u8]) -> Option<IpVersion> {
        match data.first()? >> 4 {
            4 => Some(IpVersion::V4),
            6 => Some(IpVersion::V6),
            _ => None,
        }
    }

    /// The IP protocol number that announces this version as a payload (4 or 41): the ESP
    /// Next Header of a tunnel-mode packet.
    pub const fn protocol(self) -> u8 {
        match self {
            IpVersion::V4 => ip_proto::IPV4,
            IpVersion::V6 => ip_proto::IPV6,
        }
    }
}

/// IANA IP protocol numbers (IPv4 Protocol, IPv6 Next Header) that qfp cares about.
pub mod ip_proto {
    /// IPv6 Hop-by-Hop Options (extension header).
    pub const HOPOPT: u8 = 0;
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// IPv4 encapsulated (ESP tunnel mode Next Header for an inner IPv4 packet).
    pub const IPV4: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 encapsulated (ESP tunnel mode Next Header for an inner IPv6 packet).
    pub const IPV6: u8 = 41;
    /// IPv6 Routing header (extension header).
    pub const IPV6_ROUTE: u8 = 43;
    /// IPv6 Fragment header (extension header).
    pub const IPV6_FRAG: u8 = 44;
    /// Encapsulating Security Payload.
    pub const ESP: u8 = 50;
    /// Authentication Header.
    pub const AH: u8 = 51;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// No Next Header (an ESP dummy packet, RFC 4303 section 2.6).
    pub const NONE: u8 = 59;
    /// IPv6 Destination Options (extension header).
    pub const IPV6_OPTS: u8 = 60;
}
