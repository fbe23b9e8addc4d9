//! The qfp fast path, free of I/O, clocks and DPDK.
//!
//! Everything a worker core does to a packet lives here: parsing ([`wire`]), ESP with
//! AES-GCM ([`crypto`], [`pipeline`]), anti-replay ([`replay`]), the SA runtime ([`sa`],
//! [`selector`]), the drop table ([`drops`]) and the gateway around them ([`gateway`]:
//! tables, publication, handoff, the worker loop). The pipeline is generic over
//! [`buf::PacketBuf`], so the same code runs on DPDK mbufs in `ctrl` and on heap buffers in
//! tests and benchmarks, monomorphised, with no dynamic dispatch. Time is always passed in.
#![forbid(unsafe_code)]

pub mod buf;
pub mod crypto;
pub mod drops;
pub mod gateway;
pub mod pipeline;
pub mod replay;
pub mod sa;
pub mod selector;
pub mod wire;

pub use buf::{HeapBuf, NoRoom, PacketBuf};
pub use drops::{Counters, DropReason, Event};
pub use pipeline::{
    DecapDrop, Decapped, InvalidSpi, SaLookup, decap, decap_burst, encap, encap_burst,
};
pub use sa::{Sa, SaConfig, SaDirection};
