#!/usr/bin/env python3
"""The benchmark runner behind ./scripts/bench (Python standard library only).

Runs every benchmark of qfp on this machine and prints each table with the command lines
that produced it, after a header with the CPU model and flags. The I/O set-up is the same
for all DPDK programs: a net_pcap port replaying a capture from `qfp pcap` forever
(infinite_rx=1) as the generator, a net_null port (no-rx=1) as the sink, the forwarding
lcore on CPU 1, and the rate read from the program's own counters once a second after a
warm-up (the median of the per-second rates).

    bench.py --root DIR --out DIR [--quick] [--only NAME,...]

Benchmarks: testpmd (I/O ceiling), secgw (DPDK ipsec-secgw), gateway (qfp run, and decap
with anti-replay on fed live over net_memif: live.py), crypto (perf --bin crypto),
pipeline (perf --bin pipeline), latency (latency.py), rekey (rekey.py: says what it needs
until `qfp run --rekey-every` exists), scale (scale.py).
"""

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import latency  # noqa: E402  (scripts/bench.d/latency.py)
import live  # noqa: E402  (scripts/bench.d/live.py)
import rekey as rekey_bench  # noqa: E402  (scripts/bench.d/rekey.py)
import scale  # noqa: E402  (scripts/bench.d/scale.py)
from procstats import gbps, mpps, read_stats, rss_bytes, thread_cpu_ns  # noqa: E402

SIZES = ["64", "512", "1400", "imix"]
IMIX = [64, 570, 64, 64, 570, 64, 1500, 64, 570, 64, 64, 570]
ALL = ["testpmd", "secgw", "gateway", "crypto", "pipeline", "latency", "rekey", "scale"]

# One tunnel, AES-128-GCM, no ESN (ipsec-secgw's default), MTU 9000 so that IMIX's
# 1500-byte frames fit. The same values drive qfp (TOML) and ipsec-secgw (its SP/SA/RT
# syntax), so the same captures drive both.
TUNNEL = {
    "local": "172.16.1.5",
    "peer": "172.16.2.5",
    "lan": "192.168.115.0/24",
    "remote": "192.168.105.0/24",
    "out_spi": 0x1001,
    "out_key": "00112233445566778899aabbccddeeff",
    "out_salt": "c0ffee01",
    "in_spi": 0x2001,
    "in_key": "ffeeddccbbaa99887766554433221100",
    "in_salt": "c0ffee02",
    "wan_mac": "02:00:00:00:01:01",
    "lan_mac": "02:00:00:00:00:01",
}


# The two-worker rows: a second tunnel, so that each worker owns one (no handoff), each
# worker's rx queue replaying its own tunnel's capture: what RSS gives on a NIC.
TUNNEL2 = dict(TUNNEL, peer="172.16.2.6", remote="192.168.106.0/24", out_spi=0x1002, in_spi=0x2002,
               out_key="0123456789abcdef0123456789abcdef", in_key="fedcba9876543210fedcba9876543210")


def qfp_toml_two(t1, t2):
    """The benchmark tunnel and a second one (names bench, bench2)."""
    one = qfp_toml(t1)
    second = qfp_toml(t2).split("[[tunnel]]", 1)[1].split("[[route]]", 1)[0].replace('name = "bench"', 'name = "bench2"')
    head, route = one.split("[[route]]", 1)
    return head + "[[tunnel]]" + second + "[[route]]" + route


def qfp_toml(t, mtu=9000):
    return f"""# Written by scripts/bench: one AES-128-GCM tunnel; ipsec-secgw gets the same in secgw.cfg.
[gateway]
protected_port = 0
unprotected_port = 1
local = "{t['local']}"

[[tunnel]]
name = "bench"
peer = "{t['peer']}"
next_hop_mac = "{t['wan_mac']}"
selectors = ["{t['remote']}"]
esn = false
mtu = {mtu}

[[tunnel.sa]]
dir = "out"
spi = {t['out_spi']:#x}
aead = "aes-128-gcm"
key = "{t['out_key']}"
salt = "{t['out_salt']}"

[[tunnel.sa]]
dir = "in"
spi = {t['in_spi']:#x}
aead = "aes-128-gcm"
key = "{t['in_key']}"
salt = "{t['in_salt']}"

[[route]]
dst = "{t['lan']}"
port = 0
next_hop_mac = "{t['lan_mac']}"
"""


