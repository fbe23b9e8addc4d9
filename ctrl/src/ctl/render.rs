//! The text tables of qfpctl, from the JSON answers (the same data `--json` prints), in the
//! style of the IOS-XE commands they mirror: `show platform hardware qfp active feature
//! ipsec datapath drops`, `show platform hardware qfp active statistics drop`, `show
//! crypto ipsec sa`. Missing fields print as `-`: an older or newer gateway still gets a
//! readable table.

use std::fmt::Write;

use serde_json::Value;

use super::proto::Request;

fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or(0)
}

fn st<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("-")
}

/// An SPI as IOS prints it: `0xB761863E(3076621886)`.
pub fn spi(n: u64) -> String {
    format!("0x{n:08X}({n})")
}

fn opt_spi(v: &Value) -> String {
    v.as_u64().map_or_else(|| "none".to_owned(), spi)
}

fn opt_num(v: &Value) -> String {
    v.as_u64().map_or_else(|| "unlimited".to_owned(), |n| n.to_string())
}

fn secs(v: &Value) -> String {
    v.as_f64().map_or_else(|| "-".to_owned(), |s| format!("{s:.3}"))
}

/// The text for the answer `data` to `req`.
pub fn text(req: &Request, data: &Value) -> String {
    match req {
        Request::ShowDrops { .. } => drops(data),
        Request::ShowWorkers => workers(data),
        Request::ShowStats => stats(data),
        Request::ShowSa { .. } => sa(data),
        Request::ShowInvalidSpi => invalid_spi(data),
        Request::ClearSa { .. } | Request::Rekey { .. } | Request::DebugForgetSa { .. } => {
            data["message"].as_str().map_or_else(|| format!("{data}\n"), |m| format!("{m}\n"))
        }
    }
}

fn drops(d: &Value) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{:>9}  {:<44}  {:>20}", "Drop Type", "Name", "Packets");
    let _ = writeln!(o, "{}  {}  {}", "-".repeat(9), "-".repeat(44), "-".repeat(20));
    for r in d["drops"].as_array().into_iter().flatten() {
        let _ = writeln!(o, "{:>9}  {:<44}  {:>20}", u(r, "id"), st(r, "name"), u(r, "packets"));
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "{:<36}  {:>20}", "Global Drop Stats", "Packets");
    let _ = writeln!(o, "{}", "-".repeat(58));
    if let Some(g) = d["global"].as_object() {
        for (k, v) in g {
            let _ = writeln!(o, "{:<36}  {:>20}", k, v.as_u64().unwrap_or(0));
        }
    }
    o
}

fn worker_table(o: &mut String, ws: &Value) {
    let _ = writeln!(
        o,
        "{:>6} {:>6} {:>14} {:>14} {:>12} {:>12} {:>12} {:>5}",
        "Worker", "Lcore", "Rx", "Tx", "Drops", "Handed off", "Handoff rx", "SAs"
    );
    for (i, w) in ws.as_array().into_iter().flatten().enumerate() {
        let sas = w["sas"].as_u64().map_or_else(|| "-".to_owned(), |n| n.to_string());
        let _ = writeln!(
            o,
            "{:>6} {:>6} {:>14} {:>14} {:>12} {:>12} {:>12} {:>5}",
            w["worker"].as_u64().unwrap_or(i as u64),
            u(w, "lcore"),
            u(w, "rx"),
            u(w, "tx"),
            u(w, "drops"),
            u(w, "handed_off"),
            u(w, "handoff_received"),
            sas
        );
    }
}

fn workers(d: &Value) -> String {
    let mut o = String::new();
    worker_table(&mut o, &d["workers"]);
    o
}

fn peer_counts(p: &Value) -> String {
    if p.is_null() {
        return "static".to_owned();
    }
    format!(
        "{}/{}/{}/{}",
        u(p, "rx_accepted"),
        u(p, "rx_forged"),
        u(p, "rx_replayed"),
        u(p, "rx_malformed")
    )
}

