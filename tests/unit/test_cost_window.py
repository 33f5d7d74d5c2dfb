"""Windows of time and their buckets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mooring.core.cost.window import WindowError, parse_duration, parse_window

NOW = datetime(2026, 11, 20, 10, 37, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)


def at(day: int, hour: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("24h", at(19, 10), at(20, 10)),
        ("7d", at(13, 10), at(20, 10)),
        ("month", at(1), at(20, 10)),
        ("lastmonth", at(1, month=10), at(1)),
        # a range of days includes its last day
        ("2026-11-01..2026-11-15", at(1), at(16)),
        ("2026-11-01T06:00:00Z..2026-11-01T18:00:00Z", at(1, 6), at(1, 18)),
        # a range reaching past now ends now
        ("2026-11-10..2026-11-30", at(10), at(20, 10)),
    ],
    ids=["24h", "7d", "month to date", "last month", "days", "instants", "up to now"],
)
def test_windows_read_as_people_mean_them(text: str, start: datetime, end: datetime) -> None:
    window = parse_window(text, NOW, HOUR)
    assert (window.start, window.end) == (start, end)


def test_a_window_ends_at_the_last_whole_step() -> None:
    assert parse_window("1h", NOW, timedelta(minutes=5)).end == datetime(
        2026, 11, 20, 10, 35, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fortnight", "24h, 7d, month"),
        ("2026-13-01..2026-11-02", "neither a day"),
        ("2026-12-01..2026-12-02", "no whole step"),
    ],
)
def test_an_unreadable_window_says_what_can_be_written(text: str, message: str) -> None:
    with pytest.raises(WindowError, match=message):
        parse_window(text, NOW, HOUR)


def test_a_step_must_divide_a_day() -> None:
    with pytest.raises(WindowError, match="divide a day"):
        parse_window("7d", NOW, timedelta(minutes=7))
    with pytest.raises(WindowError, match="duration"):
        parse_duration("an hour")


def test_buckets_are_hours_for_a_day_and_days_for_a_month_with_a_shorter_tail() -> None:
    day = parse_window("24h", NOW, HOUR)
    assert len(day.buckets()) == 24
    month = parse_window("month", NOW, HOUR)
    buckets = month.buckets()
    assert len(buckets) == 20
    assert buckets[0].hours == 24
    assert buckets[-1].hours == 10  # the 20th, up to 10:00
    assert sum(b.hours for b in buckets) == month.hours
