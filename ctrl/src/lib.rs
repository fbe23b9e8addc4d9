//! The `qfp` binary's library: command line, CPU check, EAL arguments, the config, the DPDK
//! runtime glue of `qfp run` (the IPsec gateway with `-c FILE`, else an L2 cross-connect),
//! the control core, statistics publication and its exporters (Prometheus, DPDK telemetry), the mbuf adapter for the pipeline, and the
//! peer-channel protocol.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod control;
pub mod cpu;
pub mod ctl;
pub mod demo;
pub mod eal_args;
pub mod export;
pub mod forward;
pub mod gateway;
pub mod help;
pub mod load;
pub mod mbuf;
pub mod peer;
pub mod run;
pub mod sa_build;
pub mod stats;
