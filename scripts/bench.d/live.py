"""Decap with anti-replay on, fed live (part of the gateway benchmark of ./scripts/bench).

A replayed capture repeats its sequence numbers, so the pcap-replay runs decapsulate with
`--replay-window 0`. Here the ESP comes from a second qfp instead, with fresh sequence
numbers: `qfp gen` sends 64-byte frames at its maximum rate into gateway B (the peer end
of the benchmark tunnel), B encapsulates them and sends the ESP over `net_memif` to
gateway A (the benchmark config), which decapsulates with the replay window on and sends
the plain packets to a `net_null` sink.

    qfp gen --rate max --size 64 -> [memif] -> B: qfp run -c peer.toml (encap)
        -> [memif] -> A: qfp run -c a.toml --replay-window W (decap) -> net_null

A's worker has CPU 1 to itself; the generator, B's worker and both control lcores share
CPU 0, so on a 2-CPU machine the feed, not A, is the limit: A's Mpps is what it was given,
and its Mpps/core (packets per CPU-second of A's busy-polling worker) is a lower bound of
what it can do. What the run shows is that every packet decrypts with the window on:
A's replay drops (`IN_OCT_ANTI_REPLAY_FAIL` + `CD_IN_PKT_OUT_OF_WINDOW`) must be 0.
"""

import json
import subprocess
import time
from pathlib import Path

import latency


def stats_of(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def run_one(r, tunnel, a_toml, window, seconds):
    """One live run with replay window `window`; returns a result dict."""
    from procstats import rss_bytes, thread_cpu_ns
    d = r.out / "live"
    d.mkdir(exist_ok=True)
    (d / "a.toml").write_text(a_toml)
    (d / "peer.toml").write_text(latency.peer_toml(tunnel, 1500))
    socks = {k: d / f"{k}-{window}.sock" for k in ("b-lan", "wan")}
    for s in socks.values():
        if s.exists():
            s.unlink()
    procs, prefixes, logs = [], [], []
    a_stats = d / f"a-{window}.json"
    if a_stats.exists():
        a_stats.unlink()

    def start(name, argv_head, vdevs, lcores):
        eal, p = r.eal(f"live-{name}-{window}", vdevs, lcores)
        argv = [str(a) for a in argv_head + ["--"] + eal]
        log = open(d / f"{name}-{window}.log", "w")
        logs.append(log)
        procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        prefixes.append(p)
        return argv, procs[-1]

    res = {"window": window}
    try:
        a_argv, a = start("gw-a", [r.qfp, "run", "-c", d / "a.toml", "--poll", "busy", "--replay-window", str(window),
                                   "--stats-interval", "0.5", "--stats-json", a_stats, "-q"],
                          ["net_null0,no-rx=1", latency.memif(1, "server", socks["wan"])],
                          [f"--lcores=0@0,1@{r.cpu}"])
        deadline = time.monotonic() + 30
        while not socks["wan"].exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        b_argv, _ = start("gw-b", [r.qfp, "run", "-c", d / "peer.toml", "--poll", "busy", "-q"],
                          [latency.memif(0, "server", socks["b-lan"]), latency.memif(1, "client", socks["wan"])],
                          ["--lcores=0@0,1@0"])
        while not socks["b-lan"].exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        gen_json = d / f"gen-{window}.json"
        g_eal, g_p = r.eal(f"live-gen-{window}", [latency.memif(0, "client", socks["b-lan"])], ["--lcores=0@0"])
        g_argv = [r.qfp_tools, "gen", "--rate", "max", "--duration", str(seconds), "--size", "64", "--flows", "64",
                  "--net0", tunnel["remote"], "--net1", tunnel["lan"], "--drain-ms", "300", "--link-wait", "20",
                  "--json", gen_json, "-q", "--"] + g_eal
        res["argv"] = [a_argv, b_argv, [str(x) for x in g_argv]]
        samples = []

        def tick(proc):
            s = stats_of(a_stats)
            if s:
                port = next((x for x in s["ports"] if x["port"] == 1), {})
                samples.append((s["uptime_s"], port.get("rx", 0), thread_cpu_ns(a.pid, ("rte-worker", "lcore-worker"))))
                res["rss"] = rss_bytes(a.pid)
            return False

        code, text = r.run_for(g_argv, seconds + 45, d / f"gen-{window}.log", tick)
        r.cleanup_prefix(g_p)
        gen = stats_of(gen_json)
        res["sent"] = gen["total"]["sent"] if gen else None
        # While A was fed: from the first to the last sample whose count moved, the middle
        # half of that stretch (A starts before the feed and outlives it).
        moving = [i for i in range(1, len(samples)) if samples[i][1] != samples[i - 1][1]]
        pts = []
        if moving:
            lo, hi = moving[0], moving[-1]
            span = hi - lo
            pts = samples[lo + span // 4: hi - span // 4 + 1]
        if len(pts) >= 2 and pts[-1][0] > pts[0][0]:
            res["rx"] = (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0])
            if pts[-1][2] and pts[-1][2] > pts[0][2]:
                res["cpu"] = (pts[-1][1] - pts[0][1]) / ((pts[-1][2] - pts[0][2]) / 1e9)
    finally:
        r.stop_all(procs, prefixes, logs)
    s = stats_of(a_stats)
    if s:
        drops = s.get("drops", {})
        res["replay_drops"] = drops.get("IN_OCT_ANTI_REPLAY_FAIL", 0) + drops.get("CD_IN_PKT_OUT_OF_WINDOW", 0)
        res["decrypted"] = s.get("inbound", {}).get("decrypted")
        res["drops"] = sum(drops.values())
        res["final"] = s.get("final", False)
    return res


def run(r, tunnel, a_toml, windows):
    """Runs the live decap for each window; {window: result}. Cached on the runner."""
    cache = r.results.setdefault("live", {})
    seconds = 4 if r.quick else 8
    for w in windows:
        if w not in cache:
            cache[w] = run_one(r, tunnel, a_toml, w, seconds)
    return {w: cache[w] for w in windows}
