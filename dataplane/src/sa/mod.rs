//! The runtime Security Association: everything a worker needs to encrypt or decrypt with
//! one SA, as one object shared by reference between the control core and one worker.
//!
//! The control core builds an [`Sa`] (key expanded, GHASH key and outer header precomputed:
//! nothing per packet is derived from config), publishes a pointer to it (crossbeam-epoch,
//! in the gateway) and later republishes the *same* object in new tables, so the counters,
//! sequence number and replay window carry over unchanged.
//!
//! **Who writes what** (the single-writer rule that makes this `Sync` in safe Rust, with no
//! lock and no atomic read-modify-write):
//! - everything outside `Runtime` and `valid` is immutable after [`Sa::new`];
//! - `valid` is written by the control core only ([`Sa::invalidate`]);
//! - `Runtime` (outbound sequence counter, inbound replay window, packet/byte counters,
//!   replay/ICV failure counts, lifetime state) is written by exactly one worker, the SA's
//!   owner, with relaxed `load` + `store` (plain `mov`s on x86). Anyone may read it.
//!
//! A second worker writing the runtime part would lose updates, not corrupt memory; the
//! gateway's ownership and handoff (design.md section 6) make sure it never happens.

use crate::crypto::{EspAead, InvalidKeyLength, KeySize, SALT_LEN};
use crate::replay::{InvalidWindowSize, ReplayWindow};
use crate::selector::Selectors;
use crate::wire::esp;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::Relaxed};
use crossbeam::utils::CachePadded;
mod lifetime;
mod tunnel;

pub use lifetime::{Expiry, Lifetime, Limits};
pub(crate) use tunnel::OuterTemplate;
pub use tunnel::{Endpoints, NattPorts, Tunnel, flow_label_for};

/// Which way an SA protects traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaDirection {
    /// Decrypts what the peer sends.
    Inbound,
    /// Encrypts what we send.
    Outbound,
}

/// What the control core needs to build an SA. The key is borrowed: the SA keeps only the
/// expanded schedule, which is zeroized on drop.
#[derive(Debug, Clone)]
pub struct SaConfig<'k> {
    /// SPI (on the wire, and the lookup key for inbound SAs). Never 0.
    pub spi: u32,
    /// Inbound or outbound.
    pub direction: SaDirection,
    /// AES key, 16, 24 or 32 bytes.
    pub key: &'k [u8],
    /// The 4-byte salt of RFC 4106.
    pub salt: [u8; SALT_LEN],
    /// 64-bit Extended Sequence Numbers.
    pub esn: bool,
    /// Outer addresses, NAT-T and MTU.
    pub tunnel: Tunnel,
    /// The remote protected prefixes (see `selector`).
    pub selectors: Selectors,
    /// Soft and hard limits.
    pub lifetime: Lifetime,
    /// Inbound anti-replay window (0 = off); ignored for outbound SAs.
    pub replay_window: u32,
    /// Creation time, on the same monotonic nanosecond clock as every `now`.
    pub created_ns: u64,
    /// Sequence state at creation: outbound, the last number sent (the first packet gets
    /// `initial_seq + 1`); inbound, the highest number already accepted. 0 for a new SA.
    pub initial_seq: u64,
}

/// Why an SA could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaError {
    /// Bad key length.
    #[error("SPI {spi:#x}: {source}")]
    Key {
        /// The SA.
        spi: u32,
        /// The key error.
        source: InvalidKeyLength,
    },
    /// Bad replay window.
    #[error("SPI {spi:#x}: {source}")]
    ReplayWindow {
        /// The SA.
        spi: u32,
        /// The window error.
        source: InvalidWindowSize,
    },
    /// SPI 0: reserved for local use and never sent (RFC 4303 section 2.1); on UDP 4500 it
    /// would read as the non-ESP marker. (1..=255 are reserved by IANA for future use but
    /// accepted, as Linux and DPDK do: static configs and published vectors use them.)
    #[error("SPI 0 is reserved and may not be used")]
    ReservedSpi(u32),
    /// MTU below the family minimum (68 for IPv4, 1280 for IPv6) or too small for any
    /// packet after ESP overhead.
    #[error("SPI {spi:#x}: tunnel MTU {mtu} is too small")]
    Mtu {
        /// The SA.
        spi: u32,
        /// The MTU given.
        mtu: u16,
    },
    /// A sequence number beyond what the SA can carry (above 2^32 - 1 without ESN).
    #[error("SPI {spi:#x}: initial sequence number {seq:#x} does not fit a {bits}-bit counter")]
    InitialSeq {
        /// The SA.
        spi: u32,
        /// The sequence number given.
        seq: u64,
        /// 32 or 64.
        bits: u8,
    },
}

