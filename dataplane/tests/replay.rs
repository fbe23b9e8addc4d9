//! Anti-replay tables (RFC 4303 section 3.4.3, ESN appendix A): duplicates, too old, out of
//! order inside the window, every window size from 64 to 4096, the ESN wrap of the low 32
//! bits, a window straddling that wrap (through real ESP packets, where a wrongly inferred
//! high half fails the ICV), and advance-only-after-verify. A model-based property test
//! compares the bitmap with a set of seen numbers.

mod common;

use common::{Outer, Spec, craft_esp, inner_v4, seal_packet, with_trailer};
use dataplane::replay::{ReplayError, ReplayWindow};
use dataplane::{Decapped, DropReason, HeapBuf, PacketBuf, decap};
use proptest::prelude::*;
use std::collections::HashSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Accepted as this full sequence number (and then advanced).
    Ok(u64),
    /// Accepted by check, but the packet fails verification: no advance.
    OkNoAdvance(u64),
    Replay,
    Old,
}

fn run(w: &ReplayWindow, steps: &[(u32, Want)]) {
    for (i, &(lo, want)) in steps.iter().enumerate() {
        let got = w.check(lo);
        match want {
            Want::Ok(s) => {
                assert_eq!(got, Ok(s), "step {i}: seq {lo:#x}");
                w.advance(s);
            }
            Want::OkNoAdvance(s) => assert_eq!(got, Ok(s), "step {i}: seq {lo:#x}"),
            Want::Replay => assert_eq!(got, Err(ReplayError::Replayed), "step {i}: seq {lo:#x}"),
            Want::Old => assert_eq!(got, Err(ReplayError::TooOld), "step {i}: seq {lo:#x}"),
        }
    }
}

#[test]
fn table_without_esn() {
    use Want::*;
    let w = ReplayWindow::new(64, false, 0).unwrap();
    run(
        &w,
        &[
            (0, Old),
            (1, Ok(1)),
            (1, Replay),
            (3, Ok(3)),
            (2, Ok(2)),
            (2, Replay),
            (70, Ok(70)),
            (6, Old),
            (7, Ok(7)),
            (7, Replay),
            (69, Ok(69)),
            (70, Replay),
            (200, OkNoAdvance(200)),
            (150, Ok(150)),
            (71, Old),
            (86, Old),
            (87, Ok(87)),
            (u32::MAX, Ok(u64::from(u32::MAX))),
            (u32::MAX, Replay),
            (u32::MAX - 63, Ok(u64::from(u32::MAX) - 63)),
            (u32::MAX - 64, Old),
            (1, Old),
        ],
    );
}

#[test]
fn every_window_size_from_64_to_4096() {
    let mut size = 64u32;
    while size <= 4096 {
        let w = ReplayWindow::new(size, false, 0).unwrap();
        let top = 3 * size + 17;
        w.advance(u64::from(top));
        let oldest = top - size + 1;
        // Out of order inside the window: every number, newest first, accepted once.
        for s in (oldest..top).rev() {
            assert_eq!(w.check(s), Ok(u64::from(s)), "size {size} seq {s}");
            w.advance(u64::from(s));
        }
        for s in oldest..=top {
            assert_eq!(w.check(s), Err(ReplayError::Replayed), "size {size} seq {s}");
        }
        assert_eq!(w.check(oldest - 1), Err(ReplayError::TooOld), "size {size}");
        // Slide by exactly one: the oldest falls out, the next is still remembered.
        w.advance(u64::from(top + 1));
        assert_eq!(w.check(oldest), Err(ReplayError::TooOld), "size {size}");
        assert_eq!(w.check(oldest + 1), Err(ReplayError::Replayed), "size {size}");
        // A jump far beyond the ring: nothing old is remembered, everything in the new
        // window is fresh.
        let far = top + 10 * size;
        w.advance(u64::from(far));
        for s in far - size + 1..far {
            assert_eq!(w.check(s), Ok(u64::from(s)), "size {size} seq {s} after jump");
        }
        assert_eq!(w.check(far - size), Err(ReplayError::TooOld));
        size *= 2;
    }
}

