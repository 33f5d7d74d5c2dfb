"""Benchmark: N tenants with 2 environments each, applied at once, on the local control plane.

Prints, for the operator: time until every tenant is Ready, API requests per tenant (from
the API server's audit log), operator CPU seconds and peak memory, and drift-repair latency
(p50/p99 over deleted NetworkPolicies). In the same run, the floor: the same rendered
objects applied directly with `kubectl apply --server-side`, on a fresh control plane.

Usage: .venv/bin/python benchmarks/tenants.py [--tenants 1000] [--drift 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from mooring.api.platform import PlatformConfig
from mooring.api.tenant import Tenant
from mooring.core.render import Context, render_tenant
from mooring.core.render.platform import install, operator_user
from mooring.devcluster.binaries import ensure_built
from mooring.devcluster.cluster import DevCluster, NodeShape, free_port, operator_command
from mooring.kube.client import Kube
from mooring.services.install import apply_objects

API = "mooring.dev/v1alpha1"
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
"""
PLATFORM: dict[str, Any] = {
    "apiVersion": API,
    "kind": "PlatformConfig",
    "metadata": {"name": "default"},
    "spec": {
        "defaultTier": "small",
        "tiers": {
            "small": {
                "quota": {"cpu": "2", "memory": "4Gi", "pods": 20, "storage": "10Gi"},
                "containerDefaults": {
                    "defaultRequest": {"cpu": "100m", "memory": "64Mi"},
                    "defaultLimit": {"cpu": "200m", "memory": "128Mi"},
                },
            }
        },
    },
}


def tenants(count: int) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": API,
            "kind": "Tenant",
            "metadata": {"name": f"team{i:04d}"},
            "spec": {
                "owners": {"users": [f"owner{i}@example.com"]},
                "developers": {"groups": [f"team{i:04d}-devs"]},
                "environments": [{"name": "dev"}, {"name": "prod"}],
                "costCenter": f"cc-{i % 50}",
            },
        }
        for i in range(count)
    ]


def start_cluster(root: Path, name: str) -> DevCluster:
    audit = root / f"{name}-audit.yaml"
    audit.write_text(AUDIT_POLICY)
    cluster = DevCluster(
        root / name,
        NodeShape(count=4),
        apiserver_args=(
            f"--audit-policy-file={audit}",
            f"--audit-log-path={root / name}-audit.log",
            "--audit-log-format=json",
            "--audit-log-maxsize=0",
        ),
    )
    cluster.up(say=lambda _: None)
    return cluster


def requests_by(audit_log: Path, user: str, agent: str = "") -> Counter[str]:
    """Requests in the audit log made by `user` (with a user agent starting with `agent`)."""
    verbs: Counter[str] = Counter()
    with audit_log.open() as lines:
        for line in lines:
            event = json.loads(line)
            if event.get("user", {}).get("username") == user and event.get(
                "userAgent", ""
            ).startswith(agent):
                verbs[event["verb"]] += 1
    return verbs


