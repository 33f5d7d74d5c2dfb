"""Pure: leader election over a coordination.k8s.io Lease, as client-go does it.

A candidate may take the Lease when nobody holds it, when it holds it itself, or when the
record has not changed for leaseDurationSeconds *as the candidate observed it*: expiry is
measured on the observer's own clock from when it first saw the record, never by comparing
its clock with the holder's renewTime, so clock skew between nodes cannot elect two leaders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

Spec = dict[str, Any]


@dataclass(frozen=True)
class Observation:
    """A Lease record as seen by a candidate, and when (its monotonic clock) it first saw it."""

    record: tuple[Any, ...]
    since: float


def record(spec: Spec) -> tuple[Any, ...]:
    """What identifies one version of the holder's claim (a renewal changes it)."""
    return (
        spec.get("holderIdentity"),
        spec.get("renewTime"),
        spec.get("acquireTime"),
        spec.get("leaseTransitions"),
    )


def observe(previous: Observation | None, spec: Spec, now: float) -> Observation:
    """The candidate's observation after reading `spec` at `now`."""
    current = record(spec)
    if previous is not None and previous.record == current:
        return previous
    return Observation(current, now)


def holder(spec: Spec) -> str | None:
    return spec.get("holderIdentity") or None


def may_take(spec: Spec, seen: Observation, identity: str, now: float) -> bool:
    """Whether `identity` may write itself into the Lease now."""
    current = holder(spec)
    if current is None or current == identity:
        return True
    duration = float(spec.get("leaseDurationSeconds") or 0)
    return now - seen.since >= duration


def micro_time(at: datetime) -> str:
    """metav1.MicroTime: RFC 3339 with microseconds, in UTC."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def claim(spec: Spec, identity: str, at: datetime, duration: int) -> Spec:
    """The Lease's spec with `identity` holding it, renewed `at` (wall clock, UTC)."""
    now = micro_time(at)
    transitions = int(spec.get("leaseTransitions") or 0)
    if holder(spec) == identity:
        return {**spec, "renewTime": now, "leaseDurationSeconds": duration}
    return {
        **spec,
        "holderIdentity": identity,
        "leaseDurationSeconds": duration,
        "acquireTime": now,
        "renewTime": now,
        "leaseTransitions": transitions + (1 if holder(spec) is not None else 0),
    }


def release(spec: Spec, at: datetime) -> Spec:
    """Given up on purpose (a clean shutdown): a standby may take it at once."""
    released = {k: v for k, v in spec.items() if k != "holderIdentity"}
    return {**released, "leaseDurationSeconds": 1, "renewTime": micro_time(at)}
