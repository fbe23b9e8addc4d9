//! qfp benchmarks and load tools.
//!
//! Library modules: [`payload`] (the load header every generated packet carries, frame
//! sizes and IMIX), [`traffic`] (flows and the IPv4/IPv6 UDP frames that carry them),
//! [`pcapgen`] (capture files of plain and ESP traffic, behind `qfp pcap`) and
//! [`machine`] (the header every benchmark prints). Binaries: `pipeline` (single-core
//! encap/decap throughput of the heap pipeline and raw speed of the AES-GCM reference).
#![forbid(unsafe_code)]

pub mod generator;
pub mod machine;
pub mod payload;
pub mod pcapgen;
pub mod traffic;
