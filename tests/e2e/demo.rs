//! `qfp demo` end to end: the whole show (two gateways, the generator, rekeys, the desync
//! and its recovery) in a short run, judged by its `--json` summary against the contract of
//! design section 9 and against the generator's own report, which the demo keeps in its
//! `--dir`: every packet counted, rekeys done, the desync detected and repaired (or, with
//! `--no-recovery`, never repaired), the loss split between the desync and the rekeys
//! (none in make-before-break rekeys, some in outbound-first ones); and how it ends on
//! SIGINT and when a child dies.
#![forbid(unsafe_code)]

use std::path::Path;
use std::time::Duration;

use qfp_tests::{Qfp, TempDir, exclusive};
use serde_json::Value;

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("no integer {k} in {v}"))
}

/// Runs `qfp demo --duration 8 --json F --dir D <extra>`; returns its summary, the
/// generator's report and the output.
fn demo(tag: &str, extra: &[&str]) -> (Value, Value, qfp_tests::Outcome) {
    let dir = TempDir::new(tag);
    let (json, work) = (dir.join("summary.json"), dir.join("work"));
    let mut args = vec![
        "demo".to_string(),
        "--duration".into(),
        "8".into(),
        "--json".into(),
        json.display().to_string(),
        "--dir".into(),
        work.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = Qfp::new(args).timeout(Duration::from_secs(180)).output();
    out.assert_success();
    let (s, g) = (read(&json), read(&work.join("gen.json")));
    // The contract's keys, with their types.
    for k in ["sent", "received", "lost", "lost_in_rekeys", "rekeys"] {
        n(&s, k);
    }
    for k in ["injected_s", "detected_s", "recovered_s"] {
        assert!(s["desync"].get(k).is_some(), "desync.{k} present (a number or null): {s}");
    }
    n(&s["desync"], "lost");
    // Every packet counted, and the same books as the generator's.
    assert_eq!(n(&s, "sent"), n(&s, "received") + n(&s, "lost"), "{s}");
    assert_eq!(
        (n(&s, "sent"), n(&s, "received"), n(&s, "lost")),
        (n(&g["total"], "sent"), n(&g["total"], "received"), n(&g["total"], "lost")),
        "the summary is the generator's count"
    );
    assert_eq!(n(&s, "lost"), n(&s, "lost_in_rekeys") + n(&s["desync"], "lost"), "{s}");
    assert!(n(&s, "rekeys") > 0, "rekeys happened: {s}");
    // The summary is printed too, its last line the one-line form.
    assert!(
        out.stdout.trim_end().lines().last().unwrap_or("").starts_with("qfp demo: sent "),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("invalid SPI"), "the live table: {}", out.stderr);
    (s, g, out)
}

/// Drops of both gateways under the reasons a rekey or a desync causes, and under
/// congestion (a full tx ring: a gateway descheduled on a busy machine).
fn drops(s: &Value) -> (u64, u64) {
    let mut sa = 0;
    let mut full = 0;
    for g in s["gateways"].as_array().expect("gateways") {
        for (k, v) in g["drops"].as_object().expect("drops") {
            let v = v.as_u64().unwrap();
            match k.as_str() {
                "IN_US_V4_PKT_SA_NOT_FOUND_SPI"
                | "IN_V4_PKT_HIT_INVALID_SA"
                | "OUT_IPV4_SA_NOT_FOUND" => sa += v,
                "TxFull" => full += v,
                _ => {}
            }
        }
    }
    (sa, full)
}

/// With make-before-break rekeys, every SA-related drop is the desync's, and whatever else
/// was lost is congestion, counted as such by a gateway (not a rekey loss).
fn assert_rekeys_lossless(s: &Value) {
    let (sa, full) = drops(s);
    assert_eq!(sa, n(&s["desync"], "lost"), "every SA drop is the desync's: {s}");
    assert!(n(&s, "lost_in_rekeys") <= full, "the rest is counted congestion: {s}");
}

fn t(v: &Value, k: &str) -> f64 {
    v["desync"][k].as_f64().unwrap_or_else(|| panic!("desync.{k} is a number: {v}"))
}

#[test]
fn demo_summary_counts_every_packet_and_shows_the_desync_repaired() {
    let _one = exclusive();
    let (s, _, out) = demo("demo", &[]);
    let (inj, det, rec) = (t(&s, "injected_s"), t(&s, "detected_s"), t(&s, "recovered_s"));
    assert!(
        inj > 0.0 && det >= inj && rec >= inj,
        "injected {inj}, detected {det}, recovered {rec}"
    );
    assert!(n(&s["desync"], "lost") > 0, "the desync cost packets: {s}");
    assert_rekeys_lossless(&s);
    assert!(
        out.stderr.contains("%CRYPTO-4-RECVD_PKT_INV_SPI"),
        "the log line is shown: {}",
        out.stderr
    );
    assert!(out.stderr.contains("recovered"), "{}", out.stderr);
}

#[test]
fn demo_without_recovery_detects_the_desync_and_never_repairs_it() {
    let _one = exclusive();
    let (s, _, _) = demo("demo-none", &["--no-recovery"]);
    assert!(t(&s, "detected_s") >= t(&s, "injected_s"), "{s}");
    assert!(s["desync"]["recovered_s"].is_null(), "never repaired: {s}");
    assert!(n(&s["desync"], "lost") > 0, "{s}");
    assert_rekeys_lossless(&s);
    assert_eq!(s["desync"]["recovery"], false);
}

#[test]
fn demo_in_the_wrong_rekey_order_loses_packets_in_rekeys() {
    let _one = exclusive();
    let (s, _, _) = demo(
        "demo-obf",
        &["--rekey-order", "outbound-first", "--rekey-every", "300", "--desync-at", "0"],
    );
    assert!(s["desync"]["injected_s"].is_null(), "no desync asked: {s}");
    assert!(n(&s, "lost_in_rekeys") > 0, "outbound-first rekeys lose packets: {s}");
    assert_eq!(n(&s, "lost_in_rekeys"), n(&s, "lost"), "{s}");
    assert_eq!(s["rekey_order"], "outbound-first");
}

/// Processes whose command line mentions `needle` (the demo's working directory is in
/// every child's), other than this test and the demo itself.
fn processes_with(needle: &str) -> Vec<(u32, String)> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            let demo = cmd.split(' ').nth(1) == Some("demo");
            (pid != me && !demo && cmd.contains(needle)).then_some((pid, cmd))
        })
        .collect()
}