def colon_hex(h):
    return ":".join(h[i:i + 2] for i in range(0, len(h), 2))


def secgw_cfg(t):
    out_key = colon_hex(t["out_key"] + t["out_salt"])
    in_key = colon_hex(t["in_key"] + t["in_salt"])
    return f"""# Written by scripts/bench: the tunnel of qfp.toml in ipsec-secgw's syntax.
sp ipv4 out esp protect {t['out_spi']} pri 1 dst {t['remote']} sport 0:65535 dport 0:65535
sp ipv4 in esp protect {t['in_spi']} pri 1 dst {t['lan']} sport 0:65535 dport 0:65535
sa out {t['out_spi']} aead_algo aes-128-gcm aead_key {out_key} mode ipv4-tunnel src {t['local']} dst {t['peer']}
sa in {t['in_spi']} aead_algo aes-128-gcm aead_key {in_key} mode ipv4-tunnel src {t['peer']} dst {t['local']}
rt ipv4 dst {t['peer']}/32 port 1
rt ipv4 dst {t['lan']} port 0
neigh port 0 {t['lan_mac']}
neigh port 1 {t['wan_mac']}
"""


def avg_frame(size):
    return sum(IMIX) / len(IMIX) if size == "imix" else float(size)


class Runner:
    def __init__(self, args):
        self.root = Path(args.root)
        self.out = Path(args.out)
        self.quick = args.quick
        self.only = args.only.split(",") if args.only else ALL
        # QFP_BIN: another qfp binary to measure as the gateway (as for the test suite),
        # e.g. a branch's build; captures and traffic always come from this tree's qfp pcap and qfp gen.
        self.qfp_tools = self.root / "target/release/qfp"
        self.qfp = Path(os.environ.get("QFP_BIN") or self.qfp_tools)
        self.perf_dir = self.root / "target/release"
        self.secgw = Path(args.secgw) if args.secgw else None
        self.report = open(self.out / "report.txt", "w")
        self.results = {}
        self.sizes = ["64", "1400"] if self.quick else SIZES
        self.warmup = 1.5 if self.quick else 2.0
        self.measure = 2.0 if self.quick else 4.0
        self.cpu = "1" if (os.cpu_count() or 1) > 1 else "0"
        self.n = 0
        self.gateway_probe = None
        self.repeat = max(1, args.repeat)

    # ---- output ---------------------------------------------------------------------
    def say(self, text=""):
        print(text, flush=True)
        self.report.write(text + "\n")
        self.report.flush()

    def table(self, headers, rows, fmt):
        widths = [max(len(h), *(len(fmt[i](r[i])) for r in rows)) if rows else len(h)
                  for i, h in enumerate(headers)]
        self.say("  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(headers, widths))))
        for r in rows:
            self.say("  ".join(fmt[i](r[i]).rjust(w) if i else fmt[i](r[i]).ljust(w)
                               for i, w in enumerate(widths)))

    def command(self, argv):
        self.say("command: " + " ".join(shlex.quote(str(a)) for a in argv))

    # ---- processes ------------------------------------------------------------------
    def prefix(self, name):
        self.n += 1
        return f"qfp-bench-{name}-{os.getpid()}-{self.n}"

    def eal(self, name, vdevs, lcores):
        p = self.prefix(name)
        args = ["--no-huge", "-m", "1024", "--no-pci", f"--file-prefix={p}", "--log-level=*:warning"]
        args += lcores + [f"--vdev={v}" for v in vdevs]
        return args, p

    def cleanup_prefix(self, p):
        for base in ("/var/run/dpdk", "/tmp/dpdk"):
            shutil.rmtree(Path(base) / p, ignore_errors=True)

    def stop_all(self, procs, prefixes, logs=()):
        """Stops the child processes of a run: SIGINT to those still running (they write
        their final figures), SIGKILL to any that has not exited 15 s later; then closes
        their logs and removes their EAL runtime directories."""
        for pr in procs:
            if pr.poll() is None:
                pr.send_signal(signal.SIGINT)
        for pr in procs:
            try:
                pr.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pr.kill()
        for f in logs:
            f.close()
        for p in prefixes:
            self.cleanup_prefix(p)

    def run_for(self, argv, seconds, log, on_tick=None):
        """Runs argv for `seconds`, then SIGINT (SIGKILL 15 s later); output to `log`.
        `on_tick(proc)` is called every 0.1 s while it runs; the first time it returns
        true (the program reports figures: its start-up is over), the `seconds` start
        again from then, so a slow start on a loaded machine does not eat the run."""
        with open(log, "w") as f:
            proc = subprocess.Popen([str(a) for a in argv], stdout=f, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
            end = time.monotonic() + seconds + (30 if on_tick else 0)
            started = False
            while time.monotonic() < end and proc.poll() is None:
                if on_tick and on_tick(proc) and not started:
                    started = True
                    end = time.monotonic() + seconds
                time.sleep(0.1)
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        text = Path(log).read_text(errors="replace").replace("\x1b", "")
        return proc.returncode, text

    def cpu_rate(self, pts):
        """Packets per CPU-second of the forwarding thread, from (time, count, cpu_ns)
        samples after the warm-up (all of them when fewer than two come after it): what one
        core does when it is not shared."""
        pts = [(t, c, n) for t, c, n in pts if n is not None]
        late = [p for p in pts if p[0] >= self.warmup]
        pts = late if len(late) >= 2 else pts
        if len(pts) < 2 or pts[-1][2] <= pts[0][2]:
            return None
        return (pts[-1][1] - pts[0][1]) / ((pts[-1][2] - pts[0][2]) / 1e9)

    def median_rate(self, cumulative):
        """Median per-second rate from (time, count) samples after the warm-up. A program
        that reports seldom (a statistics document of thousands of tunnels takes the
        control core seconds to write) gives fewer than two samples after the warm-up: then
        the mean rate between its first and last samples, if they are a second apart."""
        pts = [(t, c) for t, c in cumulative if t >= self.warmup]
        rates = [(c2 - c1) / (t2 - t1) for (t1, c1), (t2, c2) in zip(pts, pts[1:]) if t2 > t1]
        if rates:
            return statistics.median(rates)
        if len(cumulative) >= 2 and cumulative[-1][0] - cumulative[0][0] >= 1.0:
            (t1, c1), (t2, c2) = cumulative[0], cumulative[-1]
            return (c2 - c1) / (t2 - t1)
        return None

    def header(self):
        info = Path("/proc/cpuinfo").read_text()

        def field(k):
            m = re.search(rf"^{k}\s*:\s*(.*)$", info, re.M)
            return m.group(1).strip() if m else "?"

        flags = field("flags").split()
        wanted = ["aes", "pclmulqdq", "avx", "avx2", "vaes", "vpclmulqdq", "avx512f", "sha_ni", "bmi2"]
        dpdk = subprocess.run(["pkg-config", "--modversion", "libdpdk"], capture_output=True, text=True).stdout.strip()
        git = subprocess.run(["git", "-C", str(self.root), "describe", "--always", "--dirty"],
                             capture_output=True, text=True).stdout.strip()
        self.say("# qfp benchmarks" + (" (--quick: fewer sizes, shorter runs)" if self.quick else ""))
        self.say(f"date: {time.strftime('%Y-%m-%d %H:%M:%S %z')}   git: {git or '?'}")
        self.say(f"cpu: {field('model name')} ({os.cpu_count()} logical CPUs)")
        self.say("crypto flags: " + " ".join(f if f in flags else f"-{f}" for f in wanted))
        self.say("flags: " + " ".join(flags))
        self.say(f"kernel: {platform.release()}   DPDK: {dpdk}   load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        self.say(f"method: net_pcap infinite_rx generator -> program -> net_null sink, forwarding lcore on CPU {self.cpu}, "
                 f"rate = median of 1 s rates after {self.warmup:.1f} s warm-up, {self.warmup + self.measure:.1f} s runs")
        self.say("sizes: Ethernet frame bytes with FCS on the plain side (IP packet = size - 18); "
                 "imix = 7:4:1 of 64/570/1500; Gbps = Mpps x plain frame bits")

    def prepare(self):
        self.say()
        self.say("## prepare: captures from qfp pcap")
        d = self.out
        (d / "qfp.toml").write_text(qfp_toml(TUNNEL))
        (d / "secgw.cfg").write_text(secgw_cfg(TUNNEL))
        argv = [self.qfp_tools, "pcap", "-c", d / "qfp.toml", "--dir", d / "pcaps", "--sizes", ",".join(SIZES),
                "--count", "1024", "--flows", "64"]
        self.command(argv)
        r = subprocess.run([str(a) for a in argv], capture_output=True, text=True)
        if r.returncode != 0:
            self.say("qfp pcap failed: " + r.stderr.strip())
            sys.exit(1)
        for line in r.stdout.splitlines():
            self.say("  " + line.strip())
        (d / "qfp2.toml").write_text(qfp_toml_two(TUNNEL, TUNNEL2))
        for name in ("bench", "bench2"):
            argv = [self.qfp_tools, "pcap", "-c", d / "qfp2.toml", "--dir", d / "pcaps2" / name, "--tunnel", name,
                    "--sizes", ",".join(SIZES), "--count", "1024", "--flows", "64"]
            r = subprocess.run([str(a) for a in argv], capture_output=True, text=True)
            if r.returncode != 0:
                self.say("qfp pcap (two tunnels) failed: " + r.stderr.strip())
                sys.exit(1)
        self.say("  two-worker captures: qfp pcap -c qfp2.toml --tunnel bench|bench2 --dir pcaps2/NAME (same sizes)")

    def pcap(self, kind, size):
        return self.out / "pcaps" / f"{kind}-{size}.pcap"

    # ---- testpmd --------------------------------------------------------------------
    def testpmd_run(self, name, vdevs, sink_ports, seconds):
        eal, p = self.eal(name, vdevs, ["-l", f"0,{self.cpu}" if self.cpu != "0" else "0"])
        argv = ["dpdk-testpmd"] + eal + ["--", "--forward-mode=io", "--nb-cores=1", "--auto-start",
                                          "--stats-period", "1", "--total-num-mbufs", "16384"]
        code, text = self.run_for(argv, seconds, self.out / f"{name}.log")
        self.cleanup_prefix(p)
        # Each period prints one block per port with its Tx-pps.
        samples = {}
        for port, txpps in re.findall(r"NIC statistics for port (\d+).*?Tx-pps:\s+(\d+)", text, re.S):
            samples.setdefault(int(port), []).append(int(txpps))
        skip = int(self.warmup)
        per_port = [statistics.median(samples[p][skip:]) for p in sink_ports if len(samples.get(p, [])) > skip]
        rate = sum(per_port) if len(per_port) == len(sink_ports) else None
        return argv, rate, code

    def testpmd(self):
        self.say()
        self.say("## testpmd: dpdk-testpmd io forwarding, 1 forwarding lcore (the I/O ceiling of these vdevs)")
        rows = []
        shown = False
        for size in self.sizes:
            argv, rate, code = self.testpmd_run(
                f"testpmd-{size}", [f"net_pcap0,rx_pcap={self.pcap('plain', size)},infinite_rx=1", "net_null1,no-rx=1"],
                [1], self.warmup + self.measure + 1)
            if not shown:
                self.command(argv)
                shown = True
            rows.append(("pcap -> null", size, rate))
        argv, rate, code = self.testpmd_run("testpmd-null", ["net_null0", "net_null1"], [0, 1],
                                            self.warmup + self.measure + 1)
        self.command(argv)
        rows.append(("null <-> null (both ways)", "64", rate))
        self.table(["vdevs", "size", "Mpps", "Gbps"],
                   [(v, s, r, r * avg_frame(s) * 8 / 1e9 if r else None) for v, s, r in rows],
                   [str, str, mpps, gbps])
        self.results["testpmd"] = rows

    # ---- ipsec-secgw ----------------------------------------------------------------
    def secgw_run(self, op, size):
        """One ipsec-secgw run: {"argv", "wall", "cpu", "drops"} (rates in packets/s)."""
        if op == "decap":
            vdevs = ["net_null0,no-rx=1", f"net_pcap1,rx_pcap={self.pcap('esp', size)},infinite_rx=1"]
        else:
            vdevs = [f"net_pcap0,rx_pcap={self.pcap('plain', size)},infinite_rx=1", "net_null1,no-rx=1"]
        eal, p = self.eal(f"secgw-{op}-{size}", vdevs + ["crypto_aesni_gcm0"], ["-l", self.cpu])
        app = ["-p", "0x3", "-P", "-u", "0x2", "--config", f"(0,0,{self.cpu}),(1,0,{self.cpu})",
               "-f", self.out / "secgw.cfg", "-t", "1", "--rxoffload", "0", "--txoffload", "0"]
        if size == "imix":
            # IMIX's 1500-byte frames encapsulate to 1536 bytes: above the default MTU.
            app += ["--mtu", "1600", "-j", "2400"]
        # Line-buffered, so that each second's statistics reach the log (and tick) at once.
        argv = ["stdbuf", "-oL", self.secgw] + eal + ["--"] + app
        log = self.out / f"secgw-{op}-{size}.log"
        first = [None]
        pts = []

        def tick(proc):
            # Its one lcore is the main thread (-l 1, the main lcore forwards).
            try:
                counts = re.findall(r"Total packets sent:\s+(\d+)", log.read_text(errors="replace"))
            except OSError:
                return
            if counts and (not pts or int(counts[-1]) != pts[-1][1]):
                # Time from its first report, which comes 1 s into forwarding.
                first[0] = first[0] or time.monotonic()
                pts.append((time.monotonic() - first[0] + 1.0, int(counts[-1]), thread_cpu_ns(proc.pid, None)))
            return bool(pts)

        code, text = self.run_for(argv, self.warmup + self.measure + 1.5, log, tick)
        self.cleanup_prefix(p)
        sent = [int(x) for x in re.findall(r"Total packets sent:\s+(\d+)", text)]
        dropped = [int(x) for x in re.findall(r"Total packets dropped:\s+(\d+)", text)]
        rate = self.median_rate([(i + 1.0, c) for i, c in enumerate(sent)])
        drop_rate = self.median_rate([(i + 1.0, c) for i, c in enumerate(dropped)]) or 0.0
        if rate is None:
            tail = "\n".join(text.strip().splitlines()[-3:])
            self.say(f"  secgw {op} {size}: no rate (exit {code}): {tail}")
        return {"argv": argv, "wall": rate, "cpu": self.cpu_rate(pts), "drops": drop_rate}

    def side_by_side(self):
        """ipsec-secgw and qfp run (one worker) alternately, op by op and size by size,
        `--repeat` times: {("secgw"|"qfp", op, size): [run, ...]}. Alternating makes the
        two meet the same background load; the tables report medians."""
        if "pairs" in self.results:
            return self.results["pairs"]
        gateway, _ = self.has_gateway()
        have_secgw = bool(self.secgw and self.secgw.exists()) and "secgw" in self.only
        have_qfp = "gateway" in self.only
        res = {}
        for rep in range(self.repeat):
            for op in ("decap", "encap"):
                for size in self.sizes:
                    if have_secgw:
                        res.setdefault(("secgw", op, size), []).append(self.secgw_run(op, size))
                    if have_qfp:
                        res.setdefault(("qfp", op, size), []).append(self.qfp_run(op, size, 1, gateway))
            if self.repeat > 1:
                print(f"bench: secgw/gateway round {rep + 1} of {self.repeat} done", file=sys.stderr, flush=True)
        self.results["pairs"] = res
        return res

    def med(self, runs, key):
        vals = [r[key] for r in runs if r.get(key)]
        return statistics.median(vals) if vals else None

    def secgw_bench(self):
        self.say()
        self.say("## secgw: DPDK ipsec-secgw (dpdk-doc example, system DPDK), AES-128-GCM with crypto_aesni_gcm0 "
                 "(intel-ipsec-mb), 1 lcore, replay window off (its default)")
        if not self.secgw or not self.secgw.exists():
            self.say("not run: ipsec-secgw was not built (see scripts/bench.d/secgw.sh output above)")
            return
        self.say("build: scripts/bench.d/secgw.sh (RX checksum offload requirement removed: the vdevs have none)")
        res = self.side_by_side()
        rows = []
        for op in ("decap", "encap"):
            for i, size in enumerate(self.sizes):
                runs = res[("secgw", op, size)]
                if i == 0:
                    self.command(runs[0]["argv"])
                r = self.med(runs, "wall")
                rows.append((op, size, r, r * avg_frame(size) * 8 / 1e9 if r else None,
                             self.med(runs, "cpu"), self.med(runs, "drops") or 0.0))
        self.table(["op", "size", "Mpps", "Gbps", "Mpps/core", "drops/s"], rows,
                   [str, str, mpps, gbps, mpps, lambda d: f"{d:.0f}"])
        self.say(self.rate_note())

    def rate_note(self):
        reps = f"median of {self.repeat} runs alternating with the other program" if self.repeat > 1 else "one run"
        return (f"Mpps: median of 1 s rates ({reps}); Mpps/core: packets per CPU-second of the forwarding "
                "thread (/proc schedstat), the rate of one core that is not shared with other work")

    # ---- qfp run --------------------------------------------------------------------
    def qfp_run(self, op, size, workers, gateway, extra=(), tag="", config=None, pcaps=None, eal_extra=(),
                stats_interval="0.5"):
        """One qfp run: {"argv", "wall", "cpu", "drops", "code", "text", "stats", "rss",
        "started"}: rates in packets/s, `rss` the largest resident set seen (bytes),
        `started` the seconds until its first statistics. `config` and `pcaps` (a
        directory) default to the benchmark tunnel's."""
        q = workers
        # One capture directory, or one per rx queue.
        dirs = pcaps if isinstance(pcaps, list) else [pcaps] * q
        files = lambda kind: [(Path(d) / f"{kind}-{size}.pcap") if d else self.pcap(kind, size) for d in dirs]
        if op == "decap":
            vdevs = ["net_null0,no-rx=1", "net_pcap1," + ",".join(f"rx_pcap={f}" for f in files("esp")) + ",infinite_rx=1"]
            sink = 0
        else:
            vdevs = ["net_pcap0," + ",".join(f"rx_pcap={f}" for f in files("plain")) + ",infinite_rx=1", "net_null1,no-rx=1"]
            sink = 1
        name = f"qfp-{op}-{size}-{workers}{tag}"
        eal, p = self.eal(name, vdevs, [])
        stats = self.out / f"{name}.json"
        if stats.exists():
            stats.unlink()
        args = ["run", "--workers", str(workers), "--poll", "busy", "--stats-interval", stats_interval,
                "--stats-json", stats, "-q"]
        if gateway:
            args = ["run", "-c", config or self.out / "qfp.toml"] + args[1:]
            if op == "decap":
                args += ["--replay-window", "0"]
        args += list(extra)
        if workers == 1:
            eal += [f"--lcores=0@0,1@{self.cpu}"]
        eal += list(eal_extra)
        argv = [self.qfp] + args + ["--"] + eal
        samples = []
        last = {"rss": 0}
        t0 = time.monotonic()

        def tick(proc):
            last["rss"] = max(last["rss"], rss_bytes(proc.pid))
            try:
                s = read_stats(stats)
            except (OSError, ValueError):
                return
            last.setdefault("started", time.monotonic() - t0)
            port = next((x for x in s.get("ports", []) if x.get("port") == sink), None)
            if port is not None and s.get("uptime_s") != (samples[-1][0] if samples else None):
                drops = sum(s.get("drops", {}).values()) if isinstance(s.get("drops"), dict) else 0
                samples.append((s.get("uptime_s", 0.0), port.get("tx", 0), drops,
                                thread_cpu_ns(proc.pid, ("rte-worker", "lcore-worker"))))
                last["stats"] = s
            return bool(samples)

        code, text = self.run_for(argv, self.warmup + self.measure + 1.5, self.out / f"{name}.log", tick)
        self.cleanup_prefix(p)
        rate = self.median_rate([(t, c) for t, c, _, _ in samples])
        drops = self.median_rate([(t, d) for t, _, d, _ in samples]) or 0.0
        if rate is None:
            tail = "\n".join(text.strip().splitlines()[-3:])
            self.say(f"  qfp {op} {size} x{workers}: no rate (exit {code}): {tail}")
        cpu = self.cpu_rate([(t, c, n) for t, c, _, n in samples])
        return {"argv": argv, "wall": rate, "cpu": cpu, "drops": drops, "code": code, "text": text,
                "stats": last.get("stats"), "rss": last["rss"], "started": last.get("started")}

    def has_gateway(self):
        """(True, "") if this qfp runs `qfp run -c` (tried once), else (False, why)."""
        if self.gateway_probe is None:
            eal, p = self.eal("probe", ["net_null0,no-rx=1", "net_null1,no-rx=1"], [])
            argv = [self.qfp, "run", "-c", self.out / "qfp.toml", "--duration", "0.5", "-q", "--"] + eal
            code, text = self.run_for(argv, 20, self.out / "probe.log")
            self.cleanup_prefix(p)
            why = next((l for l in text.splitlines() if l.startswith("qfp")), f"exit {code}").strip()
            self.gateway_probe = (code == 0, "" if code == 0 else why)
        return self.gateway_probe

    def gateway(self):
        self.say()
        self.say("## gateway: qfp run, decap and encap, 1 and 2 workers (the same captures and vdevs as secgw; "
                 "2 workers: two tunnels, each worker's rx queue replaying its own tunnel's capture, no handoff)")
        gateway, why = self.has_gateway()
        if gateway:
            self.say("mode: gateway (`qfp run -c` works here; decap with --replay-window 0, as replayed captures repeat sequence numbers)")
        else:
            self.say(f"mode: L2 CROSS-CONNECT, NO CRYPTO: `qfp run -c` is not available in this build ({why}); "
                     "the rows measure forwarding only, the ratio is not a like-for-like comparison")
        pairs = self.side_by_side()
        rows = []
        workers_list = [1] if self.quick else [1, 2]
        shown = set()
        for workers in workers_list:
            for op in ("decap", "encap"):
                for size in self.sizes:
                    if workers == 1:
                        runs = pairs[("qfp", op, size)]
                    elif gateway:
                        runs = [self.qfp_run(op, size, workers, gateway, config=self.out / "qfp2.toml",
                                             pcaps=[self.out / "pcaps2" / "bench", self.out / "pcaps2" / "bench2"],
                                             tag="-2tunnels")]
                    else:
                        runs = [self.qfp_run(op, size, workers, gateway)]
                    if (workers, op) not in shown:
                        self.command(runs[0]["argv"])
                        shown.add((workers, op))
                    refs = pairs.get(("secgw", op, size), [])
                    rate, cpu = self.med(runs, "wall"), self.med(runs, "cpu")
                    ref, ref_cpu = self.med(refs, "wall"), self.med(refs, "cpu")
                    # A cross-connect does no crypto: no ratio to ipsec-secgw.
                    ratio = rate / ref if rate and ref and gateway else None
                    ratio_cpu = cpu / ref_cpu if cpu and ref_cpu and gateway and workers == 1 else None
                    rows.append((op, size, workers, rate, ref, ratio, cpu, ref_cpu if workers == 1 else None,
                                 ratio_cpu, self.med(runs, "drops") or 0.0))
        ratio_fmt = lambda r: f"{r:.2f}x" if r else "-"
        self.table(["op", "size", "workers", "qfp Mpps", "secgw Mpps", "ratio", "qfp Mpps/core",
                    "secgw Mpps/core", "ratio/core", "drops/s"], rows,
                   [str, str, str, mpps, mpps, ratio_fmt, mpps, mpps, ratio_fmt, lambda d: f"{d:.0f}"])
        self.say(self.rate_note() + "; with 2 workers Mpps/core is per worker-CPU-second summed over both")
        if len(workers_list) > 1 and (os.cpu_count() or 1) < 3:
            self.say(f"note: {os.cpu_count()} CPUs: with 2 workers one shares a CPU with the control lcore")
        self.results["gateway"] = rows
        if len(workers_list) > 1:
            self.scaling_table(rows)
        if gateway:
            self.live_table([1024])

    def scaling_table(self, rows):
        """Two workers against one (issue 7's target: at least 1.8x when two cores are
        free): wall-clock Mpps, and the same from packets per CPU-second (2 x the per-worker
        figure), which does not depend on how much CPU the workers were given."""
        # Rows: (op, size, workers, Mpps, secgw Mpps, ratio, Mpps/core, ...).
        one = {(r[0], r[1]): (r[3], r[6]) for r in rows if r[2] == 1}
        table = []
        for op, size, w, rate, _, _, cpu, *_ in rows:
            base = one.get((op, size))
            if w != 2 or not base:
                continue
            wall = rate / base[0] if rate and base[0] else None
            per_core = 2 * cpu / base[1] if cpu and base[1] else None
            table.append((op, size, base[0], rate, wall, per_core))
        self.say()
        self.say("scaling: 2 workers against 1 (same vdevs; 2 workers: two tunnels, one per worker)")
        x = lambda r: f"{r:.2f}x" if r else "-"
        self.table(["op", "size", "1 worker Mpps", "2 workers Mpps", "2w/1w", "2w/1w per CPU-second"], table,
                   [str, str, mpps, mpps, x, x])

    def live_rows(self, windows):
        return live.run(self, TUNNEL, qfp_toml(TUNNEL, mtu=1500), windows)

    def live_table(self, windows):
        self.say()
        self.say("decap with anti-replay ON, fed live: qfp gen -> gateway B (encap) -> net_memif -> qfp run (decap, "
                 "replay window on) -> net_null (scripts/bench.d/live.py)")
        res = self.live_rows(windows)
        first = next(iter(res.values()), {})
        for argv in first.get("argv", []):
            self.command(argv)
        rows = [(str(w), x.get("sent"), x.get("rx"), x.get("cpu"), x.get("decrypted"), x.get("replay_drops"),
                 x.get("drops")) for w, x in res.items()]
        num = lambda v: str(v) if v is not None else "-"
        self.table(["window", "gen sent", "decap Mpps", "Mpps/core (lower bound)", "decrypted", "replay drops",
                    "all drops"], rows, [str, num, mpps, mpps, num, num, num])
        self.say("the feed (generator and gateway B share CPU 0) is the limit on a 2-CPU machine: A's rate is "
                 "what it was given; replay drops must be 0 (every packet has a fresh sequence number)")

    # ---- other binaries -------------------------------------------------------------
    def binary(self, name, args, title):
        self.say()
        self.say(f"## {name}: {title}")
        exe = self.perf_dir / name
        if not exe.exists():
            self.say(f"not run: {exe} does not exist (not built)")
            return
        argv = [exe] + args
        self.command(argv)
        r = subprocess.run([str(a) for a in argv], capture_output=True, text=True)
        for line in r.stdout.splitlines():
            self.say(line)
        if r.returncode != 0:
            self.say(f"({name} exited with {r.returncode}: {r.stderr.strip()[-300:]})")

    def crypto(self):
        quick = ["--reps", "2", "--seconds", "0.1", "--dpdk-ops", "500000", "--aes128-only"]
        self.binary("crypto", quick if self.quick else [], "AES-GCM seal/open per core: ours vs aes+ghash vs openssl vs intel-ipsec-mb")

    def pipeline(self):
        quick = ["--seconds", "0.2", "--runs", "1", "--no-openssl"]
        self.binary("pipeline", quick if self.quick else [], "single-core heap ESP pipeline (no I/O)")

    # ---- not yet --------------------------------------------------------------------
    def not_yet(self, name, needs):
        self.say()
        self.say(f"## {name}")
        self.say(f"not yet: needs {needs}")

    def latency(self):
        gateway, why = self.has_gateway()
        if not gateway:
            self.not_yet("latency", f"the gateway (issue 5, `qfp run -c`; this build: {why}): qfp gen timestamps "
                         "through two gateways over net_memif at 10/50/90% of the measured maximum")
            return
        self.say()
        self.say("## latency: qfp gen -> gateway A -> net_memif -> gateway B -> qfp gen, both ways (scripts/bench.d/latency.py)")
        latency.run(self, TUNNEL, qfp_toml(TUNNEL, mtu=1500))

    def rekey(self):
        self.say()
        self.say("## rekey: throughput per 100 ms bucket while rekeying every 50 ms (scripts/bench.d/rekey.py)")
        rekey_bench.run(self, TUNNEL, qfp_toml(TUNNEL, mtu=1500))

    def scale(self):
        gateway, why = self.has_gateway()
        if not gateway:
            self.not_yet("scale", f"the gateway (`qfp run -c`; this build: {why})")
            return
        self.say()
        self.say("## scale: packets/s and memory against the number of tunnels and the replay window "
                 "(scripts/bench.d/scale.py)")
        scale.run(self, self.live_rows)

    def main(self):
        self.header()
        self.prepare()
        steps = {
            "testpmd": self.testpmd, "secgw": self.secgw_bench, "gateway": self.gateway,
            "crypto": self.crypto, "pipeline": self.pipeline, "latency": self.latency,
            "rekey": self.rekey, "scale": self.scale,
        }
        for name in ALL:
            if name in self.only:
                steps[name]()
        self.say()
        self.say(f"report: {self.out / 'report.txt'}; logs of every run in {self.out}/")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--secgw", default="")
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    bad = [n for n in (a.only.split(",") if a.only else []) if n not in ALL]
    if bad:
        print(f"bench: unknown benchmark(s) {', '.join(bad)} (known: {', '.join(ALL)})", file=sys.stderr)
        sys.exit(2)
    Path(a.out).mkdir(parents=True, exist_ok=True)
    Runner(a).main()


if __name__ == "__main__":
    main()