/// The last sequence number an SA may send: 2^32 - 1, or 2^64 - 1 with ESN.
pub const fn seq_limit(esn: bool) -> u64 {
    if esn { u64::MAX } else { u32::MAX as u64 }
}

/// From this outbound sequence number on, the SA raises the soft-expiry flag so the
/// control core rekeys long before the counter runs out: the last 1/16 of the space.
pub const fn seq_soft_limit(esn: bool) -> u64 {
    seq_limit(esn) - seq_limit(esn) / 16
}

/// The part of an SA written by its owner worker (see the module doc).
#[derive(Debug)]
pub(crate) struct Runtime {
    /// Outbound: the last sequence number sent.
    pub(crate) seq: AtomicU64,
    /// Packets protected (encrypted or decrypted and accepted).
    pub(crate) packets: AtomicU64,
    /// Inner bytes protected.
    pub(crate) bytes: AtomicU64,
    /// Inbound packets refused by the replay window.
    pub(crate) replay_failed: AtomicU64,
    /// Inbound packets whose ICV did not verify.
    pub(crate) verify_failed: AtomicU64,
    /// [`Expiry`] as u8.
    pub(crate) expiry: AtomicU8,
    /// Inbound anti-replay state (empty for outbound SAs).
    pub(crate) window: ReplayWindow,
}

/// A point-in-time copy of an SA's counters, for `show sa` and the stats JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaStats {
    /// Packets protected.
    pub packets: u64,
    /// Inner bytes protected.
    pub bytes: u64,
    /// Outbound: last sequence number sent; inbound: highest accepted.
    pub seq: u64,
    /// Inbound replay-window refusals.
    pub replay_failed: u64,
    /// Inbound ICV failures.
    pub verify_failed: u64,
    /// Lifetime state.
    pub expiry: Expiry,
}

/// A runtime SA. See the module documentation for the single-writer rule.
#[derive(Debug)]
pub struct Sa {
    spi: u32,
    direction: SaDirection,
    esn: bool,
    aead: EspAead,
    tunnel: Tunnel,
    pub(crate) outer: OuterTemplate,
    selectors: Selectors,
    lifetime: Lifetime,
    created_ns: u64,
    soft_deadline_ns: u64,
    hard_deadline_ns: u64,
    /// Written by the control core only.
    valid: AtomicBool,
    /// Written by the owner worker only; on its own cache lines so that the worker's stores
    /// do not evict the read-mostly fields above from other cores.
    pub(crate) rt: CachePadded<Runtime>,
}

/// Bytes ESP adds to an inner packet of `inner_len` bytes, outer header excluded.
pub const fn esp_overhead(inner_len: usize) -> usize {
    esp::HEADER_LEN + esp::IV_LEN + esp::pad_len_for(inner_len) + esp::TRAILER_LEN + esp::ICV_LEN
}

impl Sa {
    /// Builds an SA: expands the key, precomputes the GHASH key and the outer header,
    /// allocates the replay bitmap. Control core only (it allocates).
    pub fn new(cfg: SaConfig<'_>) -> Result<Sa, SaError> {
        let spi = cfg.spi;
        if spi == 0 {
            return Err(SaError::ReservedSpi(spi));
        }
        let aead =
            EspAead::new(cfg.key, cfg.salt).map_err(|source| SaError::Key { spi, source })?;
        if cfg.initial_seq > seq_limit(cfg.esn) {
            return Err(SaError::InitialSeq {
                spi,
                seq: cfg.initial_seq,
                bits: if cfg.esn { 64 } else { 32 },
            });
        }
        let window_size = match cfg.direction {
            SaDirection::Inbound => cfg.replay_window,
            SaDirection::Outbound => 0,
        };
        let window = ReplayWindow::new(window_size, cfg.esn, cfg.initial_seq)
            .map_err(|source| SaError::ReplayWindow { spi, source })?;
        let outer = OuterTemplate::new(&cfg.tunnel, spi);
        let min_mtu = match cfg.tunnel.endpoints {
            Endpoints::V4 { .. } => 68,
            Endpoints::V6 { .. } => 1280,
        };
        if cfg.tunnel.mtu < min_mtu || usize::from(cfg.tunnel.mtu) < outer.len + esp_overhead(0) {
            return Err(SaError::Mtu { spi, mtu: cfg.tunnel.mtu });
        }
        let seq = match cfg.direction {
            SaDirection::Outbound => cfg.initial_seq,
            SaDirection::Inbound => 0,
        };
        Ok(Sa {
            spi,
            direction: cfg.direction,
            esn: cfg.esn,
            aead,
            tunnel: cfg.tunnel,
            outer,
            selectors: cfg.selectors,
            lifetime: cfg.lifetime,
            created_ns: cfg.created_ns,
            soft_deadline_ns: cfg.created_ns.saturating_add(cfg.lifetime.soft.time_ns),
            hard_deadline_ns: cfg.created_ns.saturating_add(cfg.lifetime.hard.time_ns),
            valid: AtomicBool::new(true),
            rt: CachePadded::new(Runtime {
                seq: AtomicU64::new(seq),
                packets: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
                replay_failed: AtomicU64::new(0),
                verify_failed: AtomicU64::new(0),
                expiry: AtomicU8::new(Expiry::Live as u8),
                window,
            }),
        })
    }

