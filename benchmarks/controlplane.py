"""Benchmark: the local control plane's warm start, memory, and (with --cold) cold build.

Warm start: binaries already built; `up` from nothing (fresh state folder: new certs,
empty etcd) until ready (every component healthy, 4 kwok nodes Ready, default service
account present), repeated. Memory: resident set size of each process once ready, and
after a minute of idling. Cold build (--cold): an empty Go build cache and module cache,
as on a fresh machine, so module downloads from the Go module proxy are included.

Usage: .venv/bin/python benchmarks/controlplane.py [--runs 5] [--cold]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from mooring.devcluster.binaries import CONTROL_PLANE, repository_root
from mooring.devcluster.cluster import DevCluster


def rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(
        int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS")
    )


def warm(runs: int, idle: float) -> None:
    times = []
    memory: dict[str, int] = {}
    for index in range(runs):
        with tempfile.TemporaryDirectory(prefix="mooring-cp-") as tmp:
            cluster = DevCluster(Path(tmp) / "state")
            started = time.monotonic()
            state = cluster.up(say=lambda _: None)
            times.append(time.monotonic() - started)
            if index == runs - 1:
                time.sleep(idle)
                memory = {c.name: rss(c.pid) for c in state.components.values()}
            cluster.down(say=lambda _: None, purge=True)
    print(
        f"warm start to ready over {runs} runs: median {statistics.median(times):.2f} s, "
        f"min {min(times):.2f} s, max {max(times):.2f} s (aim: < 30 s)"
    )
    total = sum(memory.values())
    parts = ", ".join(f"{name} {size / 2**20:.0f} MiB" for name, size in memory.items())
    print(f"resident memory after {idle:.0f} s idle: {total / 2**20:.0f} MiB in all ({parts})")


def cold() -> None:
    root = repository_root() / "tools"
    with tempfile.TemporaryDirectory(prefix="mooring-cold-") as tmp:
        env = {
            **os.environ,
            "GOCACHE": f"{tmp}/gocache",
            "GOMODCACHE": f"{tmp}/gomodcache",
            "GOTOOLCHAIN": "local",
            "GOFLAGS": "-mod=readonly -buildvcs=false",
        }
        total = 0.0
        for tool in CONTROL_PLANE:
            started = time.monotonic()
            out = Path(tmp) / "bin" / Path(tool.module_dir).name
            out.mkdir(parents=True)
            subprocess.run(
                ["go", "build", "-trimpath", "-o", str(out) + os.sep, *tool.packages.values()],
                cwd=root / tool.module_dir,
                env=env,
                check=True,
            )
            elapsed = time.monotonic() - started
            total += elapsed
            print(f"cold build of {', '.join(tool.packages)}: {elapsed:.0f} s")
        print(
            f"cold build in all (module downloads included): {total:.0f} s = {total / 60:.1f} min"
        )
        subprocess.run(["chmod", "-R", "u+w", tmp], check=False)  # the module cache is read-only
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle", type=float, default=60, help="seconds idle before memory")
    parser.add_argument("--cold", action="store_true", help="also time a cold build")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    warm(args.runs, args.idle)
    if args.cold:
        cold()


if __name__ == "__main__":
    main()
