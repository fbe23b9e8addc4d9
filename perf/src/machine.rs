//! What a benchmark result needs next to it to mean anything: the command line, the CPU,
//! the CPU features present at run time and those the binary was compiled for.

/// The CPU model name from `/proc/cpuinfo` (or "unknown").
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// Logical CPUs online.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// The crypto-relevant CPU features: (name, present at run time, compiled in).
pub fn crypto_features() -> Vec<(&'static str, bool, bool)> {
    #[cfg(target_arch = "x86_64")]
    {
        vec![
            ("aes", std::arch::is_x86_feature_detected!("aes"), cfg!(target_feature = "aes")),
            (
                "pclmulqdq",
                std::arch::is_x86_feature_detected!("pclmulqdq"),
                cfg!(target_feature = "pclmulqdq"),
            ),
            ("avx2", std::arch::is_x86_feature_detected!("avx2"), cfg!(target_feature = "avx2")),
            ("vaes", std::arch::is_x86_feature_detected!("vaes"), cfg!(target_feature = "vaes")),
            (
                "vpclmulqdq",
                std::arch::is_x86_feature_detected!("vpclmulqdq"),
                cfg!(target_feature = "vpclmulqdq"),
            ),
            (
                "avx512f",
                std::arch::is_x86_feature_detected!("avx512f"),
                cfg!(target_feature = "avx512f"),
            ),
        ]
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Vec::new()
    }
}

/// One line per fact, each prefixed with `# ` so a table that follows stays parseable.
pub fn header() -> String {
    let args: Vec<String> = std::env::args().collect();
    let feats = crypto_features()
        .iter()
        .map(|(n, rt, ct)| {
            format!("{n}{}{}", if *rt { "" } else { "(absent)" }, if *ct { "*" } else { "" })
        })
        .collect::<Vec<_>>()
        .join(" ");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "# command: {}\n# cpu: {} ({} logical CPUs)\n# features: {feats}   (* = compiled in; others by runtime dispatch)\n# load average: {}\n# build: {}",
        args.join(" "),
        cpu_model(),
        cpus(),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        if cfg!(debug_assertions) {
            "DEBUG (numbers meaningless: use --release)"
        } else {
            "release"
        },
    )
}
