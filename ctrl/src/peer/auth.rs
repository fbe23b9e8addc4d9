//! Authentication of peer-channel messages: keys derived from the tunnel's PSK, the HMAC tag,
//! and the anti-replay window over message ids.
//!
//! Every received datagram goes through [`open`], which applies the checks in the one order
//! that never acts on unauthenticated bytes: framing → tunnel id → tag (constant time) →
//! replay window (checked, not yet advanced) → payload decode → window advanced. This is
//! the anti-replay discipline of ESP (RFC 4303 §3.4.3: check, verify, then update) applied
//! to the control channel, so that a forged message can never move the window and lock out
//! the real peer.
//!
//! Message ids are `base + counter`, where `base` is the sender's wall clock in ns when its
//! `Peer` was created (see `Peer::new`). A restarted gateway therefore starts far above
//! every id its previous incarnation used and is accepted at once, while copies of old
//! messages stay rejected. A wall clock stepped back across a restart makes the new
//! incarnation look like a replayer until its ids pass the old high-water mark; that is
//! counted as `replayed` and logged, never silently accepted.

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::msg::{Frame, MAC_LEN, Message, TunnelId, WireError};

/// Domain-separation label of the channel keys (HKDF salt and info prefix).
pub const AUTH_LABEL: &[u8] = b"qfp peer auth v1";

/// The HMAC-SHA256 key of one tunnel's peer channel.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MacKey([u8; 32]);

/// The PSK-derived salt of the child-SA key derivation (`kdf::derive_child_keys`).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct KdfSalt(pub(crate) [u8; 32]);

impl core::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("MacKey(..)")
    }
}
impl core::fmt::Debug for KdfSalt {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("KdfSalt(..)")
    }
}

/// Derives the two channel keys of a tunnel from its PSK:
///
/// ```text
/// PRK      = HKDF-Extract(salt = "qfp peer auth v1", IKM = PSK)
/// mac key  = HKDF-Expand(PRK, "qfp peer auth v1" || "mac" || tunnel id (u32 BE), 32)
/// kdf salt = HKDF-Expand(PRK, "qfp peer auth v1" || "kdf" || tunnel id (u32 BE), 32)
/// ```
///
/// Two keys rather than one so that the key that signs messages is never also fed to the
/// child-SA derivation; binding the tunnel id means a message of one tunnel cannot be
/// replayed into another tunnel that happens to share the PSK.
pub fn derive_channel_keys(psk: &[u8], tunnel: TunnelId) -> (MacKey, KdfSalt) {
    let hk = Hkdf::<Sha256>::new(Some(AUTH_LABEL), psk);
    let id = tunnel.0.to_be_bytes();
    let mut mac = [0u8; 32];
    let mut kdf = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit: expand cannot fail.
    hk.expand_multi_info(&[AUTH_LABEL, b"mac", &id], &mut mac)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    hk.expand_multi_info(&[AUTH_LABEL, b"kdf", &id], &mut kdf)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    (MacKey(mac), KdfSalt(kdf))
}

impl MacKey {
    /// The MAC key alone (tests and tools).
    pub fn derive(psk: &[u8], tunnel: TunnelId) -> MacKey {
        derive_channel_keys(psk, tunnel).0
    }

    fn hmac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }

    /// HMAC-SHA256 of `data`.
    pub fn tag(&self, data: &[u8]) -> [u8; MAC_LEN] {
        let mut h = self.hmac();
        h.update(data);
        let out = h.finalize().into_bytes();
        let mut tag = [0u8; MAC_LEN];
        tag.copy_from_slice(&out);
        tag
    }

    /// Constant-time comparison of the expected tag with `tag`.
    pub fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        let expected = self.tag(data);
        tag.len() == MAC_LEN && bool::from(expected.ct_eq(tag))
    }
}

/// Number of message ids below the high-water mark still accepted (out of order).
pub const REPLAY_WINDOW: u64 = 128;

