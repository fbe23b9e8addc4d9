//! qfp's figures on DPDK's telemetry socket: `dpdk-telemetry.py -f PREFIX` (PREFIX is the
//! EAL `--file-prefix`; qfp prints it at start when it chose it) shows
//!
//! - `/qfp/stats`: every scalar of the statistics document and its small objects
//!   (`uptime_s`, `ports/...`, `global/...`, `events/...`, `inbound/...`, `outbound/...`,
//!   `control/...`, `final`), the arrays and the drop table excepted;
//! - `/qfp/drops`: every drop reason by its QFP name, zeros included
//!   (`/qfp/drops,nonzero`: only the non-zero ones);
//! - `/qfp/sa`: per tunnel and SA, `TUNNEL/rekeys`, `TUNNEL/0xSPI/packets`, ...
//!   (`/qfp/sa,NAME` or `/qfp/sa,0xSPI`: one tunnel or one SA);
//! - `/qfp/workers`: `lcoreN/rx`, `lcoreN/tx`, ...;
//! - `/qfp/KEY` for any other array of the document (for instance the control core's
//!   invalid-SPI flows and peers), registered the first time it is published, each entry
//!   keyed by its name, SPI, lcore, port or index.
//!
//! Every answer comes from the last published document (`super::latest`) and is built on
//! DPDK's telemetry thread. Replies are flat (DPDK 22.11 nests only arrays), keys joined
//! with `/`; telemetry has no floating point, so fractional numbers are sent as strings.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use dpdk_sys::telemetry::{self, Reply, Value as Tel};
use serde_json::{Map, Value};

use crate::stats::Snapshot;

/// Sections with a command of their own (not repeated in `/qfp/stats`).
const OWN: &[&str] = &["drops", "tunnels", "workers"];

/// A scalar as a telemetry value; `None` for null and containers.
fn scalar(v: &Value) -> Option<Tel> {
    match v {
        Value::Bool(b) => Some(Tel::U64(u64::from(*b))),
        Value::Number(n) => Some(if let Some(u) = n.as_u64() {
            Tel::U64(u)
        } else if let Some(i) = n.as_i64().and_then(|i| i32::try_from(i).ok()) {
            Tel::Int(i)
        } else {
            Tel::Str(n.to_string())
        }),
        Value::String(s) => Some(Tel::Str(s.clone())),
        _ => None,
    }
}

/// The key of one entry of an array: its name, SPI (hex), lcore, port, or its index.
fn entry_key(o: &Map<String, Value>, i: usize) -> String {
    if let Some(Value::String(n)) = o.get("name") {
        return n.clone();
    }
    if let Some(spi) = o.get("spi").and_then(Value::as_u64) {
        return format!("{spi:#x}");
    }
    for k in ["lcore", "port", "id"] {
        if let Some(n) = o.get(k).and_then(Value::as_u64) {
            return format!("{k}{n}");
        }
    }
    i.to_string()
}

/// Appends `v` flattened under `prefix` (`a/b/c`) to `out`.
fn flatten(prefix: &str, v: &Value, out: &mut Reply) {
    let join = |k: &str| if prefix.is_empty() { k.to_owned() } else { format!("{prefix}/{k}") };
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                flatten(&join(k), x, out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::Object(o) => flatten(&join(&entry_key(o, i)), item, out),
                    _ => flatten(&join(&i.to_string()), item, out),
                }
            }
        }
        _ => {
            if let Some(t) = scalar(v) {
                out.push((prefix.to_owned(), t));
            }
        }
    }
}

fn doc() -> Option<Value> {
    super::latest().and_then(|s| serde_json::to_value(&*s).ok())
}

/// `/qfp/stats`.
pub fn stats_reply(doc: &Value) -> Reply {
    let mut out = Reply::new();
    if let Value::Object(top) = doc {
        for (k, v) in top {
            let own = OWN.contains(&k.as_str()) || (v.is_array() && k != "ports");
            if !own {
                flatten(k, v, &mut out);
            }
        }
    }
    out
}

/// `/qfp/drops[,nonzero]`.
pub fn drops_reply(doc: &Value, params: Option<&str>) -> Reply {
    let nonzero = params.is_some_and(|p| p.trim() == "nonzero");
    let mut out = Reply::new();
    if let Some(Value::Object(d)) = doc.get("drops") {
        for (name, n) in d {
            if let Some(t) = scalar(n)
                && !(nonzero && t == Tel::U64(0))
            {
                out.push((name.clone(), t));
            }
        }
    }
    out
}

/// `/qfp/sa[,NAME|,0xSPI]`.
pub fn sa_reply(doc: &Value, params: Option<&str>) -> Reply {
    let want = params.map(str::trim).filter(|p| !p.is_empty());
    let want_spi = want.and_then(|p| {
        p.strip_prefix("0x").map_or_else(|| p.parse().ok(), |h| u64::from_str_radix(h, 16).ok())
    });
    let mut out = Reply::new();
    for t in doc.get("tunnels").and_then(Value::as_array).into_iter().flatten() {
        let Value::Object(o) = t else { continue };
        let name = entry_key(o, 0);
        let whole = want.is_none() || want == Some(name.as_str());
        for (k, v) in o {
            match v {
                Value::Array(sas) => {
                    for (i, sa) in sas.iter().enumerate() {
                        let Value::Object(so) = sa else { continue };
                        let spi = so.get("spi").and_then(Value::as_u64);
                        if whole || (want_spi.is_some() && spi == want_spi) {
                            flatten(&format!("{name}/{}", entry_key(so, i)), sa, &mut out);
                        }
                    }
                }
                _ if whole && k != "name" => flatten(&format!("{name}/{k}"), v, &mut out),
                _ => {}
            }
        }
    }
    out
}

