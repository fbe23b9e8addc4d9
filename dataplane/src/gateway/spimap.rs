//! The inbound SA map: SPI → entry, an open-addressing hash table built once by the control
//! core and then only read.
//!
//! Every ESP packet costs one lookup here, so it is kept to a multiply, a shift and a short
//! linear probe over an array of 8-byte slots (SPI, index of the entry): at most half the
//! slots are used, so the expected probe is about 1.5 slots for a hit and 2.5 for a miss,
//! and the table is rebuilt (copy-on-write) rather than changed in place. SPI 0 is never an
//! SA (RFC 4303 section 2.1) and marks an empty slot. A sender cannot lengthen our probes:
//! clusters are made of *our* SPIs only, and lookups of unknown SPIs merely walk them.

/// A read-only map from SPI to `V`.
#[derive(Debug, Clone)]
pub struct SpiMap<V> {
    slots: Box<[Slot]>,
    values: Box<[V]>,
    shift: u32,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    spi: u32,
    index: u32,
}

/// Why a map could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpiMapError {
    /// The same SPI twice.
    Duplicate(u32),
    /// SPI 0 (reserved, never an SA).
    Zero,
}

impl core::fmt::Display for SpiMapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SpiMapError::Duplicate(s) => write!(f, "inbound SPI {s:#x} is already published"),
            SpiMapError::Zero => f.write_str("SPI 0 is reserved"),
        }
    }
}

impl std::error::Error for SpiMapError {}

#[inline(always)]
fn hash(spi: u32, shift: u32) -> usize {
    // Fibonacci hashing: the top bits of the product are well mixed even for sequential SPIs.
    (u64::from(spi).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> shift) as usize
}

impl<V> SpiMap<V> {
    /// Builds the map; an SPI given twice, or SPI 0, is an error.
    pub fn build(items: Vec<(u32, V)>) -> Result<SpiMap<V>, SpiMapError> {
        let cap = (items.len() * 2).next_power_of_two().max(16);
        let shift = 64 - cap.trailing_zeros();
        let mut slots = vec![Slot::default(); cap].into_boxed_slice();
        let mut values = Vec::with_capacity(items.len());
        for (i, (spi, v)) in items.into_iter().enumerate() {
            if spi == 0 {
                return Err(SpiMapError::Zero);
            }
            let mut at = hash(spi, shift);
            loop {
                let s = &mut slots[at];
                if s.spi == 0 {
                    *s = Slot { spi, index: i as u32 };
                    break;
                }
                if s.spi == spi {
                    return Err(SpiMapError::Duplicate(spi));
                }
                at = (at + 1) & (cap - 1);
            }
            values.push(v);
        }
        Ok(SpiMap { slots, values: values.into_boxed_slice(), shift })
    }

    /// An empty map.
    pub fn empty() -> SpiMap<V> {
        SpiMap::build(Vec::new()).unwrap_or_else(|_| unreachable!("an empty map always builds"))
    }

    /// The entry of `spi`.
    #[inline]
    pub fn get(&self, spi: u32) -> Option<&V> {
        if spi == 0 {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut at = hash(spi, self.shift);
        loop {
            let s = self.slots[at];
            if s.spi == spi {
                return self.values.get(s.index as usize);
            }
            if s.spi == 0 {
                return None;
            }
            at = (at + 1) & mask;
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Every (SPI, entry), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &V)> + '_ {
        self.slots.iter().filter(|s| s.spi != 0).map(|s| (s.spi, &self.values[s.index as usize]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hits_misses_and_errors() {
        let m = SpiMap::build(vec![(0x1001, "a"), (0x2001, "b"), (7, "c")]).unwrap();
        assert_eq!(m.get(0x1001), Some(&"a"));
        assert_eq!(m.get(0x2001), Some(&"b"));
        assert_eq!(m.get(7), Some(&"c"));
        assert_eq!(m.get(0x1002), None);
        assert_eq!(m.get(0), None);
        assert_eq!(m.len(), 3);
        assert_eq!(m.iter().count(), 3);
        assert_eq!(SpiMap::build(vec![(5, 1), (5, 2)]).unwrap_err(), SpiMapError::Duplicate(5));
        assert_eq!(SpiMap::build(vec![(0, 1)]).unwrap_err(), SpiMapError::Zero);
        assert!(SpiMap::<u8>::empty().get(1).is_none());
    }

    proptest! {
        #[test]
        fn agrees_with_a_hash_map(spis in proptest::collection::hash_set(1u32.., 0..300), probes in proptest::collection::vec(any::<u32>(), 0..100)) {
            let items: Vec<(u32, u32)> = spis.iter().map(|&s| (s, s ^ 0x5555)).collect();
            let m = SpiMap::build(items.clone()).unwrap();
            for &(s, v) in &items {
                prop_assert_eq!(m.get(s), Some(&v));
            }
            for p in probes {
                prop_assert_eq!(m.get(p).copied(), spis.contains(&p).then_some(p ^ 0x5555).filter(|_| p != 0));
            }
        }
    }
}
