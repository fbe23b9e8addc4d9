//! The peer-channel wire format: one versioned binary message per UDP datagram.
//!
//! Layout (all integers big-endian; `docs/peer-channel.md` has the byte-by-byte table):
//!
//! ```text
//!  0      2   3    4     5     6        8           12             20        20+len   +32
//!  | "QP" | v | type | flags | rsvd | length | tunnel id | message id | payload | HMAC |
//! ```
//!
//! The HMAC-SHA256 tag covers every byte before it (see `auth`). Parsing is split in two so
//! that nothing past the framing is interpreted before the tag has been verified: a
//! [`Frame`] checks only the framing (magic, version, exact length) and exposes the signed
//! region and the tag; [`Message::parse`] then decodes the payload. Like smoltcp's `wire`,
//! every read is bounds-checked and every failure is a [`WireError`]: no input can panic.
//! Decoding is strict (reserved bits zero, exact lengths, known codes), so that encoding is
//! a bijection and `decode(encode(m)) == m`.

use super::auth::MacKey;

mod payload;
pub use payload::{
    Ack, AckStatus, AddrPair, Body, Delete, DeleteEntry, Hello, InvalidSpi, RekeyDone, RekeyInit,
    RekeyResp, SpiSide,
};

/// The two magic bytes, "QP".
pub const MAGIC: [u8; 2] = *b"QP";
/// The only version this code speaks; anything else is rejected as malformed.
pub const VERSION: u8 = 1;
/// Length of the fixed header.
pub const HEADER_LEN: usize = 20;
/// Length of the trailing HMAC-SHA256 tag.
pub const MAC_LEN: usize = 32;
/// Largest payload accepted; large enough for a full DELETE, small enough for any MTU.
pub const MAX_PAYLOAD: usize = 512;
/// Most SPIs one DELETE carries (a longer list is split over several messages).
pub const MAX_DELETE_ENTRIES: usize = 64;
/// Default UDP port of the peer channel (IKE's port: the channel plays IKE's part).
pub const DEFAULT_PORT: u16 = 500;
/// Length of a nonce.
pub const NONCE_LEN: usize = 32;

/// Flag bit: this message is a response (REKEY_RESP, ACK); clear on requests.
pub const FLAG_RESPONSE: u8 = 0x01;

/// Byte ranges of the header fields.
mod field {
    use core::ops::Range;
    pub const MAGIC: Range<usize> = 0..2;
    pub const VERSION: usize = 2;
    pub const TYPE: usize = 3;
    pub const FLAGS: usize = 4;
    pub const RESERVED: usize = 5;
    pub const LENGTH: Range<usize> = 6..8;
    pub const TUNNEL: Range<usize> = 8..12;
    pub const MSG_ID: Range<usize> = 12..20;
}

/// Identifies one tunnel on both gateways; both must compute the same value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TunnelId(pub u32);

/// Why a datagram was not a well-formed message. Counted as `malformed`, never acted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("datagram of {0} bytes is shorter than header and tag")]
    Truncated(usize),
    #[error("bad magic")]
    BadMagic,
    #[error("unsupported version {0}")]
    UnsupportedVersion(u8),
    #[error("unknown message type {0}")]
    UnknownType(u8),
    #[error("flags {0:#04x} do not match the message type")]
    BadFlags(u8),
    #[error("declared payload length {declared} but datagram carries {actual}")]
    LengthMismatch { declared: usize, actual: usize },
    #[error("payload of {0} bytes exceeds the maximum")]
    PayloadTooLong(usize),
    #[error("payload of {len} bytes is invalid for message type {msg_type}")]
    BadPayloadLength { msg_type: u8, len: usize },
    #[error("reserved field is not zero")]
    ReservedNotZero,
    #[error("invalid value in field {0}")]
    BadValue(&'static str),
}

/// Message types. Requests are retransmitted until their response arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MsgType {
    RekeyInit = 1,
    RekeyResp = 2,
    RekeyDone = 3,
    Delete = 4,
    InvalidSpi = 5,
    Hello = 6,
    Ack = 7,
}

