//! The control core of `qfp run -c`: one peer-channel state machine (`ctrl::peer::Peer`)
//! per tunnel that has a PSK, driven by the datagrams the workers punt, by its timers, by
//! the SAs' lifetimes, by `--rekey-every` and by qfpctl; its actions carried out on the
//! running gateway through [`GatewayControl`]; and the unknown-SPI reports turned into the
//! `%CRYPTO-4-RECVD_PKT_INV_SPI` log, a per-flow classification and, with recovery on,
//! INVALID_SPI notifies (`invalid_spi.rs`).
//!
//! Everything here runs on the control core's thread and takes `now` (ns of the clock the
//! workers and SAs use) as an argument: the same code runs in `qfp run` and, in tests, over
//! in-memory workers with a simulated clock (`ctrl/tests/core_*.rs`).
//!
//! Carrying out a `Peer`'s actions, in order (the order is the protocol's guarantee):
//!
//! - `PublishInbound` builds the SA from the tunnel's template and the derived keys and
//!   publishes it (one table swap; it decrypts from the workers' next burst);
//! - `SwitchOutbound` replaces the tunnel's outbound SA: one atomic pointer store, fresh
//!   sequence counter. The `Peer` only asks for it once the peer has published the SA it
//!   encrypts for (make before break), except with `--rekey-order outbound-first`;
//! - `UnpublishInbound` (after `--rekey-overlap-ms`, or at once on DELETE / clear) removes
//!   the SA from the table; the old table and SA are freed by the epoch reclaim once no
//!   worker can hold them (`GatewayControl::tick_with`);
//! - `Send` frames the datagram for the peer and queues it for worker 0.
//!
//! Rekey triggers: an SA's soft lifetime (time, bytes, packets: the flag its owner worker
//! raises, checked every tick) starts a rekey after a random delay of up to a second;
//! sequence-number exhaustion (the outbound counter in its last sixteenth, or spent) and a
//! hard expiry start one at once; `--rekey-every MS` every MS (with a random phase per
//! tunnel, so two gateways started together do not always collide); qfpctl `rekey`
//! (`commands.rs`, with `clear sa` and `debug forget-sa`).

use std::net::IpAddr;

use dataplane::SaDirection;
use dataplane::buf::PacketBuf;
use dataplane::gateway::{InvalidSpiReport, PuntKind, TunnelId};
use dataplane::sa::{Expiry, seq_soft_limit};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

use crate::config::{self, Config};
use crate::gateway::control::GatewayControl;
use crate::gateway::invalid_spi::{InvalidSpiSettings, InvalidSpiTracker, ios_timestamp};
use crate::peer::{
    self, Action, Event, ExchangeState, InitialSas, Peer, PeerConfig, RekeyOrder, RekeyReason,
    SaParams,
};
use crate::sa_build::KeyMaterial;

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

/// How the control core behaves (from the command line).
#[derive(Debug, Clone)]
pub struct CoreSettings {
    /// `--rekey-order`.
    pub rekey_order: RekeyOrder,
    /// `--rekey-overlap-ms`.
    pub rekey_overlap_ms: u64,
    /// `--rekey-every`.
    pub rekey_every_ms: Option<u64>,
    /// `--invalid-spi-recovery`, `--invalid-spi-log-interval`, `--invalid-spi-out-of-sync`.
    pub invalid_spi: InvalidSpiSettings,
    /// Anti-replay window of new inbound SAs (the config's, after `--replay-window`).
    pub replay_window: u32,
    /// Adjusts every tunnel's peer-channel settings (tests shorten timers).
    pub tune: Option<fn(&mut PeerConfig)>,
}

impl Default for CoreSettings {
    fn default() -> Self {
        CoreSettings {
            rekey_order: RekeyOrder::MakeBeforeBreak,
            rekey_overlap_ms: 2000,
            rekey_every_ms: None,
            invalid_spi: InvalidSpiSettings::default(),
            replay_window: config::DEFAULT_REPLAY_WINDOW,
            tune: None,
        }
    }
}

