//! A client of DPDK's telemetry socket, speaking its protocol directly (what
//! `dpdk-telemetry.py -f PREFIX` does): connect a `SOCK_SEQPACKET` unix socket to
//! `<runtime dir>/dpdk_telemetry.v2`, read the hello JSON (`version`, `pid`,
//! `max_output_len`), then send one command per message (`/qfp/drops`, `/qfp/sa,NAME`)
//! and read one JSON reply per message: `{"/qfp/drops": {...}}`.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::net::{
    AddressFamily, RecvFlags, SendFlags, SocketAddrUnix, SocketType, connect, recv, send, socket,
};
use serde_json::Value;

/// A connected telemetry client.
#[derive(Debug)]
pub struct Telemetry {
    fd: OwnedFd,
    /// The hello message.
    pub hello: Value,
    buf: Vec<u8>,
}

/// The socket of the process started with EAL `--file-prefix` whose runtime directory is
/// one of `dirs` (see `EalArgs::runtime_dirs`).
pub fn socket_path(dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join("dpdk_telemetry.v2")).find(|p| p.exists())
}

impl Telemetry {
    /// Connects to `path` and reads the hello.
    pub fn connect(path: &Path) -> Result<Telemetry, String> {
        let fd = socket(AddressFamily::UNIX, SocketType::SEQPACKET, None)
            .map_err(|e| format!("socket: {e}"))?;
        let addr = SocketAddrUnix::new(path).map_err(|e| format!("{}: {e}", path.display()))?;
        connect(&fd, &addr).map_err(|e| format!("connect {}: {e}", path.display()))?;
        let mut t = Telemetry { fd, hello: Value::Null, buf: vec![0; 64 * 1024] };
        t.hello = t.read()?;
        let max = t.hello["max_output_len"].as_u64().unwrap_or(16 * 1024) as usize;
        t.buf.resize(max.max(16 * 1024) + 1, 0);
        Ok(t)
    }

    /// Connects, retrying until `timeout` (the socket appears once the EAL started).
    pub fn connect_within(dirs: &[PathBuf], timeout: Duration) -> Telemetry {
        let t0 = Instant::now();
        loop {
            let last = match socket_path(dirs) {
                Some(p) => match Telemetry::connect(&p) {
                    Ok(t) => return t,
                    Err(e) => e,
                },
                None => format!("no dpdk_telemetry.v2 in {dirs:?}"),
            };
            assert!(t0.elapsed() < timeout, "telemetry socket: {last}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn read(&mut self) -> Result<Value, String> {
        let (_, n) = recv(&self.fd, &mut self.buf[..], RecvFlags::empty())
            .map_err(|e| format!("recv: {e}"))?;
        if n == 0 {
            return Err("the telemetry socket closed".into());
        }
        serde_json::from_slice(&self.buf[..n])
            .map_err(|e| format!("not JSON ({e}): {}", String::from_utf8_lossy(&self.buf[..n])))
    }

    /// Sends `cmd` (`/qfp/drops` or `/qfp/sa,branch-1`) and returns the reply's value (the
    /// object under the command's name; `null` for a command DPDK does not know).
    pub fn query(&mut self, cmd: &str) -> Value {
        send(&self.fd, cmd.as_bytes(), SendFlags::empty())
            .unwrap_or_else(|e| panic!("telemetry send {cmd}: {e}"));
        let reply = self.read().unwrap_or_else(|e| panic!("telemetry {cmd}: {e}"));
        let key = cmd.split(',').next().unwrap_or(cmd);
        reply.get(key).cloned().unwrap_or_else(|| panic!("telemetry {cmd}: reply {reply}"))
    }
}