/// Sliding anti-replay window over one sender's message ids: the highest id accepted and a
/// bitmap of the `REPLAY_WINDOW` ids below it (bit `i` = id `high - i` seen).
#[derive(Clone, Debug, Default)]
pub struct ReplayWindow {
    high: Option<u64>,
    seen: u128,
}

/// Why the window refused an id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayError {
    /// Already accepted once.
    Duplicate,
    /// Older than the window: cannot tell, so refused.
    TooOld,
}

impl ReplayWindow {
    /// Whether `id` would be accepted; does not change the window.
    pub fn check(&self, id: u64) -> Result<(), ReplayError> {
        let Some(high) = self.high else { return Ok(()) };
        if id > high {
            return Ok(());
        }
        let age = high - id;
        if age >= REPLAY_WINDOW {
            return Err(ReplayError::TooOld);
        }
        if self.seen & (1u128 << age) != 0 {
            return Err(ReplayError::Duplicate);
        }
        Ok(())
    }

    /// Records `id` as seen. Call only after `check` passed and the tag verified.
    pub fn commit(&mut self, id: u64) {
        match self.high {
            None => {
                self.high = Some(id);
                self.seen = 1;
            }
            Some(high) if id > high => {
                let shift = id - high;
                self.seen = if shift >= REPLAY_WINDOW { 0 } else { self.seen << shift };
                self.seen |= 1;
                self.high = Some(id);
            }
            Some(high) => {
                let age = high - id;
                if age < REPLAY_WINDOW {
                    self.seen |= 1u128 << age;
                }
            }
        }
    }

    /// The highest id accepted so far.
    pub fn high(&self) -> Option<u64> {
        self.high
    }
}

/// Why a received datagram was refused. Each maps to one counter in `PeerStats`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// Not a well-formed message (framing, or the payload of an authentic message).
    Malformed(WireError),
    /// Well framed but for another tunnel: the control core routed it wrongly, or a peer
    /// is misconfigured. Not authenticated (we do not hold that tunnel's key).
    WrongTunnel(TunnelId),
    /// The tag does not verify: not from a holder of the PSK, or damaged in transit.
    Forged,
    /// Authentic, but the message id was already accepted or is older than the window.
    Replayed(ReplayError),
}