/// Where log lines go.
#[derive(Debug)]
pub enum LogSink {
    /// stderr: `qfp: ...` lines, and the IOS line with an IOS timestamp.
    Stderr,
    /// Kept in memory (tests): the lines without prefix or timestamp.
    Capture(Vec<String>),
}

/// Why a tunnel was rekeyed, counted per tunnel.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Triggers {
    /// Soft lifetime (time, bytes, packets) of one of its SAs.
    pub soft_lifetime: u64,
    /// Outbound sequence number near its end (or a hard expiry).
    pub seq_exhausted: u64,
    /// `--rekey-every`.
    pub periodic: u64,
    /// qfpctl `rekey`.
    pub manual: u64,
    /// qfpctl `clear sa`.
    pub cleared: u64,
}

/// The control core's own counters.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct CoreCounts {
    /// Peer-channel datagrams handed to a tunnel's `Peer`.
    pub peer_datagrams: u64,
    /// Punted datagrams that match no tunnel with a PSK (dropped).
    pub datagrams_no_tunnel: u64,
    /// Punts that were not a whole UDP datagram (dropped).
    pub punts_malformed: u64,
    /// IKE packets on a NAT-T port (qfp speaks its own peer channel: dropped).
    pub ike_dropped: u64,
    /// Datagrams that could not be queued for sending (no buffer, inject ring full).
    pub send_failures: u64,
    /// SAs the peer channel derived that could not be built or published.
    pub sa_failures: u64,
}

/// One tunnel's control state.
pub(super) struct TunnelCtl {
    pub(super) name: String,
    pub(super) peer_addr: IpAddr,
    pub(super) local: IpAddr,
    pub(super) peer: Option<Peer<StdRng>>,
    pub(super) alive: bool,
    next_periodic: Option<u64>,
    /// SPIs whose expiry flag has been acted on.
    acted: Vec<u32>,
    /// Rekey-progress log lines: when the last went out, how many were held back since.
    progress_logged: Option<u64>,
    progress_held: u64,
    pub(super) triggers: Triggers,
}

/// The control core (see the module docs).
pub struct ControlCore {
    pub(super) tunnels: Vec<TunnelCtl>,
    settings: CoreSettings,
    invalid: InvalidSpiTracker,
    log: LogSink,
    counts: CoreCounts,
    rng: StdRng,
}

impl core::fmt::Debug for ControlCore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ControlCore").field("tunnels", &self.tunnels.len()).finish_non_exhaustive()
    }
}

fn peer_aead(a: config::Aead) -> peer::Aead {
    match a {
        config::Aead::Aes128Gcm => peer::Aead::Aes128Gcm,
        config::Aead::Aes256Gcm => peer::Aead::Aes256Gcm,
    }
}

impl ControlCore {
    /// The control core of the gateway configured by `cfg`: a `Peer` for every tunnel with
    /// a PSK, starting from the config's SAs. `now` is the gateway clock, `wall_ns` the
    /// UNIX time in ns (the peer channel's message-id epoch), `rng` seeds everything random.
    pub fn new(
        cfg: &Config,
        settings: CoreSettings,
        now: u64,
        wall_ns: u64,
        mut rng: StdRng,
        log: LogSink,
    ) -> Result<ControlCore, String> {
        let mut tunnels = Vec::with_capacity(cfg.tunnels.len());
        for t in &cfg.tunnels {
            let peer = match &t.psk {
                None => None,
                Some(psk) => {
                    let id = peer::TunnelId::from_endpoints(t.local, t.peer);
                    let mut pc = PeerConfig::new(id, psk.expose());
                    pc.aead = peer_aead(t.outbound.aead);
                    pc.esn = t.esn;
                    pc.rekey_order = settings.rekey_order;
                    pc.rekey_overlap_ms = settings.rekey_overlap_ms;
                    if let Some(tune) = settings.tune {
                        tune(&mut pc);
                    }
                    let initial = InitialSas {
                        outbound: Some(t.outbound.spi),
                        inbound: t.inbound.iter().map(|s| s.spi).collect(),
                    };
                    let p = Peer::new(pc, initial, now, wall_ns, StdRng::from_rng(&mut rng))
                        .map_err(|e| format!("tunnel {}: {e}", t.name))?;
                    Some(p)
                }
            };
            tunnels.push(TunnelCtl {
                name: t.name.clone(),
                peer_addr: t.peer,
                local: t.local,
                peer,
                alive: true,
                next_periodic: None,
                acted: Vec::new(),
                progress_logged: None,
                progress_held: 0,
                triggers: Triggers::default(),
            });
        }
        let invalid = InvalidSpiTracker::new(settings.invalid_spi);
        Ok(ControlCore { tunnels, settings, invalid, log, counts: CoreCounts::default(), rng })
    }

