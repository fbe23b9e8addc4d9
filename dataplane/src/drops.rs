//! The drop-reason catalog (`drops.md`) as one table, and the per-worker counters.
//!
//! Every packet qfp receives and does not send is counted under exactly one
//! [`DropReason`]. The reasons, their QFP ids and names, their direction and their
//! descriptions are written once, in the `drop_reasons!` table below; the enum, the
//! lookups and every output (`qfpctl show drops`, stats JSON, Prometheus) are generated
//! from it. Adding a reason is one line in the table.
//!
//! Packets that are consumed without being dropped (NAT-keepalives, punts to the control
//! core) and the success counts are [`Event`]s, a second small table. The QFP's global
//! `Ipsec*` counters are derived from a snapshot ([`Derived`]).
//!
//! **Single writer.** A worker owns its [`Counters`] and bumps them with a relaxed load and
//! store (never read-modify-write: plain `mov`s on x86). The control core reads them with
//! [`Counters::snapshot`] and sums the snapshots of all workers.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use crossbeam::utils::CachePadded;

/// Which way the packet was going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// ESP side towards the protected side (decap).
    Inbound,
    /// Protected side towards the ESP side (encap).
    Outbound,
    /// Not IPsec-specific (the QFP's global drop table).
    Global,
}

impl Direction {
    /// Lower-case name for output formats.
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Global => "global",
        }
    }
}