/// Authenticates and decodes one datagram; advances `window` only for a message that is
/// authentic, fresh and well formed.
pub fn open(
    buf: &[u8],
    tunnel: TunnelId,
    key: &MacKey,
    window: &mut ReplayWindow,
) -> Result<Message, Reject> {
    let frame = Frame::new_checked(buf).map_err(Reject::Malformed)?;
    if frame.tunnel_id() != tunnel {
        return Err(Reject::WrongTunnel(frame.tunnel_id()));
    }
    if !key.verify(frame.signed(), frame.mac()) {
        return Err(Reject::Forged);
    }
    window.check(frame.msg_id()).map_err(Reject::Replayed)?;
    let msg = Message::parse(&frame).map_err(Reject::Malformed)?;
    window.commit(msg.msg_id);
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::msg::{Body, Hello};

    #[test]
    fn hmac_sha256_matches_rfc4231_case_2() {
        // RFC 4231 §4.3 (test case 2): key "Jefe", data "what do ya want for nothing?".
        // Pins our use of the hmac crate; the key is injected directly.
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(b"Jefe");
        // A 4-byte key and the same key zero-padded to 32 bytes are the same HMAC key
        // (HMAC pads keys with zeros to the block size).
        let tag = MacKey(k).tag(b"what do ya want for nothing?");
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(hex(&tag), expected);
    }

    #[test]
    fn hkdf_sha256_matches_rfc5869_case_1() {
        // RFC 5869 appendix A.1, pins our use of the hkdf crate.
        let ikm = [0x0bu8; 22];
        let salt: Vec<u8> = (0u8..=0x0c).collect();
        let info: Vec<u8> = (0xf0u8..=0xf9).collect();
        let mut okm = [0u8; 42];
        Hkdf::<Sha256>::new(Some(&salt), &ikm).expand(&info, &mut okm).unwrap();
        assert_eq!(
            hex(&okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn keys_depend_on_psk_and_tunnel() {
        let (m1, s1) = derive_channel_keys(b"psk", TunnelId(1));
        let (m2, _) = derive_channel_keys(b"psk", TunnelId(2));
        let (m3, _) = derive_channel_keys(b"psk2", TunnelId(1));
        assert_ne!(m1.0, m2.0);
        assert_ne!(m1.0, m3.0);
        assert_ne!(m1.0, s1.0);
    }

    #[test]
    fn window_accepts_reordering_and_refuses_duplicates_and_old_ids() {
        let mut w = ReplayWindow::default();
        for id in [1000u64, 1002, 1001, 1005, 1003] {
            assert_eq!(w.check(id), Ok(()), "{id}");
            w.commit(id);
        }
        assert_eq!(w.check(1002), Err(ReplayError::Duplicate));
        assert_eq!(w.check(1004), Ok(()));
        w.commit(1000 + 500);
        assert_eq!(w.check(1004), Err(ReplayError::TooOld));
        assert_eq!(w.check(1500 - REPLAY_WINDOW + 1), Ok(()));
        assert_eq!(w.check(1500 - REPLAY_WINDOW), Err(ReplayError::TooOld));
        assert_eq!(w.check(1500), Err(ReplayError::Duplicate));
        assert_eq!(w.high(), Some(1500));
    }

    #[test]
    fn restarted_sender_with_later_base_is_accepted_earlier_base_is_not() {
        let mut w = ReplayWindow::default();
        let old_base = 1_700_000_000_000_000_000u64;
        for i in 0..50 {
            w.commit(old_base + i);
        }
        // Restarted 2 s later: its first id is far above the old high-water mark.
        assert_eq!(w.check(old_base + 2_000_000_000), Ok(()));
        // A clock stepped back 1 s: refused (counted as replayed by the Peer).
        assert_eq!(w.check(old_base - 1_000_000_000), Err(ReplayError::TooOld));
    }

    fn hello(id: u64, tunnel: u32) -> Message {
        Message { tunnel_id: TunnelId(tunnel), msg_id: id, body: Body::Hello(Hello { epoch: 1 }) }
    }

    #[test]
    fn open_checks_in_order_and_only_commits_authentic_fresh_messages() {
        let key = MacKey::derive(b"psk", TunnelId(5));
        let mut w = ReplayWindow::default();
        let good = hello(10, 5).to_bytes(&key);

        // A forgery with a high id must not advance the window.
        let forged = hello(1 << 60, 5).to_bytes(&MacKey::derive(b"wrong", TunnelId(5)));
        assert_eq!(open(&forged, TunnelId(5), &key, &mut w), Err(Reject::Forged));
        assert_eq!(w.high(), None);

        let other = hello(11, 6).to_bytes(&key);
        assert_eq!(open(&other, TunnelId(5), &key, &mut w), Err(Reject::WrongTunnel(TunnelId(6))));

        assert_eq!(open(&good, TunnelId(5), &key, &mut w), Ok(hello(10, 5)));
        assert_eq!(
            open(&good, TunnelId(5), &key, &mut w),
            Err(Reject::Replayed(ReplayError::Duplicate))
        );
        let mut flipped = hello(12, 5).to_bytes(&key);
        flipped[25] ^= 0x80;
        assert_eq!(open(&flipped, TunnelId(5), &key, &mut w), Err(Reject::Forged));
        assert_eq!(
            open(&good[..30], TunnelId(5), &key, &mut w),
            Err(Reject::Malformed(WireError::Truncated(30)))
        );
        assert_eq!(w.high(), Some(10));
    }

    pub(crate) fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
