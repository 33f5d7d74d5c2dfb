"""Benchmark: cost allocation over 10,000 pods and 30 days at a 1 h step, from Prometheus.

History: 1,000 tenants x 10 pods (one container each) on 100 nodes, as kube-state-metrics
and cAdvisor would have it (requests, running status, pod info, node capacity, CPU usage
counters and working-set memory, usage above and below requests through each day),
written into TSDB blocks with promtool (`create-blocks-from openmetrics`, one file per
day) and served by Debian's Prometheus. The cluster: the local control plane with the
same 100 nodes, namespaces, Tenants and 10,000 pods (kwok runs them).

Mooring's cost recording rules (core/cost/recorded.py) are backfilled over the history
with `mooring cost backfill`'s function (services/cost_rules.py: each rule's expression as
day-long range queries, written with promtool `create-blocks-from openmetrics`), as a
platform does after installing them (docs/cost.md), in `--backfill-parts` parts (each a
turn of the benchmark lock with `--one-step`); the blocks are moved into the data folder
and Prometheus compacts them (waited for until no two blocks overlap). Then the derived
rules (per namespace, per node) are backfilled from the base rules' series the folder
holds (`--rules derived`; markers `derived-moved`, `derived-backfilled`), and compacted
likewise (`--no-derived` leaves them out). Each step is timed: a one-off cost, done once
per data folder (marker files remember it).

Prints, in one run:
- the one-off backfill of the rules and the compaction after it (when done in this run);
- the whole `mooring cost report --window 30d --step 1h --by namespace` and `--by tenant`
  (a process of its own): wall time and peak memory (aims: under 5 s and 300 MB), at the
  hour the history ends (the rules' last step or two not recorded yet: read raw, as in
  production right after the hour) and two hours earlier (all 30 days recorded);
- the PromQL floor: the same queries the report sends, replayed alone (answers read,
  not parsed), with the same concurrency;
- the operator's refresh of 1,000 tenants' status.cost (as of the end of the history):
  wall and CPU time, status writes, peak Python heap.

Usage: .venv/bin/python benchmarks/cost.py [--pods 10000] [--days 30] [--interval 1800]
       [--pods-per-tenant 10] [--data DIR (reuse history written before)]
       [--backfill-parts N] [--one-step] [--no-derived] [--by namespace,tenant] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mooring.core.cost.inputs import Inputs
from mooring.core.cost.window import HOUR, align, parse_window
from mooring.core.render.platform import install
from mooring.devcluster.cluster import DevCluster, NodeShape
from mooring.devcluster.history import HistoryPrometheus, write_blocks
from mooring.kube.client import Kube
from mooring.operator.cost import refresh_once
from mooring.services.cost import MonthCache, measure_window
from mooring.services.cost_rules import backfill as backfill_rules
from mooring.services.install import apply_objects
from mooring.services.prometheus import Prometheus

API = "mooring.dev/v1alpha1"
GIB = 2**30
DAY = 86400
BLOCK = 7200  # promtool's block length
PODS_PER_TENANT = 10
NODES = 100


def pod_shape(index: int) -> tuple[float, float, float]:
    """(CPU request in cores, memory request in bytes, phase of its daily usage cycle)."""
    return 0.1 + (index % 5) * 0.1, 128 * 2**20 * (1 + index % 4), (index % 24) / 24 * 2 * math.pi


def names(index: int) -> tuple[str, str, str]:
    """(namespace, pod, node) of pod `index`."""
    tenant = index // PODS_PER_TENANT
    return f"t{tenant:04d}-dev", f"app-{index:05d}", f"kwok-node-{index % NODES}"


def usage(cpu: float, phase: float, t: float, t0: float) -> tuple[float, float]:
    """CPU core-seconds used since t0 (0.3 to 1.3 times the request through a day) and the
    fraction of the memory request in use at t."""
    omega = 2 * math.pi / DAY
    core_seconds = cpu * (
        0.8 * (t - t0) - 0.5 / omega * (math.cos(omega * t + phase) - math.cos(omega * t0 + phase))
    )
    return core_seconds, 0.85 + 0.35 * math.sin(omega * t + phase)


def pod_series(index: int, stamps: list[int], t0: float) -> Iterator[tuple[str, str, list[str]]]:
    """(family, series, values at `stamps`) of one pod, as kube-state-metrics and cAdvisor
    would expose them."""
    ns, pod, node = names(index)
    cpu, memory, phase = pod_shape(index)
    who = f'namespace="{ns}",pod="{pod}"'
    one = ["1"] * len(stamps)
    used = [usage(cpu, phase, s, t0) for s in stamps]
    yield "kube_pod_info", f'kube_pod_info{{{who},node="{node}"}}', one
    yield (
        "kube_pod_container_status_running",
        f'kube_pod_container_status_running{{{who},container="app"}}',
        one,
    )
    requests = "kube_pod_container_resource_requests"
    yield (
        requests,
        f'{requests}{{{who},container="app",node="{node}",resource="cpu",unit="core"}}',
        [repr(cpu)] * len(stamps),
    )
    yield (
        requests,
        f'{requests}{{{who},container="app",node="{node}",resource="memory",unit="byte"}}',
        [str(memory)] * len(stamps),
    )
    yield (
        "container_cpu_usage_seconds_total",
        f'container_cpu_usage_seconds_total{{{who},container="app"}}',
        [repr(seconds) for seconds, _ in used],
    )
    yield (
        "container_memory_working_set_bytes",
        f'container_memory_working_set_bytes{{{who},container="app"}}',
        [str(int(memory * fraction)) for _, fraction in used],
    )


def span_file(args: tuple[Path, int, int, float, float]) -> Path:
    """Two hours of history for every node and pod, as OpenMetrics text (each family's
    series together, as the format wants): one TSDB block, which promtool (2.42: blocks of
    2 hours, the input read once per block) makes in one pass."""
    folder, pods, interval, span_start, t0 = args
    stamps = [int(span_start) + i * interval for i in range(BLOCK // interval)]
    families: dict[str, list[str]] = {}
    for n in range(NODES):
        for resource_, value in (("cpu", "64"), ("memory", str(256 * GIB))):
            series = f'kube_node_status_capacity{{node="kwok-node-{n}",resource="{resource_}"}}'
            families.setdefault("kube_node_status_capacity", []).append(
                "".join(f"{series} {value} {s}\n" for s in stamps)
            )
    for index in range(pods):
        for family, series, values in pod_series(index, stamps, t0):
            families.setdefault(family, []).append(
                "".join(f"{series} {v} {s}\n" for v, s in zip(values, stamps, strict=True))
            )
    path = folder / f"span-{int(span_start)}.om"
    partial = path.with_suffix(".partial")
    with partial.open("w") as out:
        for family, chunks in families.items():
            out.write(f"# TYPE {family} gauge\n")
            out.writelines(chunks)
        out.write("# EOF\n")
    partial.rename(path)
    return path


def write_history(data: Path, pods: int, days: int, interval: int, end: datetime) -> None:
    """Resumable: spans whose block is in `data` are skipped, span files already written
    (complete: written under another name, then renamed) are converted as they are."""
    scratch = data.parent / "openmetrics"
    scratch.mkdir(parents=True, exist_ok=True)
    start = end.timestamp() - (days + 1) * DAY  # a day before the window: the first rates
    spans = (days + 1) * DAY // BLOCK
    converted = blocks_by_start(data)
    jobs = [
        (scratch, pods, interval, start + i * BLOCK, start)
        for i in range(spans)
        if int(start + i * BLOCK) not in converted
    ]
    began = time.monotonic()
    # Two spans at a time: written (unless they already are), turned into blocks by two
    # promtools, removed; at most two span files (30 MB each) wait on disk.
    with ProcessPoolExecutor(max_workers=2) as pool:
        for first in range(0, len(jobs), 2):
            chunk = jobs[first : first + 2]
            missing = [job for job in chunk if not span_path(job).is_file()]
            list(pool.map(span_file, missing))
            paths = [span_path(job) for job in chunk]
            write_blocks(paths, data, jobs=2)
            for path in paths:
                path.unlink()
    written = time.monotonic() - began
    compact(data)
    print(
        f"history: {pods} pods x {days + 1} days at {interval} s ({len(jobs)} of {spans} spans "
        f"written now): {written:.0f} s to write, "
        f"{time.monotonic() - began - written:.0f} s for Prometheus to compact",
        flush=True,
    )


def span_path(job: tuple[Path, int, int, float, float]) -> Path:
    return job[0] / f"span-{int(job[3])}.om"


def blocks_by_start(data: Path) -> set[int]:
    """The start (Unix seconds) of every TSDB block in `data`."""
    if not data.is_dir():
        return set()
    return {
        int(json.loads(meta.read_text())["minTime"]) // 1000 for meta in data.glob("*/meta.json")
    }


def blocks_overlap(data: Path) -> bool:
    """Whether two of the folder's blocks cover the same time (Prometheus then merges them:
    a vertical compaction, during which the block count does not move)."""
    spans = sorted(
        (meta["minTime"], meta["maxTime"])
        for meta in (json.loads(path.read_text()) for path in data.glob("*/meta.json"))
    )
    reach = -1
    for low, high in spans:
        if low < reach:
            return True
        reach = max(reach, high)
    return False


def compact(data: Path, quiet_for: float = 90) -> None:
    """Let Prometheus compact the blocks (as its own history would be) before any timing:
    run it until no two blocks overlap and the block count has not moved for `quiet_for`
    seconds."""
    server = HistoryPrometheus(data)
    try:
        last, since = -1, time.monotonic()
        while time.monotonic() - since < quiet_for:
            blocks = sum(1 for p in data.iterdir() if p.is_dir() and len(p.name) == 26)
            if blocks != last or blocks_overlap(data):
                last, since = blocks, time.monotonic()
            time.sleep(5)
    finally:
        server.stop()


def backfill_span(end: datetime, days: int) -> tuple[datetime, datetime]:
    """The span the cost rules are backfilled over: the last `days` days and three hours
    of the history, up to its end (the last step or two are then not recorded, as right
    after an hour in production)."""
    return end - timedelta(days=days, hours=3), end


def backfill_cost_rules(data: Path, end: datetime, days: int, part: int, parts: int) -> None:
    """Part `part` of `parts` of the backfill (`mooring cost backfill`'s function), into a
    folder beside the data folder; the last part moves every part's blocks into `data`.
    Prints the part's time."""
    start, finish = backfill_span(end, days)
    # Parts split at half past an hour: the rules' samples are written on the hour.
    bounds = [start] + [
        align(start + (finish - start) * k / parts, HOUR) + timedelta(minutes=30)
        for k in range(1, parts)
    ]
    first = bounds[part - 1]
    last = bounds[part] - timedelta(seconds=1) if part < parts else finish
    staged = data.parent / "rules-blocks"
    staged.mkdir(exist_ok=True)
    server = HistoryPrometheus(data)
    began = time.monotonic()
    try:
        done = backfill_rules(server.url, first, last, data.parent / f"rules-{part}", into=staged)
    finally:
        server.stop()
    (data.parent / f"rules-part-{part}-of-{parts}").write_text(f"{time.monotonic() - began:.1f}")
    print(
        f"one-off: the cost rules backfilled, part {part} of {parts} ({first:%m-%d %H:%M} to "
        f"{last:%m-%d %H:%M}, {done.steps} steps, {done.samples} samples, "
        f"{len(done.blocks)} blocks): {time.monotonic() - began:.0f} s",
        flush=True,
    )
    if all((data.parent / f"rules-part-{k}-of-{parts}").is_file() for k in range(1, parts + 1)):
        seconds = sum(
            float((data.parent / f"rules-part-{k}-of-{parts}").read_text())
            for k in range(1, parts + 1)
        )
        blocks = list(staged.iterdir())
        for block in blocks:
            shutil.move(str(block), data / block.name)
        (data / "rules-moved").write_text(end.isoformat())  # never backfilled twice
        print(
            f"one-off: the cost rules backfilled over {days} days + 3 h: {seconds:.0f} s in all "
            f"({len(blocks)} blocks moved into the data folder)",
            flush=True,
        )


def backfill_derived_rules(data: Path, end: datetime, days: int) -> None:
    """The derived rules (per namespace, per node) backfilled from the base rules' series
    the data folder holds (backfilled and compacted before), as `mooring cost backfill
    --rules derived` does; the blocks moved into `data`. Prints the time."""
    start, finish = backfill_span(end, days)
    server = HistoryPrometheus(data)
    began = time.monotonic()
    try:
        done = backfill_rules(
            server.url, start, finish, data.parent / "derived", into=data, rules="derived"
        )
    finally:
        server.stop()
    (data / "derived-moved").write_text(f"{time.monotonic() - began:.1f}")
    print(
        f"one-off: the derived cost rules backfilled from the base ones ({start:%m-%d %H:%M} to "
        f"{finish:%m-%d %H:%M}, {done.steps} steps, {done.samples} samples, "
        f"{len(done.blocks)} blocks moved into the data folder): "
        f"{time.monotonic() - began:.0f} s",
        flush=True,
    )


def compact_derived(data: Path) -> None:
    began = time.monotonic()
    compact(data, quiet_for=60)
    print(
        f"one-off: {time.monotonic() - began:.0f} s for Prometheus to compact the derived "
        "rules' blocks with the rest (of which 60 s waiting for it to settle)",
        flush=True,
    )
    (data / "derived-backfilled").write_text("done")


def compact_rules(data: Path, end: datetime) -> None:
    began = time.monotonic()
    compact(data, quiet_for=60)
    print(
        f"one-off: {time.monotonic() - began:.0f} s for Prometheus to compact the backfilled "
        "blocks with the history (of which 60 s waiting for it to settle)",
        flush=True,
    )
    (data / "rules-backfilled").write_text(end.isoformat())


async def prepare_cluster(kube: Kube, pods: int, prometheus: str) -> None:
    """CRDs, a PlatformConfig reading the history's Prometheus, namespaces and Tenants as
    the operator would make them, and the pods on the nodes the history says."""
    await apply_objects(kube, install())
    await kube.apply(
        {
            "apiVersion": API,
            "kind": "PlatformConfig",
            "metadata": {"name": "default"},
            "spec": {
                "tiers": {"small": {"quota": {"cpu": "8", "memory": "32Gi", "pods": 20}}},
                "cost": {"prometheusUrl": prometheus},
            },
        }
    )
    limit = asyncio.Semaphore(32)

    async def create(obj: dict[str, Any]) -> None:
        async with limit:
            await kube.apply(obj)

    tenants = -(-pods // PODS_PER_TENANT)
    await asyncio.gather(
        *(
            create(
                {
                    "apiVersion": API,
                    "kind": "Tenant",
                    "metadata": {"name": f"t{t:04d}"},
                    "spec": {
                        "owners": {"users": [f"owner{t}"]},
                        "environments": [{"name": "dev"}],
                        "budget": {"amountPerMonth": 100},
                    },
                }
            )
            for t in range(tenants)
        ),
        *(
            create(
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {
                        "name": f"t{t:04d}-dev",
                        "labels": {
                            "mooring.dev/tenant": f"t{t:04d}",
                            "mooring.dev/environment": "dev",
                        },
                    },
                }
            )
            for t in range(tenants)
        ),
    )
    started = time.monotonic()

    def pod(index: int) -> dict[str, Any]:
        ns, name, node = names(index)
        cpu, mem, _ = pod_shape(index)
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": "app"}},
            "spec": {
                "nodeName": node,
                "containers": [
                    {
                        "name": "app",
                        "image": "registry.example/app:1",
                        "resources": {
                            "requests": {"cpu": f"{int(cpu * 1000)}m", "memory": str(int(mem))}
                        },
                    }
                ],
            },
        }

    await asyncio.gather(*(create(pod(i)) for i in range(pods)))
    print(
        f"cluster: {pods} pods in {tenants} namespaces in {time.monotonic() - started:.0f} s",
        flush=True,
    )


