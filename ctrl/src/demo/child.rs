//! The demo's child processes (two `qfp run`, one `qfp gen`, short `qfp ctl` calls): each
//! started in a process group of its own, so that a Ctrl-C at the terminal reaches only
//! the demo, which then stops them in the right order (the generator first, so that it
//! counts what is still in flight; then the gateways, so that they write their final
//! statistics). Whatever happens — an error, a panic, a signal — a child is never left
//! behind: [`Child`]'s `Drop` kills and reaps it.
//!
//! Every line a child writes goes, stamped with the moment it was read, to its log file
//! and to the demo's event channel (the demo watches for the `%CRYPTO-4-RECVD_PKT_INV_SPI`
//! line); the last lines are kept to explain a failure.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};

/// How many of a child's last lines explain its failure.
pub const TAIL_LINES: usize = 12;

/// One line a child wrote.
#[derive(Debug, Clone)]
pub struct Line {
    /// Which child (its name, e.g. "gateway A").
    pub who: &'static str,
    /// When the demo read it.
    pub at: Instant,
    /// The text, without the newline.
    pub text: String,
}

/// A running child process.
#[derive(Debug)]
pub struct Child {
    name: &'static str,
    command: String,
    child: std::process::Child,
    status: Option<ExitStatus>,
    tail: Arc<Mutex<VecDeque<String>>>,
    readers: Vec<JoinHandle<()>>,
    log: PathBuf,
}

