"""A tenant's month: forecast, budget use, thresholds announced once."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from mooring.api.cost import Budget
from mooring.core.cost.budget import (
    NOTHING,
    CostBasis,
    MonthFigures,
    cost_status,
    first_cost,
    forecast,
)

# The 11th of a 30-day month at noon: 10.5 days done, 19.5 days (468 hours) left.
NOW = datetime(2026, 11, 11, 12, tzinfo=UTC)
BUDGET = Budget(amount_per_month=Decimal(500), thresholds_percent=[80, 100])


def test_the_forecast_adds_the_recent_hourly_cost_over_the_hours_left() -> None:
    # 24 EUR over the last 24 hours: 1 EUR an hour, 468 hours to go
    assert forecast(Decimal(300), Decimal(24), Decimal(24), NOW) == Decimal(768)


def test_no_threshold_is_crossed_under_budget() -> None:
    status, crossed = cost_status(
        MonthFigures(Decimal(100), Decimal("2.4"), Decimal(24)), BUDGET, "EUR", "test", NOW, None
    )
    assert crossed == []
    assert status.budget_used_percent == 20
    assert status.forecast == "146.80"
    assert status.summary == "100.00/500 EUR"


def test_a_forecast_over_budget_is_announced_before_the_actual_cost_gets_there() -> None:
    figures = MonthFigures(Decimal(300), Decimal(24), Decimal(24))
    status, crossed = cost_status(figures, BUDGET, "EUR", "test", NOW, None)
    assert [c.tag for c in crossed] == ["forecast:80", "forecast:100"]
    assert status.forecast_percent == 153
    assert status.crossed == ["forecast:80", "forecast:100"]
    # The next refresh announces nothing new ...
    again, crossed = cost_status(figures, BUDGET, "EUR", "test", NOW, status)
    assert crossed == []
    # ... until the actual cost crosses 80 %.
    later = MonthFigures(Decimal(400), Decimal(24), Decimal(24))
    _, crossed = cost_status(later, BUDGET, "EUR", "test", NOW, again)
    assert [c.tag for c in crossed] == ["actual:80"]


def test_a_new_month_announces_again() -> None:
    figures = MonthFigures(Decimal(450), Decimal(0), Decimal(24))
    status, _ = cost_status(figures, BUDGET, "EUR", "test", NOW, None)
    december = datetime(2026, 12, 30, tzinfo=UTC)
    _, crossed = cost_status(figures, BUDGET, "EUR", "test", december, status)
    assert "actual:80" in [c.tag for c in crossed]


def test_without_a_budget_the_status_shows_the_cost_alone() -> None:
    status, crossed = cost_status(
        MonthFigures(Decimal("12.345"), Decimal(1), Decimal(24)), None, "USD", "t", NOW, None
    )
    assert crossed == []
    assert status.summary == "12.35 USD"
    assert status.budget_used_percent is None


def test_a_month_is_measured_in_whole_days_once_then_only_the_last_day() -> None:
    from datetime import date, timedelta

    from mooring.core.cost.budget import plan_month

    hour = timedelta(hours=1)
    first = plan_month(NOW, hour, set())
    assert first.days == tuple(date(2026, 11, d) for d in range(1, 11))  # the 1st to the 10th
    assert first.end == NOW and first.today == datetime(2026, 11, 11, tzinfo=UTC)
    # the last 24 hours, split at midnight: yesterday's part and today's
    assert [(b.start.day, b.start.hour, b.end.day, b.end.hour) for b in first.recent] == [
        (10, 12, 11, 0),
        (11, 0, 11, 12),
    ]
    assert first.recent_hours == 24
    later = plan_month(NOW + 14 * hour, hour, set(first.days))
    assert later.days == (date(2026, 11, 11),)  # the 11th is whole now; nothing else
    on_the_first = plan_month(datetime(2026, 12, 1, 5, 30, tzinfo=UTC), hour, set())
    assert on_the_first.days == ()
    assert [(b.start.hour, b.end.hour) for b in on_the_first.recent] == [(0, 5)]


BASIS = CostBasis("EUR", "requests", NOW, frozenset({"payments"}))


def test_a_new_tenant_first_cost_is_what_the_last_refresh_would_have_written() -> None:
    first = first_cost(BASIS, "checkout", BUDGET)
    assert first is not None
    written, crossed = cost_status(NOTHING, BUDGET, "EUR", "requests", NOW, None)
    assert (first, crossed) == (written, [])
    assert first.dumped()["summary"] == "0.00/500 EUR"
    assert first.dumped()["updatedAt"] == "2026-11-11T12:00:00Z"  # the refresh's time
    # The next refresh finds it the same (no write): only updatedAt would move.
    later, _ = cost_status(NOTHING, BUDGET, "EUR", "requests", NOW.replace(hour=13), first)
    assert later.model_copy(update={"updated_at": ""}) == first.model_copy(
        update={"updated_at": ""}
    )


def test_no_first_cost_for_a_name_the_refresh_had_a_cost_for_or_one_that_would_announce() -> None:
    assert first_cost(BASIS, "payments", BUDGET) is None  # re-created: the refresh writes it
    # Were a threshold reached at zero, the refresh announces it with an Event (valid
    # thresholds are 1 % or more: built unchecked here).
    nothing = Budget.model_construct(
        amount_per_month=Decimal(10), currency=None, thresholds_percent=[0], alert_on_forecast=True
    )
    assert first_cost(BASIS, "checkout", nothing) is None
    # A budget in another currency is not compared (the reconcile reports it).
    dollars = Budget(amount_per_month=Decimal(10), currency="USD")
    first = first_cost(BASIS, "checkout", dollars)
    assert first is not None and first.budget is None and first.summary == "0.00 EUR"
