//! The EAL command line `qfp run` passes to `rte_eal_init`: the user's arguments after
//! `--`, untouched, plus what a small machine needs when the user did not say otherwise.
//!
//! - No usable hugepages (none free, or no hugetlbfs mounted) and no `--no-huge`: add
//!   `--no-huge -m 1024` (DPDK then takes ordinary memory).
//! - `--no-huge` in effect and no `--file-prefix`: add a unique `--file-prefix=qfp-<pid>`,
//!   so that two qfp processes (two gateways, a test next to a demo) do not collide.
//! - No `-l`, `--lcores` or `-c`: one control lcore plus `--workers` worker lcores, mapped
//!   onto the CPUs this process may use (`--lcores` with `@`); the workers take their own
//!   CPUs first, the control lcore (mostly asleep) shares.
//!
//! Each addition is reported as one note line. [`build`] is pure: the host facts come in
//! a [`Host`], read once by [`Host::probe`].

use std::fs;

/// What the host offers, as far as the EAL arguments care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Hugepages are mounted (hugetlbfs) and some are free.
    pub hugepages: bool,
    /// Why hugepages are not usable (for the note), when they are not.
    pub hugepage_reason: String,
    /// CPUs this process may run on (sched_getaffinity), in increasing order.
    pub cpus: Vec<usize>,
    /// Our process id (for the unique file prefix).
    pub pid: u32,
}

impl Host {
    /// Reads the facts from /proc, /sys and the scheduler.
    pub fn probe() -> Host {
        let mounted = fs::read_to_string("/proc/mounts")
            .map(|m| m.lines().any(|l| l.split_whitespace().nth(2) == Some("hugetlbfs")))
            .unwrap_or(false);
        let free = free_hugepages();
        let hugepage_reason = match (mounted, free) {
            (true, f) if f > 0 => String::new(),
            (false, 0) => "no hugepages reserved and no hugetlbfs mounted".into(),
            (false, _) => "no hugetlbfs mounted".into(),
            (true, _) => "no free hugepages".into(),
        };
        let cpus = core_affinity::get_core_ids()
            .map(|ids| ids.into_iter().map(|c| c.id).collect::<Vec<_>>())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| vec![0]);
        Host {
            hugepages: hugepage_reason.is_empty(),
            hugepage_reason,
            cpus,
            pid: std::process::id(),
        }
    }
}

