//! `dpdk-sys`: Rust bindings to Debian's system DPDK (22.11) and a thin safe layer — the
//! only crate in qfp with `unsafe` code.
//!
//! [`ffi`] is bindgen's output over DPDK's headers plus a small C shim that exports the
//! static-inline fast-path functions (rx/tx burst, mbuf alloc/free and data arithmetic,
//! lcore id, pause, TSC). On top of it: [`Eal`] (start once, clean up on drop), [`Mempool`],
//! [`Port`] with [`RxQueue`]/[`TxQueue`], [`Mbuf`] (owned, freed on drop, bytes viewed in
//! place), [`Burst`] (a fixed array of mbufs filled by rx and drained by tx without
//! allocation), [`Eal::scope`] to run closures on worker lcores, and [`telemetry`]
//! commands answered by Rust handlers.
//!
//! Lifetimes carry DPDK's rules: pools, ports and mbufs borrow the `Eal`, queues borrow
//! their started port, and launched closures end before their scope does. Every `unsafe`
//! block states why it is sound in a `// SAFETY:` comment.
//!
//! Drivers: Debian's EAL loads every PMD from its built-in plugin directory
//! (`/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0`) at `rte_eal_init`, so `--vdev=net_pcap0,...`
//! works without `-d`.

pub mod burst;
pub mod cpu;
pub mod eal;
pub mod error;
pub mod ffi;
mod gate;
mod intr;
pub mod launch;
pub mod mbuf;
pub mod mempool;
pub mod port;
pub mod queue;
pub mod telemetry;

pub use burst::{Burst, Drain};
pub use eal::{Eal, lcore_id, pause, rdtsc};
pub use error::{Error, Result};
pub use launch::Scope;
pub use mbuf::{Mbuf, NoRoom};
pub use mempool::{DEFAULT_DATA_ROOM, Mempool, SOCKET_ANY};
pub use port::{Link, Port, PortConfig, PortInfo, PortStats, RSS_ESP, RSS_IP, RSS_UDP, RssState};
pub use queue::{RxQueue, TxQueue};
