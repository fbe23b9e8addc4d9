//! The Python interpreter with scapy, the independent peer of the ESP tests: `QFP_PYTHON`
//! if set, else the first of `python3` (PATH) and `/usr/bin/python3` that can import
//! `scapy.layers.ipsec`. None: the test fails and says how to get one (never skips).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

fn has_scapy(python: &str) -> bool {
    Command::new(python)
        .args(["-c", "import scapy.layers.ipsec"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The interpreter to run scapy scripts with. Panics (fails the test) if there is none.
pub fn scapy_python() -> PathBuf {
    static PY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PY.get_or_init(|| {
        if let Some(p) = std::env::var_os("QFP_PYTHON") {
            let s = p.to_string_lossy().into_owned();
            return if has_scapy(&s) {
                Ok(PathBuf::from(p))
            } else {
                Err(format!("QFP_PYTHON={s} cannot import scapy.layers.ipsec"))
            };
        }
        ["python3", "/usr/bin/python3"]
            .into_iter()
            .find(|p| has_scapy(p))
            .map(PathBuf::from)
            .ok_or_else(|| "no python3 with scapy (tried python3, /usr/bin/python3)".to_owned())
    })
    .clone()
    .unwrap_or_else(|e| panic!("{e}: run ./scripts/test, which installs scapy, or set QFP_PYTHON"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_a_python_with_scapy() {
        let py = super::scapy_python();
        let out = std::process::Command::new(&py)
            .args(["-c", "import scapy; print(scapy.VERSION)"])
            .output()
            .unwrap();
        assert!(out.status.success() && !out.stdout.is_empty(), "{}", py.display());
    }
}