fn stats(d: &Value) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "uptime {} s", secs(&d["uptime_s"]));
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "{:>4}  {:<12} {:>14} {:>14} {:>10}  MAC",
        "Port", "Role", "Rx", "Tx", "Missed"
    );
    for p in d["ports"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "{:>4}  {:<12} {:>14} {:>14} {:>10}  {}",
            u(p, "port"),
            st(p, "role"),
            u(p, "rx"),
            u(p, "tx"),
            u(p, "missed"),
            st(p, "mac")
        );
    }
    let _ = writeln!(o);
    worker_table(&mut o, &d["workers"]);
    let _ = writeln!(o);
    let total: u64 =
        d["drops"].as_object().map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
    let _ = writeln!(
        o,
        "inbound: {} decrypted, {} replay failures, {} ICV failures; outbound: {} encrypted; \
         drops: {total} (show drops)",
        u(&d["inbound"], "decrypted"),
        u(&d["inbound"], "replay_failed"),
        u(&d["inbound"], "verify_failed"),
        u(&d["outbound"], "encrypted"),
    );
    let tunnels = d["tunnels"].as_array().cloned().unwrap_or_default();
    if !tunnels.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "{:<20} {:<16} {:<7} {:>8} {:<24} {:>6}  Peer channel accepted/forged/replayed/malformed",
            "Tunnel", "Peer", "State", "Rekeys", "Outbound SPI", "In SAs"
        );
        for t in &tunnels {
            let ins =
                t["sa"].as_array().map_or(0, |s| s.iter().filter(|x| x["dir"] == "in").count());
            let _ = writeln!(
                o,
                "{:<20} {:<16} {:<7} {:>8} {:<24} {:>6}  {}",
                st(t, "name"),
                st(t, "peer"),
                st(t, "peer_state"),
                u(t, "rekeys"),
                opt_spi(&t["outbound_spi"]),
                ins,
                peer_counts(&t["peer_channel"])
            );
        }
    }
    let flows = d["invalid_spi"]["flows"].as_array().map_or(0, Vec::len);
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "unknown-SPI flows: {flows}, {} out of sync now (show invalid-spi)",
        u(&d["core"], "out_of_sync_flows")
    );
    if let Some(c) = d["control"].as_object() {
        let line: Vec<String> = c.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(o, "control core: {}", line.join(", "));
    }
    o
}

fn sa(d: &Value) -> String {
    let mut o = String::new();
    for t in d["tunnels"].as_array().into_iter().flatten() {
        let _ = writeln!(o, "tunnel: {}", st(t, "name"));
        let _ = writeln!(
            o,
            "   local crypto endpt.: {}, remote crypto endpt.: {}",
            st(t, "local"),
            st(t, "peer")
        );
        let natt = if t["natt"].as_bool() == Some(true) {
            format!("UDP {}->{}", u(t, "natt_local_port"), u(t, "natt_peer_port"))
        } else {
            "no".to_owned()
        };
        let _ = writeln!(
            o,
            "   ESP, NAT-T: {natt}, ESN: {}, MTU {}, rekeys: {}",
            if t["esn"].as_bool() == Some(true) { "yes" } else { "no" },
            u(t, "mtu"),
            u(t, "rekeys")
        );
        if st(t, "rekeying") == "peer-channel" {
            let _ = writeln!(
                o,
                "   peer channel: tunnel id {}, peer {}, exchange {}",
                st(t, "tunnel_id"),
                if t["peer_alive"].as_bool() == Some(false) { "DEAD" } else { "alive" },
                st(t, "exchange")
            );
            let tr = &t["rekey_triggers"];
            let _ = writeln!(
                o,
                "   rekeys started by: soft lifetime {}, sequence exhaustion {}, periodic {}, \
                 manual {}, clear {}",
                u(tr, "soft_lifetime"),
                u(tr, "seq_exhausted"),
                u(tr, "periodic"),
                u(tr, "manual"),
                u(tr, "cleared")
            );
            let pc = &t["peer_channel"];
            let _ = writeln!(
                o,
                "   peer messages: {} accepted, {} forged, {} replayed, {} malformed, {} \
                 retransmitted; INVALID_SPI {} sent, {} acted on",
                u(pc, "rx_accepted"),
                u(pc, "rx_forged"),
                u(pc, "rx_replayed"),
                u(pc, "rx_malformed"),
                u(pc, "tx_retransmits"),
                u(pc, "invalid_spi_sent"),
                u(pc, "invalid_spi_acted")
            );
        } else {
            let _ = writeln!(
                o,
                "   static SAs (no PSK): never rekeyed; an out-of-sync SA is NOT recovered \
                 automatically (clear/replace it by hand)"
            );
        }
        let _ = writeln!(o, "   current outbound spi: {}", opt_spi(&t["outbound_spi"]));
        let sas = t["sa"].as_array().cloned().unwrap_or_default();
        for (dir, title) in [("in", "inbound esp sas"), ("out", "outbound esp sas")] {
            let _ = writeln!(o);
            let _ = writeln!(o, "   {title}:");
            for s in sas.iter().filter(|s| s["dir"] == dir) {
                let _ = writeln!(
                    o,
                    "    spi: {}  state: {}  owner: worker {}",
                    spi(u(s, "spi")),
                    st(s, "state"),
                    u(s, "owner")
                );
                let _ = writeln!(o, "      transform: esp-gcm {}", st(s, "aead"));
                let _ = writeln!(o, "      #pkts: {}, #bytes: {}", u(s, "packets"), u(s, "bytes"));
                let l = &s["lifetime_remaining"];
                let _ = writeln!(
                    o,
                    "      sa timing: remaining key lifetime (sec/KB/packets): ({}/{}/{})",
                    opt_num(&l["seconds"]),
                    opt_num(&l["kilobytes"]),
                    opt_num(&l["packets"])
                );
                if dir == "in" {
                    let w = u(s, "replay_window");
                    let _ = writeln!(
                        o,
                        "      replay detection support: {}, highest seq {}, {} replay fails, {} ICV fails",
                        if w == 0 { "N".to_owned() } else { format!("Y, window {w}") },
                        u(s, "seq"),
                        u(s, "replay_failed"),
                        u(s, "verify_failed")
                    );
                } else {
                    let _ = writeln!(o, "      last seq sent: {}", u(s, "seq"));
                }
                if let Some(ms) = s["retire_in_ms"].as_u64() {
                    let _ = writeln!(o, "      retires in {ms} ms (rekey overlap)");
                }
            }
        }
        let _ = writeln!(o);
    }
    o
}

