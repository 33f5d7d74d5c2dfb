"""The local control plane is a real Kubernetes: scheduling, namespaces, quota, RBAC, VAP."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from mooring.devcluster.cluster import DevCluster
from mooring.kube.client import Forbidden, Invalid, Kube, NotFound

pytestmark = pytest.mark.cluster


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 30, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} not reached within {timeout} s")


@pytest_asyncio.fixture
async def namespace(kube: Kube) -> AsyncIterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    await kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    await kube.delete("v1", "Namespace", name)


def deployment(name: str, namespace: str, replicas: int = 3, cpu: str = "100m") -> dict[str, Any]:
    container = {
        "name": "app",
        "image": "registry.example.com/app:1.0",
        "resources": {
            "requests": {"cpu": cpu, "memory": "64Mi"},
            "limits": {"cpu": cpu, "memory": "64Mi"},
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container]},
            },
        },
    }


async def test_four_kwok_nodes_with_real_capacity_are_ready(kube: Kube) -> None:
    nodes = await kube.list("v1", "Node", labels="type=kwok")
    assert len(nodes) == 4
    for node in nodes:
        assert node["status"]["allocatable"]["cpu"] == "8"
        assert node["status"]["allocatable"]["memory"] == "32Gi"
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True"


async def test_a_deployments_pods_are_scheduled_onto_kwok_nodes_and_run(
    kube: Kube, namespace: str
) -> None:
    await kube.apply(deployment("web", namespace, replicas=3))

    async def running() -> bool:
        pods = await kube.list("v1", "Pod", namespace, labels="app=web")
        return len(pods) == 3 and all(p["status"].get("phase") == "Running" for p in pods)

    async def ready() -> bool:
        deploy = await kube.get("apps/v1", "Deployment", "web", namespace)
        return bool(deploy["status"].get("readyReplicas") == 3)

    await eventually(running, what="3 Running pods")
    pods = await kube.list("v1", "Pod", namespace, labels="app=web")
    nodes = {n["metadata"]["name"] for n in await kube.list("v1", "Node", labels="type=kwok")}
    assert {p["spec"]["nodeName"] for p in pods} <= nodes
    assert all(p["status"].get("podIP") for p in pods)
    # The Deployment's status follows its pods' a moment later (its controller's next sync).
    await eventually(ready, what="the Deployment's 3 ready replicas")


async def test_deleting_a_namespace_with_workloads_completes(kube: Kube) -> None:
    name = f"gone-{uuid.uuid4().hex[:8]}"
    await kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    await kube.apply(deployment("doomed", name, replicas=2))
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": name},
            "data": {"a": "b"},
        }
    )

    async def pods_running() -> bool:
        pods = await kube.list("v1", "Pod", name)
        return len(pods) == 2 and all(p["status"].get("phase") == "Running" for p in pods)

    await eventually(pods_running, what="pods Running before the delete")
    assert await kube.delete("v1", "Namespace", name)

    async def gone() -> bool:
        return await kube.get_or_none("v1", "Namespace", name) is None

    await eventually(gone, timeout=60, what=f"namespace {name} deleted")


async def test_a_resource_quota_is_enforced(kube: Kube, namespace: str) -> None:
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "small", "namespace": namespace},
            "spec": {"hard": {"requests.cpu": "500m", "pods": "2", "configmaps": "3"}},
        }
    )

    async def quota_counted() -> bool:
        quota = await kube.get("v1", "ResourceQuota", "small", namespace)
        return "used" in quota.get("status", {})

    await eventually(quota_counted, what="quota status")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "big", "namespace": namespace},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example.com/app:1.0",
                    "resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "1"}},
                }
            ]
        },
    }
    with pytest.raises(Forbidden, match="exceeded quota: small"):
        await kube.create(pod)
    small = {**pod, "metadata": {"name": "small", "namespace": namespace}}
    small["spec"] = {
        "containers": [{**pod["spec"]["containers"][0], "resources": {"requests": {"cpu": "100m"}}}]
    }
    await kube.create(small)


async def test_a_user_bound_to_a_namespaced_role_is_denied_outside_it(
    kube: Kube, namespace: str, dev_cluster: DevCluster, tmp_path: Path
) -> None:
    other = f"other-{uuid.uuid4().hex[:8]}"
    await kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}})
    try:
        await kube.apply(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "configmaps", "namespace": namespace},
                "rules": [
                    {
                        "apiGroups": [""],
                        "resources": ["configmaps"],
                        "verbs": ["get", "list", "create"],
                    }
                ],
            }
        )
        await kube.apply(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "alice-configmaps", "namespace": namespace},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "configmaps",
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}
                ],
            }
        )
        config = tmp_path / "alice.kubeconfig"
        config.write_text(dev_cluster.mint_kubeconfig("alice", ["team-a"]))
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}}
        async with Kube.from_kubeconfig(config) as alice:
            await alice.create({**cm, "metadata": {"name": "mine", "namespace": namespace}})
            assert [c["metadata"]["name"] for c in await alice.list("v1", "ConfigMap", namespace)]
            with pytest.raises(Forbidden, match='User "alice" cannot create'):
                await alice.create({**cm, "metadata": {"name": "theirs", "namespace": other}})
            with pytest.raises(Forbidden, match='User "alice" cannot list'):
                await alice.list("v1", "ConfigMap", other)
            with pytest.raises(Forbidden, match='User "alice" cannot create'):
                await alice.create(
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "alice-ns"}}
                )
            with pytest.raises(Forbidden, match='User "alice" cannot delete'):
                await alice.delete("v1", "ConfigMap", "mine", namespace)
        review = await kube.create(
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {
                    "user": "alice",
                    "groups": ["team-a"],
                    "resourceAttributes": {
                        "namespace": other,
                        "verb": "get",
                        "resource": "configmaps",
                    },
                },
            }
        )
        assert review["status"]["allowed"] is False
    finally:
        await kube.delete("v1", "Namespace", other)


async def test_a_validating_admission_policy_denies_a_matching_object(
    kube: Kube, namespace: str
) -> None:
    policy_name = f"no-latest-{uuid.uuid4().hex[:6]}"
    await kube.apply(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": policy_name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["pods"],
                        }
                    ]
                },
                "validations": [
                    {
                        "expression": "object.spec.containers.all(c, !c.image.endsWith(':latest'))",
                        "message": "images must not use the :latest tag",
                    }
                ],
            },
        }
    )
    await kube.apply(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": policy_name},
            "spec": {
                "policyName": policy_name,
                "validationActions": ["Deny"],
                "matchResources": {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
                },
            },
        }
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "latest", "namespace": namespace},
        "spec": {"containers": [{"name": "app", "image": "nginx:latest"}]},
    }
    try:
        # The policy is compiled and picked up asynchronously; wait until it bites.
        async def denied() -> bool:
            try:
                await kube.create(pod, dry_run=True)
            except Invalid as error:
                assert "images must not use the :latest tag" in str(error)
                return True
            return False

        await eventually(denied, what="the admission policy to deny")
        pinned = {**pod, "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}
        await kube.create(pinned, dry_run=True)
    finally:
        await kube.delete(
            "admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding", policy_name
        )
        await kube.delete(
            "admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", policy_name
        )


async def test_an_unknown_kind_is_reported_as_not_found(kube: Kube) -> None:
    with pytest.raises(NotFound, match="no kind Widget"):
        await kube.resource("example.com/v1", "Widget")
