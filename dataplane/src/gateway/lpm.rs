//! Longest-prefix match for the gateway's two prefix tables: the policy (inner destination
//! → tunnel, over the tunnels' selectors) and the routes (inner destination → next hop).
//!
//! Both are small (tens to thousands of prefixes) and change only when the control core
//! rebuilds them, so the structure is the simplest one with a predictable cost: prefixes
//! are grouped by length, longest first, and each group is a sorted array searched by
//! binary search on the masked address. A lookup is at most one binary search per distinct
//! prefix length (typically 2 or 3), reads only, never allocates and never hashes. A trie
//! (DIR-24-8 and friends) pays off only with far more prefixes than a gateway's config has.

use crate::selector::Prefix;

/// An address type the table can match: `u32` (IPv4) or `u128` (IPv6), in host order.
pub trait LpmKey: Copy + Ord + core::ops::BitAnd<Output = Self> + core::fmt::Debug {
    /// Bits in the address.
    const BITS: u8;
    /// The mask of a prefix of `len` bits.
    fn mask(len: u8) -> Self;
}

impl LpmKey for u32 {
    const BITS: u8 = 32;
    fn mask(len: u8) -> u32 {
        if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) }
    }
}

impl LpmKey for u128 {
    const BITS: u8 = 128;
    fn mask(len: u8) -> u128 {
        if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) }
    }
}

#[derive(Debug, Clone)]
struct Group<K, V> {
    mask: K,
    len: u8,
    /// Sorted by network, no duplicates.
    entries: Box<[(K, V)]>,
}

/// A longest-prefix-match table of one address family.
#[derive(Debug, Clone)]
pub struct Lpm<K, V> {
    /// Longest prefix length first.
    groups: Box<[Group<K, V>]>,
}

/// The same prefix was given twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuplicatePrefix(pub Prefix);

impl core::fmt::Display for DuplicatePrefix {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "prefix {} given twice", self.0)
    }
}

impl std::error::Error for DuplicatePrefix {}

impl<K: LpmKey, V: Copy> Lpm<K, V> {
    /// Builds the table from `(network, length, value)`; host bits of `network` are ignored.
    /// Returns the index (in `items`) of a repeated prefix as the error.
    pub fn build(items: &[(K, u8, V)]) -> Result<Lpm<K, V>, usize> {
        let mut lens: Vec<u8> = items.iter().map(|&(_, l, _)| l.min(K::BITS)).collect();
        lens.sort_unstable_by(|a, b| b.cmp(a));
        lens.dedup();
        let mut groups = Vec::with_capacity(lens.len());
        for len in lens {
            let mask = K::mask(len);
            let mut entries: Vec<(K, V, usize)> = items
                .iter()
                .enumerate()
                .filter(|(_, (_, l, _))| (*l).min(K::BITS) == len)
                .map(|(i, &(n, _, v))| (n & mask, v, i))
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)));
            if let Some(w) = entries.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(w[1].2);
            }
            let entries = entries.into_iter().map(|(n, v, _)| (n, v)).collect();
            groups.push(Group { mask, len, entries });
        }
        Ok(Lpm { groups: groups.into_boxed_slice() })
    }

    /// The value of the longest prefix that contains `addr`.
    #[inline]
    pub fn lookup(&self, addr: K) -> Option<V> {
        for g in self.groups.iter() {
            let key = addr & g.mask;
            if let Ok(i) = g.entries.binary_search_by(|e| e.0.cmp(&key)) {
                return Some(g.entries[i].1);
            }
        }
        None
    }

    /// The value and prefix length of the longest prefix that contains `addr`.
    pub fn lookup_len(&self, addr: K) -> Option<(V, u8)> {
        for g in self.groups.iter() {
            let key = addr & g.mask;
            if let Ok(i) = g.entries.binary_search_by(|e| e.0.cmp(&key)) {
                return Some((g.entries[i].1, g.len));
            }
        }
        None
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.groups.iter().map(|g| g.entries.len()).sum()
    }

    /// True when the table holds no prefix.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// IPv4 and IPv6 prefixes mapped to values: the policy table and the route table.
#[derive(Debug, Clone)]
pub struct PrefixTable<V> {
    v4: Lpm<u32, V>,
    v6: Lpm<u128, V>,
}