impl MsgType {
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::RekeyInit,
            2 => Self::RekeyResp,
            3 => Self::RekeyDone,
            4 => Self::Delete,
            5 => Self::InvalidSpi,
            6 => Self::Hello,
            7 => Self::Ack,
            _ => return None,
        })
    }

    /// Responses answer a request and are never retransmitted on their own.
    pub fn is_response(self) -> bool {
        matches!(self, Self::RekeyResp | Self::Ack)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::RekeyInit => "REKEY_INIT",
            Self::RekeyResp => "REKEY_RESP",
            Self::RekeyDone => "REKEY_DONE",
            Self::Delete => "DELETE",
            Self::InvalidSpi => "INVALID_SPI",
            Self::Hello => "HELLO",
            Self::Ack => "ACK",
        }
    }
}

/// One decoded message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub tunnel_id: TunnelId,
    /// Strictly increasing per sender; every transmission (retransmissions too) has its own.
    pub msg_id: u64,
    pub body: Body,
}

/// A datagram whose framing has been checked, not yet authenticated.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    buf: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Checks magic, version, reserved byte and that the datagram is exactly header +
    /// declared payload + tag. Type and flags are checked in [`Message::parse`].
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, WireError> {
        if buf.len() < HEADER_LEN + MAC_LEN {
            return Err(WireError::Truncated(buf.len()));
        }
        if buf[field::MAGIC] != MAGIC {
            return Err(WireError::BadMagic);
        }
        if buf[field::VERSION] != VERSION {
            return Err(WireError::UnsupportedVersion(buf[field::VERSION]));
        }
        if buf[field::RESERVED] != 0 {
            return Err(WireError::ReservedNotZero);
        }
        let declared = usize::from(u16::from_be_bytes([
            buf[field::LENGTH.start],
            buf[field::LENGTH.start + 1],
        ]));
        if declared > MAX_PAYLOAD {
            return Err(WireError::PayloadTooLong(declared));
        }
        let actual = buf.len() - HEADER_LEN - MAC_LEN;
        if declared != actual {
            return Err(WireError::LengthMismatch { declared, actual });
        }
        Ok(Frame { buf })
    }

    pub fn msg_type_raw(&self) -> u8 {
        self.buf[field::TYPE]
    }
    pub fn flags(&self) -> u8 {
        self.buf[field::FLAGS]
    }
    pub fn tunnel_id(&self) -> TunnelId {
        TunnelId(u32::from_be_bytes(read4(&self.buf[field::TUNNEL])))
    }
    pub fn msg_id(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.buf[field::MSG_ID]);
        u64::from_be_bytes(b)
    }
    /// Header and payload: the bytes the tag covers.
    pub fn signed(&self) -> &'a [u8] {
        &self.buf[..self.buf.len() - MAC_LEN]
    }
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[HEADER_LEN..self.buf.len() - MAC_LEN]
    }
    pub fn mac(&self) -> &'a [u8] {
        &self.buf[self.buf.len() - MAC_LEN..]
    }
}

fn read4(s: &[u8]) -> [u8; 4] {
    let mut b = [0u8; 4];
    b.copy_from_slice(s);
    b
}

impl Message {
    /// Decodes type, flags and payload of a checked frame. Call it only after the tag has
    /// been verified when the result will be acted on.
    pub fn parse(frame: &Frame<'_>) -> Result<Message, WireError> {
        let raw = frame.msg_type_raw();
        let msg_type = MsgType::from_u8(raw).ok_or(WireError::UnknownType(raw))?;
        let expected = if msg_type.is_response() { FLAG_RESPONSE } else { 0 };
        if frame.flags() != expected {
            return Err(WireError::BadFlags(frame.flags()));
        }
        let body = Body::parse(msg_type, frame.payload())?;
        Ok(Message { tunnel_id: frame.tunnel_id(), msg_id: frame.msg_id(), body })
    }

    /// Framing and payload without checking the tag (tests, fuzzing, diagnostics).
    pub fn decode_unauthenticated(buf: &[u8]) -> Result<Message, WireError> {
        Message::parse(&Frame::new_checked(buf)?)
    }

    /// Header and payload, without the tag.
    pub fn emit_signed_part(&self, out: &mut Vec<u8>) {
        let t = self.body.msg_type();
        let start = out.len();
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(t as u8);
        out.push(if t.is_response() { FLAG_RESPONSE } else { 0 });
        out.push(0);
        out.extend_from_slice(&[0, 0]); // length, patched below
        out.extend_from_slice(&self.tunnel_id.0.to_be_bytes());
        out.extend_from_slice(&self.msg_id.to_be_bytes());
        self.body.emit_payload(out);
        let len = (out.len() - start - HEADER_LEN) as u16;
        out[start + field::LENGTH.start..start + field::LENGTH.end]
            .copy_from_slice(&len.to_be_bytes());
    }

