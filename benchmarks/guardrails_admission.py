"""Benchmark: Pod create latency at admission, with the guardrail pack installed and without.

Run: MOORING_CACHE=... .venv/bin/python benchmarks/guardrails_admission.py [--pods N]

On the local control plane (started here, in a temporary folder): 50 concurrent clients
each create pods; every create's latency is recorded. First without any guardrail policy,
then with the whole pack (one ValidatingAdmissionPolicy per target, enforce bindings for
the namespace's tenant, its GuardrailContext as params). The pods comply with every rule, so
each create runs every policy to the end and is admitted. The pods carry a scheduling gate:
the scheduler and kwok leave them alone, so the figure is the API server's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mooring.api import names
from mooring.api.base import ObjectMeta
from mooring.api.crd import crd
from mooring.api.guardrails import GuardrailSettings
from mooring.api.kinds import GUARDRAIL_CONTEXT, POLICY_EXCEPTION
from mooring.api.tenant import Environment, Subjects, Tenant, TenantSpec
from mooring.core.policy.admission import admission_objects
from mooring.core.policy.context import build_context
from mooring.core.policy.rules import select
from mooring.devcluster.cluster import DevCluster
from mooring.kube.client import Forbidden, Kube
from mooring.services.install import apply_objects

CLIENTS = 50


def pod(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "bench"}},
        "spec": {
            "schedulingGates": [{"name": "mooring.dev/benchmark"}],
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example.com/app:1.0",
                    "imagePullPolicy": "Always",
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "16Mi"},
                        "limits": {"cpu": "20m", "memory": "32Mi"},
                    },
                }
            ],
        },
    }


async def namespace(kube: Kube, name: str, tenant: str | None) -> None:
    labels = {names.LABEL_TENANT: tenant} if tenant else {}
    await kube.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
    )
    while await kube.get_or_none("v1", "ServiceAccount", "default", name) is None:
        await asyncio.sleep(0.2)


async def phase(kubeconfig: Path, ns: str, pods: int, prefix: str) -> list[float]:
    """`pods` creates by CLIENTS clients at once; each create's seconds."""
    latencies: list[float] = []
    per_client = pods // CLIENTS

    async def client(index: int) -> None:
        async with Kube.from_kubeconfig(kubeconfig) as kube:
            await kube.resource("v1", "Pod")  # discovery outside the timing
            for n in range(per_client):
                started = time.perf_counter()
                await kube.create(pod(f"{prefix}-{index}-{n}", ns))
                latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(client(i) for i in range(CLIENTS)))
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def describe(label: str, values: list[float], seconds: float) -> str:
    return (
        f"  {label:<16} p50 {statistics.median(values) * 1000:6.1f} ms   "
        f"p99 {percentile(values, 0.99) * 1000:6.1f} ms   "
        f"mean {statistics.mean(values) * 1000:6.1f} ms   {len(values) / seconds:6.0f} creates/s"
    )


async def run(kubeconfig: Path, pods: int, rules: list[str]) -> None:
    async with Kube.from_kubeconfig(kubeconfig) as kube:
        await apply_objects(kube, [crd(GUARDRAIL_CONTEXT), crd(POLICY_EXCEPTION)])
        await namespace(kube, "bench-without", None)
        await namespace(kube, "bench-with", "bench")
        # Warm the API server up (caches, connections) before anything is timed.
        await phase(kubeconfig, "bench-without", CLIENTS * 4, "warm")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        started = time.perf_counter()
        without = await phase(kubeconfig, "bench-without", pods, "p")
        without_seconds = time.perf_counter() - started
        # The pack: every rule enforced for tenant "bench"; its context in the namespace.
        tenant = Tenant(
            metadata=ObjectMeta(name="bench"),
            spec=TenantSpec(owners=Subjects(users=["bench"]), environments=[Environment(name="x")]),
        )
        objects = admission_objects(GuardrailSettings(), [tenant], select(rules))
        await kube.apply(build_context("bench-with", None, now=datetime.now(UTC)))
        for obj in objects:
            await kube.apply(obj)
        probe = pod("probe", "bench-with")
        probe["spec"]["containers"][0]["image"] = "registry.example.com/app:latest"
        probe["spec"]["containers"][0]["securityContext"]["privileged"] = True
        del probe["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"]
        while True:  # until the API server enforces the pack
            try:
                await kube.create(probe, dry_run=True)
            except Forbidden:
                break
            await asyncio.sleep(0.2)
        started = time.perf_counter()
        with_pack = await phase(kubeconfig, "bench-with", pods, "p")
        with_seconds = time.perf_counter() - started
        print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{pods} pod creates, {CLIENTS} concurrent clients, {len(objects)} admission objects")
    print(describe("without the pack", without, without_seconds))
    print(describe("with the pack", with_pack, with_seconds))
    print(
        f"  p50 +{(statistics.median(with_pack) - statistics.median(without)) * 1000:.1f} ms, "
        f"p99 +{(percentile(with_pack, 0.99) - percentile(without, 0.99)) * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--rule", action="append", default=[], help="only these rules")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        cluster = DevCluster(Path(state) / "state")
        cluster.up(say=lambda message: print(f"[controlplane] {message}", flush=True))
        try:
            asyncio.run(run(cluster.kubeconfig_path, args.pods, args.rule))
        finally:
            cluster.down(say=lambda message: None, purge=True)


if __name__ == "__main__":
    main()
