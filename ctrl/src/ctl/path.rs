//! Where control sockets live. A gateway serves `<dir>/<EAL file prefix>.sock`, where
//! `<dir>` is the first of `/run/qfp`, `$XDG_RUNTIME_DIR/qfp`, `/tmp/qfp` that it can
//! create and write; the EAL file prefix is unique per process (qfp adds one when it adds
//! `--no-huge`, and two DPDK processes on one machine need distinct prefixes anyway), so
//! two gateways on one machine never collide. `qfp ctl` without `--ctrl-socket` uses
//! `$QFP_CTRL_SOCKET`, else the one socket found in those directories (several: it asks
//! which).

use std::path::{Path, PathBuf};

/// The candidate directories, in order.
pub fn socket_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/run/qfp")];
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR").filter(|x| !x.is_empty()) {
        dirs.push(PathBuf::from(x).join("qfp"));
    }
    dirs.push(PathBuf::from("/tmp/qfp"));
    dirs
}

/// The EAL file prefix in an EAL argv (`--file-prefix=X` or `--file-prefix X`), or DPDK's
/// default `rte`.
pub fn file_prefix(eal_args: &[String]) -> String {
    let mut it = eal_args.iter();
    while let Some(a) = it.next() {
        if let Some(p) = a.strip_prefix("--file-prefix=") {
            return p.to_owned();
        }
        if a == "--file-prefix"
            && let Some(p) = it.next()
        {
            return p.clone();
        }
    }
    "rte".to_owned()
}

fn writable_dir(d: &Path) -> bool {
    if std::fs::create_dir_all(d).is_err() {
        return false;
    }
    let probe = d.join(format!(".probe.{}", std::process::id()));
    let ok = std::fs::File::create(&probe).is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

/// The default socket of a gateway whose EAL file prefix is `prefix`.
pub fn default_socket(prefix: &str) -> PathBuf {
    let dirs = socket_dirs();
    let dir = dirs.iter().find(|d| writable_dir(d)).unwrap_or(&dirs[dirs.len() - 1]);
    dir.join(format!("{prefix}.sock"))
}

/// Every `*.sock` in the candidate directories.
pub fn find_sockets() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for d in socket_dirs() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        let mut here: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "sock"))
            .collect();
        here.sort();
        found.extend(here);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn the_prefix_comes_from_the_eal_arguments() {
        assert_eq!(file_prefix(&s(&["qfp", "--no-huge", "--file-prefix=gw-a"])), "gw-a");
        assert_eq!(file_prefix(&s(&["qfp", "--file-prefix", "gw-b", "-l", "0-1"])), "gw-b");
        assert_eq!(file_prefix(&s(&["qfp", "-l", "0-1"])), "rte");
    }

    #[test]
    fn the_default_socket_is_in_a_writable_directory() {
        let p = default_socket("unit-test-prefix");
        assert_eq!(p.file_name().unwrap(), "unit-test-prefix.sock");
        assert!(socket_dirs().iter().any(|d| p.parent() == Some(d.as_path())));
    }
}
