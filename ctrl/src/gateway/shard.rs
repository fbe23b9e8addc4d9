//! Who owns what: the worker of each inbound SA (its replay window) and of each tunnel's
//! outbound SAs (their sequence counter).
//!
//! Worker i polls rx queue i of each port. With RSS whose result software can predict
//! (the port's key and redirection table are known, see `dataplane::gateway::rss`), an
//! inbound SA belongs to the worker whose queue the NIC puts its packets on, so nothing is
//! handed off; a new SPI is chosen to land on the least-loaded worker when the NIC hashes
//! ESP on the SPI. Without RSS (virtual devices, one rx queue), every packet arrives on
//! one worker, and owners are spread over all workers so that the handoff path spreads the
//! crypto. Tunnels (their outbound SAs) are spread the same way: plain traffic arrives on
//! every queue by inner flow, so one owner per tunnel is as good as any.

use dataplane::gateway::WorkerId;
use dataplane::gateway::rss::RssConf;
use dataplane::sa::Tunnel;

/// The gateway's owner assignment.
#[derive(Debug, Clone)]
pub struct Sharding {
    /// SAs (inbound and outbound) currently owned by each worker.
    load: Vec<u32>,
    /// Rx queues of the unprotected port.
    rx_queues: u16,
    /// The unprotected port's RSS, when predictable.
    rss: Option<RssConf>,
}

impl Sharding {
    /// For `workers` workers, `rx_queues` rx queues on the unprotected port, and its RSS.
    pub fn new(workers: u16, rx_queues: u16, rss: Option<RssConf>) -> Sharding {
        Sharding { load: vec![0; usize::from(workers.max(1))], rx_queues, rss }
    }

    /// The unprotected port's RSS, if predictable.
    pub fn rss(&self) -> Option<&RssConf> {
        self.rss.as_ref()
    }

    /// The worker owning the fewest SAs (the lowest id on a tie).
    pub fn least_loaded(&self) -> WorkerId {
        let (w, _) = self.load.iter().enumerate().min_by_key(|(i, l)| (**l, *i)).unwrap_or((0, &0));
        w as WorkerId
    }

    /// The worker that receives inbound SA `spi` of `tunnel`, if the NIC's choice is known.
    pub fn receiving_worker(&self, spi: u32, tunnel: &Tunnel) -> Option<WorkerId> {
        let rss = self.rss.as_ref()?;
        let q = rss.queue_of_inbound(spi, tunnel);
        (q < self.rx_queues && usize::from(q) < self.load.len()).then_some(q)
    }

    /// Chooses and records the owner of a new inbound SA.
    pub fn assign_inbound(&mut self, spi: u32, tunnel: &Tunnel) -> WorkerId {
        let w = self.receiving_worker(spi, tunnel).unwrap_or_else(|| self.least_loaded());
        self.load[usize::from(w)] += 1;
        w
    }

    /// Chooses and records the owner of a tunnel's outbound SAs.
    pub fn assign_tunnel(&mut self) -> WorkerId {
        let w = self.least_loaded();
        self.load[usize::from(w)] += 1;
        w
    }

    /// Forgets one SA of `worker` (it was unpublished).
    pub fn release(&mut self, worker: WorkerId) {
        if let Some(l) = self.load.get_mut(usize::from(worker)) {
            *l = l.saturating_sub(1);
        }
    }

    /// SAs per worker.
    pub fn load(&self) -> &[u32] {
        &self.load
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::gateway::rss::RssFields;
    use dataplane::sa::Endpoints;

    fn t() -> Tunnel {
        Tunnel {
            endpoints: Endpoints::V4 {
                local: "10.0.0.1".parse().unwrap(),
                remote: "10.0.0.2".parse().unwrap(),
            },
            natt: None,
            mtu: 1500,
        }
    }

    #[test]
    fn without_rss_owners_spread_round_robin() {
        let mut s = Sharding::new(3, 1, None);
        let owners: Vec<_> = (0..6).map(|i| s.assign_inbound(0x100 + i, &t())).collect();
        assert_eq!(owners, vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(s.assign_tunnel(), 0);
        s.release(1);
        assert_eq!(s.least_loaded(), 1);
    }

    #[test]
    fn with_rss_the_receiving_worker_owns() {
        let rss = RssConf {
            key: vec![0x6d; 40],
            reta: (0..64).map(|i| i % 2).collect(),
            fields: RssFields { ip: true, udp: true, esp: true },
        };
        let mut s = Sharding::new(2, 2, Some(rss.clone()));
        for spi in 0x1000..0x1040 {
            assert_eq!(s.assign_inbound(spi, &t()), rss.queue_of_inbound(spi, &t()));
        }
    }
}
