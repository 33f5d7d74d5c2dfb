"""kopf's state in status.kopf (operator/kopf_state.py), the CRDs that keep it, the caches
that leave it out, and the first quota count a reconcile can say itself
(services/tenants.py first_count)."""

from __future__ import annotations

import json
from typing import Any

import kopf

from mooring.api import names
from mooring.api.crd import crd
from mooring.api.kinds import KINDS
from mooring.core.render.quotas import QUOTA_NAME
from mooring.kube.informer import slim
from mooring.operator.kopf_state import StatusDiffBase
from mooring.services.tenants import first_count, quota_usage


def body(**extra: Any) -> kopf.Body:
    raw: dict[str, Any] = {
        "apiVersion": "mooring.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": "team", "annotations": {"team.example.com/a": "b"}},
        "spec": {"environments": [{"name": "dev"}]},
        **extra,
    }
    return kopf.Body(raw)


def test_the_diff_base_is_written_to_status_and_read_from_there() -> None:
    storage = StatusDiffBase()
    essence = storage.build(body=body())
    patch = kopf.Patch()
    storage.store(body=body(), patch=patch, essence=essence)
    assert set(patch) == {"status"}  # one write: the status subresource only
    written = patch["status"]["kopf"]["last-handled-configuration"]
    assert json.loads(written) == {
        "metadata": {"annotations": {"team.example.com/a": "b"}},
        "spec": {"environments": [{"name": "dev"}]},
    }
    assert storage.fetch(body=body(status={"kopf": {"last-handled-configuration": written}}))


def test_an_earlier_versions_annotation_is_not_read_and_is_removed_on_the_next_write() -> None:
    storage = StatusDiffBase()
    old = body()
    old["metadata"]["annotations"][names.KOPF_DIFF_BASE] = json.dumps({"spec": {}})
    old = kopf.Body(dict(old))
    assert storage.fetch(body=old) is None  # handled again, as new
    essence = storage.build(body=old)
    # kopf's own annotation is not part of what the Tenant asks for.
    assert essence["metadata"]["annotations"] == {"team.example.com/a": "b"}
    patch = kopf.Patch()
    storage.store(body=old, patch=patch, essence=essence)
    assert patch["metadata"]["annotations"] == {names.KOPF_DIFF_BASE: None}


def test_only_the_kinds_kopf_handles_keep_status_kopf() -> None:
    keeping = {
        kind.kind
        for kind in KINDS
        if "kopf"
        in (crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"])
        .get("status", {})
        .get("properties", {})
    }
    assert keeping == {"Tenant", "PlatformConfig", "Database"}


def test_caches_leave_kopfs_state_out() -> None:
    kept = slim({"metadata": {"name": "x"}, "status": {"ready": "True", "kopf": {"a": "b"}}})
    assert kept["status"] == {"ready": "True"}
    plain = {"metadata": {"name": "x"}, "status": {"ready": "True"}}
    assert slim(plain) == plain


def applied(namespace: str) -> list[dict[str, Any]]:
    meta = {"namespace": namespace}
    return [
        {"kind": "Namespace", "metadata": {"name": namespace}},
        {
            "kind": "ResourceQuota",
            "metadata": {"name": QUOTA_NAME, **meta},
            "spec": {"hard": {"configmaps": "40", "requests.cpu": "4", "resourcequotas": "1"}},
        },
        {"kind": "ConfigMap", "metadata": {"name": "mooring-alerts", **meta}},
        {"kind": "ConfigMap", "metadata": {"name": "elsewhere", "namespace": "other"}},
    ]


def test_the_first_count_of_a_new_namespace_is_what_mooring_put_there() -> None:
    quota = first_count("team-dev", applied("team-dev"))
    assert quota is not None
    assert quota["status"] == {
        "hard": {"configmaps": "40", "requests.cpu": "4", "resourcequotas": "1"},
        # Its own ConfigMap and the root CA's; the quota itself; nothing running.
        "used": {"configmaps": "2", "requests.cpu": "0", "resourcequotas": "1"},
    }
    assert [u.used for u in quota_usage(quota)] == ["2", "0", "1"]
    assert first_count("team-prod", applied("team-dev")) is None  # no quota of ours there
