//! Every `qfp run` and `qfp pcap` flag that `docs/bare-metal.md` tells an engineer to type
//! exists: the flags of each `qfp run ...` / `qfp pcap ...` command line in its examples
//! (up to the `--` that starts the EAL arguments) and of its table of flags to tune are
//! looked up in the binary's own `--help`. A renamed flag fails here, not in a lab.
#![forbid(unsafe_code)]

use qfp_tests::Qfp;
use qfp_tests::bin::workspace_root;

fn help(sub: &str) -> String {
    let out = Qfp::new([sub, "--help"]).output();
    out.assert_success();
    out.stdout
}

/// Flags of the `qfp <sub>` command lines in the doc's code blocks (continuation lines
/// joined), stopping at a bare `--`.
fn flags_in_examples(doc: &str, sub: &str) -> Vec<String> {
    let mut joined = Vec::new();
    let mut cur = String::new();
    for line in doc.lines().filter(|l| l.starts_with("    ")) {
        let l = line.trim();
        if let Some(head) = l.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
            continue;
        }
        cur.push_str(l);
        joined.push(std::mem::take(&mut cur));
    }
    let needle = format!("qfp {sub} ");
    let mut flags = Vec::new();
    for cmd in joined {
        let Some(at) = cmd.find(&needle) else { continue };
        for tok in cmd[at + needle.len()..].split_whitespace() {
            if tok == "--" || tok == "|" || tok == "&&" {
                break;
            }
            if tok.starts_with("--") || tok == "-c" {
                flags.push(tok.split('=').next().unwrap().to_string());
            }
        }
    }
    flags
}

/// Flags in the first cell of the doc's tables (`| \`--workers N\` | ...`).
fn flags_in_tables(doc: &str) -> Vec<String> {
    let mut flags = Vec::new();
    for line in doc.lines().filter(|l| l.starts_with("| `--")) {
        let cell = line.split('|').nth(1).unwrap_or_default();
        for part in cell.split('`').filter(|p| p.starts_with("--")) {
            flags.push(part.split_whitespace().next().unwrap().to_string());
        }
    }
    flags
}

#[test]
fn every_qfp_flag_in_the_bare_metal_guide_exists() {
    let doc = std::fs::read_to_string(workspace_root().join("docs/bare-metal.md")).unwrap();
    let run = help("run");
    let pcap = help("pcap");
    let mut checked = 0;
    for (sub, text) in [("run", &run), ("pcap", &pcap)] {
        for f in flags_in_examples(&doc, sub) {
            assert!(
                text.contains(&format!("{f} "))
                    || text.contains(&format!("{f}\n"))
                    || text.contains(&format!("{f},")),
                "docs/bare-metal.md uses `qfp {sub} {f}`, which `qfp {sub} --help` does not list"
            );
            checked += 1;
        }
    }
    for f in flags_in_tables(&doc) {
        assert!(
            run.contains(&format!("{f} ")),
            "docs/bare-metal.md's flag table lists {f}, which `qfp run --help` does not"
        );
        checked += 1;
    }
    // The guide's examples and table name at least these; an extractor that found nothing
    // would pass vacuously.
    assert!(checked >= 20, "only {checked} flags found in docs/bare-metal.md");
}

#[test]
fn the_extractor_sees_flags_and_stops_at_the_eal_separator() {
    let doc = "    qfp run -c a.toml --workers 4 \\\n        --poll busy -- -l 1-5 --main-lcore 1\n| `--burst N` | 32 |\n";
    assert_eq!(flags_in_examples(doc, "run"), ["-c", "--workers", "--poll"]);
    assert_eq!(flags_in_tables(doc), ["--burst"]);
}
