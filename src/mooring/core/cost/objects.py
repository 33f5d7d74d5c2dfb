"""Inputs from Kubernetes objects as the API server returns them: who pods are, node
capacity, volume claims, load balancers, and requests of running pods.

Pure: objects and the window come in, resource-hours go out. What exists now is all the
API server knows: an object counts from its creation (a pod from its start) to the end
of the window; objects deleted before now are not seen. Reports say so when these are
the source (no Prometheus, or no kube-state-metrics for nodes and volumes).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from mooring.api.cost import GIB
from mooring.api.quantity import QuantityError, parse_quantity
from mooring.core.cost.inputs import (
    BalancerHours,
    ClaimHours,
    ContainerHours,
    Key,
    NodeHours,
    PodInfo,
)
from mooring.core.cost.window import Bucket, Window

Obj = Mapping[str, Any]
TERMINAL = ("Succeeded", "Failed")
_HASH = re.compile(r"^(.+)-([a-z0-9]{5,10})$")


def slim_pod(pod: Obj) -> dict[str, Any]:
    """The parts of a pod that cost reads (who it is, where it runs, what it requests and
    mounts): a tenth of a full pod, which matters at ten thousand of them."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    return {
        "metadata": {
            key: meta[key]
            for key in ("name", "namespace", "labels", "ownerReferences", "creationTimestamp")
            if key in meta
        },
        "spec": {
            "nodeName": spec.get("nodeName"),
            "containers": [
                {"name": c.get("name"), "resources": c.get("resources") or {}}
                for c in spec.get("containers") or []
            ],
            "volumes": [
                {"persistentVolumeClaim": v["persistentVolumeClaim"]}
                for v in spec.get("volumes") or []
                if v.get("persistentVolumeClaim")
            ],
        },
        "status": {key: status[key] for key in ("phase", "startTime") if key in status},
    }


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def hours_in(start: datetime | None, end: datetime | None, buckets: list[Bucket]) -> list[float]:
    """Hours of [start, end) inside each bucket (None: open on that side)."""
    result = []
    for bucket in buckets:
        low = max(start, bucket.start) if start else bucket.start
        high = min(end, bucket.end) if end else bucket.end
        result.append(max(0.0, (high - low).total_seconds() / 3600))
    return result


def _quantity(value: Any) -> float:
    if value is None:
        return 0.0
    try:
        return float(parse_quantity(value))
    except QuantityError:
        return 0.0


def _gpus(resources: Mapping[str, Any]) -> float:
    return sum(_quantity(v) for k, v in resources.items() if k.endswith("/gpu"))


def pod_info(pod: Obj) -> PodInfo:
    """A pod's node, labels and controller (a ReplicaSet's pods belong to its Deployment)."""
    meta = pod.get("metadata") or {}
    labels = dict(meta.get("labels") or {})
    kind = name = None
    for owner in meta.get("ownerReferences") or []:
        if owner.get("controller"):
            kind, name = owner.get("kind"), owner.get("name")
            break
    if kind == "ReplicaSet" and name and "pod-template-hash" in labels:
        deployment = str(name).removesuffix(f"-{labels['pod-template-hash']}")
        if deployment != name:
            kind, name = "Deployment", deployment
    elif kind == "Job" and name:
        match = _HASH.match(str(name))
        if match and match.group(2).isdigit():  # CronJob jobs are <cronjob>-<minutes>
            kind, name = "CronJob", match.group(1)
    return PodInfo(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        node=(pod.get("spec") or {}).get("nodeName"),
        labels=labels,
        controller_kind=kind,
        controller_name=name,
    )


def pods_by_key(pods: Iterable[Obj]) -> dict[Key, PodInfo]:
    return {(info.namespace, info.name): info for info in map(pod_info, pods)}


def running(pod: Obj) -> bool:
    """Scheduled and not finished: a pod the cluster holds resources for."""
    return (
        bool((pod.get("spec") or {}).get("nodeName"))
        and (pod.get("status") or {}).get("phase") not in TERMINAL
    )


