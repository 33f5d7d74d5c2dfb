"""The dev cluster's Prometheus sees real series: kwok's simulated usage per container (as a
kubelet's /metrics/resource gives it) and the scheduler's requests per pod."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from mooring.devcluster.prometheus import DevPrometheus, query
from mooring.kube.client import Kube
from tests.conftest import eventually

pytestmark = pytest.mark.cluster


def _pod(namespace: str, usage_cpu: str, usage_memory: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "worker",
            "namespace": namespace,
            "annotations": {
                "kwok.x-k8s.io/usage-cpu": usage_cpu,
                "kwok.x-k8s.io/usage-memory": usage_memory,
            },
        },
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "registry.example/worker:1.0",
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "100Mi"},
                        "limits": {"cpu": "1", "memory": "1Gi"},
                    },
                }
            ]
        },
    }


def _value(series: list[dict[str, Any]]) -> float:
    assert len(series) == 1, series
    return float(series[0]["value"][1])


async def test_usage_from_annotations_and_requests_reach_prometheus(
    kube: Kube, dev_prometheus: DevPrometheus
) -> None:
    namespace = f"usage-{uuid.uuid4().hex[:6]}"
    await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    try:
        await kube.apply(_pod(namespace, "250m", "300Mi"))

        async def running() -> bool:
            pod = await kube.get_or_none("v1", "Pod", "worker", namespace)
            return bool(pod and (pod.get("status") or {}).get("phase") == "Running")

        await eventually(running, 30, "the pod Running on a kwok node")
        selector = f'namespace="{namespace}",pod="worker"'
        url = dev_prometheus.url

        memory = await asyncio.to_thread(
            dev_prometheus.wait_for, f"container_memory_working_set_bytes{{{selector}}}"
        )
        assert _value(memory) == 300 * 2**20
        assert memory[0]["metric"]["container"] == "main"
        assert memory[0]["metric"]["node"].startswith("kwok-node-")

        request = await asyncio.to_thread(
            dev_prometheus.wait_for, f'kube_pod_resource_request{{{selector},resource="cpu"}}'
        )
        assert _value(request) == pytest.approx(0.1)

        # CPU is a counter of core-seconds: its rate is the simulated usage (once the window
        # holds only samples of the running pod).
        rate = f"rate(container_cpu_usage_seconds_total{{{selector}}}[10s])"
        deadline = time.monotonic() + 60
        seen: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            seen = await asyncio.to_thread(query, url, rate)
            if seen and _value(seen) == pytest.approx(0.25, rel=0.1):
                break
            await asyncio.sleep(1)
        assert seen and _value(seen) == pytest.approx(0.25, rel=0.1), seen
    finally:
        await kube.delete("v1", "Namespace", namespace)
