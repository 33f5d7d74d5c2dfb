"""The cost section of a team's scorecard (`mooring tenant status`): this month's cost, the
forecast and the budget's use, from the status.cost the operator keeps on the Tenant.

Pure: reads the Tenant as given (a member may read their own Tenant, nothing more is needed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from mooring.api.cost import CostStatus
from mooring.core.scorecard import Section

TITLE = "Cost this month"


def cost_section(tenant: Mapping[str, Any]) -> Section | None:
    """The section, or None when the tenant has neither a budget nor a measured cost."""
    budget = (tenant.get("spec") or {}).get("budget")
    raw = (tenant.get("status") or {}).get("cost")
    thresholds = list((budget or {}).get("thresholdsPercent") or [80, 100])
    if not raw:
        if not budget:
            return None
        return Section(
            "cost",
            TITLE,
            {"budget": budget, "measured": False},
            (
                f"budget {budget.get('amountPerMonth')} per month; not measured yet: the "
                "operator writes status.cost at its next refresh",
            ),
        )
    try:
        cost = CostStatus.model_validate(raw)
    except ValidationError:
        return Section(
            "cost",
            TITLE,
            {"measured": False},
            ("status.cost is unreadable; ask the platform team",),
        )
    currency = cost.currency
    lines = [
        f"{cost.month}: {cost.month_to_date} {currency} so far, forecast {cost.forecast} "
        f"{currency} for the month"
    ]
    if cost.budget is not None:
        over = (cost.forecast_percent or 0) >= 100
        lines.append(
            f"budget {cost.budget} {currency}: {cost.budget_used_percent}% used, forecast "
            f"{cost.forecast_percent}%" + (" (over budget by the month's end)" if over else "")
        )
        if cost.crossed:
            crossed = ", ".join(
                f"{kind} {threshold}%"
                for kind, _, threshold in (tag.partition(":") for tag in cost.crossed)
            )
            lines.append(f"thresholds crossed: {crossed} (of {_percents(thresholds)})")
    if cost.idle_share is not None:
        lines.append(f"includes {cost.idle_share} {currency} of shared idle capacity")
    lines.append(f"from {cost.source}; updated {cost.updated_at}")
    data: dict[str, Any] = {**raw, "measured": True}
    if budget:
        data["thresholdsPercent"] = thresholds
    return Section("cost", TITLE, data, tuple(lines))


def _percents(values: list[int]) -> str:
    return ", ".join(f"{value}%" for value in values)
