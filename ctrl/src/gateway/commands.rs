//! The operator's commands to the control core (qfpctl): `rekey [peer A | all]`, `clear sa
//! peer A`, `debug forget-sa SPI`. Each returns one message for the client, or why it could
//! not be done (a refusal: qfpctl exits 2).
//!
//! `clear sa` always brings a new pair up at once (the `Peer` starts the exchange as it
//! deletes): a cleared tunnel never stays down waiting for traffic or a second command,
//! the SD-WAN failure of design section 1. Static tunnels (no PSK) cannot be rekeyed or
//! cleared: nothing could bring up a new pair, so the command is refused rather than
//! leaving the tunnel down for good.

use std::net::IpAddr;

use dataplane::buf::PacketBuf;
use dataplane::gateway::TunnelId;

use crate::gateway::control::GatewayControl;
use crate::gateway::core::{ControlCore, exchange_name};
use crate::peer::RekeyReason;

impl ControlCore {
    /// The tunnels named by `target` (a tunnel name or a peer address), or every tunnel.
    pub fn find(&self, target: Option<&str>) -> Result<Vec<usize>, String> {
        let Some(target) = target else { return Ok((0..self.tunnels.len()).collect()) };
        let addr: Option<IpAddr> = target.parse().ok();
        let found: Vec<usize> = (0..self.tunnels.len())
            .filter(|&i| {
                let t = &self.tunnels[i];
                t.name == target || addr.is_some_and(|a| a == t.peer_addr)
            })
            .collect();
        if found.is_empty() {
            let known: Vec<String> =
                self.tunnels.iter().map(|t| format!("{} ({})", t.name, t.peer_addr)).collect();
            return Err(format!(
                "no tunnel named or peering with `{target}`; tunnels: {}",
                known.join(", ")
            ));
        }
        Ok(found)
    }

    /// qfpctl `rekey [peer A]`: starts a rekey of every tunnel named (every tunnel with a
    /// PSK when `target` is `None`). Returns what happened, or why nothing could.
    pub fn rekey<P: PacketBuf + Send>(
        &mut self,
        gw: &mut GatewayControl<'_, P>,
        now: u64,
        target: Option<&str>,
    ) -> Result<String, String> {
        let all = target.is_none();
        let chosen: Vec<usize> = self
            .find(target)?
            .into_iter()
            .filter(|&i| !all || self.tunnels[i].peer.is_some())
            .collect();
        if chosen.is_empty() {
            return Err("no tunnel has a PSK: static SAs are never rekeyed".into());
        }
        let mut lines = Vec::new();
        for i in chosen {
            let t = &mut self.tunnels[i];
            let Some(p) = t.peer.as_mut() else {
                return Err(format!(
                    "tunnel {} has static SAs (no psk): it cannot be rekeyed",
                    t.name
                ));
            };
            t.triggers.manual += 1;
            p.rekey_now(now, RekeyReason::Manual, &mut gw.spis(i as TunnelId));
            let state = exchange_name(p.exchange_state());
            let note = if t.alive {
                String::new()
            } else {
                "; the peer does not answer: the new pair comes when it does".to_owned()
            };
            lines.push(format!("tunnel {} (peer {}): rekey {state}{note}", t.name, t.peer_addr));
            self.drain(gw, now, i);
        }
        Ok(lines.join("\n"))
    }

    /// qfpctl `clear sa peer A`: deletes the tunnels' SAs, tells the peer, and starts a new
    /// pair at once.
    pub fn clear<P: PacketBuf + Send>(
        &mut self,
        gw: &mut GatewayControl<'_, P>,
        now: u64,
        target: &str,
    ) -> Result<String, String> {
        let chosen = self.find(Some(target))?;
        if let Some(&i) = chosen.iter().find(|&&i| self.tunnels[i].peer.is_none()) {
            return Err(format!(
                "tunnel {} has static SAs (no psk): clearing them would leave it down for good \
                 (nothing could bring up a new pair); refused",
                self.tunnels[i].name
            ));
        }
        let mut lines = Vec::new();
        for i in chosen {
            let t = &mut self.tunnels[i];
            let Some(p) = t.peer.as_mut() else { continue };
            let (ins, out) = (p.inbound_spis().len(), p.outbound_spi());
            t.triggers.cleared += 1;
            p.clear(now, &mut gw.spis(i as TunnelId));
            lines.push(format!(
                "tunnel {} (peer {}): cleared {ins} inbound SA(s){}, peer told (DELETE), new \
                 pair requested",
                t.name,
                t.peer_addr,
                if out.is_some() { " and the outbound SA" } else { "" }
            ));
            self.drain(gw, now, i);
        }
        Ok(lines.join("\n"))
    }

    /// qfpctl `debug forget-sa SPI`: unpublishes one inbound SA without telling the peer.
    pub fn forget_sa<P: PacketBuf + Send>(
        &mut self,
        gw: &mut GatewayControl<'_, P>,
        now: u64,
        spi: u32,
    ) -> Result<String, String> {
        let Some(e) = gw.writer().inbound_sa(spi) else {
            return Err(format!("no inbound SA with SPI {spi:#010x} (show sa lists them)"));
        };
        let i = e.tunnel as usize;
        let name = self.tunnels[i].name.clone();
        match self.tunnels[i].peer.as_mut() {
            Some(p) => {
                p.debug_forget_inbound(spi, &mut gw.spis(i as TunnelId));
                self.drain(gw, now, i);
            }
            None => {
                gw.unpublish_inbound(spi);
            }
        }
        if gw.writer().is_published(spi) {
            gw.unpublish_inbound(spi);
        }
        self.log_line(format!(
            "tunnel {name}: debug forget-sa: inbound SA {spi:#010x} deleted without telling the \
             peer"
        ));
        Ok(format!(
            "tunnel {name}: inbound SA {spi:#010x} forgotten (the peer was not told): its \
             packets now count as IN_US_V4/V6_PKT_SA_NOT_FOUND_SPI"
        ))
    }
}
