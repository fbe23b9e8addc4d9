//! A gate between `net_memif`'s control plane on DPDK's interrupt thread and the bursts
//! of the polling lcores.
//!
//! Why: when a memif peer goes away (stopped, killed, restarted), the interrupt thread
//! runs the driver's `memif_disconnect`, which clears the "connected" flag and, a few
//! system calls later, unmaps the shared rings and buffers (`memif_free_regions`). Nothing
//! in DPDK 22.11 (nor in DPDK's main branch) keeps that away from an `rte_eth_rx_burst` or
//! `rte_eth_tx_burst` that checked the flag a moment before on another thread: the burst
//! then reads unmapped memory and the process dies of SIGSEGV. A `qfp gen` whose gateways
//! were stopped under traffic did exactly that (core dump: the main lcore in memif's tx
//! burst, the interrupt thread in `memif_disconnect`'s `close`).
//!
//! How: the interrupt thread runs one callback at a time, so it is either inside the
//! *holder* below (an EAL alarm of ours) or somewhere a driver callback may run. The gate
//! is open only while the holder runs: the holder opens it, waits (see below), closes it,
//! waits until no burst is in flight, and returns after re-arming itself [`GAP_US`] later,
//! so the thread goes back to its event loop and runs whatever driver callbacks are
//! pending while the gate is shut. It waits [`HOLD_UP`] while every memif link is up (the
//! only driver event then is a disconnect, which can wait that long), [`HOLD_DOWN`] while
//! one is down (a connect handshake takes several rounds of the event loop), and returns
//! at once when [`crate::intr`] has work for the thread.
//! A burst on a memif queue enters through [`enter`]: it announces itself in its lcore's
//! slot and goes ahead only if the gate is open (Dekker-style, sequentially consistent
//! on both sides), else it waits for the holder to come back. So a disconnect can only unmap
//! what no burst is using.
//!
//! Cost: two uncontended atomic increments per memif burst, and memif bursts paused ten
//! times a second for as long as the interrupt thread takes to come back (about `GAP_US`
//! on a core of its own; a scheduler slice where pollers of other processes share its
//! CPU). Ports of other drivers never touch the gate; the holder only runs in a process
//! that has started a memif port.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::ffi;

/// How long the holder keeps the gate open while every memif link is up (the interrupt
/// thread is busy for that long; a peer's disconnect is handled up to that late).
const HOLD_UP: Duration = Duration::from_millis(100);

/// How long while a memif link is down: the connect handshake needs the thread.
const HOLD_DOWN: Duration = Duration::from_millis(1);

/// How often a holding holder looks at the links.
const LOOK: Duration = Duration::from_millis(2);

/// How long after the holder returns it runs again: the interrupt thread's window for
/// driver callbacks, during which memif bursts wait.
const GAP_US: u64 = 50;

/// Bursts in flight, one padded counter per lcore plus one shared by threads DPDK did not
/// create (the last slot).
#[repr(align(64))]
struct Slot(AtomicU32);

const SLOTS: usize = ffi::RTE_MAX_LCORE as usize + 1;
static IN_FLIGHT: [Slot; SLOTS] = [const { Slot(AtomicU32::new(0)) }; SLOTS];

/// Shut unless the holder is running.
static CLOSED: AtomicBool = AtomicBool::new(true);

/// The memif ports started in this process (their links decide how long the holder holds).
static PORTS: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// The holder has been armed (it runs until [`stop`]).
static ARMED: AtomicBool = AtomicBool::new(false);

/// What the holder is asked to do, under a lock only the interrupt thread and control
/// calls take (never a burst).
struct Requests {
    /// Return soon: another alarm (a job of [`crate::intr`]) wants the thread.
    wake: bool,
    /// Do not re-arm: the EAL is being cleaned up.
    stop: bool,
    /// The holder has returned for the last time.
    stopped: bool,
}

static REQUESTS: Mutex<Requests> =
    Mutex::new(Requests { wake: false, stop: false, stopped: false });
static SIGNAL: Condvar = Condvar::new();

fn requests() -> std::sync::MutexGuard<'static, Requests> {
    REQUESTS.lock().unwrap_or_else(PoisonError::into_inner)
}

fn slot() -> &'static AtomicU32 {
    let i = crate::lcore_id().map_or(SLOTS - 1, |id| id as usize);
    &IN_FLIGHT[i].0
}

/// A memif burst in flight; the gate cannot close under it.
pub(crate) struct Pass(&'static AtomicU32);

impl Drop for Pass {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Release);
    }
}