def whole_report(
    kubeconfig: Path, prometheus: str, at: datetime, by: str, profile: Path | None = None
) -> tuple[float, int]:
    """`mooring cost report` as a process of its own: wall seconds and peak RSS bytes
    (`profile`: under cProfile, its statistics written there)."""
    profiler = ["-m", "cProfile", "-o", str(profile)] if profile else []
    command = [
        sys.executable, *profiler, "-m", "mooring.cli", "cost", "report",
        "--kubeconfig", str(kubeconfig), "--prometheus", prometheus,
        "--window", "30d", "--step", "1h", "--by", by,
        "-o", "json", "--write", os.devnull,
        "--at", at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    ]  # fmt: skip
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage_ = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(
            f"the report failed: {process.stderr.read().decode()[-2000:] if process.stderr else ''}"
        )
    return wall, usage_.ru_maxrss * 1024


async def promql_floor(prometheus: str, at: datetime, by: str) -> tuple[float, int, str]:
    """The report's queries replayed alone: wall seconds, how many queries, and where the
    report's figures come from (its source line)."""
    window = parse_window("30d", at, timedelta(hours=1))
    inputs = Inputs(window, window.buckets())
    async with Prometheus(prometheus, record=True) as client:
        # The benchmark's platform has no node pools: per namespace where recorded so.
        await measure_window(client, prometheus, inputs, {}, by, False, lambda *_: None, False)
        calls = list(client.calls or [])
    async with Prometheus(prometheus) as client:
        limit = asyncio.Semaphore(4)  # as the report: services.cost.CONCURRENT_QUERIES

        async def one(call: Any) -> int:
            async with limit:
                return len(await client.raw(call))

        started = time.monotonic()
        sizes = await asyncio.gather(*(one(c) for c in calls))
        wall = time.monotonic() - started
    print(f"  floor: {len(calls)} queries, {sum(sizes) / 2**20:.1f} MiB of answers", flush=True)
    return wall, len(calls), inputs.notes[0] if inputs.notes else ""


