//! `scripts/soak` (the opt-in hour-long soak, docs/soak.md), tested in seconds against a
//! stand-in for `qfp demo` (`tests/soak/fake_qfp.py`: the same process tree, a summary in
//! the same JSON, memory that grows or not, packets lost or not), so that its sampling of
//! every process and its verdicts are known to work before anyone spends an hour on it.
#![forbid(unsafe_code)]

use std::process::Command;

use qfp_tests::TempDir;
use qfp_tests::bin::workspace_root;

struct Soak {
    code: i32,
    summary: String,
    rss_csv: String,
}

fn soak(tag: &str, env: &[(&str, &str)]) -> Soak {
    let root = workspace_root();
    let dir = TempDir::new(tag);
    let mut cmd = Command::new("python3");
    cmd.arg(root.join("scripts/soak"))
        .args(["0.15", "--sample-s", "0.3", "--warmup-s", "3", "--out"])
        .arg(dir.path())
        .env("QFP_BIN", root.join("tests/soak/fake_qfp.py"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running scripts/soak");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let file = std::fs::read_to_string(dir.join("summary.txt")).expect("summary.txt");
    assert_eq!(file, stdout, "the printed summary is the file's");
    Soak {
        code: out.status.code().unwrap_or(-1),
        summary: stdout,
        rss_csv: std::fs::read_to_string(dir.join("rss.csv")).expect("rss.csv"),
    }
}

fn row<'a>(s: &'a Soak, process: &str) -> Vec<&'a str> {
    let line = s
        .summary
        .lines()
        .find(|l| l.starts_with(process))
        .unwrap_or_else(|| panic!("no row for {process}:\n{}", s.summary));
    line[process.len()..].split_whitespace().collect()
}

#[test]
fn a_clean_run_passes_and_samples_every_process() {
    let s = soak("soak-clean", &[]);
    assert_eq!(s.code, 0, "{}", s.summary);
    assert!(
        s.summary.contains("traffic: sent 9000  received 9000  lost 0  (in rekeys 0)  rekeys 9"),
        "{}",
        s.summary
    );
    for p in ["gateway A", "gateway B", "qfp gen", "qfp demo"] {
        let r = row(&s, p);
        assert!(r[0].parse::<u32>().unwrap() >= 5, "{p}: few samples: {}", s.summary);
        assert_eq!(r.last(), Some(&"yes"), "{p} flat: {}", s.summary);
        assert!(s.rss_csv.lines().filter(|l| l.contains(&format!(",{p},"))).count() >= 5);
    }
    assert!(s.summary.lines().last().unwrap().starts_with("verdict: PASS"), "{}", s.summary);
}

#[test]
fn growing_memory_fails_and_names_the_process() {
    let s = soak("soak-grow", &[("FAKE_GROW", "b")]);
    assert_eq!(s.code, 1, "{}", s.summary);
    assert_eq!(row(&s, "gateway B").last(), Some(&"NO"), "{}", s.summary);
    assert_eq!(row(&s, "gateway A").last(), Some(&"yes"), "{}", s.summary);
    let growth: f64 = row(&s, "gateway B")[5].parse().unwrap();
    assert!(growth > 2.0, "B grew {growth} MiB: {}", s.summary);
    assert!(s.summary.contains("memory flat no"), "{}", s.summary);
}

#[test]
fn lost_packets_fail() {
    let s = soak("soak-lost", &[("FAKE_LOST", "5")]);
    assert_eq!(s.code, 1, "{}", s.summary);
    assert!(s.summary.contains("lost 5 "), "{}", s.summary);
    assert!(s.summary.contains("zero loss no"), "{}", s.summary);
}

#[test]
fn bad_arguments_exit_2() {
    let out = Command::new("python3")
        .arg(workspace_root().join("scripts/soak"))
        .arg("-3")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
