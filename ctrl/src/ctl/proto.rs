//! The control socket's protocol: one request, one response, each one line of JSON, then
//! the server closes the connection (the simplest thing `nc -U` or a script can also speak).
//!
//! Request: `{"cmd": "show-drops", "all": false}`, `{"cmd": "show-sa", "peer": null}`,
//! `{"cmd": "show-stats"}`, `{"cmd": "show-workers"}`, `{"cmd": "show-invalid-spi"}`,
//! `{"cmd": "clear-sa", "peer": "172.16.2.5"}`, `{"cmd": "rekey", "peer": null}` (null:
//! every tunnel), `{"cmd": "debug-forget-sa", "spi": 4097}`.
//!
//! Response: `{"ok": true, "data": {...}}` or `{"ok": false, "code": 2, "error": "one
//! line"}`. `data` is what `qfp ctl --json` prints; its shape per command is in
//! `docs/qfpctl.md`. `code` is the exit status the client should end with: 2 for a
//! request that cannot be served as asked (unknown peer or SPI, a static tunnel asked to
//! rekey), 1 for a failure of the gateway.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// The drop table (non-zero rows unless `all`) and the global `Ipsec*` counters.
    ShowDrops {
        /// Every row of the catalog, zeros included.
        #[serde(default)]
        all: bool,
    },
    /// Tunnels and their SAs (one peer: its address or tunnel name).
    ShowSa {
        /// Peer address or tunnel name; `None`: every tunnel.
        #[serde(default)]
        peer: Option<String>,
    },
    /// The whole statistics document (the `--stats-json` contract), now.
    ShowStats,
    /// Per-worker counters and owned SAs.
    ShowWorkers,
    /// The unknown-SPI flows and their classification.
    ShowInvalidSpi,
    /// Delete a peer's SAs, tell the peer, and bring up a new pair at once.
    ClearSa {
        /// Peer address or tunnel name.
        peer: String,
    },
    /// Start a rekey now.
    Rekey {
        /// Peer address or tunnel name; `None`: every tunnel with a PSK.
        #[serde(default)]
        peer: Option<String>,
    },
    /// Test hook: delete one inbound SA without telling the peer (injects a desync).
    DebugForgetSa {
        /// The inbound SPI.
        spi: u32,
    },
}

impl Request {
    /// The command as a user types it (for messages).
    pub fn describe(&self) -> String {
        match self {
            Request::ShowDrops { all } => format!("show drops{}", if *all { " all" } else { "" }),
            Request::ShowSa { peer: None } => "show sa".into(),
            Request::ShowSa { peer: Some(p) } => format!("show sa peer {p}"),
            Request::ShowStats => "show stats".into(),
            Request::ShowWorkers => "show workers".into(),
            Request::ShowInvalidSpi => "show invalid-spi".into(),
            Request::ClearSa { peer } => format!("clear sa peer {peer}"),
            Request::Rekey { peer: None } => "rekey all".into(),
            Request::Rekey { peer: Some(p) } => format!("rekey peer {p}"),
            Request::DebugForgetSa { spi } => format!("debug forget-sa {spi:#x}"),
        }
    }
}

/// What the server answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Whether the request was carried out.
    pub ok: bool,
    /// The exit status for the client when `ok` is false (1 or 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u8>,
    /// One line saying why, when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The answer, when `ok`.
    #[serde(default)]
    pub data: Value,
}

impl Response {
    /// A successful answer.
    pub fn ok(data: impl Serialize) -> Response {
        match serde_json::to_value(data) {
            Ok(data) => Response { ok: true, code: None, error: None, data },
            Err(e) => Response::failed(format!("encoding the answer: {e}")),
        }
    }

    /// A request that cannot be served as asked (unknown peer/SPI...): exit status 2.
    pub fn refused(msg: impl Into<String>) -> Response {
        Response { ok: false, code: Some(2), error: Some(msg.into()), data: Value::Null }
    }

    /// A failure of the gateway: exit status 1.
    pub fn failed(msg: impl Into<String>) -> Response {
        Response { ok: false, code: Some(1), error: Some(msg.into()), data: Value::Null }
    }
}

/// Largest request line the server reads.
pub const MAX_REQUEST: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_one_json_object_each_and_round_trip() {
        for (r, text) in [
            (Request::ShowDrops { all: true }, r#"{"cmd":"show-drops","all":true}"#),
            (Request::ShowSa { peer: None }, r#"{"cmd":"show-sa","peer":null}"#),
            (Request::ShowStats, r#"{"cmd":"show-stats"}"#),
            (Request::ShowInvalidSpi, r#"{"cmd":"show-invalid-spi"}"#),
            (
                Request::ClearSa { peer: "10.0.0.1".into() },
                r#"{"cmd":"clear-sa","peer":"10.0.0.1"}"#,
            ),
            (Request::Rekey { peer: None }, r#"{"cmd":"rekey","peer":null}"#),
            (Request::DebugForgetSa { spi: 4097 }, r#"{"cmd":"debug-forget-sa","spi":4097}"#),
        ] {
            assert_eq!(serde_json::to_string(&r).unwrap(), text);
            assert_eq!(serde_json::from_str::<Request>(text).unwrap(), r);
        }
        // Optional fields may be left out by hand-written requests.
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"cmd":"show-drops"}"#).unwrap(),
            Request::ShowDrops { all: false }
        );
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"reboot"}"#).is_err());
        let r = Response::refused("no tunnel to peer 1.2.3.4");
        let back: Response = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!((back.ok, back.code), (false, Some(2)));
    }
}
