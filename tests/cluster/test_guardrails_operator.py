"""The guardrails in a running cluster: the operator installs the admission policies and
keeps them current, admission follows per-tenant modes and quotas, the audit writes one
PolicyReport per namespace with metrics, and an expired PolicyException stops applying at
admission, in the audit and in `mooring check` at the same moment."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from mooring.api import names
from mooring.api.exceptions import format_time
from mooring.core.policy.admission import MANAGED_SELECTOR, mode_label
from mooring.core.policy.rules import RULE_IDS
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
ADMISSION = "admissionregistration.k8s.io/v1"
REPORTS = "wgpolicyk8s.io/v1alpha2"
MODES = [
    {"rule": "image-tag", "mode": "enforce"},
    {"rule": "resources", "mode": "warn"},
    {"rule": "node-port-services", "mode": "enforce"},
    {"rule": "load-balancer-services", "mode": "enforce"},
]


def pod_spec(image: str = "registry.example.com/app:1.0", **container: Any) -> dict[str, Any]:
    """A pod spec Pod Security "restricted" admits (tenant namespaces enforce it)."""
    return {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "app",
                "image": image,
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
                "resources": {
                    "requests": {"cpu": "50m", "memory": "32Mi"},
                    "limits": {"cpu": "100m", "memory": "64Mi"},
                },
                **container,
            }
        ],
    }


def pod(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": pod_spec(**spec),
    }


def deployment(name: str, namespace: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec(image)},
        },
    }


def service(name: str, namespace: str, service_type: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": service_type, "selector": {"app": name}, "ports": [{"port": 80}]},
    }


async def context_of(kube: Kube, namespace: str) -> dict[str, Any] | None:
    return await kube.get_or_none(names.API_VERSION, "GuardrailContext", "guardrails", namespace)


async def onboard(kube: Kube, name: str, cleanup: list[str], **spec: Any) -> str:
    """A tenant with the guardrail modes above; its namespace once its context is there."""
    cleanup.append(name)
    await kube.apply(tenant(name, guardrails=MODES, **spec))
    await wait_ready(kube, name)
    namespace = f"{name}-dev"
    await eventually(lambda: context_of(kube, namespace), 30, f"GuardrailContext in {namespace}")
    await eventually(
        lambda: kube.get_or_none("v1", "ServiceAccount", "default", namespace),
        30,
        "the default ServiceAccount",
    )
    # The API server takes up a changed binding within a moment: wait until the tenant's
    # enforce and warn modes are in force (its context exists, so a refusal is the policy's
    # own). Twice, a second apart: a policy the operator is about to replace (the previous
    # test's tenant going away may leave a mode unused for a moment) answers only once.
    probe = pod("probe", namespace, image="registry.example.com/app:latest")

    async def in_force() -> bool:
        return await warned(kube, namespace) and await denied(kube, probe, "image-tag")

    async def stays_in_force() -> bool:
        if not await in_force():
            return False
        await asyncio.sleep(1)
        return await in_force()

    await eventually(stays_in_force, 60, "the tenant's modes in force")
    return namespace


async def warned(kube: Kube, namespace: str) -> bool:
    """A Deployment without resources is admitted with the resources rule's warning."""
    loose = deployment("probe", namespace, "registry.example.com/app:1.0")
    del loose["spec"]["template"]["spec"]["containers"][0]["resources"]
    warnings: list[str] = []
    await kube.create(loose, dry_run=True, warnings=warnings)
    return any("[guardrail resources]" in w for w in warnings)


async def denied(kube: Kube, obj: dict[str, Any], rule: str) -> bool:
    """Refused by the guardrail `rule`? (False when admitted, or refused by something else,
    such as the quota, before the guardrail's policy for this kind is in force.)"""
    try:
        await kube.create(obj, dry_run=True)
    except Forbidden as error:
        if "[guardrail " not in error.message:
            return False
        assert f"[guardrail {rule}]" in error.message, error.message
        return True
    return False


