"""Tenant isolation on the real control plane: platform namespaces, members that open a
tenant to everyone, re-created names, and `mooring apply` all or nothing.

Attacks are played by the people who would try them: the pull-request author's Tenant,
applied as Argo CD would apply it (a minted identity that may write Tenants), refused by
the API server exactly when `mooring validate` refuses it; tenant members with their own
minted kubeconfigs. Every attack has a compliant twin that must be admitted.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from mooring.api.documents import parse_documents
from mooring.core.validate import validate_documents
from mooring.devcluster.cluster import DevCluster
from mooring.kube.client import Forbidden, Invalid, Kube, KubeError
from tests.cluster.conftest import (
    PLATFORM,
    OperatorProcess,
    condition,
    eventually,
    tenant,
    wait_ready,
)

pytestmark = pytest.mark.cluster
API = "mooring.dev/v1alpha1"
APPLIER = "gitops-applier"
ISOLATION_CODES = {"reserved-namespace", "member-refused"}


@contextlib.asynccontextmanager
async def as_user(
    dev_cluster: DevCluster, folder: Path, user: str, groups: tuple[str, ...] = ()
) -> AsyncIterator[Kube]:
    path = folder / f"{user.replace(':', '_')}.kubeconfig"
    path.write_text(dev_cluster.mint_kubeconfig(user, groups))
    async with Kube.from_kubeconfig(path) as client:
        yield client


@pytest_asyncio.fixture
async def applier(
    kube: Kube, platform: dict[str, Any], dev_cluster: DevCluster, tmp_path: Path
) -> AsyncIterator[Kube]:
    """Argo CD's part: an identity that may write Tenants and nothing more, so what refuses
    an attack below is admission, not RBAC."""
    rbac = "rbac.authorization.k8s.io/v1"
    await kube.apply(
        {
            "apiVersion": rbac,
            "kind": "ClusterRole",
            "metadata": {"name": APPLIER},
            "rules": [
                {
                    "apiGroups": ["mooring.dev"],
                    "resources": ["tenants"],
                    "verbs": ["get", "list", "create", "update", "patch"],
                }
            ],
        }
    )
    await kube.apply(
        {
            "apiVersion": rbac,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": APPLIER},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": APPLIER,
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": APPLIER}
            ],
        }
    )
    async with as_user(dev_cluster, tmp_path, APPLIER) as client:
        yield client


def offline_refusals(body: dict[str, Any]) -> set[str]:
    """The isolation findings `mooring validate` gives this Tenant beside the cluster's
    own PlatformConfig (the admission policy's params)."""
    documents = parse_documents(PLATFORM.read_text(), "platform.yaml")
    documents += parse_documents(yaml.safe_dump(body), "tenants/t.yaml")
    _, findings = validate_documents(documents)
    return {f.code for f in findings if f.code in ISOLATION_CODES}


async def admitted(applier: Kube, body: dict[str, Any]) -> tuple[bool, str]:
    try:
        await applier.create(body, dry_run=True)
    except (Invalid, Forbidden) as refused:
        return False, str(refused)
    return True, ""


def members(name: str, role: str, kind: str, *who: str) -> dict[str, Any]:
    """Tenant `name` with these `kind` (users, groups, serviceAccounts) in `role`."""
    body = tenant(name)
    body["spec"][role] = {kind: list(who)}
    return body


# (the pull-request author's Tenant, its compliant twin); names are fixed, as the attacks
# need them (tenant "ingress" + environment "nginx"): only dry runs are made.
CASES = [
    pytest.param(
        tenant("ingress", envs=("nginx",)),
        tenant("ingress", envs=("web",)),
        id="ingress + nginx squats the ingress controller's namespace",
    ),
    pytest.param(
        tenant("cnpg", envs=("system",)), tenant("cnpg", envs=("prod",)), id="a *-system namespace"
    ),
    pytest.param(
        tenant("cert", envs=("manager",)), tenant("cert", envs=("web",)), id="cert-manager"
    ),
    pytest.param(
        tenant("kube", envs=("tools",)), tenant("kubes", envs=("tools",)), id="kube-* (the CRD)"
    ),
    pytest.param(
        tenant("mooring", envs=("system",)),
        tenant("mooring", envs=("systems",)),
        id="mooring-system (the CRD)",
    ),
    pytest.param(
        members("shop", "developers", "groups", "system:authenticated"),
        members("shop", "developers", "groups", "shop-devs"),
        id="system:authenticated as developers",
    ),
    pytest.param(
        members("shop", "viewers", "groups", "system:unauthenticated"),
        members("shop", "viewers", "groups", "auditors"),
        id="system:unauthenticated as viewers",
    ),
    pytest.param(
        members("shop", "owners", "users", "system:anonymous"),
        members("shop", "owners", "users", "alice"),
        id="system:anonymous as an owner (user)",
    ),
    pytest.param(
        members("shop", "owners", "groups", "system:anonymous"),
        members("shop", "owners", "groups", "shop-leads"),
        id="system:anonymous as an owner (group)",
    ),
    pytest.param(
        members("shop", "developers", "groups", "system:serviceaccounts"),
        members("shop", "developers", "groups", "system:serviceaccounts:shop-dev"),
        id="every service account in the cluster",
    ),
    pytest.param(
        members("shop", "developers", "serviceAccounts", "other-dev/deployer"),
        members("shop", "developers", "serviceAccounts", "shop-dev/deployer"),
        id="a service account of another tenant's namespace",
    ),
    pytest.param(
        members("shop", "developers", "users", "system:serviceaccount:other-dev:deployer"),
        members("shop", "developers", "users", "system:serviceaccount:shop-dev:deployer"),
        id="another namespace's service account written as a user",
    ),
    pytest.param(
        members("shop", "viewers", "users", "system:kube-probe"),
        members("shop", "viewers", "users", "system:monitoring-probe"),
        id="a system: user unless the platform allows it",
    ),
    pytest.param(
        members("shop", "developers", "serviceAccounts", "ci-other/bot"),
        members("shop", "developers", "serviceAccounts", "ci-shared/bot"),
        id="a shared service account unless the platform allows its namespace",
    ),
    pytest.param(
        members("shop", "viewers", "groups", "system:nodes"),
        members("shop", "viewers", "groups", "nodes-team"),
        id="the nodes' group",
    ),
]


@pytest.mark.parametrize(("attack", "twin"), CASES)
async def test_the_api_server_refuses_what_validate_refuses_and_admits_the_twin(
    applier: Kube, attack: dict[str, Any], twin: dict[str, Any]
) -> None:
    ok, refusal = await admitted(applier, attack)
    assert not ok, "the API server admitted the attack"
    assert offline_refusals(attack), f"validate passed what the API server refused: {refusal}"
    ok, refusal = await admitted(applier, twin)
    assert ok, refusal
    assert offline_refusals(twin) == set()


# -- the operator, when the PlatformConfig changes under a tenant -----------------------------


@contextlib.asynccontextmanager
async def platform_changed(
    kube: Kube, platform: dict[str, Any], **spec: Any
) -> AsyncIterator[None]:
    changed = {**platform, "spec": {**platform["spec"], **spec}}
    await kube.apply(changed)
    try:
        yield
    finally:
        await kube.apply(platform)


async def test_a_namespace_reserved_later_is_left_alone_with_a_condition(
    kube: Kube, platform: dict[str, Any], operator: OperatorProcess, name: str, cleanup: list[str]
) -> None:
    cleanup.append(name)
    await kube.apply(tenant(name, envs=("dev", "mon")))
    await wait_ready(kube, name)
    reserved = [*platform["spec"]["platformNamespaces"], f"{name}-mon"]
    async with platform_changed(kube, platform, platformNamespaces=reserved):

        async def refused() -> dict[str, Any] | None:
            obj = await kube.get(API, "Tenant", name)
            return obj if condition(obj).get("reason") == "NamespaceReserved" else None

        obj = await eventually(refused, what="a NamespaceReserved condition")
        assert f"namespace {name}-mon is reserved" in condition(obj, "NamespacesReady")["message"]
        # Refused, not taken away: the namespace (and what is in it) stays.
        assert await kube.get_or_none("v1", "Namespace", f"{name}-mon")
        events = await kube.list("v1", "Event", "default", fields=f"involvedObject.name={name}")
        assert any(e["reason"] == "NamespaceReserved" for e in events)
    await wait_ready(kube, name)


async def test_a_member_the_platform_stops_allowing_loses_access(
    kube: Kube,
    platform: dict[str, Any],
    operator: OperatorProcess,
    name: str,
    cleanup: list[str],
    dev_cluster: DevCluster,
    tmp_path: Path,
) -> None:
    cleanup.append(name)
    await kube.apply(tenant(name, viewers={"users": ["system:monitoring-probe"]}))
    await wait_ready(kube, name)
    async with as_user(dev_cluster, tmp_path, "system:monitoring-probe") as probe:
        assert await probe.list("v1", "Pod", f"{name}-dev") == []
        allowed = {"serviceAccountNamespaces": ["ci-shared"]}  # no system: user any more
        async with platform_changed(kube, platform, allowedSubjects=allowed):

            async def refused() -> dict[str, Any] | None:
                obj = await kube.get(API, "Tenant", name)
                return (
                    obj if condition(obj, "AccessReady").get("reason") == "SubjectRefused" else None
                )

            obj = await eventually(refused, what="a SubjectRefused condition")
            assert condition(obj)["reason"] == "SubjectRefused"

            async def locked_out() -> bool:
                try:
                    await probe.list("v1", "Pod", f"{name}-dev")
                except Forbidden:
                    return True
                return False

            await eventually(locked_out, what="the probe locked out")
        await wait_ready(kube, name)
        assert await probe.list("v1", "Pod", f"{name}-dev") == []  # the twin: allowed again


# -- a re-created tenant name ----------------------------------------------------------------


async def test_a_recreated_name_gets_the_kept_namespace_only_when_it_says_so(
    kube: Kube,
    operator: OperatorProcess,
    name: str,
    cleanup: list[str],
    dev_cluster: DevCluster,
    tmp_path: Path,
) -> None:
    namespace = f"{name}-prod"
    await kube.apply(tenant(name, owners=[f"{name}-alice"], envs=("prod",)))
    first = await wait_ready(kube, name)
    old_uid = first["metadata"]["uid"]
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db-password", "namespace": namespace},
            "stringData": {"password": "alice's team's secret"},
        }
    )
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": namespace},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
    )
    await kube.delete(API, "Tenant", name)

    async def gone() -> bool:
        return await kube.get_or_none(API, "Tenant", name) is None

    await eventually(gone, what="the tenant deleted")
    kept = await kube.get("v1", "Namespace", namespace)
    assert "mooring.dev/retained" in kept["metadata"]["annotations"]

    # Another team takes the free name: the kept namespace is refused, not handed over.
    cleanup.append(name)
    await kube.apply(tenant(name, owners=[f"{name}-mallory"], envs=("prod",)))

    async def refused() -> dict[str, Any] | None:
        obj = await kube.get_or_none(API, "Tenant", name)
        return obj if obj and condition(obj).get("reason") == "AdoptionRequired" else None

    obj = await eventually(refused, what="an AdoptionRequired condition")
    message = condition(obj, "NamespacesReady")["message"]
    assert old_uid in message and "spec.adopt" in message
    events = await kube.list("v1", "Event", "default", fields=f"involvedObject.name={name}")
    assert any(e["reason"] == "AdoptionRequired" for e in events)
    async with as_user(dev_cluster, tmp_path, f"{name}-mallory") as mallory:
        with pytest.raises(Forbidden):
            await mallory.get("v1", "Secret", "db-password", namespace)

        # The twin: the tenant says, in Git, that it takes the namespace over.
        await kube.patch(API, "Tenant", name, {"spec": {"adopt": [{"tenantUid": old_uid}]}})
        await wait_ready(kube, name)
        adopted = await kube.get("v1", "Namespace", namespace)
        annotations = adopted["metadata"]["annotations"]
        assert annotations["mooring.dev/tenant-uid"] == obj["metadata"]["uid"]
        assert annotations["mooring.dev/adopted-from"] == old_uid
        assert "mooring.dev/retained" not in annotations
        events = await kube.list("v1", "Event", "default", fields=f"involvedObject.name={name}")
        assert any(e["reason"] == "Adopted" and old_uid in e["message"] for e in events)

        async def readable() -> bool:
            try:
                await mallory.get("v1", "Secret", "db-password", namespace)
            except Forbidden:
                return False
            return True

        await eventually(readable, what="the adopting team reads the namespace")


