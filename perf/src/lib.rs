//! qfp benchmarks and load tools.
//!
//! Library modules: [`payload`] (the load header every generated packet carries, frame
//! sizes and IMIX), [`traffic`] (flows and the IPv4/IPv6 UDP frames that carry them),
//! [`pcapgen`] (capture files of plain and ESP traffic, behind `qfp pcap`), [`generator`]
//! (the traffic generator and sink behind `qfp gen`), [`crypto`] (helpers of the crypto
//! benchmark) and [`machine`] (the header every benchmark prints). Binaries: `pipeline`
//! (single-core encap/decap throughput of the heap pipeline) and `crypto` (AES-GCM per
//! core against the references).
#![forbid(unsafe_code)]

pub mod crypto;
pub mod generator;
pub mod machine;
pub mod payload;
pub mod pcapgen;
pub mod traffic;
