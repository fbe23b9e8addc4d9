//! Encapsulation: inner IPv4/IPv6 packet in, ESP tunnel-mode packet out (RFC 4303, RFC 4106,
//! and RFC 3948 when the tunnel uses NAT-T).
//!
//! Layout built in place around the inner packet:
//!
//! ```text
//! [outer IPv4/IPv6][UDP?][SPI|seq][IV = seq64][inner packet][1 2 3..][pad len][NH][ICV]
//!  ^-------------- prepended into headroom -------------^                ^-- appended --^
//! ```
//!
//! The outer header comes from the SA's precomputed template. Per packet: IPv4 Total
//! Length, ID (low 16 bits of the sequence number: unique among the last 65536 packets,
//! free, and irrelevant for the DF packets that dominate, RFC 6864), DF copied from the
//! inner IPv4 header (always set for inner IPv6, which routers may not fragment), TTL 64,
//! and the checksum from the template's partial sum; IPv6 Payload Length, hop limit 64 and
//! the SA's flow label. The whole TOS / Traffic Class byte is copied from the inner header:
//! DSCP, and ECN per RFC 6040 normal mode (copy, CE included). UDP checksum is 0 (RFC 3948
//! section 2.1).
//!
//! qfp does not fragment: an encapsulated packet above the tunnel MTU is dropped
//! (`OUT_CANNOT_FRAG_DF_SET_PKT` with DF, `OUT_INFRA_V4_PKT_LEN_TOO_BIG` without). A refused
//! packet is left exactly as it came, so the gateway can still answer it with an ICMP error
//! (`Sa::max_inner_len` is the MTU to announce).

use super::SaAccum;
use crate::buf::PacketBuf;
use crate::crypto::Aad;
use crate::drops::DropReason;
use crate::sa::{Sa, SaDirection};
use crate::wire::{IpVersion, checksum, esp, ipv4, ipv6, udp};

/// Encapsulates the inner IP packet in `pkt` with the outbound SA `sa`.
///
/// On success the buffer holds the outer packet, ready for an Ethernet header. On error the
/// buffer is unchanged and the reason says why; the caller counts it (or use
/// [`encap_burst`](super::encap_burst), which counts).
pub fn encap<B: PacketBuf>(pkt: &mut B, sa: &Sa, now: u64) -> Result<(), DropReason> {
    let mut acc = SaAccum::new();
    encap_one(pkt, sa, now, &mut acc)
}

fn invalid_sa(v: IpVersion) -> DropReason {
    match v {
        IpVersion::V4 => DropReason::OutHitInvalidSaV4,
        IpVersion::V6 => DropReason::OutHitInvalidSaV6,
    }
}

#[inline(always)]
pub(crate) fn encap_one<'a, B: PacketBuf>(
    pkt: &mut B,
    sa: &'a Sa,
    now: u64,
    acc: &mut SaAccum<'a>,
) -> Result<(), DropReason> {
    // The inner header: family, true length (the buffer may carry Ethernet padding), TOS, DF.
    let data = pkt.data();
    let (version, inner_len, tos, df) = match IpVersion::of_packet(data) {
        Some(IpVersion::V4) => {
            let p = ipv4::Packet::new_checked(data).map_err(|_| DropReason::UnknownL2)?;
            (IpVersion::V4, usize::from(p.total_len()), p.tos(), p.dont_frag())
        }
        Some(IpVersion::V6) => {
            let p = ipv6::Packet::new_checked(data).map_err(|_| DropReason::UnknownL2)?;
            (IpVersion::V6, p.total_len(), p.traffic_class(), true)
        }
        None => return Err(DropReason::UnknownL2),
    };

    // May this SA still encrypt?
    if sa.direction() != SaDirection::Outbound || !sa.is_valid() {
        return Err(invalid_sa(version));
    }
    let (pending_packets, pending_bytes) = acc.pending(sa);
    if sa.check_lifetime(now, pending_packets, pending_bytes) {
        return Err(DropReason::OutHardExpiry);
    }
    let seq = sa.peek_next_seq().ok_or(DropReason::SeqOverflow)?;

    // Sizes, MTU and room, all before touching the buffer.
    let outer = &sa.outer;
    let pad = esp::pad_len_for(inner_len);
    let head = outer.len + esp::HEADER_LEN + esp::IV_LEN;
    let body = inner_len + pad + esp::TRAILER_LEN;
    let tail = pad + esp::TRAILER_LEN + esp::ICV_LEN;
    let total = head + body + esp::ICV_LEN;
    if total > usize::from(sa.tunnel().mtu) {
        return Err(if df { DropReason::CannotFragDf } else { DropReason::LenTooBig });
    }
    let extra = pkt.len() - inner_len;
    if pkt.headroom() < head || pkt.tailroom() + extra < tail {
        return Err(DropReason::NoBuffer);
    }
    pkt.trim(extra).map_err(|_| DropReason::NoBuffer)?;
    pkt.prepend(head).map_err(|_| DropReason::NoBuffer)?;
    pkt.append(tail).map_err(|_| DropReason::NoBuffer)?;
    sa.commit_seq(seq);

    let buf = pkt.data_mut();
    let (hdr, rest) = buf.split_at_mut(head);

    // Outer IP (+ UDP) header from the template.
    hdr[..outer.len].copy_from_slice(&outer.bytes[..outer.len]);
    match sa.tunnel().endpoints.version() {
        IpVersion::V4 => {
            let ident = seq as u16;
            let flags: u16 = if df { 0x4000 } else { 0 };
            let mut p = ipv4::Packet::new_unchecked(&mut hdr[..ipv4::HEADER_LEN]);
            p.set_tos(tos);
            p.set_total_len(total as u16);
            p.set_ident(ident);
            p.set_unfragmented(df);
            // The template's sum has zeros in TOS, length, ID and flags: add the real ones.
            let sum =
                outer.sum + u32::from(tos) + total as u32 + u32::from(ident) + u32::from(flags);
            p.set_checksum(checksum::finish(sum));
        }
        IpVersion::V6 => {
            let mut p = ipv6::Packet::new_unchecked(&mut hdr[..ipv6::HEADER_LEN]);
            let flow = p.flow_label();
            p.set_version_tc_flow(tos, flow);
            p.set_payload_len((total - ipv6::HEADER_LEN) as u16);
        }
    }
    if outer.len > outer.ip_len {
        let mut u = udp::Packet::new_unchecked(&mut hdr[outer.ip_len..outer.len]);
        u.set_len((total - outer.ip_len) as u16);
    }

    // ESP header; the IV is the 64-bit sequence number, which never repeats under a key.
    let e = &mut hdr[outer.len..];
    let mut ep = esp::Packet::new_unchecked(&mut e[..esp::HEADER_LEN]);
    ep.set_spi(sa.spi());
    ep.set_seq(seq as u32);
    let iv = seq.to_be_bytes();
    e[esp::HEADER_LEN..esp::HEADER_LEN + esp::IV_LEN].copy_from_slice(&iv);

    // Trailer after the inner packet, then encrypt payload+trailer and append the ICV.
    let trailer = esp::Trailer { pad_len: pad as u8, next_header: version.protocol() };
    trailer.emit(&mut rest[inner_len..body]);
    let aad = Aad::new(sa.spi(), seq, sa.esn());
    let icv = sa.aead().seal(&iv, &aad, &mut rest[..body]);
    rest[body..].copy_from_slice(&icv);

    acc.add(sa, inner_len);
    Ok(())
}