#[test]
fn esn_wrap_of_the_low_half() {
    use Want::*;
    let hi = 5u64 << 32;
    let w = ReplayWindow::new(64, true, hi | 0xffff_fff0).unwrap();
    run(
        &w,
        &[
            (0xffff_fff5, Ok(hi | 0xffff_fff5)),
            (0xffff_fff5, Replay),
            // Low half wraps: the next sub-space.
            (0x0000_0003, Ok((6 << 32) | 3)),
            (0x0000_0000, Ok(6 << 32)),
            // Window now straddles the wrap: numbers just below 2^32 belong to sub-space 5.
            (0xffff_fff8, Ok(hi | 0xffff_fff8)),
            (0xffff_fff5, Replay),
            (0xffff_ffc4, Ok(hi | 0xffff_ffc4)),
            (0xffff_ffc3, OkNoAdvance((6 << 32) | 0xffff_ffc3)),
            (0x0000_0003, Replay),
            (0x0000_0002, Ok((6 << 32) | 2)),
            // Leaving the straddle: top moves far into sub-space 6.
            (0x0000_1000, Ok((6 << 32) | 0x1000)),
            (0xffff_fff9, OkNoAdvance((6 << 32) | 0xffff_fff9)),
            (0x0000_0fc0, OkNoAdvance((7 << 32) | 0x0fc0)),
            (0x0000_0fc1, Ok((6 << 32) | 0x0fc1)),
        ],
    );
    // A new ESN SA: a low half just below 2^32 would mean sub-space -1.
    let fresh = ReplayWindow::new(64, true, 0).unwrap();
    assert_eq!(fresh.check(0xffff_ffff), Err(ReplayError::TooOld));
    assert_eq!(fresh.check(1), Result::Ok(1));
    // The very last sub-space: a "next" one does not exist.
    let last = ReplayWindow::new(64, true, u64::MAX - 10).unwrap();
    assert_eq!(last.check(5), Err(ReplayError::TooOld), "sub-space 2^32 does not exist");
    assert_eq!(last.check(0xffff_fff0), Result::Ok(u64::MAX - 15));
    assert_eq!(last.check(0xffff_ffff), Result::Ok(u64::MAX));
}

#[test]
fn window_off_accepts_everything_but_still_infers_esn() {
    let w = ReplayWindow::new(0, true, (2 << 32) | 0xffff_fff0).unwrap();
    assert_eq!(w.check(5), Ok((3 << 32) | 5));
    w.advance((3 << 32) | 5);
    assert_eq!(w.check(5), Ok((3 << 32) | 5), "no replay check");
    assert_eq!(w.check(0xffff_fff0), Ok((2 << 32) | 0xffff_fff0), "nearest to top");
    let plain = ReplayWindow::new(0, false, 0).unwrap();
    assert_eq!(plain.check(0), Ok(0));
}

/// ESN across the wrap with real packets, delivered out of order: the receiver must infer
/// the right high half for every one, or the ICV (which covers it) fails.
#[test]
fn esp_packets_straddling_the_esn_wrap() {
    let spec = Spec { initial_seq: 0xffff_ffe0, ..Spec::new(16, true, Outer::V4, false) };
    let out = spec.outbound();
    let inb = Spec { initial_seq: 0xffff_ffd0, window: 64, ..spec.clone() }.inbound();
    let inners: Vec<Vec<u8>> = (0..64).map(|i| inner_v4(60 + i, 0, true, i as u8)).collect();
    let pkts: Vec<Vec<u8>> = inners.iter().map(|p| seal_packet(&out, p)).collect();
    // Sequence numbers 2^32-31 ..= 2^32+32: low halves wrap after the 31st packet.
    assert_eq!(&pkts[30][24..28], &[0xff; 4]);
    assert_eq!(&pkts[31][24..28], &[0, 0, 0, 0]);
    // A delivery order that mixes both sides of the wrap: 8 new ones, then older ones.
    let mut order: Vec<usize> = Vec::new();
    for chunk in (0..64).collect::<Vec<_>>().chunks(8) {
        order.extend(chunk.iter().rev());
    }
    order.swap(20, 40);
    let sas = [inb];
    for &i in &order {
        let mut b = HeapBuf::new(&pkts[i]);
        match decap(&mut b, &sas[..], 1) {
            Ok(Decapped::Inner { seq, .. }) => {
                assert_eq!(seq, 0xffff_ffe1 + i as u64, "packet {i}")
            }
            other => panic!("packet {i}: {other:?}"),
        }
        assert_eq!(b.data(), &inners[i][..]);
    }
    for (i, p) in pkts.iter().enumerate() {
        let mut b = HeapBuf::new(p);
        let e = decap(&mut b, &sas[..], 1).unwrap_err();
        assert_eq!(e.reason, DropReason::AntiReplay, "packet {i} again");
    }
    assert_eq!(sas[0].stats().seq, 0x1_0000_0020);
}