def requested_containers(
    pods: Iterable[Obj], window: Window, buckets: list[Bucket]
) -> list[ContainerHours]:
    """Requests alone (no usage measured): each running pod's containers, from its start."""
    result = []
    for pod in pods:
        if not running(pod):
            continue
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        start = parse_time(status.get("startTime")) or parse_time(meta.get("creationTimestamp"))
        hours = hours_in(start, window.end, buckets)
        total = sum(hours)
        for container in (pod.get("spec") or {}).get("containers") or []:
            requests = (container.get("resources") or {}).get("requests") or {}
            cpu = _quantity(requests.get("cpu"))
            memory = _quantity(requests.get("memory")) / float(GIB)
            gpu = _gpus(requests)
            result.append(
                ContainerHours(
                    namespace=str(meta.get("namespace", "")),
                    pod=str(meta.get("name", "")),
                    container=str(container.get("name", "")),
                    cpu=[h * cpu for h in hours],
                    memory=[h * memory for h in hours],
                    gpu=[h * gpu for h in hours],
                    cpu_requested=total * cpu,
                    memory_requested=total * memory,
                )
            )
    return result


def node_capacity(nodes: Iterable[Obj], window: Window, buckets: list[Bucket]) -> list[NodeHours]:
    result = []
    for node in nodes:
        meta = node.get("metadata") or {}
        capacity = (node.get("status") or {}).get("capacity") or {}
        hours = hours_in(parse_time(meta.get("creationTimestamp")), window.end, buckets)
        cpu, memory, gpu = (
            _quantity(capacity.get("cpu")),
            _quantity(capacity.get("memory")) / float(GIB),
            _gpus(capacity),
        )
        result.append(
            NodeHours(
                name=str(meta.get("name", "")),
                labels=dict(meta.get("labels") or {}),
                cpu=[h * cpu for h in hours],
                memory=[h * memory for h in hours],
                gpu=[h * gpu for h in hours],
            )
        )
    return result


def claims(
    pvcs: Iterable[Obj], pods: Iterable[Obj], window: Window, buckets: list[Bucket]
) -> list[ClaimHours]:
    """Bound claims by requested size, from creation; with the running pods mounting them."""
    mounts: dict[tuple[str, str], list[str]] = {}
    for pod in pods:
        if not running(pod):
            continue
        meta = pod.get("metadata") or {}
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                key = (str(meta.get("namespace", "")), str(claim))
                mounts.setdefault(key, []).append(str(meta.get("name", "")))
    result = []
    for pvc in pvcs:
        if (pvc.get("status") or {}).get("phase") != "Bound":
            continue
        meta, spec = pvc.get("metadata") or {}, pvc.get("spec") or {}
        size = _quantity(((spec.get("resources") or {}).get("requests") or {}).get("storage"))
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        hours = hours_in(parse_time(meta.get("creationTimestamp")), window.end, buckets)
        result.append(
            ClaimHours(
                namespace=namespace,
                name=name,
                storage_class=spec.get("storageClassName"),
                gib_hours=[h * size / float(GIB) for h in hours],
                pods=tuple(sorted(set(mounts.get((namespace, name), [])))),
            )
        )
    return result


def balancers(
    services: Iterable[Obj], pods: Iterable[Obj], window: Window, buckets: list[Bucket]
) -> list[BalancerHours]:
    """Services of type LoadBalancer, from creation, with the running pods they select."""
    live = [p for p in pods if running(p)]
    result = []
    for service in services:
        spec = service.get("spec") or {}
        if spec.get("type") != "LoadBalancer":
            continue
        meta = service.get("metadata") or {}
        namespace = str(meta.get("namespace", ""))
        selector: Mapping[str, str] = spec.get("selector") or {}
        selected = (
            sorted(
                str((p.get("metadata") or {}).get("name", ""))
                for p in live
                if (p.get("metadata") or {}).get("namespace") == namespace
                and _matches(selector, (p.get("metadata") or {}).get("labels") or {})
            )
            if selector
            else []
        )
        result.append(
            BalancerHours(
                namespace=namespace,
                name=str(meta.get("name", "")),
                hours=hours_in(parse_time(meta.get("creationTimestamp")), window.end, buckets),
                pods=tuple(selected),
            )
        )
    return result


def _matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def namespace_labels(namespaces: Iterable[Obj]) -> dict[str, dict[str, str]]:
    return {
        str((ns.get("metadata") or {}).get("name", "")): dict(
            (ns.get("metadata") or {}).get("labels") or {}
        )
        for ns in namespaces
    }