# -- mooring apply, all or nothing ------------------------------------------------------------


def repository(folder: Path, *bodies: dict[str, Any]) -> Path:
    (folder / "tenants").mkdir(parents=True)
    shutil.copy(PLATFORM, folder / "platform.yaml")
    for body in bodies:
        name = body["metadata"]["name"]
        target = folder / "tenants" / f"{body['metadata'].get('namespace', name)}-{name}.yaml"
        target.write_text(yaml.safe_dump(body, sort_keys=False))
    return folder


def mooring_apply(
    kubeconfig: Path, folder: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mooring.cli",
            "apply",
            "--kubeconfig",
            str(kubeconfig),
            *options,
            str(folder),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def exception_in(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "PolicyException",
        "metadata": {"name": "legacy", "namespace": namespace},
        "spec": {
            "rules": ["image-tag"],
            "workloads": {"names": ["legacy"]},
            "justification": "the legacy worker is being replaced",
            "approver": "platform@example.com",
            "expires": "2099-01-01T00:00:00Z",
        },
    }


@contextlib.asynccontextmanager
async def refusing(
    kube: Kube, name: str, tenant_name: str, only_for_real: bool
) -> AsyncIterator[None]:
    """An admission policy that refuses Tenant `tenant_name` (only outside dry runs, if
    asked): a server that fails midway. Active once it refuses its probe."""
    probe = f"{name}-probe"
    expression = (
        f"object.metadata.name != '{probe}' && (object.metadata.name != '{tenant_name}'"
        + (" || request.dryRun)" if only_for_real else ")")
    )
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": f"test-refuse-{name}"},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["mooring.dev"],
                        "apiVersions": ["v1alpha1"],
                        "operations": ["CREATE"],
                        "resources": ["tenants"],
                    }
                ]
            },
            "validations": [{"expression": expression, "message": "refused by the test"}],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": f"test-refuse-{name}"},
        "spec": {"policyName": f"test-refuse-{name}", "validationActions": ["Deny"]},
    }
    await kube.apply(policy)
    await kube.apply(binding)
    try:

        async def active() -> bool:
            try:
                await kube.create(tenant(probe), dry_run=True)
            except KubeError:
                return True
            return False

        await eventually(active, what="the test's admission policy active")
        yield
    finally:
        api = "admissionregistration.k8s.io/v1"
        await kube.delete(api, "ValidatingAdmissionPolicyBinding", f"test-refuse-{name}")
        await kube.delete(api, "ValidatingAdmissionPolicy", f"test-refuse-{name}")


