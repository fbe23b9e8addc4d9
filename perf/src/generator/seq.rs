//! Per-stream sequence accounting of the generator's receiver: every sequence number the
//! sender sent is, at the end, either received (once; later copies are duplicates) or
//! lost, and each loss is attributed to the moment the packet was *sent* (a timeline
//! bucket), so a benchmark can say when packets were lost.
//!
//! The receiver keeps a bitmap of the last [`WINDOW`] sequence numbers below the highest
//! one seen. A packet inside the window is new (counted received; *reordered* if a higher
//! number arrived before it) or a duplicate. When the window slides past a number that
//! never arrived, that number is lost. A packet older than the window is *late*: it was
//! already counted lost, and whether it is a first copy or a duplicate cannot be told, so
//! it stays lost (with a window of 2^20 packets this takes a reordering of a million
//! packets). A number the sender had not yet sent when it arrived is *unexpected* (a stale
//! packet of an earlier run, a replay) and ignored: the generator's sender and receiver run
//! in one thread, so a packet cannot legitimately arrive before it was sent.
//!
//! Invariant, checked by the tests: after [`SeqTracker::finish`]`(sent)`, `received + lost
//! == sent`, and the losses handed to the callback add up to `lost`.

/// Sequence numbers remembered below the highest one seen.
pub const WINDOW: u64 = 1 << 20;

/// Counts of one stream's receiver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SeqCounts {
    /// Distinct sequence numbers received.
    pub received: u64,
    /// Sequence numbers sent and never received (final only after `finish`).
    pub lost: u64,
    /// Received after a higher sequence number (included in `received`).
    pub reordered: u64,
    /// Copies of a sequence number already received (not in `received`).
    pub duplicated: u64,
    /// Arrived more than [`WINDOW`] behind the highest number: already counted lost.
    pub late: u64,
    /// Never sent (as far as this run knows): ignored.
    pub unexpected: u64,
}

/// What one arrival was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The first copy, in order.
    New,
    /// The first copy, after a higher number.
    Reordered,
    /// Another copy of a number already received.
    Duplicate,
    /// Older than the window: already counted lost.
    Late,
    /// Not sent yet: ignored.
    Unexpected,
}

impl Arrival {
    /// True for a first copy (counted received).
    pub fn is_new(self) -> bool {
        matches!(self, Arrival::New | Arrival::Reordered)
    }
}

/// The receiver state of one stream.
#[derive(Debug, Clone)]
pub struct SeqTracker {
    bits: Vec<u64>,
    /// One past the highest sequence number received (0: none yet).
    top: u64,
    counts: SeqCounts,
}

impl Default for SeqTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl SeqTracker {
    /// An empty tracker (allocates the 128 KiB window once).
    pub fn new() -> SeqTracker {
        SeqTracker { bits: vec![0; (WINDOW / 64) as usize], top: 0, counts: SeqCounts::default() }
    }

    /// The counts so far.
    pub fn counts(&self) -> SeqCounts {
        self.counts
    }

    /// Sequence numbers below the highest received that have not arrived (lost or still
    /// in flight): the live "lost so far".
    pub fn missing_so_far(&self) -> u64 {
        self.top - self.counts.received
    }

