//! Running `qfp` as a child process: arguments, a hard timeout (the child is killed and
//! the test fails with everything it printed), signals, and the captured output.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use crate::bin::qfp_bin;
use crate::eal::EalArgs;

/// A `qfp` command line to run.
#[derive(Debug, Clone)]
pub struct Qfp {
    bin: PathBuf,
    args: Vec<String>,
    timeout: Duration,
    cleanup: Vec<PathBuf>,
}

/// What a finished run left behind.
#[derive(Debug)]
pub struct Outcome {
    /// The command line, for messages.
    pub command: String,
    /// Exit status.
    pub status: ExitStatus,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
    /// Wall time from spawn to exit.
    pub elapsed: Duration,
}

/// A running child.
#[derive(Debug)]
pub struct Running {
    command: String,
    child: Child,
    started: Instant,
    timeout: Duration,
    cleanup: Vec<PathBuf>,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

impl Qfp {
    /// `qfp <args...>` with the binary under test and a 60 s timeout.
    pub fn new<I, S>(args: I) -> Qfp
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Qfp {
            bin: qfp_bin(),
            args: args.into_iter().map(Into::into).collect(),
            timeout: Duration::from_secs(60),
            cleanup: Vec::new(),
        }
    }

    /// `qfp run <args...> -- <eal args>`.
    pub fn run<I, S>(args: I, eal: &EalArgs) -> Qfp
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut q = Qfp::new(["run"]);
        q.args.extend(args.into_iter().map(Into::into));
        q.args.push("--".into());
        q.args.extend(eal.build());
        q.cleanup = eal.runtime_dirs();
        q
    }

    /// Directories to remove once the child has exited (EAL runtime directories).
    pub fn cleanup_after(mut self, dirs: Vec<PathBuf>) -> Qfp {
        self.cleanup.extend(dirs);
        self
    }

    /// Uses another binary (e.g. run through qemu: `bin` = qemu, first args = its own).
    pub fn with_program(mut self, program: impl Into<PathBuf>, leading: &[&str]) -> Qfp {
        let mut args: Vec<String> = leading.iter().map(|s| s.to_string()).collect();
        args.push(self.bin.display().to_string());
        args.append(&mut self.args);
        self.args = args;
        self.bin = program.into();
        self
    }

    /// The hard limit after which the child is killed and the test fails.
    pub fn timeout(mut self, t: Duration) -> Qfp {
        self.timeout = t;
        self
    }

    /// The command line as a shell would show it.
    pub fn command_line(&self) -> String {
        std::iter::once(self.bin.display().to_string())
            .chain(self.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Starts the child with stdout and stderr captured.
    pub fn spawn(&self) -> Running {
        let mut child = Command::new(&self.bin)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.command_line()));
        // Readers on threads of their own: a child that fills a pipe must never block.
        let drain = |mut r: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = r.read_to_end(&mut buf);
                String::from_utf8_lossy(&buf).into_owned()
            })
        };
        let stdout = child.stdout.take().map(|s| drain(Box::new(s)));
        let stderr = child.stderr.take().map(|s| drain(Box::new(s)));
        Running {
            command: self.command_line(),
            child,
            started: Instant::now(),
            timeout: self.timeout,
            cleanup: self.cleanup.clone(),
            stdout,
            stderr,
        }
    }

    /// Runs the child to its end (or the timeout).
    pub fn output(&self) -> Outcome {
        self.spawn().wait()
    }
}

impl Running {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `sig` (e.g. `Signal::INT`) to the child.
    pub fn signal(&self, sig: Signal) {
        let pid = Pid::from_raw(self.child.id() as i32).expect("child pid is positive");
        kill_process(pid, sig).unwrap_or_else(|e| panic!("kill({pid:?}, {sig:?}): {e}"));
    }

    /// True while the child has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the child to exit; past the timeout, kills it and panics with its output.
    pub fn wait(mut self) -> Outcome {
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the child") {
                break status;
            }
            if self.started.elapsed() > self.timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let (out, err) = self.collect();
                panic!(
                    "{} did not finish within {:?}; killed.\n--- stdout\n{out}\n--- stderr\n{err}",
                    self.command, self.timeout
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let elapsed = self.started.elapsed();
        let (stdout, stderr) = self.collect();
        Outcome { command: self.command.clone(), status, stdout, stderr, elapsed }
    }

    fn collect(&mut self) -> (String, String) {
        for d in self.cleanup.drain(..) {
            let _ = std::fs::remove_dir_all(d);
        }
        let join = |h: Option<JoinHandle<String>>| {
            h.map(|h| h.join().unwrap_or_default()).unwrap_or_default()
        };
        (join(self.stdout.take()), join(self.stderr.take()))
    }
}

impl Drop for Running {
    /// A test that fails while its child runs (an assert before `wait`) must not leave a
    /// polling qfp behind: kill it and clean up.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = self.collect();
    }
}

impl Outcome {
    /// The exit code (None when killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics, showing the output, unless the exit code is `code`.
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.status.code(),
            Some(code),
            "{} exited with {} (expected {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.command,
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics, showing the output, unless the exit code is 0.
    pub fn assert_success(&self) -> &Self {
        self.assert_code(0)
    }

    /// The stderr lines that qfp itself wrote (prefix `qfp: `), without DPDK's log lines.
    pub fn qfp_lines(&self) -> Vec<&str> {
        self.stderr.lines().filter(|l| l.starts_with("qfp: ")).collect()
    }
}
