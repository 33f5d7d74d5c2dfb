"""The seed's contract, against a real Argo CD: a team's merged pull request becomes a Ready
tenant; what a tenant file may not bring is refused by Argo CD's tenants project; removing a
team from Git prunes its Tenant while Mooring keeps its data; Argo CD's selfHeal and Mooring's
drift repair settle instead of fighting."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from mooring.api import names
from mooring.gitops import applications
from mooring.kube.client import Kube
from tests.gitops.conftest import API, Loop, app_state, path_of, tenant_file, until

pytestmark = pytest.mark.gitops


async def tenant_ready(kube: Kube, name: str, timeout: float = 60) -> dict[str, Any]:
    async def ready() -> dict[str, Any] | None:
        obj = await kube.get_or_none(API, "Tenant", name)
        status = (obj or {}).get("status") or {}
        current = obj and status.get("observedGeneration") == obj["metadata"]["generation"]
        return obj if current and status.get("ready") == "True" else None

    result: dict[str, Any] = await until(ready, timeout, f"tenant {name} Ready")
    return result


def validate(loop: Loop, *paths: str) -> subprocess.CompletedProcess[str]:
    """`mooring validate` on the branch, as the pull-request workflow runs it."""
    return subprocess.run(
        [sys.executable, "-m", "mooring.cli", "validate", *paths],
        cwd=loop.repo.work,
        capture_output=True,
        text=True,
        check=False,
    )


async def test_a_merged_pull_request_becomes_a_ready_tenant_and_a_healthy_application(
    loop: Loop, kube: Kube
) -> None:
    repo = loop.repo
    repo.checkout(repo.branch)
    repo.checkout("team-alpha", create=True)
    repo.write({path_of("alpha"): tenant_file("alpha", envs=("dev", "prod"))})
    checked = validate(loop, "environments/base/platform.yaml", "tenants/")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    repo.commit("alpha joins the platform")
    repo.merge("team-alpha", "Merge pull request: alpha joins the platform")
    merged = time.monotonic()
    repo.push()
    tenant = await tenant_ready(kube, "alpha")
    ready_after = time.monotonic() - merged
    print(f"merge to Ready: {ready_after:.2f} s")
    assert [n["name"] for n in tenant["status"]["namespaces"]] == ["alpha-dev", "alpha-prod"]
    app = await app_state(kube, "tenant-alpha", applications.healthy, what="Healthy")
    (resource,) = app.resources
    assert (resource.kind, resource.health) == ("Tenant", "Healthy")
    assert resource.message.startswith("Reconciled")


async def test_a_cluster_scoped_object_in_a_tenant_file_is_refused_by_the_tenants_project(
    loop: Loop, kube: Kube
) -> None:
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "mallory-admin"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [{"kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io"}],
    }
    system_database = {
        "apiVersion": API,
        "kind": "Database",
        "metadata": {"name": "loot", "namespace": "kube-system"},
        "spec": {"storage": "1Gi"},
    }
    loop.commit(
        {
            path_of("mallory"): tenant_file("mallory", binding),
            path_of("trudy"): tenant_file("trudy", system_database),
            # The compliant twin: the same shape, only Mooring's kinds.
            path_of("bob"): tenant_file("bob"),
        },
        "three teams",
    )
    await tenant_ready(kube, "bob")

    def refused(app: applications.AppView) -> bool:
        return "not permitted in project" in app.why()

    mallory = await app_state(kube, "tenant-mallory", refused, what="refused")
    assert "ClusterRoleBinding mallory-admin: resource rbac.authorization.k8s.io:" in mallory.why()
    trudy = await app_state(kube, "tenant-trudy", refused, what="refused")
    assert "namespace kube-system is not permitted in project 'tenants'" in trudy.why()
    # Nothing of a refused file reaches the cluster, not even its Tenant.
    assert (
        await kube.get_or_none(
            "rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "mallory-admin"
        )
        is None
    )
    assert await kube.get_or_none(API, "Tenant", "mallory") is None
    assert await kube.get_or_none(API, "Database", "loot", "kube-system") is None
    loop.commit({}, "remove the refused files", remove=(path_of("mallory"), path_of("trudy")))


async def test_a_team_removed_from_git_is_pruned_while_mooring_keeps_its_data_and_guards(
    loop: Loop, kube: Kube
) -> None:
    loop.commit({path_of("gamma"): tenant_file("gamma", envs=("dev", "prod"))}, "gamma")
    await tenant_ready(kube, "gamma")
    member = loop.cluster.dir / "gamma-member.kubeconfig"
    member.write_text(loop.cluster.mint_kubeconfig("gamma-owner@example.com"))
    async with Kube.from_kubeconfig(member) as owner:
        await owner.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "ledger", "namespace": "gamma-prod"},
                "data": {"rows": "42"},
            }
        )
        await owner.create(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "ledger", "namespace": "gamma-prod"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            }
        )
    guards = {
        ("networking.k8s.io/v1", "NetworkPolicy", "mooring-default-deny"),
        ("v1", "ResourceQuota", "mooring-quota"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding", "mooring-owners"),
    }
    loop.commit({}, "gamma leaves", remove=(path_of("gamma"),))

    async def gone() -> bool:
        app = await kube.get_or_none(applications.ARGO_API, "Application", "tenant-gamma", "argocd")
        tenant = await kube.get_or_none(API, "Tenant", "gamma")
        return app is None and tenant is None

    await until(gone, 90, "Argo CD deleted tenant-gamma and its Tenant")

    async def dev_deleted() -> bool:
        return await kube.get_or_none("v1", "Namespace", "gamma-dev") is None

    await until(dev_deleted, 60, "the empty namespace gamma-dev deleted")
    prod = await kube.get("v1", "Namespace", "gamma-prod")
    assert prod["metadata"].get("deletionTimestamp") is None
    assert "PersistentVolumeClaims" in prod["metadata"]["annotations"][names.ANNOTATION_RETAINED]
    # The guards of a retained namespace stay: Argo CD deleted the Tenant in the background,
    # so the garbage collector did not take its children before Mooring released them.
    await asyncio.sleep(3)
    for api, kind, name in guards:
        assert await kube.get_or_none(api, kind, name, "gamma-prod") is not None, kind
    assert await kube.get_or_none("v1", "PersistentVolumeClaim", "ledger", "gamma-prod")


def usage_only(before: dict[str, Any] | None, after: dict[str, Any]) -> bool:
    """Pure: is this change of a Tenant the operator's quota-usage write, which changes
    nothing but `status.namespaces[].quota` (written once a burst of quota counts has held
    for half a minute: operator/tenants.py, usage_delay)?"""

    def rest(obj: dict[str, Any]) -> dict[str, Any]:
        meta = {
            k: v
            for k, v in obj["metadata"].items()
            if k not in ("resourceVersion", "managedFields")
        }
        status = dict(obj.get("status") or {})
        status["namespaces"] = [
            {k: v for k, v in entry.items() if k != "quota"}
            for entry in status.get("namespaces") or []
        ]
        kept = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
        return {**kept, "metadata": meta, "status": status}

    # A List's items may come without their kind; a watch event's object has it.
    return before is not None and after.get("kind") == "Tenant" and rest(before) == rest(after)


@dataclass
class Changes:
    """Every change seen on some kinds during a while: key -> times since the start, and
    the times of changes that were only the Tenants' quota-usage writes."""

    times: dict[str, list[float]] = field(default_factory=dict)
    usage: dict[str, list[float]] = field(default_factory=dict)


