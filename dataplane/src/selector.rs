//! Traffic selectors: the inner prefixes a tunnel carries.
//!
//! A tunnel's selectors are the *remote* protected networks: the inner destinations we send
//! through the tunnel (config `selectors`, design.md section 9). The same list therefore
//! checks inbound traffic, from the other end: a packet the peer sends us comes *from* its
//! protected networks, so after decap the inner **source** must be inside the selectors
//! (the post-input policy check, RFC 4301 section 5.2 step 4). The inner destination is one
//! of our own networks, which the tunnel config does not list; routing deals with it.
//!
//! An empty list matches nothing: a tunnel with no selectors carries no traffic, and every
//! packet it receives is counted as a policy failure rather than let through.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

/// An IPv4 or IPv6 prefix, stored as network and mask for a two-instruction match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prefix {
    /// IPv4 prefix.
    V4 {
        /// Network bits (host bits zero).
        net: u32,
        /// Mask.
        mask: u32,
        /// Prefix length.
        len: u8,
    },
    /// IPv6 prefix.
    V6 {
        /// Network bits (host bits zero).
        net: u128,
        /// Mask.
        mask: u128,
        /// Prefix length.
        len: u8,
    },
}

/// A prefix that does not parse or whose length is too long for its family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPrefix(pub String);

impl fmt::Display for InvalidPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid prefix {:?} (expected ADDRESS/LENGTH, e.g. 192.168.1.0/24)", self.0)
    }
}

impl std::error::Error for InvalidPrefix {}

impl Prefix {
    /// The prefix `addr/len`; host bits of `addr` are cleared.
    pub fn new(addr: IpAddr, len: u8) -> Option<Prefix> {
        match addr {
            IpAddr::V4(a) if len <= 32 => {
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                Some(Prefix::V4 { net: u32::from(a) & mask, mask, len })
            }
            IpAddr::V6(a) if len <= 128 => {
                let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
                Some(Prefix::V6 { net: u128::from(a) & mask, mask, len })
            }
            _ => None,
        }
    }

    /// Whether an IPv4 address (as bytes) is inside.
    #[inline]
    pub fn contains_v4(&self, a: [u8; 4]) -> bool {
        matches!(*self, Prefix::V4 { net, mask, .. } if u32::from_be_bytes(a) & mask == net)
    }

    /// Whether an IPv6 address (as bytes) is inside.
    #[inline]
    pub fn contains_v6(&self, a: [u8; 16]) -> bool {
        matches!(*self, Prefix::V6 { net, mask, .. } if u128::from_be_bytes(a) & mask == net)
    }

    /// Whether `a` is inside.
    pub fn contains(&self, a: IpAddr) -> bool {
        match a {
            IpAddr::V4(a) => self.contains_v4(a.octets()),
            IpAddr::V6(a) => self.contains_v6(a.octets()),
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Prefix::V4 { net, len, .. } => write!(f, "{}/{len}", Ipv4Addr::from(net)),
            Prefix::V6 { net, len, .. } => write!(f, "{}/{len}", Ipv6Addr::from(net)),
        }
    }
}

impl FromStr for Prefix {
    type Err = InvalidPrefix;

    /// `ADDRESS/LENGTH`; a bare address is a host prefix (/32 or /128).
    fn from_str(s: &str) -> Result<Prefix, InvalidPrefix> {
        let err = || InvalidPrefix(s.to_string());
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().map_err(|_| err())?;
        let len = match l {
            Some(l) => l.trim().parse::<u8>().map_err(|_| err())?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        Prefix::new(addr, len).ok_or_else(err)
    }
}

/// A tunnel's list of selectors (a handful: a linear scan beats anything cleverer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selectors(Box<[Prefix]>);

impl Selectors {
    /// Prefetches the first prefixes (a hint: decap checks the inner source against them).
    #[inline]
    pub fn prefetch(&self) {
        if let Some(first) = self.0.first() {
            qfp_simd::hint::prefetch(first);
        }
    }

    /// The list, as given.
    pub fn new(prefixes: Vec<Prefix>) -> Selectors {
        Selectors(prefixes.into_boxed_slice())
    }

    /// Matches every address of both families.
    pub fn any() -> Selectors {
        Selectors::new(vec![
            Prefix::V4 { net: 0, mask: 0, len: 0 },
            Prefix::V6 { net: 0, mask: 0, len: 0 },
        ])
    }

    /// The prefixes.
    pub fn prefixes(&self) -> &[Prefix] {
        &self.0
    }

    /// Whether an IPv4 address is inside any selector.
    #[inline]
    pub fn contains_v4(&self, a: [u8; 4]) -> bool {
        self.0.iter().any(|p| p.contains_v4(a))
    }

    /// Whether an IPv6 address is inside any selector.
    #[inline]
    pub fn contains_v6(&self, a: [u8; 16]) -> bool {
        self.0.iter().any(|p| p.contains_v6(a))
    }

    /// Whether `a` is inside any selector.
    pub fn contains(&self, a: IpAddr) -> bool {
        self.0.iter().any(|p| p.contains(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_match() {
        let p: Prefix = "192.168.105.7/24".parse().unwrap();
        assert_eq!(p.to_string(), "192.168.105.0/24");
        assert!(p.contains("192.168.105.200".parse().unwrap()));
        assert!(!p.contains("192.168.106.1".parse().unwrap()));
        assert!(!p.contains("::1".parse().unwrap()));
        let h: Prefix = "2001:db8::1".parse().unwrap();
        assert_eq!(h.to_string(), "2001:db8::1/128");
        assert!(h.contains("2001:db8::1".parse().unwrap()));
        assert!(!h.contains("2001:db8::2".parse().unwrap()));
        let z: Prefix = "0.0.0.0/0".parse().unwrap();
        assert!(z.contains("1.2.3.4".parse().unwrap()));
        for bad in ["10.0.0.0/33", "::/129", "10.0.0/8", "x/1", "10.0.0.0/-1", ""] {
            assert!(bad.parse::<Prefix>().is_err(), "{bad}");
        }
    }

    #[test]
    fn lists() {
        let s = Selectors::new(vec!["10.1.0.0/16".parse().unwrap(), "fd00::/8".parse().unwrap()]);
        assert!(s.contains_v4([10, 1, 2, 3]));
        assert!(!s.contains_v4([10, 2, 0, 1]));
        assert!(s.contains_v6("fd12::1".parse::<Ipv6Addr>().unwrap().octets()));
        assert!(!Selectors::default().contains_v4([10, 1, 2, 3]), "empty matches nothing");
        assert!(Selectors::any().contains("8.8.8.8".parse().unwrap()));
        assert!(Selectors::any().contains("2001::1".parse().unwrap()));
    }
}
