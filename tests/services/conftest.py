"""Fixtures for Managed PostgreSQL: a real PostgreSQL server and the real operator.

- `postgres`: Debian's PostgreSQL 15, initialised and started on a free loopback port for
  the session (as the `postgres` user when the tests run as root), removed at the end.
- `admin`: a platform login with CREATEROLE and CREATEDB (not a superuser).
- `databases_platform`: on top of the session's `platform` (tests/conftest.py), the
  admin Secret and the server registered in PlatformConfig as the shared server.
- `operator`: the session's operator process (tests/conftest.py), started if a test left
  it stopped.
- `tenant_namespace`: makes namespaces labelled as a tenant's, deleted after the test.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio

from mooring.api import names
from mooring.devcluster.postgres import Admin, LocalPostgres
from mooring.kube.client import Kube
from mooring.services.databases import register_server
from tests.conftest import OperatorProcess, eventually

__all__ = ["OperatorProcess", "eventually"]

SERVER = "shared-1"
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


TIER_LIMITS: dict[str, Any] = {
    "apiVersion": names.API_VERSION,
    "kind": "PlatformConfig",
    "metadata": {"name": "default"},
    "spec": {
        "tiers": {
            "small": {"databases": {"count": 3, "storage": "10Gi"}},
            "huge": {
                "quota": {"cpu": "8", "memory": "16Gi", "pods": 50},
                "databases": {"count": 500, "storage": "10Ti"},
            },
        }
    },
}


@pytest_asyncio.fixture(scope="module")
async def databases_platform(
    platform: dict[str, Any], kube: Kube, postgres: LocalPostgres, admin: Admin
) -> None:
    """On top of the session's PlatformConfig (tests/cluster/platform.yaml): the server as
    the shared server (as the demo registers one) and the tiers' database limits, each
    under a field manager of its own. Per module: other tests may re-apply the platform."""
    await register_server(
        kube, SERVER, postgres.host, postgres.port, admin.username, admin.password
    )
    await kube.apply(TIER_LIMITS, field_manager=TEST_MANAGER)


@pytest.fixture
def operator(databases_platform: None, operator: OperatorProcess) -> OperatorProcess:
    """The session's operator, running (a test that stopped it may have left it so)."""
    if not operator.running():
        operator.start()
    return operator


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


def ready_reason(body: dict[str, Any] | None) -> tuple[str | None, str | None, str]:
    for condition in ((body or {}).get("status") or {}).get("conditions", []):
        if condition["type"] == "Ready":
            return condition["status"], condition["reason"], condition.get("message", "")
    return None, None, ""