/// `/qfp/KEY` for an array section of the document.
pub fn section_reply(doc: &Value, key: &str) -> Reply {
    let mut out = Reply::new();
    if let Some(v) = doc.get(key) {
        flatten("", v, &mut out);
    }
    out
}

/// Registers the fixed commands. Called once `qfp run` has started the EAL.
pub fn register() -> dpdk_sys::Result<()> {
    type Answer = fn(&Value, Option<&str>) -> Reply;
    let fixed: [(&str, &str, Answer); 4] = [
        ("/qfp/stats", "qfp statistics: ports, global drop counters, events, totals", |d, _| {
            stats_reply(d)
        }),
        ("/qfp/drops", "qfp drops by QFP reason. Parameter: nonzero", drops_reply),
        ("/qfp/sa", "qfp tunnels and SAs. Parameter: tunnel name or 0xSPI", sa_reply),
        ("/qfp/workers", "qfp per-worker counters", |d, _| section_reply(d, "workers")),
    ];
    for (cmd, help, f) in fixed {
        telemetry::register(cmd, help, move |p| doc().map(|d| f(&d, p)).unwrap_or_default())?;
        seen().lock().unwrap_or_else(|p| p.into_inner()).insert(cmd.to_owned());
    }
    Ok(())
}

fn seen() -> &'static Mutex<HashSet<String>> {
    static S: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    S.get_or_init(Default::default)
}

/// The command for section `key` of the document.
pub fn command_for(key: &str) -> String {
    format!("/qfp/{}", telemetry::sanitize_key(key).replace('/', "_"))
}

/// Registers `/qfp/KEY` for every array section of `snap` not seen before (the control
/// core, at publication: a set lookup per section, a registration once per new section).
pub(crate) fn on_publish(snap: &Snapshot) {
    let Ok(Value::Object(top)) = serde_json::to_value(snap) else { return };
    for (k, v) in &top {
        if !v.is_array() || OWN.contains(&k.as_str()) || k == "ports" {
            continue;
        }
        let cmd = command_for(k);
        let mut seen = seen().lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains(&cmd) {
            continue;
        }
        let key = k.clone();
        let help = format!("qfp {key} (one entry per element)");
        if telemetry::register(&cmd, &help, move |_| {
            doc().map(|d| section_reply(&d, &key)).unwrap_or_default()
        })
        .is_ok()
        {
            seen.insert(cmd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "uptime_s": 1.5,
            "ports": [{"port": 0, "rx": 3, "role": "protected"}],
            "workers": [{"lcore": 1, "rx": 3}],
            "drops": {"A": 0, "B": 2},
            "global": {"IpsecInput": 2},
            "tunnels": [{"name": "b-1", "rekeys": 1,
                         "sa": [{"spi": 4097, "dir": "out", "packets": 5},
                                {"spi": 8193, "dir": "in", "packets": 6}]}],
            "peers": [{"name": "b-1", "state": "up"}],
            "final": false
        })
    }

    fn get<'a>(r: &'a Reply, k: &str) -> Option<&'a Tel> {
        r.iter().find(|(x, _)| x == k).map(|(_, v)| v)
    }

    #[test]
    fn replies() {
        let d = doc();
        let s = stats_reply(&d);
        assert_eq!(get(&s, "uptime_s"), Some(&Tel::Str("1.5".into())));
        assert_eq!(get(&s, "ports/port0/rx"), Some(&Tel::U64(3)));
        assert_eq!(get(&s, "global/IpsecInput"), Some(&Tel::U64(2)));
        assert_eq!(get(&s, "final"), Some(&Tel::U64(0)));
        assert!(s.iter().all(|(k, _)| !k.starts_with("drops") && !k.starts_with("peers")));
        assert_eq!(drops_reply(&d, None).len(), 2);
        assert_eq!(drops_reply(&d, Some("nonzero")), vec![("B".to_owned(), Tel::U64(2))]);
        let sa = sa_reply(&d, None);
        assert_eq!(get(&sa, "b-1/rekeys"), Some(&Tel::U64(1)));
        assert_eq!(get(&sa, "b-1/0x1001/packets"), Some(&Tel::U64(5)));
        assert_eq!(get(&sa, "b-1/0x2001/dir"), Some(&Tel::Str("in".into())));
        let one = sa_reply(&d, Some("0x2001"));
        assert!(
            one.iter().all(|(k, _)| k.starts_with("b-1/0x2001/")) && !one.is_empty(),
            "{one:?}"
        );
        assert_eq!(sa_reply(&d, Some("nope")), vec![]);
        assert_eq!(get(&section_reply(&d, "workers"), "lcore1/rx"), Some(&Tel::U64(3)));
        assert_eq!(get(&section_reply(&d, "peers"), "b-1/state"), Some(&Tel::Str("up".into())));
        assert_eq!(command_for("invalid-spi"), "/qfp/invalid_spi");
    }
}
