//! The `crypto` benchmark: AES-GCM seal and open per core, qfp's kernels beside the
//! references (RustCrypto `aes` + `ghash`, `openssl speed`, Intel's multi-buffer library via
//! `dpdk-test-crypto-perf`), all measured in one run and printed as one table per key size
//! and direction. A benchmark, not a test: it asserts nothing about speed.

pub mod external;
pub mod ours;
pub mod table;

/// AES key size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySize {
    Aes128,
    Aes256,
}

impl KeySize {
    pub fn bytes(self) -> usize {
        match self {
            KeySize::Aes128 => 16,
            KeySize::Aes256 => 32,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            KeySize::Aes128 => "AES-128-GCM",
            KeySize::Aes256 => "AES-256-GCM",
        }
    }
}

/// Seal (encrypt + tag) or open (verify + decrypt).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Seal,
    Open,
}

impl Dir {
    pub fn name(self) -> &'static str {
        match self {
            Dir::Seal => "seal (encrypt)",
            Dir::Open => "open (decrypt)",
        }
    }
}

/// A packet-size column of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    Fixed(usize),
    /// 7:4:1 of 64, 570 and 1500 bytes.
    Imix,
}

/// The columns, in order.
pub const SIZES: [Size; 4] = [Size::Fixed(64), Size::Fixed(512), Size::Fixed(1400), Size::Imix];

/// The IMIX mix: (size, weight).
pub const IMIX: [(usize, usize); 3] = [(64, 7), (570, 4), (1500, 1)];

/// Every fixed size a reference must be run at to fill the table (IMIX is derived).
pub const REF_SIZES: [usize; 5] = [64, 512, 570, 1400, 1500];

/// ESP's AAD without ESN: SPI || sequence number.
pub const AAD_LEN: usize = 8;

/// One cell: bytes of payload per second, or why there is no number.
#[derive(Clone, Debug)]
pub enum Cell {
    BytesPerSec(f64),
    Missing(String),
}

impl Cell {
    pub fn rate(&self) -> Option<f64> {
        match self {
            Cell::BytesPerSec(r) => Some(*r),
            Cell::Missing(_) => None,
        }
    }
}

/// The IMIX rate from per-size rates: total bytes of one 7:4:1 mix over the total time.
pub fn imix_from(rate_at: impl Fn(usize) -> Option<f64>) -> Option<f64> {
    let mut bytes = 0.0;
    let mut secs = 0.0;
    for (size, weight) in IMIX {
        let r = rate_at(size)?;
        bytes += (size * weight) as f64;
        secs += (size * weight) as f64 / r;
    }
    Some(bytes / secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imix_of_equal_rates_is_that_rate() {
        assert!((imix_from(|_| Some(2.0e9)).unwrap() - 2.0e9).abs() < 1.0);
    }

    #[test]
    fn imix_is_time_weighted() {
        // 64 B at 1 GB/s, others at 10 GB/s: 448 B take 448 ns, 3780 B take 378 ns.
        let r = imix_from(|s| Some(if s == 64 { 1e9 } else { 1e10 })).unwrap();
        assert!((r - 4228.0 / 826.0e-9).abs() / r < 1e-9, "{r}");
        assert!(imix_from(|s| if s == 570 { None } else { Some(1.0) }).is_none());
    }
}
