"""Run a Python module under tracemalloc and write where its memory was at its peak.

Usage: python benchmarks/memprofile.py [--census] OUT.txt -m mooring.cli operator ...
       python benchmarks/memprofile.py --diff BEFORE.snap AFTER.snap [PER]

A thread looks at the traced memory every few seconds and, when it has grown a tenth past
the last peak (at most once every 20 s), takes a snapshot and writes its largest allocation
sites, by line and by file, to OUT.txt (so a stopped or killed program keeps the report of
its last peak). tracemalloc slows the program (about twice) and its own bookkeeping is not
counted: the figures are the program's objects. Every sample also goes to OUT.timeline,
with tracemalloc's own memory and the process's resident memory (VmRSS) beside the traced
memory: resident memory far above the two is the allocator's (fragmentation, arenas, C
libraries), not Python objects.

tracemalloc's statistics take minutes on a busy machine at a million traces, and stall the
program meanwhile. `--census` does without tracemalloc: every 15 s it counts the objects the
garbage collector tracks by type (with their shallow sizes, and the asyncio Queues, Tasks and
coroutines by where they were made) beside the resident memory, into OUT.txt: cheap
enough for a full-size run, and enough to see what multiplies with a backlog.

Under tracemalloc, SIGUSR1 collects the garbage and dumps a snapshot to OUT.<n>.snap (n
counts from 1), its resident memory beside it in OUT.<n>.rss: `benchmarks/tenants.py
--snapshots 500 1500` sends it as the Ready count passes each figure. `--diff` prints what
grew between two snapshots by allocation site (divided by PER, e.g. the tenants that became
Ready in between: bytes per tenant by owner).
"""

from __future__ import annotations

import asyncio
import gc
import runpy
import signal
import sys
import threading
import time
import tracemalloc
import types
from collections import Counter
from pathlib import Path

FRAMES = 8
EVERY = 3.0


def report(snapshot: tracemalloc.Snapshot, traced: int, rss: int, out: Path) -> None:
    lines = [
        f"traced at the peak: {traced / 2**20:.1f} MiB, resident {rss / 2**20:.1f} MiB "
        f"(at {time.strftime('%H:%M:%S')})",
        "",
        "largest by file:",
    ]
    for stat in snapshot.statistics("filename")[:25]:
        lines.append(f"  {stat.size / 2**20:8.1f} MiB {stat.count:9d} blocks  {stat.traceback}")
    lines.append("")
    lines.append("largest by allocation site (innermost frames first):")
    for stat in snapshot.statistics("traceback")[:30]:
        lines.append(f"  {stat.size / 2**20:8.1f} MiB {stat.count:9d} blocks")
        lines.extend(f"      {frame}" for frame in list(stat.traceback)[:FRAMES])
    out.write_text("\n".join(lines) + "\n")


def resident() -> int:
    """This process's resident memory in bytes (VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Peak:
    """Writes the report at every new peak (a stopped or killed program keeps the last),
    and keeps no snapshot between peaks: a snapshot of a million traces is itself some
    hundred MiB, which would blur the resident figures."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.traced = 0

    def sample(self) -> None:
        kept_at = 0.0
        with self.out.with_suffix(".timeline").open("w") as timeline:
            timeline.write("time traced_MiB tracemalloc_own_MiB rss_MiB\n")
            while True:
                time.sleep(EVERY)
                traced, _ = tracemalloc.get_traced_memory()
                rss = resident()
                timeline.write(
                    f"{time.strftime('%H:%M:%S')} {traced / 2**20:.1f} "
                    f"{tracemalloc.get_tracemalloc_memory() / 2**20:.1f} {rss / 2**20:.1f}\n"
                )
                timeline.flush()
                if traced > self.traced * 1.1 and time.monotonic() - kept_at >= 20:
                    self.traced = traced
                    report(tracemalloc.take_snapshot(), traced, rss, self.out)
                    kept_at = time.monotonic()


def on_request(out: Path) -> None:
    """SIGUSR1: a snapshot of the live objects (garbage collected first) and the RSS."""
    taken = [0]

    def dump(_signum: int, _frame: types.FrameType | None) -> None:
        taken[0] += 1
        gc.collect()
        snapshot = tracemalloc.take_snapshot()
        snapshot.dump(str(out.with_suffix(f".{taken[0]}.snap")))
        out.with_suffix(f".{taken[0]}.rss").write_text(f"{resident()}\n")
        del snapshot

    signal.signal(signal.SIGUSR1, dump)


def diff(before: Path, after: Path, per: float) -> None:
    """What grew from one snapshot to the other, by allocation site (innermost frames)."""
    old = tracemalloc.Snapshot.load(str(before))
    new = tracemalloc.Snapshot.load(str(after))
    ignored = [tracemalloc.Filter(False, tracemalloc.__file__)]
    old, new = old.filter_traces(ignored), new.filter_traces(ignored)
    total = sum(s.size for s in new.statistics("filename")) - sum(
        s.size for s in old.statistics("filename")
    )
    print(f"traced: {total / 2**20:+.1f} MiB in all, {total / per:+,.0f} bytes per unit")
    print("by file:")
    for stat in new.compare_to(old, "filename")[:25]:
        print(
            f"  {stat.size_diff / per:+10,.0f} B {stat.count_diff / per:+8.1f} blocks  "
            f"{stat.traceback}"
        )
    print("by allocation site:")
    for stat in new.compare_to(old, "traceback")[:40]:
        print(f"  {stat.size_diff / per:+10,.0f} B {stat.count_diff / per:+8.1f} blocks")
        for frame in list(stat.traceback)[:FRAMES]:
            print(f"      {frame}")


def census(out: Path) -> None:

    with out.open("w") as lines:
        while True:
            time.sleep(15)
            started = time.monotonic()
            counts: Counter[str] = Counter()
            sizes: Counter[str] = Counter()
            where: Counter[str] = Counter()
            for obj in gc.get_objects():
                kind = type(obj).__qualname__
                counts[kind] += 1
                sizes[kind] += sys.getsizeof(obj)
                if isinstance(obj, types.CoroutineType):
                    where[f"coroutine {obj.cr_code.co_qualname}"] += 1
                elif isinstance(obj, asyncio.Task):
                    coro = obj.get_coro()
                    code = getattr(coro, "cr_code", None)
                    where[f"task {code.co_qualname if code else type(coro).__name__}"] += 1
            lines.write(
                f"== {time.strftime('%H:%M:%S')} resident {resident() / 2**20:.1f} MiB, "
                f"{sum(counts.values())} objects (census took "
                f"{time.monotonic() - started:.1f} s)\n"
            )
            for kind, size in sizes.most_common(15):
                lines.write(f"  {size / 2**20:8.1f} MiB {counts[kind]:9d}  {kind}\n")
            for name, count in where.most_common(12):
                lines.write(f"  {count:9d}  {name}\n")
            lines.flush()
            del counts, sizes, where


def main() -> None:
    if sys.argv[1] == "--diff":
        diff(Path(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4]) if len(sys.argv) > 4 else 1)
        return
    if sys.argv[1] == "--census":
        out = Path(sys.argv[2])
        module = sys.argv[4]
        sys.argv = [module, *sys.argv[5:]]
        threading.Thread(target=census, args=(out,), name="census", daemon=True).start()
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return
    out = Path(sys.argv[1])
    if sys.argv[2] != "-m":
        raise SystemExit(__doc__)
    module = sys.argv[3]
    sys.argv = [module, *sys.argv[4:]]
    tracemalloc.start(FRAMES)
    on_request(out)
    threading.Thread(target=Peak(out).sample, name="memprofile", daemon=True).start()
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