async def count_events(
    kube: Kube, watches: list[tuple[str, str, str | None, str | None]], seconds: float
) -> Changes:
    changes = Changes()
    started = time.monotonic()

    async def one(api: str, kind: str, namespace: str | None, labels: str | None) -> None:
        items, version = await kube.list_with_version(api, kind, namespace, labels=labels)
        last: dict[str, dict[str, Any]] = {}
        for obj in items:
            last[f"{kind} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"] = obj
        async for kind_of_event, obj in kube.watch(
            api,
            kind,
            namespace,
            labels=labels,
            resource_version=version,
            timeout_seconds=int(seconds) + 5,
        ):
            if kind_of_event == "BOOKMARK":
                continue
            key = f"{kind} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"
            at = round(time.monotonic() - started, 1)
            changes.times.setdefault(key, []).append(at)
            if kind_of_event == "MODIFIED" and usage_only(last.get(key), obj):
                changes.usage.setdefault(key, []).append(at)
            last[key] = obj

    tasks = [asyncio.create_task(one(*w)) for w in watches]
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return changes


def test_a_usage_write_is_told_from_other_changes() -> None:
    tenant: dict[str, Any] = {
        "kind": "Tenant",
        "metadata": {"name": "delta", "resourceVersion": "1"},
        "spec": {"environments": [{"name": "dev"}]},
        "status": {"namespaces": [{"name": "delta-dev", "quota": []}], "ready": "True"},
    }
    counted: dict[str, Any] = {
        **tenant,
        "metadata": {"name": "delta", "resourceVersion": "2"},
        "status": {
            "namespaces": [{"name": "delta-dev", "quota": [{"used": "1"}]}],
            "ready": "True",
        },
    }
    assert usage_only(tenant, counted)
    listed = {k: v for k, v in tenant.items() if k != "kind"}  # as a List's item may come
    assert usage_only(listed, counted)
    assert not usage_only(None, counted)
    assert not usage_only(tenant, {**counted, "spec": {"environments": []}})
    assert not usage_only(tenant, {**counted, "status": {**counted["status"], "ready": "False"}})


