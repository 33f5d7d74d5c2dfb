"""The operator writes a tenant's quota usage once its quotas are counted, in one status
write for all of them, and does not miss a usage counted before the tenant's first status
(operator/tenants.py Watches.note_status, _note_usage, _write_usage)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from mooring.core.plan import ref
from mooring.core.render.quotas import QUOTA_NAME
from mooring.kube.client import Kube
from mooring.kube.informer import slim
from mooring.operator.tenants import Watches
from mooring.services.tenants import at_least_first_count

HARD = {"pods": "10", "requests.cpu": "2"}


class Quotas:
    """An informer's `get` over ResourceQuotas by namespace."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}

    def put(self, namespace: str, counted: bool, pods: str = "0") -> dict[str, Any]:
        quota: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": QUOTA_NAME, "namespace": namespace},
            "spec": {"hard": HARD},
        }
        if counted:
            quota["status"] = {"hard": HARD, "used": {"pods": pods, "requests.cpu": "0"}}
        self.objects[namespace] = quota
        return quota

    def get(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.objects.get(namespace or "") if name == QUOTA_NAME else None


class Recorder:
    """The Kube client's `patch`, recorded."""

    def __init__(self) -> None:
        self.patches: list[tuple[str, dict[str, Any], str | None]] = []

    async def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        body: dict[str, Any],
        subresource: str | None = None,
    ) -> dict[str, Any]:
        self.patches.append((name, body, subresource))
        return body


def tenant(name: str, with_status: bool) -> dict[str, Any]:
    status = {
        "namespaces": [
            {"name": f"{name}-dev", "environment": "dev", "phase": "Active", "quota": []},
            {"name": f"{name}-prod", "environment": "prod", "phase": "Active", "quota": []},
        ]
    }
    return {
        "apiVersion": "mooring.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": name, "generation": 1, "uid": "u1", "resourceVersion": "1"},
        "spec": {"environments": [{"name": "dev"}, {"name": "prod"}]},
        **({"status": status} if with_status else {}),
    }


def watches() -> tuple[Watches, Quotas, Recorder]:
    recorder = Recorder()
    found = Watches(kube=cast(Kube, recorder), usage_delay=0.01, usage_wait=0.5)
    quotas = Quotas()
    found.informers["ResourceQuota"] = cast(Any, quotas)
    found.namespace_owner.update({"team-dev": "team", "team-prod": "team"})
    return found, quotas, recorder


async def settle(found: Watches) -> None:
    while found.tasks:
        await asyncio.gather(*list(found.tasks))


async def test_two_quotas_counted_one_after_the_other_make_one_status_write() -> None:
    found, quotas, recorder = watches()
    found.tenants["team"] = tenant("team", with_status=True)
    quotas.put("team-prod", counted=False)
    found.on_child_event("MODIFIED", quotas.put("team-dev", counted=True))

    async def count_prod_later() -> None:
        # Later than the write's delay, as a busy quota controller is: its event comes too.
        await asyncio.sleep(0.1)
        found.on_child_event("MODIFIED", quotas.put("team-prod", counted=True, pods="3"))

    await asyncio.gather(count_prod_later(), settle(found))
    assert len(recorder.patches) == 1
    name, body, subresource = recorder.patches[0]
    assert (name, subresource) == ("team", "status")
    usage = {e["name"]: e["quota"] for e in body["status"]["namespaces"]}
    assert {u["resource"]: u["used"] for u in usage["team-dev"]} == {
        "pods": "0",
        "requests.cpu": "0",
    }
    assert {u["resource"]: u["used"] for u in usage["team-prod"]}["pods"] == "3"


async def test_a_quota_never_counted_does_not_hold_the_write_back_for_ever() -> None:
    found, quotas, recorder = watches()
    found.tenants["team"] = tenant("team", with_status=True)
    quotas.put("team-prod", counted=False)
    found.on_child_event("MODIFIED", quotas.put("team-dev", counted=True))
    await settle(found)
    assert len(recorder.patches) == 1  # after usage_wait, with what is counted
    usage = {e["name"]: e["quota"] for e in recorder.patches[0][1]["status"]["namespaces"]}
    assert usage["team-dev"] and usage["team-prod"] == []


async def test_usage_counted_before_the_first_status_is_written_when_the_status_comes() -> None:
    found, quotas, recorder = watches()
    found.tenants["team"] = tenant("team", with_status=False)
    # The quota controller counts both before the tenant has a status: nothing to write to.
    found.on_child_event("MODIFIED", quotas.put("team-dev", counted=True))
    found.on_child_event("MODIFIED", quotas.put("team-prod", counted=True))
    await settle(found)
    assert recorder.patches == []
    # The reconcile's status arrives (its quota lists still empty): the usage is due now.
    body = tenant("team", with_status=True)
    found.tenants["team"] = body
    found.note_status("team", body)
    await settle(found)
    assert len(recorder.patches) == 1
    assert all(e["quota"] for e in recorder.patches[0][1]["status"]["namespaces"])
    # The status with the usage in it, seen again: nothing more to write.
    written = {**body, "status": recorder.patches[0][1]["status"]}
    found.tenants["team"] = written
    found.note_status("team", written)
    await settle(found)
    assert len(recorder.patches) == 1