    /// The complete datagram: header, payload and tag under `key`.
    pub fn to_bytes(&self, key: &MacKey) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 80 + MAC_LEN);
        self.emit_signed_part(&mut out);
        let tag = key.tag(&out);
        out.extend_from_slice(&tag);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::kdf::Aead;

    fn key() -> MacKey {
        MacKey::derive(b"test psk", TunnelId(7))
    }

    #[test]
    fn rekey_init_layout_is_as_documented() {
        let m = Message {
            tunnel_id: TunnelId(0x0102_0304),
            msg_id: 0x1122_3344_5566_7788,
            body: Body::RekeyInit(RekeyInit {
                nonce: [0xaa; 32],
                public: [0xbb; 32],
                spi: 0xdead_beef,
                aead: Aead::Aes256Gcm,
                esn: true,
            }),
        };
        let b = m.to_bytes(&key());
        assert_eq!(b.len(), HEADER_LEN + 72 + MAC_LEN);
        assert_eq!(
            &b[..20],
            &[
                b'Q', b'P', 1, 1, 0, 0, 0, 72, 1, 2, 3, 4, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
                0x77, 0x88
            ]
        );
        assert_eq!(&b[20..52], &[0xaa; 32]);
        assert_eq!(&b[52..84], &[0xbb; 32]);
        assert_eq!(&b[84..92], &[0xde, 0xad, 0xbe, 0xef, 2, 1, 0, 0]);
        assert_eq!(&b[92..], &key().tag(&b[..92]));
        assert_eq!(Message::decode_unauthenticated(&b), Ok(m));
    }

    #[test]
    fn ack_carries_response_flag_and_mismatched_flags_are_rejected() {
        let m = Message {
            tunnel_id: TunnelId(1),
            msg_id: 9,
            body: Body::Ack(Ack { echo: 5, acked: MsgType::Hello, status: AckStatus::Ok }),
        };
        let mut b = m.to_bytes(&key());
        assert_eq!(b[4], FLAG_RESPONSE);
        assert_eq!(Message::decode_unauthenticated(&b), Ok(m));
        b[4] = 0;
        assert_eq!(Message::decode_unauthenticated(&b), Err(WireError::BadFlags(0)));
    }

    #[test]
    fn framing_errors() {
        let m =
            Message { tunnel_id: TunnelId(1), msg_id: 1, body: Body::Hello(Hello { epoch: 77 }) };
        let good = m.to_bytes(&key());
        assert_eq!(Message::decode_unauthenticated(&good[..10]), Err(WireError::Truncated(10)));
        let mut b = good.clone();
        b[0] = b'X';
        assert_eq!(Message::decode_unauthenticated(&b), Err(WireError::BadMagic));
        let mut b = good.clone();
        b[2] = 2;
        assert_eq!(Message::decode_unauthenticated(&b), Err(WireError::UnsupportedVersion(2)));
        let mut b = good.clone();
        b[3] = 99;
        assert_eq!(Message::decode_unauthenticated(&b), Err(WireError::UnknownType(99)));
        let mut b = good.clone();
        b.push(0);
        assert_eq!(
            Message::decode_unauthenticated(&b),
            Err(WireError::LengthMismatch { declared: 8, actual: 9 })
        );
        let mut b = good;
        b[5] = 1; // the reserved header byte
        assert_eq!(Message::decode_unauthenticated(&b), Err(WireError::ReservedNotZero));

        let ack = Message {
            tunnel_id: TunnelId(1),
            msg_id: 2,
            body: Body::Ack(Ack { echo: 1, acked: MsgType::Hello, status: AckStatus::Ok }),
        };
        let good = ack.to_bytes(&key());
        let mut b = good.clone();
        b[31] = 1; // a reserved byte of ACK
        assert_eq!(Message::decode_unauthenticated(&b), Err(WireError::ReservedNotZero));
        let mut b = good.clone();
        b[29] = 9; // status
        assert_eq!(Message::decode_unauthenticated(&b), Err(WireError::BadValue("ack status")));
        let mut b = good;
        b[28] = MsgType::Ack as u8; // an ACK cannot acknowledge a response
        assert_eq!(Message::decode_unauthenticated(&b), Err(WireError::BadValue("acked type")));
    }
}