    /// The SPI.
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// Inbound or outbound.
    pub fn direction(&self) -> SaDirection {
        self.direction
    }

    /// Whether the SA uses Extended Sequence Numbers.
    pub fn esn(&self) -> bool {
        self.esn
    }

    /// The AES key size.
    pub fn key_size(&self) -> KeySize {
        self.aead.key_size()
    }

    /// The tunnel (outer addresses, NAT-T, MTU).
    pub fn tunnel(&self) -> &Tunnel {
        &self.tunnel
    }

    /// The tunnel's selectors (remote protected prefixes).
    pub fn selectors(&self) -> &Selectors {
        &self.selectors
    }

    /// Soft and hard limits.
    pub fn lifetime(&self) -> &Lifetime {
        &self.lifetime
    }

    /// Creation time (ns, monotonic).
    pub fn created_ns(&self) -> u64 {
        self.created_ns
    }

    /// Anti-replay window size (0 = off, and always 0 for outbound SAs).
    pub fn replay_window(&self) -> u32 {
        self.rt.window.size()
    }

    /// Length of the outer header this SA builds (IP, plus UDP with NAT-T).
    pub fn outer_header_len(&self) -> usize {
        self.outer.len
    }

    /// The largest inner packet that still fits the tunnel MTU after encapsulation; the
    /// gateway uses it for ICMP "fragmentation needed" / "packet too big".
    pub fn max_inner_len(&self) -> usize {
        let room = usize::from(self.tunnel.mtu)
            - self.outer.len
            - esp::HEADER_LEN
            - esp::IV_LEN
            - esp::ICV_LEN;
        // Payload + padding + trailer must be a multiple of 4.
        (room & !3) - esp::TRAILER_LEN
    }

    /// Asks the CPU to start loading what decapsulating or encapsulating a short packet
    /// with this SA reads: its read-mostly fields, its runtime line (sequence number,
    /// replay window top, counters), the key schedule and the selectors. A hint for the
    /// gateway, which looks a burst's SAs up before it processes the burst: with
    /// thousands of tunnels these lines are not in the core's caches.
    #[inline]
    pub fn prefetch(&self) {
        // The fields decap and encap read, wherever the compiler put them (the line of each;
        // the CPU drops a prefetch of a line already on its way).
        qfp_simd::hint::prefetch(&self.spi);
        qfp_simd::hint::prefetch(&self.valid);
        qfp_simd::hint::prefetch(&self.hard_deadline_ns);
        qfp_simd::hint::prefetch(&self.selectors);
        qfp_simd::hint::prefetch(&self.tunnel);
        qfp_simd::hint::prefetch(&*self.rt);
        self.aead.prefetch();
        self.selectors.prefetch();
        self.rt.window.prefetch();
    }

    pub(crate) fn aead(&self) -> &EspAead {
        &self.aead
    }

    /// False once the control core has invalidated the SA (deleted, torn down).
    pub fn is_valid(&self) -> bool {
        self.valid.load(Relaxed)
    }

    /// Marks the SA unusable: packets that still find it count as "hit invalid SA".
    /// Control core only.
    pub fn invalidate(&self) {
        self.valid.store(false, Relaxed);
    }

    /// The lifetime state the owner worker last recorded. The control core polls this to
    /// start a rekey (`Soft`) or to remove the SA (`Hard`).
    pub fn expiry(&self) -> Expiry {
        match self.rt.expiry.load(Relaxed) {
            0 => Expiry::Live,
            1 => Expiry::Soft,
            _ => Expiry::Hard,
        }
    }

