//! The DPDK Environment Abstraction Layer: start it once per process, ask it about lcores
//! and ports, and clean it up when the [`Eal`] value is dropped.
//!
//! Everything else in this crate borrows the `Eal` (`Mempool<'eal>`, `Port<'eal>`, ...), so
//! the borrow checker guarantees that no pool, port or mbuf outlives `rte_eal_cleanup`.
//! The `Eal` is neither `Send` nor `Sync`: it stays on the thread that initialised it, which
//! DPDK makes the main lcore, the only thread allowed to launch jobs on the other lcores.

use std::ffi::{CString, c_char, c_int};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::ffi;

/// Set by the first [`Eal::init`]; DPDK cannot start twice in one process.
static STARTED: AtomicBool = AtomicBool::new(false);

/// The running EAL. Dropping it calls `rte_eal_cleanup`.
#[derive(Debug)]
pub struct Eal {
    /// Not `Send`/`Sync`: the EAL belongs to the main-lcore thread.
    _main_thread: PhantomData<*mut ()>,
}

impl Eal {
    /// Starts the EAL with `args`, exactly as `argv` of a DPDK program (`args[0]` is the
    /// program name, the rest are EAL options such as `--no-huge`, `-l`, `--vdev=...`).
    ///
    /// The calling thread becomes the main lcore. Fails with
    /// [`Error::AlreadyInitialized`] on a second call in the same process, whatever the
    /// outcome of the first. The argument strings are leaked on purpose: DPDK may keep
    /// pointers into `argv` for the life of the process.
    pub fn init<I, S>(args: I) -> Result<Eal>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let args: Vec<CString> = args
            .into_iter()
            .map(|a| {
                CString::new(a.as_ref()).map_err(|_| {
                    Error::InvalidArgument(format!(
                        "EAL argument {:?} contains a NUL byte",
                        a.as_ref()
                    ))
                })
            })
            .collect::<Result<_>>()?;
        if args.is_empty() {
            return Err(Error::InvalidArgument(
                "EAL arguments need at least a program name".into(),
            ));
        }
        if STARTED.swap(true, Ordering::SeqCst) {
            return Err(Error::AlreadyInitialized);
        }
        let argv: &'static mut [*mut c_char] = Vec::leak(
            args.into_iter()
                .map(|a| a.into_raw())
                .chain(std::iter::once(std::ptr::null_mut()))
                .collect(),
        );
        let argc = c_int::try_from(argv.len() - 1)
            .map_err(|_| Error::InvalidArgument("too many EAL arguments".into()))?;
        // argv holds argc valid NUL-terminated strings followed by NULL, leaked so that they
        // outlive the EAL (DPDK may permute the array and keep pointers into it).
        // SAFETY: valid, leaked argv; STARTED makes this the only call in the process.
        let ret = unsafe { ffi::rte_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            return Err(Error::from_rte_errno("rte_eal_init"));
        }
        Ok(Eal { _main_thread: PhantomData })
    }

    /// The main lcore: the thread that called [`Eal::init`].
    pub fn main_lcore(&self) -> u32 {
        // SAFETY: the EAL is initialised (self exists); a plain getter.
        unsafe { ffi::rte_get_main_lcore() }
    }

    /// Every enabled lcore except the main one, in increasing order.
    pub fn worker_lcores(&self) -> Vec<u32> {
        let mut out = Vec::new();
        // SAFETY: the EAL is initialised; rte_get_next_lcore is a pure iterator over the
        // lcore configuration (`u32::MAX` = "start before lcore 0", as RTE_LCORE_FOREACH).
        let mut l = unsafe { ffi::rte_get_next_lcore(u32::MAX, 1, 0) };
        while l < ffi::RTE_MAX_LCORE {
            out.push(l);
            // SAFETY: as above.
            l = unsafe { ffi::rte_get_next_lcore(l, 1, 0) };
        }
        out
    }

    /// Number of enabled lcores, the main one included.
    pub fn lcore_count(&self) -> u32 {
        // SAFETY: the EAL is initialised; a plain getter.
        unsafe { ffi::rte_lcore_count() }
    }

    /// The CPU an lcore runs on (its first CPU when it may run on several), if known.
    pub fn lcore_cpu(&self, lcore: u32) -> Option<u32> {
        if lcore >= ffi::RTE_MAX_LCORE {
            return None;
        }
        // SAFETY: lcore is in range; a plain getter on the lcore table.
        let cpu = unsafe { ffi::rte_lcore_to_cpu_id(lcore as c_int) };
        u32::try_from(cpu).ok()
    }

    /// The NUMA socket of an lcore (0 on single-socket machines), if the lcore exists.
    pub fn lcore_socket(&self, lcore: u32) -> Option<u32> {
        if lcore >= ffi::RTE_MAX_LCORE {
            return None;
        }
        // SAFETY: the EAL is initialised and lcore indexes inside the lcore table (DPDK does
        // not range-check this one: we did above).
        Some(unsafe { ffi::rte_lcore_to_socket_id(lcore) })
    }

    /// Ids of the Ethernet ports DPDK found (NICs bound to DPDK drivers and `--vdev`s), in
    /// increasing order.
    pub fn port_ids(&self) -> Vec<u16> {
        let mut out = Vec::new();
        // SAFETY: the EAL is initialised; rte_eth_find_next only reads the port table and
        // returns RTE_MAX_ETHPORTS when there is no further port.
        let mut p = unsafe { ffi::rte_eth_find_next(0) };
        while u32::from(p) < ffi::RTE_MAX_ETHPORTS {
            out.push(p);
            // SAFETY: as above.
            p = unsafe { ffi::rte_eth_find_next(p + 1) };
        }
        out
    }

    /// TSC ticks per second, as measured by the EAL at start-up.
    pub fn tsc_hz(&self) -> u64 {
        // SAFETY: the EAL is initialised; a plain getter.
        unsafe { ffi::rte_get_tsc_hz() }
    }

    /// The EAL's runtime directory (`/var/run/dpdk/<file-prefix>` for root): DPDK leaves it
    /// behind after cleanup, so a program that chose a unique `--file-prefix` may remove it
    /// once the `Eal` is dropped.
    pub fn runtime_dir(&self) -> std::path::PathBuf {
        // SAFETY: the EAL is initialised; returns a pointer to its static NUL-terminated path.
        let dir = unsafe { std::ffi::CStr::from_ptr(ffi::rte_eal_get_runtime_dir()) };
        std::path::PathBuf::from(dir.to_string_lossy().into_owned())
    }

    /// DPDK's version string, e.g. "DPDK 22.11.11".
    pub fn version() -> String {
        // SAFETY: rte_version returns a pointer to a static NUL-terminated string.
        let v = unsafe { std::ffi::CStr::from_ptr(ffi::rte_version()) };
        v.to_string_lossy().into_owned()
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // rte_eal_cleanup unmaps DPDK's memory but leaves the interrupt thread running:
        // let the callbacks at work there (net_memif handling its peer's disconnect)
        // finish, then park the thread in one of ours for good, or it would fault on the
        // unmapped memory (see intr::park). The memif gate's holder stops first.
        crate::gate::stop();
        crate::intr::park();
        // SAFETY: every object that uses DPDK memory borrows the Eal, so none is alive
        // here; jobs launched on lcores have been waited for by `Eal::scope`.
        let ret = unsafe { ffi::rte_eal_cleanup() };
        if ret < 0 {
            eprintln!("dpdk: rte_eal_cleanup failed: {}", crate::error::strerror(-ret));
        }
    }
}

/// The calling thread's lcore id, or `None` on a thread DPDK did not create.
pub fn lcore_id() -> Option<u32> {
    // SAFETY: reads DPDK's per-thread lcore id (LCORE_ID_ANY on foreign threads).
    let id = unsafe { ffi::qfp_lcore_id() };
    (id < ffi::RTE_MAX_LCORE).then_some(id)
}

/// One spin-wait hint (`pause`): for idle polling loops.
#[inline]
pub fn pause() {
    // SAFETY: executes the `pause` instruction; no memory effects.
    unsafe { ffi::qfp_pause() }
}

/// The time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: executes `rdtsc`; no memory effects.
    unsafe { ffi::qfp_rdtsc() }
}
