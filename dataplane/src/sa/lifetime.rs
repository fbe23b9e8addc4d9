//! SA lifetimes: soft limits (the control core rekeys) and hard limits (packets are
//! dropped), in time, bytes and packets, and the state the owner worker records.

/// One set of lifetime limits; `u64::MAX` means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Nanoseconds after creation.
    pub time_ns: u64,
    /// Inner (plaintext) bytes protected.
    pub bytes: u64,
    /// Packets protected.
    pub packets: u64,
}

impl Limits {
    /// No limit at all.
    pub const UNLIMITED: Limits = Limits { time_ns: u64::MAX, bytes: u64::MAX, packets: u64::MAX };
}

/// Soft limits (report: the control core rekeys) and hard limits (drop).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lifetime {
    /// Crossing one sets the soft-expiry flag.
    pub soft: Limits,
    /// Reaching one makes the SA refuse packets with the hard-expiry drop.
    pub hard: Limits,
}

impl Lifetime {
    /// Never expires.
    pub const UNLIMITED: Lifetime = Lifetime { soft: Limits::UNLIMITED, hard: Limits::UNLIMITED };
}

/// Lifetime state of an SA, as the owner worker last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Expiry {
    /// Within every limit.
    Live = 0,
    /// A soft limit is crossed (or the sequence number is near its end): rekey.
    Soft = 1,
    /// A hard limit is reached (or the sequence number is exhausted): packets are dropped.
    Hard = 2,
}
