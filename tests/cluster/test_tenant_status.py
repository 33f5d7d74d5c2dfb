"""Members see their own tenant, and only theirs: its TenantView (the namespaced copy of the
Tenant, read through the tenant roles) and `mooring tenant status`, run with a member's own
kubeconfig.

Attack and twin side by side: a member of team A reads A, and is refused B.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mooring.api import names
from mooring.core.render.platform import operator_user
from mooring.devcluster.cluster import DevCluster
from mooring.kube.client import Forbidden, Kube, NotFound
from mooring.services.retire import retire_tenant_readers
from tests.cluster.conftest import OperatorProcess, eventually, tenant, wait_ready

pytestmark = pytest.mark.cluster
API = "mooring.dev/v1alpha1"


def member_kubeconfig(
    dev_cluster: DevCluster, tmp_path: Path, user: str, groups: tuple[str, ...] = ()
) -> Path:
    path = tmp_path / f"{user}.kubeconfig"
    path.write_text(dev_cluster.mint_kubeconfig(user, groups))
    return path


@contextlib.asynccontextmanager
async def as_user(path: Path) -> AsyncIterator[Kube]:
    async with Kube.from_kubeconfig(path) as client:
        yield client


async def two_teams(kube: Kube, name: str, cleanup: list[str]) -> tuple[str, str]:
    other = f"{name}b"
    cleanup += [name, other]
    await kube.apply(
        tenant(
            name,
            owners=[f"{name}-alice"],
            developers={"groups": [f"{name}-devs"]},
            viewers={"users": [f"{name}-victor"]},
        )
    )
    await kube.apply(tenant(other, owners=[f"{other}-bob"]))
    await wait_ready(kube, name)
    await wait_ready(kube, other)
    return name, other


async def test_each_member_reads_their_own_tenant_view_and_is_refused_another(
    kube: Kube,
    operator: OperatorProcess,
    dev_cluster: DevCluster,
    tmp_path: Path,
    name: str,
    cleanup: list[str],
) -> None:
    mine, theirs = await two_teams(kube, name, cleanup)
    members = {
        "owner": (f"{mine}-alice", ()),
        "developer": (f"{mine}-dora", (f"{mine}-devs",)),
        "viewer": (f"{mine}-victor", ()),
    }
    for role, (user, groups) in members.items():
        async with as_user(member_kubeconfig(dev_cluster, tmp_path, user, groups)) as member:

            async def reads_own(client: Kube = member) -> dict[str, Any] | None:
                try:
                    view = await client.get(API, "TenantView", mine, f"{mine}-dev")
                except (Forbidden, NotFound):
                    return None  # the binding or the view may still be on their way
                return view if (view.get("status") or {}).get("ready") == "True" else None

            # The compliant twin: the member reads their own tenant's view, status included.
            own = await eventually(reads_own, timeout=15, what=f"the {role} reading {mine}")
            assert own["spec"]["owners"] == {"users": [f"{mine}-alice"]}
            assert [n["name"] for n in own["status"]["namespaces"]] == [f"{mine}-dev"]
            assert own["status"]["conditions"]
            # The attacks: another team's view, every view, the Tenants themselves, and
            # writing the view (to show the team something the platform did not say).
            with pytest.raises(Forbidden):
                await member.get(API, "TenantView", theirs, f"{theirs}-dev")
            with pytest.raises(Forbidden):
                await member.list(API, "TenantView")
            with pytest.raises(Forbidden):
                await member.get(API, "Tenant", mine)
            with pytest.raises(Forbidden):
                await member.list(API, "Tenant")
            with pytest.raises(Forbidden):
                await member.patch(
                    API, "TenantView", mine, {"status": {"ready": "False"}}, namespace=f"{mine}-dev"
                )
            with pytest.raises(Forbidden):
                await member.delete(API, "TenantView", mine, f"{mine}-dev")
            with pytest.raises(Forbidden):
                await member.apply(
                    {**own, "metadata": {"name": theirs, "namespace": f"{mine}-dev"}}
                )


def status(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mooring.cli", "tenant", "status", *args]
    return subprocess.run(
        [*command, "--kubeconfig", str(kubeconfig)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def latest_deployment(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.example.com/app:latest",
                            "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "100m"}},
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }


async def test_tenant_status_shows_a_member_their_scorecard_and_refuses_another_team(
    kube: Kube,
    operator: OperatorProcess,
    dev_cluster: DevCluster,
    tmp_path: Path,
    name: str,
    cleanup: list[str],
) -> None:
    mine, theirs = await two_teams(kube, name, cleanup)
    namespace = f"{mine}-dev"
    # A violation for the audit to report (guardrails audit only, in the test platform).
    await kube.apply(latest_deployment("web", namespace))
    viewer = member_kubeconfig(dev_cluster, tmp_path, f"{mine}-victor")

    async def card_with_violation() -> dict[str, Any] | None:
        done = status(viewer, mine, "-n", namespace, "-o", "json")
        if done.returncode != 0:
            return None
        card: dict[str, Any] = json.loads(done.stdout)
        rules = {v["rule"] for v in card["guardrails"]["violations"]}
        return card if "image-tag" in rules else None

    card = await eventually(card_with_violation, timeout=60, what="the scorecard with image-tag")
    assert card["tenant"] == mine
    assert card["ready"]["status"] == "True"
    (dev,) = card["namespaces"]
    assert dev["name"] == namespace
    assert {q["resource"] for q in dev["quota"]} >= {"pods", "requests.cpu"}
    assert card["notes"] == []

    # Without a name: the tenant of the namespace, as a member can tell it.
    done = status(viewer, "-n", namespace)
    assert done.returncode == 0, done.stderr
    assert f"Tenant {mine}" in done.stdout
    assert "Guardrails:" in done.stdout

    # A name alone: a member cannot read Tenants, and is told to name a namespace.
    unnamed = status(viewer, mine)
    assert unnamed.returncode == 3
    assert "-n NAMESPACE" in unnamed.stderr

    # The attacks: another team's scorecard, through its namespace or through one's own.
    refused = status(viewer, theirs, "-n", f"{theirs}-dev")
    assert refused.returncode == 3
    assert "members read their own tenant only" in refused.stderr
    assert refused.stdout == ""
    elsewhere = status(viewer, theirs, "-n", namespace)
    assert elsewhere.returncode == 2
    assert f"namespace {namespace} does not belong to tenant '{theirs}'" in elsewhere.stderr
    assert elsewhere.stdout == ""


async def test_the_operator_writes_no_cluster_roles_and_binds_only_tenant_roles(
    kube: Kube, dev_cluster: DevCluster, tmp_path: Path, platform: dict[str, Any]
) -> None:
    """The operator writes no ClusterRole or ClusterRoleBinding, binds only the three tenant
    roles, and deletes only the tenant reader roles of earlier versions (RBAC and an
    admission policy, each enough)."""
    user, groups = operator_user()
    path = member_kubeconfig(dev_cluster, tmp_path, user, groups)
    rbac = "rbac.authorization.k8s.io/v1"

    def role(name: str) -> dict[str, Any]:
        return {
            "apiVersion": rbac,
            "kind": "ClusterRole",
            "metadata": {"name": name, "labels": {"mooring.dev/tenant": "probe"}},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}],
        }

    def binding(kind: str, name: str, role_name: str) -> dict[str, Any]:
        namespaced = {"namespace": "default"} if kind == "RoleBinding" else {}
        return {
            "apiVersion": rbac,
            "kind": kind,
            "metadata": {"name": name, "labels": {"mooring.dev/tenant": "probe"}, **namespaced},
            "roleRef": {"apiGroup": rbac.split("/")[0], "kind": "ClusterRole", "name": role_name},
            "subjects": [{"apiGroup": rbac.split("/")[0], "kind": "User", "name": "probe"}],
        }

    async with as_user(path) as operator_client:
        # The compliant twin: a RoleBinding of a tenant role.
        await operator_client.apply(binding("RoleBinding", "probe", "mooring-tenant-developer"))
        await operator_client.delete(rbac, "RoleBinding", "probe", "default")
        # The attacks: a ClusterRole, a ClusterRoleBinding, cluster-admin in a namespace.
        with pytest.raises(Forbidden):
            await operator_client.apply(role("mooring-tenant:probe"))
        with pytest.raises(Forbidden):
            await operator_client.apply(
                binding("ClusterRoleBinding", "mooring-tenant:probe", "view")
            )
        with pytest.raises(Forbidden):
            await operator_client.apply(binding("RoleBinding", "probe", "cluster-admin"))
        assert await kube.get_or_none(rbac, "RoleBinding", "probe", "default") is None

        # Deleting: an earlier version's tenant reader goes (the twin); another role stays,
        # even labelled as a tenant's (the policy's message, not RBAC's).
        for name_ in ("mooring-tenant:probe", "probe-other"):
            await kube.apply(role(name_))
            await kube.apply(binding("ClusterRoleBinding", name_, name_))
        try:
            removed = await retire_tenant_readers(operator_client)
            assert removed == [
                "ClusterRoleBinding mooring-tenant:probe",
                "ClusterRole mooring-tenant:probe",
            ]
            assert await kube.get_or_none(rbac, "ClusterRole", "mooring-tenant:probe") is None
            with pytest.raises(Forbidden, match="deletes only the tenant reader ones"):
                await operator_client.delete(rbac, "ClusterRoleBinding", "probe-other")
            assert await kube.get_or_none(rbac, "ClusterRole", "probe-other") is not None
        finally:
            for kind in ("ClusterRoleBinding", "ClusterRole"):
                for name_ in ("mooring-tenant:probe", "probe-other"):
                    with contextlib.suppress(NotFound):
                        await kube.delete(rbac, kind, name_)


async def test_a_deleted_tenant_view_is_restored_with_its_status(
    kube: Kube, operator: OperatorProcess, name: str, cleanup: list[str]
) -> None:
    cleanup.append(name)
    await kube.apply(tenant(name))
    await wait_ready(kube, name)
    namespace = f"{name}-dev"

    async def has_status() -> bool:
        view = await kube.get_or_none(API, "TenantView", name, namespace)
        return view is not None and (view.get("status") or {}).get("ready") == "True"

    await eventually(has_status, timeout=15, what="the view with the tenant's status")
    await kube.delete(API, "TenantView", name, namespace)
    await eventually(has_status, timeout=15, what="the view restored, status included")


def cost_writers(obj: dict[str, Any]) -> set[str]:
    """The field managers that wrote status.cost of an object."""
    return {
        entry["manager"]
        for entry in obj["metadata"].get("managedFields") or []
        if "f:cost" in ((entry.get("fieldsV1") or {}).get("f:status") or {})
    }


async def test_a_new_tenant_has_its_cost_in_its_first_status_and_the_cost_loop_writes_none(
    kube: Kube, operator: OperatorProcess, name: str, cleanup: list[str]
) -> None:
    # The test operator refreshes cost every 3 s: one has run before this tenant exists.
    async def refreshed() -> bool:
        try:
            done = await asyncio.to_thread(
                operator.metric, 'mooring_cost_refreshes_total{result="ok"}'
            )
        except OSError:  # its metrics are not served yet
            return False
        return done > 0

    await eventually(refreshed, timeout=60, what="the operator's first cost refresh")
    cleanup.append(name)
    await kube.apply(tenant(name, budget={"amountPerMonth": 100}))
    await wait_ready(kube, name)
    namespace = f"{name}-dev"

    async def view_costed() -> dict[str, Any] | None:
        view = await kube.get_or_none(API, "TenantView", name, namespace)
        return view if view and (view.get("status") or {}).get("cost") else None

    view = await eventually(view_costed, timeout=15, what="the view with its cost")
    # Three refreshes later, the cost a tenant with nothing running got with its first
    # status is still the reconcile's: the cost loop found nothing to change.
    await asyncio.sleep(10)
    obj = await kube.get(API, "Tenant", name)
    cost = obj["status"]["cost"]
    assert cost["monthToDate"] == "0.00" and cost["summary"].endswith("/100 USD"), cost
    assert cost["updatedAt"] <= obj["metadata"]["creationTimestamp"], cost  # the refresh's
    assert names.FIELD_MANAGER not in cost_writers(obj), obj["metadata"]["managedFields"]
    view = await kube.get(API, "TenantView", name, namespace)
    assert view["status"]["cost"] == cost
    assert cost_writers(view) == {names.FIELD_MANAGER}  # in the reconcile's one apply