async def test_a_first_count_put_right_a_moment_later_writes_nothing() -> None:
    """The reconcile's status said the usage (first_count); the quota controller's first
    count misses an object, and counts it a moment later: the status was right all along."""
    found, quotas, recorder = watches()
    said = tenant("team", with_status=True)
    counted = {"pods": "1", "requests.cpu": "0"}
    for entry in said["status"]["namespaces"]:
        entry["quota"] = [{"resource": k, "used": v, "hard": HARD[k]} for k, v in counted.items()]
    found.tenants["team"] = said
    found.usage_delay = 0.05
    quotas.put("team-prod", counted=True, pods="1")
    found.on_child_event("MODIFIED", quotas.put("team-dev", counted=True, pods="0"))

    async def put_right() -> None:
        await asyncio.sleep(0.03)  # before the count has held for usage_delay
        found.on_child_event("MODIFIED", quotas.put("team-dev", counted=True, pods="1"))

    await asyncio.gather(put_right(), settle(found))
    assert recorder.patches == []


async def test_a_count_that_changes_and_stays_is_written_once_at_its_last_value() -> None:
    found, quotas, recorder = watches()
    found.usage_delay = 0.05
    found.tenants["team"] = tenant("team", with_status=True)
    quotas.put("team-prod", counted=True)
    found.on_child_event("MODIFIED", quotas.put("team-dev", counted=True, pods="1"))

    async def more() -> None:
        for pods in ("2", "3"):  # each change within usage_delay of the last holds it back
            await asyncio.sleep(0.03)
            found.on_child_event("MODIFIED", quotas.put("team-dev", counted=True, pods=pods))

    await asyncio.gather(more(), settle(found))
    assert len(recorder.patches) == 1
    usage = {e["name"]: e["quota"] for e in recorder.patches[0][1]["status"]["namespaces"]}
    assert {u["resource"]: u["used"] for u in usage["team-dev"]}["pods"] == "3"


# -- a new namespace's quota, short of what is always there -----------------------------------

COUNTING = {"pods": "10", "configmaps": "20"}


def counting_quota(namespace: str, configmaps: str, pods: str = "0") -> dict[str, Any]:
    """A quota that counts ConfigMaps, with `configmaps` counted, as the informer keeps it
    (slim: no creation time)."""
    return slim(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {
                "name": QUOTA_NAME,
                "namespace": namespace,
                "creationTimestamp": "2026-12-01T14:04:24Z",
            },
            "spec": {"hard": COUNTING},
            "status": {"hard": COUNTING, "used": {"pods": pods, "configmaps": configmaps}},
        }
    )


def predicted_tenant() -> dict[str, Any]:
    """The reconcile's status: each namespace's usage as first_count predicts it (the root
    CA's ConfigMap counted)."""
    body = tenant("team", with_status=True)
    for entry in body["status"]["namespaces"]:
        entry["quota"] = [
            {"resource": "configmaps", "used": "1", "hard": "20"},
            {"resource": "pods", "used": "0", "hard": "10"},
        ]
    return body


def with_rendered_quotas(found: Watches) -> None:
    rendered = {
        ns: {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": QUOTA_NAME, "namespace": ns},
            "spec": {"hard": COUNTING},
        }
        for ns in ("team-dev", "team-prod")
    }
    found.desired = lambda name: {ref(obj): obj for obj in rendered.values()}  # type: ignore[method-assign]


async def test_a_young_quota_short_of_the_root_ca_configmap_writes_nothing() -> None:
    """Under load the root CA's ConfigMap lands minutes after its namespace: the quota's
    count without it is not written, nor the right one when it comes (the status
    predicted it)."""
    found, quotas, recorder = watches()
    with_rendered_quotas(found)
    found.tenants["team"] = predicted_tenant()
    for ns in ("team-dev", "team-prod"):
        quotas.objects[ns] = counting_quota(ns, "0")
        found.on_child_event("MODIFIED", quotas.objects[ns])
    await settle(found)
    assert recorder.patches == []
    for ns in ("team-dev", "team-prod"):
        quotas.objects[ns] = counting_quota(ns, "1")
        found.on_child_event("MODIFIED", quotas.objects[ns])
    await settle(found)
    assert recorder.patches == []


async def test_a_pod_in_a_namespace_whose_quota_is_still_short_shows_at_once() -> None:
    """The twin: while the quota still misses the root CA's ConfigMap, a pod created in
    the namespace is written at once, with the short count raised to what is there."""
    found, quotas, recorder = watches()
    with_rendered_quotas(found)
    found.tenants["team"] = predicted_tenant()
    quotas.objects["team-prod"] = counting_quota("team-prod", "1")
    quotas.objects["team-dev"] = counting_quota("team-dev", "0", pods="1")
    found.on_child_event("MODIFIED", quotas.objects["team-dev"])
    await settle(found)
    assert len(recorder.patches) == 1
    usage = {e["name"]: e["quota"] for e in recorder.patches[0][1]["status"]["namespaces"]}
    assert {u["resource"]: u["used"] for u in usage["team-dev"]} == {
        "configmaps": "1",
        "pods": "1",
    }


def test_counts_are_raised_to_what_is_always_there() -> None:
    rendered = [
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": QUOTA_NAME, "namespace": "team-dev"},
            "spec": {"hard": COUNTING},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "d", "namespace": "team-dev"},
        },
    ]

    def used(quota: dict[str, Any]) -> dict[str, str]:
        return dict(at_least_first_count(quota, rendered)["status"]["used"])

    # Mooring's ConfigMap and the root CA's: two always there; more is as counted.
    assert used(counting_quota("team-dev", "1")) == {"pods": "0", "configmaps": "2"}
    assert used(counting_quota("team-dev", "2")) == {"pods": "0", "configmaps": "2"}
    assert used(counting_quota("team-dev", "5", pods="3")) == {"pods": "3", "configmaps": "5"}
    # Another namespace's quota: nothing predicted, as counted.
    assert used(counting_quota("other", "0")) == {"pods": "0", "configmaps": "0"}