/// Generates [`DropReason`] from one table: `Variant = id, "QFP_NAME", Direction, "when";`.
macro_rules! drop_reasons {
    ($( $(#[$m:meta])* $v:ident = $id:literal, $name:literal, $dir:ident, $desc:literal; )+) => {
        /// Why a packet was dropped: one row of `drops.md`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum DropReason {
            $( $(#[$m])* #[doc = $desc] $v, )+
        }

        impl DropReason {
            /// Every reason, in table order (the order of the counter array and of output).
            pub const ALL: &'static [DropReason] = &[ $( DropReason::$v, )+ ];

            /// The QFP drop-type id (ids from 200 are qfp's own global reasons).
            pub const fn id(self) -> u16 {
                match self { $( DropReason::$v => $id, )+ }
            }

            /// The QFP counter name, as `show platform hardware qfp active feature ipsec
            /// datapath drops` prints it.
            pub const fn name(self) -> &'static str {
                match self { $( DropReason::$v => $name, )+ }
            }

            /// The direction the packet was going.
            pub const fn direction(self) -> Direction {
                match self { $( DropReason::$v => Direction::$dir, )+ }
            }

            /// When this reason applies.
            pub const fn description(self) -> &'static str {
                match self { $( DropReason::$v => $desc, )+ }
            }
        }
    };
}

drop_reasons! {
    // Inbound (ESP side towards the protected side).
    HitInvalidSaV4 = 1, "IN_V4_PKT_HIT_INVALID_SA", Inbound, "IPv4 ESP whose SPI is known but whose SA may not decrypt any more (deleted, being torn down, hard-expired and awaiting removal)";
    SaNotFoundV4 = 4, "IN_US_V4_PKT_SA_NOT_FOUND_SPI", Inbound, "IPv4 ESP (plain or UDP-encapsulated) to our address with an SPI we have no SA for; also punted to the control core";
    HitInvalidSaV6 = 9, "IN_V6_PKT_HIT_INVALID_SA", Inbound, "IPv6 ESP whose SPI is known but whose SA may not decrypt any more";
    SaNotFoundV6 = 12, "IN_US_V6_PKT_SA_NOT_FOUND_SPI", Inbound, "IPv6 ESP (plain or UDP-encapsulated) with an SPI we have no SA for; also punted to the control core";
    InHardExpiry = 18, "IN_CD_SW_IPSEC_HARD_EXPIRY", Inbound, "inbound SA past its hard lifetime (time, bytes or packets)";
    AntiReplay = 19, "IN_OCT_ANTI_REPLAY_FAIL", Inbound, "sequence number already seen inside the window (a replay)";
    HeadPadLen = 23, "IN_PKT_HEADPAD_LEN_ERR", Inbound, "ESP too short for header + IV + ICV, or bad pad length / padding bytes after decryption";
    // A frame longer than one mbuf arrives as a chain (a 9000-byte jumbo); the data room is
    // sized for the largest tunnel MTU, so it is too big for any tunnel: qfp reads only
    // contiguous packets and drops it, before parsing past the Ethernet header.
    InLenTooBigV4 = 25, "IN_INFRA_V4_PKT_LEN_TOO_BIG", Inbound, "IPv4 frame on the ESP side longer than one mbuf (a jumbo beyond the data room, which is sized for the largest tunnel MTU)";
    InLenTooBigV6 = 26, "IN_INFRA_V6_PKT_LEN_TOO_BIG", Inbound, "IPv6 frame on the ESP side longer than one mbuf (a jumbo beyond the data room)";
    MacException = 62, "IN_CD_SW_IPSEC_MAC_EXCEPTION", Inbound, "ICV check failed (wrong key, corrupted packet, forged packet)";
    NatDemux = 63, "IN_NAT_DEMUX_FAIL", Inbound, "UDP 4500 packet that is neither NAT-keepalive, IKE (non-ESP marker) nor a valid ESP";
    NextHeaderMismatch = 65, "IN_CD_SW_IPSEC_NH_MISMATCH", Inbound, "decrypted next header is not IPv4 (4) or IPv6 (41), or the inner header does not parse";
    FragV4 = 70, "IN_V4_PKT_FRAG_ERR", Inbound, "fragmented outer ESP packet, IPv4 or IPv6 (qfp does not reassemble outer fragments; the QFP's table has no IPv6 row for this)";
    IpVersion = 89, "IN_PKT_IPVER_INVALID", Inbound, "outer IP version is neither 4 nor 6, or the outer IP header is malformed or unsupported";
    PolicyV4 = 30, "IN_V4_POST_INPUT_POLICY_FAIL", Inbound, "decrypted IPv4 packet is not inside the tunnel's traffic selectors";
    PolicyV6 = 31, "IN_V6_POST_INPUT_POLICY_FAIL", Inbound, "decrypted IPv6 packet is not inside the tunnel's traffic selectors";
    OutOfWindow = 116, "CD_IN_PKT_OUT_OF_WINDOW", Inbound, "sequence number left of the anti-replay window (too old)";
    // Outbound (protected side towards the ESP side).
    OutHitInvalidSaV4 = 32, "OUT_V4_PKT_HIT_INVALID_SA", Outbound, "the tunnel's outbound SA may not encrypt any more (deleted or expired, no successor yet)";
    DenyV4 = 35, "OUT_V4_PKT_HIT_DENY_DROP_SP", Outbound, "plain IPv4 packet that matches no tunnel selector and no route (policy says drop)";
    OutHitInvalidSaV6 = 37, "OUT_V6_PKT_HIT_INVALID_SA", Outbound, "the tunnel's outbound SA may not encrypt any more (IPv6)";
    DenyV6 = 39, "OUT_V6_PKT_HIT_DENY_DROP_SP", Outbound, "plain IPv6 packet that matches no tunnel selector and no route (policy says drop)";
    OutHardExpiry = 44, "OUT_CD_SW_IPSEC_HARD_EXPIRY", Outbound, "outbound SA past its hard lifetime";
    SeqOverflow = 46, "OUT_CD_SW_IPSEC_DETECT_SEQ_OVEFLOW", Outbound, "the sequence number would wrap (RFC 4303 section 3.3.3): the SA must be rekeyed, never reused";
    CannotFragDf = 48, "OUT_CANNOT_FRAG_DF_SET_PKT", Outbound, "encapsulated packet larger than the tunnel MTU and DF set (inner IPv6 counts as DF)";
    LenTooBig = 51, "OUT_INFRA_V4_PKT_LEN_TOO_BIG", Outbound, "encapsulated packet larger than the tunnel MTU (qfp does not fragment), or a plain IPv4 frame longer than one mbuf (a jumbo)";
    OutLenTooBigV6 = 52, "OUT_INFRA_V6_PKT_LEN_TOO_BIG", Outbound, "plain IPv6 frame longer than one mbuf (a jumbo beyond the data room)";
    OutSaNotFoundV4 = 111, "OUT_IPV4_SA_NOT_FOUND", Outbound, "packet matched a tunnel that has no outbound SA at all";
    OutSaNotFoundV6 = 112, "OUT_IPV6_SA_NOT_FOUND", Outbound, "packet matched a tunnel that has no outbound SA at all (IPv6)";
    // Global (the QFP's `show platform hardware qfp active statistics drop`).
    NoBuffer = 110, "PKT_BUFFER_UNAVAILABLE", Global, "no mbuf / no headroom or tailroom to build the packet";
    TailDrop = 200, "IpsecTailDrop", Global, "a ring between cores (handoff to the SA's owner, punt to the control core) was full";
    NoRoute = 201, "Ipv4NoRoute", Global, "decrypted packet (IPv4 or IPv6) whose inner destination no route covers";
    TtlExceeded = 202, "Ipv4TtlExceeded", Global, "TTL (hop limit) would reach 0";
    BadIpChecksum = 203, "BadIpChecksum", Global, "outer, plain or decapsulated inner IPv4 header checksum wrong (RFC 1812 5.2.2: a router verifies it before forwarding)";
    UnknownL2 = 204, "UnknownL2", Global, "not Ethernet + IPv4/IPv6 (ARP, LLDP, VLAN we do not serve, runt frames, a plain packet whose IP header does not parse)";
    TxFull = 205, "TxFull", Global, "the NIC tx queue did not take the packet";
    // qfp's own, from 206: what a gateway with two ports meets that the catalog has no row for.
    NotForUs = 206, "NotForUs", Global, "IP packet on the unprotected port not addressed to one of our outer addresses (qfp routes nothing in clear on the ESP side)";
    ForUsUnhandled = 207, "ForUsUnhandled", Global, "IP packet to one of our outer addresses that is neither ESP, NAT-T nor the peer channel (ICMP, TCP, other UDP: qfp answers none of them)";
    PeerChannelDeny = 208, "PeerChannelDeny", Global, "UDP to the peer-channel port, or IKE on UDP 4500, from an address that is not a configured peer";
}

impl DropReason {
    /// Number of reasons.
    pub const COUNT: usize = Self::ALL.len();

    /// Position in [`ALL`](Self::ALL) and in the counter array.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The reason with this QFP id.
    pub fn from_id(id: u16) -> Option<DropReason> {
        Self::ALL.iter().copied().find(|r| r.id() == id)
    }

    /// The reason with this QFP name.
    pub fn from_name(name: &str) -> Option<DropReason> {
        Self::ALL.iter().copied().find(|r| r.name() == name)
    }

    /// Counted in the QFP's global `IpsecInvalidSa` (drops 1, 9, 32, 37).
    pub const fn is_invalid_sa(self) -> bool {
        matches!(
            self,
            DropReason::HitInvalidSaV4
                | DropReason::HitInvalidSaV6
                | DropReason::OutHitInvalidSaV4
                | DropReason::OutHitInvalidSaV6
        )
    }
}

impl core::fmt::Display for DropReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for DropReason {}

/// Generates [`Event`] from one table: `Variant, "name", "what";`.
macro_rules! events {
    ($( $v:ident, $name:literal, $desc:literal; )+) => {
        /// A counted outcome that is not a drop.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Event {
            $( #[doc = $desc] $v, )+
        }

        impl Event {
            /// Every event, in table order.
            pub const ALL: &'static [Event] = &[ $( Event::$v, )+ ];

            /// Counter name in outputs.
            pub const fn name(self) -> &'static str {
                match self { $( Event::$v => $name, )+ }
            }

            /// What it counts.
            pub const fn description(self) -> &'static str {
                match self { $( Event::$v => $desc, )+ }
            }
        }
    };
}

