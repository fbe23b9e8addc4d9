//! The CPU requirement of qfp: AES-NI, PCLMULQDQ and AVX2 (and what they imply), the
//! features the workspace is compiled for (`.cargo/config.toml`).
//!
//! The check that matters runs before `main`: with fat LTO the compiler uses AVX even in
//! std's start-up code, so on an older CPU a check in `main` would come after the SIGILL
//! (measured under `qemu-x86_64 -cpu Nehalem`). `dpdk-sys` therefore carries a C
//! constructor, compiled for baseline DPDK targets, that prints one line naming the missing
//! features and exits with status 1 (see `dpdk_sys::cpu`). [`require_or_exit`], called
//! first thing in `main`, states the requirement at the application level and would catch a
//! build linked without that constructor.

/// Returns if this CPU has every feature the build requires; otherwise prints one line
/// naming the missing ones and exits with status 1.
pub fn require_or_exit() {
    let missing = dpdk_sys::cpu::missing_features();
    if missing.is_empty() {
        return;
    }
    eprintln!("qfp: {}", refusal(&missing));
    std::process::exit(1);
}

/// The refusal line for `missing` features.
pub fn refusal(missing: &[&str]) -> String {
    format!(
        "this CPU lacks {}, which this build requires: it runs on x86-64 CPUs with AES-NI, \
         PCLMULQDQ and AVX2 (Intel Haswell, AMD Zen or later)",
        missing.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_requires_aes_pclmul_avx2() {
        let req = dpdk_sys::cpu::required_features();
        for f in ["AES-NI", "PCLMULQDQ", "AVX2"] {
            assert!(req.contains(&f), "{f} missing from {req:?}");
        }
        // This test runs, so the machine has them: require_or_exit returns.
        require_or_exit();
    }

    #[test]
    fn refusal_is_one_line_naming_what_is_missing() {
        let line = refusal(&["AES-NI", "AVX2"]);
        assert!(line.starts_with("this CPU lacks AES-NI, AVX2, which"), "{line}");
        assert!(!line.contains('\n'));
    }
}