/// Free hugepages of every size (sysfs), or the default size's count (/proc/meminfo).
fn free_hugepages() -> u64 {
    let from_sysfs: Option<u64> = fs::read_dir("/sys/kernel/mm/hugepages").ok().map(|dir| {
        dir.filter_map(Result::ok)
            .filter_map(|e| fs::read_to_string(e.path().join("free_hugepages")).ok())
            .filter_map(|s| s.trim().parse::<u64>().ok())
            .sum()
    });
    from_sysfs.unwrap_or_else(|| {
        fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("HugePages_Free:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    })
}

/// The EAL command line and what was added to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EalPlan {
    /// argv for rte_eal_init, program name first.
    pub args: Vec<String>,
    /// One line per addition, for stderr.
    pub notes: Vec<String>,
    /// True when qfp chose the lcores (so there are exactly `workers` worker lcores).
    pub chose_lcores: bool,
    /// True when qfp chose the `--file-prefix` (so the runtime directory is its own to
    /// remove at exit).
    pub chose_prefix: bool,
}

fn has_opt(args: &[String], long: &str) -> bool {
    args.iter().any(|a| a == long || a.starts_with(&format!("{long}=")))
}

/// A short option (`-l 0-3` or `-l0-3`); long options start with `--` and never match.
fn has_short(args: &[String], short: char) -> bool {
    args.iter().any(|a| {
        let mut c = a.chars();
        c.next() == Some('-') && c.next() == Some(short)
    })
}

/// Builds the EAL argv from the user's `eal` arguments, `workers` (None: 1) and the host.
pub fn build(eal: &[String], workers: Option<u16>, host: &Host) -> EalPlan {
    let mut args = vec!["qfp".to_owned()];
    args.extend(eal.iter().cloned());
    let mut notes = Vec::new();

    let mut no_huge = has_opt(eal, "--no-huge");
    if !host.hugepages && !no_huge && !has_opt(eal, "--in-memory") {
        args.push("--no-huge".into());
        let mem = has_short(eal, 'm') || has_opt(eal, "--socket-mem");
        if !mem {
            args.extend(["-m".into(), "1024".into()]);
        }
        notes.push(format!(
            "{}: adding --no-huge{} (DPDK uses ordinary memory; reserve hugepages for full speed)",
            host.hugepage_reason,
            if mem { "" } else { " -m 1024" }
        ));
        no_huge = true;
    }
    let chose_prefix = no_huge && !has_opt(eal, "--file-prefix");
    if chose_prefix {
        let prefix = format!("qfp-{}", host.pid);
        args.push(format!("--file-prefix={prefix}"));
        notes.push(format!(
            "adding --file-prefix={prefix} so that several qfp processes can run side by side"
        ));
    }

    let chose_lcores = !(has_short(eal, 'l') || has_short(eal, 'c') || has_opt(eal, "--lcores"));
    if chose_lcores {
        let workers = usize::from(workers.unwrap_or(1));
        let cpus = &host.cpus;
        let cpu_of = |lcore: usize| {
            if cpus.len() == 1 { cpus[0] } else { cpus[lcore % cpus.len()] }
        };
        let map: Vec<String> = (0..=workers).map(|l| format!("{l}@{}", cpu_of(l))).collect();
        args.push(format!("--lcores={}", map.join(",")));
        let worker_list: Vec<String> =
            (1..=workers).map(|l| format!("{l}@cpu{}", cpu_of(l))).collect();
        let shared = if workers + 1 > cpus.len() {
            format!(
                " ({} CPUs for {} lcores: lcores that share a CPU poll at a fraction of its speed)",
                cpus.len(),
                workers + 1
            )
        } else {
            String::new()
        };
        notes.push(format!(
            "lcores: control 0@cpu{}, worker{} {}{shared}",
            cpu_of(0),
            if workers > 1 { "s" } else { "" },
            worker_list.join(" ")
        ));
    }
    EalPlan { args, notes, chose_lcores, chose_prefix }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(hugepages: bool, cpus: &[usize]) -> Host {
        Host {
            hugepages,
            hugepage_reason: if hugepages {
                String::new()
            } else {
                "no hugepages reserved and no hugetlbfs mounted".into()
            },
            cpus: cpus.to_vec(),
            pid: 4242,
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn small_machine_gets_no_huge_prefix_and_lcores() {
        let p = build(&s(&["--vdev=net_null0"]), None, &host(false, &[0, 1]));
        assert_eq!(
            p.args,
            s(&[
                "qfp",
                "--vdev=net_null0",
                "--no-huge",
                "-m",
                "1024",
                "--file-prefix=qfp-4242",
                "--lcores=0@0,1@1"
            ])
        );
        assert_eq!(p.notes.len(), 3);
        assert!(p.notes[0].contains("--no-huge -m 1024"), "{}", p.notes[0]);
        assert!(p.notes[1].contains("--file-prefix=qfp-4242"));
        assert!(p.chose_lcores && p.chose_prefix);
    }

    #[test]
    fn two_workers_on_two_cpus_share_with_the_control_lcore() {
        let p = build(&[], Some(2), &host(true, &[2, 3]));
        assert_eq!(p.args, s(&["qfp", "--lcores=0@2,1@3,2@2"]));
        assert_eq!(p.notes.len(), 1);
        assert!(p.notes[0].contains("share a CPU"), "{}", p.notes[0]);
        let one_cpu = build(&[], Some(2), &host(true, &[5]));
        assert_eq!(one_cpu.args, s(&["qfp", "--lcores=0@5,1@5,2@5"]));
        let roomy = build(&[], Some(2), &host(true, &[0, 1, 2, 3]));
        assert_eq!(roomy.args, s(&["qfp", "--lcores=0@0,1@1,2@2"]));
        assert!(!roomy.notes[0].contains("share"));
    }

    #[test]
    fn user_choices_are_respected() {
        let h = host(false, &[0, 1]);
        let p = build(&s(&["--no-huge", "-m", "512", "--file-prefix=mine", "-l", "0-1"]), None, &h);
        assert_eq!(
            p.args[1..],
            s(&["--no-huge", "-m", "512", "--file-prefix=mine", "-l", "0-1"])[..]
        );
        assert!(p.notes.is_empty() && !p.chose_lcores && !p.chose_prefix);
        // --no-huge given: still a unique prefix; -m given: not a second one.
        let p = build(&s(&["--no-huge", "-m512", "-c", "0x3"]), None, &h);
        assert_eq!(
            p.args[1..],
            s(&["--no-huge", "-m512", "-c", "0x3", "--file-prefix=qfp-4242"])[..]
        );
        let p = build(&s(&["--lcores=0@0,1@1", "--socket-mem=512"]), None, &h);
        assert_eq!(
            p.args[1..],
            s(&["--lcores=0@0,1@1", "--socket-mem=512", "--no-huge", "--file-prefix=qfp-4242"])[..]
        );
        // Hugepages present: nothing memory-related is added.
        let p = build(&s(&["-l", "0-2"]), None, &host(true, &[0, 1]));
        assert_eq!(p.args, s(&["qfp", "-l", "0-2"]));
    }

    #[test]
    fn probe_reads_this_host() {
        let h = Host::probe();
        assert!(!h.cpus.is_empty());
        assert_eq!(h.hugepages, h.hugepage_reason.is_empty());
    }
}
