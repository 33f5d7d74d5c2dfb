"""Session fixtures: the real local control plane, started once per test run, and Mooring
installed in it with its operator running as a separate process.

The control plane is the same one `mooring dev up` starts (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kwok), in its own state folder and on free ports,
so a developer's running `mooring dev` cluster is left alone. It is stopped and removed at
the end of the session.

The operator (`mooring operator`) authenticates as its ServiceAccount would (a client
certificate for system:serviceaccount:mooring-system:mooring-operator), so every test also
proves that its least-privilege RBAC suffices. There is one operator for the session:
two would race on the same objects.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from mooring.api import names
from mooring.core.render.platform import install
from mooring.devcluster.cluster import DevCluster, free_port, operator_command
from mooring.devcluster.prometheus import DevPrometheus
from mooring.kube.client import Kube
from mooring.services.install import install_platform


@pytest.fixture(scope="session")
def dev_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    cluster = DevCluster(tmp_path_factory.mktemp("controlplane") / "state")
    cluster.up(say=lambda message: print(f"[controlplane] {message}"))
    try:
        yield cluster
    finally:
        cluster.down(say=lambda message: print(f"[controlplane] {message}"), purge=True)


@pytest.fixture(scope="session")
def dev_prometheus(dev_cluster: DevCluster) -> DevPrometheus:
    """Debian's Prometheus scraping the session's control plane every second: kwok's
    simulated usage, the scheduler's /metrics/resources, the API server. Tests add their
    targets and rule files with `.add(...)`; it stops with the control plane."""
    prometheus = DevPrometheus(dev_cluster)
    prometheus.start(interval="1s")
    return prometheus


@pytest.fixture(scope="session")
def kubeconfig(dev_cluster: DevCluster) -> Path:
    return dev_cluster.kubeconfig_path


@pytest_asyncio.fixture(scope="session")
async def kube(kubeconfig: Path) -> AsyncIterator[Kube]:
    async with Kube.from_kubeconfig(kubeconfig) as client:
        yield client


ROOT = Path(__file__).resolve().parents[1]
PLATFORM = ROOT / "tests" / "cluster" / "platform.yaml"


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 30, what: str = "condition"
) -> Any:
    """Poll until `check` returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(0.1)


def kopf_done(body: dict[str, Any]) -> bool:
    """kopf handled the object's spec as it is and has nothing in progress for it (its
    record in status.kopf, operator/kopf_state.py), and no annotation of its own is left."""
    annotations = body["metadata"].get("annotations") or {}
    if any(key.startswith(names.KOPF_PREFIX + "/") for key in annotations):
        return False
    record = (body.get("status") or {}).get(names.KOPF_STATUS) or {}
    return "last-handled-configuration" in record and not record.get("progress")


class OperatorProcess:
    """`mooring operator` as a child process that tests can kill and restart."""

    def __init__(self, kubeconfig: Path, log: Path) -> None:
        self.kubeconfig = kubeconfig
        self.log = log
        self.metrics_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *extra: str) -> None:
        """Start (again); `extra` options for this run only, e.g. ("--crash-at", STEP)."""
        with self.log.open("ab") as out:
            out.write(f"\n===== mooring operator {' '.join(extra)} =====\n".encode())
            self.process = subprocess.Popen(
                operator_command(
                    self.kubeconfig,
                    self.metrics_port,
                    "--feature-poll-seconds",
                    "1",
                    "--cost-refresh-seconds",
                    "3",
                    *extra,
                ),
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_exit(self, timeout: float = 60) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: no chance to finish anything (the crash case)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def metric(self, series: str) -> float:
        """The sum of the operator's /metrics samples named exactly `series` (with its
        labels, e.g. 'mooring_resync_picked_up_total{kind="Database"}'); 0 while absent."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        prefix = series + " "
        return sum(
            float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix)
        )

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(text[-lines:])


@pytest_asyncio.fixture(scope="session")
async def platform(kube: Kube) -> dict[str, Any]:
    """Mooring installed (CRDs, roles, operator RBAC) and the test PlatformConfig applied."""
    await install_platform(kube, install())  # as `mooring install apply` (PolicyReport CRD)
    config: dict[str, Any] = yaml.safe_load(PLATFORM.read_text())
    await kube.apply(config)
    return config


@pytest.fixture(scope="session")
def operator(
    platform: dict[str, Any], dev_cluster: DevCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    directory = tmp_path_factory.mktemp("operator")
    kubeconfig = dev_cluster.operator_kubeconfig(directory / "operator.kubeconfig")
    process = OperatorProcess(kubeconfig, directory / "operator.log")
    process.start()
    yield process
    process.stop()
    print(f"[operator] last log lines:\n{process.tail()}")
