//! The CPU features this build requires, and which of them this CPU lacks.
//!
//! The workspace is compiled for AES-NI, PCLMULQDQ and AVX2 (`.cargo/config.toml`). With
//! fat LTO the compiler then uses AVX even in std's start-up code, which runs before any
//! Rust `main`: a check in `main` comes too late on an older CPU (SIGILL, measured under
//! `qemu-x86_64 -cpu Nehalem`). So the shim carries a C constructor, compiled for the
//! baseline DPDK targets (`-march=corei7`), that checks exactly the features the Rust code
//! was built with (build.rs reads `CARGO_CFG_TARGET_FEATURE`) and exits with one line naming
//! the missing ones before anything else runs. This module exposes the same facts to Rust.

use std::ffi::CStr;

use crate::ffi;

/// The features this build requires (display names such as "AES-NI", "AVX2"), implied
/// ones included.
pub fn required_features() -> Vec<&'static str> {
    // SAFETY: a plain getter.
    let n = unsafe { ffi::qfp_cpu_required_count() };
    (0..n).filter_map(name).collect()
}

/// The required features this CPU lacks (empty on any CPU that got past the guard).
pub fn missing_features() -> Vec<&'static str> {
    // SAFETY: executes CPUID (and XGETBV only after CPUID reported OSXSAVE); no memory effects.
    let missing = unsafe { ffi::qfp_cpu_missing() };
    // SAFETY: a plain getter.
    let n = unsafe { ffi::qfp_cpu_required_count() };
    (0..n).filter(|i| missing & (1 << i) != 0).filter_map(name).collect()
}

fn name(i: u32) -> Option<&'static str> {
    // SAFETY: returns NULL or a pointer to a static NUL-terminated ASCII string.
    let p = unsafe { ffi::qfp_cpu_required_name(i) };
    if p.is_null() {
        return None;
    }
    // SAFETY: p is non-NULL, static and NUL-terminated (see above).
    unsafe { CStr::from_ptr(p) }.to_str().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_features_are_required_and_present() {
        let req = required_features();
        for f in ["AES-NI", "PCLMULQDQ", "AVX", "AVX2", "SSE4.2"] {
            assert!(req.contains(&f), "{f} not in {req:?}");
        }
        assert!(missing_features().is_empty(), "this test runs, so the CPU has them");
    }
}
