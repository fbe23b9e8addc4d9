//! Fuzz targets of the control side: the config parser (TOML text from a user) and the
//! peer-channel decoder (datagrams from the network), shared by the cargo-fuzz targets and
//! the default test suite (`ctrl/tests/fuzz_regressions.rs` includes this file).
//!
//! - [`config_target`]: any bytes as a config file. Never a panic; an error always renders
//!   as one line naming the file; a config that validates builds every SA it names, for
//!   this gateway and for its peer (what `qfp run` and `qfp pcap` do next).
//! - [`peer_msg_target`]: any bytes as a datagram, decoded without the tag. Whatever
//!   decodes re-encodes to a datagram that decodes to the same message, and that datagram
//!   opens under the tunnel's key.
//! - [`peer_open_target`]: the authenticated path. The fuzzer writes header and payload;
//!   the harness appends the right tag (libFuzzer could never guess HMAC-SHA-256), so
//!   every check after the tag is reached: replay window, type, flags, payload. An opened
//!   message opens only once; a flipped tag bit is always `Forged`.

use ctrl::config;
use ctrl::peer::TunnelId;
use ctrl::peer::auth::{self, MacKey, Reject, ReplayWindow};
use ctrl::peer::msg::{Frame, MAC_LEN, Message};
use ctrl::sa_build::{KeyMaterial, SaTemplate, Side};
use dataplane::SaDirection;

/// The file name the config target reports; its directory does not exist, so a relative
/// `psk_file` reads nothing.
pub const CONFIG_NAME: &str = "/nonexistent-qfp-fuzz/qfp.toml";

/// The tunnel id and key of the peer targets.
pub const TUNNEL: TunnelId = TunnelId(7);

pub fn key() -> MacKey {
    MacKey::derive(b"qfp fuzz psk", TUNNEL)
}

pub fn config_target(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match config::parse(text, CONFIG_NAME) {
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with(CONFIG_NAME), "error names the file: {msg}");
            assert!(!msg.trim_end().contains('\n'), "error is one line: {msg}");
        }
        Ok(cfg) => {
            let mut ours = Vec::new();
            for r in &cfg.routes {
                ours.push(r.dst);
            }
            for t in &cfg.tunnels {
                let w = cfg.gateway.replay_window;
                let local = SaTemplate::new(t, Side::Local, &t.selectors);
                let peer = SaTemplate::new(t, Side::Peer, &ours);
                local
                    .build(KeyMaterial::from(&t.outbound), SaDirection::Outbound, w, 0)
                    .expect("a validated outbound SA builds");
                peer.build(KeyMaterial::from(&t.outbound), SaDirection::Inbound, w, 0)
                    .expect("the peer's view of our outbound SA builds");
                for sa in &t.inbound {
                    local
                        .build(KeyMaterial::from(sa), SaDirection::Inbound, w, 0)
                        .expect("a validated inbound SA builds");
                    peer.build(KeyMaterial::from(sa), SaDirection::Outbound, w, 0)
                        .expect("the peer's view of our inbound SA builds");
                }
            }
        }
    }
}

pub fn peer_msg_target(data: &[u8]) {
    let Ok(m) = Message::decode_unauthenticated(data) else { return };
    let k = key();
    let again = m.to_bytes(&k);
    assert_eq!(Message::decode_unauthenticated(&again).as_ref(), Ok(&m), "re-encode round trip");
    let mut w = ReplayWindow::default();
    match auth::open(&again, m.tunnel_id, &k, &mut w) {
        Ok(opened) => assert_eq!(opened, m),
        Err(e) => panic!("our own encoding of {m:?} does not open: {e:?}"),
    }
}

pub fn peer_open_target(data: &[u8]) {
    let k = key();
    let mut dgram = data.to_vec();
    dgram.extend_from_slice(&k.tag(data));
    let mut w = ReplayWindow::default();
    let framed = Frame::new_checked(&dgram).is_ok();
    match auth::open(&dgram, TUNNEL, &k, &mut w) {
        Ok(m) => {
            assert_eq!(Message::decode_unauthenticated(&dgram).as_ref(), Ok(&m));
            assert_eq!(w.high(), Some(m.msg_id), "the window advanced to the message");
            assert!(
                matches!(auth::open(&dgram, TUNNEL, &k, &mut w), Err(Reject::Replayed(_))),
                "a message opens once"
            );
        }
        Err(Reject::Forged) => panic!("a correctly tagged datagram was called forged"),
        Err(Reject::Malformed(_)) | Err(Reject::WrongTunnel(_)) => {
            assert_eq!(w.high(), None, "a refused datagram does not move the window")
        }
        Err(Reject::Replayed(_)) => panic!("a fresh window refused as replay"),
    }
    if framed && dgram.len() >= MAC_LEN {
        let n = dgram.len();
        dgram[n - 1] ^= 1;
        let mut w = ReplayWindow::default();
        match auth::open(&dgram, TUNNEL, &k, &mut w) {
            Err(Reject::Forged) | Err(Reject::WrongTunnel(_)) => {}
            other => panic!("a flipped tag bit was not refused as forged: {other:?}"),
        }
    }
}
