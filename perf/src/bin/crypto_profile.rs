//! `crypto_profile`: runs one AES-GCM operation a fixed number of times and nothing else, so
//! that a profiler (`valgrind --tool=callgrind`, `perf stat`) sees only the kernel.
//!
//! `cargo run --release -p perf --bin crypto_profile -- --backend aesni-pclmul --size 1400 --count 100000`
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::time::Instant;

use clap::Parser;
use qfp_simd::gcm::{Backend, GcmKey};

#[derive(Parser)]
struct Args {
    /// vaes-avx2, aesni-pclmul or soft.
    #[arg(long, default_value = "vaes-avx2")]
    backend: String,
    /// Plaintext bytes per operation.
    #[arg(long, default_value_t = 1400)]
    size: usize,
    /// Operations to run.
    #[arg(long, default_value_t = 1_000_000)]
    count: u64,
    /// 16 or 32.
    #[arg(long, default_value_t = 16)]
    key_len: usize,
    /// Open instead of seal.
    #[arg(long)]
    open: bool,
}

fn main() {
    let args = Args::parse();
    let Some(backend) = Backend::ALL.into_iter().find(|b| b.name() == args.backend) else {
        eprintln!("unknown backend {:?}; one of: vaes-avx2, aesni-pclmul, soft", args.backend);
        std::process::exit(2);
    };
    let key = match GcmKey::with_backend(&[7u8; 32][..args.key_len.min(32)], backend) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let nonce = [1u8; 12];
    let aad = [2u8; 8];
    let mut buf = vec![3u8; args.size];
    // Two tags so that every open verifies (see perf::crypto::ours).
    let t0 = key.seal_in_place(&nonce, &aad, &mut buf);
    let mut other = buf.clone();
    let t1 = key.seal_in_place(&nonce, &aad, &mut other);
    let tags = [t0, t1];
    let start = Instant::now();
    for i in 0..args.count {
        if args.open {
            let ok = key.open_in_place(&nonce, &aad, &mut buf, &tags[(i & 1) as usize]).is_ok();
            assert!(ok, "open failed");
        } else {
            black_box(key.seal_in_place(&nonce, &aad, &mut buf));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} {} {} B x {}: {:.1} ns/op, {:.3} GB/s",
        backend,
        if args.open { "open" } else { "seal" },
        args.size,
        args.count,
        secs * 1e9 / args.count as f64,
        (args.size as u64 * args.count) as f64 / secs / 1e9
    );
}
