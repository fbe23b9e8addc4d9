//! Payloads of the peer-channel messages: one struct per message type, their encoding and
//! their strict, bounds-checked decoding (exact lengths, known codes, reserved bytes zero).
//! The header around them, the tag and the framing checks are in `msg.rs`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{MAX_DELETE_ENTRIES, MsgType, NONCE_LEN, WireError};
use crate::peer::kdf::Aead;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    RekeyInit(RekeyInit),
    RekeyResp(RekeyResp),
    RekeyDone(RekeyDone),
    Delete(Delete),
    InvalidSpi(InvalidSpi),
    Hello(Hello),
    Ack(Ack),
}

/// Initiator → responder: start a rekey (IKEv2 CREATE_CHILD_SA request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RekeyInit {
    pub nonce: [u8; NONCE_LEN],
    pub public: [u8; 32],
    /// The initiator's new inbound SPI (`a`): the responder will send to it.
    pub spi: u32,
    pub aead: Aead,
    pub esn: bool,
}

/// Responder → initiator: the answer to a REKEY_INIT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RekeyResp {
    /// Message id of the REKEY_INIT transmission this answers.
    pub echo: u64,
    pub nonce: [u8; NONCE_LEN],
    pub public: [u8; 32],
    /// The responder's new inbound SPI (`b`), already published when this is sent.
    pub spi: u32,
}

/// Initiator → responder: "I have published `spi_i` and switched my outbound to `spi_r`".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RekeyDone {
    pub spi_i: u32,
    pub spi_r: u32,
}

/// Whose inbound SA a DELETE entry names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SpiSide {
    /// The sender's inbound SPI (the receiver's outbound): "stop sending to it" (IKEv2's
    /// convention for the Delete payload).
    Sender = 0,
    /// The receiver's inbound SPI (the sender's outbound or a half-open SA the sender will
    /// never use): "unpublish it".
    Receiver = 1,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeleteEntry {
    pub side: SpiSide,
    pub spi: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delete {
    /// 1..=`MAX_DELETE_ENTRIES` entries.
    pub entries: Vec<DeleteEntry>,
}

/// The outer addresses of the ESP packet that carried the unknown SPI; one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrPair {
    V4 { src: Ipv4Addr, dst: Ipv4Addr },
    V6 { src: Ipv6Addr, dst: Ipv6Addr },
}

impl AddrPair {
    /// `None` when the two addresses are not of one family.
    pub fn new(src: IpAddr, dst: IpAddr) -> Option<Self> {
        match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => Some(Self::V4 { src, dst }),
            (IpAddr::V6(src), IpAddr::V6(dst)) => Some(Self::V6 { src, dst }),
            _ => None,
        }
    }
    pub fn src(&self) -> IpAddr {
        match *self {
            Self::V4 { src, .. } => src.into(),
            Self::V6 { src, .. } => src.into(),
        }
    }
    pub fn dst(&self) -> IpAddr {
        match *self {
            Self::V4 { dst, .. } => dst.into(),
            Self::V6 { dst, .. } => dst.into(),
        }
    }
}

/// "I received ESP with this SPI from you and have no SA for it" (IKEv2 INVALID_SPI notify).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidSpi {
    pub spi: u32,
    pub addrs: AddrPair,
}

/// Liveness probe (IKEv2 dead-peer detection), also carrying the sender's epoch: the first
/// message id of its current run. A HELLO with a later epoch than before tells the receiver
/// the peer restarted and holds no state from before (the part of IKEv2's INITIAL_CONTACT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    pub epoch: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum AckStatus {
    Ok = 0,
    /// The request named an exchange or SA the responder does not know (REKEY_DONE).
    Unknown = 1,
    /// The proposal (AEAD, ESN, SPI, public value) is unacceptable: do not retry as is.
    Rejected = 2,
    /// The responder cannot serve it now (no free SPI): retry later.
    TemporaryFailure = 3,
}

/// The response to every request except REKEY_INIT's successful answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack {
    pub echo: u64,
    pub acked: MsgType,
    pub status: AckStatus,
}

