"""Benchmark: what the per-tenant Tenant readers cost the API server's authorizer.

Each tenant gets a ClusterRole and a ClusterRoleBinding (`mooring-tenant:<name>`) so its
members can read their own Tenant. Kubernetes' RBAC authorizer looks through every
ClusterRoleBinding on each request, so this measures a member's request latency (GETs of a
ConfigMap in a namespace it may read, one at a time) with 0, then N, then 3N tenants'
readers in the cluster, on the local control plane, in one run.

Usage: .venv/bin/python benchmarks/tenant_readers.py [--tenants 1000] [--requests 500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from mooring.api.platform import PlatformConfigSpec
from mooring.api.tenant import Tenant
from mooring.core.render.context import Context
from mooring.core.render.rbac import tenant_reader
from mooring.devcluster.cluster import DevCluster, NodeShape
from mooring.kube.client import Kube

NAMESPACE = "bench"


async def latencies(member: Kube, requests: int) -> list[float]:
    for _ in range(20):  # warm up connections and caches
        await member.get("v1", "ConfigMap", "probe", NAMESPACE)
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        await member.get("v1", "ConfigMap", "probe", NAMESPACE)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def add_readers(admin: Kube, first: int, count: int) -> None:
    spec = PlatformConfigSpec.model_validate(
        {"tiers": {"small": {"quota": {"cpu": "1", "memory": "1Gi", "pods": 1}}}}
    )
    limit = asyncio.Semaphore(16)

    async def one(index: int) -> None:
        name = f"bench{index:05d}"
        member = Tenant.model_validate(
            {
                "metadata": {"name": name},
                "spec": {"owners": {"users": [f"{name}-owner"]}, "environments": [{"name": "a"}]},
            }
        )
        objects = tenant_reader(Context(member, spec))
        async with limit:
            for obj in objects:  # the role before its binding
                await admin.apply(obj)

    await asyncio.gather(*(one(i) for i in range(first, first + count)))


def row(label: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    return (
        f"| {label} | {statistics.mean(samples):.2f} ms | {statistics.median(samples):.2f} ms "
        f"| {p99:.2f} ms |"
    )


def main(tenants: int, requests: int, state: Path) -> None:
    cluster = DevCluster(state, NodeShape(count=1))
    cluster.up(say=lambda m: None)
    try:
        asyncio.run(measure(cluster, tenants, requests, state))
    finally:
        cluster.down(say=lambda m: None, purge=True)


async def measure(cluster: DevCluster, tenants: int, requests: int, state: Path) -> None:
    member_config = state / "member.kubeconfig"
    member_config.write_text(cluster.mint_kubeconfig("bench-member", ()))
    async with (
        Kube.from_kubeconfig(cluster.kubeconfig_path) as admin,
        Kube.from_kubeconfig(member_config) as member,
    ):
        await admin.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        )
        await admin.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "probe", "namespace": NAMESPACE},
                "data": {"a": "b"},
            }
        )
        await admin.apply(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "member-view", "namespace": NAMESPACE},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "view",
                },
                "subjects": [
                    {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "User",
                        "name": "bench-member",
                    }
                ],
            }
        )
        await asyncio.sleep(2)  # the authorizer's caches see the binding
        print(f"load average at start: {os.getloadavg()[0]:.2f}")
        print("| tenant readers in the cluster | mean | p50 | p99 |")
        print("| --- | --- | --- | --- |")
        print(row("0", await latencies(member, requests)))
        await add_readers(admin, 0, tenants)
        await asyncio.sleep(2)
        print(row(f"{tenants}", await latencies(member, requests)))
        await add_readers(admin, tenants, 2 * tenants)
        await asyncio.sleep(2)
        print(row(f"{3 * tenants}", await latencies(member, requests)))
        print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=500)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mooring-bench-readers-") as folder:
        main(options.tenants, options.requests, Path(folder) / "state")
