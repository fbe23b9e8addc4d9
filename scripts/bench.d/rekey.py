"""The rekey benchmark of ./scripts/bench: throughput in 100 ms buckets while the tunnel is
rekeyed every 50 ms, beside the same run without rekeys (the noise).

The latency benchmark's set-up with a peer-channel key on the tunnel: `qfp gen` on the
protected ports of gateways A and B (joined by net_memif on their unprotected ports) sends
64-byte frames both ways at a fixed rate; A runs with `--rekey-every 50` (design section
9: a rekey over the peer channel every 50 ms, make-before-break), B answers. From the
generator's timeline (`--bucket-ms 100`): packets received per bucket and per direction
(min, median, max), packets lost and in which buckets, and the rekeys A counted. A dip is
a bucket well below the median; "no dip beyond noise" means the rekeying run's spread is
that of the run without rekeys and nothing is lost.

Needs `qfp run --rekey-every` (the control core of issue 6, branch `ctl`); until the
binary has it, the table says so.
"""

import json
import statistics
import subprocess
import time
from pathlib import Path

import latency

PSK = 'psk = "qfp rekey benchmark, a shared secret of the pair"\n'


def has_rekey_every(r, cfg):
    """(True, "") if `qfp run -c cfg --rekey-every 50` runs (tried for half a second on
    net_null ports), else (False, its one-line reason)."""
    eal, p = r.eal("rekey-probe", ["net_null0,no-rx=1", "net_null1,no-rx=1"], [])
    argv = [r.qfp, "run", "-c", cfg, "--rekey-every", "50", "--duration", "0.5", "-q", "--"] + eal
    code, text = r.run_for(argv, 20, cfg.parent / "probe.log")
    r.cleanup_prefix(p)
    why = next((line for line in text.splitlines() if line.startswith("qfp") or "error" in line), f"exit {code}")
    return code == 0, why.strip()


def with_psk(toml):
    return toml.replace("esn = false\n", "esn = false\n" + PSK)


