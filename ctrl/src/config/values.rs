//! Parsers for the scalar values of the config file: integers in range, hex keys, MAC
//! and IP addresses, PSKs. Each returns the message the user will read after
//! `file:line: field:`, so the wording lives here and nowhere else.
//!
//! Hex is decoded by hand rather than with the `hex` crate because the messages must say
//! how many digits were expected for which AEAD, and the output must go straight into a
//! zeroizing buffer.

use std::net::IpAddr;

use zeroize::Zeroizing;

use super::model::{MAX_PSK_LEN, MIN_PSK_LEN};

/// `v` as an integer in `lo..=hi`, or "expected WHAT LO..=HI, got V".
pub(crate) fn in_range(v: i128, lo: u64, hi: u64, what: &str) -> Result<u64, String> {
    if v < i128::from(lo) || v > i128::from(hi) {
        return Err(format!("expected {what} {lo}..={hi}, got {v}"));
    }
    Ok(v as u64)
}

/// Hex digits (an optional `0x` prefix allowed) decoding to exactly `want` bytes; `what`
/// says why that many, e.g. " for aes-128-gcm".
pub(crate) fn hex_bytes(s: &str, want: usize, what: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    if let Some((i, c)) = digits.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        let shown =
            if c.is_ascii_graphic() || c == ' ' { format!("'{c}'") } else { format!("{c:?}") };
        return Err(format!("not hex: {shown} at digit {}", digits[..i].chars().count() + 1));
    }
    if digits.len() != want * 2 {
        return Err(format!(
            "expected {} hex digits ({want} bytes{what}), got {}",
            want * 2,
            digits.len()
        ));
    }
    Ok(decode_hex(digits))
}

/// Decodes validated hex digits (even count, all hex) into a zeroizing buffer.
fn decode_hex(digits: &str) -> Zeroizing<Vec<u8>> {
    let nibble = |b: u8| match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    };
    let mut out = Zeroizing::new(Vec::with_capacity(digits.len() / 2));
    for pair in digits.as_bytes().chunks_exact(2) {
        out.push(nibble(pair[0]) << 4 | nibble(pair[1]));
    }
    out
}

/// A PSK: `0x` followed by hex digits is binary, anything else is the UTF-8 bytes of the
/// text as written. Either way 16..=1024 bytes.
pub(crate) fn psk(s: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let bytes = if let Some(digits) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if let Some((i, c)) = digits.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
            return Err(format!(
                "starts with 0x, so it is read as hex, but {:?} at digit {} is not hex",
                c,
                digits[..i].chars().count() + 1
            ));
        }
        if digits.len() % 2 != 0 {
            return Err(format!("hex PSK has an odd number of digits ({})", digits.len()));
        }
        decode_hex(digits)
    } else {
        Zeroizing::new(s.as_bytes().to_vec())
    };
    if bytes.len() < MIN_PSK_LEN {
        return Err(format!("too short: {} bytes, at least {MIN_PSK_LEN} needed", bytes.len()));
    }
    if bytes.len() > MAX_PSK_LEN {
        return Err(format!("too long: {} bytes, at most {MAX_PSK_LEN}", bytes.len()));
    }
    Ok(bytes)
}

