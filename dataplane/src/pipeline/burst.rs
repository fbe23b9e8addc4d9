//! Burst processing: a vector of packets through encap or decap, VPP style.
//!
//! Per-SA packet and byte counts are summed in locals and written to the SA only when the
//! SA changes from one packet to the next and at the end of the burst (bursts are mostly
//! one or a few SAs, so this saves the per-packet stores). Drops and events go to the
//! worker's [`Counters`]: every refusal is counted here exactly once, so the caller must not
//! count it again. The per-packet outcome goes to `on_result`, a generic closure (inlined,
//! no indirect call), where the gateway routes, punts or frees the buffer.

use super::decap::decap_one;
use super::encap::encap_one;
use super::{DecapDrop, Decapped, SaAccum, SaLookup};
use crate::buf::PacketBuf;
use crate::drops::{Counters, DropReason, Event};
use crate::sa::Sa;

/// Decapsulates every packet of `pkts`. Counts drops, `decrypted` and `natt_keepalive`;
/// `punted` is the caller's to count when it actually enqueues a [`Decapped::NonEsp`]
/// packet for the control core (a full punt ring is a tail drop instead).
pub fn decap_burst<'a, B, L, F>(
    pkts: &mut [B],
    sas: &'a L,
    now: u64,
    counters: &Counters,
    mut on_result: F,
) where
    B: PacketBuf,
    L: SaLookup + ?Sized,
    F: FnMut(usize, &mut B, Result<Decapped<'a>, DecapDrop>),
{
    let mut acc = SaAccum::new();
    let (mut decrypted, mut keepalives) = (0u64, 0u64);
    for (i, pkt) in pkts.iter_mut().enumerate() {
        let r = decap_one(
            pkt,
            |spi| sas.lookup(spi),
            now,
            &mut acc,
            |p| p == crate::wire::udp::NATT_PORT,
        );
        match &r {
            Ok(Decapped::Inner { .. }) => decrypted += 1,
            Ok(Decapped::NattKeepalive) => keepalives += 1,
            Ok(Decapped::NonEsp | Decapped::NotEsp) => {}
            Err(d) => counters.count_drop(d.reason),
        }
        on_result(i, pkt, r);
    }
    acc.flush();
    if decrypted != 0 {
        counters.add_events(Event::Decrypted, decrypted);
    }
    if keepalives != 0 {
        counters.add_events(Event::NattKeepalive, keepalives);
    }
}

/// Encapsulates `pkts[i]` with `sas[i]` (the outbound SA routing chose for it); extra
/// entries of the longer slice are ignored. Counts drops and `encrypted`.
pub fn encap_burst<B, F>(
    pkts: &mut [B],
    sas: &[&Sa],
    now: u64,
    counters: &Counters,
    mut on_result: F,
) where
    B: PacketBuf,
    F: FnMut(usize, &mut B, Result<(), DropReason>),
{
    let mut acc = SaAccum::new();
    let mut encrypted = 0u64;
    for (i, (pkt, sa)) in pkts.iter_mut().zip(sas.iter()).enumerate() {
        let r = encap_one(pkt, sa, now, &mut acc);
        match r {
            Ok(()) => encrypted += 1,
            Err(reason) => counters.count_drop(reason),
        }
        on_result(i, pkt, r);
    }
    acc.flush();
    if encrypted != 0 {
        counters.add_events(Event::Encrypted, encrypted);
    }
}
