//! Inbound SPIs: unique on the gateway, never reserved (>= 256), random, and — where the
//! NIC hashes ESP on the SPI — chosen so that the NIC delivers the SA's packets to the rx
//! queue of the worker that will own it (design.md section 6).
//!
//! [`SpiPool`] is the gateway-wide set of SPIs in use (the static ones from the config are
//! reserved at start). Released SPIs rest in a quarantine of the last
//! [`SpiPool::QUARANTINE`] releases before they can be drawn again, so that a packet still
//! in flight under an old SPI can never be taken for a new SA's. [`TunnelSpis`] lends the
//! pool to the peer-channel state machine of one tunnel (`ctrl::peer::SpiAllocator`),
//! picking the worker that should own the next SA and an SPI that lands there.

use std::collections::{HashSet, VecDeque};

use dataplane::gateway::WorkerId;
use dataplane::gateway::rss::RssConf;
use dataplane::sa::Tunnel;
use rand::Rng;

use crate::config::MIN_SPI;
use crate::gateway::shard::Sharding;
use crate::peer::SpiAllocator;

/// The SPIs in use on the gateway.
#[derive(Debug)]
pub struct SpiPool<R> {
    used: HashSet<u32>,
    quarantine: VecDeque<u32>,
    rng: R,
}

impl<R: Rng> SpiPool<R> {
    /// Released SPIs are not reused before this many later releases.
    pub const QUARANTINE: usize = 4096;
    /// Random draws before giving up on a constraint (an SPI landing on one queue of N is
    /// found in about N draws; this many failing means the constraint cannot be met).
    pub const MAX_DRAWS: usize = 1 << 16;

    /// An empty pool drawing from `rng`.
    pub fn new(rng: R) -> SpiPool<R> {
        SpiPool { used: HashSet::new(), quarantine: VecDeque::new(), rng }
    }

    /// Marks `spi` as used (a static SA). False if it already was, or is reserved.
    pub fn reserve(&mut self, spi: u32) -> bool {
        spi >= MIN_SPI && self.used.insert(spi)
    }

    /// Whether `spi` is in use or resting in quarantine.
    pub fn is_taken(&self, spi: u32) -> bool {
        self.used.contains(&spi) || self.quarantine.contains(&spi)
    }

    /// A fresh random SPI that `accept` likes, now reserved; `None` if none was found.
    pub fn allocate_where(&mut self, accept: impl Fn(u32) -> bool) -> Option<u32> {
        for _ in 0..Self::MAX_DRAWS {
            let spi = self.rng.next_u32();
            if spi < MIN_SPI || self.is_taken(spi) || !accept(spi) {
                continue;
            }
            self.used.insert(spi);
            return Some(spi);
        }
        None
    }

    /// Gives `spi` back (it rests in quarantine first).
    pub fn release(&mut self, spi: u32) {
        if self.used.remove(&spi) {
            self.quarantine.push_back(spi);
            if self.quarantine.len() > Self::QUARANTINE {
                self.quarantine.pop_front();
            }
        }
    }

    /// SPIs in use.
    pub fn in_use(&self) -> usize {
        self.used.len()
    }
}

/// An SPI for a new inbound SA of `tunnel` owned by `worker`: one the NIC steers to that
/// worker's queue when it hashes on the SPI (`rss`), any free one otherwise.
pub fn allocate_for<R: Rng>(
    pool: &mut SpiPool<R>,
    rss: Option<&RssConf>,
    tunnel: &Tunnel,
    worker: WorkerId,
) -> Option<u32> {
    match rss {
        Some(r) if r.steers_by_spi(tunnel) && r.reaches(worker) => {
            pool.allocate_where(|spi| r.queue_of_inbound(spi, tunnel) == worker)
        }
        _ => pool.allocate_where(|_| true),
    }
}

/// The pool lent to one tunnel's peer-channel state machine: each allocation picks the
/// least-loaded worker and an SPI that lands on it.
#[derive(Debug)]
pub struct TunnelSpis<'a, R> {
    /// The gateway's SPIs.
    pub pool: &'a mut SpiPool<R>,
    /// Who owns what.
    pub sharding: &'a mut Sharding,
    /// The tunnel the SAs are for.
    pub tunnel: Tunnel,
}

impl<R: Rng> SpiAllocator for TunnelSpis<'_, R> {
    fn allocate(&mut self) -> Option<u32> {
        let worker = self.sharding.least_loaded();
        allocate_for(self.pool, self.sharding.rss(), &self.tunnel, worker)
    }

    fn release(&mut self, spi: u32) {
        self.pool.release(spi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::gateway::rss::{RssConf, RssFields};
    use dataplane::sa::Endpoints;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn pool() -> SpiPool<StdRng> {
        SpiPool::new(StdRng::seed_from_u64(7))
    }

    fn tunnel(natt: bool) -> Tunnel {
        Tunnel {
            endpoints: Endpoints::V4 {
                local: "172.16.1.5".parse().unwrap(),
                remote: "172.16.2.5".parse().unwrap(),
            },
            natt: natt.then(dataplane::sa::NattPorts::default),
            mtu: 1500,
        }
    }

    #[test]
    fn unique_never_reserved_and_quarantined() {
        let mut p = pool();
        assert!(p.reserve(0x1001));
        assert!(!p.reserve(0x1001), "twice");
        assert!(!p.reserve(255), "reserved range");
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let s = p.allocate_where(|_| true).unwrap();
            assert!(s >= 256 && s != 0x1001 && seen.insert(s));
        }
        assert_eq!(p.in_use(), 10_001);
        p.release(0x1001);
        assert!(p.is_taken(0x1001), "quarantined: never drawn again soon");
        assert_eq!(p.in_use(), 10_000);
        assert!(p.allocate_where(|_| false).is_none(), "impossible constraint gives up");
    }

    #[test]
    fn spis_land_on_the_wanted_queue() {
        let rss = RssConf {
            key: (0..40u8).map(|i| i.wrapping_mul(73) ^ 0x5a).collect(),
            reta: (0..128).map(|i| i % 4).collect(),
            fields: RssFields { ip: true, udp: true, esp: true },
        };
        let mut p = pool();
        let t = tunnel(false);
        for worker in 0..4u16 {
            for _ in 0..50 {
                let spi = allocate_for(&mut p, Some(&rss), &t, worker).unwrap();
                assert_eq!(rss.queue_of_inbound(spi, &t), worker);
            }
        }
        // NAT-T: the SPI does not steer; any SPI.
        assert!(allocate_for(&mut p, Some(&rss), &tunnel(true), 3).is_some());
        // A queue the RETA never names: any SPI rather than none.
        assert!(allocate_for(&mut p, Some(&rss), &t, 9).is_some());
    }
}
