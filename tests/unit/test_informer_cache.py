"""An informer's cache: small, and exactly what was stored comes back."""

from __future__ import annotations

import json

from mooring.kube.informer import Informer


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
