//! Inbound anti-replay (RFC 4303 section 3.4.3) with a ring bitmap (RFC 6479) and Extended
//! Sequence Number inference (RFC 4303 appendix A).
//!
//! The order is fixed and it matters: [`ReplayWindow::check`] before decryption (cheap,
//! rejects duplicates and stale packets without spending AES on them, and infers the high
//! half of an ESN), [`ReplayWindow::advance`] only after the ICV verified. Advancing on an
//! unverified packet would let a forger slide the window forward with one fake high
//! sequence number and make every genuine packet look too old.
//!
//! The window accepts a sequence number `s` when `s > top` (new highest) or
//! `top - s < size` and `s` has not been seen, where `top` is the highest authenticated
//! sequence number. The bitmap is a ring of 64-bit words, at least one word longer than the
//! window and a power of two, so that sliding forward clears whole words and indexing is a
//! mask. A window of size 0 turns the checks off (for pcap replay); ESN inference then still
//! tracks `top`, using half the 32-bit space as its window.
//!
//! **Single writer.** The state lives in atomics used only as relaxed `load` and `store`
//! (never read-modify-write: plain `mov`s on x86), written by the one worker that owns the
//! inbound SA and read by anyone (the control core's `show sa`). That makes the SA `Sync`
//! in safe Rust at no cost on the fast path. Two threads calling `advance` on the same
//! window would lose updates: the SA ownership rule (design.md section 6) forbids it.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Default window size (design.md section 4).
pub const DEFAULT_WINDOW: u32 = 1024;
/// Smallest non-zero window.
pub const MIN_WINDOW: u32 = 32;
/// Largest window.
pub const MAX_WINDOW: u32 = 65536;

/// Why [`ReplayWindow::check`] refused a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// Already seen inside the window (`IN_OCT_ANTI_REPLAY_FAIL`).
    Replayed,
    /// Left of the window, or a number no sender could have used
    /// (`CD_IN_PKT_OUT_OF_WINDOW`).
    TooOld,
}

/// A window size that is neither 0 nor a power of two in `MIN_WINDOW..=MAX_WINDOW`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidWindowSize(pub u32);

impl core::fmt::Display for InvalidWindowSize {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "replay window {} (must be 0 or a power of two from {MIN_WINDOW} to {MAX_WINDOW})",
            self.0
        )
    }
}

impl std::error::Error for InvalidWindowSize {}

/// The anti-replay state of one inbound SA.
#[derive(Debug)]
pub struct ReplayWindow {
    size: u32,
    esn: bool,
    /// Highest authenticated sequence number (64 bits with ESN). Single writer: the owner.
    top: AtomicU64,
    /// Ring bitmap; bit `s & (64 * len - 1)` is sequence `s`. Single writer: the owner.
    bits: Box<[AtomicU64]>,
}

impl ReplayWindow {
    /// A window of `size` (0 = off) for an SA with or without ESN. `top` is the highest
    /// sequence number already accepted: 0 for a new SA; tests and SA migration set others.
    /// Allocates the bitmap (never on the fast path: SAs are built by the control core).
    pub fn new(size: u32, esn: bool, top: u64) -> Result<ReplayWindow, InvalidWindowSize> {
        if size != 0 && (!size.is_power_of_two() || !(MIN_WINDOW..=MAX_WINDOW).contains(&size)) {
            return Err(InvalidWindowSize(size));
        }
        let words = if size == 0 { 0 } else { (size as usize / 64 + 1).next_power_of_two().max(2) };
        let bits = (0..words).map(|_| AtomicU64::new(0)).collect();
        let top = if esn { top } else { top & u64::from(u32::MAX) };
        Ok(ReplayWindow { size, esn, top: AtomicU64::new(top), bits })
    }

    /// Prefetches the bitmap word of the window's top (a hint: in-order packets land there).
    #[inline]
    pub fn prefetch(&self) {
        if !self.bits.is_empty() {
            let (w, _) = self.bit(self.top.load(Relaxed));
            qfp_simd::hint::prefetch(&self.bits[w]);
        }
    }

    /// Window size (0 = anti-replay off).
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The highest authenticated sequence number so far.
    pub fn top(&self) -> u64 {
        self.top.load(Relaxed)
    }

    /// The full sequence number for a received low half, by RFC 4303 appendix A: assume
    /// the packet is inside the window, or new, as seen from `top`. `None` when that would
    /// put it before sequence 0 or after 2^64 - 1.
    fn infer(&self, top: u64, seq_lo: u32) -> Option<u64> {
        if !self.esn {
            return Some(u64::from(seq_lo));
        }
        // With the checks off, inference still needs a window: half the 32-bit space picks
        // the high half that puts the packet nearest to `top`.
        let w = if self.size == 0 { 1u64 << 31 } else { u64::from(self.size) };
        let th = top >> 32;
        let tl = top & 0xffff_ffff;
        let s = u64::from(seq_lo);
        let hi = if tl >= w - 1 {
            // Window [tl - w + 1, tl] lies inside sub-space th.
            if s >= tl - (w - 1) { th } else { th + 1 }
        } else {
            // Window straddles the wrap: its bottom is in sub-space th - 1.
            if s >= tl + (1 << 32) - (w - 1) { th.checked_sub(1)? } else { th }
        };
        if hi > u64::from(u32::MAX) {
            return None;
        }
        Some(hi << 32 | s)
    }

