//! The client side of qfpctl: find the socket, send one request, print the answer.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use super::proto::{Request, Response};
use super::{CtlArgs, path, render};

/// Why a command failed: the message (one line) and the exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtlError {
    /// 1 (no gateway, or a failure of the gateway) or 2 (a bad or refused request).
    pub code: u8,
    /// One line.
    pub message: String,
}

impl CtlError {
    fn usage(message: impl Into<String>) -> CtlError {
        CtlError { code: 2, message: message.into() }
    }
    fn unreachable(message: impl Into<String>) -> CtlError {
        CtlError { code: 1, message: message.into() }
    }
}

/// How long the client waits for an answer (the server's own limit is 10 s).
const TIMEOUT: Duration = Duration::from_secs(15);

/// The socket to talk to: `--ctrl-socket`, `$QFP_CTRL_SOCKET`, or the only one found.
pub fn choose_socket(given: Option<&PathBuf>) -> Result<PathBuf, CtlError> {
    if let Some(p) = given {
        return Ok(p.clone());
    }
    if let Some(p) = std::env::var_os("QFP_CTRL_SOCKET").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let found = path::find_sockets();
    let dirs: Vec<String> = path::socket_dirs().iter().map(|d| d.display().to_string()).collect();
    match found.as_slice() {
        [] => Err(CtlError::unreachable(format!(
            "no running qfp found (no control socket in {}); start `qfp run -c FILE` or give \
             --ctrl-socket PATH",
            dirs.join(", ")
        ))),
        [one] => Ok(one.clone()),
        many => Err(CtlError::usage(format!(
            "{} gateways run ({}): say which with --ctrl-socket PATH",
            many.len(),
            many.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Sends `req` to the gateway at `socket` and returns its answer.
pub fn ask(socket: &std::path::Path, req: &Request) -> Result<Response, CtlError> {
    let shown = socket.display();
    let mut s = UnixStream::connect(socket).map_err(|e| {
        CtlError::unreachable(format!(
            "cannot reach the gateway at {shown}: {e} (is `qfp run` running?)"
        ))
    })?;
    let _ = s.set_read_timeout(Some(TIMEOUT));
    let _ = s.set_write_timeout(Some(TIMEOUT));
    let mut line = serde_json::to_vec(req).map_err(|e| CtlError::usage(e.to_string()))?;
    line.push(b'\n');
    s.write_all(&line)
        .map_err(|e| CtlError::unreachable(format!("sending to the gateway at {shown}: {e}")))?;
    let mut out = String::new();
    s.read_to_string(&mut out)
        .map_err(|e| CtlError::unreachable(format!("reading the answer of {shown}: {e}")))?;
    serde_json::from_str(out.trim()).map_err(|e| {
        CtlError::unreachable(format!(
            "{shown} answered something that is not qfp's protocol ({e})"
        ))
    })
}

/// Runs one `qfp ctl` command: what to print on stdout, or the error.
pub fn run(args: &CtlArgs) -> Result<String, CtlError> {
    let req = args.command.request().map_err(CtlError::usage)?;
    let socket = choose_socket(args.ctrl_socket.as_ref())?;
    let resp = ask(&socket, &req)?;
    if !resp.ok {
        return Err(CtlError {
            code: resp.code.unwrap_or(1),
            message: resp.error.unwrap_or_else(|| format!("{} failed", req.describe())),
        });
    }
    if args.json {
        let mut text = serde_json::to_string_pretty(&resp.data)
            .map_err(|e| CtlError::unreachable(e.to_string()))?;
        text.push('\n');
        return Ok(text);
    }
    Ok(render::text(&req, &resp.data))
}

/// The `qfp ctl` / `qfpctl` entry point: prints, and returns the exit status.
pub fn main(args: &CtlArgs, prog: &str) -> u8 {
    match run(args) {
        Ok(text) => {
            let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
            0
        }
        Err(e) => {
            eprintln!("{prog}: {}", e.message);
            e.code
        }
    }
}
