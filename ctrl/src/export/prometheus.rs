//! `qfp run --prometheus ADDR:PORT`: the statistics in the Prometheus text exposition
//! format (version 0.0.4), served at `/metrics` by a small HTTP server thread.
//!
//! The server is `tiny_http` (small, no async runtime, no TLS): it binds before the EAL
//! starts, so a bad or busy address is a usage error (exit 2) with nothing started. Its
//! thread serves the last document the control core published (`super::latest`), formatted
//! on that thread; before the first one it answers 503.
//!
//! **Names.** The document's JSON form is walked generically, so a field added to the
//! stats appears here without code. The rules (`docs/observability.md` lists the result):
//!
//! - `drops` → `qfp_drops_total{reason, id, direction}` (every reason of the table, zeros
//!   included, the QFP name and id as labels); `global` → `qfp_global_drops_total{counter}`
//!   (the QFP's `Ipsec*` counters); `events` → `qfp_events_total{event}`; `uptime_s` →
//!   `qfp_uptime_seconds`;
//! - an array of objects `xs` → one family per numeric field `f`, `qfp_x_f` (the `s`
//!   dropped: `ports` → `qfp_port_rx_total`), labelled by the object's string fields and its
//!   identifying numbers (`port`, `lcore`, `spi`, `owner`, `id`, `worker`), plus
//!   `qfp_x_info{...} 1`; an array inside such an object carries its parent's labels
//!   (`qfp_sa_packets_total{tunnel="branch-1",spi="4097",dir="in",...}`);
//! - an object `o` → `qfp_o_f` per field; a number → `qfp_key`; a boolean → 0 or 1;
//! - a field in [`COUNTERS`] is a counter (suffix `_total`), anything else a gauge.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;

use dataplane::drops::DropReason;
use serde_json::{Map, Value};

/// Fields that only grow: counters (suffix `_total`). Anything else is a gauge.
pub const COUNTERS: &[&str] = &[
    "rx",
    "tx",
    "missed",
    "rx_nombuf",
    "drops",
    "handed_off",
    "handoff_received",
    "packets",
    "bytes",
    "replay_failed",
    "verify_failed",
    "rekeys",
    "decrypted",
    "encrypted",
    "punts_received",
    "invalid_spi_reports",
    "reclaimed",
    "reclaim_dropped_in_place",
    "table_generation",
    "count",
    "logged",
    "sent",
    "received",
    "retransmits",
    "rejected",
];

/// Numeric fields that identify an object rather than measure it: labels.
const ID_KEYS: &[&str] = &["port", "lcore", "spi", "owner", "id", "worker", "index"];

/// String fields that say what an object is doing now rather than which it is (an SA's
/// `state`, a peer's): labels of the object's `_info` sample only, so that its counters
/// keep one series when the state changes (a counter that changes series resets
/// `rate()`).
const STATE_KEYS: &[&str] = &["state"];

/// Prometheus metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

type Labels = Vec<(String, String)>;

/// One family: its type, its HELP text and its samples (labels, value).
type Family = (Kind, String, Vec<(Labels, String)>);

/// Metric families in first-seen order, each with its samples.
#[derive(Default)]
struct Families {
    order: Vec<String>,
    map: HashMap<String, Family>,
}

impl Families {
    fn add(&mut self, name: &str, kind: Kind, help: &str, labels: Labels, value: String) {
        let name = metric_name(name);
        let fam = self.map.entry(name.clone()).or_insert_with(|| {
            self.order.push(name.clone());
            (kind, help.to_owned(), Vec::new())
        });
        fam.2.push((labels, value));
    }

    fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        for name in &self.order {
            let (kind, help, samples) = &self.map[name];
            let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
            let t = match kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            };
            let _ = writeln!(out, "# TYPE {name} {t}");
            for (labels, value) in samples {
                out.push_str(name);
                if !labels.is_empty() {
                    out.push('{');
                    for (i, (k, v)) in labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let _ = write!(out, "{}=\"{}\"", label_name(k), escape_label(v));
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {value}");
            }
        }
        out
    }
}

/// A valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`, anything else becomes `_`.
fn metric_name(s: &str) -> String {
    let mut n: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == ':' { c } else { '_' })
        .collect();
    if n.starts_with(|c: char| c.is_ascii_digit()) {
        n.insert(0, '_');
    }
    n
}

