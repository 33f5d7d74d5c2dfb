"""The PlatformConfig's status: the operator says whether it accepts the platform's
settings (condition Valid, with a reason), and tenants say why they wait when it does not."""

from __future__ import annotations

from typing import Any

import pytest

from mooring.kube.client import Kube
from tests.cluster.conftest import OperatorProcess, condition, eventually, tenant, wait_ready

pytestmark = pytest.mark.cluster
API = "mooring.dev/v1alpha1"


async def _valid(kube: Kube, status: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        body = await kube.get(API, "PlatformConfig", "default")
        found = condition(body, "Valid")
        generation = body["metadata"]["generation"]
        if found.get("status") == status and found.get("observedGeneration") == generation:
            return found
        return None

    result: dict[str, Any] = await eventually(reached, what=f"PlatformConfig Valid={status}")
    return result


async def test_an_accepted_platform_config_is_valid_and_a_broken_one_says_why(
    kube: Kube,
    operator: OperatorProcess,
    platform: dict[str, Any],
    name: str,
    cleanup: list[str],
) -> None:
    valid = await _valid(kube, "True")
    assert valid["reason"] == "Valid"
    assert "default small" in valid["message"]
    cleanup.append(name)
    await kube.apply(tenant(name))
    await wait_ready(kube, name)

    # A default tier that is not among the tiers: the CRD schema cannot tell, Mooring can.
    await kube.patch(API, "PlatformConfig", "default", {"spec": {"defaultTier": "gold"}})
    try:
        invalid = await _valid(kube, "False")
        assert invalid["reason"] == "InvalidSpec"
        assert "defaultTier 'gold' is not one of the tiers" in invalid["message"]

        async def tenant_waits() -> bool:
            body = await kube.get(API, "Tenant", name)
            return condition(body).get("reason") == "InvalidPlatformConfig"

        await eventually(tenant_waits, what="the tenant naming the invalid PlatformConfig")
    finally:
        await kube.apply(platform)
    await _valid(kube, "True")
    await wait_ready(kube, name)


async def test_a_tenant_moved_to_a_missing_tier_makes_the_platform_not_ready_until_moved_back(
    kube: Kube,
    operator: OperatorProcess,
    platform: dict[str, Any],
    name: str,
    cleanup: list[str],
) -> None:
    # The operator judges the shape it keeps of each tenant, made again only when the
    # tenant's spec (generation) changes: the move must be seen, its own status writes not.
    cleanup.append(name)
    await kube.apply(tenant(name))
    await wait_ready(kube, name)

    async def ready(status: str, needle: str) -> dict[str, Any] | None:
        body = await kube.get(API, "PlatformConfig", "default")
        found = condition(body, "Ready")
        if found.get("status") == status and needle in found.get("message", ""):
            return found
        return None

    await kube.patch(API, "Tenant", name, {"spec": {"tier": "gold"}})
    missing: dict[str, Any] = await eventually(
        lambda: ready("False", f"tier 'gold' is used by tenant(s) {name} "),
        what="PlatformConfig Ready=False naming the tenant on the missing tier",
    )
    assert missing["reason"] == "TierMissing"

    async def view_says(ready: str) -> bool:
        # The tenant's members see it in their TenantView (a status written without
        # rendering is put there too).
        view = await kube.get_or_none(API, "TenantView", name, f"{name}-dev")
        return ((view or {}).get("status") or {}).get("ready") == ready

    await eventually(lambda: view_says("False"), what="the TenantView saying Ready=False")
    await kube.patch(API, "Tenant", name, {"spec": {"tier": "small"}})
    await eventually(lambda: ready("True", "small ("), what="PlatformConfig Ready=True again")
    await eventually(lambda: view_says("True"), what="the TenantView saying Ready=True again")