/// A forged packet with a huge sequence number must not move the window.
#[test]
fn window_advances_only_after_the_icv_verified() {
    let spec = Spec { window: 64, ..Spec::new(16, false, Outer::V4, false) };
    let out = spec.outbound();
    let sas = [spec.inbound()];
    let inner = inner_v4(60, 0, true, 0);
    let pkts: Vec<Vec<u8>> = (0..10).map(|_| seal_packet(&out, &inner)).collect();
    for p in &pkts[1..] {
        let mut b = HeapBuf::new(p);
        decap(&mut b, &sas[..], 1).unwrap();
    }
    // A forgery: right SPI, sequence far ahead, wrong key.
    let forger = Spec { key: vec![0x42; 16], ..spec.clone() };
    let forged = craft_esp(&forger, 1_000_000, &with_trailer(&inner, 4));
    let mut b = HeapBuf::new(&forged);
    assert_eq!(decap(&mut b, &sas[..], 1).unwrap_err().reason, DropReason::MacException);
    assert_eq!(b.data(), &forged[..], "nothing decrypted");
    assert_eq!(sas[0].stats().seq, 10, "window did not move");
    assert_eq!(sas[0].stats().verify_failed, 1);
    // Packet 1, delayed, is still inside the window and decrypts.
    let mut b = HeapBuf::new(&pkts[0]);
    assert!(matches!(decap(&mut b, &sas[..], 1), Ok(Decapped::Inner { seq: 1, .. })));
    // A tampered copy of a packet not yet seen fails without marking it seen.
    let next = seal_packet(&out, &inner);
    let mut t = next.clone();
    let n = t.len();
    t[n - 1] ^= 1;
    let mut b = HeapBuf::new(&t);
    assert_eq!(decap(&mut b, &sas[..], 1).unwrap_err().reason, DropReason::MacException);
    let mut b = HeapBuf::new(&next);
    assert!(matches!(decap(&mut b, &sas[..], 1), Ok(Decapped::Inner { seq: 11, .. })));
}

proptest! {
    /// The ring bitmap against a model: a set of every accepted number and the top.
    #[test]
    fn bitmap_matches_a_model(size_log in 6u32..=12, ops in proptest::collection::vec((0u64..6000, any::<bool>()), 1..400)) {
        let size = 1u32 << size_log;
        let w = ReplayWindow::new(size, false, 0).unwrap();
        let mut seen = HashSet::new();
        let mut top = 0u64;
        for (s, verified) in ops {
            let want = if s == 0 {
                Err(ReplayError::TooOld)
            } else if s > top {
                Ok(s)
            } else if top - s >= u64::from(size) {
                Err(ReplayError::TooOld)
            } else if seen.contains(&s) {
                Err(ReplayError::Replayed)
            } else {
                Ok(s)
            };
            prop_assert_eq!(w.check(s as u32), want);
            if want.is_ok() && verified {
                w.advance(s);
                seen.insert(s);
                top = top.max(s);
            }
        }
    }
}
