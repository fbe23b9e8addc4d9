//! Measures in-process implementations: qfp-simd's backends (its `soft` backend is the
//! RustCrypto `aes` + `ghash` composition, the project's reference).
//!
//! Every packet has its own buffer, nonce and 8-byte AAD, like a burst of ESP packets. Open
//! must verify, so each packet carries two tags: GCM decryption XORs the same keystream as
//! encryption, so opening flips a buffer between ciphertext C and "plaintext" P, and P is in
//! turn a valid ciphertext under the tag that sealing C produces. Every open in the timed
//! loop is therefore a successful, full verify-and-decrypt.

use std::hint::black_box;
use std::time::{Duration, Instant};

use qfp_simd::gcm::GcmKey;

use super::{AAD_LEN, Dir, IMIX, Size};

struct Packet {
    buf: Vec<u8>,
    nonce: [u8; 12],
    /// Tag over the buffer's content in state 0 and in state 1.
    tags: [[u8; 16]; 2],
    state: usize,
}

/// A deterministic byte stream (xorshift) for contents; the values do not matter.
struct Filler(u64);

impl Filler {
    fn next(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 24) as u8
    }
    fn fill(&mut self, b: &mut [u8]) {
        b.iter_mut().for_each(|x| *x = self.next());
    }
}

/// Packet sizes of one workload: 64 packets of a fixed size, or 8 rounds of an IMIX
/// pattern with the 7:4:1 mix spread out.
fn sizes(size: Size) -> Vec<usize> {
    match size {
        Size::Fixed(n) => vec![n; 64],
        Size::Imix => {
            let pattern = [64, 570, 64, 64, 1500, 64, 570, 64, 64, 570, 64, 570];
            debug_assert_eq!(IMIX.iter().map(|(_, w)| w).sum::<usize>(), pattern.len());
            pattern.iter().copied().cycle().take(8 * pattern.len()).collect()
        }
    }
}

fn workload(key: &GcmKey, size: Size, aad: &[u8; AAD_LEN]) -> Vec<Packet> {
    let mut f = Filler(0x9e37_79b9_7f4a_7c15);
    sizes(size)
        .into_iter()
        .map(|n| {
            let mut nonce = [0u8; 12];
            f.fill(&mut nonce);
            let mut buf = vec![0u8; n];
            f.fill(&mut buf);
            let tag_c = key.seal_in_place(&nonce, aad, &mut buf); // buf = C, tag over C
            let mut p = buf.clone();
            let tag_p = key.seal_in_place(&nonce, aad, &mut p); // p = P, tag over P
            Packet { buf, nonce, tags: [tag_c, tag_p], state: 0 }
        })
        .collect()
}

/// How the timed repetitions are summarised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stat {
    /// All bytes over all the time, as `openssl speed` and `dpdk-test-crypto-perf` report
    /// theirs: on a shared machine every row is slowed alike.
    Mean,
    /// The fastest repetition: the least disturbed one, for tuning on a busy machine.
    Best,
}

/// Bytes of payload per second for `key` doing `dir` on `size` packets over `reps` timed
/// runs of `per_rep` each, after one untimed warm-up run.
pub fn measure(
    key: &GcmKey,
    dir: Dir,
    size: Size,
    per_rep: Duration,
    reps: usize,
    stat: Stat,
) -> f64 {
    let aad = [0x5a; AAD_LEN];
    let mut pkts = workload(key, size, &aad);
    let round_bytes: usize = pkts.iter().map(|p| p.buf.len()).sum();
    let round = |pkts: &mut [Packet]| match dir {
        Dir::Seal => {
            for p in pkts.iter_mut() {
                black_box(key.seal_in_place(&p.nonce, &aad, &mut p.buf));
            }
        }
        Dir::Open => {
            for p in pkts.iter_mut() {
                let r = key.open_in_place(&p.nonce, &aad, &mut p.buf, &p.tags[p.state]);
                assert!(r.is_ok(), "benchmark bug: open failed");
                p.state ^= 1;
            }
        }
    };
    let mut rates = Vec::with_capacity(reps);
    let (mut all_bytes, mut all_secs) = (0usize, 0.0f64);
    for rep in 0..=reps {
        let start = Instant::now();
        let mut bytes = 0usize;
        let budget = if rep == 0 { per_rep / 4 } else { per_rep };
        while start.elapsed() < budget {
            for _ in 0..16 {
                round(&mut pkts);
            }
            bytes += 16 * round_bytes;
        }
        if rep > 0 {
            let secs = start.elapsed().as_secs_f64();
            rates.push(bytes as f64 / secs);
            all_bytes += bytes;
            all_secs += secs;
        }
    }
    match stat {
        Stat::Mean => all_bytes as f64 / all_secs,
        Stat::Best => rates.iter().copied().fold(0.0, f64::max),
    }
}
