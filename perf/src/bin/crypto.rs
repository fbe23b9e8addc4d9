//! `crypto`: AES-128/256-GCM seal and open per core at 64, 512, 1400 B and IMIX: qfp-simd's
//! VAES and AES-NI backends beside RustCrypto `aes` + `ghash`, `openssl speed` and Intel's
//! multi-buffer library (`dpdk-test-crypto-perf --vdev crypto_aesni_gcm0`), in one run.
//!
//! Run: `cargo run --release -p perf --bin crypto` (add `-- --help` for options).
#![forbid(unsafe_code)]

use std::time::Duration;

use clap::Parser;
use perf::crypto::external::{self, RefRun};
use perf::crypto::table::{self, Ratio, Row};
use perf::crypto::{AAD_LEN, Cell, Dir, KeySize, SIZES, Size, imix_from, ours};
use qfp_simd::gcm::{Backend, GcmKey};

#[derive(Parser)]
#[command(
    about = "AES-GCM per-core throughput: qfp-simd vs aes+ghash vs openssl vs intel-ipsec-mb"
)]
struct Args {
    /// Seconds per timed repetition of each in-process measurement.
    #[arg(long, default_value_t = 0.25)]
    seconds: f64,
    /// Timed repetitions per in-process measurement (all bytes over all their time is reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Seconds per size for `openssl speed`.
    #[arg(long, default_value_t = 1)]
    openssl_seconds: u32,
    /// Operations per buffer size for `dpdk-test-crypto-perf`.
    #[arg(long, default_value_t = 4_000_000)]
    dpdk_ops: u64,
    /// Core to pin this process to (the references run on core 1).
    #[arg(long, default_value_t = 1)]
    core: usize,
    /// Only AES-128-GCM.
    #[arg(long)]
    aes128_only: bool,
    /// Report the fastest repetition instead (tuning on a busy machine; not comparable with
    /// the references).
    #[arg(long)]
    best: bool,
    /// Skip openssl and dpdk-test-crypto-perf (quick in-process runs while tuning).
    #[arg(long)]
    no_refs: bool,
}

fn cpu_banner() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let get = |key: &str| {
        info.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "?".to_string())
    };
    let flags = get("flags");
    let wanted =
        ["aes", "pclmulqdq", "avx", "avx2", "vaes", "vpclmulqdq", "avx512f", "avx512vl", "sha_ni"];
    let present: Vec<&str> =
        wanted.iter().copied().filter(|f| flags.split_whitespace().any(|x| x == *f)).collect();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "CPU: {} ({} logical CPUs, {} MHz)\ncrypto flags: {}\nall flags: {}\nload average at start: {}",
        get("model name"),
        info.lines().filter(|l| l.starts_with("processor")).count(),
        get("cpu MHz"),
        present.join(" "),
        flags,
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

fn ref_cells(run: &RefRun) -> Vec<Cell> {
    SIZES
        .iter()
        .map(|size| {
            let rate = match size {
                Size::Fixed(n) => run.rate_at(*n),
                Size::Imix => imix_from(|n| run.rate_at(n)),
            };
            match (&run.rates, rate) {
                (_, Some(r)) => Cell::BytesPerSec(r),
                (Err(e), None) => Cell::Missing(e.clone()),
                (Ok(_), None) => Cell::Missing("size missing from output".to_string()),
            }
        })
        .collect()
}