impl Child {
    /// Starts `program args...` as `name`, its output into `log` and, line by line, `events`.
    pub fn spawn(
        name: &'static str,
        program: &Path,
        args: &[String],
        log: &Path,
        events: Sender<Line>,
    ) -> Result<Child, String> {
        let command = std::iter::once(program.display().to_string())
            .chain(args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        let file = File::create(log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        writeln!(&file, "$ {command}").map_err(|e| format!("writing {}: {e}", log.display()))?;
        let file = Arc::new(Mutex::new(file));
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a terminal's Ctrl-C goes to the demo alone, which
            // stops the children in order (see the module doc).
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {name} ({command}): {e}"))?;
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
        let mut readers = Vec::new();
        let pipes: [Option<Box<dyn Read + Send>>; 2] = [
            child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
            child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
        ];
        for pipe in pipes.into_iter().flatten() {
            let (tail, file, events) = (Arc::clone(&tail), Arc::clone(&file), events.clone());
            // A reader per pipe: a child that fills a pipe must never block.
            readers.push(std::thread::spawn(move || read_lines(name, pipe, &tail, &file, &events)));
        }
        Ok(Child { name, command, child, status: None, tail, readers, log: log.to_path_buf() })
    }

    /// Its name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Its exit status, if it has exited (reaped here).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Sends `sig` to the child (and its process group) if it still runs.
    pub fn signal(&mut self, sig: Signal) {
        if self.exited().is_none() {
            self.signal_group(sig);
        }
    }

    /// The child leads its own group (`process_group(0)`): the group's id is its pid. A
    /// group kill also ends anything it started, which would otherwise hold its pipes.
    fn signal_group(&self, sig: Signal) {
        if let Some(pid) = Pid::from_raw(self.child.id() as i32) {
            let _ = kill_process_group(pid, sig);
        }
    }

    fn kill(&mut self) -> ExitStatus {
        self.signal_group(Signal::KILL);
        let _ = self.child.kill();
        let s = self.child.wait().unwrap_or_else(|_| ExitStatus::default());
        self.status = Some(s);
        s
    }

    /// Waits up to `limit` for the child to exit by itself; then kills it. Returns its
    /// status and whether it had to be killed.
    pub fn wait_or_kill(&mut self, limit: Duration) -> (ExitStatus, bool) {
        let until = Instant::now() + limit;
        loop {
            if let Some(s) = self.exited() {
                self.join_readers();
                return (s, false);
            }
            if Instant::now() >= until {
                let s = self.kill();
                self.join_readers();
                return (s, true);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `sig`, waits up to `limit`, then kills: an orderly stop that always ends.
    pub fn stop(&mut self, sig: Signal, limit: Duration) -> (ExitStatus, bool) {
        self.signal(sig);
        self.wait_or_kill(limit)
    }

    /// A failure report: what ran, how it ended, and its last lines.
    pub fn failure(&self, how: &str) -> String {
        let tail =
            self.tail.lock().map(|t| t.iter().cloned().collect::<Vec<_>>()).unwrap_or_default();
        let mut s = format!(
            "{} {how}\n  command: {}\n  log: {}",
            self.name,
            self.command,
            self.log.display()
        );
        if tail.is_empty() {
            s.push_str("\n  (it wrote nothing)");
        } else {
            s.push_str("\n  last lines:");
            for l in tail {
                s.push_str("\n    ");
                s.push_str(&l);
            }
        }
        s
    }

    fn join_readers(&mut self) {
        // The pipes close when the child (and anything it forked) has exited.
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

impl Drop for Child {
    /// Never leave a child behind: kill and reap it if it still runs.
    fn drop(&mut self) {
        if self.exited().is_none() {
            self.kill();
        }
        self.join_readers();
    }
}

fn read_lines(
    who: &'static str,
    pipe: Box<dyn Read + Send>,
    tail: &Mutex<VecDeque<String>>,
    file: &Mutex<File>,
    events: &Sender<Line>,
) {
    let mut r = BufReader::new(pipe);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let at = Instant::now();
        let text = String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']).to_string();
        if let Ok(mut f) = file.lock() {
            let _ = writeln!(f, "{text}");
        }
        if let Ok(mut t) = tail.lock() {
            if t.len() == TAIL_LINES {
                t.pop_front();
            }
            t.push_back(text.clone());
        }
        // The demo may have stopped listening (it is ending): the log still gets the line.
        let _ = events.send(Line { who, at, text });
    }
}

/// Runs `program args...` to its end within `limit` (a short command: `qfp ctl`), killing
/// it past the limit. Returns its exit status (None if killed), stdout and stderr.
pub fn run_short(
    program: &Path,
    args: &[String],
    limit: Duration,
) -> Result<(Option<i32>, String, String), String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let drain = |p: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut p) = p {
                let _ = p.read_to_string(&mut s);
            }
            s
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let until = Instant::now() + limit;
    let code = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s.code();
        }
        if Instant::now() >= until {
            // The group: what it started would otherwise hold the pipes open.
            if let Some(pid) = Pid::from_raw(child.id() as i32) {
                let _ = kill_process_group(pid, Signal::KILL);
            }
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ok((code, out.join().unwrap_or_default(), err.join().unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, log: &Path) -> (Child, std::sync::mpsc::Receiver<Line>) {
        let (tx, rx) = std::sync::mpsc::channel();
        let c = Child::spawn("sh", Path::new("/bin/sh"), &["-c".into(), script.into()], log, tx)
            .unwrap();
        (c, rx)
    }

    #[test]
    fn lines_reach_the_channel_the_log_and_the_tail() {
        let dir = std::env::temp_dir().join(format!("qfp-demo-child-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("a.log");
        let script =
            "i=0; while [ $i -lt 20 ]; do echo line$i; i=$((i+1)); done; echo oops >&2; exit 3";
        let (mut c, rx) = sh(script, &log);
        let (status, killed) = c.wait_or_kill(Duration::from_secs(10));
        assert_eq!((status.code(), killed), (Some(3), false));
        let got: Vec<String> = rx.try_iter().map(|l| l.text).collect();
        assert_eq!(got.len(), 21, "{got:?}");
        assert!(got.contains(&"oops".to_string()) && got.contains(&"line19".to_string()));
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.starts_with("$ /bin/sh -c") && text.contains("line0\n") && text.contains("oops")
        );
        let f = c.failure("exited with status 3");
        assert!(f.contains("line19") && !f.contains("line0\n") && f.contains("sh exited"), "{f}");
        assert_eq!(f.matches("\n    ").count(), TAIL_LINES, "{f}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn stop_signals_then_kills_and_drop_reaps() {
        let dir = std::env::temp_dir().join(format!("qfp-demo-child2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Ignores SIGINT: stop() must fall back to killing it.
        let (mut c, _rx) = sh("trap '' INT; echo ready; sleep 30", &dir.join("b.log"));
        std::thread::sleep(Duration::from_millis(200));
        let (_, killed) = c.stop(Signal::INT, Duration::from_millis(300));
        assert!(killed);
        // A child still running when dropped is killed and reaped.
        let (c, _rx) = sh("sleep 30", &dir.join("c.log"));
        let pid = c.child.id();
        drop(c);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists() || {
                // A recycled pid would be a different process: check it is not our sleep.
                let cmd =
                    std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                !cmd.contains("sleep")
            }
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn short_commands_end_within_their_limit() {
        let (code, out, _) = run_short(
            Path::new("/bin/sh"),
            &["-c".into(), "echo hi; exit 2".into()],
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!((code, out.as_str()), (Some(2), "hi\n"));
        let (code, _, _) = run_short(
            Path::new("/bin/sh"),
            &["-c".into(), "sleep 30".into()],
            Duration::from_millis(200),
        )
        .unwrap();
        assert_eq!(code, None);
    }
}
