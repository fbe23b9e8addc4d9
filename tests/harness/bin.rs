//! Where the `qfp` binary under test comes from: `QFP_BIN` (set by `./scripts/test`), or
//! else a release build made once per test process with `cargo build --release --bin qfp`
//! from the workspace root. Release, because the end-to-end tests push real traffic and
//! later ones measure it; the build is shared with `./scripts/demo`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root (the parent of this package).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The `qfp` binary to test. Panics with the build's output if it cannot be built.
pub fn qfp_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("QFP_BIN") {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "QFP_BIN={} is not a file", p.display());
            return p;
        }
        let root = workspace_root();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(&root)
            .args(["build", "--release", "--bin", "qfp"])
            .output()
            .expect("running cargo build --release --bin qfp");
        assert!(
            out.status.success(),
            "cargo build --release --bin qfp failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        let bin = target.join("release").join("qfp");
        assert!(bin.is_file(), "{} missing after the build", bin.display());
        bin
    })
    .clone()
}

/// The `qfpctl` binary: beside the `qfp` under test (`./scripts/test` builds both), else
/// built once in release like `qfp`.
pub fn qfpctl_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let beside = qfp_bin().with_file_name("qfpctl");
        if beside.is_file() {
            return beside;
        }
        let root = workspace_root();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(&root)
            .args(["build", "--release", "--bin", "qfpctl"])
            .output()
            .expect("running cargo build --release --bin qfpctl");
        assert!(
            out.status.success(),
            "cargo build --release --bin qfpctl failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        let bin = target.join("release").join("qfpctl");
        assert!(bin.is_file(), "{} missing after the build", bin.display());
        bin
    })
    .clone()
}
