//! Running closures on worker lcores (`rte_eal_remote_launch`), scoped like
//! `std::thread::scope`: every launched closure has finished before [`Eal::scope`] returns,
//! so closures may borrow ports, queues and counters from the caller's stack.
//!
//! A closure that panics does not take the process down: the trampoline catches the panic
//! (unwinding out of an `extern "C"` function would abort), the lcore returns to the pool,
//! and `scope` reports [`Error::LcorePanicked`] once everything has stopped.

use std::ffi::{c_int, c_void};
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Mutex};

use crate::eal::Eal;
use crate::error::{Error, Result};
use crate::ffi;

/// A job handed to the trampoline: the closure and where to record a panic.
struct Job {
    f: Box<dyn FnOnce() + Send + 'static>,
    lcore: u32,
    panicked: Arc<Mutex<Vec<u32>>>,
}

/// Launches closures on lcores; see [`Eal::scope`].
pub struct Scope<'scope, 'env: 'scope> {
    panicked: Arc<Mutex<Vec<u32>>>,
    workers: Vec<u32>,
    /// Invariant in 'scope, like std's Scope: closures may borrow for 'scope.
    _scope: PhantomData<&'scope mut &'scope ()>,
    _env: PhantomData<&'env mut &'env ()>,
}

impl Eal {
    /// Runs `f` on the main lcore with a [`Scope`] that launches closures on worker lcores,
    /// then waits until every launched closure has returned (also when `f` panics: the
    /// panic is resumed after the wait).
    ///
    /// `f` must make the launched closures return (for instance by setting a stop flag they
    /// poll) or the wait never ends. Returns [`Error::LcorePanicked`] if a launched closure
    /// panicked.
    pub fn scope<'env, F, T>(&'env self, f: F) -> Result<T>
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
    {
        let scope = Scope {
            panicked: Arc::new(Mutex::new(Vec::new())),
            workers: self.worker_lcores(),
            _scope: PhantomData,
            _env: PhantomData,
        };
        let result = catch_unwind(AssertUnwindSafe(|| f(&scope)));
        // SAFETY: called on the main lcore (Eal is !Send, so this is the init thread);
        // blocks until every worker lcore is idle again, i.e. every job has returned.
        unsafe { ffi::rte_eal_mp_wait_lcore() };
        let value = match result {
            Ok(v) => v,
            Err(panic) => resume_unwind(panic),
        };
        let panicked =
            std::mem::take(&mut *scope.panicked.lock().unwrap_or_else(|p| p.into_inner()));
        if panicked.is_empty() { Ok(value) } else { Err(Error::LcorePanicked(panicked)) }
    }
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// The worker lcores jobs can be launched on.
    pub fn worker_lcores(&self) -> &[u32] {
        &self.workers
    }

    /// Starts `f` on worker lcore `lcore`. Fails if `lcore` is not a worker lcore or is
    /// still busy with an earlier job.
    pub fn launch<F>(&'scope self, lcore: u32, f: F) -> Result<()>
    where
        F: FnOnce() + Send + 'scope,
    {
        if !self.workers.contains(&lcore) {
            return Err(Error::InvalidArgument(format!(
                "lcore {lcore} is not a worker lcore of this EAL (workers: {:?})",
                self.workers
            )));
        }
        let f: Box<dyn FnOnce() + Send + 'scope> = Box::new(f);
        // Eal::scope waits for every lcore (rte_eal_mp_wait_lcore) before 'scope ends, on
        // the normal and the panicking path alike.
        // SAFETY: only the lifetime changes (same layout); the closure cannot outlive 'scope.
        let f: Box<dyn FnOnce() + Send + 'static> = unsafe { std::mem::transmute(f) };
        let job = Box::into_raw(Box::new(Job { f, lcore, panicked: Arc::clone(&self.panicked) }));
        let ret = {
            // Launched from the main lcore onto a worker lcore of this EAL.
            // SAFETY: trampoline has DPDK's signature and takes ownership of `job` once.
            unsafe { ffi::rte_eal_remote_launch(Some(trampoline), job.cast::<c_void>(), lcore) }
        };
        if ret < 0 {
            // SAFETY: the launch failed, so the trampoline will never run: we still own job.
            drop(unsafe { Box::from_raw(job) });
            return Err(Error::from_errno(format!("rte_eal_remote_launch(lcore {lcore})"), ret));
        }
        Ok(())
    }
}

/// Entry point DPDK calls on the worker lcore.
extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: arg is the Box<Job> leaked by Scope::launch for this one call.
    let job = unsafe { Box::from_raw(arg.cast::<Job>()) };
    let Job { f, lcore, panicked } = *job;
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => 0,
        Err(_) => {
            panicked.lock().unwrap_or_else(|p| p.into_inner()).push(lcore);
            -1
        }
    }
}
