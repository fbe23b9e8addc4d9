//! The `qfp` control plane and DPDK runtime glue.
#![forbid(unsafe_code)]

pub mod config;
pub mod peer;