    /// Counters now.
    pub fn stats(&self) -> SaStats {
        SaStats {
            packets: self.rt.packets.load(Relaxed),
            bytes: self.rt.bytes.load(Relaxed),
            seq: match self.direction {
                SaDirection::Outbound => self.rt.seq.load(Relaxed),
                SaDirection::Inbound => self.rt.window.top(),
            },
            replay_failed: self.rt.replay_failed.load(Relaxed),
            verify_failed: self.rt.verify_failed.load(Relaxed),
            expiry: self.expiry(),
        }
    }

    // ---- owner-worker side (crate-private: only the pipeline writes) ----

    /// Raises the recorded lifetime state (never lowers it). Owner only.
    pub(crate) fn raise_expiry(&self, e: Expiry) {
        if self.rt.expiry.load(Relaxed) < e as u8 {
            self.rt.expiry.store(e as u8, Relaxed);
        }
    }

    /// Whether a hard limit is reached, counting `pending` packets/bytes not yet flushed to
    /// the counters; also records soft expiry by time. Owner only.
    #[inline]
    pub(crate) fn check_lifetime(
        &self,
        now: u64,
        pending_packets: u64,
        pending_bytes: u64,
    ) -> bool {
        if now >= self.soft_deadline_ns {
            self.raise_expiry(Expiry::Soft);
        }
        let hard = &self.lifetime.hard;
        let expired = now >= self.hard_deadline_ns
            || self.rt.packets.load(Relaxed).saturating_add(pending_packets) >= hard.packets
            || self.rt.bytes.load(Relaxed).saturating_add(pending_bytes) >= hard.bytes;
        if expired {
            self.raise_expiry(Expiry::Hard);
        }
        expired
    }

    /// Adds a burst's packets and bytes and records a crossed soft limit. Owner only.
    pub(crate) fn add_counts(&self, packets: u64, bytes: u64) {
        let p = self.rt.packets.load(Relaxed).wrapping_add(packets);
        let b = self.rt.bytes.load(Relaxed).wrapping_add(bytes);
        self.rt.packets.store(p, Relaxed);
        self.rt.bytes.store(b, Relaxed);
        let soft = &self.lifetime.soft;
        if p >= soft.packets || b >= soft.bytes {
            self.raise_expiry(Expiry::Soft);
        }
    }

    /// The next outbound sequence number, or `None` when the counter is exhausted (which
    /// also records hard expiry: the SA can never send again). Owner only.
    #[inline]
    pub(crate) fn peek_next_seq(&self) -> Option<u64> {
        let last = self.rt.seq.load(Relaxed);
        if last >= seq_limit(self.esn) {
            self.raise_expiry(Expiry::Hard);
            return None;
        }
        Some(last + 1)
    }

    /// Consumes `seq` (from `peek_next_seq`) for a packet that will be sent. Owner only.
    #[inline]
    pub(crate) fn commit_seq(&self, seq: u64) {
        self.rt.seq.store(seq, Relaxed);
        if seq >= seq_soft_limit(self.esn) {
            self.raise_expiry(Expiry::Soft);
        }
    }

    pub(crate) fn window(&self) -> &ReplayWindow {
        &self.rt.window
    }

    pub(crate) fn count_replay_failure(&self) {
        let c = &self.rt.replay_failed;
        c.store(c.load(Relaxed).wrapping_add(1), Relaxed);
    }

    pub(crate) fn count_verify_failure(&self) {
        let c = &self.rt.verify_failed;
        c.store(c.load(Relaxed).wrapping_add(1), Relaxed);
    }
}

