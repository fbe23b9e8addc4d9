//! The man pages of `qfp pcap --help` and `qfp gen --help`, the load tools.

/// DESCRIPTION of `qfp pcap` (clap `long_about`).
pub const PCAP_DESCRIPTION: &str = "\
Write the capture files that drive a gateway configured by a qfp.toml.

DESCRIPTION
    For each --sizes entry, qfp pcap writes two files into --dir, for one tunnel of the
    config (--tunnel; default the first):

    plain-SIZE.pcap   what the protected LAN sends (stream 0): inner sources in our LAN
                      (--lan), destinations in the tunnel's selectors, from the LAN
                      router's MAC to the gateway's protected port.
    esp-SIZE.pcap     what the tunnel's peer sends (stream 1): the same kind of traffic
                      the other way, encrypted with the peer's outbound keys (our inbound
                      SA's, --spi), sequence numbers from --start-seq, from the tunnel's
                      next_hop_mac to the gateway's unprotected port.

    --peer-side writes the mirror set, what the peer's gateway is fed: its plain traffic
    (the inner packets of our esp files) and ESP with our outbound keys (what this gateway
    sends the peer for our plain files). One config thus gives a test both roles.
    --all-tunnels interleaves every tunnel of the config, frame i for tunnel i mod T.

    Frame sizes count the Ethernet FCS (a 64-byte frame is 60 bytes in the file); imix is
    7:4:1 of 64, 570 and 1500. Every packet is UDP to port 9 carrying qfp's load header
    (stream, sequence number), so `qfp gen` counts what comes out of the gateway. Every
    frame must fit the tunnel's mtu: a size that does not is refused before anything is
    written. Lifetimes in the config are ignored (the files are replayed, not a live SA).";

/// EXAMPLES, EXIT STATUS, FILES, SEE ALSO of `qfp pcap` (clap `after_long_help`).
pub const PCAP_AFTER: &str = "\
EXAMPLES
    Both sides' files for the example config's first tunnel (64, 512, 1400 bytes):
        qfp pcap -c ctrl/examples/qfp.toml --dir out/ --count 1000
        qfp pcap -c ctrl/examples/qfp.toml --dir out-peer/ --peer-side

    IPv6 inner traffic of the second tunnel (mtu 1400, so smaller frames), 64 flows:
        qfp pcap -c ctrl/examples/qfp.toml --dir out6/ --tunnel branch-2 --ip 6 \\
            --sizes 84,512 --flows 64

    Feed a gateway with them, forever (a replayed ESP file repeats its sequence
    numbers, hence --replay-window 0; keep --count well below the mbuf pool):
        qfp run -c ctrl/examples/qfp.toml --replay-window 0 --duration 10 -- \\
            --no-huge -m 1024 \\
            --vdev=net_pcap0,rx_pcap=out/plain-64.pcap,tx_pcap=lan-out.pcap,infinite_rx=1 \\
            --vdev=net_pcap1,rx_pcap=out/esp-64.pcap,tx_pcap=wan-out.pcap,infinite_rx=1

EXIT STATUS
    0   every file written.
    1   a file could not be written.
    2   bad flags or config, or a size that does not fit the tunnel; one line on stderr
        says why, nothing was written.

FILES
    -c FILE                 the gateway config (docs/config.md).
    DIR/plain-SIZE.pcap     plain frames for the protected port (pcap, Ethernet).
    DIR/esp-SIZE.pcap       ESP frames for the unprotected port.

SEE ALSO
    qfp gen --help (generator and sink), qfp run --help,
    docs/load-tools.md (the load header, flows, MACs, replaying), docs/config.md.";

/// DESCRIPTION of `qfp gen` (clap `long_about`).
pub const GEN_DESCRIPTION: &str = "\
Generate traffic on DPDK ports and count it back: loss, reordering, latency.

DESCRIPTION
    qfp gen sends numbered, timestamped UDP frames on one or two DPDK ports and counts
    them back. Every sending port (--tx-ports; default all of --ports) sends one stream,
    whose id is the port's index: with two ports, stream 0 goes out of the first from
    hosts of --net0 to hosts of --net1, stream 1 out of the second the other way, what a
    gateway between two networks sees. Every port receives; a frame's load header says
    its stream, whichever port it comes back on.

    --rate is per sending port (max: as fast as the port takes them). Sending stops after
    --duration, after --count packets per port, or at SIGINT/SIGTERM, whichever comes
    first; then it keeps receiving for --drain-ms and reports. A packet the tx queue
    refuses is retried, never counted as sent.

    Per stream, every arrival is received (first copy), reordered, duplicated, late or
    unexpected; numbers that never arrive are lost, and received + lost = sent exactly.
    Latency (TSC from build to receipt) goes to an HdrHistogram (p50 to max, in µs); the
    timeline says per --bucket-ms how many packets were lost by the time they were sent.

    A live line goes to stderr every --live-ms (not with -q), the summary table to stdout,
    the whole report as JSON to --json FILE. EAL: as `qfp run` (--no-huge -m 1024 and a
    file prefix of its own when the host has no free hugepages), one lcore. A port whose
    link is down is waited for (--link-wait) and restarted once a second meanwhile.";

/// EXAMPLES, SIGNALS, EXIT STATUS, FILES, SEE ALSO of `qfp gen` (clap `after_long_help`).
pub const GEN_AFTER: &str = "\
EXAMPLES
    Loopback on one port (net_ring sends a port's tx back to its rx), five seconds:
        qfp gen --rate max --duration 5 -- --vdev=net_ring0

    A million IMIX frames at 100 kpps, report as JSON:
        qfp gen --size imix --count 1000000 --json gen.json -- --vdev=net_ring0

    Both directions through `qfp run` in another process over net_memif (the generator
    on another CPU than the gateway's worker):
        qfp run -- --vdev=net_memif0,role=server,socket=/tmp/a.sock,socket-abstract=no \\
                   --vdev=net_memif1,role=server,socket=/tmp/b.sock,socket-abstract=no &
        qfp gen --rate 200000 --duration 10 --json gen.json -- --lcores=0@0 \\
            --vdev=net_memif0,role=client,socket=/tmp/a.sock,socket-abstract=no \\
            --vdev=net_memif1,role=client,socket=/tmp/b.sock,socket-abstract=no

SIGNALS
    SIGINT, SIGTERM   stop sending, drain for --drain-ms, report; exit status 0.
    a second one      end the drain at once and report.

EXIT STATUS
    0   the run ended and the report was written (loss is a result, not an error).
    1   failure while running (a link that never came up, the EAL or a port could not
        start, the report could not be written); one line on stderr says why.
    2   bad flags or EAL arguments DPDK refused; nothing was sent.

FILES
    --json FILE         the report: per stream sent, received, lost, reordered,
                        duplicated, latency, timeline; ports; start_unix_s.
    --live-json FILE    the live figures, rewritten atomically every --live-ms.

SEE ALSO
    qfp pcap --help (capture files for a gateway), qfp run --help,
    docs/load-tools.md (the load header, how it counts, limits measured).";
