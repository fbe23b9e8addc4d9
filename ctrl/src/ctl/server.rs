//! The control socket of `qfp run`: a unix stream socket served by one small std thread,
//! so that the control core never blocks on a client.
//!
//! Why a thread and a channel rather than non-blocking I/O on the control core: a client
//! may connect and then write slowly, or not at all; reading it must never delay a tick
//! (peer-channel timers, punts, reclaim). The thread accepts, reads one request line (2 s
//! limit, 4 KiB at most), hands it to the control core through a bounded channel and waits
//! for the answer; the control core drains the channel with `try_recv` once per tick
//! ([`CtlServer::poll`]) and answers at once. The only state the thread touches is the
//! socket; every table and counter stays with the control core, single writer as before.
//! A full channel (a burst of clients) is answered "busy" by the thread, without waiting.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use super::proto::{MAX_REQUEST, Request, Response};

/// Requests waiting for the control core.
const QUEUE: usize = 8;
/// How long a client may take to send its request or read the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the thread waits for the control core's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

struct Pending {
    req: Request,
    reply: SyncSender<Response>,
}

/// A bound control socket and its thread. Dropping it stops the thread and removes the
/// socket file.
pub struct CtlServer {
    path: PathBuf,
    requests: Receiver<Pending>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    served: u64,
}

impl core::fmt::Debug for CtlServer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CtlServer").field("path", &self.path).finish_non_exhaustive()
    }
}

impl CtlServer {
    /// Binds `path` (creating its directory) and starts the thread. A stale socket file
    /// (nobody answers on it) is replaced; a live one is an error: another qfp serves it.
    pub fn bind(path: &Path) -> Result<CtlServer, String> {
        let shown = path.display();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                format!("--ctrl-socket {shown}: cannot create {}: {e}", dir.display())
            })?;
        }
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(format!("--ctrl-socket {shown}: exists and is not a socket"));
            }
            if UnixStream::connect(path).is_ok() {
                return Err(format!(
                    "--ctrl-socket {shown}: another qfp is serving it (give another --ctrl-socket)"
                ));
            }
            std::fs::remove_file(path)
                .map_err(|e| format!("--ctrl-socket {shown}: removing the stale socket: {e}"))?;
        }
        let listener =
            UnixListener::bind(path).map_err(|e| format!("--ctrl-socket {shown}: {e}"))?;
        let (tx, requests) = sync_channel(QUEUE);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("qfp-ctl".into())
                .spawn(move || serve(listener, tx, &stop))
                .map_err(|e| format!("starting the control socket thread: {e}"))?
        };
        Ok(CtlServer { path: path.to_owned(), requests, stop, thread: Some(thread), served: 0 })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Requests answered so far.
    pub fn served(&self) -> u64 {
        self.served
    }

    /// Answers every waiting request with `handle` (control core, once per tick). Never
    /// blocks.
    pub fn poll(&mut self, mut handle: impl FnMut(&Request) -> Response) {
        while let Ok(p) = self.requests.try_recv() {
            let r = handle(&p.req);
            self.served += 1;
            // The thread waits with a timeout; if it gave up, nobody reads this.
            let _ = p.reply.try_send(r);
        }
    }
}

impl Drop for CtlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the thread from accept().
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(listener: UnixListener, to_core: SyncSender<Pending>, stop: &AtomicBool) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut s) = conn else { continue };
        let _ = s.set_read_timeout(Some(CLIENT_TIMEOUT));
        let _ = s.set_write_timeout(Some(CLIENT_TIMEOUT));
        let resp = match read_request(&mut s) {
            Err(msg) => Response::refused(msg),
            Ok(req) => ask(&to_core, req),
        };
        if let Ok(mut line) = serde_json::to_vec(&resp) {
            line.push(b'\n');
            let _ = s.write_all(&line);
        }
    }
}

fn read_request(s: &mut UnixStream) -> Result<Request, String> {
    let mut line = String::new();
    BufReader::new(s.take(MAX_REQUEST as u64))
        .read_line(&mut line)
        .map_err(|e| format!("reading the request: {e}"))?;
    if line.trim().is_empty() {
        return Err("empty request".into());
    }
    serde_json::from_str(line.trim()).map_err(|e| format!("bad request: {e}"))
}

fn ask(to_core: &SyncSender<Pending>, req: Request) -> Response {
    let (reply, answer) = sync_channel(1);
    match to_core.try_send(Pending { req, reply }) {
        Ok(()) => answer.recv_timeout(ANSWER_TIMEOUT).unwrap_or_else(|e| match e {
            std::sync::mpsc::RecvTimeoutError::Timeout => {
                Response::failed("the control core did not answer within 10 s")
            }
            std::sync::mpsc::RecvTimeoutError::Disconnected => {
                Response::failed("the gateway is stopping")
            }
        }),
        Err(TrySendError::Full(_)) => Response::failed("the control core is busy; try again"),
        Err(TrySendError::Disconnected(_)) => Response::failed("the gateway is stopping"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(path: &Path, line: &str) -> Response {
        let mut s = UnixStream::connect(path).unwrap();
        s.write_all(line.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        serde_json::from_str(out.trim()).unwrap()
    }

    #[test]
    fn requests_reach_the_control_core_and_answers_come_back() {
        let dir = std::env::temp_dir().join(format!("qfp-ctl-srv-{}", std::process::id()));
        let path = dir.join("t.sock");
        let mut srv = CtlServer::bind(&path).unwrap();
        assert!(CtlServer::bind(&path).unwrap_err().contains("another qfp"), "live socket");
        let client = {
            let path = path.clone();
            std::thread::spawn(move || {
                (
                    exchange(&path, "{\"cmd\":\"show-stats\"}\n"),
                    exchange(&path, "not json\n"),
                    exchange(&path, "{\"cmd\":\"rekey\",\"peer\":\"x\"}\n"),
                )
            })
        };
        let mut seen = Vec::new();
        while !client.is_finished() {
            srv.poll(|r| {
                seen.push(r.clone());
                match r {
                    Request::ShowStats => Response::ok(serde_json::json!({"uptime_s": 1.5})),
                    _ => Response::refused("no tunnel to peer x"),
                }
            });
            std::thread::sleep(Duration::from_millis(1));
        }
        let (a, b, c) = client.join().unwrap();
        assert!(a.ok && a.data["uptime_s"] == 1.5, "{a:?}");
        assert_eq!((b.ok, b.code), (false, Some(2)), "{b:?}");
        assert!(b.error.unwrap().starts_with("bad request"));
        assert_eq!(
            (c.ok, c.code, c.error.as_deref()),
            (false, Some(2), Some("no tunnel to peer x"))
        );
        assert_eq!(seen, vec![Request::ShowStats, Request::Rekey { peer: Some("x".into()) }]);
        assert_eq!(srv.served(), 2);
        drop(srv);
        assert!(!path.exists(), "the socket file is removed");
        // A stale file (no one listening) is replaced.
        let stale = UnixListener::bind(&path).unwrap();
        drop(stale);
        let srv = CtlServer::bind(&path).unwrap();
        drop(srv);
        std::fs::write(&path, b"x").unwrap();
        assert!(CtlServer::bind(&path).unwrap_err().contains("not a socket"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
