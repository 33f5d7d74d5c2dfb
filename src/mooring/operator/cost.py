"""The cost loop: every tenant's status.cost, the mooring_tenant_cost_* and
mooring_tenant_budget_* metrics, and an Event when a budget threshold is crossed. Thin.

Every spec.cost.refreshSeconds of the PlatformConfig (or --cost-refresh-seconds), one
refresh: services.cost_status computes the month for all tenants at once (one set of
queries; whole days of the month are measured once and kept in memory, so a refresh
measures the last day) and writes what changed; this module publishes metrics and posts
Events. A failed refresh is logged and counted, and the next one comes at the usual time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import kopf

from mooring.api import names
from mooring.api.platform import PLATFORM_CONFIG_NAME, PlatformConfig
from mooring.kube.client import Kube
from mooring.kube.events import post_event
from mooring.operator import settings as _settings  # its startup handler makes memo["kube"]
from mooring.operator.metrics import (
    COST_REFRESH_SECONDS,
    COST_REFRESHES,
    STATUS_WRITES,
    TENANT_BUDGET_AMOUNT,
    TENANT_BUDGET_CROSSINGS,
    TENANT_BUDGET_FORECAST_RATIO,
    TENANT_BUDGET_USED_RATIO,
    TENANT_COST_FORECAST,
    TENANT_COST_IDLE_SHARE,
    TENANT_COST_MONTH_TO_DATE,
)
from mooring.operator.registry import REGISTRY
from mooring.services import cost_status
from mooring.services.cost import MonthCache

_ = _settings
log = logging.getLogger(__name__)
GAUGES = (
    TENANT_COST_MONTH_TO_DATE,
    TENANT_COST_FORECAST,
    TENANT_COST_IDLE_SHARE,
    TENANT_BUDGET_AMOUNT,
    TENANT_BUDGET_USED_RATIO,
    TENANT_BUDGET_FORECAST_RATIO,
)
DEFAULT_INTERVAL = 300.0


def publish(result: cost_status.Refresh) -> None:
    """Set the gauges to this refresh's figures; series of tenants gone disappear."""
    for gauge in GAUGES:
        gauge.clear()
    for entry in result.tenants:
        status, name = entry.status, entry.name
        TENANT_COST_MONTH_TO_DATE.labels(name, status.currency).set(float(status.month_to_date))
        TENANT_COST_FORECAST.labels(name, status.currency).set(float(status.forecast))
        TENANT_COST_IDLE_SHARE.labels(name, status.currency).set(float(status.idle_share or 0))
        if entry.budget is not None:
            amount = entry.budget.amount_per_month
            TENANT_BUDGET_AMOUNT.labels(name, status.currency).set(float(amount))
            TENANT_BUDGET_USED_RATIO.labels(name).set(float(status.month_to_date) / float(amount))
            TENANT_BUDGET_FORECAST_RATIO.labels(name).set(float(status.forecast) / float(amount))


async def announce(kube: Kube, result: cost_status.Refresh) -> None:
    for entry in result.tenants:
        for crossing in entry.crossings:
            reason, message = cost_status.crossing_message(entry, crossing)
            TENANT_BUDGET_CROSSINGS.labels(entry.name, str(crossing.threshold), crossing.kind).inc()
            await post_event(kube, entry.body, "Warning", reason, message)


async def refresh_once(
    kube: Kube,
    tenants: Iterable[dict[str, Any]] | None = None,
    cache: MonthCache | None = None,
    now: datetime | None = None,
) -> tuple[float | None, cost_status.Refresh | None]:
    """One refresh (as of `now`, default the clock's): the interval until the next and
    what was done (None, None: no PlatformConfig yet)."""
    raw = await kube.get_or_none(names.API_VERSION, "PlatformConfig", PLATFORM_CONFIG_NAME)
    if raw is None:
        return None, None
    platform = PlatformConfig.model_validate(raw)
    if tenants is None:
        tenants = [
            for_cost(tenant)
            async for page, _ in kube.list_pages(names.API_VERSION, "Tenant")
            for tenant in page
        ]
    started = time.perf_counter()
    at = now or datetime.now(UTC)
    result = await cost_status.refresh(kube, platform, tenants, at, cache)
    COST_REFRESH_SECONDS.observe(time.perf_counter() - started)
    publish(result)
    await announce(kube, result)
    for error in result.errors:
        log.warning("cost: %s", error)
    COST_REFRESHES.labels("error" if result.errors else "ok").inc()
    STATUS_WRITES.labels("Tenant", "cost").inc(result.written)
    STATUS_WRITES.labels("TenantView", "cost").inc(result.views_written)
    log.debug("cost: %d tenants, %d status written", len(result.tenants), result.written)
    return float(platform.spec.cost.refresh_seconds), result


def for_cost(tenant: dict[str, Any]) -> dict[str, Any]:
    """Pure: what a refresh reads of a Tenant (its name, spec and status.cost), without
    managedFields and the rest: ten thousand listed Tenants are some 80 MiB as they come."""
    meta = tenant.get("metadata") or {}
    return {
        "apiVersion": tenant.get("apiVersion"),
        "kind": tenant.get("kind"),
        "metadata": {k: meta[k] for k in ("name", "uid", "deletionTimestamp") if k in meta},
        "spec": tenant.get("spec") or {},
        "status": {"cost": ((tenant.get("status") or {}).get("cost"))},
    }


async def run(kube: Kube, memo: kopf.Memo, wait_for_watches: float = 120.0) -> None:
    override = memo["options"].cost_refresh_seconds
    cache = MonthCache()  # whole days measured once; rebuilt after a restart
    # The first refresh reads the tenant watch's cache once it is there (the startup
    # handlers run side by side), rather than listing every Tenant.
    waited = 0.0
    while memo.get("watches") is None and waited < wait_for_watches:
        await asyncio.sleep(0.5)
        waited += 0.5
    while True:
        interval = override or DEFAULT_INTERVAL
        try:
            # The tenant watch's bodies (with their status), one at a time, when it runs; a
            # list otherwise.
            watches = memo.get("watches")
            bodies = watches.tenants.values() if watches is not None else None
            configured, result = await refresh_once(kube, bodies, cache)
            if watches is not None and result is not None:
                watches.cost_basis = result.basis
            interval = override or configured or interval
        except asyncio.CancelledError:
            raise
        except Exception:  # the loop must outlive any one refresh
            COST_REFRESHES.labels("error").inc()
            log.exception("cost refresh failed; next in %.0f s", interval)
        await asyncio.sleep(interval)


@kopf.on.startup(registry=REGISTRY)
async def start_cost(memo: kopf.Memo, **_: Any) -> None:
    memo["cost_task"] = asyncio.create_task(run(memo["kube"], memo), name="cost")


@kopf.on.cleanup(registry=REGISTRY)
async def stop_cost(memo: kopf.Memo, **_: Any) -> None:
    task: asyncio.Task[None] | None = memo.get("cost_task")
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