/// A valid label name: `[a-zA-Z_][a-zA-Z0-9_]*` (and not starting with `__`, reserved).
fn label_name(s: &str) -> String {
    let mut n: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if n.is_empty() || n.starts_with(|c: char| c.is_ascii_digit()) || n.starts_with("__") {
        n.insert_str(0, "l_");
    }
    n
}

/// Label values: backslash, double quote and line feed escaped.
fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// HELP text: backslash and line feed escaped.
fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn number(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(u8::from(*b).to_string()),
        _ => None,
    }
}

fn is_counter(field: &str) -> bool {
    COUNTERS.contains(&field)
}

/// `ports` → `port`, `tunnels` → `tunnel`, `sa` → `sa`.
fn singular(key: &str) -> &str {
    match key.strip_suffix('s') {
        Some(s) if !s.is_empty() && !s.ends_with('s') => s,
        _ => key,
    }
}

fn family(prefix: &str, field: &str) -> (String, Kind) {
    if is_counter(field) {
        (format!("{prefix}_{field}_total"), Kind::Counter)
    } else {
        (format!("{prefix}_{field}"), Kind::Gauge)
    }
}

/// The labels that identify one object of an array: its strings (but its state) and its
/// id numbers.
fn object_labels(o: &Map<String, Value>) -> Labels {
    o.iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) if !STATE_KEYS.contains(&k.as_str()) => Some((k.clone(), s.clone())),
            Value::Number(n) if ID_KEYS.contains(&k.as_str()) => Some((k.clone(), n.to_string())),
            _ => None,
        })
        .collect()
}

/// Walks `v`, the JSON field `field` found at `path`, named `prefix` (`qfp_...`), with the
/// labels of the objects around it.
fn walk(f: &mut Families, prefix: &str, path: &str, field: &str, v: &Value, labels: &Labels) {
    match v {
        Value::Number(_) | Value::Bool(_) => {
            let (name, kind) = if is_counter(field) {
                (format!("{prefix}_total"), Kind::Counter)
            } else {
                (prefix.to_owned(), Kind::Gauge)
            };
            f.add(
                &name,
                kind,
                &format!("qfp statistics: {path}"),
                labels.clone(),
                number(v).unwrap_or_default(),
            );
        }
        Value::Object(o) => {
            for (k, x) in o {
                walk(f, &format!("{prefix}_{k}"), &format!("{path}.{k}"), k, x, labels);
            }
        }
        Value::Array(items) => {
            let one = format!("qfp_{}", singular(field));
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::Object(o) => array_object(f, &one, path, o, labels),
                    _ => {
                        let mut l = labels.clone();
                        l.push(("index".into(), i.to_string()));
                        walk(f, prefix, path, field, item, &l);
                    }
                }
            }
        }
        Value::String(s) => {
            let mut l = labels.clone();
            l.push(("value".into(), s.clone()));
            f.add(
                &format!("{prefix}_info"),
                Kind::Gauge,
                &format!("qfp statistics: {path}"),
                l,
                "1".into(),
            );
        }
        Value::Null => {}
    }
}

/// One object of an array: its numbers as families under `one`, labelled by its strings
/// and ids (and those of its parents); arrays inside it recurse with those labels.
fn array_object(f: &mut Families, one: &str, path: &str, o: &Map<String, Value>, parent: &Labels) {
    let what = one.trim_start_matches("qfp_");
    let mut labels = parent.clone();
    for (k, v) in object_labels(o) {
        // A parent's labels get its name: `name` of a tunnel is `tunnel` on its SAs.
        labels.push((k, v));
    }
    let mut info = labels.clone();
    for k in STATE_KEYS {
        if let Some(Value::String(s)) = o.get(*k) {
            info.push(((*k).to_owned(), s.clone()));
        }
    }
    f.add(
        &format!("{one}_info"),
        Kind::Gauge,
        &format!("qfp statistics: {path}[] (labels only)"),
        info,
        "1".into(),
    );
    let child_labels: Labels = labels
        .iter()
        .map(|(k, v)| {
            (if k == "name" { what.to_owned() } else { format!("{what}_{k}") }, v.clone())
        })
        .collect();
    for (k, v) in o {
        let sub = format!("{path}[].{k}");
        match v {
            Value::Number(_) if ID_KEYS.contains(&k.as_str()) => {}
            Value::Number(_) | Value::Bool(_) => {
                let (name, kind) = family(one, k);
                f.add(
                    &name,
                    kind,
                    &format!("qfp statistics: {sub}"),
                    labels.clone(),
                    number(v).unwrap_or_default(),
                );
            }
            Value::Array(_) => {
                walk(f, &format!("{one}_{k}"), &sub.replace("[].", "."), k, v, &child_labels)
            }
            Value::Object(_) => walk(f, &format!("{one}_{k}"), &sub, k, v, &labels),
            Value::String(_) | Value::Null => {}
        }
    }
}