events! {
    NattKeepalive, "natt_keepalive", "NAT-keepalive (UDP 4500, one byte 0xff) consumed";
    Punted, "punted", "packet handed to the control core (IKE on UDP 4500, peer channel)";
    Decrypted, "decrypted", "ESP packet decapsulated and handed on";
    Encrypted, "encrypted", "packet encapsulated in ESP and handed on";
    HandedOff, "handed_off", "packet handed to the worker that owns its SA (counted by the sender)";
    HandoffReceived, "handoff_received", "packet received from another worker's handoff ring (counted by the owner)";
    InvalidSpiPunted, "invalid_spi_punted", "unknown-SPI event pushed to the control core's punt ring";
    InvalidSpiSuppressed, "invalid_spi_suppressed", "unknown-SPI event not pushed (per-worker rate limit, or the punt ring was full)";
    Injected, "injected", "packet built by the control core and sent by a worker (peer channel)";
}

impl Event {
    /// Number of events.
    pub const COUNT: usize = Self::ALL.len();
}

/// The QFP's global `Ipsec*` counters, derived from the drop counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Derived {
    /// Every inbound IPsec drop.
    IpsecInput,
    /// Every outbound IPsec drop.
    IpsecOutput,
    /// Drops 1, 9, 32 and 37.
    IpsecInvalidSa,
    /// Drop 200.
    IpsecTailDrop,
}

