"""Keep every tenant's status.cost current: gather (the month's cost), decide (forecast,
budget, thresholds), act (write status.cost where it changed).

Side effects: reads the cluster and Prometheus (through services.cost) and patches
Tenant status, and the TenantView's status.cost when members should see the change
(core/render/view.cost_due). Events and metrics are the operator's: this returns what to tell.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from mooring.api import names
from mooring.api.cost import Budget, CostStatus, money_text
from mooring.api.platform import PlatformConfig
from mooring.api.tenant import TenantSpec
from mooring.core.cost.budget import NOTHING, CostBasis, Crossing, budget_in, cost_status
from mooring.core.render.view import cost_due, view_namespace_of
from mooring.kube.client import Kube, KubeError, NotFound
from mooring.services.cost import MonthCache, month_figures, read_cluster

Obj = dict[str, Any]
WRITES = 16


@dataclass
class TenantCost:
    name: str
    status: CostStatus
    budget: Budget | None
    crossings: list[Crossing] = field(default_factory=list)
    # What an Event about the tenant names (kind, name, uid), not the whole Tenant: a
    # refresh holds one entry per tenant.
    body: Obj = field(default_factory=dict)
    # Where the tenant's TenantView is, when the new status.cost is due there too.
    view_namespace: str | None = None


@dataclass
class Refresh:
    tenants: list[TenantCost]
    source: str
    written: int = 0
    views_written: int = 0
    errors: list[str] = field(default_factory=list)
    # For the reconcile of a tenant created before the next refresh (core.cost.budget).
    basis: CostBasis | None = None


def _budget(body: Obj, currency: str) -> Budget | None:
    """The tenant's budget, when it is valid and in the platform's currency."""
    try:
        spec = TenantSpec.model_validate(body.get("spec") or {})
    except ValidationError:
        return None  # the tenant's reconcile reports an invalid spec
    return budget_in(spec.budget, currency)


def _previous(body: Obj) -> CostStatus | None:
    raw = (body.get("status") or {}).get("cost")
    if not raw:
        return None
    try:
        return CostStatus.model_validate(raw)
    except ValidationError:
        return None


def _same(a: CostStatus | None, b: CostStatus) -> bool:
    if a is None:
        return False
    return a.model_copy(update={"updated_at": ""}) == b.model_copy(update={"updated_at": ""})


async def refresh(
    kube: Kube,
    platform: PlatformConfig,
    tenants: Iterable[Obj],
    now: datetime,
    cache: MonthCache | None = None,
) -> Refresh:
    """Compute every tenant's month and write the status.cost that changed, WRITES at a
    time. A `cache` kept from one refresh to the next spares measuring whole days again.
    `tenants` is read once, one at a time (ten thousand parsed at once would be some
    60 MiB)."""
    # gather
    figures, source = await month_figures(await read_cluster(kube), platform, now, cache)
    currency = platform.spec.prices.currency
    # decide
    result = Refresh([], source, basis=CostBasis(currency, source, now, frozenset(figures)))
    changed: list[TenantCost] = []
    for body in tenants:
        if body.get("metadata", {}).get("deletionTimestamp"):
            continue
        if not body.get("status"):
            # Not reconciled yet: its reconcile's first status carries its cost (written
            # here first, the tenant got two status writes where one does).
            continue
        name = str(body["metadata"]["name"])
        budget = _budget(body, currency)
        previous = _previous(body)
        status, crossings = cost_status(
            figures.get(name, NOTHING), budget, currency, source, now, previous
        )
        entry = TenantCost(name, status, budget, crossings, _reference(body))
        result.tenants.append(entry)
        if not _same(previous, status):
            changed.append(entry)
            raw = (body.get("status") or {}).get("cost")
            if cost_due(raw, status.dumped()):
                entry.view_namespace = view_namespace_of(body)
    # act: WRITES writers taking the next change (not a task per tenant: thousands)
    pending = iter(changed)

    async def writer() -> None:
        for entry in pending:
            cost = {"status": {"cost": entry.status.dumped()}}
            try:
                await kube.patch(
                    names.API_VERSION, "Tenant", entry.name, cost, subresource="status"
                )
                result.written += 1
            except NotFound:
                continue  # deleted meanwhile
            except KubeError as error:
                result.errors.append(f"Tenant {entry.name}: {error.message}")
                continue
            if entry.view_namespace is None:
                continue
            try:
                await kube.patch(
                    names.API_VERSION,
                    "TenantView",
                    entry.name,
                    cost,
                    namespace=entry.view_namespace,
                    field_manager=f"{names.FIELD_MANAGER}-cost",
                )
                result.views_written += 1
            except NotFound:
                pass  # not made yet: the reconcile gives a new view the Tenant's cost
            except KubeError as error:
                result.errors.append(
                    f"TenantView {entry.view_namespace}/{entry.name}: {error.message}"
                )

    await asyncio.gather(*(writer() for _ in range(min(WRITES, len(changed)))))
    return result


def _reference(body: Obj) -> Obj:
    meta = body.get("metadata") or {}
    kept = {k: meta[k] for k in ("name", "namespace", "uid") if k in meta}
    return {"apiVersion": body.get("apiVersion"), "kind": body.get("kind"), "metadata": kept}


def crossing_message(entry: TenantCost, crossing: Crossing) -> tuple[str, str]:
    """(reason, message) of the Event that announces a crossing."""
    status, budget = entry.status, entry.budget
    amount = money_text(budget.amount_per_month) if budget else "?"
    if crossing.kind == "actual":
        return (
            "BudgetThresholdReached",
            f"cost this month so far, {status.month_to_date} {status.currency}, reached "
            f"{crossing.threshold}% of the {amount} {status.currency} monthly budget "
            f"({status.budget_used_percent}% used)",
        )
    return (
        "BudgetForecastOver",
        f"the forecast for {status.month}, {status.forecast} {status.currency}, reaches "
        f"{crossing.threshold}% of the {amount} {status.currency} monthly budget "
        f"({status.forecast_percent}%; {status.month_to_date} so far)",
    )
