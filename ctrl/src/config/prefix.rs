//! IPv4 and IPv6 address prefixes for traffic selectors and routes.
//!
//! A prefix is kept as its address and length with the host bits guaranteed zero, so two
//! prefixes are equal exactly when they cover the same addresses. Written here rather than
//! taken from `ipnet` because we need little (parse, contains, overlap) and the data plane
//! wants the same integer view (`bits`, `mask`) to build its lookup tables.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IPv4 or IPv6 prefix such as `192.168.105.0/24` or `2001:db8:105::/48`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

/// Why a prefix was refused; the text is meant for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PrefixError(String);

/// The address as an integer in the low bits of a `u128`, and its family's width.
fn as_bits(addr: IpAddr) -> (u128, u8) {
    match addr {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

/// The network mask of `len` bits in a family `width` bits wide.
fn mask(len: u8, width: u8) -> u128 {
    let all = if width == 128 { u128::MAX } else { (1u128 << width) - 1 };
    // `len == 0` is special-cased because shifting a u128 by 128 overflows.
    if len == 0 { 0 } else { all & (u128::MAX << (width - len)) }
}

impl Prefix {
    /// A prefix from an address and a length; refuses a length too long for the family
    /// and an address with host bits set (`10.1.1.1/24` is a typo, not a network).
    pub fn new(addr: IpAddr, len: u8) -> Result<Prefix, PrefixError> {
        let (bits, width) = as_bits(addr);
        if len > width {
            let fam = if width == 32 { "IPv4" } else { "IPv6" };
            return Err(PrefixError(format!(
                "prefix length {len} is too long for {fam} (at most {width})"
            )));
        }
        let p = Prefix { addr, len };
        if bits & !mask(len, width) != 0 {
            let fixed = Prefix { addr: p.network_addr(), len };
            return Err(PrefixError(format!(
                "host bits set in {addr}/{len}: did you mean {fixed}?"
            )));
        }
        Ok(p)
    }

    /// The network address (host bits are always zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// True for `0.0.0.0/0` and `::/0`, which cover their whole family.
    pub fn is_default(&self) -> bool {
        self.len == 0
    }

    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    pub fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }

    /// The network address as an integer (IPv4 in the low 32 bits) and the mask to
    /// compare it with, as a longest-prefix-match table wants them.
    pub fn bits(&self) -> (u128, u128) {
        let (bits, width) = as_bits(self.addr);
        (bits, mask(self.len, width))
    }

    fn network_addr(&self) -> IpAddr {
        let (bits, width) = as_bits(self.addr);
        let net = bits & mask(self.len, width);
        match self.addr {
            IpAddr::V4(_) => IpAddr::V4((net as u32).into()),
            IpAddr::V6(_) => IpAddr::V6(net.into()),
        }
    }

    /// True if `addr` is inside this prefix (never across families).
    pub fn contains(&self, addr: IpAddr) -> bool {
        if addr.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        let (net, m) = self.bits();
        let (a, _) = as_bits(addr);
        a & m == net
    }

    /// True if every address of `other` is inside this prefix.
    pub fn covers(&self, other: &Prefix) -> bool {
        self.len <= other.len && self.contains(other.addr)
    }

    /// True if the two prefixes share at least one address. Prefixes nest or are
    /// disjoint, so this is "one covers the other".
    pub fn overlaps(&self, other: &Prefix) -> bool {
        self.covers(other) || other.covers(self)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;

    /// `ADDR/LEN`, or a bare address meaning a single host (`/32` or `/128`).
    fn from_str(s: &str) -> Result<Prefix, PrefixError> {
        let bad = || {
            PrefixError(format!(
                "expected a prefix like 192.168.1.0/24 or 2001:db8::/32, got \"{s}\""
            ))
        };
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => {
                let addr: IpAddr = a.parse().map_err(|_| bad())?;
                if l.is_empty() || !l.bytes().all(|b| b.is_ascii_digit()) || l.len() > 3 {
                    return Err(bad());
                }
                let len: u8 = l.parse().map_err(|_| bad())?;
                (addr, len)
            }
            None => {
                let addr: IpAddr = s.parse().map_err(|_| bad())?;
                (addr, if addr.is_ipv4() { 32 } else { 128 })
            }
        };
        Prefix::new(addr, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_and_displays() {
        assert_eq!(p("192.168.105.0/24").to_string(), "192.168.105.0/24");
        assert_eq!(p("10.1.2.3").to_string(), "10.1.2.3/32");
        assert_eq!(p("2001:db8::/32").to_string(), "2001:db8::/32");
        assert_eq!(p("2001:db8::1").prefix_len(), 128);
        assert_eq!(p("0.0.0.0/0").prefix_len(), 0);
        assert!(p("::/0").is_default());
    }

    #[test]
    fn refuses_bad_prefixes() {
        let e = "192.168.105.1/24".parse::<Prefix>().unwrap_err().to_string();
        assert!(e.contains("did you mean 192.168.105.0/24"), "{e}");
        let e = "2001:db8::1/32".parse::<Prefix>().unwrap_err().to_string();
        assert!(e.contains("did you mean 2001:db8::/32"), "{e}");
        for bad in ["10.0.0.0/33", "::/129", "10.0.0/8", "10.0.0.0/", "10.0.0.0/-1", "x", ""] {
            assert!(bad.parse::<Prefix>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn masks() {
        assert_eq!(mask(0, 32), 0);
        assert_eq!(mask(24, 32), 0xffff_ff00);
        assert_eq!(mask(32, 32), 0xffff_ffff);
        assert_eq!(mask(1, 128), 1u128 << 127);
        assert_eq!(mask(128, 128), u128::MAX);
        assert_eq!(p("10.0.0.0/8").bits(), (0x0a00_0000, 0xff00_0000));
    }

    #[test]
    fn contains_and_overlaps() {
        let net = p("192.168.0.0/16");
        assert!(net.contains("192.168.255.1".parse().unwrap()));
        assert!(!net.contains("192.169.0.1".parse().unwrap()));
        assert!(!net.contains("::c0a8:1".parse().unwrap()), "crossed families");
        assert!(p("0.0.0.0/0").contains("1.2.3.4".parse().unwrap()));
        assert!(!p("0.0.0.0/0").contains("::1".parse().unwrap()));
        assert!(net.overlaps(&p("192.168.105.0/24")));
        assert!(p("192.168.105.0/24").overlaps(&net));
        assert!(net.covers(&p("192.168.105.0/24")));
        assert!(!p("192.168.105.0/24").covers(&net));
        assert!(!p("192.168.105.0/24").overlaps(&p("192.168.106.0/24")));
        assert!(!p("::/0").overlaps(&p("0.0.0.0/0")));
        assert!(p("2001:db8::/32").overlaps(&p("2001:db8:1::/48")));
        assert!(!p("2001:db8::/32").overlaps(&p("2001:db9::/32")));
    }
}
