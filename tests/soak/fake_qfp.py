#!/usr/bin/env python3
"""A stand-in for `qfp demo` that tests/e2e/soak.rs points scripts/soak at (QFP_BIN), so
the soak script's sampling and verdicts are tested without the hour, or the real demo.

`fake_qfp.py demo --duration S ... --json F --dir D` starts three children like the real
demo (`fake_qfp.py run -c D/a.toml`, `... D/b.toml`, `fake_qfp.py gen`), lets them run S
seconds, stops them and writes the demo's summary to F. FAKE_GROW=b makes gateway B
allocate (and touch) 1 MiB every 0.1 s; FAKE_LOST=N reports N packets lost."""
import json
import os
import signal
import subprocess
import sys
import time


def child(kind):
    hold = []
    grow = kind == "b" and os.environ.get("FAKE_GROW") == "b"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        if grow:
            hold.append(bytearray(b"x" * (1 << 20)))
        time.sleep(0.1)


def demo(args):
    duration = float(args[args.index("--duration") + 1])
    out = args[args.index("--json") + 1]
    d = args[args.index("--dir") + 1]
    os.makedirs(d, exist_ok=True)
    me = os.path.abspath(__file__)
    kids = [subprocess.Popen([sys.executable, me, "run", "-c", os.path.join(d, f"{s}.toml")])
            for s in "ab"]
    kids.append(subprocess.Popen([sys.executable, me, "gen"]))
    time.sleep(duration)
    for k in kids:
        k.terminate()
        k.wait()
    lost = int(os.environ.get("FAKE_LOST", "0"))
    sent = int(duration * 1000)
    with open(out, "w") as f:
        json.dump({"sent": sent, "received": sent - lost, "lost": lost, "lost_in_rekeys": 0,
                   "rekeys": int(duration),
                   "desync": {"injected_s": None, "detected_s": None, "recovered_s": None,
                              "lost": 0}}, f)
    print("fake demo done")
    return 0


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "demo":
        sys.exit(demo(a))
    if a[0] == "run":
        child(a[-1][-6])   # ".../a.toml" -> "a"
    child("gen")
