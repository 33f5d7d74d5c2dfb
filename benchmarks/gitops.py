"""Benchmark: merge to Ready through a real Argo CD (3.2.11, built from its Go module).

Each phase runs on a fresh local control plane with its own Argo CD, Git repository and
Mooring operator (the local GitOps loop of `mooring dev up --gitops`):

1. hook:     50 team files committed and pushed one by one, the next after the previous is
             Ready; the push refreshes Argo CD (the post-receive hook, as a Git webhook does).
             Merge-to-Ready p50/p99.
2. polling:  the same 50 files, one push every --interval seconds, no hook: Argo CD's polling
             defaults (app resync 120 s + jitter 60 s, revision cache 3 min, ApplicationSet
             requeue 3 min). Merge-to-Ready p50/p99.
3. merge:    --many team files in one merge (hook on): time until every Tenant is Ready, and
             Argo CD's memory (RSS, and PSS: the four processes share one 190 MB binary).
4. apply:    the same files with `mooring apply` (no Argo CD), on a fresh control plane: the
             floor the merge is measured against, in the same run.
5. folder:   (--folder) as 3, with one Argo CD Application for the whole tenants/ folder
             instead of one per team: what `mooring init --tenants application` would give.

Usage: .venv/bin/python benchmarks/gitops.py [--teams 50] [--many 500] [--interval 5]
       [--phases hook,polling,merge,apply,folder]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from mooring.demo.localgitops import LocalGitOps, start_operator
from mooring.devcluster.argocd import COMPONENTS, Polling
from mooring.devcluster.cluster import DevCluster, NodeShape
from mooring.gitops.repository import TenantsDelivery
from mooring.kube.client import Kube

API = "mooring.dev/v1alpha1"
PLATFORM: dict[str, Any] = {
    "apiVersion": API,
    "kind": "PlatformConfig",
    "metadata": {"name": "default"},
    "spec": {
        "defaultTier": "small",
        "capacity": {"cpu": "100000", "memory": "1000Ti", "storage": "10000Ti"},
        "tiers": {
            "small": {
                "quota": {"cpu": "2", "memory": "4Gi", "pods": 20, "storage": "10Gi"},
                "containerDefaults": {
                    "defaultRequest": {"cpu": "100m", "memory": "64Mi"},
                    "defaultLimit": {"cpu": "200m", "memory": "128Mi"},
                },
            }
        },
        "guardrails": {"defaultMode": "audit"},
    },
}


def team_file(name: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": API,
            "kind": "Tenant",
            "metadata": {"name": name},
            "spec": {
                "owners": {"users": [f"{name}@example.com"]},
                "developers": {"groups": [f"{name}-devs"]},
                "environments": [{"name": "dev"}, {"name": "prod"}],
            },
        },
        sort_keys=False,
    )


def say(message: str) -> None:
    print(message, flush=True)


@contextmanager
def loop(
    name: str,
    hook: bool = True,
    polling: Polling | None = None,
    tenants: TenantsDelivery = "applicationset",
) -> Iterator[LocalGitOps]:
    folder = Path(tempfile.mkdtemp(prefix=f"mooring-bench-gitops-{name}-"))
    cluster = DevCluster(folder / "state", NodeShape(count=4))
    cluster.up(say=lambda _: None)
    try:
        gitops = LocalGitOps(
            cluster,
            lambda _: None,
            polling=polling or Polling(),
            hook=hook,
            platform_config=PLATFORM,
            tenants=tenants,
        )
        gitops.up(timeout=300)
        start_operator(cluster)
        asyncio.run(_platform_ready(gitops))
        yield gitops
    finally:
        cluster.down(say=lambda _: None, purge=True)


async def _platform_ready(gitops: LocalGitOps) -> None:
    async with gitops.kube() as kube:
        while True:
            config = await kube.get_or_none(API, "PlatformConfig", "default")
            conditions = ((config or {}).get("status") or {}).get("conditions") or []
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                return
            await asyncio.sleep(0.2)


async def wait_ready(kube: Kube, names: set[str], timeout: float) -> dict[str, float]:
    """Watch Tenants until every one of `names` is Ready (at its generation): name -> time."""
    ready: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(ready) < len(names):
        items, version = await kube.list_with_version(API, "Tenant")
        for item in items:
            _note(item, names, ready)
        if len(ready) == len(names):
            break
        try:
            async with asyncio.timeout(max(1.0, deadline - time.monotonic())):
                async for event, obj in kube.watch(API, "Tenant", resource_version=version):
                    if event != "BOOKMARK":
                        _note(obj, names, ready)
                    if len(ready) == len(names):
                        break
        except TimeoutError:
            missing = sorted(names - set(ready))
            raise TimeoutError(f"{len(missing)} tenants not Ready, e.g. {missing[:5]}") from None
    return ready


def _note(obj: dict[str, Any], names: set[str], ready: dict[str, float]) -> None:
    name = obj["metadata"]["name"]
    status = obj.get("status") or {}
    if (
        name in names
        and name not in ready
        and status.get("ready") == "True"
        and status.get("observedGeneration") == obj["metadata"].get("generation")
    ):
        ready[name] = time.monotonic()


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (
        f"p50 {statistics.median(ordered):.2f} s, p99 {p99:.2f} s, "
        f"min {ordered[0]:.2f} s, max {ordered[-1]:.2f} s"
    )


def one_by_one(gitops: LocalGitOps, teams: int, interval: float | None) -> list[float]:
    """Push one team at a time. interval None: wait for each to be Ready before the next."""
    repo = gitops.repo

    async def run() -> list[float]:
        latencies = []
        pushed: dict[str, float] = {}
        async with gitops.kube() as kube:
            for index in range(teams):
                name = f"one{index:03d}"
                repo.write({f"tenants/{name}.yaml": team_file(name)})
                repo.commit(f"{name} joins")
                pushed[name] = time.monotonic()
                repo.push()
                if interval is None:
                    done = await wait_ready(kube, {name}, 300)
                    latencies.append(done[name] - pushed[name])
                else:
                    await asyncio.sleep(max(0.0, pushed[name] + interval - time.monotonic()))
            if interval is not None:
                done = await wait_ready(kube, set(pushed), 900)
                latencies = [done[n] - pushed[n] for n in pushed]
        return latencies

    return asyncio.run(run())


def one_merge(gitops: LocalGitOps, many: int) -> tuple[float, dict[str, Any]]:
    repo = gitops.repo
    names = {f"many{index:04d}" for index in range(many)}
    repo.checkout(repo.branch)
    repo.checkout("many-teams", create=True)
    repo.write({f"tenants/{name}.yaml": team_file(name) for name in names})
    repo.commit(f"{many} teams")
    repo.merge("many-teams", f"Merge pull request: {many} teams")

    async def run() -> float:
        async with gitops.kube() as kube:
            pushed = time.monotonic()
            repo.push()
            done = await wait_ready(kube, names, 1800)
            return max(done.values()) - pushed

    seconds = asyncio.run(run())
    time.sleep(10)  # let the controllers settle before reading their memory
    return seconds, memory(gitops.cluster)


def memory(cluster: DevCluster) -> dict[str, Any]:
    state = cluster.state()
    assert state is not None
    figures: dict[str, Any] = {}
    for name in COMPONENTS:
        pid = state.components[name].pid
        rss = pss = 0
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1]) // 1024
            elif line.startswith("Pss:"):
                pss = int(line.split()[1]) // 1024
        figures[name] = (rss, pss)
    return figures


def apply_many(many: int) -> float:
    """`mooring apply` of the same team files on a fresh control plane with the operator."""
    folder = Path(tempfile.mkdtemp(prefix="mooring-bench-apply-"))
    cluster = DevCluster(folder / "state", NodeShape(count=4))
    cluster.up(say=lambda _: None)
    try:
        env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig_path)}
        mooring = [sys.executable, "-m", "mooring.cli"]
        subprocess.run([*mooring, "install", "apply"], env=env, check=True, capture_output=True)
        repo = folder / "repo"
        (repo / "tenants").mkdir(parents=True)
        (repo / "platform.yaml").write_text(yaml.safe_dump(PLATFORM))
        subprocess.run(
            [*mooring, "apply", str(repo / "platform.yaml")],
            env=env,
            check=True,
            capture_output=True,
        )
        start_operator(cluster)
        names = {f"many{index:04d}" for index in range(many)}
        for name in names:
            (repo / "tenants" / f"{name}.yaml").write_text(team_file(name))

        async def run() -> float:
            async with Kube.from_kubeconfig(cluster.kubeconfig_path) as kube:
                started = time.monotonic()
                subprocess.run(
                    [*mooring, "apply", str(repo)], env=env, check=True, capture_output=True
                )
                done = await wait_ready(kube, names, 1800)
                return max(done.values()) - started

        return asyncio.run(run())
    finally:
        cluster.down(say=lambda _: None, purge=True)


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def merge_phase(phase: str, delivery: TenantsDelivery, many: int) -> None:
    with loop(phase, tenants=delivery) as gitops:
        seconds, figures = one_merge(gitops, many)
    rss = sum(r for r, _ in figures.values())
    pss = sum(p for _, p in figures.values())
    say(
        f"{phase} ({delivery}): {many} teams (2 environments each) in one merge, "
        f"all Ready in {seconds:.1f} s"
    )
    say(
        f"  Argo CD memory at {many} tenants: RSS {rss} MiB, PSS {pss} MiB ("
        + ", ".join(f"{n.removeprefix('argocd-')} {r}/{p}" for n, (r, p) in figures.items())
        + " MiB RSS/PSS)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--teams", type=int, default=50)
    parser.add_argument("--many", type=int, default=500)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--phases", default="hook,merge,apply,folder,polling")
    args = parser.parse_args()
    phases = args.phases.split(",")
    say(f"machine: {os.cpu_count()} cores; load at start: {load()}")
    for phase in phases:
        if phase == "hook":
            with loop("hook") as gitops:
                latencies = one_by_one(gitops, args.teams, None)
            say(f"hook: {args.teams} teams one by one, merge to Ready: {percentiles(latencies)}")
        elif phase == "merge":
            merge_phase("merge", "applicationset", args.many)
        elif phase == "folder":
            merge_phase("folder", "application", args.many)
        elif phase == "apply":
            seconds = apply_many(args.many)
            say(f"mooring apply: the same {args.many} files, all Ready in {seconds:.1f} s")
        elif phase == "polling":
            with loop("polling", hook=False) as gitops:
                latencies = one_by_one(gitops, args.teams, args.interval)
            say(
                f"polling defaults: {args.teams} teams, one push every {args.interval:.0f} s, "
                f"merge to Ready: {percentiles(latencies)}"
            )
        say(f"  load: {load()}")


if __name__ == "__main__":
    main()
