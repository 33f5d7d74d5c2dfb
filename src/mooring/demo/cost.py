"""The demo's cost chapter: a pull request's cost before it merges, then what tenants cost
as they run, from kwok's simulated usage scraped by Debian's Prometheus.

Side effects: starts the dev Prometheus (attached to the control plane, so `mooring dev
down` stops it), points the PlatformConfig at it, runs two Deployments whose pods use more
and less than they request (kwok's usage annotations), writes an HTML report in the state
folder.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mooring.api.cost import HOURS_PER_MONTH, money_text
from mooring.api.platform import PlatformConfig
from mooring.core.cost.aggregate import by_group
from mooring.core.cost.window import Window, align, stamp
from mooring.devcluster.cluster import DevCluster
from mooring.devcluster.prometheus import DevPrometheus
from mooring.kube.client import Kube
from mooring.services.cost import cost_report

API = "mooring.dev/v1alpha1"
STEP = timedelta(seconds=10)
SAMPLES = 3
# (namespace, name, requests, usage): what kwok makes each pod use.
WORKLOADS = (
    ("checkout-dev", "web", ("100m", "64Mi"), ("300m", "200Mi")),
    ("analytics-dev", "batch", ("500m", "256Mi"), ("50m", "64Mi")),
)


def deployment(
    namespace: str, name: str, requests: tuple[str, str], usage: tuple[str, str]
) -> dict[str, Any]:
    """Two replicas that pass every guardrail; kwok reads the usage annotations."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {
                    "labels": {"app": name},
                    "annotations": {
                        "kwok.x-k8s.io/usage-cpu": usage[0],
                        "kwok.x-k8s.io/usage-memory": usage[1],
                    },
                },
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": name,
                            "image": f"registry.example.com/{namespace}/{name}:1.0.0",
                            "imagePullPolicy": "Always",
                            "resources": {
                                "requests": {"cpu": requests[0], "memory": requests[1]},
                                "limits": {"cpu": "1", "memory": "512Mi"},
                            },
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


async def _running_since(kube: Kube, namespace: str, app: str) -> datetime:
    """When the last of the Deployment's pods started (waits until both run)."""
    for _ in range(300):
        pods = await kube.list("v1", "Pod", namespace, labels=f"app={app}")
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        if len(live) >= 2 and all(p["status"].get("phase") == "Running" for p in live):
            starts = [p["status"].get("startTime") for p in live]
            return max(datetime.fromisoformat(s.replace("Z", "+00:00")) for s in starts if s)
        await asyncio.sleep(0.2)
    raise RuntimeError(f"pods app={app} in {namespace} not Running")


def estimate(examples: Path, say: Callable[[str], None]) -> None:
    workloads = examples.parent / "workloads"
    say(f"  $ mooring cost estimate {examples.name}/ {workloads.name}/")
    done = subprocess.run(
        [sys.executable, "-m", "mooring.cli", "cost", "estimate", str(examples), str(workloads)],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in done.stdout.splitlines():
        if not line.startswith("note:"):
            say("    " + line.replace(str(examples.parent) + "/", ""))
    say("    (in a pull request: --base origin/main shows what it adds; --format github")
    say("     annotates the tenant files and writes the job summary)")


async def chapter(
    cluster: DevCluster, kube: Kube, say: Callable[[str], None], examples: Path
) -> None:
    estimate(examples, say)
    state = cluster.state()
    operator = state.components.get("mooring-operator") if state else None
    jobs = {"mooring-operator": [f"127.0.0.1:{operator.port}"]} if operator else {}
    url = await asyncio.to_thread(DevPrometheus(cluster).start, jobs, (), "2s")
    say(f"  Debian's Prometheus at {url} scrapes kwok's simulated usage (kubelet-style")
    say("  /metrics/resource per node) and the scheduler's requests (/metrics/resources)")
    await kube.patch(API, "PlatformConfig", "default", {"spec": {"cost": {"prometheusUrl": url}}})
    since = datetime.min.replace(tzinfo=UTC)
    for namespace, name, requests, usage in WORKLOADS:
        await kube.apply(deployment(namespace, name, requests, usage))
        since = max(since, await _running_since(kube, namespace, name))
        say(
            f"  {namespace}/{name}: 2 pods requesting {requests[0]} CPU / {requests[1]}, "
            f"using {usage[0]} / {usage[1]} (kwok's usage annotations)"
        )
    # From the first whole step in which the counters have two points (scraped every 2 s).
    start = align(since + timedelta(seconds=5), STEP) + STEP
    window = Window(start, start + SAMPLES * STEP, STEP, "demo")
    wait = (window.end - datetime.now(UTC)).total_seconds() + 6
    if wait > 0:
        say(f"  waiting {wait:.0f} s for Prometheus to hold {SAMPLES} samples of their usage ...")
        await asyncio.sleep(wait)
    platform = PlatformConfig.model_validate(await kube.get(API, "PlatformConfig", "default"))
    report = await cost_report(kube, platform, window, "namespace", False, url)
    rows = by_group(report)
    currency = report.currency
    span = f"{stamp(window.start)}..{stamp(window.end)}"
    say(f"  $ mooring cost report --by namespace --window {span} --step 10s")
    # A minute costs little: shown at this rate for a month.
    month = HOURS_PER_MONTH / window.hours
    say(f"    {'namespace':<16} {'requested':>10} {'used':>10} {'charged':>10}  {currency}/month")
    for namespace, _, _, _ in WORKLOADS:
        row = rows.get(namespace)
        if row is None:
            continue
        used = "-" if row.used is None else money_text(row.used * month)
        say(
            f"    {namespace:<16} {money_text(row.requested * month):>10} {used:>10} "
            f"{money_text(row.allocated * month):>10}"
        )
    say("    checkout-dev uses more than it requests: charged its usage; analytics-dev uses")
    say("    less: charged its requests (OpenCost's max(request, usage) per sample)")
    page = cluster.dir / "cost.html"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mooring.cli",
            "cost",
            "report",
            "--kubeconfig",
            str(cluster.kubeconfig_path),
            "--window",
            "1h",
            "--step",
            "15s",
            "-o",
            "html",
            "--write",
            str(page),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    say(
        f"  the last hour by tenant as one self-contained HTML page with charts: {page}"
        if done.returncode == 0
        else f"  the HTML report failed: {done.stderr[-300:]}"
    )
    for _ in range(150):  # the operator refreshes status.cost every few seconds in the demo
        tenants = await kube.list(API, "Tenant")
        costs = {t["metadata"]["name"]: (t.get("status") or {}).get("cost") for t in tenants}
        if all(costs.values()) and "Prometheus" in (costs.get("payments") or {}).get("source", ""):
            break
        await asyncio.sleep(0.2)
    say("  kubectl get tenants (COST/BUDGET: this month so far, kept current by the operator):")
    for name, cost in sorted(costs.items()):
        if cost:
            say(
                f"    {name:<10} {cost['summary']:<20} forecast {cost['forecast']} "
                f"{cost['currency']}"
                + (f", budget {cost['budgetUsedPercent']}% used" if "budget" in cost else "")
            )
