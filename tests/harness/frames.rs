//! Deterministic, varied Ethernet frames for forwarding tests: IPv4 (UDP, TCP, ICMP),
//! IPv6 (UDP), ARP and 802.1Q-tagged IPv4, sizes spread over 60..=1514 bytes, each
//! carrying its index in the payload. IPv4 header checksums are correct, so later stages
//! that check them accept these frames.

/// Ethernet II header: dst, src, ethertype.
fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(1514);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

/// RFC 1071 checksum.
pub fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], payload_len: usize, id: u16) -> Vec<u8> {
    let total = (20 + payload_len) as u16;
    let mut h = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].copy_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = inet_checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

fn ipv6_udp(src_last: u8, payload_len: usize) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&((8 + payload_len) as u16).to_be_bytes());
    h.extend_from_slice(&[17, 64]);
    h.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, src_last]);
    h.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    h
}

/// Fills `f` up to `len` bytes with a pattern that starts with the frame index.
fn pad(f: &mut Vec<u8>, len: usize, index: usize) {
    let mut i = 0usize;
    let tag = (index as u32).to_be_bytes();
    while f.len() < len {
        f.push(if i < 4 { tag[i] } else { (index.wrapping_mul(31) + i) as u8 });
        i += 1;
    }
}

const A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

/// Frame `i` of length `len` (clamped to 60..=1514; ARP frames are always 60).
pub fn frame(i: usize, len: usize) -> Vec<u8> {
    let len = len.clamp(60, 1514);
    let src4 = [10, 0, (i >> 8) as u8, i as u8];
    let dst4 = [10, 1, 0, 2];
    let mut f;
    match i % 6 {
        0 | 1 => {
            // IPv4 UDP
            f = eth(B, A, 0x0800);
            let udp_len = len - 14 - 20;
            f.extend(ipv4(17, src4, dst4, udp_len, i as u16));
            f.extend_from_slice(&(1024 + i as u16).to_be_bytes());
            f.extend_from_slice(&4500u16.to_be_bytes());
            f.extend_from_slice(&(udp_len as u16).to_be_bytes());
            f.extend_from_slice(&[0, 0]);
        }
        2 => {
            // IPv4 TCP (SYN-ACK-ish header, data after)
            f = eth(B, A, 0x0800);
            f.extend(ipv4(6, src4, dst4, len - 14 - 20, i as u16));
            f.extend_from_slice(&[
                0x30, 0x39, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0,
            ]);
        }
        3 => {
            // IPv6 UDP (62 bytes at least: Ethernet, IPv6 and UDP headers)
            f = eth(B, A, 0x86dd);
            let len = len.max(62);
            let udp_len = len - 14 - 40;
            f.extend(ipv6_udp(i as u8, udp_len - 8));
            f.extend_from_slice(&(2048 + i as u16).to_be_bytes());
            f.extend_from_slice(&53u16.to_be_bytes());
            f.extend_from_slice(&(udp_len as u16).to_be_bytes());
            f.extend_from_slice(&[0, 0]);
        }
        4 => {
            // ARP request, padded to the Ethernet minimum
            f = eth([0xff; 6], A, 0x0806);
            f.extend_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 1]);
            f.extend_from_slice(&A);
            f.extend_from_slice(&src4);
            f.extend_from_slice(&[0; 6]);
            f.extend_from_slice(&dst4);
            pad(&mut f, 60, i);
            return f;
        }
        _ => {
            // 802.1Q VLAN 100, IPv4 ICMP echo
            f = eth(B, A, 0x8100);
            f.extend_from_slice(&[0x00, 100, 0x08, 0x00]);
            f.extend(ipv4(1, src4, dst4, len - 18 - 20, i as u16));
            f.extend_from_slice(&[8, 0, 0, 0, 0, 1, (i >> 8) as u8, i as u8]);
        }
    }
    pad(&mut f, len, i);
    f
}

/// `n` frames of every kind, with sizes cycling over 60..=1514 (both ends included).
pub fn varied(n: usize) -> Vec<Vec<u8>> {
    const SIZES: [usize; 9] = [60, 64, 128, 256, 512, 1000, 1280, 1500, 1514];
    (0..n).map(|i| frame(i, SIZES[i % SIZES.len()] + (i / SIZES.len()) % 7)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_varied_and_well_formed() {
        let f = varied(300);
        assert_eq!(f.len(), 300);
        assert!(f.iter().all(|x| (60..=1514).contains(&x.len())));
        assert!(f.iter().any(|x| x.len() == 60) && f.iter().any(|x| x.len() == 1514));
        let types: std::collections::BTreeSet<[u8; 2]> = f.iter().map(|x| [x[12], x[13]]).collect();
        assert_eq!(types.len(), 4, "IPv4, IPv6, ARP, VLAN");
        // IPv4 headers checksum to zero.
        for x in f.iter().filter(|x| x[12..14] == [0x08, 0x00]) {
            assert_eq!(inet_checksum(&x[14..34]), 0);
            assert_eq!(usize::from(u16::from_be_bytes([x[16], x[17]])), x.len() - 14);
        }
        let distinct: std::collections::BTreeSet<&Vec<u8>> = f.iter().collect();
        assert_eq!(distinct.len(), 300, "every frame differs");
    }
}
