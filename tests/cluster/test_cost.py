"""Cost end to end on the local control plane: Debian's Prometheus scrapes kwok's simulated
usage (pods' kwok.x-k8s.io/usage-* annotations) and the scheduler's requests; the report
charges each container the larger of the two, sample by sample; the operator keeps
status.cost current and announces budget crossings with an Event and a metric.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from click.testing import CliRunner

from mooring.api.platform import PlatformConfig
from mooring.cli.main import cli
from mooring.core.cost.aggregate import by_group
from mooring.core.cost.window import Window, align
from mooring.devcluster.binaries import ensure_built
from mooring.devcluster.cluster import DevCluster
from mooring.devcluster.prometheus import DevPrometheus
from mooring.kube.client import Forbidden, Invalid, Kube, KubeError
from mooring.services.cost import cost_report
from tests.cluster.conftest import PLATFORM, OperatorProcess, eventually, tenant, wait_ready

pytestmark = pytest.mark.cluster
API = "mooring.dev/v1alpha1"
STEP = timedelta(seconds=15)
PRICE_CPU = Decimal("0.031611")
PRICE_GIB = Decimal("0.004237")


def pod(
    name: str,
    namespace: str,
    requests: tuple[str, str],
    usage: tuple[str, str],
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A pod that passes Pod Security "restricted", using what its annotations say."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels or {"app": name},
            "annotations": {
                "kwok.x-k8s.io/usage-cpu": usage[0],
                "kwok.x-k8s.io/usage-memory": usage[1],
            },
        },
        "spec": {
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 1000,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "main",
                    "image": "registry.example/app:1.0",
                    "resources": {
                        "requests": {"cpu": requests[0], "memory": requests[1]},
                        "limits": {"cpu": "1", "memory": "1Gi"},
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


async def running(kube: Kube, namespace: str, name: str) -> None:
    async def check() -> bool:
        obj = await kube.get_or_none("v1", "Pod", name, namespace)
        return bool(obj and (obj.get("status") or {}).get("phase") == "Running")

    await eventually(check, 60, f"pod {namespace}/{name} Running")


@pytest_asyncio.fixture(scope="module")
async def cost_platform(
    kube: Kube, platform: dict[str, Any], dev_prometheus: DevPrometheus
) -> AsyncIterator[str]:
    """The test PlatformConfig pointed at the session's Prometheus; put back afterwards."""
    await kube.patch(
        API,
        "PlatformConfig",
        "default",
        {"spec": {"cost": {"prometheusUrl": dev_prometheus.url, "stepMinutes": 1}}},
    )
    yield dev_prometheus.url
    await kube.patch(API, "PlatformConfig", "default", {"spec": {"cost": None, "prices": None}})


@pytest_asyncio.fixture(scope="module")
async def two_tenants(
    kube: Kube, operator: OperatorProcess, cost_platform: str
) -> AsyncIterator[tuple[str, str, datetime]]:
    """Tenant `over` uses more than it requests (500m / 256Mi for 100m / 64Mi); tenant
    `under` less (100m / 32Mi for 1 CPU / 512Mi). Both Running; when they were."""
    suffix = str(int(time.time()))[-6:]
    over, under = f"over{suffix}", f"under{suffix}"
    for name in (over, under):
        await kube.apply(tenant(name, costCenter=f"cc-{name}"))
    for name in (over, under):
        await wait_ready(kube, name, timeout=120)
    await kube.apply(pod("web", f"{over}-dev", ("100m", "64Mi"), ("500m", "256Mi")))
    await kube.apply(pod("web", f"{under}-dev", ("1", "512Mi"), ("100m", "32Mi")))
    await running(kube, f"{over}-dev", "web")
    await running(kube, f"{under}-dev", "web")
    yield over, under, datetime.now(UTC)
    for name in (over, under):
        await kube.patch(API, "Tenant", name, {"spec": {"deletionPolicy": "Delete"}})
        await kube.delete(API, "Tenant", name)


def measured_window(since: datetime, samples: int = 4) -> Window:
    """Whole steps that start after the pods ran for a step (rate() needs two points)."""
    start = align(since, STEP) + 2 * STEP
    return Window(start, start + samples * STEP, STEP, "test")


async def wait_until(moment: datetime) -> None:
    delay = (moment - datetime.now(UTC)).total_seconds()
    if delay > 0:
        await asyncio.sleep(delay)


