//! EAL arguments for a test run: no hugepages, no PCI, memory enough for the pools, a
//! `--file-prefix` unique to this process and run (so tests never share DPDK runtime
//! files with each other or with a demo running beside them), and the test's vdevs.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// Builder of the arguments after `--`.
#[derive(Debug, Clone)]
pub struct EalArgs {
    args: Vec<String>,
    prefix: String,
}

impl Default for EalArgs {
    fn default() -> Self {
        Self::new()
    }
}

impl EalArgs {
    /// `--no-huge -m 1024 --no-pci --file-prefix=qfp-test-<pid>-<n>`, quieter logs.
    pub fn new() -> EalArgs {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("qfp-test-{}-{n}", std::process::id());
        EalArgs {
            prefix: prefix.clone(),
            args: vec![
                "--no-huge".into(),
                "-m".into(),
                "1024".into(),
                "--no-pci".into(),
                format!("--file-prefix={prefix}"),
                "--log-level=*:notice".into(),
            ],
        }
    }

    /// Adds `--vdev=<spec>`, e.g. `net_pcap0,rx_pcap=in.pcap`.
    pub fn vdev(mut self, spec: impl Into<String>) -> Self {
        self.args.push(format!("--vdev={}", spec.into()));
        self
    }

    /// Adds any EAL argument.
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    /// The `--file-prefix` (for `dpdk-telemetry.py -f PREFIX`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The arguments.
    pub fn build(&self) -> Vec<String> {
        self.args.clone()
    }

    /// Where DPDK puts the runtime directory of this prefix (and leaves it after exit):
    /// `/var/run/dpdk/<prefix>` for root, `$XDG_RUNTIME_DIR/dpdk/<prefix>` or
    /// `/tmp/dpdk/<prefix>` otherwise. The harness removes them after the run.
    pub fn runtime_dirs(&self) -> Vec<PathBuf> {
        let mut bases = vec![PathBuf::from("/var/run/dpdk"), PathBuf::from("/tmp/dpdk")];
        if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR") {
            bases.push(PathBuf::from(x).join("dpdk"));
        }
        bases.into_iter().map(|b| b.join(&self.prefix)).collect()
    }
}
