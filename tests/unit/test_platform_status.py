"""The operator's PlatformConfig status loop keeps a small shape per Tenant: a Tenant's own
status changes (thousands while many tenants onboard) must neither re-read it nor wake the
loop, and the verdict from shapes must be the verdict from the Tenants themselves."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mooring.operator.platform import PlatformStatus
from mooring.services.platform import readiness, shape_of
from tests.builders import platform_body, tenant_body


def seen(status: PlatformStatus, type_: str, body: dict[str, Any]) -> bool:
    """Was the status marked dirty by this event? (The flag is cleared first.)"""
    status.dirty.clear()
    status.seen(type_, body["metadata"]["name"], body)
    return status.dirty.is_set()


@pytest.fixture
def status() -> PlatformStatus:
    return PlatformStatus()


def test_a_tenant_status_change_neither_wakes_the_loop_nor_reparses(
    status: PlatformStatus,
) -> None:
    body = tenant_body("a")
    body["metadata"]["generation"] = 1
    assert seen(status, "ADDED", body)
    kept = status.shapes["a"][1]
    written = copy.deepcopy(body)
    written["status"] = {"ready": "True", "observedGeneration": 1}
    written["metadata"]["resourceVersion"] = "2"
    assert not seen(status, "MODIFIED", written)
    assert status.shapes["a"][1] is kept  # the same object: nothing was parsed again


def test_a_spec_change_deletion_or_removal_wakes_the_loop(status: PlatformStatus) -> None:
    body = tenant_body("a")
    body["metadata"]["generation"] = 1
    seen(status, "ADDED", body)
    moved = copy.deepcopy(body)
    moved["metadata"]["generation"] = 2
    moved["spec"]["tier"] = "large"
    assert seen(status, "MODIFIED", moved)
    shape = status.shapes["a"][1]
    assert shape is not None and shape.tier == "large"
    deleting = copy.deepcopy(moved)
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert seen(status, "MODIFIED", deleting)
    assert status.shapes["a"][1] is None  # being deleted: counts no more
    assert seen(status, "DELETED", deleting)
    assert "a" not in status.shapes
    assert not seen(status, "DELETED", deleting)  # already gone: nothing to write


@pytest.mark.parametrize(
    "tenants",
    [
        [tenant_body("a"), tenant_body("b", tier="large")],
        [tenant_body("a", tier="gold"), tenant_body("b", tier="gold")],
        [tenant_body(f"t{i}", envs=("dev", "prod")) for i in range(30)],
    ],
    ids=["fits", "a missing tier", "over capacity"],
)
def test_the_verdict_from_shapes_is_the_verdict_from_tenants(
    tenants: list[dict[str, Any]],
) -> None:
    platform = platform_body()
    shapes = [shape_of(body) for body in tenants]
    assert readiness(platform, [s for s in shapes if s is not None]) == readiness(platform, tenants)
