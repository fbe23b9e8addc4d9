//! Ethernet ports: configure N rx/tx queues, start, stop, close, and read what the
//! control core shows (stats with `imissed`, MAC address, link, promiscuous mode).
//!
//! A started port hands out its queues once ([`Port::queues`]); they borrow the port, so
//! it cannot be stopped or closed while a worker still polls them. Stats, MAC and link are
//! read through `&self` while the workers run, as every DPDK application does.

use std::ffi::{CStr, c_char};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::eal::Eal;
use crate::error::{Error, Result, check};
use crate::ffi;
use crate::mempool::Mempool;
use crate::queue::{RxQueue, TxQueue};

/// What a device is and can do (from `rte_eth_dev_info_get`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    /// Port id.
    pub id: u16,
    /// Device name, e.g. "net_pcap0" or "0000:3b:00.0".
    pub name: String,
    /// Driver name, e.g. "net_pcap".
    pub driver: String,
    /// Most rx queues the device supports.
    pub max_rx_queues: u16,
    /// Most tx queues the device supports.
    pub max_tx_queues: u16,
    /// Rx descriptor ring limits (min, max).
    pub rx_desc_limits: (u16, u16),
    /// Tx descriptor ring limits (min, max).
    pub tx_desc_limits: (u16, u16),
    /// RSS hash functions the device supports (`RTE_ETH_RSS_*` bits); 0 means no RSS.
    pub rss_offloads: u64,
    /// Size of the RSS redirection table.
    pub reta_size: u16,
    /// Largest frame the device receives.
    pub max_rx_pktlen: u32,
    /// Largest MTU the device accepts (`rte_eth_dev_set_mtu`, `rxmode.mtu`).
    pub max_mtu: u16,
    /// Length of the device's RSS hash key in bytes (0: not reported).
    pub hash_key_size: u8,
    /// Receive offloads the device offers (`RTE_ETH_RX_OFFLOAD_*` bits).
    pub rx_offloads: u64,
    /// NUMA socket of the device, if known.
    pub socket: Option<u32>,
}

/// How to configure a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// Rx queues (one per worker that polls this port).
    pub rx_queues: u16,
    /// Tx queues (one per worker that transmits on this port).
    pub tx_queues: u16,
    /// Rx descriptors per queue (the driver may round it to its limits).
    pub rx_desc: u16,
    /// Tx descriptors per queue (the driver may round it to its limits).
    pub tx_desc: u16,
    /// Receive every frame, whatever its destination MAC.
    pub promiscuous: bool,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig { rx_queues: 1, tx_queues: 1, rx_desc: 1024, tx_desc: 1024, promiscuous: true }
    }
}

/// Port counters (from `rte_eth_stats_get`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets the NIC dropped because no rx descriptor was free (`imissed`: the workers
    /// did not keep up).
    pub rx_missed: u64,
    /// Erroneous packets received.
    pub rx_errors: u64,
    /// Failed transmissions.
    pub tx_errors: u64,
    /// Rx failures for lack of an mbuf.
    pub rx_nombuf: u64,
}

/// A port's RSS set-up as the driver reports it: what software needs to predict the rx
/// queue of a packet (the Toeplitz key, the hashed fields, the redirection table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RssState {
    /// The hash key.
    pub key: Vec<u8>,
    /// Enabled hash functions (`RTE_ETH_RSS_*` bits).
    pub hash_functions: u64,
    /// Redirection table: entry i is the rx queue of hashes with `hash % len == i`.
    pub reta: Vec<u16>,
}

/// `RTE_ETH_RSS_IP`, `RTE_ETH_RSS_UDP`, `RTE_ETH_RSS_ESP`: the groups of hash functions
/// that decide where qfp's packets (ESP, ESP in UDP) land.
pub const RSS_IP: u64 = ffi::RTE_ETH_RSS_IP as u64;
/// See [`RSS_IP`].
pub const RSS_UDP: u64 = ffi::RTE_ETH_RSS_UDP as u64;
/// See [`RSS_IP`].
pub const RSS_ESP: u64 = ffi::RTE_ETH_RSS_ESP as u64;

/// Link state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Link is up.
    pub up: bool,
    /// Speed in Mb/s, if the device knows it.
    pub speed_mbps: Option<u32>,
    /// Full duplex.
    pub full_duplex: bool,
}

/// A configured Ethernet port. Dropping it stops and closes it.
#[derive(Debug)]
pub struct Port<'eal> {
    info: PortInfo,
    rx_queues: u16,
    tx_queues: u16,
    rx_desc: u16,
    tx_desc: u16,
    started: bool,
    closed: bool,
    queues_taken: AtomicBool,
    _eal: PhantomData<&'eal Eal>,
}

