#!/usr/bin/env python3
"""Gateway throughput through the real binary: decap and encap, packets/s per worker.

    scripts/bench-gateway [--duration S] [--sizes 64,1400] [--workers 1,2] [--qfp PATH]

For each direction, packet size and worker count: writes a config with one tunnel per
worker (IPv4 outer, plain ESP, AES-128-GCM), builds with scapy a pcap per worker of 1024
different packets (ESP from that worker's tunnel peer for decap, plain LAN packets into
that worker's tunnel for encap), and runs

    qfp run -c gw.toml --workers N --poll busy --duration S --replay-window 0 -- \
        --vdev=net_pcap0,rx_pcap=q0.pcap,...,infinite_rx=1 --vdev=net_null1,no-rx=1

(ports swapped for encap: the pcap feeds the protected port, net_null sinks the ESP).
Worker i polls rx queue i, which replays q<i>.pcap forever, and owns tunnel i: this is
the no-handoff case that RSS gives on a NIC. With --one-queue, one rx queue replays a
pcap of every tunnel's packets: worker 0 receives everything and hands the packets of the
tunnels it does not own to their owners (the no-RSS case). "Mpps per worker" counts the
packets each worker processed (received and kept, or handed to it). `--replay-window 0` because a replayed pcap
repeats sequence numbers. Sizes are the plain frame (Ethernet + inner IP packet); an ESP
frame is 54 (IPv4 outer) to 57 bytes longer. net_pcap copies every replayed packet into a
fresh mbuf on the worker's own core, so the figures include the generator's cost. Prints
a table; the stats JSON of each run stays in the work directory.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

from scapy.layers.inet import IP, UDP
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.layers.l2 import Ether
from scapy.packet import Raw, raw
from scapy.utils import PcapWriter

PACKETS = 1024


def key(i, n):
    return bytes((i * 59 + j * 13 + 1) & 0xFF for j in range(n))


def config(workers):
    s = '[gateway]\nprotected_port = 0\nunprotected_port = 1\nlocal = "172.16.1.5"\n'
    for w in range(workers):
        s += ('\n[[tunnel]]\nname = "t%d"\npeer = "172.16.2.%d"\nnext_hop_mac = "02:00:00:00:01:01"\n'
              'selectors = ["10.%d.0.0/16"]\n' % (w, 10 + w, 100 + w))
        for d, spi, k in (("out", 0x1000 + w, key(w, 16)), ("in", 0x2000 + w, key(w + 50, 16))):
            s += ('[[tunnel.sa]]\ndir = "%s"\nspi = %#x\naead = "aes-128-gcm"\nkey = "%s"\nsalt = "%s"\n'
                  % (d, spi, k.hex(), key(w + 90 if d == "out" else w + 95, 4).hex()))
    s += '\n[[route]]\ndst = "192.168.0.0/16"\nnext_hop_mac = "02:00:00:00:00:01"\n'
    return s


def plain(w, i, size):
    body = max(size - 14 - 28, 0)
    return IP(src="192.168.1.%d" % (1 + i % 200), dst="10.%d.%d.%d" % (100 + w, i // 250, 1 + i % 250),
              ttl=64) / UDP(sport=1000 + i, dport=45678) / Raw(bytes(body))


def pcaps(d, direction, workers, size, one_queue=False):
    """One pcap per worker with its own tunnel's packets (the RSS case), or with
    one_queue a single pcap interleaving every tunnel's packets (the no-RSS case)."""
    files = []
    for q in range(1 if one_queue else workers):
        path = os.path.join(d, "%s-%d-%d-q%d%s.pcap" % (direction, size, workers, q, "-1q" if one_queue else ""))
        out = PcapWriter(path, linktype=1, sync=True)
        for i in range(PACKETS):
            w = i % workers if one_queue else q
            if direction == "encap":
                out.write(Ether(src="02:00:00:00:0e:02", dst="02:00:00:00:0e:ff") / plain(w, i, size))
            else:
                inner = IP(src="10.%d.0.7" % (100 + w), dst="192.168.1.1", ttl=64) / UDP(
                    sport=1000 + i, dport=45678) / Raw(bytes(max(size - 14 - 28, 0)))
                sa = SecurityAssociation(ESP, spi=0x2000 + w, crypt_algo="AES-GCM",
                                         crypt_key=key(w + 50, 16) + key(w + 95, 4),
                                         tunnel_header=IP(src="172.16.2.%d" % (10 + w), dst="172.16.1.5"))
                esp = sa.encrypt(inner, seq_num=i + 1, iv=(i + 1).to_bytes(8, "big"))
                out.write(Ether(src="02:00:00:00:0e:01", dst="02:00:00:00:0e:ff", type=0x0800) / Raw(raw(esp)))
        out.close()
        files.append(path)
    return files