    /// Whether any tunnel has a peer channel (the control loop then ticks more often).
    pub fn has_peers(&self) -> bool {
        self.tunnels.iter().any(|t| t.peer.is_some())
    }

    /// The settings.
    pub fn settings(&self) -> &CoreSettings {
        &self.settings
    }

    /// Changes `--rekey-every` while running (`None`: off).
    pub fn set_rekey_every(&mut self, ms: Option<u64>) {
        self.settings.rekey_every_ms = ms;
        for t in &mut self.tunnels {
            t.next_periodic = None;
        }
    }

    /// The control core's counters.
    pub fn counts(&self) -> &CoreCounts {
        &self.counts
    }

    /// The unknown-SPI flows.
    pub fn invalid_spi(&self) -> &InvalidSpiTracker {
        &self.invalid
    }

    /// The `Peer` of tunnel `i` (None for a static tunnel).
    pub fn peer(&self, i: usize) -> Option<&Peer<StdRng>> {
        self.tunnels.get(i)?.peer.as_ref()
    }

    /// Rekey triggers counted for tunnel `i`.
    pub fn triggers(&self, i: usize) -> Option<&Triggers> {
        self.tunnels.get(i).map(|t| &t.triggers)
    }

    /// Whether tunnel `i`'s peer answers (static tunnels: always).
    pub fn peer_alive(&self, i: usize) -> bool {
        self.tunnels.get(i).is_some_and(|t| t.alive)
    }

    /// The lines logged so far, with [`LogSink::Capture`].
    pub fn captured_log(&self) -> &[String] {
        match &self.log {
            LogSink::Capture(v) => v,
            LogSink::Stderr => &[],
        }
    }

    pub(crate) fn log_line(&mut self, line: String) {
        match &mut self.log {
            LogSink::Stderr => eprintln!("qfp: {line}"),
            LogSink::Capture(v) => v.push(line),
        }
    }

    fn log_ios(&mut self, line: String) {
        match &mut self.log {
            LogSink::Stderr => {
                let unix = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                eprintln!("{}{line}", ios_timestamp(unix));
            }
            LogSink::Capture(v) => v.push(line),
        }
    }

    /// One control-core slice at `now`: punted datagrams to their tunnel's `Peer`,
    /// unknown-SPI reports, lifetimes, periodic rekeys, the peers' timers, and every
    /// resulting action carried out. Also drops what the workers can no longer reference.
    pub fn tick<P: PacketBuf + Send>(&mut self, gw: &mut GatewayControl<'_, P>, now: u64) {
        let mut datagrams = Vec::new();
        let mut reports = Vec::new();
        let counts = &mut self.counts;
        gw.tick_with(
            |p| {
                if p.kind == PuntKind::Ike {
                    counts.ike_dropped += 1;
                    return;
                }
                match p.datagram() {
                    Some(d) => datagrams.push((d.src, d.dst, d.payload.to_vec())),
                    None => counts.punts_malformed += 1,
                }
            },
            |r| reports.push(*r),
        );
        for (src, dst, payload) in datagrams {
            self.on_datagram(gw, now, src, dst, &payload);
        }
        for r in reports {
            self.on_invalid_spi(gw, now, &r);
        }
        self.check_lifetimes(gw, now);
        self.periodic(gw, now);
        for i in 0..self.tunnels.len() {
            if let Some(p) = self.tunnels[i].peer.as_mut()
                && p.poll_timeout().is_some_and(|t| t <= now)
            {
                p.handle_timeout(now, &mut gw.spis(i as TunnelId));
            }
            self.drain(gw, now, i);
        }
    }

