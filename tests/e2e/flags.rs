//! Bad command lines: one line naming the flag (plus at most clap's usage hint) and exit
//! status 2, before anything starts; flags of later stages are refused by name.
#![forbid(unsafe_code)]

use qfp_tests::{EalArgs, Qfp, TempDir, exclusive};

/// Runs `qfp run <args>`, expects exit 2 and a first stderr line that names `flag`.
fn refused(args: &[&str], flag: &str) -> String {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    let out = Qfp::new(all).output();
    out.assert_code(2);
    let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        !lines.is_empty() && lines.len() <= 2,
        "{args:?}: expected 1 line plus a hint:\n{}",
        out.stderr
    );
    assert!(lines[0].contains(flag), "{args:?}: first line does not name {flag}:\n{}", out.stderr);
    assert!(!out.stderr.contains("EAL:"), "{args:?}: DPDK was started:\n{}", out.stderr);
    lines[0].to_owned()
}

#[test]
fn bad_values_exit_2_naming_the_flag() {
    refused(&["--bogus"], "--bogus");
    refused(&["--workers", "0"], "--workers");
    refused(&["--burst", "0"], "--burst");
    refused(&["--burst", "100000"], "--burst");
    refused(&["--duration", "abc"], "--duration");
    refused(&["--stats-interval", "-2"], "--stats-interval");
    refused(&["--poll", "sometimes"], "--poll");
    refused(&["--rx-desc", "8"], "--rx-desc");
}

#[test]
fn control_core_flags_need_the_gateway() {
    for (args, flag) in [
        (&["--rekey-every", "100"][..], "--rekey-every"),
        (&["--rekey-order", "outbound-first"], "--rekey-order"),
        (&["--rekey-overlap-ms", "10"], "--rekey-overlap-ms"),
        (&["--invalid-spi-recovery", "on"], "--invalid-spi-recovery"),
        (&["--invalid-spi-log-interval", "5"], "--invalid-spi-log-interval"),
        (&["--invalid-spi-out-of-sync", "2"], "--invalid-spi-out-of-sync"),
    ] {
        let line = refused(args, flag);
        assert!(line.contains("give -c FILE"), "{line}");
    }
}

#[test]
fn demo_refuses_bad_arguments_with_one_line_before_starting_anything() {
    for (args, needle) in [
        (&["demo", "show", "drops"][..], "show"),
        (&["demo", "--rate", "0"], "--rate"),
        (&["demo", "--rekey-order", "sideways"], "--rekey-order"),
        (&["demo", "--duration", "10", "--desync-at", "11"], "--desync-at"),
        (&["demo", "--json", "/no/such/dir/s.json"], "--json"),
    ] {
        let out = Qfp::new(args.iter().copied()).output();
        out.assert_code(2);
        let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.starts_with("For more")).collect();
        assert_eq!(lines.len(), 1, "{args:?}: {}", out.stderr);
        assert!(lines[0].contains(needle), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn unwritable_stats_file_is_refused_before_start() {
    let dir = TempDir::new("flags");
    let bad = dir.join("no/such/dir/s.json").display().to_string();
    refused(&["--stats-json", &bad, "--duration", "1"], "--stats-json");
}

/// Errors only the EAL can find (ports, lcores, pool) also exit 2, naming the flag.
#[test]
fn setup_errors_after_eal_start_exit_2() {
    let _one_at_a_time = exclusive();
    for (args, eal, needle) in [
        (vec!["--duration", "1"], EalArgs::new().vdev("net_null0"), "needs 2 ports"),
        (
            vec!["--workers", "3"],
            EalArgs::new().vdev("net_null0").vdev("net_null1").arg("-l").arg("0-1"),
            "--workers 3",
        ),
        (
            vec!["--mbufs", "1023"],
            EalArgs::new().vdev("net_null0").vdev("net_null1"),
            "--mbufs 1023",
        ),
        (vec![], EalArgs::new().arg("--no-such-eal-option"), "EAL arguments"),
    ] {
        let mut all = vec!["run".to_owned()];
        all.extend(args.iter().map(|s| s.to_string()));
        all.push("--".into());
        all.extend(eal.build());
        let out = Qfp::new(all).cleanup_after(eal.runtime_dirs()).output();
        out.assert_code(2);
        let last = out.qfp_lines().last().map(|s| s.to_string()).unwrap_or_default();
        assert!(
            last.contains(needle),
            "{args:?}: last qfp line does not say {needle:?}:\n{}",
            out.stderr
        );
    }
}

/// A minimal good gateway config; `edit` changes it.
fn gateway_config(dir: &TempDir, edit: impl Fn(String) -> String) -> String {
    let text = qfp_tests::gateway::GatewayDef::standard().config_toml(1024);
    let path = dir.join("gw.toml");
    std::fs::write(&path, edit(text)).unwrap();
    path.display().to_string()
}

/// Bad configs and gateway flags: one line naming the file, line and field (or the flag),
/// exit 2, DPDK never started.
#[test]
fn bad_gateway_config_and_flags_exit_2_before_start() {
    let dir = TempDir::new("gwflags");
    let good = gateway_config(&dir, |t| t);
    let bad_key = gateway_config(&dir, |t| t.replacen("key = \"", "key = \"00", 1));
    let line = refused(&["-c", &bad_key], "tunnel[0].sa[0].key");
    assert!(line.contains("gw.toml:") && line.contains("expected 32 hex digits"), "{line}");
    let unknown = gateway_config(&dir, |t| t.replace("replay_window", "replay_windw"));
    let line = refused(&["-c", &unknown], "gateway.replay_windw");
    assert!(line.contains("gw.toml:5:") && line.contains("unknown field"), "{line}");
    let missing = dir.join("nope.toml").display().to_string();
    refused(&["-c", &missing], "nope.toml");
    refused(&["-c", &good, "--replay-window", "1000"], "--replay-window");
    let line = refused(&["--replay-window", "0"], "--replay-window");
    assert!(line.contains("-c FILE"), "{line}");
}

/// A port the config names that DPDK did not find: exit 2 with the config line.
#[test]
fn gateway_port_missing_after_eal_start_exits_2_with_the_config_line() {
    let _one_at_a_time = exclusive();
    let dir = TempDir::new("gwport");
    let cfg = gateway_config(&dir, |t| t.replace("unprotected_port = 1", "unprotected_port = 7"));
    let eal = EalArgs::new().vdev("net_null0").vdev("net_null1");
    let out = Qfp::run(["-c", &cfg, "--duration", "1"], &eal).output();
    out.assert_code(2);
    let last = out.qfp_lines().last().map(|s| s.to_string()).unwrap_or_default();
    assert!(
        last.contains(
            "gw.toml:3: gateway.unprotected_port: port 7 does not exist; DPDK found ports 0, 1"
        ),
        "{}",
        out.stderr
    );
}