    #[inline]
    fn bit(&self, s: u64) -> bool {
        let i = s % WINDOW;
        self.bits[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    #[inline]
    fn set(&mut self, s: u64) {
        let i = s % WINDOW;
        self.bits[(i / 64) as usize] |= 1 << (i % 64);
    }

    #[inline]
    fn clear(&mut self, s: u64) {
        let i = s % WINDOW;
        self.bits[(i / 64) as usize] &= !(1 << (i % 64));
    }

    /// Slides the window so that its top is `new_top`, counting every number that leaves
    /// it unseen as lost (`lost(first, count)` for each run of consecutive losses).
    fn advance(&mut self, new_top: u64, lost: &mut impl FnMut(u64, u64)) {
        let old_top = self.top;
        let old_floor = old_top.saturating_sub(WINDOW);
        let new_floor = new_top.saturating_sub(WINDOW);
        // Numbers that were inside the old window and fall out of the new one.
        let leave_end = new_floor.min(old_top);
        let mut run: Option<(u64, u64)> = None;
        let mut flush = |run: &mut Option<(u64, u64)>, counts: &mut SeqCounts| {
            if let Some((first, n)) = run.take() {
                counts.lost += n;
                lost(first, n);
            }
        };
        let mut s = old_floor;
        while s < leave_end {
            if !self.bit(s) {
                match &mut run {
                    Some((first, n)) if *first + *n == s => *n += 1,
                    _ => {
                        flush(&mut run, &mut self.counts);
                        run = Some((s, 1));
                    }
                }
            }
            s += 1;
        }
        // Numbers never seen that are below the new window, between the old and new top.
        if new_floor > old_top {
            match &mut run {
                Some((first, n)) if *first + *n == old_top => *n += new_floor - old_top,
                _ => {
                    flush(&mut run, &mut self.counts);
                    run = Some((old_top, new_floor - old_top));
                }
            }
        }
        flush(&mut run, &mut self.counts);
        // Fresh slots for [max(old_top, new_floor), new_top).
        let fresh_from = old_top.max(new_floor);
        if new_top - fresh_from >= WINDOW {
            self.bits.fill(0);
        } else {
            for s in fresh_from..new_top {
                self.clear(s);
            }
        }
        self.top = new_top;
    }

    /// Records the arrival of `seq`; `sent` is how many the sender has sent so far (so
    /// `seq < sent` for a genuine packet). `lost(first, n)` is called for each run of `n`
    /// consecutive numbers from `first` that the window gives up on.
    #[inline]
    pub fn record(&mut self, seq: u64, sent: u64, lost: &mut impl FnMut(u64, u64)) -> Arrival {
        if seq >= sent {
            self.counts.unexpected += 1;
            return Arrival::Unexpected;
        }
        if seq >= self.top {
            self.advance(seq + 1, lost);
            self.set(seq);
            self.counts.received += 1;
            return Arrival::New;
        }
        if seq + WINDOW < self.top {
            self.counts.late += 1;
            return Arrival::Late;
        }
        if self.bit(seq) {
            self.counts.duplicated += 1;
            Arrival::Duplicate
        } else {
            self.set(seq);
            self.counts.received += 1;
            self.counts.reordered += 1;
            Arrival::Reordered
        }
    }

    /// Ends the run: everything below `sent` that did not arrive is lost.
    pub fn finish(&mut self, sent: u64, lost: &mut impl FnMut(u64, u64)) -> SeqCounts {
        let end = sent.max(self.top);
        // Sliding the window past `end` gives up on every number still in it.
        self.advance(end + WINDOW, &mut |first, n| {
            // Numbers at or beyond `sent` can only be in the window if they arrived as
            // unexpected, which were never recorded: nothing to clip in practice, but
            // stay exact.
            let stop = (first + n).min(sent);
            if first < stop {
                lost(first, stop - first);
            }
        });
        self.counts.lost = sent - self.counts.received;
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `arrivals` (all sent before they arrive: `sent` = `total`), returns the counts
    /// and the lost numbers as reported by the callback.
    fn run(total: u64, arrivals: &[u64]) -> (SeqCounts, Vec<u64>) {
        let mut t = SeqTracker::new();
        let mut lost = Vec::new();
        let mut cb = |first: u64, n: u64| lost.extend(first..first + n);
        for &s in arrivals {
            t.record(s, total, &mut cb);
        }
        let c = t.finish(total, &mut cb);
        lost.sort_unstable();
        assert_eq!(c.received + c.lost, total, "{c:?}");
        assert_eq!(lost.len() as u64, c.lost, "{c:?}");
        (c, lost)
    }

    #[test]
    fn in_order_nothing_lost() {
        let a: Vec<u64> = (0..1000).collect();
        let (c, lost) = run(1000, &a);
        assert_eq!(c, SeqCounts { received: 1000, ..Default::default() });
        assert!(lost.is_empty());
    }

    #[test]
    fn gaps_reorders_duplicates() {
        // 5 and 17 never arrive; 30 twice; 41 before 40; the tail 98, 99 is lost.
        let mut a: Vec<u64> = (0..98).filter(|&s| s != 5 && s != 17).collect();
        a.insert(30, 30);
        let i = a.iter().position(|&s| s == 40).unwrap();
        a.swap(i, i + 1);
        let (c, lost) = run(100, &a);
        assert_eq!(lost, vec![5, 17, 98, 99]);
        assert_eq!(
            c,
            SeqCounts { received: 96, lost: 4, reordered: 1, duplicated: 1, ..Default::default() }
        );
    }

    #[test]
    fn nothing_received_everything_lost_in_one_run() {
        let mut runs = Vec::new();
        let mut t = SeqTracker::new();
        let c = t.finish(12345, &mut |f, n| runs.push((f, n)));
        assert_eq!((c.received, c.lost), (0, 12345));
        assert_eq!(runs, vec![(0, 12345)]);
    }

    #[test]
    fn unexpected_numbers_are_ignored() {
        let mut t = SeqTracker::new();
        let mut cb = |_: u64, _: u64| {};
        t.record(0, 1, &mut cb);
        assert_eq!(t.record(5, 1, &mut cb), Arrival::Unexpected); // not sent yet
        t.record(1, 2, &mut cb);
        let c = t.finish(2, &mut cb);
        assert_eq!((c.received, c.lost, c.unexpected), (2, 0, 1));
    }

    #[test]
    fn window_slides_losses_out_as_they_go_and_late_packets_stay_lost() {
        let mut t = SeqTracker::new();
        let lost = std::cell::RefCell::new(Vec::new());
        let mut cb = |f: u64, n: u64| lost.borrow_mut().push((f, n));
        let total = 3 * WINDOW;
        t.record(0, total, &mut cb);
        t.record(WINDOW + 10, total, &mut cb);
        // 1..=10 left the window when WINDOW+10 arrived.
        assert_eq!(*lost.borrow(), vec![(1, 10)]);
        assert_eq!(t.counts().lost, 10);
        assert_eq!(t.record(3, total, &mut cb), Arrival::Late); // too old now
        assert_eq!(t.counts().late, 1);
        // Still inside: a reordered arrival, then a copy of it.
        assert_eq!(t.record(20, total, &mut cb), Arrival::Reordered);
        assert_eq!(t.counts().reordered, 1);
        assert_eq!(t.record(20, total, &mut cb), Arrival::Duplicate);
        assert_eq!(t.counts().duplicated, 1);
        let c = t.finish(total, &mut cb);
        assert_eq!(c.received, 3);
        assert_eq!(c.lost, total - 3);
        let sum: u64 = lost.borrow().iter().map(|&(_, n)| n).sum();
        assert_eq!(sum, total - 3);
    }

    #[test]
    fn a_huge_jump_costs_one_window_not_the_gap() {
        let mut t = SeqTracker::new();
        let lost = std::cell::RefCell::new(Vec::new());
        let mut cb = |f: u64, n: u64| lost.borrow_mut().push((f, n));
        let far = 1u64 << 40;
        t.record(0, far + 1, &mut cb);
        t.record(far, far + 1, &mut cb);
        assert_eq!(*lost.borrow(), vec![(1, far - WINDOW)]);
        let c = t.finish(far + 1, &mut cb);
        assert_eq!((c.received, c.lost), (2, far - 1));
    }

    #[test]
    fn random_arrivals_keep_the_books_balanced() {
        // A small deterministic PRNG (xorshift) to shuffle, drop and duplicate.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..20 {
            let total = 1000 + rnd() % 5000;
            let mut a: Vec<u64> = (0..total).filter(|_| rnd() % 10 != 0).collect();
            for _ in 0..total / 20 {
                let i = (rnd() % a.len() as u64) as usize;
                let j = (i + (rnd() % 8) as usize).min(a.len() - 1);
                a.swap(i, j);
            }
            let dups: Vec<u64> =
                (0..total / 50).map(|_| a[(rnd() % a.len() as u64) as usize]).collect();
            a.extend(dups);
            let distinct: std::collections::BTreeSet<u64> = a.iter().copied().collect();
            let (c, lost) = run(total, &a);
            assert_eq!(c.received, distinct.len() as u64, "round {round}");
            assert_eq!(c.duplicated, a.len() as u64 - distinct.len() as u64, "round {round}");
            let want: Vec<u64> = (0..total).filter(|s| !distinct.contains(s)).collect();
            assert_eq!(lost, want, "round {round}");
        }
    }
}
