//! Fuzz harness for qfp: the data plane's parsers and decap/encap (`harness.rs`,
//! `parsers.rs`), and the control side's config parser and peer-channel decoder
//! (`ctrl_targets.rs`). The cargo-fuzz targets in `fuzz_targets/` are one-line wrappers;
//! the default test suite includes these files and replays every seed and saved finding.
#![forbid(unsafe_code)]

pub mod ctrl_targets;
pub mod harness;
pub mod parsers;