    fn on_datagram<P: PacketBuf + Send>(
        &mut self,
        gw: &mut GatewayControl<'_, P>,
        now: u64,
        src: IpAddr,
        dst: IpAddr,
        payload: &[u8],
    ) {
        // The tunnel whose peer sent it; with two tunnels between the same addresses the
        // tunnel id in the message tells them apart (the `Peer` checks it).
        let id = peer::msg::Frame::new_checked(payload).ok().map(|f| f.tunnel_id());
        let found = self.tunnels.iter().position(|t| {
            t.peer_addr == src
                && t.local == dst
                && t.peer.as_ref().is_some_and(|p| id.is_none_or(|id| id == p.tunnel_id()))
        });
        let Some(i) = found.or_else(|| {
            self.tunnels
                .iter()
                .position(|t| t.peer_addr == src && t.local == dst && t.peer.is_some())
        }) else {
            self.counts.datagrams_no_tunnel += 1;
            return;
        };
        self.counts.peer_datagrams += 1;
        if let Some(p) = self.tunnels[i].peer.as_mut() {
            p.handle_datagram(now, payload, &mut gw.spis(i as TunnelId));
        }
        self.drain(gw, now, i);
    }

    fn on_invalid_spi<P: PacketBuf + Send>(
        &mut self,
        gw: &mut GatewayControl<'_, P>,
        now: u64,
        r: &InvalidSpiReport,
    ) {
        let e = r.event;
        let ti = self.tunnels.iter().position(|t| t.peer_addr == e.src && t.local == e.dst);
        let name = ti.map(|i| self.tunnels[i].name.clone());
        let seen = self.invalid.report(r, name.as_deref());
        if let Some(line) = seen.log {
            self.log_ios(line);
        }
        let recovery = self.settings.invalid_spi.recovery;
        if seen.became_out_of_sync {
            let who = name
                .as_deref()
                .map_or_else(|| "no configured peer".to_owned(), |n| format!("tunnel {n}"));
            let what = match ti.map(|i| self.tunnels[i].peer.is_some()) {
                Some(true) if recovery => "INVALID_SPI notified, the peer should rekey",
                Some(true) => {
                    "invalid-SPI recovery is off: nothing repairs it until the peer's SA expires or `qfpctl clear sa peer`"
                }
                Some(false) => "static SAs: replace them by hand",
                None => "not from a configured peer",
            };
            self.log_line(format!(
                "unknown SPI {:#010x} from {} to {} ({who}) for {} consecutive intervals: \
                 out of sync ({what})",
                e.spi, e.src, e.dst, self.settings.invalid_spi.out_of_sync_after
            ));
        }
        if !recovery {
            return;
        }
        let Some(i) = ti else { return };
        let Some(p) = self.tunnels[i].peer.as_mut() else { return };
        if p.invalid_spi_seen(now, e.spi, e.src, e.dst) {
            self.invalid.notified(e.src, e.dst, e.spi);
        }
        self.drain(gw, now, i);
    }

