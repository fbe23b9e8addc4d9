//! Running work on DPDK's interrupt thread, the one thread where drivers such as
//! `net_memif` run their control plane (accepting peers, the connect handshake, and the
//! disconnect when a peer goes away).
//!
//! Why: `net_memif` tears a connection down (`memif_disconnect`: unmap the regions, free
//! them, close the fds) both from `rte_eth_dev_stop`/`rte_eth_dev_close` on the caller's
//! thread and from the interrupt thread when the peer closes its socket, with nothing to
//! keep the two apart. When both ends of a link stop at the same moment (a generator
//! exiting while its gateway is told to stop, a gateway restarted while a client restarts
//! its port), the two disconnects run at once and the interrupt thread ends up touching
//! freed or, once `rte_eal_cleanup` has unmapped DPDK's memory, unmapped memory:
//! SIGSEGV. Running the stop and the close on the interrupt thread itself (through a
//! 1 µs EAL alarm, whose callbacks that thread runs one after the other with every
//! interrupt callback) makes them impossible to interleave with the driver's own
//! handlers; [`quiesce`] lets the EAL teardown wait for a handler still running.

use std::ffi::c_void;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::ffi;

/// One piece of work handed to the interrupt thread, and its outcome.
struct Job {
    work: Mutex<Option<Box<dyn FnOnce() -> i32 + Send>>>,
    result: Mutex<Option<i32>>,
    done: Condvar,
}

impl Job {
    /// Runs the work (once, whoever calls first) and wakes the waiter.
    fn run(&self) -> i32 {
        let work = self.work.lock().unwrap_or_else(PoisonError::into_inner).take();
        let mut result = self.result.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(w) = work {
            *result = Some(w());
        }
        self.done.notify_all();
        result.unwrap_or(0)
    }
}

/// The alarm callback: `arg` is a reference to a [`Job`] made by `Arc::into_raw` in
/// [`run`], taken back here exactly once.
unsafe extern "C" fn trampoline(arg: *mut c_void) {
    // SAFETY: arg came from Arc::into_raw(Arc<Job>) in `run`; the alarm fires once and
    // `run` only takes the reference back itself when the alarm was not set or cancelled.
    let job = unsafe { Arc::from_raw(arg.cast_const().cast::<Job>()) };
    job.run();
}

/// How long to wait for the interrupt thread before trying to take the work back (it is
/// normally idle and answers in microseconds).
const PATIENCE: Duration = Duration::from_secs(10);

/// Runs `work` on DPDK's interrupt thread and returns its result once it has run; runs
/// it on the calling thread when that is the interrupt thread, when the EAL refuses the
/// alarm, or when the interrupt thread has not picked it up after [`PATIENCE`].
pub(crate) fn run(work: impl FnOnce() -> i32 + Send + 'static) -> i32 {
    // SAFETY: a plain query about the calling thread.
    if unsafe { ffi::rte_thread_is_intr() } != 0 {
        return work();
    }
    let job = Arc::new(Job {
        work: Mutex::new(Some(Box::new(work))),
        result: Mutex::new(None),
        done: Condvar::new(),
    });
    let cb: unsafe extern "C" fn(*mut c_void) = trampoline;
    let arg = Arc::into_raw(Arc::clone(&job)).cast_mut().cast::<c_void>();
    // SAFETY: cb is a valid alarm callback; arg is a live Arc<Job> reference that the
    // callback takes back once (or we do below, if the alarm never fires).
    let ret = unsafe { ffi::rte_eal_alarm_set(1, Some(cb), arg) };
    if ret == 0 {
        // The memif gate's holder may be keeping the thread: ask it to return.
        crate::gate::wake();
    }
    if ret < 0 {
        // SAFETY: the alarm was not set, so the reference made for it is still ours.
        drop(unsafe { Arc::from_raw(arg.cast_const().cast::<Job>()) });
        return job.run();
    }
    let result = job.result.lock().unwrap_or_else(PoisonError::into_inner);
    let (result, timeout) = job
        .done
        .wait_timeout_while(result, PATIENCE, |r| r.is_none())
        .unwrap_or_else(PoisonError::into_inner);
    if !timeout.timed_out() {
        return result.unwrap_or(0);
    }
    drop(result);
    // SAFETY: cancels the alarm set above (same callback and argument); it returns how
    // many alarms it removed, or fails with EINPROGRESS when the callback is running.
    let cancelled = unsafe { ffi::rte_eal_alarm_cancel(Some(cb), arg) };
    if cancelled > 0 {
        // SAFETY: the alarm was removed before it fired: its reference is ours again.
        drop(unsafe { Arc::from_raw(arg.cast_const().cast::<Job>()) });
        return job.run();
    }
    // Running right now (or just done): wait for it, however long it takes.
    let result = job.result.lock().unwrap_or_else(PoisonError::into_inner);
    let result =
        job.done.wait_while(result, |r| r.is_none()).unwrap_or_else(PoisonError::into_inner);
    result.unwrap_or(0)
}

