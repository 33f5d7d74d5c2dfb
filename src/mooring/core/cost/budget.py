"""A tenant's month: cost to date, the forecast, the budget's use, thresholds crossed; and
which spans of the month need measuring, given the whole days already measured.

Pure: the time comes in as a value. The forecast is the month to date plus the recent
run rate (the cost of the last day, or of the month so far when it is younger) over the
hours left in the month: it follows the trend of the last day, not of the month's start.

A threshold is announced once per month and per kind ("actual:80" when the cost to date
reaches 80 % of the budget, "forecast:100" when the forecast reaches 100 %); what was
announced is kept in the status, so that a restarted operator does not announce it again.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from mooring.api.cost import Budget, CostStatus, money_text
from mooring.core.cost.window import DAY, Bucket, align, month_start, next_month, stamp

HOUR_SECONDS = 3600


@dataclass(frozen=True)
class Crossing:
    kind: str  # "actual" | "forecast"
    threshold: int  # percent

    @property
    def tag(self) -> str:
        return f"{self.kind}:{self.threshold}"


def forecast(
    month_to_date: Decimal, recent: Decimal, recent_hours: Decimal, now: datetime
) -> Decimal:
    """Month to date plus the recent hourly cost over the hours left in the month."""
    left = Decimal(int((next_month(now) - now).total_seconds())) / HOUR_SECONDS
    if recent_hours <= 0:
        return month_to_date
    return month_to_date + recent / recent_hours * left


def percent(part: Decimal, whole: Decimal) -> int:
    """Whole percent, rounded down (80 % is reached at 80.0, not at 79.6)."""
    return int((part * 100 / whole).to_integral_value(ROUND_FLOOR))


def crossings(
    budget: Budget, month_to_date: Decimal, expected: Decimal, announced: set[str]
) -> tuple[list[Crossing], list[str]]:
    """Thresholds newly crossed (to announce) and every threshold crossed this month."""
    reached: list[Crossing] = []
    for threshold in budget.thresholds_percent:
        limit = budget.amount_per_month * threshold / 100
        if month_to_date >= limit:
            reached.append(Crossing("actual", threshold))
        if budget.alert_on_forecast and expected >= limit:
            reached.append(Crossing("forecast", threshold))
    tags = [c.tag for c in reached]
    new = [c for c in reached if c.tag not in announced]
    # Announced before and still reached: kept; no longer reached (a lower forecast): gone.
    return new, sorted(set(tags), key=_order)


def _order(tag: str) -> tuple[str, int]:
    kind, _, threshold = tag.partition(":")
    return kind, int(threshold)


def summary(month_to_date: Decimal, budget: Budget | None, currency: str) -> str:
    """COST/BUDGET as `kubectl get tenants` prints it: "123.45/500 EUR"."""
    if budget is None:
        return f"{money_text(month_to_date)} {currency}"
    return f"{money_text(month_to_date)}/{_plain(budget.amount_per_month)} {currency}"


def _plain(amount: Decimal) -> str:
    return f"{amount.normalize():f}" if amount == amount.to_integral_value() else money_text(amount)


@dataclass(frozen=True)
class MonthFigures:
    month_to_date: Decimal
    recent: Decimal  # cost over the recent hours (the forecast's basis)
    recent_hours: Decimal
    idle_share: Decimal | None = None


# A tenant with nothing running this month costs nothing (and forecasts nothing).
NOTHING = MonthFigures(Decimal(0), Decimal(0), Decimal(24))


def budget_in(budget: Budget | None, currency: str) -> Budget | None:
    """The budget, when it is in the platform's currency (another is reported by the
    tenant's reconcile, and no cost is compared with it)."""
    if budget is None or (budget.currency is not None and budget.currency != currency):
        return None
    return budget


@dataclass(frozen=True)
class CostBasis:
    """What the last cost refresh knew, for a tenant it did not see: its currency, its
    source, when it ran, and the tenants it found a cost for."""

    currency: str
    source: str
    at: datetime
    costed: frozenset[str]


def first_cost(basis: CostBasis, tenant: str, budget: Budget | None) -> CostStatus | None:
    """A new tenant's status.cost as of the last refresh, which found nothing for it: what
    the next refresh would write, unless it has something to announce (a crossing, for
    the refresh's Events) or the refresh had a cost for that name (a tenant re-created)."""
    if tenant in basis.costed:
        return None
    status, new = cost_status(
        NOTHING, budget_in(budget, basis.currency), basis.currency, basis.source, basis.at, None
    )
    return None if new else status


def cost_status(
    figures: MonthFigures,
    budget: Budget | None,
    currency: str,
    source: str,
    now: datetime,
    previous: CostStatus | None,
) -> tuple[CostStatus, list[Crossing]]:
    """The status.cost to write, and the crossings to announce (Events, metrics)."""
    month = month_start(now).strftime("%Y-%m")
    expected = forecast(figures.month_to_date, figures.recent, figures.recent_hours, now)
    announced = set(previous.crossed) if previous is not None and previous.month == month else set()
    new: list[Crossing] = []
    crossed: list[str] = []
    used = forecast_percent = None
    if budget is not None:
        new, crossed = crossings(budget, figures.month_to_date, expected, announced)
        used = percent(figures.month_to_date, budget.amount_per_month)
        forecast_percent = percent(expected, budget.amount_per_month)
    status = CostStatus(
        month=month,
        currency=currency,
        month_to_date=money_text(figures.month_to_date),
        forecast=money_text(expected),
        idle_share=None if figures.idle_share is None else money_text(figures.idle_share),
        budget=None if budget is None else money_text(budget.amount_per_month),
        budget_used_percent=used,
        forecast_percent=forecast_percent,
        summary=summary(figures.month_to_date, budget, currency),
        source=source,
        updated_at=stamp(now),
        crossed=crossed,
    )
    return status, new


@dataclass(frozen=True)
class MonthPlan:
    """What to measure for the month so far.

    Whole days before today are measured once and remembered (`days`); each refresh then
    measures only `recent`: from the start of the last 24 hours (the forecast's basis) to
    `end`, in two buckets split at the start of today, so that today's part is known too.
    """

    start: datetime  # the 1st, 00:00 UTC
    end: datetime  # now, aligned down to the step
    today: datetime  # the start of the day that holds `end`
    days: tuple[date, ...]  # whole days to measure, oldest first (consecutive)
    recent: tuple[Bucket, ...]  # the last day (or the month so far), split at `today`

    @property
    def recent_hours(self) -> Decimal:
        return sum((b.hours for b in self.recent), Decimal(0))


def plan_month(now: datetime, step: timedelta, measured: Collection[date]) -> MonthPlan:
    """Pure: the spans to measure at `now`, given the whole days already measured."""
    start = month_start(now)
    end = max(align(now, step), start + step)
    today = max(start, align(end - step, DAY))  # the day `end` closes (or is inside)
    days = []
    cursor = start
    while cursor < today:
        if cursor.date() not in measured:
            days.append(cursor.date())
        cursor += DAY
    recent_start = max(start, end - DAY)
    recent = tuple(
        bucket
        for bucket in (Bucket(recent_start, today), Bucket(today, end))
        if bucket.end > bucket.start
    )
    return MonthPlan(start, end, today, tuple(days), recent)
