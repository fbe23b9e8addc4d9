//! Per-tunnel settings of the peer channel and the rekey state machine, with their defaults.
//!
//! Durations are in milliseconds here (they map onto command-line flags such as
//! `--rekey-overlap-ms`); the state machine converts them to the nanoseconds it is driven
//! with. The defaults suit a LAN or WAN peer; tests shorten some of them.

use std::net::IpAddr;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::kdf::Aead;
use super::msg::TunnelId;

/// Which side switches first during a rekey (design section 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RekeyOrder {
    /// The responder switches its outbound SA only on REKEY_DONE, when the initiator has
    /// published its new inbound SA: no packet can arrive under an unknown SPI.
    #[default]
    MakeBeforeBreak,
    /// The responder switches its outbound SA as soon as it gets REKEY_INIT, before the
    /// initiator has published the SA: reproduces CSCty30063 (loses about one control-core
    /// round trip of packets per rekey). For tests and demos only.
    OutboundFirst,
}

/// Settings of one tunnel's peer channel.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// Both gateways must use the same id; see [`TunnelId::from_endpoints`].
    pub tunnel_id: TunnelId,
    /// The tunnel's pre-shared key (zeroized when dropped).
    pub psk: Zeroizing<Vec<u8>>,
    /// AEAD of every new SA; a REKEY_INIT proposing another is rejected.
    pub aead: Aead,
    /// Extended sequence numbers on new SAs; must match the peer's.
    pub esn: bool,
    pub rekey_order: RekeyOrder,
    /// How long an old inbound SA keeps decrypting after the exchange that replaced it
    /// completed (`--rekey-overlap-ms`).
    pub rekey_overlap_ms: u64,
    /// First retransmission timeout of a request; doubled at each retransmission.
    pub retransmit_initial_ms: u64,
    /// Cap of the retransmission timeout.
    pub retransmit_max_ms: u64,
    /// Transmissions of one request (first one included) before giving up and declaring
    /// the peer dead.
    pub max_transmissions: u32,
    /// A HELLO is sent after this long without any message from the peer (and no request
    /// of ours outstanding); also the probing interval while the peer is dead.
    pub hello_interval_ms: u64,
    /// An INVALID_SPI notify naming our outbound SA is ignored (counted as transient) if we
    /// switched to that SA less than this long ago: the peer's control core may have seen
    /// our first packets just before it installed the SA. A persisting desync is notified
    /// again after the notifier's holdoff and then acted on.
    pub invalid_spi_grace_ms: u64,
    /// At most one INVALID_SPI notify per SPI per this interval.
    pub notify_holdoff_ms: u64,
    /// Soft-lifetime rekeys are started after a random delay in `0..=soft_jitter_ms`, so
    /// that two gateways with the same lifetimes rarely start at once.
    pub soft_jitter_ms: u64,
    /// When the peer deleted our outbound SA without starting a new pair (e.g. its
    /// `clear sa` does start one; a bare DELETE does not), we start one after this delay
    /// plus jitter, leaving the peer the first move.
    pub repair_delay_ms: u64,
    /// At most one log event per rejection kind (forged, replayed...) per this interval.
    pub reject_log_interval_ms: u64,
}

impl PeerConfig {
    /// Defaults for everything but the tunnel id and key.
    pub fn new(tunnel_id: TunnelId, psk: &[u8]) -> PeerConfig {
        PeerConfig {
            tunnel_id,
            psk: Zeroizing::new(psk.to_vec()),
            aead: Aead::Aes128Gcm,
            esn: true,
            rekey_order: RekeyOrder::MakeBeforeBreak,
            rekey_overlap_ms: 2000,
            retransmit_initial_ms: 200,
            retransmit_max_ms: 3200,
            max_transmissions: 6,
            hello_interval_ms: 5000,
            invalid_spi_grace_ms: 500,
            notify_holdoff_ms: 1000,
            soft_jitter_ms: 1000,
            repair_delay_ms: 1000,
            reject_log_interval_ms: 1000,
        }
    }

    /// Checks the settings; called by `Peer::new`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.psk.is_empty() {
            return Err(ConfigError::EmptyPsk);
        }
        if self.retransmit_initial_ms == 0 || self.retransmit_max_ms < self.retransmit_initial_ms {
            return Err(ConfigError::Retransmit);
        }
        if self.max_transmissions == 0 {
            return Err(ConfigError::MaxTransmissions);
        }
        if self.hello_interval_ms == 0 {
            return Err(ConfigError::HelloInterval);
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the tunnel's pre-shared key is empty")]
    EmptyPsk,
    #[error("retransmit timeouts must be > 0 and max >= initial")]
    Retransmit,
    #[error("max_transmissions must be at least 1")]
    MaxTransmissions,
    #[error("hello interval must be > 0")]
    HelloInterval,
}

impl TunnelId {
    /// The default tunnel id: the first 4 bytes of SHA-256("qfp tunnel id v1" || lower
    /// address || higher address), the two outer addresses sorted so that both gateways
    /// compute the same value without configuration. Configure the id explicitly instead
    /// when the addresses differ on the two sides (NAT) or two tunnels join the same pair
    /// of addresses.
    pub fn from_endpoints(a: IpAddr, b: IpAddr) -> TunnelId {
        fn bytes(ip: IpAddr) -> Vec<u8> {
            match ip {
                IpAddr::V4(v) => [&[4u8][..], &v.octets()].concat(),
                IpAddr::V6(v) => [&[6u8][..], &v.octets()].concat(),
            }
        }
        let (x, y) = (bytes(a), bytes(b));
        let (lo, hi) = if x <= y { (x, y) } else { (y, x) };
        let mut h = Sha256::new();
        h.update(b"qfp tunnel id v1");
        h.update(&lo);
        h.update(&hi);
        let d = h.finalize();
        TunnelId(u32::from_be_bytes([d[0], d[1], d[2], d[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnel_id_is_symmetric_and_address_dependent() {
        let a: IpAddr = "172.16.1.5".parse().unwrap();
        let b: IpAddr = "172.16.2.5".parse().unwrap();
        let c: IpAddr = "172.16.2.6".parse().unwrap();
        assert_eq!(TunnelId::from_endpoints(a, b), TunnelId::from_endpoints(b, a));
        assert_ne!(TunnelId::from_endpoints(a, b), TunnelId::from_endpoints(a, c));
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_ne!(TunnelId::from_endpoints(a, v6), TunnelId::from_endpoints(a, b));
    }

    #[test]
    fn validation() {
        let ok = PeerConfig::new(TunnelId(1), b"k");
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(PeerConfig::new(TunnelId(1), b"").validate(), Err(ConfigError::EmptyPsk));
        let mut c = ok.clone();
        c.retransmit_max_ms = 1;
        assert_eq!(c.validate(), Err(ConfigError::Retransmit));
        let mut c = ok.clone();
        c.max_transmissions = 0;
        assert_eq!(c.validate(), Err(ConfigError::MaxTransmissions));
        let mut c = ok;
        c.hello_interval_ms = 0;
        assert_eq!(c.validate(), Err(ConfigError::HelloInterval));
    }
}
