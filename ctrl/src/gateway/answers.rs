//! The gateway's answers to qfpctl, and the control core's part of the statistics
//! document.
//!
//! `show stats`, `show drops` and `show workers` are answered from the statistics document
//! (`crate::ctl::answer`), completed here by [`decorate`] with what only the control core
//! knows (peers, exchanges, rekey triggers, retiring SAs, SAs per worker, unknown-SPI
//! flows). `show sa` ([`sa_view`]: the fields of IOS's `show crypto ipsec sa`),
//! `show invalid-spi`, `clear sa`, `rekey` and `debug forget-sa` are answered by the
//! control core ([`answer`]).

use std::net::IpAddr;

use dataplane::buf::PacketBuf;
use dataplane::crypto::KeySize;
use dataplane::gateway::{InboundEntry, TunnelId};
use dataplane::sa::{Endpoints, Expiry, Sa, SaDirection};
use serde::Serialize;
use serde_json::json;

use crate::ctl::answer;
use crate::ctl::proto::{Request, Response};
use crate::gateway::control::GatewayControl;
use crate::gateway::core::{ControlCore, Triggers, exchange_name};
use crate::peer::{ExchangeState, PeerStats};
use crate::stats::{CoreJson, Snapshot};

/// Remaining hard lifetime; `None` is unlimited.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Remaining {
    /// Seconds.
    pub seconds: Option<u64>,
    /// Kilobytes (of inner bytes).
    pub kilobytes: Option<u64>,
    /// Packets.
    pub packets: Option<u64>,
}

/// One SA in `show sa`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SaView {
    /// SPI.
    pub spi: u32,
    /// "in" or "out".
    pub dir: &'static str,
    /// "active", "soft-expired", "expired", "invalid" or "retiring".
    pub state: &'static str,
    /// "aes-128-gcm" or "aes-256-gcm".
    pub aead: &'static str,
    /// Packets protected.
    pub packets: u64,
    /// Inner bytes protected.
    pub bytes: u64,
    /// Outbound: last sequence number sent; inbound: highest accepted.
    pub seq: u64,
    /// The worker that owns it.
    pub owner: u16,
    /// Anti-replay window (inbound; 0: off).
    pub replay_window: u32,
    /// Replay-window refusals.
    pub replay_failed: u64,
    /// ICV failures.
    pub verify_failed: u64,
    /// Remaining hard lifetime.
    pub lifetime_remaining: Remaining,
    /// An inbound SA kept for the rekey overlap: ms until it is unpublished.
    pub retire_in_ms: Option<u64>,
}

/// One tunnel in `show sa`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TunnelView {
    /// Name.
    pub name: String,
    /// Our outer address.
    pub local: String,
    /// The peer's.
    pub peer: String,
    /// ESP in UDP.
    pub natt: bool,
    /// NAT-T ports.
    pub natt_local_port: Option<u16>,
    /// See `natt_local_port`.
    pub natt_peer_port: Option<u16>,
    /// Extended sequence numbers.
    pub esn: bool,
    /// Path MTU.
    pub mtu: u16,
    /// Rekeys since start: exchanges that installed a new outbound SA, whatever started
    /// them (also after a clear or an INVALID_SPI repair left no SA to replace).
    pub rekeys: u64,
    /// "peer-channel" (PSK) or "static".
    pub rekeying: &'static str,
    /// The peer channel's tunnel id (hex).
    pub tunnel_id: Option<String>,
    /// Whether the peer answers (static: true).
    pub peer_alive: bool,
    /// The exchange under way.
    pub exchange: Option<&'static str>,
    /// The SPI it encrypts with now.
    pub outbound_spi: Option<u32>,
    /// Why it was rekeyed.
    pub rekey_triggers: Option<Triggers>,
    /// Its peer channel's counters.
    pub peer_channel: Option<PeerStats>,
    /// Its SAs, inbound first (newest last), then the outbound one.
    pub sa: Vec<SaView>,
}