fn main() {
    let args = Args::parse();
    let pinned = core_affinity::set_for_current(core_affinity::CoreId { id: args.core });
    println!("{}", cpu_banner());
    println!(
        "in-process measurements pinned to core {} ({}); references run on core 1. Each cell: payload bytes \
         of {AAD_LEN}-byte-AAD packets, 16-byte tag; in-process figures are the {} of {} x {:.2} s.",
        args.core,
        if pinned { "ok" } else { "pinning FAILED" },
        if args.best { "best run" } else { "aggregate" },
        args.reps,
        args.seconds
    );
    println!(
        "The machine has 2 cores: anything else running on them (builds, other benchmarks) lowers every \
         figure; run twice and compare. IMIX is a real 7:4:1 packet mix for in-process rows and is derived \
         from the 64/570/1500 B rates (time-weighted) for openssl and intel-ipsec-mb. openssl runs its \
         TLS-like per-packet sequence (-aead: new IV, 13-byte AAD, tag each packet); intel-ipsec-mb \
         figures include DPDK's cryptodev enqueue/dequeue, as ipsec-secgw pays them.\n"
    );
    let per_rep = Duration::from_secs_f64(args.seconds);
    let stat = if args.best { ours::Stat::Best } else { ours::Stat::Mean };
    let keys: &[KeySize] =
        if args.aes128_only { &[KeySize::Aes128] } else { &[KeySize::Aes128, KeySize::Aes256] };
    let mut commands: Vec<String> = Vec::new();
    for &ks in keys {
        for dir in [Dir::Seal, Dir::Open] {
            let mut rows = Vec::new();
            for backend in [Backend::VaesAvx2, Backend::AesniPclmul, Backend::Soft] {
                let label = match backend {
                    Backend::Soft => "aes+ghash (RustCrypto reference)".to_string(),
                    b => format!("qfp-simd {b}"),
                };
                let cells = match GcmKey::with_backend(&[0x42; 32][..ks.bytes()], backend) {
                    Ok(key) => SIZES
                        .iter()
                        .map(|&s| {
                            Cell::BytesPerSec(ours::measure(&key, dir, s, per_rep, args.reps, stat))
                        })
                        .collect(),
                    Err(e) => vec![Cell::Missing(e.to_string()); SIZES.len()],
                };
                rows.push(Row { label, cells });
            }
            if args.no_refs {
                let skipped = vec![Cell::Missing("skipped (--no-refs)".to_string()); SIZES.len()];
                rows.push(Row {
                    label: "openssl speed -evp -aead".to_string(),
                    cells: skipped.clone(),
                });
                rows.push(Row {
                    label: "intel-ipsec-mb (DPDK aesni_gcm)".to_string(),
                    cells: skipped,
                });
            } else {
                let ossl = external::openssl(ks, dir, args.openssl_seconds);
                rows.push(Row {
                    label: "openssl speed -evp -aead".to_string(),
                    cells: ref_cells(&ossl),
                });
                let mb = external::intel_ipsec_mb(ks, dir, args.dpdk_ops);
                rows.push(Row {
                    label: "intel-ipsec-mb (DPDK aesni_gcm)".to_string(),
                    cells: ref_cells(&mb),
                });
                commands.extend(
                    ossl.commands
                        .into_iter()
                        .take(1)
                        .map(|c| format!("{c}   (also -bytes 512, 570, 1400, 1500)")),
                );
                commands.extend(mb.commands);
            }
            let ratios = [
                Ratio { label: "vaes / intel-ipsec-mb".to_string(), num: 0, den: 4 },
                Ratio { label: "aesni / intel-ipsec-mb".to_string(), num: 1, den: 4 },
                Ratio { label: "vaes / openssl".to_string(), num: 0, den: 3 },
                Ratio { label: "vaes / aes+ghash".to_string(), num: 0, den: 2 },
            ];
            println!(
                "{}\n",
                table::render(&format!("{} {}", ks.name(), dir.name()), &rows, &ratios)
            );
        }
    }
    println!("Reference command lines:");
    for c in commands {
        println!("  {c}");
    }
    let load = load_average();
    println!("load average at end: {load:.2}");
    if load > 1.5 {
        println!(
            "WARNING: load average {load:.2} on a 2-core machine: other work shared the cores, every figure is \
             low and the ratios are unreliable. Re-run on a quiet machine."
        );
    }
}

/// The 1-minute load average (0 if unknown).
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}
