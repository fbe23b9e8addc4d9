//! The demo's live table on stderr: one row a second with the packets sent, received and
//! lost so far (the generator's `missing`: numbers below the highest received that never
//! arrived), each direction's rate, each gateway's rekeys and outbound SPI (they
//! change at every rekey), and the invalid-SPI state; events (rekeys paused, the desync,
//! the gateway's `%CRYPTO-4-RECVD_PKT_INV_SPI` line, the recovery) as lines between rows.

use super::watch::{GenLive, GwView};

/// The column titles.
pub fn header() -> String {
    format!(
        "{:>6}  {:>9}  {:>9}  {:>7}  {:>8}  {:>8}  {:>7}  {:>10}  {:>10}  {}",
        "time",
        "sent",
        "received",
        "lost",
        "A->B pps",
        "B->A pps",
        "rekeys",
        "SPI A->B",
        "SPI B->A",
        "invalid SPI (A | B)"
    )
}

fn spi(s: Option<u32>) -> String {
    s.map_or("-".to_string(), |x| format!("{x:#010x}"))
}

/// A gateway's invalid-SPI state in a few words: its flows and their class if it publishes
/// them, else its unknown-SPI drop count; and a peer that is not up.
pub fn invalid_spi_state(g: &GwView) -> String {
    let mut s = if !g.invalid_spi.is_empty() {
        // Out-of-sync flows first; at most two shown (rekeys in the wrong order make many
        // short-lived transient ones).
        let mut flows = g.invalid_spi.clone();
        flows.sort_by_key(|(_, class)| class != "out-of-sync");
        let mut s = flows
            .iter()
            .take(2)
            .map(|(spi, class)| format!("{spi:#x} {class}"))
            .collect::<Vec<_>>()
            .join(", ");
        if flows.len() > 2 {
            s += &format!(" +{}", flows.len() - 2);
        }
        s
    } else if g.unknown_spi > 0 {
        format!("{} dropped", g.unknown_spi)
    } else {
        "-".to_string()
    };
    if let Some(p) = g.peer_state.as_deref().filter(|p| !matches!(*p, "alive" | "up" | "static")) {
        s += &format!(" (peer {p})");
    }
    s
}

/// One row: the generator's figures now (`traffic`) and at the previous row (`prev`: the
/// rates are over the whole interval between rows, not the generator's last 100 ms), and
/// both gateways' latest statistics.
pub fn row(traffic: &GenLive, prev: &GenLive, gws: [&GwView; 2]) -> String {
    let rekeys = format!("{}/{}", gws[0].rekeys, gws[1].rekeys);
    let dt = traffic.t_s - prev.t_s;
    let rate = |id: u8| {
        let n = traffic.stream(id).received.saturating_sub(prev.stream(id).received);
        if dt > 0.0 { n as f64 / dt } else { 0.0 }
    };
    format!(
        "{:>5.1}s{} {:>9}  {:>9}  {:>7}  {:>8.0}  {:>8.0}  {:>7}  {:>10}  {:>10}  {} | {}",
        traffic.t_s,
        if traffic.sending { " " } else { "d" },
        traffic.sent,
        traffic.received,
        traffic.missing,
        rate(0),
        rate(1),
        rekeys,
        spi(gws[0].out_spi),
        spi(gws[1].out_spi),
        invalid_spi_state(gws[0]),
        invalid_spi_state(gws[1]),
    )
}

/// An event line between rows.
pub fn event(t_s: f64, what: &str) -> String {
    format!("{:>5.2}s  ** {what}", t_s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::watch::StreamLive;

    #[test]
    fn rows_line_up_with_the_header_and_show_spis_and_state() {
        let prev = GenLive {
            t_s: 2.0,
            streams: vec![
                StreamLive { id: 0, received: 40_000, ..StreamLive::default() },
                StreamLive { id: 1, received: 40_000, ..StreamLive::default() },
            ],
            ..GenLive::default()
        };
        let traffic = GenLive {
            t_s: 3.0,
            start_unix_s: 0.0,
            sending: true,
            sent: 120_000,
            received: 119_990,
            missing: 10,
            streams: vec![
                StreamLive { id: 0, rx_pps: 20000.0, sent: 60_000, received: 60_000, missing: 0 },
                StreamLive { id: 1, rx_pps: 19990.0, sent: 60_000, received: 59_990, missing: 10 },
            ],
        };
        let a = GwView {
            rekeys: 3,
            out_spi: Some(0x1234_5678),
            unknown_spi: 10,
            invalid_spi: vec![(0x2001, "out-of-sync".into())],
            ..GwView::default()
        };
        let b = GwView {
            rekeys: 3,
            out_spi: Some(0x2001),
            peer_state: Some("dead".into()),
            ..GwView::default()
        };
        let r = row(&traffic, &prev, [&a, &b]);
        assert!(r.contains("0x12345678") && r.contains("0x00002001"), "{r}");
        assert!(r.contains("3/3") && r.contains("  20000  ") && r.contains("19990"), "{r}");
        assert!(r.starts_with("  3.0s  "), "{r}");
        let drain = row(&GenLive { sending: false, ..traffic.clone() }, &prev, [&a, &b]);
        assert!(drain.starts_with("  3.0sd "), "{drain}");
        assert!(r.ends_with("0x2001 out-of-sync | - (peer dead)"), "{r}");
        let h = header();
        let col = |s: &str, word: &str| s.find(word).unwrap() + word.len();
        assert_eq!(col(&h, "received"), col(&r, "119990"), "\n{h}\n{r}");
        assert_eq!(invalid_spi_state(&GwView { unknown_spi: 4, ..GwView::default() }), "4 dropped");
        let many = GwView {
            invalid_spi: vec![
                (1, "transient".into()),
                (2, "transient".into()),
                (3, "out-of-sync".into()),
            ],
            ..GwView::default()
        };
        assert_eq!(invalid_spi_state(&many), "0x3 out-of-sync, 0x1 transient +1");
        assert!(event(12.0, "desync").starts_with("12.00s  ** desync"));
    }
}