async def test_the_operator_installs_every_policy_and_restores_a_deleted_one(
    kube: Kube, operator: OperatorProcess, name: str, cleanup: list[str]
) -> None:
    await onboard(kube, name, cleanup)
    # The cluster tests' platform audits by default; their tenants enforce and warn some
    # rules: a policy per target and mode in use, each judging every rule of its target.
    wanted = {
        f"{target}-{mode}.guardrails.mooring.dev"
        for target in ("pods", "services")
        for mode in ("audit", "enforce")
    } | {"pods-warn.guardrails.mooring.dev"}

    async def installed() -> list[dict[str, Any]]:
        found = await kube.list(ADMISSION, "ValidatingAdmissionPolicy", labels=MANAGED_SELECTOR)
        return found if wanted <= {p["metadata"]["name"] for p in found} else []

    policies = await eventually(installed, 60, "the guardrail policies installed")
    rules = {
        r for p in policies for r in p["metadata"]["annotations"]["mooring.dev/rules"].split(",")
    }
    assert rules == set(RULE_IDS)
    victim = "pods-enforce.guardrails.mooring.dev"
    await kube.delete(ADMISSION, "ValidatingAdmissionPolicy", victim)
    await eventually(
        lambda: kube.get_or_none(ADMISSION, "ValidatingAdmissionPolicy", victim),
        30,
        "the deleted policy restored",
    )


