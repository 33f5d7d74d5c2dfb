"""Members see their own tenant, and only theirs: the Tenant object (per-tenant RBAC that
names it) and `mooring tenant status`, run with a member's own kubeconfig.

Attack and twin side by side: a member of team A reads A, and is refused B.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mooring.core.render.platform import operator_user
from mooring.devcluster.cluster import DevCluster
from mooring.kube.client import Forbidden, Kube
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


async def test_each_member_reads_their_own_tenant_and_is_refused_another(
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

            async def reads_own(client: Kube = member) -> bool:
                try:
                    return bool(await client.get(API, "Tenant", mine))
                except Forbidden:
                    return False  # the binding may still be on its way

            # The compliant twin: the member reads their own Tenant, status included.
            await eventually(reads_own, timeout=15, what=f"the {role} reading {mine}")
            own = await member.get(API, "Tenant", mine)
            assert own["status"]["ready"] == "True"
            # The attack: another team's Tenant, and the list of every tenant.
            with pytest.raises(Forbidden):
                await member.get(API, "Tenant", theirs)
            with pytest.raises(Forbidden):
                await member.list(API, "Tenant")
            with pytest.raises(Forbidden):
                await member.patch(API, "Tenant", mine, {"spec": {"tier": "large"}})


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
        done = status(viewer, mine, "-o", "json")
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

    # The attack: another team's scorecard is refused, and says why.
    refused = status(viewer, theirs)
    assert refused.returncode == 3
    assert "members read their own tenant only" in refused.stderr
    assert refused.stdout == ""


async def test_the_operator_writes_only_tenant_reader_cluster_roles(
    kube: Kube, dev_cluster: DevCluster, tmp_path: Path, platform: dict[str, Any]
) -> None:
    """The operator may create ClusterRoles (to let members read their Tenant); an admission
    policy holds it to tenant readers, whatever else its own permissions would allow."""
    user, groups = operator_user()
    path = member_kubeconfig(dev_cluster, tmp_path, user, groups)

    def role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": rules,
        }

    reader = [
        {
            "apiGroups": ["mooring.dev"],
            "resources": ["tenants"],
            "resourceNames": ["probe"],
            "verbs": ["get"],
        }
    ]
    secrets = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]
    async with as_user(path) as operator_client:
        # The compliant twin.
        await operator_client.apply(role("mooring-tenant:probe", reader))
        await operator_client.delete(
            "rbac.authorization.k8s.io/v1", "ClusterRole", "mooring-tenant:probe"
        )
        # Another name, or a tenant reader that reads Secrets (which the operator can): the
        # policy refuses them (not RBAC: the messages are the policy's).
        with pytest.raises(Forbidden, match="writes only the ClusterRoles"):
            await operator_client.apply(role("probe-reader", reader))
        with pytest.raises(Forbidden, match="may only get, list and watch one Tenant"):
            await operator_client.apply(role("mooring-tenant:probe", secrets))
        # The operator may bind and escalate ClusterRoles (one authorization check instead
        # of its every rule gathered per write): the policy holds those to the tenant roles.
        aggregating = role("mooring-tenant:probe", reader)
        aggregating["aggregationRule"] = {
            "clusterRoleSelectors": [
                {"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}}
            ]
        }
        with pytest.raises(Forbidden, match="with no aggregationRule"):
            await operator_client.apply(aggregating)

        def binding(kind: str, name: str, role_name: str) -> dict[str, Any]:
            namespaced = {"namespace": "default"} if kind == "RoleBinding" else {}
            return {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": kind,
                "metadata": {"name": name, **namespaced},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": role_name,
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "probe"}
                ],
            }

        rbac = "rbac.authorization.k8s.io/v1"
        # The compliant twins: a tenant reader's binding, a RoleBinding of a tenant role.
        await operator_client.apply(role("mooring-tenant:probe", reader))
        await operator_client.apply(
            binding("ClusterRoleBinding", "mooring-tenant:probe", "mooring-tenant:probe")
        )
        await operator_client.apply(binding("RoleBinding", "probe", "mooring-tenant-developer"))
        await operator_client.delete(rbac, "RoleBinding", "probe", "default")
        await operator_client.delete(rbac, "ClusterRoleBinding", "mooring-tenant:probe")
        await operator_client.delete(rbac, "ClusterRole", "mooring-tenant:probe")
        # The attacks: cluster-admin bound cluster-wide or in a namespace.
        with pytest.raises(Forbidden, match="binds only a tenant reader ClusterRole"):
            await operator_client.apply(
                binding("ClusterRoleBinding", "mooring-tenant:probe", "cluster-admin")
            )
        with pytest.raises(Forbidden, match="RoleBindings bind only the tenant roles"):
            await operator_client.apply(binding("RoleBinding", "probe", "cluster-admin"))
        assert await kube.get_or_none(rbac, "RoleBinding", "probe", "default") is None


async def test_a_deleted_tenant_reader_binding_is_restored(
    kube: Kube, operator: OperatorProcess, name: str, cleanup: list[str]
) -> None:
    cleanup.append(name)
    await kube.apply(tenant(name))
    await wait_ready(kube, name)
    rbac = "rbac.authorization.k8s.io/v1"
    reader = f"mooring-tenant:{name}"
    await kube.delete(rbac, "ClusterRoleBinding", reader)

    async def restored() -> bool:
        binding = await kube.get_or_none(rbac, "ClusterRoleBinding", reader)
        return binding is not None and binding["subjects"][0]["name"] == f"{name}-owner"

    await eventually(restored, timeout=15, what="the reader binding restored")
