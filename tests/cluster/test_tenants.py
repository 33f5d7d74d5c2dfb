"""Tenants on the real control plane, reconciled by the real operator process.

Each test makes its own tenant(s); members act through their own minted kubeconfigs.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from mooring.api.documents import parse_documents
from mooring.core.validate import validate_documents
from mooring.devcluster.cluster import DevCluster
from mooring.kube.client import BadRequest, Forbidden, Invalid, Kube
from tests.cluster.conftest import (
    OperatorProcess,
    condition,
    eventually,
    tenant,
    wait_ready,
)

pytestmark = pytest.mark.cluster
API = "mooring.dev/v1alpha1"


@contextlib.asynccontextmanager
async def as_user(
    dev_cluster: DevCluster, tmp_path: Path, user: str, groups: tuple[str, ...] = ()
) -> AsyncIterator[Kube]:
    path = tmp_path / f"{user.replace('@', '_')}.kubeconfig"
    path.write_text(dev_cluster.mint_kubeconfig(user, groups))
    async with Kube.from_kubeconfig(path) as client:
        yield client


def deployment(name: str, namespace: str, cpu: str = "100m") -> dict[str, Any]:
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
                            "image": "registry.example.com/app:1.0",
                            "resources": {"requests": {"cpu": cpu}, "limits": {"cpu": cpu}},
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


@pytest_asyncio.fixture
async def onboarded(
    kube: Kube, operator: OperatorProcess, name: str, cleanup: list[str]
) -> dict[str, Any]:
    """A tenant with two environments, an owner, a developer group and a viewer."""
    cleanup.append(name)
    await kube.apply(
        tenant(
            name,
            owners=[f"{name}-alice"],
            envs=("dev", "prod"),
            developers={"groups": [f"{name}-devs"]},
            viewers={"users": [f"{name}-victor"]},
            costCenter="cc-42",
        )
    )
    return await wait_ready(kube, name)


# -- onboarding --------------------------------------------------------------------------------


async def test_onboarding_creates_namespaces_access_quota_limits_and_network_policies(
    kube: Kube, onboarded: dict[str, Any], name: str
) -> None:
    uid = onboarded["metadata"]["uid"]
    for env in ("dev", "prod"):
        namespace = f"{name}-{env}"
        ns = await kube.get("v1", "Namespace", namespace)
        labels = ns["metadata"]["labels"]
        assert labels["mooring.dev/tenant"] == name
        assert labels["mooring.dev/environment"] == env
        assert labels["mooring.dev/cost-center"] == "cc-42"
        assert labels["app.kubernetes.io/managed-by"] == "mooring"
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        assert "ownerReferences" not in ns["metadata"]  # the GC can never take data away
        bindings = {
            b["metadata"]["name"]: b
            for b in await kube.list("rbac.authorization.k8s.io/v1", "RoleBinding", namespace)
        }
        assert set(bindings) == {"mooring-owners", "mooring-developers", "mooring-viewers"}
        assert bindings["mooring-owners"]["roleRef"]["name"] == "mooring-tenant-owner"
        assert bindings["mooring-developers"]["subjects"][0] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Group",
            "name": f"{name}-devs",
        }
        quota = await kube.get("v1", "ResourceQuota", "mooring-quota", namespace)
        assert quota["spec"]["hard"]["requests.cpu"] == "2"
        assert quota["spec"]["hard"]["pods"] == "10"
        assert quota["metadata"]["ownerReferences"][0]["uid"] == uid
        limits = await kube.get("v1", "LimitRange", "mooring-defaults", namespace)
        assert limits["spec"]["limits"][0]["default"] == {
            "cpu": "200m",
            "memory": "128Mi",
            "ephemeral-storage": "1Gi",
        }
        policies = {
            p["metadata"]["name"]
            for p in await kube.list("networking.k8s.io/v1", "NetworkPolicy", namespace)
        }
        assert policies == {
            "mooring-default-deny",
            "mooring-allow-dns",
            "mooring-allow-same-tenant",
        }
    status = onboarded["status"]
    assert status["tier"] == "small"
    assert [n["name"] for n in status["namespaces"]] == [f"{name}-dev", f"{name}-prod"]
    assert {c["type"] for c in status["conditions"]} >= {
        "Ready",
        "NamespacesReady",
        "AccessReady",
        "QuotaReady",
        "LimitsReady",
        "NetworkReady",
    }
    events = await kube.list("v1", "Event", "default", fields=f"involvedObject.name={name}")
    assert any(e["reason"] == "Reconciled" for e in events)


async def test_declared_allowances_become_network_policies(
    kube: Kube, operator: OperatorProcess, name: str, cleanup: list[str]
) -> None:
    other = f"{name}x"
    cleanup += [name, other]
    await kube.apply(tenant(other))
    await kube.apply(
        tenant(
            name,
            network={
                "ingress": {
                    "fromTenants": [other],
                    "fromIngressController": True,
                    "ports": [{"port": 8080}],
                },
                "egress": {"toCidrs": [{"cidr": "10.40.0.0/16", "ports": [{"port": 5432}]}]},
            },
        )
    )
    await wait_ready(kube, name)
    ingress = await kube.get(
        "networking.k8s.io/v1", "NetworkPolicy", "mooring-allow-ingress", f"{name}-dev"
    )
    peers = ingress["spec"]["ingress"][0]["from"]
    assert {"namespaceSelector": {"matchLabels": {"mooring.dev/tenant": other}}} in peers
    assert ingress["spec"]["ingress"][0]["ports"] == [{"port": 8080, "protocol": "TCP"}]
    egress = await kube.get(
        "networking.k8s.io/v1", "NetworkPolicy", "mooring-allow-egress", f"{name}-dev"
    )
    assert egress["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "10.40.0.0/16"}}]


# -- access ------------------------------------------------------------------------------------

ALLOWED, DENIED = True, False
# (role, verb, group, resource, namespace: "own" | "other" | None, expected)
MATRIX = [
    ("owner", "create", "apps", "deployments", "own", ALLOWED),
    ("owner", "create", "", "serviceaccounts", "own", ALLOWED),
    ("owner", "get", "", "secrets", "own", ALLOWED),
    ("owner", "update", "", "resourcequotas", "own", DENIED),
    ("owner", "delete", "", "limitranges", "own", DENIED),
    ("owner", "patch", "networking.k8s.io", "networkpolicies", "own", DENIED),
    ("owner", "create", "networking.k8s.io", "networkpolicies", "own", DENIED),
    ("owner", "update", "rbac.authorization.k8s.io", "rolebindings", "own", DENIED),
    ("owner", "create", "rbac.authorization.k8s.io", "roles", "own", DENIED),
    ("owner", "escalate", "rbac.authorization.k8s.io", "clusterroles", None, DENIED),
    ("owner", "bind", "rbac.authorization.k8s.io", "clusterroles", None, DENIED),
    ("owner", "create", "", "namespaces", None, DENIED),
    ("owner", "delete", "", "namespaces", None, DENIED),
    ("owner", "create", "rbac.authorization.k8s.io", "clusterrolebindings", None, DENIED),
    ("owner", "list", "", "secrets", "other", DENIED),
    ("owner", "get", "apps", "deployments", "other", DENIED),
    ("owner", "create", "mooring.dev", "tenants", None, DENIED),
    ("owner", "update", "mooring.dev", "tenants", None, DENIED),
    ("developer", "create", "apps", "deployments", "own", ALLOWED),
    ("developer", "create", "", "pods/exec", "own", ALLOWED),
    ("developer", "create", "mooring.dev", "databases", "own", ALLOWED),
    ("developer", "create", "", "serviceaccounts", "own", DENIED),
    ("developer", "update", "", "resourcequotas", "own", DENIED),
    ("developer", "list", "", "pods", "other", DENIED),
    ("viewer", "list", "", "pods", "own", ALLOWED),
    ("viewer", "get", "", "resourcequotas", "own", ALLOWED),
    ("viewer", "get", "", "secrets", "own", DENIED),
    ("viewer", "create", "apps", "deployments", "own", DENIED),
    ("viewer", "list", "", "pods", "other", DENIED),
]


async def test_access_matrix_by_subject_access_review(
    kube: Kube, onboarded: dict[str, Any], name: str, operator: OperatorProcess, cleanup: list[str]
) -> None:
    other = f"{name}o"
    cleanup.append(other)
    await kube.apply(tenant(other))
    await wait_ready(kube, other)
    people = {
        "owner": (f"{name}-alice", ()),
        "developer": (f"{name}-dora", (f"{name}-devs",)),
        "viewer": (f"{name}-victor", ()),
    }
    wrong = []
    for role, verb, group, resource, where, expected in MATRIX:
        user, groups = people[role]
        attributes: dict[str, Any] = {"verb": verb, "group": group}
        if "/" in resource:
            attributes["resource"], attributes["subresource"] = resource.split("/")
        else:
            attributes["resource"] = resource
        if where is not None:
            attributes["namespace"] = f"{name}-dev" if where == "own" else f"{other}-dev"
        review = await kube.create(
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {"user": user, "groups": list(groups), "resourceAttributes": attributes},
            }
        )
        if review["status"]["allowed"] is not expected:
            wrong.append((role, verb, group, resource, where, expected))
    assert wrong == []


async def test_a_member_runs_workloads_in_its_namespaces_and_nowhere_else(
    kube: Kube,
    onboarded: dict[str, Any],
    name: str,
    dev_cluster: DevCluster,
    tmp_path: Path,
    operator: OperatorProcess,
    cleanup: list[str],
) -> None:
    other = f"{name}o"
    cleanup.append(other)
    await kube.apply(tenant(other))
    await wait_ready(kube, other)
    async with as_user(dev_cluster, tmp_path, f"{name}-dora", (f"{name}-devs",)) as dora:
        await dora.apply(deployment("web", f"{name}-dev"))
        with pytest.raises(Forbidden):
            await dora.apply(deployment("web", f"{other}-dev"))
        with pytest.raises(Forbidden):
            await dora.list("v1", "Secret", f"{other}-dev")
        with pytest.raises(Forbidden):
            await dora.create(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{name}-x"}}
            )
        with pytest.raises(Forbidden):
            await dora.patch(
                "v1",
                "ResourceQuota",
                "mooring-quota",
                {"spec": {"hard": {"pods": "1000"}}},
                namespace=f"{name}-dev",
            )
        with pytest.raises(Forbidden):
            await dora.delete(
                "networking.k8s.io/v1", "NetworkPolicy", "mooring-default-deny", f"{name}-dev"
            )
        with pytest.raises(Forbidden):
            await dora.apply(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": {"name": "me-admin", "namespace": f"{name}-dev"},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": "admin",
                    },
                    "subjects": [
                        {
                            "apiGroup": "rbac.authorization.k8s.io",
                            "kind": "User",
                            "name": f"{name}-dora",
                        }
                    ],
                }
            )

    async def running() -> bool:
        pods = await kube.list("v1", "Pod", f"{name}-dev", labels="app=web")
        return bool(pods) and pods[0]["status"].get("phase") == "Running"

    await eventually(running, what="the member's pod Running")


async def test_quota_and_container_defaults_apply_to_a_member(
    kube: Kube, onboarded: dict[str, Any], name: str, dev_cluster: DevCluster, tmp_path: Path
) -> None:
    namespace = f"{name}-dev"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "defaults", "namespace": namespace},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example.com/app:1.0",
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }
    async with as_user(dev_cluster, tmp_path, f"{name}-alice") as alice:
        created = await alice.create(pod)
        resources = created["spec"]["containers"][0]["resources"]
        # Ephemeral storage too: the quota limits it, the tier's LimitRange defaults it.
        assert resources == {
            "limits": {"cpu": "200m", "memory": "128Mi", "ephemeral-storage": "1Gi"},
            "requests": {"cpu": "100m", "memory": "64Mi", "ephemeral-storage": "100Mi"},
        }
        greedy = {**pod, "metadata": {"name": "greedy", "namespace": namespace}}
        greedy["spec"] = {
            **pod["spec"],
            "containers": [
                {
                    **pod["spec"]["containers"][0],
                    "resources": {"requests": {"cpu": "3"}, "limits": {"cpu": "3"}},
                }
            ],
        }
        with pytest.raises(Forbidden, match="exceeded quota: mooring-quota"):
            await alice.create(greedy)

    async def usage_in_status() -> bool:
        obj = await kube.get(API, "Tenant", name)
        dev = next(n for n in obj["status"]["namespaces"] if n["environment"] == "dev")
        pods = next((q for q in dev["quota"] if q["resource"] == "pods"), None)
        return pods == {"resource": "pods", "used": "1", "hard": "10"}

    # The status trails the quota by the operator's usage_delay (30 s; Watches).
    await eventually(
        usage_in_status, timeout=120, what="the tenant's status to show 1 of 10 pods used"
    )
    # Pod Security "restricted" is enforced too: a privileged pod is refused.
    privileged = {**pod, "metadata": {"name": "root", "namespace": namespace}}
    privileged["spec"] = {
        "containers": [{"name": "app", "image": "x:1", "securityContext": {"privileged": True}}]
    }
    with pytest.raises(Forbidden, match="violates PodSecurity"):
        await kube.create(privileged)


# -- drift -------------------------------------------------------------------------------------


async def test_deleting_a_managed_network_policy_restores_it(
    kube: Kube, onboarded: dict[str, Any], name: str
) -> None:
    namespace = f"{name}-dev"
    before = await kube.get(
        "networking.k8s.io/v1", "NetworkPolicy", "mooring-default-deny", namespace
    )
    await kube.delete("networking.k8s.io/v1", "NetworkPolicy", "mooring-default-deny", namespace)

    async def restored() -> bool:
        now = await kube.get_or_none(
            "networking.k8s.io/v1", "NetworkPolicy", "mooring-default-deny", namespace
        )
        return now is not None and now["metadata"]["uid"] != before["metadata"]["uid"]

    await eventually(restored, timeout=10, what="the NetworkPolicy restored")

    async def told() -> bool:
        events = await kube.list("v1", "Event", "default", fields=f"involvedObject.name={name}")
        return any(
            e["reason"] == "DriftRepaired" and "mooring-default-deny" in e["message"]
            for e in events
        )

    await eventually(told, timeout=10, what="a DriftRepaired event on the tenant")


@pytest.mark.parametrize(
    ("kind_api", "kind", "object_name", "patch", "check"),
    [
        (
            "v1",
            "ResourceQuota",
            "mooring-quota",
            {"spec": {"hard": {"pods": "999", "secrets": "3", "example.com/gpus": "8"}}},
            lambda o: (
                o["spec"]["hard"].get("pods") == "10"
                and o["spec"]["hard"].get("secrets") == "40"
                and "example.com/gpus" not in o["spec"]["hard"]
            ),
        ),
        (
            "v1",
            "LimitRange",
            "mooring-defaults",
            {"spec": {"limits": [{"type": "Container", "default": {"cpu": "4"}}]}},
            lambda o: (
                o["spec"]["limits"][0]["default"]
                == {"cpu": "200m", "memory": "128Mi", "ephemeral-storage": "1Gi"}
            ),
        ),
        (
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            "mooring-viewers",
            {
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "mallory"}
                ]
            },
            lambda o: [s["name"] for s in o["subjects"]] != ["mallory"],
        ),
        (
            "networking.k8s.io/v1",
            "NetworkPolicy",
            "mooring-allow-same-tenant",
            {"spec": {"ingress": [{}]}},
            lambda o: o["spec"]["ingress"] != [{}],
        ),
    ],
    ids=[
        "an edited quota",
        "an edited limit range",
        "an extra role binding subject",
        "an opened network policy",
    ],
)
async def test_edited_managed_objects_are_restored(
    kube: Kube,
    onboarded: dict[str, Any],
    name: str,
    kind_api: str,
    kind: str,
    object_name: str,
    patch: dict[str, Any],
    check: Any,
) -> None:
    namespace = f"{name}-dev"
    await kube.patch(
        kind_api, kind, object_name, patch, namespace=namespace, field_manager="kubectl-edit"
    )

    async def restored() -> bool:
        return bool(check(await kube.get(kind_api, kind, object_name, namespace)))

    await eventually(restored, timeout=10, what=f"{kind} {object_name} restored")


async def test_stripped_namespace_labels_are_restored(
    kube: Kube, onboarded: dict[str, Any], name: str
) -> None:
    namespace = f"{name}-dev"
    await kube.patch(
        "v1",
        "Namespace",
        namespace,
        {
            "metadata": {
                "labels": {
                    "app.kubernetes.io/managed-by": None,
                    "mooring.dev/tenant": None,
                    "pod-security.kubernetes.io/enforce": "privileged",
                }
            }
        },
    )

    async def restored() -> bool:
        labels = (await kube.get("v1", "Namespace", namespace))["metadata"]["labels"]
        return (
            labels.get("mooring.dev/tenant") == name
            and labels.get("pod-security.kubernetes.io/enforce") == "restricted"
        )

    await eventually(restored, timeout=10, what="namespace labels restored")


# -- spec changes ------------------------------------------------------------------------------


async def test_spec_changes_converge(kube: Kube, onboarded: dict[str, Any], name: str) -> None:
    spec = onboarded["spec"]
    await kube.patch(
        API,
        "Tenant",
        name,
        {
            "spec": {
                "environments": [*spec["environments"], {"name": "staging", "quota": {"pods": 3}}],
                "tier": "large",
                "viewers": None,
                "owners": {"users": [f"{name}-alice", f"{name}-bob"]},
            }
        },
    )
    status = (await wait_ready(kube, name))["status"]
    assert status["tier"] == "large"
    staging = await kube.get("v1", "ResourceQuota", "mooring-quota", f"{name}-staging")
    assert staging["spec"]["hard"]["pods"] == "3"
    assert staging["spec"]["hard"]["requests.cpu"] == "16"
    owners = await kube.get(
        "rbac.authorization.k8s.io/v1", "RoleBinding", "mooring-owners", f"{name}-prod"
    )
    assert [s["name"] for s in owners["subjects"]] == [f"{name}-alice", f"{name}-bob"]
    assert (
        await kube.get_or_none(
            "rbac.authorization.k8s.io/v1", "RoleBinding", "mooring-viewers", f"{name}-prod"
        )
        is None
    )

    async def told() -> list[str]:
        events = await kube.list("v1", "Event", "default", fields=f"involvedObject.name={name}")
        return [e["message"] for e in events if e["reason"] in ("Updated", "Pruned")]

    messages = " | ".join(await eventually(told, what="Updated and Pruned events"))
    assert f"Namespace {name}-staging" in messages or "changed" in messages
    assert f"RoleBinding {name}-prod/mooring-viewers" in messages  # pruned, and said so


async def test_removing_an_environment_deletes_an_empty_namespace_and_keeps_one_with_workloads(
    kube: Kube, onboarded: dict[str, Any], name: str
) -> None:
    await kube.apply(deployment("keepme", f"{name}-prod"))
    await kube.patch(API, "Tenant", name, {"spec": {"environments": [{"name": "staging"}]}})
    status = (await wait_ready(kube, name))["status"]

    async def dev_gone() -> bool:
        return await kube.get_or_none("v1", "Namespace", f"{name}-dev") is None

    await eventually(dev_gone, timeout=60, what=f"{name}-dev deleted")
    prod = await kube.get("v1", "Namespace", f"{name}-prod")
    assert prod["status"]["phase"] == "Active"
    assert "Deployments" in prod["metadata"]["annotations"]["mooring.dev/retained"]
    retained = [n for n in status["namespaces"] if n["phase"] == "Retained"]
    assert [n["name"] for n in retained] == [f"{name}-prod"]
    assert "holds" in retained[0]["message"]
    # What guards the kept namespace stays with it.
    assert await kube.get_or_none(
        "networking.k8s.io/v1", "NetworkPolicy", "mooring-default-deny", f"{name}-prod"
    )


# -- deletion ----------------------------------------------------------------------------------


async def test_deleting_a_retain_tenant_keeps_namespaces_with_data_and_their_guards(
    kube: Kube, operator: OperatorProcess, name: str, cleanup: list[str]
) -> None:
    await kube.apply(tenant(name, envs=("dev", "prod")))
    await wait_ready(kube, name)
    await kube.apply(deployment("data", f"{name}-prod"))
    await kube.delete(API, "Tenant", name)

    async def gone() -> bool:
        return await kube.get_or_none(API, "Tenant", name) is None

    await eventually(gone, timeout=30, what="the tenant deleted")

    async def empty_namespace_gone() -> bool:
        return await kube.get_or_none("v1", "Namespace", f"{name}-dev") is None

    await eventually(empty_namespace_gone, timeout=60, what="the empty namespace deleted")
    await asyncio.sleep(2)  # give the garbage collector a chance to do harm, if it could
    kept = await kube.get("v1", "Namespace", f"{name}-prod")
    assert kept["status"]["phase"] == "Active"
    assert f"tenant {name} deleted" in kept["metadata"]["annotations"]["mooring.dev/retained"]
    quota = await kube.get("v1", "ResourceQuota", "mooring-quota", f"{name}-prod")
    assert not quota["metadata"].get("ownerReferences")
    assert await kube.get_or_none("apps/v1", "Deployment", "data", f"{name}-prod")
    # Re-creating the tenant adopts the kept namespace when it says so (spec.adopt; without
    # it, tests/cluster/test_isolation.py shows the refusal).
    cleanup.append(name)
    await kube.apply(tenant(name, envs=("prod",), adopt=[{"namespace": f"{name}-prod"}]))
    status = (await wait_ready(kube, name))["status"]
    assert status["namespaces"][0]["phase"] == "Active"
    adopted = await kube.get("v1", "Namespace", f"{name}-prod")
    assert "mooring.dev/retained" not in (adopted["metadata"].get("annotations") or {})


async def test_deleting_a_delete_tenant_removes_its_namespaces(
    kube: Kube, operator: OperatorProcess, name: str
) -> None:
    await kube.apply(tenant(name, envs=("dev", "prod"), deletionPolicy="Delete"))
    await wait_ready(kube, name)
    await kube.apply(deployment("data", f"{name}-prod"))
    await kube.delete(API, "Tenant", name)

    async def all_gone() -> bool:
        found = [await kube.get_or_none("v1", "Namespace", f"{name}-{e}") for e in ("dev", "prod")]
        return all(n is None for n in found)

    await eventually(all_gone, timeout=60, what="both namespaces deleted")


# -- refusals ----------------------------------------------------------------------------------


async def test_an_existing_unmanaged_namespace_is_not_taken_over(
    kube: Kube, operator: OperatorProcess, name: str, cleanup: list[str]
) -> None:
    await kube.create(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{name}-dev"}}
    )
    cleanup.append(name)
    await kube.apply(tenant(name, envs=("dev", "prod")))

    async def conflicted() -> dict[str, Any] | None:
        obj = await kube.get(API, "Tenant", name)
        ready = condition(obj)
        return obj if ready.get("reason") == "NamespaceConflict" else None

    obj = await eventually(conflicted, what="a NamespaceConflict")
    assert "not managed by Mooring" in condition(obj, "NamespacesReady")["message"]
    ns = await kube.get("v1", "Namespace", f"{name}-dev")
    assert "mooring.dev/tenant" not in (ns["metadata"].get("labels") or {})
    assert await kube.get_or_none("v1", "Namespace", f"{name}-prod")  # the rest proceeds
    await kube.delete("v1", "Namespace", f"{name}-dev")


async def test_a_namespace_claimed_by_two_tenants_goes_to_the_first(
    kube: Kube, operator: OperatorProcess, name: str, cleanup: list[str]
) -> None:
    first, second = f"{name}-a", name  # first-a + "dev" vs name + "a-dev": both {name}-a-dev
    cleanup += [first, second]
    await kube.apply(tenant(first, envs=("dev",)))
    await wait_ready(kube, first)
    await kube.apply(tenant(second, envs=("a-dev",)))

    async def conflicted() -> dict[str, Any] | None:
        obj = await kube.get(API, "Tenant", second)
        return obj if condition(obj).get("reason") == "NamespaceConflict" else None

    obj = await eventually(conflicted, what="a NamespaceConflict")
    assert f"belongs to tenant {first}" in condition(obj, "NamespacesReady")["message"]


INVALID = [
    ({"environments": [{"name": "Dev"}]}, "spec.environments[0].name"),
    ({"environments": [{"name": "dev"}, {"name": "dev"}]}, "spec.environments"),
    ({"owners": {}}, "spec.owners"),
    ({"environments": []}, "spec.environments"),
    ({"deletionPolicy": "Purge"}, "spec.deletionPolicy"),
    ({"quota": {"cpu": "two"}}, "spec.quota.cpu"),
    ({"quota": {"memory": "9Ei"}}, "spec.quota.memory"),
    ({"quota": {"cpu": "-1"}}, "spec.quota.cpu"),
    ({"adopt": [{"namespace": "x-dev", "tenantUid": "1234"}]}, "spec.adopt[0]"),
    (
        {"network": {"egress": {"toCidrs": [{"cidr": "10.0.0.1/8"}]}}},
        "spec.network.egress.toCidrs[0]",
    ),
    ({"network": {"egress": {"toFqdns": [{"ports": []}]}}}, "spec.network.egress.toFqdns[0]"),
    ({"podSecurity": "privileged"}, "spec.podSecurity"),
    ({"colour": "blue"}, "spec.colour"),
]


@pytest.mark.parametrize(("change", "path"), INVALID, ids=[p for _, p in INVALID])
async def test_an_invalid_spec_is_refused_by_the_crd_and_by_validate(
    kube: Kube, platform: dict[str, Any], name: str, change: dict[str, Any], path: str
) -> None:
    obj = tenant(name)
    obj["spec"].update(change)
    # The API server, with strict field validation as kubectl and ArgoCD use it.
    resource = await kube.resource(API, "Tenant")
    with pytest.raises((Invalid, BadRequest)) as refused:
        await kube.request(
            "POST",
            resource.path(),
            body=obj,
            params={"dryRun": "All", "fieldValidation": "Strict"},
        )
    # `mooring validate`, over the same object as a file.

    documents = parse_documents(yaml.safe_dump(obj), "tenants/t.yaml")
    _, findings = validate_documents(documents)
    assert findings, f"validate accepted what the API server refused: {refused.value}"
    assert any(f.field_path.startswith(path) or path.startswith(f.field_path) for f in findings), (
        path,
        [f.field_path for f in findings],
    )
    field_in_server_message = path.split(".")[-1].split("[")[0]
    assert field_in_server_message in str(refused.value), str(refused.value)


async def test_a_too_long_namespace_is_refused_by_the_crd_and_by_validate(
    kube: Kube, platform: dict[str, Any]
) -> None:
    obj = tenant("a" * 40, envs=("b" * 30,))
    with pytest.raises(Invalid, match="must fit in 63 characters"):
        await kube.create(obj, dry_run=True)

    _, findings = validate_documents(parse_documents(yaml.safe_dump(obj), "t.yaml"))
    assert any("63" in f.message for f in findings)


# -- crash safety ------------------------------------------------------------------------------


async def test_the_operator_killed_mid_reconcile_converges_without_duplicates_or_orphans(
    kube: Kube, operator: OperatorProcess, name: str, cleanup: list[str]
) -> None:
    names = [f"{name}{i}" for i in range(12)]
    cleanup += names
    await asyncio.gather(*(kube.apply(tenant(n, envs=("dev", "prod"))) for n in names))
    await asyncio.sleep(0.4)
    operator.kill()
    operator.start()
    for n in names:
        await wait_ready(kube, n, timeout=60)
    expected = {
        ("Namespace", ""): 1,
        ("RoleBinding", "rbac.authorization.k8s.io"): 1,
        ("ResourceQuota", ""): 1,
        ("LimitRange", ""): 1,
        ("NetworkPolicy", "networking.k8s.io"): 3,
    }
    for n in names:
        uid = (await kube.get(API, "Tenant", n))["metadata"]["uid"]
        for env in ("dev", "prod"):
            namespace = f"{n}-{env}"
            for (kind, group), count in expected.items():
                api = f"{group}/v1" if group else "v1"
                if kind == "Namespace":
                    assert await kube.get("v1", "Namespace", namespace)
                    continue
                found = await kube.list(api, kind, namespace)
                assert len(found) == count, (
                    namespace,
                    kind,
                    [f["metadata"]["name"] for f in found],
                )
                assert all(f["metadata"]["ownerReferences"][0]["uid"] == uid for f in found)


async def test_metrics_count_reconciles_and_tenants(
    operator: OperatorProcess, onboarded: dict[str, Any]
) -> None:
    with urllib.request.urlopen(
        f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5
    ) as response:
        text = response.read().decode()
    assert 'mooring_reconciles_total{kind="Tenant",result="ready"}' in text
    assert 'mooring_tenants{state="Ready"}' in text
    assert "mooring_reconcile_duration_seconds_bucket" in text


async def test_a_platform_change_reaches_every_tenant(
    kube: Kube, onboarded: dict[str, Any], name: str, platform: dict[str, Any]
) -> None:
    changed = {"spec": {"tiers": {"small": {"quota": {"pods": 11}}}}}
    await kube.patch(API, "PlatformConfig", "default", changed)
    try:

        async def updated() -> bool:
            quota = await kube.get("v1", "ResourceQuota", "mooring-quota", f"{name}-dev")
            return bool(quota["spec"]["hard"]["pods"] == "11")

        await eventually(updated, what="the new tier quota applied")
    finally:
        await kube.apply(platform)


async def test_diff_shows_what_applying_would_change_and_nothing_once_applied(
    kube: Kube,
    operator: OperatorProcess,
    name: str,
    cleanup: list[str],
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    platform_file = Path(__file__).parent / "platform.yaml"
    tenant_file = tmp_path / f"{name}.yaml"
    tenant_file.write_text(yaml.safe_dump(tenant(name, envs=("dev",))))

    def diff() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "mooring.cli",
                "diff",
                "--kubeconfig",
                str(kubeconfig),
                str(platform_file),
                str(tenant_file),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    before = diff()
    assert before.returncode == 1, before.stderr
    assert f"+ create Tenant {name}" in before.stdout
    assert f"+ create Namespace {name}-dev" in before.stdout
    assert f"+ create ResourceQuota {name}-dev/mooring-quota" in before.stdout
    cleanup.append(name)
    await kube.apply(tenant(name, envs=("dev",)))
    await wait_ready(kube, name)
    after = diff()
    assert after.returncode == 0, after.stdout
    tenant_file.write_text(yaml.safe_dump(tenant(name, envs=("dev",), quota={"pods": 4})))
    changed = diff()
    assert changed.returncode == 1
    assert f"~ update ResourceQuota {name}-dev/mooring-quota" in changed.stdout
    assert "-    pods: '10'" in changed.stdout and "+    pods: '4'" in changed.stdout