async def test_admission_follows_the_tenant_modes(
    kube: Kube, operator: OperatorProcess, name: str, cleanup: list[str]
) -> None:
    namespace = await onboard(kube, name, cleanup)
    # enforce: refused, with the rule's message naming the object, container, field and fix.
    latest = deployment("web", namespace, "registry.example.com/app:latest")
    with pytest.raises(Forbidden) as refused:
        await kube.create(latest, dry_run=True)
    message = refused.value.message
    assert "Deployment web" in message and "container app" in message, message
    assert "spec.template.spec.containers[name=app].image" in message, message
    assert "pin a version tag" in message and "[guardrail image-tag]" in message, message
    # warn: admitted, with a warning. (A Deployment: the namespace's LimitRange gives Pods
    # the defaults before admission, but not the templates of workloads.)
    loose = deployment("loose", namespace, "registry.example.com/app:1.0")
    del loose["spec"]["template"]["spec"]["containers"][0]["resources"]
    warnings: list[str] = []
    await kube.create(loose, dry_run=True, warnings=warnings)
    assert any("[guardrail resources]" in w for w in warnings), warnings
    # audit (the platform's default here): admitted, without a warning.
    warnings = []
    await kube.create(pod("fine", namespace), dry_run=True, warnings=warnings)
    assert not [w for w in warnings if "guardrail" in w], warnings
    # Updates: judged when the template or the labels change, not when scaled.
    web = deployment("web", namespace, "registry.example.com/app:1.0")
    await kube.apply(web)
    web["metadata"]["labels"]["tier"] = "frontend"
    await kube.apply(web)
    await kube.patch("apps/v1", "Deployment", "web", {"spec": {"replicas": 3}}, namespace=namespace)
    web["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example.com/app:latest"
    with pytest.raises(Forbidden, match=r"\[guardrail image-tag\]"):
        await kube.apply(web)


async def test_a_tenant_is_ready_only_once_its_namespaces_have_their_guardrails(
    kube: Kube,
    operator: OperatorProcess,
    dev_cluster: DevCluster,
    tmp_path: Path,
    name: str,
    cleanup: list[str],
) -> None:
    """The enforcing policy refuses whatever it judges in a tenant namespace that has no
    GuardrailContext (it fails closed: "no params found"). So a tenant says Ready only once
    each of its namespaces has its context: in the API server's order of writes (one etcd
    revision counter), every context comes before the status that first says Ready. A
    team's first Deployment, sent the moment its tenant is Ready, is then judged by the
    rules: the compliant one admitted, its twin refused by the rule it breaks."""
    await onboard(kube, name, cleanup)  # the enforcing policy is in force in every tenant namespace
    teams = [f"{name}n{i}" for i in range(4)]
    cleanup += teams
    _, since = await kube.list_with_version(names.API_VERSION, "Tenant")
    ready_at: dict[str, int] = {}
    context_at: dict[str, int] = {}
    admitted: dict[str, str] = {}

    async def first_workload(team: str) -> None:
        path = tmp_path / f"{team}.kubeconfig"
        path.write_text(dev_cluster.mint_kubeconfig(f"{team}-owner"))
        web = deployment("web", f"{team}-dev", "registry.example.com/app:1.0")
        async with Kube.from_kubeconfig(path) as member:
            try:
                await member.create(web, dry_run=True)
            except KubeError as error:  # "no params found" is a 422
                admitted[team] = error.message
            else:
                admitted[team] = "admitted"

    async def follow_tenants() -> None:
        sent: list[asyncio.Task[None]] = []
        async for kind, obj in kube.watch(
            names.API_VERSION, "Tenant", resource_version=since, timeout_seconds=120
        ):
            team = obj["metadata"].get("name")
            if kind == "BOOKMARK" or team not in teams or team in ready_at:
                continue
            if condition(obj).get("status") == "True":
                ready_at[team] = int(obj["metadata"]["resourceVersion"])
                sent.append(asyncio.create_task(first_workload(team)))
                if len(ready_at) == len(teams):
                    break
        await asyncio.gather(*sent)

    async def follow_contexts() -> None:
        async for kind, obj in kube.watch(
            names.API_VERSION, "GuardrailContext", resource_version=since, timeout_seconds=120
        ):
            if kind == "ADDED":
                namespace = obj["metadata"]["namespace"]
                context_at.setdefault(namespace, int(obj["metadata"]["resourceVersion"]))

    contexts = asyncio.create_task(follow_contexts())
    for team in teams:
        await kube.apply(tenant(team, guardrails=MODES))
    await asyncio.wait_for(follow_tenants(), timeout=90)

    async def all_seen() -> bool:
        return all(f"{team}-dev" in context_at for team in teams)

    await eventually(all_seen, 30, "every new namespace's GuardrailContext created")
    contexts.cancel()
    for team in teams:
        assert context_at[f"{team}-dev"] < ready_at[team], (team, context_at, ready_at)
        assert admitted[team] == "admitted", (team, admitted[team])
    # Not vacuous: the rules judge there (image-tag is enforced for these teams).
    twin = deployment("web", f"{teams[0]}-dev", "registry.example.com/app:latest")

    async def twin_refused() -> bool:
        return await denied(kube, twin, "image-tag")

    await eventually(twin_refused, 30, "the twin with a :latest image refused by image-tag")


WARN_POLICY = "pods-warn.guardrails.mooring.dev"


async def labels_of(kube: Kube, namespace: str) -> dict[str, str]:
    obj = await kube.get("v1", "Namespace", namespace)
    return dict(obj["metadata"].get("labels") or {})


async def apply_tenant(kube: Kube, body: dict[str, Any]) -> None:
    """Apply a Tenant; on a control plane just started, the isolation policy refuses every
    Tenant until the API server has synced its paramKind: tried again then."""

    async def applied() -> bool:
        try:
            await kube.apply(body)
        except Invalid as error:
            if "not yet synced" in error.message:
                return False
            raise
        return True

    await eventually(applied, 30, f"Tenant {body['metadata']['name']} applied")


async def test_a_namespace_switched_to_warn_gets_warnings_and_one_switched_back_does_not(
    kube: Kube,
    operator: OperatorProcess,
    dev_cluster: DevCluster,
    name: str,
    cleanup: list[str],
    tmp_path: Path,
) -> None:
    # The pods-warn policy is bound only to namespaces labelled for it, which the operator
    # keeps from each namespace's context: switching the mode moves the label with it.
    enforced = [{"rule": "resources", "mode": "enforce"}, {"rule": "image-tag", "mode": "enforce"}]
    warned_ = [{"rule": "resources", "mode": "warn"}, {"rule": "image-tag", "mode": "enforce"}]
    # Another tenant warns throughout, so the pods-warn policy stays in force in the cluster.
    cleanup += [name, f"{name}w"]
    await apply_tenant(kube, tenant(f"{name}w", guardrails=MODES))
    await apply_tenant(kube, tenant(name, guardrails=enforced))
    await wait_ready(kube, name)
    namespace = f"{name}-dev"
    await eventually(lambda: context_of(kube, namespace), 30, f"GuardrailContext in {namespace}")
    await eventually(
        lambda: kube.get_or_none("v1", "ServiceAccount", "default", namespace),
        30,
        "the default ServiceAccount",
    )
    label = mode_label("pods", "warn")
    # A Deployment without resources, and its compliant twin, created by a tenant member.
    loose = deployment("loose", namespace, "registry.example.com/app:1.0")
    del loose["spec"]["template"]["spec"]["containers"][0]["resources"]
    twin = deployment("twin", namespace, "registry.example.com/app:1.0")
    path = tmp_path / "owner.kubeconfig"
    path.write_text(dev_cluster.mint_kubeconfig(f"{name}-owner"))

    async def labels() -> dict[str, str]:
        return await labels_of(kube, namespace)

    async with Kube.from_kubeconfig(path) as member:

        async def outcome(obj: dict[str, Any]) -> tuple[str, list[str]]:
            """('refused by RULE' or 'admitted', the guardrails' warnings)."""
            warnings: list[str] = []
            try:
                await member.create(obj, dry_run=True, warnings=warnings)
            except Forbidden as error:
                rules = [r for r in RULE_IDS if f"[guardrail {r}]" in error.message]
                return f"refused by {','.join(rules) or error.message}", []
            return "admitted", [w for w in warnings if "[guardrail " in w]

        def warned_about_resources(found: tuple[str, list[str]]) -> bool:
            verdict, warnings = found
            return (
                verdict == "admitted"
                and len(warnings) == 1
                and "[guardrail resources]" in warnings[0]
                and "Deployment loose" in warnings[0]
            )

        def refused_by_resources(found: tuple[str, list[str]]) -> bool:
            return found == ("refused by resources", [])

        async def settled(
            expected: Callable[[tuple[str, list[str]]], bool], labelled: bool
        ) -> bool:
            # Twice, a second apart: a binding the API server is about to take up or drop
            # answers once.
            for attempt in range(2):
                if not expected(await outcome(loose)) or (label in await labels()) != labelled:
                    return False
                if attempt == 0:
                    await asyncio.sleep(1)
            return True

        # Enforced: the loose one refused, the twin admitted without a word; no label, so
        # the warn policy (in use by other tenants, or not) is not evaluated here.
        await eventually(lambda: settled(refused_by_resources, False), 60, "resources enforced")
        assert await outcome(twin) == ("admitted", [])

        # Switched to warn: the label comes, the loose one is admitted with the warning.
        await apply_tenant(kube, tenant(name, guardrails=warned_))
        await eventually(lambda: settled(warned_about_resources, True), 60, "resources warned")
        assert (await labels())[label] == "true"
        assert await outcome(twin) == ("admitted", [])

        # Switched back: refused again, and no warnings for anything (the label is gone).
        await apply_tenant(kube, tenant(name, guardrails=enforced))
        await eventually(lambda: settled(refused_by_resources, False), 60, "resources enforced")
        assert await outcome(twin) == ("admitted", [])
    # The warn policy is still there (the other tenant's), bound by the label alone.
    binding = await kube.get(ADMISSION, "ValidatingAdmissionPolicyBinding", WARN_POLICY)
    selector = binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"]
    assert {"key": label, "operator": "Exists"} in selector, selector
    assert mode_label("pods", "warn") in await labels_of(kube, f"{name}w-dev")


async def test_node_ports_and_load_balancers_follow_the_quota(
    kube: Kube, operator: OperatorProcess, name: str, cleanup: list[str]
) -> None:
    small = await onboard(kube, name, cleanup)
    large = await onboard(kube, f"{name}l", cleanup, tier="large")
    # The Service policy comes into force on its own (onboard waited for the Pod one).
    await eventually(
        lambda: denied(kube, service("np", small, "NodePort"), "node-port-services"),
        30,
        "NodePort refused by the guardrail",
    )
    assert await denied(kube, service("lb", small, "LoadBalancer"), "load-balancer-services")
    assert not await denied(kube, service("np", large, "NodePort"), "node-port-services")
    assert not await denied(kube, service("lb", large, "LoadBalancer"), "load-balancer-services")
    assert not await denied(kube, service("ip", small, "ClusterIP"), "node-port-services")


async def report_of(kube: Kube, namespace: str) -> dict[str, Any] | None:
    return await kube.get_or_none(REPORTS, "PolicyReport", "mooring-guardrails", namespace)


def results_for(report: dict[str, Any] | None, kind: str, name: str, rule: str) -> list[str]:
    if report is None:
        return []
    return [
        r["result"]
        for r in report.get("results") or []
        if r["rule"] == rule
        and r["resources"][0]["kind"] == kind
        and r["resources"][0]["name"] == name
    ]


def metrics(operator: OperatorProcess) -> str:
    url = f"http://127.0.0.1:{operator.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text: str = response.read().decode()
        return text


async def test_the_audit_writes_one_report_per_namespace_with_metrics(
    kube: Kube, operator: OperatorProcess, name: str, cleanup: list[str]
) -> None:
    namespace = await onboard(kube, name, cleanup)
    await kube.create(deployment("good", namespace, "registry.example.com/app:1.0"))
    # resources is in warn mode: admitted, and reported as a warning.
    loose = deployment("loose", namespace, "registry.example.com/app:1.0")
    loose["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "100m"}}
    await kube.create(loose)

    async def reported() -> dict[str, Any] | None:
        report = await report_of(kube, namespace)
        ready = results_for(report, "Deployment", "loose", "resources") == ["warn"] and results_for(
            report, "Deployment", "good", "image-tag"
        ) == ["pass"]
        return report if ready else None

    report = await eventually(reported, 30, "the PolicyReport with both workloads")
    assert report["summary"]["warn"] >= 1 and report["summary"]["pass"] > 10
    assert report["metadata"]["labels"][names.LABEL_TENANT] == name
    # The Deployments' ReplicaSets and Pods copy their templates: reported through them, once.
    kinds = {r["resources"][0]["kind"] for r in report["results"]}
    assert kinds == {"Deployment"}, kinds
    (loose,) = [
        r
        for r in report["results"]
        if r["rule"] == "resources" and r["resources"][0]["name"] == "loose"
    ]
    assert "resources.limits.memory" in loose["message"] and loose["severity"] == "medium"
    assert loose["properties"]["mode"] == "warn"
    line = f'mooring_guardrail_violations{{mode="warn",rule="resources",tenant="{name}"}} 1.0'

    async def counted() -> bool:
        return line in metrics(operator)

    await eventually(counted, 30, f"the metric {line}")


def check(paths: list[Path], at: datetime | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mooring.cli", "check", *map(str, paths), "--format", "json"]
    if at is not None:
        command += ["--at", format_time(at)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


async def test_an_expired_exception_stops_applying_everywhere_at_once(
    kube: Kube, operator: OperatorProcess, name: str, cleanup: list[str], tmp_path: Path
) -> None:
    namespace = await onboard(kube, name, cleanup)
    expires = (datetime.now(UTC) + timedelta(seconds=12)).replace(microsecond=0)
    exception = {
        "apiVersion": names.API_VERSION,
        "kind": "PolicyException",
        "metadata": {"name": "legacy", "namespace": namespace},
        "spec": {
            "rules": ["image-tag"],
            "workloads": {"names": ["legacy"]},
            "justification": "the vendor ships only :latest until the next release",
            "approver": "platform-team@example.com",
            "expires": format_time(expires),
        },
    }
    await kube.apply(exception)
    legacy = deployment("legacy", namespace, "registry.example.com/vendor:latest")

    async def lifted() -> bool:
        context = await context_of(kube, namespace)
        return any(e["name"] == "legacy" for e in (context or {})["spec"].get("exceptions", []))

    await eventually(lifted, 30, "the exception in the GuardrailContext")
    # In force: admitted, excepted in the report, a note in `mooring check`.
    await kube.create(legacy)
    probe = pod("legacy", namespace, image="registry.example.com/vendor:latest")
    assert not await denied(kube, probe, "image-tag")
    manifests = tmp_path / "repo"
    manifests.mkdir()
    (manifests / "app.yaml").write_text(yaml.safe_dump_all([legacy, exception]))
    (manifests / "tenant.yaml").write_text(yaml.safe_dump(tenant(name, guardrails=MODES)))
    repo = [manifests, PLATFORM]
    before = check(repo)
    assert before.returncode == 0, before.stdout + before.stderr
    (finding,) = [f for f in json.loads(before.stdout)["findings"] if f["rule"] == "image-tag"]
    assert finding["verdict"] == "excepted" and finding["exceptions"] == ["legacy"]

    async def skipped() -> dict[str, Any] | None:
        report = await report_of(kube, namespace)
        return (
            report if results_for(report, "Deployment", "legacy", "image-tag") == ["skip"] else None
        )

    report = await eventually(skipped, 30, "the excepted result in the PolicyReport")
    (result,) = [r for r in report["results"] if r["rule"] == "image-tag"]
    assert result["properties"]["exception"] == "legacy"
    assert result["properties"]["approver"] == "platform-team@example.com"
    assert result["properties"]["expires"] == format_time(expires)
    # Expired: at admission, in the audit and offline, together.
    await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()))
    lag = {}

    async def gone_at_admission() -> bool:
        if await denied(kube, probe, "image-tag"):
            lag["admission"] = (datetime.now(UTC) - expires).total_seconds()
            return True
        return False

    async def failing_in_report() -> bool:
        report = await report_of(kube, namespace)
        if results_for(report, "Deployment", "legacy", "image-tag") == ["fail"]:
            lag["audit"] = (datetime.now(UTC) - expires).total_seconds()
            return True
        return False

    await asyncio.gather(
        eventually(gone_at_admission, 30, "the exception gone at admission"),
        eventually(failing_in_report, 30, "the Deployment failing in the report"),
    )
    after = check(repo)
    assert after.returncode == 1, after.stdout + after.stderr
    assert "expired" in " ".join(json.loads(after.stdout)["notes"])
    # Within a few seconds of the expiry (the operator wakes at that moment).
    assert lag["admission"] < 5 and lag["audit"] < 5, lag
    exception_now = await kube.get(names.API_VERSION, "PolicyException", "legacy", namespace)
    await eventually(
        lambda: _phase(kube, namespace),
        10,
        f"the exception's phase Expired (now {exception_now.get('status')})",
    )
    # The same instant, judged by `mooring check` before and after the expiry.
    assert check(repo, expires - timedelta(seconds=1)).returncode == 0
    assert check(repo, expires).returncode == 1


async def _phase(kube: Kube, namespace: str) -> bool:
    obj = await kube.get(names.API_VERSION, "PolicyException", "legacy", namespace)
    return bool((obj.get("status") or {}).get("phase") == "Expired")