/// Starts `qfp demo --duration 60 --dir W` and waits until the generator sends.
fn running_demo(dir: &TempDir) -> (qfp_tests::Running, String) {
    let work = dir.join("work").display().to_string();
    let json = dir.join("summary.json").display().to_string();
    let run = Qfp::new(["demo", "--duration", "60", "--dir", &work, "--json", &json])
        .timeout(Duration::from_secs(180))
        .spawn();
    let since = std::time::Instant::now();
    while !Path::new(&work).join("gen-live.json").exists() {
        assert!(since.elapsed() < Duration::from_secs(90), "the demo's generator never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    let kids = processes_with(&work);
    assert_eq!(kids.len(), 3, "two gateways and the generator: {kids:?}");
    (run, work)
}

#[test]
fn demo_sigint_stops_its_children_in_order_and_leaves_nothing_behind() {
    let _one = exclusive();
    let dir = TempDir::new("demo-int");
    let (run, work) = running_demo(&dir);
    run.signal(rustix::process::Signal::INT);
    let out = run.wait();
    out.assert_success();
    assert!(out.stderr.contains("signal received"), "{}", out.stderr);
    let s = read(&dir.join("summary.json"));
    assert_eq!(s["stopped_by"], "signal", "{s}");
    assert_eq!(n(&s, "sent"), n(&s, "received") + n(&s, "lost"), "{s}");
    // The gateways were stopped by SIGINT, not killed: their final statistics are there.
    for f in ["a-stats.json", "b-stats.json"] {
        assert_eq!(read(&Path::new(&work).join(f))["final"], true, "{f}");
    }
    assert_eq!(processes_with(&work), vec![], "no child left behind");
}

#[test]
fn demo_reports_a_child_that_dies_with_its_last_lines_and_stops_the_others() {
    let _one = exclusive();
    let dir = TempDir::new("demo-kill");
    let (run, work) = running_demo(&dir);
    let b_conf = format!("{work}/b.toml");
    let (pid, _) = processes_with(&b_conf).pop().expect("gateway B runs");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    let out = run.wait();
    out.assert_code(1);
    assert!(out.stderr.contains("gateway B exited during the demo"), "{}", out.stderr);
    assert!(out.stderr.contains("last lines:") && out.stderr.contains("b.log"), "{}", out.stderr);
    assert_eq!(processes_with(&work), vec![], "no child left behind");
}
