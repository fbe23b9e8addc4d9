//! From the validated config to running tables: the ports' plan (queues, MTU, mbuf size,
//! checked against what the devices can do), the tables' spec (tunnels with their owner
//! workers, policy, routes, addresses), and the static SAs of the config, published.

use dataplane::SaDirection;
use dataplane::gateway::rss::{RssConf, RssFields};
use dataplane::gateway::{GatewaySpec, RouteSpec, TableWriter, TunnelSpec};
use dataplane::wire::eth::MacAddr;
use dpdk_sys::{DEFAULT_DATA_ROOM, PortInfo, RssState};
use rand::rngs::StdRng;

use crate::config::{Config, DEFAULT_MTU};
use crate::gateway::control::{GatewayControl, TunnelState};
use crate::gateway::shard::Sharding;
use crate::gateway::spi::SpiPool;
use crate::run::{Failure, usage};
use crate::sa_build::{self, SaTemplate, Side};

/// Bytes before the packet in every mbuf (`RTE_PKTMBUF_HEADROOM`).
const HEADROOM: u16 = 128;

/// How the two ports are set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPlan {
    /// Rx queues of the protected and the unprotected port (at most one per worker).
    pub rx_queues: [u16; 2],
    /// Tx queues of each port: one per worker (any worker may send on either port).
    pub tx_queues: u16,
    /// Port MTU, when a tunnel needs more than the default 1500.
    pub mtu: Option<u16>,
    /// Mbuf data room (headroom included): a whole frame of the largest tunnel MTU fits.
    pub data_room: u16,
}

/// Checks the devices against the config and `workers`, and plans queues and sizes.
/// `infos` are the protected and the unprotected port. Errors are usage errors, naming
/// the config line where the config is at fault.
pub fn plan_ports(cfg: &Config, infos: [&PortInfo; 2], workers: u16) -> Result<PortPlan, Failure> {
    for (info, field) in infos.iter().zip(["gateway.protected_port", "gateway.unprotected_port"]) {
        if info.max_tx_queues < workers {
            return Err(usage(
                cfg.error(
                    field,
                    format!(
                        "port {} ({}) has {} tx queue(s); each of the {workers} workers needs its \
                         own: use --workers {}, or give the device more queues (net_pcap: one \
                         tx_pcap= per queue)",
                        info.id, info.name, info.max_tx_queues, info.max_tx_queues
                    ),
                )
                .to_string(),
            ));
        }
    }
    let (widest, mtu) = cfg
        .tunnels
        .iter()
        .enumerate()
        .map(|(i, t)| (i, t.mtu))
        .max_by_key(|&(_, m)| m)
        .unwrap_or((0, DEFAULT_MTU));
    let frame = u32::from(mtu) + 14;
    for info in infos {
        if info.max_rx_pktlen < frame || (mtu > DEFAULT_MTU && info.max_mtu < mtu) {
            return Err(usage(
                cfg.error(
                    &format!("tunnel[{widest}].mtu"),
                    format!(
                        "{mtu} does not fit port {} ({}): it takes frames of at most {} bytes \
                         (MTU {})",
                        info.id, info.name, info.max_rx_pktlen, info.max_mtu
                    ),
                )
                .to_string(),
            ));
        }
    }
    // Frame plus a VLAN tag, rounded up to a cache line, after the headroom.
    let need = HEADROOM as u32 + (frame + 4).div_ceil(64) * 64;
    let data_room = (need as u16).max(DEFAULT_DATA_ROOM);
    Ok(PortPlan {
        rx_queues: [infos[0].max_rx_queues.min(workers), infos[1].max_rx_queues.min(workers)],
        tx_queues: workers,
        mtu: (mtu > DEFAULT_MTU).then_some(mtu),
        data_room,
    })
}

/// The unprotected port's RSS as the dataplane's software model needs it.
pub fn rss_conf(state: RssState) -> RssConf {
    let hf = state.hash_functions;
    RssConf {
        key: state.key,
        reta: state.reta,
        fields: RssFields {
            ip: hf & dpdk_sys::RSS_IP != 0,
            udp: hf & dpdk_sys::RSS_UDP != 0,
            esp: hf & dpdk_sys::RSS_ESP != 0,
        },
    }
}

/// The tables (no SA yet), the owner assignment and the tunnels' control state.
pub fn tables(
    cfg: &Config,
    workers: u16,
    port_macs: [MacAddr; 2],
    sharding: &mut Sharding,
    reclaim_capacity: usize,
) -> anyhow::Result<(TableWriter, Vec<TunnelState>)> {
    let mut specs = Vec::with_capacity(cfg.tunnels.len());
    let mut states = Vec::with_capacity(cfg.tunnels.len());
    for (i, t) in cfg.tunnels.iter().enumerate() {
        specs.push(TunnelSpec {
            name: t.name.clone(),
            owner: sharding.assign_tunnel(),
            next_hop_mac: t.next_hop_mac,
            peer: t.peer,
            local: t.local,
            selectors: t.selectors.iter().map(|p| sa_build::prefix(*p)).collect(),
        });
        states.push(TunnelState {
            name: t.name.clone(),
            template: SaTemplate::new(t, Side::Local, &[]),
            config_index: i,
            rekeys: 0,
        });
    }
    let spec = GatewaySpec {
        workers,
        tunnels: specs,
        routes: cfg
            .routes
            .iter()
            .map(|r| RouteSpec { dst: sa_build::prefix(r.dst), next_hop_mac: r.next_hop_mac })
            .collect(),
        locals: cfg.local_addrs(),
        peer_port: cfg.gateway.peer_port,
        natt_ports: cfg.tunnels.iter().filter_map(|t| t.natt.map(|n| n.local_port)).collect(),
        port_macs,
    };
    Ok((TableWriter::new(&spec, reclaim_capacity)?, states))
}

