"""The latency benchmark of ./scripts/bench: per-packet latency through the gateway.

Two `qfp run -c` gateways, A (the benchmark tunnel's config) and B (its peer: the same
tunnel seen from the other end), joined by net_memif on their unprotected ports; `qfp gen`
on their protected ports, also over net_memif, sends both ways with a TSC timestamp in
every packet (LAN of A -> A encaps -> B decaps -> LAN of B, and back). First the maximum:
the generator at `--rate max` for a few seconds, the rate that comes back is the maximum.
Then runs at 10%, 50% and 90% of it, each reporting the latency percentiles from the
generator's HdrHistogram and the packets lost.

Three processes share the machine's CPUs (on two CPUs: the generator and the gateways'
control lcores on CPU 0, the gateways' workers on CPU 1), with adaptive polling and deep
memif rings (2^14 slots). On such a machine the figures are dominated by scheduling: they
say what this host does, not what the gateway does on dedicated cores.
"""

import json
import subprocess
import time
from pathlib import Path


def peer_toml(t, mtu):
    """B: the benchmark tunnel from the peer's side (SAs swapped, its LAN the remote)."""
    return f"""# Written by scripts/bench: the peer of qfp.toml (gateway B of the latency benchmark).
[gateway]
protected_port = 0
unprotected_port = 1
local = "{t['peer']}"

[[tunnel]]
name = "bench-peer"
peer = "{t['local']}"
next_hop_mac = "02:00:00:00:02:01"
selectors = ["{t['lan']}"]
esn = false
mtu = {mtu}

[[tunnel.sa]]
dir = "out"
spi = {t['in_spi']:#x}
aead = "aes-128-gcm"
key = "{t['in_key']}"
salt = "{t['in_salt']}"

[[tunnel.sa]]
dir = "in"
spi = {t['out_spi']:#x}
aead = "aes-128-gcm"
key = "{t['out_key']}"
salt = "{t['out_salt']}"

[[route]]
dst = "{t['remote']}"
port = 0
next_hop_mac = "02:00:00:00:02:02"
"""


def memif(i, role, sock):
    return f"net_memif{i},role={role},socket={sock},socket-abstract=no,rsize=14"


def run(r, tunnel, a_toml):
    """Runs the benchmark with Runner `r` (A's config text `a_toml`); prints its table.
    MTU 1500: net_memif takes frames of at most 1518 bytes, and the frames are 64 bytes."""
    d = r.out / "latency"
    d.mkdir(exist_ok=True)
    (d / "a.toml").write_text(a_toml)
    (d / "peer.toml").write_text(peer_toml(tunnel, 1500))
    socks = {k: d / f"{k}.sock" for k in ("a-lan", "wan", "b-lan")}
    for s in socks.values():
        if s.exists():
            s.unlink()
    gw_cpu = r.cpu
    procs, prefixes = [], []

    def start(name, cfg, vdevs):
        eal, p = r.eal(name, vdevs, [f"--lcores=0@0,1@{gw_cpu}"])
        argv = [r.qfp, "run", "-c", cfg, "--poll", "adaptive", "--rx-desc", "4096", "--tx-desc", "4096",
                "-q", "--"] + eal
        log = open(d / f"{name}.log", "w")
        procs.append(subprocess.Popen([str(a) for a in argv], stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL))
        prefixes.append(p)
        return argv

    a_argv = start("gw-a", d / "a.toml", [memif(0, "server", socks["a-lan"]), memif(1, "server", socks["wan"])])
    deadline = time.monotonic() + 30
    while not socks["wan"].exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    b_argv = start("gw-b", d / "peer.toml", [memif(0, "server", socks["b-lan"]), memif(1, "client", socks["wan"])])
    while not all(s.exists() for s in socks.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    r.command(a_argv)
    r.command(b_argv)

    def gen(rate, seconds, tag):
        json_path = d / f"gen-{tag}.json"
        eal, p = r.eal(f"gen-{tag}", [memif(0, "client", socks["a-lan"]), memif(1, "client", socks["b-lan"])],
                       ["--lcores=0@0"])
        argv = [r.qfp_tools, "gen", "--rate", rate, "--duration", str(seconds), "--size", "64", "--flows", "64",
                "--net0", tunnel["lan"], "--net1", tunnel["remote"], "--drain-ms", "1000", "--link-wait", "20",
                "--json", json_path, "-q", "--"] + eal
        code, text = r.run_for(argv, seconds + 40, d / f"gen-{tag}.log")
        r.cleanup_prefix(p)
        try:
            return argv, json.loads(Path(json_path).read_text())
        except (OSError, ValueError):
            tail = "\n".join(text.strip().splitlines()[-3:])
            r.say(f"  qfp gen ({tag}) failed (exit {code}): {tail}")
            return argv, None

    try:
        secs = 3 if r.quick else 6
        argv, rep = gen("max", secs, "max")
        r.command(argv)
        if not rep:
            return
        received = rep["total"]["received"]
        max_pps = received / rep["duration_s"] / len(rep["streams"]) if rep["duration_s"] else 0
        rows = [("max", max_pps, rep)]
        for pct in (10, 50, 90):
            rate = max(1, int(max_pps * pct / 100))
            _, rep = gen(str(rate), secs, f"{pct}pct")
            rows.append((f"{pct}%", rate, rep))
        r.say("64-byte frames, both directions, rate per direction; latency in microseconds, one way "
              "(gen -> A -> B -> gen)")

        def lat(rep, k):
            return f"{rep['latency_us'][k]:.1f}" if rep else "-"

        table = []
        for name, rate, rep in rows:
            table.append((name, f"{rate / 1e6:.3f}", str(rep["total"]["sent"]) if rep else "-",
                          str(rep["total"]["lost"]) if rep else "-", lat(rep, "p50"), lat(rep, "p99"),
                          lat(rep, "p999"), lat(rep, "max")))
        r.table(["load", "rate Mpps", "sent", "lost", "p50", "p99", "p99.9", "max"], table, [str] * 8)
    finally:
        r.stop_all(procs, prefixes)
