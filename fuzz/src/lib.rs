//! Fuzz harness for qfp's dataplane (see `harness.rs`; the targets are thin wrappers).
#![forbid(unsafe_code)]

pub mod harness;
