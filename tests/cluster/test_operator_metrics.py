"""The operator's /metrics, read by a real Prometheus (Debian's) and linted by promtool."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from mooring.devcluster.prometheus import DevPrometheus, query
from mooring.kube.client import Kube
from tests.cluster.conftest import OperatorProcess, tenant, wait_ready

pytestmark = pytest.mark.cluster


@pytest.fixture
def prometheus(operator: OperatorProcess, dev_prometheus: DevPrometheus) -> str:
    dev_prometheus.add({"mooring-operator": [f"127.0.0.1:{operator.metrics_port}"]})
    return dev_prometheus.url


async def test_prometheus_scrapes_the_operator_and_sees_tenants_and_reconciles(
    kube: Kube, operator: OperatorProcess, prometheus: str, name: str, cleanup: list[str]
) -> None:
    cleanup.append(name)
    await kube.apply(tenant(name))
    await wait_ready(kube, name)
    deadline = time.monotonic() + 30
    while True:
        up = query(prometheus, 'up{job="mooring-operator"}')
        ready = query(prometheus, 'mooring_tenants{state="Ready"}')
        reconciles = query(prometheus, 'sum(mooring_reconciles_total{kind="Tenant"})')
        writes = query(
            prometheus, 'sum(mooring_status_writes_total{kind="Tenant",why="reconcile"})'
        )
        if up and ready and reconciles and writes and float(ready[0]["value"][1]) >= 1:
            break
        assert time.monotonic() < deadline, (up, ready, reconciles, writes)
        time.sleep(0.5)
    assert up[0]["value"][1] == "1"
    assert float(reconciles[0]["value"][1]) >= 1
    histogram = query(prometheus, "mooring_reconcile_duration_seconds_count")
    assert histogram, "the reconcile duration histogram is not exposed"


def test_the_metrics_pass_promtools_lint(operator: OperatorProcess) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("Debian's promtool is not installed; run scripts/bootstrap")
    with urllib.request.urlopen(
        f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5
    ) as response:
        text = response.read()
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, check=False
    )
    problems = [
        line
        for line in checked.stdout.decode().splitlines() + checked.stderr.decode().splitlines()
        if line.startswith("mooring_")
    ]
    assert problems == [], problems
