"""Fixtures for the tenant tests. Mooring installed and its operator running (`platform`,
`operator`) come from tests/conftest.py: one operator process for the whole session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from mooring.kube.client import Kube
from tests.conftest import PLATFORM, OperatorProcess, eventually

__all__ = ["PLATFORM", "OperatorProcess", "eventually"]


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