def proc_stats(pid: int) -> tuple[float, int]:
    """CPU seconds (user+system) and peak resident memory in bytes of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    status = Path(f"/proc/{pid}/status").read_text()
    peak = next(
        int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmHWM")
    )
    return cpu, peak


async def prepare(cluster: DevCluster) -> None:
    async with Kube.from_kubeconfig(cluster.kubeconfig_path) as kube:
        await apply_objects(kube, install())
        await kube.apply(PLATFORM)


def floor(root: Path, bodies: list[dict[str, Any]], kubectl: Path) -> dict[str, float]:
    cluster = start_cluster(root, "floor")
    try:
        asyncio.run(prepare(cluster))
        platform = PlatformConfig.model_validate(PLATFORM).spec
        objects = [
            obj
            for body in bodies
            for obj in render_tenant(Context(Tenant.model_validate(body), platform))
        ]
        manifest = root / "floor.yaml"
        manifest.write_text(yaml.safe_dump_all(objects))
        env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig_path)}
        started = time.monotonic()
        subprocess.run(
            [str(kubectl), "apply", "--server-side", "--field-manager=floor", "-f", str(manifest)],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        elapsed = time.monotonic() - started
        verbs = requests_by(root / "floor-audit.log", "mooring-admin", agent="kubectl")
        return {"seconds": elapsed, "objects": len(objects), "requests": sum(verbs.values())}
    finally:
        cluster.down(say=lambda _: None, purge=True)


async def wait_all_ready(kube: Kube, count: int, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        items = await kube.list(API, "Tenant")
        ready = sum(
            1
            for t in items
            if (t.get("status") or {}).get("ready") == "True"
            and t["status"].get("observedGeneration") == t["metadata"]["generation"]
        )
        if ready >= count:
            return time.monotonic()
        await asyncio.sleep(0.25)
    raise TimeoutError(f"not all {count} tenants Ready in {timeout} s")


async def drift_latencies(kube: Kube, count: int, samples: int) -> list[float]:
    """Delete one managed NetworkPolicy at a time; time until its replacement exists."""
    latencies = []
    for i in range(samples):
        namespace = f"team{(i * 7919) % count:04d}-dev"
        await kube.delete(
            "networking.k8s.io/v1", "NetworkPolicy", "mooring-default-deny", namespace
        )
        deleted = time.monotonic()
        while True:
            found = await kube.get_or_none(
                "networking.k8s.io/v1", "NetworkPolicy", "mooring-default-deny", namespace
            )
            if found is not None:
                latencies.append(time.monotonic() - deleted)
                break
            if time.monotonic() - deleted > 30:
                raise TimeoutError(f"{namespace}: NetworkPolicy not restored in 30 s")
            await asyncio.sleep(0.005)
    return latencies


def operator_run(
    root: Path, bodies: list[dict[str, Any]], kubectl: Path, drift: int
) -> dict[str, Any]:
    cluster = start_cluster(root, "operator")
    process: subprocess.Popen[bytes] | None = None
    try:
        asyncio.run(prepare(cluster))
        config = cluster.operator_kubeconfig(root / "operator.kubeconfig")
        user, _ = operator_user()
        log = (root / "operator.log").open("wb")
        metrics_port = free_port()
        profile = (
            ["-m", "cProfile", "-o", os.environ["PROFILE"]] if os.environ.get("PROFILE") else []
        )
        process = subprocess.Popen(
            operator_command(config, metrics_port, "--log-level", "warning", python=profile),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        time.sleep(3)  # let kopf list and watch before the flood, as a running operator would
        manifest = root / "tenants.yaml"
        manifest.write_text(yaml.safe_dump_all(bodies))
        env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig_path)}
        cpu_before, _ = proc_stats(process.pid)

        async def measure() -> tuple[float, float, list[float]]:
            async with Kube.from_kubeconfig(cluster.kubeconfig_path) as kube:
                started = time.monotonic()
                subprocess.run(
                    [str(kubectl), "apply", "--server-side", "-f", str(manifest)],
                    env=env,
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
                applied = time.monotonic()
                done = await wait_all_ready(kube, len(bodies), timeout=1800)
                latencies = await drift_latencies(kube, len(bodies), drift)
                return done - started, applied - started, latencies

        total, apply_seconds, latencies = asyncio.run(measure())
        cpu_after, peak = proc_stats(process.pid)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics") as response:
            metrics = response.read().decode()
        reconciles = {
            line.split("result=")[1].split('"')[1]: float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("mooring_reconciles_total{")
        }
        log_text = (root / "operator.log").read_text()
        failures = sum(1 for line in log_text.splitlines() if "ERROR" in line)
        Path("benchmarks/out").mkdir(parents=True, exist_ok=True)
        Path("benchmarks/out/operator.log").write_text(log_text)  # for a look afterwards
        verbs = requests_by(root / "operator-audit.log", user)
        return {
            "seconds": total,
            "apply_seconds": apply_seconds,
            "requests": sum(verbs.values()),
            "verbs": dict(verbs),
            "cpu": cpu_after - cpu_before,
            "peak_rss": peak,
            "drift": latencies,
            "reconciles": reconciles,
            "failures": failures,
        }
    finally:
        if process is not None:
            process.send_signal(
                2 if os.environ.get("PROFILE") else 15
            )  # SIGINT lets cProfile write
            process.wait(timeout=60)
        cluster.down(say=lambda _: None, purge=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--drift", type=int, default=200, help="drift repairs to time")
    args = parser.parse_args()
    kubectl = ensure_built(say=lambda _: None)["kubectl"]
    bodies = tenants(args.tenants)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="mooring-bench-") as tmp:
        root = Path(tmp)
        base = floor(root, bodies, kubectl)
        run = operator_run(root, bodies, kubectl, args.drift)
    n = args.tenants
    drift = run["drift"]
    lines = [
        f"tenants: {n} x 2 environments ({base['objects']} rendered objects); "
        f"load avg at start {load:.2f}",
        f"floor  kubectl apply --server-side: {base['seconds']:.1f} s, "
        f"{base['requests'] / n:.1f} API requests per tenant",
        f"mooring operator: all Ready after {run['seconds']:.1f} s "
        f"(tenants applied in {run['apply_seconds']:.1f} s), "
        f"{run['requests'] / n:.1f} API requests per tenant {run['verbs']}",
        f"reconciles by result: {run['reconciles']}; "
        f"error lines in the operator log: {run['failures']}",
        f"ratio to floor: {run['seconds'] / base['seconds']:.2f}x (aim: <= 1.5x)",
        f"operator CPU: {run['cpu']:.1f} s; peak memory (VmHWM): "
        f"{run['peak_rss'] / 2**20:.0f} MiB (aim: < 200)",
        f"drift repair ({len(drift)} deleted NetworkPolicies): "
        f"p50 {statistics.median(drift) * 1000:.0f} ms, "
        f"p99 {percentile(drift, 0.99) * 1000:.0f} ms, max {max(drift) * 1000:.0f} ms "
        "(aim: p99 < 1 s)",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
