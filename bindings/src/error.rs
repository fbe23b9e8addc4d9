//! Errors of the safe layer: DPDK's negative return codes and `rte_errno`, turned into one
//! `Result` type with the error text DPDK itself would print.

use std::ffi::CStr;

use crate::ffi;

/// What went wrong in a DPDK call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The EAL starts once per process; DPDK cannot initialise it a second time, not even
    /// after `rte_eal_cleanup`.
    #[error("the DPDK EAL was already initialised in this process (it can start only once)")]
    AlreadyInitialized,
    /// A DPDK function failed; `errno` is the positive error number it reported.
    #[error("{what}: {msg}")]
    Dpdk {
        /// The operation, e.g. "rte_eth_dev_configure(port 1)".
        what: String,
        /// Positive errno (or DPDK-specific `E_RTE_*`) value.
        errno: i32,
        /// DPDK's text for `errno` (`rte_strerror`).
        msg: String,
    },
    /// An argument the safe layer refuses before calling DPDK.
    #[error("{0}")]
    InvalidArgument(String),
    /// A closure launched on a worker lcore panicked (the panic message went to stderr).
    #[error("the job on lcore(s) {0:?} panicked")]
    LcorePanicked(Vec<u32>),
}

/// Result of the safe layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error for `errno` (positive or negative) with DPDK's text for it.
    pub fn from_errno(what: impl Into<String>, errno: i32) -> Self {
        let errno = errno.abs();
        Error::Dpdk { what: what.into(), errno, msg: strerror(errno) }
    }

    /// An error from the calling thread's current `rte_errno` (for the EAL and mempool
    /// functions that return -1 or NULL and set it).
    pub fn from_rte_errno(what: impl Into<String>) -> Self {
        Self::from_errno(what, rte_errno())
    }

    /// The positive error number, if DPDK reported one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Dpdk { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// `Ok(ret)` for `ret >= 0`, else the error for `-ret` (ethdev style: returns `-errno`).
pub(crate) fn check(ret: i32, what: impl FnOnce() -> String) -> Result<i32> {
    if ret < 0 { Err(Error::from_errno(what(), ret)) } else { Ok(ret) }
}

/// The calling thread's `rte_errno`.
pub fn rte_errno() -> i32 {
    // SAFETY: reads DPDK's per-thread errno variable through the shim; no preconditions.
    unsafe { ffi::qfp_errno() }
}

/// DPDK's text for an error number (covers libc errno values and DPDK's own `E_RTE_*`).
pub fn strerror(errno: i32) -> String {
    // rte_strerror accepts any value and returns a NUL-terminated string, static or in a
    // per-thread buffer that lives until the next call on this thread.
    // SAFETY: a valid C string, copied out before anything else runs on this thread.
    let text = unsafe { CStr::from_ptr(ffi::rte_strerror(errno)) };
    text.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_text_comes_from_dpdk() {
        let e = Error::from_errno("rte_eth_dev_configure(port 3)", -22);
        assert_eq!(e.errno(), Some(22));
        assert_eq!(e.to_string(), "rte_eth_dev_configure(port 3): Invalid argument");
        assert_eq!(strerror(12), "Cannot allocate memory");
    }

    #[test]
    fn check_passes_non_negative_values() {
        assert_eq!(check(5, || unreachable!()), Ok(5));
        let e = check(-19, || "probe".into()).unwrap_err();
        assert_eq!(e.to_string(), "probe: No such device");
    }
}
