//! Answers every mode can give from its statistics document: `show stats`, `show drops`,
//! `show workers`. The gateway's own commands (SAs, invalid SPIs, clear, rekey, debug)
//! are answered by its control core (`crate::gateway::answers`).

use dataplane::drops::DropReason;
use serde::Serialize;

use super::proto::{Request, Response};
use crate::stats::Snapshot;

/// One row of `show drops`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DropRow {
    /// The QFP drop-type id.
    pub id: u16,
    /// The QFP name.
    pub name: &'static str,
    /// inbound, outbound or global.
    pub direction: &'static str,
    /// Packets dropped.
    pub packets: u64,
}

/// `show drops` data.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Drops {
    /// Rows in the catalog's order: non-zero ones, or every one with `all`.
    pub drops: Vec<DropRow>,
    /// The global `Ipsec*` counters.
    pub global: std::collections::BTreeMap<&'static str, u64>,
    /// Whether zero rows are listed.
    pub all: bool,
}

/// One row of `show workers`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WorkerRow {
    /// Worker index (worker i polls rx queue i).
    pub worker: usize,
    /// Its lcore.
    pub lcore: u32,
    /// Packets received.
    pub rx: u64,
    /// Packets sent.
    pub tx: u64,
    /// Packets dropped.
    pub drops: u64,
    /// Packets handed to other workers.
    pub handed_off: u64,
    /// Packets received from other workers.
    pub handoff_received: u64,
    /// SAs it owns (inbound SAs and tunnels' outbound SAs), for the gateway.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sas: Option<u32>,
}

/// `show drops` from a snapshot.
pub fn drops(snap: &Snapshot, all: bool) -> Drops {
    Drops {
        drops: DropReason::ALL
            .iter()
            .map(|r| DropRow {
                id: r.id(),
                name: r.name(),
                direction: r.direction().as_str(),
                packets: snap.drops.get(r.name()).copied().unwrap_or(0),
            })
            .filter(|r| all || r.packets > 0)
            .collect(),
        global: snap.global.clone(),
        all,
    }
}

/// `show workers` from a snapshot.
pub fn workers(snap: &Snapshot) -> Vec<WorkerRow> {
    snap.workers
        .iter()
        .enumerate()
        .map(|(i, w)| WorkerRow {
            worker: i,
            lcore: w.lcore,
            rx: w.rx,
            tx: w.tx,
            drops: w.drops,
            handed_off: w.handed_off,
            handoff_received: w.handoff_received,
            sas: w.sas,
        })
        .collect()
}

/// The answer to the commands any mode serves from its statistics, `None` for the others.
pub fn from_snapshot(req: &Request, snap: &Snapshot) -> Option<Response> {
    Some(match req {
        Request::ShowStats => Response::ok(snap),
        Request::ShowDrops { all } => Response::ok(drops(snap, *all)),
        Request::ShowWorkers => Response::ok(serde_json::json!({ "workers": workers(snap) })),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::forward_snapshot;

    #[test]
    fn drops_lists_non_zero_rows_in_catalog_order_or_all() {
        let snap = Snapshot::new(
            1.0,
            vec![],
            &[(1, forward_snapshot([5, 0], [3, 0], 2))],
            vec![],
            None,
            false,
        );
        let d = drops(&snap, false);
        assert_eq!(d.drops.len(), 1);
        assert_eq!((d.drops[0].name, d.drops[0].packets, d.drops[0].id), ("TxFull", 2, 205));
        assert_eq!(drops(&snap, true).drops.len(), DropReason::COUNT);
        let w = workers(&snap);
        assert_eq!((w[0].worker, w[0].lcore, w[0].rx, w[0].drops), (0, 1, 5, 2));
        assert!(from_snapshot(&Request::ShowInvalidSpi, &snap).is_none());
        let r = from_snapshot(&Request::ShowStats, &snap).unwrap();
        assert_eq!(r.data["uptime_s"], 1.0);
    }
}