impl Derived {
    /// Every derived counter.
    pub const ALL: &'static [Derived] = &[
        Derived::IpsecInput,
        Derived::IpsecOutput,
        Derived::IpsecInvalidSa,
        Derived::IpsecTailDrop,
    ];

    /// Counter name, as the QFP prints it.
    pub const fn name(self) -> &'static str {
        match self {
            Derived::IpsecInput => "IpsecInput",
            Derived::IpsecOutput => "IpsecOutput",
            Derived::IpsecInvalidSa => "IpsecInvalidSa",
            Derived::IpsecTailDrop => "IpsecTailDrop",
        }
    }
}

const SLOTS: usize = DropReason::COUNT + Event::COUNT;

/// One worker's counters: a cache-line padded array indexed by reason, then by event.
#[derive(Debug)]
pub struct Counters {
    slots: CachePadded<[AtomicU64; SLOTS]>,
}

impl Default for Counters {
    fn default() -> Self {
        Counters::new()
    }
}

impl Counters {
    /// All zero.
    pub fn new() -> Counters {
        Counters { slots: CachePadded::new([const { AtomicU64::new(0) }; SLOTS]) }
    }

    #[inline(always)]
    fn add(&self, i: usize, n: u64) {
        let c = &self.slots[i];
        c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Counts one drop. Owner worker only.
    #[inline(always)]
    pub fn count_drop(&self, r: DropReason) {
        self.add(r.index(), 1);
    }

    /// Counts `n` drops. Owner worker only.
    #[inline(always)]
    pub fn add_drops(&self, r: DropReason, n: u64) {
        self.add(r.index(), n);
    }

    /// Counts one event. Owner worker only.
    #[inline(always)]
    pub fn count_event(&self, e: Event) {
        self.add(DropReason::COUNT + e as usize, 1);
    }

    /// Counts `n` events. Owner worker only.
    #[inline(always)]
    pub fn add_events(&self, e: Event, n: u64) {
        self.add(DropReason::COUNT + e as usize, n);
    }

    /// A copy of the counters (any thread).
    pub fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::default();
        for (i, d) in s.drops.iter_mut().enumerate() {
            *d = self.slots[i].load(Relaxed);
        }
        for (i, e) in s.events.iter_mut().enumerate() {
            *e = self.slots[DropReason::COUNT + i].load(Relaxed);
        }
        s
    }
}

/// Counter values at one moment; snapshots of several workers add up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    drops: [u64; DropReason::COUNT],
    events: [u64; Event::COUNT],
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot { drops: [0; DropReason::COUNT], events: [0; Event::COUNT] }
    }
}

impl core::ops::AddAssign<&Snapshot> for Snapshot {
    fn add_assign(&mut self, o: &Snapshot) {
        for (a, b) in self.drops.iter_mut().zip(o.drops.iter()) {
            *a = a.wrapping_add(*b);
        }
        for (a, b) in self.events.iter_mut().zip(o.events.iter()) {
            *a = a.wrapping_add(*b);
        }
    }
}

