"""Benchmark: what each tenant costs in the operator's memory, part by part.

Builds, in this process, the state the operator keeps for N tenants (2 environments each)
with the operator's own classes and the objects the API server would send (rendered by the
core, with the metadata a server adds), and measures each part with tracemalloc:

- the tenants' informers (namespaces, role bindings, quotas, limit ranges, network
  policies: what drift repair and reconcile read);
- the Tenants as kopf's watch last showed them (operator/tenants.py, Bodies);
- kopf's own memory of each Tenant (its per-object state and copy of the memo);
- the guardrails: parsed Tenants, namespace map, versions, and their informers' caches;
- the render cache (the last 128 tenants' rendered objects);
- kopf's backlog when every Tenant waits for one of its workers at once (after a restart,
  or a flood): per object, kopf's Stream (its queue with the Tenant's watch event as the
  API server sends it, with managedFields, and its Event) and the worker not started yet,
  as kopf keeps it and with operator/kopf_fixes.py's compact backlog.

Fast and exact, unlike tracemalloc on a running operator (which runs several times slower);
benchmarks/tenants.py measures the real process's peak (VmHWM) beside it.

Usage: .venv/bin/python benchmarks/operator_memory.py [--tenants 1000 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import tracemalloc
import uuid
from collections.abc import Callable
from typing import Any

import kopf
from kopf._core.reactor import inventory, queueing

from mooring.api.platform import PlatformConfig
from mooring.api.tenant import Tenant
from mooring.core.policy.context import build_context
from mooring.core.render import Context, render_tenant
from mooring.kube.informer import Informer, _key, metadata_only, slim
from mooring.operator import kopf_fixes
from mooring.operator.guardrails import Guardrails
from mooring.operator.tenants import RENDER_CACHE, Bodies, _tenant_label

PLATFORM: dict[str, Any] = {
    "apiVersion": "mooring.dev/v1alpha1",
    "kind": "PlatformConfig",
    "metadata": {"name": "default", "generation": 1, "resourceVersion": "1"},
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
NOW = datetime.datetime(2026, 11, 30, tzinfo=datetime.UTC)
STEPS = ("Ready", "NamespacesReady", "AccessReady", "QuotaReady", "LimitsReady", "NetworkReady")


def served(obj: dict[str, Any], version: int) -> dict[str, Any]:
    """The object as the API server sends it back: uid, version, times, managedFields."""
    meta = dict(obj["metadata"])
    meta.update(
        uid=str(uuid.uuid4()),
        resourceVersion=str(version),
        creationTimestamp="2026-11-30T10:00:00Z",
        generation=1,
        managedFields=[
            {
                "manager": "mooring",
                "operation": "Apply",
                "apiVersion": obj["apiVersion"],
                "time": "2026-11-30T10:00:00Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {}}, "f:spec": {}},
            }
        ],
    )
    return {**obj, "metadata": meta}


def tenant_body(i: int) -> dict[str, Any]:
    name = f"team{i:05d}"
    namespaces = [
        {
            "name": f"{name}-{env}",
            "environment": env,
            "phase": "Active",
            "quota": [
                {"resource": r, "used": "0", "hard": h}
                for r, h in (
                    ("limits.cpu", "4"),
                    ("limits.memory", "8Gi"),
                    ("pods", "20"),
                    ("requests.cpu", "2"),
                    ("requests.memory", "4Gi"),
                    ("requests.storage", "10Gi"),
                )
            ],
        }
        for env in ("dev", "prod")
    ]
    return {
        "apiVersion": "mooring.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {
            "name": name,
            "uid": str(uuid.uuid4()),
            "generation": 1,
            "resourceVersion": str(10_000 + i),
            "creationTimestamp": "2026-11-30T10:00:00Z",
            "finalizers": ["mooring.dev/finalizer"],
        },
        "spec": {
            "owners": {"users": [f"owner{i}@example.com"]},
            "developers": {"groups": [f"{name}-devs"]},
            "environments": [{"name": "dev"}, {"name": "prod"}],
            "costCenter": f"cc-{i % 50}",
        },
        "status": {
            "observedGeneration": 1,
            "tier": "small",
            "ready": "True",
            "namespaceCount": 2,
            "namespaces": namespaces,
            "conditions": [
                {
                    "type": step,
                    "status": "True",
                    "reason": "Reconciled" if step == "Ready" else "Applied",
                    "message": "all objects applied" if step == "Ready" else "",
                    "lastTransitionTime": "2026-11-30T10:00:05Z",
                    "observedGeneration": 1,
                }
                for step in STEPS
            ],
        },
    }


def measure(what: str, n: int, build: Callable[[], Any]) -> tuple[Any, int]:
    gc.collect()
    before, _ = tracemalloc.get_traced_memory()
    kept = build()
    gc.collect()
    after, _ = tracemalloc.get_traced_memory()
    size = after - before
    print(
        f"  {what:<58} {size / 2**20:8.1f} MiB  {size / n / 1024:6.1f} KiB per tenant",
        flush=True,
    )
    return kept, size


async def one_size(n: int) -> None:
    print(f"== {n} tenants x 2 environments", flush=True)
    platform = PlatformConfig.model_validate(PLATFORM).spec
    bodies = [tenant_body(i) for i in range(n)]
    children: list[dict[str, Any]] = []
    version = 100_000
    for body in bodies:
        for obj in render_tenant(Context(Tenant.model_validate(body), platform)):
            version += 1
            children.append(served(obj, version))
    total = 0
    kept: list[Any] = []

    def informers() -> dict[str, Informer]:
        made: dict[str, Informer] = {}
        for obj in children:
            kind = obj["kind"]
            if kind not in made:
                made[kind] = Informer(None, obj["apiVersion"], kind, index=_tenant_label)  # type: ignore[arg-type]
            made[kind]._store(_key(obj), slim(obj))
        return made

    def tenants() -> Bodies:
        remembered = Bodies()
        for body in bodies:
            remembered[body["metadata"]["name"]] = slim(body)
        return remembered

    def guardrails() -> Guardrails:
        state = Guardrails(None)  # type: ignore[arg-type]
        for kind, keep in (("Tenant", metadata_only), ("Namespace", metadata_only)):
            state.informers[kind] = Informer(None, "v1", kind, keep=keep)  # type: ignore[arg-type]
        state.informers["GuardrailContext"] = Informer(None, "v1", "GuardrailContext")  # type: ignore[arg-type]
        for body in bodies:
            state._on_tenant("ADDED", body)
            state.informers["Tenant"]._store(_key(body), metadata_only(body))
        for obj in children:
            if obj["kind"] == "Namespace":
                state._on_namespace("ADDED", obj)
                state.informers["Namespace"]._store(_key(obj), slim(obj))
                context = served(
                    build_context(
                        obj["metadata"]["name"],
                        platform,
                        tenants=[
                            state.tenants.get(obj["metadata"]["labels"]["mooring.dev/tenant"])
                        ],  # type: ignore[list-item]
                        now=NOW,
                    ),
                    1,
                )
                state.informers["GuardrailContext"]._store(
                    (obj["metadata"]["name"], "guardrails"), slim(context)
                )
                state.verified[obj["metadata"]["name"]] = "1"
                state.reported[obj["metadata"]["name"]] = hash(obj["metadata"]["name"])
        return state

    def render_cache() -> list[Any]:
        return [
            {
                (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o
                for o in render_tenant(Context(Tenant.model_validate(body), platform))
            }
            for body in bodies[:RENDER_CACHE]
        ]

    for what, build in (
        ("tenants' informers (children, compact JSON + indexes)", informers),
        ("Tenants as kopf's watch showed them (Bodies)", tenants),
        ("guardrails (parsed Tenants, maps, their caches)", guardrails),
        ("render cache (128 tenants)", render_cache),
    ):
        made, size = measure(what, n, build)
        kept.append(made)
        total += size
    memories = inventory.ResourceMemories()
    memobase = kopf.Memo(options=None, kube=None, watches=None, guardrails=None)

    async def recall_all() -> None:
        for body in bodies:
            await memories.recall(body, memobase=memobase)

    gc.collect()
    before, _ = tracemalloc.get_traced_memory()
    await recall_all()
    gc.collect()
    after, _ = tracemalloc.get_traced_memory()
    size = after - before
    total += size
    print(
        f"  {'kopf per-object memory (ResourceMemory, memo copy)':<58} "
        f"{size / 2**20:8.1f} MiB  {size / n / 1024:6.1f} KiB per tenant"
    )
    print(
        f"  {'in all':<58} {total / 2**20:8.1f} MiB  {total / n / 1024:6.1f} KiB per tenant",
        flush=True,
    )
    await backlog(n)


async def backlog(n: int) -> None:
    """kopf's per-object streams for n Tenants waiting at once, each with its watch event
    (as served: managedFields, kopf's record in status.kopf) and its worker coroutine not
    started."""

    settings = kopf.OperatorSettings()
    signaller = asyncio.Condition()

    async def fill() -> int:
        gc.collect()
        before, _ = tracemalloc.get_traced_memory()
        streams: dict[str, Any] = {}
        pending = []
        for i in range(n):
            body = served(tenant_body(i), 10_000 + i)
            body.setdefault("status", {})["kopf"] = {"last-handled-configuration": '{"spec":{}}'}
            key = body["metadata"]["uid"]
            streams[key] = queueing.Stream(backlog=asyncio.Queue(), pressure=asyncio.Event())
            streams[key].backlog.put_nowait({"type": "MODIFIED", "object": body})
            del body
            pending.append(
                queueing.worker(
                    signaller=signaller,
                    settings=settings,
                    processor=None,  # type: ignore[arg-type]
                    streams=streams,  # type: ignore[arg-type]
                    key=key,  # type: ignore[arg-type]
                )
            )
        gc.collect()
        size = tracemalloc.get_traced_memory()[0] - before
        for coroutine in pending:
            coroutine.close()
        return size

    plain = await fill()
    installed = kopf_fixes.install()
    compact = await fill()
    for what, size in (
        ("kopf's backlog, every Tenant waiting (as kopf keeps it)", plain),
        (f"kopf's backlog, compact (kopf_fixes installed: {installed})", compact),
    ):
        print(f"  {what:<58} {size / 2**20:8.1f} MiB  {size / n / 1024:6.1f} KiB per tenant")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tenants", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    tracemalloc.start()
    for n in args.tenants:
        asyncio.run(one_size(n))


if __name__ == "__main__":
    main()