/// The Prometheus text for a statistics document (its JSON form).
pub fn render(doc: &Value) -> String {
    let mut f = Families::default();
    f.add(
        "qfp_up",
        Kind::Gauge,
        "1: qfp is running and has published statistics",
        vec![],
        "1".into(),
    );
    let Value::Object(top) = doc else { return f.render() };
    for (key, v) in top {
        match (key.as_str(), v) {
            ("uptime_s", _) => f.add(
                "qfp_uptime_seconds",
                Kind::Gauge,
                "Seconds since forwarding started (at the last statistics interval)",
                vec![],
                number(v).unwrap_or_default(),
            ),
            ("final", _) => f.add(
                "qfp_stats_final",
                Kind::Gauge,
                "1 in the last document, written after the workers stopped",
                vec![],
                number(v).unwrap_or_default(),
            ),
            ("drops", Value::Object(m)) => {
                for (name, n) in m {
                    let mut labels = vec![("reason".to_owned(), name.clone())];
                    if let Some(r) = DropReason::from_name(name) {
                        labels.push(("id".into(), r.id().to_string()));
                        labels.push(("direction".into(), r.direction().as_str().into()));
                    }
                    f.add(
                        "qfp_drops_total",
                        Kind::Counter,
                        "Packets dropped, by QFP drop reason (docs/drops.md); every reason, zeros included",
                        labels,
                        number(n).unwrap_or_default(),
                    );
                }
            }
            ("global", Value::Object(m)) => {
                for (name, n) in m {
                    f.add(
                        "qfp_global_drops_total",
                        Kind::Counter,
                        "The QFP's global Ipsec* drop counters (IpsecInput, IpsecOutput, IpsecInvalidSa, IpsecTailDrop)",
                        vec![("counter".into(), name.clone())],
                        number(n).unwrap_or_default(),
                    );
                }
            }
            ("events", Value::Object(m)) => {
                for (name, n) in m {
                    f.add(
                        "qfp_events_total",
                        Kind::Counter,
                        "Counted outcomes that are not drops (natt_keepalive, punted, decrypted, ...)",
                        vec![("event".into(), name.clone())],
                        number(n).unwrap_or_default(),
                    );
                }
            }
            _ => walk(&mut f, &format!("qfp_{key}"), key, key, v, &vec![]),
        }
    }
    f.render()
}

/// The running server: its address (the port is chosen by the OS for port 0).
#[derive(Debug)]
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
}

/// Binds `addr` and serves `/metrics` on a thread of its own until the process exits.
pub fn start(addr: SocketAddr) -> Result<Server, String> {
    let server = tiny_http::Server::http(addr).map_err(|e| format!("--prometheus {addr}: {e}"))?;
    let addr = server.server_addr().to_ip().unwrap_or(addr);
    std::thread::Builder::new()
        .name("qfp-prometheus".into())
        .spawn(move || {
            for req in server.incoming_requests() {
                respond(req);
            }
        })
        .map_err(|e| format!("--prometheus {addr}: starting the server thread: {e}"))?;
    Ok(Server { addr })
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
}