async def test_over_its_request_a_tenant_is_charged_its_usage_under_it_its_request(
    kube: Kube, two_tenants: tuple[str, str, datetime], cost_platform: str
) -> None:
    over, under, since = two_tenants
    window = measured_window(since)
    await wait_until(window.end + timedelta(seconds=4))  # the last sample scraped
    platform = PlatformConfig.model_validate(await kube.get(API, "PlatformConfig", "default"))
    report = await cost_report(kube, platform, window, "tenant", False, cost_platform)
    rows = by_group(report)
    hours = window.hours  # 4 samples of 15 s: 1/60 hour
    # over: charged its usage, 500m CPU and 256 MiB (not its 100m / 64Mi request)
    assert float(rows[over].cpu) == pytest.approx(
        float(Decimal("0.5") * hours * PRICE_CPU), rel=0.05
    )
    assert float(rows[over].memory) == pytest.approx(
        float(Decimal("0.25") * hours * PRICE_GIB), rel=0.05
    )
    # under: charged its request, 1 CPU and 512 MiB (not its 100m / 32Mi usage)
    assert float(rows[under].cpu) == pytest.approx(float(hours * PRICE_CPU), rel=1e-9)
    assert float(rows[under].memory) == pytest.approx(
        float(Decimal("0.5") * hours * PRICE_GIB), rel=1e-9
    )
    assert rows[under].used is not None and rows[under].used < rows[under].requested
    assert rows[over].used is not None and rows[over].used > rows[over].requested
    assert any("kube-scheduler" in note for note in report.inputs.notes)
    # Idle: the four kwok nodes' capacity (8 CPU, 32 GiB each) less what was allocated.
    assert report.idle.known and report.idle.total > 0
    assert report.total == sum(row.total for row in report.rows) + report.idle.total


async def test_a_tenant_labelling_its_pods_as_another_tenants_is_still_charged_itself(
    kube: Kube, dev_cluster: DevCluster, two_tenants: tuple[str, str, datetime], cost_platform: str
) -> None:
    over, under, _ = two_tenants
    # An owner of `over`, with their own credentials, disguises a pod as `under`'s.
    path = dev_cluster.dir / f"{over}-owner.kubeconfig"
    path.write_text(dev_cluster.mint_kubeconfig(f"{over}-owner"))
    async with Kube.from_kubeconfig(path) as member:
        disguised = pod(
            "disguised",
            f"{over}-dev",
            ("200m", "64Mi"),
            ("1m", "1Mi"),
            labels={"mooring.dev/tenant": under, "mooring.dev/cost-center": f"cc-{under}"},
        )
        await member.apply(disguised)
        # ... and cannot relabel their namespace, nor touch the budget or status.cost.
        for attempt in (
            member.patch(
                "v1",
                "Namespace",
                f"{over}-dev",
                {"metadata": {"labels": {"mooring.dev/tenant": under}}},
            ),
            member.patch(API, "Tenant", over, {"spec": {"budget": {"amountPerMonth": 1e9}}}),
            member.patch(
                API,
                "Tenant",
                over,
                {"status": {"cost": {"monthToDate": "0.00"}}},
                subresource="status",
            ),
        ):
            with pytest.raises(Forbidden):
                await attempt
    # The platform (Git, applied by an admin) may set the budget: the compliant twin.
    await kube.patch(API, "Tenant", over, {"spec": {"budget": {"amountPerMonth": 1000}}})
    await running(kube, f"{over}-dev", "disguised")
    since = datetime.now(UTC)
    window = measured_window(since, samples=2)
    await wait_until(window.end + timedelta(seconds=4))
    platform = PlatformConfig.model_validate(await kube.get(API, "PlatformConfig", "default"))
    for by in ("tenant", "cost-center"):
        report = await cost_report(kube, platform, window, by, False, cost_platform)
        rows = by_group(report)
        key_over = over if by == "tenant" else f"cc-{over}"
        key_under = under if by == "tenant" else f"cc-{under}"
        # over pays for web (500m) and disguised (its 200m request); under for its 1 CPU
        assert float(rows[key_over].cpu) == pytest.approx(
            float(Decimal("0.7") * window.hours * PRICE_CPU), rel=0.05
        ), by
        assert float(rows[key_under].cpu) == pytest.approx(
            float(window.hours * PRICE_CPU), rel=1e-9
        ), by
    await kube.delete("v1", "Pod", "disguised", f"{over}-dev")


