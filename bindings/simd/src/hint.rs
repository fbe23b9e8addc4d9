//! Cache prefetch hints for the fast path, behind a safe API.
//!
//! The gateway looks up the SAs of a whole rx burst before it processes the first packet
//! and asks the CPU to start loading the lines each SA's decap will touch; with thousands of
//! tunnels those lines are in L3 or memory, and without the hint every packet waits for
//! them in turn. A prefetch is only a hint: it never faults and changes no state a program
//! can observe, whatever the address.

/// Asks the CPU to load the cache line holding `*r` into all cache levels.
#[inline(always)]
pub fn prefetch<T: ?Sized>(r: &T) {
    prefetch_ptr((r as *const T).cast::<u8>());
}

/// Asks the CPU to load `lines` consecutive cache lines from `r` on.
#[inline(always)]
pub fn prefetch_lines<T: ?Sized>(r: &T, lines: usize) {
    let p = (r as *const T).cast::<u8>();
    for i in 0..lines {
        prefetch_ptr(p.wrapping_add(64 * i));
    }
}

#[inline(always)]
fn prefetch_ptr(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        #[allow(unsafe_code)]
        // SAFETY: PREFETCHT0 is a hint: it never faults and has no architectural effect,
        // for any address (SSE, which every x86-64 CPU has).
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
