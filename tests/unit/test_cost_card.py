"""The cost section of `mooring tenant status`: what a team reads about its month."""

from __future__ import annotations

from typing import Any

from mooring.core.cost.card import cost_section


def tenant(budget: dict[str, Any] | None, cost: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"environments": [{"name": "dev"}]}
    if budget is not None:
        spec["budget"] = budget
    return {"metadata": {"name": "shop"}, "spec": spec, "status": {"cost": cost} if cost else {}}


MEASURED = {
    "month": "2026-11",
    "currency": "EUR",
    "monthToDate": "412.00",
    "forecast": "530.00",
    "budget": "500",
    "budgetUsedPercent": 82,
    "forecastPercent": 106,
    "summary": "412.00/500 EUR",
    "source": "Prometheus http://prometheus:9090",
    "updatedAt": "2026-11-30T10:00:00Z",
    "crossed": ["actual:80", "forecast:100"],
}


def test_a_tenant_without_budget_or_cost_has_no_cost_section() -> None:
    assert cost_section(tenant(None, None)) is None


def test_a_budget_not_measured_yet_says_so() -> None:
    section = cost_section(tenant({"amountPerMonth": 500}, None))
    assert section is not None
    assert section.data["measured"] is False
    assert "not measured yet" in section.lines[0]


def test_the_month_the_budget_use_and_the_thresholds_crossed_are_shown() -> None:
    section = cost_section(
        tenant({"amountPerMonth": 500, "thresholdsPercent": [80, 100]}, MEASURED)
    )
    assert section is not None
    assert section.lines[0] == "2026-11: 412.00 EUR so far, forecast 530.00 EUR for the month"
    assert section.lines[1] == (
        "budget 500 EUR: 82% used, forecast 106% (over budget by the month's end)"
    )
    assert section.lines[2] == "thresholds crossed: actual 80%, forecast 100% (of 80%, 100%)"
    assert section.lines[-1].startswith("from Prometheus http://prometheus:9090; updated")
    assert section.data["monthToDate"] == "412.00" and section.data["thresholdsPercent"] == [
        80,
        100,
    ]


def test_without_a_budget_the_cost_alone_is_shown() -> None:
    cost = {
        k: v
        for k, v in MEASURED.items()
        if k not in ("budget", "budgetUsedPercent", "forecastPercent", "crossed")
    }
    section = cost_section(tenant(None, {**cost, "idleShare": "3.10"}))
    assert section is not None
    assert not any(line.startswith("budget") for line in section.lines)
    assert "includes 3.10 EUR of shared idle capacity" in section.lines


def test_an_unreadable_status_is_reported_not_raised() -> None:
    section = cost_section(tenant({"amountPerMonth": 5}, {"month": 7}))
    assert section is not None and "unreadable" in section.lines[0]
