//! Runs the out-of-process references and parses their output: `openssl speed` (OpenSSL's
//! EVP AES-GCM, per packet in its TLS-like `-aead` sequence) and `dpdk-test-crypto-perf` with
//! the `crypto_aesni_gcm` PMD (Intel's multi-buffer library, the crypto DPDK's ipsec-secgw
//! uses). Both run on core 1, like the in-process measurements.

use std::process::Command;

use super::{AAD_LEN, Dir, KeySize, REF_SIZES};

/// A reference's per-size rates (bytes of payload per second), or why it could not run, and
/// the command lines used.
#[derive(Debug)]
pub struct RefRun {
    pub commands: Vec<String>,
    pub rates: Result<Vec<(usize, f64)>, String>,
}

impl RefRun {
    pub fn rate_at(&self, size: usize) -> Option<f64> {
        self.rates.as_ref().ok()?.iter().find(|(s, _)| *s == size).map(|(_, r)| *r)
    }
}

fn render(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// `taskset -c 1 <program>` when taskset exists, so references run on the core we use.
fn pinned(program: &str) -> Command {
    let has_taskset = Command::new("taskset").arg("-V").output().is_ok_and(|o| o.status.success());
    if has_taskset {
        let mut c = Command::new("taskset");
        c.args(["-c", "1", program]);
        c
    } else {
        Command::new(program)
    }
}

/// Output of a finished command, or a one-line reason.
fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", cmd.get_program().to_string_lossy()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last =
            stderr.lines().chain(stdout.lines()).rfind(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(format!("exited with {}: {}", out.status, last.trim()));
    }
    Ok(stdout)
}

/// `openssl speed -mr` output -> bytes per second (its `+F:` line is in bytes per second).
pub fn parse_openssl(out: &str) -> Option<f64> {
    let line = out.lines().find(|l| l.starts_with("+F:"))?;
    line.rsplit(':').next()?.trim().parse().ok()
}

/// `openssl speed -evp aes-N-gcm -aead` at every reference size, `secs` seconds each.
pub fn openssl(key: KeySize, dir: Dir, secs: u32) -> RefRun {
    let cipher = match key {
        KeySize::Aes128 => "aes-128-gcm",
        KeySize::Aes256 => "aes-256-gcm",
    };
    let mut commands = Vec::new();
    let mut rates = Vec::new();
    for size in REF_SIZES {
        let mut cmd = pinned("openssl");
        cmd.args([
            "speed",
            "-mr",
            "-elapsed",
            "-seconds",
            &secs.to_string(),
            "-evp",
            cipher,
            "-aead",
        ]);
        if dir == Dir::Open {
            cmd.arg("-decrypt");
        }
        cmd.args(["-bytes", &size.to_string()]);
        commands.push(render(&cmd));
        match run(&mut cmd).and_then(|o| {
            parse_openssl(&o).ok_or_else(|| "no +F: line in openssl output".to_string())
        }) {
            Ok(r) => rates.push((size, r)),
            Err(e) => return RefRun { commands, rates: Err(e) },
        }
    }
    RefRun { commands, rates: Ok(rates) }
}

/// `dpdk-test-crypto-perf` throughput table -> (buffer size, bytes per second) per row.
pub fn parse_crypto_perf(out: &str) -> Vec<(usize, f64)> {
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // lcore, buf size, burst, enq, deq, failed enq, failed deq, MOps, Gbps, cycles/buf
            if f.len() != 10 || f[0].parse::<u32>().is_err() {
                return None;
            }
            let size: usize = f[1].parse().ok()?;
            let gbps: f64 = f[8].parse().ok()?;
            Some((size, gbps * 1e9 / 8.0))
        })
        .collect()
}

/// Intel's multi-buffer AES-GCM through DPDK's crypto PMD, worker on lcore 1, `ops`
/// operations per buffer size.
pub fn intel_ipsec_mb(key: KeySize, dir: Dir, ops: u64) -> RefRun {
    let sizes = REF_SIZES.map(|s| s.to_string()).join(",");
    let mut cmd = Command::new("dpdk-test-crypto-perf");
    cmd.args(["--no-huge", "-m", "1024", "--no-pci", "--vdev", "crypto_aesni_gcm0", "-l", "0,1"]);
    cmd.args([
        "--file-prefix",
        &format!("qfp-crypto-bench-{}", std::process::id()),
        "--log-level",
        "error",
    ]);
    cmd.args(["--", "--ptest", "throughput", "--devtype", "crypto_aesni_gcm", "--optype", "aead"]);
    cmd.args([
        "--aead-algo",
        "aes-gcm",
        "--aead-op",
        if dir == Dir::Seal { "encrypt" } else { "decrypt" },
    ]);
    cmd.args(["--aead-key-sz", &key.bytes().to_string(), "--aead-iv-sz", "12"]);
    cmd.args(["--aead-aad-sz", &AAD_LEN.to_string(), "--digest-sz", "16"]);
    cmd.args(["--buffer-sz", &sizes, "--total-ops", &ops.to_string(), "--silent"]);
    let commands = vec![render(&cmd)];
    let rates = run(&mut cmd).map_err(|e| format!("{e}{}", pmd_hint())).and_then(|out| {
        let rows = parse_crypto_perf(&out);
        match REF_SIZES.iter().find(|s| !rows.iter().any(|(r, _)| r == *s)) {
            Some(missing) => Err(format!("no {missing}-byte row in dpdk-test-crypto-perf output")),
            None => Ok(rows),
        }
    });
    RefRun { commands, rates }
}

/// Why the aesni_gcm PMD may be missing: Debian ships it separately from the `dpdk` package.
fn pmd_hint() -> &'static str {
    let installed = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "librte-crypto-ipsec-mb23"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"));
    if installed {
        ""
    } else {
        " (the PMD package librte-crypto-ipsec-mb23 is not installed: apt-get install librte-crypto-ipsec-mb23)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openssl_machine_readable_output() {
        let out = "+DT:AES-128-GCM:1:1400\n+R:800206:AES-128-GCM:1.000000\n+H:1400\n+F:25:AES-128-GCM:1120288400.00\n";
        assert_eq!(parse_openssl(out), Some(1120288400.0));
        assert_eq!(parse_openssl("+H:1400\n"), None);
    }

    #[test]
    fn parses_crypto_perf_rows() {
        let out = "    lcore id    Buf Size  Burst Size    Enqueued    Dequeued  Failed Enq  Failed Deq        MOps        Gbps  Cycles/Buf\n\n           1          64          32    10000000    10000000           0           0     17.8241      9.1259      137.45\n           1        1400          32    10000000    10000000           0           0      2.5260     28.2915      969.90\n";
        let rows = parse_crypto_perf(out);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, 64);
        assert!((rows[1].1 - 28.2915e9 / 8.0).abs() < 1.0);
    }
}