// The whole point of the single-writer design: shareable across cores, in safe Rust.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Sa>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn cfg(direction: SaDirection) -> SaConfig<'static> {
        SaConfig {
            spi: 0x1001,
            direction,
            key: &[7; 16],
            salt: [1, 2, 3, 4],
            esn: false,
            tunnel: Tunnel {
                endpoints: Endpoints::V4 {
                    local: Ipv4Addr::new(172, 16, 1, 5),
                    remote: Ipv4Addr::new(172, 16, 2, 5),
                },
                natt: None,
                mtu: 1500,
            },
            selectors: Selectors::any(),
            lifetime: Lifetime::UNLIMITED,
            replay_window: 1024,
            created_ns: 1_000,
            initial_seq: 0,
        }
    }

    #[test]
    fn construction_is_validated() {
        assert!(Sa::new(cfg(SaDirection::Inbound)).is_ok());
        assert_eq!(
            Sa::new(SaConfig { spi: 0, ..cfg(SaDirection::Inbound) }).err(),
            Some(SaError::ReservedSpi(0))
        );
        assert!(Sa::new(SaConfig { spi: 0x34, ..cfg(SaDirection::Inbound) }).is_ok());
        assert!(matches!(
            Sa::new(SaConfig { key: &[0; 15], ..cfg(SaDirection::Inbound) }),
            Err(SaError::Key { .. })
        ));
        assert!(matches!(
            Sa::new(SaConfig { replay_window: 1000, ..cfg(SaDirection::Inbound) }),
            Err(SaError::ReplayWindow { .. })
        ));
        let mut c = cfg(SaDirection::Outbound);
        c.tunnel.mtu = 60;
        assert!(matches!(Sa::new(c), Err(SaError::Mtu { .. })));
        let c = SaConfig { initial_seq: 1 << 32, ..cfg(SaDirection::Outbound) };
        assert!(matches!(Sa::new(c), Err(SaError::InitialSeq { .. })));
        // The messages name the SA.
        let e = Sa::new(SaConfig { key: &[0; 15], ..cfg(SaDirection::Inbound) }).unwrap_err();
        assert_eq!(e.to_string(), "SPI 0x1001: AES key of 15 bytes (must be 16, 24 or 32)");
    }

    #[test]
    fn lifetimes() {
        let mut c = cfg(SaDirection::Outbound);
        c.lifetime.soft = Limits { time_ns: 100, bytes: 1000, packets: 10 };
        c.lifetime.hard = Limits { time_ns: 200, bytes: 2000, packets: 20 };
        let sa = Sa::new(c).unwrap();
        assert!(!sa.check_lifetime(1_050, 0, 0));
        assert_eq!(sa.expiry(), Expiry::Live);
        assert!(!sa.check_lifetime(1_100, 0, 0));
        assert_eq!(sa.expiry(), Expiry::Soft, "soft by time");
        assert!(sa.check_lifetime(1_200, 0, 0), "hard by time");
        assert_eq!(sa.expiry(), Expiry::Hard);

        let mut c = cfg(SaDirection::Outbound);
        c.lifetime.soft.packets = 2;
        c.lifetime.hard.packets = 3;
        let sa = Sa::new(c).unwrap();
        sa.add_counts(1, 100);
        assert_eq!(sa.expiry(), Expiry::Live);
        sa.add_counts(1, 100);
        assert_eq!(sa.expiry(), Expiry::Soft);
        assert!(!sa.check_lifetime(0, 0, 0));
        assert!(sa.check_lifetime(0, 1, 0), "the pending packet reaches the hard limit");
    }

    #[test]
    fn sequence_never_wraps() {
        let sa = Sa::new(SaConfig {
            initial_seq: u64::from(u32::MAX) - 1,
            ..cfg(SaDirection::Outbound)
        })
        .unwrap();
        assert_eq!(sa.expiry(), Expiry::Live);
        let s = sa.peek_next_seq().unwrap();
        assert_eq!(s, u64::from(u32::MAX));
        sa.commit_seq(s);
        assert_eq!(sa.expiry(), Expiry::Soft);
        assert_eq!(sa.peek_next_seq(), None);
        assert_eq!(sa.expiry(), Expiry::Hard);
    }

    #[test]
    fn outer_template_and_mtu() {
        let sa = Sa::new(cfg(SaDirection::Outbound)).unwrap();
        assert_eq!(sa.outer_header_len(), 20);
        let t = &sa.outer.bytes[..20];
        assert_eq!((t[0], t[8], t[9]), (0x45, 64, 50));
        // 1500 - 20 - 8 - 8 - 16 = 1448 bytes for payload+padding+trailer: 1446 inner.
        assert_eq!(sa.max_inner_len(), 1446);
        assert_eq!(20 + esp_overhead(1446) + 1446, 1500);
        assert!(20 + esp_overhead(1447) + 1447 > 1500);
        let mut c = cfg(SaDirection::Outbound);
        c.tunnel = Tunnel {
            endpoints: Endpoints::V6 {
                local: "2001:db8::1".parse().unwrap(),
                remote: "2001:db8::2".parse().unwrap(),
            },
            natt: Some(NattPorts::default()),
            mtu: 1500,
        };
        let sa6 = Sa::new(c).unwrap();
        assert_eq!(sa6.outer_header_len(), 48);
        let t = &sa6.outer.bytes[..48];
        assert_eq!((t[6], t[7]), (17, 64));
        assert_eq!(u32::from_be_bytes([t[0], t[1], t[2], t[3]]) & 0xf_ffff, flow_label_for(0x1001));
        assert_eq!(&t[40..44], &[0x11, 0x94, 0x11, 0x94]);
    }

    #[test]
    fn flow_labels_are_never_zero() {
        assert_ne!(flow_label_for(0), 0);
        assert_ne!(flow_label_for(0x1001), flow_label_for(0x1002));
    }
}
