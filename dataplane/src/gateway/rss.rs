//! Receive-side scaling, in software: which rx queue a NIC puts a packet on.
//!
//! A NIC with RSS hashes a few header fields with the Toeplitz function under its RSS key
//! and uses the low bits of the hash to index its redirection table (RETA), which names the
//! rx queue. qfp computes the same thing for the *flows of an SA* so that the worker that
//! polls that queue can own the SA (no handoff), and so that the control core can choose a
//! new inbound SPI that lands on a wanted worker (design.md section 6).
//!
//! What is hashed depends on the packet and on the hash functions the port enabled:
//!
//! | packet | `RTE_ETH_RSS_ESP` on | otherwise |
//! |---|---|---|
//! | ESP (protocol 50) | the SPI (4 bytes) | outer source and destination addresses |
//! | ESP in UDP (NAT-T) | — | addresses and UDP ports (with `RTE_ETH_RSS_UDP`), else addresses |
//!
//! Hashing the SPI alone is what Intel's ice/iavf do for `RTE_ETH_RSS_ESP`; a NIC that mixes
//! the addresses in as well would make [`RssConf::queue_of_esp`] wrong, and the only cost
//! would be handoffs (ownership stays correct whatever the NIC does, because the worker
//! that receives a packet checks the owner). Inputs are laid out as DPDK's
//! `rte_thash_tuple` and the Microsoft RSS verification suite lay them out: source address,
//! destination address, source port, destination port, all in network byte order.

use crate::sa::{Endpoints, Tunnel};

/// The Toeplitz hash of `input` under `key` (RSS). `key` must be at least 4 bytes longer
/// than `input` (NIC keys are 40 or 52 bytes; inputs at most 36).
pub fn toeplitz(key: &[u8], input: &[u8]) -> u32 {
    debug_assert!(key.len() >= input.len() + 4);
    let mut hash = 0u32;
    // `window` holds the 64 key bits starting at the current input byte's first bit.
    let k = |i: usize| u64::from(key.get(i).copied().unwrap_or(0));
    let mut window: u64 = (k(0) << 56)
        | (k(1) << 48)
        | (k(2) << 40)
        | (k(3) << 32)
        | (k(4) << 24)
        | (k(5) << 16)
        | (k(6) << 8)
        | k(7);
    for (i, &byte) in input.iter().enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                hash ^= (window >> (32 - bit)) as u32;
            }
        }
        window = (window << 8) | k(i + 8);
    }
    hash
}

/// The hash functions a port has enabled, as far as qfp's SAs are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RssFields {
    /// IP addresses (`RTE_ETH_RSS_IP` family).
    pub ip: bool,
    /// UDP ports (`RTE_ETH_RSS_UDP` family).
    pub udp: bool,
    /// ESP SPI (`RTE_ETH_RSS_ESP`).
    pub esp: bool,
}

/// A port's RSS set-up: key, redirection table and enabled fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RssConf {
    /// The Toeplitz key (40 or 52 bytes on most NICs).
    pub key: Vec<u8>,
    /// Redirection table: entry `hash % len` is the rx queue.
    pub reta: Vec<u16>,
    /// What the NIC hashes.
    pub fields: RssFields,
}

impl RssConf {
    /// The rx queue of a hash.
    #[inline]
    pub fn queue_of_hash(&self, hash: u32) -> u16 {
        if self.reta.is_empty() { 0 } else { self.reta[hash as usize % self.reta.len()] }
    }

    /// The rx queue of plain ESP with `spi` from `src` to `dst` (outer addresses).
    pub fn queue_of_esp(&self, spi: u32, endpoints: &Endpoints) -> u16 {
        if self.fields.esp {
            self.queue_of_hash(toeplitz(&self.key, &spi.to_be_bytes()))
        } else {
            self.queue_of_addresses(endpoints, None)
        }
    }

    /// The rx queue of the packets the peer sends us on a tunnel: `endpoints` and `ports`
    /// are seen from our side (`local` is the destination).
    fn queue_of_addresses(&self, endpoints: &Endpoints, ports: Option<(u16, u16)>) -> u16 {
        if !self.fields.ip {
            return self.queue_of_hash(0);
        }
        let mut input = [0u8; 36];
        let mut n = match *endpoints {
            Endpoints::V4 { local, remote } => {
                input[..4].copy_from_slice(&remote.octets());
                input[4..8].copy_from_slice(&local.octets());
                8
            }
            Endpoints::V6 { local, remote } => {
                input[..16].copy_from_slice(&remote.octets());
                input[16..32].copy_from_slice(&local.octets());
                32
            }
        };
        if let (Some((remote_port, local_port)), true) = (ports, self.fields.udp) {
            input[n..n + 2].copy_from_slice(&remote_port.to_be_bytes());
            input[n + 2..n + 4].copy_from_slice(&local_port.to_be_bytes());
            n += 4;
        }
        self.queue_of_hash(toeplitz(&self.key, &input[..n]))
    }

    /// The rx queue that receives the packets of inbound SA `spi` of `tunnel`.
    pub fn queue_of_inbound(&self, spi: u32, tunnel: &Tunnel) -> u16 {
        match tunnel.natt {
            Some(p) => self.queue_of_addresses(&tunnel.endpoints, Some((p.remote, p.local))),
            None => self.queue_of_esp(spi, &tunnel.endpoints),
        }
    }