/// A new SPI pool with the config's inbound SPIs reserved.
pub fn spi_pool(cfg: &Config) -> SpiPool<StdRng> {
    let mut pool = SpiPool::new(rand::make_rng::<StdRng>());
    for t in &cfg.tunnels {
        for sa in &t.inbound {
            pool.reserve(sa.spi);
        }
    }
    pool
}

/// Start-up lines shown, one per tunnel, before a summary of the rest.
const SHOWN_TUNNELS: usize = 32;

/// Builds and publishes the config's static SAs (`--replay-window` already applied to
/// `cfg`), created at `now_ns`, in one snapshot. Prints one line per tunnel (SPIs and
/// owner workers) for the first [`SHOWN_TUNNELS`], then how many more there are.
pub fn publish_static<P: dataplane::PacketBuf + Send>(
    control: &mut GatewayControl<'_, P>,
    cfg: &Config,
    now_ns: u64,
    quiet: bool,
) -> anyhow::Result<()> {
    // Every inbound SA in one snapshot: publishing them one by one rebuilt the SPI map per
    // SA (100k tunnels did not start in minutes).
    let mut inbound = Vec::new();
    for (i, t) in cfg.tunnels.iter().enumerate() {
        let template = &control.tunnels()[i].template;
        let out = template.build((&t.outbound).into(), SaDirection::Outbound, 0, now_ns)?;
        let window = cfg.gateway.replay_window;
        for sa in &t.inbound {
            inbound
                .push((i as u32, template.build(sa.into(), SaDirection::Inbound, window, now_ns)?));
        }
        control.switch_outbound(i as u32, Some(out))?;
    }
    let spis: Vec<u32> = inbound.iter().map(|(_, sa)| sa.spi()).collect();
    let owners = control.publish_inbound_many(inbound)?;
    if quiet {
        return Ok(());
    }
    let mut owners = spis.iter().zip(owners);
    for (i, t) in cfg.tunnels.iter().enumerate() {
        let mine: Vec<String> = owners
            .by_ref()
            .take(t.inbound.len())
            .map(|(spi, w)| format!("{spi:#x} (worker {w})"))
            .collect();
        if i == SHOWN_TUNNELS && cfg.tunnels.len() > SHOWN_TUNNELS + 1 {
            eprintln!(
                "qfp: ... and {} more tunnels (qfp ctl show sa)",
                cfg.tunnels.len() - SHOWN_TUNNELS
            );
            break;
        }
        eprintln!(
            "qfp: tunnel {}: {} {} -> {}, out SPI {:#x} (worker {}), in SPI {}",
            t.name,
            if t.natt.is_some() { "ESP-in-UDP" } else { "ESP" },
            t.local,
            t.peer,
            t.outbound.spi,
            control.writer().fixed().tunnels[i].owner,
            mine.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = r#"
[gateway]
protected_port = 0
unprotected_port = 1
local = "172.16.1.5"
[[tunnel]]
name = "t"
peer = "172.16.2.5"
next_hop_mac = "02:00:00:00:00:02"
selectors = ["192.168.105.0/24"]
mtu = 9000
[[tunnel.sa]]
dir = "out"
spi = 0x1001
aead = "aes-128-gcm"
key = "00112233445566778899aabbccddeeff"
salt = "01020304"
[[tunnel.sa]]
dir = "in"
spi = 0x2001
aead = "aes-128-gcm"
key = "ffeeddccbbaa99887766554433221100"
salt = "05060708"
"#;

    fn info(id: u16, rxq: u16, txq: u16, pktlen: u32, mtu: u16) -> PortInfo {
        PortInfo {
            id,
            name: format!("net_x{id}"),
            driver: "net_x".into(),
            max_rx_queues: rxq,
            max_tx_queues: txq,
            rx_desc_limits: (0, 4096),
            tx_desc_limits: (0, 4096),
            rss_offloads: 0,
            reta_size: 0,
            max_rx_pktlen: pktlen,
            max_mtu: mtu,
            hash_key_size: 0,
            rx_offloads: 0,
            socket: None,
        }
    }

    #[test]
    fn jumbo_tunnels_size_the_ports_and_mbufs() {
        let cfg = crate::config::parse(CFG, "gw.toml").unwrap();
        let a = info(0, 1, 2, u32::MAX, 9600);
        let b = info(1, 4, 2, u32::MAX, 9600);
        let plan = plan_ports(&cfg, [&a, &b], 2).unwrap();
        assert_eq!(plan.rx_queues, [1, 2]);
        assert_eq!(plan.tx_queues, 2);
        assert_eq!(plan.mtu, Some(9000));
        assert!(usize::from(plan.data_room) >= 128 + 9014);
    }

    #[test]
    fn devices_that_cannot_serve_the_config_are_usage_errors_with_its_line() {
        let cfg = crate::config::parse(CFG, "gw.toml").unwrap();
        let small = info(1, 1, 1, 1518, 1500);
        let ok = info(0, 1, 2, u32::MAX, 9600);
        let e = plan_ports(&cfg, [&ok, &small], 1).unwrap_err().to_string();
        assert!(e.starts_with("gw.toml:11: tunnel[0].mtu: 9000 does not fit port 1"), "{e}");
        let e = plan_ports(&cfg, [&ok, &info(1, 1, 1, u32::MAX, 9600)], 2).unwrap_err().to_string();
        assert!(
            e.starts_with("gw.toml:4: gateway.unprotected_port: port 1 (net_x1) has 1 tx queue(s)"),
            "{e}"
        );
    }
}
