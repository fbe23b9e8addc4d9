//! Single-core throughput of the heap ESP pipeline, and raw speed of the AES-GCM reference.
//!
//! `cargo run --release -p perf --bin pipeline [-- --seconds 1 --runs 5]`
//!
//! Workloads are Ethernet frame sizes on the plain side (FCS included, as pktgen counts
//! them): the inner IP packet is `size - 18` bytes. IMIX is 7:4:1 of 64/570/1500-byte
//! frames, interleaved. Encap takes the inner packet to an outer IPv4 ESP packet (AES-GCM,
//! ESN, no NAT-T, tunnel MTU 9000 so the 1500-byte IMIX frames fit); decap takes that
//! packet back (replay window off, because the benchmark replays the same packets, as
//! pcap replay does). Every iteration refills each buffer from its template first (a
//! memcpy standing in for NIC DMA); the cost of that refill alone is printed as
//! `refill`. Gbps counts frame bits (size * 8), without preamble and inter-frame gap.
//! Nothing is allocated inside the timed loops.
//!
//! Each figure is the best of `--runs` runs of `--seconds` each: on a shared machine the
//! best run is the least disturbed one.

#![forbid(unsafe_code)]

use clap::Parser;
use dataplane::crypto::AesGcm;
use dataplane::sa::{Endpoints, Lifetime, Tunnel};
use dataplane::selector::Selectors;
use dataplane::wire::checksum;
use dataplane::{
    Counters, HeapBuf, PacketBuf, Sa, SaConfig, SaDirection, decap_burst, encap_burst,
};
use std::hint::black_box;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    about = "Single-core throughput of the qfp heap ESP pipeline and of the AES-GCM reference"
)]
struct Args {
    /// Seconds per run of each measurement.
    #[arg(long, default_value_t = 0.5)]
    seconds: f64,
    /// Runs per measurement; the best is reported.
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// Packets per burst.
    #[arg(long, default_value_t = 32)]
    burst: usize,
    /// Do not run `openssl speed` for the crypto ceiling.
    #[arg(long)]
    no_openssl: bool,
}

const FCS_AND_ETH: usize = 18;

struct Workload {
    name: &'static str,
    /// Frame sizes, cycled over the burst.
    frames: Vec<usize>,
}

fn workloads() -> Vec<Workload> {
    let imix = [64, 570, 64, 64, 570, 64, 1500, 64, 570, 64, 64, 570];
    vec![
        Workload { name: "64", frames: vec![64] },
        Workload { name: "512", frames: vec![512] },
        Workload { name: "1400", frames: vec![1400] },
        Workload { name: "imix", frames: imix.to_vec() },
    ]
}

