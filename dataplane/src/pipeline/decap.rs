//! Decapsulation: outer IPv4/IPv6 packet in, inner packet out.
//!
//! The checks run in this order, each refusal being exactly one drop reason:
//!
//! 1. outer IP header parses (`IN_PKT_IPVER_INVALID`), IPv4 checksum
//!    (`BadIpChecksum`), not a fragment (`IN_V4_PKT_FRAG_ERR`; an IPv6 Fragment header
//!    counts the same: the QFP's table has no IPv6 fragment row), no other IPv6 extension header (not walked yet:
//!    `IN_PKT_IPVER_INVALID`, never misread as ESP);
//! 2. protocol 50, or UDP to port 4500 (the gateway adds the ports its tunnels' NAT-T
//!    uses) demultiplexed per RFC 3948: NAT-keepalive
//!    (consumed, not a drop), non-ESP marker (IKE: punted), else ESP
//!    (`IN_NAT_DEMUX_FAIL` if too short to be one); anything else is returned untouched as
//!    [`Decapped::NotEsp`];
//! 3. ESP long enough for header, IV, trailer and ICV (`IN_PKT_HEADPAD_LEN_ERR`);
//! 4. SA lookup by SPI (`IN_US_V4/V6_PKT_SA_NOT_FOUND_SPI`, with the punt event);
//! 5. SA state: inbound and valid (`IN_V4/V6_PKT_HIT_INVALID_SA`), lifetime
//!    (`IN_CD_SW_IPSEC_HARD_EXPIRY`);
//! 6. anti-replay check and ESN inference (`IN_OCT_ANTI_REPLAY_FAIL`,
//!    `CD_IN_PKT_OUT_OF_WINDOW`), reading only;
//! 7. ICV verified in constant time, then decryption in place
//!    (`IN_CD_SW_IPSEC_MAC_EXCEPTION`); the window advances only now;
//! 8. trailer: pad length and padding bytes (`IN_PKT_HEADPAD_LEN_ERR`);
//! 9. Next Header 4 or 41 and an inner header of that version that parses
//!    (`IN_CD_SW_IPSEC_NH_MISMATCH`; a dummy packet, NH 59, lands here too), and an
//!    inner IPv4 header checksum that is right (`BadIpChecksum`: RFC 1812 5.2.2);
//! 10. post-input policy: inner *source* inside the tunnel's selectors
//!     (`IN_V4/V6_POST_INPUT_POLICY_FAIL`; see `selector` for why the source);
//! 11. RFC 6040 ECN: a CE mark on the outer header is carried to an ECN-capable inner one;
//! 12. strip everything but the inner packet (any TFC padding after it included).
//!
//! The outer UDP checksum is not checked: RFC 3948 senders set it to 0 and the ICV covers
//! the ESP packet anyway. The outer destination is not checked against the SA either: the
//! SPI identifies the SA (RFC 4301 section 4.1), and a NAT may change the source.

use super::{DecapDrop, Decapped, InvalidSpi, SaAccum, SaLookup};
use crate::buf::PacketBuf;
use crate::crypto::Aad;
use crate::drops::DropReason;
use crate::replay::ReplayError;
use crate::sa::{Sa, SaDirection};
use crate::wire::udp::{NattPayload, natt_classify};
use crate::wire::{IpVersion, esp, ip_proto, ipv4, ipv6, udp};
use core::net::IpAddr;

/// Decapsulates the ESP packet in `pkt` (starting at its outer IP header) with the SA that
/// `sas` finds for its SPI.
///
/// On `Ok(Decapped::Inner { .. })` the buffer holds exactly the inner packet; on the other
/// `Ok` variants and on every error the buffer is unchanged, except after a failed trailer,
/// next-header or policy check, where it holds the (authenticated) plaintext in place. The
/// caller counts the error (or use [`decap_burst`](super::decap_burst), which counts).
pub fn decap<'a, B, L>(pkt: &mut B, sas: &'a L, now: u64) -> Result<Decapped<'a>, DecapDrop>
where
    B: PacketBuf,
    L: SaLookup + ?Sized,
{
    let mut acc = SaAccum::new();
    decap_one(pkt, |spi| sas.lookup(spi), now, &mut acc, |p| p == udp::NATT_PORT)
}

fn not_found(v: IpVersion) -> DropReason {
    match v {
        IpVersion::V4 => DropReason::SaNotFoundV4,
        IpVersion::V6 => DropReason::SaNotFoundV6,
    }
}

fn hit_invalid(v: IpVersion) -> DropReason {
    match v {
        IpVersion::V4 => DropReason::HitInvalidSaV4,
        IpVersion::V6 => DropReason::HitInvalidSaV6,
    }
}

