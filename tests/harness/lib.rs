//! The end-to-end test harness: everything a test needs to start the real `qfp` binary on
//! DPDK virtual devices and judge what it did.
//!
//! - [`bin::qfp_bin`]: the binary under test (`QFP_BIN`, else built once in release);
//! - [`eal::EalArgs`]: EAL arguments with `--no-huge -m 1024 --no-pci` and a unique
//!   `--file-prefix`, plus the vdevs a test asks for;
//! - [`process::Qfp`]: runs the binary as a child with a hard timeout, sends it signals,
//!   captures stdout/stderr for failure messages;
//! - [`pcap`]: reads (pcap and pcapng) and writes (pcap) capture files;
//! - [`frames`]: deterministic, varied Ethernet frames for forwarding tests;
//! - [`stats`]: the `--stats-json` document, parsed independently of `ctrl`;
//! - [`prom`]: a strict reader of the Prometheus text format; [`telemetry`]: a client of
//!   DPDK's telemetry socket;
//! - [`python`]: the scapy-capable interpreter (`QFP_PYTHON`, `python3`, `/usr/bin/python3`);
//! - [`gateway`]: a gateway's tunnels and keys as one table, written as the `qfp run -c`
//!   config and as the spec of the scapy peer (`tests/py/gw_peer.py`);
//! - [`pair`]: two real gateways joined by net_memif and `qfp gen` on their LANs (the
//!   control-core tests: rekeys, desync, clear, restarts, signals);
//! - [`TempDir`], and [`exclusive`]: one DPDK test at a time (see its doc for why).
#![forbid(unsafe_code)]

pub mod bin;
pub mod eal;
pub mod frames;
pub mod gateway;
pub mod pair;
pub mod pcap;
pub mod process;
pub mod prom;
pub mod python;
pub mod stats;
pub mod telemetry;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

pub use bin::{qfp_bin, qfpctl_bin};
pub use eal::EalArgs;
pub use process::{Outcome, Qfp, Running};

/// Serialises the tests that run DPDK.
///
/// Each `qfp run` polls its worker cores flat out (or nearly, with adaptive polling) and
/// this machine class has two CPUs: two at once would starve each other and make results
/// depend on timing. Cargo runs test binaries one after another, and the threads of one
/// binary in parallel, so a process-wide mutex is enough to run one DPDK test at a time;
/// tests that never start DPDK (flag errors) do not take it and still run in parallel.
/// A test that panicked poisons nothing: the guard is taken back from a poisoned lock.
pub fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A scratch directory, removed when dropped — unless the test is panicking, then kept
/// (and its path printed) for the post-mortem.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A new empty directory named after `tag`, under the system temp directory.
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("qfp-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside it.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test files kept in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
