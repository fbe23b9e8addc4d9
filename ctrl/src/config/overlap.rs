//! A set of pairwise-disjoint prefixes that answers "which of you overlaps this one?"
//! in O(log n), so that checking every selector of a 100k-tunnel config against all the
//! earlier ones is O(n log n) rather than the O(n²) of comparing each pair.
//!
//! Prefixes either nest or are disjoint, so a prefix is an interval of addresses and a
//! set of disjoint ones is an ordered map from first address to entry. A new prefix
//! overlaps the set either because one member covers it (the member starting at or
//! before it, if it reaches far enough: at most one, members being disjoint) or because
//! it covers members (those starting inside it).

use std::collections::BTreeMap;

use super::prefix::Prefix;

/// Disjoint prefixes with a value each (the caller's "which tunnel, which selector").
pub(crate) struct PrefixSet<V> {
    /// (family: 0 IPv4, 1 IPv6; first address) -> (last address, prefix, value).
    by_start: BTreeMap<(u8, u128), (u128, Prefix, V)>,
}

/// The family and the first and last address of `p`.
fn span(p: &Prefix) -> (u8, u128, u128) {
    let (net, mask) = p.bits();
    let width_mask = if p.is_ipv4() { u128::from(u32::MAX) } else { u128::MAX };
    (u8::from(p.is_ipv6()), net, net | (!mask & width_mask))
}

impl<V: Ord + Copy> PrefixSet<V> {
    pub fn new() -> Self {
        PrefixSet { by_start: BTreeMap::new() }
    }

    /// Adds `p`, which the caller has checked overlaps no member.
    pub fn insert(&mut self, p: Prefix, v: V) {
        let (fam, first, last) = span(&p);
        self.by_start.insert((fam, first), (last, p, v));
    }

    /// The member that covers `p` entirely, if any (at most one can).
    pub fn covering(&self, p: &Prefix) -> Option<(Prefix, V)> {
        let (fam, first, last) = span(p);
        let (&(f, _), &(end, q, v)) = self.by_start.range(..=(fam, first)).next_back()?;
        (f == fam && end >= last).then_some((q, v))
    }

    /// The member overlapping `p` with the smallest value: the one covering it, else
    /// the smallest-valued of those it covers. The smallest value is what a scan of the
    /// members in value order would find first, which keeps error messages unchanged.
    pub fn first_overlap(&self, p: &Prefix) -> Option<(Prefix, V)> {
        if let Some(hit) = self.covering(p) {
            return Some(hit);
        }
        let (fam, first, last) = span(p);
        // Only reached when `p` is a conflict (then the caller stops) or covers nothing
        // (an empty range): the scan does not add up over a valid config.
        self.by_start
            .range((fam, first)..=(fam, last))
            .map(|(_, &(_, q, v))| (q, v))
            .min_by_key(|&(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    /// The set's answer equals the pairwise scan's on random disjoint members.
    #[test]
    fn matches_a_linear_scan() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..50 {
            let mut set = PrefixSet::new();
            let mut members: Vec<(Prefix, usize)> = Vec::new();
            for i in 0..200 {
                let len = (rnd() % 13 + 20) as u8; // /20../32 inside 10.0.0.0/16-ish space
                let addr = 0x0a00_0000u32 | (rnd() as u32 & 0x000f_ffff);
                let v4 = (addr & (u32::MAX << (32 - u32::from(len)))).into();
                let q = Prefix::new(std::net::IpAddr::V4(v4), len).unwrap();
                let want =
                    members.iter().filter(|(m, _)| m.overlaps(&q)).min_by_key(|(_, v)| *v).copied();
                assert_eq!(set.first_overlap(&q), want, "{q}");
                let want_cov = members.iter().find(|(m, _)| m.covers(&q)).copied();
                assert_eq!(set.covering(&q), want_cov, "{q}");
                if want.is_none() {
                    set.insert(q, i);
                    members.push((q, i));
                }
            }
        }
    }

    #[test]
    fn families_and_edges() {
        let mut set = PrefixSet::new();
        set.insert(p("10.0.0.0/8"), 1);
        set.insert(p("::/0"), 2);
        assert_eq!(set.first_overlap(&p("10.1.0.0/16")), Some((p("10.0.0.0/8"), 1)));
        assert_eq!(set.first_overlap(&p("0.0.0.0/0")), Some((p("10.0.0.0/8"), 1)));
        assert_eq!(set.first_overlap(&p("11.0.0.0/8")), None);
        assert_eq!(set.first_overlap(&p("2001:db8::/32")), Some((p("::/0"), 2)));
        set.insert(p("255.255.255.255/32"), 3);
        assert_eq!(set.first_overlap(&p("255.0.0.0/8")), Some((p("255.255.255.255/32"), 3)));
        assert_eq!(set.covering(&p("9.0.0.0/8")), None);
    }
}