async def operator_refresh(
    kubeconfig: Path, runs: int, now: datetime
) -> list[tuple[float, float, int, int]]:
    """The operator's refresh (operator.cost.refresh_once: list the tenants, the month's
    queries and allocation, status writes, metrics, Events): (wall s, CPU s, status writes,
    peak Python heap bytes) per refresh."""
    results = []
    cache = MonthCache()  # the first refresh measures the month, the next ones the last day
    async with Kube.from_kubeconfig(kubeconfig) as kube:
        for _ in range(runs):
            tracemalloc.start()
            cpu, wall = time.process_time(), time.monotonic()
            _, result = await refresh_once(kube, cache=cache, now=now)
            elapsed, used = time.monotonic() - wall, time.process_time() - cpu
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            results.append((elapsed, used, result.written if result else 0, peak))
    return results


def main() -> None:
    global PODS_PER_TENANT  # read by the history's worker processes (forked)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--interval", type=int, default=1800, help="seconds between samples")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--pods-per-tenant", type=int, default=PODS_PER_TENANT, help="one namespace each"
    )
    parser.add_argument("--data", type=Path, default=None, help="reuse history written before")
    parser.add_argument(
        "--history-only", action="store_true", help="write the history into --data and stop"
    )
    parser.add_argument(
        "--backfill-parts", type=int, default=1, help="the backfill cut in this many parts"
    )
    parser.add_argument(
        "--one-step",
        action="store_true",
        help="do the next one-off step only (one backfill part, or the compaction after it) "
        "and stop: each fits a turn of the benchmark lock",
    )
    parser.add_argument(
        "--by", default="namespace,tenant", help="the report's groupings, comma-separated"
    )
    parser.add_argument(
        "--no-derived",
        dest="derived",
        action="store_false",
        help="do not backfill the derived (per-namespace) rules: reports then read the base "
        "rules' series per namespace and node, as on older installs",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also one report under cProfile, printed"
    )
    args = parser.parse_args()
    PODS_PER_TENANT = args.pods_per_tenant
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    # The history ends at the last whole hour; the report's window is the 30 days before.
    end = align(datetime.now(UTC), timedelta(hours=1))
    with tempfile.TemporaryDirectory(prefix="mooring-bench-cost-") as tmp:
        root = Path(tmp)
        data = args.data or root / "data"
        marker = data / "history-end"
        if not marker.is_file():
            # A history begun before (and interrupted) keeps its end: resumed, not restarted.
            plan = data / "history-plan"
            if plan.is_file():
                end = datetime.fromisoformat(plan.read_text())
            else:
                data.mkdir(parents=True, exist_ok=True)
                plan.write_text(end.isoformat())
            write_history(data, args.pods, args.days, args.interval, end)
            marker.write_text(end.isoformat())
        if args.history_only:
            return
        end = datetime.fromisoformat(marker.read_text())
        parts = args.backfill_parts
        for part in range(1, parts + 1):
            if (data / "rules-moved").is_file():
                break
            if not (data.parent / f"rules-part-{part}-of-{parts}").is_file():
                print(f"uptime: {_uptime()}", flush=True)
                backfill_cost_rules(data, end, args.days, part, parts)
                print(f"uptime: {_uptime()}", flush=True)
                if args.one_step:
                    return
        if not (data / "rules-backfilled").is_file():
            print(f"uptime: {_uptime()}", flush=True)
            compact_rules(data, end)
            print(f"uptime: {_uptime()}", flush=True)
            if args.one_step:
                return
        if args.derived and not (data / "derived-moved").is_file():
            print(f"uptime: {_uptime()}", flush=True)
            backfill_derived_rules(data, end, args.days)
            print(f"uptime: {_uptime()}", flush=True)
            if args.one_step:
                return
        if args.derived and not (data / "derived-backfilled").is_file():
            print(f"uptime: {_uptime()}", flush=True)
            compact_derived(data)
            print(f"uptime: {_uptime()}", flush=True)
            if args.one_step:
                return
        groupings = args.by.split(",")
        prometheus = HistoryPrometheus(data)
        cluster = DevCluster(root / "cluster", NodeShape(count=NODES, cpu="64", memory="256Gi"))
        earlier = end - timedelta(hours=2)
        try:
            cluster.up(say=lambda _: None)
            asyncio.run(_prepare(cluster, args.pods, prometheus.url))
            print(f"uptime before the timings: {_uptime()}", flush=True)
            reports = {
                (at, by): [
                    whole_report(cluster.kubeconfig_path, prometheus.url, at, by)
                    for _ in range(args.runs)
                ]
                for at in (end, earlier)
                for by in groupings
            }
            if args.profile:
                for at in (end, earlier):
                    path = root / "report.prof"
                    whole_report(cluster.kubeconfig_path, prometheus.url, at, groupings[0], path)
                    print(f"profile of one report at {at.isoformat()} (not timed):")
                    pstats.Stats(str(path)).sort_stats("cumulative").print_stats(30)
            floors = {
                (at, by): [
                    asyncio.run(promql_floor(prometheus.url, at, by)) for _ in range(args.runs)
                ]
                for at in (end, earlier)
                for by in groupings
            }
            refreshes = asyncio.run(
                operator_refresh(cluster.kubeconfig_path, args.runs, end + timedelta(minutes=5))
            )
            print(f"uptime after the timings: {_uptime()}", flush=True)
        finally:
            cluster.down(say=lambda _: None, purge=True)
            prometheus.stop()
    print(f"mooring cost report, {args.pods} pods, 30 days, 1 h step (median of {args.runs}):")
    for at, label in ((end, "at the hour the history ends"), (earlier, "two hours earlier")):
        for by in groupings:
            key = (at, by)
            wall = statistics.median(r[0] for r in reports[key])
            peak = max(r[1] for r in reports[key])
            floor = statistics.median(f[0] for f in floors[key])
            print(f"  --by {by}, {label} ({at.isoformat()}): {floors[key][0][2]}")
            print(
                f"    whole report: {wall:.2f} s wall, {peak / 2**20:.0f} MiB peak RSS "
                f"(aims: 5 s, 300 MB; runs: {', '.join(f'{r[0]:.2f}' for r in reports[key])})"
            )
            print(
                f"    PromQL floor (the same {floors[key][0][1]} queries alone): {floor:.2f} s "
                f"({floor / wall:.0%} of the report)"
            )
    tenants = -(-args.pods // PODS_PER_TENANT)
    for index, (elapsed, cpu, written, heap) in enumerate(refreshes):
        print(
            f"  operator refresh {index + 1}, {tenants} tenants' status.cost: {elapsed:.2f} s "
            f"wall, {cpu:.2f} s CPU, {written} status writes, {heap / 2**20:.0f} MiB peak heap"
        )
    print("  (refresh 1 measures the month so far; the next ones only the last day)")
    print(f"load after: {os.getloadavg()[0]:.2f}")


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


async def _prepare(cluster: DevCluster, pods: int, prometheus: str) -> None:
    async with Kube.from_kubeconfig(cluster.kubeconfig_path) as kube:
        await prepare_cluster(kube, pods, prometheus)


if __name__ == "__main__":
    main()