/// The invalid-SPI event, read from the still untouched outer header.
#[cold]
fn invalid_spi_event(data: &[u8], v: IpVersion, spi: u32, udp_encap: bool) -> InvalidSpi {
    let (src, dst) = match v {
        IpVersion::V4 => {
            let p = ipv4::Packet::new_unchecked(data);
            (IpAddr::V4(p.src_addr()), IpAddr::V4(p.dst_addr()))
        }
        IpVersion::V6 => {
            let p = ipv6::Packet::new_unchecked(data);
            (IpAddr::V6(p.src_addr()), IpAddr::V6(p.dst_addr()))
        }
    };
    InvalidSpi { src, dst, spi, udp_encap }
}

/// RFC 6040 section 4.2, normal mode, for an outer ECN field `outer` and inner `inner`:
/// the inner ECN to write, or `None` to leave it. Outer CE over a Not-ECT inner packet is
/// the one case the RFC drops; qfp has no drop reason for it and forwards the packet
/// unmarked instead (what the inner endpoints would see without the tunnel).
const fn ecn_decap(outer: u8, inner: u8) -> Option<u8> {
    const ECT1: u8 = 0b01;
    const ECT0: u8 = 0b10;
    const CE: u8 = 0b11;
    match (outer, inner) {
        (CE, ECT0 | ECT1) => Some(CE),
        (ECT1, ECT0) => Some(ECT1),
        // Not-ECT inner (CE outer included, see above), CE inner, or nothing to add.
        _ => None,
    }
}

