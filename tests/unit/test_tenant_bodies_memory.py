"""The operator's Tenants as its watch last saw them (operator/tenants.py, Bodies) cost a few
hundred bytes each once Ready (issue 14's memory), and come back as they were stored."""

from __future__ import annotations

import copy
import json
import tracemalloc
from typing import Any

from mooring.api import names
from mooring.kube.informer import slim
from mooring.operator.tenants import Bodies

STEPS = ("Ready", "NamespacesReady", "AccessReady", "QuotaReady", "LimitsReady", "NetworkReady")
QUOTA = (("limits.cpu", "4"), ("limits.memory", "8Gi"), ("pods", "20"), ("requests.cpu", "2"))


def tenant(i: int, ready: bool = True) -> dict[str, Any]:
    """A Tenant as kopf's watch shows it, Ready (its status as the operator writes it) or
    just created (no status yet)."""
    name = f"team{i:05d}"
    body: dict[str, Any] = {
        "apiVersion": "mooring.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {
            "name": name,
            "uid": f"5a791b73-5ba5-4322-b803-{i:012d}",
            "resourceVersion": str(40000 + i),
            "generation": 1,
            "creationTimestamp": "2026-11-30T15:42:56Z",
            "finalizers": ["mooring.dev/finalizer"],
            "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsV1": {}}],
        },
        "spec": {
            "owners": {"users": [f"owner{i}@example.com"]},
            "developers": {"groups": [f"{name}-devs"]},
            "environments": [{"name": "dev"}, {"name": "prod"}],
            "costCenter": f"cc-{i % 50}",
        },
    }
    if ready:
        body["status"] = {
            "observedGeneration": 1,
            "tier": "small",
            "ready": "True",
            "namespaceCount": 2,
            "namespaces": [
                {
                    "name": f"{name}-{env}",
                    "environment": env,
                    "phase": "Active",
                    "quota": [{"resource": r, "used": "0", "hard": h} for r, h in QUOTA],
                }
                for env in ("dev", "prod")
            ],
            # kopf's record of the spec it handled (operator/kopf_state.py).
            names.KOPF_STATUS: {
                "last-handled-configuration": json.dumps(
                    {"spec": {"owners": {"users": [f"owner{i}@example.com"]}}}
                )
            },
            "conditions": [
                {
                    "type": step,
                    "status": "True",
                    "reason": "Reconciled",
                    "message": f"{step} for generation 1",
                    "lastTransitionTime": f"2026-11-30T15:4{i % 10}:0{i % 7}Z",
                    "observedGeneration": 1,
                }
                for step in STEPS
            ],
        }
    return body


def test_bodies_come_back_as_stored_before_and_after_the_dictionary() -> None:
    bodies = Bodies()
    stored = {}
    # New Tenants first (no status: not what the dictionary is made of), then Ready ones.
    for i in range(5):
        stored[f"team{i:05d}"] = slim(tenant(i, ready=False))
    for i in range(5, 40):
        stored[f"team{i:05d}"] = slim(tenant(i))
    for name, body in stored.items():
        bodies[name] = body
    for name, body in stored.items():
        assert bodies.get(name) == body
    assert bodies.generation("team00007") == (1, False)
    assert set(bodies.names()) == set(stored)


def test_kopf_diff_base_and_managed_fields_are_not_kept() -> None:
    body = slim(tenant(3))
    assert "managedFields" not in body["metadata"]
    assert names.KOPF_STATUS not in body["status"]
    status = {k: v for k, v in tenant(3)["status"].items() if k != names.KOPF_STATUS}
    assert body["spec"] == tenant(3)["spec"] and body["status"] == status
    # An earlier version's annotation is not kept either.
    earlier = tenant(3)
    earlier["metadata"]["annotations"] = {names.KOPF_DIFF_BASE: "{}"}
    assert names.KOPF_DIFF_BASE not in slim(earlier)["metadata"].get("annotations", {})


def test_a_thousand_ready_tenants_cost_a_fraction_of_their_json() -> None:
    count = 1000
    ready = [slim(tenant(i)) for i in range(count)]
    as_json = sum(len(json.dumps(b, separators=(",", ":"))) for b in ready)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        bodies = Bodies()
        for body in ready:
            bodies[body["metadata"]["name"]] = copy.deepcopy(body)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    per_tenant = (after - before) / count
    # As compact JSON (before): about 1.9 KiB each; deflated: a few hundred bytes.
    assert per_tenant < as_json / count / 2.5, (per_tenant, as_json / count)
    assert bodies.get("team00999") == ready[-1]