fn aead_name(sa: &Sa) -> &'static str {
    match sa.key_size() {
        KeySize::Aes128 => "aes-128-gcm",
        KeySize::Aes192 => "aes-192-gcm",
        KeySize::Aes256 => "aes-256-gcm",
    }
}

fn left(limit: u64, used: u64) -> Option<u64> {
    (limit != u64::MAX).then(|| limit.saturating_sub(used))
}

fn sa_view(sa: &Sa, owner: u16, now: u64, retire_at: Option<u64>) -> SaView {
    let s = sa.stats();
    let hard = &sa.lifetime().hard;
    let state = match (retire_at, sa.is_valid(), s.expiry) {
        (_, false, _) => "invalid",
        (Some(_), true, _) => "retiring",
        (None, true, Expiry::Live) => "active",
        (None, true, Expiry::Soft) => "soft-expired",
        (None, true, Expiry::Hard) => "expired",
    };
    SaView {
        spi: sa.spi(),
        dir: match sa.direction() {
            SaDirection::Inbound => "in",
            SaDirection::Outbound => "out",
        },
        state,
        aead: aead_name(sa),
        packets: s.packets,
        bytes: s.bytes,
        seq: s.seq,
        owner,
        replay_window: sa.replay_window(),
        replay_failed: s.replay_failed,
        verify_failed: s.verify_failed,
        lifetime_remaining: Remaining {
            seconds: (hard.time_ns != u64::MAX).then(|| {
                sa.created_ns().saturating_add(hard.time_ns).saturating_sub(now) / 1_000_000_000
            }),
            kilobytes: left(hard.bytes, s.bytes).map(|b| b / 1024),
            packets: left(hard.packets, s.packets),
        },
        retire_in_ms: retire_at.map(|t| t.saturating_sub(now) / 1_000_000),
    }
}

fn addrs(e: &Endpoints) -> (IpAddr, IpAddr) {
    match *e {
        Endpoints::V4 { local, remote } => (local.into(), remote.into()),
        Endpoints::V6 { local, remote } => (local.into(), remote.into()),
    }
}

/// `show sa [peer A]`.
pub fn sa_view_all<P: PacketBuf + Send>(
    core: &ControlCore,
    gw: &GatewayControl<'_, P>,
    now: u64,
    target: Option<&str>,
) -> Result<Vec<TunnelView>, String> {
    let chosen = core.find(target)?;
    let fixed = gw.writer().fixed();
    let by_tunnel = gw.inbound_by_tunnel();
    Ok(chosen
        .into_iter()
        .map(|i| {
            let t = &gw.tunnels()[i];
            let tid = i as TunnelId;
            let peer = core.peer(i);
            let retiring = peer.map(|p| p.retiring()).unwrap_or_default();
            let (local, remote) = addrs(&t.template.tunnel.endpoints);
            let mut sa: Vec<SaView> = Vec::new();
            let mut ins: Vec<&InboundEntry> = by_tunnel.get(i).cloned().unwrap_or_default();
            // Newest last, as the `Peer` orders them; static ones by SPI.
            let order = peer.map(|p| p.inbound_spis()).unwrap_or_default();
            ins.sort_by_key(|e| (order.iter().position(|&s| s == e.sa.spi()), e.sa.spi()));
            for e in ins {
                let r = retiring.iter().find(|r| r.0 == e.sa.spi()).map(|r| r.1);
                sa.push(sa_view(&e.sa, e.owner, now, r));
            }
            let out = gw.writer().outbound(tid);
            if let Some(o) = out {
                sa.push(sa_view(o, fixed.tunnels[i].owner, now, None));
            }
            let natt = t.template.tunnel.natt;
            TunnelView {
                name: t.name.clone(),
                local: local.to_string(),
                peer: remote.to_string(),
                natt: natt.is_some(),
                natt_local_port: natt.map(|n| n.local),
                natt_peer_port: natt.map(|n| n.remote),
                esn: t.template.esn,
                mtu: t.template.tunnel.mtu,
                rekeys: t.rekeys,
                rekeying: if peer.is_some() { "peer-channel" } else { "static" },
                tunnel_id: peer.map(|p| format!("{:#010x}", p.tunnel_id().0)),
                peer_alive: core.peer_alive(i),
                exchange: peer.map(|p| exchange_name(p.exchange_state())),
                outbound_spi: out.map(|o| o.spi()),
                rekey_triggers: peer.and(core.triggers(i).cloned()),
                peer_channel: peer.map(|p| p.stats().clone()),
                sa,
            }
        })
        .collect())
}

