"""Run a Python module under tracemalloc and write where its memory was at its peak.

Usage: python benchmarks/memprofile.py OUT.txt -m mooring.cli operator ...

A thread looks at the traced memory every few seconds and, when it has grown a tenth past
the last peak kept (at most once every 20 s), keeps a snapshot (cheap: a copy of the
traces, no statistics). When the module returns (the operator stops on SIGTERM), the
largest allocation sites of the peak snapshot, by line and by file, are written to
OUT.txt. tracemalloc slows the program (about twice) and its own bookkeeping is not
counted: the figures are the program's objects.
"""

from __future__ import annotations

import runpy
import sys
import threading
import time
import tracemalloc
from pathlib import Path

FRAMES = 8
EVERY = 3.0


def report(snapshot: tracemalloc.Snapshot, traced: int, out: Path) -> None:
    snapshot = snapshot.filter_traces(
        (
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        )
    )
    lines = [f"traced at the peak: {traced / 2**20:.1f} MiB (at {time.strftime('%H:%M:%S')})", ""]
    lines.append("largest by file:")
    for stat in snapshot.statistics("filename")[:25]:
        lines.append(f"  {stat.size / 2**20:8.1f} MiB {stat.count:9d} blocks  {stat.traceback}")
    lines.append("")
    lines.append("largest by allocation site (innermost frames first):")
    for stat in snapshot.statistics("traceback")[:30]:
        lines.append(f"  {stat.size / 2**20:8.1f} MiB {stat.count:9d} blocks")
        lines.extend(f"      {frame}" for frame in list(stat.traceback)[:FRAMES])
    out.write_text("\n".join(lines) + "\n")


class Peak:
    def __init__(self) -> None:
        self.snapshot: tracemalloc.Snapshot | None = None
        self.traced = 0
        self.lock = threading.Lock()

    def sample(self) -> None:
        kept_at = 0.0
        while True:
            time.sleep(EVERY)
            traced, _ = tracemalloc.get_traced_memory()
            if traced > self.traced * 1.1 and time.monotonic() - kept_at >= 20:
                snapshot = tracemalloc.take_snapshot()
                with self.lock:
                    self.snapshot, self.traced = snapshot, traced
                kept_at = time.monotonic()


def main() -> None:
    out = Path(sys.argv[1])
    if sys.argv[2] != "-m":
        raise SystemExit(__doc__)
    module = sys.argv[3]
    sys.argv = [module, *sys.argv[4:]]
    tracemalloc.start(FRAMES)
    peak = Peak()
    threading.Thread(target=peak.sample, name="memprofile", daemon=True).start()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        with peak.lock:
            if peak.snapshot is not None:
                report(peak.snapshot, peak.traced, out)


if __name__ == "__main__":
    main()
