//! The `qfp` control plane and DPDK runtime glue (to be written).
#![forbid(unsafe_code)]

pub mod peer;
