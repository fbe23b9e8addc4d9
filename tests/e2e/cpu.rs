//! On a CPU without AES-NI, PCLMULQDQ or AVX2, `qfp` prints one line naming what is
//! missing and exits with status 1 — it never dies of SIGILL. Proven by running the real
//! binary under qemu's user-mode emulation of older CPUs (Debian package `qemu-user`,
//! installed by `./scripts/setup --test`).
#![forbid(unsafe_code)]

use std::path::PathBuf;

use qfp_tests::Qfp;

fn qemu() -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("qemu-x86_64"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("qemu-x86_64 not found: install qemu-user (./scripts/setup --test does)")
        })
}

fn under(cpu: &str, args: &[&str]) -> qfp_tests::Outcome {
    Qfp::new(args.iter().copied()).with_program(qemu(), &["-cpu", cpu]).output()
}

/// stderr without qemu's own warnings about features its emulator lacks.
fn qfp_stderr(o: &qfp_tests::Outcome) -> String {
    o.stderr
        .lines()
        .filter(|l| !l.starts_with("qemu-x86_64: warning"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn nehalem_is_refused_with_one_line() {
    let out = under("Nehalem", &["run", "--duration", "1"]);
    let err = qfp_stderr(&out);
    assert!(!err.contains("Illegal instruction"), "{err}");
    out.assert_code(1);
    assert_eq!(err.lines().count(), 1, "{err}");
    let lacks = err.split(", which").next().unwrap_or_default();
    assert_eq!(lacks, "qfp: this CPU lacks AES-NI, PCLMULQDQ, AVX, AVX2", "{err}");
}

#[test]
fn sandy_bridge_lacks_only_avx2() {
    let out = under("SandyBridge", &["--version"]);
    let err = qfp_stderr(&out);
    out.assert_code(1);
    let lacks = err.split(", which").next().unwrap_or_default();
    assert_eq!(lacks, "qfp: this CPU lacks AVX2", "SandyBridge has AES-NI, PCLMULQDQ, AVX: {err}");
}

#[test]
fn haswell_passes_the_guard() {
    let out = under("Haswell", &["--version"]);
    out.assert_success();
    assert!(out.stdout.starts_with("qfp "), "{}", out.stdout);
}
