//! The man page of `qfp run --help`.

/// DESCRIPTION of `qfp run` (clap `long_about`).
pub const RUN_DESCRIPTION: &str = "\
Run the forwarding processor on DPDK ports.

DESCRIPTION
    With -c FILE, qfp is an IPsec ESP gateway between two ports: the protected port
    (plain traffic, the LAN) and the unprotected port (ESP, the WAN), as the config's
    [gateway] section names them. Plain packets that match a tunnel's selectors are
    encrypted (AES-GCM, RFC 4106; NAT-T per RFC 3948 where the tunnel says so) and sent to
    the tunnel's peer; ESP from a peer is checked (SA, lifetime, anti-replay window, ICV,
    padding, inner header, selectors) and routed to the LAN. Without -c, qfp is an L2
    cross-connect of ports 0 and 1: the I/O ceiling the gateway is measured against.

    The main lcore is the control core; every other lcore of the EAL list (or --workers
    of them) is a polling worker with its own rx queue on each port. Without -l/--lcores,
    qfp maps one control lcore and --workers worker lcores onto the CPUs it may use, and
    adds --no-huge -m 1024 and a --file-prefix when the host has no free hugepages; each
    addition is printed as a note.

    Every packet qfp receives and does not send is counted under exactly one drop reason
    named after Cisco's QFP datapath drop table (docs/drops.md). Every --stats-interval
    the control core prints a live line, rewrites --stats-json FILE and publishes the
    same document to --prometheus ADDR:PORT (text exposition at /metrics) and to the DPDK
    telemetry socket (/qfp/stats, /qfp/drops, /qfp/sa, /qfp/workers).

    Arguments after -- go to rte_eal_init untouched (ports: --vdev or PCI devices bound to
    a DPDK driver; lcores: -l or --lcores).";

/// EXAMPLES, SIGNALS, EXIT STATUS, FILES, SEE ALSO of `qfp run` (clap `after_long_help`).
pub const RUN_AFTER: &str = "\
EXAMPLES
    Gateway on two NICs bound to vfio-pci, two workers, busy polling, statistics:
        qfp run -c /etc/qfp/qfp.toml --workers 2 --poll busy \\
            --stats-json /run/qfp/stats.json --prometheus 127.0.0.1:9469 \\
            -- -l 0-2 -a 0000:3b:00.0 -a 0000:3b:00.1

    Gateway on capture files, for ten seconds (no NIC needed):
        qfp run -c qfp.toml --duration 10 --stats-json s.json -- --no-huge -m 1024 \\
            --vdev=net_pcap0,rx_pcap=lan.pcap,tx_pcap=out-lan.pcap \\
            --vdev=net_pcap1,rx_pcap=wan.pcap,tx_pcap=out-wan.pcap

    The I/O ceiling (L2 cross-connect, no -c) on two null devices:
        qfp run --duration 5 -- --vdev=net_null0 --vdev=net_null1

    Read the figures of a running gateway:
        curl -s http://127.0.0.1:9469/metrics | grep qfp_drops_total
        dpdk-telemetry.py -f PREFIX        then  /qfp/drops,nonzero  or  /qfp/sa,branch-1

SIGNALS
    SIGINT, SIGTERM   stop cleanly: workers stop receiving and drain the rings between
                      cores, ports are read and closed, the final statistics
                      (\"final\": true) are written; exit status 0.
    a second one      exit at once (status 130 or 143), for a stop that hangs.

EXIT STATUS
    0   stopped cleanly (--duration ran out, or SIGINT/SIGTERM).
    1   failure while running (a worker failed, a port could not be closed, the EAL or
        a port could not start); one line on stderr says why.
    2   bad flags, bad config (file:line: field: message) or EAL arguments DPDK refused;
        nothing was started.

FILES
    -c FILE             the gateway config (TOML: [gateway], [[tunnel]] with [[tunnel.sa]],
                        [[route]]); see docs/config.md.
    --stats-json FILE   the statistics document, rewritten atomically (a temporary file
                        then rename) every interval and at exit.
    /var/run/dpdk/PREFIX/dpdk_telemetry.v2
                        the DPDK telemetry socket (root; else $XDG_RUNTIME_DIR/dpdk/PREFIX);
                        PREFIX is the EAL --file-prefix (default rte, or the qfp-PID that
                        qfp chose and printed, whose directory qfp removes at exit).

SEE ALSO
    docs/gateway.md (the gateway as built), docs/drops.md (drop reasons),
    docs/config.md (config file), docs/observability.md (Prometheus and telemetry),
    docs/load-tools.md (qfp pcap, qfp gen, benchmarks).";