    /// Starts rekeys for SAs whose owner worker raised their expiry flag.
    fn check_lifetimes<P: PacketBuf + Send>(&mut self, gw: &mut GatewayControl<'_, P>, now: u64) {
        // (tunnel, spi, expiry, sequence space running out)
        let mut hits: Vec<(usize, u32, Expiry, bool)> = Vec::new();
        for i in 0..self.tunnels.len() {
            if let Some(o) = gw.writer().outbound(i as TunnelId)
                && o.expiry() != Expiry::Live
            {
                hits.push((i, o.spi(), o.expiry(), o.stats().seq >= seq_soft_limit(o.esn())));
            }
        }
        for e in gw.writer().inbound() {
            if e.sa.expiry() != Expiry::Live {
                hits.push((e.tunnel as usize, e.sa.spi(), e.sa.expiry(), false));
            }
        }
        for t in &mut self.tunnels {
            t.acted.retain(|spi| hits.iter().any(|h| h.1 == *spi));
        }
        for (i, spi, expiry, seq) in hits {
            let t = &mut self.tunnels[i];
            if t.acted.contains(&spi) {
                continue;
            }
            // An inbound SA retiring after a rekey needs no successor.
            if t.peer.as_ref().is_some_and(|p| p.retiring().iter().any(|r| r.0 == spi)) {
                continue;
            }
            t.acted.push(spi);
            let Some(p) = t.peer.as_mut() else {
                let name = t.name.clone();
                self.log_line(format!(
                    "tunnel {name}: SA {spi:#010x} reached its {} lifetime; static SAs are never \
                     rekeyed",
                    if expiry == Expiry::Hard { "hard" } else { "soft" }
                ));
                continue;
            };
            if seq || expiry == Expiry::Hard {
                t.triggers.seq_exhausted += u64::from(seq);
                t.triggers.soft_lifetime += u64::from(!seq);
                let reason =
                    if seq { RekeyReason::SeqExhausted } else { RekeyReason::SoftLifetime };
                p.rekey_now(now, reason, &mut gw.spis(i as TunnelId));
            } else {
                t.triggers.soft_lifetime += 1;
                p.rekey_jittered(now, RekeyReason::SoftLifetime);
            }
            self.drain(gw, now, i);
        }
    }

    fn periodic<P: PacketBuf + Send>(&mut self, gw: &mut GatewayControl<'_, P>, now: u64) {
        let Some(every) = self.settings.rekey_every_ms.map(|m| m * MS) else { return };
        for i in 0..self.tunnels.len() {
            if self.tunnels[i].peer.is_none() {
                continue;
            }
            let next = match self.tunnels[i].next_periodic {
                Some(n) => n,
                None => {
                    let phase = self.rng.random_range(0..every.max(1));
                    self.tunnels[i].next_periodic = Some(now + every + phase);
                    continue;
                }
            };
            if now < next {
                continue;
            }
            let t = &mut self.tunnels[i];
            t.next_periodic = Some(if next + every > now { next + every } else { now + every });
            t.triggers.periodic += 1;
            if let Some(p) = t.peer.as_mut() {
                p.rekey_now(now, RekeyReason::Periodic, &mut gw.spis(i as TunnelId));
            }
            self.drain(gw, now, i);
        }
    }

    /// Carries out tunnel `i`'s pending actions, in order.
    pub(crate) fn drain<P: PacketBuf + Send>(
        &mut self,
        gw: &mut GatewayControl<'_, P>,
        now: u64,
        i: usize,
    ) {
        while let Some(a) = self.tunnels[i].peer.as_mut().and_then(Peer::poll_action) {
            self.execute(gw, now, i, a);
        }
    }

    fn build_sa<P: PacketBuf + Send>(
        &mut self,
        gw: &GatewayControl<'_, P>,
        now: u64,
        i: usize,
        p: &SaParams,
        dir: SaDirection,
    ) -> Option<dataplane::Sa> {
        let window = match dir {
            SaDirection::Inbound => self.settings.replay_window,
            SaDirection::Outbound => 0,
        };
        let keys = KeyMaterial { spi: p.spi, key: p.keys.key(), salt: p.keys.salt() };
        match gw.tunnels()[i].template.build(keys, dir, window, now) {
            Ok(sa) => Some(sa),
            Err(e) => {
                self.counts.sa_failures += 1;
                let name = self.tunnels[i].name.clone();
                self.log_line(format!("tunnel {name}: cannot build SA {:#010x}: {e}", p.spi));
                None
            }
        }
    }