impl Body {
    pub fn msg_type(&self) -> MsgType {
        match self {
            Body::RekeyInit(_) => MsgType::RekeyInit,
            Body::RekeyResp(_) => MsgType::RekeyResp,
            Body::RekeyDone(_) => MsgType::RekeyDone,
            Body::Delete(_) => MsgType::Delete,
            Body::InvalidSpi(_) => MsgType::InvalidSpi,
            Body::Hello(_) => MsgType::Hello,
            Body::Ack(_) => MsgType::Ack,
        }
    }

    pub(super) fn emit_payload(&self, out: &mut Vec<u8>) {
        match self {
            Body::RekeyInit(m) => {
                out.extend_from_slice(&m.nonce);
                out.extend_from_slice(&m.public);
                out.extend_from_slice(&m.spi.to_be_bytes());
                out.push(m.aead.code());
                out.push(u8::from(m.esn));
                out.extend_from_slice(&[0, 0]);
            }
            Body::RekeyResp(m) => {
                out.extend_from_slice(&m.echo.to_be_bytes());
                out.extend_from_slice(&m.nonce);
                out.extend_from_slice(&m.public);
                out.extend_from_slice(&m.spi.to_be_bytes());
            }
            Body::RekeyDone(m) => {
                out.extend_from_slice(&m.spi_i.to_be_bytes());
                out.extend_from_slice(&m.spi_r.to_be_bytes());
            }
            Body::Delete(m) => {
                // The Peer never builds an empty or over-long list; clamp so that a bug
                // there still produces a datagram of bounded size.
                let n = m.entries.len().min(MAX_DELETE_ENTRIES);
                out.push(n as u8);
                out.push(0);
                for e in &m.entries[..n] {
                    out.push(e.side as u8);
                    out.extend_from_slice(&e.spi.to_be_bytes());
                }
            }
            Body::InvalidSpi(m) => {
                out.extend_from_slice(&m.spi.to_be_bytes());
                match m.addrs {
                    AddrPair::V4 { src, dst } => {
                        out.extend_from_slice(&[4, 0, 0, 0]);
                        out.extend_from_slice(&src.octets());
                        out.extend_from_slice(&dst.octets());
                    }
                    AddrPair::V6 { src, dst } => {
                        out.extend_from_slice(&[6, 0, 0, 0]);
                        out.extend_from_slice(&src.octets());
                        out.extend_from_slice(&dst.octets());
                    }
                }
            }
            Body::Hello(m) => {
                out.extend_from_slice(&m.epoch.to_be_bytes());
            }
            Body::Ack(m) => {
                out.extend_from_slice(&m.echo.to_be_bytes());
                out.push(m.acked as u8);
                out.push(m.status as u8);
                out.extend_from_slice(&[0, 0]);
            }
        }
    }