/// An inner IPv4/UDP packet for a frame of `frame` bytes.
fn inner_packet(frame: usize, fill: u8) -> Vec<u8> {
    let total = frame - FCS_AND_ETH;
    let mut p = vec![fill; total];
    p[0] = 0x45;
    p[1] = 0;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[4..8].copy_from_slice(&[0, 0, 0x40, 0]);
    p[8] = 64;
    p[9] = 17;
    p[10..12].copy_from_slice(&[0, 0]);
    p[12..16].copy_from_slice(&[192, 168, 105, 7]);
    p[16..20].copy_from_slice(&[192, 168, 115, 9]);
    let c = checksum::of(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p
}

fn sa(key_len: usize, dir: SaDirection) -> Sa {
    let key: Vec<u8> = (0..key_len as u8).collect();
    let (a, b) = ("172.16.1.5".parse().unwrap(), "172.16.2.5".parse().unwrap());
    let (local, remote) = if dir == SaDirection::Outbound { (a, b) } else { (b, a) };
    Sa::new(SaConfig {
        spi: 0x1001,
        direction: dir,
        key: &key,
        salt: [1, 2, 3, 4],
        esn: true,
        tunnel: Tunnel { endpoints: Endpoints::V4 { local, remote }, natt: None, mtu: 9000 },
        selectors: Selectors::any(),
        lifetime: Lifetime::UNLIMITED,
        replay_window: 0,
        created_ns: 0,
        initial_seq: 0,
    })
    .expect("benchmark SA")
}

/// Runs `burst_fn` (which processes `per_burst` packets) for `seconds`, `runs` times;
/// returns the best packets per second.
fn measure(args: &Args, per_burst: usize, mut burst_fn: impl FnMut()) -> f64 {
    let mut best = 0f64;
    for _ in 0..args.runs {
        // Warm up caches and branch predictors.
        for _ in 0..64 {
            burst_fn();
        }
        let limit = Duration::from_secs_f64(args.seconds);
        let start = Instant::now();
        let mut bursts = 0u64;
        loop {
            for _ in 0..64 {
                burst_fn();
            }
            bursts += 64;
            let el = start.elapsed();
            if el >= limit {
                best = best.max(bursts as f64 * per_burst as f64 / el.as_secs_f64());
                break;
            }
        }
    }
    best
}

struct Row {
    op: &'static str,
    aead: String,
    size: String,
    pps: f64,
    bits_per_pkt: f64,
}

fn print_rows(rows: &[Row]) {
    println!(
        "{:<8} {:<12} {:>6} {:>9} {:>9} {:>9}",
        "op", "aead", "size", "Mpps", "Gbps", "ns/pkt"
    );
    for r in rows {
        println!(
            "{:<8} {:<12} {:>6} {:>9.3} {:>9.3} {:>9.1}",
            r.op,
            r.aead,
            r.size,
            r.pps / 1e6,
            r.pps * r.bits_per_pkt / 1e9,
            1e9 / r.pps
        );
    }
}

fn pipeline(args: &Args) -> Vec<Row> {
    let mut rows = Vec::new();
    for w in workloads() {
        let frames: Vec<usize> = (0..args.burst).map(|i| w.frames[i % w.frames.len()]).collect();
        let bits_per_pkt = frames.iter().sum::<usize>() as f64 * 8.0 / frames.len() as f64;
        let inners: Vec<Vec<u8>> =
            frames.iter().enumerate().map(|(i, &f)| inner_packet(f, i as u8)).collect();
        let mut bufs: Vec<HeapBuf> =
            inners.iter().map(|p| HeapBuf::with_room(p, HeapBuf::HEADROOM, 2048)).collect();

        // The refill alone, for reference.
        let pps = measure(args, args.burst, || {
            for (b, t) in bufs.iter_mut().zip(&inners) {
                let _ = b.reset(t, HeapBuf::HEADROOM);
            }
            black_box(&mut bufs);
        });
        rows.push(Row { op: "refill", aead: "-".into(), size: w.name.into(), pps, bits_per_pkt });

        for key_len in [16usize, 32] {
            let aead = format!("aes-{}-gcm", key_len * 8);
            let out = sa(key_len, SaDirection::Outbound);
            let inb = [sa(key_len, SaDirection::Inbound)];
            let sas: Vec<&Sa> = vec![&out; args.burst];
            let counters = Counters::new();

            let mut failed = 0u64;
            let pps = measure(args, args.burst, || {
                for (b, t) in bufs.iter_mut().zip(&inners) {
                    let _ = b.reset(t, HeapBuf::HEADROOM);
                }
                encap_burst(&mut bufs, &sas, 1, &counters, |_, _, r| failed += r.is_err() as u64);
            });
            assert_eq!(failed, 0, "encap refused packets: {:?}", counters.snapshot());
            rows.push(Row {
                op: "encap",
                aead: aead.clone(),
                size: w.name.into(),
                pps,
                bits_per_pkt,
            });

            // Encrypted templates for decap.
            let sealed: Vec<Vec<u8>> = bufs
                .iter_mut()
                .zip(&inners)
                .map(|(b, t)| {
                    b.reset(t, HeapBuf::HEADROOM).unwrap();
                    dataplane::encap(b, &out, 1).unwrap();
                    b.data().to_vec()
                })
                .collect();
            let mut bad = 0u64;
            let pps = measure(args, args.burst, || {
                for (b, t) in bufs.iter_mut().zip(&sealed) {
                    let _ = b.reset(t, HeapBuf::HEADROOM);
                }
                decap_burst(&mut bufs, &inb[..], 1, &counters, |_, _, r| bad += r.is_err() as u64);
            });
            assert_eq!(bad, 0, "decap refused packets: {:?}", counters.snapshot());
            rows.push(Row { op: "decap", aead, size: w.name.into(), pps, bits_per_pkt });
        }
    }
    rows
}

/// Raw AES-GCM of the reference: (op, aead, bytes, GB/s).
fn crypto(args: &Args) -> Vec<(&'static str, String, usize, f64)> {
    let mut out = Vec::new();
    for key_len in [16usize, 32] {
        let g = AesGcm::new(&vec![7u8; key_len]).unwrap();
        let aead = format!("aes-{}-gcm", key_len * 8);
        for size in [64usize, 512, 1400, 16384] {
            let nonce = [9u8; 12];
            let aad = [1u8; 12];
            let mut buf = vec![0x5au8; size];
            let pps = measure(args, 1, || {
                black_box(g.seal_in_place(&nonce, &aad, &mut buf));
            });
            out.push(("seal", aead.clone(), size, pps * size as f64 / 1e9));
            let mut ct = vec![0x5au8; size];
            let tag = g.seal_in_place(&nonce, &aad, &mut ct);
            let pps = measure(args, 1, || {
                buf.copy_from_slice(&ct);
                g.open_in_place(&nonce, &aad, &mut buf, &tag).expect("tag verifies");
            });
            out.push(("open", aead.clone(), size, pps * size as f64 / 1e9));
        }
    }
    out
}

/// `openssl speed -evp` in GB/s for a cipher and block size, if openssl is there.
fn openssl_speed(cipher: &str, bytes: usize) -> Option<f64> {
    let out = std::process::Command::new("openssl")
        .args(["speed", "-evp", cipher, "-bytes", &bytes.to_string(), "-seconds", "1", "-mr"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "+F:<n>:<CIPHER>:<bytes per second>"
    let line = text.lines().find(|l| l.starts_with("+F:"))?;
    let v: f64 = line.rsplit(':').next()?.trim().parse().ok()?;
    Some(v / 1e9)
}

fn main() {
    let args = Args::parse();
    if args.burst == 0 || args.runs == 0 || args.seconds <= 0.0 {
        eprintln!("error: --burst, --runs and --seconds must be positive");
        std::process::exit(2);
    }
    println!("{}", perf::machine::header());
    println!(
        "# pipeline: 1 core, HeapBuf, burst {}, outer IPv4, ESN, no NAT-T, best of {} x {:.2}s",
        args.burst, args.runs, args.seconds
    );
    println!(
        "# size = plain-side Ethernet frame bytes (inner IP = size - 18); refill = memcpy only"
    );
    print_rows(&pipeline(&args));
    println!();
    println!(
        "# AES-GCM reference (aes + ghash crates), in place, 12-byte AAD; open includes a copy-in"
    );
    println!("{:<6} {:<12} {:>6} {:>9} {:>14}", "op", "aead", "bytes", "GB/s", "openssl GB/s");
    let c = crypto(&args);
    for (op, aead, size, gbs) in &c {
        let ossl = if args.no_openssl || *op != "seal" { None } else { openssl_speed(aead, *size) };
        match ossl {
            Some(o) => println!(
                "{op:<6} {aead:<12} {size:>6} {gbs:>9.3} {o:>9.3} ({:.0}%)",
                100.0 * gbs / o
            ),
            None => println!("{op:<6} {aead:<12} {size:>6} {gbs:>9.3} {:>14}", "-"),
        }
    }
}
