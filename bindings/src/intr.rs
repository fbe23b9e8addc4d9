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
