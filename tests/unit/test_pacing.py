"""How the client paces itself: what it retries and how long it waits, the rate limit, and
the bound on requests in flight that shrinks under refusals and grows back."""

from __future__ import annotations

import asyncio
import random

import pytest

from mooring.kube.pacing import AdaptiveLimit, PacingSettings, TokenBucket, retry_delay

OPERATOR = PacingSettings(retry_budget=120, retry_unreachable=True)
COMMAND_LINE = PacingSettings()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("method", "status", "sent", "retried"),
    [
        ("POST", 429, True, True),  # refused: the server did nothing, anything may go again
        ("PATCH", 429, True, True),
        ("PATCH", 503, True, True),
        ("GET", 504, True, True),
        ("POST", 504, True, False),  # may have been done: a second Event would be a duplicate
        ("POST", 0, True, False),  # the answer was lost, not the request
        ("POST", 0, False, True),  # no connection at all: nothing was sent
        ("DELETE", 0, True, True),
        ("PATCH", 500, True, False),  # an error of the server's, not a wait
        ("PATCH", 422, True, False),
    ],
    ids=[
        "retries a refused create",
        "retries a refused patch",
        "retries a patch the server was unavailable for",
        "retries a read that timed out on the server",
        "does not repeat a create the server may have done",
        "does not repeat a create whose answer was lost",
        "retries a create that never left",
        "retries a delete whose answer was lost",
        "does not retry an internal error",
        "does not retry an invalid object",
    ],
)
def test_what_the_operator_sends_again(method: str, status: int, sent: bool, retried: bool) -> None:
    delay = retry_delay(OPERATOR, method, status, None, 0, 0.0, sent=sent)
    assert (delay is not None) is retried


def test_a_command_line_says_at_once_that_it_cannot_reach_the_server() -> None:
    assert retry_delay(COMMAND_LINE, "GET", 0, None, 0, 0.0, sent=False) is None
    assert retry_delay(COMMAND_LINE, "GET", 429, None, 0, 0.0) is not None


def test_retry_after_is_honoured_and_capped() -> None:
    assert retry_delay(OPERATOR, "PATCH", 429, "3", 0, 0.0) == 3.0
    assert retry_delay(OPERATOR, "PATCH", 429, "600", 0, 0.0) == OPERATOR.retry_after_cap


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(1)
    delays = [retry_delay(OPERATOR, "GET", 503, None, n, 0.0, rng=rng) for n in range(10)]
    assert all(d is not None for d in delays)
    bounds = [min(OPERATOR.backoff_cap, OPERATOR.backoff_base * 2**n) for n in range(10)]
    assert all(b / 2 <= d <= b for d, b in zip(delays, bounds, strict=True))  # type: ignore[operator]
    assert max(delays) <= OPERATOR.backoff_cap  # type: ignore[type-var]


def test_gives_up_when_the_time_budget_is_spent() -> None:
    assert retry_delay(OPERATOR, "GET", 429, "5", 3, OPERATOR.retry_budget - 1) is None


def test_the_token_bucket_allows_a_burst_then_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=10, capacity=3, clock=clock)
    assert [bucket.wait_for_token() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.wait_for_token() == pytest.approx(0.1)
    clock.now += 0.1
    assert bucket.wait_for_token() == 0.0
    clock.now += 10  # idle: saves no more than the burst
    assert [bucket.wait_for_token() for _ in range(4)][-1] == pytest.approx(0.1)


def test_the_in_flight_bound_halves_on_refusal_at_most_once_a_second() -> None:
    clock = Clock()
    limit = AdaptiveLimit(high=24, low=2, clock=clock)
    assert limit.overloaded()
    assert limit.limit == 12
    assert not limit.overloaded()  # the same burst of 429s: one cut
    clock.now += 1.5
    limit.overloaded()
    clock.now += 1.5
    limit.overloaded()
    clock.now += 1.5
    limit.overloaded()
    clock.now += 1.5
    limit.overloaded()
    assert limit.limit == 2  # never below the floor


def test_the_in_flight_bound_comes_back_quickly_then_probes_slowly() -> None:
    clock = Clock()
    limit = AdaptiveLimit(high=16, low=2, clock=clock)
    limit.overloaded()
    clock.now += 1.5
    limit.overloaded()
    assert limit.limit == 4
    for _ in range(4):  # one per answer, back to where it was before the last cut
        limit.succeeded()
    assert limit.limit == 8
    for _ in range(8):  # beyond: one per round of answers
        limit.succeeded()
    assert limit.limit == 9
    for _ in range(1000):
        limit.succeeded()
    assert limit.limit == 16


async def test_requests_beyond_the_bound_wait_their_turn_in_order() -> None:
    limit = AdaptiveLimit(high=2, low=1, clock=Clock())
    order: list[int] = []

    async def job(n: int) -> None:
        await limit.acquire()
        order.append(n)
        await asyncio.sleep(0.01)
        limit.release()

    await asyncio.gather(*(job(n) for n in range(6)))
    assert order == list(range(6))
    assert limit.in_flight == 0


async def test_a_cancelled_waiter_gives_its_place_back() -> None:
    limit = AdaptiveLimit(high=1, low=1, clock=Clock())
    await limit.acquire()
    waiter = asyncio.create_task(limit.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    limit.release()
    assert limit.in_flight == 0
    await asyncio.wait_for(limit.acquire(), 1)