    /// Decodes a payload of the given type. Strict: exact lengths, reserved bytes zero.
    pub fn parse(msg_type: MsgType, p: &[u8]) -> Result<Body, WireError> {
        let bad_len = || WireError::BadPayloadLength { msg_type: msg_type as u8, len: p.len() };
        let mut r = Reader(p);
        let body = match msg_type {
            MsgType::RekeyInit => {
                if p.len() != 72 {
                    return Err(bad_len());
                }
                let nonce = r.array()?;
                let public = r.array()?;
                let spi = r.u32()?;
                let aead = Aead::from_code(r.u8()?).ok_or(WireError::BadValue("aead"))?;
                let esn = match r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(WireError::BadValue("esn")),
                };
                r.reserved(2)?;
                Body::RekeyInit(RekeyInit { nonce, public, spi, aead, esn })
            }
            MsgType::RekeyResp => {
                if p.len() != 76 {
                    return Err(bad_len());
                }
                let echo = r.u64()?;
                let nonce = r.array()?;
                let public = r.array()?;
                let spi = r.u32()?;
                Body::RekeyResp(RekeyResp { echo, nonce, public, spi })
            }
            MsgType::RekeyDone => {
                if p.len() != 8 {
                    return Err(bad_len());
                }
                Body::RekeyDone(RekeyDone { spi_i: r.u32()?, spi_r: r.u32()? })
            }
            MsgType::Delete => {
                let n = usize::from(r.u8()?);
                r.reserved(1)?;
                if n == 0 || n > MAX_DELETE_ENTRIES || p.len() != 2 + 5 * n {
                    return Err(bad_len());
                }
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    let side = match r.u8()? {
                        0 => SpiSide::Sender,
                        1 => SpiSide::Receiver,
                        _ => return Err(WireError::BadValue("delete side")),
                    };
                    entries.push(DeleteEntry { side, spi: r.u32()? });
                }
                Body::Delete(Delete { entries })
            }
            MsgType::InvalidSpi => {
                let spi = r.u32()?;
                let family = r.u8()?;
                r.reserved(3)?;
                let addrs = match (family, p.len()) {
                    (4, 16) => AddrPair::V4 {
                        src: Ipv4Addr::from(r.array::<4>()?),
                        dst: Ipv4Addr::from(r.array::<4>()?),
                    },
                    (6, 40) => AddrPair::V6 {
                        src: Ipv6Addr::from(r.array::<16>()?),
                        dst: Ipv6Addr::from(r.array::<16>()?),
                    },
                    (4 | 6, _) => return Err(bad_len()),
                    _ => return Err(WireError::BadValue("address family")),
                };
                Body::InvalidSpi(InvalidSpi { spi, addrs })
            }
            MsgType::Hello => {
                if p.len() != 8 {
                    return Err(bad_len());
                }
                Body::Hello(Hello { epoch: r.u64()? })
            }
            MsgType::Ack => {
                if p.len() != 12 {
                    return Err(bad_len());
                }
                let echo = r.u64()?;
                let acked = MsgType::from_u8(r.u8()?)
                    .filter(|t| !t.is_response())
                    .ok_or(WireError::BadValue("acked type"))?;
                let status = match r.u8()? {
                    0 => AckStatus::Ok,
                    1 => AckStatus::Unknown,
                    2 => AckStatus::Rejected,
                    3 => AckStatus::TemporaryFailure,
                    _ => return Err(WireError::BadValue("ack status")),
                };
                r.reserved(2)?;
                Body::Ack(Ack { echo, acked, status })
            }
        };
        Ok(body)
    }
}

/// A bounds-checked cursor over a payload.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], WireError> {
        if self.0.len() < n {
            return Err(WireError::BadValue("payload too short for field"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn reserved(&mut self, n: usize) -> Result<(), WireError> {
        if self.take(n)?.iter().any(|&b| b != 0) {
            return Err(WireError::ReservedNotZero);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::auth::MacKey;
    use crate::peer::msg::{Message, TunnelId};

    fn key() -> MacKey {
        MacKey::derive(b"test psk", TunnelId(7))
    }

    #[test]
    fn delete_rejects_empty_and_inconsistent_counts() {
        let p = [0u8, 0];
        assert!(Body::parse(MsgType::Delete, &p).is_err());
        let p = [2u8, 0, 0, 0, 0, 0, 1];
        assert!(Body::parse(MsgType::Delete, &p).is_err());
        let p = [1u8, 0, 1, 0, 0, 0x10, 0x01];
        assert_eq!(
            Body::parse(MsgType::Delete, &p),
            Ok(Body::Delete(Delete {
                entries: vec![DeleteEntry { side: SpiSide::Receiver, spi: 0x1001 }]
            }))
        );
    }

    #[test]
    fn invalid_spi_both_families() {
        for addrs in [
            AddrPair::new("10.1.1.1".parse().unwrap(), "20.1.1.2".parse().unwrap()).unwrap(),
            AddrPair::new("2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap()).unwrap(),
        ] {
            let m = Message {
                tunnel_id: TunnelId(3),
                msg_id: 3,
                body: Body::InvalidSpi(InvalidSpi { spi: 0xB761_863E, addrs }),
            };
            assert_eq!(Message::decode_unauthenticated(&m.to_bytes(&key())), Ok(m));
        }
        assert!(
            AddrPair::new("10.1.1.1".parse().unwrap(), "2001:db8::2".parse().unwrap()).is_none()
        );
    }
}
