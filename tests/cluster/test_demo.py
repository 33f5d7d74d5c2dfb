"""The README's first command runs `mooring demo`: it must keep working end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mooring.devcluster.cluster import DevCluster

pytestmark = pytest.mark.cluster


def test_the_demo_runs_end_to_end_twice_and_down_stops_everything(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    command = [sys.executable, "-m", "mooring.cli", "demo", "--state-dir", str(state)]
    try:
        first = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        assert first.returncode == 0, first.stderr[-3000:]
        for expected in (
            "payments   tier medium  Ready",
            "deploy into checkout-dev: denied",
            "restored by the operator in",
            "workloads/legacy-worker.yaml:19: error [privileged]",
            "the same Deployment applied by dora to payments-dev: refused",
            "limits: admitted, with the warning: Deployment nightly",
            "the audit's PolicyReport analytics-dev lists it: rule resources warn",
            "SELECT -> [(1, 'hello from Mooring')]",
            "reserved/month",  # the cost chapter: the estimate before anything runs
            "charged its usage; analytics-dev uses",
            "one self-contained HTML page with charts",
            "COST/BUDGET",
            "Argo CD synced Mooring from Git",
            "CI: $ mooring validate environments/base/platform.yaml tenants/ -> exit 0",
            "s after the merge",
            "Argo CD: Application tenant-search Synced/Healthy",
            "Argo CD: Application tenant-search Synced/Degraded",
            "Database index: OverLimit: tier 'small' allows",
            "demo finished",
        ):
            assert expected in first.stderr, first.stderr[-3000:]
        again = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        assert again.returncode == 0, again.stderr[-3000:]
        assert "already running" in again.stderr
    finally:
        cluster = DevCluster(state)
        recorded = cluster.state()
        cluster.down(say=lambda _: None, purge=True)
    assert recorded is not None
    assert "mooring-operator" in recorded.components