def test_the_report_command_prints_each_format_and_a_self_contained_page(
    kubeconfig: Path, two_tenants: tuple[str, str, datetime], cost_platform: str, tmp_path: Path
) -> None:
    over, under, since = two_tenants
    window = measured_window(since, samples=2)
    time.sleep(max(0.0, (window.end + timedelta(seconds=4) - datetime.now(UTC)).total_seconds()))
    span = f"{window.start:%Y-%m-%dT%H:%M:%SZ}..{window.end:%Y-%m-%dT%H:%M:%SZ}"
    base = ["cost", "report", "--kubeconfig", str(kubeconfig), "--window", span, "--step", "15s"]
    runner = CliRunner()
    result = runner.invoke(cli, [*base, "-o", "json", "--by", "namespace"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    groups = {row["group"] for row in data["rows"]}
    assert {f"{over}-dev", f"{under}-dev"} <= groups
    assert data["idle"]["known"] is True
    csv = runner.invoke(cli, [*base, "--format", "csv"])
    assert csv.exit_code == 0
    assert csv.stdout.splitlines()[0].startswith("group,cpu,memory,gpu,storage,loadBalancer")
    table = runner.invoke(cli, [*base, "--by", "label:app"])
    assert table.exit_code == 0, table.stderr
    assert "web" in table.stdout and "(idle)" in table.stdout
    page = tmp_path / "cost.html"
    html = runner.invoke(cli, [*base, "-o", "html", "--write", str(page)])
    assert html.exit_code == 0, html.stderr
    text = page.read_text()
    assert text.count("<svg") == 2 and over in text
    # Self-contained: no script, no stylesheet or image fetched from anywhere.
    assert "<script" not in text and "src=" not in text and "<link" not in text
    # Without Prometheus (a PlatformConfig file that names none): requests alone, said so.
    bare = tmp_path / "platform.yaml"
    bare.write_text(PLATFORM.read_text())
    alone = runner.invoke(
        cli, [*base, "--platform", str(bare), "--format", "json", "--by", "namespace"]
    )
    assert alone.exit_code == 0, alone.stderr
    requests_only = json.loads(alone.stdout)
    assert any("No Prometheus configured" in note for note in requests_only["notes"])
    over_row = next(r for r in requests_only["rows"] if r["group"] == f"{over}-dev")
    assert over_row["used"] is None  # not measured
    # charged its 100m request (0.000026), not its 500m usage (0.000132); JSON has 6 decimals
    hours = Decimal(window.samples * 15) / 3600
    assert float(over_row["cpu"]) == pytest.approx(
        float(Decimal("0.1") * hours * PRICE_CPU), abs=1e-6
    )
    # Nobody measured: exit 2 for a window that does not exist, 3 for a Prometheus that does not.
    assert runner.invoke(cli, [*base[:-4], "--window", "fortnight"]).exit_code == 2
    unreachable = runner.invoke(cli, [*base, "--prometheus", "http://127.0.0.1:9"])
    assert unreachable.exit_code == 3 and "cannot reach Prometheus" in unreachable.stderr


def test_a_tenant_member_cannot_read_everyones_cost(
    dev_cluster: DevCluster, two_tenants: tuple[str, str, datetime], tmp_path: Path
) -> None:
    over, _, _ = two_tenants
    member = tmp_path / "member.kubeconfig"
    member.write_text(dev_cluster.mint_kubeconfig(f"{over}-owner"))
    runner = CliRunner()
    refused = runner.invoke(cli, ["cost", "report", "--kubeconfig", str(member), "--window", "1h"])
    assert refused.exit_code in (2, 3), refused.output
    assert "forbidden" in refused.stderr.lower()
    admin = runner.invoke(
        cli, ["cost", "report", "--kubeconfig", str(dev_cluster.kubeconfig_path), "--window", "1h"]
    )
    assert admin.exit_code == 0, admin.stderr


def _metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_crossing_a_budget_posts_an_event_and_counts_in_the_metrics(
    kube: Kube, dev_cluster: DevCluster, operator: OperatorProcess, cost_platform: str
) -> None:
    # Prices high enough that one minute of 1 CPU (1000 per vCPU-hour: 16.67) spends more
    # than half of a 25 budget, and the month's forecast goes past all of it.
    name = f"budget{str(int(time.time()))[-6:]}"
    await kube.patch(
        API, "PlatformConfig", "default", {"spec": {"prices": {"cpuPerVcpuHour": 1000}}}
    )
    try:
        await kube.apply(
            tenant(name, budget={"amountPerMonth": 25, "thresholdsPercent": [50, 100]})
        )
        await wait_ready(kube, name, timeout=120)
        await kube.apply(pod("spender", f"{name}-dev", ("1", "64Mi"), ("1", "64Mi")))

        async def crossed() -> dict[str, Any] | None:
            obj = await kube.get(API, "Tenant", name)
            cost = (obj.get("status") or {}).get("cost") or {}
            return cost if {"actual:50", "forecast:100"} <= set(cost.get("crossed", [])) else None

        cost = await eventually(crossed, 180, "the budget's 50% and forecast 100% crossed")
        assert cost["currency"] == "USD" and cost["summary"].endswith("/25 USD")
        assert cost["budgetUsedPercent"] >= 50 and cost["forecastPercent"] >= 100

        async def events() -> set[str] | None:
            found = await kube.list("v1", "Event", "default")
            reasons = {
                (e["reason"], e["message"])
                for e in found
                if e["involvedObject"].get("name") == name
            }
            wanted = {r for r, m in reasons if r == "BudgetThresholdReached" and "50%" in m}
            wanted |= {r for r, m in reasons if r == "BudgetForecastOver" and "100%" in m}
            return wanted if len(wanted) == 2 else None

        await eventually(events, 30, "the budget Events")
        with urllib.request.urlopen(
            f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5
        ) as response:
            text = response.read().decode()
        assert (
            _metric(
                text,
                "mooring_tenant_budget_threshold_crossings_total",
                tenant=name,
                threshold="50",
                by="actual",
            )
            == 1.0
        )
        assert (
            _metric(
                text,
                "mooring_tenant_budget_threshold_crossings_total",
                tenant=name,
                threshold="100",
                by="forecast",
            )
            == 1.0
        )
        assert (_metric(text, "mooring_tenant_budget_forecast_ratio", tenant=name) or 0) >= 1
        assert _metric(text, "mooring_tenant_budget_amount", tenant=name, currency="USD") == 25
        # kubectl get tenants prints COST/BUDGET
        kubectl = ensure_built()["kubectl"]
        table = subprocess.run(
            [str(kubectl), "--kubeconfig", str(operator.kubeconfig), "get", "tenant", name],
            capture_output=True,
            text=True,
            check=False,
        )
        assert "COST/BUDGET" in table.stdout and "/25 USD" in table.stdout, table.stderr
        # The team reads its month with its own credentials (`mooring tenant status`, from
        # the TenantView); someone who is not a member reads nothing of it.
        owner = dev_cluster.dir / f"{name}-owner.kubeconfig"
        owner.write_text(dev_cluster.mint_kubeconfig(f"{name}-owner"))
        stranger = dev_cluster.dir / f"{name}-stranger.kubeconfig"
        stranger.write_text(dev_cluster.mint_kubeconfig(f"{name}-stranger"))
        runner = CliRunner()
        mine = await asyncio.to_thread(
            runner.invoke,
            cli,
            ["tenant", "status", name, "-n", f"{name}-dev", "--kubeconfig", str(owner)]
            + ["-o", "json"],
        )
        assert mine.exit_code == 0, mine.stderr
        section = json.loads(mine.stdout)["sections"]["cost"]
        assert section["currency"] == "USD" and "actual:50" in section["crossed"]
        assert section["thresholdsPercent"] == [50, 100]
        theirs = await asyncio.to_thread(
            runner.invoke,
            cli,
            ["tenant", "status", name, "-n", f"{name}-dev", "--kubeconfig", str(stranger)],
        )
        assert theirs.exit_code == 3 and "forbidden" in theirs.stderr.lower()
        assert "USD" not in theirs.stdout
    finally:
        await kube.patch(API, "PlatformConfig", "default", {"spec": {"prices": None}})
        await kube.patch(API, "Tenant", name, {"spec": {"deletionPolicy": "Delete"}})
        await kube.delete(API, "Tenant", name)


async def test_the_api_server_refuses_bad_prices_and_budgets_naming_the_field(
    kube: Kube, operator: OperatorProcess, name: str, cleanup: list[str]
) -> None:
    platform = await kube.get(API, "PlatformConfig", "default")

    def with_prices(prices: dict[str, Any]) -> dict[str, Any]:
        spec = {**platform["spec"], "prices": prices}
        return {
            "apiVersion": API,
            "kind": "PlatformConfig",
            "metadata": {"name": "default"},
            "spec": spec,
        }

    with pytest.raises(Invalid) as refused:
        await kube.apply(with_prices({"cpuPerVcpuHour": -1}), dry_run=True)
    assert "spec.prices.cpuPerVcpuHour" in refused.value.message
    with pytest.raises(KubeError) as quoted:
        await kube.apply(with_prices({"storagePerGibMonth": "0.04"}), dry_run=True)
    assert ".spec.prices.storagePerGibMonth: expected numeric" in quoted.value.message
    with pytest.raises(Invalid) as refused:
        await kube.apply(tenant(name, budget={"amountPerMonth": 0, "thresholdsPercent": [0]}))
    assert "spec.budget.amountPerMonth" in refused.value.message
    assert "spec.budget.thresholdsPercent" in refused.value.message
    # A budget in another currency than the prices: admitted by the schema, refused by the
    # operator with the field and the fix in the Ready condition.
    cleanup.append(name)
    await kube.apply(tenant(name, budget={"amountPerMonth": 100, "currency": "EUR"}))

    async def refused_by_operator() -> str | None:
        obj = await kube.get(API, "Tenant", name)
        ready = next(
            (c for c in (obj.get("status") or {}).get("conditions", []) if c["type"] == "Ready"),
            {},
        )
        return ready.get("message") if ready.get("reason") == "InvalidSpec" else None

    message = await eventually(refused_by_operator, 60, "the tenant refused as InvalidSpec")
    assert "spec.budget.currency" in message and "prices are in USD" in message
