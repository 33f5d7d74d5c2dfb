"""Observe on the real control plane: the operator renders each tenant's PrometheusRules
(once the Prometheus Operator's CRD appears) and dashboard ConfigMap, restores them when
deleted or edited, and tenant members cannot touch them while their own rules are admitted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from mooring.core.observe.rules import PROMETHEUS_RULE
from mooring.core.render.observe import DASHBOARD_CONFIGMAP
from mooring.devcluster.cluster import DevCluster
from mooring.devcluster.prometheus import DevPrometheus, query
from mooring.kube.client import Forbidden, Kube, KubeError
from tests.cluster.conftest import OperatorProcess, eventually, tenant, wait_ready

pytestmark = pytest.mark.cluster
ROOT = Path(__file__).resolve().parents[2]
CRD = (
    ROOT
    / "tests"
    / "fixtures"
    / "prometheus-operator"
    / "monitoring.coreos.com_prometheusrules.yaml"
)
RULES = "monitoring.coreos.com/v1"


@pytest_asyncio.fixture(scope="session")
async def prometheus_operator_crd(kube: Kube, operator: OperatorProcess) -> None:
    """The Prometheus Operator's PrometheusRule CRD, installed for the rest of the session
    (as a platform team would install the operator after Mooring)."""
    crd = next(d for d in yaml.safe_load_all(CRD.read_text()) if d)
    await kube.apply(crd)

    async def served() -> bool:
        kube.forget_discovery()
        return await kube.has_kind(RULES, "PrometheusRule")

    await eventually(served, timeout=30, what="the PrometheusRule CRD served")


@contextlib.asynccontextmanager
async def as_user(
    dev_cluster: DevCluster, tmp_path: Path, user: str, groups: tuple[str, ...] = ()
) -> AsyncIterator[Kube]:
    path = tmp_path / f"{user}.kubeconfig"
    path.write_text(dev_cluster.mint_kubeconfig(user, groups))
    async with Kube.from_kubeconfig(path) as client:
        yield client


@pytest_asyncio.fixture
async def observed(
    kube: Kube, prometheus_operator_crd: None, name: str, cleanup: list[str]
) -> dict[str, Any]:
    """A tenant with a developer group, an SLO and contacts; its PrometheusRules in place."""
    cleanup.append(name)
    await kube.apply(
        tenant(
            name,
            envs=("dev", "prod"),
            developers={"groups": [f"{name}-devs"]},
            viewers={"users": [f"{name}-victor"]},
            observe={
                "slos": [
                    {
                        "name": "api",
                        "objective": "99.5",
                        "good": 'http_requests_total{code!~"5.."}',
                        "total": "http_requests_total",
                    }
                ],
                "contacts": {"emails": [f"oncall@{name}.example"]},
            },
        )
    )
    body = await wait_ready(kube, name, timeout=60)

    async def rules_there() -> bool:
        found = [
            await kube.get_or_none(RULES, "PrometheusRule", PROMETHEUS_RULE, f"{name}-{e}")
            for e in ("dev", "prod")
        ]
        return all(found)

    # The operator notices the CRD within its feature poll (and discovery's 30 s memory).
    await eventually(rules_there, timeout=90, what="the tenant's PrometheusRules")
    return body


async def test_a_tenant_gets_prometheus_rules_and_a_dashboard_per_namespace(
    kube: Kube, observed: dict[str, Any], name: str
) -> None:
    for env in ("dev", "prod"):
        rule = await kube.get(RULES, "PrometheusRule", PROMETHEUS_RULE, f"{name}-{env}")
        groups = {g["name"] for g in rule["spec"]["groups"]}
        assert groups == {f"mooring-baseline-{name}-{env}", f"mooring-slo-{name}-{env}-api"}
        assert rule["metadata"]["labels"]["mooring.dev/tenant"] == name
        assert rule["metadata"]["ownerReferences"][0]["uid"] == observed["metadata"]["uid"]
        alerts = {
            r["labels"]["namespace"]
            for g in rule["spec"]["groups"]
            for r in g["rules"]
            if "alert" in r
        }
        assert alerts == {f"{name}-{env}"}
    dashboard = await kube.get("v1", "ConfigMap", DASHBOARD_CONFIGMAP, f"{name}-dev")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    status = await kube.get("mooring.dev/v1alpha1", "Tenant", name)
    kinds = {c["type"]: c["status"] for c in status["status"]["conditions"]}
    assert kinds.get("ObserveReady") == "True"


async def test_a_deleted_prometheus_rule_is_restored(
    kube: Kube, observed: dict[str, Any], name: str
) -> None:
    namespace = f"{name}-dev"
    before = await kube.get(RULES, "PrometheusRule", PROMETHEUS_RULE, namespace)
    await kube.delete(RULES, "PrometheusRule", PROMETHEUS_RULE, namespace)

    async def restored() -> bool:
        now = await kube.get_or_none(RULES, "PrometheusRule", PROMETHEUS_RULE, namespace)
        return now is not None and now["metadata"]["uid"] != before["metadata"]["uid"]

    await eventually(restored, timeout=15, what="the PrometheusRule restored")

    async def told() -> bool:
        events = await kube.list("v1", "Event", "default", fields=f"involvedObject.name={name}")
        return any(
            e["reason"] == "DriftRepaired" and PROMETHEUS_RULE in e["message"] for e in events
        )

    await eventually(told, timeout=15, what="a DriftRepaired event for the PrometheusRule")


@pytest.mark.parametrize(
    ("kind_api", "kind", "object_name", "patch", "check"),
    [
        (
            RULES,
            "PrometheusRule",
            PROMETHEUS_RULE,
            {"spec": {"groups": [{"name": "emptied", "rules": []}]}},
            lambda o: (
                all(g["name"] != "emptied" for g in o["spec"]["groups"])
                and len(o["spec"]["groups"]) == 2
            ),
        ),
        (
            "v1",
            "ConfigMap",
            DASHBOARD_CONFIGMAP,
            {"metadata": {"labels": {"grafana_dashboard": None}}},
            lambda o: o["metadata"]["labels"].get("grafana_dashboard") == "1",
        ),
    ],
    ids=["an emptied PrometheusRule", "a dashboard ConfigMap hidden from Grafana's sidecar"],
)
async def test_edited_observe_objects_are_restored(
    kube: Kube,
    observed: dict[str, Any],
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

    await eventually(restored, timeout=15, what=f"{kind} {object_name} restored")


# -- tenant members: their own rules yes, the baseline no ----------------------------------------


def own_rule(namespace: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": RULES,
        "kind": "PrometheusRule",
        "metadata": {"name": "team-rules", "namespace": namespace, "labels": labels or {}},
        "spec": {
            "groups": [
                {
                    "name": "team",
                    "rules": [
                        {
                            "alert": "CheckoutQueueLong",
                            "expr": f'queue_length{{namespace="{namespace}"}} > 100',
                            "labels": {"severity": "warning"},
                        }
                    ],
                }
            ]
        },
    }


async def refused(attempt: Any) -> str:
    try:
        await attempt
    except (Forbidden, KubeError) as error:
        return error.message
    raise AssertionError("admitted, but should have been refused")


async def test_a_member_adds_rules_but_cannot_delete_or_edit_the_baseline(
    kube: Kube, observed: dict[str, Any], name: str, dev_cluster: DevCluster, tmp_path: Path
) -> None:
    namespace = f"{name}-dev"
    async with as_user(dev_cluster, tmp_path, f"{name}-dora", (f"{name}-devs",)) as dora:
        # The compliant twin: their own rule, without Mooring's label, is admitted, and
        # theirs to change and delete.
        created = await dora.create(own_rule(namespace))
        assert created["metadata"]["name"] == "team-rules"
        await dora.patch(
            RULES,
            "PrometheusRule",
            "team-rules",
            {"metadata": {"labels": {"team": "checkout"}}},
            namespace=namespace,
        )
        await dora.delete(RULES, "PrometheusRule", "team-rules", namespace)

        forged = own_rule(namespace, {"app.kubernetes.io/managed-by": "mooring"})

        # The protection policy may still be on its way into the API server's cache.
        async def in_force() -> bool:
            try:
                await dora.create(forged, dry_run=True)
            except (Forbidden, KubeError):
                return True
            return False

        await eventually(in_force, timeout=30, what="the protection policy in force")
        said = await refused(dora.delete(RULES, "PrometheusRule", PROMETHEUS_RULE, namespace))
        assert "managed by Mooring" in said
        await refused(
            dora.patch(
                RULES,
                "PrometheusRule",
                PROMETHEUS_RULE,
                {"spec": {"groups": []}},
                namespace=namespace,
            )
        )
        # Forging Mooring's label onto their own rule (it would look like the baseline).
        assert "managed by Mooring" in await refused(dora.create(forged))
        # The dashboard ConfigMap: members may write ConfigMaps, not this one.
        assert "managed by Mooring" in await refused(
            dora.delete("v1", "ConfigMap", DASHBOARD_CONFIGMAP, namespace)
        )
        mine = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": namespace},
            "data": {"a": "b"},
        }
        await dora.create(mine)
    rule = await kube.get(RULES, "PrometheusRule", PROMETHEUS_RULE, namespace)
    assert len(rule["spec"]["groups"]) == 2


async def test_a_viewer_cannot_add_rules_and_no_member_reaches_another_tenant(
    kube: Kube, observed: dict[str, Any], name: str, dev_cluster: DevCluster, tmp_path: Path
) -> None:
    async with as_user(dev_cluster, tmp_path, f"{name}-victor") as victor:
        listed = await victor.list(RULES, "PrometheusRule", f"{name}-dev")
        assert [r["metadata"]["name"] for r in listed] == [PROMETHEUS_RULE]
        with pytest.raises(Forbidden):
            await victor.create(own_rule(f"{name}-dev"))
    async with as_user(dev_cluster, tmp_path, "stranger", ("other-team",)) as stranger:
        with pytest.raises(Forbidden):
            await stranger.list(RULES, "PrometheusRule", f"{name}-dev")
        with pytest.raises(Forbidden):
            await stranger.create(own_rule(f"{name}-dev"))


async def test_an_slo_change_reaches_the_prometheus_rules(
    kube: Kube, observed: dict[str, Any], name: str
) -> None:
    await kube.patch("mooring.dev/v1alpha1", "Tenant", name, {"spec": {"observe": {"slos": []}}})

    async def slo_gone() -> bool:
        rule = await kube.get(RULES, "PrometheusRule", PROMETHEUS_RULE, f"{name}-dev")
        return [g["name"] for g in rule["spec"]["groups"]] == [f"mooring-baseline-{name}-dev"]

    await eventually(slo_gone, timeout=20, what="the SLO group removed")
    await asyncio.sleep(0)


# -- a real Prometheus evaluates the operator's rules against live scrapes ------------------------


def busy_pod(namespace: str, name: str, cpu: str, memory_limit: str, usage: str) -> dict[str, Any]:
    """A compliant pod whose kwok-simulated memory use is `usage`."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {"kwok.x-k8s.io/usage-memory": usage, "kwok.x-k8s.io/usage-cpu": "10m"},
        },
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example.com/app:1.0",
                    "resources": {
                        "requests": {"cpu": cpu, "memory": "64Mi"},
                        "limits": {"cpu": cpu, "memory": memory_limit},
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


async def test_prometheus_evaluates_the_operators_rules_against_live_series(
    kube: Kube,
    observed: dict[str, Any],
    name: str,
    dev_prometheus: DevPrometheus,
    tmp_path: Path,
) -> None:
    namespace = f"{name}-dev"
    # The rules as the operator applied them, loaded into Debian's Prometheus.
    applied = await kube.get(RULES, "PrometheusRule", PROMETHEUS_RULE, namespace)
    rules = tmp_path / f"{name}.rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": applied["spec"]["groups"]}))
    await asyncio.to_thread(dev_prometheus.add, rule_files=[rules])
    # 1.9 of the 2 CPUs of the quota requested; one pod near its memory limit, one not.
    await kube.apply(busy_pod(namespace, "hungry", "1500m", "100Mi", "95Mi"))
    await kube.apply(busy_pod(namespace, "calm", "400m", "100Mi", "20Mi"))

    async def alert(name_: str, **labels: str) -> list[dict[str, Any]]:
        matchers = ", ".join(f'{k}="{v}"' for k, v in {"namespace": namespace, **labels}.items())
        return await asyncio.to_thread(
            query, dev_prometheus.url, f'ALERTS{{alertname="{name_}", {matchers}}}'
        )

    # Conditions met (pending: their `for` is 15 minutes) from kwok's usage and the
    # scheduler's requests, scraped live.
    hungry = await eventually(
        lambda: alert("MooringPodMemoryNearLimit", pod="hungry"), 90, "memory alert pending"
    )
    assert hungry[0]["metric"]["tenant"] == name
    assert hungry[0]["metric"]["severity"] == "warning"
    quota = await eventually(
        lambda: alert("KubeQuotaAlmostFull", resource="requests.cpu"), 90, "quota alert pending"
    )
    assert quota[0]["metric"]["alertstate"] == "pending"
    ratio = await asyncio.to_thread(
        query,
        dev_prometheus.url,
        f'mooring:namespace_quota_used:ratio{{namespace="{namespace}", resource="requests.cpu"}}',
    )
    assert float(ratio[0]["value"][1]) == pytest.approx(0.95)
    # And what must not fire: the calm pod, the other namespace, an exceeded quota.
    assert await alert("MooringPodMemoryNearLimit", pod="calm") == []
    assert await alert("KubeQuotaExceeded") == []
    assert (
        await asyncio.to_thread(query, dev_prometheus.url, f'ALERTS{{namespace="{name}-prod"}}')
        == []
    )
