"""The operator's /metrics, read by a real Prometheus (Debian's) and linted by promtool."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mooring.devcluster.cluster import free_port, http_ok
from mooring.kube.client import Kube
from tests.cluster.conftest import OperatorProcess, tenant, wait_ready

pytestmark = pytest.mark.cluster


@pytest.fixture
def prometheus(operator: OperatorProcess, tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("Debian's prometheus is not installed; run scripts/bootstrap")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "mooring-operator",
                        "static_configs": [{"targets": [f"127.0.0.1:{operator.metrics_port}"]}],
                    }
                ],
            }
        )
    )
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not http_ok(f"{url}/-/ready"):
            assert process.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "Prometheus did not become ready"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def query(url: str, expression: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(
        f"{url}/api/v1/query?{urllib.parse.urlencode({'query': expression})}", timeout=5
    ) as response:
        result: list[dict[str, Any]] = json.loads(response.read())["data"]["result"]
        return result


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
        if up and ready and reconciles and float(ready[0]["value"][1]) >= 1:
            break
        assert time.monotonic() < deadline, (up, ready, reconciles)
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