def run(qfp, d, direction, workers, size, duration, one_queue=False):
    gw = os.path.join(d, "gw-%d.toml" % workers)
    with open(gw, "w") as f:
        f.write(config(workers))
    files = pcaps(d, direction, workers, size, one_queue)
    gen = "net_pcap%d," + ",".join("rx_pcap=%s" % p for p in files) + ",infinite_rx=1"
    if one_queue:
        # One rx queue, but every worker needs its own tx queue on each port.
        gen += "".join(",tx_pcap=/dev/null" for _ in range(workers))
    sink = "net_null%d,no-rx=1"
    # Port 0 is protected, port 1 unprotected: decap feeds port 1, encap port 0.
    vdevs = [gen % 0, sink % 1] if direction == "encap" else [sink % 0, gen % 1]
    stats = os.path.join(d, "%s-%d-%d%s.json" % (direction, size, workers, "-1q" if one_queue else ""))
    cmd = [qfp, "run", "-c", gw, "--workers", str(workers), "--poll", "busy", "--duration",
           str(duration), "--replay-window", "0", "-q", "--stats-json", stats, "--",
           "--no-huge", "-m", "2048", "--no-pci"] + ["--vdev=" + v for v in vdevs]
    subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL if not os.environ.get("V") else None)
    with open(stats) as f:
        s = json.load(f)
    secs = s["uptime_s"]
    # Per worker: the packets it processed (received, or handed to it) over the run.
    per_worker = [(w["rx"] - w["handed_off"] + w["handoff_received"]) / secs for w in s["workers"]]
    sent = sum(p["tx"] for p in s["ports"]) / secs
    drops = {k: v for k, v in s["drops"].items() if v}
    return per_worker, sent, drops, " ".join(cmd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--sizes", default="64,1400")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--qfp", default="target/release/qfp")
    ap.add_argument("--dir", default=None)
    ap.add_argument("--directions", default="decap,encap")
    ap.add_argument("--one-queue", action="store_true",
                    help="the no-RSS case: one rx queue, worker 0 hands every other tunnel's packets to worker 1")
    a = ap.parse_args()
    d = a.dir or tempfile.mkdtemp(prefix="qfp-bench-")
    os.makedirs(d, exist_ok=True)
    print("work directory: %s" % d)
    print("%-6s %6s %7s %-24s %10s  %s" % ("dir", "bytes", "workers", "Mpps per worker", "Mpps sent", "drops"))
    for direction in a.directions.split(","):
        for size in (int(x) for x in a.sizes.split(",")):
            for workers in (int(x) for x in a.workers.split(",")):
                per, sent, drops, cmd = run(a.qfp, d, direction, workers, size, a.duration, a.one_queue)
                print("%-6s %6d %7d %-24s %10.3f  %s" % (
                    direction, size, workers, " ".join("%.3f" % (x / 1e6) for x in per), sent / 1e6,
                    drops or "-"), flush=True)
                if os.environ.get("V"):
                    print("   ", cmd)


if __name__ == "__main__":
    sys.exit(main())
