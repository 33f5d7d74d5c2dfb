"""Fixtures for tests that need Mooring installed and its operator running.

The operator runs as a separate process (`mooring operator`), authenticated as its
ServiceAccount would be (a client certificate for system:serviceaccount:mooring-system:
mooring-operator), so every test also proves that its least-privilege RBAC suffices.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from mooring.core.render.platform import install, operator_user
from mooring.devcluster.cluster import DevCluster
from mooring.kube.client import Kube
from mooring.services.install import apply_objects

ROOT = Path(__file__).resolve().parents[2]
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OperatorProcess:
    """`mooring operator` as a child process that tests can kill and restart."""

    def __init__(self, kubeconfig: Path, log: Path) -> None:
        self.kubeconfig = kubeconfig
        self.log = log
        self.metrics_port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mooring.cli",
                    "operator",
                    "--kubeconfig",
                    str(self.kubeconfig),
                    "--metrics-port",
                    str(self.metrics_port),
                    "--feature-poll-seconds",
                    "1",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

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

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(text[-lines:])


@pytest_asyncio.fixture(scope="session")
async def platform(kube: Kube) -> dict[str, Any]:
    """Mooring installed (CRDs, roles, operator RBAC) and the test PlatformConfig applied."""
    await apply_objects(kube, install())
    config: dict[str, Any] = yaml.safe_load(PLATFORM.read_text())
    await kube.apply(config)
    return config


@pytest.fixture(scope="session")
def operator(
    platform: dict[str, Any], dev_cluster: DevCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    directory = tmp_path_factory.mktemp("operator")
    user, groups = operator_user()
    kubeconfig = directory / "operator.kubeconfig"
    kubeconfig.write_text(dev_cluster.mint_kubeconfig(user, groups))
    process = OperatorProcess(kubeconfig, directory / "operator.log")
    process.start()
    yield process
    process.stop()
    print(f"[operator] last log lines:\n{process.tail()}")


@pytest.fixture
def name() -> str:
    """A fresh tenant name for one test."""
    return f"t{uuid.uuid4().hex[:8]}"


def tenant(
    name: str,
    owners: list[str] | None = None,
    envs: tuple[str, ...] = ("dev",),
    **spec: Any,
) -> dict[str, Any]:
    """A Tenant object, built the way a team writes one."""
    body: dict[str, Any] = {
        "owners": {"users": owners or [f"{name}-owner"]},
        "environments": [{"name": env} for env in envs],
        **spec,
    }
    return {
        "apiVersion": "mooring.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": name},
        "spec": body,
    }


def condition(obj: dict[str, Any], kind: str = "Ready") -> dict[str, Any]:
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item["type"] == kind:
            return dict(item)
    return {}


async def wait_ready(kube: Kube, name: str, timeout: float = 30) -> dict[str, Any]:
    async def ready() -> dict[str, Any] | None:
        obj = await kube.get_or_none("mooring.dev/v1alpha1", "Tenant", name)
        if obj is None:
            return None
        status = obj.get("status") or {}
        generation = obj["metadata"]["generation"]
        if (
            condition(obj).get("status") == "True"
            and status.get("observedGeneration") == generation
        ):
            return obj
        return None

    result: dict[str, Any] = await eventually(ready, timeout, f"tenant {name} Ready")
    return result


@pytest_asyncio.fixture
async def cleanup(kube: Kube) -> AsyncIterator[list[str]]:
    """Tenants named here are deleted after the test (Delete policy, so nothing is left)."""
    names: list[str] = []
    yield names
    for item in names:
        if await kube.get_or_none("mooring.dev/v1alpha1", "Tenant", item) is None:
            continue
        await kube.patch(
            "mooring.dev/v1alpha1", "Tenant", item, {"spec": {"deletionPolicy": "Delete"}}
        )
        await kube.delete("mooring.dev/v1alpha1", "Tenant", item)