impl Snapshot {
    /// Drops counted under `r`.
    pub fn drops(&self, r: DropReason) -> u64 {
        self.drops[r.index()]
    }

    /// Times `e` happened.
    pub fn events(&self, e: Event) -> u64 {
        self.events[e as usize]
    }

    /// Every reason with its count, in table order (zero rows included).
    pub fn iter_drops(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|&r| (r, self.drops(r)))
    }

    /// Every event with its count.
    pub fn iter_events(&self) -> impl Iterator<Item = (Event, u64)> + '_ {
        Event::ALL.iter().map(|&e| (e, self.events(e)))
    }

    /// All drops.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().fold(0u64, |a, b| a.wrapping_add(*b))
    }

    /// A derived global counter.
    pub fn derived(&self, d: Derived) -> u64 {
        let sum = |f: fn(DropReason) -> bool| {
            self.iter_drops().filter(|(r, _)| f(*r)).fold(0u64, |a, (_, n)| a.wrapping_add(n))
        };
        match d {
            Derived::IpsecInput => sum(|r| r.direction() == Direction::Inbound),
            Derived::IpsecOutput => sum(|r| r.direction() == Direction::Outbound),
            Derived::IpsecInvalidSa => sum(DropReason::is_invalid_sa),
            Derived::IpsecTailDrop => self.drops(DropReason::TailDrop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn table_is_consistent() {
        let ids: HashSet<u16> = DropReason::ALL.iter().map(|r| r.id()).collect();
        let names: HashSet<&str> = DropReason::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(ids.len(), DropReason::COUNT, "ids are unique");
        assert_eq!(names.len(), DropReason::COUNT, "names are unique");
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert_eq!(DropReason::from_id(r.id()), Some(*r));
            assert_eq!(DropReason::from_name(r.name()), Some(*r));
            assert!(!r.description().is_empty());
        }
        // The rows of drops.md: 15 inbound, 10 outbound, 7 global, and qfp's own 206-208;
        // plus the QFP's INFRA_*_PKT_LEN_TOO_BIG rows 25, 26 and 52 (chained jumbo frames).
        let count = |d| DropReason::ALL.iter().filter(|r| r.direction() == d).count();
        assert_eq!(
            (count(Direction::Inbound), count(Direction::Outbound), count(Direction::Global)),
            (17, 11, 10)
        );
        assert_eq!(DropReason::SaNotFoundV4.name(), "IN_US_V4_PKT_SA_NOT_FOUND_SPI");
        assert_eq!(DropReason::SeqOverflow.id(), 46);
    }

    #[test]
    fn counters_snapshot_and_derive() {
        let a = Counters::new();
        a.count_drop(DropReason::SaNotFoundV4);
        a.count_drop(DropReason::SaNotFoundV4);
        a.count_drop(DropReason::HitInvalidSaV6);
        a.count_drop(DropReason::OutHitInvalidSaV4);
        a.add_drops(DropReason::TailDrop, 5);
        a.count_event(Event::NattKeepalive);
        let b = Counters::new();
        b.count_drop(DropReason::SeqOverflow);
        b.add_events(Event::Decrypted, 7);
        let mut s = a.snapshot();
        s += &b.snapshot();
        assert_eq!(s.drops(DropReason::SaNotFoundV4), 2);
        assert_eq!(s.derived(Derived::IpsecInput), 3);
        assert_eq!(s.derived(Derived::IpsecOutput), 2);
        assert_eq!(s.derived(Derived::IpsecInvalidSa), 2);
        assert_eq!(s.derived(Derived::IpsecTailDrop), 5);
        assert_eq!(s.total_drops(), 10);
        assert_eq!(s.events(Event::NattKeepalive), 1);
        assert_eq!(s.events(Event::Decrypted), 7);
        assert_eq!(s.iter_drops().count(), DropReason::COUNT);
        assert_eq!(s.iter_drops().filter(|(_, n)| *n > 0).count(), 5);
    }

    #[test]
    fn counters_are_padded() {
        assert!(core::mem::align_of::<Counters>() >= 64);
    }
}
