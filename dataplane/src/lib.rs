//! The qfp fast path, free of I/O, clocks and DPDK.
//!
//! Everything a worker core does to a packet lives here: parsing (`wire`), ESP with AES-GCM,
//! anti-replay, the SA runtime, the drop table and the worker loop. The loop is generic over
//! [`buf::PacketBuf`], so the same code runs on DPDK mbufs in `ctrl` and on heap buffers in
//! tests and benchmarks, monomorphised, with no dynamic dispatch. Time is always passed in.
#![forbid(unsafe_code)]

pub mod buf;
