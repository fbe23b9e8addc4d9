//! Exporters: the statistics document, served to monitoring systems.
//!
//! The control core builds a [`Snapshot`] every `--stats-interval` and hands it to
//! [`publish`]: one atomic pointer swap of an `Arc` (a `qfp_epoch::Published` cell),
//! nothing else. Readers on threads of their own take the last published snapshot with
//! [`latest`] (an epoch pin and an `Arc` clone, no lock) and format it there:
//!
//! - [`prometheus`]: `qfp run --prometheus ADDR:PORT` serves the Prometheus text format
//!   from a small HTTP server thread;
//! - [`telemetry`]: `/qfp/stats`, `/qfp/drops`, `/qfp/sa`, `/qfp/workers` and one command
//!   per further section of the document on DPDK's telemetry socket
//!   (`dpdk-telemetry.py -f PREFIX`), answered on DPDK's telemetry thread.
//!
//! Both format the document through its JSON form (`serde_json::Value`), never through
//! field-by-field code: a field or section the control core adds to [`Snapshot`] appears
//! in both with no change here (named by the rules in each module). Neither can slow the
//! workers (they never see this) nor block the control core (a reader holds only its own
//! `Arc`).

pub mod prometheus;
pub mod telemetry;

use std::sync::{Arc, OnceLock};

use qfp_epoch::Published;

use crate::stats::Snapshot;

fn cell() -> &'static Published<Option<Arc<Snapshot>>> {
    static LATEST: OnceLock<Published<Option<Arc<Snapshot>>>> = OnceLock::new();
    LATEST.get_or_init(|| Published::new(None))
}

/// Makes `snap` the document every exporter serves (the control core, every interval and
/// at exit). Also registers a telemetry command for any section seen for the first time.
pub fn publish(snap: &Snapshot) {
    let snap = Arc::new(snap.clone());
    telemetry::on_publish(&snap);
    cell().replace(Some(snap));
}

/// The last published document, if any yet.
pub fn latest() -> Option<Arc<Snapshot>> {
    let guard = qfp_epoch::pin();
    cell().load(&guard).clone()
}