/// Waits for the gate to be open and marks a burst in flight until the [`Pass`] drops.
#[inline]
pub(crate) fn enter() -> Pass {
    let slot = slot();
    loop {
        slot.fetch_add(1, Ordering::SeqCst);
        if !CLOSED.load(Ordering::SeqCst) {
            return Pass(slot);
        }
        slot.fetch_sub(1, Ordering::SeqCst);
        spin_while(|| CLOSED.load(Ordering::Acquire));
    }
}

/// Spins while `busy` holds: a few `pause`s, then yielding the CPU (whoever we wait for
/// may need it: two processes share a core in tests).
fn spin_while(busy: impl Fn() -> bool) {
    let mut spins = 0u32;
    while busy() {
        if spins < 64 {
            crate::pause();
            spins += 1;
        } else {
            std::thread::yield_now();
        }
    }
}

/// Closes the gate and waits until no burst is in flight.
fn close() {
    CLOSED.store(true, Ordering::SeqCst);
    for s in &IN_FLIGHT {
        spin_while(|| s.0.load(Ordering::SeqCst) != 0);
    }
}

fn arm() -> bool {
    let cb: unsafe extern "C" fn(*mut c_void) = holder;
    // SAFETY: `holder` is a valid alarm callback that ignores its argument.
    let ret = unsafe { ffi::rte_eal_alarm_set(GAP_US, Some(cb), std::ptr::null_mut()) };
    ret == 0
}

/// The alarm callback, on the interrupt thread: the gate is open while it runs.
extern "C" fn holder(_: *mut c_void) {
    let mut r = requests();
    if !r.stop {
        CLOSED.store(false, Ordering::SeqCst);
        r.wake = false;
        let since = Instant::now();
        loop {
            let hold = if links_up() { HOLD_UP } else { HOLD_DOWN };
            let left = hold.saturating_sub(since.elapsed());
            if left.is_zero() || r.wake || r.stop {
                break;
            }
            r = SIGNAL
                .wait_timeout_while(r, left.min(LOOK), |r| !r.wake && !r.stop)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        close();
    }
    if r.stop {
        // Not re-armed: the gate stays shut and `stop` may go on.
        r.stopped = true;
        SIGNAL.notify_all();
    } else if !arm() {
        // No alarm to come back with (the EAL is out of memory): better the driver's own
        // race than bursts waiting for ever.
        CLOSED.store(false, Ordering::SeqCst);
        r.stopped = true;
        SIGNAL.notify_all();
    }
}

/// Every started memif port's link is up.
fn links_up() -> bool {
    let ports = PORTS.lock().unwrap_or_else(PoisonError::into_inner);
    ports.iter().all(|&p| {
        // SAFETY: a plain query about a port id; it logs nothing for an invalid one.
        if unsafe { ffi::rte_eth_dev_is_valid_port(p) } == 0 {
            return false;
        }
        let mut l = ffi::rte_eth_link::default();
        // SAFETY: a valid port (closes run on this same thread, after `forget`); l is a
        // valid out-parameter; memif's link query only reads the port's data.
        let ret = unsafe { ffi::rte_eth_link_get_nowait(p, &mut l) };
        ret == 0 && u32::from(l.link_status()) == ffi::RTE_ETH_LINK_UP
    })
}

/// Forgets a memif port that is being closed: called on the interrupt thread, so the
/// holder is not looking at its link meanwhile.
pub(crate) fn forget(port: u16) {
    PORTS.lock().unwrap_or_else(PoisonError::into_inner).retain(|&p| p != port);
}

/// Starts the holder, once per process, and records `port`: called when a memif port
/// starts, before any of its queues exist.
pub(crate) fn start(port: u16) -> crate::Result<()> {
    {
        let mut ports = PORTS.lock().unwrap_or_else(PoisonError::into_inner);
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    if ARMED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    if arm() {
        return Ok(());
    }
    ARMED.store(false, Ordering::SeqCst);
    Err(crate::Error::InvalidArgument(
        "net_memif: cannot set the EAL alarm that guards bursts against peer disconnects".into(),
    ))
}

/// Asks the holder to give the interrupt thread back soon (a job is waiting for it).
pub(crate) fn wake() {
    if ARMED.load(Ordering::Relaxed) {
        requests().wake = true;
        SIGNAL.notify_all();
    }
}

/// Stops the holder for good and waits until it has returned for the last time (before
/// `rte_eal_cleanup`; no lcore bursts any more). The gate stays shut.
pub(crate) fn stop() {
    if !ARMED.load(Ordering::SeqCst) {
        return;
    }
    let mut r = requests();
    r.stop = true;
    SIGNAL.notify_all();
    // The holder returns at once when asked; bounded in case the interrupt thread is gone.
    let _ = SIGNAL
        .wait_timeout_while(r, Duration::from_secs(5), |r| !r.stopped)
        .unwrap_or_else(PoisonError::into_inner);
}