    fn bit(&self, seq: u64) -> (usize, u64) {
        let mask = self.bits.len() * 64 - 1;
        let i = (seq as usize) & mask;
        (i / 64, 1u64 << (i % 64))
    }

    /// Before decryption: infers the full sequence number and refuses duplicates and
    /// packets left of the window. Reads only.
    pub fn check(&self, seq_lo: u32) -> Result<u64, ReplayError> {
        let top = self.top.load(Relaxed);
        let seq = self.infer(top, seq_lo).ok_or(ReplayError::TooOld)?;
        if self.size == 0 {
            return Ok(seq);
        }
        // Sequence 0 is never sent (the first packet of an SA is 1): always refuse it.
        if seq == 0 {
            return Err(ReplayError::TooOld);
        }
        if seq > top {
            return Ok(seq);
        }
        if top - seq >= u64::from(self.size) {
            return Err(ReplayError::TooOld);
        }
        let (w, b) = self.bit(seq);
        if self.bits[w].load(Relaxed) & b != 0 {
            return Err(ReplayError::Replayed);
        }
        Ok(seq)
    }

    /// After the ICV verified: records `seq` (as returned by `check`) and slides the window
    /// if it is the new highest. Owner worker only.
    pub fn advance(&self, seq: u64) {
        let top = self.top.load(Relaxed);
        if self.size == 0 {
            if seq > top {
                self.top.store(seq, Relaxed);
            }
            return;
        }
        if seq > top {
            // Clear the words between the old top's word and the new one's: they hold bits
            // from a lap ago, all left of the new window since the ring is at least one
            // word longer than the window.
            let words = self.bits.len() as u64;
            let (old_w, new_w) = (top / 64, seq / 64);
            let n = (new_w - old_w).min(words);
            for k in 1..=n {
                self.bits[((old_w + k) % words) as usize].store(0, Relaxed);
            }
            self.top.store(seq, Relaxed);
        }
        let (w, b) = self.bit(seq);
        let cur = self.bits[w].load(Relaxed);
        self.bits[w].store(cur | b, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        for ok in [0, 32, 64, 1024, 4096, 65536] {
            assert!(ReplayWindow::new(ok, false, 0).is_ok(), "{ok}");
        }
        for bad in [1, 16, 100, 1000, 131072] {
            assert_eq!(ReplayWindow::new(bad, false, 0).err(), Some(InvalidWindowSize(bad)));
        }
        assert_eq!(ReplayWindow::new(1024, false, 0).unwrap().bits.len(), 32);
        assert_eq!(ReplayWindow::new(64, false, 0).unwrap().bits.len(), 2);
    }

    #[test]
    fn basic_order() {
        let w = ReplayWindow::new(64, false, 0).unwrap();
        assert_eq!(w.check(0), Err(ReplayError::TooOld));
        assert_eq!(w.check(1), Ok(1));
        w.advance(1);
        assert_eq!(w.check(1), Err(ReplayError::Replayed));
        assert_eq!(w.check(100), Ok(100));
        w.advance(100);
        assert_eq!(w.check(36), Err(ReplayError::TooOld));
        assert_eq!(w.check(37), Ok(37));
        assert_eq!(w.check(99), Ok(99));
    }

    #[test]
    fn esn_inference_follows_appendix_a() {
        let w = ReplayWindow::new(64, true, 0x0000_0005_0000_1000).unwrap();
        assert_eq!(w.check(0x1001), Ok(0x5_0000_1001));
        assert_eq!(w.check(0x0fc1), Ok(0x5_0000_0fc1), "inside the window");
        // Below the window: taken as the next sub-space (RFC 4303 A2.2 case A).
        assert_eq!(w.check(0x0fc0), Ok(0x6_0000_0fc0));
        let s = ReplayWindow::new(64, true, 0x0000_0005_0000_0010).unwrap();
        assert_eq!(s.check(0xffff_fff0), Ok(0x4_ffff_fff0), "straddling: previous sub-space");
        assert_eq!(s.check(0xffff_ffd0), Ok(0x5_ffff_ffd0), "too far back: next sub-space");
        let z = ReplayWindow::new(64, true, 5).unwrap();
        assert_eq!(z.check(0xffff_fff0), Err(ReplayError::TooOld), "before sequence 0");
    }
}
