//! The `qfp` binary's library: command line, CPU check, EAL arguments, the DPDK runtime
//! glue of `qfp run`, statistics publication, and the mbuf adapter for the pipeline.
//!
//! At this stage `qfp run` is an L2 cross-connect (port 0 ⇄ port 1) that proves the whole
//! DPDK path; the ESP pipeline from `dataplane` plugs into the same workers later.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod control;
pub mod cpu;
pub mod eal_args;
pub mod forward;
pub mod load;
pub mod mbuf;
pub mod peer;
pub mod run;
pub mod sa_build;
pub mod stats;
