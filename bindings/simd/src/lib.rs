//! SIMD kernels for qfp's fast path, behind a safe API: AES-GCM for ESP ([`gcm`]) and
//! cache prefetch hints ([`hint`]).
//!
//! qfp keeps every `unsafe` under `bindings/`. SIMD code needs it in exactly one kind of
//! place: calling a function compiled with `#[target_feature(enable = ...)]` for features the
//! whole program is not built with (VAES, VPCLMULQDQ; and, for builds without the workspace's
//! `-C target-feature`, AES-NI and PCLMULQDQ), which is undefined behaviour on a CPU without
//! them. Everything else is safe Rust:
//!
//! - Since Rust 1.87 the `core::arch` arithmetic intrinsics are safe to call inside a
//!   `#[target_feature]` function with matching features, and a safe `#[target_feature]`
//!   function may call another with a subset of its features. All kernels are written that
//!   way: the kernel modules contain no `unsafe` at all.
//! - Loads and stores never use raw pointers: blocks move between byte arrays and registers
//!   through `bytemuck::must_cast`, whose size and alignment checks happen at compile time.
//!   Slices are split into fixed-size arrays with `as_chunks`, so every access is
//!   bounds-checked by construction.
//!
//! The one remaining obligation (the CPU has the features) is discharged by proof tokens:
//! [`cpu::AesClmul`] and [`cpu::VaesClmul`] can only be obtained from their `detect`
//! functions, which run `is_x86_feature_detected!`. A [`gcm::GcmKey`] stores the token of
//! the backend it was built for next to the expanded key, and every `unsafe` call into a
//! kernel sits in a `match` arm that has just bound that token. Kernels are private to the
//! crate, so no other path reaches them; a safe dispatcher taking arbitrary function
//! pointers from outside would not be sound, which is why the kernels live here and not in
//! the dataplane crate.
//!
//! The crate does not rely on the workspace's `-C target-feature=+aes,+pclmulqdq,+avx2`: its
//! tests also pass when built for baseline x86-64 (`RUSTFLAGS='-C target-cpu=x86-64' cargo
//! test -p qfp-simd`), where every AES-NI/AVX2/VAES instruction is reached through a token.
#![deny(unsafe_code)]

pub mod cpu;
pub mod gcm;
pub mod hint;
