//! qfp benchmarks and load tools.
//!
//! Binaries: `pipeline` (single-core encap/decap throughput of the heap pipeline and raw
//! AES-GCM speed of the reference implementation). Shared helpers for reporting the
//! machine live here so every benchmark prints the same header.
#![forbid(unsafe_code)]

pub mod crypto;
pub mod machine;