    fn execute<P: PacketBuf + Send>(
        &mut self,
        gw: &mut GatewayControl<'_, P>,
        now: u64,
        i: usize,
        a: Action,
    ) {
        let t = i as TunnelId;
        let name = self.tunnels[i].name.clone();
        match a {
            Action::Send(bytes) => {
                if let Err(e) = gw.send_to_peer(t, &bytes) {
                    self.counts.send_failures += 1;
                    if self.counts.send_failures.is_power_of_two() {
                        self.log_line(format!(
                            "tunnel {name}: peer-channel message not sent: {e} ({} so far; the \
                             protocol retransmits)",
                            self.counts.send_failures
                        ));
                    }
                }
            }
            Action::PublishInbound(p) => {
                if let Some(sa) = self.build_sa(gw, now, i, &p, SaDirection::Inbound)
                    && let Err(e) = gw.publish_inbound(t, sa)
                {
                    self.counts.sa_failures += 1;
                    self.log_line(format!("tunnel {name}: cannot publish SA {:#010x}: {e}", p.spi));
                }
            }
            Action::SwitchOutbound(p) => {
                if let Some(sa) = self.build_sa(gw, now, i, &p, SaDirection::Outbound)
                    && let Err(e) = gw.rekey_outbound(t, sa)
                {
                    self.counts.sa_failures += 1;
                    self.log_line(format!(
                        "tunnel {name}: cannot switch to SA {:#010x}: {e}",
                        p.spi
                    ));
                }
            }
            Action::RemoveOutbound { spi } => {
                if gw.writer().outbound(t).is_some_and(|o| o.spi() == spi) {
                    let _ = gw.switch_outbound(t, None);
                }
            }
            Action::UnpublishInbound { spi } => {
                gw.unpublish_inbound(spi);
            }
            Action::PeerDead => {
                self.tunnels[i].alive = false;
                let peer = self.tunnels[i].peer_addr;
                self.log_line(format!(
                    "tunnel {name}: peer {peer} does not answer (dead); probing, a new SA pair \
                     comes when it answers"
                ));
            }
            Action::PeerAlive => {
                self.tunnels[i].alive = true;
                let peer = self.tunnels[i].peer_addr;
                self.log_line(format!("tunnel {name}: peer {peer} answers again; rekeying"));
            }
            Action::Log(e) => self.log_event(now, i, &e),
        }
    }

    /// Peer events as log lines. Rekey progress (several lines per rekey, up to hundreds a
    /// second with `--rekey-every`) is held to one line a second per tunnel, the number
    /// held back said on the next one; everything else the `Peer` already rate-limits.
    fn log_event(&mut self, now: u64, i: usize, e: &Event) {
        let progress = matches!(
            e,
            Event::RekeyStarted { .. }
                | Event::RekeyResponded { .. }
                | Event::RekeyCompleted { .. }
                | Event::Collision { .. }
        );
        let t = &mut self.tunnels[i];
        let mut held = 0;
        if progress {
            if t.progress_logged.is_some_and(|at| now < at + S) {
                t.progress_held += 1;
                return;
            }
            t.progress_logged = Some(now);
            held = core::mem::take(&mut t.progress_held);
        }
        let name = t.name.clone();
        let more =
            if held > 0 { format!(" ({held} similar lines held back)") } else { String::new() };
        self.log_line(format!("tunnel {name}: {e}{more}"));
    }

    /// Tunnel `i`'s name, peer and local addresses.
    pub fn tunnel_addrs(&self, i: usize) -> Option<(&str, IpAddr, IpAddr)> {
        self.tunnels.get(i).map(|t| (t.name.as_str(), t.peer_addr, t.local))
    }

    /// Number of tunnels.
    pub fn tunnel_count(&self) -> usize {
        self.tunnels.len()
    }
}

/// An exchange state as shown.
pub fn exchange_name(s: ExchangeState) -> &'static str {
    match s {
        ExchangeState::Idle => "idle",
        ExchangeState::Initiating => "initiating (REKEY_INIT sent)",
        ExchangeState::Finishing => "finishing (REKEY_DONE sent)",
        ExchangeState::Responding => "responding (REKEY_RESP sent)",
    }
}
