"""An informer's cache: small, and exactly what was stored comes back."""

from __future__ import annotations

import json
import sys
from typing import Any

from mooring.kube.informer import SMALL_GROUP, Informer


def test_an_informer_keeps_objects_small_and_gives_them_back_unchanged() -> None:
    informer = Informer(None, "networking.k8s.io/v1", "NetworkPolicy")  # type: ignore[arg-type]
    objects = [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {
                "name": "mooring-default-deny",
                "namespace": f"team{i:05d}-dev",
                "uid": f"{i:08d}-aaaa-bbbb-cccc-{i:012d}",
                "labels": {
                    "app.kubernetes.io/managed-by": "mooring",
                    "mooring.dev/tenant": f"t{i}",
                },
                "resourceVersion": str(1000 + i),
            },
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        }
        for i in range(50)
    ]
    for obj in objects:
        informer._store((obj["metadata"]["namespace"], obj["metadata"]["name"]), obj)
    for obj in objects:
        assert informer.get(obj["metadata"]["namespace"], obj["metadata"]["name"]) == obj
    stored = [informer._cache[(o["metadata"]["namespace"], o["metadata"]["name"])] for o in objects]
    plain = sum(len(json.dumps(o, separators=(",", ":"))) for o in objects[10:])
    assert sum(len(s) for s in stored[10:]) < plain / 3


def _policy(namespace: str, name: str, tenant: str) -> dict[str, object]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"mooring.dev/tenant": tenant},
            "resourceVersion": "1",
        },
        "spec": {"podSelector": {}},
    }


def _tenant_of(obj: dict[str, Any]) -> str | None:
    tenant: str | None = (obj["metadata"].get("labels") or {}).get("mooring.dev/tenant")
    return tenant


def test_the_index_follows_relabels_and_deletions_small_groups_and_large() -> None:
    informer = Informer(None, "networking.k8s.io/v1", "NetworkPolicy", index=_tenant_of)  # type: ignore[arg-type]

    def store(namespace: str, name: str, tenant: str | None) -> None:
        obj = None if tenant is None else _policy(namespace, name, tenant)
        informer._store((namespace, name), obj)

    def names_in(group: str) -> set[str]:
        return {o["metadata"]["name"] for o in informer.indexed(group)}

    for i in range(6):
        store("a-dev", f"p{i}", "a")
    many = SMALL_GROUP * 3
    for i in range(many):
        store("big", f"q{i}", "big")
    store("a-dev", "p0", "a")  # the same object again: not listed twice
    assert names_in("a") == {f"p{i}" for i in range(6)}
    assert len(informer.indexed("a")) == 6
    assert len(names_in("big")) == many
    store("a-dev", "p1", "b")  # relabelled: moves to its new group
    store("big", "q0", "a")
    store("a-dev", "p2", None)  # deleted
    for i in range(1, many):
        store("big", f"q{i}", None)
    assert names_in("a") == {"p0", "p3", "p4", "p5", "q0"}
    assert names_in("b") == {"p1"}
    assert informer.indexed("big") == []
    assert "big" not in informer._groups


def test_a_tenants_few_objects_of_a_kind_are_indexed_in_a_list_not_a_set() -> None:
    """Six NetworkPolicies per tenant: a set of six costs 728 bytes, a list some 120."""
    informer = Informer(None, "networking.k8s.io/v1", "NetworkPolicy", index=_tenant_of)  # type: ignore[arg-type]
    tenants = 500
    objects = [
        _policy(f"t{t}-{env}", f"p{i}", f"t{t}")
        for t in range(tenants)
        for env in ("dev", "prod")
        for i in range(3)
    ]
    keys = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects]  # type: ignore[index]
    for key, obj in zip(keys, objects, strict=True):
        informer._store(key, obj)
    groups_size = sum(sys.getsizeof(m) for m in informer._groups.values())
    assert len(informer._groups) == tenants
    assert groups_size / tenants < 200, groups_size / tenants