/// [`decap`] with a burst accumulator, the SA lookup as a closure (the gateway has already
/// looked the SPI up for its owner check), and the set of UDP ports that carry ESP for us
/// (`is_natt_port`: 4500, and any other port a tunnel's NAT-T uses).
#[inline(always)]
pub(crate) fn decap_one<'a, B, F, N>(
    pkt: &mut B,
    lookup: F,
    now: u64,
    acc: &mut SaAccum<'a>,
    is_natt_port: N,
) -> Result<Decapped<'a>, DecapDrop>
where
    B: PacketBuf,
    F: FnOnce(u32) -> Option<&'a Sa>,
    N: Fn(u16) -> bool,
{
    let checksum_done = pkt.ip_checksum_verified();
    let data = pkt.data();

    // 1. Outer IP header.
    let version = IpVersion::of_packet(data).ok_or(DropReason::IpVersion)?;
    let (ip_hlen, ip_end, proto, outer_ecn) = match version {
        IpVersion::V4 => {
            let p = ipv4::Packet::new_checked(data).map_err(|_| DropReason::IpVersion)?;
            if !checksum_done && !p.verify_checksum() {
                return Err(DropReason::BadIpChecksum.into());
            }
            if p.is_fragment() {
                return Err(DropReason::FragV4.into());
            }
            (p.header_len(), usize::from(p.total_len()), p.protocol(), p.ecn())
        }
        IpVersion::V6 => {
            let p = ipv6::Packet::new_checked(data).map_err(|_| DropReason::IpVersion)?;
            let nh = p.next_header();
            if nh == ip_proto::IPV6_FRAG {
                return Err(DropReason::FragV4.into());
            }
            if ipv6::is_extension_header(nh) {
                return Err(DropReason::IpVersion.into());
            }
            (ipv6::HEADER_LEN, p.total_len(), nh, p.ecn())
        }
    };

    // 2. ESP or ESP-in-UDP.
    let (esp_off, esp_end, udp_encap) = match proto {
        ip_proto::ESP => (ip_hlen, ip_end, false),
        ip_proto::UDP => {
            let l4 = &data[ip_hlen..ip_end];
            if l4.len() < 4 || !is_natt_port(u16::from_be_bytes([l4[2], l4[3]])) {
                return Ok(Decapped::NotEsp);
            }
            let u = udp::Packet::new_checked(l4).map_err(|_| DropReason::NatDemux)?;
            match natt_classify(u.payload()) {
                NattPayload::Keepalive => return Ok(Decapped::NattKeepalive),
                NattPayload::NonEsp => return Ok(Decapped::NonEsp),
                NattPayload::Malformed => return Err(DropReason::NatDemux.into()),
                NattPayload::Esp => {
                    (ip_hlen + udp::HEADER_LEN, ip_hlen + usize::from(u.len()), true)
                }
            }
        }
        _ => return Ok(Decapped::NotEsp),
    };

    // 3. Long enough to hold header, IV, an empty payload's trailer and the ICV.
    let esp_pkt = &data[esp_off..esp_end];
    if esp_pkt.len() < esp::MIN_LEN {
        return Err(DropReason::HeadPadLen.into());
    }
    let hdr = esp::Packet::new_unchecked(esp_pkt);
    let (spi, seq_lo) = (hdr.spi(), hdr.seq());

    // 4. SA.
    let Some(sa) = lookup(spi) else {
        return Err(DecapDrop {
            reason: not_found(version),
            invalid_spi: Some(invalid_spi_event(data, version, spi, udp_encap)),
        });
    };

    // 5. SA state.
    if sa.direction() != SaDirection::Inbound || !sa.is_valid() {
        return Err(hit_invalid(version).into());
    }
    let (pending_packets, pending_bytes) = acc.pending(sa);
    if sa.check_lifetime(now, pending_packets, pending_bytes) {
        return Err(DropReason::InHardExpiry.into());
    }

    // 6. Replay window (read only) and the full sequence number.
    let seq = sa.window().check(seq_lo).map_err(|e| {
        sa.count_replay_failure();
        match e {
            ReplayError::Replayed => DropReason::AntiReplay,
            ReplayError::TooOld => DropReason::OutOfWindow,
        }
    })?;

    // 7. Verify, then decrypt in place.
    let mut iv = [0u8; esp::IV_LEN];
    iv.copy_from_slice(&esp_pkt[esp::HEADER_LEN..esp::HEADER_LEN + esp::IV_LEN]);
    let mut icv = [0u8; esp::ICV_LEN];
    icv.copy_from_slice(&esp_pkt[esp_pkt.len() - esp::ICV_LEN..]);
    let ct_start = esp_off + esp::HEADER_LEN + esp::IV_LEN;
    let ct_end = esp_end - esp::ICV_LEN;
    let aad = Aad::new(spi, seq, sa.esn());
    let buf = pkt.data_mut();
    let plaintext = &mut buf[ct_start..ct_end];
    if sa.aead().open(&iv, &aad, plaintext, &icv).is_err() {
        sa.count_verify_failure();
        return Err(DropReason::MacException.into());
    }
    sa.window().advance(seq);

    // 8. Trailer.
    let trailer = esp::Trailer::parse(plaintext).map_err(|_| DropReason::HeadPadLen)?;
    let payload_len = trailer.payload_len(plaintext.len());
    let inner = &mut plaintext[..payload_len];

    // 9-11. Inner header, policy, ECN.
    let (inner_version, inner_len) = match trailer.next_header {
        ip_proto::IPV4 => {
            let mut p =
                ipv4::Packet::new_checked(inner).map_err(|_| DropReason::NextHeaderMismatch)?;
            // The ICV proves who sent it, not that its header is sound: a router checks
            // the header checksum before forwarding (RFC 1812 5.2.2).
            if !p.verify_checksum() {
                return Err(DropReason::BadIpChecksum.into());
            }
            if !sa.selectors().contains_v4(p.src_bytes()) {
                return Err(DropReason::PolicyV4.into());
            }
            if let Some(e) = ecn_decap(outer_ecn, p.ecn()) {
                p.set_ecn_update_checksum(e);
            }
            (IpVersion::V4, usize::from(p.total_len()))
        }
        ip_proto::IPV6 => {
            let mut p =
                ipv6::Packet::new_checked(inner).map_err(|_| DropReason::NextHeaderMismatch)?;
            if !sa.selectors().contains_v6(p.src_bytes()) {
                return Err(DropReason::PolicyV6.into());
            }
            if let Some(e) = ecn_decap(outer_ecn, p.ecn()) {
                p.set_ecn(e);
            }
            (IpVersion::V6, p.total_len())
        }
        _ => return Err(DropReason::NextHeaderMismatch.into()),
    };

    // 12. Keep only the inner packet.
    let tail = pkt.len() - ct_start - inner_len;
    pkt.adj(ct_start).map_err(|_| DropReason::HeadPadLen)?;
    pkt.trim(tail).map_err(|_| DropReason::HeadPadLen)?;
    acc.add(sa, inner_len);
    Ok(Decapped::Inner { sa, version: inner_version, seq })
}

#[cfg(test)]
mod tests {
    use super::ecn_decap;

    #[test]
    fn rfc6040_decap_table() {
        // Rows: inner Not-ECT, ECT(0), ECT(1), CE; columns: outer the same.
        let table: [[Option<u8>; 4]; 4] = [
            [None, None, None, None],             // inner Not-ECT: never changed here
            [None, None, Some(0b01), Some(0b11)], // inner ECT(0)
            [None, None, None, Some(0b11)],       // inner ECT(1)
            [None, None, None, None],             // inner CE stays CE
        ];
        let code = [0b00u8, 0b10, 0b01, 0b11];
        for (i, row) in table.iter().enumerate() {
            for (o, want) in row.iter().enumerate() {
                assert_eq!(
                    ecn_decap(code[o], code[i]),
                    *want,
                    "outer {:02b} inner {:02b}",
                    code[o],
                    code[i]
                );
            }
        }
    }
}
