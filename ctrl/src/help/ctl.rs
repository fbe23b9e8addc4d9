//! The man page of `qfp ctl --help` and `qfpctl --help` (one program, two names).

/// DESCRIPTION of `qfp ctl` / `qfpctl` (clap `long_about`).
pub const CTL_DESCRIPTION: &str = "\
Query and steer a running `qfp run -c` through its control socket.

DESCRIPTION
    qfp ctl (also installed as qfpctl, the name IOS users type) sends one request to a
    running gateway over its unix control socket and prints the answer as an IOS-like
    table, or as the answer's JSON with --json (any command, anywhere on the line). The
    gateway's control core answers at its next tick; it never waits for a client.

    show drops [all]      the table of `show platform hardware qfp active feature ipsec
                          datapath drops`: non-zero rows (all: every row of the catalog),
                          then the global Ipsec* counters.
    show sa [peer A]      per tunnel, like `show crypto ipsec sa`: endpoints, peer
                          channel, rekeys, then every inbound SA and the outbound SA
                          (SPI, state, owner worker, packets, bytes, lifetime left,
                          replay window, replay and ICV failures).
    show stats            the statistics document of --stats-json, now.
    show workers          per worker: lcore, rx, tx, drops, hand-offs, SAs owned.
    show invalid-spi      the unknown-SPI flows (%CRYPTO-4-RECVD_PKT_INV_SPI): first and
                          last seen, streak, notifies sent, transient or out-of-sync.
    clear sa peer A       delete the tunnel's SAs, tell the peer, and bring up a new pair
                          at once (a tunnel with a PSK only).
    rekey [peer A | all]  start a rekey now (nothing or all: every tunnel with a PSK).
    debug forget-sa SPI   test hook: delete inbound SA SPI without telling the peer (an
                          out-of-sync SA on demand; the gateway repairs it by itself when
                          run with --invalid-spi-recovery on).

    A is a peer's outer address or a tunnel's name; SPI is hex (0x1001) or decimal.";

/// EXAMPLES, EXIT STATUS, ENVIRONMENT, FILES, SEE ALSO of `qfp ctl` / `qfpctl` (clap
/// `after_long_help`).
pub const CTL_AFTER: &str = "\
EXAMPLES
    The drop table of the only gateway on this machine:
        qfpctl show drops

    One tunnel's SAs, by peer address or by tunnel name, as JSON:
        qfpctl show sa peer 172.16.2.5
        qfp ctl --json show sa peer branch-1

    A gateway started with --ctrl-socket /run/qfp/gw.sock: rekey every tunnel, then
    watch the unknown-SPI flows:
        qfpctl --ctrl-socket /run/qfp/gw.sock rekey all
        qfpctl --ctrl-socket /run/qfp/gw.sock show invalid-spi

    Clear a peer's SAs (a new pair comes up at once):
        qfpctl clear sa peer branch-1

    The protocol without qfpctl (one JSON line each way):
        echo '{\"cmd\":\"show-stats\"}' | nc -U /run/qfp/gw.sock

EXIT STATUS
    0   answered.
    1   no gateway at the socket (missing, refused), or the gateway failed to answer.
    2   bad command line, or a request the gateway refused: unknown peer, tunnel or SPI,
        rekey or clear sa of a static tunnel (no PSK), several sockets and no
        --ctrl-socket. One line on stderr says why.

ENVIRONMENT
    QFP_CTRL_SOCKET     the socket to use when --ctrl-socket is not given.

FILES
    /run/qfp/PREFIX.sock
                        a gateway's default control socket (PREFIX: its EAL file
                        prefix); $XDG_RUNTIME_DIR/qfp/ or /tmp/qfp/ when /run/qfp is not
                        writable. `qfp run` prints the path at start. Without
                        --ctrl-socket or QFP_CTRL_SOCKET, the only socket found in these
                        directories is used.

SEE ALSO
    qfp run --help (--ctrl-socket, --rekey-every, --invalid-spi-recovery),
    docs/qfpctl.md (every command and its JSON), docs/drops.md (drop reasons),
    docs/peer-channel.md (rekeys, INVALID_SPI).";