async def test_apply_applies_nothing_when_the_server_refuses_one_object(
    kube: Kube,
    operator: OperatorProcess,
    name: str,
    cleanup: list[str],
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    good, bad = f"{name}-a", f"{name}-b"
    cleanup += [good, bad]
    folder = repository(tmp_path / "repo", tenant(good), tenant(bad))
    async with refusing(kube, name, bad, only_for_real=False):
        done = mooring_apply(kubeconfig, folder)
    assert done.returncode == 3, done.stderr
    assert "nothing was applied" in done.stderr and f"Tenant {bad}: " in done.stderr
    assert await kube.get_or_none(API, "Tenant", good) is None


async def test_apply_says_what_was_and_was_not_applied_when_the_server_fails_midway(
    kube: Kube,
    operator: OperatorProcess,
    name: str,
    cleanup: list[str],
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    good, bad = f"{name}-a", f"{name}-b"
    cleanup += [good, bad]
    folder = repository(tmp_path / "repo", tenant(good), tenant(bad), exception_in(f"{good}-dev"))
    async with refusing(kube, name, bad, only_for_real=True):
        done = mooring_apply(kubeconfig, folder)
    assert done.returncode == 3, done.stderr
    assert f"applied Tenant {good}" in done.stderr
    assert f"error: Tenant {bad}: " in done.stderr and "refused by the test" in done.stderr
    (not_applied,) = [line for line in done.stderr.splitlines() if line.startswith("not applied:")]
    assert f"Tenant {bad}" in not_applied and f"PolicyException {good}-dev/legacy" in not_applied
    assert f"applied Tenant {bad}" not in done.stderr
    assert await kube.get_or_none(API, "Tenant", good)
    assert await kube.get_or_none(API, "Tenant", bad) is None
    # Stages: nothing after the Tenants was started.
    assert await kube.get_or_none(API, "PolicyException", "legacy", f"{good}-dev") is None


async def test_apply_dry_run_server_writes_nothing_then_apply_waits_for_new_namespaces(
    kube: Kube,
    operator: OperatorProcess,
    name: str,
    cleanup: list[str],
    kubeconfig: Path,
    tmp_path: Path,
) -> None:
    cleanup.append(name)
    folder = repository(tmp_path / "repo", tenant(name), exception_in(f"{name}-dev"))
    dry = mooring_apply(kubeconfig, folder, "--dry-run=server")
    assert dry.returncode == 0, dry.stderr
    assert f"would apply Tenant {name}" in dry.stdout
    assert "judged when their tenant's namespace exists" in dry.stderr
    assert await kube.get_or_none(API, "Tenant", name) is None
    done = mooring_apply(kubeconfig, folder)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("applied ")]
    assert lines == [
        "applied PlatformConfig default",
        f"applied Tenant {name}",
        f"applied PolicyException {name}-dev/legacy",
    ]
    assert await kube.get_or_none(API, "PolicyException", "legacy", f"{name}-dev")
