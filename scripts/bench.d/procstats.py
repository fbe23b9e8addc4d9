"""What the benchmarks read from a running process and from qfp's statistics document:
resident memory, per-thread CPU time (the per-core figure), the stats JSON (only its head
when it is tens of MB), and the number formats of the tables. Shared by bench.py, live.py
and scale.py."""

import json
import os
import re
from pathlib import Path


def rss_bytes(pid):
    """Resident set size of process `pid` (VmRSS), 0 if it is gone."""
    try:
        m = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    except OSError:
        return 0
    return int(m.group(1)) * 1024 if m else 0


def read_stats(path):
    """qfp's statistics document. With many tunnels it is tens of MB: then only its head
    (uptime, ports, workers, drops, which come before the tunnels) is parsed."""
    with open(path, "rb") as f:
        head = f.read(1 << 20)
        whole = len(head) < (1 << 20)
    if whole:
        return json.loads(head)
    text = head.decode(errors="replace")
    cut = text.find('"tunnels"')
    if cut < 0:
        raise ValueError("no tunnels key in the first MB")
    return json.loads(text[:cut].rstrip().rstrip(",") + "}")


def thread_cpu_ns(pid, names):
    """CPU time in ns of the threads of process `pid` whose name starts with one of `names`
    (None: its main thread), from /proc/PID/task/TID/schedstat; None if it is gone."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        try:
            comm = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
            if (names is None and int(tid) == pid) or (names is not None and comm.startswith(names)):
                total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def mpps(v):
    return f"{v / 1e6:.3f}" if v else "-"


def gbps(v):
    return f"{v:.2f}" if v else "-"