async def test_selfheal_and_drift_repair_settle_instead_of_looping(loop: Loop, kube: Kube) -> None:
    loop.commit({path_of("delta"): tenant_file("delta")}, "delta")
    await tenant_ready(kube, "delta")
    await app_state(kube, "tenant-delta", applications.healthy, what="Healthy")
    label = f"{names.LABEL_TENANT}=delta"
    watches: list[tuple[str, str, str | None, str | None]] = [
        (API, "Tenant", None, None),
        ("v1", "Namespace", None, label),
        ("networking.k8s.io/v1", "NetworkPolicy", "delta-dev", None),
        ("rbac.authorization.k8s.io/v1", "RoleBinding", "delta-dev", None),
        ("v1", "LimitRange", "delta-dev", None),
    ]
    counting = asyncio.create_task(count_events(kube, watches, 60))
    await asyncio.sleep(1)
    # Someone edits the Tenant by hand (Argo CD restores Git) and deletes a managed
    # NetworkPolicy (Mooring restores it): each side repairs its own, once.
    await kube.patch(
        API, "Tenant", "delta", {"spec": {"environments": [{"name": "dev"}, {"name": "qa"}]}}
    )
    await kube.delete("networking.k8s.io/v1", "NetworkPolicy", "mooring-default-deny", "delta-dev")
    changes = await counting
    delta = {k: v for k, v in changes.times.items() if "delta" in k}
    usage = {k: v for k, v in changes.usage.items() if "delta" in k}
    print(
        f"changes over a minute: { {k: len(v) for k, v in delta.items()} }; usage writes: {usage}"
    )
    total = sum(len(v) for v in delta.values())
    # The quota-usage write comes once the counts have held for half a minute, so it may
    # come late; it is one write per burst of counts, not a loop.
    last = max(
        (t for k, times in delta.items() for t in times if t not in usage.get(k, ())),
        default=0.0,
    )
    assert total < 40, delta
    assert last < 40, f"still changing {last} s after the edits: {delta}"
    assert sum(len(v) for v in usage.values()) <= 2, f"quota usage written again and again: {usage}"
    tenant = await kube.get(API, "Tenant", "delta")
    assert tenant["spec"]["environments"] == [{"name": "dev"}]  # Git's, restored by selfHeal

    async def qa_pruned() -> bool:
        return await kube.get_or_none("v1", "Namespace", "delta-qa") is None

    await until(qa_pruned, 30, "the hand-made environment's empty namespace pruned")
    assert await kube.get_or_none(
        "networking.k8s.io/v1", "NetworkPolicy", "mooring-default-deny", "delta-dev"
    )
