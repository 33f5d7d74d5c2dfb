"""Windows of time a cost is computed over, their sample step and their chart buckets.

Pure: the current time comes in as a value. Windows are `24h`, `7d` (the last N hours or
days), `month` (this calendar month so far, UTC), `lastmonth`, a range of days
`2026-11-01..2026-11-15` (both days included) or of instants
`2026-11-01T06:00:00Z..2026-11-01T18:00:00Z`. Start and end are aligned down to the step,
so that every bucket holds a whole number of samples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
_DURATION = re.compile(r"^([1-9][0-9]*)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MIN_STEP = timedelta(seconds=10)  # below a few scrape intervals, rate() has nothing to say
MAX_SAMPLES = 11_000  # Prometheus refuses more than 11,000 points per series


class WindowError(ValueError):
    """A window or step that cannot be read; the message shows what can."""


@dataclass(frozen=True)
class Bucket:
    """One slice of a window: [start, end)."""

    start: datetime
    end: datetime

    @property
    def hours(self) -> Decimal:
        return Decimal(int((self.end - self.start).total_seconds())) / 3600


@dataclass(frozen=True)
class Window:
    """[start, end) sampled every `step`; `text` is what the person asked for."""

    start: datetime
    end: datetime
    step: timedelta
    text: str

    @property
    def hours(self) -> Decimal:
        return Decimal(int((self.end - self.start).total_seconds())) / 3600

    @property
    def step_hours(self) -> Decimal:
        return Decimal(int(self.step.total_seconds())) / 3600

    @property
    def samples(self) -> int:
        return int((self.end - self.start) / self.step)

    def buckets(self, size: timedelta | None = None) -> list[Bucket]:
        """Consecutive buckets of `size` (default: `bucket_size`) from the start; the last
        one is shorter when the window does not divide evenly."""
        size = size or bucket_size(self)
        result: list[Bucket] = []
        cursor = self.start
        while cursor < self.end:
            result.append(Bucket(cursor, min(cursor + size, self.end)))
            cursor += size
        return result

    def describe(self) -> str:
        return f"{stamp(self.start)} .. {stamp(self.end)} (step {format_duration(self.step)})"


def parse_duration(text: str) -> timedelta:
    """`30s`, `5m`, `1h`, `7d`, `2w`."""
    match = _DURATION.match(text.strip())
    if not match:
        raise WindowError(f"{text!r} is not a duration; write e.g. 5m, 1h, 7d")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def align(moment: datetime, step: timedelta) -> datetime:
    """`moment` rounded down to a multiple of `step` since the Unix epoch (as Prometheus
    aligns subquery samples)."""
    seconds = int(step.total_seconds())
    stamp = int(moment.timestamp())
    return datetime.fromtimestamp(stamp - stamp % seconds, UTC)


def month_start(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_month(moment: datetime) -> datetime:
    start = month_start(moment)
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


def check_step(step: timedelta) -> None:
    """A sample step a window can be cut into: at least 10s, a divisor of a day."""
    if step < MIN_STEP or DAY % step:
        raise WindowError(
            f"step {format_duration(step)} must be at least 10s and divide a day "
            "(15s, 1m, 5m, 15m, 30m, 1h, 2h, ...)"
        )


def parse_window(text: str, now: datetime, step: timedelta = HOUR) -> Window:
    """The window `text` names, as of `now`, sampled every `step`."""
    check_step(step)
    raw = text.strip()
    now = now.astimezone(UTC)
    if raw == "month":
        start, end = month_start(now), now
    elif raw == "lastmonth":
        end = month_start(now)
        start = month_start(end - DAY)
    elif ".." in raw:
        first, _, last = raw.partition("..")
        start, end = _moment(first, text, end=False), _moment(last, text, end=True)
    else:
        try:
            length = parse_duration(raw)
        except WindowError:
            raise WindowError(
                f"{text!r} is not a window; write 24h, 7d, month, lastmonth, "
                "2026-11-01..2026-11-15 or 2026-11-01T06:00:00Z..2026-11-02T06:00:00Z"
            ) from None
        end = now
        start = end - length
    end = align(min(end, now), step)
    start = align(start, step)
    if end <= start:
        raise WindowError(
            f"window {text!r} holds no whole step of {format_duration(step)} before now "
            f"({stamp(now)}); widen it or use a smaller --step"
        )
    window = Window(start, end, step, raw)
    if window.samples > MAX_SAMPLES * 30:
        raise WindowError(
            f"window {text!r} at step {format_duration(step)} is {window.samples} samples; "
            "use a larger --step"
        )
    return window


def _moment(text: str, whole: str, end: bool) -> datetime:
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + DAY if end else moment  # a day range includes its last day
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise WindowError(
            f"{whole!r}: {text!r} is neither a day (2026-11-01) nor an instant "
            "(2026-11-01T06:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


BUCKETS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    HOUR,
    6 * HOUR,
    DAY,
    7 * DAY,
)
MAX_BUCKETS = 60


def bucket_size(window: Window) -> timedelta:
    """Chart resolution: the finest of 1m, 5m, 15m, 1h, 6h, 1d, 1w that makes at most 60
    buckets (a day in hours, a month in days); a whole number of steps."""
    span = window.end - window.start
    size = next((b for b in BUCKETS if span <= b * MAX_BUCKETS), BUCKETS[-1])
    steps = -(-size // window.step)  # a whole number of samples per bucket
    return steps * window.step


def stamp(moment: datetime) -> str:
    """RFC 3339 in UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
