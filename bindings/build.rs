//! Build script of `dpdk-sys`: finds the system DPDK with `pkg-config libdpdk`, compiles the
//! C shim (`shim/shim.c`) with DPDK's own compiler flags, generates Rust bindings with
//! bindgen over `shim/shim.h`, and links the DPDK libraries.
//!
//! The full `pkg-config --cflags` matter: they carry `-include rte_config.h` and
//! `-march=corei7`, without which DPDK's headers do not compile (rte_memcpy.h needs SSSE3)
//! or describe a different build than the installed libraries.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn pkg_config(args: &[&str]) -> Vec<String> {
    let out = Command::new("pkg-config").args(args).arg("libdpdk").output().unwrap_or_else(|e| {
        panic!("dpdk-sys: cannot run pkg-config ({e}); run ./scripts/setup to install it")
    });
    if !out.status.success() {
        panic!(
            "dpdk-sys: `pkg-config {} libdpdk` failed: {}\nInstall DPDK's development files \
             (Debian: libdpdk-dev), e.g. with ./scripts/setup",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // `-include rte_config.h` is two words; splitting on whitespace keeps them as two
    // arguments, which is what both cc and clang expect.
    String::from_utf8(out.stdout)
        .expect("pkg-config output is UTF-8")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn main() {
    println!("cargo:rerun-if-changed=shim/shim.h");
    println!("cargo:rerun-if-changed=shim/shim.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=CARGO_CFG_TARGET_FEATURE");

    let cflags = pkg_config(&["--cflags"]);
    let libs = pkg_config(&["--libs"]);

    // The shim: static-inline fast-path functions exported as real symbols, and the CPU
    // guard, told which features the Rust code is compiled for (RUSTFLAGS and
    // .cargo/config.toml, implied features included) so that it checks exactly those.
    let mut cc = cc::Build::new();
    cc.file("shim/shim.c").include("shim").warnings(true).opt_level(3);
    for f in &cflags {
        cc.flag(f);
    }
    let known = [
        "sse3",
        "ssse3",
        "sse4.1",
        "sse4.2",
        "popcnt",
        "aes",
        "pclmulqdq",
        "avx",
        "fma",
        "f16c",
        "avx2",
        "bmi1",
        "bmi2",
        "avx512f",
        "vaes",
        "vpclmulqdq",
    ];
    let features = env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    for f in features.split(',').filter(|f| known.contains(f)) {
        cc.define(&format!("QFP_NEED_{}", f.to_uppercase().replace('.', "_")), None);
    }
    cc.compile("qfpshim");

    // Link DPDK after the shim (which references it). `-Wl,--as-needed` is rustc's
    // default on Linux already; library search paths and names are all we need.
    for l in &libs {
        if let Some(name) = l.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={name}");
        } else if let Some(dir) = l.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        }
    }

    let bindings = bindgen::Builder::default()
        .header("shim/shim.h")
        .clang_args(&cflags)
        .clang_arg("-Ishim")
        .allowlist_function("rte_.*")
        .allowlist_function("qfp_.*")
        .allowlist_type("rte_.*")
        .allowlist_var("RTE_.*")
        .allowlist_var("rte_.*")
        .blocklist_type("max_align_t")
        // Packed GTP-PSC headers with bitfields: bindgen cannot lay them out so that Debug
        // derives (and older bindgen emitted E0588 for similar packed headers: rte_arp,
        // rte_l2tpv2, which this version handles). qfp parses headers itself: a blob is enough.
        .opaque_type("rte_gtp_psc_.*")
        .clang_macro_fallback()
        .derive_default(true)
        .derive_debug(true)
        .impl_debug(false)
        .prepend_enum_name(false)
        .generate_comments(false)
        .layout_tests(true)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .expect("dpdk-sys: bindgen failed over shim/shim.h");

    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR is set by cargo"));
    bindings.write_to_file(out.join("bindings.rs")).expect("dpdk-sys: cannot write bindings.rs");
}