/// A unicast MAC address, `02:00:00:00:00:01` (or with `-`).
pub(crate) fn mac(s: &str) -> Result<[u8; 6], String> {
    let bad = || format!("expected a MAC address like 02:00:00:00:00:01, got \"{s}\"");
    let sep = if s.contains('-') { '-' } else { ':' };
    let mut out = [0u8; 6];
    let mut parts = s.split(sep);
    for byte in &mut out {
        let p = parts.next().ok_or_else(bad)?;
        if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        *byte = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    if out[0] & 1 != 0 {
        return Err(format!("{s} is a multicast or broadcast MAC; a next hop is unicast"));
    }
    if out == [0; 6] {
        return Err(format!("{s} is not a usable MAC address"));
    }
    Ok(out)
}

/// A unicast IP address: the outer address of this gateway or of a peer.
pub(crate) fn unicast_addr(s: &str) -> Result<IpAddr, String> {
    let a: IpAddr =
        s.parse().map_err(|_| format!("expected an IPv4 or IPv6 address, got \"{s}\""))?;
    let not_unicast = match a {
        IpAddr::V4(v4) => {
            v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() || v4.is_loopback()
        }
        IpAddr::V6(v6) => {
            if v6.to_ipv4_mapped().is_some() {
                return Err(format!("{a} is IPv4-mapped; write it as an IPv4 address"));
            }
            v6.is_unspecified() || v6.is_multicast() || v6.is_loopback()
        }
    };
    if not_unicast {
        return Err(format!("{a} is not a unicast address"));
    }
    Ok(a)
}

/// "IPv4" or "IPv6".
pub(crate) fn family(a: IpAddr) -> &'static str {
    if a.is_ipv4() { "IPv4" } else { "IPv6" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex() {
        assert_eq!(*hex_bytes("0001abCD", 4, "").unwrap(), vec![0, 1, 0xab, 0xcd]);
        assert_eq!(*hex_bytes("0xdeadbeef", 4, "").unwrap(), vec![0xde, 0xad, 0xbe, 0xef]);
        let e = hex_bytes("00112233445566778899aabbccddee", 16, " for aes-128-gcm").unwrap_err();
        assert_eq!(e, "expected 32 hex digits (16 bytes for aes-128-gcm), got 30");
        assert_eq!(hex_bytes("00zz", 2, "").unwrap_err(), "not hex: 'z' at digit 3");
    }

    #[test]
    fn psks() {
        assert_eq!(*psk("correct horse battery").unwrap(), b"correct horse battery".to_vec());
        assert_eq!(
            *psk("0x000102030405060708090a0b0c0d0e0f").unwrap(),
            (0u8..16).collect::<Vec<_>>()
        );
        assert!(psk("short").unwrap_err().contains("too short: 5 bytes"));
        assert!(psk("0x0001020304050607").unwrap_err().contains("too short: 8 bytes"));
        assert!(psk("0x000").unwrap_err().contains("odd"));
        assert!(psk("0xnothexnothexnothexnothex").unwrap_err().contains("read as hex"));
        assert!(psk(&"a".repeat(1025)).unwrap_err().contains("too long"));
    }

    #[test]
    fn macs() {
        assert_eq!(mac("02:00:00:00:00:0a").unwrap(), [2, 0, 0, 0, 0, 10]);
        assert_eq!(mac("02-00-00-00-00-0A").unwrap(), [2, 0, 0, 0, 0, 10]);
        for bad in
            ["02:00:00:00:00", "02:00:00:00:00:00:00", "2:0:0:0:0:1", "zz:00:00:00:00:01", ""]
        {
            assert!(mac(bad).unwrap_err().contains("expected a MAC"), "{bad}");
        }
        assert!(mac("ff:ff:ff:ff:ff:ff").unwrap_err().contains("broadcast"));
        assert!(mac("01:00:5e:00:00:01").unwrap_err().contains("multicast"));
        assert!(mac("00:00:00:00:00:00").is_err());
    }

    #[test]
    fn addresses() {
        assert!(unicast_addr("172.16.1.5").is_ok());
        assert!(unicast_addr("2001:db8::5").is_ok());
        for bad in ["0.0.0.0", "255.255.255.255", "224.0.0.5", "127.0.0.1", "::", "ff02::1", "::1"]
        {
            assert!(unicast_addr(bad).unwrap_err().contains("not a unicast"), "{bad}");
        }
        assert!(unicast_addr("::ffff:10.0.0.1").unwrap_err().contains("IPv4-mapped"));
        assert!(unicast_addr("172.16.1").unwrap_err().contains("expected an IPv4 or IPv6"));
        assert_eq!(
            in_range(70000, 1, 65535, "a port").unwrap_err(),
            "expected a port 1..=65535, got 70000"
        );
        assert_eq!(in_range(-1, 0, 9, "x").unwrap_err(), "expected x 0..=9, got -1");
        assert_eq!(in_range(9, 0, 9, "x").unwrap(), 9);
    }
}
