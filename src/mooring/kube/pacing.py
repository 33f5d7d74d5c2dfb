"""How the client paces itself against the API server, so that under pressure it adds less.

- A token bucket: at most `qps` requests a second on average, `burst` at once. A cap that
  stops a runaway loop; sized so that in normal work the server, not the client, sets the
  pace (see docs/architecture.md, "Pacing").
- A bound on requests in flight that adapts: halved when the server refuses (429), times
  out (504) or does not answer, at most once per second; then back up by one per answer to
  where it was before the cut (the server took that much a moment ago), and beyond it by
  one per round of answers (as many in a row as the bound), up to the configured maximum.
- Waits the server asks for (`Retry-After`), or else an exponential backoff with jitter,
  per request, within a time budget.

No I/O: bookkeeping and asyncio waits. The client (kube/client.py) asks `retry_delay`
whether and how long to wait, and calls `slot()` around each request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Answers that mean "not now": the server did not do the work, or may not have.
OVERLOADED = frozenset({429, 503, 504})
# Requests that can be sent again whatever became of the first attempt. POST creates a
# new object (an Event with a new name): sent twice, it exists twice.
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class PacingSettings:
    qps: float = 500.0
    burst: int = 1000
    max_in_flight: int = 24
    min_in_flight: int = 2
    # How long one request may keep retrying (429s, stalls) before its error is returned.
    retry_budget: float = 30.0
    # Whether a server that does not answer at all is waited for (the operator rides out a
    # restart of the API server; a command line says at once that it cannot reach it).
    retry_unreachable: bool = False
    backoff_base: float = 0.25
    backoff_cap: float = 8.0
    retry_after_cap: float = 30.0


class TokenBucket:
    """`rate` tokens a second, at most `capacity` saved; `take()` waits for one."""

    def __init__(self, rate: float, capacity: int, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.capacity = float(capacity)
        self._tokens = float(capacity)
        self._clock = clock
        self._stamp = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def wait_for_token(self) -> float:
        """Pure bookkeeping: take a token now if there is one (0.0), else the seconds to wait."""
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate

    async def take(self) -> None:
        if self.rate <= 0:
            return
        async with self._lock:  # first come, first served
            while (wait := self.wait_for_token()) > 0:
                await asyncio.sleep(wait)


class AdaptiveLimit:
    """A semaphore whose size moves between `low` and `high` with the server's answers."""

    def __init__(self, high: int, low: int, clock: Callable[[], float]) -> None:
        self.high = high
        self.low = min(low, high)
        self.limit = high
        self.in_flight = 0
        self._clock = clock
        self._streak = 0
        self._last_cut = -1e9
        self._before_cut = high
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just as we were cancelled
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)

    def succeeded(self) -> None:
        """An answer: one more request at once, back to where the bound was before its last
        cut; beyond that, one more after `limit` answers in a row."""
        if self.limit < self._before_cut:
            self.limit += 1
            self._wake()
            return
        self._streak += 1
        if self._streak >= self.limit and self.limit < self.high:
            self.limit += 1
            self._streak = 0
            self._wake()

    def overloaded(self) -> bool:
        """The server is overloaded: halve the bound (once a second at most). True if cut."""
        self._streak = 0
        now = self._clock()
        if now - self._last_cut < 1.0 or self.limit <= self.low:
            return False
        self._last_cut = now
        self._before_cut = self.limit
        self.limit = max(self.low, self.limit // 2)
        return True

    @property
    def waiting(self) -> int:
        return len(self._waiters)


def retry_delay(
    settings: PacingSettings,
    method: str,
    status: int,
    retry_after: str | None,
    attempt: int,
    elapsed: float,
    sent: bool = True,
    rng: random.Random | None = None,
) -> float | None:
    """Pure: seconds to wait before sending the request again, or None to give up.

    `status` 0 means no answer (the server was unreachable or the connection broke; `sent`
    False when the request surely never left). 429 means the server did not do the work, so
    any request may go again; other failures only for requests that are safe to repeat.
    """
    if status == 0 and not settings.retry_unreachable:
        return None
    if status == 429 or (status == 0 and not sent):
        pass
    elif status in OVERLOADED or status == 0:
        if method.upper() not in IDEMPOTENT:
            return None
    else:
        return None
    delay = _retry_after(retry_after, settings.retry_after_cap)
    if delay is None:
        jitter = (rng or random).uniform(0.5, 1.0)
        delay = min(settings.backoff_cap, settings.backoff_base * 2**attempt) * jitter
    if elapsed + delay > settings.retry_budget:
        return None
    return delay


def _retry_after(header: str | None, cap: float) -> float | None:
    """Seconds from a Retry-After header (delta-seconds; an HTTP date is not used here)."""
    if not header:
        return None
    try:
        seconds = float(header)
    except ValueError:
        return None
    return min(max(seconds, 0.0), cap)


class Pacer:
    """The client's pacing: `async with pacer.slot():` around each attempt of a request,
    then `pacer.answered(status)` with what came back."""

    def __init__(
        self, settings: PacingSettings | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings or PacingSettings()
        self.bucket = TokenBucket(self.settings.qps, self.settings.burst, clock)
        self.limit = AdaptiveLimit(self.settings.max_in_flight, self.settings.min_in_flight, clock)
        self._clock = clock
        self.refusals = 0  # 429s seen, for metrics and benchmarks
        self.troubled_at = -1e9  # when the server last refused, failed or did not answer
        self._said_at = -1e9

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self.bucket.take()
        await self.limit.acquire()
        try:
            yield
        finally:
            self.limit.release()

    def answered(self, status: int) -> None:
        if status == 429:
            self.refusals += 1
        if status in OVERLOADED or status == 0:
            self.troubled_at = self._clock()
            cut = self.limit.overloaded()
            if cut:
                self._say(status)
        else:
            self.limit.succeeded()

    def calm_for(self, seconds: float) -> bool:
        """Has the server answered everything for `seconds` (no refusal, no stall)?"""
        return self._clock() - self.troubled_at >= seconds

    def _say(self, status: int) -> None:
        """One warning every 30 s at most, however many requests were refused."""
        now = self._clock()
        if now - self._said_at < 30:
            return
        self._said_at = now
        why = {
            429: "refuses requests (429 Too Many Requests)",
            503: "is unavailable (503)",
            504: "times out (504)",
        }.get(status, "does not answer")
        log.warning(
            "the API server %s: at most %d requests at once now (of %d), %d waiting; "
            "requests are retried",
            why,
            self.limit.limit,
            self.limit.high,
            self.limit.waiting,
        )
