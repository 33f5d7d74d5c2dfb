"""The PlatformConfig's status: can the platform hold its tenants as Git describes them?

gather (the PlatformConfig and the Tenants, as given: the operator passes its caches),
decide (core.validate.platform_readiness: tiers the tenants use exist, quotas fit the
capacity), act (write the Ready condition when it changed). Argo CD shows this condition for
the PlatformConfig (health Lua), so a platform change that strands tenants turns Degraded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

from mooring.api import names
from mooring.api.documents import dotted, model_errors
from mooring.api.platform import PlatformConfig
from mooring.api.status import Condition, ConditionStatus, set_condition
from mooring.api.tenant import Tenant
from mooring.core.validate import (
    Readiness,
    TenantShape,
    platform_readiness,
    platform_validity,
    tenant_shape,
)
from mooring.kube.client import Kube, NotFound
from mooring.services.tenants import Clock, timestamp, utc_now


def shape_of(body: Mapping[str, Any]) -> TenantShape | None:
    """Pure: what the Ready condition reads of one Tenant as the API server gives it; None
    for one being deleted or invalid (its own status says what is wrong with it)."""
    if (body.get("metadata") or {}).get("deletionTimestamp"):
        return None
    tenant, _ = model_errors(Tenant, dict(body))
    return tenant_shape(tenant) if isinstance(tenant, Tenant) else None


def readiness(
    platform: Mapping[str, Any], tenants: Iterable[Mapping[str, Any] | TenantShape]
) -> Readiness:
    """Pure: the Ready condition's verdict for these objects (Tenants as given, or the shapes
    the operator keeps of them; invalid tenants are skipped)."""
    config, errors = model_errors(PlatformConfig, dict(platform))
    if config is None or not isinstance(config, PlatformConfig):
        detail = "; ".join(f"{dotted(e.path)}: {e.message}" for e in errors[:3]) or "unreadable"
        return Readiness(False, "InvalidSpec", f"{detail}; run `mooring validate` on it")
    shapes = [t if isinstance(t, TenantShape) else shape_of(t) for t in tenants]
    return platform_readiness(config.spec, [s for s in shapes if s is not None])


def status_body(platform: Mapping[str, Any], verdict: Readiness, now: str) -> dict[str, Any] | None:
    """Pure: the new status (Valid: the operator accepts the spec; Ready: the tenants fit),
    or None when both conditions already say this. One writer for both, so neither update
    can drop the other's condition."""
    meta = platform.get("metadata") or {}
    generation = meta.get("generation")
    status = platform.get("status") or {}
    previous = [Condition.model_validate(c) for c in status.get("conditions") or []]
    valid, valid_reason, valid_message = platform_validity(dict(platform))
    wanted: list[tuple[str, ConditionStatus, str, str]] = [
        ("Valid", "True" if valid else "False", valid_reason, valid_message),
        ("Ready", "True" if verdict.ready else "False", verdict.reason, verdict.message),
    ]
    current = {c.type: c for c in previous}
    if status.get("observedGeneration") == generation and all(
        (c := current.get(type_)) is not None
        and (c.status, c.reason, c.message) == (state, reason, message)
        for type_, state, reason, message in wanted
    ):
        return None
    conditions = previous
    for type_, state, reason, message in wanted:
        conditions = set_condition(conditions, type_, state, reason, message, now, generation)
    return {
        "observedGeneration": generation,
        "conditions": [
            c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in conditions
        ],
    }


async def report(
    kube: Kube,
    platform: Mapping[str, Any],
    tenants: Iterable[Mapping[str, Any] | TenantShape],
    clock: Clock = utc_now,
) -> Readiness:
    """Write the PlatformConfig's Valid and Ready conditions if they changed; return the
    Ready verdict."""
    verdict = readiness(platform, tenants)
    status = status_body(platform, verdict, timestamp(clock))
    if status is not None:
        with contextlib.suppress(NotFound):  # deleted meanwhile
            await kube.patch(
                names.API_VERSION,
                "PlatformConfig",
                platform["metadata"]["name"],
                {"status": status},
                subresource="status",
            )
    return verdict
