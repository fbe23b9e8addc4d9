//! qfp benchmarks and load tools (to be written).
#![forbid(unsafe_code)]

pub mod crypto;