/// Returns once every interrupt or alarm callback that was running when it was called has
/// finished: the interrupt thread runs callbacks one at a time, so by the time it runs
/// ours, any earlier one (a `net_memif` disconnect, say) is over. Called before
/// `rte_eal_cleanup` unmaps the memory those callbacks use.
pub(crate) fn quiesce() {
    run(|| 0);
}

/// Set once the interrupt thread is parked in [`parked_forever`].
static PARKED: Mutex<bool> = Mutex::new(false);
static PARKED_SIGNAL: Condvar = Condvar::new();

/// The interrupt callback that never returns: the interrupt thread stays here until the
/// process exits.
extern "C" fn parked_forever(_: *mut c_void) {
    *PARKED.lock().unwrap_or_else(PoisonError::into_inner) = true;
    PARKED_SIGNAL.notify_all();
    loop {
        std::thread::park();
    }
}

/// Parks DPDK's interrupt thread for the rest of the process, once every callback running
/// or pending before has finished: called right before `rte_eal_cleanup`.
///
/// Why: DPDK 22.11's `rte_eal_cleanup` never stops that thread. Its own
/// `rte_eal_alarm_cleanup` unregisters a callback, which makes the thread rebuild its
/// list of interrupt sources (reading their handles, which drivers such as `net_memif`
/// keep in DPDK memory) while the cleanup goes on to unmap that memory: a SIGSEGV at exit
/// (a core dump showed exactly that: the thread in `rte_intr_fd_get`, the main thread in
/// `rte_mem_unmap`). A thread that sits in a callback of ours rebuilds nothing.
///
/// How: a callback on one end of a socket pair (an "external" interrupt source, called
/// without reading it) whose other end has a byte written: the thread runs it as soon as
/// it is back in its event loop, and it never returns. Falls back to [`quiesce`] if DPDK
/// refuses the source.
pub(crate) fn park() {
    let Ok((wake, watched)) = std::os::unix::net::UnixStream::pair() else {
        return quiesce();
    };
    // SAFETY: allocates a handle in process-private memory (never freed: the thread
    // watches it until the process exits).
    let handle = unsafe { ffi::rte_intr_instance_alloc(ffi::RTE_INTR_INSTANCE_F_PRIVATE) };
    if handle.is_null() {
        return quiesce();
    }
    let fd = std::os::fd::AsRawFd::as_raw_fd(&watched);
    let cb: unsafe extern "C" fn(*mut c_void) = parked_forever;
    // SAFETY: a valid handle from above; the fd stays open for the rest of the process
    // (both ends are leaked below); the callback ignores its argument.
    let ret = unsafe {
        let set = ffi::rte_intr_fd_set(handle, fd)
            | ffi::rte_intr_type_set(handle, ffi::RTE_INTR_HANDLE_EXT);
        if set == 0 {
            ffi::rte_intr_callback_register(handle, Some(cb), std::ptr::null_mut())
        } else {
            set
        }
    };
    if ret != 0 {
        return quiesce();
    }
    if std::io::Write::write_all(&mut &wake, &[1]).is_err() {
        return quiesce();
    }
    std::mem::forget((wake, watched));
    let parked = PARKED.lock().unwrap_or_else(PoisonError::into_inner);
    let _ = PARKED_SIGNAL
        .wait_timeout_while(parked, PATIENCE, |p| !*p)
        .unwrap_or_else(PoisonError::into_inner);
}