    /// Whether the SPI alone decides the queue of `tunnel`'s inbound SAs, so that a chosen
    /// SPI can steer them to a chosen queue.
    pub fn steers_by_spi(&self, tunnel: &Tunnel) -> bool {
        self.fields.esp && tunnel.natt.is_none()
    }

    /// Whether some SPI lands on `queue` (the RETA names it).
    pub fn reaches(&self, queue: u16) -> bool {
        self.reta.contains(&queue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    /// The key of the Microsoft RSS verification suite (also DPDK `app/test/test_thash.c`,
    /// `default_rss_key`, and the Intel 82599 datasheet 7.1.2.8.3).
    const KEY: [u8; 40] = [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f,
        0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
        0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    ];

    fn v4_input(src: &str, dst: &str, ports: Option<(u16, u16)>) -> Vec<u8> {
        let mut v = src.parse::<Ipv4Addr>().unwrap().octets().to_vec();
        v.extend_from_slice(&dst.parse::<Ipv4Addr>().unwrap().octets());
        if let Some((s, d)) = ports {
            v.extend_from_slice(&s.to_be_bytes());
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    fn v6_input(src: &str, dst: &str, ports: Option<(u16, u16)>) -> Vec<u8> {
        let mut v = src.parse::<Ipv6Addr>().unwrap().octets().to_vec();
        v.extend_from_slice(&dst.parse::<Ipv6Addr>().unwrap().octets());
        if let Some((s, d)) = ports {
            v.extend_from_slice(&s.to_be_bytes());
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    /// The IPv4 vectors of the suite: (source, destination, source port, destination
    /// port, hash over addresses, hash over addresses and ports).
    #[test]
    fn microsoft_rss_suite_ipv4() {
        for (src, dst, sp, dp, l3, l4) in [
            ("66.9.149.187", "161.142.100.80", 2794, 1766, 0x323e_8fc2u32, 0x51cc_c178u32),
            ("199.92.111.2", "65.69.140.83", 14230, 4739, 0xd718_262a, 0xc626_b0ea),
            ("24.19.198.95", "12.22.207.184", 12898, 38024, 0xd2d0_a5de, 0x5c2b_394a),
            ("38.27.205.30", "209.142.163.6", 48228, 2217, 0x8298_9176, 0xafc7_327f),
            ("153.39.163.191", "202.188.127.2", 44251, 1303, 0x5d18_09c5, 0x10e8_28a2),
        ] {
            assert_eq!(toeplitz(&KEY, &v4_input(src, dst, None)), l3, "{src} -> {dst}");
            assert_eq!(toeplitz(&KEY, &v4_input(src, dst, Some((sp, dp)))), l4, "{src} -> {dst}");
        }
    }

    #[test]
    fn microsoft_rss_suite_ipv6() {
        for (src, dst, sp, dp, l3, l4) in [
            (
                "3ffe:2501:200:1fff::7",
                "3ffe:2501:200:3::1",
                2794,
                1766,
                0x2cc1_8cd5u32,
                0x4020_7d3du32,
            ),
            ("3ffe:501:8::260:97ff:fe40:efab", "ff02::1", 14230, 4739, 0x0f0c_461c, 0xdde5_1bbf),
            (
                "3ffe:1900:4545:3:200:f8ff:fe21:67cf",
                "fe80::200:f8ff:fe21:67cf",
                44251,
                38024,
                0x4b61_e985,
                0x02d1_feef,
            ),
        ] {
            assert_eq!(toeplitz(&KEY, &v6_input(src, dst, None)), l3, "{src} -> {dst}");
            assert_eq!(toeplitz(&KEY, &v6_input(src, dst, Some((sp, dp)))), l4, "{src} -> {dst}");
        }
    }

    #[test]
    fn queues_follow_the_reta() {
        let tunnel = |natt| Tunnel {
            endpoints: Endpoints::V4 {
                local: "161.142.100.80".parse().unwrap(),
                remote: "66.9.149.187".parse().unwrap(),
            },
            natt,
            mtu: 1500,
        };
        let conf = RssConf {
            key: KEY.to_vec(),
            reta: (0..128).map(|i| i % 4).collect(),
            fields: RssFields { ip: true, udp: true, esp: true },
        };
        // ESP: the SPI alone.
        let spi = 0x1234_5678u32;
        let h = toeplitz(&KEY, &spi.to_be_bytes());
        assert_eq!(conf.queue_of_inbound(spi, &tunnel(None)), (h % 128 % 4) as u16);
        assert!(conf.steers_by_spi(&tunnel(None)));
        // NAT-T: addresses and ports (the suite's first vector, as the peer sends it).
        let natt = Some(crate::sa::NattPorts { local: 1766, remote: 2794 });
        assert!(!conf.steers_by_spi(&tunnel(natt)));
        assert_eq!(conf.queue_of_inbound(spi, &tunnel(natt)), (0x51cc_c178u32 % 128 % 4) as u16);
        // Without ESP hashing: the addresses.
        let no_esp = RssConf { fields: RssFields { esp: false, ..conf.fields }, ..conf.clone() };
        assert_eq!(no_esp.queue_of_inbound(spi, &tunnel(None)), (0x323e_8fc2u32 % 128 % 4) as u16);
        assert!(conf.reaches(3) && !conf.reaches(4));
    }
}
