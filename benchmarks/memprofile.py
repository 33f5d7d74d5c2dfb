"""Run a Python module under tracemalloc and write where its memory is at its peak.

Usage: python benchmarks/memprofile.py OUT.txt -m mooring.cli operator ...

A thread samples the traced memory every few seconds; each time it reaches a new peak (10%
above the last one written), it takes a snapshot and writes the largest allocation sites
(by line, and by file) to OUT.txt, replacing what was there. On SIGTERM/SIGINT the module
stops as usual, and the last peak's report stays. tracemalloc slows the program (about
twice) and its own bookkeeping is not counted: the figures are the program's objects.
"""

from __future__ import annotations

import runpy
import sys
import threading
import time
import tracemalloc
from pathlib import Path

FRAMES = 12
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


def sample(out: Path) -> None:
    written = 0
    while True:
        time.sleep(EVERY)
        traced, _ = tracemalloc.get_traced_memory()
        if traced > written * 1.1:
            written = traced
            report(tracemalloc.take_snapshot(), traced, out)


def main() -> None:
    out = Path(sys.argv[1])
    if sys.argv[2] != "-m":
        raise SystemExit(__doc__)
    module = sys.argv[3]
    sys.argv = [module, *sys.argv[4:]]
    tracemalloc.start(FRAMES)
    threading.Thread(target=sample, args=(out,), name="memprofile", daemon=True).start()
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