impl PortInfo {
    /// Reads what port `id` is and can do.
    pub fn get(_eal: &Eal, id: u16) -> Result<PortInfo> {
        let mut info = ffi::rte_eth_dev_info::default();
        // SAFETY: the EAL is initialised; info is a valid out-parameter; an invalid port id
        // is reported as -ENODEV.
        let ret = unsafe { ffi::rte_eth_dev_info_get(id, &mut info) };
        check(ret, || format!("rte_eth_dev_info_get(port {id})"))?;
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: a non-NULL driver_name points to the driver's static NUL-terminated name.
            unsafe { CStr::from_ptr(info.driver_name) }.to_string_lossy().into_owned()
        };
        let mut name = [0 as c_char; ffi::RTE_ETH_NAME_MAX_LEN as usize];
        // SAFETY: name has RTE_ETH_NAME_MAX_LEN bytes, what the function requires.
        let ret = unsafe { ffi::rte_eth_dev_get_name_by_port(id, name.as_mut_ptr()) };
        check(ret, || format!("rte_eth_dev_get_name_by_port({id})"))?;
        // SAFETY: on success name holds a NUL-terminated string within the buffer.
        let name = unsafe { CStr::from_ptr(name.as_ptr()) }.to_string_lossy().into_owned();
        // SAFETY: a plain getter on a valid port id.
        let socket = unsafe { ffi::rte_eth_dev_socket_id(id) };
        Ok(PortInfo {
            id,
            name,
            driver,
            max_rx_queues: info.max_rx_queues,
            max_tx_queues: info.max_tx_queues,
            rx_desc_limits: (info.rx_desc_lim.nb_min, info.rx_desc_lim.nb_max),
            tx_desc_limits: (info.tx_desc_lim.nb_min, info.tx_desc_lim.nb_max),
            rss_offloads: info.flow_type_rss_offloads,
            reta_size: info.reta_size,
            max_rx_pktlen: info.max_rx_pktlen,
            max_mtu: info.max_mtu,
            hash_key_size: info.hash_key_size,
            rx_offloads: info.rx_offload_capa,
            socket: u32::try_from(socket).ok(),
        })
    }
}

/// The RSS hash functions qfp asks for when a port has several rx queues: IP addresses
/// and, where present, L4 ports and the ESP SPI, as far as the device supports them.
pub fn rss_hash_functions() -> u64 {
    u64::from(ffi::RTE_ETH_RSS_IP)
        | u64::from(ffi::RTE_ETH_RSS_UDP)
        | u64::from(ffi::RTE_ETH_RSS_TCP)
        | u64::from(ffi::RTE_ETH_RSS_ESP)
}

impl<'eal> Port<'eal> {
    /// Configures port `id` with `conf`: queues (rx buffers from `pool`), descriptor
    /// rings, RSS when the device supports it and there is more than one rx queue, and
    /// promiscuous mode. The port is left stopped.
    pub fn configure(
        eal: &'eal Eal,
        id: u16,
        conf: &PortConfig,
        pool: &Mempool<'eal>,
    ) -> Result<Self> {
        Self::configure_with_mtu(eal, id, conf, pool, None)
    }