fn respond(req: tiny_http::Request) {
    use tiny_http::{Method, Response};
    let path = req.url().split('?').next().unwrap_or("").to_owned();
    let get = matches!(req.method(), Method::Get | Method::Head);
    let text = |code: u16, body: String| {
        Response::from_string(body)
            .with_status_code(code)
            .with_header(header("Content-Type", "text/plain; charset=utf-8"))
    };
    let response = match (get, path.as_str()) {
        (true, "/metrics") => match super::latest() {
            Some(snap) => {
                let doc = serde_json::to_value(&*snap).unwrap_or(Value::Null);
                Response::from_string(render(&doc))
                    .with_header(header("Content-Type", "text/plain; version=0.0.4; charset=utf-8"))
            }
            None => text(
                503,
                "qfp: no statistics yet (the first comes after one --stats-interval)\n".into(),
            ),
        },
        (true, "/") => text(200, "qfp: Prometheus metrics at /metrics\n".into()),
        (true, _) => text(404, format!("qfp: no page {path}; metrics are at /metrics\n")),
        (false, _) => text(405, "qfp: only GET and HEAD\n".into()),
    };
    // A client that went away is its own problem: nothing to do about it here.
    let _ = req.respond(response);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lines(text: &str, prefix: &str) -> Vec<String> {
        text.lines().filter(|l| l.starts_with(prefix)).map(str::to_owned).collect()
    }

    #[test]
    fn known_sections_and_generic_arrays() {
        let doc = json!({
            "uptime_s": 2.5,
            "ports": [{"port": 0, "rx": 5, "tx": 4, "missed": 0, "role": "protected", "mac": "02:00:00:00:00:01"}],
            "drops": {"IN_US_V4_PKT_SA_NOT_FOUND_SPI": 3, "Future\"Reason": 0},
            "global": {"IpsecInput": 3},
            "events": {"natt_keepalive": 1},
            "tunnels": [{"name": "b\\1", "rekeys": 2, "owner": 1,
                         "sa": [{"spi": 4097, "dir": "out", "state": "active", "packets": 9, "seq": 9, "owner": 1}]}],
            "peers": [{"name": "b1", "state": "up\ndown", "hellos_missed": 0}],
            "final": true,
        });
        let t = render(&doc);
        assert!(t.contains("# TYPE qfp_drops_total counter\n"), "{t}");
        assert!(
            t.contains("qfp_drops_total{reason=\"IN_US_V4_PKT_SA_NOT_FOUND_SPI\",id=\"4\",direction=\"inbound\"} 3\n"),
            "{t}"
        );
        assert!(t.contains("qfp_drops_total{reason=\"Future\\\"Reason\"} 0\n"), "{t}");
        assert!(
            t.contains(
                "qfp_port_rx_total{port=\"0\",role=\"protected\",mac=\"02:00:00:00:00:01\"} 5\n"
            ) || t.contains(
                "qfp_port_rx_total{mac=\"02:00:00:00:00:01\",port=\"0\",role=\"protected\"} 5\n"
            ),
            "{t}"
        );
        assert!(t.contains("qfp_global_drops_total{counter=\"IpsecInput\"} 3\n"), "{t}");
        assert!(t.contains("qfp_events_total{event=\"natt_keepalive\"} 1\n"), "{t}");
        assert!(t.contains("qfp_uptime_seconds 2.5\n"), "{t}");
        assert!(t.contains("qfp_stats_final 1\n"), "{t}");
        // Nested: the SA carries its tunnel's name, escaped.
        let sa = lines(&t, "qfp_sa_packets_total{");
        assert_eq!(sa.len(), 1, "{t}");
        assert!(
            sa[0].contains("tunnel=\"b\\\\1\"")
                && sa[0].contains("spi=\"4097\"")
                && sa[0].ends_with(" 9"),
            "{sa:?}"
        );
        assert_eq!(lines(&t, "qfp_tunnel_rekeys_total{").len(), 1, "{t}");
        assert!(lines(&t, "qfp_sa_seq{")[0].ends_with(" 9"));
        // A section this code has never heard of.
        let peer = lines(&t, "qfp_peer_hellos_missed{");
        assert_eq!(peer.len(), 1, "{t}");
        assert!(!peer[0].contains("state="), "a state is no label of a measure: {peer:?}");
        let info = lines(&t, "qfp_peer_info{");
        assert!(
            info[0].contains("state=\"up\\ndown\"") && info[0].contains("name=\"b1\""),
            "{info:?}"
        );
        assert!(lines(&t, "qfp_sa_info{")[0].contains("state=\"active\""), "{t}");
        assert!(!sa[0].contains("state="), "{sa:?}");
        // Each family's HELP and TYPE once, before its samples.
        let types = lines(&t, "# TYPE ");
        let distinct: std::collections::HashSet<_> = types.iter().collect();
        assert_eq!(types.len(), distinct.len());
    }

    #[test]
    fn names_are_valid() {
        assert_eq!(metric_name("qfp_a-b.c"), "qfp_a_b_c");
        assert_eq!(metric_name("1x"), "_1x");
        assert_eq!(label_name("__x"), "l___x");
        assert_eq!(label_name("a-b"), "a_b");
        assert_eq!(escape_help("a\\b\nc"), "a\\\\b\\nc");
        assert_eq!(singular("ports"), "port");
        assert_eq!(singular("sa"), "sa");
        assert_eq!(singular("address"), "address");
    }
}