def one(r, tunnel, d, tag, rekey_ms, rate, seconds):
    """One run; returns (gen report, A's final statistics, argv list)."""
    socks = {k: d / f"{k}-{tag}.sock" for k in ("a-lan", "wan", "b-lan")}
    for s in socks.values():
        if s.exists():
            s.unlink()
    procs, prefixes, logs = [], [], []
    a_json = d / f"a-{tag}.json"
    if a_json.exists():
        a_json.unlink()

    def start(name, cfg, vdevs, extra):
        eal, p = r.eal(f"rekey-{name}-{tag}", vdevs, [f"--lcores=0@0,1@{r.cpu}"])
        argv = [str(a) for a in [r.qfp, "run", "-c", cfg, "--poll", "adaptive", "--rx-desc", "4096",
                                 "--tx-desc", "4096", "-q"] + extra + ["--"] + eal]
        log = open(d / f"{name}-{tag}.log", "w")
        logs.append(log)
        procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        prefixes.append(p)
        return argv

    argvs = []
    try:
        extra = ["--stats-json", a_json, "--stats-interval", "1"]
        if rekey_ms:
            extra += ["--rekey-every", str(rekey_ms)]
        argvs.append(start("gw-a", d / "a.toml", [latency.memif(0, "server", socks["a-lan"]),
                                                  latency.memif(1, "server", socks["wan"])], extra))
        deadline = time.monotonic() + 30
        while not socks["wan"].exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        argvs.append(start("gw-b", d / "peer.toml", [latency.memif(0, "server", socks["b-lan"]),
                                                     latency.memif(1, "client", socks["wan"])], []))
        while not all(s.exists() for s in socks.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        # Let the peer channel come up (and the first rekeys run) before traffic starts.
        time.sleep(2)
        gen_json = d / f"gen-{tag}.json"
        eal, p = r.eal(f"rekey-gen-{tag}", [latency.memif(0, "client", socks["a-lan"]),
                                            latency.memif(1, "client", socks["b-lan"])], ["--lcores=0@0"])
        argv = [r.qfp_tools, "gen", "--rate", str(rate), "--duration", str(seconds), "--size", "64", "--flows", "64",
                "--net0", tunnel["lan"], "--net1", tunnel["remote"], "--bucket-ms", "100", "--drain-ms", "1000",
                "--link-wait", "20", "--json", gen_json, "-q", "--"] + eal
        argvs.append([str(a) for a in argv])
        r.run_for(argv, seconds + 40, d / f"gen-{tag}.log")
        r.cleanup_prefix(p)
        try:
            rep = json.loads(Path(gen_json).read_text())
        except (OSError, ValueError):
            rep = None
    finally:
        r.stop_all(procs, prefixes, logs)
    try:
        a_stats = json.loads(a_json.read_text())
    except (OSError, ValueError):
        a_stats = None
    return rep, a_stats, argvs


def row(name, rep, a_stats, bucket_s=0.1):
    if not rep:
        return (name, "-", "-", "-", "-", "-", "-", "-", "-")
    per_bucket, sent = [], []
    for s in rep["streams"]:
        rx = s["timeline"]["received"]
        # Whole buckets while sending (the last ones are the drain).
        n = int(rep["duration_s"] / bucket_s)
        per_bucket += [x / bucket_s for x in rx[1:n - 1]]
        sent += [x / bucket_s for x in s["timeline"]["sent"][1:n - 1]]
    sent_med = f"{statistics.median(sent) / 1e3:.1f}" if sent else "-"
    lost_buckets = sum(1 for s in rep["streams"] for x in s["timeline"]["lost"] if x)
    rekeys = "-"
    if a_stats and a_stats.get("tunnels"):
        rekeys = str(a_stats["tunnels"][0].get("rekeys", "-"))
    if not per_bucket:
        return (name, rekeys, sent_med, "-", "-", "-", "-", str(rep["total"]["lost"]), str(lost_buckets))
    med = statistics.median(per_bucket)
    lo, hi = min(per_bucket), max(per_bucket)
    dip = (med - lo) / med * 100 if med else 0
    return (name, rekeys, sent_med, f"{lo / 1e3:.1f}", f"{med / 1e3:.1f}", f"{hi / 1e3:.1f}", f"{dip:.1f}%",
            str(rep["total"]["lost"]), str(lost_buckets))


def run(r, tunnel, a_toml):
    d = r.out / "rekey"
    d.mkdir(exist_ok=True)
    (d / "a.toml").write_text(with_psk(a_toml))
    (d / "peer.toml").write_text(with_psk(latency.peer_toml(tunnel, 1500)))
    ok, why = has_rekey_every(r, d / "a.toml")
    if not ok:
        r.say(f"not yet: needs --rekey-every in `qfp run` (issue 6, the control core on branch ctl); this build: {why}")
        return
    # A rate the 2-CPU set-up carries without loss (three polling processes share it).
    rate = 100000 if r.quick else 200000
    seconds = 4 if r.quick else 8
    rows, shown = [], False
    for name, ms in (("no rekeys", None), ("rekey every 50 ms", 50)):
        rep, a_stats, argvs = one(r, tunnel, d, "base" if ms is None else f"r{ms}", ms, rate, seconds)
        if ms and not shown:
            for a in argvs:
                r.command(a)
            shown = True
        rows.append(row(name, rep, a_stats))
    r.say(f"64-byte frames both ways at {rate / 1e3:.0f} kpps per direction, {seconds} s; per 100 ms bucket and "
          "direction: received kpps min / median / max; dip = (median - min) / median")
    r.table(["run", "rekeys", "sent kpps (median)", "received min", "median", "max", "dip", "lost",
             "buckets with loss"], rows, [str] * 9)
    r.say("sent kpps is what the generator reached (it shares CPU 0 with both control lcores); "
          "a dip beyond the no-rekey run's spread, or any loss, is the rekey's")