    /// [`Port::configure`] with the port MTU (IP packet size) set to `mtu` rather than the
    /// driver's default (1500), for jumbo frames.
    pub fn configure_with_mtu(
        eal: &'eal Eal,
        id: u16,
        conf: &PortConfig,
        pool: &Mempool<'eal>,
        mtu: Option<u16>,
    ) -> Result<Self> {
        let info = PortInfo::get(eal, id)?;
        let name = format!("port {id} ({})", info.name);
        for (what, n, max) in
            [("rx", conf.rx_queues, info.max_rx_queues), ("tx", conf.tx_queues, info.max_tx_queues)]
        {
            if n == 0 || n > max {
                return Err(Error::InvalidArgument(format!(
                    "{name}: {n} {what} queues asked, the device supports 1 to {max}"
                )));
            }
        }
        let mut eth_conf = ffi::rte_eth_conf::default();
        // The NIC checks IPv4 header checksums where it can (`Mbuf::ip_checksum_good`).
        let ip_cksum = u64::from(ffi::RTE_ETH_RX_OFFLOAD_IPV4_CKSUM);
        eth_conf.rxmode.offloads |= info.rx_offloads & ip_cksum;
        if let Some(mtu) = mtu {
            if mtu > info.max_mtu {
                return Err(Error::InvalidArgument(format!(
                    "{name}: MTU {mtu} asked, the device supports at most {}",
                    info.max_mtu
                )));
            }
            eth_conf.rxmode.mtu = u32::from(mtu);
        }
        if conf.rx_queues > 1 && info.rss_offloads != 0 {
            eth_conf.rxmode.mq_mode = ffi::RTE_ETH_MQ_RX_RSS;
            // A NULL rss_key (the default) keeps the driver's own hash key.
            eth_conf.rx_adv_conf.rss_conf.rss_hf = rss_hash_functions() & info.rss_offloads;
        }
        let ret = {
            // SAFETY: the EAL is initialised; eth_conf is a valid, fully initialised config
            // that DPDK copies; queue counts were checked against the device above.
            unsafe { ffi::rte_eth_dev_configure(id, conf.rx_queues, conf.tx_queues, &eth_conf) }
        };
        check(ret, || {
            format!(
                "rte_eth_dev_configure({name}, {} rx, {} tx queues)",
                conf.rx_queues, conf.tx_queues
            )
        })?;
        let (mut rx_desc, mut tx_desc) = (conf.rx_desc, conf.tx_desc);
        // SAFETY: valid port, both out-parameters point to locals.
        let ret = unsafe { ffi::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rx_desc, &mut tx_desc) };
        check(ret, || format!("rte_eth_dev_adjust_nb_rx_tx_desc({name})"))?;
        // SOCKET_ID_ANY is accepted by the queue set-up functions as an unsigned -1.
        let socket = info.socket.unwrap_or(u32::MAX);
        for q in 0..conf.rx_queues {
            // The pool outlives the port: both borrow the EAL, and pools are never freed
            // before EAL cleanup. A NULL rxconf means the driver's defaults.
            // SAFETY: configured port, queue index in range, live pool, NULL conf allowed.
            let ret = unsafe {
                ffi::rte_eth_rx_queue_setup(id, q, rx_desc, socket, std::ptr::null(), pool.as_ptr())
            };
            check(ret, || {
                format!("rte_eth_rx_queue_setup({name}, queue {q}, {rx_desc} descriptors)")
            })?;
        }
        for q in 0..conf.tx_queues {
            // SAFETY: configured port, queue index below the configured count, NULL txconf.
            let ret =
                unsafe { ffi::rte_eth_tx_queue_setup(id, q, tx_desc, socket, std::ptr::null()) };
            check(ret, || {
                format!("rte_eth_tx_queue_setup({name}, queue {q}, {tx_desc} descriptors)")
            })?;
        }
        let port = Port {
            info,
            rx_queues: conf.rx_queues,
            tx_queues: conf.tx_queues,
            rx_desc,
            tx_desc,
            started: false,
            closed: false,
            queues_taken: AtomicBool::new(false),
            _eal: PhantomData,
        };
        if conf.promiscuous {
            port.set_promiscuous(true)?;
        }
        Ok(port)
    }

    /// Port id.
    pub fn id(&self) -> u16 {
        self.info.id
    }

    /// What the device is and can do.
    pub fn info(&self) -> &PortInfo {
        &self.info
    }

    /// Configured rx queues.
    pub fn rx_queue_count(&self) -> u16 {
        self.rx_queues
    }

    /// Configured tx queues.
    pub fn tx_queue_count(&self) -> u16 {
        self.tx_queues
    }

    /// Rx and tx descriptors per queue, after the driver's adjustment.
    pub fn descriptors(&self) -> (u16, u16) {
        (self.rx_desc, self.tx_desc)
    }

    /// True when RSS spreads received packets over the rx queues.
    pub fn rss_enabled(&self) -> bool {
        self.rx_queues > 1 && self.info.rss_offloads != 0
    }

    /// Starts the port (packets flow from here on). Never flushes the rx queues: a
    /// finite pcap source would lose its packets.
    pub fn start(&mut self) -> Result<()> {
        if self.started {
            return Ok(());
        }
        if self.is_memif() {
            // Before any burst: the driver's disconnect must not unmap rings under one.
            crate::gate::start(self.id())?;
        }
        // SAFETY: a configured port with all queues set up.
        let ret = unsafe { ffi::rte_eth_dev_start(self.id()) };
        check(ret, || format!("rte_eth_dev_start(port {})", self.id()))?;
        self.started = true;
        Ok(())
    }

    /// Stops the port. `&mut self`: no queue of this port can be in use.
    pub fn stop(&mut self) -> Result<()> {
        if !self.started {
            return Ok(());
        }
        self.started = false;
        self.queues_taken.store(false, Ordering::Relaxed);
        let id = self.id();
        let ret = self.control(move || {
            // SAFETY: the port is started and no RxQueue/TxQueue borrows it (&mut self).
            unsafe { ffi::rte_eth_dev_stop(id) }
        });
        check(ret, || format!("rte_eth_dev_stop(port {id})"))?;
        Ok(())
    }

    /// Runs a stop or close of this port where the driver's control plane cannot race it:
    /// on DPDK's interrupt thread for `net_memif`, which disconnects from that thread too
    /// when its peer goes away (see [`crate::intr`]); on the calling thread otherwise.
    fn control(&self, op: impl FnOnce() -> i32 + Send + 'static) -> i32 {
        if self.is_memif() { crate::intr::run(op) } else { op() }
    }

    /// A `net_memif` port: its control plane runs on the interrupt thread (see
    /// [`crate::intr`] and [`crate::gate`]).
    fn is_memif(&self) -> bool {
        self.info.driver == "net_memif"
    }

    /// Stops (if needed) and closes the port, releasing its queues and driver resources
    /// (net_pcap flushes its tx file here).
    pub fn close(mut self) -> Result<()> {
        self.close_inner()
    }

    fn close_inner(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let stopped = self.stop();
        self.closed = true;
        let id = self.id();
        let memif = self.is_memif();
        let ret = self.control(move || {
            if memif {
                // On the interrupt thread, like the gate's holder: it never looks at a
                // closed port (DPDK would log "Invalid port_id" for it).
                crate::gate::forget(id);
            }
            // SAFETY: the port is stopped and no queue borrows it; it is never used again.
            unsafe { ffi::rte_eth_dev_close(id) }
        });
        let closed = check(ret, || format!("rte_eth_dev_close(port {id})"));
        stopped.and(closed.map(|_| ()))
    }

    /// The port's queues, once per start: rx queue i and tx queue i go to worker i.
    pub fn queues(&self) -> Result<(Vec<RxQueue<'_>>, Vec<TxQueue<'_>>)> {
        if !self.started {
            return Err(Error::InvalidArgument(format!(
                "port {}: queues asked before start",
                self.id()
            )));
        }
        if self.queues_taken.swap(true, Ordering::Relaxed) {
            return Err(Error::InvalidArgument(format!(
                "port {}: queues already handed out",
                self.id()
            )));
        }
        // Each queue index is handed out once per start (queues_taken), and the queues
        // borrow self: that is what makes RxQueue/TxQueue safe to send to one lcore each.
        let gated = self.is_memif();
        let rx = (0..self.rx_queues).map(|q| RxQueue::new(self.id(), q, gated)).collect();
        let tx = (0..self.tx_queues).map(|q| TxQueue::new(self.id(), q, gated)).collect();
        Ok((rx, tx))
    }

    /// Port counters.
    pub fn stats(&self) -> Result<PortStats> {
        let mut s = ffi::rte_eth_stats::default();
        // SAFETY: valid port; s is a valid out-parameter.
        let ret = unsafe { ffi::rte_eth_stats_get(self.id(), &mut s) };
        check(ret, || format!("rte_eth_stats_get(port {})", self.id()))?;
        Ok(PortStats {
            rx_packets: s.ipackets,
            tx_packets: s.opackets,
            rx_bytes: s.ibytes,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Resets the port counters to zero.
    pub fn reset_stats(&self) -> Result<()> {
        // SAFETY: valid port.
        let ret = unsafe { ffi::rte_eth_stats_reset(self.id()) };
        check(ret, || format!("rte_eth_stats_reset(port {})", self.id()))?;
        Ok(())
    }

    /// The port's MAC address.
    pub fn mac(&self) -> Result<[u8; 6]> {
        let mut a = ffi::rte_ether_addr::default();
        // SAFETY: valid port; a is a valid out-parameter.
        let ret = unsafe { ffi::rte_eth_macaddr_get(self.id(), &mut a) };
        check(ret, || format!("rte_eth_macaddr_get(port {})", self.id()))?;
        Ok(a.addr_bytes)
    }

    /// Link state, without waiting for auto-negotiation.
    pub fn link(&self) -> Result<Link> {
        let mut l = ffi::rte_eth_link::default();
        // SAFETY: valid port; l is a valid out-parameter.
        let ret = unsafe { ffi::rte_eth_link_get_nowait(self.id(), &mut l) };
        check(ret, || format!("rte_eth_link_get_nowait(port {})", self.id()))?;
        let speed = l.link_speed;
        Ok(Link {
            up: u32::from(l.link_status()) == ffi::RTE_ETH_LINK_UP,
            speed_mbps: (speed != ffi::RTE_ETH_SPEED_NUM_NONE
                && speed != ffi::RTE_ETH_SPEED_NUM_UNKNOWN)
                .then_some(speed),
            full_duplex: u32::from(l.link_duplex()) == ffi::RTE_ETH_LINK_FULL_DUPLEX,
        })
    }

    /// Fills the RSS redirection table round-robin over the rx queues (entry i → queue
    /// i % queues), so that software can predict where a hash lands. Returns false when
    /// RSS is off or the driver does not let its table be written.
    pub fn set_reta_round_robin(&self) -> Result<bool> {
        if !self.rss_enabled() || self.info.reta_size == 0 {
            return Ok(false);
        }
        let size = usize::from(self.info.reta_size);
        let mut reta = vec![ffi::rte_eth_rss_reta_entry64::default(); size.div_ceil(64)];
        for i in 0..size {
            let e = &mut reta[i / 64];
            e.mask |= 1u64 << (i % 64);
            e.reta[i % 64] = (i % usize::from(self.rx_queues)) as u16;
        }
        // SAFETY: valid, configured port; reta holds ceil(reta_size / 64) groups with the
        // mask of the entries to write, every entry naming a configured rx queue.
        let ret = unsafe {
            ffi::rte_eth_dev_rss_reta_update(self.id(), reta.as_mut_ptr(), self.info.reta_size)
        };
        if ret == -ENOTSUP {
            return Ok(false);
        }
        check(ret, || format!("rte_eth_dev_rss_reta_update(port {})", self.id()))?;
        Ok(true)
    }

    /// The RSS key, hash functions and redirection table, when RSS spreads this port's
    /// packets over several queues and the driver reports them; `None` otherwise.
    pub fn rss_state(&self) -> Result<Option<RssState>> {
        if !self.rss_enabled() || self.info.reta_size == 0 {
            return Ok(None);
        }
        // A driver that does not report its key size (net_null) uses the classic 40 bytes.
        let key_len = if self.info.hash_key_size == 0 { 40 } else { self.info.hash_key_size };
        let mut key = vec![0u8; usize::from(key_len)];
        let mut conf = ffi::rte_eth_rss_conf {
            rss_key: key.as_mut_ptr(),
            rss_key_len: key_len,
            ..Default::default()
        };
        // SAFETY: valid port; conf.rss_key points to rss_key_len writable bytes, the size
        // the driver reported for its key (or 40, what drivers that report none write).
        let ret = unsafe { ffi::rte_eth_dev_rss_hash_conf_get(self.id(), &mut conf) };
        if ret == -ENOTSUP {
            return Ok(None);
        }
        check(ret, || format!("rte_eth_dev_rss_hash_conf_get(port {})", self.id()))?;
        let size = usize::from(self.info.reta_size);
        let groups = size.div_ceil(64);
        let mut reta = vec![ffi::rte_eth_rss_reta_entry64::default(); groups];
        for (g, e) in reta.iter_mut().enumerate() {
            let n = (size - g * 64).min(64);
            e.mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
        }
        // SAFETY: valid port; reta holds ceil(reta_size / 64) groups, as the function
        // requires for reta_size entries, each with the mask of the entries to read.
        let ret = unsafe {
            ffi::rte_eth_dev_rss_reta_query(self.id(), reta.as_mut_ptr(), self.info.reta_size)
        };
        if ret == -ENOTSUP {
            return Ok(None);
        }
        check(ret, || format!("rte_eth_dev_rss_reta_query(port {})", self.id()))?;
        let table = (0..size).map(|i| reta[i / 64].reta[i % 64]).collect();
        Ok(Some(RssState { key, hash_functions: conf.rss_hf, reta: table }))
    }

    /// Turns promiscuous mode on or off. Devices without the notion (pcap files, null)
    /// accept it or answer "not supported", which is not an error here.
    pub fn set_promiscuous(&self, on: bool) -> Result<()> {
        // SAFETY: valid port.
        let ret = unsafe {
            if on {
                ffi::rte_eth_promiscuous_enable(self.id())
            } else {
                ffi::rte_eth_promiscuous_disable(self.id())
            }
        };
        if ret == -ENOTSUP {
            return Ok(());
        }
        check(ret, || {
            format!(
                "rte_eth_promiscuous_{}(port {})",
                if on { "enable" } else { "disable" },
                self.id()
            )
        })?;
        Ok(())
    }
}

/// ENOTSUP on Linux (DPDK returns `-ENOTSUP` for unsupported device operations).
const ENOTSUP: i32 = 95;

impl Drop for Port<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.close_inner() {
            eprintln!("dpdk: closing port {}: {e}", self.id());
        }
    }
}
