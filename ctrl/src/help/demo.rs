//! The man page of `qfp demo --help`.

/// DESCRIPTION of `qfp demo` (clap `long_about`).
pub const DEMO_DESCRIPTION: &str = "\
The self-contained showcase: two gateways, traffic counted both ways, rekeys, a desync
and its recovery.

DESCRIPTION
    qfp demo needs no NIC and no hugepages, only two CPUs. It starts two gateways (two
    `qfp run -c` processes, A and B, with configs written for the run: one tunnel,
    AES-128-GCM, ESN, fresh random keys and PSK) joined by net_memif on their
    unprotected ports, and `qfp gen` on both protected ports, which sends numbered
    64-byte frames both ways (stream 0 A->B, stream 1 B->A) at --rate and counts every
    one back.

    Every --rekey-every ms the demo asks A and B in turn to rekey (`rekey all` on their
    control sockets), in the --rekey-order of both gateways. At --desync-at seconds
    gateway A forgets the inbound SA that B sends on (`qfp ctl debug forget-sa SPI`): B's
    packets hit an unknown SPI, A logs %CRYPTO-4-RECVD_PKT_INV_SPI and, with invalid-SPI
    recovery on, tells B, which drops its stale SA and rekeys; traffic flows again. With
    --no-recovery the tunnel stays black-holed to the end. Scheduled rekeys pause around
    the desync, so that what repairs the tunnel is the recovery and nothing else.

    On stderr: a live table every second (sent, received, lost, rates, rekeys, each
    side's outbound SPI, unknown-SPI flows) and event lines (every gateway log line in
    the IOS form). On stdout at the end: the summary, whose last line is its one-line
    form; --json FILE writes it as JSON.";

/// EXAMPLES, SIGNALS, EXIT STATUS, FILES, SEE ALSO of `qfp demo` (clap `after_long_help`).
pub const DEMO_AFTER: &str = "\
EXAMPLES
    The whole story with the defaults (20 s of traffic at 20000 pps each way, a rekey a
    second, the desync at 12 s; about 27 s in all):
        qfp demo

    Cisco's CSCty30063 order and no recovery: rekeys lose packets, the desync is never
    repaired:
        qfp demo --rekey-order outbound-first --no-recovery

    Short, no scheduled rekeys, the summary as JSON and every file kept (give --dir an
    absolute path: net_memif refuses relative socket paths):
        qfp demo --duration 8 --rekey-every 0 --json summary.json --dir /tmp/demo-run

    While it runs, from another terminal:
        qfp ctl --ctrl-socket /tmp/demo-run/a.ctl show sa

SIGNALS
    SIGINT, SIGTERM   stop the generator (it drains and reports), then the gateways
                      (they write their final statistics); print the summary (stopped
                      by signal); exit status 0.
    a second one      kill the children at once; exit status 1.

EXIT STATUS
    0   the show ran to its end (or was stopped by a signal) and the summary was printed;
        lost packets are a result, not an error.
    1   a child failed (exited early or with a non-zero status: which one, its command
        line, its log file and last lines are printed), or the demo could not run.
    2   bad flags; nothing was started.

FILES
    --dir DIR     a.toml, b.toml (configs), a-stats.json, b-stats.json, a.ctl, b.ctl
                  (control sockets), the memif sockets, gen-live.json, gen.json and
                  a.log, b.log, gen.log (every child's output). Without --dir, a
                  temporary directory, removed after a successful run, kept and named
                  after a failure.
    --json FILE   the summary: sent, received, lost, lost_in_rekeys, rekeys, desync
                  {injected_s, detected_s, recovered_s, lost}, directions, gateways.

SEE ALSO
    qfp run --help, qfp gen --help, qfp ctl --help,
    docs/demo.md (the figures and how they are made), docs/qfpctl.md, docs/drops.md.";
