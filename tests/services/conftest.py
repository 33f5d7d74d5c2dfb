"""Fixtures for Managed PostgreSQL: a real PostgreSQL server and the real operator.

- `postgres`: Debian's PostgreSQL 15, initialised and started on a free loopback port for
  the session (as the `postgres` user when the tests run as root), removed at the end.
- `admin`: a platform login with CREATEROLE and CREATEDB (not a superuser).
- `platform`: Mooring installed in the local control plane (CRDs, RBAC, admission policy),
  the admin Secret, and a PlatformConfig naming the server as the shared server.
- `operator`: `mooring operator` as a subprocess, authenticated as the operator's own
  ServiceAccount (so its least-privilege ClusterRole is what is tested), restartable
  and killable by tests.
- `tenant_namespace`: makes namespaces labelled as a tenant's, deleted after the test.
"""

from __future__ import annotations

import asyncio
import base64
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

from mooring.api import names
from mooring.core.render.platform import install, operator_user
from mooring.devcluster.cluster import DevCluster
from mooring.devcluster.postgres import Admin, LocalPostgres
from mooring.kube.client import Kube
from mooring.services.install import apply_objects

SERVER = "shared-1"
ADMIN_SECRET = ("mooring-system", "postgres-shared-1-admin")
TEST_MANAGER = "mooring-tests-databases"


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    server = LocalPostgres()
    server.start()
    print(f"[postgres] PostgreSQL at {server.host}:{server.port} in {server.root}")
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="session")
def admin(postgres: LocalPostgres) -> Admin:
    return postgres.create_admin()


def platform_config(port: int, *, database_count: int = 3, storage: str = "10Gi") -> dict[str, Any]:
    quota = {"cpu": "8", "memory": "16Gi", "pods": 50}
    return {
        "apiVersion": names.API_VERSION,
        "kind": "PlatformConfig",
        "metadata": {"name": "default"},
        "spec": {
            "defaultTier": "small",
            "tiers": {
                "small": {
                    "quota": quota,
                    "databases": {"count": database_count, "storage": storage},
                },
                "huge": {"quota": quota, "databases": {"count": 500, "storage": "10Ti"}},
            },
            "databases": {
                "defaultServer": SERVER,
                "servers": [
                    {
                        "name": SERVER,
                        "host": "127.0.0.1",
                        "port": port,
                        "sslMode": "disable",
                        "adminSecret": {"namespace": ADMIN_SECRET[0], "name": ADMIN_SECRET[1]},
                        "versions": ["15"],
                    }
                ],
            },
        },
    }


async def apply_platform(kube: Kube, port: int, **limits: Any) -> None:
    await kube.apply(platform_config(port, **limits), field_manager=TEST_MANAGER)


@pytest_asyncio.fixture(scope="session")
async def installed(kube: Kube) -> None:
    await apply_objects(kube, install())


@pytest_asyncio.fixture(scope="module")
async def platform(installed: None, kube: Kube, postgres: LocalPostgres, admin: Admin) -> None:
    """Applied per module: other issues' tests may apply their own PlatformConfig."""
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": ADMIN_SECRET[1], "namespace": ADMIN_SECRET[0]},
            "data": {
                "username": base64.b64encode(admin.username.encode()).decode(),
                "password": base64.b64encode(admin.password.encode()).decode(),
            },
        },
        field_manager=TEST_MANAGER,
    )
    await apply_platform(kube, postgres.port)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OperatorProcess:
    """`mooring operator` in a subprocess, as the operator's ServiceAccount."""

    def __init__(self, cluster: DevCluster, folder: Path) -> None:
        user, groups = operator_user()
        self.kubeconfig = folder / "operator.kubeconfig"
        self.kubeconfig.write_text(cluster.mint_kubeconfig(user, groups))
        self.log = folder / "operator.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self, *extra: str) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.runs += 1
        mooring = Path(sys.executable).with_name("mooring")
        with self.log.open("ab") as log:
            log.write(f"\n===== run {self.runs}: {' '.join(extra)} =====\n".encode())
            self.process = subprocess.Popen(
                [
                    str(mooring),
                    "operator",
                    "--kubeconfig",
                    str(self.kubeconfig),
                    "--metrics-port",
                    str(_free_port()),
                    *extra,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def wait_exit(self, timeout: float = 60) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def operator_process(
    dev_cluster: DevCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    process = OperatorProcess(dev_cluster, tmp_path_factory.mktemp("operator"))
    try:
        yield process
    finally:
        process.stop()
        print(f"[operator] log: {process.log}\n{process.tail(15)}")


@pytest.fixture
def operator(platform: None, operator_process: OperatorProcess) -> OperatorProcess:
    """The operator, running (started if a previous test stopped it)."""
    if operator_process.process is None or operator_process.process.poll() is not None:
        operator_process.start()
    return operator_process


NamespaceFactory = Callable[..., Awaitable[str]]


@pytest_asyncio.fixture
async def tenant_namespace(kube: Kube) -> AsyncIterator[NamespaceFactory]:
    made: list[str] = []

    async def make(tenant: str | None = None, *, labelled: bool = True) -> str:
        tenant = tenant or f"t{uuid.uuid4().hex[:6]}"
        name = f"{tenant}-{uuid.uuid4().hex[:4]}"
        labels = (
            {names.LABEL_TENANT: tenant, names.LABEL_MANAGED_BY: names.MANAGED_BY}
            if labelled
            else {}
        )
        await kube.create(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
        )
        made.append(name)
        return name

    yield make
    for name in made:
        await kube.delete("v1", "Namespace", name)


def database(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": names.API_VERSION,
        "kind": "Database",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"plan": "shared", **spec},
    }


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 30, what: str = "condition"
) -> Any:
    """Poll until `check` returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(0.1)


def ready_reason(body: dict[str, Any] | None) -> tuple[str | None, str | None, str]:
    for condition in ((body or {}).get("status") or {}).get("conditions", []):
        if condition["type"] == "Ready":
            return condition["status"], condition["reason"], condition.get("message", "")
    return None, None, ""