impl<V: Copy> PrefixTable<V> {
    /// Builds both families from `(prefix, value)`.
    pub fn build(items: &[(Prefix, V)]) -> Result<PrefixTable<V>, DuplicatePrefix> {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        let mut back4 = Vec::new();
        let mut back6 = Vec::new();
        for (p, v) in items {
            match *p {
                Prefix::V4 { net, len, .. } => {
                    v4.push((net, len, *v));
                    back4.push(*p);
                }
                Prefix::V6 { net, len, .. } => {
                    v6.push((net, len, *v));
                    back6.push(*p);
                }
            }
        }
        Ok(PrefixTable {
            v4: Lpm::build(&v4).map_err(|i| DuplicatePrefix(back4[i]))?,
            v6: Lpm::build(&v6).map_err(|i| DuplicatePrefix(back6[i]))?,
        })
    }

    /// An empty table.
    pub fn empty() -> PrefixTable<V> {
        PrefixTable { v4: Lpm { groups: Box::new([]) }, v6: Lpm { groups: Box::new([]) } }
    }

    /// Longest match for an IPv4 address (network byte order).
    #[inline]
    pub fn lookup_v4(&self, a: [u8; 4]) -> Option<V> {
        self.v4.lookup(u32::from_be_bytes(a))
    }

    /// Longest match for an IPv6 address (network byte order).
    #[inline]
    pub fn lookup_v6(&self, a: [u8; 16]) -> Option<V> {
        self.v6.lookup(u128::from_be_bytes(a))
    }

    /// Longest match for any address.
    pub fn lookup(&self, a: core::net::IpAddr) -> Option<V> {
        match a {
            core::net::IpAddr::V4(a) => self.lookup_v4(a.octets()),
            core::net::IpAddr::V6(a) => self.lookup_v6(a.octets()),
        }
    }

    /// Number of prefixes of both families.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins_in_both_families() {
        let t = PrefixTable::build(&[
            (p("0.0.0.0/0"), 0u32),
            (p("10.0.0.0/8"), 1),
            (p("10.1.0.0/16"), 2),
            (p("10.1.2.3/32"), 3),
            (p("::/0"), 10),
            (p("2001:db8::/32"), 11),
            (p("2001:db8:1::/48"), 12),
        ])
        .unwrap();
        assert_eq!(t.lookup_v4([10, 1, 2, 3]), Some(3));
        assert_eq!(t.lookup_v4([10, 1, 2, 4]), Some(2));
        assert_eq!(t.lookup_v4([10, 2, 0, 1]), Some(1));
        assert_eq!(t.lookup_v4([192, 168, 0, 1]), Some(0));
        assert_eq!(t.lookup("2001:db8:1::5".parse().unwrap()), Some(12));
        assert_eq!(t.lookup("2001:db8:2::5".parse().unwrap()), Some(11));
        assert_eq!(t.lookup("fe80::1".parse().unwrap()), Some(10));
        assert_eq!(t.len(), 7);
        let none = PrefixTable::build(&[(p("10.0.0.0/8"), 1u32)]).unwrap();
        assert_eq!(none.lookup_v4([11, 0, 0, 1]), None);
        assert_eq!(none.lookup("::1".parse().unwrap()), None);
        assert!(PrefixTable::<u32>::empty().is_empty());
    }

    #[test]
    fn duplicates_are_refused() {
        let e = PrefixTable::build(&[(p("10.0.0.0/8"), 1u32), (p("10.0.0.0/8"), 2)]).unwrap_err();
        assert_eq!(e, DuplicatePrefix(p("10.0.0.0/8")));
    }

    proptest! {
        /// The table agrees with a linear scan for the longest containing prefix.
        #[test]
        fn matches_a_linear_scan(
            nets in proptest::collection::vec((any::<u32>(), 0u8..=32), 0..40),
            addrs in proptest::collection::vec(any::<u32>(), 1..64),
        ) {
            let mut seen = std::collections::HashSet::new();
            let items: Vec<(u32, u8, usize)> = nets
                .iter()
                .enumerate()
                .filter(|(_, (n, l))| seen.insert((n & u32::mask(*l), *l)))
                .map(|(i, &(n, l))| (n, l, i))
                .collect();
            let t = Lpm::build(&items).unwrap();
            for a in addrs {
                // Also probe addresses inside the prefixes, not only random ones.
                for probe in std::iter::once(a).chain(items.iter().map(|(n, l, _)| (n & u32::mask(*l)) | (a & !u32::mask(*l)))) {
                    let want = items
                        .iter()
                        .filter(|(n, l, _)| probe & u32::mask(*l) == n & u32::mask(*l))
                        .max_by_key(|(_, l, _)| *l)
                        .map(|(_, _, v)| *v);
                    prop_assert_eq!(t.lookup(probe), want);
                }
            }
        }
    }
}