/// Adds what the control core knows to a statistics document of the gateway.
pub fn decorate<P: PacketBuf + Send>(
    core: &ControlCore,
    gw: &GatewayControl<'_, P>,
    now: u64,
    snap: &mut Snapshot,
) {
    let mut summary = CoreJson { counts: core.counts().clone(), ..CoreJson::default() };
    for (i, t) in snap.tunnels.iter_mut().enumerate() {
        let Some((_, peer_addr, _)) = core.tunnel_addrs(i) else { continue };
        let peer = core.peer(i);
        t.peer = Some(peer_addr.to_string());
        t.peer_state = Some(match (peer, core.peer_alive(i)) {
            (None, _) => "static",
            (Some(_), true) => "alive",
            (Some(_), false) => "dead",
        });
        t.outbound_spi = gw.writer().outbound(i as TunnelId).map(|o| o.spi());
        summary.rekeys += t.rekeys;
        match peer {
            None => summary.static_tunnels += 1,
            Some(p) => {
                if core.peer_alive(i) {
                    summary.peers_alive += 1;
                } else {
                    summary.peers_dead += 1;
                }
                t.exchange = Some(match p.exchange_state() {
                    ExchangeState::Idle => "idle",
                    ExchangeState::Initiating => "initiating",
                    ExchangeState::Finishing => "finishing",
                    ExchangeState::Responding => "responding",
                });
                t.rekey_triggers = core.triggers(i).cloned();
                t.peer_channel = Some(p.stats().clone());
                let retiring = p.retiring();
                for s in t.sa.iter_mut() {
                    if s.dir == "in"
                        && s.state != "invalid"
                        && retiring.iter().any(|r| r.0 == s.spi)
                    {
                        s.state = "retiring";
                    }
                }
            }
        }
    }
    let load = gw.sharding().load();
    for (w, row) in snap.workers.iter_mut().enumerate() {
        row.sas = load.get(w).copied();
    }
    summary.out_of_sync_flows = core.invalid_spi().out_of_sync_now(now) as u64;
    snap.core = Some(summary);
    snap.invalid_spi = Some(core.invalid_spi().json(now));
}

fn message(r: Result<String, String>) -> Response {
    match r {
        Ok(m) => Response::ok(json!({ "message": m })),
        Err(e) => Response::refused(e),
    }
}

/// The gateway's answer to `req`; `snap` is the decorated statistics document now.
pub fn answer<P: PacketBuf + Send>(
    core: &mut ControlCore,
    gw: &mut GatewayControl<'_, P>,
    now: u64,
    req: &Request,
    snap: impl FnOnce(&ControlCore, &GatewayControl<'_, P>) -> Snapshot,
) -> Response {
    match req {
        Request::ShowStats | Request::ShowDrops { .. } | Request::ShowWorkers => {
            let s = snap(core, gw);
            answer::from_snapshot(req, &s)
                .unwrap_or_else(|| Response::failed(format!("`{}`: no answer", req.describe())))
        }
        Request::ShowSa { peer } => match sa_view_all(core, gw, now, peer.as_deref()) {
            Ok(t) => Response::ok(json!({ "tunnels": t })),
            Err(e) => Response::refused(e),
        },
        Request::ShowInvalidSpi => Response::ok(core.invalid_spi().json(now)),
        Request::ClearSa { peer } => message(core.clear(gw, now, peer)),
        Request::Rekey { peer } => message(core.rekey(gw, now, peer.as_deref())),
        Request::DebugForgetSa { spi } => message(core.forget_sa(gw, now, *spi)),
    }
}
