"""The scale benchmark of ./scripts/bench: packets/s and memory against the number of
tunnels (1, 1k, 10k, 100k) and against the replay window size.

For each tunnel count N a config is written with N tunnels (one outbound and one inbound
AES-128-GCM SA each, a /28 selector each inside 10.0.0.0/8, a peer each inside
172.16.0.0/12, MTU 1500) and `qfp pcap --all-tunnels` writes 64-byte captures in which
frame i belongs to tunnel i mod N: max(1024, N) frames, so every SA is used and
consecutive frames use different SAs (the SPI cache and per-SA counter batching do not
help, and each packet's SA and key schedule come from memory: the worst case). Then
`qfp run` decapsulates (`--replay-window 0`: a replayed capture repeats its sequence
numbers) and encapsulates them as in the gateway benchmark, one worker. Reported: Mpps,
Mpps per CPU-second of the worker, the resident set (VmRSS: the EAL's `-m` memory counts
only where touched: the mbuf pool and what the program allocates) and the start-up time
(until the first statistics).

The replay window changes only the inbound SAs' bitmaps (size/8 bytes each, rounded up
to a power-of-two number of 64-bit words): its memory is measured with the largest
tunnel count, windows 64, 1024 and 4096. A replayed capture cannot measure decap with the
window on (its second pass is all replays): the throughput with anti-replay on is the
live `net_memif` run of the gateway benchmark (scripts/bench.d/live.py), which this
table repeats for each window size.
"""

import ipaddress

from procstats import mpps

SIZES_FULL = [1, 1000, 10000, 100000]
SIZES_QUICK = [1, 1000]
WINDOWS = [64, 1024, 4096]


def config(n, window):
    """N tunnels; SPIs 0x100000 + i out, 0x200000 + i in; keys from i."""
    peer0 = int(ipaddress.IPv4Address("172.16.0.0"))
    sel0 = int(ipaddress.IPv4Address("10.0.0.0"))
    parts = [f"""# Written by scripts/bench (scale): {n} tunnels, AES-128-GCM.
[gateway]
protected_port = 0
unprotected_port = 1
local = "192.0.2.1"
replay_window = {window}
"""]
    for i in range(n):
        peer = ipaddress.IPv4Address(peer0 + 1 + i)
        sel = ipaddress.IPv4Address(sel0 + 16 * i)
        k = f"{i:08x}"
        parts.append(f"""
[[tunnel]]
name = "t{i}"
peer = "{peer}"
next_hop_mac = "02:00:00:00:01:01"
selectors = ["{sel}/28"]
esn = false
mtu = 1500
[[tunnel.sa]]
dir = "out"
spi = {0x100000 + i:#x}
aead = "aes-128-gcm"
key = "{k}0011223344556677{k}"
salt = "c0ffee01"
[[tunnel.sa]]
dir = "in"
spi = {0x200000 + i:#x}
aead = "aes-128-gcm"
key = "{k}8899aabbccddeeff{k}"
salt = "c0ffee02"
""")
    parts.append("""
[[route]]
dst = "198.18.0.0/15"
port = 0
next_hop_mac = "02:00:00:00:00:01"
""")
    return "".join(parts)


def prepare(r, d, n, window):
    """Config and captures for n tunnels in directory d; returns (config path, pcaps dir)
    or None (and says why)."""
    import subprocess
    d.mkdir(parents=True, exist_ok=True)
    cfg = d / f"scale-{n}-w{window}.toml"
    cfg.write_text(config(n, window))
    pcaps = d / f"pcaps-{n}"
    if not (pcaps / "esp-64.pcap").exists():
        argv = [r.qfp_tools, "pcap", "-c", cfg, "--dir", pcaps, "--sizes", "64", "--count", str(max(1024, n)),
                "--flows", "1", "--all-tunnels"]
        p = subprocess.run([str(a) for a in argv], capture_output=True, text=True)
        if p.returncode != 0:
            r.say(f"  qfp pcap for {n} tunnels failed: {p.stderr.strip()[-300:]}")
            return None
    return cfg, pcaps


def mb(b):
    return f"{b / 2**20:.0f}" if b else "-"


def run(r, live_rows):
    """Prints the tunnel-count table and the window table. `live_rows(windows)` gives the
    live anti-replay decap results per window (the gateway benchmark's, or runs them)."""
    d = r.out / "scale"
    counts = SIZES_QUICK if r.quick else SIZES_FULL
    rows = []
    shown = False
    for n in counts:
        prep = prepare(r, d, n, 1024)
        if not prep:
            continue
        cfg, pcaps = prep
        frames = max(1024, n)
        # The pool holds the replayed capture (net_pcap copies it into mbufs at start),
        # the descriptors and the bursts in flight.
        mbufs = str(frames + 8192)
        for op in ("decap", "encap"):
            res = r.qfp_run(op, "64", 1, True, extra=["--mbufs", mbufs], tag=f"-scale-{n}", config=cfg,
                            pcaps=pcaps, eal_extra=["-m", "2048"], stats_interval="1" if n >= 10000 else "0.5")
            if not shown:
                r.command(res["argv"])
                shown = True
            rows.append((f"{n}", op, res["wall"], res["cpu"], res["drops"] or 0.0, res["rss"], res["started"]))
    r.say("64-byte frames, every frame a different tunnel's SA (round robin over all of them), one worker, "
          "MTU 1500, replay window 1024 (decap: --replay-window 0, replayed captures)")
    r.table(["tunnels", "op", "Mpps", "Mpps/core", "drops/s", "RSS MB", "start s"], rows,
            [str, str, mpps, mpps, lambda x: f"{x:.0f}" if x is not None else "-", mb,
             lambda x: f"{x:.1f}" if x else "-"])
    r.say("EAL memory: --no-huge -m 2048 (counted in RSS only where touched); mbufs: frames of the capture + 8192")

    # Memory against the window, with the largest tunnel count; throughput from live runs.
    n = counts[-1]
    mem = []
    for w in WINDOWS:
        prep = prepare(r, d, n, w)
        if not prep:
            continue
        cfg, pcaps = prep
        res = r.qfp_run("encap", "64", 1, True, extra=["--mbufs", str(max(1024, n) + 8192)],
                        tag=f"-scale-{n}-w{w}", config=cfg, pcaps=pcaps, eal_extra=["-m", "2048"],
                        stats_interval="1")
        mem.append((w, res["rss"]))
    live = live_rows(WINDOWS)
    r.say()
    r.say(f"replay window: resident set with {n} tunnels (inbound SAs' bitmaps), and decap with anti-replay on "
          "fed live over net_memif (1 tunnel; see the gateway benchmark's live rows)")
    base = mem[0][1] if mem else 0
    table = []
    for w, rss in mem:
        lv = live.get(w) or {}
        per_sa = (rss - base) / n if base and rss else None
        table.append((str(w), rss, per_sa, lv.get("rx"), lv.get("cpu"), lv.get("replay_drops")))
    r.table(["window", f"RSS MB ({n} SAs)", "vs 64, bytes/SA", "live decap Mpps", "Mpps/core", "replay drops"],
            table, [str, mb, lambda x: f"{x:+.0f}" if x is not None else "-", mpps, mpps,
                    lambda x: str(x) if x is not None else "-"])
