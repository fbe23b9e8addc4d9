//! The IPsec gateway's data plane: tables, publication, ownership and handoff, and the
//! worker loop, over any [`PortIo`] (DPDK queues in `ctrl`, in-memory queues in tests).
//!
//! - [`tables`]: what workers read every burst (SPI map, tunnels with their outbound SA
//!   slots, policy and route prefix tables, addresses), published lock-free;
//! - [`writer`]: the control core's single-writer API to publish, unpublish and switch SAs;
//! - [`rings`]: bounded rings between workers (handoff) and to/from the control core
//!   (punts, unknown-SPI reports, injected frames);
//! - [`rss`]: the software Toeplitz hash and RETA that tell which worker receives an SA;
//! - [`datagram`]: reading punted peer-channel datagrams and building the ones to send;
//! - [`classify`], [`worker`] (and its per-packet paths in `path`): the per-burst pipeline;
//!   [`counters`]: per-worker counters;
//! - [`io`], [`heap_io`]: the port abstraction and its in-memory implementation;
//! - [`lpm`], [`spimap`]: the lookup structures.
//!
//! `docs/gateway.md` describes the whole as built.

pub mod classify;
pub mod counters;
pub mod datagram;
pub mod heap_io;
pub mod io;
pub mod lpm;
mod path;
pub mod rings;
pub mod rss;
pub mod spimap;
pub mod tables;
pub mod worker;
pub mod writer;

pub use counters::{WorkerSnapshot, WorkerStats};
pub use io::{Batch, PortIo};
pub use rings::{InvalidSpiReport, Job, Punt, PuntKind};
pub use tables::{InboundEntry, PortRole, Tables, TunnelId, TunnelRt, WorkerId};
pub use worker::{RunState, Shared, Worker, WorkerConf};
pub use writer::{GatewaySpec, RouteSpec, TableError, TableWriter, TunnelSpec};
