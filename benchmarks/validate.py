"""Benchmark: `mooring validate` over a platform repository of N generated tenants.

Run: .venv/bin/python benchmarks/validate.py [--tenants 1000 10000 20000] [--runs 3]
     [--baseline REF]   # also run the `src/` of a git revision (say, main), same files

Each size is a fresh folder: platform.yaml and tenants/<name>.yaml, one file per tenant
with two environments, owners, developers and network allowances naming other tenants
(as a real repository has), so every repository-wide check has work to do. `mooring
validate` runs end to end as a separate process (start, reading, parsing, checks); the
best wall time of R runs counts, with its CPU time and peak memory. A linear tool's
CPU seconds per 1,000 tenants stay about the same as N grows; the ratio column says how
far from that each size is (CPU time, not wall time: on a shared machine the wall time
mostly measures the others' load). The machine's load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
MOORING = ROOT / ".venv" / "bin" / "mooring"

PLATFORM = {
    "apiVersion": "mooring.dev/v1alpha1",
    "kind": "PlatformConfig",
    "metadata": {"name": "default"},
    "spec": {
        "defaultTier": "small",
        "capacity": {"cpu": "1000000", "memory": "4000Ti", "storage": "100Pi"},
        "tiers": {
            "small": {"quota": {"cpu": "2", "memory": "4Gi", "pods": 20, "storage": "10Gi"}},
            "large": {
                "quota": {"cpu": "16", "memory": "64Gi", "pods": 100},
                "podSecurity": ["restricted", "baseline"],
            },
        },
    },
}


def tenant(index: int, count: int) -> dict[str, object]:
    name = f"team{index:05d}"
    peers = sorted({f"team{(index + step) % count:05d}" for step in (1, 7)} - {name})
    return {
        "apiVersion": "mooring.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": name},
        "spec": {
            "owners": {"users": [f"{name}-lead@example.com"], "groups": [f"{name}-leads"]},
            "developers": {"groups": [f"{name}-devs"], "serviceAccounts": [f"{name}-dev/ci"]},
            "environments": [{"name": "dev"}, {"name": "prod", "quota": {"cpu": "4"}}],
            "tier": "large" if index % 10 == 0 else "small",
            "costCenter": f"cc-{index % 97}",
            "network": {
                "ingress": {"fromIngressController": True, "fromTenants": peers},
                "egress": {"toTenants": peers[:1]},
            },
        },
    }


def write_repository(folder: Path, count: int) -> None:
    (folder / "tenants").mkdir(parents=True)
    (folder / "platform.yaml").write_text(yaml.safe_dump(PLATFORM, sort_keys=False))
    for index in range(count):
        body = tenant(index, count)
        name = body["metadata"]["name"]  # type: ignore[index]
        (folder / "tenants" / f"{name}.yaml").write_text(yaml.safe_dump(body, sort_keys=False))


def peak_rss_of_children_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def baseline_source(revision: str, into: Path) -> Path:
    """The `src/` folder of a git revision, extracted (read-only use of the repository)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "src"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "src"


def run(folder: Path, runs: int, source: Path | None = None) -> tuple[float, float, int, str]:
    """(best wall seconds, CPU seconds of that run, exit code, the summary line)."""
    best_wall, best_cpu, code, line = float("inf"), 0.0, -1, ""
    command = [str(MOORING)]
    env = dict(os.environ)
    if source is not None:
        command = [sys.executable, "-c", "from mooring.cli.main import main; main()"]
        env["PYTHONPATH"] = str(source)
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            [*command, "validate", str(folder / "platform.yaml"), str(folder / "tenants")],
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if wall < best_wall:
            best_wall = wall
            best_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            code = done.returncode
            line = (done.stderr.strip().splitlines() or [""])[-1]
    return best_wall, best_cpu, code, line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, nargs="+", default=[1000, 10000, 20000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", default=None, help="a git revision to compare with")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores)")
    print(
        f"{'code':>8} {'tenants':>8} {'wall s':>8} {'cpu s':>7} {'cpu/1k':>6} {'ratio':>6}  "
        "exit  summary"
    )
    with tempfile.TemporaryDirectory() as scratch:
        sources: list[tuple[str, Path | None]] = [("this", None)]
        if args.baseline:
            sources.append((args.baseline, baseline_source(args.baseline, Path(scratch))))
        for count in args.tenants:
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                write_repository(folder, count)
                for label, source in sources:
                    wall, cpu, code, line = run(folder, args.runs, source)
                    rate = cpu / count * 1000
                    first = FIRST_RATE.setdefault(label, rate)
                    print(
                        f"{label:>8} {count:>8} {wall:>8.2f} {cpu:>7.2f} {rate:>6.2f} "
                        f"{rate / first:>6.2f}  {code:>4}  {line}",
                        flush=True,
                    )
    print(f"peak memory of one validate run: {peak_rss_of_children_mib():.0f} MiB")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    sys.exit(0)


FIRST_RATE: dict[str, float] = {}


if __name__ == "__main__":
    main()