fn invalid_spi(d: &Value) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "unknown-SPI flows (%CRYPTO-4-RECVD_PKT_INV_SPI): interval {} s, out of sync after {} \
         consecutive intervals, recovery {}",
        secs(&d["interval_s"]),
        u(d, "out_of_sync_after"),
        if d["recovery"].as_bool() == Some(true) { "on" } else { "off" }
    );
    let _ = writeln!(
        o,
        "{:<16} {:<16} {:<24} {:<5} {:>10} {:>10} {:>9} {:>8} {:>8}  State",
        "Source",
        "Destination",
        "SPI",
        "Encap",
        "First s",
        "Last s",
        "Intervals",
        "Reports",
        "Notified"
    );
    for f in d["flows"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "{:<16} {:<16} {:<24} {:<5} {:>10} {:>10} {:>9} {:>8} {:>8}  {}",
            st(f, "src"),
            st(f, "dst"),
            spi(u(f, "spi")),
            if f["udp_encap"].as_bool() == Some(true) { "udp" } else { "esp" },
            secs(&f["first_seen_s"]),
            secs(&f["last_seen_s"]),
            u(f, "intervals"),
            u(f, "reports"),
            u(f, "notifies"),
            format!(
                "{}{}",
                st(f, "state"),
                if f["active"].as_bool() == Some(false) { " (quiet now)" } else { "" }
            )
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spis_print_as_ios_does() {
        assert_eq!(spi(0xB761_863E), "0xB761863E(3076621886)");
        assert_eq!(spi(0x1001), "0x00001001(4097)");
    }

    #[test]
    fn drops_table_has_rows_and_the_global_block() {
        let d = json!({"drops": [{"id": 4, "name": "IN_US_V4_PKT_SA_NOT_FOUND_SPI", "packets": 12}],
                       "global": {"IpsecInput": 12, "IpsecOutput": 0}});
        let t = text(&Request::ShowDrops { all: false }, &d);
        let row = t.lines().find(|l| l.contains("SA_NOT_FOUND")).unwrap();
        assert_eq!(
            row.split_whitespace().collect::<Vec<_>>(),
            ["4", "IN_US_V4_PKT_SA_NOT_FOUND_SPI", "12"]
        );
        assert!(
            t.contains("Global Drop Stats")
                && t.lines().any(|l| l.starts_with("IpsecInput") && l.ends_with(" 12"))
        );
    }

    #[test]
    fn missing_fields_do_not_break_a_table() {
        for r in [
            Request::ShowSa { peer: None },
            Request::ShowStats,
            Request::ShowWorkers,
            Request::ShowInvalidSpi,
        ] {
            let t = text(&r, &json!({"tunnels": [{}], "workers": [{}], "flows": [{}]}));
            assert!(!t.is_empty());
        }
        assert_eq!(text(&Request::Rekey { peer: None }, &json!({"message": "done"})), "done\n");
    }
}
